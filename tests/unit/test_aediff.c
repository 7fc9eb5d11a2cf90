/*
 * test_aediff.c -- anti-entropy's key diff: given two replicas' listings
 * of the same leaves, exactly the keys that differ are pulled and pushed,
 * each once, in key order, whatever order the listings come in, and a
 * reapable tombstone held by one side only stays where it is.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/aediff.h"
#include "server/util.h"

#define E(k, d) { k, sizeof(k) - 1, d, 0 }
#define R(k, d) { k, sizeof(k) - 1, d, 1 }      /* reapable */
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* "k1,k2" from a result list, for readable asserts. */
static const char *names(const struct aediff_entry *const *v, size_t n)
{
    static char buf[4096];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%.*s",
                              i ? "," : "", (int)v[i]->len, v[i]->key);
    return buf;
}

static void expect(struct aediff_entry *l, size_t nl, struct aediff_entry *r,
                   size_t nr, const char *pull, const char *push,
                   size_t skipped)
{
    struct aediff_result d;
    aediff_keys(l, nl, r, nr, &d);
    ck_assert_str_eq(names(d.pull, d.npull), pull);
    ck_assert_str_eq(names(d.push, d.npush), push);
    ck_assert_uint_eq(d.reapable_skipped, skipped);
    for (size_t i = 0; i < d.npull; i++)
        ck_assert(d.pull[i] >= r && d.pull[i] < r + nr);
    for (size_t i = 0; i < d.npush; i++)
        ck_assert(d.push[i] >= l && d.push[i] < l + nl);
    aediff_result_free(&d);
}

START_TEST(identical_sides_exchange_nothing)
{
    struct aediff_entry l[] = { E("a", 1), E("b", 2), E("c", 3) };
    struct aediff_entry r[] = { E("a", 1), E("b", 2), E("c", 3) };
    expect(l, N(l), r, N(r), "", "", 0);
}
END_TEST

START_TEST(disjoint_sides_swap_everything)
{
    struct aediff_entry l[] = { E("a", 1), E("c", 3) };
    struct aediff_entry r[] = { E("b", 2), E("d", 4) };
    expect(l, N(l), r, N(r), "b,d", "a,c", 0);
}
END_TEST

START_TEST(same_key_different_digest_goes_both_ways)
{
    struct aediff_entry l[] = { E("a", 1), E("b", 2), E("c", 3) };
    struct aediff_entry r[] = { E("a", 1), E("b", 7), E("c", 3), E("d", 4) };
    expect(l, N(l), r, N(r), "b,d", "b", 0);
}
END_TEST

START_TEST(empty_sides)
{
    struct aediff_entry l[] = { E("x", 1), E("y", 2) };
    struct aediff_entry r[] = { E("y", 2), E("z", 3) };
    expect(NULL, 0, NULL, 0, "", "", 0);
    expect(l, N(l), NULL, 0, "", "x,y", 0);
    expect(NULL, 0, r, N(r), "y,z", "", 0);
    aediff_result_free(NULL);
}
END_TEST

START_TEST(unsorted_input_gives_sorted_output)
{
    struct aediff_entry l[] = { E("m", 5), E("c", 3), E("q", 1), E("a", 1) };
    struct aediff_entry r[] = { E("z", 9), E("a", 2), E("m", 5), E("b", 1) };
    expect(l, N(l), r, N(r), "a,b,z", "a,c,q", 0);
}
END_TEST

START_TEST(keys_compare_as_bytes_shorter_first)
{
    /* a prefix sorts first; bytes are unsigned; an embedded NUL is a byte
     * like any other, not the end of the key */
    struct aediff_entry l[] = { { "ab", 2, 1, 0 }, { "a\0b", 3, 1, 0 },
                                { "\xff", 1, 1, 0 } };
    struct aediff_entry r[] = { { "a", 1, 1, 0 }, { "a\0c", 3, 1, 0 },
                                { "ab", 2, 1, 0 } };
    struct aediff_result d;
    aediff_keys(l, N(l), r, N(r), &d);
    ck_assert_uint_eq(d.npull, 2);
    ck_assert_uint_eq(d.pull[0]->len, 1);                   /* "a" */
    ck_assert_mem_eq(d.pull[1]->key, "a\0c", 3);
    ck_assert_uint_eq(d.npush, 2);
    ck_assert_mem_eq(d.push[0]->key, "a\0b", 3);
    ck_assert_mem_eq(d.push[1]->key, "\xff", 1);
    aediff_result_free(&d);
    ck_assert_int_lt(aediff_key_cmp("a", 1, "ab", 2), 0);
    ck_assert_int_gt(aediff_key_cmp("\xff", 1, "a", 1), 0);
    ck_assert_int_eq(aediff_key_cmp("a\0b", 3, "a\0b", 3), 0);
}
END_TEST

START_TEST(reapable_tombstone_on_one_side_stays_put)
{
    /* lt: our reapable tombstone, absent there (they reaped it): no push;
     * rt: theirs, absent here: no pull; both counted.  bt: reapable on
     * both sides but different: the digests decide, as for any key. */
    struct aediff_entry l[] = { R("lt", 1), R("bt", 2), E("k", 1) };
    struct aediff_entry r[] = { R("rt", 1), R("bt", 3), E("k", 1),
                                E("new", 4) };
    expect(l, N(l), r, N(r), "bt,new", "bt", 2);
    struct aediff_entry l2[] = { R("same", 5) };
    struct aediff_entry r2[] = { R("same", 5) };
    expect(l2, N(l2), r2, N(r2), "", "", 0);
}
END_TEST

START_TEST(duplicates_are_one_key)
{
    /* a key listed twice with the digest both sides agree on: in sync */
    struct aediff_entry l[] = { E("a", 1), E("b", 2) };
    struct aediff_entry r[] = { E("a", 1), E("a", 1), E("b", 2) };
    expect(l, N(l), r, N(r), "", "", 0);
    /* twice with two digests, one of them ours: not in sync, sent once
     * each way, whichever copy qsort puts first */
    struct aediff_entry l2[] = { E("a", 1) };
    struct aediff_entry r2[] = { E("a", 2), E("a", 1) };
    expect(l2, N(l2), r2, N(r2), "a", "a", 0);
    struct aediff_entry l3[] = { E("a", 1) };
    struct aediff_entry r3[] = { E("a", 1), E("a", 2) };
    expect(l3, N(l3), r3, N(r3), "a", "a", 0);
    /* only there, listed three times: pulled once */
    struct aediff_entry r4[] = { E("z", 1), E("z", 2), E("z", 1) };
    expect(NULL, 0, r4, N(r4), "z", "", 0);
    /* only here, twice: reapable only when both copies are */
    struct aediff_entry l5[] = { R("t", 1), E("t", 1), R("u", 1), R("u", 1) };
    expect(l5, N(l5), NULL, 0, "", "t", 1);
}
END_TEST

/* ---- random listings against a naive reference ------------------------ */

static uint64_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

/* The reference compares bytes by hand (not aediff_key_cmp) and decides
 * each distinct key by scanning both whole lists. */
static int ref_cmp(const struct aediff_entry *a, const struct aediff_entry *b)
{
    for (size_t i = 0; i < a->len && i < b->len; i++)
        if ((unsigned char)a->key[i] != (unsigned char)b->key[i])
            return (unsigned char)a->key[i] < (unsigned char)b->key[i] ? -1 : 1;
    return a->len == b->len ? 0 : a->len < b->len ? -1 : 1;
}

struct side_view { int present, all_reapable, mixed; uint64_t digest; };

static struct side_view ref_side(const struct aediff_entry *v, size_t n,
                                 const struct aediff_entry *k)
{
    struct side_view s = { 0, 1, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        if (ref_cmp(&v[i], k) != 0)
            continue;
        if (s.present && v[i].digest != s.digest)
            s.mixed = 1;
        s.present = 1;
        s.digest = v[i].digest;
        if (!v[i].reapable)
            s.all_reapable = 0;
    }
    return s;
}

/* Distinct keys of both sides, sorted by insertion. */
static size_t ref_keys(const struct aediff_entry *a, size_t na,
                       const struct aediff_entry *b, size_t nb,
                       const struct aediff_entry **out)
{
    size_t n = 0;
    for (size_t s = 0; s < 2; s++) {
        const struct aediff_entry *v = s ? b : a;
        size_t nv = s ? nb : na;
        for (size_t i = 0; i < nv; i++) {
            size_t j = 0;
            while (j < n && ref_cmp(out[j], &v[i]) < 0)
                j++;
            if (j < n && ref_cmp(out[j], &v[i]) == 0)
                continue;
            memmove(&out[j + 1], &out[j], (n - j) * sizeof(*out));
            out[j] = &v[i];
            n++;
        }
    }
    return n;
}

static void random_side(uint64_t *s, char (*store)[8], struct aediff_entry *v,
                        size_t n, unsigned keyspace)
{
    for (size_t i = 0; i < n; i++) {
        unsigned k = (unsigned)(rnd(s) % keyspace);
        /* lengths 1..4 from one key number, so prefixes and high bytes
         * occur: "k" "k\x80" ... */
        size_t len = 1 + k % 4;
        for (size_t b = 0; b < len; b++)
            store[i][b] = (char)(b == 0 ? 'a' + (int)(k / 4 % 26)
                                        : (int)(0x70 + (k >> (2 + b)) % 32));
        v[i].key = store[i];
        v[i].len = len;
        v[i].digest = rnd(s) % 3 == 0 ? rnd(s) % 4 : k;   /* mostly agree */
        v[i].reapable = rnd(s) % 5 == 0;
    }
}

START_TEST(random_listings_match_the_naive_reference)
{
    enum { MAXN = 1500 };
    static char lk[MAXN][8], rk[MAXN][8];
    static struct aediff_entry l[MAXN], r[MAXN];
    static const struct aediff_entry *keys[2 * MAXN];
    uint64_t seed = 20261202;
    size_t checked = 0, pulls = 0, pushes = 0, skips = 0;
    for (int round = 0; round < 40; round++) {
        size_t nl = rnd(&seed) % MAXN, nr = rnd(&seed) % MAXN;
        if (round == 0)
            nl = 0;
        unsigned keyspace = 1 + (unsigned)(rnd(&seed) % 3000);
        random_side(&seed, lk, l, nl, keyspace);
        random_side(&seed, rk, r, nr, keyspace);
        /* the reference runs first, on the unsorted lists */
        size_t nk = ref_keys(l, nl, r, nr, keys);
        size_t epull = 0, epush = 0, eskip = 0;
        const struct aediff_entry *want_pull[2 * MAXN], *want_push[2 * MAXN];
        for (size_t i = 0; i < nk; i++) {
            struct side_view a = ref_side(l, nl, keys[i]);
            struct side_view b = ref_side(r, nr, keys[i]);
            if (a.present && b.present) {
                if (a.mixed || b.mixed || a.digest != b.digest) {
                    want_pull[epull++] = keys[i];
                    want_push[epush++] = keys[i];
                }
            } else if (a.present) {
                if (a.all_reapable)
                    eskip++;
                else
                    want_push[epush++] = keys[i];
            } else if (b.all_reapable) {
                eskip++;
            } else {
                want_pull[epull++] = keys[i];
            }
        }
        /* keys[] point into l and r, which aediff_keys reorders: compare
         * by content, copied out first */
        static char wp[2 * MAXN][8], wq[2 * MAXN][8];
        size_t wpl[2 * MAXN], wql[2 * MAXN];
        for (size_t i = 0; i < epull; i++) {
            memcpy(wp[i], want_pull[i]->key, want_pull[i]->len);
            wpl[i] = want_pull[i]->len;
        }
        for (size_t i = 0; i < epush; i++) {
            memcpy(wq[i], want_push[i]->key, want_push[i]->len);
            wql[i] = want_push[i]->len;
        }
        struct aediff_result d;
        aediff_keys(l, nl, r, nr, &d);
        ck_assert_uint_eq(d.npull, epull);
        ck_assert_uint_eq(d.npush, epush);
        ck_assert_uint_eq(d.reapable_skipped, eskip);
        for (size_t i = 0; i < epull; i++) {
            ck_assert_uint_eq(d.pull[i]->len, wpl[i]);
            ck_assert_mem_eq(d.pull[i]->key, wp[i], wpl[i]);
            ck_assert(d.pull[i] >= r && d.pull[i] < r + nr);
        }
        for (size_t i = 0; i < epush; i++) {
            ck_assert_uint_eq(d.push[i]->len, wql[i]);
            ck_assert_mem_eq(d.push[i]->key, wq[i], wql[i]);
            ck_assert(d.push[i] >= l && d.push[i] < l + nl);
        }
        aediff_result_free(&d);
        checked += nk;
        pulls += epull;
        pushes += epush;
        skips += eskip;
    }
    /* the generator reached every branch */
    ck_assert_uint_gt(checked, 10000);
    ck_assert_uint_gt(pulls, 1000);
    ck_assert_uint_gt(pushes, 1000);
    ck_assert_uint_gt(skips, 100);
}
END_TEST

static Suite *aediff_suite(void)
{
    Suite *su = suite_create("aediff");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, identical_sides_exchange_nothing);
    tcase_add_test(tc, disjoint_sides_swap_everything);
    tcase_add_test(tc, same_key_different_digest_goes_both_ways);
    tcase_add_test(tc, empty_sides);
    tcase_add_test(tc, unsorted_input_gives_sorted_output);
    tcase_add_test(tc, keys_compare_as_bytes_shorter_first);
    tcase_add_test(tc, reapable_tombstone_on_one_side_stays_put);
    tcase_add_test(tc, duplicates_are_one_key);
    tcase_add_test(tc, random_listings_match_the_naive_reference);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(aediff_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
