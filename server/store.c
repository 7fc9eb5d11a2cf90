/*
 * store.c -- the in-memory key/object store, one hash table per ring
 * partition.
 *
 * Why it looks like this: bytes per key are what INFO's used_memory shows and
 * what a user compares with Redis, so the layout is chosen for memory first
 * and speed second (while keeping every operation O(1) expected).
 *
 * Memory layout
 * -------------
 *   partition p:  slots[size]   (size = 0 or a power of two >= 8)
 *                   |
 *                   v  uintptr_t: entry pointer | (low 16 bits of hash) << 48
 *                 struct entry  { obj*, klen, xidx, key bytes inline }
 *
 * - One allocation per key: a 16-byte header (object pointer, 32-bit key
 *   length, 32-bit index word) followed by the key, so a 16-byte key fits
 *   jemalloc's 32-byte size class exactly.  There is no next pointer: the
 *   table is open addressing with linear probing and backward-shift
 *   deletion (no deletion markers), kept between 3/8 and 3/4 full.
 * - A slot holds the entry pointer with the low 16 bits of the key's hash
 *   in the pointer's unused top 16 bits (x86-64 and AArch64 user addresses
 *   fit in 48 bits; checked at insert).  Probes compare the tag before
 *   touching the entry, and for tables of at most 2^16 slots the tag *is*
 *   the home bucket, so resizing, deletion and SCAN need no rehash and no
 *   dereference.  Larger tables (a partition above ~49k keys) re-hash the
 *   key when they need its home; on 32-bit builds the tag is absent.
 * - partition = top log2(Q) bits of dyn_hash64(key); home bucket = low bits,
 *   so the two are independent.
 *
 * Indexes for sampling: the store keeps two arrays of entry pointers, one
 * of entries whose object is all tombstones ("deleted") and one of live
 * entries with any sibling expiring ("expiring").  An entry's xidx word has
 * bit 31 = deleted, bit 30 = has an expiry, bits 0..29 = its position in
 * the array it belongs to (deleted if bit 31, else expiring if bit 30, else
 * none), so removal is O(1) (swap with the last).  Sampling picks random
 * positions, never scanning.  Cost: 8 bytes per key that has a TTL or is a
 * tombstone, nothing for the rest.
 *
 * SCAN cursor
 * -----------
 *   cursor = (bucket_cursor << pbits) | partition,   pbits = log2(Q)
 * Partitions are scanned in order 0..Q-1; within one, bucket_cursor walks
 * home buckets in reverse-binary order, as Redis's dictScan does, so a
 * bucket visited before a resize maps onto buckets already visited after it
 * and nothing present for the whole scan is missed (entries may repeat after
 * a shrink).  Visiting home bucket b means walking the probe run from slot b
 * to the next empty slot and reporting the entries whose home is b: with
 * linear probing an entry always lies in the run that starts at its home.
 * Cursor 0 starts the scan and is returned when the last partition is done;
 * moving to partition p > 0 yields cursor p (bucket_cursor 0), never 0.
 *
 * Invariants: no two entries have the same key; each partition's count is
 * the number of non-empty slots and count < size * 3/4; its vis and fp
 * cover exactly its entries with none of XF_DELETED, XF_EXPIRY, XF_HIDDEN; no empty slot lies
 * between an entry's home and its slot; ndeleted == length of the deleted
 * array; store count == sum of partition counts.
 *
 * Disk-resident values (store_set_kind, for server/engine.c)
 * --------------------------------------------------------
 *   STORE_DISK:        struct entry { loc, klen, xidx, key }       16 + key
 *   STORE_DISK_CACHE:  u64 loc | struct entry { obj*, klen, ... }  24 + key
 * A STORE_DISK entry keeps the record's location in the word that holds
 * the object pointer in memory mode, so the keydir costs exactly what the
 * in-memory index costs, without the object.  The cached kind puts the
 * location in 8 bytes just before the entry (the slot still points at the
 * entry), so every other function is unchanged.  Objects of STORE_DISK are
 * loaded on demand into one of two scratch objects (see store.h).  The
 * deleted/expiry index flags cannot be computed from an object that is not
 * there, so the disk calls take them as STORE_F_* bits.
 *
 * Merkle trees and digests (anti-entropy)
 * ---------------------------------------
 *   STORE_DISK:        u64 digest | struct entry { loc, ... }      24 + key
 *   STORE_DISK_CACHE:  u64 digest | u64 loc | struct entry { ... }  32 + key
 * A partition's tree (cluster/merkle.c) covers (key hash, object digest)
 * of its entries.  In memory the object is at hand, so its digest is
 * computed when needed and costs no bytes per key; a disk entry keeps its
 * digest in 8 bytes before the entry, because the object being replaced
 * or removed is not in memory (0 = not known yet: the record is loaded
 * the first time a tree needs it).  A key's leaf is the low bits of its
 * hash (merkle.h), which the slot's tag holds, so store_iter_leaves finds
 * a leaf's keys by scanning tags, touching only the entries it reports
 * (with more than 2^16 leaves it rehashes each key).  Trees exist only for partitions that
 * were asked for one; from then on every insert, replace and remove XORs
 * the old contribution out and the new one in, so each tree equals a
 * rebuild from the partition's entries at every moment.
 *
 * The per-partition extras (tree, tombstone generations) live in an array
 * allocated on first use, so a store without cluster or tombstones pays
 * nothing.  s->gen counts changes; tomb_gen is the generation at which a
 * partition last stored an all-tombstone object, confirmed_gen the latest
 * generation anti-entropy confirmed (see store.h).
 *
 * The visible keyspace (store.h): each partition's header also keeps the
 * count and fingerprint of its entries visible whatever the time (flags
 * neither deleted, expiring nor hidden: bit 29 of xidx is XF_HIDDEN, so
 * the index positions have 29 bits), moved in and out by store_index and
 * store_unindex, the one pair every insert, replace and remove goes
 * through.  The expiring index keeps each entry's visibility summary (the
 * STORE_F_* bits above PERSIST and the first expiry) in a parallel array:
 * 16 bytes per key with a TTL instead of 8.  A count walks that array, not
 * the tables, hashing each expiring key for its partition.
 *
 * Stalls: a resize of a partition touches only that partition (Q = 256 and
 * 1M keys: ~4k entries, well under a millisecond).  With very few
 * partitions and millions of keys a resize would be proportionally longer;
 * there is no incremental rehash.
 *
 * Thread-safety: none; the event loop owns the store.
 * Errors: store_remove returns DYN_ENOTFOUND; allocation aborts on OOM.
 */
#include <string.h>
#include "server/store.h"
#include "server/util.h"
#include "server/wire.h"
#include "cluster/merkle.h"

struct entry {
    union {
        struct object *obj; /* STORE_MEMORY, STORE_DISK_CACHE (or NULL) */
        uint64_t loc;       /* STORE_DISK */
    } u;
    uint32_t klen;
    uint32_t xidx;          /* XF_* flags | array position */
    unsigned char key[];
};

#define XF_DELETED  0x80000000u
#define XF_EXPIRY   0x40000000u
#define XF_HIDDEN   0x20000000u
#define XF_POS_MASK 0x1fffffffu

#define MIN_SLOTS 8u
#define TAG_BITS  16
#define TAG_MASK  ((1u << TAG_BITS) - 1)

#if UINTPTR_MAX > 0xffffffffu
#define TAG_SHIFT 48
#define PTR_MASK  ((((uintptr_t)1) << TAG_SHIFT) - 1)
#define HAVE_TAGS 1
#else
#define PTR_MASK  (~(uintptr_t)0)
#define HAVE_TAGS 0
#endif

struct part {
    uintptr_t *slots;   /* NULL when size == 0 */
    uint32_t size;      /* 0 or a power of two */
    uint32_t count;
    uint32_t vis;       /* entries visible whatever the time */
    uint64_t fp;        /* XOR of store_key_fp over those */
};

/* A growable array of entry pointers (deleted / expiring index); the
 * expiring one keeps each entry's visibility summary beside it. */
struct eindex {
    struct entry **e;
    uint64_t *sum;      /* NULL: no summaries (the deleted index) */
    size_t n;
    size_t cap;
};

/* Per-partition extras, allocated on first use (see the essay). */
/* An open-addressing map from entry pointers (linear probing; cap 0 or a
 * power of two). */
struct emap_slot {
    struct entry *e;
    void *v;
};
struct emap {
    struct emap_slot *t;
    uint32_t cap, n;
};

/* A held version (store_hold). */
struct hold {
    struct object *obj;
    struct store_hold_info info;
};

struct part_ae {
    struct merkle *tree;    /* NULL until asked for */
    uint64_t tomb_gen;      /* s->gen when a tombstone was last stored */
    uint64_t confirmed_gen; /* store_confirm_tombstones */
};

struct store {
    struct part *parts;
    struct part_ae *pae;    /* nparts entries, or NULL */
    uint32_t leaves;        /* merkle-leaves; 0: trees off */
    uint64_t gen;
    void *agent;
    uint32_t nparts;
    unsigned pbits;
    size_t count;
    size_t nexpiry;         /* entries with any expiry (deleted or not) */
    size_t entry_bytes;     /* sum of entry allocations, size-class rounded */
    size_t slot_bytes;      /* sum of slot arrays */
    struct eindex deleted;
    struct eindex expiring;
    enum store_kind kind;
    size_t pre;             /* bytes allocated before struct entry */
    store_load_fn load;
    void *load_ctx;
    store_materialize_fn mat; /* STORE_MEMORY: deferred typed writes */
    void *mat_ctx;
    struct object *scratch[2];
    uint64_t scratch_loc[2]; /* the record each scratch object was read from */
    /* disk kinds: the entries whose value is a deferred typed write, and
     * those whose version is held in memory, newer than their record
     * (store_hold) */
    struct emap dset;
    struct emap held;
    size_t held_bytes;      /* the held versions' object sizes */
    unsigned scratch_i;
    size_t cached_bytes;
    uint64_t vis_loads;     /* records read to judge visibility */
};

/* ---- helpers ------------------------------------------------------------ */

/* jemalloc's small size classes, approximately: 8, 16, then steps of 16 up
 * to 128, then four classes per doubling. */
static size_t store_size_class(size_t n)
{
    if (n <= 8)
        return 8;
    if (n <= 128)
        return (n + 15) & ~(size_t)15;
    size_t pow = 128;
    while (pow * 2 < n)
        pow *= 2;
    size_t step = pow / 4;
    return (n + step - 1) / step * step;
}

static inline struct entry *slot_entry(uintptr_t s)
{
    return (struct entry *)(s & PTR_MASK);
}

static inline uint32_t slot_tag(uintptr_t s)
{
#if HAVE_TAGS
    return (uint32_t)(s >> TAG_SHIFT);
#else
    (void)s;
    return 0;
#endif
}

static inline uintptr_t slot_make(struct entry *e, uint64_t hash)
{
#if HAVE_TAGS
    dyn_assert(((uintptr_t)e & ~PTR_MASK) == 0);
    return (uintptr_t)e | ((uintptr_t)(hash & TAG_MASK) << TAG_SHIFT);
#else
    (void)hash;
    return (uintptr_t)e;
#endif
}

static inline int tag_matches(uintptr_t s, uint64_t hash)
{
#if HAVE_TAGS
    return slot_tag(s) == (uint32_t)(hash & TAG_MASK);
#else
    (void)s;
    (void)hash;
    return 1;
#endif
}

/* The home bucket of the entry in slot s, in a table of `size` slots. */
static inline uint32_t slot_home(uintptr_t s, uint32_t size)
{
#if HAVE_TAGS
    if (size <= (1u << TAG_BITS))
        return slot_tag(s) & (size - 1);
#endif
    struct entry *e = slot_entry(s);
    return (uint32_t)(dyn_hash64(e->key, e->klen) & (size - 1));
}

static int object_has_expiry(const struct object *o)
{
    uint32_t n = object_nsiblings(o);
    for (uint32_t i = 0; i < n; i++) {
        struct sibling sib;
        object_sibling(o, i, &sib);
        if (sib.expire_ms != 0)
            return 1;
    }
    return 0;
}

static void eindex_add(struct eindex *x, struct entry *e, uint32_t flags,
                       int with_sum, uint64_t sum)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->e = dyn_realloc(x->e, x->cap * sizeof(*x->e));
        if (with_sum)
            x->sum = dyn_realloc(x->sum, x->cap * sizeof(*x->sum));
    }
    dyn_assert(x->n <= XF_POS_MASK);
    e->xidx = flags | (uint32_t)x->n;
    if (with_sum)
        x->sum[x->n] = sum;
    x->e[x->n++] = e;
}

static void eindex_del(struct eindex *x, struct entry *e)
{
    size_t pos = e->xidx & XF_POS_MASK;
    dyn_assert(pos < x->n && x->e[pos] == e);
    struct entry *last = x->e[--x->n];
    if (last != e) {
        x->e[pos] = last;
        if (x->sum)
            x->sum[pos] = x->sum[x->n];
        last->xidx = (last->xidx & ~XF_POS_MASK) | (uint32_t)pos;
    }
    /* Give memory back when the index has shrunk a lot. */
    if (x->cap > 64 && x->n < x->cap / 4) {
        x->cap /= 2;
        x->e = dyn_realloc(x->e, x->cap * sizeof(*x->e));
        if (x->sum)
            x->sum = dyn_realloc(x->sum, x->cap * sizeof(*x->sum));
    }
}

uint64_t store_key_fp(uint64_t hash)
{
    uint64_t x = hash ^ 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Visible whatever the time: counted in its partition's vis and fp. */
static inline int xidx_static_visible(uint32_t xidx)
{
    return !(xidx & (XF_DELETED | XF_EXPIRY | XF_HIDDEN));
}

/* Removes e (of partition pi, key hash h) from whichever index holds it
 * and from the counters. */
static void store_unindex(struct store *s, struct entry *e, uint32_t pi,
                          uint64_t h)
{
    if (e->xidx & XF_DELETED)
        eindex_del(&s->deleted, e);
    else if (e->xidx & XF_EXPIRY)
        eindex_del(&s->expiring, e);
    if (e->xidx & XF_EXPIRY)
        s->nexpiry--;
    if (xidx_static_visible(e->xidx)) {
        s->parts[pi].vis--;
        s->parts[pi].fp ^= store_key_fp(h);
    }
    e->xidx = 0;
}

uint64_t store_object_flags(const struct object *o)
{
    uint64_t f = (object_is_deleted(o) ? STORE_F_DELETED : 0) |
                 (object_has_expiry(o) ? STORE_F_EXPIRY : 0);
    uint64_t t1;
    int before, after, more;
    object_visibility(o, &t1, &before, &after, &more);
    if (!before)
        f |= STORE_F_HIDDEN;
    if (t1) {
        f |= STORE_F_SUMMARY | (after ? STORE_F_VIS_AFTER : 0) |
             (more ? STORE_F_MORE : 0);
        /* 48 bits of ms reach the year 10889; beyond, the object decides */
        if (t1 >> (64 - STORE_F_T1_SHIFT)) {
            t1 = UINT64_MAX >> STORE_F_T1_SHIFT;
            f |= STORE_F_MORE;
        }
        f |= t1 << STORE_F_T1_SHIFT;
    }
    return f;
}

/* Files e (of partition pi, key hash h) in the right index, given its
 * STORE_F_* flags. */
static void store_index(struct store *s, struct entry *e, uint64_t flags,
                        uint32_t pi, uint64_t h)
{
    int del = (flags & STORE_F_DELETED) != 0;
    uint32_t exp = (flags & STORE_F_EXPIRY) ? XF_EXPIRY : 0;
    uint32_t hid = (flags & STORE_F_HIDDEN) ? XF_HIDDEN : 0;
    e->xidx = 0;
    if (exp)
        s->nexpiry++;
    if (del)
        eindex_add(&s->deleted, e, XF_DELETED | exp | hid, 0, 0);
    else if (exp)
        eindex_add(&s->expiring, e, exp | hid, 1,
                   flags & ~(uint64_t)STORE_F_PERSIST);
    else
        e->xidx = hid;
    if (xidx_static_visible(e->xidx)) {
        s->parts[pi].vis++;
        s->parts[pi].fp ^= store_key_fp(h);
    }
}

static void part_resize(struct store *s, struct part *p, uint32_t nsize)
{
    uintptr_t *old = p->slots;
    uint32_t osize = p->size;

    dyn_assert(nsize == 0 || p->count < nsize);
    p->slots = nsize ? dyn_calloc(nsize, sizeof(uintptr_t)) : NULL;
    p->size = nsize;
    for (uint32_t i = 0; i < osize; i++) {
        uintptr_t v = old[i];
        if (!v)
            continue;
        uint32_t j = slot_home(v, nsize);
        while (p->slots[j])
            j = (j + 1) & (nsize - 1);
        p->slots[j] = v;
    }
    dyn_free(old);
    s->slot_bytes -= (size_t)osize * sizeof(uintptr_t);
    s->slot_bytes += (size_t)nsize * sizeof(uintptr_t);
}

/* Finds key; returns its slot index or -1. */
static int64_t part_find(const struct part *p, uint64_t hash,
                         const void *key, size_t klen)
{
    if (p->size == 0)
        return -1;
    uint32_t mask = p->size - 1;
    for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
        uintptr_t v = p->slots[i];
        if (!v)
            return -1;
        if (!tag_matches(v, hash))
            continue;
        const struct entry *e = slot_entry(v);
        if (e->klen == klen && memcmp(e->key, key, klen) == 0)
            return i;
    }
}

/* Empties slot i and shifts the rest of its run back (no markers). */
static void part_delete_slot(struct part *p, uint32_t i)
{
    uint32_t mask = p->size - 1;
    uint32_t j = i;
    p->slots[i] = 0;
    for (;;) {
        j = (j + 1) & mask;
        uintptr_t v = p->slots[j];
        if (!v)
            break;
        uint32_t k = slot_home(v, p->size);
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        int stays = (i <= j) ? (k > i && k <= j) : (k > i || k <= j);
        if (!stays) {
            p->slots[i] = v;
            p->slots[j] = 0;
            i = j;
        }
    }
    p->count--;
}

static struct part *store_part(const struct store *s, uint64_t hash)
{
    return &s->parts[store_partition_of_hash(s, hash)];
}

static inline uint64_t *entry_locp(struct entry *e)
{
    return (uint64_t *)(void *)((char *)e - sizeof(uint64_t));
}

static void entry_drop_cached(struct store *s, struct entry *e)
{
    if (s->kind == STORE_DISK_CACHE && e->u.obj) {
        s->cached_bytes -= object_size(e->u.obj);
        object_free(e->u.obj);
        e->u.obj = NULL;
    }
}

/* A STORE_MEMORY entry's object with the low bit of its pointer set is
 * stale: the key's value is a deferred typed write (store_defer), which
 * the materializer encodes on the first read of the entry. */
#define OBJ_STALE ((uintptr_t)1)

static inline struct object *mem_obj(const struct entry *e)
{
    return (struct object *)((uintptr_t)e->u.obj & ~OBJ_STALE);
}

static inline int mem_stale(const struct entry *e)
{
    return ((uintptr_t)e->u.obj & OBJ_STALE) != 0;
}

/* ---- entry maps: the deferred and the held entries of the disk kinds --- */

static uint32_t emap_slot(const struct emap *m, const struct entry *e)
{
    uint64_t x = (uint64_t)(uintptr_t)e * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 32) & (m->cap - 1);
}

/* e's slot in the map, or -1. */
static int64_t emap_find(const struct emap *m, const struct entry *e)
{
    if (m->n == 0)
        return -1;
    for (uint32_t i = emap_slot(m, e);; i = (i + 1) & (m->cap - 1)) {
        if (m->t[i].e == e)
            return i;
        if (!m->t[i].e)
            return -1;
    }
}

/* Maps e to v (e must not be in the map). */
static void emap_add(struct emap *m, struct entry *e, void *v)
{
    if ((uint64_t)(m->n + 1) * 2 > m->cap) {
        uint32_t ocap = m->cap;
        struct emap_slot *old = m->t;
        m->cap = ocap ? ocap * 2 : 16;
        m->t = dyn_calloc(m->cap, sizeof(*m->t));
        for (uint32_t i = 0; i < ocap; i++)
            if (old[i].e) {
                uint32_t j = emap_slot(m, old[i].e);
                while (m->t[j].e)
                    j = (j + 1) & (m->cap - 1);
                m->t[j] = old[i];
            }
        dyn_free(old);
    }
    uint32_t j = emap_slot(m, e);
    while (m->t[j].e)
        j = (j + 1) & (m->cap - 1);
    m->t[j].e = e;
    m->t[j].v = v;
    m->n++;
}

/* Removes e (1, and its value in *v when v is not NULL) or finds it
 * absent (0); backward-shift deletion keeps every probe chain whole. */
static int emap_del(struct emap *m, struct entry *e, void **v)
{
    int64_t f = emap_find(m, e);
    if (f < 0)
        return 0;
    if (v)
        *v = m->t[f].v;
    uint32_t mask = m->cap - 1, i = (uint32_t)f, j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->t[j].e)
            break;
        uint32_t home = emap_slot(m, m->t[j].e);
        /* the entry at j may move into the hole at i unless its home lies
         * cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->t[i] = m->t[j];
            i = j;
        }
    }
    m->t[i].e = NULL;
    m->t[i].v = NULL;
    m->n--;
    return 1;
}

/* Appends each mapped entry's key (klen u32 little endian, the key). */
static void emap_keys(const struct emap *m, struct dbuf *out)
{
    for (uint32_t i = 0; i < m->cap; i++) {
        const struct entry *e = m->t[i].e;
        if (!e)
            continue;
        uint8_t l[4];
        wire_store_le32(l, e->klen);
        dbuf_append(out, l, 4);
        dbuf_append(out, e->key, e->klen);
    }
}

static int dset_del(struct store *s, struct entry *e)
{
    return s->dset.n && emap_del(&s->dset, e, NULL);
}

static inline int dset_has(const struct store *s, const struct entry *e)
{
    return emap_find(&s->dset, e) >= 0;
}

/* e's held version, or NULL. */
static inline struct hold *hold_of(const struct store *s,
                                   const struct entry *e)
{
    int64_t f = s->held.n ? emap_find(&s->held, e) : -1;
    return f < 0 ? NULL : s->held.t[f].v;
}

/* Ends e's hold (a new record, a removal): its version is let go of. */
static void hold_end(struct store *s, struct entry *e)
{
    void *v;
    if (!s->held.n || !emap_del(&s->held, e, &v))
        return;
    struct hold *hd = v;
    s->held_bytes -= object_size(hd->obj);
    object_free(hd->obj);
    dyn_free(hd);
}

static void entry_free(struct store *s, struct entry *e)
{
    (void)dset_del(s, e);
    hold_end(s, e);
    s->entry_bytes -= store_size_class(s->pre + sizeof(*e) + e->klen);
    if (s->kind == STORE_MEMORY)
        object_free(mem_obj(e));
    else
        entry_drop_cached(s, e);
    dyn_free((char *)e - s->pre);
}

static void store_unindex(struct store *s, struct entry *e, uint32_t pi,
                          uint64_t h);
static void store_index(struct store *s, struct entry *e, uint64_t flags,
                        uint32_t pi, uint64_t h);

static inline uint64_t digest_norm(uint64_t d);
static inline struct merkle *part_tree(const struct store *s, uint32_t pi);
static void store_changed(struct store *s, uint32_t pi, uint64_t flags);

/* A stale entry's value encoded (the materializer) in place of the stale
 * object; its index flags and its partition's tree follow the new
 * object. */
static void entry_materialize(struct store *s, struct entry *e)
{
    struct object *stale = mem_obj(e);
    struct object *fresh = s->mat(s->mat_ctx, e->key, e->klen, stale);
    dyn_assert(fresh != NULL);
    uint64_t was = store_object_flags(stale), now = store_object_flags(fresh);
    uint64_t h = dyn_hash64(e->key, e->klen);
    uint32_t pi = store_partition_of_hash(s, h);
    struct merkle *t = part_tree(s, pi);
    if (t) {
        /* the tree kept the stale object's digest until now */
        merkle_toggle(t, h, digest_norm(object_digest(stale)));
        merkle_toggle(t, h, digest_norm(object_digest(fresh)));
    }
    if (was != now) {
        store_unindex(s, e, pi, h);
        e->u.obj = fresh;
        store_index(s, e, now, pi, h);
        store_changed(s, pi, now);
    } else {
        e->u.obj = fresh;
    }
    object_free(stale);
}

static const struct object *entry_object(struct store *s, struct entry *e);

/* STORE_DISK: the scratch object that holds the record at loc, or -1. */
static int scratch_of(const struct store *s, uint64_t loc)
{
    for (int i = 0; i < 2; i++)
        if (s->scratch[i] && s->scratch_loc[i] == loc)
            return i;
    return -1;
}

/* A disk entry whose deferred value is read (it has left the set): the
 * materializer gets the record's object as it stands and writes the
 * encoded state as the key's newest record itself (through the engine,
 * which moves this entry to it), so it returns NULL.  A record that
 * cannot be read leaves the entry as it is (it reads as absent). */
static void entry_settle(struct store *s, struct entry *e)
{
    const struct object *old = entry_object(s, e);
    if (!old)
        return;
    struct object *o = s->mat(s->mat_ctx, e->key, e->klen, old);
    dyn_assert(o == NULL);
}

/* The entry's object: in memory, cached, or loaded into a scratch object.
 * NULL when a disk-resident record cannot be read.  A deferred disk entry
 * is settled first. */
static const struct object *entry_object(struct store *s, struct entry *e)
{
    if (s->kind == STORE_MEMORY) {
        if (mem_stale(e))
            entry_materialize(s, e);
        return e->u.obj;
    }
    if (dset_del(s, e))
        entry_settle(s, e);
    struct hold *hd = hold_of(s, e);
    if (hd)
        return hd->obj;
    if (s->kind == STORE_DISK_CACHE) {
        if (!e->u.obj) {
            e->u.obj = s->load(s->load_ctx, *entry_locp(e), e->key, e->klen);
            if (e->u.obj)
                s->cached_bytes += object_size(e->u.obj);
        }
        return e->u.obj;
    }
    /* a record is never rewritten in place (segments only grow, and their
     * numbers are not reused), so a scratch object read from this
     * location is the record: a write that looks the key up twice (the
     * typed commands: the kept state's check, then the write) reads it
     * once */
    int i = scratch_of(s, e->u.loc);
    if (i >= 0) {
        s->scratch_i = (unsigned)i; /* the newest: the next load takes the
                                     * other */
        return s->scratch[i];
    }
    struct object *o = s->load(s->load_ctx, e->u.loc, e->key, e->klen);
    if (!o)
        return NULL;
    s->scratch_i ^= 1;
    object_free(s->scratch[s->scratch_i]);
    s->scratch[s->scratch_i] = o;
    s->scratch_loc[s->scratch_i] = e->u.loc;
    return o;
}

/* A new entry (not yet in a table). */
static struct entry *entry_new(struct store *s, const void *key, size_t klen)
{
    size_t esz = s->pre + sizeof(struct entry) + klen;
    char *mem = dyn_malloc(esz);
    struct entry *e = (struct entry *)(void *)(mem + s->pre);
    e->u.obj = NULL;
    e->klen = (uint32_t)klen;
    e->xidx = 0;
    if (klen)
        memcpy(e->key, key, klen);
    s->entry_bytes += store_size_class(esz);
    return e;
}

/* ---- Merkle hooks ------------------------------------------------------- */

static uint64_t entry_loc(const struct store *s, struct entry *e);

/* 0 means "not known" in a disk entry, so a real digest of 0 is stored
 * (and hashed into trees, on every kind) as 1. */
static inline uint64_t digest_norm(uint64_t d)
{
    return d ? d : 1;
}

static inline uint64_t *entry_digestp(const struct store *s, struct entry *e)
{
    return (uint64_t *)(void *)((char *)e - s->pre);
}

/* The digest of e's object, computed (and for disk kinds remembered) on
 * demand.  An unreadable record gets a fixed digest, so that its tree
 * contribution stays the same until it is replaced. */
static uint64_t entry_digest(struct store *s, struct entry *e)
{
    if (s->kind == STORE_MEMORY)
        return digest_norm(object_digest(entry_object(s, e)));
    uint64_t *d = entry_digestp(s, e);
    if (*d)
        return *d;
    if (s->kind == STORE_DISK_CACHE && e->u.obj) {
        *d = digest_norm(object_digest(e->u.obj));
    } else {
        struct object *o = s->load(s->load_ctx, entry_loc(s, e), e->key,
                                   e->klen);
        *d = o ? digest_norm(object_digest(o)) : 2;
        object_free(o);
    }
    return *d;
}

static struct part_ae *store_pae(struct store *s)
{
    if (!s->pae)
        s->pae = dyn_calloc(s->nparts, sizeof(*s->pae));
    return s->pae;
}

static inline struct merkle *part_tree(const struct store *s, uint32_t pi)
{
    return s->pae ? s->pae[pi].tree : NULL;
}

/* Bookkeeping after an entry of partition pi was stored with flags. */
static void store_changed(struct store *s, uint32_t pi, uint64_t flags)
{
    s->gen++;
    if (flags & STORE_F_DELETED)
        store_pae(s)[pi].tomb_gen = s->gen;
}

/* A disk entry whose value changes: out of its partition's tree and the
 * indexes under its old digest and flags, its cached object let go of
 * (entry_relist puts it back under the new ones). */
static void entry_unlist(struct store *s, struct entry *e, uint32_t pi,
                         uint64_t h)
{
    struct merkle *t = part_tree(s, pi);
    if (t)
        merkle_toggle(t, h, entry_digest(s, e));
    store_unindex(s, e, pi, h);
    entry_drop_cached(s, e);
}

static void entry_relist(struct store *s, struct entry *e, uint64_t flags,
                         uint32_t pi, uint64_t h)
{
    struct merkle *t = part_tree(s, pi);
    store_index(s, e, flags, pi, h);
    if (t)
        merkle_toggle(t, h, entry_digest(s, e));
    store_changed(s, pi, flags);
}

/* ---- public ------------------------------------------------------------- */

static struct entry *store_insert(struct store *s, struct part *p, uint64_t h,
                                  const void *key, size_t klen);

struct store *store_new(uint32_t partitions)
{
    dyn_assert(partitions > 0 && (partitions & (partitions - 1)) == 0);
    struct store *s = dyn_calloc(1, sizeof(*s));
    s->nparts = partitions;
    while ((1u << s->pbits) < partitions)
        s->pbits++;
    s->parts = dyn_calloc(partitions, sizeof(*s->parts));
    return s;
}

void store_free(struct store *s)
{
    if (!s)
        return;
    store_clear(s);
    if (s->pae)
        for (uint32_t i = 0; i < s->nparts; i++)
            merkle_free(s->pae[i].tree);
    dyn_free(s->pae);
    object_free(s->scratch[0]);
    object_free(s->scratch[1]);
    dyn_free(s->parts);
    dyn_free(s->dset.t);
    dyn_free(s->held.t);
    dyn_free(s->deleted.e);
    dyn_free(s->expiring.e);
    dyn_free(s->expiring.sum);
    dyn_free(s);
}

uint32_t store_partitions(const struct store *s)
{
    return s->nparts;
}

uint32_t store_partition_of_hash(const struct store *s, uint64_t hash)
{
    return s->pbits ? (uint32_t)(hash >> (64 - s->pbits)) : 0;
}

uint32_t store_partition_of(const struct store *s, const void *key,
                            size_t klen)
{
    return store_partition_of_hash(s, dyn_hash64(key, klen));
}

/* key's entry, or NULL; *h its hash. */
static struct entry *entry_find(struct store *s, const void *key,
                                size_t klen, uint64_t *h)
{
    *h = dyn_hash64(key, klen);
    struct part *p = store_part(s, *h);
    int64_t i = part_find(p, *h, key, klen);
    return i < 0 ? NULL : slot_entry(p->slots[i]);
}

const struct object *store_get(struct store *s, const void *key, size_t klen)
{
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    return e ? entry_object(s, e) : NULL;
}

const struct object *store_peek(struct store *s, const void *key,
                                size_t klen, int *stale)
{
    *stale = 0;
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    if (!e)
        return NULL;
    if (s->kind != STORE_MEMORY) {
        if (dset_has(s, e)) {
            *stale = 1;
            return NULL; /* its record is not read for a peek */
        }
        return entry_object(s, e);
    }
    *stale = mem_stale(e);
    return mem_obj(e);
}

int store_defer(struct store *s, const void *key, size_t klen)
{
    if (!s->mat)
        return DYN_EINVAL;
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    if (!e)
        return DYN_ENOTFOUND;
    if (s->kind == STORE_MEMORY)
        e->u.obj = (struct object *)((uintptr_t)mem_obj(e) | OBJ_STALE);
    else if (!dset_has(s, e))
        emap_add(&s->dset, e, NULL);
    s->gen++;
    return 0;
}

void store_deferred_keys(const struct store *s, struct dbuf *out)
{
    emap_keys(&s->dset, out);
}

static int entry_deferred(const struct store *s, const struct entry *e)
{
    return s->kind == STORE_MEMORY ? mem_stale(e) : dset_has(s, e);
}

int store_is_deferred(struct store *s, const void *key, size_t klen)
{
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    return e && entry_deferred(s, e);
}

int store_settle(struct store *s, const void *key, size_t klen)
{
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    if (!e || !entry_deferred(s, e))
        return 0;
    (void)entry_object(s, e);
    return entry_deferred(s, e);
}

uint32_t store_deferred_count(const struct store *s)
{
    return s->dset.n;
}

void store_settle_deferred(struct store *s)
{
    /* the entries as they are now: one the materializer could not write
     * (a full disk, with the journal holding its ops) defers itself
     * again, and is not tried twice */
    uint32_t n = s->dset.n, k = 0;
    if (n == 0)
        return;
    struct entry **v = dyn_malloc(n * sizeof(*v));
    for (uint32_t i = 0; i < s->dset.cap && k < n; i++)
        if (s->dset.t[i].e)
            v[k++] = s->dset.t[i].e;
    for (uint32_t i = 0; i < k; i++)
        if (dset_has(s, v[i]))
            (void)entry_object(s, v[i]); /* takes it out of the set */
    dyn_free(v);
}

/* ---- held versions (store_hold) ---------------------------------------- */

int store_hold(struct store *s, const void *key, size_t klen,
               struct object *obj, const struct store_hold_info *add,
               struct object **prev, uint64_t *prev_stamp)
{
    dyn_assert(s->kind != STORE_MEMORY);
    uint64_t h;
    struct entry *e = entry_find(s, key, klen, &h);
    if (prev)
        *prev = NULL;
    if (!e) {
        object_free(obj);
        return DYN_ENOTFOUND;
    }
    (void)dset_del(s, e); /* (a deferred value's write is this one) */
    uint32_t pi = store_partition_of_hash(s, h);
    entry_unlist(s, e, pi, h);
    struct hold *hd = hold_of(s, e);
    if (hd) {
        s->held_bytes -= object_size(hd->obj);
        if (prev) {
            *prev = hd->obj;
            if (prev_stamp)
                *prev_stamp = hd->info.stamp;
        } else {
            object_free(hd->obj);
        }
        hd->info.n += add->n;
        hd->info.bytes += add->bytes;
    } else {
        hd = dyn_malloc(sizeof(*hd));
        hd->info = *add;
        emap_add(&s->held, e, hd);
    }
    hd->info.stamp = add->stamp;
    hd->obj = obj;
    s->held_bytes += object_size(obj);
    *entry_digestp(s, e) = digest_norm(object_digest(obj));
    entry_relist(s, e, store_object_flags(obj), pi, h);
    return 0;
}

const struct object *store_held(const struct store *s, const void *key,
                                size_t klen, struct store_hold_info *info)
{
    if (!s->held.n)
        return NULL;
    uint64_t h;
    struct entry *e = entry_find((struct store *)s, key, klen, &h);
    const struct hold *hd = e ? hold_of(s, e) : NULL;
    if (!hd)
        return NULL;
    if (info)
        *info = hd->info;
    return hd->obj;
}

const struct object *store_current(const struct store *s, const void *key,
                                   size_t klen)
{
    uint64_t h;
    struct entry *e = entry_find((struct store *)s, key, klen, &h);
    if (!e || s->kind == STORE_MEMORY || dset_has(s, e))
        return NULL;
    const struct hold *hd = hold_of(s, e);
    if (hd)
        return hd->obj;
    if (s->kind == STORE_DISK_CACHE)
        return e->u.obj;
    int i = scratch_of(s, e->u.loc);
    return i >= 0 ? s->scratch[i] : NULL;
}

uint32_t store_held_count(const struct store *s)
{
    return s->held.n;
}

size_t store_held_bytes(const struct store *s)
{
    return s->held_bytes;
}

void store_held_keys(const struct store *s, struct dbuf *out)
{
    emap_keys(&s->held, out);
}

void store_set_materializer(struct store *s, store_materialize_fn fn,
                            void *ctx)
{
    s->mat = fn;
    s->mat_ctx = ctx;
}

void store_put_take(struct store *s, const void *key, size_t klen,
                    struct object *obj)
{
    dyn_assert(obj != NULL);
    dyn_assert(s->kind == STORE_MEMORY);
    dyn_assert(klen <= UINT32_MAX);
    uint64_t h = dyn_hash64(key, klen);
    struct part *p = store_part(s, h);
    int64_t i = part_find(p, h, key, klen);
    uint64_t flags = store_object_flags(obj);
    uint32_t pi = store_partition_of_hash(s, h);
    struct merkle *t = part_tree(s, pi);
    struct entry *e;

    if (i >= 0) {
        e = slot_entry(p->slots[i]);
        dyn_assert(mem_obj(e) != obj);
        if (t)
            merkle_toggle(t, h, entry_digest(s, e));
        store_unindex(s, e, pi, h);
        object_free(mem_obj(e));
    } else {
        e = store_insert(s, p, h, key, klen);
    }
    e->u.obj = obj;
    store_index(s, e, flags, pi, h);
    if (t)
        merkle_toggle(t, h, entry_digest(s, e));
    store_changed(s, pi, flags);
}

/* Adds a new entry for key (known absent) to partition p. */
static struct entry *store_insert(struct store *s, struct part *p, uint64_t h,
                                  const void *key, size_t klen)
{
    /* Grow before the table passes 3/4 full. */
    if ((uint64_t)(p->count + 1) * 4 > (uint64_t)p->size * 3)
        part_resize(s, p, p->size ? p->size * 2 : MIN_SLOTS);

    struct entry *e = entry_new(s, key, klen);
    uint32_t mask = p->size - 1;
    uint32_t j = (uint32_t)h & mask;
    while (p->slots[j])
        j = (j + 1) & mask;
    p->slots[j] = slot_make(e, h);
    p->count++;
    s->count++;
    return e;
}

void store_set_kind(struct store *s, enum store_kind kind, store_load_fn fn,
                    void *ctx)
{
    dyn_assert(s->count == 0);
    dyn_assert(kind == STORE_MEMORY || fn != NULL);
    s->kind = kind;
    s->pre = kind == STORE_DISK_CACHE ? 2 * sizeof(uint64_t)
           : kind == STORE_DISK      ? sizeof(uint64_t)
                                     : 0;
    s->load = fn;
    s->load_ctx = ctx;
}

enum store_kind store_get_kind(const struct store *s)
{
    return s->kind;
}

static uint64_t entry_loc(const struct store *s, struct entry *e)
{
    if (s->kind == STORE_DISK)
        return e->u.loc;
    if (s->kind == STORE_DISK_CACHE)
        return *entry_locp(e);
    return 0;
}

static void entry_set_loc(struct store *s, struct entry *e, uint64_t loc)
{
    if (s->kind == STORE_DISK)
        e->u.loc = loc;
    else
        *entry_locp(e) = loc;
}

static unsigned entry_flags(const struct entry *e)
{
    return ((e->xidx & XF_DELETED) ? STORE_F_DELETED : 0) |
           ((e->xidx & XF_EXPIRY) ? STORE_F_EXPIRY : 0) |
           ((e->xidx & XF_HIDDEN) ? STORE_F_HIDDEN : 0);
}

int store_put_loc(struct store *s, const void *key, size_t klen,
                  uint64_t loc, uint64_t flags, uint64_t digest,
                  struct object *obj, uint64_t *old_loc)
{
    dyn_assert(s->kind != STORE_MEMORY);
    dyn_assert(klen <= UINT32_MAX);
    if (s->kind == STORE_DISK)
        dyn_assert(obj == NULL);
    uint64_t h = dyn_hash64(key, klen);
    struct part *p = store_part(s, h);
    int64_t i = part_find(p, h, key, klen);
    int replaced = 0;
    struct entry *e;
    uint32_t pi = store_partition_of_hash(s, h);

    if (i >= 0) {
        e = slot_entry(p->slots[i]);
        /* a new record: nothing deferred or held left */
        (void)dset_del(s, e);
        hold_end(s, e);
        entry_unlist(s, e, pi, h);
        if (old_loc)
            *old_loc = entry_loc(s, e);
        replaced = 1;
    } else {
        e = store_insert(s, p, h, key, klen);
    }
    entry_set_loc(s, e, loc);
    *entry_digestp(s, e) = digest ? digest_norm(digest) : 0;
    if (s->kind == STORE_DISK_CACHE && obj) {
        e->u.obj = obj;
        s->cached_bytes += object_size(obj);
    }
    entry_relist(s, e, flags, pi, h);
    return replaced;
}

int store_get_loc(struct store *s, const void *key, size_t klen,
                  uint64_t *loc, unsigned *flags)
{
    uint64_t h = dyn_hash64(key, klen);
    struct part *p = store_part(s, h);
    int64_t i = part_find(p, h, key, klen);
    if (i < 0)
        return 0;
    struct entry *e = slot_entry(p->slots[i]);
    if (loc)
        *loc = entry_loc(s, e);
    if (flags)
        *flags = entry_flags(e);
    return 1;
}

int store_move_loc(struct store *s, const void *key, size_t klen,
                   uint64_t expect, uint64_t loc)
{
    dyn_assert(s->kind != STORE_MEMORY);
    uint64_t h = dyn_hash64(key, klen);
    struct part *p = store_part(s, h);
    int64_t i = part_find(p, h, key, klen);
    if (i < 0)
        return 0;
    struct entry *e = slot_entry(p->slots[i]);
    if (entry_loc(s, e) != expect)
        return 0;
    entry_set_loc(s, e, loc);
    return 1;
}

size_t store_cached_bytes(const struct store *s)
{
    size_t n = s->cached_bytes;
    for (int i = 0; i < 2; i++)
        if (s->scratch[i])
            n += object_size(s->scratch[i]);
    return n;
}

int store_remove(struct store *s, const void *key, size_t klen)
{
    return store_remove_loc(s, key, klen, NULL);
}

int store_remove_loc(struct store *s, const void *key, size_t klen,
                     uint64_t *old_loc)
{
    uint64_t h = dyn_hash64(key, klen);
    struct part *p = store_part(s, h);
    int64_t i = part_find(p, h, key, klen);
    if (i < 0)
        return DYN_ENOTFOUND;
    struct entry *e = slot_entry(p->slots[i]);
    if (old_loc)
        *old_loc = entry_loc(s, e);
    uint32_t pi = store_partition_of_hash(s, h);
    struct merkle *t = part_tree(s, pi);
    if (t)
        merkle_toggle(t, h, entry_digest(s, e));
    store_changed(s, pi, 0);
    store_unindex(s, e, pi, h);
    part_delete_slot(p, (uint32_t)i);
    s->count--;
    entry_free(s, e);

    /* Shrink below 1/8 full to half load; free an empty table. */
    if (p->count == 0) {
        part_resize(s, p, 0);
    } else if (p->size > MIN_SLOTS && p->count < p->size / 8) {
        uint32_t nsize = MIN_SLOTS;
        while (nsize < p->count * 2)
            nsize *= 2;
        part_resize(s, p, nsize);
    }
    return 0;
}

void store_clear(struct store *s)
{
    for (uint32_t pi = 0; pi < s->nparts; pi++) {
        struct part *p = &s->parts[pi];
        for (uint32_t i = 0; i < p->size; i++)
            if (p->slots[i])
                entry_free(s, slot_entry(p->slots[i]));
        dyn_free(p->slots);
        p->slots = NULL;
        p->size = 0;
        p->count = 0;
        p->vis = 0;
        p->fp = 0;
        if (part_tree(s, pi))
            merkle_clear(part_tree(s, pi));
    }
    s->gen++;
    s->count = 0;
    s->nexpiry = 0;
    s->slot_bytes = 0;
    dyn_assert(s->entry_bytes == 0);
    dyn_free(s->deleted.e);
    dyn_free(s->expiring.e);
    dyn_free(s->expiring.sum);
    memset(&s->deleted, 0, sizeof(s->deleted));
    memset(&s->expiring, 0, sizeof(s->expiring));
}

size_t store_count(const struct store *s)
{
    return s->count;
}

size_t store_count_live(const struct store *s)
{
    return s->count - s->deleted.n;
}

size_t store_count_expiring(const struct store *s)
{
    return s->nexpiry;
}

size_t store_partition_count(const struct store *s, uint32_t partition)
{
    dyn_assert(partition < s->nparts);
    return s->parts[partition].count;
}

void store_iter_partition(struct store *s, uint32_t partition,
                          store_iter_fn fn, void *ctx)
{
    dyn_assert(partition < s->nparts);
    struct part *p = &s->parts[partition];
    for (uint32_t i = 0; i < p->size; i++) {
        uintptr_t v = p->slots[i];
        if (!v)
            continue;
        struct entry *e = slot_entry(v);
        const struct object *o = entry_object(s, e);
        if (o && fn(ctx, e->key, e->klen, o))
            return;
    }
}

/* ---- the visible keyspace ------------------------------------------------ */

/* Visibility at now_ms of the expiring entry at position j of the
 * expiring index, from its summary; the record is read (and counted) only
 * when the summary is unknown (then learnt) or past its second expiry. */
static int expiring_visible(struct store *s, size_t j, uint64_t now_ms)
{
    struct entry *e = s->expiring.e[j];
    uint64_t sum = s->expiring.sum[j];
    if (sum & STORE_F_SUMMARY) {
        if (now_ms < sum >> STORE_F_T1_SHIFT)
            return !(e->xidx & XF_HIDDEN);
        if (!(sum & STORE_F_MORE))
            return (sum & STORE_F_VIS_AFTER) != 0;
    }
    if (s->kind == STORE_DISK ||
        (s->kind == STORE_DISK_CACHE && !e->u.obj))
        s->vis_loads++;
    const struct object *o = entry_object(s, e);
    if (!o)
        return 0; /* an unreadable record reads as absent */
    if (!(sum & STORE_F_SUMMARY))
        s->expiring.sum[j] = store_object_flags(o) &
                             ~(uint64_t)STORE_F_PERSIST;
    return object_visible(o, now_ms, NULL);
}

static int entry_visible(struct store *s, struct entry *e, uint64_t now_ms)
{
    if (e->xidx & XF_DELETED)
        return 0;
    if (e->xidx & XF_EXPIRY)
        return expiring_visible(s, e->xidx & XF_POS_MASK, now_ms);
    return !(e->xidx & XF_HIDDEN);
}

void store_count_visible(struct store *s, uint64_t now_ms,
                         const uint32_t *parts, size_t np, uint64_t *counts,
                         uint64_t *fps)
{
    for (size_t i = 0; i < np; i++) {
        dyn_assert(parts[i] < s->nparts);
        counts[i] = s->parts[parts[i]].vis;
        fps[i] = s->parts[parts[i]].fp;
    }
    if (!s->expiring.n || !np)
        return;
    /* one pass over the expiring entries, whatever their partitions */
    int32_t *slot = dyn_malloc(sizeof(int32_t) * s->nparts);
    for (uint32_t p = 0; p < s->nparts; p++)
        slot[p] = -1;
    for (size_t i = 0; i < np; i++)
        slot[parts[i]] = (int32_t)i;
    for (size_t j = 0; j < s->expiring.n; j++) {
        struct entry *e = s->expiring.e[j];
        uint64_t h = dyn_hash64(e->key, e->klen);
        int32_t k = slot[store_partition_of_hash(s, h)];
        if (k >= 0 && expiring_visible(s, j, now_ms)) {
            counts[k]++;
            fps[k] ^= store_key_fp(h);
        }
    }
    dyn_free(slot);
}

void store_iter_visible(struct store *s, uint32_t partition, uint64_t now_ms,
                        store_vis_fn fn, void *ctx)
{
    dyn_assert(partition < s->nparts);
    struct part *p = &s->parts[partition];
    for (uint32_t i = 0; i < p->size; i++) {
        uintptr_t v = p->slots[i];
        if (!v)
            continue;
        struct entry *e = slot_entry(v);
        if (fn(ctx, e->key, e->klen, entry_visible(s, e, now_ms)))
            return;
    }
}

uint64_t store_keyspace_loads(const struct store *s)
{
    return s->vis_loads;
}

static uint64_t rev64(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    return (v >> 32) | (v << 32);
}

/* Reports every entry whose home is bucket b (a whole bucket even if the
 * callback asks to stop, so that the cursor stays exact); returns how many
 * were reported and sets *stop if the callback asked to stop. */
static size_t part_visit_home(struct store *s, struct part *p, uint32_t b,
                              store_iter_fn fn, void *ctx, int *stop)
{
    uint32_t mask = p->size - 1;
    size_t n = 0;
    for (uint32_t i = b; p->slots[i]; i = (i + 1) & mask) {
        uintptr_t v = p->slots[i];
        if (slot_home(v, p->size) != b)
            continue;
        struct entry *e = slot_entry(v);
        const struct object *o = entry_object(s, e);
        n++;
        if (o && fn(ctx, e->key, e->klen, o))
            *stop = 1;
    }
    return n;
}

uint64_t store_scan(struct store *s, uint64_t cursor, size_t count,
                    store_iter_fn fn, void *ctx)
{
    uint64_t pmask = s->nparts - 1;
    uint32_t pi = (uint32_t)(cursor & pmask);
    uint64_t v = cursor >> s->pbits;
    size_t seen = 0;
    int stop = 0;

    if (count == 0)
        count = 1;
    /* Bound empty-bucket steps as Redis does, so one call stays short. */
    size_t steps = 0, max_steps = count * 10;
    while (seen < count && steps < max_steps && !stop) {
        struct part *p = &s->parts[pi];
        if (p->size) {
            uint64_t m = p->size - 1;
            seen += part_visit_home(s, p, (uint32_t)(v & m), fn, ctx,
                                    &stop);
            steps++;
            /* reverse-binary increment of v over mask m */
            v |= ~m;
            v = rev64(v);
            v++;
            v = rev64(v);
        } else {
            v = 0;
            steps++;
        }
        if (v == 0) {
            /* This partition is done: next one, or the end. */
            if (pi + 1 >= s->nparts)
                return 0;
            pi++;
        }
    }
    return (v << s->pbits) | pi;
}

/* splitmix64: spreads the caller's random word into several indexes. */
static uint64_t store_mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static size_t eindex_sample(const struct eindex *x, size_t max, uint64_t rnd,
                            char **out_keys, size_t *out_klens)
{
    size_t n = 0;
    if (max == 0 || x->n == 0)
        return 0;
    if (x->n <= max) {
        for (size_t i = 0; i < x->n; i++) {
            const struct entry *e = x->e[i];
            out_keys[n] = dyn_malloc(e->klen + 1);
            memcpy(out_keys[n], e->key, e->klen);
            out_keys[n][e->klen] = '\0';
            out_klens[n++] = e->klen;
        }
        return n;
    }
    /* Distinct random positions, checked against the (small) set already
     * taken; a few retries at most, so the result may be short. */
    size_t pos[64];
    size_t want = DYN_MIN(max, DYN_ARRAY_LEN(pos));
    size_t tries = want * 4;
    while (n < want && tries--) {
        size_t p = (size_t)(store_mix(&rnd) % x->n);
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = pos[k] == p;
        if (dup)
            continue;
        const struct entry *e = x->e[p];
        pos[n] = p;
        out_keys[n] = dyn_malloc(e->klen + 1);
        memcpy(out_keys[n], e->key, e->klen);
        out_keys[n][e->klen] = '\0';
        out_klens[n++] = e->klen;
    }
    return n;
}

size_t store_sample_expiring(struct store *s, size_t max, uint64_t rnd,
                             char **out_keys, size_t *out_klens)
{
    return eindex_sample(&s->expiring, max, rnd, out_keys, out_klens);
}

size_t store_sample_deleted(struct store *s, size_t max, uint64_t rnd,
                            char **out_keys, size_t *out_klens)
{
    return eindex_sample(&s->deleted, max, rnd, out_keys, out_klens);
}

size_t store_overhead_bytes(const struct store *s)
{
    return sizeof(*s) + (size_t)s->nparts * sizeof(struct part) +
           s->slot_bytes + s->entry_bytes +
           (s->deleted.cap + s->expiring.cap) * sizeof(struct entry *) +
           s->expiring.cap * sizeof(uint64_t); /* the summaries */
}

/* ---- Merkle trees, digests, tombstone confirmation ------------------------ */

void store_merkle_enable(struct store *s, uint32_t leaves)
{
    dyn_assert(leaves >= 1 && (leaves & (leaves - 1)) == 0);
    if (s->leaves == leaves)
        return;
    if (s->pae)
        for (uint32_t i = 0; i < s->nparts; i++) {
            merkle_free(s->pae[i].tree);
            s->pae[i].tree = NULL;
        }
    s->leaves = leaves;
}

uint32_t store_merkle_leaves(const struct store *s)
{
    return s->leaves;
}

struct merkle *store_merkle(struct store *s, uint32_t partition)
{
    dyn_assert(partition < s->nparts);
    if (!s->leaves)
        return NULL;
    struct part_ae *a = &store_pae(s)[partition];
    if (a->tree)
        return a->tree;
    a->tree = merkle_new(s->leaves);
    struct part *p = &s->parts[partition];
    for (uint32_t i = 0; i < p->size; i++) {
        uintptr_t v = p->slots[i];
        if (!v)
            continue;
        struct entry *e = slot_entry(v);
        merkle_toggle(a->tree, dyn_hash64(e->key, e->klen),
                      entry_digest(s, e));
    }
    return a->tree;
}

size_t store_merkle_bytes(const struct store *s)
{
    if (!s->pae)
        return 0;
    size_t n = (size_t)s->nparts * sizeof(*s->pae);
    for (uint32_t i = 0; i < s->nparts; i++)
        if (s->pae[i].tree)
            n += merkle_bytes(s->pae[i].tree);
    return n;
}

void store_iter_leaves(struct store *s, uint32_t partition,
                       const uint64_t *leafmask, store_digest_fn fn,
                       void *ctx)
{
    dyn_assert(partition < s->nparts);
    struct merkle *t = part_tree(s, partition);
    dyn_assert(t != NULL);
    struct part *p = &s->parts[partition];
    for (uint32_t i = 0; i < p->size; i++) {
        uintptr_t v = p->slots[i];
        if (!v)
            continue;
        struct entry *e = slot_entry(v);
        uint32_t leaf;
#if HAVE_TAGS
        if (s->leaves <= (1u << TAG_BITS))
            leaf = slot_tag(v) & (s->leaves - 1);   /* = merkle_leaf_of */
        else
#endif
            leaf = merkle_leaf_of(t, dyn_hash64(e->key, e->klen));
        if (!(leafmask[leaf / 64] & (1ull << (leaf % 64))))
            continue;
        if (fn(ctx, e->key, e->klen, entry_digest(s, e), entry_flags(e)))
            return;
    }
}

uint64_t store_generation(const struct store *s)
{
    return s->gen;
}

void store_confirm_tombstones(struct store *s, uint32_t partition,
                              uint64_t gen)
{
    dyn_assert(partition < s->nparts);
    struct part_ae *a = &store_pae(s)[partition];
    a->confirmed_gen = DYN_MAX(a->confirmed_gen, gen);
}

int store_tombstones_confirmed(const struct store *s, uint32_t partition)
{
    dyn_assert(partition < s->nparts);
    if (!s->pae)
        return 1;   /* no tombstone was ever stored */
    const struct part_ae *a = &s->pae[partition];
    return a->tomb_gen <= a->confirmed_gen;
}

void store_set_agent(struct store *s, void *agent)
{
    s->agent = agent;
}

void *store_agent(const struct store *s)
{
    return s->agent;
}
