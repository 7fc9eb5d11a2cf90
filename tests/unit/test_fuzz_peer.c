/*
 * test_fuzz_peer.c -- the peer bus fuzz target (tests/fuzz/fuzz_peer.c)
 * under a plain driver, over its seed corpus (tests/fuzz/corpus_peer).
 *
 * Fuzzing is not part of `make check` (`make fuzz` runs it), but this keeps
 * the target compiling and its seeds meaningful: each seed runs through
 * LLVMFuzzerTestOneInput with the harness's invariants on, and a few seeds
 * must reach what they were written for (a handshake that succeeds, the
 * handlers, the reply callbacks, a refused dialer), so that a change in
 * peer.c that makes the target shallow fails here.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz_peer.h"

#define MAX_SEED 65536

static const char *corpus_dir(void)
{
    static char dir[4096];
    const char *top = getenv("TOP_SRCDIR");
    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus_peer", top ? top : ".");
    return dir;
}

/* Reads a seed into buf; returns its size. */
static size_t load(const char *name, unsigned char *buf)
{
    char path[4352];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir(), name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "seed %s", path);
    size_t n = fread(buf, 1, MAX_SEED, f);
    fclose(f);
    return n;
}

static void run_seed(const char *name, struct fuzz_peer_outcome *out)
{
    static unsigned char buf[MAX_SEED];
    size_t n = load(name, buf);
    fuzz_peer_run(buf, n, out);
}

START_TEST(every_seed_runs_under_the_plain_driver)
{
    static unsigned char buf[MAX_SEED];
    DIR *d = opendir(corpus_dir());
    struct dirent *e;
    int seeds = 0;
    ck_assert_msg(d != NULL, "corpus %s", corpus_dir());
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = load(e->d_name, buf);
        ck_assert_int_eq(LLVMFuzzerTestOneInput(buf, n), 0);
        seeds++;
    }
    closedir(d);
    ck_assert_int_ge(seeds, 15);
}
END_TEST

START_TEST(a_valid_handshake_reaches_the_handlers_in_both_directions)
{
    struct fuzz_peer_outcome o;
    run_seed("valid_requests", &o);
    ck_assert_int_eq(o.in_authenticated, 1);
    /* ECHO INT NIL PING LATER ECHO, and the inline PING */
    ck_assert_int_eq(o.in_handled, 7);
    /* the seven, "without an id", unknown, "already authenticated" */
    ck_assert_int_eq(o.in_values, 10);
    ck_assert_int_eq(o.in_closed, 0);
    /* the same bytes as replies: the commands are arrays, the inline
     * PING is not RESP, and the dialer drops the link there */
    ck_assert_int_eq(o.out_up, 1);
    ck_assert_int_ge(o.out_answered, 3);
    ck_assert_int_eq(o.out_answered + o.out_failed, o.out_sent);
    ck_assert_int_eq(o.out_closed, 1);
}
END_TEST

START_TEST(without_the_secret_nothing_is_handled_and_no_link_comes_up)
{
    struct fuzz_peer_outcome o;
    run_seed("raw_hello_bad_auth", &o);
    ck_assert_int_eq(o.in_authenticated, 0);
    ck_assert_int_eq(o.in_handled, 0);
    ck_assert_int_eq(o.in_values, 2);   /* the HELLO answer, the refusal */
    ck_assert_int_eq(o.in_closed, 1);
    ck_assert_int_eq(o.out_up, 0);
    ck_assert_int_eq(o.out_closed, 1);
    run_seed("raw_hello_answer", &o);   /* a HELLO answer, a forged proof */
    ck_assert_int_eq(o.out_up, 0);
    ck_assert_int_eq(o.out_closed, 1);
}
END_TEST

START_TEST(every_reply_reaches_its_callback_once)
{
    struct fuzz_peer_outcome o;
    run_seed("valid_replies", &o);
    ck_assert_int_eq(o.out_up, 1);
    /* bulk, integer, error, status, array, nil; then PEERDROP is silence
     * (DYN_EIO when the bus is freed) and an unsolicited reply closes */
    ck_assert_int_eq(o.out_answered, 6);
    ck_assert_int_eq(o.out_answered + o.out_failed, o.out_sent);
    ck_assert_int_eq(o.out_closed, 1);
}
END_TEST

START_TEST(a_failed_group_commit_sends_no_acknowledgement)
{
    struct fuzz_peer_outcome o;
    run_seed("valid_syncfail", &o);
    ck_assert_int_eq(o.in_authenticated, 1);
    ck_assert_int_eq(o.in_handled, 3);
    ck_assert_int_eq(o.in_values, 0);
    ck_assert_int_eq(o.in_closed, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fuzz_peer");
    TCase *tc = tcase_create("seeds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_seed_runs_under_the_plain_driver);
    tcase_add_test(tc, a_valid_handshake_reaches_the_handlers_in_both_directions);
    tcase_add_test(tc, without_the_secret_nothing_is_handled_and_no_link_comes_up);
    tcase_add_test(tc, every_reply_reaches_its_callback_once);
    tcase_add_test(tc, a_failed_group_commit_sends_no_acknowledgement);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
