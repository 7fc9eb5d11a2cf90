/*
 * journal.h -- the typed-op journal of a node alone with storage disk.
 *
 * A typed write that db defers (its state stays decoded in the cache, the
 * key's record is written later: db.c's essay) is made durable by one
 * small record here instead of a record of the whole value: the command
 * that made it, with what it needs to run again the same way (its key's
 * first dot and dot count, its time, the node's random state when it
 * started).  At startup the engine's records are loaded first, then the
 * journal's ops run again on them (server/replay.c), those a record
 * already holds skipped, and everything is settled and the journal
 * started afresh.  So a push onto a long list costs its bytes, not the
 * list's, and the list is written whole only when its state is encoded
 * anyway (a read of its bytes, the cache letting go of it, a rotation).
 *
 * Files: PREFIX.NNNNNNNN.seg in the data directory (seglog: a checksum per
 * record, a torn tail cut at open), prefix "journal".  Record types:
 * JOURNAL_OP (key = the key; value below) and JOURNAL_DELTA (key = the
 * key; value = an edit of its stored object, cluster/delta.h's bytes:
 * the engine's edits of large values, on any disk node, engine.c "Edits
 * in the journal").  Only the newest segment is
 * appended to; journal_restart starts a new one and removes the others,
 * journal_roll and journal_drop_before do it in two steps (a rotation).
 *
 * Op value (little endian):
 *     actor u64 | first u64 | ndots u32 | ts_ms u64 | rng u64 |
 *     argc u32 | argc x (len u32 | bytes)
 *
 * Thread-safety: one owner (the engine, on the loop).  Errors: 0 or a
 * negative dyn_err; seglog's errno in journal_errno().
 */
#ifndef DYN_JOURNAL_H
#define DYN_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"
#include "server/util.h"

#define JOURNAL_OP 0x4a
#define JOURNAL_DELTA 0x4b

struct journal;

/* One journaled op.  Parsed: argv points into the record's bytes and
 * into an array journal_op_parse allocates (journal_op_clear frees it). */
struct journal_op {
    const uint8_t *key;
    uint32_t klen;
    uint64_t actor;
    uint64_t first;     /* the first dot's counter */
    uint32_t ndots;
    uint64_t ts_ms;
    uint64_t rng;       /* node_random's state before the command ran */
    uint32_t argc;
    const struct dyn_arg *argv;
};

/* Called for each op found at open, in order; non-zero stops the open
 * (its value is returned). */
typedef int (*journal_replay_fn)(void *ctx, const struct journal_op *op);

/* Called for each delta found at open, in order with the ops. */
typedef int (*journal_delta_fn)(void *ctx, const uint8_t *key, size_t klen,
                                const uint8_t *delta, size_t dlen);

/* Opens dir's journal, runs fn over every whole op in it and dfn over
 * every delta (corrupt records are counted and skipped, a torn tail
 * cut), and keeps appending to its newest segment.  max_value bounds a
 * record's value. */
int journal_open(const char *dir, uint64_t max_value, journal_replay_fn fn,
                 void *ctx, journal_delta_fn dfn, void *dctx,
                 struct journal **out, uint64_t *corrupt);
void journal_close(struct journal *j);

/* Appends an op to the write buffer (op->key, op->argv read). */
int journal_append(struct journal *j, const struct journal_op *op);
/* Appends a delta record: key's stored object changed by the edit
 * delta (cluster/delta.h's bytes). */
int journal_append_delta(struct journal *j, const void *key, size_t klen,
                         const void *delta, size_t dlen);
/* The number of the segment appended to now. */
uint32_t journal_segment(const struct journal *j);
/* Preallocates room for bytes more (seglog_reserve): DYN_EAGAIN when the
 * file system is full. */
int journal_room(struct journal *j, uint64_t bytes);
int journal_flush(struct journal *j);
int journal_sync(struct journal *j);
size_t journal_pending(const struct journal *j);
int journal_unsynced(const struct journal *j);
int journal_active_fd(const struct journal *j);
int journal_errno(const struct journal *j);
/* Bytes in the journal's files (what a restart would replay). */
uint64_t journal_bytes(const struct journal *j);
/* Starts a new segment and removes every older one: the caller made the
 * store's records of every op in them durable first. */
int journal_restart(struct journal *j);
/* The same in two steps: journal_roll starts a new segment (*seg) and
 * keeps the older ones; journal_drop_before removes those below seg once
 * the caller made the records of their ops durable. */
int journal_roll(struct journal *j, uint32_t *seg);
void journal_drop_before(struct journal *j, uint32_t seg);

/* The record's value of op (into out, appended). */
void journal_op_encode(const struct journal_op *op, struct dbuf *out);
/* Parses a record's value; 0 or DYN_EINVAL.  key/klen are set by the
 * caller. */
int journal_op_parse(const uint8_t *v, size_t len, struct journal_op *op);
void journal_op_clear(struct journal_op *op);

#endif
