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
 *
 * Lent entries are also on a short list (the states the current command
 * borrowed, one or two), which tcache_end_lends walks.
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
    uint64_t stamp;            /* tcache_stamp's, 0: none */
    uint64_t cost;
    void *state;               /* NULL: none kept */
    int type;
    int pending, lent;         /* see tcache.h */
    int written;               /* lent, then put (encoded) as it is */
    int lent_read;             /* lent to readers only */
    struct tentry *lent_next;  /* the lent list */
    struct tcache_write w;     /* the owner's, while pending */
    uint64_t issued_prev, issued_last; /* tcache_issue; 0: unknown */
    uint64_t counter_last, counter_run; /* tcache_counter_op; 0: unknown */
    size_t klen;
    unsigned char key[];
};

struct grave {
    struct grave *next;
    int type;
    void *state;
};

struct tcache {
    struct tentry **b;
    size_t nb;                 /* a power of two */
    struct tentry *newest, *oldest;
    uint64_t seed;
    tcache_free_fn free_state;
    tcache_flush_fn flush;
    tcache_pin_fn pin;
    void *flush_ctx;
    struct tentry *lent;       /* lent entries, linked by lent_next */
    struct grave *graves;      /* lent states let go of, freed at the end */
    uint64_t bound;            /* the last max_bytes an owner passed */
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

static void unlend(struct tcache *c, struct tentry *e)
{
    if (!e->lent)
        return;
    struct tentry **pp = &c->lent;
    while (*pp != e)
        pp = &(*pp)->lent_next;
    *pp = e->lent_next;
    e->lent_next = NULL;
    e->lent = 0;
}

/* e's state, which leaves it (NULL if it had none); the entry stays,
 * charged its own size. */
static void *detach_state(struct tcache *c, struct tentry *e)
{
    void *s = e->state;
    unlend(c, e);
    e->pending = 0;
    e->written = 0;
    e->lent_read = 0;
    e->stamp = 0;
    if (!s)
        return NULL;
    e->state = NULL;
    c->st.entries--;
    c->st.bytes -= e->cost - tcache_entry_cost(e->klen);
    e->cost = tcache_entry_cost(e->klen);
    return s;
}

/* Lets go of e's state (freed; a lent one at tcache_end_lends), keeping
 * the entry. */
static void drop_state(struct tcache *c, struct tentry *e)
{
    int lent = e->lent, pinned = e->lent || e->pending;
    void *s = detach_state(c, e);
    if (!s)
        return;
    if (pinned && !lent)
        c->pin(e->type, s, 0);
    if (lent) {
        struct grave *g = dyn_malloc(sizeof(*g));
        g->type = e->type;
        g->state = s;
        g->next = c->graves;
        c->graves = g;
        return;
    }
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

/* Encodes e's pending state into the store (the owner's flush), so that
 * it may go: 1 when it may (not pending, or flushed and not needed any
 * more: settled, or an orphan the store no longer holds). */
static int flush_entry(struct tcache *c, struct tentry *e)
{
    if (e->pending && c->flush)
        return !c->flush(c->flush_ctx, e->key, e->klen);
    return 1;
}

void tcache_clear(struct tcache *c)
{
    /* a state the owner could not encode and still needs stays */
    struct tentry *e = c->oldest;
    while (e) {
        struct tentry *next = e->newer;
        if (flush_entry(c, e))
            remove_entry(c, e);
        e = next;
    }
}

void tcache_free(struct tcache *c)
{
    if (!c)
        return;
    while (c->oldest) /* no flush: the store may be gone */
        remove_entry(c, c->oldest);
    tcache_end_lends(c);
    dyn_free(c->b);
    dyn_free(c);
}

void tcache_shrink(struct tcache *c, uint64_t max_bytes)
{
    c->bound = max_bytes;
    struct tentry *e = c->oldest;
    while (e && c->st.bytes > max_bytes) {
        struct tentry *next = e->newer;
        if (!e->lent) { /* a borrowed state stays until its command ends */
            if (flush_entry(c, e)) { /* else its owner still needs it */
                if (e->state)
                    c->st.evictions++;
                remove_entry(c, e);
            }
        }
        e = next;
    }
}

void tcache_set_owner(struct tcache *c, tcache_flush_fn flush,
                      tcache_pin_fn pin, void *ctx)
{
    c->flush = flush;
    c->pin = pin;
    c->flush_ctx = ctx;
}

void *tcache_peek(struct tcache *c, const void *key, size_t klen, int *type,
                  int *pending, struct tcache_write **w)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (!e || !e->state)
        return NULL;
    *type = e->type;
    *pending = e->pending;
    *w = &e->w;
    return e->state;
}

int tcache_current(struct tcache *c, const void *key, size_t klen, int type,
                   const uint8_t *enc, size_t len)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    return e && e->state && !e->pending && e->type == type &&
           e->len == len &&
           XXH128_isEqual(e->tag, XXH3_128bits_withSeed(enc, len, c->seed));
}

void tcache_stamp(struct tcache *c, const void *key, size_t klen,
                  uint64_t stamp)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (e && e->state && !e->pending)
        e->stamp = stamp;
}

/* key's entry when it keeps a settled state of type stamped stamp (not
 * 0), else NULL. */
static struct tentry *stamped(struct tcache *c, const void *key, size_t klen,
                              int type, uint64_t stamp)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    return e && e->state && !e->pending && e->type == type && stamp != 0 &&
                   e->stamp == stamp
               ? e
               : NULL;
}

int tcache_current_stamp(struct tcache *c, const void *key, size_t klen,
                         int type, uint64_t stamp, uint64_t *len)
{
    struct tentry *e = stamped(c, key, klen, type, stamp);
    if (!e)
        return 0;
    *len = e->len;
    return 1;
}

void tcache_lend(struct tcache *c, const void *key, size_t klen,
                 int pending)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    dyn_assert(e && e->state && c->pin);
    if (!e->lent) {
        c->pin(e->type, e->state, 1);
        c->st.hits++;
        e->lent = 1;
        e->lent_next = c->lent;
        c->lent = e;
    }
    e->lent_read = 0;
    if (pending)
        e->pending = 1;
}

void tcache_lend_read(struct tcache *c, const void *key, size_t klen)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    dyn_assert(e && e->state && c->pin);
    if (e->lent)
        return; /* lent already (to a writer: it stays so) */
    tcache_lend(c, key, klen, 0);
    e->lent_read = 1;
}

void tcache_unchanged(struct tcache *c, const void *key, size_t klen)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (e && e->lent && !e->written)
        e->lent_read = 1; /* the store's copy (or pending) as it was */
}

void tcache_end_lends(struct tcache *c)
{
    while (c->lent) {
        struct tentry *e = c->lent;
        c->lent = e->lent_next;
        e->lent_next = NULL;
        e->lent = 0;
        if (e->pending)
            continue;
        if (e->written || e->lent_read) { /* the store's copy as it is */
            e->written = 0;
            e->lent_read = 0;
            c->pin(e->type, e->state, 0);
            continue;
        }
        drop_state(c, e);
    }
    while (c->graves) {
        struct grave *g = c->graves;
        c->graves = g->next;
        c->pin(g->type, g->state, 0);
        c->free_state(g->type, g->state);
        dyn_free(g);
    }
    /* what lent entries kept above the bound goes now */
    if (c->bound && c->st.bytes > c->bound)
        tcache_shrink(c, c->bound);
}

/* e's state is charged cost (besides the entry's own size). */
static void recharge(struct tcache *c, struct tentry *e, uint64_t cost)
{
    uint64_t base = tcache_entry_cost(e->klen);
    c->st.bytes = c->st.bytes - e->cost + base + cost;
    e->cost = base + cost;
}

/* e's state is now the store's, encoded as enc and charged cost: a lent
 * one stays lent (pinned) until its command ends, then stays as it is. */
static void encoded_as(struct tcache *c, struct tentry *e, const uint8_t *enc,
                       size_t len, uint64_t cost)
{
    if (e->pending && !e->lent)
        c->pin(e->type, e->state, 0);
    if (e->lent)
        e->written = 1;
    e->pending = 0;
    e->tag = XXH3_128bits_withSeed(enc, len, c->seed);
    e->len = len;
    e->stamp = 0;
    recharge(c, e, cost);
}

void tcache_settle(struct tcache *c, const void *key, size_t klen,
                   const uint8_t *enc, size_t len, uint64_t cost)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (e && e->state)
        encoded_as(c, e, enc, len, cost);
}

void tcache_drop(struct tcache *c, const void *key, size_t klen)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (e)
        drop_state(c, e);
}

void tcache_charge(struct tcache *c, const void *key, size_t klen,
                   uint64_t cost, uint64_t max_bytes)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (!e || !e->state)
        return;
    recharge(c, e, cost);
    tcache_shrink(c, max_bytes);
}

void *tcache_take_stamped(struct tcache *c, const void *key, size_t klen,
                          int type, uint64_t stamp)
{
    struct tentry *e = stamped(c, key, klen, type, stamp);
    if (!e || e->lent)
        return NULL;
    c->st.hits++;
    return detach_state(c, e);
}

void *tcache_take(struct tcache *c, const void *key, size_t klen, int type,
                  const uint8_t *enc, size_t len)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    if (!e || !e->state || e->pending || e->lent) {
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
    if (e->state == state) { /* the lent state, written by its owner */
        dyn_assert(e->lent);
        encoded_as(c, e, enc, len, cost);
        tcache_shrink(c, max_bytes);
        return;
    }
    dyn_assert(!e->pending);
    drop_state(c, e);
    if (cost > max_bytes) { /* would evict everything, itself too */
        c->free_state(type, state);
        c->st.evictions++;
        tcache_shrink(c, max_bytes);
        return;
    }
    e->tag = XXH3_128bits_withSeed(enc, len, c->seed);
    e->len = len;
    e->stamp = 0;
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

void tcache_counter_op(struct tcache *c, const void *key, size_t klen,
                       uint64_t seq, uint64_t run, uint64_t max_bytes)
{
    struct tentry *e = entry_of(c, key, klen);
    e->counter_last = seq;
    e->counter_run = run;
    tcache_shrink(c, max_bytes);
}

uint64_t tcache_counter_last(struct tcache *c, const void *key, size_t klen,
                             uint64_t *run)
{
    struct tentry *e = *slot_of(c, dyn_hash64(key, klen), key, klen);
    *run = e ? e->counter_run : 0;
    return e ? e->counter_last : 0;
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
