/*
 * tcache.c -- decoded typed states beside the store: see tcache.h.
 *
 * A chained hash table over the key (dyn_hash64), with a doubly linked
 * recency list through the same entries: a hit or a put moves an entry to
 * the front, eviction takes from the back.  The table doubles when the
 * entries pass its buckets; it never shrinks (its size follows the most
 * entries the bound ever allowed).
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
    void *state;
    int type;
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

/* Unlinks *pp's entry everywhere and frees it; its state too when
 * free_it. */
static void remove_at(struct tcache *c, struct tentry **pp, int free_it)
{
    struct tentry *e = *pp;
    *pp = e->chain;
    lru_unlink(c, e);
    c->st.entries--;
    c->st.bytes -= e->cost;
    if (free_it)
        c->free_state(e->type, e->state);
    dyn_free(e);
}

static void remove_entry(struct tcache *c, struct tentry *e, int free_it)
{
    remove_at(c, slot_of(c, e->khash, e->key, e->klen), free_it);
}

void tcache_clear(struct tcache *c)
{
    while (c->oldest)
        remove_entry(c, c->oldest, 1);
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
        remove_entry(c, c->oldest, 1);
        c->st.evictions++;
    }
}

void *tcache_take(struct tcache *c, const void *key, size_t klen, int type,
                  const uint8_t *enc, size_t len)
{
    uint64_t kh = dyn_hash64(key, klen);
    struct tentry **pp = slot_of(c, kh, key, klen);
    struct tentry *e = *pp;
    if (!e) {
        c->st.misses++;
        return NULL;
    }
    if (e->type != type || e->len != len ||
        !XXH128_isEqual(e->tag, XXH3_128bits_withSeed(enc, len, c->seed))) {
        remove_at(c, pp, 1); /* the key changed since: stale */
        c->st.misses++;
        return NULL;
    }
    void *s = e->state;
    remove_at(c, pp, 0);
    c->st.hits++;
    return s;
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

void tcache_put(struct tcache *c, const void *key, size_t klen, int type,
                void *state, const uint8_t *enc, size_t len, uint64_t cost,
                uint64_t max_bytes)
{
    uint64_t kh = dyn_hash64(key, klen);
    struct tentry **pp = slot_of(c, kh, key, klen);
    if (*pp)
        remove_at(c, pp, 1);
    if (cost > max_bytes) { /* would evict everything, itself too */
        c->free_state(type, state);
        c->st.evictions++;
        return;
    }
    struct tentry *e = dyn_malloc(sizeof(*e) + klen);
    e->khash = kh;
    e->tag = XXH3_128bits_withSeed(enc, len, c->seed);
    e->len = len;
    e->cost = cost;
    e->state = state;
    e->type = type;
    e->klen = klen;
    memcpy(e->key, key, klen);
    if (c->st.entries + 1 > c->nb)
        grow(c);
    pp = &c->b[kh & (c->nb - 1)];
    e->chain = *pp;
    *pp = e;
    lru_push(c, e);
    c->st.entries++;
    c->st.bytes += cost;
    tcache_shrink(c, max_bytes);
}

void tcache_stats(const struct tcache *c, struct tcache_stats *out)
{
    *out = c->st;
}
