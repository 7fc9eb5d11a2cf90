/*
 * buf.h -- a growable byte buffer.
 *
 * Used for client query and output buffers, reply building and encodings.
 * Invariant: len <= cap; p is NULL only when cap == 0.  A dbuf owns p.
 * Thread-safety: none; a dbuf belongs to one owner.
 */
#ifndef DYN_BUF_H
#define DYN_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct dbuf {
    char *p;
    size_t len;
    size_t cap;
};

void dbuf_init(struct dbuf *b);
void dbuf_free(struct dbuf *b);          /* releases memory, leaves b empty */
void dbuf_reserve(struct dbuf *b, size_t extra); /* cap >= len + extra */
void dbuf_append(struct dbuf *b, const void *data, size_t n);
void dbuf_appendc(struct dbuf *b, char c);
void dbuf_appends(struct dbuf *b, const char *s); /* C string */
void dbuf_printf(struct dbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void dbuf_vprintf(struct dbuf *b, const char *fmt, va_list ap);
void dbuf_consume(struct dbuf *b, size_t n); /* drop the first n bytes */
void dbuf_reset(struct dbuf *b);             /* len = 0, keeps memory */
/* Inserts n bytes at offset off, moving the tail. */
void dbuf_insert(struct dbuf *b, size_t off, const void *data, size_t n);
/* Shrinks the allocation when it is mostly unused (idle clients). */
void dbuf_shrink(struct dbuf *b, size_t keep_cap);

#endif
