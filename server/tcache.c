/*
 * tcache.c -- decoded typed states beside the store: see tcache.h.
 *
 * A chained hash table over the key (dyn_hash64), with a doubly linked
 * recency list through the same entries: a hit or a put moves an entry to
 * the front, eviction takes from the back.  The table doubles when the
 * entries pass its buckets; it never shrinks (its size follows the most
 * entries the bound ever allowed).
 *
 * An entry outlives its state: a take leaves it (state NULL) with the
 * key's issued dots, which the next write needs; it is charged its own
 * size, so the bound covers it too.
 */
#include "server/tcache.h"

#include <string.h>
#include <xxhash.h>

#include "server/util.h"

struct tentry {
    struct tentry *chain;      /* the bucket's next */
    struct tentry *newer, *older;
    uint64_t khash;
    XXH128_hash_t tag;         /* of the encoding, under the seed */
    uint64_t len;              /* the encoding's length */
    uint64_t cost;
    void *state;               /* NULL: none kept */
    int type;
    uint64_t issued_prev, issued_last; /* tcache_issue; 0: unknown */
    size_t klen;
    unsigned char key[];
};

struct tcache {
    struct tentry **b;
    size_t nb;                 /* a power of two */
    struct tentry *newest, *oldest;
    uint64_t seed;
    tcache_free_fn free_state;
    struct tcache_stats st;
};

struct tcache *tcache_new(uint64_t seed, tcache_free_fn free_state)
{
    struct tcache *c = dyn_calloc(1, sizeof(*c));
    c->nb = 64;
    c->b = dyn_calloc(c->nb, sizeof(*c->b));
    c->seed = seed;
    c->free_state = free_state;
    return c;
}

static struct tentry **slot_of(struct tcache *c, uint64_t khash,
                               const void *key, size_t klen)
{
    struct tentry **pp = &c->b[khash & (c->nb - 1)];
    while (*pp && ((*pp)->khash != khash || (*pp)->klen != klen ||
                   memcmp((*pp)->key, key, klen) != 0))
        pp = &(*pp)->chain;
    return pp;
}

static void lru_unlink(struct tcache *c, struct tentry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct tcache *c, struct tentry *e)
{
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
}

uint64_t tcache_entry_cost(size_t klen)
{
    return sizeof(struct tentry) + klen;
}

/* e's state, which leaves it (NULL if it had none); the entry stays,
 * charged its own size. */
static void *detach_state(struct tcache *c, struct tentry *e)
{
    void *s = e->state;
    if (!s)
        return NULL;
    e->state = NULL;
    c->st.entries--;
    c->st.bytes -= e->cost - tcache_entry_cost(e->klen);
    e->cost = tcache_entry_cost(e->klen);
    return s;
}

/* Lets go of e's state (freed), keeping the entry. */
static void drop_state(struct tcache *c, struct tentry *e)
{
    void *s = detach_state(c, e);
    if (s)
        c->free_state(e->type, s);
}

/* Unlinks *pp's entry everywhere and frees it, its state too. */
static void remove_at(struct tcache *c, struct tentry **pp)
{
    struct tentry *e = *pp;
    drop_state(c, e);
    *pp = e->chain;
    lru_unlink(c, e);
    c->st.tracked--;
    c->st.bytes -= e->cost;
    dyn_free(e);
}

static void remove_entry(struct tcache *c, struct tentry *e)
{
    remove_at(c, slot_of(c, e->khash, e->key, e->klen));
}

void tcache_clear(struct tcache *c)
{
    while (c->oldest)
        remove_entry(c, c->oldest);
}

void tcache_free(struct tcache *c)
{
    if (!c)
        return;
    tcache_clear(c);
    dyn_free(c->b);
    dyn_free(c);
}

void tcache_shrink(struct tcache *c, uint64_t max_bytes)
{
    while (c->oldest && c->st.bytes > max_bytes) {
        if (c->oldest->state)
            c->st.evictions++;
        remove_entry(c, c->oldest);
    }
}

void *tcache_take(struct tcache *c, const void *key, size_t klen, int type,
                  const uint8_t *enc, size_t len)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (!e || !e->state) {
        c->st.misses++;
        return NULL;
    }
    if (e->type != type || e->len != len ||
        !XXH128_isEqual(e->tag, XXH3_128bits_withSeed(enc, len, c->seed))) {
        drop_state(c, e); /* the key changed since: stale */
        c->st.misses++;
        return NULL;
    }
    c->st.hits++;
    return detach_state(c, e); /* the caller's now; the entry stays */
}

static void grow(struct tcache *c)
{
    size_t nb = c->nb * 2;
    struct tentry **b = dyn_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->nb; i++) {
        struct tentry *e = c->b[i];
        while (e) {
            struct tentry *next = e->chain;
            e->chain = b[e->khash & (nb - 1)];
            b[e->khash & (nb - 1)] = e;
            e = next;
        }
    }
    dyn_free(c->b);
    c->b = b;
    c->nb = nb;
}

/* key's entry, made (state NULL, nothing issued) when it has none; it
 * becomes the most recently used. */
static struct tentry *entry_of(struct tcache *c, const void *key,
                               size_t klen)
{
    uint64_t kh = dyn_hash64(key, klen);
    struct tentry **pp = slot_of(c, kh, key, klen);
    struct tentry *e = *pp;
    if (e) {
        lru_unlink(c, e);
        lru_push(c, e);
        return e;
    }
    e = dyn_calloc(1, sizeof(*e) + klen);
    e->khash = kh;
    e->cost = tcache_entry_cost(klen);
    e->klen = klen;
    memcpy(e->key, key, klen);
    if (c->st.tracked + 1 > c->nb)
        grow(c);
    pp = &c->b[kh & (c->nb - 1)];
    e->chain = *pp;
    *pp = e;
    lru_push(c, e);
    c->st.tracked++;
    c->st.bytes += e->cost;
    return e;
}

void tcache_put(struct tcache *c, const void *key, size_t klen, int type,
                void *state, const uint8_t *enc, size_t len, uint64_t cost,
                uint64_t max_bytes)
{
    struct tentry *e = entry_of(c, key, klen);
    drop_state(c, e);
    if (cost > max_bytes) { /* would evict everything, itself too */
        c->free_state(type, state);
        c->st.evictions++;
        tcache_shrink(c, max_bytes);
        return;
    }
    e->tag = XXH3_128bits_withSeed(enc, len, c->seed);
    e->len = len;
    e->state = state;
    e->type = type;
    e->cost += cost;
    c->st.entries++;
    c->st.bytes += cost;
    /* the entry is the newest: everything older goes first */
    tcache_shrink(c, max_bytes);
}

void tcache_issue(struct tcache *c, const void *key, size_t klen,
                  uint64_t last, uint64_t max_bytes)
{
    struct tentry *e = entry_of(c, key, klen);
    e->issued_prev = e->issued_last;
    e->issued_last = last;
    tcache_shrink(c, max_bytes);
}

int tcache_issued(struct tcache *c, const void *key, size_t klen,
                  uint64_t *prev, uint64_t *last)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (!e || !e->issued_last)
        return 0;
    *prev = e->issued_prev;
    *last = e->issued_last;
    return 1;
}

void tcache_stats(const struct tcache *c, struct tcache_stats *out)
{
    *out = c->st;
}
