/*
 * vclock.h -- vector clocks (pure).
 *
 * A clock is a list of (actor, counter, ts_ms) entries sorted by actor, with
 * at most one entry per actor.  An actor is a 64-bit id that names a node *and*
 * its incarnation (see actor_make), so a node that lost its data never reuses
 * counters.  ts_ms is the wall-clock time of the entry's last increment; it is
 * used only to choose which entries to prune.
 *
 * Invariants: entries sorted strictly ascending by actor; counter >= 1.
 * Encoding (vclock_encode): varint count, then per entry the actor as 8
 * bytes big-endian, counter and ts_ms as varints.  vclock_decode rejects
 * anything else (unsorted, duplicate actors, zero counters, truncation,
 * more than max_entries entries).
 *
 * Thread-safety: none; a clock has one owner.
 */
#ifndef DYN_VCLOCK_H
#define DYN_VCLOCK_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

struct vclock_entry {
    uint64_t actor;
    uint64_t counter;
    uint64_t ts_ms;
};

struct vclock {
    uint32_t n;
    uint32_t cap;
    struct vclock_entry *e;
};

enum vclock_order {
    VCLOCK_EQUAL = 0,
    VCLOCK_BEFORE,      /* a < b: b descends from a */
    VCLOCK_AFTER,       /* a > b: a descends from b */
    VCLOCK_CONCURRENT,
};

/* An actor id: 40 bits of XXH3(node name), 24 bits of incarnation. */
uint64_t actor_make(const char *node_name, uint32_t incarnation);

void vclock_init(struct vclock *c);
void vclock_free(struct vclock *c);     /* frees entries; c reusable after init */
void vclock_clear(struct vclock *c);    /* n = 0, keeps memory */
void vclock_copy(struct vclock *dst, const struct vclock *src);

/* Counter of actor in c, 0 if absent. */
uint64_t vclock_get(const struct vclock *c, uint64_t actor);
/* Sets actor's entry to (counter, ts_ms), inserting it in order. */
void vclock_set(struct vclock *c, uint64_t actor, uint64_t counter,
                uint64_t ts_ms);

enum vclock_order vclock_compare(const struct vclock *a,
                                 const struct vclock *b);
/* 1 if a >= b (a descends from or equals b). */
int vclock_descends(const struct vclock *a, const struct vclock *b);

/* dst = least upper bound of dst and src (per actor max counter; ts of the
 * entry with the larger counter, max ts on a tie). */
void vclock_merge(struct vclock *dst, const struct vclock *src);

/* Lowers actor's counter to at most max (ts kept); an entry lowered to 0
 * is removed (counters are >= 1).  What a node does with a context that
 * claims more of its own actor than it has issued. */
void vclock_cap(struct vclock *c, uint64_t actor, uint64_t max);

/* actor's counter += 1, its ts = now_ms.  Returns 0, or DYN_ERANGE with c
 * unchanged when the counter is already UINT64_MAX (counters never wrap). */
int vclock_increment(struct vclock *c, uint64_t actor, uint64_t now_ms);

/* Drops the oldest-ts entries (ties: smaller actor first) until at most
 * max_entries remain.  Returns how many were dropped. */
uint32_t vclock_prune(struct vclock *c, uint32_t max_entries);

size_t vclock_encoded_size(const struct vclock *c);
/* Writes exactly vclock_encoded_size(c) bytes to out; returns that size. */
size_t vclock_encode(const struct vclock *c, uint8_t *out);
void vclock_encode_buf(const struct vclock *c, struct dbuf *out);
/* Decodes into c (previous content replaced).  *consumed gets the bytes
 * used.  Returns 0 or DYN_EINVAL / DYN_ELIMIT. */
int vclock_decode(struct vclock *c, const uint8_t *in, size_t len,
                  uint32_t max_entries, size_t *consumed);

/* wire.h's unsigned LEB128 varints in the size_t form this encoding's
 * walkers use.  get accepts only the shortest form and returns the bytes
 * used, or 0 when the input is truncated, overlong or overflows 64 bits. */
size_t vclock_varint_size(uint64_t v);
size_t vclock_varint_put(uint8_t *out, uint64_t v);
size_t vclock_varint_get(const uint8_t *in, size_t len, uint64_t *v);
/* Length of the encoded clock at in, found by walking it without decoding
 * (no order checks: for trusted bytes); 0 when it does not fit in len. */
size_t vclock_encoded_len(const uint8_t *in, size_t len);

/* The opaque client context: base64url (no padding) of the encoding, so it
 * survives copy and paste in redis-cli.  decode returns 0 or DYN_EINVAL;
 * it accepts the empty string as the empty clock (a new key's writer has
 * no context) and rejects any text that is not the canonical encoding. */
void vclock_context_encode(const struct vclock *c, struct dbuf *out);
int vclock_context_decode(struct vclock *c, const char *s, size_t len,
                          uint32_t max_entries);

/* Readable form: "[name:counter@ts_ms, ...]".  name(ctx, actor) may return
 * NULL, then the actor is printed as 16 hex digits. */
typedef const char *(*vclock_name_fn)(void *ctx, uint64_t actor);
void vclock_format(const struct vclock *c, struct dbuf *out,
                   vclock_name_fn name, void *ctx);

#endif
