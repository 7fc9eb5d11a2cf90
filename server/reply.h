/*
 * reply.h -- the RESP2/RESP3 reply encoder (pure).
 *
 * Every function appends one reply element to a dbuf.  `proto` is 2 or 3;
 * types that RESP2 lacks degrade exactly as Redis degrades them (a map
 * becomes a flat array of 2n elements, a null becomes $-1 or *-1, a double a
 * bulk string, a boolean an integer 1/0, a verbatim string a bulk string).
 *
 * Aggregates whose length is unknown up front use reply_defer() to leave a
 * place and reply_defer_set() to fill it in; the tail is moved once.
 *
 * Thread-safety: none beyond the dbuf's owner.
 */
#ifndef DYN_REPLY_H
#define DYN_REPLY_H

#include <stdarg.h>
#include <stddef.h>
#include "server/buf.h"

void reply_status(struct dbuf *b, const char *s);            /* +s */
void reply_status_len(struct dbuf *b, const char *s, size_t n);
void reply_ok(struct dbuf *b);                               /* +OK */
/* "-" + msg.  msg carries its own prefix ("ERR ...", "WRONGTYPE ..."). Any
 * \r or \n in msg is replaced by a space, as Redis does. */
void reply_error(struct dbuf *b, const char *msg);
void reply_errorf(struct dbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* reply_errorf with a va_list. */
void reply_verrorf(struct dbuf *b, const char *fmt, va_list ap);
void reply_int(struct dbuf *b, long long v);                 /* :v */
void reply_bulk(struct dbuf *b, const void *p, size_t n);    /* $n */
void reply_bulk_cstr(struct dbuf *b, const char *s);
void reply_bulk_ll(struct dbuf *b, long long v);             /* number as bulk */
void reply_null(struct dbuf *b, int proto);       /* $-1 / _ */
void reply_null_array(struct dbuf *b, int proto); /* *-1 / _ */
void reply_array(struct dbuf *b, long long n);    /* *n */
void reply_map(struct dbuf *b, int proto, long long n);  /* %n / *2n */
void reply_set(struct dbuf *b, int proto, long long n);  /* ~n / *n */
void reply_double(struct dbuf *b, int proto, double d);  /* ,d / bulk */
void reply_bool(struct dbuf *b, int proto, int v);       /* #t / :1 */
/* =len\r\nfmt:data (fmt is 3 chars, e.g. "txt") / bulk of data */
void reply_verbatim(struct dbuf *b, int proto, const char *fmt3,
                    const void *p, size_t n);

/* Deferred aggregate header: returns the offset to pass to reply_defer_set. */
size_t reply_defer(struct dbuf *b);
/* type is '*' (array), '%' (map: n pairs), '~' (set). */
void reply_defer_set(struct dbuf *b, size_t off, int proto, char type,
                     long long n);

#endif
