/*
 * test_resp.c -- the RESP request parser, as a connection sees it.
 *
 * Expected behaviour (which requests, which error text) was checked against
 * redis-server 7.0.15 by sending the same bytes.  Commands are rendered as
 * text ("[SET|k|v]", "!<error>") so a whole stream compares as one string,
 * whatever the chunking.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/buf.h"
#include "server/resp.h"
#include "server/util.h"

static struct resp_limits test_limits(void)
{
    struct resp_limits l = {
        .max_bulk = 512LL * 1024 * 1024,
        .max_inline = 64 * 1024,
        .unauthenticated = 0,
        .unauth_max_args = 10,
        .unauth_max_bulk = 16384,
    };
    return l;
}

static void render_cmd(struct dbuf *out, const struct resp_parser *p,
                       const char *buf)
{
    dbuf_appendc(out, '[');
    for (size_t i = 0; i < p->argc; i++) {
        if (i)
            dbuf_appendc(out, '|');
        for (size_t j = 0; j < p->args[i].len; j++) {
            unsigned char c = (unsigned char)buf[p->args[i].off + j];
            if (c < 32 || c > 126 || c == '\\' || c == '|')
                dbuf_printf(out, "\\%02x", c);
            else
                dbuf_appendc(out, (char)c);
        }
    }
    dbuf_appendc(out, ']');
}

/* Feeds in[0..n) in chunks cut at the offsets in cuts[] (ascending), like a
 * connection: append, parse until NEED_MORE, drop consumed bytes.  Returns
 * the rendering (caller frees). */
static char *feed_cuts(const char *in, size_t n, const size_t *cuts,
                       size_t ncuts, const struct resp_limits *lim)
{
    struct resp_parser p;
    struct dbuf q, out;
    size_t at = 0;
    resp_init(&p);
    dbuf_init(&q);
    dbuf_init(&out);
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : n;
        dbuf_append(&q, in + at, end - at);
        at = end;
        for (;;) {
            int r = resp_parse(&p, q.p, q.len, lim);
            if (r == RESP_NEED_MORE)
                break;
            if (r == RESP_ERROR) {
                dbuf_printf(&out, "!%s", resp_error(&p));
                goto done;
            }
            ck_assert_int_eq(r, RESP_COMMAND);
            ck_assert_uint_ge(p.argc, 1);
            for (size_t i = 0; i < p.argc; i++) {
                ck_assert_uint_ge(p.args[i].off, p.cmd_start);
                ck_assert_uint_le(p.args[i].off + p.args[i].len, p.pos);
            }
            render_cmd(&out, &p, q.p);
            resp_next(&p);
        }
        size_t k = resp_consumed(&p);
        dbuf_consume(&q, k);
        resp_shift(&p, k);
    }
done:
    dbuf_appendc(&out, '\0');
    resp_free(&p);
    dbuf_free(&q);
    return out.p;
}

static char *feed(const char *in, size_t n, const struct resp_limits *lim)
{
    return feed_cuts(in, n, NULL, 0, lim);
}

static char *feed_bytewise(const char *in, size_t n,
                           const struct resp_limits *lim)
{
    size_t *cuts = dyn_malloc((n ? n : 1) * sizeof(*cuts));
    for (size_t i = 0; i + 1 < n; i++)
        cuts[i] = i + 1;
    char *r = feed_cuts(in, n, cuts, n ? n - 1 : 0, lim);
    dyn_free(cuts);
    return r;
}

#define EXPECT(in, want)                                                      \
    do {                                                                      \
        struct resp_limits l_ = test_limits();                                \
        char *got_ = feed(in, sizeof(in) - 1, &l_);                           \
        ck_assert_str_eq(got_, want);                                         \
        dyn_free(got_);                                                       \
        got_ = feed_bytewise(in, sizeof(in) - 1, &l_);                        \
        ck_assert_str_eq(got_, want);                                         \
        dyn_free(got_);                                                       \
    } while (0)

/* A pipelined stream of every kind of request. */
static const char stream[] =
    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
    "PING\r\n"
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
    "SET \"a b\\x41\\n\" 'it\\'s' plain\n"
    "\r\n"
    "*0\r\n"
    "*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\n\x00\r\n"
    "   \t \r\n"
    "*-1\r\n"
    "*1\r\n$12\r\n*1\r\n$4\r\nPING\r\n"
    "ECHO \"\"\r\n";
static const char stream_want[] =
    "[SET|key|value][PING][GET|][SET|a bA\\0a|it's|plain]"
    "[ECHO|a\\0d\\0ab\\0a\\00][*1\\0d\\0a$4\\0d\\0aPING][ECHO|]";

START_TEST(stream_whole_and_bytewise)
{
    EXPECT(stream, stream_want);
}
END_TEST

START_TEST(stream_split_at_every_boundary)
{
    struct resp_limits l = test_limits();
    size_t n = sizeof(stream) - 1;
    for (size_t i = 0; i <= n; i++) {
        char *got = feed_cuts(stream, n, &i, 1, &l);
        ck_assert_msg(strcmp(got, stream_want) == 0, "cut at %zu: %s", i,
                      got);
        dyn_free(got);
    }
}
END_TEST

START_TEST(stream_split_at_every_pair_of_boundaries)
{
    struct resp_limits l = test_limits();
    size_t n = sizeof(stream) - 1;
    for (size_t i = 0; i <= n; i += 1)
        for (size_t j = i; j <= n; j += 3) {
            size_t cuts[2] = {i, j};
            char *got = feed_cuts(stream, n, cuts, 2, &l);
            ck_assert_msg(strcmp(got, stream_want) == 0, "cuts %zu,%zu", i,
                          j);
            dyn_free(got);
        }
}
END_TEST

START_TEST(multibulk_binary_safe)
{
    EXPECT("*2\r\n$3\r\na\0b\r\n$2\r\n\r\n\r\n", "[a\\00b|\\0d\\0a]");
}
END_TEST

START_TEST(empty_requests_skipped)
{
    EXPECT("\r\n\n\n*0\r\n*-1\r\n*-5\r\n \t\x0b\r\nPING\n", "[PING]");
}
END_TEST

START_TEST(inline_quoting)
{
    /* double quotes: escapes, \xHH, an unknown escape keeps the char */
    EXPECT("ECHO \"a\\x41\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n",
           "[ECHO|aA\\0a\\0d\\09\\08\\07\\5c\"q]");
    /* a broken \x escape is a plain escaped x */
    EXPECT("ECHO \"\\x4g\"\n", "[ECHO|x4g]");
    /* single quotes: only \' is an escape */
    EXPECT("ECHO 'a\\'b\\n'\n", "[ECHO|a'b\\5cn]");
    /* a quote may open in the middle of an argument */
    EXPECT("ECHO a\"b c\"\n", "[ECHO|ab c]");
    /* \v and \f separate arguments only between them, not inside one */
    EXPECT("\x0b ECHO a\x0b" "b\n", "[ECHO|a\\0bb]");
    /* a closing quote followed by \v is fine */
    EXPECT("ECHO \"x\"\x0b\n", "[ECHO|x]");
    /* empty quoted arguments */
    EXPECT("ECHO '' \"\"\n", "[ECHO||]");
    /* \r\n and a lone \n both end a line; one \r is dropped, others split */
    EXPECT("ECHO x\r\r\nECHO y\n", "[ECHO|x][ECHO|y]");
    EXPECT("A\rB\r\n", "[A|B]");
}
END_TEST

START_TEST(inline_unbalanced_quotes)
{
    const char *e = "!Protocol error: unbalanced quotes in request";
    EXPECT("ECHO \"abc\n", e);
    EXPECT("ECHO 'abc\r\n", e);
    EXPECT("ECHO \"a\"b\n", e);
    EXPECT("ECHO 'a'b\n", e);
    EXPECT("ECHO \"\"\"\"\n", e);
    EXPECT("ECHO \"abc\\\"\n", e);
    /* commands before the bad one are still delivered */
    EXPECT("PING\nECHO \"x\n", "[PING]!Protocol error: unbalanced quotes "
                               "in request");
}
END_TEST

START_TEST(redis_skips_bytes_after_cr)
{
    /* Redis never looks at the byte after a count's \r nor at the two
     * bytes after a bulk. */
    EXPECT("*1\rX$4\r\nPINGxy", "[PING]");
    EXPECT("*1\r\n$4\r\nPINGxyPING\r\n", "[PING][PING]");
}
END_TEST

START_TEST(nul_hides_line_end)
{
    /* Redis searches lines with strchr, so a NUL before the end means the
     * line never ends: the connection just waits. */
    EXPECT("ECHO a\0b\n", "");
    EXPECT("*1\0\r\n$4\r\nPING\r\n", "");
    EXPECT("*1\r\n$4\0\r\nPING\r\n", "");
    EXPECT("*1\r\n\0$4\r\nPING\r\n", "");
    /* ... until the line is too big */
    struct resp_limits l = test_limits();
    l.max_inline = 16;
    char *got = feed("*1\r\n$1\0xxxxxxxxxxxxxxxxxxxx\r\n", 29, &l);
    ck_assert_str_eq(got, "!Protocol error: too big bulk count string");
    dyn_free(got);
}
END_TEST

START_TEST(multibulk_errors)
{
    EXPECT("*\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*01\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*+1\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*1x\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("* 1\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*-0\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*2147483648\r\n", "!Protocol error: invalid multibulk length");
    EXPECT("*99999999999999999999\r\n",
           "!Protocol error: invalid multibulk length");
    /* INT_MAX itself is accepted; the parser then waits for arguments */
    EXPECT("*2147483647\r\n", "");
    EXPECT("*1\r\n%4\r\n", "!Protocol error: expected '$', got '%'");
    EXPECT("*1\r\nPING\r\n", "!Protocol error: expected '$', got 'P'");
    EXPECT("*1\r\n\r4\r\n", "!Protocol error: expected '$', got '\r'");
    EXPECT("*1\r\n$\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$-1\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$+4\r\nPING\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$04\r\nPING\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$4 \r\nPING\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$x\r\n", "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$99999999999999999999\r\n",
           "!Protocol error: invalid bulk length");
    /* the edges of long long: refused, never wrapped */
    EXPECT("*9223372036854775807\r\n",
           "!Protocol error: invalid multibulk length");
    EXPECT("*9223372036854775808\r\n",
           "!Protocol error: invalid multibulk length");
    EXPECT("*-9223372036854775808\r\n", "");
    EXPECT("*1\r\n$9223372036854775807\r\n",
           "!Protocol error: invalid bulk length");
    EXPECT("*1\r\n$-9223372036854775808\r\n",
           "!Protocol error: invalid bulk length");
    /* an error comes only once the line is complete */
    EXPECT("*1\r\nX", "");
    EXPECT("*1\r\nX\r", "");
    EXPECT("*x\r", "");
}
END_TEST

START_TEST(max_bulk_limit)
{
    struct resp_limits l = test_limits();
    l.max_bulk = 4;
    char *got = feed("*1\r\n$4\r\nPING\r\n", 14, &l);
    ck_assert_str_eq(got, "[PING]");
    dyn_free(got);
    got = feed("*1\r\n$5\r\nPINGS\r\n", 15, &l);
    ck_assert_str_eq(got, "!Protocol error: invalid bulk length");
    dyn_free(got);
    /* the default is 512 MiB */
    got = feed("*1\r\n$536870913\r\n", 16, NULL);
    ck_assert_str_eq(got, "!Protocol error: invalid bulk length");
    dyn_free(got);
    got = feed("*1\r\n$536870912\r\n", 16, NULL);
    ck_assert_str_eq(got, "");
    dyn_free(got);
    /* proto-max-bulk-len may be LLONG_MAX: the largest length is accepted
     * (the parser waits for its bytes) and nothing overflows */
    l.max_bulk = LLONG_MAX;
    got = feed("*1\r\n$9223372036854775807\r\nab", 28, &l);
    ck_assert_str_eq(got, "");
    dyn_free(got);
}
END_TEST

static char *repeated(const char *head, char c, size_t n, const char *tail)
{
    size_t h = strlen(head), t = strlen(tail);
    char *s = dyn_malloc(h + n + t + 1);
    memcpy(s, head, h);
    memset(s + h, c, n);
    memcpy(s + h + n, tail, t + 1);
    return s;
}

static void expect_long(const char *head, char c, size_t n, const char *tail,
                        const char *want)
{
    struct resp_limits l = test_limits();
    char *in = repeated(head, c, n, tail);
    size_t len = strlen(in);
    char *got = feed(in, len, &l);
    ck_assert_msg(strcmp(got, want) == 0, "%s x%zu: got %s", head, n, got);
    dyn_free(got);
    /* in 1000-byte reads the verdict is the same */
    size_t ncuts = len / 1000;
    size_t *cuts = dyn_malloc((ncuts + 1) * sizeof(*cuts));
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * 1000;
    got = feed_cuts(in, len, cuts, ncuts, &l);
    ck_assert_msg(strcmp(got, want) == 0, "%s x%zu chunked: got %s", head, n,
                  got);
    dyn_free(got);
    dyn_free(cuts);
    dyn_free(in);
}

START_TEST(max_inline_limits)
{
    /* Inline: the limit counts the unterminated line, 64 KiB allowed. */
    expect_long("", 'a', 65536, "", "");
    expect_long("", 'a', 65537, "", "!Protocol error: too big inline request");
    /* a longer line is fine when its newline is already there */
    struct resp_limits l = test_limits();
    char *in = repeated("ECHO ", 'a', 70000, "\n");
    char *got = feed(in, strlen(in), &l);
    ck_assert_uint_eq(strlen(got), 70000 + 7);
    dyn_free(got);
    dyn_free(in);
    /* Count lines: the same limit, from the line's first byte. */
    expect_long("*", '1', 65535, "", "");
    expect_long("*", '1', 65536, "",
                "!Protocol error: too big mbulk count string");
    expect_long("*1\r\n$", '1', 65535, "", "");
    expect_long("*1\r\n$", '1', 65536, "",
                "!Protocol error: too big bulk count string");
}
END_TEST

START_TEST(unauthenticated_limits)
{
    struct resp_limits l = test_limits();
    l.unauthenticated = 1;
    char *got = feed("*11\r\n", 5, &l);
    ck_assert_str_eq(got, "!Protocol error: unauthenticated multibulk length");
    dyn_free(got);
    got = feed("*10\r\n$16385\r\n", 13, &l);
    ck_assert_str_eq(got, "!Protocol error: unauthenticated bulk length");
    dyn_free(got);
    got = feed("*10\r\n$16384\r\n", 13, &l);
    ck_assert_str_eq(got, "");
    dyn_free(got);
    /* a malformed count is "invalid" first */
    got = feed("*11x\r\n", 6, &l);
    ck_assert_str_eq(got, "!Protocol error: invalid multibulk length");
    dyn_free(got);
    got = feed("*1\r\n$-1\r\n", 9, &l);
    ck_assert_str_eq(got, "!Protocol error: invalid bulk length");
    dyn_free(got);
    /* inline requests have no unauthenticated limit */
    got = feed("a b c d e f g h i j k l\n", 24, &l);
    ck_assert_str_eq(got, "[a|b|c|d|e|f|g|h|i|j|k|l]");
    dyn_free(got);
    /* the limits apply per call: after AUTH the caller passes new limits */
    l.unauthenticated = 0;
    got = feed("*11\r\n", 5, &l);
    ck_assert_str_eq(got, "");
    dyn_free(got);
}
END_TEST

START_TEST(error_is_sticky)
{
    struct resp_parser p;
    char buf[] = "*x\r\nPING\r\n";
    resp_init(&p);
    ck_assert_int_eq(resp_parse(&p, buf, sizeof(buf) - 1, NULL), RESP_ERROR);
    ck_assert_int_eq(resp_parse(&p, buf, sizeof(buf) - 1, NULL), RESP_ERROR);
    ck_assert_str_eq(resp_error(&p),
                     "Protocol error: invalid multibulk length");
    resp_free(&p);
}
END_TEST

START_TEST(command_until_next)
{
    struct resp_parser p;
    char buf[] = "PING\r\nECHO x\r\n";
    size_t n = sizeof(buf) - 1;
    resp_init(&p);
    ck_assert_int_eq(resp_parse(&p, buf, n, NULL), RESP_COMMAND);
    ck_assert_int_eq(p.is_inline, 1);
    ck_assert_uint_eq(p.cmd_start, 0);
    ck_assert_uint_eq(p.pos, 6);
    ck_assert_int_eq(resp_parse(&p, buf, n, NULL), RESP_COMMAND);
    ck_assert_uint_eq(p.argc, 1);
    ck_assert_uint_eq(resp_consumed(&p), 0);
    resp_next(&p);
    ck_assert_uint_eq(resp_consumed(&p), 6);
    ck_assert_int_eq(resp_parse(&p, buf, n, NULL), RESP_COMMAND);
    ck_assert_uint_eq(p.argc, 2);
    ck_assert_int_eq(memcmp(buf + p.args[1].off, "x", 1), 0);
    resp_next(&p);
    ck_assert_uint_eq(resp_consumed(&p), n);
    ck_assert_int_eq(resp_parse(&p, buf, n, NULL), RESP_NEED_MORE);
    resp_free(&p);
}
END_TEST

START_TEST(shift_mid_request)
{
    /* The caller drops a finished request while the next is half read. */
    struct resp_parser p;
    struct dbuf q;
    resp_init(&p);
    dbuf_init(&q);
    dbuf_appends(&q, "PING\r\n*2\r\n$3\r\nGET\r\n$5\r\nab");
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_COMMAND);
    resp_next(&p);
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_NEED_MORE);
    ck_assert_uint_eq(p.argc, 1);
    ck_assert_uint_eq(resp_consumed(&p), 6);
    /* in a bulk of 5: the request needs its 14 header bytes + 5 + 2 */
    ck_assert_uint_eq(resp_want(&p), 4 + 9 + 4 + 5 + 2);
    dbuf_consume(&q, 6);
    resp_shift(&p, 6);
    ck_assert_uint_eq(resp_consumed(&p), 0);
    ck_assert_uint_eq(p.args[0].off, 8);
    ck_assert_uint_eq(resp_want(&p), 24);
    dbuf_appends(&q, "cde\r\n");
    ck_assert_uint_eq(q.len, resp_want(&p));
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_COMMAND);
    ck_assert_uint_eq(resp_want(&p), 0);
    ck_assert_int_eq(memcmp(q.p + p.args[0].off, "GET", 3), 0);
    ck_assert_int_eq(memcmp(q.p + p.args[1].off, "abcde", 5), 0);
    ck_assert_uint_eq(p.cmd_start, 0);
    ck_assert_uint_eq(p.pos, q.len);
    resp_next(&p);
    ck_assert_uint_eq(resp_consumed(&p), q.len);
    resp_free(&p);
    dbuf_free(&q);
}
END_TEST

START_TEST(want_unknown_outside_bulk)
{
    struct resp_parser p;
    char buf[] = "*2\r\n$3";
    resp_init(&p);
    ck_assert_uint_eq(resp_want(&p), 0);
    ck_assert_int_eq(resp_parse(&p, buf, sizeof(buf) - 1, NULL),
                     RESP_NEED_MORE);
    ck_assert_uint_eq(resp_want(&p), 0);
    resp_free(&p);
    resp_free(&p); /* freeing twice is harmless */
}
END_TEST

START_TEST(many_arguments_reuse_span_array)
{
    struct dbuf q;
    struct resp_parser p;
    dbuf_init(&q);
    resp_init(&p);
    dbuf_appends(&q, "*3000\r\n");
    for (int i = 0; i < 3000; i++)
        dbuf_printf(&q, "$%d\r\n%d\r\n", i < 10 ? 1 : i < 100 ? 2 : i < 1000
                    ? 3 : 4, i);
    dbuf_appends(&q, "*1\r\n$1\r\nx\r\n");
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_COMMAND);
    ck_assert_uint_eq(p.argc, 3000);
    ck_assert_int_eq(memcmp(q.p + p.args[2999].off, "2999", 4), 0);
    struct resp_span *arr = p.args;
    resp_next(&p);
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_COMMAND);
    ck_assert_uint_eq(p.argc, 1);
    ck_assert_ptr_eq(p.args, arr);
    resp_free(&p);
    dbuf_free(&q);
}
END_TEST

START_TEST(slow_long_line_is_linear)
{
    /* 60 KiB of count digits arriving one byte at a time: with the scan
     * resume this is 60k short searches, not 1.8G byte compares. */
    struct resp_parser p;
    struct dbuf q;
    resp_init(&p);
    dbuf_init(&q);
    dbuf_appendc(&q, 'x');
    for (int i = 0; i < 60000; i++) {
        dbuf_appendc(&q, 'a');
        ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_NEED_MORE);
    }
    dbuf_appends(&q, "\n");
    ck_assert_int_eq(resp_parse(&p, q.p, q.len, NULL), RESP_COMMAND);
    ck_assert_uint_eq(p.args[0].len, 60001);
    resp_free(&p);
    dbuf_free(&q);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("resp");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stream_whole_and_bytewise);
    tcase_add_test(tc, stream_split_at_every_boundary);
    tcase_add_test(tc, stream_split_at_every_pair_of_boundaries);
    tcase_add_test(tc, multibulk_binary_safe);
    tcase_add_test(tc, empty_requests_skipped);
    tcase_add_test(tc, inline_quoting);
    tcase_add_test(tc, inline_unbalanced_quotes);
    tcase_add_test(tc, redis_skips_bytes_after_cr);
    tcase_add_test(tc, nul_hides_line_end);
    tcase_add_test(tc, multibulk_errors);
    tcase_add_test(tc, max_bulk_limit);
    tcase_add_test(tc, max_inline_limits);
    tcase_add_test(tc, unauthenticated_limits);
    tcase_add_test(tc, error_is_sticky);
    tcase_add_test(tc, command_until_next);
    tcase_add_test(tc, shift_mid_request);
    tcase_add_test(tc, want_unknown_outside_bulk);
    tcase_add_test(tc, many_arguments_reuse_span_array);
    tcase_add_test(tc, slow_long_line_is_linear);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
