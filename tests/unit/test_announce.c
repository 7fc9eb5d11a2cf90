/*
 * test_announce.c -- the rules of bind and cluster-announce-ip: a bind
 * word reads as Redis reads it; wildcards and loopback addresses are told
 * apart from routable ones; a node advertises cluster-announce-ip, else
 * its first usable bind address, never a wildcard, and a loopback address
 * only where loopback is acceptable.
 */
#include <check.h>
#include <string.h>
#include "cluster/announce.h"
#include "server/util.h"

START_TEST(bind_words_read_as_redis_reads_them)
{
    char h[ANNOUNCE_HOST_MAX];
    int opt = 7;
    ck_assert_int_eq(announce_bind_word("127.0.0.1", h, sizeof(h), &opt), 0);
    ck_assert_str_eq(h, "127.0.0.1");
    ck_assert_int_eq(opt, 0);
    ck_assert_int_eq(announce_bind_word("-10.1.2.3", h, sizeof(h), &opt), 0);
    ck_assert_str_eq(h, "10.1.2.3");
    ck_assert_int_eq(opt, 1);
    ck_assert_int_eq(announce_bind_word("*", h, sizeof(h), &opt), 0);
    ck_assert_str_eq(h, "0.0.0.0");
    ck_assert_int_eq(opt, 0);
    ck_assert_int_eq(announce_bind_word("-::*", h, sizeof(h), &opt), 0);
    ck_assert_str_eq(h, "::");
    ck_assert_int_eq(opt, 1);
    ck_assert_int_eq(announce_bind_word("", h, sizeof(h), &opt), DYN_EINVAL);
    ck_assert_int_eq(announce_bind_word("-", h, sizeof(h), &opt), DYN_EINVAL);
    ck_assert_int_eq(announce_bind_word("10.0.0.1", h, 8, &opt), DYN_EINVAL);
}
END_TEST

/* The words of a bind line, one at a time, as the bus and
 * announce_choose walk them: blanks of any kind and number between, an
 * overlong word skipped with an error, then the end. */
START_TEST(bind_line_words_one_at_a_time)
{
    char w[8];
    const char *p = "  a\t\t-bb   toolongword c ";
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), 1);
    ck_assert_str_eq(w, "a");
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), 3);
    ck_assert_str_eq(w, "-bb");
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), DYN_ELIMIT);
    ck_assert_str_eq(w, "-bb"); /* untouched */
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), 1);
    ck_assert_str_eq(w, "c");
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), 0);
    ck_assert_int_eq(announce_next_word(&p, w, sizeof(w)), 0);
    const char *q = "1234567"; /* exactly cap - 1 bytes fits */
    ck_assert_int_eq(announce_next_word(&q, w, sizeof(w)), 7);
    ck_assert_str_eq(w, "1234567");
}
END_TEST

START_TEST(kinds_of_address)
{
    ck_assert_int_eq(announce_kind_of("0.0.0.0"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("::"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("*"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("::*"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("::ffff:0.0.0.0"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("127.0.0.1"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("127.0.0.31"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("127.255.1.9"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("::1"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("[::1]"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("[::]"), ANNOUNCE_WILDCARD);
    ck_assert_int_eq(announce_kind_of("[fe80::1]"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("::ffff:127.0.0.2"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("localhost"), ANNOUNCE_LOOPBACK);
    ck_assert_int_eq(announce_kind_of("198.18.0.11"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("128.0.0.1"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("0.0.0.1"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("fe80::1"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("::2"), ANNOUNCE_ROUTABLE);
    ck_assert_int_eq(announce_kind_of("db1.example"), ANNOUNCE_ROUTABLE);
}
END_TEST

START_TEST(host_of_a_seed_line)
{
    char h[ANNOUNCE_HOST_MAX];
    ck_assert_int_eq(announce_host_of("10.0.0.1:7000", h, sizeof(h)), 0);
    ck_assert_str_eq(h, "10.0.0.1");
    ck_assert_int_eq(announce_host_of("127.0.0.1:7000@17001", h, sizeof(h)),
                     0);
    ck_assert_str_eq(h, "127.0.0.1");
    ck_assert_int_eq(announce_host_of("::1:7000", h, sizeof(h)), 0);
    ck_assert_str_eq(h, "::1");
    ck_assert_int_eq(announce_host_of("host", h, sizeof(h)), DYN_EINVAL);
    ck_assert_int_eq(announce_host_of(":7000", h, sizeof(h)), DYN_EINVAL);
    ck_assert_int_eq(announce_host_of("h@1:2", h, sizeof(h)), DYN_EINVAL);
    ck_assert_int_eq(announce_host_of("10.0.0.1:7000", h, 8), DYN_EINVAL);
}
END_TEST

START_TEST(announce_ip_wins_when_acceptable)
{
    char out[ANNOUNCE_HOST_MAX];
    ck_assert_int_eq(announce_choose("0.0.0.0", "198.18.0.11", 0, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "198.18.0.11");
    ck_assert_int_eq(announce_choose("127.0.0.1 10.0.0.2", "127.0.0.33", 1,
                                     out, sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.33");
    /* never a wildcard; loopback only where loopback is acceptable */
    ck_assert_int_eq(announce_choose("10.0.0.2", "0.0.0.0", 1, out,
                                     sizeof(out)), DYN_EINVAL);
    ck_assert_int_eq(announce_choose("10.0.0.2", "::", 1, out, sizeof(out)),
                     DYN_EINVAL);
    ck_assert_int_eq(announce_choose("10.0.0.2", "127.0.0.1", 0, out,
                                     sizeof(out)), DYN_EINVAL);
    ck_assert_int_eq(announce_choose("10.0.0.2", "198.18.0.11", 0, out, 8),
                     DYN_EINVAL);
}
END_TEST

START_TEST(first_usable_bind_address_otherwise)
{
    char out[ANNOUNCE_HOST_MAX];
    /* loopback first, the routable one is what peers must dial */
    ck_assert_int_eq(announce_choose("127.0.0.1 198.18.0.11", NULL, 0, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "198.18.0.11");
    /* a loopback cluster takes the first, loopback or not */
    ck_assert_int_eq(announce_choose("127.0.0.1 127.0.0.31", "", 1, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.1");
    /* wildcards are skipped */
    ck_assert_int_eq(announce_choose("* 127.0.0.32", NULL, 1, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.32");
    ck_assert_int_eq(announce_choose("::* 0.0.0.0 10.9.8.7", NULL, 0, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "10.9.8.7");
    /* an optional address comes after every required one */
    ck_assert_int_eq(announce_choose("-127.0.0.99 127.0.0.1", NULL, 1, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "127.0.0.1");
    ck_assert_int_eq(announce_choose("* -10.0.0.5", NULL, 0, out,
                                     sizeof(out)), 0);
    ck_assert_str_eq(out, "10.0.0.5");
    /* nothing to advertise */
    ck_assert_int_eq(announce_choose("0.0.0.0", NULL, 1, out, sizeof(out)),
                     DYN_EINVAL);
    ck_assert_int_eq(announce_choose("* ::*", NULL, 1, out, sizeof(out)),
                     DYN_EINVAL);
    ck_assert_int_eq(announce_choose("127.0.0.1 ::1", NULL, 0, out,
                                     sizeof(out)), DYN_EINVAL);
    ck_assert_int_eq(announce_choose("", NULL, 1, out, sizeof(out)),
                     DYN_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("announce");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, bind_words_read_as_redis_reads_them);
    tcase_add_test(tc, bind_line_words_one_at_a_time);
    tcase_add_test(tc, kinds_of_address);
    tcase_add_test(tc, host_of_a_seed_line);
    tcase_add_test(tc, announce_ip_wins_when_acceptable);
    tcase_add_test(tc, first_usable_bind_address_otherwise);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
