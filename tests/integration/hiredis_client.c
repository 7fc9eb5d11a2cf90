/*
 * hiredis_client.c -- a C client built on hiredis's synchronous API, run by
 * t_hiredis.sh against a live server: hiredis_client HOST PORT.
 *
 * It checks what a C application would rely on: SET/GET round trips,
 * binary-safe values passed with %b (every byte value, CR LF, NUL, empty),
 * a pipeline of 1000 commands queued with redisAppendCommand and read back
 * in order with redisGetReply, integer replies, nil replies, and error
 * replies that leave the connection usable.
 *
 * Output: one "ok"/"FAIL" line per check.  Exit status: 0 if every check
 * passed, 1 if one failed, 99 if the connection could not be made.
 * No state outside main's stack; single-threaded.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#define PIPELINE 1000

struct tally {
    int checks;
    int failures;
};

static void hc_check(struct tally *t, int cond, const char *fmt, ...)
{
    va_list ap;
    t->checks++;
    if (!cond)
        t->failures++;
    fputs(cond ? "ok   - " : "FAIL - ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* 1 if r is a status reply equal to s. */
static int hc_is_status(const redisReply *r, const char *s)
{
    return r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, s) == 0;
}

/* 1 if r is a string reply holding exactly len bytes of p. */
static int hc_is_string(const redisReply *r, const void *p, size_t len)
{
    return r && r->type == REDIS_REPLY_STRING && r->len == len &&
           memcmp(r->str, p, len) == 0;
}

static int hc_is_integer(const redisReply *r, long long v)
{
    return r && r->type == REDIS_REPLY_INTEGER && r->integer == v;
}

static void hc_basic(redisContext *ctx, struct tally *t)
{
    redisReply *r;

    r = redisCommand(ctx, "PING");
    hc_check(t, hc_is_status(r, "PONG"), "PING");
    freeReplyObject(r);

    r = redisCommand(ctx, "SET %s %s", "hiredis:key", "hello");
    hc_check(t, hc_is_status(r, "OK"), "SET");
    freeReplyObject(r);

    r = redisCommand(ctx, "GET %s", "hiredis:key");
    hc_check(t, hc_is_string(r, "hello", 5), "GET returns the value");
    freeReplyObject(r);

    r = redisCommand(ctx, "GET %s", "hiredis:missing");
    hc_check(t, r && r->type == REDIS_REPLY_NIL, "GET of a missing key is nil");
    freeReplyObject(r);

    r = redisCommand(ctx, "INCRBY %s %d", "hiredis:counter", 41);
    hc_check(t, hc_is_integer(r, 41), "INCRBY returns an integer");
    freeReplyObject(r);

    r = redisCommand(ctx, "INCR %s", "hiredis:key");
    hc_check(t, r && r->type == REDIS_REPLY_ERROR &&
                    strcmp(r->str, "ERR value is not an integer or out of range") == 0,
             "INCR of a string is an error reply");
    freeReplyObject(r);

    r = redisCommand(ctx, "ECHO %s", "still here");
    hc_check(t, hc_is_string(r, "still here", 10),
             "the connection works after an error reply");
    freeReplyObject(r);

    r = redisCommand(ctx, "MGET %s %s %s", "hiredis:key", "hiredis:missing",
                     "hiredis:counter");
    hc_check(t, r && r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                    hc_is_string(r->element[0], "hello", 5) &&
                    r->element[1]->type == REDIS_REPLY_NIL &&
                    hc_is_string(r->element[2], "41", 2),
             "MGET returns an array with a nil in it");
    freeReplyObject(r);
}

static void hc_binary(redisContext *ctx, struct tally *t)
{
    unsigned char all[256];
    const char crlf[] = "a\r\nb\r\n\0c$3\r\n";
    size_t crlf_len = sizeof(crlf) - 1;
    redisReply *r;
    int i;

    for (i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    r = redisCommand(ctx, "SET %b %b", "bin\0key", (size_t)7, all, sizeof(all));
    hc_check(t, hc_is_status(r, "OK"), "SET with a binary key and value (%%b)");
    freeReplyObject(r);
    r = redisCommand(ctx, "GET %b", "bin\0key", (size_t)7);
    hc_check(t, hc_is_string(r, all, sizeof(all)),
             "GET returns all 256 byte values unchanged");
    freeReplyObject(r);

    r = redisCommand(ctx, "SET %s %b", "bin:crlf", crlf, crlf_len);
    freeReplyObject(r);
    r = redisCommand(ctx, "GET %s", "bin:crlf");
    hc_check(t, hc_is_string(r, crlf, crlf_len), "CR LF and NUL inside a value");
    freeReplyObject(r);

    r = redisCommand(ctx, "SET %s %b", "bin:empty", "", (size_t)0);
    freeReplyObject(r);
    r = redisCommand(ctx, "GET %s", "bin:empty");
    hc_check(t, hc_is_string(r, "", 0), "empty value is an empty string, not nil");
    freeReplyObject(r);
    r = redisCommand(ctx, "STRLEN %s", "bin:empty");
    hc_check(t, hc_is_integer(r, 0), "STRLEN of the empty value");
    freeReplyObject(r);
}

static void hc_pipeline(redisContext *ctx, struct tally *t)
{
    char key[32], val[32];
    int i, bad_set = 0, bad_get = 0, io_error = 0;
    redisReply *r;

    /* 500 SETs then 500 GETs, all queued before any reply is read. */
    for (i = 0; i < PIPELINE / 2; i++) {
        snprintf(key, sizeof(key), "pipe:%d", i);
        snprintf(val, sizeof(val), "value-%d", i * 7);
        redisAppendCommand(ctx, "SET %s %s", key, val);
    }
    for (i = 0; i < PIPELINE / 2; i++) {
        snprintf(key, sizeof(key), "pipe:%d", i);
        redisAppendCommand(ctx, "GET %s", key);
    }
    for (i = 0; i < PIPELINE; i++) {
        void *reply = NULL;
        if (redisGetReply(ctx, &reply) != REDIS_OK) {
            io_error = 1;
            break;
        }
        r = reply;
        if (i < PIPELINE / 2) {
            bad_set += !hc_is_status(r, "OK");
        } else {
            snprintf(val, sizeof(val), "value-%d", (i - PIPELINE / 2) * 7);
            bad_get += !hc_is_string(r, val, strlen(val));
        }
        freeReplyObject(r);
    }
    hc_check(t, !io_error, "%d pipelined replies read (%s)", PIPELINE,
             io_error ? ctx->errstr : "no I/O error");
    hc_check(t, bad_set == 0, "pipelined SETs all OK (%d bad)", bad_set);
    hc_check(t, bad_get == 0, "pipelined GETs return their values in order (%d bad)",
             bad_get);

    r = redisCommand(ctx, "DBSIZE");
    hc_check(t, r && r->type == REDIS_REPLY_INTEGER && r->integer >= PIPELINE / 2,
             "DBSIZE counts the pipelined keys");
    freeReplyObject(r);
}

int main(int argc, char **argv)
{
    struct tally t = { 0, 0 };
    struct timeval tv = { 10, 0 };
    redisContext *ctx;

    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 99;
    }
    ctx = redisConnectWithTimeout(argv[1], atoi(argv[2]), tv);
    if (ctx == NULL || ctx->err) {
        fprintf(stderr, "connect %s:%s: %s\n", argv[1], argv[2],
                ctx ? ctx->errstr : "out of memory");
        redisFree(ctx);
        return 99;
    }
    redisSetTimeout(ctx, tv);

    hc_basic(ctx, &t);
    hc_binary(ctx, &t);
    hc_pipeline(ctx, &t);

    redisFree(ctx);
    printf("hiredis_client: %d checks, %d failed\n", t.checks, t.failures);
    return t.failures ? 1 : 0;
}
