/*
 * test_outq.c -- the reply block queue: buffers join it without a copy,
 * leave it in order through iovecs, and are freed once written.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/buf.h"
#include "server/outq.h"

/* Everything the queue would write, gathered from its iovecs. */
static void drain_to(const struct outq *q, struct dbuf *out)
{
    struct iovec iov[8];
    int k = outq_iov(q, iov, 8);
    for (int i = 0; i < k; i++)
        dbuf_append(out, iov[i].iov_base, iov[i].iov_len);
}

static void fill(struct dbuf *b, const char *s)
{
    dbuf_init(b);
    dbuf_appends(b, s);
}

START_TEST(empty_queue_is_all_zero)
{
    struct outq q;
    memset(&q, 0, sizeof(q));
    struct iovec iov[2];
    ck_assert_int_eq(outq_iov(&q, iov, 2), 0);
    ck_assert_uint_eq(q.pending, 0);
    outq_free(&q); /* freeing an empty queue is fine */
    outq_init(&q);
    ck_assert_uint_eq(q.blocks, 0);
}
END_TEST

START_TEST(take_moves_the_buffer_without_copying)
{
    struct outq q;
    outq_init(&q);
    struct dbuf b;
    dbuf_init(&b);
    const char *text = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop";
    dbuf_appends(&b, text);  /* 62 bytes in 64: no slack to trim */
    const char *mem = b.p;
    outq_take(&q, &b, 0);
    ck_assert_ptr_null(b.p);  /* the dbuf is left empty */
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(q.pending, 62);
    ck_assert_uint_eq(q.blocks, 1);
    struct iovec iov[2];
    ck_assert_int_eq(outq_iov(&q, iov, 2), 1);
    ck_assert_ptr_eq(iov[0].iov_base, mem);  /* the very same memory */
    ck_assert_uint_eq(iov[0].iov_len, 62);
    ck_assert(memcmp(iov[0].iov_base, text, 62) == 0);
    outq_free(&q);
}
END_TEST

START_TEST(take_from_an_offset_skips_what_was_sent)
{
    struct outq q;
    outq_init(&q);
    struct dbuf b;
    fill(&b, "already-sent|pending");
    outq_take(&q, &b, 13);
    ck_assert_uint_eq(q.pending, 7);
    struct dbuf out;
    dbuf_init(&out);
    drain_to(&q, &out);
    ck_assert_uint_eq(out.len, 7);
    ck_assert(memcmp(out.p, "pending", 7) == 0);
    /* taking a fully sent buffer queues nothing but empties it */
    fill(&b, "all sent");
    outq_take(&q, &b, 8);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(q.blocks, 1);
    dbuf_free(&out);
    outq_free(&q);
}
END_TEST

START_TEST(blocks_leave_in_order_and_are_freed_once_written)
{
    struct outq q;
    outq_init(&q);
    const char *parts[] = { "first;", "second;", "third;" };
    for (int i = 0; i < 3; i++) {
        struct dbuf b;
        fill(&b, parts[i]);
        outq_take(&q, &b, 0);
    }
    ck_assert_uint_eq(q.blocks, 3);
    ck_assert_uint_eq(q.pending, 19);
    struct dbuf out;
    dbuf_init(&out);
    drain_to(&q, &out);
    ck_assert_uint_eq(out.len, 19);
    ck_assert(memcmp(out.p, "first;second;third;", 19) == 0);

    /* a partial write inside the first block */
    outq_consume(&q, 3);
    ck_assert_uint_eq(q.blocks, 3);
    ck_assert_uint_eq(q.pending, 16);
    dbuf_reset(&out);
    drain_to(&q, &out);
    ck_assert(memcmp(out.p, "st;second;third;", 16) == 0);

    /* a write that ends inside the third block frees the first two */
    outq_consume(&q, 3 + 7 + 2);
    ck_assert_uint_eq(q.blocks, 1);
    ck_assert_uint_eq(q.pending, 4);
    dbuf_reset(&out);
    drain_to(&q, &out);
    ck_assert_uint_eq(out.len, 4);
    ck_assert(memcmp(out.p, "ird;", 4) == 0);

    /* the rest: the queue is empty, and a new block starts it again */
    outq_consume(&q, 4);
    ck_assert_uint_eq(q.blocks, 0);
    ck_assert_uint_eq(q.pending, 0);
    ck_assert_uint_eq(q.mem, 0);
    struct dbuf b;
    fill(&b, "again");
    outq_take(&q, &b, 0);
    dbuf_reset(&out);
    drain_to(&q, &out);
    ck_assert(out.len == 5 && memcmp(out.p, "again", 5) == 0);
    dbuf_free(&out);
    outq_free(&q);
    ck_assert_uint_eq(q.blocks, 0);
}
END_TEST

START_TEST(iov_stops_at_max)
{
    struct outq q;
    outq_init(&q);
    for (int i = 0; i < 5; i++) {
        struct dbuf b;
        fill(&b, "0123456789");
        outq_take(&q, &b, 0);
    }
    struct iovec iov[3];
    ck_assert_int_eq(outq_iov(&q, iov, 3), 3);
    ck_assert_uint_eq(iov[2].iov_len, 10);
    outq_free(&q);
}
END_TEST

START_TEST(slack_is_trimmed_and_memory_counted)
{
    struct outq q;
    outq_init(&q);
    struct dbuf b;
    dbuf_init(&b);
    dbuf_reserve(&b, 1 << 20);  /* 1 MiB of room */
    memset(b.p, 'x', 1000);
    b.len = 1000;
    outq_take(&q, &b, 0);
    ck_assert_uint_eq(q.mem, 1000);  /* trimmed to what it holds */
    dbuf_init(&b);
    dbuf_reserve(&b, 1100);  /* little slack: kept as it is */
    memset(b.p, 'y', 1000);
    b.len = 1000;
    size_t cap = b.cap;
    outq_take(&q, &b, 0);
    ck_assert_uint_eq(q.mem, 1000 + cap);
    ck_assert_uint_eq(q.pending, 2000);
    outq_consume(&q, 1000);
    ck_assert_uint_eq(q.mem, cap);
    outq_free(&q);
    ck_assert_uint_eq(q.mem, 0);
}
END_TEST

START_TEST(many_blocks_cost_no_copy_of_the_queue)
{
    /* 1000 blocks of 16 KiB: each take leaves earlier blocks where they
     * are (their iovec bases do not move). */
    struct outq q;
    outq_init(&q);
    struct iovec first[1];
    for (int i = 0; i < 1000; i++) {
        struct dbuf b;
        dbuf_init(&b);
        dbuf_reserve(&b, 16384);
        memset(b.p, 'a' + i % 26, 16384);
        b.len = 16384;
        outq_take(&q, &b, 0);
        if (i == 0)
            outq_iov(&q, first, 1);
    }
    struct iovec now[1];
    outq_iov(&q, now, 1);
    ck_assert_ptr_eq(first[0].iov_base, now[0].iov_base);
    ck_assert_uint_eq(q.pending, 1000u * 16384);
    outq_consume(&q, 999u * 16384 + 1);
    ck_assert_uint_eq(q.blocks, 1);
    outq_iov(&q, now, 1);
    ck_assert_uint_eq(now[0].iov_len, 16383);
    ck_assert_int_eq(((char *)now[0].iov_base)[0], 'a' + 999 % 26);
    outq_free(&q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("outq");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, empty_queue_is_all_zero);
    tcase_add_test(tc, take_moves_the_buffer_without_copying);
    tcase_add_test(tc, take_from_an_offset_skips_what_was_sent);
    tcase_add_test(tc, blocks_leave_in_order_and_are_freed_once_written);
    tcase_add_test(tc, iov_stops_at_max);
    tcase_add_test(tc, slack_is_trimmed_and_memory_counted);
    tcase_add_test(tc, many_blocks_cost_no_copy_of_the_queue);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
