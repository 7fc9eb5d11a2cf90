/*
 * test_merkle.c -- the partition Merkle tree: incremental updates give the
 * same hashes as a rebuild, and the diff finds exactly the leaves (hence
 * the keys) that differ.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/merkle.h"
#include "server/util.h"

static uint64_t key_hash(unsigned i)
{
    char k[32];
    int n = snprintf(k, sizeof(k), "key:%u", i);
    return dyn_hash64(k, (size_t)n);
}

/* A digest standing for "version v of key i". */
static uint64_t digest(unsigned i, unsigned v)
{
    uint64_t b[2] = { i, v };
    return dyn_hash64(b, sizeof(b));
}

static void expect_same_tree(struct merkle *a, struct merkle *b)
{
    ck_assert_uint_eq(merkle_root(a), merkle_root(b));
    for (unsigned d = 0; d <= merkle_depth(a); d++)
        for (uint32_t j = 0; j < (1u << d); j++)
            ck_assert_uint_eq(merkle_node(a, d, j), merkle_node(b, d, j));
    uint32_t out[4];
    ck_assert_uint_eq(merkle_diff(a, b, out, 4), 0);
}

START_TEST(incremental_updates_equal_rebuild)
{
    enum { KEYS = 5000 };
    static unsigned ver[KEYS];  /* 0 = absent */
    struct merkle *t = merkle_new(256);
    uint64_t rng = 42;

    /* random inserts, replaces and removes, reading the root in between
     * so that laziness is exercised across partial refreshes */
    for (int step = 0; step < 40000; step++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned i = (unsigned)(rng >> 33) % KEYS;
        uint64_t h = key_hash(i);
        if (ver[i])
            merkle_toggle(t, h, digest(i, ver[i]));     /* old out */
        if ((rng >> 20) % 4 == 0)
            ver[i] = 0;                                 /* remove */
        else
            ver[i] = ver[i] + 1;                        /* put/replace */
        if (ver[i])
            merkle_toggle(t, h, digest(i, ver[i]));     /* new in */
        if (step % 997 == 0)
            (void)merkle_root(t);
    }
    struct merkle *r = merkle_new(256);
    for (unsigned i = 0; i < KEYS; i++)
        if (ver[i])
            merkle_toggle(r, key_hash(i), digest(i, ver[i]));
    expect_same_tree(t, r);

    /* removing every key gives the empty tree's root */
    for (unsigned i = 0; i < KEYS; i++)
        if (ver[i])
            merkle_toggle(t, key_hash(i), digest(i, ver[i]));
    struct merkle *e = merkle_new(256);
    expect_same_tree(t, e);
    merkle_free(t);
    merkle_free(r);
    merkle_free(e);
}
END_TEST

START_TEST(order_of_inserts_does_not_matter)
{
    struct merkle *a = merkle_new(64), *b = merkle_new(64);
    for (unsigned i = 0; i < 1000; i++)
        merkle_toggle(a, key_hash(i), digest(i, 1));
    for (unsigned i = 1000; i-- > 0;)
        merkle_toggle(b, key_hash(i), digest(i, 1));
    expect_same_tree(a, b);
    merkle_clear(a);
    struct merkle *e = merkle_new(64);
    expect_same_tree(a, e);
    ck_assert_uint_ne(merkle_root(a), merkle_root(b));
    merkle_free(a);
    merkle_free(b);
    merkle_free(e);
}
END_TEST

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

START_TEST(diff_finds_exactly_the_differing_keys)
{
    enum { KEYS = 20000, LEAVES = 1024 };
    struct merkle *a = merkle_new(LEAVES), *b = merkle_new(LEAVES);
    for (unsigned i = 0; i < KEYS; i++) {
        merkle_toggle(a, key_hash(i), digest(i, 1));
        merkle_toggle(b, key_hash(i), digest(i, 1));
    }
    ck_assert_uint_eq(merkle_root(a), merkle_root(b));

    /* b: key 7 has a newer version, key 123 is missing, key KEYS is extra */
    unsigned changed[] = { 7, 123, KEYS };
    merkle_toggle(b, key_hash(7), digest(7, 1));
    merkle_toggle(b, key_hash(7), digest(7, 2));
    merkle_toggle(b, key_hash(123), digest(123, 1));
    merkle_toggle(b, key_hash(KEYS), digest(KEYS, 1));

    uint32_t want[3];
    for (int k = 0; k < 3; k++)
        want[k] = merkle_leaf_of(a, key_hash(changed[k]));
    qsort(want, 3, sizeof(want[0]), cmp_u32);
    size_t nwant = 1;
    for (int k = 1; k < 3; k++)
        if (want[k] != want[nwant - 1])
            want[nwant++] = want[k];

    uint32_t out[16];
    size_t n = merkle_diff(a, b, out, 16);
    ck_assert_uint_eq(n, nwant);
    for (size_t k = 0; k < n; k++)
        ck_assert_uint_eq(out[k], want[k]);
    ck_assert_uint_eq(merkle_diff(b, a, out, 16), nwant);

    /* the keys in those leaves whose (key, digest) differ are exactly the
     * three changed keys */
    unsigned found = 0;
    for (unsigned i = 0; i <= KEYS; i++) {
        uint32_t leaf = merkle_leaf_of(a, key_hash(i));
        int in_diff = 0;
        for (size_t k = 0; k < n; k++)
            in_diff |= out[k] == leaf;
        unsigned va = i < KEYS ? 1 : 0;
        unsigned vb = i == 7 ? 2 : i == 123 ? 0 : 1;
        if (va != vb) {
            ck_assert_msg(in_diff, "changed key %u not in a differing leaf", i);
            found++;
        }
    }
    ck_assert_uint_eq(found, 3);

    /* undo: equal again, and the diff is empty */
    merkle_toggle(b, key_hash(KEYS), digest(KEYS, 1));
    merkle_toggle(b, key_hash(123), digest(123, 1));
    merkle_toggle(b, key_hash(7), digest(7, 2));
    merkle_toggle(b, key_hash(7), digest(7, 1));
    ck_assert_uint_eq(merkle_diff(a, b, out, 16), 0);
    merkle_free(a);
    merkle_free(b);
}
END_TEST

START_TEST(diff_reports_total_beyond_max_and_single_leaf_tree)
{
    struct merkle *a = merkle_new(16), *b = merkle_new(16);
    for (unsigned i = 0; i < 2000; i++)
        merkle_toggle(a, key_hash(i), digest(i, 1));
    uint32_t out[4];
    ck_assert_uint_eq(merkle_diff(a, b, out, 4), 16);
    for (int k = 0; k < 4; k++)
        ck_assert_uint_eq(out[k], (uint32_t)k);
    merkle_free(a);
    merkle_free(b);

    struct merkle *one = merkle_new(1), *two = merkle_new(1);
    ck_assert_uint_eq(merkle_depth(one), 0);
    merkle_toggle(one, key_hash(1), digest(1, 1));
    ck_assert_uint_eq(merkle_diff(one, two, out, 4), 1);
    merkle_toggle(two, key_hash(1), digest(1, 1));
    ck_assert_uint_eq(merkle_root(one), merkle_root(two));
    merkle_free(one);
    merkle_free(two);
}
END_TEST

START_TEST(leaf_uses_the_low_bits_of_the_hash)
{
    struct merkle *t = merkle_new(1024);
    /* the top 8 bits (256 partitions) do not choose the leaf; the low 10
     * bits do (the store's slot tags hold them) */
    ck_assert_uint_eq(merkle_leaf_of(t, 0xff00000000000000ULL), 0);
    ck_assert_uint_eq(merkle_leaf_of(t, 0x00000000000ffc0fULL), 15);
    ck_assert_uint_eq(merkle_leaf_of(t, 0x00000000000003ffULL), 1023);
    ck_assert_uint_eq(merkle_leaf_of(t, 0x0000000003ff0000ULL), 0);
    ck_assert_uint_ge(merkle_bytes(t), 2 * 1024 * 8);
    merkle_free(t);
    merkle_free(NULL);
}
END_TEST

static Suite *merkle_suite(void)
{
    Suite *su = suite_create("merkle");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, incremental_updates_equal_rebuild);
    tcase_add_test(tc, order_of_inserts_does_not_matter);
    tcase_add_test(tc, diff_finds_exactly_the_differing_keys);
    tcase_add_test(tc, diff_reports_total_beyond_max_and_single_leaf_tree);
    tcase_add_test(tc, leaf_uses_the_low_bits_of_the_hash);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(merkle_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
