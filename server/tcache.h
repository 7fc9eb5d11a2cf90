/*
 * tcache.h -- decoded typed states kept beside the store (issue #14).
 *
 * A typed write reads the key's state, applies its op and stores the new
 * state.  The store holds states encoded (that is what replicas, the
 * engine's log and anti-entropy use), so without help every write would
 * decode the whole state first: the largest part of a write's cost.  The
 * cache keeps the state each typed write stored, decoded, under its key,
 * tagged with a keyed hash of the exact encoding it stored (XXH3-128 under
 * a secret per-process seed, and the length).
 *
 * tcache_take hands a state over only when the encoding the store holds
 * now hashes to the tag.  So whatever changed the key since (a replica's
 * merge, read repair, expiry, a string write, FLUSHALL, a RENAME in a
 * scratch store) turns the entry into a miss, never into a stale state:
 * correctness does not rest on every path remembering to invalidate.  The
 * seed is secret, so a client cannot craft an encoding that collides
 * with a cached one.
 *
 * Bounded: each entry is charged an estimate of its decoded size (the
 * owner's cost), and a put evicts least recently used entries until the
 * total is within the bound the owner passes (typed-cache-mb), so a
 * CONFIG SET takes effect at the next write.
 *
 * The cache also remembers, per key, the last dots this node issued for
 * it (tcache_issue): every dot of the node's counter between two of a
 * key's ops went to other keys, so a write may claim them into the
 * key's context (docs/TYPES.md, "Claims").  A key forgotten (evicted,
 * or after a restart) only means no claim for its next op.
 *
 * A taken state belongs to the caller (it leaves the cache).
 *
 * Deferred writes (the owner's, server/db.c "deferred encoding").  An
 * entry may instead lend its state: the caller changes it in place and
 * the entry keeps it (the owner pins it, so the caller's free does
 * nothing).  A lent state whose write the owner did not encode is
 * pending: it, not the store's copy, is the key's value, and the entry
 * keeps the owner's record of that write (struct tcache_write).  So that
 * nothing is lost:
 *   - a pending entry is never dropped as it is: eviction, a clear and a
 *     shrink first call the owner's flush for its key, which encodes it
 *     into the store and settles the entry (tcache_settle); only then
 *     does it go (an entry still pending after its flush is an orphan,
 *     whose key the store no longer holds pending, and simply goes);
 *   - a lent entry is not evicted until tcache_end_lends (the owner calls
 *     it when the command that borrowed it is done), which drops a lent
 *     state that was not deferred: an op that did not write may have
 *     changed it;
 *   - a lent state the cache lets go of during its command (replaced by
 *     a put) is freed only at tcache_end_lends: the borrower may still
 *     read it;
 *   - tcache_free neither flushes nor looks at the store (it may be gone).
 * Thread safety: none; the event loop owns the cache.
 */
#ifndef DYN_TCACHE_H
#define DYN_TCACHE_H

#include <stddef.h>
#include <stdint.h>

struct tcache;

struct tcache_stats {
    uint64_t hits, misses, evictions; /* evictions: of kept states */
    uint64_t entries;  /* keys with a state kept */
    uint64_t tracked;  /* keys known at all (a state, or issued dots) */
    uint64_t bytes;    /* as charged: states and entries */
};

/* free_state(type, state) frees a state the cache drops. */
typedef void (*tcache_free_fn)(int type, void *state);
/* flush(ctx, key, klen): encode key's pending state into the store (the
 * owner's; it calls tcache_settle); 1 when the owner could not and still
 * needs the state (it stays, pending), 0 when the state may go (settled,
 * or the store no longer holds the key).  pin(type, state, on): the owner's
 * crdt_state_pin; the cache pins a state while it is lent or pending,
 * and unpins it before it frees it. */
typedef int (*tcache_flush_fn)(void *ctx, const void *key, size_t klen);
typedef void (*tcache_pin_fn)(int type, void *state, int on);

/* The owner's record of a key's deferred writes, kept in its entry. */
struct tcache_write {
    uint64_t dot, ts;  /* the last deferred write's dot counter and time */
    uint64_t prev_dot, prev_ts; /* the one before it (0: none) */
    uint64_t seen, prev_seen; /* in a cluster: this node's highest dot
                               * the state had seen after each of them */
    uint64_t bound;    /* at least the state's encoded size */
    uint64_t encoded;  /* its size when it was last encoded */
    uint64_t entries;  /* its crdt_state_entries then */
    uint64_t reserve;  /* what the op that borrowed it may add to that */
    uint32_t ops;      /* deferred writes since the last encoding */
};

struct tcache *tcache_new(uint64_t seed, tcache_free_fn free_state);
void tcache_free(struct tcache *c);

/* The state cached for key if its type is type and enc (len bytes) is
 * exactly the encoding it was cached with; it leaves the cache.  NULL
 * otherwise (a stale entry is dropped). */
void *tcache_take(struct tcache *c, const void *key, size_t klen, int type,
                  const uint8_t *enc, size_t len);

void tcache_set_owner(struct tcache *c, tcache_flush_fn flush,
                      tcache_pin_fn pin, void *ctx);

/* key's entry when it keeps a state: *type, *pending, and the owner's
 * record (*w, in the entry: the owner may change it); NULL otherwise.
 * Nothing changes. */
void *tcache_peek(struct tcache *c, const void *key, size_t klen, int *type,
                  int *pending, struct tcache_write **w);
/* 1 when key's entry keeps a state of type that is not pending and was
 * cached with exactly enc: the store's copy is that state. */
int tcache_current(struct tcache *c, const void *key, size_t klen, int type,
                   const uint8_t *enc, size_t len);
/* The owner's name for the store's copy key's state was last encoded to
 * (a disk record's location, which no other copy ever has): set after
 * the state is put or settled, cleared by anything that changes it.
 * tcache_current_stamp: 1 (and the encoding's length) when key keeps a
 * state of type, not pending, stamped stamp (not 0) -- the store's copy
 * is still that state, known without hashing the copy as
 * tcache_current does. */
void tcache_stamp(struct tcache *c, const void *key, size_t klen,
                  uint64_t stamp);
int tcache_current_stamp(struct tcache *c, const void *key, size_t klen,
                         int type, uint64_t stamp, uint64_t *len);
/* tcache_take of a state tcache_current_stamp would answer for (not lent);
 * NULL, and nothing changes, otherwise. */
void *tcache_take_stamped(struct tcache *c, const void *key, size_t klen,
                          int type, uint64_t stamp);
/* Marks key's state lent (until tcache_end_lends); with pending, also
 * pending (the store's copy is stale from now on).  It must keep one. */
void tcache_lend(struct tcache *c, const void *key, size_t klen,
                 int pending);
/* Lends key's state to readers (it must keep one): as tcache_lend, but
 * a reader changes nothing, so the state stays at the end. */
void tcache_lend_read(struct tcache *c, const void *key, size_t klen);
/* The end of the command that borrowed: every lent state that is neither
 * pending, nor written as it is, nor lent to readers only is dropped
 * (freed); the others stay, no longer lent; then the cache is shrunk to
 * the last bound an owner passed (lent entries may have kept it above). */
void tcache_end_lends(struct tcache *c);
/* key's state encoded into the store as enc: no longer pending (and, if
 * lent, the store's as it is, as after a put); cost is its new charge.
 * Nothing when key keeps no state. */
void tcache_settle(struct tcache *c, const void *key, size_t klen,
                   const uint8_t *enc, size_t len, uint64_t cost);
/* Lets go of key's state, pending or not (a lent one is freed at
 * tcache_end_lends); what it issued stays known. */
void tcache_drop(struct tcache *c, const void *key, size_t klen);
/* Charges key's state cost (its estimate grew); evicts as tcache_put. */
void tcache_charge(struct tcache *c, const void *key, size_t klen,
                   uint64_t cost, uint64_t max_bytes);

/* Caches state (taken) as key's, decoded from or encoded to enc; cost is
 * its charge in bytes.  Replaces what key had, then evicts the least
 * recently used entries while the total passes max_bytes (state itself
 * too, when cost alone passes it). */
void tcache_put(struct tcache *c, const void *key, size_t klen, int type,
                void *state, const uint8_t *enc, size_t len, uint64_t cost,
                uint64_t max_bytes);

/* Records that this node issued dots up to last for key (its newest op):
 * the previous last becomes the key's prev. */
void tcache_issue(struct tcache *c, const void *key, size_t klen,
                  uint64_t last, uint64_t max_bytes);
/* Records that this node's latest counter op on key (INCRBY and the like,
 * a counter's reset, HINCRBY, ZINCRBY) used dot seq of its actor, and
 * kept its sums under actor run (0: the node's own); tcache_counter_last
 * answers seq (0 when not known) and *run (docs/TYPES.md 5.1, runs). */
void tcache_counter_op(struct tcache *c, const void *key, size_t klen,
                       uint64_t seq, uint64_t run, uint64_t max_bytes);
uint64_t tcache_counter_last(struct tcache *c, const void *key, size_t klen,
                             uint64_t *run);
/* 1 and *prev, *last (prev 0: none known before last) when the cache
 * knows what this node last issued for key; 0 when it does not. */
int tcache_issued(struct tcache *c, const void *key, size_t klen,
                  uint64_t *prev, uint64_t *last);

/* Drops everything (FLUSHALL); tcache_shrink evicts down to max_bytes.
 * Both flush a pending state first (the owner encodes it and calls
 * tcache_settle); one its owner still needs (the flush says so) stays. */
void tcache_clear(struct tcache *c);
/* key's state, lent to a writer, was not changed: it stays at the end of
 * the command, as a reader's does. */
void tcache_unchanged(struct tcache *c, const void *key, size_t klen);
void tcache_shrink(struct tcache *c, uint64_t max_bytes);

void tcache_stats(const struct tcache *c, struct tcache_stats *out);
/* What an entry for a key of klen bytes is charged besides its state. */
uint64_t tcache_entry_cost(size_t klen);

#endif
