/*
 * test_membership.c -- the local failure detector: silence while asked
 * makes a peer suspect then down, an idle peer is never suspected, and an
 * answer (a probe's) brings it back.
 */
#include <check.h>
#include "cluster/membership.h"
#include "server/util.h"

static void three(struct membership *mb)
{
    membership_init(mb, 1000, 3000);
    ck_assert_int_eq(membership_add(mb, "a", "127.0.0.1", 7001, 17001, 1, 1, 0),
                     0);
    ck_assert_int_eq(membership_add(mb, "b", "127.0.0.1", 7002, 17002, 0, 1, 0),
                     1);
    ck_assert_int_eq(membership_add(mb, "c", "127.0.0.1", 7003, 17003, 0, 1, 0),
                     2);
}

START_TEST(silent_peer_goes_suspect_then_down)
{
    struct membership mb;
    struct member_event ev[4];
    three(&mb);
    membership_on_request(&mb, 1, 100);
    ck_assert_uint_eq(membership_tick(&mb, 1099, ev, 4), 0);
    ck_assert_uint_eq(membership_tick(&mb, 1100, ev, 4), 1);
    ck_assert_int_eq(ev[0].member, 1);
    ck_assert_int_eq(ev[0].to, MEMBER_SUSPECT);
    ck_assert(membership_is_up(&mb, 1)); /* suspect still takes traffic */
    ck_assert_uint_eq(membership_tick(&mb, 3100, ev, 4), 1);
    ck_assert_int_eq(ev[0].to, MEMBER_DOWN);
    ck_assert(!membership_is_up(&mb, 1));
    ck_assert_uint_eq(mb.down_transitions, 1);
    /* a later request does not restart the clock of the oldest wait */
    membership_on_request(&mb, 1, 5000);
    ck_assert_uint_eq(membership_tick(&mb, 5001, ev, 4), 0);
    /* the probe's answer brings it back */
    ck_assert_int_eq(membership_on_reply(&mb, 1, 6000, &ev[0]), 1);
    ck_assert_int_eq(ev[0].from, MEMBER_DOWN);
    ck_assert_int_eq(ev[0].to, MEMBER_UP);
    ck_assert(membership_is_up(&mb, 1));
    membership_free(&mb);
}
END_TEST

START_TEST(idle_and_answering_peers_stay_up)
{
    struct membership mb;
    struct member_event ev[4];
    three(&mb);
    ck_assert_uint_eq(membership_tick(&mb, 1000000, ev, 4), 0);
    for (uint64_t t = 0; t < 100000; t += 500) {
        membership_on_request(&mb, 2, t);
        ck_assert_int_eq(membership_on_reply(&mb, 2, t + 400, NULL), 0);
        ck_assert_uint_eq(membership_tick(&mb, t + 450, ev, 4), 0);
    }
    ck_assert_int_eq(mb.m[2].status, MEMBER_UP);
    /* self is never judged */
    membership_on_request(&mb, 0, 1);
    ck_assert_uint_eq(membership_tick(&mb, 1000000, ev, 4), 0);
    membership_free(&mb);
}
END_TEST

START_TEST(table_rules)
{
    struct membership mb;
    three(&mb);
    ck_assert_int_eq(membership_add(&mb, "b", "127.0.0.1", 1, 2, 0, 1, 0),
                     DYN_EEXIST);
    ck_assert_int_eq(membership_add(&mb, "d", "127.0.0.1", 1, 2, 1, 1, 0),
                     DYN_EINVAL); /* a second self */
    ck_assert_int_eq(membership_add(&mb, "", "127.0.0.1", 1, 2, 0, 1, 0),
                     DYN_EINVAL);
    ck_assert_int_eq(membership_remove(&mb, "a"), DYN_EINVAL);
    ck_assert_int_eq(membership_remove(&mb, "b"), 0);
    ck_assert_int_eq(membership_find(&mb, "c"), 1);
    ck_assert_int_eq(membership_remove(&mb, "zz"), DYN_ENOTFOUND);
    ck_assert_str_eq(member_status_name(MEMBER_SUSPECT), "suspect");
    membership_free(&mb);
}
END_TEST

/* Tombstones: any member may take one, our own entry included (we left,
 * or the cluster holds us as forgotten); no detector and no reply moves a
 * member out of one. */
START_TEST(tombstones_hold_against_the_detectors)
{
    struct membership mb;
    three(&mb);
    struct member_event ev;
    ck_assert_int_eq(membership_set_tombstone(&mb, 0, MEMBER_UP, 5, &ev),
                     DYN_EINVAL);
    ck_assert_int_eq(membership_set_tombstone(&mb, 9, MEMBER_LEFT, 5, &ev),
                     DYN_EINVAL);
    ck_assert_int_eq(membership_set_tombstone(&mb, 0, MEMBER_REMOVED, 5, &ev),
                     1);
    ck_assert(mb.m[0].self);
    ck_assert_int_eq(ev.from, MEMBER_UP);
    ck_assert_int_eq(ev.to, MEMBER_REMOVED);
    ck_assert_int_eq(membership_set_tombstone(&mb, 1, MEMBER_LEFT, 5, &ev), 1);
    ck_assert_int_eq(membership_set_tombstone(&mb, 1, MEMBER_LEFT, 6, &ev), 0);
    ck_assert_int_eq(membership_on_reply(&mb, 1, 10, &ev), 0);
    ck_assert_int_eq(membership_heard(&mb, 1, 10, &ev), 0);
    membership_on_request(&mb, 1, 20);
    ck_assert_uint_eq(membership_tick(&mb, 100000, &ev, 1), 0);
    ck_assert_int_eq(mb.m[1].status, MEMBER_LEFT);
    ck_assert(!membership_is_up(&mb, 1));
    ck_assert(!membership_is_up(&mb, 0));
    membership_free(&mb);
}
END_TEST

static Suite *membership_suite(void)
{
    Suite *s = suite_create("membership");
    TCase *tc = tcase_create("membership");
    tcase_add_test(tc, silent_peer_goes_suspect_then_down);
    tcase_add_test(tc, idle_and_answering_peers_stay_up);
    tcase_add_test(tc, table_rules);
    tcase_add_test(tc, tombstones_hold_against_the_detectors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(membership_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
