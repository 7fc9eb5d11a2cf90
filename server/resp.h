/*
 * resp.h -- the incremental RESP2 request parser (pure).
 *
 * The parser reads requests in place from the caller's query buffer and never
 * copies an argument: each argument is an (offset, length) span into that
 * buffer.  Offsets, not pointers, so that the caller may grow (realloc) the
 * buffer while a request is half parsed.
 *
 * Life of a request:
 *
 *     bytes arrive ──> caller appends to qbuf
 *                      resp_parse(p, qbuf, len)  ── RESP_NEED_MORE ──> read more
 *                          │ RESP_COMMAND: p->argc spans, buffer[p->cmd_start..p->pos)
 *                          v
 *                      caller executes the command (args valid until resp_next)
 *                      resp_next(p)          -- ready for the next request
 *                      resp_shift(p, n)      -- after the caller drops the
 *                                               first n consumed bytes
 *
 * Both multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline (`GET k\r\n`)
 * requests are accepted, split at any byte boundary.  Inline requests are
 * unquoted and unescaped in place, as Redis's sdssplitargs does, so the
 * buffer is writable.  Empty lines and `*0` / `*-1` requests are skipped.
 *
 * Errors carry Redis 7.0's exact text (without the leading "ERR "), e.g.
 * "Protocol error: invalid bulk length".  After an error the parser is
 * poisoned; the caller replies and closes the connection.
 *
 * Thread-safety: a parser belongs to one connection.
 */
#ifndef DYN_RESP_H
#define DYN_RESP_H

#include <stddef.h>
#include <stdint.h>

struct resp_limits {
    long long max_bulk;     /* proto-max-bulk-len, default 512 MiB */
    size_t max_inline;      /* inline request / count line, 64 KiB */
    int unauthenticated;    /* apply the unauthenticated limits below */
    long long unauth_max_args;  /* 10, as Redis */
    long long unauth_max_bulk;  /* 16 KiB, as Redis */
};

struct resp_span {
    size_t off; /* offset into the caller's buffer */
    size_t len;
};

enum resp_status {
    RESP_NEED_MORE = 0,     /* no complete request yet: read more bytes */
    RESP_COMMAND = 1,       /* a complete request: see argc/args */
    RESP_ERROR = -1,        /* protocol error: see resp_error() */
};

struct resp_parser {
    /* all fields private to resp.c */
    int state;
    int is_inline;
    long long mbulk_left;   /* arguments still expected */
    long long bulk_len;     /* length of the bulk being read, -1 if none */
    size_t pos;             /* parse position in the buffer */
    size_t cmd_start;       /* first byte of the current request */
    size_t argc;
    size_t argcap;
    struct resp_span *args;
    const char *err;
    size_t scan;            /* bytes of the current line already searched */
    char errbuf[48];        /* formatted error ("expected '$', got 'x'") */
};

void resp_init(struct resp_parser *p);
void resp_free(struct resp_parser *p);   /* frees the span array */

/* Parses from p->pos within buf[0..len).  buf is modified in place for inline
 * requests only.  Returns an enum resp_status. */
int resp_parse(struct resp_parser *p, char *buf, size_t len,
               const struct resp_limits *lim);

/* Prepares for the next request after RESP_COMMAND was handled. */
void resp_next(struct resp_parser *p);

/* The caller removed the first n bytes of its buffer; n <= resp_consumed(). */
void resp_shift(struct resp_parser *p, size_t n);

/* Bytes at the start of the buffer that belong to finished requests and may
 * be dropped (== cmd_start). */
size_t resp_consumed(const struct resp_parser *p);

/* When the parser is inside a bulk of known length, how many bytes of buffer
 * (from the current request's start) it needs in total; 0 if unknown.  Lets
 * the caller size its buffer once for a large value. */
size_t resp_want(const struct resp_parser *p);

/* The protocol error text (valid after RESP_ERROR). */
const char *resp_error(const struct resp_parser *p);

#endif
