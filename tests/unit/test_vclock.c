/*
 * test_vclock.c -- vector clocks: the ordering laws, merge as least upper
 * bound, the canonical binary and text encodings, pruning.
 *
 * Most tests are properties checked over many random clocks drawn from a
 * small actor pool (so clocks overlap often).  The PRNG is seeded with a
 * fixed SEED; a failing check prints the seed and iteration.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/vclock.h"
#include "server/buf.h"
#include "server/util.h"

#define SEED 0x5eed1234abcdULL
#define ITERS 10000

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

static const uint64_t pool[] = {
    0x0000000000000001ULL, 0x00000000000000ffULL, 0x1234567800000001ULL,
    0x8000000000000000ULL, 0xfedcba9876543210ULL, 0xffffffffffffffffULL,
};

/* A random clock over the actor pool, small counters so ties happen. */
static void rand_clock(struct rng *r, struct vclock *c, uint32_t maxcnt)
{
    vclock_clear(c);
    for (size_t i = 0; i < DYN_ARRAY_LEN(pool); i++)
        if (rng_below(r, 2))
            vclock_set(c, pool[i], 1 + rng_below(r, maxcnt),
                       rng_below(r, 4) ? 1700000000000ULL + rng_below(r, 1000)
                                       : rng_next(r));
}

/* The specification of compare, entry by entry. */
static enum vclock_order oracle_compare(const struct vclock *a,
                                        const struct vclock *b)
{
    int a_le_b = 1, b_le_a = 1;
    for (size_t i = 0; i < DYN_ARRAY_LEN(pool); i++) {
        uint64_t x = vclock_get(a, pool[i]), y = vclock_get(b, pool[i]);
        if (x > y)
            a_le_b = 0;
        if (y > x)
            b_le_a = 0;
    }
    if (a_le_b && b_le_a)
        return VCLOCK_EQUAL;
    if (a_le_b)
        return VCLOCK_BEFORE;
    if (b_le_a)
        return VCLOCK_AFTER;
    return VCLOCK_CONCURRENT;
}

static void assert_sorted(const struct vclock *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        ck_assert_uint_ge(c->e[i].counter, 1);
        if (i)
            ck_assert(c->e[i - 1].actor < c->e[i].actor);
    }
}

static int clock_eq(const struct vclock *a, const struct vclock *b)
{
    return a->n == b->n &&
           (a->n == 0 || memcmp(a->e, b->e, a->n * sizeof(*a->e)) == 0);
}

START_TEST(actor_ids_name_node_and_incarnation)
{
    uint64_t a0 = actor_make("node-a", 0), a1 = actor_make("node-a", 1);
    uint64_t b0 = actor_make("node-b", 0);
    uint64_t h = dyn_hash64("node-a", 6);
    ck_assert_uint_eq(a0 >> 24, h >> 24);
    ck_assert_uint_eq(a0 & 0xffffff, 0);
    ck_assert_uint_eq(a1 & 0xffffff, 1);
    ck_assert_uint_eq(a1 >> 24, a0 >> 24);
    ck_assert_uint_ne(a0, a1);
    ck_assert_uint_ne(a0 >> 24, b0 >> 24);
    ck_assert_uint_eq(actor_make("node-a", 0x1abcdef) & 0xffffff, 0xabcdef);
}
END_TEST

START_TEST(set_get_increment)
{
    struct vclock c;
    vclock_init(&c);
    ck_assert_uint_eq(vclock_get(&c, 7), 0);
    vclock_increment(&c, 7, 100);
    vclock_increment(&c, 3, 101);
    vclock_increment(&c, 7, 102);
    ck_assert_uint_eq(c.n, 2);
    assert_sorted(&c);
    ck_assert_uint_eq(vclock_get(&c, 7), 2);
    ck_assert_uint_eq(vclock_get(&c, 3), 1);
    ck_assert_uint_eq(c.e[1].ts_ms, 102);
    vclock_set(&c, 5, 9, 50);
    ck_assert_uint_eq(c.n, 3);
    assert_sorted(&c);
    ck_assert_uint_eq(vclock_get(&c, 5), 9);
    vclock_clear(&c);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(vclock_get(&c, 7), 0);
    vclock_free(&c);
    vclock_free(&c); /* free leaves it reusable */
}
END_TEST

/* The top of the counter space: 2^64-1 round-trips through the binary and
 * the client encodings, merges by max without wrapping, and an increment
 * there is refused rather than wrapping to 0. */
START_TEST(counters_at_the_top_never_wrap)
{
    struct vclock a, b, d;
    vclock_init(&a);
    vclock_init(&b);
    vclock_init(&d);
    vclock_set(&a, 7, UINT64_MAX, 1);
    vclock_set(&a, 9, (1ULL << 63), 2);
    vclock_set(&b, 7, UINT64_MAX - 1, 3);
    vclock_set(&b, 9, 1, 4);
    struct dbuf txt;
    dbuf_init(&txt);
    vclock_context_encode(&a, &txt);
    ck_assert_int_eq(vclock_context_decode(&d, txt.p, txt.len, 10), 0);
    ck_assert_uint_eq(vclock_get(&d, 7), UINT64_MAX);
    ck_assert_uint_eq(vclock_get(&d, 9), 1ULL << 63);

    vclock_merge(&b, &a);
    ck_assert_uint_eq(vclock_get(&b, 7), UINT64_MAX);
    ck_assert_uint_eq(vclock_get(&b, 9), 1ULL << 63);
    ck_assert_int_eq(vclock_compare(&a, &b), VCLOCK_EQUAL);

    ck_assert_int_eq(vclock_increment(&a, 7, 99), DYN_ERANGE);
    ck_assert_uint_eq(vclock_get(&a, 7), UINT64_MAX);
    ck_assert_uint_eq(a.e[0].ts_ms, 1);
    ck_assert_int_eq(vclock_increment(&a, 9, 99), 0);
    ck_assert_uint_eq(vclock_get(&a, 9), (1ULL << 63) + 1);

    /* a claim capped to what was issued; capped to nothing, it goes */
    vclock_cap(&a, 7, 5);
    ck_assert_uint_eq(vclock_get(&a, 7), 5);
    vclock_cap(&a, 7, 9);
    ck_assert_uint_eq(vclock_get(&a, 7), 5);
    vclock_cap(&a, 9, 0);
    ck_assert_uint_eq(a.n, 1);
    ck_assert_uint_eq(vclock_get(&a, 9), 0);
    vclock_cap(&a, 4, 0); /* absent: nothing */
    ck_assert_uint_eq(a.n, 1);
    dbuf_free(&txt);
    vclock_free(&a);
    vclock_free(&b);
    vclock_free(&d);
}
END_TEST

START_TEST(increment_makes_a_clock_after)
{
    struct rng r = {SEED};
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, 4);
        vclock_copy(&b, &a);
        uint64_t actor = pool[rng_below(&r, DYN_ARRAY_LEN(pool))];
        uint64_t before = vclock_get(&a, actor);
        vclock_increment(&b, actor, 42);
        ck_assert_msg(vclock_get(&b, actor) == before + 1 &&
                          vclock_compare(&b, &a) == VCLOCK_AFTER &&
                          vclock_compare(&a, &b) == VCLOCK_BEFORE,
                      "seed %llx iter %d", (unsigned long long)SEED, it);
        assert_sorted(&b);
    }
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(compare_is_antisymmetric_and_matches_the_definition)
{
    struct rng r = {SEED};
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    int seen[4] = {0};
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, 3);
        rand_clock(&r, &b, 3);
        enum vclock_order ab = vclock_compare(&a, &b);
        enum vclock_order ba = vclock_compare(&b, &a);
        seen[ab]++;
        ck_assert_msg(ab == oracle_compare(&a, &b), "seed %llx iter %d",
                      (unsigned long long)SEED, it);
        ck_assert_msg((ab == VCLOCK_BEFORE) == (ba == VCLOCK_AFTER) &&
                          (ab == VCLOCK_AFTER) == (ba == VCLOCK_BEFORE) &&
                          (ab == VCLOCK_EQUAL) == (ba == VCLOCK_EQUAL) &&
                          (ab == VCLOCK_CONCURRENT) ==
                              (ba == VCLOCK_CONCURRENT),
                      "seed %llx iter %d", (unsigned long long)SEED, it);
        ck_assert_int_eq(vclock_descends(&a, &b),
                         ab == VCLOCK_EQUAL || ab == VCLOCK_AFTER);
        ck_assert_int_eq(vclock_compare(&a, &a), VCLOCK_EQUAL);
    }
    /* the generator reaches every outcome */
    for (int i = 0; i < 4; i++)
        ck_assert_int_gt(seen[i], 10);
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(merge_is_the_least_upper_bound)
{
    struct rng r = {SEED + 1};
    struct vclock a, b, m, m2, c;
    vclock_init(&a);
    vclock_init(&b);
    vclock_init(&m);
    vclock_init(&m2);
    vclock_init(&c);
    int upper_bounds = 0;
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, 3);
        rand_clock(&r, &b, 3);
        vclock_copy(&m, &a);
        vclock_merge(&m, &b);
        assert_sorted(&m);
        ck_assert_msg(vclock_descends(&m, &a) && vclock_descends(&m, &b),
                      "seed %llx iter %d", (unsigned long long)SEED, it);
        for (size_t i = 0; i < DYN_ARRAY_LEN(pool); i++)
            ck_assert_uint_eq(vclock_get(&m, pool[i]),
                              DYN_MAX(vclock_get(&a, pool[i]),
                                      vclock_get(&b, pool[i])));
        /* commutative, including the timestamps */
        vclock_copy(&m2, &b);
        vclock_merge(&m2, &a);
        ck_assert(clock_eq(&m, &m2));
        /* least: any upper bound of a and b descends from m */
        rand_clock(&r, &c, 4);
        if (rng_below(&r, 2))
            vclock_merge(&c, &m);
        if (vclock_descends(&c, &a) && vclock_descends(&c, &b)) {
            upper_bounds++;
            ck_assert_msg(vclock_descends(&c, &m), "seed %llx iter %d",
                          (unsigned long long)SEED, it);
        }
        /* a clock that is not an upper bound is not above m */
        if (!vclock_descends(&c, &a))
            ck_assert(!vclock_descends(&c, &m));
    }
    ck_assert_int_gt(upper_bounds, ITERS / 4);
    vclock_free(&a);
    vclock_free(&b);
    vclock_free(&m);
    vclock_free(&m2);
    vclock_free(&c);
}
END_TEST

START_TEST(merge_keeps_the_timestamp_of_the_larger_counter)
{
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    vclock_set(&a, 1, 5, 100);
    vclock_set(&a, 2, 1, 900);
    vclock_set(&a, 3, 2, 10);
    vclock_set(&b, 1, 4, 999);
    vclock_set(&b, 2, 3, 200);
    vclock_set(&b, 3, 2, 20);
    vclock_set(&b, 4, 1, 7);
    vclock_merge(&a, &b);
    ck_assert_uint_eq(a.n, 4);
    ck_assert_uint_eq(a.e[0].ts_ms, 100); /* a's counter 5 wins */
    ck_assert_uint_eq(a.e[1].ts_ms, 200); /* b's counter 3 wins */
    ck_assert_uint_eq(a.e[2].ts_ms, 20);  /* tie: max ts */
    ck_assert_uint_eq(a.e[3].ts_ms, 7);
    vclock_merge(&a, &a);
    ck_assert_uint_eq(a.n, 4);
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(binary_encoding_round_trips)
{
    struct rng r = {SEED + 2};
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    uint8_t buf[512];
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, it % 2 ? 3 : 0x7fffffff);
        size_t sz = vclock_encoded_size(&a);
        ck_assert_uint_le(sz, sizeof(buf));
        ck_assert_uint_eq(vclock_encode(&a, buf), sz);
        ck_assert_uint_eq(vclock_encoded_len(buf, sz), sz);
        size_t used = 0;
        ck_assert_int_eq(vclock_decode(&b, buf, sz, 64, &used), 0);
        ck_assert_uint_eq(used, sz);
        ck_assert_msg(clock_eq(&a, &b), "seed %llx iter %d",
                      (unsigned long long)SEED, it);
        struct dbuf d;
        dbuf_init(&d);
        dbuf_appendc(&d, 'x');
        vclock_encode_buf(&a, &d);
        ck_assert_uint_eq(d.len, sz + 1);
        ck_assert(memcmp(d.p + 1, buf, sz) == 0);
        dbuf_free(&d);
    }
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(binary_decode_rejects_truncation_and_corruption)
{
    struct rng r = {SEED + 3};
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    uint8_t buf[512], bad[512], re[512];
    int accepted = 0, rejected = 0;
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, it % 2 ? 3 : 0x7fffffff);
        size_t sz = vclock_encode(&a, buf);
        for (size_t cut = 0; cut < sz; cut++) {
            ck_assert_msg(vclock_decode(&b, buf, cut, 64, NULL) != 0,
                          "seed %llx iter %d cut %zu",
                          (unsigned long long)SEED, it, cut);
            ck_assert_uint_eq(vclock_encoded_len(buf, cut), 0);
        }
        /* corrupt 1..3 bytes: either rejected, or it is a canonical
         * encoding of some other valid clock */
        memcpy(bad, buf, sz);
        int flips = 1 + (int)rng_below(&r, 3);
        for (int f = 0; f < flips; f++)
            bad[rng_below(&r, (uint32_t)sz)] ^=
                (uint8_t)(1 + rng_below(&r, 255));
        size_t used;
        if (vclock_decode(&b, bad, sz, 64, &used) == 0) {
            accepted++;
            assert_sorted(&b);
            ck_assert_uint_le(used, sz);
            ck_assert_uint_eq(vclock_encode(&b, re), used);
            ck_assert_msg(memcmp(re, bad, used) == 0, "seed %llx iter %d",
                          (unsigned long long)SEED, it);
        } else {
            rejected++;
            ck_assert_uint_eq(b.n, 0);
        }
    }
    ck_assert_int_gt(rejected, 100);
    ck_assert_int_gt(accepted, 100);
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(binary_decode_rejects_non_canonical_input)
{
    struct vclock c;
    vclock_init(&c);
    /* two entries, actors 1 and 2 (big-endian), counter 1, ts 5 */
    uint8_t ok[] = {2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5,
                    0, 0, 0, 0, 0, 0, 0, 2, 1, 5};
    size_t used;
    ck_assert_int_eq(vclock_decode(&c, ok, sizeof(ok), 10, &used), 0);
    ck_assert_uint_eq(used, sizeof(ok));
    ck_assert_uint_eq(vclock_get(&c, 1), 1);
    ck_assert_uint_eq(vclock_get(&c, 2), 1);
    ck_assert_uint_eq(c.e[1].ts_ms, 5);

    uint8_t x[sizeof(ok)];
    memcpy(x, ok, sizeof(ok));
    x[18] = 1; /* duplicate actor */
    ck_assert_int_eq(vclock_decode(&c, x, sizeof(x), 10, NULL), DYN_EINVAL);
    x[18] = 0; /* actor 0 < 1: unsorted */
    ck_assert_int_eq(vclock_decode(&c, x, sizeof(x), 10, NULL), DYN_EINVAL);
    memcpy(x, ok, sizeof(ok));
    x[9] = 0; /* zero counter */
    ck_assert_int_eq(vclock_decode(&c, x, sizeof(x), 10, NULL), DYN_EINVAL);
    /* more entries than allowed */
    ck_assert_int_eq(vclock_decode(&c, ok, sizeof(ok), 1, NULL), DYN_ELIMIT);
    /* overlong varint count (0x80 0x00 = 0) */
    uint8_t overlong[] = {0x80, 0x00};
    ck_assert_int_eq(vclock_decode(&c, overlong, 2, 10, NULL), DYN_EINVAL);
    /* a count the input cannot hold is refused before allocating */
    uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    ck_assert_int_eq(vclock_decode(&c, huge, 5, UINT32_MAX, NULL),
                     DYN_EINVAL);
    /* 64-bit overflow in a varint */
    uint8_t ovf[] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff,
                     0xff, 0xff, 0xff, 0xff, 0x7f, 5};
    ck_assert_int_eq(vclock_decode(&c, ovf, sizeof(ovf), 10, NULL),
                     DYN_EINVAL);
    uint8_t empty[] = {0};
    ck_assert_int_eq(vclock_decode(&c, empty, 1, 0, &used), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(vclock_decode(&c, empty, 0, 10, NULL), DYN_EINVAL);
    vclock_free(&c);
}
END_TEST

START_TEST(varints_are_leb128)
{
    uint8_t b[10];
    ck_assert_uint_eq(vclock_varint_put(b, 300), 2);
    ck_assert_uint_eq(b[0], 0xac);
    ck_assert_uint_eq(b[1], 0x02);
    ck_assert_uint_eq(vclock_varint_size(UINT64_MAX), 10);
    ck_assert_uint_eq(vclock_varint_put(b, UINT64_MAX), 10);
    uint64_t v;
    ck_assert_uint_eq(vclock_varint_get(b, 10, &v), 10);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_uint_eq(vclock_varint_get(b, 9, &v), 0);
    ck_assert_uint_eq(vclock_varint_size(1700000000000ULL), 6);
}
END_TEST

START_TEST(context_text_round_trips)
{
    struct rng r = {SEED + 4};
    struct vclock a, b;
    vclock_init(&a);
    vclock_init(&b);
    for (int it = 0; it < ITERS; it++) {
        rand_clock(&r, &a, it % 2 ? 3 : 0x7fffffff);
        struct dbuf d;
        dbuf_init(&d);
        vclock_context_encode(&a, &d);
        size_t raw = vclock_encoded_size(&a);
        ck_assert_uint_eq(d.len, (raw * 4 + 2) / 3);
        for (size_t i = 0; i < d.len; i++)
            ck_assert_msg(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                                 "opqrstuvwxyz0123456789-_",
                                 d.p[i]) != NULL,
                          "bad char %c", d.p[i]);
        ck_assert_int_eq(vclock_context_decode(&b, d.p, d.len, 64), 0);
        ck_assert_msg(clock_eq(&a, &b), "seed %llx iter %d",
                      (unsigned long long)SEED, it);
        /* every shorter text is rejected */
        for (size_t cut = 1; cut < d.len; cut++)
            ck_assert_msg(vclock_context_decode(&b, d.p, cut, 64) != 0,
                          "seed %llx iter %d cut %zu",
                          (unsigned long long)SEED, it, cut);
        /* a corrupted character: rejected, or the canonical text of
         * another clock */
        size_t pos = rng_below(&r, (uint32_t)d.len);
        char saved = d.p[pos];
        d.p[pos] = "A_-=+/ .\n\0zZ9"[rng_below(&r, 13)];
        if (vclock_context_decode(&b, d.p, d.len, 64) == 0) {
            struct dbuf e;
            dbuf_init(&e);
            vclock_context_encode(&b, &e);
            ck_assert(e.len == d.len && memcmp(e.p, d.p, d.len) == 0);
            dbuf_free(&e);
        }
        d.p[pos] = saved;
        /* trailing garbage */
        dbuf_appends(&d, "AA");
        ck_assert_int_ne(vclock_context_decode(&b, d.p, d.len, 64), 0);
        dbuf_free(&d);
    }
    vclock_free(&a);
    vclock_free(&b);
}
END_TEST

START_TEST(context_decode_rejects_bad_text)
{
    struct vclock c;
    vclock_init(&c);
    vclock_set(&c, 1, 1, 1);
    /* "" is the empty clock */
    ck_assert_int_eq(vclock_context_decode(&c, "", 0, 10), 0);
    ck_assert_uint_eq(c.n, 0);
    /* "AA" is the canonical empty clock (one 0 byte) */
    ck_assert_int_eq(vclock_context_decode(&c, "AA", 2, 10), 0);
    ck_assert_int_eq(vclock_context_decode(&c, "AB", 2, 10), DYN_EINVAL);
    ck_assert_int_eq(vclock_context_decode(&c, "AA==", 4, 10), DYN_EINVAL);
    ck_assert_int_eq(vclock_context_decode(&c, "A", 1, 10), DYN_EINVAL);
    ck_assert_int_eq(vclock_context_decode(&c, "A+", 2, 10), DYN_EINVAL);
    ck_assert_int_eq(vclock_context_decode(&c, "A/", 2, 10), DYN_EINVAL);

    struct vclock big;
    vclock_init(&big);
    for (uint64_t i = 1; i <= 11; i++)
        vclock_set(&big, i, i, i);
    struct dbuf d;
    dbuf_init(&d);
    vclock_context_encode(&big, &d);
    ck_assert_int_eq(vclock_context_decode(&c, d.p, d.len, 10), DYN_EINVAL);
    ck_assert_int_eq(vclock_context_decode(&c, d.p, d.len, 11), 0);
    ck_assert(clock_eq(&c, &big));
    dbuf_free(&d);
    vclock_free(&big);
    vclock_free(&c);
}
END_TEST

START_TEST(prune_drops_the_oldest_and_counts)
{
    struct rng r = {SEED + 5};
    struct vclock a, p;
    vclock_init(&a);
    vclock_init(&p);
    for (int it = 0; it < ITERS; it++) {
        vclock_clear(&a);
        uint32_t n = rng_below(&r, 20);
        for (uint32_t i = 0; i < n; i++)
            vclock_set(&a, rng_next(&r), 1 + rng_below(&r, 5),
                       rng_below(&r, 8)); /* many ts ties */
        uint32_t max = rng_below(&r, 15);
        vclock_copy(&p, &a);
        uint32_t dropped = vclock_prune(&p, max);
        ck_assert_uint_eq(dropped, a.n > max ? a.n - max : 0);
        ck_assert_uint_eq(p.n, a.n - dropped);
        assert_sorted(&p);
        /* kept entries are unchanged; every dropped one is older (ties:
         * smaller actor) than every kept one */
        for (uint32_t i = 0; i < a.n; i++) {
            const struct vclock_entry *e = &a.e[i];
            uint64_t cnt = vclock_get(&p, e->actor);
            if (cnt) {
                ck_assert_uint_eq(cnt, e->counter);
                continue;
            }
            for (uint32_t k = 0; k < p.n; k++)
                ck_assert_msg(e->ts_ms < p.e[k].ts_ms ||
                                  (e->ts_ms == p.e[k].ts_ms &&
                                   e->actor < p.e[k].actor),
                              "seed %llx iter %d", (unsigned long long)SEED,
                              it);
        }
    }
    vclock_free(&a);
    vclock_free(&p);
}
END_TEST

static const char *name_of(void *ctx, uint64_t actor)
{
    (void)ctx;
    return actor == 0xab ? "n1" : NULL;
}

START_TEST(format_is_readable)
{
    struct vclock c;
    vclock_init(&c);
    struct dbuf d;
    dbuf_init(&d);
    vclock_format(&c, &d, name_of, NULL);
    ck_assert_uint_eq(d.len, 2);
    ck_assert(memcmp(d.p, "[]", 2) == 0);
    dbuf_reset(&d);
    vclock_set(&c, 0xab, 3, 1700000000123ULL);
    vclock_set(&c, 0x1234, 1, 5);
    vclock_format(&c, &d, name_of, NULL);
    dbuf_appendc(&d, 0);
    ck_assert_str_eq(d.p, "[n1:3@1700000000123, 0000000000001234:1@5]");
    dbuf_reset(&d);
    vclock_format(&c, &d, NULL, NULL);
    dbuf_appendc(&d, 0);
    ck_assert_str_eq(d.p,
                     "[00000000000000ab:3@1700000000123, "
                     "0000000000001234:1@5]");
    dbuf_free(&d);
    vclock_free(&c);
}
END_TEST

static Suite *vclock_suite(void)
{
    Suite *s = suite_create("vclock");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, actor_ids_name_node_and_incarnation);
    tcase_add_test(tc, set_get_increment);
    tcase_add_test(tc, increment_makes_a_clock_after);
    tcase_add_test(tc, compare_is_antisymmetric_and_matches_the_definition);
    tcase_add_test(tc, merge_is_the_least_upper_bound);
    tcase_add_test(tc, merge_keeps_the_timestamp_of_the_larger_counter);
    tcase_add_test(tc, binary_encoding_round_trips);
    tcase_add_test(tc, binary_decode_rejects_truncation_and_corruption);
    tcase_add_test(tc, binary_decode_rejects_non_canonical_input);
    tcase_add_test(tc, varints_are_leb128);
    tcase_add_test(tc, context_text_round_trips);
    tcase_add_test(tc, context_decode_rejects_bad_text);
    tcase_add_test(tc, prune_drops_the_oldest_and_counts);
    tcase_add_test(tc, format_is_readable);
    tcase_add_test(tc, counters_at_the_top_never_wrap);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vclock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
