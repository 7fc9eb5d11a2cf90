/*
 * test_trace.c -- the two bounded rings behind DYNAMO.TRACE and
 * DYNAMO.EVENTS: capacity 0 records nothing; a full ring overwrites the
 * oldest and never grows; ids only grow; an op's trace id stops finding
 * its slot once a newer op took it; listings are newest first (traces)
 * or oldest first after `since` (events); long keys and values are cut.
 */
#include <check.h>
#include <string.h>
#include "cluster/evlog.h"
#include "cluster/trace.h"

START_TEST(trace_ring_of_zero_records_nothing)
{
    struct trace_ring r;
    trace_ring_init(&r, 0);
    ck_assert_ptr_null(trace_begin(&r, 1, 1, "GET", "k", 1));
    ck_assert_ptr_null(trace_get(&r, 1));
    const struct trace *out[4];
    ck_assert_uint_eq(trace_list(&r, NULL, 0, out, 4), 0);
    trace_ring_free(&r);
}
END_TEST

START_TEST(trace_ring_overwrites_the_oldest_and_ids_find_live_slots)
{
    struct trace_ring r;
    trace_ring_init(&r, 3);
    uint64_t id[5];
    for (int i = 0; i < 5; i++) {
        char k[8];
        k[0] = (char)('a' + i);
        struct trace *t = trace_begin(&r, 100 + (uint64_t)i, 0, "SET", k, 1);
        ck_assert_ptr_nonnull(t);
        id[i] = t->id;
    }
    ck_assert_uint_eq(id[0], 1);
    ck_assert_uint_eq(id[4], 5);
    /* the first two were overwritten: their ops must not write into the
     * slots that newer ops own */
    ck_assert_ptr_null(trace_get(&r, id[0]));
    ck_assert_ptr_null(trace_get(&r, id[1]));
    ck_assert_ptr_nonnull(trace_get(&r, id[2]));
    ck_assert_str_eq(trace_get(&r, id[4])->key, "e");
    const struct trace *out[8];
    ck_assert_uint_eq(trace_list(&r, NULL, 0, out, 8), 3);
    ck_assert_uint_eq(out[0]->id, 5); /* newest first */
    ck_assert_uint_eq(out[2]->id, 3);
    ck_assert_uint_eq(trace_list(&r, NULL, 0, out, 2), 2);
    ck_assert_uint_eq(out[1]->id, 4);
    trace_ring_free(&r);
}
END_TEST

/* A reader that follows the ring (the event stream) gets each trace once,
 * finished: a running one holds back the newer ones until it ends, or
 * until it is stale; ids the ring overwrote are skipped. */
START_TEST(trace_since_gives_finished_traces_in_order_once)
{
    struct trace_ring r;
    trace_ring_init(&r, 4);
    struct trace *t[6];
    for (int i = 0; i < 3; i++)
        t[i] = trace_begin(&r, 1000, 0, "SET", "k", 1);
    const struct trace *out[8];
    ck_assert_uint_eq(trace_since(&r, 0, 1000, 500, out, 8), 0);
    trace_outcome(t[0], "ok", 2);
    trace_outcome(t[2], "ok", 2);
    ck_assert_uint_eq(trace_since(&r, 0, 1000, 500, out, 8), 1);
    ck_assert_uint_eq(out[0]->id, 1); /* 2 runs: 3 waits behind it */
    trace_outcome(t[1], "ok", 2);
    ck_assert_uint_eq(trace_since(&r, 1, 1000, 500, out, 8), 2);
    ck_assert_uint_eq(out[0]->id, 2);
    ck_assert_uint_eq(out[1]->id, 3);
    ck_assert_uint_eq(trace_since(&r, 3, 1000, 500, out, 8), 0);
    /* a trace that never ends stops holding the rest back once stale */
    t[3] = trace_begin(&r, 1000, 0, "GET", "k", 1);
    t[4] = trace_begin(&r, 1000, 0, "GET", "k", 1);
    trace_outcome(t[4], "ok", 2);
    ck_assert_uint_eq(trace_since(&r, 3, 1400, 500, out, 8), 0);
    ck_assert_uint_eq(trace_since(&r, 3, 1600, 500, out, 8), 2);
    ck_assert_uint_eq(out[0]->id, 4);
    /* the ring (4 slots) overwrote 1: a reader at 0 starts at 2 */
    ck_assert_uint_eq(trace_since(&r, 0, 1600, 500, out, 8), 4);
    ck_assert_uint_eq(out[0]->id, 2);
    ck_assert_uint_eq(trace_since(&r, 0, 1600, 500, out, 2), 2);
    trace_ring_free(&r);
    trace_ring_init(&r, 0);
    ck_assert_uint_eq(trace_since(&r, 0, 1600, 500, out, 8), 0);
}
END_TEST

START_TEST(trace_admit_caps_traces_per_second)
{
    struct trace_ring r;
    trace_ring_init(&r, 0);
    ck_assert_int_eq(trace_admit(&r, 5000000), 0); /* off: never */
    ck_assert_uint_eq(r.skipped, 0);
    trace_ring_free(&r);
    trace_ring_init(&r, 4);
    for (uint32_t i = 0; i < TRACE_PER_SEC; i++)
        ck_assert_int_eq(trace_admit(&r, 7000000 + i), 1);
    ck_assert_int_eq(trace_admit(&r, 7999999), 0);
    ck_assert_int_eq(trace_admit(&r, 7999999), 0);
    ck_assert_uint_eq(r.skipped, 2);
    ck_assert_int_eq(trace_admit(&r, 8000000), 1); /* the next second */
    ck_assert_uint_eq(r.skipped, 2);
    trace_ring_free(&r);
}
END_TEST

START_TEST(trace_list_by_key_matches_whole_keys_only)
{
    struct trace_ring r;
    trace_ring_init(&r, 8);
    trace_begin(&r, 1, 0, "SET", "user", 4);
    trace_begin(&r, 2, 0, "GET", "user1", 5);
    trace_begin(&r, 3, 0, "GET", "user", 4);
    char big[100];
    memset(big, 'x', sizeof(big));
    struct trace *t = trace_begin(&r, 4, 0, "GET", big, sizeof(big));
    ck_assert_uint_eq(t->klen, 100);
    ck_assert_int_eq(memcmp(t->key, big, TRACE_KEY_MAX), 0);
    const struct trace *out[8];
    ck_assert_uint_eq(trace_list(&r, "user", 4, out, 8), 2);
    ck_assert_str_eq(out[0]->op, "GET");
    ck_assert_str_eq(out[1]->op, "SET");
    ck_assert_uint_eq(trace_list(&r, "nope", 4, out, 8), 0);
    /* a cut key is never mistaken for its first bytes */
    ck_assert_uint_eq(trace_list(&r, big, TRACE_KEY_MAX, out, 8), 0);
    trace_ring_free(&r);
}
END_TEST

START_TEST(trace_replicas_are_added_once_and_bounded)
{
    struct trace_ring r;
    trace_ring_init(&r, 2);
    struct trace *t = trace_begin(&r, 1, 1000, "GET", "k", 1);
    struct trace_rep *a = trace_rep(t, 1, "n1");
    a->flags |= TR_OWNER;
    ck_assert_ptr_eq(trace_rep(t, 1, "n1"), a);
    ck_assert_str_eq(a->name, "n1");
    ck_assert_uint_eq(a->flags, TR_OWNER);
    /* found by id: the name is only copied when the entry is added */
    ck_assert_ptr_eq(trace_rep(t, 1, "other"), a);
    ck_assert_uint_eq(t->nrep, 1);
    for (int i = 0; i < TRACE_REPS + 3; i++) {
        char name[8] = "m";
        name[1] = (char)('A' + i);
        trace_rep(t, 100 + (uint32_t)i, name);
    }
    ck_assert_uint_eq(t->nrep, TRACE_REPS);
    ck_assert_ptr_null(trace_rep(t, 999, "zz"));
    ck_assert_uint_eq(trace_elapsed(t, 1250), 250);
    ck_assert_uint_eq(trace_elapsed(t, 1000), 1); /* answered "at once" */
    ck_assert_uint_eq(trace_elapsed(t, 10), 1);   /* a clock step back */
    /* a slot taken again starts clean */
    t = trace_begin(&r, 2, 0, "SET", "k", 1);
    t = trace_begin(&r, 3, 0, "SET", "j", 1);
    ck_assert_uint_eq(t->nrep, 0);
    ck_assert_str_eq(t->outcome, "");
    trace_outcome(t, "-NOQUORUM 1 of 2", 16);
    ck_assert_str_eq(t->outcome, "-NOQUORUM 1 of 2");
    trace_ring_free(&r);
}
END_TEST

START_TEST(event_ring_since_returns_newer_ids_oldest_first)
{
    struct evlog r;
    evlog_init(&r, 4);
    for (int i = 0; i < 6; i++) {
        struct evlog_entry *e = evlog_add(&r, 1000 + (uint64_t)i, EV_HINT_STORED);
        evlog_field(e, "n", "%d", i);
    }
    const struct evlog_entry *out[8];
    /* 1 and 2 were overwritten: since 0 gives what is still held */
    ck_assert_uint_eq(evlog_since(&r, 0, out, 8), 4);
    ck_assert_uint_eq(out[0]->id, 3);
    ck_assert_uint_eq(out[3]->id, 6);
    ck_assert_str_eq(out[3]->f[0].value, "5");
    ck_assert_uint_eq(out[3]->wall_ms, 1005);
    ck_assert_uint_eq(evlog_since(&r, 4, out, 8), 2);
    ck_assert_uint_eq(out[0]->id, 5);
    ck_assert_uint_eq(evlog_since(&r, 6, out, 8), 0);
    ck_assert_uint_eq(evlog_since(&r, 99, out, 8), 0);
    ck_assert_uint_eq(evlog_since(&r, 0, out, 1), 1);
    ck_assert_uint_eq(out[0]->id, 3);
    evlog_free(&r);
}
END_TEST

START_TEST(event_fields_are_bounded_and_off_ring_records_nothing)
{
    struct evlog r;
    evlog_init(&r, 0);
    ck_assert_ptr_null(evlog_add(&r, 1, EV_KILL));
    evlog_field(NULL, "x", "%d", 1); /* a no-op, as evlog_add's NULL says */
    const struct evlog_entry *out[2];
    ck_assert_uint_eq(evlog_since(&r, 0, out, 2), 0);
    evlog_init(&r, 2);
    struct evlog_entry *e = evlog_add(&r, 1, EV_READ_REPAIR);
    char big[200];
    memset(big, 'k', sizeof(big));
    evlog_field_bytes(e, "key", big, sizeof(big));
    ck_assert_uint_eq(strlen(e->f[0].value), EVENT_VALUE_MAX - 1);
    for (int i = 0; i < EVENT_FIELDS + 2; i++)
        evlog_field(e, "f", "%d", i);
    ck_assert_uint_eq(e->nf, EVENT_FIELDS);
    ck_assert_str_eq(e->f[1].value, "0");
    /* a reused slot forgets its old fields */
    evlog_add(&r, 2, EV_KILL);
    e = evlog_add(&r, 3, EV_REVIVE);
    ck_assert_uint_eq(e->nf, 0);
    ck_assert_str_eq(evlog_type_name(e->type), "revive");
    ck_assert_str_eq(evlog_type_name(EV_HINT_DELIVERED), "hint-delivered");
    ck_assert_str_eq(evlog_type_name(EV_TYPES), "?");
    evlog_free(&r);
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("rings");
    tcase_add_test(tc, trace_ring_of_zero_records_nothing);
    tcase_add_test(tc, trace_ring_overwrites_the_oldest_and_ids_find_live_slots);
    tcase_add_test(tc, trace_list_by_key_matches_whole_keys_only);
    tcase_add_test(tc, trace_admit_caps_traces_per_second);
    tcase_add_test(tc, trace_since_gives_finished_traces_in_order_once);
    tcase_add_test(tc, trace_replicas_are_added_once_and_bounded);
    tcase_add_test(tc, event_ring_since_returns_newer_ids_oldest_first);
    tcase_add_test(tc, event_fields_are_bounded_and_off_ring_records_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trace_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
