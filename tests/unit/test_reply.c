/*
 * test_reply.c -- every reply encoder in RESP2 and RESP3.
 *
 * The expected bytes are what redis-server 7.0.15 sends for the same value
 * (checked with raw sockets, e.g. ZSCORE for doubles, HELLO 3 for RESP3).
 */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/buf.h"
#include "server/reply.h"

/* Compares the buffer with a literal (which may hold NULs) and empties it. */
#define SEES(lit)                                                             \
    do {                                                                      \
        ck_assert_msg(b.len == sizeof(lit) - 1 &&                             \
                          memcmp(b.p, lit, sizeof(lit) - 1) == 0,             \
                      "got %.*s", (int)b.len, b.p);                           \
        dbuf_reset(&b);                                                       \
    } while (0)

START_TEST(simple_types)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_ok(&b);
    SEES("+OK\r\n");
    reply_status(&b, "PONG");
    SEES("+PONG\r\n");
    reply_status_len(&b, "QUEUEDxx", 6);
    SEES("+QUEUED\r\n");
    reply_int(&b, 0);
    SEES(":0\r\n");
    reply_int(&b, -42);
    SEES(":-42\r\n");
    reply_int(&b, LLONG_MAX);
    SEES(":9223372036854775807\r\n");
    reply_int(&b, LLONG_MIN);
    SEES(":-9223372036854775808\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(errors)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_error(&b, "ERR unknown command");
    SEES("-ERR unknown command\r\n");
    reply_error(&b, "WRONGTYPE Operation against a key");
    SEES("-WRONGTYPE Operation against a key\r\n");
    /* line breaks cannot end the reply early */
    reply_error(&b, "ERR Protocol error: expected '$', got '\r'");
    SEES("-ERR Protocol error: expected '$', got ' '\r\n");
    reply_error(&b, "ERR a\r\nb\nc");
    SEES("-ERR a  b c\r\n");
    /* a leading '-' is not doubled */
    reply_error(&b, "-NOAUTH Authentication required.");
    SEES("-NOAUTH Authentication required.\r\n");
    reply_errorf(&b, "ERR wrong number of arguments for '%s' command", "get");
    SEES("-ERR wrong number of arguments for 'get' command\r\n");
    reply_errorf(&b, "ERR %s", "x\ny");
    SEES("-ERR x y\r\n");
    /* a long formatted error is not truncated */
    char big[300];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    reply_errorf(&b, "ERR %s!", big);
    ck_assert_uint_eq(b.len, 1 + 4 + 299 + 1 + 2);
    ck_assert_int_eq(memcmp(b.p + b.len - 3, "!\r\n", 3), 0);
    dbuf_reset(&b);
    dbuf_free(&b);
}
END_TEST

START_TEST(bulks)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_bulk(&b, "hello", 5);
    SEES("$5\r\nhello\r\n");
    reply_bulk(&b, "", 0);
    SEES("$0\r\n\r\n");
    reply_bulk(&b, "a\0\r\nb", 5);
    SEES("$5\r\na\0\r\nb\r\n");
    reply_bulk_cstr(&b, "value");
    SEES("$5\r\nvalue\r\n");
    reply_bulk_ll(&b, -123);
    SEES("$4\r\n-123\r\n");
    reply_bulk_ll(&b, LLONG_MIN);
    SEES("$20\r\n-9223372036854775808\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(large_bulk)
{
    struct dbuf b;
    dbuf_init(&b);
    size_t n = 1 << 20;
    char *v = malloc(n);
    memset(v, 'v', n);
    reply_bulk(&b, v, n);
    ck_assert_uint_eq(b.len, 10 + n + 2);
    ck_assert_int_eq(memcmp(b.p, "$1048576\r\n", 10), 0);
    ck_assert_int_eq(memcmp(b.p + 10 + n, "\r\n", 2), 0);
    free(v);
    dbuf_free(&b);
}
END_TEST

START_TEST(nulls)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_null(&b, 2);
    SEES("$-1\r\n");
    reply_null(&b, 3);
    SEES("_\r\n");
    reply_null_array(&b, 2);
    SEES("*-1\r\n");
    reply_null_array(&b, 3);
    SEES("_\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(aggregates)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_array(&b, 0);
    SEES("*0\r\n");
    reply_array(&b, 3);
    SEES("*3\r\n");
    reply_map(&b, 2, 2);
    SEES("*4\r\n");
    reply_map(&b, 3, 2);
    SEES("%2\r\n");
    reply_map(&b, 3, 0);
    SEES("%0\r\n");
    reply_set(&b, 2, 5);
    SEES("*5\r\n");
    reply_set(&b, 3, 5);
    SEES("~5\r\n");
    /* a whole map as HGETALL would send it */
    reply_map(&b, 3, 1);
    reply_bulk_cstr(&b, "f");
    reply_bulk_cstr(&b, "v");
    SEES("%1\r\n$1\r\nf\r\n$1\r\nv\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(doubles)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_double(&b, 3, 0.1);
    SEES(",0.10000000000000001\r\n");
    reply_double(&b, 2, 0.1);
    SEES("$19\r\n0.10000000000000001\r\n");
    reply_double(&b, 3, 3);
    SEES(",3\r\n");
    reply_double(&b, 2, 3);
    SEES("$1\r\n3\r\n");
    reply_double(&b, 3, 1e300);
    SEES(",1.0000000000000001e+300\r\n");
    reply_double(&b, 2, -2.5);
    SEES("$4\r\n-2.5\r\n");
    reply_double(&b, 3, INFINITY);
    SEES(",inf\r\n");
    reply_double(&b, 3, -INFINITY);
    SEES(",-inf\r\n");
    reply_double(&b, 2, INFINITY);
    SEES("$3\r\ninf\r\n");
    reply_double(&b, 2, -INFINITY);
    SEES("$4\r\n-inf\r\n");
    reply_double(&b, 3, NAN);
    SEES(",nan\r\n");
    reply_double(&b, 2, -0.0);
    SEES("$2\r\n-0\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(booleans_and_verbatim)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_bool(&b, 3, 1);
    SEES("#t\r\n");
    reply_bool(&b, 3, 0);
    SEES("#f\r\n");
    reply_bool(&b, 2, 7);
    SEES(":1\r\n");
    reply_bool(&b, 2, 0);
    SEES(":0\r\n");
    reply_verbatim(&b, 3, "txt", "# Server\r\n", 10);
    SEES("=14\r\ntxt:# Server\r\n\r\n");
    reply_verbatim(&b, 2, "txt", "# Server\r\n", 10);
    SEES("$10\r\n# Server\r\n\r\n");
    reply_verbatim(&b, 3, "mkd", "", 0);
    SEES("=4\r\nmkd:\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(deferred)
{
    struct dbuf b;
    dbuf_init(&b);
    reply_int(&b, 1); /* an earlier reply stays in front */
    size_t off = reply_defer(&b);
    reply_bulk_cstr(&b, "a");
    reply_bulk_cstr(&b, "b");
    reply_defer_set(&b, off, 2, '*', 2);
    SEES(":1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n");

    off = reply_defer(&b);
    reply_defer_set(&b, off, 3, '*', 0);
    SEES("*0\r\n");

    /* maps count pairs: RESP2 doubles the count */
    off = reply_defer(&b);
    reply_bulk_cstr(&b, "k");
    reply_int(&b, 1);
    reply_defer_set(&b, off, 2, '%', 1);
    SEES("*2\r\n$1\r\nk\r\n:1\r\n");
    off = reply_defer(&b);
    reply_bulk_cstr(&b, "k");
    reply_int(&b, 1);
    reply_defer_set(&b, off, 3, '%', 1);
    SEES("%1\r\n$1\r\nk\r\n:1\r\n");

    off = reply_defer(&b);
    reply_bulk_cstr(&b, "m");
    reply_defer_set(&b, off, 3, '~', 1);
    SEES("~1\r\n$1\r\nm\r\n");
    off = reply_defer(&b);
    reply_bulk_cstr(&b, "m");
    reply_defer_set(&b, off, 2, '~', 1);
    SEES("*1\r\n$1\r\nm\r\n");
    dbuf_free(&b);
}
END_TEST

START_TEST(deferred_nested_innermost_first)
{
    struct dbuf b;
    dbuf_init(&b);
    size_t outer = reply_defer(&b);
    reply_int(&b, 1);
    size_t inner = reply_defer(&b);
    for (int i = 0; i < 12; i++)
        reply_int(&b, i % 10);
    reply_defer_set(&b, inner, 2, '*', 12);
    reply_defer_set(&b, outer, 2, '*', 2);
    SEES("*2\r\n:1\r\n*12\r\n:0\r\n:1\r\n:2\r\n:3\r\n:4\r\n:5\r\n:6\r\n"
         ":7\r\n:8\r\n:9\r\n:0\r\n:1\r\n");
    dbuf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reply");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, simple_types);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, bulks);
    tcase_add_test(tc, large_bulk);
    tcase_add_test(tc, nulls);
    tcase_add_test(tc, aggregates);
    tcase_add_test(tc, doubles);
    tcase_add_test(tc, booleans_and_verbatim);
    tcase_add_test(tc, deferred);
    tcase_add_test(tc, deferred_nested_innermost_first);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
