/*
 * test_crdt.c -- the typed values' CRDTs (cluster/crdt_counter.c and
 * crdt_set.c): Redis's counter semantics and errors, observed reset,
 * add-wins, and the join's laws over random operation histories.
 *
 * A history is a few replicas, each with its own actor, taking random ops
 * and random joins from one another; dots come from per-actor counters
 * with gaps, as the node-wide counters give one key.  The properties:
 *   - join is commutative, associative and idempotent, byte for byte;
 *   - every delivery order of the same updates, with duplicates, gives the
 *     same bytes;
 *   - nothing acknowledged is lost: the counter's final value is the one
 *     an oracle computes from the ops (an increment counts unless a reset
 *     observed it), and the set equals a textbook ORSWOT kept beside it
 *     (full dot sets, no compaction), in which an add stays unless an op
 *     observed it;
 *   - compaction (at a converged state) changes no member anywhere later;
 *   - decoders reject every truncation and survive thousands of random
 *     mutations; what they accept re-encodes to the same bytes.
 * The PRNG has a fixed SEED: a failure prints the seed and iteration.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/buf.h"
#include "server/util.h"

#define SEED 0xc4d7a11ce5eedULL
#define HISTORIES 200
#define STEPS 60
#define NREP 4
#define POOL 48
#define FUZZ 4000

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

static const uint64_t actors[NREP] = {
    0x00000000000000a1ULL, 0x7fffffff000000b2ULL, 0x8000000000000003ULL,
    0xfffffffffffffff4ULL,
};

/* Per-actor dot counters with gaps (other keys take the missing ones). */
struct dots {
    uint64_t next[NREP];
};

static struct crdt_dot next_dot(struct rng *r, struct dots *d, int rep)
{
    d->next[rep] += 1 + (rng_below(r, 3) == 0 ? rng_below(r, 4) : 0);
    struct crdt_dot dot = { actors[rep], d->next[rep] };
    return dot;
}

static void fisher_yates(struct rng *r, uint32_t *ix, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        ix[k] = k;
    for (uint32_t k = n; k > 1; k--) {
        uint32_t j = rng_below(r, k), t = ix[k - 1];
        ix[k - 1] = ix[j];
        ix[j] = t;
    }
}

/* ---- counter helpers ----------------------------------------------------- */

static void cenc(const struct crdt_counter *c, struct dbuf *b)
{
    dbuf_reset(b);
    crdt_counter_encode(c, b);
}

static int counter_same(const struct crdt_counter *a,
                        const struct crdt_counter *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    cenc(a, &x);
    cenc(b, &y);
    int same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return same;
}

/* What GET would reply, as a C string ("(nil)" when absent). */
static void counter_text(const struct crdt_counter *c, char *out, size_t cap)
{
    struct dbuf b;
    dbuf_init(&b);
    if (crdt_counter_format(c, &b) != 0)
        snprintf(out, cap, "(nil)");
    else
        snprintf(out, cap, "%.*s", (int)b.len, b.p);
    dbuf_free(&b);
}

static void counter_join_into(struct crdt_counter **dst,
                              const struct crdt_counter *src)
{
    struct crdt_counter *j = crdt_counter_join(*dst, src);
    crdt_counter_free(*dst);
    *dst = j;
}

#define ASSERT_TEXT(c, want)                                   \
    do {                                                       \
        char got_[128];                                        \
        counter_text((c), got_, sizeof(got_));                 \
        ck_assert_str_eq(got_, (want));                        \
    } while (0)

/* ---- counters: Redis's semantics ------------------------------------------- */

START_TEST(counter_incr_on_a_string_counts_from_it)
{
    struct crdt_dot s = { 0x51, 7 }, a = { 0xa1, 8 };
    struct crdt_counter *c;
    int64_t v;
    ck_assert_int_eq(crdt_counter_from_string("5", 1, &s, 1000, NULL, &c), 0);
    ASSERT_TEXT(c, "5");
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), 0);
    ck_assert_int_eq(v, 6);
    ASSERT_TEXT(c, "6");
    /* the same dot twice is one event */
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), CRDT_ESTALE);
    a.counter = 3; /* below what the state saw of the actor */
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), CRDT_ESTALE);
    ASSERT_TEXT(c, "6");
    crdt_counter_free(c);
}
END_TEST

START_TEST(counter_two_coordinators_increment_one_string)
{
    /* SET k 5 reached both; each INCRs through its own coordinator. */
    struct crdt_dot s = { 0x51, 2 }, a = { 0xa1, 3 }, b = { 0xb2, 9 };
    struct crdt_counter *x, *y;
    int64_t v;
    crdt_counter_from_string("5", 1, &s, 1000, NULL, &x);
    crdt_counter_from_string("5", 1, &s, 1000, NULL, &y);
    ck_assert_int_eq(crdt_counter_incrby(x, 1, &a, NULL, &v), 0);
    ck_assert_int_eq(crdt_counter_incrby(y, 1, &b, NULL, &v), 0);
    struct crdt_counter *j = crdt_counter_join(x, y);
    ASSERT_TEXT(j, "7");
    crdt_counter_free(j);
    crdt_counter_free(x);
    crdt_counter_free(y);
}
END_TEST

/* A string joins a counter as a base without touching the entries: its
 * actor's entry keeps its seq, so a state that holds more of that
 * actor's increments still wins the entry's join.  (When a string's dot
 * raised the entry, the +2 at a:4 was lost: the entry of seq 6 with the
 * sums of seq 3 replaced the one of seq 4.) */
START_TEST(counter_a_string_folded_in_keeps_the_actors_later_increments)
{
    struct crdt_dot a3 = { 0xa1, 3 }, a4 = { 0xa1, 4 }, a6 = { 0xa1, 6 };
    struct crdt_counter *x = crdt_counter_new(), *y;
    int64_t v;
    ck_assert_int_eq(crdt_counter_incrby(x, 1, &a3, NULL, &v), 0);
    y = crdt_counter_dup(x);
    ck_assert_int_eq(crdt_counter_incrby(y, 2, &a4, NULL, &v), 0);
    /* a's blind SET of "10" (a:6) reaches x, which folds it in */
    ck_assert_int_eq(crdt_counter_add_string(x, "10", 2, &a6, 2000, NULL), 0);
    ASSERT_TEXT(x, "11");
    /* folding it again, or a base the state has seen, changes nothing */
    struct dbuf before, after;
    dbuf_init(&before);
    dbuf_init(&after);
    crdt_counter_encode(x, &before);
    ck_assert_int_eq(crdt_counter_add_string(x, "10", 2, &a6, 2000, NULL), 0);
    crdt_counter_encode(x, &after);
    ck_assert(before.len == after.len &&
              memcmp(before.p, after.p, before.len) == 0);
    /* the increment of a:4 counts: 10 + 1 + 2 */
    struct crdt_counter *j = crdt_counter_join(x, y);
    ASSERT_TEXT(j, "13");
    struct crdt_counter *k = crdt_counter_join(y, x);
    ck_assert(counter_same(j, k));
    /* a's INCR after it all is no stale dot (the base did not raise the
     * entry past a:6's successor) */
    struct crdt_dot a7 = { 0xa1, 7 };
    ck_assert_int_eq(crdt_counter_incrby(j, 1, &a7, NULL, &v), 0);
    ck_assert_int_eq(v, 14);
    /* a reset that saw the base removes it, and a join keeps it gone */
    struct crdt_dot b1 = { 0xb2, 1 };
    struct crdt_counter *r = crdt_counter_dup(x);
    ck_assert_int_eq(crdt_counter_reset(r, "0", 1, &b1, 3000, NULL), 0);
    struct crdt_counter *rj = crdt_counter_join(r, x);
    ASSERT_TEXT(rj, "0");
    crdt_counter_free(rj);
    crdt_counter_free(r);
    dbuf_free(&before);
    dbuf_free(&after);
    crdt_counter_free(j);
    crdt_counter_free(k);
    crdt_counter_free(x);
    crdt_counter_free(y);
}
END_TEST

/* A counter encoded before the bases had their own context (tag 1, no
 * seen list) decodes with its bases seen as far as their actor's seq,
 * reads the same, and is encoded with the list (tag 0x41) from then on;
 * a base above its actor's seq there is refused. */
START_TEST(counter_an_encoding_from_before_the_seen_list_decodes)
{
    static const uint8_t old[] = {
        CRDT_TYPE_COUNTER, 1,                       /* one entry */
        0xa1, 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 4,      /* a seq 3, i = 2 */
        1,                                          /* one base */
        0xa1, 0, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0x07,   /* a:3 ts 1000 */
        1, 1, '5',                                  /* bytes "5" */
    };
    struct crdt_counter *c = NULL;
    ck_assert_int_eq(crdt_counter_decode(old, sizeof(old), NULL, &c), 0);
    ASSERT_TEXT(c, "7");
    struct dbuf b;
    dbuf_init(&b);
    crdt_counter_encode(c, &b);
    ck_assert_uint_eq((uint8_t)b.p[0], 0x41);
    struct crdt_counter *d = NULL;
    ck_assert_int_eq(crdt_counter_decode((const uint8_t *)b.p, b.len, NULL,
                                         &d), 0);
    ck_assert(counter_same(c, d));
    /* the base was seen, as before: a reset's join drops it */
    struct crdt_dot b1 = { 0xb2, 1 };
    struct crdt_counter *r = crdt_counter_dup(c);
    ck_assert_int_eq(crdt_counter_reset(r, "1", 1, &b1, 2000, NULL), 0);
    struct crdt_counter *j = crdt_counter_join(d, r);
    ASSERT_TEXT(j, "1");
    uint8_t bad[sizeof(old)];
    memcpy(bad, old, sizeof(old));
    bad[22] = 4; /* the base a:4, above a's seq 3 */
    struct crdt_counter *e = NULL;
    ck_assert_int_eq(crdt_counter_decode(bad, sizeof(bad), NULL, &e),
                     DYN_EINVAL);
    crdt_counter_free(j);
    crdt_counter_free(r);
    crdt_counter_free(d);
    crdt_counter_free(c);
    dbuf_free(&b);
}
END_TEST

START_TEST(counter_an_actor_that_lost_its_entry_begins_a_run)
{
    /* The chaos suite's finding (docs/TYPES.md 5.1): node A incremented
     * twice, then dropped its copy of the key; later it increments on an
     * empty state, and on an older copy.  Each op begins a run of its own,
     * and the runs add up with the one the replicas hold. */
    struct crdt_dot a3 = { 0xa1, 3 }, a5 = { 0xa1, 5 }, a9 = { 0xa1, 9 },
                    a11 = { 0xa1, 11 }, a13 = { 0xa1, 13 };
    int64_t v;
    struct crdt_counter *s = crdt_counter_new();
    ck_assert_int_eq(crdt_counter_incrby(s, 1, &a3, NULL, &v), 0);
    struct crdt_counter *stale = crdt_counter_dup(s);
    ck_assert_int_eq(crdt_counter_incrby(s, 1, &a5, NULL, &v), 0);
    ASSERT_TEXT(s, "2");
    struct crdt_counter *e = crdt_counter_new();
    crdt_counter_own_last(e, 0xa1, 5);
    ck_assert_int_eq(crdt_counter_incrby(e, 1, &a9, NULL, &v), 0);
    ck_assert_int_eq(v, 1);
    struct crdt_counter *se = crdt_counter_join(s, e);
    ASSERT_TEXT(se, "3");
    /* an older copy: its run of A stops at 3, A's latest op was 5 */
    crdt_counter_own_last(stale, 0xa1, 5);
    ck_assert_int_eq(crdt_counter_incrby(stale, 1, &a11, NULL, &v), 0);
    ck_assert_int_eq(v, 2); /* what the stale copy reads */
    struct crdt_counter *all = crdt_counter_join(se, stale);
    ASSERT_TEXT(all, "4");
    /* the latest op known, on a state that holds its run: it goes on */
    crdt_counter_own_last(all, 0xa1, 11);
    ck_assert_int_eq(crdt_counter_incrby(all, 1, &a13, NULL, &v), 0);
    ck_assert_int_eq(v, 5);
    struct dbuf b;
    dbuf_init(&b);
    crdt_counter_describe(all, &b);
    dbuf_appendc(&b, 0);
    ck_assert_ptr_nonnull(strstr(b.p, "run=3 seq=5 sum=2"));
    ck_assert_ptr_nonnull(strstr(b.p, "run=9 seq=9 sum=1"));
    ck_assert_ptr_nonnull(strstr(b.p, "run=11 seq=13 sum=2"));
    /* joined with every earlier state: nothing counted twice */
    struct crdt_counter *j = crdt_counter_join(all, s);
    counter_join_into(&j, e);
    counter_join_into(&j, stale);
    ASSERT_TEXT(j, "5");
    /* the encoding round trips */
    cenc(all, &b);
    struct crdt_counter *d = NULL;
    ck_assert_int_eq(crdt_counter_decode((const uint8_t *)b.p, b.len, NULL,
                                         &d), 0);
    ck_assert(counter_same(all, d));
    dbuf_free(&b);
    crdt_counter_free(s);
    crdt_counter_free(stale);
    crdt_counter_free(e);
    crdt_counter_free(se);
    crdt_counter_free(all);
    crdt_counter_free(j);
    crdt_counter_free(d);
}
END_TEST

START_TEST(counter_runs_decode_only_in_order_and_within_their_seq)
{
    /* tag 0x41, one entry: actor a1, seq 7, flags CE_I|CE_RUN (0x21),
     * run 4, i = 1; no bases, no seen */
    static const uint8_t one[] = { 0x41, 1, 0xa1, 0, 0, 0, 0, 0, 0, 0, 7,
                                   0x21, 4, 2, 0, 0 };
    struct crdt_counter *c = NULL;
    ck_assert_int_eq(crdt_counter_decode(one, sizeof(one), NULL, &c), 0);
    ASSERT_TEXT(c, "1");
    crdt_counter_free(c);
    uint8_t bad[sizeof(one)];
    memcpy(bad, one, sizeof(one));
    bad[12] = 8; /* a run that begins after its seq */
    ck_assert_int_eq(crdt_counter_decode(bad, sizeof(bad), NULL, &c),
                     DYN_EINVAL);
    memcpy(bad, one, sizeof(one));
    bad[0] = CRDT_TYPE_COUNTER; /* the encoding from before runs */
    ck_assert_int_eq(crdt_counter_decode(bad, sizeof(bad), NULL, &c),
                     DYN_EINVAL);
    /* two entries of one actor: by run, never twice the same run */
    static const uint8_t two[] = { 0x41, 2,
                                   0xa1, 0, 0, 0, 0, 0, 0, 0, 3, 0x21, 1, 2,
                                   0xa1, 0, 0, 0, 0, 0, 0, 0, 7, 0x21, 4, 2,
                                   0, 0 };
    ck_assert_int_eq(crdt_counter_decode(two, sizeof(two), NULL, &c), 0);
    ASSERT_TEXT(c, "2");
    crdt_counter_free(c);
    uint8_t bad2[sizeof(two)];
    memcpy(bad2, two, sizeof(two));
    bad2[24] = 1; /* the second run begins where the first did */
    bad2[22] = 5;
    ck_assert_int_eq(crdt_counter_decode(bad2, sizeof(bad2), NULL, &c),
                     DYN_EINVAL);
}
END_TEST

START_TEST(counter_errors_are_redis_errors)
{
    struct crdt_dot s = { 0x51, 1 }, a = { 0xa1, 2 };
    struct crdt_counter *c;
    int64_t v;
    long double f;

    crdt_counter_from_string("9223372036854775806", 19, &s, 1, NULL, &c);
    ck_assert_int_eq(crdt_counter_incrby(c, 2, &a, NULL, &v), CRDT_EOVERFLOW);
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), 0);
    ck_assert_int_eq(v, INT64_MAX);
    a.counter++;
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), CRDT_EOVERFLOW);
    ck_assert_str_eq(crdt_err_text(CRDT_EOVERFLOW),
                     "ERR increment or decrement would overflow");
    crdt_counter_free(c);

    crdt_counter_from_string("abc", 3, &s, 1, NULL, &c);
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), CRDT_ENOTINT);
    ck_assert_int_eq(crdt_counter_incrbyfloat(c, 1, &a, NULL, &f),
                     CRDT_ENOTFLOAT);
    ck_assert_str_eq(crdt_err_text(CRDT_ENOTINT),
                     "ERR value is not an integer or out of range");
    ck_assert_str_eq(crdt_err_text(CRDT_ENOTFLOAT),
                     "ERR value is not a valid float");
    crdt_counter_free(c);

    /* "05" is a string, not an integer, as in Redis */
    crdt_counter_from_string("05", 2, &s, 1, NULL, &c);
    ASSERT_TEXT(c, "05");
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), CRDT_ENOTINT);
    crdt_counter_free(c);

    crdt_counter_from_string("1e4932", 6, &s, 1, NULL, &c);
    ck_assert_int_eq(crdt_counter_incrbyfloat(c, 1e4932L, &a, NULL, &f),
                     CRDT_ENANINF);
    ck_assert_str_eq(crdt_err_text(CRDT_ENANINF),
                     "ERR increment would produce NaN or Infinity");
    ASSERT_TEXT(c, "1e4932");
    crdt_counter_free(c);
}
END_TEST

START_TEST(counter_incrbyfloat_reads_as_redis_writes_it)
{
    struct crdt_dot s = { 0x51, 1 }, a = { 0xa1, 2 };
    struct crdt_counter *c;
    long double f;
    int64_t v;

    crdt_counter_from_string("10.50", 5, &s, 1, NULL, &c);
    ck_assert_int_eq(crdt_counter_incrbyfloat(c, 0.1L, &a, NULL, &f), 0);
    ASSERT_TEXT(c, "10.6");
    crdt_counter_free(c);

    crdt_counter_from_string("5.0e3", 5, &s, 1, NULL, &c);
    ck_assert_int_eq(crdt_counter_incrbyfloat(c, 2.0e2L, &a, NULL, &f), 0);
    ASSERT_TEXT(c, "5200");
    /* a float whose text is an integer takes INCR, as Redis's "5200" does */
    a.counter++;
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &a, NULL, &v), 0);
    ck_assert_int_eq(v, 5201);
    ASSERT_TEXT(c, "5201");
    crdt_counter_free(c);

    /* INCRBYFLOAT on a missing key starts from 0 */
    c = crdt_counter_new();
    ck_assert_int_eq(crdt_counter_incrbyfloat(c, 3.5L, &a, NULL, &f), 0);
    ASSERT_TEXT(c, "3.5");
    crdt_counter_free(c);
}
END_TEST

START_TEST(counter_set_resets_what_it_saw_and_a_concurrent_incr_survives)
{
    struct crdt_dot a1 = { 0xa1, 1 }, a2 = { 0xa1, 2 }, b1 = { 0xb2, 5 };
    struct crdt_counter *a = crdt_counter_new(), *b;
    int64_t v;

    ck_assert_int_eq(crdt_counter_incrby(a, 5, &a1, NULL, &v), 0);
    b = crdt_counter_dup(a); /* B has seen the +5 */
    ck_assert_int_eq(crdt_counter_reset(a, "10", 2, &a2, 2000, NULL), 0);
    ASSERT_TEXT(a, "10");
    ck_assert_int_eq(crdt_counter_incrby(b, 3, &b1, NULL, &v), 0);
    ck_assert_int_eq(v, 8);

    struct crdt_counter *ab = crdt_counter_join(a, b);
    struct crdt_counter *ba = crdt_counter_join(b, a);
    ASSERT_TEXT(ab, "13"); /* 10, plus the +3 the SET did not see */
    ck_assert(counter_same(ab, ba));

    /* a SET that saw the +3 cancels it too */
    struct crdt_dot a3 = { 0xa1, 3 };
    ck_assert_int_eq(crdt_counter_reset(ab, "1", 1, &a3, 3000, NULL), 0);
    counter_join_into(&ab, b);
    ASSERT_TEXT(ab, "1");

    /* DEL concurrent with an INCR: the key holds the increment */
    struct crdt_dot a4 = { 0xa1, 4 }, b2 = { 0xb2, 6 };
    struct crdt_counter *d = crdt_counter_dup(ab);
    ck_assert_int_eq(crdt_counter_reset(ab, NULL, 0, &a4, 4000, NULL), 0);
    ASSERT_TEXT(ab, "(nil)");
    ck_assert_int_eq(crdt_counter_incrby(d, 4, &b2, NULL, &v), 0);
    counter_join_into(&ab, d);
    ASSERT_TEXT(ab, "4");

    crdt_counter_free(d);
    crdt_counter_free(ab);
    crdt_counter_free(ba);
    crdt_counter_free(a);
    crdt_counter_free(b);
}
END_TEST

START_TEST(counter_concurrent_sums_beyond_int64_are_kept_exactly)
{
    struct crdt_dot s = { 0x51, 1 }, a = { 0xa1, 2 }, b = { 0xb2, 2 };
    struct crdt_counter *x, *y;
    int64_t v;
    crdt_counter_from_string("9223372036854775806", 19, &s, 1, NULL, &x);
    y = crdt_counter_dup(x);
    ck_assert_int_eq(crdt_counter_incrby(x, 1, &a, NULL, &v), 0);
    ck_assert_int_eq(crdt_counter_incrby(y, 1, &b, NULL, &v), 0);
    struct crdt_counter *j = crdt_counter_join(x, y);
    ASSERT_TEXT(j, "9223372036854775808");
    struct crdt_dot a2 = { 0xa1, 3 };
    ck_assert_int_eq(crdt_counter_incrby(j, -1, &a2, NULL, &v), CRDT_ENOTINT);
    crdt_counter_free(j);
    crdt_counter_free(x);
    crdt_counter_free(y);
}
END_TEST

START_TEST(counter_limits_refuse_new_actors_and_long_bases)
{
    struct crdt_limits lim = { .max_actors = 2, .max_member_len = 4 };
    struct crdt_dot d1 = { 1, 1 }, d2 = { 2, 1 }, d3 = { 3, 1 };
    struct crdt_counter *c = crdt_counter_new(), *out;
    int64_t v;
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &d1, &lim, &v), 0);
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &d2, &lim, &v), 0);
    ck_assert_int_eq(crdt_counter_incrby(c, 1, &d3, &lim, &v), DYN_ELIMIT);
    ASSERT_TEXT(c, "2");
    d1.counter = 2;
    ck_assert_int_eq(crdt_counter_reset(c, "12345", 5, &d1, 9, &lim),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_counter_from_string("12345", 5, &d1, 9, &lim, &out),
                     DYN_ELIMIT);
    struct dbuf b;
    dbuf_init(&b);
    crdt_counter_encode(c, &b);
    lim.max_actors = 1;
    ck_assert_int_eq(crdt_counter_decode((uint8_t *)b.p, b.len, &lim, &out),
                     DYN_ELIMIT);
    dbuf_free(&b);
    crdt_counter_free(c);
}
END_TEST

/* ---- counters: random histories ---------------------------------------------- */

struct incr_rec {
    struct crdt_dot dot;
    int64_t by;
};

struct reset_rec {
    struct crdt_dot dot;
    uint64_t ts;
    int64_t value;
    int absent;
    uint64_t saw_inc, saw_res; /* what its state held: bit i = op i */
};

struct counter_hist {
    struct crdt_counter *rep[NREP];
    struct crdt_counter *pool[POOL];
    uint32_t npool;
    struct crdt_counter **updates; /* the state after each op */
    uint32_t nupdates, capupdates;
    struct incr_rec *inc;
    uint32_t ninc, capinc;
    struct reset_rec *res;
    uint32_t nres, capres;
    int64_t base0;
    int has_base0;
    /* per replica, the increments and resets its state holds (bit i: op
     * i), exactly: a replica that forgot its state knows none */
    uint64_t know_inc[NREP], know_res[NREP];
    /* per replica, the dot of its latest counter op: its node's memory
     * (db_counter_last), which outlives a forgotten state */
    uint64_t last_op[NREP];
    int forgot; /* some replica forgot its state */
};

static void hist_keep(struct counter_hist *h, struct rng *r,
                      const struct crdt_counter *c)
{
    if (h->nupdates == h->capupdates) {
        h->capupdates = h->capupdates ? h->capupdates * 2 : 64;
        h->updates = dyn_realloc(h->updates,
                                 h->capupdates * sizeof(*h->updates));
    }
    h->updates[h->nupdates++] = crdt_counter_dup(c);
    if (h->npool < POOL)
        h->pool[h->npool++] = crdt_counter_dup(c);
    else if (rng_below(r, 4) == 0) {
        uint32_t k = rng_below(r, POOL);
        crdt_counter_free(h->pool[k]);
        h->pool[k] = crdt_counter_dup(c);
    }
}

/* The state every replica starts from: nothing, or the first string. */
static struct crdt_counter *counter_start(const struct counter_hist *h)
{
    struct crdt_dot s0 = { 0x5eed, 1 };
    struct crdt_counter *c = NULL;
    if (!h->has_base0)
        return crdt_counter_new();
    char num[32];
    int n = dyn_ll2str(num, h->base0);
    ck_assert_int_eq(
        crdt_counter_from_string(num, (size_t)n, &s0, 1, NULL, &c), 0);
    return c;
}

/*
 * One history.  floats: INCRBYFLOAT ops too (then no oracle: long double
 * sums depend on grouping, only convergence and the laws are checked).
 * forget: a replica may also lose its state and go on from the first one
 * with the same actor (a node that dropped its copy of the key, then
 * coordinates for it again), so its next op meets a state without its
 * entries, or, after a join, with an older version of them; it tells the
 * state its latest op (crdt_counter_own_last), as the node does.  Resets
 * then take increasing times, as a node's clock gives (docs/TYPES.md 5.1:
 * what the bases' context assumes).
 */
static void counter_history(struct rng *r, struct counter_hist *h, int floats,
                            int forget)
{
    struct dots d;
    memset(&d, 0, sizeof(d));
    memset(h, 0, sizeof(*h));
    h->has_base0 = rng_below(r, 2);
    h->base0 = (int64_t)rng_below(r, 2000) - 1000;
    for (int k = 0; k < NREP; k++)
        h->rep[k] = counter_start(h);
    for (int step = 0; step < STEPS; step++) {
        int k = (int)rng_below(r, NREP);
        uint32_t op = rng_below(r, 100);
        struct crdt_counter *c = h->rep[k];
        if (forget && rng_below(r, 12) == 0) {
            crdt_counter_free(h->rep[k]);
            h->rep[k] = counter_start(h);
            h->know_inc[k] = h->know_res[k] = 0;
            h->forgot = 1;
            continue;
        }
        if (op < 63)
            crdt_counter_own_last(c, actors[k], h->last_op[k]);
        if (op < 45) {
            struct crdt_dot dot = next_dot(r, &d, k);
            int64_t by = (int64_t)rng_below(r, 101) - 50, v;
            int rc = crdt_counter_incrby(c, by, &dot, NULL, &v);
            if (floats && rc == CRDT_ENOTINT)
                continue; /* a fraction is no integer: nothing happened */
            ck_assert_int_eq(rc, 0);
            if (h->ninc == h->capinc) {
                h->capinc = h->capinc ? h->capinc * 2 : 64;
                h->inc = dyn_realloc(h->inc, h->capinc * sizeof(*h->inc));
            }
            ck_assert_uint_lt(h->ninc, 64);
            h->last_op[k] = dot.counter;
            h->know_inc[k] |= 1ull << h->ninc;
            h->inc[h->ninc].dot = dot;
            h->inc[h->ninc++].by = by;
        } else if (op < 55 && floats) {
            struct crdt_dot dot = next_dot(r, &d, k);
            long double by = ((long double)rng_below(r, 2001) - 1000) / 8, v;
            int rc = crdt_counter_incrbyfloat(c, by, &dot, NULL, &v);
            ck_assert(rc == 0);
        } else if (op < 63) {
            struct crdt_dot dot = next_dot(r, &d, k);
            struct reset_rec rr;
            memset(&rr, 0, sizeof(rr));
            rr.dot = dot;
            /* ties happen; with forget, later resets take later times */
            rr.ts = forget ? 1000 + (uint64_t)step : 1000 + rng_below(r, 8);
            rr.absent = rng_below(r, 4) == 0;
            rr.value = (int64_t)rng_below(r, 2000) - 1000;
            rr.saw_inc = h->know_inc[k];
            rr.saw_res = h->know_res[k];
            char num[32];
            int n = dyn_ll2str(num, rr.value);
            ck_assert_int_eq(crdt_counter_reset(c, rr.absent ? NULL : num,
                                                (size_t)n, &dot, rr.ts, NULL),
                             0);
            if (h->nres == h->capres) {
                h->capres = h->capres ? h->capres * 2 : 16;
                h->res = dyn_realloc(h->res, h->capres * sizeof(*h->res));
            }
            ck_assert_uint_lt(h->nres, 64);
            h->last_op[k] = dot.counter;
            h->know_res[k] |= 1ull << h->nres;
            h->res[h->nres++] = rr;
        } else {
            int from = (int)rng_below(r, NREP);
            counter_join_into(&h->rep[k], h->rep[from]);
            h->know_inc[k] |= h->know_inc[from];
            h->know_res[k] |= h->know_res[from];
        }
        hist_keep(h, r, h->rep[k]);
    }
}

static void counter_hist_free(struct counter_hist *h)
{
    for (int k = 0; k < NREP; k++)
        crdt_counter_free(h->rep[k]);
    for (uint32_t k = 0; k < h->npool; k++)
        crdt_counter_free(h->pool[k]);
    for (uint32_t k = 0; k < h->nupdates; k++)
        crdt_counter_free(h->updates[k]);
    dyn_free(h->updates);
    dyn_free(h->inc);
    dyn_free(h->res);
}

/* Every update, delivered in a random order with duplicates. */
static struct crdt_counter *counter_deliver(struct rng *r,
                                            const struct counter_hist *h)
{
    uint32_t *ix = dyn_malloc(h->nupdates * sizeof(*ix));
    fisher_yates(r, ix, h->nupdates);
    struct crdt_counter *c = crdt_counter_new();
    for (uint32_t k = 0; k < h->nupdates; k++) {
        counter_join_into(&c, h->updates[ix[k]]);
        if (rng_below(r, 5) == 0) /* a duplicate, later */
            counter_join_into(&c, h->updates[ix[rng_below(r, k + 1)]]);
    }
    dyn_free(ix);
    return c;
}

/* a ⊔ b = b ⊔ a, a ⊔ a = a, (a ⊔ b) ⊔ c = a ⊔ (b ⊔ c), byte for byte. */
static void check_counter_laws(const struct crdt_counter *a,
                               const struct crdt_counter *b,
                               const struct crdt_counter *c, int it)
{
    struct crdt_counter *ab = crdt_counter_join(a, b),
                        *ba = crdt_counter_join(b, a),
                        *aa = crdt_counter_join(a, a),
                        *ab_c = crdt_counter_join(ab, c),
                        *bc = crdt_counter_join(b, c),
                        *a_bc = crdt_counter_join(a, bc);
    if (!counter_same(ab, ba) || !counter_same(aa, a) ||
        !counter_same(ab_c, a_bc))
        ck_abort_msg("counter join law broken: history %d", it);
    crdt_counter_free(ab);
    crdt_counter_free(ba);
    crdt_counter_free(aa);
    crdt_counter_free(ab_c);
    crdt_counter_free(bc);
    crdt_counter_free(a_bc);
}

START_TEST(counter_join_is_a_semilattice)
{
    struct rng r = { SEED };
    for (int it = 0; it < HISTORIES; it++) {
        struct counter_hist h;
        counter_history(&r, &h, it % 2, it % 3 == 0);
        for (int t = 0; t < 40; t++) {
            check_counter_laws(h.pool[rng_below(&r, h.npool)],
                               h.pool[rng_below(&r, h.npool)],
                               h.pool[rng_below(&r, h.npool)], it);
        }
        counter_hist_free(&h);
    }
}
END_TEST

START_TEST(counter_replicas_converge_whatever_the_delivery_order)
{
    struct rng r = { SEED + 1 };
    for (int it = 0; it < HISTORIES; it++) {
        struct counter_hist h;
        counter_history(&r, &h, it % 2, it % 3 == 0);
        struct crdt_counter *x = counter_deliver(&r, &h);
        for (int t = 0; t < 3; t++) {
            struct crdt_counter *y = counter_deliver(&r, &h);
            if (!counter_same(x, y))
                ck_abort_msg("diverged: seed %llx history %d",
                             (unsigned long long)SEED + 1, it);
            crdt_counter_free(y);
        }
        /* and the replicas' own states, joined, are the same (unless
         * one forgot what only it held) */
        struct crdt_counter *z = crdt_counter_new();
        for (int k = NREP - 1; k >= 0; k--)
            counter_join_into(&z, h.rep[k]);
        ck_assert(h.forgot || counter_same(x, z));
        crdt_counter_free(x);
        crdt_counter_free(z);
        counter_hist_free(&h);
    }
}
END_TEST

START_TEST(counter_loses_no_acknowledged_increment)
{
    struct rng r = { SEED + 2 };
    for (int it = 0; it < HISTORIES; it++) {
        struct counter_hist h;
        counter_history(&r, &h, 0, it % 2);
        struct crdt_counter *x = counter_deliver(&r, &h);

        /* The oracle: the live bases are the resets no other reset saw,
         * the highest (ts, actor, counter) wins; an increment counts
         * unless a reset saw it (its state held it).  Half the histories
         * have replicas that forget their state. */
        int have = h.has_base0; /* every reset saw the first string */
        int64_t base = h.has_base0 ? h.base0 : 0;
        const struct reset_rec *win = NULL;
        for (uint32_t i = 0; i < h.nres; i++) {
            int seen = 0;
            for (uint32_t j = 0; j < h.nres && !seen; j++)
                seen = j != i && (h.res[j].saw_res >> i & 1);
            if (seen)
                continue;
            const struct reset_rec *c = &h.res[i];
            if (!win || c->ts > win->ts ||
                (c->ts == win->ts &&
                 (c->dot.actor > win->dot.actor ||
                  (c->dot.actor == win->dot.actor &&
                   c->dot.counter > win->dot.counter))))
                win = c;
        }
        if (win) {
            have = !win->absent;
            base = win->absent ? 0 : win->value;
        }
        int64_t live = 0;
        for (uint32_t i = 0; i < h.ninc; i++) {
            int seen = 0;
            for (uint32_t j = 0; j < h.nres && !seen; j++)
                seen = h.res[j].saw_inc >> i & 1;
            if (!seen)
                live += h.inc[i].by;
        }
        /* No live sum reads as the base (absent: no key); else a number. */
        char want[64], got[64];
        if (live == 0 && !have)
            snprintf(want, sizeof(want), "(nil)");
        else
            snprintf(want, sizeof(want), "%lld", (long long)(base + live));
        counter_text(x, got, sizeof(got));
        if (strcmp(want, got) != 0)
            ck_abort_msg("seed %llx history %d: want %s got %s",
                         (unsigned long long)SEED + 2, it, want, got);
        crdt_counter_free(x);
        counter_hist_free(&h);
    }
}
END_TEST

/* ---- decoders under fuzzing ---------------------------------------------- */

typedef int (*decode_fn)(const uint8_t *p, size_t len,
                         const struct crdt_limits *lim, void **out);
typedef void (*encode_fn)(const void *s, struct dbuf *out);
typedef void (*free_fn)(void *s);
typedef void *(*join_fn)(const void *a, const void *b);

static int dec_counter(const uint8_t *p, size_t len,
                       const struct crdt_limits *lim, void **out)
{
    return crdt_counter_decode(p, len, lim, (struct crdt_counter **)out);
}

static void enc_counter(const void *s, struct dbuf *out)
{
    crdt_counter_encode(s, out);
}

static void free_counter(void *s)
{
    crdt_counter_free(s);
}

static void *join_counter(const void *a, const void *b)
{
    return crdt_counter_join(a, b);
}

static int dec_set(const uint8_t *p, size_t len,
                   const struct crdt_limits *lim, void **out)
{
    return crdt_set_decode(p, len, lim, (struct crdt_set **)out);
}

static void enc_set(const void *s, struct dbuf *out)
{
    crdt_set_encode(s, out);
}

static void free_set(void *s)
{
    crdt_set_free(s);
}

static void *join_set(const void *a, const void *b)
{
    return crdt_set_join(a, b);
}

/* Bytes of a state, for comparing. */
static void enc_into(encode_fn enc, const void *s, struct dbuf *b)
{
    dbuf_reset(b);
    enc(s, b);
}

/*
 * A state that decoded from a mutant is valid but may hold what no honest
 * history makes.  Joining it with the good state must not crash, must
 * still commute and be idempotent, and must give a state that decodes.
 */
static void join_stranger(const void *stranger, const void *good,
                          decode_fn dec, encode_fn enc, free_fn fr,
                          join_fn join)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    void *sg = join(stranger, good), *gs = join(good, stranger);
    void *ss = join(stranger, stranger), *back = NULL;
    enc_into(enc, sg, &x);
    enc_into(enc, gs, &y);
    ck_assert(x.len == y.len && memcmp(x.p, y.p, x.len) == 0);
    ck_assert_int_eq(dec((const uint8_t *)x.p, x.len, NULL, &back), 0);
    fr(back);
    enc_into(enc, ss, &x);
    enc_into(enc, stranger, &y);
    ck_assert(x.len == y.len && memcmp(x.p, y.p, x.len) == 0);
    fr(sg);
    fr(gs);
    fr(ss);
    dbuf_free(&x);
    dbuf_free(&y);
}

/*
 * Round trip, every truncation refused, and FUZZ random mutations (byte
 * flips, inserted and deleted bytes, varint-looking bytes) decoded without
 * a crash; what decodes re-encodes to the same bytes.  Returns how many
 * mutants decoded.
 */
static uint32_t fuzz_decoder(struct rng *r, const struct dbuf *good,
                             decode_fn dec, encode_fn enc, free_fn fr,
                             join_fn join)
{
    void *s = NULL, *g = NULL;
    struct dbuf again;
    dbuf_init(&again);
    ck_assert_int_eq(dec((const uint8_t *)good->p, good->len, NULL, &s), 0);
    enc(s, &again);
    ck_assert_uint_eq(again.len, good->len);
    ck_assert(memcmp(again.p, good->p, good->len) == 0);
    g = s;
    for (size_t cut = 0; cut < good->len; cut++) {
        uint8_t *copy = dyn_malloc(cut + 1); /* exact size: ASan sees over-reads */
        memcpy(copy, good->p, cut);
        ck_assert_int_ne(dec(copy, cut, NULL, &s), 0);
        ck_assert_ptr_null(s);
        dyn_free(copy);
    }
    uint32_t accepted = 0;
    for (int it = 0; it < FUZZ / 4; it++) {
        size_t n = good->len + 2;
        uint8_t *m = dyn_malloc(n);
        memcpy(m, good->p, good->len);
        size_t len = good->len;
        int edits = 1 + (int)rng_below(r, 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rng_below(r, (uint32_t)len);
            switch (rng_below(r, 4)) {
            case 0:
                m[at] ^= (uint8_t)(1u << rng_below(r, 8));
                break;
            case 1:
                m[at] = (uint8_t)rng_next(r);
                break;
            case 2:
                memmove(m + at, m + at + 1, len - at - 1);
                len--;
                break;
            default:
                if (len < n) {
                    memmove(m + at + 1, m + at, len - at);
                    m[at] = rng_below(r, 2) ? 0x80 : (uint8_t)rng_next(r);
                    len++;
                }
            }
        }
        uint8_t *exact = dyn_malloc(len ? len : 1);
        memcpy(exact, m, len);
        dyn_free(m);
        if (dec(exact, len, NULL, &s) == 0) {
            dbuf_reset(&again);
            enc(s, &again);
            ck_assert_uint_eq(again.len, len);
            ck_assert(memcmp(again.p, exact, len) == 0);
            join_stranger(s, g, dec, enc, fr, join);
            fr(s);
            accepted++;
        } else {
            ck_assert_ptr_null(s);
        }
        dyn_free(exact);
    }
    fr(g);
    dbuf_free(&again);
    return accepted;
}

START_TEST(counter_decode_rejects_truncated_and_corrupt_input)
{
    struct rng r = { SEED + 3 };
    struct dbuf b;
    uint32_t accepted = 0;
    dbuf_init(&b);
    for (int it = 0; it < 8; it++) {
        struct counter_hist h;
        counter_history(&r, &h, 1, 0);
        for (int k = 0; k < NREP; k++) {
            cenc(h.rep[k], &b);
            accepted += fuzz_decoder(&r, &b, dec_counter, enc_counter,
                                     free_counter, join_counter);
        }
        counter_hist_free(&h);
    }
    /* hand-made wrongs */
    static const uint8_t wrong_tag[] = { CRDT_TYPE_SET, 0, 0 };
    static const uint8_t zero_seq[] = { CRDT_TYPE_COUNTER, 1, 1, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0 };
    struct crdt_counter *c;
    ck_assert_int_eq(crdt_counter_decode(wrong_tag, sizeof(wrong_tag), NULL,
                                         &c), DYN_EINVAL);
    ck_assert_int_eq(crdt_counter_decode(zero_seq, sizeof(zero_seq), NULL,
                                         &c), DYN_EINVAL);
    dbuf_free(&b);
    /* some mutants are valid states: the joins with them ran */
    ck_assert_uint_gt(accepted, 0);
    fprintf(stderr, "counter fuzz: %u mutants decoded\n", accepted);
}
END_TEST

/* ---- sets: a textbook ORSWOT beside the library ----------------------------- */

static const char *const names[] = {
    "", "a", "b", "ab", "ba", "member:1", "member:10", "\x00", "\xff\x00",
    "zz", "longer member with spaces", "a\x00b",
};
#define NNAMES 12
static const size_t name_len[NNAMES] = { 0, 1, 1, 2, 2, 8, 9, 1, 2, 2,
                                         25, 3 };

/* Full dot sets: seen dots, and the live (member, dot) pairs. */
struct ref {
    uint32_t nseen, nlive;
    struct crdt_dot seen[STEPS * 2 + 8];
    struct {
        int m;
        struct crdt_dot d;
    } live[STEPS * 2 + 8];
};

static int ref_seen(const struct ref *x, const struct crdt_dot *d)
{
    for (uint32_t k = 0; k < x->nseen; k++)
        if (x->seen[k].actor == d->actor && x->seen[k].counter == d->counter)
            return 1;
    return 0;
}

static int ref_live(const struct ref *x, int m, const struct crdt_dot *d)
{
    for (uint32_t k = 0; k < x->nlive; k++)
        if (x->live[k].m == m && x->live[k].d.actor == d->actor &&
            x->live[k].d.counter == d->counter)
            return 1;
    return 0;
}

/* Drops m's live dots, marking each superseded. */
static void ref_drop(struct ref *x, int m, uint8_t *superseded,
                     const struct crdt_dot *adds, uint32_t nadds)
{
    uint32_t w = 0;
    for (uint32_t k = 0; k < x->nlive; k++) {
        if (x->live[k].m != m) {
            x->live[w++] = x->live[k];
            continue;
        }
        for (uint32_t a = 0; a < nadds; a++)
            if (adds[a].actor == x->live[k].d.actor &&
                adds[a].counter == x->live[k].d.counter)
                superseded[a] = 1;
    }
    x->nlive = w;
}

static void ref_join(struct ref *dst, const struct ref *src)
{
    struct ref out;
    out.nseen = out.nlive = 0;
    for (uint32_t k = 0; k < dst->nlive; k++)
        if (ref_live(src, dst->live[k].m, &dst->live[k].d) ||
            !ref_seen(src, &dst->live[k].d))
            out.live[out.nlive++] = dst->live[k];
    for (uint32_t k = 0; k < src->nlive; k++)
        if (!ref_live(dst, src->live[k].m, &src->live[k].d) &&
            !ref_seen(dst, &src->live[k].d))
            out.live[out.nlive++] = src->live[k];
    for (uint32_t k = 0; k < dst->nseen; k++)
        out.seen[out.nseen++] = dst->seen[k];
    for (uint32_t k = 0; k < src->nseen; k++)
        if (!ref_seen(dst, &src->seen[k]))
            out.seen[out.nseen++] = src->seen[k];
    *dst = out;
}

static int ref_has(const struct ref *x, int m)
{
    for (uint32_t k = 0; k < x->nlive; k++)
        if (x->live[k].m == m)
            return 1;
    return 0;
}

static void assert_same_members(const struct crdt_set *s, const struct ref *x,
                                const char *what, int it, int step)
{
    uint32_t n = 0;
    for (int m = 0; m < NNAMES; m++) {
        int want = ref_has(x, m);
        int got = crdt_set_contains(s, names[m], name_len[m]);
        if (want != got)
            ck_abort_msg("%s: history %d step %d member %d: want %d got %d",
                         what, it, step, m, want, got);
        n += (uint32_t)want;
    }
    ck_assert_uint_eq(crdt_set_card(s), n);
}

static void sjoin_into(struct crdt_set **dst, const struct crdt_set *src)
{
    struct crdt_set *j = crdt_set_join(*dst, src);
    crdt_set_free(*dst);
    *dst = j;
}

static int set_same(const struct crdt_set *a, const struct crdt_set *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    crdt_set_encode(a, &x);
    crdt_set_encode(b, &y);
    int same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return same;
}

/* The same three laws for sets. */
static void check_set_laws(const struct crdt_set *a, const struct crdt_set *b,
                           const struct crdt_set *c, int it)
{
    struct crdt_set *ab = crdt_set_join(a, b), *ba = crdt_set_join(b, a),
                    *aa = crdt_set_join(a, a), *ab_c = crdt_set_join(ab, c),
                    *bc = crdt_set_join(b, c), *a_bc = crdt_set_join(a, bc);
    if (!set_same(ab, ba) || !set_same(aa, a) || !set_same(ab_c, a_bc))
        ck_abort_msg("set join law broken: history %d", it);
    crdt_set_free(ab);
    crdt_set_free(ba);
    crdt_set_free(aa);
    crdt_set_free(ab_c);
    crdt_set_free(bc);
    crdt_set_free(a_bc);
}

struct set_hist {
    struct crdt_set *rep[NREP];
    struct ref ref[NREP];
    struct crdt_set *pool[POOL];
    uint32_t npool;
    struct crdt_set **updates;
    uint32_t nupdates, capupdates;
    struct crdt_dot adds[STEPS];
    int add_member[STEPS];
    uint8_t superseded[STEPS];
    uint32_t nadds;
};

static void set_hist_free(struct set_hist *h)
{
    for (int k = 0; k < NREP; k++)
        crdt_set_free(h->rep[k]);
    for (uint32_t k = 0; k < h->npool; k++)
        crdt_set_free(h->pool[k]);
    for (uint32_t k = 0; k < h->nupdates; k++)
        crdt_set_free(h->updates[k]);
    dyn_free(h->updates);
}

/* One step on replica k (add, remove or join), on the library's state and
 * on the reference beside it. */
static void set_step(struct rng *r, struct set_hist *h, struct dots *d,
                     int it, int step)
{
    int k = (int)rng_below(r, NREP);
    uint32_t op = rng_below(r, 100);
    int m = (int)rng_below(r, NNAMES);
    if (op < 40) {
        struct crdt_dot dot = next_dot(r, d, k);
        int added;
        ck_assert_int_eq(crdt_set_add(h->rep[k], names[m], name_len[m], &dot,
                                      NULL, &added),
                         0);
        ck_assert_int_eq(added, !ref_has(&h->ref[k], m));
        ref_drop(&h->ref[k], m, h->superseded, h->adds, h->nadds);
        h->ref[k].live[h->ref[k].nlive].m = m;
        h->ref[k].live[h->ref[k].nlive++].d = dot;
        h->ref[k].seen[h->ref[k].nseen++] = dot;
        h->adds[h->nadds] = dot;
        h->add_member[h->nadds++] = m;
    } else if (op < 65) {
        int was = crdt_set_remove(h->rep[k], names[m], name_len[m]);
        ck_assert_int_eq(was, ref_has(&h->ref[k], m));
        ref_drop(&h->ref[k], m, h->superseded, h->adds, h->nadds);
    } else {
        int from = (int)rng_below(r, NREP);
        sjoin_into(&h->rep[k], h->rep[from]);
        ref_join(&h->ref[k], &h->ref[from]);
    }
    assert_same_members(h->rep[k], &h->ref[k], "vs reference", it, step);
    if (h->nupdates == h->capupdates) {
        h->capupdates = h->capupdates ? h->capupdates * 2 : 64;
        h->updates = dyn_realloc(h->updates,
                                 h->capupdates * sizeof(*h->updates));
    }
    h->updates[h->nupdates++] = crdt_set_dup(h->rep[k]);
    if (h->npool < POOL) {
        h->pool[h->npool++] = crdt_set_dup(h->rep[k]);
    } else if (rng_below(r, 4) == 0) {
        uint32_t p = rng_below(r, POOL);
        crdt_set_free(h->pool[p]);
        h->pool[p] = crdt_set_dup(h->rep[k]);
    }
}

/* A history with empty replicas and no dot issued yet. */
static void set_hist_start(struct set_hist *h, struct dots *d)
{
    memset(d, 0, sizeof(*d));
    memset(h, 0, sizeof(*h));
    for (int k = 0; k < NREP; k++)
        h->rep[k] = crdt_set_new();
}

static void set_history(struct rng *r, struct set_hist *h, int it)
{
    struct dots d;
    set_hist_start(h, &d);
    for (int step = 0; step < STEPS; step++)
        set_step(r, h, &d, it, step);
}

static struct crdt_set *set_deliver(struct rng *r, const struct set_hist *h)
{
    uint32_t *ix = dyn_malloc(h->nupdates * sizeof(*ix));
    fisher_yates(r, ix, h->nupdates);
    struct crdt_set *s = crdt_set_new();
    for (uint32_t k = 0; k < h->nupdates; k++) {
        sjoin_into(&s, h->updates[ix[k]]);
        if (rng_below(r, 5) == 0)
            sjoin_into(&s, h->updates[ix[rng_below(r, k + 1)]]);
    }
    dyn_free(ix);
    return s;
}

/* ---- sets: semantics ---------------------------------------------------------- */

START_TEST(set_lower_bound_finds_where_a_prefix_starts)
{
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = { 0xa1, 0 };
    const char *m[] = { "b", "ab", "abc", "a" };
    int added;
    for (int k = 0; k < 4; k++) {
        d.counter++;
        ck_assert_int_eq(crdt_set_add(s, m[k], strlen(m[k]), &d, NULL, &added),
                         0);
    }
    /* Order: a ab abc b. */
    ck_assert_uint_eq(crdt_set_lower_bound(s, "", 0), 0);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "ab", 2), 1);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "abb", 3), 2);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "b", 1), 3);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "c", 1), 4);
    crdt_set_free(s);
}
END_TEST

START_TEST(set_concurrent_add_wins_over_remove)
{
    struct crdt_set *a = crdt_set_new(), *b;
    struct crdt_dot a1 = { 0xa1, 1 }, a2 = { 0xa1, 2 };
    int added;
    ck_assert_int_eq(crdt_set_add(a, "x", 1, &a1, NULL, &added), 0);
    ck_assert_int_eq(added, 1);
    b = crdt_set_dup(a);
    ck_assert_int_eq(crdt_set_remove(b, "x", 1), 1); /* B saw a1 */
    ck_assert_int_eq(crdt_set_add(a, "x", 1, &a2, NULL, &added), 0);
    ck_assert_int_eq(added, 0); /* already a member: SADD replies 0 */
    struct crdt_set *ab = crdt_set_join(a, b), *ba = crdt_set_join(b, a);
    ck_assert(crdt_set_contains(ab, "x", 1)); /* a2 was not observed */
    ck_assert(set_same(ab, ba));
    /* a remove that saw every add wins */
    ck_assert_int_eq(crdt_set_remove(ab, "x", 1), 1);
    sjoin_into(&ab, a);
    sjoin_into(&ab, b);
    ck_assert(!crdt_set_contains(ab, "x", 1));
    ck_assert_uint_eq(crdt_set_card(ab), 0);
    /* and left nothing behind for x: no tombstone */
    ck_assert_uint_eq(crdt_set_ndots(ab), 0);
    crdt_set_free(a);
    crdt_set_free(b);
    crdt_set_free(ab);
    crdt_set_free(ba);
}
END_TEST

START_TEST(set_concurrent_removes_of_concurrent_adds_remove_both)
{
    /* X and Y add m concurrently; R1 saw only X's add and removes it, R2
     * saw only Y's and removes it.  Each of R1+Y and R2+X still shows m
     * (the other add was not observed there), but together every add was
     * observed by a remove: m is gone.  This is why compaction waits for
     * equal states, not only for clocks that cover the adds. */
    struct crdt_dot dx = { 0xa1, 1 }, dy = { 0xb2, 1 };
    struct crdt_set *x = crdt_set_new(), *y = crdt_set_new();
    int added;
    crdt_set_add(x, "m", 1, &dx, NULL, &added);
    crdt_set_add(y, "m", 1, &dy, NULL, &added);
    struct crdt_set *r1 = crdt_set_dup(x), *r2 = crdt_set_dup(y);
    ck_assert_int_eq(crdt_set_remove(r1, "m", 1), 1);
    ck_assert_int_eq(crdt_set_remove(r2, "m", 1), 1);
    struct crdt_set *a = crdt_set_join(r1, y), *b = crdt_set_join(r2, x);
    ck_assert(crdt_set_contains(a, "m", 1));
    ck_assert(crdt_set_contains(b, "m", 1));
    struct crdt_set *ab = crdt_set_join(a, b);
    ck_assert(!crdt_set_contains(ab, "m", 1));
    crdt_set_free(x);
    crdt_set_free(y);
    crdt_set_free(r1);
    crdt_set_free(r2);
    crdt_set_free(a);
    crdt_set_free(b);
    crdt_set_free(ab);
}
END_TEST

START_TEST(set_a_remove_beside_a_compacted_copy_stays_removed)
{
    /* The chaos suite's finding (TYPES.md section 9): the replicas of a
     * key are equal, one compacts (its anti-entropy round found them
     * equal), another takes SREM m on its uncompacted copy.  The key's
     * context has gaps (counters are node-wide), so the remover's clock
     * stops below the compacted copy's stable clock although it has seen
     * every dot that copy has.  The join must honour the remove.  (A
     * cluster's compaction keeps the context: crdt_set_compact_marks.) */
    struct crdt_dot dm = { 0xa1, 5 }, dx = { 0xb2, 3 }, dy = { 0xa1, 9 };
    struct crdt_set *p = crdt_set_new();
    int added;
    crdt_set_add(p, "m", 1, &dm, NULL, &added);
    crdt_set_add(p, "x", 1, &dx, NULL, &added);
    crdt_set_add(p, "y", 1, &dy, NULL, &added);
    ck_assert_uint_gt(crdt_set_ncloud(p), 0);
    struct crdt_set *c = crdt_set_dup(p), *rm = crdt_set_dup(p);
    struct vclock seen;
    vclock_init(&seen);
    crdt_set_seen(c, &seen);
    ck_assert_int_eq(crdt_set_compact_marks(c, &seen), 0);
    ck_assert_int_eq(crdt_set_remove(rm, "m", 1), 1);
    struct crdt_set *j1 = crdt_set_join(c, rm), *j2 = crdt_set_join(rm, c);
    ck_assert(!crdt_set_contains(j1, "m", 1));
    ck_assert(!crdt_set_contains(j2, "m", 1));
    ck_assert(crdt_set_contains(j1, "x", 1) && crdt_set_contains(j1, "y", 1));
    ck_assert(set_same(j1, j2));
    /* the remover compacting later (its own round) changes nothing */
    struct crdt_set *rc = crdt_set_dup(rm);
    crdt_set_seen(rc, &seen);
    ck_assert_int_eq(crdt_set_compact_marks(rc, &seen), 0);
    struct crdt_set *j3 = crdt_set_join(c, rc);
    ck_assert(!crdt_set_contains(j3, "m", 1));
    vclock_free(&seen);
    crdt_set_free(p);
    crdt_set_free(c);
    crdt_set_free(rm);
    crdt_set_free(rc);
    crdt_set_free(j1);
    crdt_set_free(j2);
    crdt_set_free(j3);
}
END_TEST

START_TEST(set_a_late_state_that_never_saw_a_marked_add_keeps_it)
{
    /* The other side of the mark rule: node a1 added m and y, the
     * replicas compacted them into marks; a1 dropped its copy (the ring
     * moved the key away) and, as a stand-in, adds z on an empty copy,
     * claiming the dots it gave other keys since its last op on this one
     * (10..11).  Its state reaches every stable counter (a1:12 above
     * a1:9) yet never saw a1:5 or a1:9: the join keeps m and y. */
    struct crdt_dot dm = { 0xa1, 5 }, dy = { 0xa1, 9 }, dz = { 0xa1, 12 };
    struct crdt_set *c = crdt_set_new(), *h = crdt_set_new();
    int added;
    crdt_set_add(c, "m", 1, &dm, NULL, &added);
    crdt_set_add(c, "y", 1, &dy, NULL, &added);
    struct vclock seen;
    vclock_init(&seen);
    crdt_set_seen(c, &seen);
    ck_assert_int_eq(crdt_set_compact_marks(c, &seen), 0);
    ck_assert_uint_eq(crdt_set_ndots(c), 0);
    ck_assert_int_eq(crdt_set_claim(h, 0xa1, 10, 11), 0);
    crdt_set_add(h, "z", 1, &dz, NULL, &added);
    struct crdt_set *j1 = crdt_set_join(c, h), *j2 = crdt_set_join(h, c);
    ck_assert(crdt_set_contains(j1, "m", 1) && crdt_set_contains(j1, "y", 1));
    ck_assert(crdt_set_contains(j1, "z", 1));
    ck_assert(set_same(j1, j2));
    /* and a remove that did see them still wins over the marks */
    struct crdt_set *r = crdt_set_dup(j1);
    ck_assert_int_eq(crdt_set_remove(r, "m", 1), 1);
    struct crdt_set *j3 = crdt_set_join(c, r);
    ck_assert(!crdt_set_contains(j3, "m", 1) && crdt_set_contains(j3, "y", 1));
    vclock_free(&seen);
    crdt_set_free(c);
    crdt_set_free(h);
    crdt_set_free(j1);
    crdt_set_free(j2);
    crdt_set_free(r);
    crdt_set_free(j3);
}
END_TEST

START_TEST(set_metadata_per_member_is_one_dot_then_one_byte)
{
    /* 3000 members of 10 bytes from three actors with node-wide counters
     * (gaps): before compaction a member costs its length byte, its bytes,
     * one byte of dot count and one dot (index + counter); after it, one
     * byte of mark instead of the dot, and the cloud is empty. */
    struct crdt_set *s = crdt_set_new();
    uint64_t next[3] = { 1000000, 2000000, 3000000 };
    char m[16];
    int added;
    for (int i = 0; i < 3000; i++) {
        struct crdt_dot d = { actors[i % 3], next[i % 3] += 2 };
        snprintf(m, sizeof(m), "member%04d", i);
        ck_assert_int_eq(crdt_set_add(s, m, 10, &d, NULL, &added), 0);
    }
    ck_assert_uint_eq(crdt_set_ndots(s), 3000);
    ck_assert_uint_gt(crdt_set_ncloud(s), 0);
    struct dbuf b;
    dbuf_init(&b);
    crdt_set_encode(s, &b);
    size_t before = b.len;
    /* 1 + 10 + 1 + (1 + 4): a counter near 2^21 takes 4 varint bytes */
    ck_assert_uint_le(before, 3000 * 17 + 64 + 3000 * 5);
    struct vclock st;
    vclock_init(&st);
    for (int k = 0; k < 3; k++)
        vclock_set(&st, actors[k], next[k], 0);
    ck_assert_int_eq(crdt_set_compact(s, &st), 0);
    ck_assert_uint_eq(crdt_set_ndots(s), 0);
    ck_assert_uint_eq(crdt_set_ncloud(s), 0);
    ck_assert_uint_eq(crdt_set_card(s), 3000);
    dbuf_reset(&b);
    crdt_set_encode(s, &b);
    ck_assert_uint_le(b.len, 3000 * 12 + 64); /* len, bytes, mark */
    fprintf(stderr, "set of 3000 x 10 bytes: %zu bytes, %zu compacted\n",
            before, b.len);
    vclock_free(&st);
    dbuf_free(&b);
    crdt_set_free(s);
}
END_TEST

START_TEST(set_refuses_a_seen_dot_and_keeps_limits)
{
    struct crdt_limits lim = { .max_members = 2, .max_member_len = 3 };
    struct crdt_set *s = crdt_set_new(), *out;
    struct crdt_dot d = { 7, 1 };
    int added;
    ck_assert_int_eq(crdt_set_add(s, "a", 1, &d, &lim, &added), 0);
    ck_assert_int_eq(crdt_set_add(s, "b", 1, &d, &lim, &added), CRDT_ESTALE);
    d.counter = 2;
    ck_assert_int_eq(crdt_set_add(s, "long", 4, &d, &lim, &added),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_set_add(s, "b", 1, &d, &lim, &added), 0);
    d.counter = 3;
    ck_assert_int_eq(crdt_set_add(s, "c", 1, &d, &lim, &added), DYN_ELIMIT);
    ck_assert_int_eq(crdt_set_add(s, "a", 1, &d, &lim, &added), 0);
    ck_assert_uint_eq(crdt_set_card(s), 2);
    struct dbuf b;
    dbuf_init(&b);
    crdt_set_encode(s, &b);
    lim.max_members = 1;
    ck_assert_int_eq(crdt_set_decode((uint8_t *)b.p, b.len, &lim, &out),
                     DYN_ELIMIT);
    lim.max_members = 0;
    lim.max_member_len = 0;
    ck_assert_int_eq(crdt_set_decode((uint8_t *)b.p, b.len, &lim, &out), 0);
    ck_assert(set_same(s, out));
    crdt_set_free(out);
    dbuf_free(&b);
    crdt_set_free(s);
}
END_TEST

START_TEST(set_matches_a_textbook_orswot_and_loses_no_add)
{
    struct rng r = { SEED + 4 };
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        set_history(&r, &h, it);
        struct crdt_set *x = set_deliver(&r, &h);
        struct ref all = h.ref[0];
        for (int k = 1; k < NREP; k++)
            ref_join(&all, &h.ref[k]);
        assert_same_members(x, &all, "all delivered", it, STEPS);
        /* an add no op observed is there */
        for (uint32_t a = 0; a < h.nadds; a++) {
            int m = h.add_member[a];
            if (!h.superseded[a] &&
                !crdt_set_contains(x, names[m], name_len[m]))
                ck_abort_msg("history %d: add %u of member %d lost", it, a,
                             m);
        }
        crdt_set_free(x);
        set_hist_free(&h);
    }
}
END_TEST

START_TEST(set_join_is_a_semilattice)
{
    struct rng r = { SEED + 5 };
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        set_history(&r, &h, it);
        for (int t = 0; t < 40; t++) {
            check_set_laws(h.pool[rng_below(&r, h.npool)],
                           h.pool[rng_below(&r, h.npool)],
                           h.pool[rng_below(&r, h.npool)], it);
        }
        set_hist_free(&h);
    }
}
END_TEST

START_TEST(set_replicas_converge_whatever_the_delivery_order)
{
    struct rng r = { SEED + 6 };
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        set_history(&r, &h, it);
        struct crdt_set *x = set_deliver(&r, &h);
        for (int t = 0; t < 3; t++) {
            struct crdt_set *y = set_deliver(&r, &h);
            if (!set_same(x, y))
                ck_abort_msg("diverged: history %d", it);
            crdt_set_free(y);
        }
        struct crdt_set *z = crdt_set_new();
        for (int k = NREP - 1; k >= 0; k--)
            sjoin_into(&z, h.rep[k]);
        ck_assert(set_same(x, z));
        crdt_set_free(x);
        crdt_set_free(z);
        set_hist_free(&h);
    }
}
END_TEST

/*
 * Compaction.  Run a history; converge every replica on the join of all;
 * compact replica 0 and a random choice of the others at the clock of
 * every dot issued so far (all delivered), as a cluster does
 * (crdt_set_compact_marks).  The compacted ones' members keep no dot.  Then run more
 * steps on the compacted replicas and, beside them, on uncompacted copies
 * (the reference keeps checking both): every replica holds the same
 * members in both worlds, at every step, and after a final join.
 */
START_TEST(set_compaction_changes_no_member)
{
    struct rng r = { SEED + 7 };
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        struct dots d;
        set_hist_start(&h, &d);
        for (int step = 0; step < STEPS / 2; step++)
            set_step(&r, &h, &d, it, step);
        struct crdt_set *all = crdt_set_new();
        struct ref rall = h.ref[0];
        for (int k = 0; k < NREP; k++) {
            sjoin_into(&all, h.rep[k]);
            ref_join(&rall, &h.ref[k]);
        }
        struct vclock stable;
        vclock_init(&stable);
        for (int k = 0; k < NREP; k++)
            if (d.next[k])
                vclock_set(&stable, actors[k], d.next[k], 0);
        struct crdt_set *plain[NREP];
        for (int k = 0; k < NREP; k++) {
            crdt_set_free(h.rep[k]);
            h.rep[k] = crdt_set_dup(all);
            h.ref[k] = rall;
            plain[k] = crdt_set_dup(all);
            /* as in the cluster, where each node compacts at the end of
             * its own anti-entropy round: some replicas only */
            if (k > 0 && rng_below(&r, 2) == 0)
                continue;
            ck_assert_int_eq(crdt_set_compact_marks(h.rep[k], &stable), 0);
            ck_assert_uint_eq(crdt_set_ndots(h.rep[k]), 0);
            assert_same_members(h.rep[k], &rall, "compacted", it, 0);
        }
        /* compaction beyond the context is refused */
        struct vclock too_far;
        vclock_init(&too_far);
        vclock_set(&too_far, actors[0], d.next[0] + 5, 0);
        ck_assert_int_eq(crdt_set_compact(h.rep[0], &too_far), DYN_EINVAL);
        vclock_free(&too_far);

        /* Ops on both worlds with the same random choices. */
        for (int step = STEPS / 2; step < STEPS; step++) {
            struct rng save = r;
            struct dots dsave = d;
            uint32_t nup = h.nupdates;
            set_step(&r, &h, &d, it, step); /* compacted world + ref */
            /* replay the same choices on the plain world */
            struct rng r2 = save;
            int k = (int)rng_below(&r2, NREP);
            uint32_t op = rng_below(&r2, 100);
            int m = (int)rng_below(&r2, NNAMES);
            if (op < 40) {
                struct crdt_dot dot = next_dot(&r2, &dsave, k);
                int added;
                ck_assert_int_eq(crdt_set_add(plain[k], names[m], name_len[m],
                                              &dot, NULL, &added),
                                 0);
            } else if (op < 65) {
                crdt_set_remove(plain[k], names[m], name_len[m]);
            } else {
                int from = (int)rng_below(&r2, NREP);
                sjoin_into(&plain[k], plain[from]);
            }
            ck_assert_uint_eq(h.nupdates, nup + 1);
            assert_same_members(plain[k], &h.ref[k], "uncompacted", it, step);
        }
        /* The join's laws among the states after compaction. */
        uint32_t first = h.nupdates - (uint32_t)(STEPS - STEPS / 2);
        for (int t = 0; t < 20; t++) {
            uint32_t span = h.nupdates - first;
            check_set_laws(h.updates[first + rng_below(&r, span)],
                           h.updates[first + rng_below(&r, span)],
                           h.updates[first + rng_below(&r, span)], it);
        }
        struct crdt_set *fc = crdt_set_new(), *fp = crdt_set_new();
        struct ref rf = h.ref[0];
        for (int k = 0; k < NREP; k++) {
            sjoin_into(&fc, h.rep[k]);
            sjoin_into(&fp, plain[k]);
            ref_join(&rf, &h.ref[k]);
            crdt_set_free(plain[k]);
        }
        assert_same_members(fc, &rf, "compacted, all joined", it, STEPS);
        assert_same_members(fp, &rf, "uncompacted, all joined", it, STEPS);
        ck_assert_uint_le(crdt_set_ndots(fc), crdt_set_ndots(fp));
        crdt_set_free(fc);
        crdt_set_free(fp);
        crdt_set_free(all);
        vclock_free(&stable);
        set_hist_free(&h);
    }
}
END_TEST

/*
 * Compaction as the cluster runs it, again and again: at random points the
 * replicas converge (an anti-entropy round found them equal) and a random
 * choice of them compacts at everything seen so far, the others keep
 * their dots (their own rounds come later, or not before the next
 * write); ops go on in between.  Every replica holds the reference's
 * members at every step, and so does the join of all at the end.
 */
START_TEST(set_compaction_at_any_converged_point_changes_no_member)
{
    struct rng r = { SEED + 17 };
    uint32_t compactions = 0, dots_folded = 0;
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        struct dots d;
        set_hist_start(&h, &d);
        for (int step = 0; step < STEPS; step++) {
            if (step == 0 || rng_below(&r, 8) != 0) {
                set_step(&r, &h, &d, it, step);
                continue;
            }
            struct crdt_set *all = crdt_set_new();
            struct ref rall = h.ref[0];
            for (int k = 0; k < NREP; k++) {
                sjoin_into(&all, h.rep[k]);
                ref_join(&rall, &h.ref[k]);
            }
            struct vclock seen;
            vclock_init(&seen);
            crdt_set_seen(all, &seen);
            for (int k = 0; k < NREP; k++) {
                crdt_set_free(h.rep[k]);
                h.rep[k] = crdt_set_dup(all);
                h.ref[k] = rall;
                if (rng_below(&r, 2) == 0) {
                    dots_folded += crdt_set_ndots(h.rep[k]) > 0;
                    ck_assert_int_eq(crdt_set_compact_marks(h.rep[k], &seen),
                                     0);
                    compactions++;
                }
                assert_same_members(h.rep[k], &rall, "converged", it, step);
            }
            vclock_free(&seen);
            crdt_set_free(all);
        }
        struct crdt_set *fc = crdt_set_new();
        struct ref rf = h.ref[0];
        for (int k = 0; k < NREP; k++) {
            sjoin_into(&fc, h.rep[k]);
            ref_join(&rf, &h.ref[k]);
        }
        assert_same_members(fc, &rf, "all joined", it, STEPS);
        crdt_set_free(fc);
        set_hist_free(&h);
    }
    ck_assert_uint_gt(compactions, HISTORIES);
    ck_assert_uint_gt(dots_folded, HISTORIES / 2);
}
END_TEST

/* ---- sets: batches are single ops, byte for byte ----------------------------- */

/* A batch of k namings: names[] (so some are members) and fresh bytes,
 * with repeats. */
static uint32_t batch_pick(struct rng *r, const void **m, size_t *lens,
                           char (*fresh)[16], uint32_t cap)
{
    uint32_t k = 1 + rng_below(r, cap);
    for (uint32_t i = 0; i < k; i++) {
        if (i && rng_below(r, 5) == 0) { /* a repeat of an earlier one */
            uint32_t j = rng_below(r, i);
            m[i] = m[j];
            lens[i] = lens[j];
        } else if (rng_below(r, 2) == 0) {
            int n = (int)rng_below(r, NNAMES);
            m[i] = names[n];
            lens[i] = name_len[n];
        } else {
            lens[i] = (size_t)snprintf(fresh[i], 16, "f%u",
                                       rng_below(r, 40));
            m[i] = fresh[i];
        }
    }
    return k;
}

START_TEST(set_batches_are_single_ops_byte_for_byte)
{
    struct rng r = { SEED + 9 };
    enum { CAP = 24 };
    const void *m[CAP];
    size_t lens[CAP];
    char fresh[CAP][16];
    uint32_t tried_gap = 0, tried_contiguous = 0;
    for (int it = 0; it < HISTORIES; it++) {
        struct set_hist h;
        struct dots d;
        set_hist_start(&h, &d);
        for (int step = 0; step < STEPS / 2; step++)
            set_step(&r, &h, &d, it, step);
        int k = (int)rng_below(&r, NREP);
        struct crdt_set *base = crdt_set_dup(h.rep[k]);
        if (it % 4 == 3) { /* a compacted state: marks, a stable clock */
            struct vclock st;
            vclock_init(&st);
            crdt_set_clock(base, &st);
            ck_assert_int_eq(crdt_set_compact(base, &st), 0);
            vclock_free(&st);
        }
        for (int t = 0; t < 8; t++) {
            uint32_t n = batch_pick(&r, m, lens, fresh, CAP);
            /* dots after everything issued, with or without a gap; or a
             * new actor's first dots */
            int rep = (int)rng_below(&r, NREP);
            struct crdt_dot first = { actors[rep], d.next[rep] + 1 };
            if (rng_below(&r, 3) == 0)
                first.counter += 1 + rng_below(&r, 5);
            if (rng_below(&r, 5) == 0)
                first = (struct crdt_dot){ 0x5eedULL + (uint64_t)t, 1 };
            struct vclock clk;
            vclock_init(&clk);
            crdt_set_clock(base, &clk);
            if (first.counter == vclock_get(&clk, first.actor) + 1)
                tried_contiguous++;
            else
                tried_gap++;
            vclock_free(&clk);

            struct crdt_set *one = crdt_set_dup(base),
                            *many = crdt_set_dup(base);
            uint32_t added_one = 0, added_many;
            for (uint32_t i = 0; i < n; i++) {
                struct crdt_dot dot = { first.actor, first.counter + i };
                int a;
                ck_assert_int_eq(crdt_set_add(one, m[i], lens[i], &dot, NULL,
                                              &a),
                                 0);
                added_one += (uint32_t)a;
            }
            ck_assert_int_eq(crdt_set_add_many(many, m, lens, n, &first,
                                               NULL, &added_many),
                             0);
            ck_assert_uint_eq(added_many, added_one);
            if (!set_same(one, many))
                ck_abort_msg("add batch differs: history %d try %d", it, t);

            /* removes of another batch, from the result */
            uint32_t nr = batch_pick(&r, m, lens, fresh, CAP);
            uint32_t gone_one = 0;
            for (uint32_t i = 0; i < nr; i++)
                gone_one += (uint32_t)crdt_set_remove(one, m[i], lens[i]);
            ck_assert_uint_eq(crdt_set_remove_many(many, m, lens, nr),
                              gone_one);
            if (!set_same(one, many))
                ck_abort_msg("remove batch differs: history %d try %d", it,
                             t);
            crdt_set_free(base);
            base = many;
            crdt_set_free(one);
            d.next[rep] = DYN_MAX(d.next[rep], first.actor == actors[rep]
                                                   ? first.counter + n - 1
                                                   : 0);
        }
        crdt_set_free(base);
        set_hist_free(&h);
    }
    ck_assert_uint_gt(tried_gap, 0);
    ck_assert_uint_gt(tried_contiguous, 0);
}
END_TEST

START_TEST(set_batch_is_all_or_nothing)
{
    struct crdt_limits lim = { .max_members = 4, .max_member_len = 3,
                               .max_dots = 6 };
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = { 7, 10 }; /* above a gap: into the cloud */
    const void *m[] = { "a", "b", "a", "c", "long", "d", "e" };
    size_t lens[] = { 1, 1, 1, 1, 4, 1, 1 };
    uint32_t added;
    ck_assert_int_eq(crdt_set_add_many(s, m, lens, 4, &d, &lim, &added), 0);
    ck_assert_uint_eq(added, 3);
    ck_assert_uint_eq(crdt_set_card(s), 3);
    ck_assert_uint_eq(crdt_set_ncloud(s), 4);
    struct dbuf before, after;
    dbuf_init(&before);
    dbuf_init(&after);
    crdt_set_encode(s, &before);

    /* a dot seen in the middle of the range (13 is in the cloud) */
    d.counter = 12;
    ck_assert_int_eq(crdt_set_add_many(s, m + 5, lens + 5, 2, &d, &lim,
                                       &added),
                     CRDT_ESTALE);
    d.counter = 14;
    /* a member too long, then too many members, then too many dots */
    ck_assert_int_eq(crdt_set_add_many(s, m + 3, lens + 3, 2, &d, &lim,
                                       &added),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_set_add_many(s, m + 5, lens + 5, 2, &d, &lim,
                                       &added),
                     DYN_ELIMIT);
    lim.max_members = 0;
    lim.max_dots = 1; /* the cloud's bound counts ranges: 10..13 is one,
                       * and dots above another gap would make a second */
    d.counter = 20;
    ck_assert_int_eq(crdt_set_add_many(s, m + 5, lens + 5, 2, &d, &lim,
                                       &added),
                     DYN_ELIMIT);
    d.counter = 0;
    ck_assert_int_eq(crdt_set_add_many(s, m, lens, 1, &d, NULL, &added),
                     DYN_EINVAL);
    d.counter = UINT64_MAX;
    ck_assert_int_eq(crdt_set_add_many(s, m, lens, 2, &d, NULL, &added),
                     DYN_EINVAL);
    crdt_set_encode(s, &after);
    ck_assert_uint_eq(before.len, after.len);
    ck_assert(memcmp(before.p, after.p, before.len) == 0);

    /* continuing the clock, the cloud's bound does not apply; dots 1..9
     * fold the cloud's 10..13 in */
    d.counter = 1;
    lim.max_dots = 1;
    ck_assert_int_eq(crdt_set_add_many(s, m + 5, lens + 5, 2, &d, &lim,
                                       &added), 0);
    ck_assert_uint_eq(crdt_set_ncloud(s), 4); /* clock 2, then a gap */
    d.counter = 3;
    const void *seven[] = { "p", "q", "r", "s", "t", "u", "v" };
    size_t ones[] = { 1, 1, 1, 1, 1, 1, 1 };
    lim.max_members = 0;
    ck_assert_int_eq(crdt_set_add_many(s, seven, ones, 7, &d, &lim, &added),
                     0);
    ck_assert_uint_eq(added, 7);
    ck_assert_uint_eq(crdt_set_ncloud(s), 0);
    struct vclock c;
    vclock_init(&c);
    crdt_set_clock(s, &c);
    ck_assert_uint_eq(vclock_get(&c, 7), 13);
    vclock_free(&c);
    dbuf_free(&before);
    dbuf_free(&after);
    crdt_set_free(s);
}
END_TEST

START_TEST(set_lower_bound_and_clear)
{
    struct crdt_set *s = crdt_set_new();
    const void *m[] = { "b", "ab", "abc", "" };
    size_t lens[] = { 1, 2, 3, 0 };
    struct crdt_dot d = { 3, 1 };
    uint32_t added;
    ck_assert_int_eq(crdt_set_add_many(s, m, lens, 4, &d, NULL, &added), 0);
    /* order: "", "ab", "abc", "b" */
    ck_assert_uint_eq(crdt_set_lower_bound(s, "", 0), 0);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "a", 1), 1);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "ab", 2), 1);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "abb", 3), 2);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "abd", 3), 3);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "c", 1), 4);
    /* clear is removing each: the context stays, so an older copy that
     * still holds the members loses them in a join */
    struct crdt_set *old = crdt_set_dup(s), *one = crdt_set_dup(s);
    crdt_set_clear(s);
    for (int i = 0; i < 4; i++)
        crdt_set_remove(one, m[i], lens[i]);
    ck_assert(set_same(s, one));
    ck_assert_uint_eq(crdt_set_card(s), 0);
    sjoin_into(&s, old);
    ck_assert_uint_eq(crdt_set_card(s), 0);
    crdt_set_free(old);
    crdt_set_free(one);
    crdt_set_free(s);
}
END_TEST

START_TEST(set_decode_rejects_truncated_and_corrupt_input)
{
    struct rng r = { SEED + 8 };
    struct dbuf b;
    dbuf_init(&b);
    uint32_t accepted = 0;
    for (int it = 0; it < 8; it++) {
        struct set_hist h;
        set_history(&r, &h, it);
        for (int k = 0; k < NREP; k++) {
            dbuf_reset(&b);
            crdt_set_encode(h.rep[k], &b);
            accepted += fuzz_decoder(&r, &b, dec_set, enc_set, free_set,
                                     join_set);
        }
        /* a compacted state too (marks and a stable clock) */
        struct crdt_set *all = crdt_set_new();
        for (int k = 0; k < NREP; k++)
            sjoin_into(&all, h.rep[k]);
        struct vclock st;
        vclock_init(&st);
        crdt_set_clock(all, &st);
        ck_assert_int_eq(crdt_set_compact(all, &st), 0);
        dbuf_reset(&b);
        crdt_set_encode(all, &b);
        accepted += fuzz_decoder(&r, &b, dec_set, enc_set, free_set,
                                     join_set);
        vclock_free(&st);
        crdt_set_free(all);
        set_hist_free(&h);
    }
    static const uint8_t wrong_tag[] = { CRDT_TYPE_COUNTER, 0, 0, 0, 0, 0 };
    static const uint8_t empty[] = { CRDT_TYPE_SET, 0, 0, 0, 0, 0 };
    /* a member with neither a dot nor a mark */
    static const uint8_t bare[] = { CRDT_TYPE_SET, 0, 0, 0, 0, 1, 1, 'x', 0 };
    struct crdt_set *s;
    ck_assert_int_eq(crdt_set_decode(wrong_tag, sizeof(wrong_tag), NULL, &s),
                     DYN_EINVAL);
    ck_assert_int_eq(crdt_set_decode(bare, sizeof(bare), NULL, &s),
                     DYN_EINVAL);
    ck_assert_int_eq(crdt_set_decode(empty, sizeof(empty), NULL, &s), 0);
    ck_assert_uint_eq(crdt_set_card(s), 0);
    crdt_set_free(s);
    dbuf_free(&b);
    ck_assert_uint_gt(accepted, 0);
    fprintf(stderr, "set fuzz: %u mutants decoded\n", accepted);
}
END_TEST

/* A node claims into a key's context the dots it issued to other keys
 * between two ops of that key (db.c, docs/TYPES.md "Claims").  Claiming
 * dots no op carries must change no member, whatever the joins, and keeps
 * the context one range per actor where it would hold a dot per op. */
START_TEST(set_claims_of_dots_no_op_carries_change_no_member)
{
    struct rng r = { SEED ^ 0xc1a1ULL };
    for (int it = 0; it < HISTORIES; it++) {
        struct crdt_set *a[NREP], *b[NREP];
        uint64_t issued[NREP]; /* the last dot of replica k's actor */
        for (int k = 0; k < NREP; k++) {
            a[k] = crdt_set_new();
            b[k] = crdt_set_new();
            issued[k] = 0;
        }
        for (int step = 0; step < STEPS; step++) {
            int k = (int)rng_below(&r, NREP);
            uint32_t op = rng_below(&r, 100);
            int m = (int)rng_below(&r, NNAMES);
            if (op < 45) {
                /* dots between two ops went to other keys: a gap */
                uint64_t gap = rng_below(&r, 3) ? 1 + rng_below(&r, 6) : 0;
                struct crdt_dot dot = { actors[k], issued[k] + 1 + gap };
                int added;
                if (issued[k] && gap)
                    ck_assert_int_eq(crdt_set_claim(b[k], actors[k],
                                                    issued[k] + 1,
                                                    dot.counter - 1), 0);
                ck_assert_int_eq(crdt_set_add(a[k], names[m], name_len[m],
                                              &dot, NULL, &added), 0);
                ck_assert_int_eq(crdt_set_add(b[k], names[m], name_len[m],
                                              &dot, NULL, &added), 0);
                issued[k] = dot.counter;
            } else if (op < 70) {
                crdt_set_remove(a[k], names[m], name_len[m]);
                crdt_set_remove(b[k], names[m], name_len[m]);
            } else {
                int from = (int)rng_below(&r, NREP);
                sjoin_into(&a[k], a[from]);
                sjoin_into(&b[k], b[from]);
            }
            for (int j = 0; j < NREP; j++) {
                ck_assert_uint_eq(crdt_set_card(a[j]), crdt_set_card(b[j]));
                for (uint32_t i = 0; i < crdt_set_card(a[j]); i++) {
                    const uint8_t *pa, *pb;
                    size_t la, lb;
                    crdt_set_member(a[j], i, &pa, &la);
                    crdt_set_member(b[j], i, &pb, &lb);
                    if (la != lb || (la && memcmp(pa, pb, la) != 0))
                        ck_abort_msg("history %d step %d replica %d: a "
                                     "claim changed the members", it, step,
                                     j);
                }
            }
        }
        /* everything joined: the same members, and b's context holds at
         * most one range per actor beyond its clock */
        for (int k = 1; k < NREP; k++) {
            sjoin_into(&a[0], a[k]);
            sjoin_into(&b[0], b[k]);
        }
        ck_assert_uint_eq(crdt_set_card(a[0]), crdt_set_card(b[0]));
        ck_assert_uint_le(crdt_set_ncloud_ranges(b[0]), NREP);
        for (int k = 0; k < NREP; k++) {
            crdt_set_free(a[k]);
            crdt_set_free(b[k]);
        }
    }
}
END_TEST

/* What a set has seen, read from its encoding's head alone (the hot
 * path of a write replacing a typed version), equals what its decoded
 * state says, with gaps (a cloud), several actors and compaction. */
START_TEST(set_seen_read_from_the_head_equals_the_state)
{
    struct rng r = { 0x5eedULL };
    for (int h = 0; h < 200; h++) {
        struct crdt_set *s = crdt_set_new();
        uint64_t next[3] = { 0, 0, 0 };
        for (int t = 0; t < 40; t++) {
            int a = (int)rng_below(&r, 3);
            next[a] += 1 + (rng_below(&r, 4) == 0 ? rng_below(&r, 5) : 0);
            struct crdt_dot d = { actors[a], next[a] };
            char m[8];
            snprintf(m, sizeof(m), "m%u", rng_below(&r, 12));
            int added;
            if (rng_below(&r, 4) == 0)
                crdt_set_remove(s, m, strlen(m));
            else
                ck_assert_int_eq(crdt_set_add(s, m, strlen(m), &d, NULL,
                                              &added), 0);
            if (rng_below(&r, 10) == 0) {
                struct vclock all;
                vclock_init(&all);
                crdt_set_seen(s, &all);
                ck_assert_int_eq(crdt_set_compact(s, &all), 0);
                vclock_free(&all);
            }
            struct dbuf b;
            dbuf_init(&b);
            crdt_set_encode(s, &b);
            struct vclock want, got;
            vclock_init(&want);
            vclock_init(&got);
            crdt_set_seen(s, &want);
            ck_assert_int_eq(crdt_set_seen_encoded((const uint8_t *)b.p,
                                                   b.len, &got), 0);
            ck_assert_int_eq(vclock_compare(&want, &got), VCLOCK_EQUAL);
            ck_assert_uint_eq(want.n, got.n);
            /* a head cut short is refused, never misread */
            ck_assert_int_eq(crdt_set_seen_encoded((const uint8_t *)b.p, 1,
                                                   &got), DYN_EINVAL);
            vclock_free(&want);
            vclock_free(&got);
            dbuf_free(&b);
        }
        crdt_set_free(s);
    }
}
END_TEST

static Suite *crdt_suite(void)
{
    Suite *s = suite_create("crdt");
    TCase *tc = tcase_create("counter");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, counter_incr_on_a_string_counts_from_it);
    tcase_add_test(tc, counter_two_coordinators_increment_one_string);
    tcase_add_test(
        tc, counter_a_string_folded_in_keeps_the_actors_later_increments);
    tcase_add_test(tc, counter_an_encoding_from_before_the_seen_list_decodes);
    tcase_add_test(tc, counter_an_actor_that_lost_its_entry_begins_a_run);
    tcase_add_test(tc, counter_runs_decode_only_in_order_and_within_their_seq);
    tcase_add_test(tc, counter_errors_are_redis_errors);
    tcase_add_test(tc, counter_incrbyfloat_reads_as_redis_writes_it);
    tcase_add_test(tc,
                   counter_set_resets_what_it_saw_and_a_concurrent_incr_survives);
    tcase_add_test(tc, counter_concurrent_sums_beyond_int64_are_kept_exactly);
    tcase_add_test(tc, counter_limits_refuse_new_actors_and_long_bases);
    tcase_add_test(tc, counter_join_is_a_semilattice);
    tcase_add_test(tc, counter_replicas_converge_whatever_the_delivery_order);
    tcase_add_test(tc, counter_loses_no_acknowledged_increment);
    tcase_add_test(tc, counter_decode_rejects_truncated_and_corrupt_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("set");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, set_concurrent_add_wins_over_remove);
    tcase_add_test(tc, set_concurrent_removes_of_concurrent_adds_remove_both);
    tcase_add_test(tc, set_a_remove_beside_a_compacted_copy_stays_removed);
    tcase_add_test(tc, set_a_late_state_that_never_saw_a_marked_add_keeps_it);
    tcase_add_test(tc, set_metadata_per_member_is_one_dot_then_one_byte);
    tcase_add_test(tc, set_refuses_a_seen_dot_and_keeps_limits);
    tcase_add_test(tc, set_matches_a_textbook_orswot_and_loses_no_add);
    tcase_add_test(tc, set_join_is_a_semilattice);
    tcase_add_test(tc, set_replicas_converge_whatever_the_delivery_order);
    tcase_add_test(tc, set_compaction_changes_no_member);
    tcase_add_test(tc, set_compaction_at_any_converged_point_changes_no_member);
    tcase_add_test(tc, set_decode_rejects_truncated_and_corrupt_input);
    tcase_add_test(tc, set_batches_are_single_ops_byte_for_byte);
    tcase_add_test(tc, set_batch_is_all_or_nothing);
    tcase_add_test(tc, set_lower_bound_and_clear);
    tcase_add_test(tc, set_lower_bound_finds_where_a_prefix_starts);
    tcase_add_test(tc, set_seen_read_from_the_head_equals_the_state);
    tcase_add_test(tc, set_claims_of_dots_no_op_carries_change_no_member);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(crdt_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
