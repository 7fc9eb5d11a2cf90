/*
 * nodemeta.h -- node.meta, the node's identity across restarts: which
 * actor it is (the incarnation) and how far it has reserved dot counters.
 *
 * The file, in the data directory, is two text lines:
 *
 *     incarnation I
 *     counters R
 *
 * I stays the same while the data survives (a restart with its segments is
 * the same actor, so clocks do not grow an entry per restart); a node whose
 * data is gone gets I + 1 (24 bits, wrapping, never 0), and a directory
 * without the file gets a random 24-bit I, as DESIGN.md asks, so a node
 * that lost its data does not come back as an actor whose dots other
 * replicas still hold.
 *
 * R is the end of the block of dot counters reserved so far (the high-water
 * mark): the node hands out counters below R only, and moves R up (writing
 * this file, fsynced) before it crosses it, so a crash can never reuse a
 * counter.  Each open starts counters at the old R and reserves one block
 * (NODEMETA_COUNTER_BLOCK) above it.
 *
 * R only ever grows by the node's own writes (db.c never lets a client's
 * context push it), so it stays far below 2^62 (a million writes a second
 * for 146,000 years).  A file with R at or above 2^62 (written before that
 * rule, from a forged context) starts a fresh actor instead: I + 1 and
 * counters from 0, so the counter space can never run out or wrap.
 *
 * Reading: a file without a parsable "incarnation" line counts as absent
 * (a new random actor); a file whose "counters" line is missing or does not
 * parse counts as R = 0 (files written before counters were reserved).
 * Numbers are read as scanf's %lu / %llu read them.
 *
 * Writing: write a .tmp, fsync, rename over node.meta, fsync the directory,
 * so a crash leaves the old file or the new one, never a torn one.
 *
 * Split: nodemeta_parse, nodemeta_encode, nodemeta_decide and
 * nodemeta_reserve_target are pure (no I/O, randomness passed in; unit
 * tests in tests/unit/test_nodemeta.c).  The rest does the file I/O.  This
 * module calls nothing of the engine; server/engine.c calls it at open and
 * whenever the counters need a new block.
 *
 * Thread-safety: none needed; the engine calls it from the event loop.
 * Errors: 0 or a negative dyn_err; the I/O functions put a message in err.
 */
#ifndef DYN_NODEMETA_H
#define DYN_NODEMETA_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

#define NODEMETA_COUNTER_BLOCK 1000000ull
#define NODEMETA_COUNTER_FRESH (1ull << 62)
/* Longest file read back (ours are under 50 bytes). */
#define NODEMETA_MAX_BYTES 4096

/* What a node.meta file says. */
struct nodemeta_file {
    int have;               /* the incarnation line parsed */
    uint64_t incarnation;   /* as read, not yet masked to 24 bits */
    uint64_t counters;      /* R; 0 when the line is missing or garbled */
};

/* The identity a node runs with. */
struct nodemeta {
    uint32_t incarnation;       /* 1 .. 2^24 - 1 */
    uint64_t counter_base;      /* dot counters start above this */
    uint64_t counter_reserved;  /* ...and stay below this until reserved */
    int fresh;                  /* R was at/over 2^62: a fresh actor */
    uint64_t fresh_from;        /* ...the R that was refused */
};

/* Parses the file's text (NUL-terminated).  0 when the incarnation line
 * parsed, else DYN_EINVAL (out->have = 0). */
int nodemeta_parse(const char *text, struct nodemeta_file *out);
/* The file's text for (inc, reserved) into buf (NUL-terminated); returns
 * its length, or a negative dyn_err when cap is too small. */
int nodemeta_encode(uint32_t inc, uint64_t reserved, char *buf, size_t cap);
/* The identity of this life of the node: f as read (f->have = 0 when there
 * is no file), has_data = the directory holds data segments, random24 = a
 * random number (only its low 24 bits are used, only when there is no
 * file). */
void nodemeta_decide(const struct nodemeta_file *f, int has_data,
                     uint32_t random24, struct nodemeta *out);
/* The reservation to write when counter `used` is about to be handed out:
 * one block above it, saturating at UINT64_MAX. */
uint64_t nodemeta_reserve_target(uint64_t used);

/* Reads dir/node.meta (out->have = 0 when absent or unreadable). */
void nodemeta_read(const char *dir, struct nodemeta_file *out);
/* 1 when dir holds at least one data segment (data.*.seg). */
int nodemeta_has_data(const char *dir);
/* Writes dir/node.meta durably (see above).  0 or DYN_EIO with err set. */
int nodemeta_write(const char *dir, uint32_t inc, uint64_t reserved,
                   struct dbuf *err);
/* At open: read, decide (with the system's entropy), write.  0 or DYN_EIO
 * with err set; out is filled either way. */
int nodemeta_open(const char *dir, struct nodemeta *out, struct dbuf *err);
/* Moves m's reservation past `used` when used >= m->counter_reserved
 * (writing the file); 0 when nothing was needed or it was written, else
 * DYN_EIO (logged; the reservation stays where it was). */
int nodemeta_reserve(const char *dir, struct nodemeta *m, uint64_t used);

#endif
