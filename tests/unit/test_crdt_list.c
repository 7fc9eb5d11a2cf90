/*
 * test_crdt_list.c -- the list CRDT (cluster/crdt_list.c): a sequence on
 * the ORSWOT whose elements are named by dense position ids.
 *
 * On one replica the list behaves as an array (a model array beside it
 * takes the same inserts, removes and sets).  Across replicas, histories
 * as in test_crdt.c: a few replicas with their own actors take random
 * pushes at both ends, inserts in the middle, removes and sets, and random
 * joins from one another, with dots from per-actor counters with gaps.
 * The properties:
 *   - join is commutative, associative and idempotent, byte for byte;
 *   - every delivery order of the same updates, with duplicates, gives the
 *     same bytes;
 *   - the oracle: every pushed element that no op removed is present,
 *     once, every removed one is gone (no tombstone brings it back), and
 *     the final order agrees with the order every replica showed at every
 *     step (intention preservation);
 *   - compaction changes no element;
 *   - ids stay short under long push runs (figures printed);
 *   - the decoder refuses every truncation and corrupt id and survives
 *     thousands of random mutations; what it accepts re-encodes to the
 *     same bytes.
 * The PRNG has a fixed SEED: a failure prints the history and step.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/buf.h"
#include "server/util.h"

#define SEED 0x5eb1157c0ffeeULL
#define HISTORIES 150
#define STEPS 60
#define NREP 4
#define FUZZ 4000
/* Pushes of the id-length measurement: a push at the head moves the whole
 * sorted member array, so under the sanitizers (a minute for 100k) the run
 * is shorter; the figures printed by the plain build are the ones quoted. */
#if defined(__SANITIZE_ADDRESS__)
#define RUN 20000
#else
#define RUN 100000
#endif

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

struct dots {
    uint64_t next[NREP];
};

/* The replica's next dot; the node-wide counters leave gaps (other keys). */
static struct crdt_dot next_dot(struct rng *r, struct dots *d, int rep)
{
    d->next[rep] += 1 + (rng_below(r, 3) == 0 ? rng_below(r, 4) : 0);
    struct crdt_dot dot = { actors[rep], d->next[rep] };
    return dot;
}

static void enc(const struct crdt_list *l, struct dbuf *b)
{
    dbuf_reset(b);
    crdt_list_encode(l, b);
}

static int same(const struct crdt_list *a, const struct crdt_list *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    enc(a, &x);
    enc(b, &y);
    int eq = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return eq;
}

static void join_into(struct crdt_list **dst, const struct crdt_list *src)
{
    struct crdt_list *j = crdt_list_join(*dst, src);
    crdt_list_free(*dst);
    *dst = j;
}

/* Element i as a C string (values here are short text). */
static const char *at(const struct crdt_list *l, uint32_t i, char *buf,
                      size_t cap)
{
    const uint8_t *v;
    size_t n;
    crdt_list_at(l, i, &v, &n);
    if (n >= cap) /* (no ck_assert in hot loops: each one writes its place) */
        ck_abort_msg("element %u: %zu bytes", i, n);
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
}

static void insert_ok(struct crdt_list *l, uint32_t i, const char *v,
                      const struct crdt_dot *dot)
{
    int rc = crdt_list_insert(l, i, v, strlen(v), dot, NULL);
    if (rc != 0)
        ck_abort_msg("insert of %s at %u: %d", v, i, rc);
}

/* ---- one replica: an array ------------------------------------------------ */

START_TEST(list_on_one_replica_is_an_array)
{
    struct rng r = { SEED };
    struct dots d;
    memset(&d, 0, sizeof(d));
    struct crdt_list *l = crdt_list_new();
    char model[400][16], buf[16];
    uint32_t n = 0;
    for (int step = 0; step < 4000; step++) {
        uint32_t op = rng_below(&r, 100);
        struct crdt_dot dot = next_dot(&r, &d, 0);
        char v[16];
        snprintf(v, sizeof(v), "v%d", step);
        if (op < 60 && n < 400) {
            uint32_t where = rng_below(&r, 3);
            uint32_t i = where == 0 ? 0 : where == 1 ? n : rng_below(&r, n + 1);
            insert_ok(l, i, v, &dot);
            memmove(model[i + 1], model[i], (n - i) * sizeof(model[0]));
            memcpy(model[i], v, sizeof(v));
            n++;
        } else if (op < 85 && n > 0) {
            uint32_t i = rng_below(&r, n);
            crdt_list_remove(l, i);
            memmove(model[i], model[i + 1], (n - i - 1) * sizeof(model[0]));
            n--;
        } else if (n > 0) {
            uint32_t i = rng_below(&r, n);
            ck_assert_int_eq(crdt_list_set(l, i, v, strlen(v), &dot, NULL), 0);
            memcpy(model[i], v, sizeof(v));
        }
        if (crdt_list_len(l) != n)
            ck_abort_msg("step %d: %u elements, want %u", step,
                         crdt_list_len(l), n);
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(at(l, i, buf, sizeof(buf)), model[i]) != 0)
                ck_abort_msg("step %d: [%u] is %s, want %s", step, i, buf,
                             model[i]);
    }
    crdt_list_free(l);
}
END_TEST

START_TEST(list_refuses_bad_indexes_seen_dots_and_limits)
{
    struct crdt_list *l = crdt_list_new();
    struct crdt_dot d1 = { 7, 1 }, d2 = { 7, 2 }, d3 = { 7, 3 };
    struct crdt_limits lim = { 0, 2, 4, 0 };
    ck_assert_int_eq(crdt_list_insert(l, 1, "a", 1, &d1, &lim), DYN_EINVAL);
    ck_assert_int_eq(crdt_list_insert(l, 0, "a", 1, &d1, &lim), 0);
    ck_assert_int_eq(crdt_list_insert(l, 0, "b", 1, &d1, &lim), CRDT_ESTALE);
    ck_assert_int_eq(crdt_list_insert(l, 0, "toolong", 7, &d2, &lim),
                     DYN_ELIMIT);
    ck_assert_int_eq(crdt_list_insert(l, 1, "bb", 2, &d2, &lim), 0);
    /* two members is the bound: a third is refused, LSET is not */
    ck_assert_int_eq(crdt_list_insert(l, 1, "c", 1, &d3, &lim), DYN_ELIMIT);
    ck_assert_int_eq(crdt_list_set(l, 2, "c", 1, &d3, &lim), DYN_EINVAL);
    ck_assert_int_eq(crdt_list_set(l, 0, "c", 1, &d3, &lim), 0);
    ck_assert_uint_eq(crdt_list_len(l), 2);
    char buf[8];
    ck_assert_str_eq(at(l, 0, buf, sizeof(buf)), "c");
    ck_assert_str_eq(at(l, 1, buf, sizeof(buf)), "bb");
    /* describe names every element */
    struct dbuf t;
    dbuf_init(&t);
    crdt_list_describe(l, &t);
    dbuf_appendc(&t, 0);
    ck_assert_ptr_nonnull(strstr(t.p, "elements 2\n"));
    ck_assert_ptr_nonnull(
        strstr(t.p, "\n2147483648.(0000000000000007:3) \"c\"\n"));
    ck_assert_ptr_nonnull(
        strstr(t.p, "\n2147487744.(0000000000000007:2) \"bb\"\n"));
    dbuf_free(&t);
    crdt_list_free(l);
}
END_TEST

/* crdt_set_remove_at, which LTRIM, LREM and pops use: the members at the
 * given indexes go in one pass, as single removes would take them. */
START_TEST(set_remove_at_is_single_removes_in_one_pass)
{
    struct rng r = { SEED + 6 };
    for (int it = 0; it < 200; it++) {
        struct crdt_set *a = crdt_set_new(), *b;
        uint32_t n = 1 + rng_below(&r, 40);
        for (uint32_t k = 0; k < n; k++) {
            char m[8];
            int added;
            struct crdt_dot d = { 5, 1 + k };
            snprintf(m, sizeof(m), "m%02u", k);
            ck_assert_int_eq(crdt_set_add(a, m, strlen(m), &d, NULL, &added),
                             0);
        }
        b = crdt_set_dup(a);
        /* ascending indexes, some repeated, some past the end */
        uint32_t ix[64], k = 0, want = 0;
        for (uint32_t i = 0; i < n + 3 && k < 60; i++) {
            if (rng_below(&r, 3) == 0) {
                ix[k++] = i;
                if (rng_below(&r, 4) == 0)
                    ix[k++] = i;
                want += i < n;
            }
        }
        for (uint32_t j = k; j > 0; j--) {
            uint32_t i = ix[j - 1];
            if (i < crdt_set_card(b) && (j == k || ix[j] != i)) {
                const uint8_t *m;
                size_t len;
                crdt_set_member(b, i, &m, &len);
                uint8_t *copy = dyn_memdup(m, len);
                ck_assert_int_eq(crdt_set_remove(b, copy, len), 1);
                dyn_free(copy);
            }
        }
        ck_assert_uint_eq(crdt_set_remove_at(a, ix, k), want);
        struct dbuf x, y;
        dbuf_init(&x);
        dbuf_init(&y);
        crdt_set_encode(a, &x);
        crdt_set_encode(b, &y);
        ck_assert(x.len == y.len && memcmp(x.p, y.p, x.len) == 0);
        dbuf_free(&x);
        dbuf_free(&y);
        crdt_set_free(a);
        crdt_set_free(b);
    }
}
END_TEST

/* ---- two replicas pushing at once ----------------------------------------- */

START_TEST(list_concurrent_pushes_from_two_sides_all_survive)
{
    struct crdt_list *base = crdt_list_new();
    struct crdt_dot d = { actors[0], 1 };
    insert_ok(base, 0, "m", &d);
    struct crdt_list *a = crdt_list_dup(base), *b = crdt_list_dup(base);
    /* A: RPUSH a1 a2, LPUSH a0; B: RPUSH b1, LPUSH b0 b00 */
    struct crdt_dot a1 = { actors[1], 10 }, a2 = { actors[1], 11 },
                    a0 = { actors[1], 12 };
    struct crdt_dot b1 = { actors[2], 10 }, b0 = { actors[2], 11 },
                    b00 = { actors[2], 12 };
    insert_ok(a, 1, "a1", &a1);
    insert_ok(a, 2, "a2", &a2);
    insert_ok(a, 0, "a0", &a0);
    insert_ok(b, 1, "b1", &b1);
    insert_ok(b, 0, "b0", &b0);
    insert_ok(b, 0, "b00", &b00);
    struct crdt_list *ab = crdt_list_join(a, b), *ba = crdt_list_join(b, a);
    ck_assert(same(ab, ba));
    /* same digits on both sides: ordered by dot (actor 1 before actor 2) */
    static const char *const want[] = { "b00", "a0", "b0", "m",
                                        "a1",  "b1", "a2" };
    ck_assert_uint_eq(crdt_list_len(ab), 7);
    char buf[8];
    for (uint32_t i = 0; i < 7; i++)
        ck_assert_str_eq(at(ab, i, buf, sizeof(buf)), want[i]);
    /* An insert between the two same-digit siblings a1 and b1 fits. */
    struct crdt_dot c = { actors[3], 5 };
    insert_ok(ab, 5, "c", &c);
    ck_assert_str_eq(at(ab, 4, buf, sizeof(buf)), "a1");
    ck_assert_str_eq(at(ab, 5, buf, sizeof(buf)), "c");
    ck_assert_str_eq(at(ab, 6, buf, sizeof(buf)), "b1");
    /* A removes m concurrently with B's LSET of b0: both apply. */
    struct crdt_list *a2s = crdt_list_dup(ab), *b2s = crdt_list_dup(ab);
    crdt_list_remove(a2s, 3);
    struct crdt_dot s = { actors[2], 20 };
    ck_assert_int_eq(crdt_list_set(b2s, 2, "B0", 2, &s, NULL), 0);
    struct crdt_list *fin = crdt_list_join(a2s, b2s);
    static const char *const want2[] = { "b00", "a0", "B0", "a1",
                                         "c",   "b1", "a2" };
    ck_assert_uint_eq(crdt_list_len(fin), 7);
    for (uint32_t i = 0; i < 7; i++)
        ck_assert_str_eq(at(fin, i, buf, sizeof(buf)), want2[i]);
    crdt_list_free(fin);
    crdt_list_free(a2s);
    crdt_list_free(b2s);
    crdt_list_free(ab);
    crdt_list_free(ba);
    crdt_list_free(a);
    crdt_list_free(b);
    crdt_list_free(base);
}
END_TEST

/* ---- random histories --------------------------------------------------------- */

#define MAXUP (NREP + STEPS + 1)
#define MAXVAL (STEPS + NREP * 8)

struct hist {
    struct crdt_list *rep[NREP];
    struct crdt_list *updates[MAXUP]; /* every state an op produced */
    uint32_t nupdates;
    uint32_t nvals;                   /* values pushed: "0".."nvals-1" */
    uint8_t removed[MAXVAL];
};

static void hist_free(struct hist *h)
{
    for (int k = 0; k < NREP; k++)
        crdt_list_free(h->rep[k]);
    for (uint32_t k = 0; k < h->nupdates; k++)
        crdt_list_free(h->updates[k]);
}

static uint32_t value_of(const struct crdt_list *l, uint32_t i)
{
    char buf[16];
    return (uint32_t)strtoul(at(l, i, buf, sizeof(buf)), NULL, 10);
}

/* One random step on a random replica; records the new state. */
static void step(struct rng *r, struct hist *h, struct dots *d)
{
    int k = (int)rng_below(r, NREP);
    struct crdt_list *l = h->rep[k];
    uint32_t n = crdt_list_len(l), op = rng_below(r, 100);
    char v[16];
    if (op < 40 || n == 0) {
        struct crdt_dot dot = next_dot(r, d, k);
        uint32_t where = rng_below(r, 5);
        uint32_t i = where < 2 ? 0 : where < 4 ? n : rng_below(r, n + 1);
        snprintf(v, sizeof(v), "%u", h->nvals++);
        insert_ok(l, i, v, &dot);
    } else if (op < 55) {
        uint32_t i = rng_below(r, n);
        h->removed[value_of(l, i)] = 1;
        crdt_list_remove(l, i);
    } else if (op < 65) {
        struct crdt_dot dot = next_dot(r, d, k);
        uint32_t i = rng_below(r, n);
        h->removed[value_of(l, i)] = 1;
        snprintf(v, sizeof(v), "%u", h->nvals++);
        ck_assert_int_eq(crdt_list_set(l, i, v, strlen(v), &dot, NULL), 0);
    } else {
        join_into(&h->rep[k], h->rep[rng_below(r, NREP)]);
    }
    ck_assert_uint_lt(h->nupdates, MAXUP);
    h->updates[h->nupdates++] = crdt_list_dup(h->rep[k]);
}

static void history(struct rng *r, struct hist *h)
{
    struct dots d;
    memset(&d, 0, sizeof(d));
    memset(h, 0, sizeof(*h));
    for (int k = 0; k < NREP; k++)
        h->rep[k] = crdt_list_new();
    for (int s = 0; s < STEPS; s++)
        step(r, h, &d);
}

static struct crdt_list *join_all(const struct hist *h)
{
    struct crdt_list *all = crdt_list_new();
    for (int k = 0; k < NREP; k++)
        join_into(&all, h->rep[k]);
    return all;
}

START_TEST(list_join_is_a_semilattice)
{
    struct rng r = { SEED + 1 };
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        history(&r, &h);
        for (int t = 0; t < 20; t++) {
            const struct crdt_list *a = h.updates[rng_below(&r, h.nupdates)];
            const struct crdt_list *b = h.updates[rng_below(&r, h.nupdates)];
            const struct crdt_list *c = h.updates[rng_below(&r, h.nupdates)];
            struct crdt_list *ab = crdt_list_join(a, b);
            struct crdt_list *ba = crdt_list_join(b, a);
            struct crdt_list *aa = crdt_list_join(a, a);
            struct crdt_list *bc = crdt_list_join(b, c);
            struct crdt_list *ab_c = crdt_list_join(ab, c);
            struct crdt_list *a_bc = crdt_list_join(a, bc);
            if (!same(ab, ba) || !same(aa, a) || !same(ab_c, a_bc))
                ck_abort_msg("join laws broken: history %d, try %d", it, t);
            crdt_list_free(ab);
            crdt_list_free(ba);
            crdt_list_free(aa);
            crdt_list_free(bc);
            crdt_list_free(ab_c);
            crdt_list_free(a_bc);
        }
        hist_free(&h);
    }
}
END_TEST

START_TEST(list_replicas_converge_whatever_the_delivery_order)
{
    struct rng r = { SEED + 2 };
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        history(&r, &h);
        struct crdt_list *want = crdt_list_new();
        for (uint32_t k = 0; k < h.nupdates; k++)
            join_into(&want, h.updates[k]);
        for (int order = 0; order < 4; order++) {
            struct crdt_list *got = crdt_list_new();
            /* every update once, in a random order, plus duplicates */
            uint32_t ix[MAXUP];
            for (uint32_t k = 0; k < h.nupdates; k++)
                ix[k] = k;
            for (uint32_t k = h.nupdates; k > 1; k--) {
                uint32_t j = rng_below(&r, k), t = ix[k - 1];
                ix[k - 1] = ix[j];
                ix[j] = t;
            }
            for (uint32_t k = 0; k < h.nupdates; k++) {
                join_into(&got, h.updates[ix[k]]);
                if (rng_below(&r, 4) == 0)
                    join_into(&got, h.updates[rng_below(&r, h.nupdates)]);
            }
            if (!same(got, want))
                ck_abort_msg("no convergence: history %d, order %d", it,
                             order);
            crdt_list_free(got);
        }
        crdt_list_free(want);
        hist_free(&h);
    }
}
END_TEST

/*
 * The oracle.  Values are unique ("0", "1", ...), so an element is its
 * value.  At the end every pushed value that no op removed is present
 * once and every removed one is absent; and for every state any replica
 * held, its elements that survive appear in the final list in the order
 * that state showed them.
 */
START_TEST(list_loses_no_push_and_keeps_every_replicas_order)
{
    struct rng r = { SEED + 3 };
    uint64_t checked_pairs = 0;
    for (int it = 0; it < HISTORIES; it++) {
        struct hist h;
        history(&r, &h);
        struct crdt_list *all = join_all(&h);
        int32_t pos[MAXVAL];
        for (uint32_t v = 0; v < MAXVAL; v++)
            pos[v] = -1;
        for (uint32_t i = 0; i < crdt_list_len(all); i++) {
            uint32_t v = value_of(all, i);
            ck_assert_uint_lt(v, h.nvals);
            if (pos[v] >= 0)
                ck_abort_msg("history %d: value %u twice", it, v);
            pos[v] = (int32_t)i;
        }
        for (uint32_t v = 0; v < h.nvals; v++)
            if ((pos[v] >= 0) == h.removed[v])
                ck_abort_msg("history %d: value %u %s", it, v,
                             h.removed[v] ? "removed but present"
                                          : "pushed but lost");
        for (uint32_t u = 0; u < h.nupdates; u++) {
            const struct crdt_list *s = h.updates[u];
            int32_t last = -1;
            for (uint32_t i = 0; i < crdt_list_len(s); i++) {
                int32_t p = pos[value_of(s, i)];
                if (p < 0)
                    continue;
                if (p <= last)
                    ck_abort_msg("history %d: state %u's order not kept", it,
                                 u);
                last = p;
                checked_pairs++;
            }
        }
        crdt_list_free(all);
        hist_free(&h);
    }
    ck_assert_uint_gt(checked_pairs, 1000);
}
END_TEST

START_TEST(list_compaction_changes_no_element)
{
    struct rng r = { SEED + 4 };
    for (int it = 0; it < HISTORIES / 3; it++) {
        struct hist h;
        history(&r, &h);
        struct crdt_list *all = join_all(&h), *c = crdt_list_dup(all);
        struct vclock st;
        vclock_init(&st);
        crdt_list_clock(all, &st);
        ck_assert_int_eq(crdt_list_compact(c, &st), 0);
        ck_assert_uint_eq(crdt_list_len(c), crdt_list_len(all));
        char x[16], y[16];
        for (uint32_t i = 0; i < crdt_list_len(c); i++)
            ck_assert_str_eq(at(c, i, x, sizeof(x)), at(all, i, y, sizeof(y)));
        /* a later push on the compacted copy joins back in place */
        struct crdt_dot dot = { actors[0], 1000000 };
        struct crdt_list *c2 = crdt_list_dup(c), *a2 = crdt_list_dup(all);
        insert_ok(c2, 0, "new", &dot);
        insert_ok(a2, 0, "new", &dot);
        join_into(&c2, c);
        ck_assert_uint_eq(crdt_list_len(c2), crdt_list_len(a2));
        for (uint32_t i = 0; i < crdt_list_len(c2); i++)
            ck_assert_str_eq(at(c2, i, x, sizeof(x)), at(a2, i, y, sizeof(y)));
        crdt_list_free(c2);
        crdt_list_free(a2);
        vclock_free(&st);
        crdt_list_free(c);
        crdt_list_free(all);
        hist_free(&h);
    }
}
END_TEST

/* ---- id length ---------------------------------------------------------------- */

/* Bytes per element of a list of RUN pushes of 8-byte values at one end
 * (at_head: LPUSH), compacted as a stable list is on a node alone. */
static double run_bytes(int at_head, uint32_t *len_out)
{
    struct crdt_list *l = crdt_list_new();
    for (uint32_t k = 0; k < RUN; k++) {
        struct crdt_dot dot = { actors[1], 1 + k };
        char v[9];
        snprintf(v, sizeof(v), "%08u", k);
        insert_ok(l, at_head ? 0 : crdt_list_len(l), v, &dot);
    }
    /* LPUSH L a b c, RPUSH R a b c in one op each: the same state as three
     * single pushes */
    struct crdt_list *one = crdt_list_new(), *many = crdt_list_new();
    static const char *const abc[] = { "a", "b", "c" };
    const void *rev[3] = { "c", "b", "a" }, *fwd[3] = { "a", "b", "c" };
    size_t lens[3] = { 1, 1, 1 };
    struct crdt_dot f = { actors[2], 50 };
    insert_ok(one, 0, "x", &f);
    insert_ok(many, 0, "x", &f);
    for (uint32_t j = 0; j < 3; j++) {
        struct crdt_dot d = { actors[2], 51 + j };
        insert_ok(one, at_head ? 0 : 1 + j, abc[j], &d);
    }
    f.counter = 51;
    ck_assert_int_eq(crdt_list_insert_many(many, at_head ? 0 : 1,
                                           at_head ? rev : fwd, lens, 3,
                                           &f, NULL),
                     0);
    ck_assert(same(one, many));
    crdt_list_free(one);
    crdt_list_free(many);
    struct vclock st;
    vclock_init(&st);
    crdt_list_clock(l, &st);
    ck_assert_int_eq(crdt_list_compact(l, &st), 0);
    vclock_free(&st);
    char buf[16];
    char first[16];
    snprintf(first, sizeof(first), "%08u", at_head ? RUN - 1 : 0);
    ck_assert_str_eq(at(l, 0, buf, sizeof(buf)), first);
    struct dbuf b;
    dbuf_init(&b);
    crdt_list_encode(l, &b);
    *len_out = crdt_list_len(l);
    double per = (double)b.len / RUN;
    dbuf_free(&b);
    crdt_list_free(l);
    return per;
}

START_TEST(list_ids_stay_short)
{
    uint32_t n;
    double r = run_bytes(0, &n);
    ck_assert_uint_eq(n, RUN);
    double lp = run_bytes(1, &n);
    ck_assert_uint_eq(n, RUN);
    /* 8 value bytes, a 23-byte id at depth one (28 at depth two), its
     * length varint and the set's one mark byte */
    fprintf(stderr,
            "list ids: %u RPUSH %.1f bytes/element, %u LPUSH %.1f "
            "bytes/element (8-byte values, compacted)\n",
            RUN, r, RUN, lp);
    ck_assert(r < 40 && lp < 40);
    /* LINSERT at one place, over and over: ids deepen slowly */
    struct crdt_list *l = crdt_list_new();
    struct crdt_dot d = { actors[0], 1 };
    insert_ok(l, 0, "a", &d);
    d.counter++;
    insert_ok(l, 1, "z", &d);
    for (int k = 0; k < 2000; k++) {
        d.counter++;
        insert_ok(l, 1, "m", &d); /* always right after "a" */
    }
    struct dbuf b;
    dbuf_init(&b);
    crdt_list_encode(l, &b);
    fprintf(stderr, "list ids: 2000 LINSERTs at one place: %.1f "
                    "bytes/element\n", (double)b.len / crdt_list_len(l));
    ck_assert((double)b.len / crdt_list_len(l) < 200);
    dbuf_free(&b);
    crdt_list_free(l);
}
END_TEST

/* ---- the decoder ------------------------------------------------------------- */

/* Round trip, every truncation refused, FUZZ mutations survived; returns
 * how many mutants decoded (each re-encodes to its bytes and joins). */
static uint32_t fuzz(struct rng *r, const struct dbuf *good)
{
    struct crdt_list *g = NULL, *s = NULL;
    struct dbuf again;
    dbuf_init(&again);
    ck_assert_int_eq(crdt_list_decode((const uint8_t *)good->p, good->len,
                                      NULL, &g),
                     0);
    enc(g, &again);
    ck_assert(again.len == good->len &&
              memcmp(again.p, good->p, good->len) == 0);
    for (size_t cut = 0; cut < good->len; cut++) {
        uint8_t *copy = dyn_malloc(cut + 1);
        memcpy(copy, good->p, cut);
        ck_assert_int_ne(crdt_list_decode(copy, cut, NULL, &s), 0);
        ck_assert_ptr_null(s);
        dyn_free(copy);
    }
    uint32_t accepted = 0;
    for (int it = 0; it < FUZZ / 4; it++) {
        size_t len = good->len, cap = good->len + 2;
        uint8_t *m = dyn_malloc(cap);
        memcpy(m, good->p, len);
        int edits = 1 + (int)rng_below(r, 3);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t i = rng_below(r, (uint32_t)len);
            switch (rng_below(r, 4)) {
            case 0:
                m[i] ^= (uint8_t)(1u << rng_below(r, 8));
                break;
            case 1:
                m[i] = (uint8_t)rng_next(r);
                break;
            case 2:
                memmove(m + i, m + i + 1, len - i - 1);
                len--;
                break;
            default:
                if (len < cap) {
                    memmove(m + i + 1, m + i, len - i);
                    m[i] = (uint8_t)rng_below(r, 3); /* token-looking */
                    len++;
                }
            }
        }
        uint8_t *exact = dyn_malloc(len ? len : 1);
        memcpy(exact, m, len);
        dyn_free(m);
        if (crdt_list_decode(exact, len, NULL, &s) == 0) {
            enc(s, &again);
            ck_assert(again.len == len && memcmp(again.p, exact, len) == 0);
            /* a stranger joins, commutes, and still takes inserts */
            struct crdt_list *sg = crdt_list_join(s, g);
            struct crdt_list *gs = crdt_list_join(g, s);
            ck_assert(same(sg, gs));
            /* (a mutated value beside its original is two elements with
             * one id: nothing fits between those two, DYN_EINVAL) */
            struct crdt_dot d = { 0x1234, 999999999 };
            uint32_t n = crdt_list_len(sg);
            int rc = crdt_list_insert(sg, rng_below(r, n + 1), "x", 1, &d,
                                      NULL);
            ck_assert(rc == 0 || rc == CRDT_ESTALE || rc == DYN_EINVAL);
            d.counter++;
            rc = crdt_list_insert(sg, crdt_list_len(sg), "y", 1, &d, NULL);
            ck_assert(rc == 0 || rc == CRDT_ESTALE);
            crdt_list_free(sg);
            crdt_list_free(gs);
            crdt_list_free(s);
            accepted++;
        } else {
            ck_assert_ptr_null(s);
        }
        dyn_free(exact);
    }
    crdt_list_free(g);
    dbuf_free(&again);
    return accepted;
}

START_TEST(list_decode_rejects_truncated_and_corrupt_input)
{
    struct rng r = { SEED + 5 };
    struct dbuf b;
    dbuf_init(&b);
    uint32_t accepted = 0;
    for (int it = 0; it < 6; it++) {
        struct hist h;
        history(&r, &h);
        for (int k = 0; k < NREP; k++) {
            enc(h.rep[k], &b);
            accepted += fuzz(&r, &b);
        }
        struct crdt_list *all = join_all(&h);
        struct vclock st;
        vclock_init(&st);
        crdt_list_clock(all, &st);
        ck_assert_int_eq(crdt_list_compact(all, &st), 0);
        enc(all, &b);
        accepted += fuzz(&r, &b);
        vclock_free(&st);
        crdt_list_free(all);
        hist_free(&h);
    }
    ck_assert_uint_gt(accepted, 0);
    fprintf(stderr, "list fuzz: %u mutants decoded\n", accepted);

    /* A set whose member is not an id, and two elements with one id, are
     * valid sets but not lists. */
    struct crdt_list *l;
    struct crdt_set *s = crdt_set_new();
    struct crdt_dot d = { 9, 1 };
    int added;
    ck_assert_int_eq(crdt_set_add(s, "plain", 5, &d, NULL, &added), 0);
    dbuf_reset(&b);
    dbuf_appendc(&b, CRDT_TYPE_LIST);
    crdt_set_encode(s, &b);
    ck_assert_int_eq(crdt_list_decode((const uint8_t *)b.p, b.len, NULL, &l),
                     DYN_EINVAL);
    crdt_set_free(s);
    /* DIGIT(2^31), DOT(0:1), END: one id, with "a" and with "b" */
    struct dbuf m;
    dbuf_init(&m);
    s = crdt_set_new();
    struct crdt_dot d2 = { 9, 2 };
    uint8_t id[23] = { 0x02, 0x80, 0, 0, 0, 0x01 };
    id[5 + 8] = 0;
    id[5 + 16] = 1;       /* own dot (0:1) */
    id[22] = 0x00;        /* END */
    dbuf_append(&m, id, sizeof(id));
    dbuf_appendc(&m, 'a');
    ck_assert_int_eq(crdt_set_add(s, m.p, m.len, &d, NULL, &added), 0);
    m.p[m.len - 1] = 'b';
    ck_assert_int_eq(crdt_set_add(s, m.p, m.len, &d2, NULL, &added), 0);
    dbuf_reset(&b);
    dbuf_appendc(&b, CRDT_TYPE_LIST);
    crdt_set_encode(s, &b);
    /* Only a forged state holds that (ids are unique, element bytes never
     * change), but a join with one keeps both, so it must stay readable:
     * it decodes, and only an insert between the two is refused. */
    struct crdt_list *twice;
    ck_assert_int_eq(crdt_list_decode((const uint8_t *)b.p, b.len, NULL,
                                      &twice),
                     0);
    ck_assert_uint_eq(crdt_list_len(twice), 2);
    struct crdt_dot d3 = { 9, 3 }, d4 = { 9, 4 };
    ck_assert_int_eq(crdt_list_insert(twice, 1, "x", 1, &d3, NULL),
                     DYN_EINVAL);
    insert_ok(twice, 2, "x", &d3);
    insert_ok(twice, 0, "y", &d4);
    ck_assert_uint_eq(crdt_list_len(twice), 4);
    crdt_list_free(twice);
    /* and a set's bytes are not a list's */
    ck_assert_int_eq(crdt_list_decode((const uint8_t *)b.p + 1, b.len - 1,
                                      NULL, &twice),
                     DYN_EINVAL);
    crdt_set_free(s);
    dbuf_free(&m);
    dbuf_free(&b);
}
END_TEST

static Suite *list_suite(void)
{
    Suite *s = suite_create("crdt_list");
    TCase *tc = tcase_create("list");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, list_on_one_replica_is_an_array);
    tcase_add_test(tc, list_refuses_bad_indexes_seen_dots_and_limits);
    tcase_add_test(tc, set_remove_at_is_single_removes_in_one_pass);
    tcase_add_test(tc, list_concurrent_pushes_from_two_sides_all_survive);
    tcase_add_test(tc, list_join_is_a_semilattice);
    tcase_add_test(tc, list_replicas_converge_whatever_the_delivery_order);
    tcase_add_test(tc, list_loses_no_push_and_keeps_every_replicas_order);
    tcase_add_test(tc, list_compaction_changes_no_element);
    tcase_add_test(tc, list_ids_stay_short);
    tcase_add_test(tc, list_decode_rejects_truncated_and_corrupt_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(list_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
