/*
 * reply.c -- the RESP2/RESP3 reply encoder.
 *
 * Why it exists: every reply byte a client sees is made here, so that each
 * type is encoded once and exactly as Redis 7.0 encodes it, in both
 * protocols.  Commands never write protocol text themselves.
 *
 * Invariants: every function appends exactly one complete element (or an
 * aggregate header whose elements the caller appends next) and nothing else.
 * Headers are short, so they are formatted into a stack buffer and appended
 * with one copy.
 *
 * Deferred headers: reply_defer() only remembers the current length;
 * reply_defer_set() inserts the header there, moving the tail once.  Nested
 * deferred headers must be set innermost first (LIFO), because an insert
 * moves every later offset.
 *
 * Thread-safety: none beyond the dbuf's owner.  Errors: none; allocation
 * aborts on out-of-memory.
 */
#include "server/reply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "server/util.h"

/* Appends "<t><v>\r\n". */
static void header(struct dbuf *b, char t, long long v)
{
    char tmp[32];
    tmp[0] = t;
    int n = dyn_ll2str(tmp + 1, v);
    tmp[n + 1] = '\r';
    tmp[n + 2] = '\n';
    dbuf_append(b, tmp, (size_t)n + 3);
}

void reply_status_len(struct dbuf *b, const char *s, size_t n)
{
    dbuf_reserve(b, n + 3);
    dbuf_appendc(b, '+');
    dbuf_append(b, s, n);
    dbuf_append(b, "\r\n", 2);
}

void reply_status(struct dbuf *b, const char *s)
{
    reply_status_len(b, s, strlen(s));
}

void reply_ok(struct dbuf *b)
{
    dbuf_append(b, "+OK\r\n", 5);
}

/* msg already carries its code ("ERR ...").  A leading '-' is not doubled.
 * Line breaks would end the reply early, so they become spaces. */
void reply_error(struct dbuf *b, const char *msg)
{
    size_t n = strlen(msg);
    if (n && msg[0] == '-') {
        msg++;
        n--;
    }
    dbuf_reserve(b, n + 3);
    dbuf_appendc(b, '-');
    char *dst = b->p + b->len;
    memcpy(dst, msg, n);
    for (size_t i = 0; i < n; i++)
        if (dst[i] == '\r' || dst[i] == '\n')
            dst[i] = ' ';
    b->len += n;
    dbuf_append(b, "\r\n", 2);
}

void reply_verrorf(struct dbuf *b, const char *fmt, va_list ap)
{
    struct dbuf tmp;
    dbuf_init(&tmp);
    dbuf_vprintf(&tmp, fmt, ap);
    dbuf_appendc(&tmp, '\0');
    reply_error(b, tmp.p);
    dbuf_free(&tmp);
}

void reply_errorf(struct dbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_verrorf(b, fmt, ap);
    va_end(ap);
}

void reply_int(struct dbuf *b, long long v)
{
    header(b, ':', v);
}

void reply_bulk(struct dbuf *b, const void *p, size_t n)
{
    dbuf_reserve(b, n + 32);
    header(b, '$', (long long)n);
    dbuf_append(b, p, n);
    dbuf_append(b, "\r\n", 2);
}

void reply_bulk_cstr(struct dbuf *b, const char *s)
{
    reply_bulk(b, s, strlen(s));
}

void reply_bulk_ll(struct dbuf *b, long long v)
{
    char tmp[24];
    int n = dyn_ll2str(tmp, v);
    reply_bulk(b, tmp, (size_t)n);
}

void reply_null(struct dbuf *b, int proto)
{
    if (proto >= 3)
        dbuf_append(b, "_\r\n", 3);
    else
        dbuf_append(b, "$-1\r\n", 5);
}

void reply_null_array(struct dbuf *b, int proto)
{
    if (proto >= 3)
        dbuf_append(b, "_\r\n", 3);
    else
        dbuf_append(b, "*-1\r\n", 5);
}

void reply_array(struct dbuf *b, long long n)
{
    header(b, '*', n);
}

void reply_map(struct dbuf *b, int proto, long long n)
{
    if (proto >= 3)
        header(b, '%', n);
    else
        header(b, '*', n * 2);
}

void reply_set(struct dbuf *b, int proto, long long n)
{
    header(b, proto >= 3 ? '~' : '*', n);
}

/* Redis 7.0: infinities are spelled out (libc spellings vary); everything
 * else, NaN included, is printf's %.17g. */
void reply_double(struct dbuf *b, int proto, double d)
{
    char num[64];
    int n;
    if (isinf(d))
        n = snprintf(num, sizeof(num), "%s", d > 0 ? "inf" : "-inf");
    else
        n = snprintf(num, sizeof(num), "%.17g", d);
    if (proto >= 3) {
        dbuf_reserve(b, (size_t)n + 3);
        dbuf_appendc(b, ',');
        dbuf_append(b, num, (size_t)n);
        dbuf_append(b, "\r\n", 2);
    } else {
        reply_bulk(b, num, (size_t)n);
    }
}

void reply_bool(struct dbuf *b, int proto, int v)
{
    if (proto >= 3)
        dbuf_append(b, v ? "#t\r\n" : "#f\r\n", 4);
    else
        dbuf_append(b, v ? ":1\r\n" : ":0\r\n", 4);
}

void reply_verbatim(struct dbuf *b, int proto, const char *fmt3,
                    const void *p, size_t n)
{
    if (proto < 3) {
        reply_bulk(b, p, n);
        return;
    }
    dbuf_reserve(b, n + 36);
    header(b, '=', (long long)n + 4);
    dbuf_append(b, fmt3, 3);
    dbuf_appendc(b, ':');
    dbuf_append(b, p, n);
    dbuf_append(b, "\r\n", 2);
}

size_t reply_defer(struct dbuf *b)
{
    return b->len;
}

void reply_defer_set(struct dbuf *b, size_t off, int proto, char type,
                     long long n)
{
    char tmp[32];
    char t = '*';
    dyn_assert(off <= b->len);
    if (type == '%') {
        if (proto >= 3)
            t = '%';
        else
            n *= 2;
    } else if (type == '~') {
        if (proto >= 3)
            t = '~';
    } else {
        dyn_assert(type == '*');
    }
    tmp[0] = t;
    int len = dyn_ll2str(tmp + 1, n);
    tmp[len + 1] = '\r';
    tmp[len + 2] = '\n';
    dbuf_insert(b, off, tmp, (size_t)len + 3);
}
