/*
 * store.h -- the node's local key/object store, kept per ring partition.
 *
 * The store maps a binary key to its versioned object (cluster/object.h).  It
 * knows nothing of the network, of quorums or of the ring beyond "partition =
 * top bits of XXH3(key)" (Q = 2^k equal ranges of the 64-bit hash space, the
 * same rule cluster/ring uses), so a handoff or a Merkle exchange walks only
 * one partition.
 *
 * Ownership: store_put_take() consumes the object; store_get() returns a
 * borrowed pointer valid until the next change to that key.
 *
 * The store also indexes which keys carry an expiry (any sibling with
 * expire_ms != 0) so that active expiry samples only those, and counts the
 * keys whose object is all tombstones so that DBSIZE excludes them.
 *
 * Invariant: no two entries have the same key; store_count() ==
 * sum of per-partition counts.
 *
 * Thread-safety: none; the event loop owns the store.
 */
#ifndef DYN_STORE_H
#define DYN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/object.h"

struct store;

/* partitions must be a power of two (ring-partitions). */
struct store *store_new(uint32_t partitions);
void store_free(struct store *s);

uint32_t store_partitions(const struct store *s);
uint32_t store_partition_of_hash(const struct store *s, uint64_t hash);
uint32_t store_partition_of(const struct store *s, const void *key,
                            size_t klen);

/* NULL if absent. */
const struct object *store_get(struct store *s, const void *key, size_t klen);
/* Inserts or replaces; takes ownership of obj (the old one is freed). */
void store_put_take(struct store *s, const void *key, size_t klen,
                    struct object *obj);
/* Physical removal.  Returns 0 or DYN_ENOTFOUND. */
int store_remove(struct store *s, const void *key, size_t klen);
/* Drops everything. */
void store_clear(struct store *s);

size_t store_count(const struct store *s);          /* all entries */
size_t store_count_live(const struct store *s);     /* excluding all-tombstone */
size_t store_count_expiring(const struct store *s); /* entries with an expiry */
size_t store_partition_count(const struct store *s, uint32_t partition);

/* Callback for iteration: return 0 to go on, non-zero to stop.  The callback
 * must not change the store. */
typedef int (*store_iter_fn)(void *ctx, const void *key, size_t klen,
                             const struct object *obj);

/* Every entry of one partition. */
void store_iter_partition(struct store *s, uint32_t partition,
                          store_iter_fn fn, void *ctx);

/* Redis SCAN semantics over the whole store: start with cursor 0, visit
 * about `count` entries per call, returns the next cursor, 0 when done.
 * Every entry present for the whole scan is returned at least once, even if
 * tables grow or shrink in between. */
uint64_t store_scan(struct store *s, uint64_t cursor, size_t count,
                    store_iter_fn fn, void *ctx);

/* Up to `max` random entries that carry an expiry, for active expiry.  Keys
 * are copied into out_keys (caller frees each with dyn_free). Returns how many. */
size_t store_sample_expiring(struct store *s, size_t max, uint64_t rnd,
                             char **out_keys, size_t *out_klens);

/* Up to `max` random entries that are all tombstones, for reaping. */
size_t store_sample_deleted(struct store *s, size_t max, uint64_t rnd,
                            char **out_keys, size_t *out_klens);

/* Bytes of memory the store's tables and entries use (approximate,
 * without the objects' own bytes). */
size_t store_overhead_bytes(const struct store *s);

#endif
