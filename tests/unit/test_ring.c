/*
 * test_ring.c -- the ring's required properties (DESIGN.md, Ring):
 * balance, minimal movement on add/remove, N distinct replicas, and
 * determinism, plus the wire encoding.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/ring.h"
#include "server/util.h"

static char **make_names(uint32_t n)
{
    char **v = dyn_malloc(n * sizeof(char *));
    for (uint32_t i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "node-%u", 7001 + i);
        v[i] = dyn_strdup(buf);
    }
    return v;
}

static void free_names(char **v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        dyn_free(v[i]);
    dyn_free(v);
}

static uint32_t max_load(const struct ring *r)
{
    uint32_t m = 0;
    for (uint32_t i = 0; i < r->nnodes; i++) {
        uint32_t c = ring_owned_count(r, i);
        if (c > m)
            m = c;
    }
    return m;
}

/* The most loaded node owns at most 1.15x the mean.  With Q=256 this is
 * arithmetically possible only while ceil(256/S)/(256/S) <= 1.15 (S <= 45);
 * a 64-node cluster uses Q=1024, where it holds at every size. */
static void check_balance(uint32_t q, uint32_t smax)
{
    for (uint32_t s = 3; s <= smax; s++) {
        char **names = make_names(s);
        struct ring r;
        ck_assert_int_eq(ring_build(&r, q, (const char *const *)names, s, 3),
                         0);
        double mean = (double)q / s;
        ck_assert_msg(max_load(&r) <= 1.15 * mean,
                      "Q=%u S=%u: max load %u > 1.15 x mean %.2f", q, s,
                      max_load(&r), mean);
        uint32_t total = 0;
        for (uint32_t i = 0; i < s; i++)
            total += ring_owned_count(&r, i);
        ck_assert_uint_eq(total, q);
        ring_free(&r);
        free_names(names, s);
    }
}

START_TEST(balance_q1024_3_to_64)
{
    check_balance(1024, 64);
}
END_TEST

START_TEST(balance_q256_3_to_45)
{
    check_balance(256, 45);
}
END_TEST

/* Adding one node moves at most 1.1x the ideal Q/S' partitions, all of them
 * to the new node; removing one moves only its own partitions, at most 1.1x
 * the ideal Q/S. */
START_TEST(add_remove_moves_little_and_only_to_or_from_that_node)
{
    const uint32_t q = 1024;
    for (uint32_t s = 3; s < 64; s++) {
        char **names = make_names(s + 1);
        struct ring before, after;
        ck_assert_int_eq(
            ring_build(&before, q, (const char *const *)names, s, 3), 0);
        ring_copy(&after, &before);
        ck_assert_int_eq(ring_add(&after, names[s], 3), 0);
        ck_assert_uint_eq(after.epoch, before.epoch + 1);
        struct ring_move mv[1024];
        uint32_t n = ring_diff(&before, &after, mv, 1024);
        double ideal = (double)q / (s + 1);
        ck_assert_msg(n <= 1.1 * ideal, "add at S=%u moved %u, ideal %.2f",
                      s, n, ideal);
        ck_assert_uint_gt(n, 0);
        for (uint32_t i = 0; i < n; i++)
            ck_assert_str_eq(mv[i].to, names[s]);
        ck_assert_msg(max_load(&after) <= 1.15 * ideal, "unbalanced add");

        /* and remove a node from the middle of the name order */
        struct ring removed;
        ring_copy(&removed, &after);
        const char *victim = names[s / 2];
        int vi = ring_node_index(&after, victim);
        uint32_t owned = ring_owned_count(&after, (uint32_t)vi);
        ck_assert_int_eq(ring_remove(&removed, victim, 3), 0);
        n = ring_diff(&after, &removed, mv, 1024);
        ck_assert_uint_eq(n, owned);
        ck_assert_msg(n <= 1.1 * ideal, "remove at S=%u moved %u", s + 1, n);
        for (uint32_t i = 0; i < n; i++)
            ck_assert_str_eq(mv[i].from, victim);
        ck_assert_int_eq(ring_node_index(&removed, victim), -1);
        ck_assert_msg(max_load(&removed) <= 1.15 * ((double)q / s),
                      "unbalanced remove");
        ring_free(&removed);
        ring_free(&before);
        ring_free(&after);
        free_names(names, s + 1);
    }
}
END_TEST

/* Every preference list has N distinct nodes whenever S >= N, and the full
 * walk names every node once. */
START_TEST(preflists_have_n_distinct_nodes)
{
    for (uint32_t s = 1; s <= 20; s++) {
        char **names = make_names(s);
        struct ring r;
        ck_assert_int_eq(ring_build(&r, 256, (const char *const *)names, s, 3),
                         0);
        for (uint32_t p = 0; p < r.q; p++) {
            uint16_t out[64];
            uint32_t n = ring_preflist(&r, p, out, 64);
            ck_assert_uint_eq(n, s);
            ck_assert_uint_eq(out[0], r.owner[p]);
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = i + 1; j < n; j++)
                    ck_assert_uint_ne(out[i], out[j]);
            n = ring_preflist(&r, p, out, 3);
            ck_assert_uint_eq(n, s < 3 ? s : 3);
        }
        ring_free(&r);
        free_names(names, s);
    }
}
END_TEST

/* The same membership, given in any order, gives the same table and lists;
 * so does a ring sent over the wire. */
START_TEST(same_state_same_lists)
{
    char **names = make_names(12);
    char *shuffled[12];
    for (int i = 0; i < 12; i++)
        shuffled[i] = names[(i * 7) % 12];
    struct ring a, b, c;
    ck_assert_int_eq(ring_build(&a, 256, (const char *const *)names, 12, 3), 0);
    ck_assert_int_eq(ring_build(&b, 256, (const char *const *)shuffled, 12, 3),
                     0);
    ck_assert_mem_eq(a.owner, b.owner, 256 * sizeof(uint16_t));
    struct dbuf buf;
    dbuf_init(&buf);
    ring_encode(&a, &buf);
    ck_assert_int_eq(ring_decode(&c, (const uint8_t *)buf.p, buf.len), 0);
    ck_assert_uint_eq(c.epoch, a.epoch);
    ck_assert_uint_eq(c.nnodes, a.nnodes);
    for (uint32_t p = 0; p < 256; p++) {
        uint16_t la[12], lc[12];
        ck_assert_uint_eq(ring_preflist(&a, p, la, 12),
                          ring_preflist(&c, p, lc, 12));
        for (int i = 0; i < 12; i++)
            ck_assert_str_eq(a.names[la[i]], c.names[lc[i]]);
    }
    /* every truncation is rejected, never read past the end */
    for (size_t cut = 0; cut < buf.len; cut++) {
        struct ring t;
        ck_assert_int_ne(ring_decode(&t, (const uint8_t *)buf.p, cut), 0);
    }
    dbuf_free(&buf);
    ring_free(&a);
    ring_free(&b);
    ring_free(&c);
    free_names(names, 12);
}
END_TEST

START_TEST(partition_of_hash_uses_top_bits)
{
    struct ring r;
    ck_assert_int_eq(ring_init(&r, 256), 0);
    ck_assert_uint_eq(ring_partition_of_hash(&r, 0), 0);
    ck_assert_uint_eq(ring_partition_of_hash(&r, UINT64_MAX), 255);
    ck_assert_uint_eq(ring_partition_of_hash(&r, (uint64_t)7 << 56), 7);
    ck_assert_uint_eq(ring_partition_start(&r, 7), (uint64_t)7 << 56);
    struct ring bad;
    ck_assert_int_eq(ring_init(&bad, 100), DYN_EINVAL);
    struct ring z;
    ck_assert_int_eq(ring_init(&z, 256), 0);
    ck_assert_int_eq(ring_add(&z, "a", 3), 0);
    ck_assert_int_eq(ring_add(&z, "a", 3), DYN_EEXIST);
    ck_assert_int_eq(ring_remove(&z, "b", 3), DYN_ENOTFOUND);
    ck_assert_int_eq(ring_remove(&z, "a", 3), 0);
    ck_assert_uint_eq(z.nnodes, 0);
    uint16_t out[3];
    ck_assert_uint_eq(ring_preflist(&z, 0, out, 3), 0);
    ring_free(&z);
    ring_free(&r);
}
END_TEST

/* Neighbouring partitions mostly have distinct owners, so a preference list
 * rarely needs to walk past N partitions. */
START_TEST(replicas_found_within_short_walk)
{
    char **names = make_names(5);
    struct ring r;
    ck_assert_int_eq(ring_build(&r, 256, (const char *const *)names, 5, 3), 0);
    uint32_t adjacent_same = 0;
    for (uint32_t p = 0; p < 256; p++)
        adjacent_same += r.owner[p] == r.owner[(p + 1) & 255];
    ck_assert_msg(adjacent_same <= 256 / 20,
                  "%u partitions share an owner with their successor",
                  adjacent_same);
    ring_free(&r);
    free_names(names, 5);
}
END_TEST

static Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *tc = tcase_create("ring");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, balance_q1024_3_to_64);
    tcase_add_test(tc, balance_q256_3_to_45);
    tcase_add_test(tc, add_remove_moves_little_and_only_to_or_from_that_node);
    tcase_add_test(tc, preflists_have_n_distinct_nodes);
    tcase_add_test(tc, same_state_same_lists);
    tcase_add_test(tc, partition_of_hash_uses_top_bits);
    tcase_add_test(tc, replicas_found_within_short_walk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ring_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
