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
#include "server/buf.h"

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

/*
 * Deferred typed writes (server/db.c "deferred encoding").  store_defer
 * marks key's entry stale: its value is now a typed state its owner keeps
 * decoded, and the first read of the entry (store_get, iteration, a
 * digest) calls the materializer.  In memory its object (owned by the
 * store from then on) replaces the stale one, and store_peek returns the
 * object as it is, stale or not (*stale says), without that.  In the disk
 * kinds the entry keeps pointing at its last record, and the materializer
 * gets that record's object and writes the new record itself (through the
 * engine, whose store_put_loc moves the entry and ends the deferral); it
 * returns NULL.  There store_peek of a stale entry returns NULL with
 * *stale set, reading nothing, and store_settle_deferred settles every
 * stale entry (the engine calls it before it commits: a write's reply
 * leaves only once its record is written).  A put or a remove of the key
 * ends a deferral (store_move_loc, compaction moving the last record,
 * does not).  store_defer: 0, DYN_ENOTFOUND (no such key) or DYN_EINVAL
 * (no materializer).  A partition's Merkle tree keeps a stale entry's
 * last digest until the entry is settled (a deferral lasts a loop turn
 * in a cluster: anti-entropy meanwhile sees the key as it was).
 */
typedef struct object *(*store_materialize_fn)(void *ctx, const void *key,
                                               size_t klen,
                                               const struct object *stale);
void store_set_materializer(struct store *s, store_materialize_fn fn,
                            void *ctx);
int store_defer(struct store *s, const void *key, size_t klen);
/* Disk kinds: how many entries are stale; settles them all. */
uint32_t store_deferred_count(const struct store *s);
void store_settle_deferred(struct store *s);
/* Appends the key of every deferred entry of a disk kind to out (klen
 * u32 little endian, the key). */
void store_deferred_keys(const struct store *s, struct dbuf *out);
/* 1 when key's entry is deferred (stale), reading nothing. */
int store_is_deferred(struct store *s, const void *key, size_t klen);
/* Settles key's entry when it is deferred (the materializer writes it),
 * reading nothing otherwise: 1 when it is still deferred afterwards (the
 * materializer could not write it), else 0. */
int store_settle(struct store *s, const void *key, size_t klen);
const struct object *store_peek(struct store *s, const void *key,
                                size_t klen, int *stale);

/*
 * Held versions (disk kinds; the engine's delta journal, engine.c "Edits
 * in the journal").  store_hold makes obj (taken) key's version while
 * the entry keeps pointing at its last record, which is older: the engine
 * journaled the edit from the key's version before to obj.  Reads,
 * iteration and the Merkle tree see obj from then on; a put of a record
 * (store_put_loc) or a removal ends the hold (compaction moving the
 * record does not).  The info is the engine's: seg, the journal segment
 * the hold's first edit went to (kept from the first hold), n and bytes,
 * the count and bytes of its edits (added up: pass n 1 and an edit's
 * bytes), and stamp, when this version was held (replaced each time).
 * prev: when not NULL, the version replaced (if it was held) is handed
 * over instead of freed, with its stamp in *prev_stamp (an undo).  0, or
 * DYN_ENOTFOUND (no such key: obj freed).  store_held: key's held version
 * and its info (when info is not NULL), or NULL.  store_current: key's
 * version when it is in memory without reading (held, cached, or the
 * record a scratch object holds), else NULL (and NULL for a deferred
 * entry, whose version is its owner's).
 */
struct store_hold_info {
    uint32_t seg, n;
    uint64_t bytes, stamp;
};
int store_hold(struct store *s, const void *key, size_t klen,
               struct object *obj, const struct store_hold_info *add,
               struct object **prev, uint64_t *prev_stamp);
const struct object *store_held(const struct store *s, const void *key,
                                size_t klen, struct store_hold_info *info);
const struct object *store_current(const struct store *s, const void *key,
                                   size_t klen);
uint32_t store_held_count(const struct store *s);
size_t store_held_bytes(const struct store *s);
/* Appends every held key as store_deferred_keys does. */
void store_held_keys(const struct store *s, struct dbuf *out);
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

/* ---- disk-resident values (the durable engine's key directory) ----------
 *
 * A store is of one kind for its whole life, set while it is empty:
 *   STORE_MEMORY      an entry holds its object (the default);
 *   STORE_DISK        an entry holds only a 64-bit location of its record
 *                     (Bitcask's keydir); store_get loads the object through
 *                     the load function into a scratch object owned by the
 *                     store;
 *   STORE_DISK_CACHE  an entry holds the location and, once loaded or
 *                     written, the object too.
 * The location word is the engine's; the store only keeps it.
 *
 * In the disk kinds a pointer returned by store_get (or passed to an
 * iteration callback) is valid until the second-next store call: the store
 * keeps two scratch objects, so a lookup survives one more lookup (db_write
 * looks the key up once).  Callers that hold a value across writes copy it.
 * A lookup of a record a scratch object already holds (the same location:
 * records are never rewritten in place) returns that object without
 * reading the record again.
 *
 * The load function returns a new object (the store takes it) or NULL when
 * the record cannot be read or is corrupt; the entry then reads as absent
 * (a corrupt record is never served). */
enum store_kind { STORE_MEMORY = 0, STORE_DISK = 1, STORE_DISK_CACHE = 2 };

/* What the sampling indexes and the keyspace counts need to know of an
 * object without loading it.  store_object_flags packs them in a 64-bit
 * word: the STORE_F_* bits below, and for an object with an expiry the
 * time of its first sibling's expiry (t1, ms) in bits 16..63.  Visibility
 * is db_visible's rule (object_visible): before t1 it is !HIDDEN, from t1
 * on VIS_AFTER, and past the next expiry (MORE) only the object knows.
 * Hint files keep the STORE_F_PERSIST bits; an expiring entry loaded
 * without its summary (no SUMMARY bit) gets it from its record the first
 * time a count needs it. */
#define STORE_F_DELETED   1u  /* every sibling is a tombstone */
#define STORE_F_EXPIRY    2u  /* some sibling has an expiry */
#define STORE_F_HIDDEN    4u  /* not visible before any expiry (a
                               * tombstone wins, or all are tombstones) */
#define STORE_F_SUMMARY   8u  /* expiring: t1, VIS_AFTER, MORE are known */
#define STORE_F_VIS_AFTER 16u /* expiring: visible from t1 on */
#define STORE_F_MORE      32u /* expiring: another expiry after t1 */
#define STORE_F_PERSIST   (STORE_F_DELETED | STORE_F_EXPIRY | STORE_F_HIDDEN)
#define STORE_F_T1_SHIFT  16
uint64_t store_object_flags(const struct object *o);

typedef struct object *(*store_load_fn)(void *ctx, uint64_t loc,
                                        const void *key, size_t klen);
/* Only on an empty store. */
void store_set_kind(struct store *s, enum store_kind kind, store_load_fn fn,
                    void *ctx);
enum store_kind store_get_kind(const struct store *s);

/* Disk kinds: inserts or replaces key with a location.  obj: STORE_DISK
 * ignores it (must be NULL); STORE_DISK_CACHE takes it (NULL = not cached).
 * flags are STORE_F_*.  digest: object_digest() of the record's object, or
 * 0 when the caller does not know it (the store then loads the object when
 * a Merkle tree first needs it).  Returns 1 and sets *old_loc when an
 * entry was replaced, else 0. */
int store_put_loc(struct store *s, const void *key, size_t klen,
                  uint64_t loc, uint64_t flags, uint64_t digest,
                  struct object *obj, uint64_t *old_loc);
/* 1 and the location and flags of key, or 0 if absent. */
int store_get_loc(struct store *s, const void *key, size_t klen,
                  uint64_t *loc, unsigned *flags);
/* Compaction moved a record: updates key's location to loc only if it is
 * still `expect`.  Returns 1 if it was updated. */
int store_move_loc(struct store *s, const void *key, size_t klen,
                   uint64_t expect, uint64_t loc);
/* Like store_remove, and reports the removed entry's location (disk kinds;
 * 0 for STORE_MEMORY). */
int store_remove_loc(struct store *s, const void *key, size_t klen,
                     uint64_t *old_loc);
/* Bytes of cached objects (STORE_DISK_CACHE) / scratch objects. */
size_t store_cached_bytes(const struct store *s);

/* ---- the visible keyspace, from memory ------------------------------------
 *
 * What a keyspace command (DBSIZE, KEYS, SCAN, RANDOMKEY) sees of a
 * partition: its visible keys at now_ms (db_visible's rule: the winning
 * sibling is a value that has not expired), decided from the entries'
 * flags without reading records.  Each partition keeps the count and a
 * fingerprint (XOR of a mix of each key's hash) of its entries visible
 * whatever the time (no expiry, not hidden), updated on every insert,
 * replace and remove; entries with an expiry are judged at the call from
 * their summary (store_object_flags).  Only an entry whose summary is
 * unknown (loaded from an old hint) or past its second expiry is read,
 * and counted (store_keyspace_loads).  Equal (count, fingerprint) on two
 * replicas means, but for a 2^-64 chance, the same visible key set. */

/* counts[i] / fps[i]: the visible keys of parts[i] at now_ms. */
void store_count_visible(struct store *s, uint64_t now_ms,
                         const uint32_t *parts, size_t np, uint64_t *counts,
                         uint64_t *fps);
/* Every entry of one partition, with whether it is visible at now_ms.
 * The callback must not change the store; non-zero stops. */
typedef int (*store_vis_fn)(void *ctx, const void *key, size_t klen,
                            int visible);
void store_iter_visible(struct store *s, uint32_t partition, uint64_t now_ms,
                        store_vis_fn fn, void *ctx);
/* Records read to decide visibility (see above), since the store began. */
uint64_t store_keyspace_loads(const struct store *s);
/* The fingerprint contribution of one key (its dyn_hash64). */
uint64_t store_key_fp(uint64_t hash);

/* ---- Merkle trees (cluster/merkle.h), for anti-entropy ------------------
 *
 * Once enabled, each partition that is asked for its tree gets one, built
 * from its entries (loading disk records whose digest is unknown), and
 * from then on every insert, replace and remove updates it in O(1).  Trees
 * of partitions never asked for cost nothing, so a node pays only for the
 * partitions it exchanges.  store_clear drops every tree. */
struct merkle;
/* leaves: merkle-leaves (a power of two); idempotent for the same count,
 * a different count drops the trees built so far. */
void store_merkle_enable(struct store *s, uint32_t leaves);
uint32_t store_merkle_leaves(const struct store *s); /* 0: not enabled */
/* The partition's tree, built on first use; NULL when not enabled.  The
 * tree stays owned by the store and changes with it. */
struct merkle *store_merkle(struct store *s, uint32_t partition);
/* Bytes of all trees. */
size_t store_merkle_bytes(const struct store *s);

/* Every entry of one partition whose Merkle leaf is set in leafmask (a
 * bitmap of merkle-leaves bits), with its digest and STORE_F_* flags,
 * without loading objects that are not needed.  Enables nothing: the tree
 * of the partition must exist (store_merkle).  Return non-zero to stop. */
typedef int (*store_digest_fn)(void *ctx, const void *key, size_t klen,
                               uint64_t digest, unsigned flags);
void store_iter_leaves(struct store *s, uint32_t partition,
                       const uint64_t *leafmask, store_digest_fn fn,
                       void *ctx);

/* ---- tombstone confirmation (safe deletes) --------------------------------
 * The store counts its changes (a generation) and remembers, per
 * partition, the generation at which an all-tombstone object was last
 * stored.  Anti-entropy calls store_confirm_tombstones(p, g) when every
 * replica of p was seen to hold exactly this node's content as of
 * generation g; the partition's tombstones are then confirmed as long as
 * none was stored after g. */
uint64_t store_generation(const struct store *s);
void store_confirm_tombstones(struct store *s, uint32_t partition,
                              uint64_t gen);
int store_tombstones_confirmed(const struct store *s, uint32_t partition);

/* An opaque pointer the anti-entropy instance working over this store
 * hangs here, so that commands reach it through the node without a
 * global (cluster/antientropy.c). */
void store_set_agent(struct store *s, void *agent);
void *store_agent(const struct store *s);

#endif
