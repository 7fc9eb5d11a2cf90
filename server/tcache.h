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
 * A taken state belongs to the caller (it leaves the cache).  Thread
 * safety: none; the event loop owns the cache.
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

struct tcache *tcache_new(uint64_t seed, tcache_free_fn free_state);
void tcache_free(struct tcache *c);

/* The state cached for key if its type is type and enc (len bytes) is
 * exactly the encoding it was cached with; it leaves the cache.  NULL
 * otherwise (a stale entry is dropped). */
void *tcache_take(struct tcache *c, const void *key, size_t klen, int type,
                  const uint8_t *enc, size_t len);

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
/* 1 and *prev, *last (prev 0: none known before last) when the cache
 * knows what this node last issued for key; 0 when it does not. */
int tcache_issued(struct tcache *c, const void *key, size_t klen,
                  uint64_t *prev, uint64_t *last);

/* Drops everything (FLUSHALL); tcache_shrink evicts down to max_bytes. */
void tcache_clear(struct tcache *c);
void tcache_shrink(struct tcache *c, uint64_t max_bytes);

void tcache_stats(const struct tcache *c, struct tcache_stats *out);
/* What an entry for a key of klen bytes is charged besides its state. */
uint64_t tcache_entry_cost(size_t klen);

#endif
