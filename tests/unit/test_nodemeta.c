/*
 * test_nodemeta.c -- node.meta as a restarting node relies on it: what is
 * written reads back the same; a file that is garbled, truncated or
 * missing gives a new actor rather than a reused one; the same data keeps
 * the same actor; counters always start above the old reservation; a
 * reservation at or over 2^62 starts a fresh actor; and a reservation moves
 * up (durably) only when a counter reaches it.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "server/buf.h"
#include "server/nodemeta.h"
#include "server/util.h"

#define BLOCK NODEMETA_COUNTER_BLOCK
#define FRESH NODEMETA_COUNTER_FRESH

static struct nodemeta_file file_says(uint64_t inc, uint64_t counters)
{
    struct nodemeta_file f = { .have = 1, .incarnation = inc,
                               .counters = counters };
    return f;
}

/* ---- the file's bytes ------------------------------------------------------ */

START_TEST(encode_then_parse_round_trips)
{
    static const struct { uint32_t inc; uint64_t r; } cases[] = {
        { 1, 0 }, { 1, BLOCK }, { 0xffffff, 123456789012ull },
        { 77, FRESH - 1 }, { 77, FRESH }, { 5, UINT64_MAX },
    };
    for (size_t i = 0; i < DYN_ARRAY_LEN(cases); i++) {
        char buf[96];
        int len = nodemeta_encode(cases[i].inc, cases[i].r, buf, sizeof(buf));
        ck_assert_int_gt(len, 0);
        ck_assert_uint_eq(strlen(buf), (size_t)len);
        struct nodemeta_file f;
        ck_assert_int_eq(nodemeta_parse(buf, &f), 0);
        ck_assert_int_eq(f.have, 1);
        ck_assert_uint_eq(f.incarnation, cases[i].inc);
        ck_assert_uint_eq(f.counters, cases[i].r);
    }
}
END_TEST

START_TEST(encode_refuses_a_buffer_too_small)
{
    char buf[16];
    ck_assert_int_lt(nodemeta_encode(1, 1, buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(a_file_without_an_incarnation_line_counts_as_absent)
{
    static const char *bad[] = {
        "", "\n", "garbage", "incarnation\n", "incarnation x\ncounters 5\n",
        "counters 5\nincarnation 3\n", "incarnatio", "\x01\x02\xff",
    };
    for (size_t i = 0; i < DYN_ARRAY_LEN(bad); i++) {
        struct nodemeta_file f = file_says(9, 9);
        ck_assert_int_eq(nodemeta_parse(bad[i], &f), DYN_EINVAL);
        ck_assert_int_eq(f.have, 0);
        ck_assert_uint_eq(f.counters, 0);
    }
}
END_TEST

/* A file cut short after its incarnation keeps the incarnation and reads
 * as no reservation (files from before counters were reserved look so). */
START_TEST(a_truncated_counters_line_reads_as_zero)
{
    static const char *cut[] = {
        "incarnation 7", "incarnation 7\n", "incarnation 7\ncount",
        "incarnation 7\ncounters", "incarnation 7\ncounters \n",
        "incarnation 7\ncounters x1\n",
    };
    for (size_t i = 0; i < DYN_ARRAY_LEN(cut); i++) {
        struct nodemeta_file f;
        ck_assert_int_eq(nodemeta_parse(cut[i], &f), 0);
        ck_assert_int_eq(f.have, 1);
        ck_assert_uint_eq(f.incarnation, 7);
        ck_assert_uint_eq(f.counters, 0);
    }
}
END_TEST

/* ---- the rules ------------------------------------------------------------------ */

START_TEST(same_data_keeps_the_actor_and_lost_data_moves_to_the_next)
{
    struct nodemeta_file f = file_says(41, 3 * BLOCK);
    struct nodemeta m;
    nodemeta_decide(&f, 1, 999, &m);
    ck_assert_uint_eq(m.incarnation, 41);
    ck_assert_int_eq(m.fresh, 0);
    nodemeta_decide(&f, 0, 999, &m);
    ck_assert_uint_eq(m.incarnation, 42);
    /* 24 bits, wrapping, never 0 */
    f = file_says(0xffffff, 0);
    nodemeta_decide(&f, 0, 999, &m);
    ck_assert_uint_eq(m.incarnation, 1);
    f = file_says(0x1000005, 0);
    nodemeta_decide(&f, 1, 999, &m);
    ck_assert_uint_eq(m.incarnation, 5);
    f = file_says(0, 0);
    nodemeta_decide(&f, 1, 999, &m);
    ck_assert_uint_eq(m.incarnation, 1);
}
END_TEST

START_TEST(counters_start_at_the_old_reservation_and_reserve_a_block)
{
    struct nodemeta_file f = file_says(3, 5 * BLOCK + 17);
    struct nodemeta m;
    for (int has_data = 0; has_data <= 1; has_data++) {
        nodemeta_decide(&f, has_data, 0, &m);
        ck_assert_uint_eq(m.counter_base, 5 * BLOCK + 17);
        ck_assert_uint_eq(m.counter_reserved, 6 * BLOCK + 17);
    }
}
END_TEST

START_TEST(a_reservation_at_or_over_2_62_starts_a_fresh_actor)
{
    struct nodemeta m;
    /* just below: the same actor, counters go on */
    struct nodemeta_file f = file_says(12, FRESH - 1);
    nodemeta_decide(&f, 1, 0, &m);
    ck_assert_int_eq(m.fresh, 0);
    ck_assert_uint_eq(m.incarnation, 12);
    ck_assert_uint_eq(m.counter_base, FRESH - 1);
    ck_assert_uint_eq(m.counter_reserved, FRESH - 1 + BLOCK);
    /* at 2^62 and at the very top: a new actor from 0, even with data */
    uint64_t over[] = { FRESH, FRESH + 1, UINT64_MAX - BLOCK, UINT64_MAX };
    for (size_t i = 0; i < DYN_ARRAY_LEN(over); i++) {
        f = file_says(12, over[i]);
        nodemeta_decide(&f, 1, 0, &m);
        ck_assert_int_eq(m.fresh, 1);
        ck_assert_uint_eq(m.fresh_from, over[i]);
        ck_assert_uint_eq(m.incarnation, 13);
        ck_assert_uint_eq(m.counter_base, 0);
        ck_assert_uint_eq(m.counter_reserved, BLOCK);
    }
}
END_TEST

START_TEST(without_a_file_the_actor_is_the_random_number)
{
    struct nodemeta_file none = { 0 };
    struct nodemeta m;
    nodemeta_decide(&none, 1, 0xabcdef, &m);
    ck_assert_uint_eq(m.incarnation, 0xabcdef);
    ck_assert_uint_eq(m.counter_base, 0);
    ck_assert_uint_eq(m.counter_reserved, BLOCK);
    nodemeta_decide(&none, 0, 0x7abcdef, &m); /* low 24 bits only */
    ck_assert_uint_eq(m.incarnation, 0xabcdef);
    nodemeta_decide(&none, 0, 0, &m);
    ck_assert_uint_eq(m.incarnation, 1);
    /* counters of an absent file are never trusted */
    none.counters = 5 * BLOCK;
    nodemeta_decide(&none, 1, 3, &m);
    ck_assert_uint_eq(m.incarnation, 3);
    ck_assert_uint_eq(m.counter_base, 0);
}
END_TEST

START_TEST(a_reservation_is_one_block_past_the_counter_and_saturates)
{
    ck_assert_uint_eq(nodemeta_reserve_target(0), BLOCK);
    ck_assert_uint_eq(nodemeta_reserve_target(5), 5 + BLOCK);
    ck_assert_uint_eq(nodemeta_reserve_target(UINT64_MAX - BLOCK - 1),
                      UINT64_MAX - 1);
    ck_assert_uint_eq(nodemeta_reserve_target(UINT64_MAX - BLOCK),
                      UINT64_MAX);
    ck_assert_uint_eq(nodemeta_reserve_target(UINT64_MAX - BLOCK + 1),
                      UINT64_MAX);
    ck_assert_uint_eq(nodemeta_reserve_target(UINT64_MAX), UINT64_MAX);
}
END_TEST

/* ---- the file on disk ----------------------------------------------------------- */

static char *make_dir(void)
{
    char tmpl[] = "/tmp/nodemetatestXXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return dyn_strdup(d);
}

static void rm_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    dyn_free(d);
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dyn_write_all(fd, text, strlen(text)), 0);
    close(fd);
}

static struct nodemeta_file on_disk(const char *dir)
{
    struct nodemeta_file f;
    nodemeta_read(dir, &f);
    return f;
}

START_TEST(open_writes_what_the_next_open_reads)
{
    char *dir = make_dir();
    struct dbuf err;
    dbuf_init(&err);
    struct nodemeta a, b;
    ck_assert_int_eq(on_disk(dir).have, 0);
    ck_assert_int_eq(nodemeta_open(dir, &a, &err), 0);
    ck_assert_uint_ne(a.incarnation, 0);
    ck_assert_uint_eq(on_disk(dir).incarnation, a.incarnation);
    ck_assert_uint_eq(on_disk(dir).counters, a.counter_reserved);
    /* no data yet: the next open is the next actor, counters above */
    ck_assert_int_eq(nodemeta_open(dir, &b, &err), 0);
    ck_assert_uint_eq(b.incarnation, (a.incarnation + 1) & 0xffffff
                                         ? (a.incarnation + 1) & 0xffffff : 1);
    ck_assert_uint_eq(b.counter_base, a.counter_reserved);
    /* with data: the same actor */
    put_file(dir, "data.00000001.seg", "x");
    ck_assert_int_eq(nodemeta_has_data(dir), 1);
    ck_assert_int_eq(nodemeta_open(dir, &a, &err), 0);
    ck_assert_uint_eq(a.incarnation, b.incarnation);
    ck_assert_uint_eq(a.counter_base, b.counter_reserved);
    dbuf_free(&err);
    rm_dir(dir);
}
END_TEST

START_TEST(only_data_segments_count_as_data)
{
    char *dir = make_dir();
    ck_assert_int_eq(nodemeta_has_data(dir), 0);
    put_file(dir, "node.meta", "incarnation 3\n");
    put_file(dir, "data.seg", "");
    put_file(dir, "data.00000001.hint", "");
    ck_assert_int_eq(nodemeta_has_data(dir), 0);
    put_file(dir, "data.00000002.seg", "");
    ck_assert_int_eq(nodemeta_has_data(dir), 1);
    rm_dir(dir);
}
END_TEST

START_TEST(a_corrupt_file_is_replaced_by_a_new_actor)
{
    char *dir = make_dir();
    put_file(dir, "data.00000001.seg", "x");
    put_file(dir, "node.meta", "\x7f" "ELF garbage\n");
    struct dbuf err;
    dbuf_init(&err);
    struct nodemeta m;
    ck_assert_int_eq(nodemeta_open(dir, &m, &err), 0);
    ck_assert_uint_ne(m.incarnation, 0);
    ck_assert_uint_eq(m.counter_base, 0);
    struct nodemeta_file f = on_disk(dir);
    ck_assert_int_eq(f.have, 1);
    ck_assert_uint_eq(f.incarnation, m.incarnation);
    ck_assert_uint_eq(f.counters, BLOCK);
    dbuf_free(&err);
    rm_dir(dir);
}
END_TEST

START_TEST(a_file_over_2_62_is_rewritten_as_a_fresh_actor)
{
    char *dir = make_dir();
    put_file(dir, "data.00000001.seg", "x");
    put_file(dir, "node.meta", "incarnation 500\ncounters 4611686018427387904\n");
    struct dbuf err;
    dbuf_init(&err);
    struct nodemeta m;
    ck_assert_int_eq(nodemeta_open(dir, &m, &err), 0);
    ck_assert_int_eq(m.fresh, 1);
    ck_assert_uint_eq(m.incarnation, 501);
    ck_assert_uint_eq(m.counter_base, 0);
    ck_assert_uint_eq(on_disk(dir).counters, BLOCK);
    ck_assert_uint_eq(on_disk(dir).incarnation, 501);
    dbuf_free(&err);
    rm_dir(dir);
}
END_TEST

START_TEST(a_reservation_moves_up_on_disk_only_when_reached)
{
    char *dir = make_dir();
    struct dbuf err;
    dbuf_init(&err);
    struct nodemeta m;
    ck_assert_int_eq(nodemeta_open(dir, &m, &err), 0);
    uint64_t r0 = m.counter_reserved;
    put_file(dir, "node.meta", "incarnation 9\ncounters 1\n"); /* marker */
    ck_assert_int_eq(nodemeta_reserve(dir, &m, r0 - 1), 0);
    ck_assert_uint_eq(m.counter_reserved, r0);
    ck_assert_uint_eq(on_disk(dir).counters, 1); /* not written */
    ck_assert_int_eq(nodemeta_reserve(dir, &m, r0), 0);
    ck_assert_uint_eq(m.counter_reserved, r0 + BLOCK);
    ck_assert_uint_eq(on_disk(dir).counters, r0 + BLOCK);
    ck_assert_uint_eq(on_disk(dir).incarnation, m.incarnation);
    dbuf_free(&err);
    rm_dir(dir);
}
END_TEST

START_TEST(a_write_that_fails_says_so_and_keeps_the_reservation)
{
    struct dbuf err;
    dbuf_init(&err);
    ck_assert_int_eq(nodemeta_write("/nonexistent/nodemeta", 1, 1, &err),
                     DYN_EIO);
    ck_assert_ptr_nonnull(memmem(err.p, err.len, "node.meta", 9));
    struct nodemeta m = { .incarnation = 1, .counter_reserved = 10 };
    ck_assert_int_eq(nodemeta_reserve("/nonexistent/nodemeta", &m, 10),
                     DYN_EIO);
    ck_assert_uint_eq(m.counter_reserved, 10);
    dbuf_free(&err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nodemeta");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, encode_then_parse_round_trips);
    tcase_add_test(tc, encode_refuses_a_buffer_too_small);
    tcase_add_test(tc, a_file_without_an_incarnation_line_counts_as_absent);
    tcase_add_test(tc, a_truncated_counters_line_reads_as_zero);
    tcase_add_test(tc, same_data_keeps_the_actor_and_lost_data_moves_to_the_next);
    tcase_add_test(tc, counters_start_at_the_old_reservation_and_reserve_a_block);
    tcase_add_test(tc, a_reservation_at_or_over_2_62_starts_a_fresh_actor);
    tcase_add_test(tc, without_a_file_the_actor_is_the_random_number);
    tcase_add_test(tc, a_reservation_is_one_block_past_the_counter_and_saturates);
    tcase_add_test(tc, open_writes_what_the_next_open_reads);
    tcase_add_test(tc, only_data_segments_count_as_data);
    tcase_add_test(tc, a_corrupt_file_is_replaced_by_a_new_actor);
    tcase_add_test(tc, a_file_over_2_62_is_rewritten_as_a_fresh_actor);
    tcase_add_test(tc, a_reservation_moves_up_on_disk_only_when_reached);
    tcase_add_test(tc, a_write_that_fails_says_so_and_keeps_the_reservation);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
