/*
 * test_quorum.c -- counting toward R and W: met exactly at `need`, failed
 * exactly when success became impossible or the deadline passed, decided
 * once, late answers counted; read answers reconciled and stale replicas
 * named for read repair.
 */
#include <check.h>
#include <string.h>
#include "cluster/quorum.h"
#include "cluster/vclock.h"
#include "server/util.h"

static struct object *version(const char *v, const struct object *base,
                              uint64_t actor, uint64_t now)
{
    struct vclock ctx;
    vclock_init(&ctx);
    if (base)
        object_clock(base, &ctx);
    struct object_write w = {.value = v, .vlen = strlen(v), .ctx = &ctx,
                             .actor = actor, .now_ms = now,
                             .max_ctx_entries = 10};
    uint32_t pruned = 0;
    struct object *o = object_write(base, &w, &pruned);
    vclock_free(&ctx);
    return o;
}

START_TEST(write_quorum_met_at_w_and_late_acks_counted)
{
    uint16_t nodes[3] = {4, 7, 9};
    struct quorum q;
    int decided;
    ck_assert_int_eq(quorum_init(&q, nodes, 3, 2), 0);
    ck_assert_int_eq(quorum_reply(&q, 7, 1, NULL, &decided), QUORUM_PENDING);
    ck_assert_int_eq(decided, 0);
    ck_assert_int_eq(quorum_reply(&q, 7, 1, NULL, &decided), QUORUM_PENDING);
    ck_assert_int_eq(quorum_reply(&q, 5, 1, NULL, &decided), QUORUM_PENDING);
    ck_assert_int_eq(quorum_reply(&q, 4, 1, NULL, &decided), QUORUM_MET);
    ck_assert_int_eq(decided, 1);
    ck_assert_int_eq(quorum_reply(&q, 9, 0, NULL, &decided), QUORUM_MET);
    ck_assert_int_eq(decided, 0);
    ck_assert_uint_eq(q.late, 1);
    ck_assert_int_eq(quorum_timeout(&q, &decided), QUORUM_MET);
    ck_assert_int_eq(decided, 0);
    quorum_free(&q);
}
END_TEST

START_TEST(fails_as_soon_as_impossible_or_at_deadline)
{
    uint16_t nodes[3] = {1, 2, 3};
    struct quorum q;
    int decided;
    ck_assert_int_eq(quorum_init(&q, nodes, 3, 3), 0);
    ck_assert_int_eq(quorum_reply(&q, 1, 1, NULL, &decided), QUORUM_PENDING);
    ck_assert_int_eq(quorum_reply(&q, 2, 0, NULL, &decided), QUORUM_FAILED);
    ck_assert_int_eq(decided, 1);
    ck_assert_int_eq(quorum_reply(&q, 3, 1, NULL, &decided), QUORUM_FAILED);
    ck_assert_uint_eq(q.ok, 2);
    quorum_free(&q);

    ck_assert_int_eq(quorum_init(&q, nodes, 3, 2), 0);
    ck_assert_int_eq(quorum_reply(&q, 1, 1, NULL, &decided), QUORUM_PENDING);
    ck_assert_int_eq(quorum_timeout(&q, &decided), QUORUM_FAILED);
    ck_assert_int_eq(decided, 1);
    quorum_free(&q);

    ck_assert_int_eq(quorum_init(&q, nodes, 3, 4), DYN_EINVAL);
    ck_assert_int_eq(quorum_init(&q, nodes, 0, 1), DYN_EINVAL);
}
END_TEST

START_TEST(read_merges_answers_and_names_stale_replicas)
{
    struct object *v1 = version("one", NULL, 100, 1000);
    struct object *v2 = version("two", v1, 100, 2000); /* supersedes v1 */
    uint16_t nodes[3] = {1, 2, 3};
    struct quorum q;
    int decided;
    ck_assert_int_eq(quorum_init(&q, nodes, 3, 3), 0);
    quorum_reply(&q, 1, 1, object_dup(v2), &decided);
    quorum_reply(&q, 2, 1, object_dup(v1), &decided);
    ck_assert_int_eq(quorum_reply(&q, 3, 1, NULL, &decided), QUORUM_MET);
    struct object *m = quorum_merged(&q);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(object_nsiblings(m), 1);
    struct sibling s;
    object_sibling(m, 0, &s);
    ck_assert_mem_eq(s.value, "two", 3);
    uint16_t stale[3];
    uint32_t k = quorum_stale(&q, m, stale, 3);
    ck_assert_uint_eq(k, 2);
    ck_assert_uint_eq(stale[0], 2); /* had the old version */
    ck_assert_uint_eq(stale[1], 3); /* had nothing */
    object_free(m);
    quorum_free(&q);

    /* concurrent versions: both kept, every replica missing one is stale */
    struct object *a = version("a", NULL, 100, 1000);
    struct object *b = version("b", NULL, 200, 1000);
    ck_assert_int_eq(quorum_init(&q, nodes, 2, 2), 0);
    quorum_reply(&q, 1, 1, object_dup(a), &decided);
    quorum_reply(&q, 2, 1, object_dup(b), &decided);
    m = quorum_merged(&q);
    ck_assert_uint_eq(object_nsiblings(m), 2);
    ck_assert_uint_eq(quorum_stale(&q, m, stale, 3), 2);
    object_free(m);
    quorum_free(&q);
    object_free(a);
    object_free(b);
    object_free(v1);
    object_free(v2);
}
END_TEST

static Suite *quorum_suite(void)
{
    Suite *s = suite_create("quorum");
    TCase *tc = tcase_create("quorum");
    tcase_add_test(tc, write_quorum_met_at_w_and_late_acks_counted);
    tcase_add_test(tc, fails_as_soon_as_impossible_or_at_deadline);
    tcase_add_test(tc, read_merges_answers_and_names_stale_replicas);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(quorum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
