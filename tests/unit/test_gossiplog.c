/*
 * test_gossiplog.c -- the bounded ring of gossip rounds behind
 * DYNAMO.GOSSIP: capacity 0 records nothing; a full ring overwrites the
 * oldest and never grows; a sent round is found again by its seq until a
 * newer round takes its slot; listings are newest first; news past
 * GOSSIPLOG_NEWS lines is counted, not kept, and long lines and peer names
 * are cut.
 */
#include <check.h>
#include <string.h>
#include "cluster/gossiplog.h"

START_TEST(a_log_of_zero_records_nothing)
{
    struct gossiplog l;
    gossiplog_init(&l, 0);
    ck_assert_ptr_null(gossiplog_add(&l, 5, GOSSIPLOG_SENT, "n2"));
    ck_assert_ptr_null(gossiplog_find(&l, 1));
    gossiplog_news(NULL, "ignored %d", 1);
    const struct gossiplog_round *out[4];
    ck_assert_uint_eq(gossiplog_list(&l, out, 4), 0);
    gossiplog_free(&l);
}
END_TEST

START_TEST(rounds_are_listed_newest_first_and_the_oldest_overwritten)
{
    struct gossiplog l;
    gossiplog_init(&l, 3);
    for (int i = 1; i <= 5; i++) {
        char peer[8];
        snprintf(peer, sizeof(peer), "n%d", i);
        struct gossiplog_round *r = gossiplog_add(
            &l, 1000 + (uint64_t)i, i % 2 ? GOSSIPLOG_SENT : GOSSIPLOG_RECEIVED,
            peer);
        ck_assert_ptr_nonnull(r);
        ck_assert_uint_eq(r->seq, (uint64_t)i);
    }
    const struct gossiplog_round *out[8];
    ck_assert_uint_eq(gossiplog_list(&l, out, 8), 3);
    ck_assert_str_eq(out[0]->peer, "n5");
    ck_assert_str_eq(out[1]->peer, "n4");
    ck_assert_str_eq(out[2]->peer, "n3");
    ck_assert_uint_eq(out[0]->wall_ms, 1005);
    ck_assert_str_eq(gossiplog_dir_name(out[0]->dir), "sent");
    ck_assert_str_eq(gossiplog_dir_name(out[1]->dir), "received");
    /* a received round is answered by definition; a sent one once its
     * reply comes */
    ck_assert_uint_eq(out[1]->answered, 1);
    ck_assert_uint_eq(out[0]->answered, 0);
    /* max bounds the listing */
    ck_assert_uint_eq(gossiplog_list(&l, out, 2), 2);
    ck_assert_str_eq(out[1]->peer, "n4");
    gossiplog_free(&l);
}
END_TEST

START_TEST(a_sent_round_is_found_until_its_slot_is_taken)
{
    struct gossiplog l;
    gossiplog_init(&l, 2);
    struct gossiplog_round *r = gossiplog_add(&l, 1, GOSSIPLOG_SENT, "n2");
    uint64_t seq = r->seq;
    ck_assert_ptr_eq(gossiplog_find(&l, seq), r);
    ck_assert_ptr_null(gossiplog_find(&l, 0));
    ck_assert_ptr_null(gossiplog_find(&l, seq + 1)); /* not yet given */
    gossiplog_add(&l, 2, GOSSIPLOG_RECEIVED, "n3");
    ck_assert_ptr_eq(gossiplog_find(&l, seq), r);
    gossiplog_add(&l, 3, GOSSIPLOG_RECEIVED, "n4"); /* takes r's slot */
    ck_assert_ptr_null(gossiplog_find(&l, seq));
    gossiplog_free(&l);
}
END_TEST

START_TEST(news_is_bounded_in_count_and_size)
{
    struct gossiplog l;
    gossiplog_init(&l, 1);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    struct gossiplog_round *r = gossiplog_add(&l, 1, GOSSIPLOG_SENT, longname);
    ck_assert_uint_eq(strlen(r->peer), GOSSIPLOG_PEER_MAX - 1);
    for (int i = 0; i < GOSSIPLOG_NEWS + 3; i++)
        gossiplog_news(r, "n%d: suspect->up", i);
    ck_assert_uint_eq(r->nnews, GOSSIPLOG_NEWS + 3);
    ck_assert_str_eq(r->news[0], "n0: suspect->up");
    ck_assert_str_eq(r->news[GOSSIPLOG_NEWS - 1], "n5: suspect->up");
    struct gossiplog_round *r2 = gossiplog_add(&l, 2, GOSSIPLOG_SENT, "n2");
    gossiplog_news(r2, "%s: restarted", longname);
    ck_assert_uint_eq(strlen(r2->news[0]), GOSSIPLOG_NEWS_MAX - 1);
    ck_assert_uint_eq(r2->nnews, 1); /* the slot was cleared for it */
    gossiplog_free(&l);
}
END_TEST

static Suite *gossiplog_suite(void)
{
    Suite *s = suite_create("gossiplog");
    TCase *tc = tcase_create("gossiplog");
    tcase_add_test(tc, a_log_of_zero_records_nothing);
    tcase_add_test(tc, rounds_are_listed_newest_first_and_the_oldest_overwritten);
    tcase_add_test(tc, a_sent_round_is_found_until_its_slot_is_taken);
    tcase_add_test(tc, news_is_bounded_in_count_and_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gossiplog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
