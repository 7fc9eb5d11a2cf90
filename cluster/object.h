/*
 * object.h -- a key's versioned object: a set of siblings (pure).
 *
 * Each sibling is one version: a value or a tombstone, written by one actor.
 * Causality uses dotted version vectors (as Riak 2.0 does), because plain
 * per-coordinator vector clocks either lose a write or fake a conflict when
 * two clients write through the same coordinator with the same context:
 *
 *   - the *dot* (actor, counter) names the write event uniquely;
 *   - the *context* (a vclock) is what the writer had seen when it wrote.
 *
 * Sibling s is obsolete when another sibling t's context covers s's dot
 * (t.ctx[s.actor] >= s.counter): t was written knowing s.  Two siblings with
 * the same dot are the same event and are kept once.  Everything else is
 * concurrent and is kept (conflict-policy siblings).  A sibling's readable
 * clock is ctx ∪ dot; the context handed to clients (DYNAMO.GET) is the
 * merge of every sibling's ctx ∪ dot, so a write with it supersedes them all.
 *
 * An object is ONE allocation: header, then siblings laid out back to back,
 * each with its encoded context and its value.  The layout is position
 * independent, so object_bytes() is also the wire and disk encoding, and
 * object_from_bytes() validates untrusted input before anything is kept.
 *
 * Typed values (issue #14, docs/TYPES.md).  A sibling may hold a CRDT
 * state (cluster/crdt.h) instead of a string: its type byte says which,
 * and its tombstone flag says the state reads as empty.  An object with a
 * typed sibling is written in format 2; one of plain strings stays in
 * format 1, byte for byte as before, so a node that knows only format 1
 * reads every object until a typed command runs, and refuses (without
 * storing) one it cannot read.  object_merge joins the siblings of one
 * CRDT type into one (and a string concurrent with a counter into the
 * counter, as a base), so every path that merges (replica writes, read
 * repair, hints, anti-entropy) uses the types' joins.  A typed sibling
 * that a sibling of another type covers stays as its observed clear (an
 * empty state with its context, which never wins a read), so that what
 * the covering write saw goes from any later join of that type; an
 * object that keeps one is written in format 3 (format 2's layout), which
 * a node that knows only format 2 refuses as a newer format.
 *
 * Objects are immutable once built: every change makes a new object.
 *
 * Thread-safety: immutable objects may be read from any thread.
 */
#ifndef DYN_OBJECT_H
#define DYN_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/crdt.h"
#include "cluster/vclock.h"

struct object; /* opaque */

/* A view of one sibling; pointers are into the object and live as long as it. */
struct sibling {
    uint64_t actor;     /* dot: the writer (coordinator) actor */
    uint64_t counter;   /* dot: the writer's counter for this event */
    uint64_t ts_ms;     /* coordinator's wall clock at write time */
    int64_t expire_ms;  /* absolute expiry time in ms, 0 = none */
    int tombstone;      /* 1 = a delete marker; value is empty */
    const uint8_t *value;
    uint32_t vlen;
    const uint8_t *ctx; /* encoded vclock: the causal context */
    uint32_t ctxlen;
    int type;           /* enum crdt_type: CRDT_TYPE_STRING (0) for a plain
                         * string; else value is that type's encoding, and
                         * tombstone says the state reads as empty */
};

/* What a coordinator wants to write. */
struct object_write {
    int type;                   /* enum crdt_type (0: a plain string) */
    const void *value;          /* a typed value: the type's encoding */
    size_t vlen;
    int tombstone;              /* typed: the state reads as empty */
    int64_t expire_ms;          /* 0 = none */
    const struct vclock *ctx;   /* what the writer has seen; may be NULL (empty) */
    uint64_t actor;             /* the coordinator's actor id */
    uint64_t now_ms;
    uint32_t max_ctx_entries;   /* vclock-max-entries: prune ctx above this
                                 * (0 = never prune) */
    uint64_t min_counter;       /* the dot's counter is at least this: the
                                 * node's own high-water mark, so a key whose
                                 * history was reaped never reuses a dot */
    uint64_t max_counter;       /* ... and at most this (0 = UINT64_MAX): the
                                 * node passes high-water mark + 1, so no
                                 * counter claimed by a context can push its
                                 * counters up */
};

/* A limit of 0 means none. */
struct object_limits {
    uint32_t max_siblings;      /* reject objects with more */
    uint32_t max_ctx_entries;   /* reject contexts with more */
    uint64_t max_value_len;     /* proto-max-bulk-len */
    const struct crdt_limits *types; /* bounds on typed values, or NULL */
    int typed_trusted;          /* 1: typed values are not decoded (their
                                 * type must be known): bytes a digest
                                 * showed are a peer's own encoding, as a
                                 * delta's result (cluster/delta.h) */
};

/* Builds the object that results from a coordinator write on top of the
 * locally stored object `cur` (may be NULL): the new sibling's dot is
 * (actor, max(w->min_counter, 1 + max counter of actor in w->ctx, in the
 * dots of cur and in the contexts of the siblings of cur that stay)),
 * its context is w->ctx, pruned to max_ctx_entries (*pruned += dropped).
 * The new sibling is reconciled with cur: siblings it covers are dropped
 * (a typed one only when w->ctx has seen every dot its state has, as in
 * object_merge; one of another type than the write's stays as its
 * observed clear), the rest are kept (and so is a covered one whose context
 * claims the new dot: only a forged context does that, see object_merge);
 * a result that keeps a typed sibling beside others is reconciled as
 * object_merge would (a string concurrent with a counter joins it), so
 * object_from_bytes accepts every object written here.  Returns the
 * new object; cur is not modified.  Returns NULL, and builds nothing, when
 * the counter would pass w->max_counter or UINT64_MAX: counters never
 * wrap, so a dot is never reused. */
struct object *object_write(const struct object *cur,
                            const struct object_write *w, uint32_t *pruned);

/* Reconciles two versions of the same key (replica merge, read repair,
 * anti-entropy): keeps every sibling of a and b that no other sibling
 * covers (a covered typed sibling as its observed clear), each event
 * once.  Two siblings that cover each other are both
 * kept: an honest history never has such a pair (happened-before is
 * acyclic), only a context forged to claim future writes, and dropping both
 * would lose the honest one.  Deterministic: the same inputs in either order
 * give the same bytes.  *changed_a is set when the result differs from a. */
struct object *object_merge(const struct object *a, const struct object *b,
                            int *changed_a);

/* o with sibling i's value replaced by value (a typed sibling's state
 * rewritten to the same meaning: compaction); every other field, its dot
 * and context included, stays. */
struct object *object_replace_value(const struct object *o, uint32_t i,
                                    const void *value, size_t vlen);

/* conflict-policy lww: the object reduced to its winner. */
struct object *object_lww(const struct object *o);

void object_free(struct object *o);
struct object *object_dup(const struct object *o);

uint32_t object_nsiblings(const struct object *o);   /* always >= 1 */
void object_sibling(const struct object *o, uint32_t i, struct sibling *out);
/* Index of the winning sibling: highest (ts_ms, actor, counter); an
 * observed clear only when nothing else is there. */
uint32_t object_winner(const struct object *o);
/* The same index, and the winning sibling in *out, in one pass. */
uint32_t object_winner_get(const struct object *o, struct sibling *out);
/* Visibility at now_ms (server/db.h's db_visible is this rule): the
 * versions that are values whose expiry has passed are gone; among the
 * rest, the highest (ts, actor, counter) wins, and the key is visible when
 * that winner is a value (filled into *out, may be NULL). */
int object_visible(const struct object *o, uint64_t now_ms,
                   struct sibling *out);
/* The visibility of o over time, for the store's in-memory counts: *t1 the
 * earliest expiry of a value sibling (0: none), *before whether o is
 * visible before t1 (at any time when there is none), *after whether it
 * is visible from t1 on, *more whether another value expires after t1
 * (after which *after no longer holds). */
void object_visibility(const struct object *o, uint64_t *t1, int *before,
                       int *after, int *more);
/* The counter family (docs/TYPES.md section 4): a counter and the string
 * siblings beside it (a SET and an INCR that did not see each other) are
 * one value, the counter with each string as a base candidate.  Joins
 * every string sibling of o not expired at now_ms (0: any) into c, the
 * decoded state of o's counter sibling, with crdt_counter_add_string;
 * returns how many, or its error.  object_visible and object_winner_get
 * answer the counter sibling for the family. */
int object_counter_fold(const struct object *o, uint64_t now_ms,
                        const struct crdt_limits *lim, struct crdt_counter *c);
/* The highest dot counter of actor's siblings, 0 if it has none. */
uint64_t object_actor_counter(const struct object *o, uint64_t actor);
/* Merge of every sibling's ctx ∪ dot: the context for clients. */
void object_clock(const struct object *o, struct vclock *out);
/* A sibling's readable clock: ctx ∪ dot. */
void object_sibling_clock(const struct object *o, uint32_t i,
                          struct vclock *out);
/* 1 when every sibling is a tombstone. */
int object_is_deleted(const struct object *o);
/* 1 when any sibling has an expiry (expire_ms != 0). */
int object_any_expiry(const struct object *o);

/* Encoding: the bytes of the object itself. */
const uint8_t *object_bytes(const struct object *o);
size_t object_size(const struct object *o);
/* Validates (layout, lengths, limits, each context decodes, each typed
 * value decodes within lim->types) and copies.  Returns 0, DYN_EINVAL /
 * DYN_ELIMIT, or DYN_EFORMAT: a format or a value type this node does not
 * know (a newer node wrote it; nothing is kept). */
int object_from_bytes(const uint8_t *p, size_t len,
                      const struct object_limits *lim, struct object **out);
/* The same without the copy, for bytes made in place (a delta applied,
 * cluster/delta.h): object_raw gives an object of len bytes for the
 * caller to fill (*bytes); object_from_raw checks them as
 * object_from_bytes does and keeps raw as the object (0), or frees it
 * (the error). */
struct object *object_raw(size_t len, uint8_t **bytes);
int object_from_raw(struct object *raw, const struct object_limits *lim,
                    struct object **out);

/* 1 when a and b have the same bytes (the same content: the encoding is
 * canonical). */
int object_equal(const struct object *a, const struct object *b);

/* A 64-bit digest of the object's content (for Merkle leaves); equal
 * objects have equal digests regardless of how they were built. */
uint64_t object_digest(const struct object *o);

#endif
