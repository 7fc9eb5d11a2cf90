/*
 * buf.c -- the growable byte buffer.  Growth doubles (at least to the size
 * asked for) so appends are amortised O(1); see buf.h for the invariants.
 */
#include "server/buf.h"

#include <stdio.h>
#include <string.h>
#include "server/util.h"

void dbuf_init(struct dbuf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void dbuf_free(struct dbuf *b)
{
    dyn_free(b->p);
    dbuf_init(b);
}

void dbuf_reserve(struct dbuf *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap * 2 : 64;
    if (cap < need)
        cap = need;
    b->p = dyn_realloc(b->p, cap);
    b->cap = cap;
}

void dbuf_append(struct dbuf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    dbuf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void dbuf_appendc(struct dbuf *b, char c)
{
    dbuf_reserve(b, 1);
    b->p[b->len++] = c;
}

void dbuf_appends(struct dbuf *b, const char *s)
{
    dbuf_append(b, s, strlen(s));
}

void dbuf_vprintf(struct dbuf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    dbuf_reserve(b, 64);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n >= b->cap - b->len) {
        dbuf_reserve(b, (size_t)n + 1);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void dbuf_consume(struct dbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void dbuf_reset(struct dbuf *b)
{
    b->len = 0;
}

void dbuf_insert(struct dbuf *b, size_t off, const void *data, size_t n)
{
    dyn_assert(off <= b->len);
    dbuf_reserve(b, n);
    memmove(b->p + off + n, b->p + off, b->len - off);
    memcpy(b->p + off, data, n);
    b->len += n;
}

void dbuf_shrink(struct dbuf *b, size_t keep_cap)
{
    if (b->cap <= keep_cap || b->len > keep_cap)
        return;
    if (b->len == 0 && keep_cap == 0) {
        dbuf_free(b);
        return;
    }
    b->p = dyn_realloc(b->p, keep_cap);
    b->cap = keep_cap;
}
