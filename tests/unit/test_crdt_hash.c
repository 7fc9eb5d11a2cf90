/*
 * test_crdt_hash.c -- the hash CRDT (cluster/crdt_hash.c): Redis 7.0's
 * results and errors on one node (folding), add-wins fields and observed
 * resets across replicas, and the join's laws over random histories.
 *
 * A history is a few replicas, each with its own actor, taking random
 * HSET / HDEL / HINCRBY ops and random joins from one another; dots come
 * from per-actor counters with gaps.  Beside the library an oracle keeps,
 * per op, the set of ops its replica had seen when it ran.  Properties:
 *   - join is commutative, associative and idempotent, byte for byte;
 *   - every delivery order of the replicas' states, with duplicates, gives
 *     the same bytes;
 *   - after full delivery each field is what the oracle says: present iff
 *     an HSET no later HSET/HDEL/DEL saw survives, or an HINCRBY no
 *     HSET/HDEL/DEL saw; its value the winning HSET's (highest ts, then value bytes)
 *     plus every increment no reset saw;
 *   - compaction at a converged state changes no value, also when only
 *     some replicas compact and ops go on;
 *   - the decoder rejects every truncation, survives random mutations, and
 *     what it accepts re-encodes to the same bytes.
 * Also crdt_set's lookups that the hash added (lower bound, a member's
 * dots).  The PRNG has a fixed SEED.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/buf.h"
#include "server/util.h"

#define SEED 0x4a5b1e5eedULL
#define HISTORIES 150
#define STEPS 50
#define NREP 3
#define NFIELDS 4
#define MAXOPS (STEPS + 1)
#define FUZZ 2000

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

static const uint64_t actors[NREP] = { 0x00000000000000a1ULL,
                                       0x7fffffff000000b2ULL,
                                       0xfffffffffffffff4ULL };
static const char *const fields[NFIELDS] = { "f", "g", "field-three", "" };

static void henc(const struct crdt_hash *h, struct dbuf *b)
{
    dbuf_reset(b);
    crdt_hash_encode(h, b);
}

static int hash_same(const struct crdt_hash *a, const struct crdt_hash *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    henc(a, &x);
    henc(b, &y);
    int same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return same;
}

/* The value of f as a C string in out, or "(nil)". */
static const char *hget(struct crdt_hash *h, const char *f, char *out,
                        size_t cap)
{
    uint32_t i;
    if (!crdt_hash_find(h, f, strlen(f), &i)) {
        snprintf(out, cap, "(nil)");
        return out;
    }
    const uint8_t *v;
    size_t n;
    crdt_hash_value(h, i, &v, &n);
    snprintf(out, cap, "%.*s", (int)n, (const char *)v);
    return out;
}

#define ASSERT_FIELD(h, f, want)                                          \
    do {                                                                  \
        char got_[256];                                                   \
        ck_assert_str_eq(hget((h), (f), got_, sizeof(got_)), (want));     \
    } while (0)

static void join_into(struct crdt_hash **dst, const struct crdt_hash *src)
{
    struct crdt_hash *j = crdt_hash_join(*dst, src);
    crdt_hash_free(*dst);
    *dst = j;
}

static struct crdt_dot dot_of(int rep, uint64_t counter)
{
    struct crdt_dot d = { actors[rep], counter };
    return d;
}

/* ---- the crdt_set lookups the hash needs ------------------------------------ */

START_TEST(set_lower_bound_and_member_dots)
{
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = dot_of(0, 7);
    int added;
    static const char *const m[] = { "b", "ba", "c" };
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(crdt_set_add(s, m[k], strlen(m[k]), &d, NULL,
                                      &added), 0);
        d.counter += 2;
    }
    ck_assert_uint_eq(crdt_set_lower_bound(s, "a", 1), 0);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "b", 1), 0);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "b\x01", 2), 1);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "bb", 2), 2);
    ck_assert_uint_eq(crdt_set_lower_bound(s, "d", 1), 3);
    const struct crdt_dot *dots;
    uint32_t nd;
    int mark;
    crdt_set_member_dots(s, 1, &dots, &nd, &mark);
    ck_assert_uint_eq(nd, 1);
    ck_assert_uint_eq(dots[0].counter, 9);
    ck_assert_int_eq(mark, 0);
    struct vclock st;
    vclock_init(&st);
    vclock_set(&st, actors[0], 11, 0);
    ck_assert_int_eq(crdt_set_compact(s, &st), 0);
    crdt_set_member_dots(s, 1, &dots, &nd, &mark);
    ck_assert_uint_eq(nd, 0);
    ck_assert_int_eq(mark, 1);
    vclock_free(&st);
    crdt_set_free(s);
}
END_TEST

/* ---- one node: Redis's results ---------------------------------------------- */

START_TEST(hash_fields_are_registers_as_in_redis)
{
    struct crdt_hash *h = crdt_hash_new();
    struct crdt_dot d = dot_of(0, 1);
    int added, removed;
    ck_assert_int_eq(crdt_hash_set(h, "a", 1, "1", 1, 10, &d, NULL, &added),
                     0);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_eq(d.counter, 2); /* one dot used */
    ck_assert_int_eq(crdt_hash_set(h, "a", 1, "two", 3, 11, &d, NULL, &added),
                     0);
    ck_assert_int_eq(added, 0);
    ck_assert_int_eq(crdt_hash_set(h, "", 0, "", 0, 12, &d, NULL, &added), 0);
    ck_assert_int_eq(added, 1);
    ck_assert_uint_eq(crdt_hash_len(h), 2);
    ASSERT_FIELD(h, "a", "two");
    ASSERT_FIELD(h, "", "");
    ASSERT_FIELD(h, "b", "(nil)");
    ck_assert_int_eq(crdt_hash_del(h, "a", 1, &d, NULL, &removed), 0);
    ck_assert_int_eq(removed, 1);
    ck_assert_int_eq(crdt_hash_del(h, "a", 1, &d, NULL, &removed), 0);
    ck_assert_int_eq(removed, 0);
    ck_assert_uint_eq(crdt_hash_len(h), 1);
    ck_assert_uint_eq(d.counter, 4); /* a register's HDEL leaves nothing */
    struct dbuf txt;
    dbuf_init(&txt);
    crdt_hash_describe(h, &txt);
    dbuf_appendc(&txt, '\0');
    ck_assert_ptr_nonnull(strstr(txt.p, "field \"\" = \"\""));
    ck_assert_ptr_nonnull(strstr(txt.p, "reg ts=12"));
    dbuf_free(&txt);
    crdt_hash_free(h);
}
END_TEST

START_TEST(hash_increments_fold_exactly_as_redis)
{
    struct crdt_hash *h = crdt_hash_new();
    struct crdt_dot d = dot_of(0, 1);
    int64_t r;
    long double f;
    char buf[CRDT_LD_CHARS];
    ck_assert_int_eq(crdt_hash_incrby(h, "n", 1, 5, 1, 1, &d, NULL, &r), 0);
    ck_assert_int_eq(r, 5);
    ck_assert_int_eq(crdt_hash_incrby(h, "n", 1, -7, 1, 1, &d, NULL, &r), 0);
    ASSERT_FIELD(h, "n", "-2");
    ck_assert_int_eq(crdt_hash_incrby(h, "n", 1, INT64_MIN, 1, 1, &d, NULL,
                                      &r), CRDT_EOVERFLOW);
    ASSERT_FIELD(h, "n", "-2");
    /* Redis's HINCRBYFLOAT examples */
    ck_assert_int_eq(crdt_hash_set(h, "x", 1, "10.50", 5, 1, &d, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_incrbyfloat(h, "x", 1, 0.1L, 1, 1, &d, NULL,
                                           &f), 0);
    crdt_ld_format(buf, sizeof(buf), f);
    ck_assert_str_eq(buf, "10.6");
    ASSERT_FIELD(h, "x", "10.6");
    ck_assert_int_eq(crdt_hash_set(h, "y", 1, "5.0e3", 5, 1, &d, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_incrbyfloat(h, "y", 1, 2.0e2L, 1, 1, &d, NULL,
                                           &f), 0);
    ASSERT_FIELD(h, "y", "5200");
    ck_assert_int_eq(crdt_hash_incrby(h, "y", 1, 1, 1, 1, &d, NULL, &r), 0);
    ASSERT_FIELD(h, "y", "5201");
    ck_assert_int_eq(crdt_hash_incrby(h, "x", 1, 1, 1, 1, &d, NULL, &r),
                     CRDT_ENOTINT);
    ck_assert_int_eq(crdt_hash_set(h, "s", 1, "abc", 3, 1, &d, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_incrbyfloat(h, "s", 1, 1, 1, 1, &d, NULL, &f),
                     CRDT_ENOTFLOAT);
    ck_assert_int_eq(crdt_hash_incrbyfloat(h, "x", 1, LDBL_MAX, 1, 1, &d,
                                           NULL, &f), 0);
    ck_assert_int_eq(crdt_hash_incrbyfloat(h, "x", 1, LDBL_MAX, 1, 1, &d,
                                           NULL, &f), CRDT_ENANINF);
    /* folding leaves one register per field: no counter metadata */
    struct dbuf txt;
    dbuf_init(&txt);
    crdt_hash_describe(h, &txt);
    dbuf_appendc(&txt, '\0');
    ck_assert_ptr_null(strstr(txt.p, " inc "));
    ck_assert_ptr_null(strstr(txt.p, "reset-snapshot"));
    dbuf_free(&txt);
    crdt_hash_free(h);
}
END_TEST

START_TEST(hash_limits_refuse_and_change_nothing)
{
    struct crdt_limits lim = { 4, 2, 8, 0 };
    struct crdt_hash *h = crdt_hash_new();
    struct crdt_dot d = dot_of(0, 1);
    int64_t r;
    ck_assert_int_eq(crdt_hash_set(h, "a", 1, "1", 1, 1, &d, &lim, NULL), 0);
    ck_assert_int_eq(crdt_hash_set(h, "b", 1, "123456789", 9, 1, &d, &lim,
                                   NULL), DYN_ELIMIT);
    ck_assert_int_eq(crdt_hash_set(h, "123456789", 9, "1", 1, 1, &d, &lim,
                                   NULL), DYN_ELIMIT);
    ck_assert_int_eq(crdt_hash_set(h, "b", 1, "2", 1, 1, &d, &lim, NULL), 0);
    ck_assert_int_eq(crdt_hash_set(h, "c", 1, "3", 1, 1, &d, &lim, NULL),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_hash_incrby(h, "c", 1, 1, 0, 1, &d, &lim, &r),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_hash_set(h, "b", 1, "22", 2, 1, &d, &lim, NULL), 0);
    ck_assert_uint_eq(crdt_hash_len(h), 2);
    ASSERT_FIELD(h, "b", "22");
    ASSERT_FIELD(h, "c", "(nil)");
    /* a state beyond the bounds does not decode under them */
    struct crdt_limits one = { 4, 1, 8, 0 };
    struct crdt_hash *back;
    struct dbuf b;
    dbuf_init(&b);
    henc(h, &b);
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)b.p, b.len, &one,
                                      &back), DYN_ELIMIT);
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)b.p, b.len, &lim,
                                      &back), 0);
    ck_assert(hash_same(h, back));
    crdt_hash_free(back);
    dbuf_free(&b);
    crdt_hash_free(h);
}
END_TEST

/* ---- replicas: add-wins and observed resets ---------------------------------- */

START_TEST(hash_concurrent_increment_survives_hset_and_hdel)
{
    struct crdt_hash *a = crdt_hash_new(), *b;
    struct crdt_dot da = dot_of(0, 10), db = dot_of(1, 20);
    int64_t r;
    int removed;
    ck_assert_int_eq(crdt_hash_incrby(a, "n", 1, 5, 0, 1, &da, NULL, &r), 0);
    b = crdt_hash_dup(a);
    /* A resets to 10 while B adds 3: 13 */
    ck_assert_int_eq(crdt_hash_set(a, "n", 1, "10", 2, 2, &da, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_incrby(b, "n", 1, 3, 0, 2, &db, NULL, &r), 0);
    ck_assert_int_eq(r, 8);
    join_into(&a, b);
    join_into(&b, a);
    ASSERT_FIELD(a, "n", "13");
    ck_assert(hash_same(a, b));
    /* A deletes while B adds 4: only the 4 is left */
    ck_assert_int_eq(crdt_hash_del(a, "n", 1, &da, NULL, &removed), 0);
    ck_assert_int_eq(removed, 1);
    ASSERT_FIELD(a, "n", "(nil)");
    ck_assert_int_eq(crdt_hash_incrby(b, "n", 1, 4, 0, 3, &db, NULL, &r), 0);
    ck_assert_int_eq(r, 17);
    join_into(&a, b);
    ASSERT_FIELD(a, "n", "4");
    /* an increment the reset saw is gone for good */
    ck_assert_int_eq(crdt_hash_incrby(a, "n", 1, 1, 0, 4, &da, NULL, &r), 0);
    ck_assert_int_eq(r, 5);
    join_into(&b, a);
    ASSERT_FIELD(b, "n", "5");
    ck_assert_uint_eq(crdt_hash_len(b), 1);
    crdt_hash_free(a);
    crdt_hash_free(b);
}
END_TEST

START_TEST(hash_concurrent_hset_wins_over_hdel_and_latest_hset_wins)
{
    struct crdt_hash *a = crdt_hash_new(), *b;
    struct crdt_dot da = dot_of(0, 1), db = dot_of(1, 1);
    int removed;
    ck_assert_int_eq(crdt_hash_set(a, "f", 1, "v0", 2, 5, &da, NULL, NULL), 0);
    b = crdt_hash_dup(a);
    ck_assert_int_eq(crdt_hash_del(a, "f", 1, &da, NULL, &removed), 0);
    ck_assert_int_eq(crdt_hash_set(b, "f", 1, "v1", 2, 6, &db, NULL, NULL), 0);
    join_into(&a, b);
    ASSERT_FIELD(a, "f", "v1");
    /* two concurrent HSETs: the later wall time wins, everywhere (a tie:
     * the greater value bytes) */
    struct crdt_hash *c = crdt_hash_dup(a);
    ck_assert_int_eq(crdt_hash_set(a, "f", 1, "late", 4, 9, &da, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_set(c, "f", 1, "early", 5, 8, &db, NULL,
                                   NULL), 0);
    struct crdt_hash *ac = crdt_hash_join(a, c), *ca = crdt_hash_join(c, a);
    ASSERT_FIELD(ac, "f", "late");
    ck_assert(hash_same(ac, ca));
    /* in one millisecond, the greater bytes win on every replica */
    struct crdt_hash *x = crdt_hash_dup(ac), *y = crdt_hash_dup(ac);
    ck_assert_int_eq(crdt_hash_set(x, "f", 1, "abc", 3, 20, &da, NULL, NULL),
                     0);
    ck_assert_int_eq(crdt_hash_set(y, "f", 1, "abd", 3, 20, &db, NULL, NULL),
                     0);
    join_into(&x, y);
    join_into(&y, x);
    ASSERT_FIELD(x, "f", "abd");
    ck_assert(hash_same(x, y));
    crdt_hash_free(x);
    crdt_hash_free(y);
    ck_assert_uint_eq(crdt_hash_len(ac), 1);
    crdt_hash_free(a);
    crdt_hash_free(b);
    crdt_hash_free(c);
    crdt_hash_free(ac);
    crdt_hash_free(ca);
}
END_TEST

START_TEST(hash_a_node_without_its_latest_increment_begins_a_run)
{
    /* docs/TYPES.md 5.1, "Runs": node A incremented f twice, dropped its
     * copy, and increments again on an empty state.  Kept under the
     * node's own actor the new part (sum 1, a higher seq) hides the
     * replicas' one (sum 2) at every read; kept under a run of its own
     * both count. */
    struct crdt_dot a3 = { 0xa1, 3 }, a5 = { 0xa1, 5 }, a9 = { 0xa1, 9 },
                    a11 = { 0xa1, 11 };
    int64_t v;
    char got[64];
    struct crdt_hash *h1 = crdt_hash_new(), *h2 = crdt_hash_new();
    ck_assert_int_eq(crdt_hash_incrby(h1, "f", 1, 1, 0, 10, &a3, NULL, &v), 0);
    ck_assert_int_eq(crdt_hash_incrby(h1, "f", 1, 1, 0, 11, &a5, NULL, &v), 0);
    struct crdt_dot last = { 0xa1, 5 };
    ck_assert(crdt_hash_has_dot(h1, &last));
    ck_assert(!crdt_hash_has_dot(h2, &last)); /* so the node begins a run */
    crdt_hash_inc_actor(h2, 0x7e57);
    ck_assert_int_eq(crdt_hash_incrby(h2, "f", 1, 1, 0, 12, &a9, NULL, &v), 0);
    ck_assert_int_eq(v, 1);
    struct crdt_hash *j = crdt_hash_join(h1, h2);
    ck_assert_str_eq(hget(j, "f", got, sizeof(got)), "3");
    /* the run goes on where the state holds it */
    crdt_hash_inc_actor(j, 0x7e57);
    ck_assert_int_eq(crdt_hash_incrby(j, "f", 1, 1, 0, 13, &a11, NULL, &v), 0);
    ck_assert_int_eq(v, 4);
    join_into(&j, h1);
    join_into(&j, h2);
    ck_assert_str_eq(hget(j, "f", got, sizeof(got)), "4");
    /* the control: the same increment under the node's own actor */
    struct crdt_hash *h3 = crdt_hash_new();
    ck_assert_int_eq(crdt_hash_incrby(h3, "f", 1, 1, 0, 12, &a9, NULL, &v), 0);
    struct crdt_hash *k = crdt_hash_join(h1, h3);
    ck_assert_str_eq(hget(k, "f", got, sizeof(got)), "1");
    crdt_hash_free(h1);
    crdt_hash_free(h2);
    crdt_hash_free(h3);
    crdt_hash_free(j);
    crdt_hash_free(k);
}
END_TEST

START_TEST(hash_concurrent_float_increments_add_up)
{
    struct crdt_hash *a = crdt_hash_new(), *b;
    struct crdt_dot da = dot_of(0, 1), db = dot_of(1, 1);
    long double f;
    ck_assert_int_eq(crdt_hash_set(a, "x", 1, "1.5", 3, 1, &da, NULL, NULL),
                     0);
    b = crdt_hash_dup(a);
    ck_assert_int_eq(crdt_hash_incrbyfloat(a, "x", 1, 0.25L, 0, 2, &da, NULL,
                                           &f), 0);
    ck_assert_int_eq(crdt_hash_incrbyfloat(b, "x", 1, 1, 0, 2, &db, NULL, &f),
                     0);
    join_into(&a, b);
    ASSERT_FIELD(a, "x", "2.75");
    crdt_hash_free(a);
    crdt_hash_free(b);
}
END_TEST

START_TEST(hash_del_of_the_key_keeps_only_unseen_increments)
{
    struct crdt_hash *a = crdt_hash_new(), *b;
    struct crdt_dot da = dot_of(0, 1), db = dot_of(1, 1);
    int64_t r;
    ck_assert_int_eq(crdt_hash_set(a, "s", 1, "x", 1, 1, &da, NULL, NULL), 0);
    ck_assert_int_eq(crdt_hash_incrby(a, "n", 1, 6, 0, 1, &da, NULL, &r), 0);
    ck_assert_int_eq(crdt_hash_incrby(a, "m", 1, 2, 0, 1, &da, NULL, &r), 0);
    b = crdt_hash_dup(a);
    /* A deletes the key (one dot) while B adds 4 to n */
    struct crdt_dot one = da;
    ck_assert_int_eq(crdt_hash_clear(a, &one, NULL), 0);
    ck_assert_uint_eq(crdt_hash_len(a), 0);
    ck_assert_int_eq(crdt_hash_incrby(b, "n", 1, 4, 0, 2, &db, NULL, &r), 0);
    ck_assert_int_eq(r, 10);
    struct crdt_hash *ab = crdt_hash_join(a, b), *ba = crdt_hash_join(b, a);
    ck_assert(hash_same(ab, ba));
    ck_assert_uint_eq(crdt_hash_len(ab), 1);
    ASSERT_FIELD(ab, "n", "4");
    ASSERT_FIELD(ab, "m", "(nil)");
    ASSERT_FIELD(ab, "s", "(nil)");
    /* the next increment continues from what the DEL saw */
    struct crdt_dot d2 = { actors[0], 50 };
    ck_assert_int_eq(crdt_hash_incrby(ab, "m", 1, 1, 0, 3, &d2, NULL, &r), 0);
    ASSERT_FIELD(ab, "m", "1");
    /* the key-wide reset decodes, re-encodes and reads */
    struct dbuf b2, txt;
    dbuf_init(&b2);
    dbuf_init(&txt);
    henc(ab, &b2);
    struct crdt_hash *back;
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)b2.p, b2.len, NULL,
                                      &back), 0);
    ck_assert(hash_same(ab, back));
    crdt_hash_describe(back, &txt);
    dbuf_appendc(&txt, '\0');
    ck_assert_ptr_nonnull(strstr(txt.p, "key-wide reset (DEL) of 2 fields"));
    dbuf_free(&b2);
    dbuf_free(&txt);
    crdt_hash_free(back);
    crdt_hash_free(a);
    crdt_hash_free(b);
    crdt_hash_free(ab);
    crdt_hash_free(ba);
}
END_TEST

/* ---- random histories beside an oracle --------------------------------------- */

enum { OP_SET, OP_DEL, OP_INCR, OP_CLEAR };

struct op {
    int kind, field, rep;
    int64_t n;        /* HSET's value or HINCRBY's increment */
    uint64_t ts;
    struct crdt_dot dot;
    uint64_t used;        /* dots it used, from dot on */
    uint8_t seen[MAXOPS]; /* the ops its replica had seen */
};

struct hist {
    struct crdt_hash *rep[NREP];
    uint8_t know[NREP][MAXOPS];
    uint64_t next[NREP];
    struct op ops[MAXOPS];
    int nops;
};

static void hist_free(struct hist *h)
{
    for (int k = 0; k < NREP; k++)
        crdt_hash_free(h->rep[k]);
}

static void hist_step(struct rng *r, struct hist *h)
{
    int rep = (int)rng_below(r, NREP);
    if (rng_below(r, 4) == 0) {
        int from = (int)rng_below(r, NREP);
        join_into(&h->rep[rep], h->rep[from]);
        for (int k = 0; k < h->nops; k++)
            h->know[rep][k] |= h->know[from][k];
        return;
    }
    struct op *o = &h->ops[h->nops];
    o->kind = rng_below(r, 12) == 0 ? OP_CLEAR : (int)rng_below(r, 3);
    o->field = (int)rng_below(r, NFIELDS);
    o->rep = rep;
    o->n = (int64_t)rng_below(r, 21) - 10;
    o->ts = rng_below(r, 8); /* ties happen: the dot breaks them */
    h->next[rep] += 1 + (rng_below(r, 3) == 0 ? rng_below(r, 4) : 0);
    o->dot = dot_of(rep, h->next[rep]);
    memcpy(o->seen, h->know[rep], sizeof(o->seen));
    struct crdt_dot d = o->dot;
    const char *f = fields[o->field];
    char v[24];
    int rc, x;
    int64_t res;
    switch (o->kind) {
    case OP_SET:
        snprintf(v, sizeof(v), "%lld", (long long)o->n);
        rc = crdt_hash_set(h->rep[rep], f, strlen(f), v, strlen(v), o->ts, &d,
                           NULL, &x);
        break;
    case OP_DEL:
        rc = crdt_hash_del(h->rep[rep], f, strlen(f), &d, NULL, &x);
        break;
    case OP_CLEAR:
        rc = crdt_hash_clear(h->rep[rep], &d, NULL);
        if (rc == 0)
            d.counter++; /* DEL spends its one dot */
        break;
    default:
        rc = crdt_hash_incrby(h->rep[rep], f, strlen(f), o->n, 0, o->ts, &d,
                              NULL, &res);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_le(d.counter - o->dot.counter, 2);
    o->used = d.counter - o->dot.counter;
    h->next[rep] = d.counter; /* the dots it used are spent */
    h->know[rep][h->nops] = 1;
    h->nops++;
}

static void history(struct rng *r, struct hist *h)
{
    memset(h, 0, sizeof(*h));
    for (int k = 0; k < NREP; k++)
        h->rep[k] = crdt_hash_new();
    for (int s = 0; s < STEPS && h->nops < MAXOPS; s++)
        hist_step(r, h);
}

/* HSET values compare by their bytes (memcmp, then the shorter first):
 * the tie-break of two HSETs in the same millisecond. */
static int value_cmp(int64_t a, int64_t b)
{
    char x[24], y[24];
    int lx = snprintf(x, sizeof(x), "%lld", (long long)a);
    int ly = snprintf(y, sizeof(y), "%lld", (long long)b);
    int c = memcmp(x, y, (size_t)(lx < ly ? lx : ly));
    return c ? c : lx - ly;
}

/* The oracle's value of field fi after every op is delivered. */
static const char *oracle(const struct hist *h, int fi, char *out, size_t cap)
{
    const struct op *win = NULL;
    int64_t sum = 0;
    int counted = 0;
    for (int k = 0; k < h->nops; k++) {
        const struct op *o = &h->ops[k];
        if (o->field != fi || o->kind == OP_DEL || o->kind == OP_CLEAR)
            continue;
        int observed = 0;
        for (int j = 0; j < h->nops && !observed; j++) {
            const struct op *q = &h->ops[j];
            observed = (q->field == fi || q->kind == OP_CLEAR) &&
                       q->kind != OP_INCR && q->seen[k];
        }
        if (observed)
            continue;
        if (o->kind == OP_INCR) {
            sum += o->n;
            counted = 1;
        } else if (!win || o->ts > win->ts ||
                   (o->ts == win->ts && value_cmp(o->n, win->n) > 0)) {
            win = o;
        }
    }
    if (!win && !counted)
        snprintf(out, cap, "(nil)");
    else
        snprintf(out, cap, "%lld", (long long)((win ? win->n : 0) + sum));
    return out;
}

/* Every replica's state joined in a random order, some twice. */
static struct crdt_hash *deliver(struct rng *r, const struct hist *h)
{
    struct crdt_hash *acc = crdt_hash_new();
    for (int n = 0; n < 2 * NREP; n++)
        join_into(&acc, h->rep[rng_below(r, NREP)]);
    for (int k = 0; k < NREP; k++)
        join_into(&acc, h->rep[k]);
    return acc;
}

/* Every field of x as the oracle says for history h (number it); returns
 * how many fields are present. */
static int assert_as_oracle(const struct hist *h, struct crdt_hash *x, int it)
{
    int present = 0;
    for (int fi = 0; fi < NFIELDS; fi++) {
        char want[64], got[64];
        oracle(h, fi, want, sizeof(want));
        hget(x, fields[fi], got, sizeof(got));
        ck_assert_msg(strcmp(want, got) == 0,
                      "history %d field %d: oracle %s, hash %s", it, fi, want,
                      got);
        present += strcmp(want, "(nil)") != 0;
    }
    return present;
}

START_TEST(hash_join_is_a_semilattice)
{
    struct rng r = { SEED };
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        history(&r, &h);
        struct crdt_hash *a = h.rep[0], *b = h.rep[1], *c = h.rep[2];
        struct crdt_hash *ab = crdt_hash_join(a, b), *ba = crdt_hash_join(b, a);
        struct crdt_hash *aa = crdt_hash_join(a, a);
        struct crdt_hash *ab_c = crdt_hash_join(ab, c);
        struct crdt_hash *bc = crdt_hash_join(b, c);
        struct crdt_hash *a_bc = crdt_hash_join(a, bc);
        ck_assert_msg(hash_same(ab, ba), "commutative, history %d", it);
        ck_assert_msg(hash_same(aa, a), "idempotent, history %d", it);
        ck_assert_msg(hash_same(ab_c, a_bc), "associative, history %d", it);
        crdt_hash_free(ab);
        crdt_hash_free(ba);
        crdt_hash_free(aa);
        crdt_hash_free(ab_c);
        crdt_hash_free(bc);
        crdt_hash_free(a_bc);
        hist_free(&h);
    }
}
END_TEST

START_TEST(hash_replicas_converge_to_the_oracle_whatever_the_order)
{
    struct rng r = { SEED + 1 };
    int nonempty = 0, counters = 0;
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        history(&r, &h);
        struct crdt_hash *x = deliver(&r, &h), *y = deliver(&r, &h);
        ck_assert_msg(hash_same(x, y), "delivery order, history %d", it);
        nonempty += assert_as_oracle(&h, x, it);
        struct dbuf txt;
        dbuf_init(&txt);
        crdt_hash_describe(x, &txt);
        dbuf_appendc(&txt, '\0');
        counters += strstr(txt.p, "reset-snapshot") != NULL;
        dbuf_free(&txt);
        /* compaction at the converged state changes no value, and the
         * compacted state still decodes */
        struct dbuf b;
        dbuf_init(&b);
        struct crdt_hash *cx = crdt_hash_dup(x);
        struct vclock seen;
        vclock_init(&seen);
        for (int k = 0; k < h.nops; k++) {
            uint64_t top = h.ops[k].dot.counter + h.ops[k].used - 1;
            if (h.ops[k].used && top > vclock_get(&seen, h.ops[k].dot.actor))
                vclock_set(&seen, h.ops[k].dot.actor, top, 0);
        }
        ck_assert_int_eq(crdt_hash_compact(cx, &seen), 0);
        for (int fi = 0; fi < NFIELDS; fi++) {
            char a[64], c[64];
            hget(x, fields[fi], a, sizeof(a));
            hget(cx, fields[fi], c, sizeof(c));
            ck_assert_str_eq(a, c);
        }
        henc(cx, &b);
        struct crdt_hash *back;
        ck_assert_int_eq(crdt_hash_decode((const uint8_t *)b.p, b.len, NULL,
                                          &back), 0);
        crdt_hash_free(back);
        dbuf_free(&b);
        vclock_free(&seen);
        crdt_hash_free(cx);
        crdt_hash_free(x);
        crdt_hash_free(y);
        hist_free(&h);
    }
    /* the histories did exercise present fields and observed resets */
    ck_assert_int_gt(nonempty, HISTORIES);
    ck_assert_int_gt(counters, HISTORIES / 4);
}
END_TEST

/* ---- untrusted bytes ------------------------------------------------------------- */

/* Compaction as the cluster runs it: at random points the replicas
 * converge (an anti-entropy round found them equal) and a random choice of
 * them compacts at everything its state has seen (db_compact_typed's
 * crdt_compact_all_bytes: no fold), the others keep their dots; ops and
 * joins go on in between.  After full delivery each field is what the
 * oracle says, as without compaction. */
START_TEST(hash_compaction_of_some_replicas_changes_no_value)
{
    struct rng r = { SEED + 7 };
    int compactions = 0;
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        memset(&h, 0, sizeof(h));
        for (int k = 0; k < NREP; k++)
            h.rep[k] = crdt_hash_new();
        for (int st = 0; st < STEPS && h.nops < MAXOPS; st++) {
            if (h.nops == 0 || rng_below(&r, 8) != 0) {
                hist_step(&r, &h);
                continue;
            }
            struct crdt_hash *all = crdt_hash_new();
            for (int k = 0; k < NREP; k++)
                join_into(&all, h.rep[k]);
            for (int k = 0; k < NREP; k++) {
                crdt_hash_free(h.rep[k]);
                h.rep[k] = crdt_hash_dup(all);
                for (int o = 0; o < h.nops; o++)
                    h.know[k][o] = 1;
                if (rng_below(&r, 2) == 0) {
                    /* at everything the state has seen, as the cluster */
                    ck_assert_int_eq(crdt_state_compact_stable(
                                         CRDT_TYPE_HASH, h.rep[k], 0),
                                     0);
                    compactions++;
                }
            }
            crdt_hash_free(all);
        }
        struct crdt_hash *x = deliver(&r, &h);
        (void)assert_as_oracle(&h, x, it);
        crdt_hash_free(x);
        hist_free(&h);
    }
    ck_assert_int_gt(compactions, HISTORIES);
}
END_TEST

static uint32_t fuzz_one(struct rng *r, const struct dbuf *good)
{
    struct crdt_hash *g, *s;
    struct dbuf again;
    dbuf_init(&again);
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)good->p, good->len,
                                      NULL, &g), 0);
    henc(g, &again);
    ck_assert(again.len == good->len &&
              memcmp(again.p, good->p, good->len) == 0);
    for (size_t cut = 0; cut < good->len; cut++) {
        uint8_t *copy = dyn_malloc(cut + 1);
        memcpy(copy, good->p, cut);
        ck_assert_int_ne(crdt_hash_decode(copy, cut, NULL, &s), 0);
        ck_assert_ptr_null(s);
        dyn_free(copy);
    }
    uint32_t accepted = 0;
    for (int it = 0; it < FUZZ / 4; it++) {
        size_t len = good->len;
        uint8_t *m = dyn_malloc(len + 2);
        memcpy(m, good->p, len);
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
                if (len < good->len + 2) {
                    memmove(m + at + 1, m + at, len - at);
                    m[at] = (uint8_t)rng_next(r);
                    len++;
                }
            }
        }
        uint8_t *exact = dyn_malloc(len ? len : 1);
        memcpy(exact, m, len);
        dyn_free(m);
        if (crdt_hash_decode(exact, len, NULL, &s) == 0) {
            henc(s, &again);
            ck_assert(again.len == len && memcmp(again.p, exact, len) == 0);
            /* a stranger's state reads and joins without harm */
            crdt_hash_len(s);
            struct crdt_hash *j1 = crdt_hash_join(s, g),
                             *j2 = crdt_hash_join(g, s);
            ck_assert(hash_same(j1, j2));
            crdt_hash_len(j1);
            crdt_hash_describe(j1, &again);
            crdt_hash_free(j1);
            crdt_hash_free(j2);
            crdt_hash_free(s);
            accepted++;
        } else {
            ck_assert_ptr_null(s);
        }
        dyn_free(exact);
    }
    crdt_hash_free(g);
    dbuf_free(&again);
    return accepted;
}

START_TEST(hash_decode_rejects_truncated_and_corrupt_input)
{
    struct rng r = { SEED + 2 };
    struct dbuf b;
    uint32_t accepted = 0;
    dbuf_init(&b);
    for (int it = 0; it < 6; it++) {
        struct hist h;
        history(&r, &h);
        for (int k = 0; k < NREP; k++) {
            henc(h.rep[k], &b);
            accepted += fuzz_one(&r, &b);
        }
        hist_free(&h);
    }
    /* a set's bytes are not a hash; an entry that is no entry is refused */
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = dot_of(0, 1);
    int added;
    struct crdt_hash *h;
    ck_assert_int_eq(crdt_set_add(s, "junk", 4, &d, NULL, &added), 0);
    dbuf_reset(&b);
    crdt_set_encode(s, &b);
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)b.p, b.len, NULL, &h),
                     DYN_EINVAL);
    struct dbuf t;
    dbuf_init(&t);
    dbuf_appendc(&t, CRDT_TYPE_HASH);
    dbuf_append(&t, b.p, b.len);
    ck_assert_int_eq(crdt_hash_decode((const uint8_t *)t.p, t.len, NULL, &h),
                     DYN_EINVAL);
    dbuf_free(&t);
    crdt_set_free(s);
    dbuf_free(&b);
    fprintf(stderr, "hash fuzz: %u mutants decoded\n", accepted);
}
END_TEST

static Suite *hash_suite(void)
{
    Suite *s = suite_create("crdt_hash");
    TCase *tc = tcase_create("hash");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, set_lower_bound_and_member_dots);
    tcase_add_test(tc, hash_fields_are_registers_as_in_redis);
    tcase_add_test(tc, hash_increments_fold_exactly_as_redis);
    tcase_add_test(tc, hash_limits_refuse_and_change_nothing);
    tcase_add_test(tc, hash_concurrent_increment_survives_hset_and_hdel);
    tcase_add_test(tc,
                   hash_concurrent_hset_wins_over_hdel_and_latest_hset_wins);
    tcase_add_test(tc, hash_a_node_without_its_latest_increment_begins_a_run);
    tcase_add_test(tc, hash_concurrent_float_increments_add_up);
    tcase_add_test(tc, hash_del_of_the_key_keeps_only_unseen_increments);
    tcase_add_test(tc, hash_join_is_a_semilattice);
    tcase_add_test(tc, hash_replicas_converge_to_the_oracle_whatever_the_order);
    tcase_add_test(tc, hash_compaction_of_some_replicas_changes_no_value);
    tcase_add_test(tc, hash_decode_rejects_truncated_and_corrupt_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hash_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
