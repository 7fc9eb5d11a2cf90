/*
 * test_object.c -- versioned objects under dotted version vectors.
 *
 * Three kinds of test:
 *   - scenarios that read like the spec (two writes with the same old
 *     context through one coordinator give two siblings; a write with the
 *     object's clock resolves them);
 *   - an oracle: random sets of siblings are encoded here, independently
 *     of object.c, per the layout in object.c's essay; object_merge must
 *     give exactly the bytes of the brute-force reconciliation;
 *   - properties over objects from random simulated histories (replicas
 *     writing with stale contexts, syncing, reading): merge commutative,
 *     associative, idempotent; from_bytes round trips and survives
 *     truncation and corruption;
 *   - typed siblings (tcase "typed", OBJECT_FORMAT 2): the layout, what
 *     object_from_bytes refuses (DYN_EFORMAT for a newer format or type),
 *     the joins' semantics (counters sum, a concurrent SET is a counter's
 *     base, a string covers a state only when it saw every dot of it, a
 *     typed write drops what it observed), and the laws over random
 *     histories mixing strings, counters and sets built with the CRDT
 *     library (tcase "typed-laws", on demand: the laws that still fail
 *     in a few histories of the string/counter family).
 * The PRNG is seeded with SEED; failures print the seed and iteration.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "cluster/object.h"
#include "cluster/vclock.h"
#include "server/buf.h"
#include "server/util.h"

#define SEED 0xd07d07c0ffeeULL
#define ITERS 10000
#define NOW 1700000000000ULL

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(struct rng *r, uint32_t n)
{
    return (uint32_t)(rng_next(r) % n);
}

static const struct object_limits nolim = {0, 0, 0, NULL, 0};

/* ---- helpers -------------------------------------------------------- */

static struct object *put(const struct object *cur, uint64_t actor,
                          const struct vclock *ctx, const char *val,
                          uint64_t now)
{
    struct object_write w = {
        .value = val, .vlen = val ? strlen(val) : 0, .tombstone = !val,
        .expire_ms = 0, .ctx = ctx, .actor = actor, .now_ms = now,
        .max_ctx_entries = 10,
    };
    uint32_t pruned = 0;
    struct object *o = object_write(cur, &w, &pruned);
    ck_assert_uint_eq(pruned, 0);
    return o;
}

static int has_value(const struct object *o, const char *val)
{
    for (uint32_t i = 0; i < object_nsiblings(o); i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        if (!s.tombstone && s.vlen == strlen(val) &&
            memcmp(s.value, val, s.vlen) == 0)
            return 1;
    }
    return 0;
}

static int64_t counter_value(const struct object *o);

/* from_bytes(bytes(o)) must succeed and give the same bytes */
static void assert_valid(const struct object *o)
{
    struct object *c = NULL;
    ck_assert_int_eq(object_from_bytes(object_bytes(o), object_size(o),
                                       &nolim, &c),
                     0);
    ck_assert(object_equal(o, c));
    ck_assert_uint_eq(object_digest(o), object_digest(c));
    object_free(c);
}

/* ---- an independent encoder of the documented layout ------------------ */

struct tsib {
    uint64_t actor, counter, ts;
    int64_t expire;
    int tomb;
    struct vclock ctx;
    uint8_t val[24];
    uint32_t vlen;
};

static void put_varint(struct dbuf *d, uint64_t v)
{
    while (v >= 0x80) {
        dbuf_appendc(d, (char)(uint8_t)(v | 0x80));
        v >>= 7;
    }
    dbuf_appendc(d, (char)(uint8_t)v);
}

static void enc_sib(struct dbuf *d, const struct tsib *s)
{
    dbuf_appendc(d, (char)((s->tomb ? 1 : 0) | (s->expire ? 2 : 0)));
    for (int i = 0; i < 8; i++)
        dbuf_appendc(d, (char)(uint8_t)(s->actor >> (8 * i)));
    put_varint(d, s->counter);
    put_varint(d, s->ts);
    if (s->expire)
        put_varint(d, (uint64_t)s->expire);
    vclock_encode_buf(&s->ctx, d);
    put_varint(d, s->vlen);
    dbuf_append(d, s->val, s->vlen);
}

/* Encodes sibs[idx[0..n)] in dot order (idx must already be sorted). */
static void enc_obj(struct dbuf *d, const struct tsib *sibs,
                    const uint32_t *idx, uint32_t n)
{
    dbuf_reset(d);
    dbuf_appendc(d, 1);
    put_varint(d, n);
    for (uint32_t i = 0; i < n; i++)
        enc_sib(d, &sibs[idx[i]]);
}

static int covers(const struct tsib *t, const struct tsib *s)
{
    return vclock_get(&t->ctx, s->actor) >= s->counter;
}

/*
 * A random pool of siblings in which coverage cannot cycle: counters grow
 * per actor in pool order, and a sibling's context only includes dots of
 * earlier siblings (plus an actor that never writes).  Pool order is also
 * dot order within one actor.  With closed set, contexts are closed as in
 * real histories (having seen (A, c) means having seen every earlier event
 * of A and what it had seen), which makes coverage transitive.
 */
#define POOL 10
static void close_ctx(struct tsib *p, uint32_t k)
{
    int changed = 1;
    while (changed) {
        changed = 0;
        for (uint32_t j = 0; j < k; j++) {
            if (!covers(&p[k], &p[j]))
                continue;
            struct vclock before;
            vclock_init(&before);
            vclock_copy(&before, &p[k].ctx);
            vclock_merge(&p[k].ctx, &p[j].ctx);
            if (vclock_compare(&p[k].ctx, &before) != VCLOCK_EQUAL)
                changed = 1;
            vclock_free(&before);
        }
    }
}

static void rand_pool(struct rng *r, struct tsib *p, int closed)
{
    static const uint64_t actors[] = {0x1111111111000001ULL,
                                      0x00000000000000a2ULL,
                                      0xfeedfacecafe0003ULL};
    uint64_t last[3] = {0, 0, 0};
    for (uint32_t k = 0; k < POOL; k++) {
        struct tsib *s = &p[k];
        uint32_t a = rng_below(r, 3);
        s->actor = actors[a];
        s->counter = last[a] + 1 + rng_below(r, 2);
        last[a] = s->counter;
        s->ts = NOW + rng_below(r, 4);
        s->expire = rng_below(r, 5) == 0 ? (int64_t)(NOW + 5000) : 0;
        s->tomb = rng_below(r, 6) == 0;
        s->vlen = s->tomb ? 0 : rng_below(r, 20);
        for (uint32_t i = 0; i < s->vlen; i++)
            s->val[i] = (uint8_t)rng_next(r);
        vclock_init(&s->ctx);
        for (uint32_t j = 0; j < k; j++)
            if (rng_below(r, 10) < 3 &&
                vclock_get(&s->ctx, p[j].actor) < p[j].counter)
                vclock_set(&s->ctx, p[j].actor, p[j].counter, p[j].ts);
        if (rng_below(r, 4) == 0)
            vclock_set(&s->ctx, 0x42, 1 + rng_below(r, 3), NOW);
        if (closed)
            close_ctx(p, k);
    }
}

static void pool_free(struct tsib *p)
{
    for (uint32_t k = 0; k < POOL; k++)
        vclock_free(&p[k].ctx);
}

static int tsib_dot_cmp(const void *x, const void *y, const struct tsib *p)
{
    const struct tsib *a = &p[*(const uint32_t *)x];
    const struct tsib *b = &p[*(const uint32_t *)y];
    if (a->actor != b->actor)
        return a->actor < b->actor ? -1 : 1;
    return a->counter < b->counter ? -1 : a->counter > b->counter;
}

/* Pool indexes of mask's members that no other member covers, in dot
 * order: the brute-force reconciliation. */
static uint32_t reduce(const struct tsib *p, uint32_t mask, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < POOL; i++) {
        if (!(mask & (1u << i)))
            continue;
        int cov = 0;
        for (uint32_t j = 0; j < POOL && !cov; j++)
            cov = j != i && (mask & (1u << j)) && covers(&p[j], &p[i]);
        if (!cov)
            out[n++] = i;
    }
    /* insertion sort by dot (qsort has no context argument) */
    for (uint32_t i = 1; i < n; i++)
        for (uint32_t j = i;
             j > 0 && tsib_dot_cmp(&out[j - 1], &out[j], p) > 0; j--) {
            uint32_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static uint32_t mask_of(const uint32_t *idx, uint32_t n)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        m |= 1u << idx[i];
    return m;
}

/* The object for the reconciled subset mask (mask must be non-empty). */
static struct object *obj_of(const struct tsib *p, uint32_t mask,
                             struct dbuf *d)
{
    uint32_t idx[POOL];
    uint32_t n = reduce(p, mask, idx);
    enc_obj(d, p, idx, n);
    struct object *o = NULL;
    ck_assert_int_eq(object_from_bytes((uint8_t *)d->p, d->len, &nolim, &o),
                     0);
    return o;
}

/* ---- scenarios ------------------------------------------------------ */

START_TEST(first_write_is_one_sibling)
{
    uint64_t a = actor_make("n1", 1);
    struct object *o = put(NULL, a, NULL, "hello", NOW);
    ck_assert_uint_eq(object_nsiblings(o), 1);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.actor, a);
    ck_assert_uint_eq(s.counter, 1);
    ck_assert_uint_eq(s.ts_ms, NOW);
    ck_assert_int_eq(s.tombstone, 0);
    ck_assert_int_eq(s.expire_ms, 0);
    ck_assert_uint_eq(s.vlen, 5);
    ck_assert(memcmp(s.value, "hello", 5) == 0);
    ck_assert(!object_is_deleted(o));
    struct vclock c;
    vclock_init(&c);
    object_clock(o, &c);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_uint_eq(vclock_get(&c, a), 1);
    ck_assert_uint_eq(c.e[0].ts_ms, NOW);
    vclock_free(&c);
    assert_valid(o);
    object_free(o);
}
END_TEST

/* The essay's sizing claim, byte by byte: a first SET of a 100-byte value
 * is 120 bytes of encoding, 124 with the in-memory length, so it fits
 * jemalloc's 128-byte class (the classes below are 96 and 112). */
/* An object of 4096 bytes or more caches its digest (object.c's essay):
 * the cached digest is the bytes' hash however the object was made (a
 * write, a copy, parsed bytes, a merge), asked once or many times, and
 * objects either side of the threshold agree with a fresh hash. */
START_TEST(large_objects_cache_the_digest_of_their_bytes)
{
    uint64_t actor = actor_make("node-1", 7);
    static char val[20000];
    for (size_t len = 4000; len <= 4200; len += 7) {
        memset(val, 'a' + (int)(len % 26), len);
        val[len] = 0;
        struct object *o = put(NULL, actor, NULL, val, NOW);
        uint64_t h = dyn_hash64(object_bytes(o), object_size(o));
        ck_assert_uint_eq(object_digest(o), h);
        ck_assert_uint_eq(object_digest(o), h); /* from the cache */
        struct object *d = object_dup(o);
        ck_assert_uint_eq(object_digest(d), h);
        struct object *c = NULL;
        ck_assert_int_eq(object_from_bytes(object_bytes(o), object_size(o),
                                           &nolim, &c), 0);
        ck_assert_uint_eq(object_digest(c), h);
        /* a second write over it: a new object, its own digest */
        struct vclock ctx;
        vclock_init(&ctx);
        object_clock(o, &ctx);
        val[0] = 'Z';
        struct object *n = put(o, actor, &ctx, val, NOW + 1);
        ck_assert_uint_eq(object_digest(n),
                          dyn_hash64(object_bytes(n), object_size(n)));
        ck_assert_uint_ne(object_digest(n), h);
        struct object *m = object_merge(o, n, NULL);
        ck_assert_uint_eq(object_digest(m),
                          dyn_hash64(object_bytes(m), object_size(m)));
        vclock_free(&ctx);
        object_free(m);
        object_free(n);
        object_free(c);
        object_free(d);
        object_free(o);
    }
}
END_TEST

START_TEST(single_set_of_100_bytes_fits_128_byte_class)
{
    char val[101];
    memset(val, 'v', 100);
    val[100] = 0;
    uint64_t actor = actor_make("node-1", 7);
    struct object *o = put(NULL, actor, NULL, val, NOW);

    uint8_t want[120], *w = want;
    *w++ = 1;                 /* format */
    *w++ = 1;                 /* one sibling */
    *w++ = 0;                 /* flags: a value, no expiry */
    for (int i = 0; i < 8; i++) /* actor, little-endian */
        *w++ = (uint8_t)(actor >> (8 * i));
    *w++ = 1;                 /* counter 1 */
    static const uint8_t ts[] = {0x80, 0xd0, 0x95, 0xff, 0xbc, 0x31};
    memcpy(w, ts, sizeof(ts)); /* NOW, 1700000000000, as a 6-byte varint */
    w += sizeof(ts);
    *w++ = 0;                 /* the context: an empty clock */
    *w++ = 100;               /* vlen */
    memcpy(w, val, 100);
    w += 100;
    ck_assert_uint_eq((size_t)(w - want), sizeof(want));

    ck_assert_uint_eq(object_size(o), sizeof(want));
    ck_assert_mem_eq(object_bytes(o), want, sizeof(want));
    ck_assert_uint_le(sizeof(uint32_t) + object_size(o), 128);
    ck_assert_uint_gt(sizeof(uint32_t) + object_size(o), 112);
    object_free(o);
}
END_TEST

START_TEST(stale_context_through_the_same_actor_makes_siblings)
{
    uint64_t a = actor_make("n1", 1);
    struct object *o1 = put(NULL, a, NULL, "v1", NOW);
    /* a second client that saw nothing writes through the same node */
    struct object *o2 = put(o1, a, NULL, "v2", NOW + 1);
    ck_assert_uint_eq(object_nsiblings(o2), 2);
    ck_assert(has_value(o2, "v1") && has_value(o2, "v2"));
    struct sibling s;
    object_sibling(o2, 1, &s);
    ck_assert_uint_eq(s.counter, 2);
    assert_valid(o2);

    /* a write with the object's clock resolves both */
    struct vclock c;
    vclock_init(&c);
    object_clock(o2, &c);
    ck_assert_uint_eq(vclock_get(&c, a), 2);
    struct object *o3 = put(o2, a, &c, "v3", NOW + 2);
    ck_assert_uint_eq(object_nsiblings(o3), 1);
    ck_assert(has_value(o3, "v3"));
    object_sibling(o3, 0, &s);
    ck_assert_uint_eq(s.counter, 3);
    vclock_free(&c);
    object_free(o1);
    object_free(o2);
    object_free(o3);
}
END_TEST

START_TEST(two_clients_with_the_same_context_both_survive)
{
    /* Plain per-coordinator vclocks lose one of these writes. */
    uint64_t a = actor_make("n1", 1);
    struct object *o1 = put(NULL, a, NULL, "base", NOW);
    struct vclock seen;
    vclock_init(&seen);
    object_clock(o1, &seen); /* both clients read this */
    struct object *o2 = put(o1, a, &seen, "x", NOW + 1);
    ck_assert_uint_eq(object_nsiblings(o2), 1);
    struct object *o3 = put(o2, a, &seen, "y", NOW + 2);
    ck_assert_uint_eq(object_nsiblings(o3), 2);
    ck_assert(has_value(o3, "x") && has_value(o3, "y"));
    ck_assert(!has_value(o3, "base"));
    vclock_free(&seen);
    object_free(o1);
    object_free(o2);
    object_free(o3);
}
END_TEST

static struct object *put_ttl(uint64_t actor, const char *val, uint64_t now,
                              int64_t expire_ms)
{
    struct object_write w = {
        .value = val, .vlen = val ? strlen(val) : 0, .tombstone = !val,
        .expire_ms = expire_ms, .ctx = NULL, .actor = actor, .now_ms = now,
        .max_ctx_entries = 10,
    };
    uint32_t pruned = 0;
    return object_write(NULL, &w, &pruned);
}

static struct object *merged(struct object *x, struct object *y)
{
    int ch;
    struct object *m = object_merge(x, y, &ch);
    object_free(x);
    object_free(y);
    return m;
}

/* What the store keeps of an object's visibility over time (t1, before,
 * after, more) agrees with object_visible at each side of every expiry. */
START_TEST(visibility_summary_follows_the_expiries)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1),
             c = actor_make("n3", 1);
    uint64_t t1;
    int before, after, more;
    /* a plain value: visible for good */
    struct object *o = put_ttl(a, "v", NOW, 0);
    object_visibility(o, &t1, &before, &after, &more);
    ck_assert_uint_eq(t1, 0);
    ck_assert(before && after && !more);
    object_free(o);
    /* a value with a TTL: gone at its expiry, not before */
    o = put_ttl(a, "v", NOW, (int64_t)NOW + 500);
    object_visibility(o, &t1, &before, &after, &more);
    ck_assert_uint_eq(t1, NOW + 500);
    ck_assert(before && !after && !more);
    ck_assert(object_visible(o, NOW + 499, NULL));
    ck_assert(!object_visible(o, NOW + 500, NULL));
    object_free(o);
    /* a newer concurrent tombstone hides the value whatever the time */
    o = merged(put_ttl(a, "v", NOW, 0), put_ttl(b, NULL, NOW + 1, 0));
    ck_assert_uint_eq(object_nsiblings(o), 2);
    object_visibility(o, &t1, &before, &after, &more);
    ck_assert(!before && !after && t1 == 0);
    object_free(o);
    /* the newer sibling expires, the older concurrent value shows again;
     * then a second, later expiry makes the summary incomplete */
    o = merged(put_ttl(a, "old", NOW, (int64_t)NOW + 900),
               put_ttl(b, NULL, NOW + 1, 0));
    o = merged(o, put_ttl(c, "new", NOW + 2, (int64_t)NOW + 300));
    object_visibility(o, &t1, &before, &after, &more);
    ck_assert_uint_eq(t1, NOW + 300);
    ck_assert(before);          /* "new" wins */
    ck_assert(!after);          /* then the tombstone wins */
    ck_assert(more);            /* "old" expires later */
    ck_assert(!object_visible(o, NOW + 300, NULL));
    object_free(o);
    o = merged(put_ttl(a, "old", NOW, 0),
               put_ttl(c, "new", NOW + 2, (int64_t)NOW + 300));
    object_visibility(o, &t1, &before, &after, &more);
    ck_assert(before && after && !more);
    object_free(o);
}
END_TEST

START_TEST(concurrent_coordinators_merge_to_siblings)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1);
    struct object *x = put(NULL, a, NULL, "from-a", NOW);
    struct object *y = put(NULL, b, NULL, "from-b", NOW);
    int ch = -1;
    struct object *m = object_merge(x, y, &ch);
    ck_assert_int_eq(ch, 1);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    struct object *m2 = object_merge(m, x, &ch);
    ck_assert_int_eq(ch, 0);
    ck_assert(object_equal(m, m2));

    /* a replica that already has what b wrote learns nothing new */
    struct vclock c;
    vclock_init(&c);
    object_clock(m, &c);
    struct object *r = put(m, b, &c, "resolved", NOW + 5);
    ck_assert_uint_eq(object_nsiblings(r), 1);
    struct object *back = object_merge(r, x, &ch); /* stale copy arrives */
    ck_assert_int_eq(ch, 0);
    ck_assert(object_equal(back, r));
    struct object *fwd = object_merge(y, r, &ch);
    ck_assert_int_eq(ch, 1);
    ck_assert(object_equal(fwd, r));
    vclock_free(&c);
    object_free(x);
    object_free(y);
    object_free(m);
    object_free(m2);
    object_free(r);
    object_free(back);
    object_free(fwd);
}
END_TEST

START_TEST(tombstones_delete_and_can_conflict)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1);
    struct object *o = put(NULL, a, NULL, "v", NOW);
    struct vclock c;
    vclock_init(&c);
    object_clock(o, &c);
    struct object *d = put(o, a, &c, NULL, NOW + 1);
    ck_assert_uint_eq(object_nsiblings(d), 1);
    ck_assert(object_is_deleted(d));
    struct sibling s;
    object_sibling(d, 0, &s);
    ck_assert_int_eq(s.tombstone, 1);
    ck_assert_uint_eq(s.vlen, 0);
    assert_valid(d);
    /* a concurrent write elsewhere survives the delete */
    struct object *w = put(o, b, &c, "again", NOW + 2);
    struct object *m = object_merge(d, w, NULL);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    ck_assert(!object_is_deleted(m));
    ck_assert(has_value(m, "again"));
    /* tombstone + value in the write: the value is dropped */
    struct object_write tw = {.value = "junk", .vlen = 4, .tombstone = 1,
                              .ctx = &c, .actor = a, .now_ms = NOW};
    struct object *t = object_write(NULL, &tw, NULL);
    object_sibling(t, 0, &s);
    ck_assert_uint_eq(s.vlen, 0);
    ck_assert(object_is_deleted(t));
    vclock_free(&c);
    object_free(o);
    object_free(d);
    object_free(w);
    object_free(m);
    object_free(t);
}
END_TEST

START_TEST(expire_is_kept)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1);
    struct object_write w = {.value = "v", .vlen = 1, .expire_ms = NOW + 10000,
                             .actor = a, .now_ms = NOW};
    struct object *o = object_write(NULL, &w, NULL);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_int_eq(s.expire_ms, (int64_t)(NOW + 10000));
    assert_valid(o);
    struct object *x = put(NULL, b, NULL, "w", NOW);
    struct object *m = object_merge(x, o, NULL);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    object_sibling(m, 0, &s);
    if (s.actor != a)
        object_sibling(m, 1, &s);
    ck_assert_uint_eq(s.actor, a);
    ck_assert_int_eq(s.expire_ms, (int64_t)(NOW + 10000));
    struct object *c = NULL;
    ck_assert_int_eq(object_from_bytes(object_bytes(m), object_size(m),
                                       &nolim, &c),
                     0);
    ck_assert(object_equal(c, m));
    object_free(c);
    object_free(o);
    object_free(x);
    object_free(m);
}
END_TEST

START_TEST(write_counter_is_above_everything_local)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1);
    struct vclock c;
    vclock_init(&c);
    vclock_set(&c, a, 7, NOW);
    /* the client's context says a is at 7: the next dot is (a, 8) */
    struct object *o = put(NULL, a, &c, "v", NOW);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.counter, 8);
    /* a sibling from b whose context saw (a, 11) raises the bar */
    vclock_clear(&c);
    vclock_set(&c, a, 11, NOW);
    struct object *x = put(NULL, b, &c, "w", NOW);
    struct object *m = object_merge(o, x, NULL);
    ck_assert_uint_eq(object_nsiblings(m), 1); /* (a,8) is covered */
    struct object *n = put(m, a, NULL, "z", NOW);
    ck_assert_uint_eq(object_nsiblings(n), 2);
    object_sibling(n, 0, &s);
    if (s.actor != a)
        object_sibling(n, 1, &s);
    ck_assert_uint_eq(s.counter, 12);
    vclock_free(&c);
    object_free(o);
    object_free(x);
    object_free(m);
    object_free(n);
}
END_TEST

/* The node's high-water mark wins over what the key remembers: a key whose
 * history was reaped must not get a dot that an old copy may still hold. */
START_TEST(write_counter_respects_the_node_floor)
{
    uint64_t a = actor_make("n1", 1);
    struct object_write w = {.value = "v", .vlen = 1, .actor = a,
                             .now_ms = NOW, .min_counter = 500};
    struct object *o = object_write(NULL, &w, NULL);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.counter, 500);
    /* a floor below what the key already has changes nothing */
    w.min_counter = 3;
    struct object *p = object_write(o, &w, NULL);
    object_sibling(p, object_nsiblings(p) - 1, &s);
    ck_assert_uint_eq(s.counter, 501);
    object_free(o);
    object_free(p);
}
END_TEST

/* Counters never wrap: a context that gives the writer's own actor the
 * counter 2^64-1 gets no dot at all (the write is refused), so the dot
 * "0" or "1" is never issued again. */
START_TEST(write_never_wraps_the_counter)
{
    uint64_t a = actor_make("n1", 1);
    struct vclock c;
    vclock_init(&c);
    vclock_set(&c, a, UINT64_MAX, NOW);
    struct object_write w = {.value = "v", .vlen = 1, .ctx = &c, .actor = a,
                             .now_ms = NOW};
    ck_assert_ptr_null(object_write(NULL, &w, NULL));

    /* 2^64-2 leaves room for exactly one more dot, then none */
    vclock_set(&c, a, UINT64_MAX - 1, NOW);
    struct object *o = object_write(NULL, &w, NULL);
    ck_assert_ptr_nonnull(o);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.counter, UINT64_MAX);
    w.ctx = NULL;
    ck_assert_ptr_null(object_write(o, &w, NULL));
    /* a floor above the ceiling is refused too */
    w.min_counter = 10;
    w.max_counter = 9;
    ck_assert_ptr_null(object_write(NULL, &w, NULL));
    object_free(o);
    vclock_free(&c);
}
END_TEST

/* With a ceiling (the node passes its high-water mark + 1 as both floor
 * and ceiling) the dot is exactly the next counter, and a context that
 * claims more of the writer cannot raise it. */
START_TEST(write_counter_stays_under_the_ceiling)
{
    uint64_t a = actor_make("n1", 1);
    struct vclock c;
    vclock_init(&c);
    vclock_set(&c, a, 5, NOW);
    struct object_write w = {.value = "v", .vlen = 1, .ctx = &c, .actor = a,
                             .now_ms = NOW, .min_counter = 6,
                             .max_counter = 6};
    struct object *o = object_write(NULL, &w, NULL);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.counter, 6);
    vclock_set(&c, a, 1ULL << 63, NOW);
    w.min_counter = w.max_counter = 7;
    ck_assert_ptr_null(object_write(o, &w, NULL));
    object_free(o);
    vclock_free(&c);
}
END_TEST

/* A version written elsewhere with a forged context that claims the
 * writer's future counters: a later write that has seen it and the forged
 * version cover each other, and both stay, here and in every merge order. */
/* A joined record keeps its winner's dot, so a replica can hold the join
 * of two concurrent counters under one's dot while another still holds
 * that counter alone; merging the two joins two versions of one dot,
 * which must not put that dot (here the actor's first, counter 1) in its
 * own context (t_types_counter.sh found nodes dying on this, when a
 * counter and a string still joined). */
START_TEST(join_of_two_versions_of_one_dot)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n5", 1);
    struct object *base = put(NULL, a, NULL, "5", NOW); /* dot a:1 */
    struct vclock seen;
    vclock_init(&seen);
    vclock_set(&seen, a, 1, NOW);
    struct crdt_dot ad = {a, 1}, bd = {b, 1};
    struct crdt_counter *ctr = NULL;
    int64_t res = 0;
    ck_assert_int_eq(crdt_counter_from_string("5", 1, &ad, NOW, NULL, &ctr), 0);
    ck_assert_int_eq(crdt_counter_incrby(ctr, 3, &bd, NULL, &res), 0);
    ck_assert_int_eq(res, 8);
    struct dbuf enc;
    dbuf_init(&enc);
    crdt_counter_encode(ctr, &enc);
    struct object_write w = {.type = CRDT_TYPE_COUNTER, .value = enc.p,
                             .vlen = enc.len, .ctx = &seen, .actor = b,
                             .now_ms = NOW + 20};
    struct object *inc = object_write(base, &w, NULL); /* dot b:1 */
    /* a's own INCRBY 7 of the same string, concurrent: dot a:2 */
    struct crdt_counter *ctr2 = NULL;
    struct crdt_dot ad2 = {a, 2};
    ck_assert_int_eq(crdt_counter_from_string("5", 1, &ad, NOW, NULL, &ctr2),
                     0);
    ck_assert_int_eq(crdt_counter_incrby(ctr2, 7, &ad2, NULL, &res), 0);
    struct dbuf enc2;
    dbuf_init(&enc2);
    crdt_counter_encode(ctr2, &enc2);
    crdt_counter_free(ctr2);
    struct object_write w2 = {.type = CRDT_TYPE_COUNTER, .value = enc2.p,
                              .vlen = enc2.len, .ctx = &seen, .actor = a,
                              .now_ms = NOW + 10};
    struct object *set = object_write(base, &w2, NULL); /* dot a:2 */
    dbuf_free(&enc2);
    struct sibling s;
    object_sibling(inc, 0, &s);
    ck_assert_uint_eq(s.counter, 1);
    struct object *j = object_merge(inc, set, NULL); /* joined, dot b:1 */
    ck_assert_int_eq(counter_value(j), 15);
    ck_assert_uint_eq(object_nsiblings(j), 1);
    object_sibling(j, 0, &s);
    ck_assert_uint_eq(s.actor, b);
    ck_assert_uint_eq(s.counter, 1);
    assert_valid(j);
    struct object *m1 = object_merge(inc, j, NULL);
    struct object *m2 = object_merge(j, inc, NULL);
    assert_valid(m1);
    ck_assert(object_equal(m1, m2));
    ck_assert_uint_eq(object_nsiblings(m1), 1);
    object_sibling(m1, 0, &s);
    ck_assert_uint_eq(s.counter, 1);
    ck_assert(object_equal(m1, j)); /* the join had seen all of inc */
    object_free(m1);
    object_free(m2);
    object_free(j);
    object_free(set);
    object_free(inc);
    object_free(base);
    dbuf_free(&enc);
    crdt_counter_free(ctr);
    vclock_free(&seen);
}
END_TEST

START_TEST(versions_that_cover_each_other_both_stay)
{
    uint64_t a = actor_make("n1", 1), b = actor_make("n2", 1);
    struct vclock forged;
    vclock_init(&forged);
    vclock_set(&forged, a, UINT64_MAX, NOW);
    struct object *f = put(NULL, b, &forged, "forged", NOW + 50);

    /* a's node writes on top of it with the key's own clock, clamped to
     * its high-water mark (as db.c does): it supersedes f, f claims it */
    struct vclock clk;
    vclock_init(&clk);
    object_clock(f, &clk);
    vclock_set(&clk, a, 4, NOW);
    struct object_write w = {.value = "honest", .vlen = 6, .ctx = &clk,
                             .actor = a, .now_ms = NOW, .min_counter = 5,
                             .max_counter = 5, .max_ctx_entries = 10};
    struct object *h = object_write(f, &w, NULL);
    ck_assert_uint_eq(object_nsiblings(h), 2);
    ck_assert(has_value(h, "honest") && has_value(h, "forged"));

    /* a replica that holds only f, and one that holds only the new write */
    struct object *only = object_write(NULL, &w, NULL);
    struct object *m1 = object_merge(f, only, NULL);
    struct object *m2 = object_merge(only, f, NULL);
    ck_assert(object_equal(m1, m2));
    ck_assert(object_equal(m1, h));
    ck_assert(has_value(m1, "honest"));
    struct object *rt = NULL;
    ck_assert_int_eq(object_from_bytes(object_bytes(h), object_size(h),
                                       &nolim, &rt), 0);
    ck_assert(object_equal(rt, h));

    /* a write that has not seen f would be covered by f alone: refused */
    w.ctx = NULL;
    w.min_counter = w.max_counter = 6;
    ck_assert_ptr_null(object_write(f, &w, NULL));
    object_free(rt);
    object_free(m1);
    object_free(m2);
    object_free(only);
    object_free(h);
    object_free(f);
    vclock_free(&clk);
    vclock_free(&forged);
}
END_TEST

START_TEST(write_prunes_a_long_context)
{
    uint64_t a = actor_make("n1", 1);
    struct vclock c;
    vclock_init(&c);
    for (uint64_t i = 1; i <= 15; i++)
        vclock_set(&c, i << 32, 1, NOW + i);
    struct object_write w = {.value = "v", .vlen = 1, .ctx = &c, .actor = a,
                             .now_ms = NOW + 100, .max_ctx_entries = 10};
    uint32_t pruned = 3;
    struct object *o = object_write(NULL, &w, &pruned);
    ck_assert_uint_eq(pruned, 3 + 5);
    struct vclock sc;
    vclock_init(&sc);
    object_sibling_clock(o, 0, &sc);
    ck_assert_uint_eq(sc.n, 11); /* 10 context entries + the dot */
    for (uint64_t i = 1; i <= 5; i++)
        ck_assert_uint_eq(vclock_get(&sc, i << 32), 0);
    for (uint64_t i = 6; i <= 15; i++)
        ck_assert_uint_eq(vclock_get(&sc, i << 32), 1);
    ck_assert_uint_eq(vclock_get(&sc, a), 1);
    struct object_limits lim = {.max_ctx_entries = 9};
    struct object *c2 = NULL;
    ck_assert_int_eq(object_from_bytes(object_bytes(o), object_size(o), &lim,
                                       &c2),
                     DYN_ELIMIT);
    lim.max_ctx_entries = 10;
    ck_assert_int_eq(object_from_bytes(object_bytes(o), object_size(o), &lim,
                                       &c2),
                     0);
    object_free(c2);
    vclock_free(&sc);
    vclock_free(&c);
    object_free(o);
}
END_TEST

START_TEST(lww_keeps_the_latest)
{
    uint64_t a = 0x100, b = 0x200;
    struct object *x = put(NULL, a, NULL, "a-late", NOW + 5);
    struct object *y = put(NULL, b, NULL, "b-early", NOW + 1);
    struct object *m = object_merge(x, y, NULL);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    struct sibling s;
    object_sibling(m, object_winner(m), &s);
    ck_assert_uint_eq(s.actor, a);
    struct object *l = object_lww(m);
    ck_assert_uint_eq(object_nsiblings(l), 1);
    ck_assert(has_value(l, "a-late"));
    assert_valid(l);

    /* same ts: the larger actor wins; same actor: the larger counter */
    struct object *p = put(NULL, a, NULL, "a", NOW);
    struct object *q = put(NULL, b, NULL, "b", NOW);
    struct object *pq = object_merge(p, q, NULL);
    struct object *lpq = object_lww(pq);
    ck_assert(has_value(lpq, "b"));
    struct object *p2 = put(p, a, NULL, "a2", NOW);
    struct object *lp2 = object_lww(p2);
    ck_assert_uint_eq(object_nsiblings(p2), 2);
    ck_assert(has_value(lp2, "a2"));
    struct object *l1 = object_lww(lp2);
    ck_assert(object_equal(l1, lp2));
    object_free(x);
    object_free(y);
    object_free(m);
    object_free(l);
    object_free(p);
    object_free(q);
    object_free(pq);
    object_free(lpq);
    object_free(p2);
    object_free(lp2);
    object_free(l1);
}
END_TEST

START_TEST(same_dot_different_content_is_kept_once)
{
    struct tsib p[2];
    memset(p, 0, sizeof(p));
    for (int i = 0; i < 2; i++) {
        p[i].actor = 5;
        p[i].counter = 1;
        p[i].ts = NOW;
        p[i].vlen = 1;
        p[i].val[0] = (uint8_t)('x' + i);
        vclock_init(&p[i].ctx);
    }
    struct dbuf d;
    dbuf_init(&d);
    uint32_t i0 = 0, i1 = 1;
    struct object *x = NULL, *y = NULL;
    enc_obj(&d, p, &i0, 1);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &x), 0);
    enc_obj(&d, p, &i1, 1);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &y), 0);
    struct object *xy = object_merge(x, y, NULL);
    struct object *yx = object_merge(y, x, NULL);
    ck_assert_uint_eq(object_nsiblings(xy), 1);
    ck_assert(object_equal(xy, yx));
    ck_assert(has_value(xy, "x"));
    dbuf_free(&d);
    object_free(x);
    object_free(y);
    object_free(xy);
    object_free(yx);
}
END_TEST

/* ---- the oracle ------------------------------------------------------- */

START_TEST(merge_matches_brute_force_reconciliation)
{
    struct rng r = {SEED};
    struct dbuf da, db, dm;
    dbuf_init(&da);
    dbuf_init(&db);
    dbuf_init(&dm);
    uint32_t multi = 0, dropped_some = 0;
    for (int it = 0; it < ITERS; it++) {
        struct tsib p[POOL];
        int closed = it % 2;
        rand_pool(&r, p, closed);
        uint32_t ma = 0, mb = 0, mc = 0;
        while (!ma)
            ma = (uint32_t)rng_next(&r) & ((1u << POOL) - 1);
        while (!mb)
            mb = (uint32_t)rng_next(&r) & ((1u << POOL) - 1);
        while (!mc)
            mc = (uint32_t)rng_next(&r) & ((1u << POOL) - 1);
        struct object *a = obj_of(p, ma, &da);
        struct object *b = obj_of(p, mb, &db);
        struct object *c = obj_of(p, mc, &dm);

        /* expected: members of reduce(a) ∪ reduce(b) nothing covers */
        uint32_t ia[POOL], ib[POOL], im[POOL];
        uint32_t na = reduce(p, ma, ia), nb = reduce(p, mb, ib);
        uint32_t nm = reduce(p, mask_of(ia, na) | mask_of(ib, nb), im);
        enc_obj(&dm, p, im, nm);
        int ch = -1;
        struct object *ab = object_merge(a, b, &ch);
        ck_assert_msg(object_size(ab) == dm.len &&
                          memcmp(object_bytes(ab), dm.p, dm.len) == 0,
                      "seed %llx iter %d", (unsigned long long)SEED, it);
        ck_assert_int_eq(ch, !object_equal(ab, a));
        if (nm > 1)
            multi++;
        if (nm < __builtin_popcount(mask_of(ia, na) | mask_of(ib, nb)))
            dropped_some++;

        /* commutative (same bytes), idempotent, digest order-free */
        struct object *ba = object_merge(b, a, NULL);
        ck_assert(object_equal(ab, ba));
        ck_assert_uint_eq(object_digest(ab), object_digest(ba));
        struct object *aa = object_merge(a, a, &ch);
        ck_assert_int_eq(ch, 0);
        ck_assert(object_equal(aa, a));
        /* absorbing: b adds nothing to ab (needs transitive coverage) */
        struct object *abb = object_merge(ab, b, &ch);
        if (closed) {
            ck_assert_int_eq(ch, 0);
            ck_assert(object_equal(abb, ab));
            /* associative */
            struct object *ab_c = object_merge(ab, c, NULL);
            struct object *bc = object_merge(b, c, NULL);
            struct object *a_bc = object_merge(a, bc, NULL);
            ck_assert_msg(object_equal(ab_c, a_bc), "seed %llx iter %d",
                          (unsigned long long)SEED, it);
            object_free(ab_c);
            object_free(bc);
            object_free(a_bc);
        }
        assert_valid(ab);

        /* a write with the merged clock supersedes every sibling */
        struct vclock clk;
        vclock_init(&clk);
        object_clock(ab, &clk);
        struct object *w = put(ab, p[rng_below(&r, POOL)].actor, &clk, "new",
                               NOW + 9);
        ck_assert_uint_eq(object_nsiblings(w), 1);
        ck_assert(has_value(w, "new"));
        vclock_free(&clk);

        object_free(a);
        object_free(b);
        object_free(c);
        object_free(ab);
        object_free(ba);
        object_free(aa);
        object_free(abb);
        object_free(w);
        pool_free(p);
    }
    ck_assert_uint_gt(multi, ITERS / 4);
    ck_assert_uint_gt(dropped_some, ITERS / 4);
    dbuf_free(&da);
    dbuf_free(&db);
    dbuf_free(&dm);
}
END_TEST

/* ---- simulated histories ---------------------------------------------- */

#define REPLICAS 3
#define HIST 64

/*
 * Runs a random history: three coordinators writing with stale, fresh or
 * empty contexts, replicas syncing pairwise and clients reading.  Fills
 * objs with every replica state seen (owned by the caller).
 */
static uint32_t rand_history(struct rng *r, struct object **objs)
{
    uint64_t actor[REPLICAS];
    struct object *rep[REPLICAS] = {NULL, NULL, NULL};
    struct vclock seen[4];
    uint32_t n = 0;
    char val[16];
    for (int i = 0; i < REPLICAS; i++)
        actor[i] = actor_make("node", (uint32_t)i);
    for (int i = 0; i < 4; i++)
        vclock_init(&seen[i]);
    while (n < HIST) {
        uint32_t op = rng_below(r, 10), i = rng_below(r, REPLICAS);
        uint32_t j = rng_below(r, REPLICAS);
        if (op < 5) {
            const struct vclock *ctx = &seen[rng_below(r, 4)];
            if (rng_below(r, 4) == 0)
                ctx = NULL;
            snprintf(val, sizeof(val), "v%u", n);
            struct object *o =
                put(rep[i], actor[i], ctx, rng_below(r, 8) ? val : NULL,
                    NOW + n);
            object_free(rep[i]);
            rep[i] = o;
        } else if (op < 8) {
            if (!rep[i] || !rep[j])
                continue;
            struct object *o = object_merge(rep[j], rep[i], NULL);
            object_free(rep[j]);
            rep[j] = o;
        } else {
            if (rep[i])
                object_clock(rep[i], &seen[rng_below(r, 4)]);
            continue;
        }
        objs[n++] = object_dup(rep[op < 5 ? i : j]);
    }
    for (int i = 0; i < REPLICAS; i++)
        object_free(rep[i]);
    for (int i = 0; i < 4; i++)
        vclock_free(&seen[i]);
    return n;
}

START_TEST(merge_laws_hold_on_random_histories)
{
    struct rng r = {SEED + 1};
    uint32_t maxsib = 0;
    for (int h = 0; h < ITERS / HIST * 4; h++) {
        struct object *objs[HIST];
        uint32_t n = rand_history(&r, objs);
        for (int t = 0; t < 40; t++) {
            struct object *a = objs[rng_below(&r, n)];
            struct object *b = objs[rng_below(&r, n)];
            struct object *c = objs[rng_below(&r, n)];
            maxsib = DYN_MAX(maxsib, object_nsiblings(a));
            struct object *ab = object_merge(a, b, NULL);
            struct object *ba = object_merge(b, a, NULL);
            ck_assert_msg(object_equal(ab, ba), "seed %llx history %d",
                          (unsigned long long)SEED, h);
            struct object *ab_c = object_merge(ab, c, NULL);
            struct object *bc = object_merge(b, c, NULL);
            struct object *a_bc = object_merge(a, bc, NULL);
            ck_assert_msg(object_equal(ab_c, a_bc), "seed %llx history %d",
                          (unsigned long long)SEED, h);
            struct object *aa = object_merge(a, a, NULL);
            ck_assert(object_equal(aa, a));
            assert_valid(ab_c);

            /* the merged clock descends from every input's clock */
            struct vclock ca, cm;
            vclock_init(&ca);
            vclock_init(&cm);
            object_clock(a, &ca);
            object_clock(ab, &cm);
            ck_assert(vclock_descends(&cm, &ca));
            vclock_free(&ca);
            vclock_free(&cm);
            object_free(ab);
            object_free(ba);
            object_free(ab_c);
            object_free(bc);
            object_free(a_bc);
            object_free(aa);
        }
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
    ck_assert_uint_ge(maxsib, 3); /* histories do make conflicts */
}
END_TEST

START_TEST(from_bytes_rejects_truncation_and_survives_corruption)
{
    struct rng r = {SEED + 2};
    struct object_limits lim = {.max_siblings = 64, .max_ctx_entries = 16,
                                .max_value_len = 1024};
    uint32_t accepted = 0, rejected = 0;
    for (int h = 0; h < 40; h++) {
        struct object *objs[HIST];
        uint32_t n = rand_history(&r, objs);
        for (uint32_t k = 0; k < n; k++) {
            const uint8_t *b = object_bytes(objs[k]);
            size_t len = object_size(objs[k]);
            struct object *o = NULL;
            ck_assert_int_eq(object_from_bytes(b, len, &lim, &o), 0);
            ck_assert(object_equal(o, objs[k]));
            object_free(o);
            /* every truncation: on the heap at its exact size, so ASan
             * sees any read past the end */
            for (size_t cut = 0; cut < len; cut++) {
                uint8_t *t = dyn_memdup(b, cut);
                o = (struct object *)1;
                ck_assert_msg(object_from_bytes(t, cut, &lim, &o) != 0,
                              "seed %llx history %d cut %zu",
                              (unsigned long long)SEED, h, cut);
                ck_assert_ptr_null(o);
                dyn_free(t);
            }
            /* corruption: rejected, or a valid object in its own right */
            for (int f = 0; f < 20; f++) {
                uint8_t *t = dyn_memdup(b, len);
                int flips = 1 + (int)rng_below(&r, 3);
                for (int x = 0; x < flips; x++)
                    t[rng_below(&r, (uint32_t)len)] ^=
                        (uint8_t)(1 + rng_below(&r, 255));
                if (object_from_bytes(t, len, &lim, &o) == 0) {
                    accepted++;
                    ck_assert_uint_eq(object_size(o), len);
                    ck_assert(memcmp(object_bytes(o), t, len) == 0);
                    assert_valid(o);
                    struct vclock c;
                    vclock_init(&c);
                    object_clock(o, &c);
                    vclock_free(&c);
                    (void)object_winner(o);
                    struct object *m = object_merge(o, objs[k], NULL);
                    struct object *m2 = object_merge(objs[k], o, NULL);
                    ck_assert(object_equal(m, m2));
                    object_free(m);
                    object_free(m2);
                    object_free(o);
                } else {
                    rejected++;
                }
                dyn_free(t);
            }
        }
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
    ck_assert_uint_gt(rejected, 1000);
    ck_assert_uint_gt(accepted, 10);
}
END_TEST

START_TEST(from_bytes_rejects_invalid_objects)
{
    struct tsib p[3];
    memset(p, 0, sizeof(p));
    for (int i = 0; i < 3; i++) {
        p[i].actor = 10 + (uint64_t)i;
        p[i].counter = 1;
        p[i].ts = NOW;
        p[i].vlen = 2;
        memcpy(p[i].val, "ok", 2);
        vclock_init(&p[i].ctx);
    }
    struct dbuf d;
    dbuf_init(&d);
    struct object *o = NULL;
    uint32_t ord[3] = {0, 1, 2};
#define REJECT(rc_)                                                          \
    do {                                                                     \
        o = (struct object *)1;                                             \
        ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim,   \
                                           &o),                             \
                         rc_);                                              \
        ck_assert_ptr_null(o);                                              \
    } while (0)

    enc_obj(&d, p, ord, 3);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &o), 0);
    ck_assert_uint_eq(object_nsiblings(o), 3);
    object_free(o);

    uint32_t unsorted[3] = {1, 0, 2};
    enc_obj(&d, p, unsorted, 3);
    REJECT(DYN_EINVAL);
    uint32_t dup[3] = {0, 0, 1};
    enc_obj(&d, p, dup, 3);
    REJECT(DYN_EINVAL);
    enc_obj(&d, p, ord, 0); /* no siblings */
    REJECT(DYN_EINVAL);
    enc_obj(&d, p, ord, 3);
    d.p[0] = 2; /* unknown format */
    REJECT(DYN_EINVAL);
    enc_obj(&d, p, ord, 3);
    dbuf_appendc(&d, 0); /* trailing byte */
    REJECT(DYN_EINVAL);
    enc_obj(&d, p, ord, 3);
    d.p[2] |= 0x10; /* unknown flag */
    REJECT(DYN_EINVAL);

    /* sibling 2 covers sibling 0: not reconciled */
    vclock_set(&p[2].ctx, 10, 1, NOW);
    enc_obj(&d, p, ord, 3);
    REJECT(DYN_EINVAL);
    vclock_clear(&p[2].ctx);
    /* a context that covers its own dot */
    vclock_set(&p[1].ctx, 11, 1, NOW);
    enc_obj(&d, p, ord, 3);
    REJECT(DYN_EINVAL);
    vclock_clear(&p[1].ctx);
    /* a tombstone with a value */
    p[1].tomb = 1;
    enc_obj(&d, p, ord, 3);
    REJECT(DYN_EINVAL);
    p[1].tomb = 0;
    /* expire flag with expire 0 */
    enc_obj(&d, p, ord, 1);
    {
        /* rebuild sibling 0 by hand: flags 2, ..., expire varint 0 */
        struct dbuf e;
        dbuf_init(&e);
        dbuf_appendc(&e, 1);
        dbuf_appendc(&e, 1);
        dbuf_appendc(&e, 2);
        dbuf_append(&e, d.p + 3, 8); /* actor */
        dbuf_appendc(&e, 1);         /* counter */
        put_varint(&e, NOW);
        dbuf_appendc(&e, 0); /* expire 0 */
        dbuf_appendc(&e, 0); /* ctx */
        dbuf_appendc(&e, 0); /* vlen */
        o = (struct object *)1;
        ck_assert_int_eq(object_from_bytes((uint8_t *)e.p, e.len, &nolim, &o),
                         DYN_EINVAL);
        e.p[12 + 6] = 5; /* expire 5: fine */
        ck_assert_int_eq(object_from_bytes((uint8_t *)e.p, e.len, &nolim, &o),
                         0);
        struct sibling s;
        object_sibling(o, 0, &s);
        ck_assert_int_eq(s.expire_ms, 5);
        object_free(o);
        dbuf_free(&e);
    }

    /* limits */
    struct object_limits lim = {.max_siblings = 2};
    enc_obj(&d, p, ord, 3);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &lim, &o),
                     DYN_ELIMIT);
    lim.max_siblings = 3;
    lim.max_value_len = 1;
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &lim, &o),
                     DYN_ELIMIT);
    lim.max_value_len = 2;
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &lim, &o), 0);
    object_free(o);
    /* a sibling count the input cannot hold is refused before allocating */
    uint8_t huge[] = {1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    o = (struct object *)1;
    ck_assert_int_eq(object_from_bytes(huge, sizeof(huge), &nolim, &o),
                     DYN_EINVAL);
    ck_assert_ptr_null(o);
#undef REJECT
    for (int i = 0; i < 3; i++)
        vclock_free(&p[i].ctx);
    dbuf_free(&d);
}
END_TEST

START_TEST(clocks_and_views)
{
    uint64_t a = 0x100, b = 0x200;
    struct vclock c, sc;
    vclock_init(&c);
    vclock_init(&sc);
    vclock_set(&c, 0x300, 4, NOW - 50);
    struct object *x = put(NULL, a, &c, "x", NOW + 1);
    struct object *y = put(NULL, b, NULL, "y", NOW + 2);
    struct object *m = object_merge(x, y, NULL);
    object_clock(m, &c);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_uint_eq(vclock_get(&c, a), 1);
    ck_assert_uint_eq(vclock_get(&c, b), 1);
    ck_assert_uint_eq(vclock_get(&c, 0x300), 4);
    ck_assert_uint_eq(c.e[0].ts_ms, NOW + 1);
    object_sibling_clock(m, 0, &sc); /* (a,1) sorts first */
    ck_assert_uint_eq(sc.n, 2);
    ck_assert_uint_eq(vclock_get(&sc, a), 1);
    ck_assert_uint_eq(vclock_get(&sc, 0x300), 4);
    struct sibling s;
    object_sibling(m, 0, &s);
    struct vclock ctx;
    vclock_init(&ctx);
    ck_assert_int_eq(vclock_decode(&ctx, s.ctx, s.ctxlen, 10, NULL), 0);
    ck_assert_uint_eq(ctx.n, 1);
    vclock_free(&ctx);
    struct object *d = object_dup(m);
    ck_assert(object_equal(d, m));
    ck_assert(!object_equal(x, y));
    ck_assert_uint_ne(object_digest(x), object_digest(y));
    object_free(NULL);
    vclock_free(&c);
    vclock_free(&sc);
    object_free(x);
    object_free(y);
    object_free(m);
    object_free(d);
}
END_TEST

/* A typed sibling whose dot is its actor's first (counter 1) wins an lww
 * tie against a later version whose context has seen it (same ts, larger
 * actor): the joined sibling's context keeps that actor below the dot,
 * which for counter 1 means not at all (a zero counter is no entry). */
START_TEST(typed_join_with_a_first_dot_winner)
{
    struct crdt_set *s1 = crdt_set_new();
    struct crdt_dot x1 = { 0xe900000000000000ULL, 1 };
    struct crdt_dot y11 = { 0xaf00000000000000ULL, 11 };
    int added;
    ck_assert_int_eq(crdt_set_add(s1, "a", 1, &x1, NULL, &added), 0);
    struct dbuf b1, b2;
    dbuf_init(&b1);
    dbuf_init(&b2);
    crdt_set_encode(s1, &b1);
    struct crdt_set *s2 = crdt_set_dup(s1);
    ck_assert_int_eq(crdt_set_add(s2, "b", 1, &y11, NULL, &added), 0);
    crdt_set_encode(s2, &b2);
    struct object_write w = { .type = CRDT_TYPE_SET, .value = b1.p,
                              .vlen = b1.len, .actor = x1.actor,
                              .now_ms = 1000, .min_counter = 1,
                              .max_counter = 1 };
    struct object *a = object_write(NULL, &w, NULL);
    ck_assert_ptr_nonnull(a);
    struct vclock seen;
    vclock_init(&seen);
    vclock_set(&seen, x1.actor, 1, 1000);
    w.value = b2.p;
    w.vlen = b2.len;
    w.actor = y11.actor;
    w.ctx = &seen;
    w.min_counter = w.max_counter = 11;
    struct object *b = object_write(NULL, &w, NULL);
    ck_assert_ptr_nonnull(b);
    int changed;
    struct object *ab = object_merge(a, b, &changed);
    struct object *ba = object_merge(b, a, &changed);
    ck_assert_ptr_nonnull(ab);
    ck_assert_uint_eq(object_nsiblings(ab), 1);
    struct sibling s;
    object_sibling(ab, 0, &s);
    ck_assert_int_eq(s.type, CRDT_TYPE_SET);
    struct crdt_set *j;
    ck_assert_int_eq(crdt_set_decode(s.value, s.vlen, NULL, &j), 0);
    ck_assert_uint_eq(crdt_set_card(j), 2);
    crdt_set_free(j);
    object_free(ab);
    object_free(ba);
    object_free(a);
    object_free(b);
    vclock_free(&seen);
    crdt_set_free(s1);
    crdt_set_free(s2);
    dbuf_free(&b1);
    dbuf_free(&b2);
}
END_TEST

/* ---- typed siblings (OBJECT_FORMAT 2) ----------------------------------- *
 *
 * Typed values are built with the CRDT library itself (crdt_counter_*,
 * crdt_set_*) and written with object_write's .type, as db.c does: the
 * op's dot is the writer's next counter (floor = ceiling), its context the
 * object's clock.  The raw encoder below writes the documented format-2
 * layout independently of object.c, for the refusals. */

/* A typed write as db_typed_write makes it: dot (actor, counter), ctx. */
static struct object *twrite(const struct object *cur, int type,
                             const struct dbuf *state, uint64_t actor,
                             uint64_t counter, const struct vclock *ctx,
                             uint64_t now)
{
    struct object_write w = {
        .type = type, .value = state->p, .vlen = state->len,
        .tombstone = crdt_empty_bytes(type, (const uint8_t *)state->p,
                                      state->len),
        .ctx = ctx, .actor = actor, .now_ms = now,
        .min_counter = counter, .max_counter = counter,
    };
    struct object *o = object_write(cur, &w, NULL);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* A string write (NULL: a tombstone) with dot (actor, counter). */
static struct object *swrite(const struct object *cur, const char *val,
                             uint64_t actor, uint64_t counter,
                             const struct vclock *ctx, uint64_t now)
{
    struct object_write w = {
        .value = val, .vlen = val ? strlen(val) : 0, .tombstone = !val,
        .ctx = ctx, .actor = actor, .now_ms = now,
        .min_counter = counter, .max_counter = counter,
    };
    struct object *o = object_write(cur, &w, NULL);
    ck_assert_ptr_nonnull(o);
    return o;
}

/* A counter that counted by from 0 with one op dot (actor, counter). */
static void counter_of(struct dbuf *out, int64_t by, uint64_t actor,
                       uint64_t counter)
{
    struct crdt_counter *c = crdt_counter_new();
    struct crdt_dot d = {actor, counter};
    int64_t v;
    ck_assert_int_eq(crdt_counter_incrby(c, by, &d, NULL, &v), 0);
    dbuf_reset(out);
    crdt_counter_encode(c, out);
    crdt_counter_free(c);
}

/* A set holding one member, added with dot (actor, counter). */
static void set_of(struct dbuf *out, const char *m, uint64_t actor,
                   uint64_t counter)
{
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = {actor, counter};
    int added;
    ck_assert_int_eq(crdt_set_add(s, m, strlen(m), &d, NULL, &added), 0);
    dbuf_reset(out);
    crdt_set_encode(s, out);
    crdt_set_free(s);
}

/* The index of o's sibling of type, or -1 (at most one per CRDT type). */
static int sib_of_type(const struct object *o, int type, struct sibling *s)
{
    int found = -1;
    for (uint32_t i = 0; i < object_nsiblings(o); i++) {
        struct sibling t;
        object_sibling(o, i, &t);
        if (t.type != type)
            continue;
        ck_assert_int_eq(found, -1);
        found = (int)i;
        if (s)
            *s = t;
    }
    return found;
}

/* The integer value of o's counter sibling (it must have one). */
static int64_t counter_value(const struct object *o)
{
    struct sibling s;
    ck_assert_int_ge(sib_of_type(o, CRDT_TYPE_COUNTER, &s), 0);
    struct crdt_counter *c = NULL;
    ck_assert_int_eq(crdt_counter_decode(s.value, s.vlen, NULL, &c), 0);
    /* with the strings beside it, as a read does */
    ck_assert_int_ge(object_counter_fold(o, 0, NULL, c), 0);
    struct crdt_counter_value v;
    crdt_counter_value(c, &v);
    ck_assert_int_eq(v.kind, CRDT_COUNTER_INT);
    int64_t i = v.i;
    crdt_counter_free(c);
    return i;
}

/* 1 when o's set sibling holds m. */
static int set_has(const struct object *o, const char *m)
{
    struct sibling s;
    if (sib_of_type(o, CRDT_TYPE_SET, &s) < 0)
        return 0;
    struct crdt_set *st = NULL;
    ck_assert_int_eq(crdt_set_decode(s.value, s.vlen, NULL, &st), 0);
    int has = crdt_set_contains(st, m, strlen(m));
    crdt_set_free(st);
    return has;
}

/* 1 when o keeps a sibling of type that is an observed clear: a typed
 * tombstone (it reads as empty) that another sibling covers, and that
 * never wins a read. */
static int cleared(const struct object *o, int type)
{
    struct sibling s, w;
    if (sib_of_type(o, type, &s) < 0 || !s.tombstone ||
        !crdt_empty_bytes(type, s.value, s.vlen))
        return 0;
    object_winner_get(o, &w);
    return w.type != type;
}

/* One sibling record of the documented layout; type < 0: no type byte
 * even when flags say typed (to forge bad input). */
static void raw_sib(struct dbuf *d, uint8_t flags, int type, uint64_t actor,
                    uint64_t counter, uint64_t ts, const struct vclock *ctx,
                    const void *val, size_t vlen)
{
    dbuf_appendc(d, (char)flags);
    if (type >= 0)
        dbuf_appendc(d, (char)(uint8_t)type);
    for (int i = 0; i < 8; i++)
        dbuf_appendc(d, (char)(uint8_t)(actor >> (8 * i)));
    put_varint(d, counter);
    put_varint(d, ts);
    vclock_encode_buf(ctx, d);
    put_varint(d, vlen);
    dbuf_append(d, val, vlen);
}

static void raw_head(struct dbuf *d, uint8_t format, uint32_t n)
{
    dbuf_reset(d);
    dbuf_appendc(d, (char)format);
    put_varint(d, n);
}

/* from_bytes refuses d with rc_ and keeps nothing. */
static void refuse(const struct dbuf *d, int rc_, const char *what)
{
    struct object *o = (struct object *)1;
    int rc = object_from_bytes((const uint8_t *)d->p, d->len, &nolim, &o);
    ck_assert_msg(rc == rc_, "%s: rc %d, want %d", what, rc, rc_);
    ck_assert_ptr_null(o);
}

/* A format-1 object stays format 1, byte for byte the documented layout;
 * a typed write makes format 2, and the format-2 layout is the documented
 * one (flags bit2, then the type byte); a write that supersedes every
 * typed sibling makes format 1 again. */
START_TEST(typed_format_is_2_only_with_a_typed_sibling)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct vclock clk, empty;
    vclock_init(&clk);
    vclock_init(&empty);
    struct dbuf d, st;
    dbuf_init(&d);
    dbuf_init(&st);

    /* two concurrent strings and a tombstone: format 1, the old layout */
    struct object *x = swrite(NULL, "12", a, 1, NULL, NOW);
    struct object *y = swrite(NULL, NULL, b, 1, NULL, NOW + 1);
    struct object *xy = object_merge(x, y, NULL);
    raw_head(&d, 1, 2);
    raw_sib(&d, 0, -1, a, 1, NOW, &empty, "12", 2);
    raw_sib(&d, 1, -1, b, 1, NOW + 1, &empty, NULL, 0);
    ck_assert_uint_eq(object_size(xy), d.len);
    ck_assert_mem_eq(object_bytes(xy), d.p, d.len);

    /* a counter written over both: format 2, one sibling */
    object_clock(xy, &clk);
    counter_of(&st, 5, a, 2);
    struct object *c = twrite(xy, CRDT_TYPE_COUNTER, &st, a, 2, &clk, NOW + 2);
    ck_assert_uint_eq(object_nsiblings(c), 1);
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 2, NOW + 2, &clk, st.p, st.len);
    ck_assert_uint_eq(object_size(c), d.len);
    ck_assert_mem_eq(object_bytes(c), d.p, d.len);
    assert_valid(c);
    struct sibling s;
    object_sibling(c, 0, &s);
    ck_assert_int_eq(s.type, CRDT_TYPE_COUNTER);
    ck_assert_int_eq(s.tombstone, 0);
    ck_assert_int_eq(counter_value(c), 5);

    /* a concurrent string stays beside a set: format 2, both records */
    set_of(&st, "m", b, 2);
    struct object *set = twrite(NULL, CRDT_TYPE_SET, &st, b, 2, NULL, NOW + 3);
    struct object *sx = object_merge(set, x, NULL);
    ck_assert_uint_eq(object_nsiblings(sx), 2);
    ck_assert_uint_eq(object_bytes(sx)[0], 2);
    assert_valid(sx);

    /* a string that has seen everything replaces both, and the set stays
     * as its observed clear (what the string saw of it, so a concurrent
     * add still wins): format 3, format 2's layout with a clear beside
     * the sibling that covers it, the string visible */
    object_clock(sx, &clk);
    struct object *back = swrite(sx, "plain", a, 3, &clk, NOW + 4);
    ck_assert_uint_eq(object_nsiblings(back), 2);
    ck_assert_uint_eq(object_bytes(back)[0], 3);
    ck_assert(has_value(back, "plain") && !has_value(back, "12"));
    ck_assert(cleared(back, CRDT_TYPE_SET));
    ck_assert(object_visible(back, NOW + 5, &s) && s.vlen == 5);
    assert_valid(back);
    /* the same bytes as format 2 are refused (a node that knows only 2
     * refuses them too: a covered sibling, not reconciled), and so is
     * format 3 of an object that keeps no clear */
    dbuf_reset(&d);
    dbuf_append(&d, object_bytes(back), object_size(back));
    d.p[0] = 2;
    refuse(&d, DYN_EINVAL, "a clear in format 2");
    dbuf_reset(&d);
    dbuf_append(&d, object_bytes(sx), object_size(sx));
    d.p[0] = 3;
    refuse(&d, DYN_EINVAL, "format 3 without a clear");
    /* an emptied set is a typed tombstone: flags 0x05, still format 2 */
    struct crdt_set *e = NULL;
    ck_assert_int_eq(crdt_set_decode((uint8_t *)st.p, st.len, NULL, &e), 0);
    ck_assert_int_eq(crdt_set_remove(e, "m", 1), 1);
    dbuf_reset(&st);
    crdt_set_encode(e, &st);
    crdt_set_free(e);
    object_clock(set, &clk);
    struct object *gone = twrite(set, CRDT_TYPE_SET, &st, b, 3, &clk, NOW + 5);
    ck_assert_uint_eq(object_bytes(gone)[0], 2);
    ck_assert_uint_eq(object_bytes(gone)[2], 0x05);
    ck_assert(object_is_deleted(gone));
    ck_assert(!object_visible(gone, NOW + 6, NULL));
    assert_valid(gone);

    object_free(x);
    object_free(y);
    object_free(xy);
    object_free(c);
    object_free(set);
    object_free(sx);
    object_free(back);
    object_free(gone);
    vclock_free(&clk);
    vclock_free(&empty);
    dbuf_free(&d);
    dbuf_free(&st);
}
END_TEST

START_TEST(typed_from_bytes_refuses_what_it_cannot_read)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct vclock empty, cov;
    vclock_init(&empty);
    vclock_init(&cov);
    struct dbuf d, cnt, cnt2, set, set2, zero, eset;
    dbuf_init(&d);
    dbuf_init(&cnt);
    dbuf_init(&cnt2);
    dbuf_init(&set);
    dbuf_init(&set2);
    dbuf_init(&zero);
    dbuf_init(&eset);
    counter_of(&cnt, 5, a, 1);
    counter_of(&cnt2, 7, b, 1);
    set_of(&set, "m", a, 1);
    set_of(&set2, "n", b, 1);
    {
        /* a counter whose DEL won reads empty; a set with no member too */
        struct crdt_counter *c = NULL;
        ck_assert_int_eq(crdt_counter_decode((uint8_t *)cnt.p, cnt.len, NULL,
                                             &c), 0);
        struct crdt_dot dd = {a, 2};
        ck_assert_int_eq(crdt_counter_reset(c, NULL, 0, &dd, NOW, NULL), 0);
        crdt_counter_encode(c, &zero);
        crdt_counter_free(c);
        struct crdt_set *s = NULL;
        ck_assert_int_eq(crdt_set_decode((uint8_t *)set.p, set.len, NULL, &s),
                         0);
        crdt_set_remove(s, "m", 1);
        crdt_set_encode(s, &eset);
        crdt_set_free(s);
    }

    /* what a typed object's own output looks like is accepted */
    struct object *o = NULL;
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, cnt.p, cnt.len);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, b, 1, NOW, &empty, set2.p, set2.len);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &o), 0);
    ck_assert_uint_eq(object_nsiblings(o), 2);
    assert_valid(o);
    object_free(o);
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x05, CRDT_TYPE_COUNTER, a, 2, NOW, &empty, zero.p, zero.len);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &o), 0);
    ck_assert(object_is_deleted(o));
    object_free(o);

    /* a newer node's format: DYN_EFORMAT, whatever follows */
    raw_head(&d, 4, 1);
    raw_sib(&d, 0, -1, a, 1, NOW, &empty, "v", 1);
    refuse(&d, DYN_EFORMAT, "format 4");
    raw_head(&d, 0xff, 1);
    refuse(&d, DYN_EFORMAT, "format 255");
    dbuf_reset(&d);
    dbuf_appendc(&d, 4);
    refuse(&d, DYN_EFORMAT, "format 4 alone");
    /* format 3 says a typed sibling is kept as its clear: not here */
    raw_head(&d, 3, 1);
    raw_sib(&d, 0, -1, a, 1, NOW, &empty, "v", 1);
    refuse(&d, DYN_EINVAL, "format 3 of a string");
    /* a type number this node does not know: DYN_EFORMAT */
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, 0x7f, a, 1, NOW, &empty, "\x7f\x00", 2);
    ck_assert(!crdt_type_known(0x7f));
    refuse(&d, DYN_EFORMAT, "unknown type");
    raw_head(&d, 2, 2); /* beside a valid string, still refused whole */
    raw_sib(&d, 0, -1, a, 1, NOW, &empty, "v", 1);
    raw_sib(&d, 0x04, 0xee, b, 1, NOW, &empty, "\xee", 1);
    refuse(&d, DYN_EFORMAT, "unknown type beside a string");

    /* the tombstone flag must say whether the state reads empty */
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x05, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, cnt.p, cnt.len);
    refuse(&d, DYN_EINVAL, "live counter flagged empty");
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 2, NOW, &empty, zero.p, zero.len);
    refuse(&d, DYN_EINVAL, "deleted counter not flagged");
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x05, CRDT_TYPE_SET, a, 1, NOW, &empty, set.p, set.len);
    refuse(&d, DYN_EINVAL, "set with a member flagged empty");
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, eset.p, eset.len);
    refuse(&d, DYN_EINVAL, "empty set not flagged");

    /* the format must say whether a sibling is typed */
    raw_head(&d, 2, 1);
    raw_sib(&d, 0, -1, a, 1, NOW, &empty, "v", 1);
    refuse(&d, DYN_EINVAL, "format 2 of strings only");
    raw_head(&d, 1, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, cnt.p, cnt.len);
    refuse(&d, DYN_EINVAL, "format 1 with a typed sibling");
    /* typed flag with type 0, an empty typed value, a mislabelled state */
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, 0, a, 1, NOW, &empty, "v", 1);
    refuse(&d, DYN_EINVAL, "typed flag, type 0");
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, NULL, 0);
    refuse(&d, DYN_EINVAL, "empty typed value");
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, set.p, set.len);
    refuse(&d, DYN_EINVAL, "a set labelled counter");

    /* not reconciled: two siblings of one CRDT type are one join */
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, cnt.p, cnt.len);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, b, 1, NOW, &empty, cnt2.p,
            cnt2.len);
    refuse(&d, DYN_EINVAL, "two counters");
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, set.p, set.len);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, b, 1, NOW, &empty, set2.p, set2.len);
    refuse(&d, DYN_EINVAL, "two sets");
    /* ... a string concurrent with a counter is joined into it */
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_COUNTER, a, 1, NOW, &empty, cnt.p, cnt.len);
    raw_sib(&d, 0, -1, b, 1, NOW, &empty, "v", 1);
    refuse(&d, DYN_EINVAL, "a string concurrent with a counter");
    /* ... and a string that has seen the whole set covers it */
    vclock_set(&cov, a, 1, NOW);
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, set.p, set.len);
    raw_sib(&d, 0, -1, b, 1, NOW, &cov, "v", 1);
    refuse(&d, DYN_EINVAL, "a string covering a set");
    /* one that has seen only the dot, not an add inside, does not */
    struct dbuf both;
    dbuf_init(&both);
    {
        struct crdt_set *s = NULL;
        struct crdt_dot dd = {b, 5};
        int added;
        ck_assert_int_eq(crdt_set_decode((uint8_t *)set.p, set.len, NULL, &s),
                         0);
        ck_assert_int_eq(crdt_set_add(s, "late", 4, &dd, NULL, &added), 0);
        crdt_set_encode(s, &both);
        crdt_set_free(s);
    }
    raw_head(&d, 2, 2);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, both.p, both.len);
    raw_sib(&d, 0, -1, b, 6, NOW, &cov, "v", 1);
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &nolim, &o), 0);
    ck_assert_uint_eq(object_nsiblings(o), 2);
    object_free(o);
    /* a type's limits apply (lim->types) */
    struct crdt_limits tl = {.max_actors = 1};
    struct object_limits lim = {.types = &tl};
    raw_head(&d, 2, 1);
    raw_sib(&d, 0x04, CRDT_TYPE_SET, a, 1, NOW, &empty, both.p, both.len);
    o = (struct object *)1;
    ck_assert_int_eq(object_from_bytes((uint8_t *)d.p, d.len, &lim, &o),
                     DYN_ELIMIT);
    ck_assert_ptr_null(o);
    dbuf_free(&both);

    vclock_free(&empty);
    vclock_free(&cov);
    dbuf_free(&d);
    dbuf_free(&cnt);
    dbuf_free(&cnt2);
    dbuf_free(&set);
    dbuf_free(&set2);
    dbuf_free(&zero);
    dbuf_free(&eset);
}
END_TEST

/* Two concurrent INCRBYs at two replicas: one counter, the sum. */
START_TEST(typed_concurrent_counters_merge_to_their_sum)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct dbuf st;
    dbuf_init(&st);
    counter_of(&st, 5, a, 1);
    struct object *x = twrite(NULL, CRDT_TYPE_COUNTER, &st, a, 1, NULL, NOW);
    counter_of(&st, 7, b, 1);
    struct object *y = twrite(NULL, CRDT_TYPE_COUNTER, &st, b, 1, NULL,
                              NOW + 1);
    int ch = -1;
    struct object *m = object_merge(x, y, &ch);
    ck_assert_int_eq(ch, 1);
    struct object *m2 = object_merge(y, x, NULL);
    ck_assert(object_equal(m, m2));
    ck_assert_uint_eq(object_nsiblings(m), 1);
    ck_assert_int_eq(counter_value(m), 12);
    struct sibling s;
    object_sibling(m, 0, &s);
    ck_assert_uint_eq(s.actor, b); /* the later write's dot and ts */
    ck_assert_uint_eq(s.counter, 1);
    ck_assert_uint_eq(s.ts_ms, NOW + 1);
    /* the joined sibling's clock has seen both writes */
    struct vclock clk;
    vclock_init(&clk);
    object_clock(m, &clk);
    ck_assert_uint_eq(vclock_get(&clk, a), 1);
    ck_assert_uint_eq(vclock_get(&clk, b), 1);
    assert_valid(m);
    /* a stale copy adds nothing; merging again changes nothing */
    struct object *m3 = object_merge(m, x, &ch);
    ck_assert_int_eq(ch, 0);
    ck_assert(object_equal(m3, m));
    /* the joined sibling kept y's dot (b, 1) with more in its state: y's
     * own copy of that dot merges into it, in either order */
    struct object *m4 = object_merge(m, y, &ch);
    ck_assert_int_eq(ch, 0);
    ck_assert(object_equal(m4, m));
    struct object *m5 = object_merge(y, m, &ch);
    ck_assert_int_eq(ch, 1);
    ck_assert(object_equal(m5, m));
    object_free(m4);
    object_free(m5);
    vclock_free(&clk);
    object_free(x);
    object_free(y);
    object_free(m);
    object_free(m2);
    object_free(m3);
    dbuf_free(&st);
}
END_TEST

/* SET racing INCR: the SET's value plus the increments it did not see. */
START_TEST(typed_a_concurrent_set_joins_the_counter_as_its_base)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct vclock clk;
    vclock_init(&clk);
    struct dbuf st;
    dbuf_init(&st);
    /* both replicas hold "10" by a; b increments it twice (+3, +4) */
    struct object *o0 = swrite(NULL, "10", a, 1, NULL, NOW);
    struct sibling w;
    object_winner_get(o0, &w);
    struct crdt_counter *c = NULL;
    struct crdt_dot d0 = {w.actor, w.counter}, d1 = {b, 1}, d2 = {b, 2};
    ck_assert_int_eq(crdt_counter_from_string(w.value, w.vlen, &d0, w.ts_ms,
                                              NULL, &c), 0);
    int64_t v;
    ck_assert_int_eq(crdt_counter_incrby(c, 3, &d1, NULL, &v), 0);
    ck_assert_int_eq(crdt_counter_incrby(c, 4, &d2, NULL, &v), 0);
    ck_assert_int_eq(v, 17);
    crdt_counter_encode(c, &st);
    crdt_counter_free(c);
    object_clock(o0, &clk);
    struct object *inc = twrite(o0, CRDT_TYPE_COUNTER, &st, b, 2, &clk,
                                NOW + 1);
    ck_assert_uint_eq(object_nsiblings(inc), 1);
    ck_assert_int_eq(counter_value(inc), 17);
    /* a concurrently SETs "100" having seen only "10" */
    struct object *set = swrite(o0, "100", a, 2, &clk, NOW + 2);
    ck_assert_uint_eq(object_nsiblings(set), 1);
    struct object *m = object_merge(inc, set, NULL);
    struct object *m2 = object_merge(set, inc, NULL);
    ck_assert(object_equal(m, m2));
    /* two siblings, one value: the counter stands for both */
    ck_assert_uint_eq(object_nsiblings(m), 2);
    ck_assert_int_eq(counter_value(m), 107);
    struct sibling s;
    object_winner_get(m, &s);
    ck_assert_int_eq(s.type, CRDT_TYPE_COUNTER);
    ck_assert(object_visible(m, NOW + 3, &s) && s.type == CRDT_TYPE_COUNTER);
    ck_assert_uint_eq(object_bytes(m)[0], 3); /* past format 2 */
    assert_valid(m);
    /* the SET earlier than the increments: the same value (its base is
     * the only one the increments did not observe) */
    struct object *early = swrite(o0, "100", a, 2, &clk, NOW);
    struct object *me = object_merge(early, inc, NULL);
    ck_assert_uint_eq(object_nsiblings(me), 2);
    ck_assert_int_eq(counter_value(me), 107);
    /* a SET that saw every increment covers the counter: "100" reads,
     * the counter stays as its observed clear */
    object_clock(inc, &clk);
    struct object *seen = swrite(inc, "100", a, 3, &clk, NOW + 3);
    struct object *ms = object_merge(inc, seen, NULL);
    ck_assert_uint_eq(object_nsiblings(ms), 2);
    ck_assert(has_value(ms, "100"));
    ck_assert(cleared(ms, CRDT_TYPE_COUNTER));
    ck_assert(object_equal(ms, seen));
    vclock_free(&clk);
    object_free(o0);
    object_free(inc);
    object_free(set);
    object_free(m);
    object_free(m2);
    object_free(early);
    object_free(me);
    object_free(seen);
    object_free(ms);
    dbuf_free(&st);
}
END_TEST

/* A typed sibling's dot is its latest write's, but its state may hold
 * adds from other writers: a string that saw the dot but not such an add
 * does not drop it, in a merge or in a write. */
START_TEST(typed_a_string_covers_a_state_only_when_it_saw_every_dot)
{
    uint64_t a = 0x0a, b = 0x0b, c = 0x0c;
    struct dbuf st;
    dbuf_init(&st);
    set_of(&st, "x", a, 1);
    struct object *sa = twrite(NULL, CRDT_TYPE_SET, &st, a, 1, NULL, NOW);
    set_of(&st, "y", b, 1);
    struct object *sb = twrite(NULL, CRDT_TYPE_SET, &st, b, 1, NULL, NOW + 1);
    struct object *set = object_merge(sa, sb, NULL);
    ck_assert_uint_eq(object_nsiblings(set), 1);
    ck_assert(set_has(set, "x") && set_has(set, "y"));
    struct sibling s;
    object_sibling(set, 0, &s);
    ck_assert_uint_eq(s.actor, b); /* the dot is b's; a's add is inside */

    /* a client that read only b's copy writes a string with its clock */
    struct vclock bclk;
    vclock_init(&bclk);
    object_clock(sb, &bclk);
    ck_assert_uint_ge(bclk.e[0].counter, s.counter);
    struct object *str = swrite(NULL, "s", c, 1, &bclk, NOW + 2);
    struct object *m = object_merge(set, str, NULL);
    struct object *m2 = object_merge(str, set, NULL);
    ck_assert(object_equal(m, m2));
    ck_assert_uint_eq(object_nsiblings(m), 2);
    ck_assert(set_has(m, "x") && set_has(m, "y"));
    ck_assert(has_value(m, "s"));
    assert_valid(m);
    /* the same write applied where the set is stored keeps it too */
    struct object *wr = swrite(set, "s", c, 1, &bclk, NOW + 2);
    ck_assert_uint_eq(object_nsiblings(wr), 2);
    ck_assert(set_has(wr, "x"));
    ck_assert(object_equal(wr, m));
    assert_valid(wr);
    /* a string that saw both adds: a write where the set is stored leaves
     * the set's observed clear; a merge of the set with that string
     * written elsewhere (its context a client's claim) keeps the set as
     * it is, observed away: "t" reads either way, and the clear joins
     * the set whenever they meet */
    struct vclock all;
    vclock_init(&all);
    object_clock(set, &all);
    struct object *str2 = swrite(NULL, "t", c, 2, &all, NOW + 3);
    struct object *m3 = object_merge(set, str2, NULL);
    ck_assert_uint_eq(object_nsiblings(m3), 2);
    ck_assert(has_value(m3, "t"));
    struct sibling vis;
    ck_assert(object_visible(m3, NOW + 4, &vis) &&
              vis.type == CRDT_TYPE_STRING);
    assert_valid(m3);
    struct object *wr2 = swrite(set, "t", c, 2, &all, NOW + 3);
    ck_assert(cleared(wr2, CRDT_TYPE_SET));
    ck_assert(!set_has(wr2, "x") && !set_has(wr2, "y"));
    struct object *m4 = object_merge(m3, wr2, NULL);
    ck_assert(object_equal(m4, wr2));
    object_free(m4);
    vclock_free(&bclk);
    vclock_free(&all);
    object_free(sa);
    object_free(sb);
    object_free(set);
    object_free(str);
    object_free(m);
    object_free(m2);
    object_free(wr);
    object_free(str2);
    object_free(m3);
    object_free(wr2);
    dbuf_free(&st);
}
END_TEST

/* A typed write with the object's clock replaces everything it observed:
 * strings and tombstones go, a state of another type stays as its
 * observed clear (it reads as empty and never wins a read); a sibling it
 * did not observe (merged in later) stays. */
START_TEST(typed_write_drops_what_it_observed)
{
    uint64_t a = 0x0a, b = 0x0b, c = 0x0c;
    struct vclock clk;
    vclock_init(&clk);
    struct dbuf st;
    dbuf_init(&st);
    struct object *o = swrite(NULL, "s1", a, 1, NULL, NOW);
    struct object *t = swrite(NULL, NULL, b, 1, NULL, NOW + 1);
    set_of(&st, "m", c, 1);
    struct object *u = twrite(NULL, CRDT_TYPE_SET, &st, c, 1, NULL, NOW + 2);
    struct object *ot = object_merge(o, t, NULL);
    struct object *all = object_merge(ot, u, NULL);
    ck_assert_uint_eq(object_nsiblings(all), 3);
    object_clock(all, &clk);
    counter_of(&st, 2, a, 2);
    struct object *w = twrite(all, CRDT_TYPE_COUNTER, &st, a, 2, &clk,
                              NOW + 3);
    ck_assert_uint_eq(object_nsiblings(w), 2);
    ck_assert_int_eq(counter_value(w), 2);
    ck_assert(cleared(w, CRDT_TYPE_SET) && !set_has(w, "m"));
    /* stale copies arriving later change nothing */
    struct object *w2 = object_merge(w, all, NULL);
    ck_assert(object_equal(w2, w));
    struct object *w3 = object_merge(u, w, NULL);
    ck_assert(object_equal(w3, w));
    /* a set write with the clock clears the counter in turn */
    object_clock(w, &clk);
    set_of(&st, "z", b, 2);
    struct object *z = twrite(w, CRDT_TYPE_SET, &st, b, 2, &clk, NOW + 4);
    ck_assert_uint_eq(object_nsiblings(z), 2);
    ck_assert(set_has(z, "z") && !set_has(z, "m"));
    ck_assert(cleared(z, CRDT_TYPE_COUNTER));
    /* a write it did not observe stays beside it, and reads as itself
     * (the later write): the cleared counter is no family for it */
    struct object *late = swrite(NULL, "late", c, 9, NULL, NOW + 5);
    struct object *zl = object_merge(z, late, NULL);
    ck_assert_uint_eq(object_nsiblings(zl), 3);
    ck_assert(set_has(zl, "z"));
    ck_assert(cleared(zl, CRDT_TYPE_COUNTER));
    struct sibling ls;
    ck_assert(object_visible(zl, NOW + 6, &ls) &&
              ls.type == CRDT_TYPE_STRING && ls.vlen == 4 &&
              memcmp(ls.value, "late", 4) == 0);
    assert_valid(zl);
    vclock_free(&clk);
    object_free(o);
    object_free(t);
    object_free(u);
    object_free(ot);
    object_free(all);
    object_free(w);
    object_free(w2);
    object_free(w3);
    object_free(z);
    object_free(late);
    object_free(zl);
    dbuf_free(&st);
}
END_TEST


/* ---- random typed histories --------------------------------------------- */

#define THIST 80

struct tstats {
    uint32_t typed, counters, sets, strings_with_typed, joins;
};

/* One replica's op: a string write (fresh, stale or no context), a counter
 * op (INCRBY, SET or DEL as an observed reset) or a set op (SADD, SREM,
 * DEL as an observed remove) on its local copy, as db.c runs them. */
static struct object *typed_op(struct rng *r, const struct object *cur,
                               uint64_t actor, uint64_t *hwm,
                               const struct vclock *stale, uint64_t now)
{
    static const char *members[] = {"a", "b", "c", "d"};
    struct vclock clk;
    vclock_init(&clk);
    if (cur)
        object_clock(cur, &clk);
    uint32_t kind = rng_below(r, 10);
    uint64_t dot = ++*hwm;
    struct object *o;
    char val[24];
    if (kind < 3) {
        const struct vclock *ctx = rng_below(r, 2) ? &clk
                                   : rng_below(r, 3) ? stale : NULL;
        snprintf(val, sizeof(val), "%u", rng_below(r, 50));
        uint32_t k = rng_below(r, 8);
        o = swrite(cur, k == 0 ? NULL : k == 1 ? "abc" : val, actor, dot, ctx,
                   now);
    } else if (kind < 7) {
        struct crdt_counter *c = NULL;
        struct sibling s;
        struct crdt_dot d = {actor, dot};
        if (cur && sib_of_type(cur, CRDT_TYPE_COUNTER, &s) >= 0) {
            ck_assert_int_eq(crdt_counter_decode(s.value, s.vlen, NULL, &c),
                             0);
            /* the strings beside it join it, as string_counter_op does */
            ck_assert_int_ge(object_counter_fold(cur, 0, NULL, c), 0);
        } else if (cur && object_winner_get(cur, &s) < UINT32_MAX &&
                   s.type == CRDT_TYPE_STRING) {
            struct crdt_dot sd = {s.actor, s.counter};
            ck_assert_int_eq(crdt_counter_from_string(
                                 s.tombstone ? NULL : s.value, s.vlen, &sd,
                                 s.ts_ms, NULL, &c), 0);
        } else {
            c = crdt_counter_new();
        }
        uint32_t op = rng_below(r, 8);
        int64_t v;
        int rc = op < 6 ? crdt_counter_incrby(c, (int64_t)rng_below(r, 13) - 3,
                                              &d, NULL, &v)
                        : -1;
        if (rc != 0) {
            snprintf(val, sizeof(val), "%u", rng_below(r, 50));
            ck_assert_int_eq(crdt_counter_reset(c, op == 7 ? NULL : val,
                                                strlen(val), &d, now, NULL),
                             0);
        }
        struct dbuf st;
        dbuf_init(&st);
        crdt_counter_encode(c, &st);
        crdt_counter_free(c);
        o = twrite(cur, CRDT_TYPE_COUNTER, &st, actor, dot, &clk, now);
        dbuf_free(&st);
    } else {
        struct crdt_set *s = NULL;
        struct sibling sb;
        struct crdt_dot d = {actor, dot};
        if (cur && sib_of_type(cur, CRDT_TYPE_SET, &sb) >= 0)
            ck_assert_int_eq(crdt_set_decode(sb.value, sb.vlen, NULL, &s), 0);
        else
            s = crdt_set_new();
        uint32_t op = rng_below(r, 6);
        const char *m = members[rng_below(r, 4)];
        int added;
        if (op < 4) {
            ck_assert_int_eq(crdt_set_add(s, m, strlen(m), &d, NULL, &added),
                             0);
        } else if (op == 4) {
            crdt_set_remove(s, m, strlen(m));
        } else {
            while (crdt_set_card(s)) {
                const uint8_t *p;
                size_t len;
                crdt_set_member(s, 0, &p, &len);
                char copy[8];
                memcpy(copy, p, len);
                crdt_set_remove(s, copy, len);
            }
        }
        struct dbuf st;
        dbuf_init(&st);
        crdt_set_encode(s, &st);
        crdt_set_free(s);
        o = twrite(cur, CRDT_TYPE_SET, &st, actor, dot, &clk, now);
        dbuf_free(&st);
    }
    vclock_free(&clk);
    return o;
}

/* Three replicas taking typed and string ops on their own copies and
 * merging pairwise; objs gets every replica state made (owned by the
 * caller), the replicas' final copies are the last REPLICAS of them. */
static uint32_t typed_history(struct rng *r, struct object **objs,
                              struct tstats *ts)
{
    struct object *rep[REPLICAS] = {NULL, NULL, NULL};
    uint64_t actor[REPLICAS], hwm[REPLICAS] = {0, 0, 0};
    struct vclock seen;
    vclock_init(&seen);
    uint32_t n = 0;
    for (int i = 0; i < REPLICAS; i++)
        actor[i] = actor_make("typed", (uint32_t)i);
    while (n < THIST - REPLICAS) {
        uint32_t op = rng_below(r, 10), i = rng_below(r, REPLICAS);
        uint32_t j = rng_below(r, REPLICAS);
        if (op < 6) {
            struct object *o = typed_op(r, rep[i], actor[i], &hwm[i], &seen,
                                        NOW + n);
            object_free(rep[i]);
            rep[i] = o;
        } else if (op < 9) {
            if (!rep[i] || !rep[j])
                continue;
            uint32_t before = object_nsiblings(rep[i]) +
                              object_nsiblings(rep[j]);
            struct object *o = object_merge(rep[j], rep[i], NULL);
            if (object_nsiblings(o) < before)
                ts->joins++;
            object_free(rep[j]);
            rep[j] = o;
            i = j;
        } else {
            if (rep[i])
                object_clock(rep[i], &seen);
            continue;
        }
        const struct object *o = rep[i];
        int t = 0, str = 0;
        for (uint32_t k = 0; k < object_nsiblings(o); k++) {
            struct sibling s;
            object_sibling(o, k, &s);
            t |= s.type != CRDT_TYPE_STRING;
            str |= s.type == CRDT_TYPE_STRING;
            ts->counters += s.type == CRDT_TYPE_COUNTER;
            ts->sets += s.type == CRDT_TYPE_SET;
        }
        ts->typed += t;
        ts->strings_with_typed += t && str;
        /* 3: a typed sibling kept as its observed clear */
        ck_assert_uint_eq(object_bytes(o)[0] >= 2, t);
        objs[n++] = object_dup(o);
    }
    for (int i = 0; i < REPLICAS; i++)
        objs[n++] = rep[i] ? rep[i] : object_dup(objs[0]);
    vclock_free(&seen);
    return n;
}

/* What holds of object_merge on every typed history: commutative and
 * idempotent byte for byte, and the result is a valid, reconciled object
 * (object_from_bytes takes it back). */
START_TEST(typed_merge_is_commutative_and_idempotent)
{
    struct rng r = {SEED + 7};
    struct tstats ts;
    memset(&ts, 0, sizeof(ts));
    for (int h = 0; h < 150; h++) {
        struct object *objs[THIST];
        uint32_t n = typed_history(&r, objs, &ts);
        for (int t = 0; t < 40; t++) {
            struct object *a = objs[rng_below(&r, n)];
            struct object *b = objs[rng_below(&r, n)];
            struct object *ab = object_merge(a, b, NULL);
            struct object *ba = object_merge(b, a, NULL);
            ck_assert_msg(object_equal(ab, ba), "commutative: seed %llx "
                          "history %d try %d", (unsigned long long)SEED, h, t);
            int ch = -1;
            struct object *aa = object_merge(a, a, &ch);
            ck_assert(object_equal(aa, a) && ch == 0);
            struct object *abab = object_merge(ab, ab, &ch);
            ck_assert(object_equal(abab, ab) && ch == 0);
            assert_valid(ab);
            object_free(ab);
            object_free(ba);
            object_free(aa);
            object_free(abab);
        }
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
    /* the histories do mix the types */
    ck_assert_uint_gt(ts.typed, 1000);
    ck_assert_uint_gt(ts.counters, 500);
    ck_assert_uint_gt(ts.sets, 500);
    ck_assert_uint_gt(ts.strings_with_typed, 100);
    ck_assert_uint_gt(ts.joins, 100);
}
END_TEST

/*
 * Associativity, absorption (ab merged with b again is ab) and the merged
 * clock descending from its inputs', on every triple of states of the
 * random histories (strings with fresh, stale and no contexts, counters,
 * sets, three replicas); convergence under any delivery order is
 * typed_delivery_order_does_not_matter below.
 *
 * What it took (docs/TYPES.md section 4): a write that covers a typed
 * sibling of another type leaves its observed clear
 * (typed_an_observed_counter_stays_dropped_in_any_order); a joined
 * sibling does not claim a concurrent sibling of the loser's actor
 * (typed_a_join_does_not_claim_what_it_never_saw); a counter and a
 * string beside it stay two siblings, read as one value
 * (object_counter_fold: joined in a merge, a string that a third sibling
 * covers went in one order and lived on inside the counter in the
 * other); and a merge keeps a typed sibling that another covers as it is
 * (a stale context, a client's, claims a state its coordinator never
 * held: cleared in a merge, that state went in one order and lived on
 * inside a join with a concurrent one in the other).  Before the last
 * two, 42 of the 6,000 triples failed and 7 of the 150 delivery
 * histories.
 */
START_TEST(typed_merge_is_associative)
{
    struct rng r = {SEED + 7};
    struct tstats ts;
    memset(&ts, 0, sizeof(ts));
    for (int h = 0; h < 150; h++) {
        struct object *objs[THIST];
        uint32_t n = typed_history(&r, objs, &ts);
        for (int t = 0; t < 40; t++) {
            struct object *a = objs[rng_below(&r, n)];
            struct object *b = objs[rng_below(&r, n)];
            struct object *c = objs[rng_below(&r, n)];
            struct object *ab = object_merge(a, b, NULL);
            struct object *ab_c = object_merge(ab, c, NULL);
            struct object *bc = object_merge(b, c, NULL);
            struct object *a_bc = object_merge(a, bc, NULL);
            ck_assert_msg(object_equal(ab_c, a_bc), "associative: seed %llx "
                          "history %d try %d", (unsigned long long)SEED, h, t);
            int ch = -1;
            struct object *abb = object_merge(ab, b, &ch);
            ck_assert_msg(object_equal(abb, ab) && ch == 0, "absorbing: "
                          "seed %llx history %d try %d",
                          (unsigned long long)SEED, h, t);
            struct vclock ca, cm;
            vclock_init(&ca);
            vclock_init(&cm);
            object_clock(a, &ca);
            object_clock(ab, &cm);
            ck_assert_msg(vclock_descends(&cm, &ca), "clock: seed %llx "
                          "history %d try %d", (unsigned long long)SEED, h, t);
            vclock_free(&ca);
            vclock_free(&cm);
            object_free(ab);
            object_free(ab_c);
            object_free(bc);
            object_free(a_bc);
            object_free(abb);
        }
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
}
END_TEST

/* The smallest case of the first counterexample above.  A SADD at a
 * (ctx = the object's clock) observed a's counter; b's counter is
 * concurrent with both.  The SADD leaves the counter's observed clear,
 * so in the order (a + SADD) + b and in the order (a + b) + SADD a's
 * increments are gone and b's 7 stay (before, the second order kept a's
 * inside the join and read 12). */
START_TEST(typed_an_observed_counter_stays_dropped_in_any_order)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct vclock clk;
    vclock_init(&clk);
    struct dbuf st;
    dbuf_init(&st);
    counter_of(&st, 5, a, 1);
    struct object *k1 = twrite(NULL, CRDT_TYPE_COUNTER, &st, a, 1, NULL, NOW);
    counter_of(&st, 7, b, 1);
    struct object *k2 = twrite(NULL, CRDT_TYPE_COUNTER, &st, b, 1, NULL,
                               NOW + 1);
    object_clock(k1, &clk);
    set_of(&st, "m", a, 2);
    struct object *sadd = twrite(k1, CRDT_TYPE_SET, &st, a, 2, &clk, NOW + 2);
    ck_assert_uint_eq(object_nsiblings(sadd), 2);
    ck_assert(cleared(sadd, CRDT_TYPE_COUNTER));
    struct object *x1 = object_merge(k1, sadd, NULL);
    struct object *x = object_merge(x1, k2, NULL);
    struct object *y1 = object_merge(k1, k2, NULL);
    struct object *y = object_merge(y1, sadd, NULL);
    ck_assert_int_eq(counter_value(x), 7);
    ck_assert_msg(object_equal(x, y), "(a + SADD) + b reads %lld, "
                  "(a + b) + SADD reads %lld", (long long)counter_value(x),
                  (long long)counter_value(y));
    vclock_free(&clk);
    object_free(k1);
    object_free(k2);
    object_free(sadd);
    object_free(x1);
    object_free(x);
    object_free(y1);
    object_free(y);
    dbuf_free(&st);
}
END_TEST

/* The second counterexample.  a SADDs (a, 3), then a client with an
 * empty context SETs through a (a, 4) (DYNAMO.PUT): two concurrent
 * siblings.  b's concurrent INCR joins the string as its base; the joined
 * context must not record the string's dot as the vclock entry a:4,
 * which would claim (a, 3) as well and drop the set nobody observed. */
START_TEST(typed_a_join_does_not_claim_what_it_never_saw)
{
    uint64_t a = 0x0a, b = 0x0b;
    struct dbuf st;
    dbuf_init(&st);
    set_of(&st, "m", a, 3);
    struct object *s3 = twrite(NULL, CRDT_TYPE_SET, &st, a, 3, NULL, NOW);
    struct object *t4 = swrite(s3, "5", a, 4, NULL, NOW + 1);
    ck_assert_uint_eq(object_nsiblings(t4), 2);
    counter_of(&st, 2, b, 1);
    struct object *k = twrite(NULL, CRDT_TYPE_COUNTER, &st, b, 1, NULL,
                              NOW + 2);
    struct object *m = object_merge(t4, k, NULL);
    ck_assert_int_eq(counter_value(m), 7);
    ck_assert_msg(set_has(m, "m"), "the concurrent SADD was dropped");
    struct object *m2 = object_merge(k, t4, NULL);
    ck_assert(object_equal(m, m2));
    object_free(m2);
    object_free(s3);
    object_free(t4);
    object_free(k);
    object_free(m);
    dbuf_free(&st);
}
END_TEST

/* A context that holds a typed sibling's dot but not every dot of its
 * state (a client's, claiming the set's own last add but not the add it
 * joined from elsewhere) does not cover it: the set stays live, and wins
 * the read with its later time, in a merge and in a write. */
START_TEST(typed_a_partly_seen_state_is_not_observed_away)
{
    uint64_t a = 0x0a, b = 0x0b, c = 0x0c;
    struct dbuf st;
    dbuf_init(&st);
    set_of(&st, "x", a, 5);
    struct object *s1 = twrite(NULL, CRDT_TYPE_SET, &st, a, 5, NULL, NOW + 10);
    set_of(&st, "y", b, 3);
    struct object *s2 = twrite(NULL, CRDT_TYPE_SET, &st, b, 3, NULL, NOW + 5);
    struct object *set = object_merge(s1, s2, NULL); /* dot a:5, x and y */
    ck_assert_uint_eq(object_nsiblings(set), 1);
    struct vclock claim;
    vclock_init(&claim);
    vclock_set(&claim, a, 5, NOW);
    struct object *t = swrite(NULL, "t", c, 1, &claim, NOW + 1);
    struct object *m = object_merge(set, t, NULL);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    struct sibling v;
    ck_assert(object_visible(m, NOW + 20, &v) && v.type == CRDT_TYPE_SET);
    object_winner_get(m, &v);
    ck_assert_int_eq(v.type, CRDT_TYPE_SET);
    ck_assert(set_has(m, "x") && set_has(m, "y"));
    assert_valid(m);
    object_free(s1);
    object_free(s2);
    object_free(set);
    object_free(t);
    object_free(m);
    vclock_free(&claim);
    dbuf_free(&st);
}
END_TEST

/* Every replica's copy and every intermediate state, delivered to two
 * fresh replicas in two random orders with duplicates: the same bytes. */
START_TEST(typed_delivery_order_does_not_matter)
{
    struct rng r = {SEED + 8};
    struct tstats ts;
    memset(&ts, 0, sizeof(ts));
    uint32_t multi = 0;
    for (int h = 0; h < 150; h++) {
        struct object *objs[THIST];
        uint32_t n = typed_history(&r, objs, &ts);
        struct object *got[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            uint32_t order[THIST * 2], m = 0;
            for (uint32_t i = 0; i < n; i++)
                order[m++] = i;
            for (uint32_t i = 0; i < n; i++) /* duplicates */
                if (rng_below(&r, 3) == 0)
                    order[m++] = rng_below(&r, n);
            for (uint32_t i = m; i > 1; i--) {
                uint32_t x = rng_below(&r, i), t = order[i - 1];
                order[i - 1] = order[x];
                order[x] = t;
            }
            for (uint32_t i = 0; i < m; i++) {
                struct object *o = objs[order[i]];
                if (!got[k]) {
                    got[k] = object_dup(o);
                    continue;
                }
                struct object *x = object_merge(got[k], o, NULL);
                object_free(got[k]);
                got[k] = x;
            }
        }
        ck_assert_msg(object_equal(got[0], got[1]),
                      "seed %llx history %d", (unsigned long long)SEED, h);
        /* and the replicas' final copies merged pairwise reach it too */
        struct object *f = object_merge(objs[n - 1], objs[n - 2], NULL);
        struct object *g = object_merge(f, objs[n - 3], NULL);
        struct object *all = object_merge(g, got[0], NULL);
        ck_assert(object_equal(all, got[0]));
        multi += object_nsiblings(got[0]) > 1;
        assert_valid(got[0]);
        object_free(f);
        object_free(g);
        object_free(all);
        object_free(got[0]);
        object_free(got[1]);
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
    ck_assert_uint_gt(multi, 10);
}
END_TEST

/* Typed objects' bytes: every truncation refused (on the heap at its
 * exact size, so ASan sees any overread); random corruption refused or a
 * valid object that merges like any other. */
START_TEST(typed_from_bytes_survives_truncation_and_corruption)
{
    struct rng r = {SEED + 9};
    struct tstats ts;
    memset(&ts, 0, sizeof(ts));
    struct crdt_limits tl = {.max_actors = 16, .max_members = 64,
                             .max_member_len = 64, .max_dots = 64};
    struct object_limits lim = {.max_siblings = 64, .max_ctx_entries = 16,
                                .max_value_len = 4096, .types = &tl};
    uint32_t accepted = 0, rejected = 0, eformat = 0;
    for (int h = 0; h < 12; h++) {
        struct object *objs[THIST];
        uint32_t n = typed_history(&r, objs, &ts);
        for (uint32_t k = 0; k < n; k++) {
            const uint8_t *b = object_bytes(objs[k]);
            size_t len = object_size(objs[k]);
            struct object *o = NULL;
            ck_assert_int_eq(object_from_bytes(b, len, &lim, &o), 0);
            ck_assert(object_equal(o, objs[k]));
            object_free(o);
            for (size_t cut = 0; cut < len; cut++) {
                uint8_t *t = dyn_memdup(b, cut ? cut : 1);
                o = (struct object *)1;
                ck_assert_msg(object_from_bytes(t, cut, &lim, &o) != 0,
                              "seed %llx history %d cut %zu",
                              (unsigned long long)SEED, h, cut);
                ck_assert_ptr_null(o);
                dyn_free(t);
            }
            for (int f = 0; f < 20; f++) {
                uint8_t *t = dyn_memdup(b, len);
                int flips = 1 + (int)rng_below(&r, 3);
                for (int x = 0; x < flips; x++)
                    t[rng_below(&r, (uint32_t)len)] ^=
                        (uint8_t)(1 + rng_below(&r, 255));
                int rc = object_from_bytes(t, len, &lim, &o);
                if (rc == 0) {
                    accepted++;
                    ck_assert(memcmp(object_bytes(o), t, len) == 0);
                    assert_valid(o);
                    struct vclock c;
                    vclock_init(&c);
                    object_clock(o, &c);
                    vclock_free(&c);
                    (void)object_visible(o, NOW, NULL);
                    struct object *m = object_merge(o, objs[k], NULL);
                    struct object *m2 = object_merge(objs[k], o, NULL);
                    ck_assert(object_equal(m, m2));
                    assert_valid(m);
                    object_free(m);
                    object_free(m2);
                    object_free(o);
                } else {
                    ck_assert_ptr_null(o);
                    ck_assert(rc == DYN_EINVAL || rc == DYN_ELIMIT ||
                              rc == DYN_EFORMAT);
                    eformat += rc == DYN_EFORMAT;
                    rejected++;
                }
                dyn_free(t);
            }
        }
        for (uint32_t i = 0; i < n; i++)
            object_free(objs[i]);
    }
    ck_assert_uint_gt(rejected, 1000);
    ck_assert_uint_gt(eformat, 10);
    ck_assert_uint_gt(accepted, 5);
}
END_TEST

static Suite *object_suite(void)
{
    Suite *s = suite_create("object");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, first_write_is_one_sibling);
    tcase_add_test(tc, single_set_of_100_bytes_fits_128_byte_class);
    tcase_add_test(tc, large_objects_cache_the_digest_of_their_bytes);
    tcase_add_test(tc, stale_context_through_the_same_actor_makes_siblings);
    tcase_add_test(tc, two_clients_with_the_same_context_both_survive);
    tcase_add_test(tc, concurrent_coordinators_merge_to_siblings);
    tcase_add_test(tc, visibility_summary_follows_the_expiries);
    tcase_add_test(tc, tombstones_delete_and_can_conflict);
    tcase_add_test(tc, expire_is_kept);
    tcase_add_test(tc, write_counter_is_above_everything_local);
    tcase_add_test(tc, write_counter_respects_the_node_floor);
    tcase_add_test(tc, write_prunes_a_long_context);
    tcase_add_test(tc, lww_keeps_the_latest);
    tcase_add_test(tc, same_dot_different_content_is_kept_once);
    tcase_add_test(tc, merge_matches_brute_force_reconciliation);
    tcase_add_test(tc, merge_laws_hold_on_random_histories);
    tcase_add_test(tc, from_bytes_rejects_truncation_and_survives_corruption);
    tcase_add_test(tc, from_bytes_rejects_invalid_objects);
    tcase_add_test(tc, clocks_and_views);
    tcase_add_test(tc, write_never_wraps_the_counter);
    tcase_add_test(tc, write_counter_stays_under_the_ceiling);
    tcase_add_test(tc, versions_that_cover_each_other_both_stay);
    tcase_add_test(tc, join_of_two_versions_of_one_dot);
    suite_add_tcase(s, tc);
    TCase *ty = tcase_create("typed");
    tcase_set_timeout(ty, 600);
    tcase_add_test(ty, typed_format_is_2_only_with_a_typed_sibling);
    tcase_add_test(ty, typed_from_bytes_refuses_what_it_cannot_read);
    tcase_add_test(ty, typed_concurrent_counters_merge_to_their_sum);
    tcase_add_test(ty, typed_a_concurrent_set_joins_the_counter_as_its_base);
    tcase_add_test(ty, typed_a_string_covers_a_state_only_when_it_saw_every_dot);
    tcase_add_test(ty, typed_write_drops_what_it_observed);
    tcase_add_test(ty, typed_merge_is_commutative_and_idempotent);
    tcase_add_test(ty, typed_from_bytes_survives_truncation_and_corruption);
    tcase_add_test(ty, typed_join_with_a_first_dot_winner);
    tcase_add_test(ty, typed_an_observed_counter_stays_dropped_in_any_order);
    tcase_add_test(ty, typed_a_join_does_not_claim_what_it_never_saw);
    tcase_add_test(ty, typed_a_partly_seen_state_is_not_observed_away);
    suite_add_tcase(s, ty);
    /* the laws over random mixed histories, in a tcase of their own for
     * the time they take */
    TCase *tl = tcase_create("typed-laws");
    tcase_set_timeout(tl, 600);
    tcase_add_test(tl, typed_merge_is_associative);
    tcase_add_test(tl, typed_delivery_order_does_not_matter);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(object_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
