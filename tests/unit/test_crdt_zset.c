/*
 * test_crdt_zset.c -- the sorted set CRDT (cluster/crdt_zset.c): Redis's
 * order and arithmetic on a node alone, add-wins membership, the score's
 * register, ZINCRBY's counters with observed reset, and the join's laws
 * over random operation histories.
 *
 * A history is a few replicas, each with its own actor, taking random
 * ZADD / ZINCRBY / ZREM ops and random joins from one another; dots come
 * from per-actor counters with gaps.  Scores and increments are small
 * integers, so sums are exact and an oracle can be compared with ==.
 * The properties:
 *   - after every step, every replica reads exactly what an oracle computes
 *     from the ops it has received: a member is present while an add or an
 *     increment of it is not observed by a later ZADD/ZREM of it; its score
 *     is the unobserved ZADD with the highest (ts, actor, counter), or 0,
 *     plus every increment no ZADD/ZREM observed;
 *   - join is commutative, associative and idempotent, byte for byte;
 *   - every delivery order of the same updates, with duplicates, gives the
 *     same bytes;
 *   - decode rejects every truncation, survives random mutations, and what
 *     it accepts re-encodes to the same bytes.
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

#define SEED 0x25e7c0ffee11ULL
#define HISTORIES 150
#define STEPS 70
#define NREP 3
#define NMEM 4
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

static const uint64_t actors[NREP] = { 0x00000000000000a1ULL,
                                       0x8000000000000003ULL,
                                       0xfffffffffffffff4ULL };
static const char *const members[NMEM] = { "a", "b", "ab", "" };

static void enc(const struct crdt_zset *z, struct dbuf *b)
{
    dbuf_reset(b);
    crdt_zset_encode(z, b);
}

static int same_bytes(const struct crdt_zset *a, const struct crdt_zset *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    enc(a, &x);
    enc(b, &y);
    int same = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return same;
}

static void join_into(struct crdt_zset **dst, const struct crdt_zset *src)
{
    struct crdt_zset *j = crdt_zset_join(*dst, src);
    crdt_zset_free(*dst);
    *dst = j;
}

/* The members by rank as "m=score m=score ..." */
static void text(const struct crdt_zset *z, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < crdt_zset_card(z) && off < cap; i++) {
        const uint8_t *m;
        size_t len;
        double s;
        crdt_zset_at(z, i, &m, &len, &s);
        off += (size_t)snprintf(out + off, cap - off, "%s%.*s=%.17g",
                                i ? " " : "", (int)len, (const char *)m, s);
    }
}

#define ASSERT_TEXT(z, want)                   \
    do {                                       \
        char got_[512];                        \
        text((z), got_, sizeof(got_));         \
        ck_assert_str_eq(got_, (want));        \
    } while (0)

/* ---- one replica: Redis's semantics ------------------------------------- */

START_TEST(zset_orders_by_score_then_bytes_shorter_first)
{
    struct crdt_zset *z = crdt_zset_new();
    struct crdt_dot d = { 0xa1, 0 };
    int added;
    const char *m[] = { "b", "a", "ab", "c", "" };
    double s[] = { 1, 1, 1, -2, 1 };
    for (int k = 0; k < 5; k++) {
        d.counter++;
        ck_assert_int_eq(crdt_zset_add(z, m[k], strlen(m[k]), s[k], &d, 10,
                                       NULL, &added), 0);
        ck_assert_int_eq(added, 1);
    }
    ASSERT_TEXT(z, "c=-2 =1 a=1 ab=1 b=1");
    uint32_t r;
    ck_assert(crdt_zset_rank(z, "ab", 2, &r));
    ck_assert_uint_eq(r, 3);
    ck_assert(!crdt_zset_rank(z, "zz", 2, &r));
    d.counter++;
    ck_assert_int_eq(crdt_zset_add(z, "a", 1, 5, &d, 11, NULL, &added), 0);
    ck_assert_int_eq(added, 0);
    ASSERT_TEXT(z, "c=-2 =1 ab=1 b=1 a=5");
    d.counter++;
    ck_assert_int_eq(crdt_zset_remove(z, "ab", 2, &d, 0, NULL), 1);
    ck_assert_int_eq(crdt_zset_remove(z, "ab", 2, &d, 0, NULL), 0);
    ASSERT_TEXT(z, "c=-2 =1 b=1 a=5");
    ck_assert_uint_eq(crdt_zset_card(z), 4);
    /* A register write replaced the older one: one entry per member. */
    ck_assert_uint_eq(crdt_zset_nentries(z), 4);
    crdt_zset_free(z);
}
END_TEST

START_TEST(zset_incr_alone_is_redis_arithmetic)
{
    struct crdt_zset *z = crdt_zset_new();
    struct crdt_dot d = { 0xa1, 1 };
    double r;
    int added;
    ck_assert_int_eq(crdt_zset_add(z, "m", 1, 0.1, &d, 1, NULL, &added), 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_incrby(z, "m", 1, 0.2, &d, 2, 1, NULL, &r), 0);
    ck_assert(r == 0.1 + 0.2);
    ASSERT_TEXT(z, "m=0.30000000000000004");
    d.counter++;
    ck_assert_int_eq(crdt_zset_incrby(z, "m", 1, INFINITY, &d, 3, 1, NULL, &r),
                     0);
    ck_assert(isinf(r) && r > 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_incrby(z, "m", 1, -INFINITY, &d, 4, 1, NULL,
                                      &r), CRDT_ENANSCORE);
    ck_assert(crdt_zset_score(z, "m", 1, &r) && isinf(r));
    d.counter++;
    ck_assert_int_eq(crdt_zset_incrby(z, "n", 1, -3.5, &d, 5, 1, NULL, &r), 0);
    ck_assert(r == -3.5);
    ck_assert_uint_eq(crdt_zset_nentries(z), 2);
    /* Removing alone leaves nothing behind. */
    d.counter++;
    ck_assert_int_eq(crdt_zset_remove(z, "n", 1, &d, 1, NULL), 1);
    ck_assert_uint_eq(crdt_zset_nentries(z), 1);
    crdt_zset_free(z);
}
END_TEST

START_TEST(zset_limits_refuse_and_change_nothing)
{
    struct crdt_limits lim = { 0, 2, 3, 0 };
    struct crdt_zset *z = crdt_zset_new();
    struct crdt_dot d = { 0xa1, 1 };
    int added;
    double r;
    ck_assert_int_eq(crdt_zset_add(z, "long", 4, 1, &d, 1, &lim, &added),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_zset_add(z, "a", 1, 1, &d, 1, &lim, &added), 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_add(z, "b", 1, 1, &d, 1, &lim, &added), 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_add(z, "c", 1, 1, &d, 1, &lim, &added),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_zset_incrby(z, "c", 1, 1, &d, 1, 0, &lim, &r),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_zset_incrby(z, "b", 1, 1, &d, 1, 0, &lim, &r), 0);
    ck_assert(r == 2);
    /* A stale dot changes nothing either. */
    ck_assert_int_eq(crdt_zset_add(z, "a", 1, 9, &d, 1, &lim, &added),
                     CRDT_ESTALE);
    ASSERT_TEXT(z, "a=1 b=2");
    crdt_zset_free(z);
}
END_TEST

/* ---- concurrency -------------------------------------------------------- */

START_TEST(zset_a_node_without_its_latest_increment_begins_a_run)
{
    /* As hash_a_node_without_its_latest_increment_begins_a_run: ZINCRBY
     * twice by node A, then once more on an empty state (A dropped its
     * copy) under a run of its own: the scores add up. */
    struct crdt_dot a3 = { 0xa1, 3 }, a5 = { 0xa1, 5 }, a9 = { 0xa1, 9 },
                    a11 = { 0xa1, 11 };
    double r, s = -1;
    struct crdt_zset *z1 = crdt_zset_new(), *z2 = crdt_zset_new(),
                     *z3 = crdt_zset_new();
    ck_assert_int_eq(crdt_zset_incrby(z1, "m", 1, 1, &a3, 10, 0, NULL, &r), 0);
    ck_assert_int_eq(crdt_zset_incrby(z1, "m", 1, 1, &a5, 11, 0, NULL, &r), 0);
    struct crdt_dot last = { 0xa1, 5 };
    ck_assert(crdt_zset_has_dot(z1, &last) && !crdt_zset_has_dot(z2, &last));
    crdt_zset_inc_actor(z2, 0x7e57);
    ck_assert_int_eq(crdt_zset_incrby(z2, "m", 1, 1, &a9, 12, 0, NULL, &r), 0);
    struct crdt_zset *j = crdt_zset_join(z1, z2);
    ck_assert(crdt_zset_score(j, "m", 1, &s));
    ck_assert(s == 3);
    crdt_zset_inc_actor(j, 0x7e57);
    ck_assert_int_eq(crdt_zset_incrby(j, "m", 1, 1, &a11, 13, 0, NULL, &r), 0);
    ck_assert(r == 4);
    join_into(&j, z1);
    join_into(&j, z2);
    ck_assert(crdt_zset_score(j, "m", 1, &s) && s == 4);
    /* the control, under the node's own actor: the later part hides */
    ck_assert_int_eq(crdt_zset_incrby(z3, "m", 1, 1, &a9, 12, 0, NULL, &r), 0);
    struct crdt_zset *k = crdt_zset_join(z1, z3);
    ck_assert(crdt_zset_score(k, "m", 1, &s) && s == 1);
    crdt_zset_free(z1);
    crdt_zset_free(z2);
    crdt_zset_free(z3);
    crdt_zset_free(j);
    crdt_zset_free(k);
}
END_TEST

START_TEST(zset_concurrent_add_wins_over_remove)
{
    struct crdt_zset *a = crdt_zset_new(), *b;
    struct crdt_dot da = { 0xa1, 1 }, db = { 0xb2, 1 };
    int added;
    ck_assert_int_eq(crdt_zset_add(a, "m", 1, 1, &da, 1, NULL, &added), 0);
    b = crdt_zset_dup(a);
    da.counter++;
    ck_assert_int_eq(crdt_zset_remove(a, "m", 1, &da, 0, NULL), 1);
    ck_assert_int_eq(crdt_zset_add(b, "m", 1, 7, &db, 2, NULL, &added), 0);
    join_into(&a, b);
    ASSERT_TEXT(a, "m=7");
    crdt_zset_free(a);
    crdt_zset_free(b);
}
END_TEST

START_TEST(zset_concurrent_adds_the_later_score_wins_everywhere)
{
    struct crdt_zset *a = crdt_zset_new(), *b = crdt_zset_new();
    struct crdt_dot da = { 0xa1, 1 }, db = { 0xb2, 1 };
    int added;
    ck_assert_int_eq(crdt_zset_add(a, "m", 1, 1, &da, 20, NULL, &added), 0);
    ck_assert_int_eq(crdt_zset_add(b, "m", 1, 2, &db, 10, NULL, &added), 0);
    struct crdt_zset *ab = crdt_zset_join(a, b), *ba = crdt_zset_join(b, a);
    ASSERT_TEXT(ab, "m=1");
    ck_assert(same_bytes(ab, ba));
    /* Equal times: the higher dot decides. */
    da.counter++;
    db.counter++;
    ck_assert_int_eq(crdt_zset_add(a, "n", 1, 1, &da, 5, NULL, &added), 0);
    ck_assert_int_eq(crdt_zset_add(b, "n", 1, 2, &db, 5, NULL, &added), 0);
    join_into(&ab, a);
    join_into(&ab, b);
    ASSERT_TEXT(ab, "m=1 n=2");
    crdt_zset_free(a);
    crdt_zset_free(b);
    crdt_zset_free(ab);
    crdt_zset_free(ba);
}
END_TEST

START_TEST(zset_incr_concurrent_with_zadd_survives_an_observed_one_not)
{
    struct crdt_zset *a = crdt_zset_new(), *b;
    struct crdt_dot da = { 0xa1, 1 }, db = { 0xb2, 1 };
    int added;
    double r;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 5, &da, 1, 0, NULL, &r), 0);
    b = crdt_zset_dup(a);
    /* b's ZADD saw the 5; a's next increment of 3 is concurrent with it. */
    ck_assert_int_eq(crdt_zset_add(b, "m", 1, 10, &db, 2, NULL, &added), 0);
    da.counter++;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 3, &da, 2, 0, NULL, &r), 0);
    ck_assert(r == 8);
    join_into(&a, b);
    ASSERT_TEXT(a, "m=13");
    /* a increments again having seen the ZADD: +1. */
    da.counter++;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 1, &da, 3, 0, NULL, &r), 0);
    ck_assert(r == 14);
    crdt_zset_free(a);
    crdt_zset_free(b);
}
END_TEST

START_TEST(zset_incr_concurrent_with_zrem_keeps_only_its_own_part)
{
    struct crdt_zset *a = crdt_zset_new(), *b;
    struct crdt_dot da = { 0xa1, 1 }, db = { 0xb2, 1 };
    double r;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 5, &da, 1, 0, NULL, &r), 0);
    b = crdt_zset_dup(a);
    ck_assert_int_eq(crdt_zset_remove(b, "m", 1, &db, 0, NULL), 1);
    ck_assert_uint_eq(crdt_zset_card(b), 0);
    ck_assert_uint_eq(crdt_zset_nentries(b), 1); /* the hidden entry */
    da.counter++;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 2, &da, 2, 0, NULL, &r), 0);
    join_into(&b, a);
    ASSERT_TEXT(b, "m=2");
    /* At a converged, stable state the hidden entries of removed members
     * go; the members that stay are unchanged. */
    db.counter++;
    ck_assert_int_eq(crdt_zset_remove(b, "m", 1, &db, 0, NULL), 1);
    ck_assert_uint_eq(crdt_zset_card(b), 0);
    ck_assert_uint_eq(crdt_zset_nentries(b), 1);
    struct vclock st;
    vclock_init(&st);
    vclock_set(&st, 0xa1, 2, 0);
    vclock_set(&st, 0xb2, 2, 0);
    ck_assert_int_eq(crdt_zset_compact(b, &st), 0);
    ck_assert_uint_eq(crdt_zset_nentries(b), 0);
    vclock_free(&st);
    crdt_zset_free(a);
    crdt_zset_free(b);
}
END_TEST

START_TEST(zset_two_actors_increments_add_up)
{
    struct crdt_zset *a = crdt_zset_new(), *b = crdt_zset_new();
    struct crdt_dot da = { 0xa1, 1 }, db = { 0xb2, 1 };
    double r;
    ck_assert_int_eq(crdt_zset_incrby(a, "m", 1, 1.5, &da, 1, 0, NULL, &r), 0);
    ck_assert_int_eq(crdt_zset_incrby(b, "m", 1, 2, &db, 1, 0, NULL, &r), 0);
    join_into(&a, b);
    join_into(&b, a);
    ASSERT_TEXT(a, "m=3.5");
    ck_assert(same_bytes(a, b));
    crdt_zset_free(a);
    crdt_zset_free(b);
}
END_TEST

/* ---- random histories --------------------------------------------------- */

enum { OP_ADD, OP_INC, OP_REM };

#define MAXOPS (STEPS + 1)

struct op {
    int kind, mem;
    int val; /* score or increment */
    struct crdt_dot dot;
    uint64_t ts;
    unsigned char obs[MAXOPS]; /* the ops its replica had received */
};

struct world {
    struct crdt_zset *z[NREP];
    unsigned char log[NREP][MAXOPS];
    uint64_t next[NREP];
    struct op ops[MAXOPS];
    int nops;
    struct crdt_zset *upd[MAXOPS]; /* the state each op produced */
};

/* The oracle over one replica's received ops: "m=score ..." by rank. */
static void oracle(const struct world *w, const unsigned char *log,
                   char *out, size_t cap)
{
    struct {
        const char *m;
        double s;
    } v[NMEM];
    int nv = 0;
    for (int m = 0; m < NMEM; m++) {
        int present = 0, have = 0;
        const struct op *best = NULL;
        double sum = 0;
        for (int i = 0; i < w->nops; i++) {
            const struct op *o = &w->ops[i];
            if (!log[i] || o->mem != m || o->kind == OP_REM)
                continue;
            int observed = 0;
            for (int j = 0; j < w->nops && !observed; j++)
                observed = log[j] && w->ops[j].mem == m &&
                           w->ops[j].kind != OP_INC && w->ops[j].obs[i];
            if (observed)
                continue;
            present = 1;
            if (o->kind == OP_INC) {
                sum += o->val;
                continue;
            }
            if (!have || o->ts > best->ts ||
                (o->ts == best->ts &&
                 (o->dot.actor > best->dot.actor ||
                  (o->dot.actor == best->dot.actor &&
                   o->dot.counter > best->dot.counter))))
                best = o;
            have = 1;
        }
        if (present) {
            v[nv].m = members[m];
            v[nv].s = (have ? best->val : 0) + sum;
            nv++;
        }
    }
    for (int i = 0; i < nv; i++) /* insertion sort by (score, bytes) */
        for (int j = i; j > 0; j--) {
            int c = v[j].s != v[j - 1].s ? (v[j].s < v[j - 1].s ? -1 : 1)
                                         : strcmp(v[j].m, v[j - 1].m);
            if (c >= 0)
                break;
            __typeof__(v[0]) t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < nv; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s=%.17g",
                                i ? " " : "", v[i].m, v[i].s);
}

static void world_init(struct world *w)
{
    memset(w, 0, sizeof(*w));
    for (int r = 0; r < NREP; r++)
        w->z[r] = crdt_zset_new();
}

static void world_free(struct world *w)
{
    for (int r = 0; r < NREP; r++)
        crdt_zset_free(w->z[r]);
    for (int i = 0; i < w->nops; i++)
        crdt_zset_free(w->upd[i]);
}

/* One random step at replica r: an op or a join from another replica. */
static void step(struct world *w, struct rng *g, int r, int t)
{
    if (rng_below(g, 10) < 3) {
        int q = (int)rng_below(g, NREP);
        join_into(&w->z[r], w->z[q]);
        for (int i = 0; i < w->nops; i++)
            w->log[r][i] |= w->log[q][i];
        return;
    }
    w->next[r] += 1 + (rng_below(g, 3) == 0 ? rng_below(g, 4) : 0);
    struct op *o = &w->ops[w->nops];
    o->kind = (int)rng_below(g, 3);
    o->mem = (int)rng_below(g, NMEM);
    o->val = (int)rng_below(g, 21) - 10;
    o->dot.actor = actors[r];
    o->dot.counter = w->next[r];
    o->ts = (uint64_t)t / 4 + rng_below(g, 2);
    memcpy(o->obs, w->log[r], MAXOPS);
    const char *m = members[o->mem];
    int added, rc;
    double res;
    if (o->kind == OP_ADD)
        rc = crdt_zset_add(w->z[r], m, strlen(m), o->val, &o->dot, o->ts,
                           NULL, &added);
    else if (o->kind == OP_INC)
        rc = crdt_zset_incrby(w->z[r], m, strlen(m), o->val, &o->dot, o->ts,
                              0, NULL, &res);
    else {
        rc = crdt_zset_remove(w->z[r], m, strlen(m), &o->dot, 0, NULL);
        if (rc == 0)
            return; /* not a member: nothing happened */
        rc = 0;
    }
    ck_assert_int_eq(rc, 0);
    w->log[r][w->nops] = 1;
    w->upd[w->nops] = crdt_zset_dup(w->z[r]);
    w->nops++;
}

static void check_oracle(const struct world *w, int r, int h, int t)
{
    char want[512], got[512];
    oracle(w, w->log[r], want, sizeof(want));
    text(w->z[r], got, sizeof(got));
    if (strcmp(want, got) != 0)
        ck_abort_msg("seed %llx history %d step %d replica %d: want '%s' got "
                     "'%s'", (unsigned long long)SEED, h, t, r, want, got);
}

START_TEST(zset_random_histories_match_the_oracle)
{
    struct rng g = { SEED };
    for (int h = 0; h < HISTORIES; h++) {
        struct world w;
        world_init(&w);
        for (int t = 0; t < STEPS && w.nops < STEPS; t++) {
            int r = (int)rng_below(&g, NREP);
            step(&w, &g, r, t);
            check_oracle(&w, r, h, t);
        }
        /* Everyone receives everything: the same bytes and the oracle's
         * result over all ops. */
        for (int r = 1; r < NREP; r++)
            join_into(&w.z[0], w.z[r]);
        for (int r = 1; r < NREP; r++) {
            join_into(&w.z[r], w.z[0]);
            ck_assert(same_bytes(w.z[0], w.z[r]));
        }
        for (int i = 0; i < w.nops; i++)
            w.log[0][i] = 1;
        check_oracle(&w, 0, h, STEPS);
        world_free(&w);
    }
}
END_TEST

START_TEST(zset_join_laws_byte_for_byte)
{
    struct rng g = { SEED ^ 0x1 };
    for (int h = 0; h < HISTORIES; h++) {
        struct world w;
        world_init(&w);
        for (int t = 0; t < STEPS && w.nops < STEPS; t++)
            step(&w, &g, (int)rng_below(&g, NREP), t);
        struct crdt_zset *a = w.z[0], *b = w.z[1], *c = w.z[2];
        struct crdt_zset *ab = crdt_zset_join(a, b), *ba = crdt_zset_join(b, a);
        ck_assert_msg(same_bytes(ab, ba), "commutative, history %d", h);
        struct crdt_zset *ab_c = crdt_zset_join(ab, c);
        struct crdt_zset *bc = crdt_zset_join(b, c);
        struct crdt_zset *a_bc = crdt_zset_join(a, bc);
        ck_assert_msg(same_bytes(ab_c, a_bc), "associative, history %d", h);
        struct crdt_zset *aa = crdt_zset_join(a, a);
        ck_assert_msg(same_bytes(aa, a), "idempotent, history %d", h);
        crdt_zset_free(ab);
        crdt_zset_free(ba);
        crdt_zset_free(ab_c);
        crdt_zset_free(bc);
        crdt_zset_free(a_bc);
        crdt_zset_free(aa);
        world_free(&w);
    }
}
END_TEST

START_TEST(zset_any_delivery_order_with_duplicates_converges)
{
    struct rng g = { SEED ^ 0x2 };
    for (int h = 0; h < HISTORIES / 3; h++) {
        struct world w;
        world_init(&w);
        for (int t = 0; t < STEPS && w.nops < STEPS; t++)
            step(&w, &g, (int)rng_below(&g, NREP), t);
        struct crdt_zset *first = NULL;
        for (int trial = 0; trial < 4; trial++) {
            struct crdt_zset *z = crdt_zset_new();
            int n = w.nops * 2;
            for (int k = 0; k < n; k++) /* random picks: repeats and gaps */
                join_into(&z, w.upd[rng_below(&g, (uint32_t)w.nops)]);
            int ix[MAXOPS]; /* then every one, shuffled */
            for (int i = 0; i < w.nops; i++)
                ix[i] = i;
            for (int i = w.nops; i > 1; i--) {
                int j = (int)rng_below(&g, (uint32_t)i), t = ix[i - 1];
                ix[i - 1] = ix[j];
                ix[j] = t;
            }
            for (int i = 0; i < w.nops; i++)
                join_into(&z, w.upd[ix[i]]);
            if (!first)
                first = z;
            else {
                ck_assert_msg(same_bytes(first, z), "history %d trial %d", h,
                              trial);
                crdt_zset_free(z);
            }
        }
        char want[512], got[512];
        unsigned char all[MAXOPS];
        memset(all, 1, sizeof(all));
        oracle(&w, all, want, sizeof(want));
        text(first, got, sizeof(got));
        ck_assert_str_eq(got, want);
        crdt_zset_free(first);
        world_free(&w);
    }
}
END_TEST

/* Both worlds receive the same ops; at a converged point one of them
 * compacts replica 0 and a random choice of the others with the common
 * seen clock (the precondition: every later state descends from it).  Members and scores stay equal in
 * both worlds at every later step, and compaction drops every hidden
 * entry of a removed member. */
START_TEST(zset_compaction_changes_no_member)
{
    struct rng g = { SEED ^ 0x5 };
    uint32_t hidden_dropped = 0;
    for (int h = 0; h < HISTORIES / 3; h++) {
        struct world a, b;
        world_init(&a);
        struct rng ga = g, gb;
        for (int t = 0; t < STEPS / 2 && a.nops < STEPS / 2; t++)
            step(&a, &ga, (int)rng_below(&ga, NREP), t);
        for (int r = 1; r < NREP; r++)
            join_into(&a.z[0], a.z[r]);
        for (int r = 1; r < NREP; r++)
            join_into(&a.z[r], a.z[0]);
        for (int i = 0; i < a.nops; i++)
            for (int r = 0; r < NREP; r++)
                a.log[r][i] = 1;
        b = a; /* the logs and ops; the states are copied below */
        struct vclock st;
        vclock_init(&st);
        crdt_zset_seen(a.z[0], &st);
        for (int r = 0; r < NREP; r++) {
            b.z[r] = crdt_zset_dup(a.z[r]);
            /* some replicas only, as each node compacts at the end of its
             * own anti-entropy round */
            if (r > 0 && rng_below(&g, 2) == 0)
                continue;
            ck_assert_int_eq(crdt_zset_compact_marks(b.z[r], &st), 0);
            hidden_dropped += crdt_zset_nentries(a.z[r]) -
                              crdt_zset_nentries(b.z[r]);
        }
        for (int i = 0; i < b.nops; i++)
            b.upd[i] = crdt_zset_dup(a.upd[i]);
        vclock_free(&st);
        char ta[512], tb[512];
        text(a.z[0], ta, sizeof(ta));
        text(b.z[0], tb, sizeof(tb));
        ck_assert_str_eq(ta, tb);
        gb = ga;
        for (int t = STEPS / 2; t < STEPS && a.nops < STEPS; t++) {
            int ra = (int)rng_below(&ga, NREP), rb = (int)rng_below(&gb, NREP);
            ck_assert_int_eq(ra, rb);
            step(&a, &ga, ra, t);
            step(&b, &gb, rb, t);
            for (int r = 0; r < NREP; r++) {
                text(a.z[r], ta, sizeof(ta));
                text(b.z[r], tb, sizeof(tb));
                if (strcmp(ta, tb) != 0)
                    ck_abort_msg("seed %llx history %d step %d replica %d: "
                                 "'%s' uncompacted, '%s' compacted",
                                 (unsigned long long)SEED, h, t, r, ta, tb);
            }
            check_oracle(&b, ra, h, t);
        }
        world_free(&a);
        world_free(&b);
        g = ga;
    }
    /* The histories did leave hidden entries, and compaction took them. */
    ck_assert_uint_gt(hidden_dropped, 0);
}
END_TEST

/* A node keeps a state decoded between writes (server/tcache.h) and
 * compacts it in place after each op; the result must be byte for byte
 * what compacting a freshly decoded copy gives (the sweep of hidden
 * entries is skipped after adds and increments). */
START_TEST(zset_compaction_in_place_equals_a_fresh_copys)
{
    struct rng g = { SEED ^ 0x77 };
    for (int h = 0; h < HISTORIES / 4; h++) {
        struct crdt_zset *z = crdt_zset_new();
        uint64_t counter = 0;
        for (int t = 0; t < STEPS; t++) {
            struct crdt_dot d = { actors[0], ++counter };
            const char *m = members[rng_below(&g, NMEM)];
            int kind = (int)rng_below(&g, 3), fold = (int)rng_below(&g, 2);
            int added;
            double res;
            if (kind == 0)
                crdt_zset_add(z, m, strlen(m), (int)rng_below(&g, 7), &d,
                              (uint64_t)t, NULL, &added);
            else if (kind == 1)
                crdt_zset_incrby(z, m, strlen(m), 1, &d, (uint64_t)t, fold,
                                 NULL, &res);
            else
                crdt_zset_remove(z, m, strlen(m), &d, fold, NULL);
            struct dbuf b;
            dbuf_init(&b);
            enc(z, &b);
            struct crdt_zset *fresh = NULL;
            ck_assert_int_eq(crdt_zset_decode((const uint8_t *)b.p, b.len,
                                              NULL, &fresh), 0);
            dbuf_free(&b);
            struct vclock st;
            vclock_init(&st);
            crdt_zset_seen(z, &st);
            ck_assert_int_eq(crdt_zset_compact(z, &st), 0);
            ck_assert_int_eq(crdt_zset_compact(fresh, &st), 0);
            vclock_free(&st);
            if (!same_bytes(z, fresh))
                ck_abort_msg("history %d step %d: in-place compaction "
                             "differs from a fresh copy's", h, t);
            crdt_zset_free(fresh);
        }
        crdt_zset_free(z);
    }
}
END_TEST

/* ---- untrusted bytes ---------------------------------------------------- */

static struct crdt_zset *sample(void)
{
    struct rng g = { SEED ^ 0x3 };
    struct world w;
    world_init(&w);
    for (int t = 0; t < STEPS && w.nops < STEPS; t++)
        step(&w, &g, (int)rng_below(&g, NREP), t);
    struct crdt_zset *z = crdt_zset_dup(w.z[0]);
    join_into(&z, w.z[1]);
    world_free(&w);
    return z;
}

START_TEST(zset_decode_round_trips_and_refuses_truncations)
{
    struct crdt_zset *z = sample(), *y;
    struct dbuf b;
    dbuf_init(&b);
    enc(z, &b);
    const uint8_t *bp = (const uint8_t *)b.p;
    ck_assert_int_eq(crdt_zset_decode(bp, b.len, NULL, &y), 0);
    ck_assert(same_bytes(z, y));
    char t1[512], t2[512];
    text(z, t1, sizeof(t1));
    text(y, t2, sizeof(t2));
    ck_assert_str_eq(t1, t2);
    crdt_zset_free(y);
    for (size_t n = 0; n < b.len; n++) {
        ck_assert_int_ne(crdt_zset_decode(bp, n, NULL, &y), 0);
        ck_assert_ptr_null(y);
    }
    /* A set's encoding is not a sorted set's. */
    b.p[0] = CRDT_TYPE_SET;
    ck_assert_int_eq(crdt_zset_decode(bp, b.len, NULL, &y),
                     DYN_EINVAL);
    dbuf_free(&b);
    crdt_zset_free(z);
}
END_TEST

START_TEST(zset_decode_survives_mutations)
{
    struct crdt_zset *z = sample(), *y;
    struct dbuf b, again;
    dbuf_init(&b);
    dbuf_init(&again);
    enc(z, &b);
    struct rng g = { SEED ^ 0x4 };
    uint8_t *m = dyn_malloc(b.len + 8);
    int accepted = 0;
    for (int k = 0; k < FUZZ; k++) {
        memcpy(m, b.p, b.len);
        size_t len = b.len;
        int flips = 1 + (int)rng_below(&g, 4);
        for (int f = 0; f < flips; f++)
            m[rng_below(&g, (uint32_t)len)] ^=
                (uint8_t)(1u << rng_below(&g, 8));
        if (rng_below(&g, 8) == 0)
            len -= rng_below(&g, (uint32_t)len);
        int rc = crdt_zset_decode(m, len, NULL, &y);
        if (rc == 0) {
            accepted++;
            enc(y, &again);
            ck_assert_uint_eq(again.len, len);
            ck_assert(memcmp(again.p, m, len) == 0);
            (void)crdt_zset_card(y);
            crdt_zset_free(y);
        } else {
            ck_assert_ptr_null(y);
        }
    }
    (void)accepted;
    dyn_free(m);
    dbuf_free(&b);
    dbuf_free(&again);
    crdt_zset_free(z);
}
END_TEST

START_TEST(zset_decode_applies_limits)
{
    struct crdt_zset *z = crdt_zset_new(), *y;
    struct crdt_dot d = { 0xa1, 1 };
    int added;
    ck_assert_int_eq(crdt_zset_add(z, "abcd", 4, 1, &d, 1, NULL, &added), 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_add(z, "b", 1, 1, &d, 1, NULL, &added), 0);
    struct dbuf b;
    dbuf_init(&b);
    enc(z, &b);
    const uint8_t *bp = (const uint8_t *)b.p;
    struct crdt_limits one = { 0, 1, 0, 0 }, short_ = { 0, 0, 3, 0 };
    ck_assert_int_eq(crdt_zset_decode(bp, b.len, &one, &y), DYN_ELIMIT);
    ck_assert_int_eq(crdt_zset_decode(bp, b.len, &short_, &y),
                     DYN_ELIMIT);
    dbuf_free(&b);
    crdt_zset_free(z);
}
END_TEST

START_TEST(zset_describe_names_members_and_entries)
{
    struct crdt_zset *z = crdt_zset_new();
    struct crdt_dot d = { 0xa1, 1 };
    int added;
    double r;
    ck_assert_int_eq(crdt_zset_add(z, "m\n", 2, 1.5, &d, 7, NULL, &added), 0);
    d.counter++;
    ck_assert_int_eq(crdt_zset_incrby(z, "m\n", 2, 1, &d, 8, 0, NULL, &r), 0);
    struct dbuf b;
    dbuf_init(&b);
    crdt_zset_describe(z, &b);
    dbuf_appendc(&b, 0);
    ck_assert_ptr_nonnull(strstr((char *)b.p, "0 \"m\\x0a\" 2.5\n"));
    ck_assert_ptr_nonnull(strstr((char *)b.p, "reg score=1.5 ts=7"));
    ck_assert_ptr_nonnull(strstr((char *)b.p, "incr actor=00000000000000a1"));
    dbuf_free(&b);
    crdt_zset_free(z);
}
END_TEST

static Suite *zset_suite(void)
{
    Suite *s = suite_create("crdt_zset");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, zset_orders_by_score_then_bytes_shorter_first);
    tcase_add_test(tc, zset_incr_alone_is_redis_arithmetic);
    tcase_add_test(tc, zset_limits_refuse_and_change_nothing);
    tcase_add_test(tc, zset_a_node_without_its_latest_increment_begins_a_run);
    tcase_add_test(tc, zset_concurrent_add_wins_over_remove);
    tcase_add_test(tc, zset_concurrent_adds_the_later_score_wins_everywhere);
    tcase_add_test(tc,
                   zset_incr_concurrent_with_zadd_survives_an_observed_one_not);
    tcase_add_test(tc, zset_incr_concurrent_with_zrem_keeps_only_its_own_part);
    tcase_add_test(tc, zset_two_actors_increments_add_up);
    tcase_add_test(tc, zset_random_histories_match_the_oracle);
    tcase_add_test(tc, zset_join_laws_byte_for_byte);
    tcase_add_test(tc, zset_any_delivery_order_with_duplicates_converges);
    tcase_add_test(tc, zset_compaction_changes_no_member);
    tcase_add_test(tc, zset_compaction_in_place_equals_a_fresh_copys);
    tcase_add_test(tc, zset_decode_round_trips_and_refuses_truncations);
    tcase_add_test(tc, zset_decode_survives_mutations);
    tcase_add_test(tc, zset_decode_applies_limits);
    tcase_add_test(tc, zset_describe_names_members_and_entries);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(zset_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
