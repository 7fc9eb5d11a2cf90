/*
 * resp.c -- the incremental, in-place RESP2 request parser.
 *
 * Why it exists: every byte a client sends passes through here, so the parser
 * must be cheap (no copy, no per-argument allocation) and must agree with
 * Redis 7.0 byte for byte on what is a request and what is a protocol error,
 * because clients and tests were written against Redis.
 *
 * Where a request starts, the first byte chooses the form: '*' is a
 * multibulk request, anything else an inline line.
 *
 *   multibulk   "*<n>\r" + 1 byte     n <= 0: skipped, no command
 *               n x ( "$<len>\r" + 1 byte, <len> bytes, 2 bytes )
 *   inline      <line>\n  (an optional \r before the \n is dropped), split
 *               on blanks with Redis's quoting rules (sdssplitargs), unquoted
 *               in place; a line with no arguments is skipped.
 *
 * Redis quirks kept on purpose, because Redis has them:
 *   - the byte after a count line's '\r' and the two bytes after a bulk are
 *     skipped without looking at them;
 *   - Redis finds line ends with strchr on a NUL-terminated buffer, so a NUL
 *     byte before the end of a line hides the end: the line is never
 *     complete and the connection waits until the "too big" limit;
 *   - the "too big" limits apply only while no line end has been found, and
 *     count from the start of the line to the end of the buffer.
 *
 * Invariants:
 *   - cmd_start <= pos <= the caller's len; every span lies in
 *     [cmd_start, pos) once RESP_COMMAND is returned.
 *   - scan counts bytes from pos already searched for the current line's end
 *     (SCAN_STUCK once a NUL hid it), so a line fed one byte at a time is
 *     searched in linear, not quadratic, time.
 *   - after RESP_ERROR the parser stays poisoned; after RESP_COMMAND it keeps
 *     returning RESP_COMMAND until resp_next().
 *
 * Thread-safety: a parser belongs to one connection.
 * Errors: only protocol errors, as Redis 7.0's text without "ERR ".
 */
#include "server/resp.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "server/util.h"

enum {
    ST_START = 0,   /* at a request boundary */
    ST_MBULK,       /* inside a multibulk request */
    ST_DONE,        /* a command is ready */
    ST_ERROR,       /* poisoned */
};

#define SCAN_STUCK ((size_t)-1)
#define ARGS_INITIAL 16
#define ARGS_PREALLOC_MAX 1024

static const struct resp_limits default_limits = {
    .max_bulk = 512LL * 1024 * 1024,
    .max_inline = 64 * 1024,
    .unauthenticated = 0,
    .unauth_max_args = 10,
    .unauth_max_bulk = 16384,
};

void resp_init(struct resp_parser *p)
{
    memset(p, 0, sizeof(*p));
    p->state = ST_START;
    p->bulk_len = -1;
}

void resp_free(struct resp_parser *p)
{
    dyn_free(p->args);
    p->args = NULL;
    p->argcap = 0;
    p->argc = 0;
}

static int fail(struct resp_parser *p, const char *msg)
{
    p->err = msg;
    p->state = ST_ERROR;
    return RESP_ERROR;
}

static void args_reserve(struct resp_parser *p, size_t n)
{
    if (n <= p->argcap)
        return;
    size_t cap = p->argcap ? p->argcap * 2 : ARGS_INITIAL;
    while (cap < n)
        cap *= 2;
    p->args = dyn_realloc(p->args, cap * sizeof(*p->args));
    p->argcap = cap;
}

static inline void push_arg(struct resp_parser *p, size_t off, size_t len)
{
    if (p->argc == p->argcap)
        args_reserve(p, p->argc + 1);
    p->args[p->argc].off = off;
    p->args[p->argc].len = len;
    p->argc++;
}

/* Finds the terminator t of the line starting at p->pos, as strchr would on
 * a NUL-terminated buffer.  Returns 1 and *at when found. */
static int find_term(struct resp_parser *p, const char *buf, size_t len,
                     char t, size_t *at)
{
    size_t start = p->pos;
    if (p->scan == SCAN_STUCK)
        return 0;
    size_t from = start + p->scan;
    if (from >= len)
        return 0;
    const char *q = memchr(buf + from, t, len - from);
    size_t end = q ? (size_t)(q - buf) : len;
    if (memchr(buf + from, '\0', end - from)) {
        p->scan = SCAN_STUCK;
        return 0;
    }
    p->scan = end - start;  /* if found, the next call finds it at once */
    if (!q)
        return 0;
    *at = end;
    return 1;
}

/* Reads a "<type><integer>\r" + 1 byte line at p->pos (the type byte is
 * not checked here: a wrong one takes the slow path).  Returns 1 with *cr at
 * the '\r' (and *val, *have_val = 1 when the fast path already parsed a
 * canonical number), 0 when more bytes are needed, RESP_ERROR for a line
 * over the limit. */
static int len_line(struct resp_parser *p, const char *buf, size_t len,
                    const struct resp_limits *lim, char type,
                    const char *toobig, size_t *cr, long long *val,
                    int *have_val)
{
    size_t s = p->pos + 1, i = s;
    unsigned long long v = 0;

    if (p->pos >= len)
        return 0;
    /* Fast path: the type byte, up to 18 digits without a leading zero, then
     * '\r'.  Those bytes hold no '\r' or NUL, so the generic search would
     * stop at the same place. */
    if (buf[p->pos] == type) {
        size_t stop = len - s > 18 ? s + 18 : len;
        while (i < stop && (unsigned char)(buf[i] - '0') < 10) {
            v = v * 10 + (unsigned)(buf[i] - '0');
            i++;
        }
    }
    if (i < len && buf[i] == '\r' && i > s && (buf[s] != '0' || i == s + 1)) {
        if (i + 1 >= len) {
            p->scan = i - p->pos;
            return 0;
        }
        *cr = i;
        *val = (long long)v;
        *have_val = 1;
        return 1;
    }

    *have_val = 0;
    if (!find_term(p, buf, len, '\r', cr)) {
        if (len - p->pos > lim->max_inline)
            return fail(p, toobig);
        return 0;
    }
    /* Redis wants one byte after the '\r' (and never looks at it). */
    if (*cr + 1 >= len)
        return 0;
    return 1;
}

static inline int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
           c == '\r';
}

/* Splits buf[s..e) (holding no NUL) into arguments as sdssplitargs does,
 * unquoting in place: the write cursor never passes the read cursor because
 * every output byte consumes at least one input byte.  The end of the line
 * reads as NUL, as in the C string Redis splits.  Returns 0 or -1 on
 * unbalanced quotes. */
static int split_inline(struct resp_parser *p, char *buf, size_t s, size_t e)
{
#define AT(i) ((i) < e ? (unsigned char)buf[i] : 0)
    size_t r = s, w = s;
    for (;;) {
        while (r < e && is_blank((unsigned char)buf[r]))
            r++;
        if (r >= e)
            return 0;
        size_t tok = w;
        int inq = 0, insq = 0, done = 0;
        while (!done) {
            int c = AT(r);
            if (inq) {
                int h1, h2;
                if (c == '\\' && AT(r + 1) == 'x' &&
                    (h1 = dyn_hex_val(AT(r + 2))) >= 0 &&
                    (h2 = dyn_hex_val(AT(r + 3))) >= 0) {
                    buf[w++] = (char)(h1 * 16 + h2);
                    r += 3;
                } else if (c == '\\' && AT(r + 1)) {
                    r++;
                    switch (buf[r]) {
                    case 'n': buf[w++] = '\n'; break;
                    case 'r': buf[w++] = '\r'; break;
                    case 't': buf[w++] = '\t'; break;
                    case 'b': buf[w++] = '\b'; break;
                    case 'a': buf[w++] = '\a'; break;
                    default: buf[w++] = buf[r]; break;
                    }
                } else if (c == '"') {
                    /* a closing quote must end the argument */
                    if (AT(r + 1) && !is_blank(AT(r + 1)))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    buf[w++] = (char)c;
                }
            } else if (insq) {
                if (c == '\\' && AT(r + 1) == '\'') {
                    r++;
                    buf[w++] = '\'';
                } else if (c == '\'') {
                    if (AT(r + 1) && !is_blank(AT(r + 1)))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    buf[w++] = (char)c;
                }
            } else {
                switch (c) {
                case ' ': case '\n': case '\r': case '\t': case 0:
                    done = 1;
                    break;
                case '"':
                    inq = 1;
                    break;
                case '\'':
                    insq = 1;
                    break;
                default:
                    buf[w++] = (char)c;
                    break;
                }
            }
            if (r < e)
                r++;
        }
        push_arg(p, tok, w - tok);
    }
#undef AT
}

/* One inline request at p->pos.  Returns RESP_COMMAND, RESP_NEED_MORE,
 * RESP_ERROR, or 2 when an empty line was skipped. */
static int parse_inline(struct resp_parser *p, char *buf, size_t len,
                        const struct resp_limits *lim)
{
    size_t nl;
    if (!find_term(p, buf, len, '\n', &nl)) {
        if (len - p->pos > lim->max_inline)
            return fail(p, "Protocol error: too big inline request");
        return RESP_NEED_MORE;
    }
    size_t end = nl;
    if (end > p->pos && buf[end - 1] == '\r')
        end--;
    if (split_inline(p, buf, p->pos, end) != 0)
        return fail(p, "Protocol error: unbalanced quotes in request");
    p->pos = nl + 1;
    p->scan = 0;
    if (p->argc == 0) {
        p->cmd_start = p->pos;
        return 2;
    }
    p->is_inline = 1;
    p->state = ST_DONE;
    return RESP_COMMAND;
}

/* The "*<n>" line.  Returns RESP_NEED_MORE, RESP_ERROR, 1 to go on reading
 * bulks, or 2 when an empty request was skipped. */
static int parse_count(struct resp_parser *p, const char *buf, size_t len,
                       const struct resp_limits *lim)
{
    size_t cr;
    long long ll;
    int have, r;
    r = len_line(p, buf, len, lim, '*',
                 "Protocol error: too big mbulk count string", &cr, &ll,
                 &have);
    if (r <= 0)
        return r;
    if (!have && dyn_str2ll(buf + p->pos + 1, cr - p->pos - 1, &ll) != 0)
        return fail(p, "Protocol error: invalid multibulk length");
    if (ll > INT_MAX)
        return fail(p, "Protocol error: invalid multibulk length");
    if (lim->unauthenticated && ll > lim->unauth_max_args)
        return fail(p, "Protocol error: unauthenticated multibulk length");
    p->pos = cr + 2;
    p->scan = 0;
    if (ll <= 0) {
        p->cmd_start = p->pos;
        return 2;
    }
    p->mbulk_left = ll;
    p->bulk_len = -1;
    p->state = ST_MBULK;
    args_reserve(p, (size_t)DYN_MIN(ll, ARGS_PREALLOC_MAX));
    return 1;
}

static int parse_bulks(struct resp_parser *p, const char *buf, size_t len,
                       const struct resp_limits *lim)
{
    while (p->mbulk_left > 0) {
        if (p->bulk_len < 0) {
            size_t cr;
            long long ll;
            int have, r;
            r = len_line(p, buf, len, lim, '$',
                         "Protocol error: too big bulk count string", &cr, &ll,
                         &have);
            if (r <= 0)
                return r;
            if (buf[p->pos] != '$') {
                snprintf(p->errbuf, sizeof(p->errbuf),
                         "Protocol error: expected '$', got '%c'",
                         buf[p->pos]);
                return fail(p, p->errbuf);
            }
            if (!have &&
                dyn_str2ll(buf + p->pos + 1, cr - p->pos - 1, &ll) != 0)
                return fail(p, "Protocol error: invalid bulk length");
            if (ll < 0 || ll > lim->max_bulk)
                return fail(p, "Protocol error: invalid bulk length");
            if (lim->unauthenticated && ll > lim->unauth_max_bulk)
                return fail(p, "Protocol error: unauthenticated bulk length");
            p->pos = cr + 2;
            p->scan = 0;
            p->bulk_len = ll;
        }
        /* the two bytes after the data are skipped unread, as Redis does */
        if (len - p->pos < (size_t)p->bulk_len + 2)
            return RESP_NEED_MORE;
        push_arg(p, p->pos, (size_t)p->bulk_len);
        p->pos += (size_t)p->bulk_len + 2;
        p->bulk_len = -1;
        p->mbulk_left--;
    }
    p->state = ST_DONE;
    return RESP_COMMAND;
}

int resp_parse(struct resp_parser *p, char *buf, size_t len,
               const struct resp_limits *lim)
{
    if (!lim)
        lim = &default_limits;
    dyn_assert(p->pos <= len);
    for (;;) {
        int r;
        switch (p->state) {
        case ST_DONE:
            return RESP_COMMAND;
        case ST_ERROR:
            return RESP_ERROR;
        case ST_START:
            if (p->pos >= len)
                return RESP_NEED_MORE;
            if (buf[p->pos] == '*') {
                r = parse_count(p, buf, len, lim);
                if (r == 1)
                    continue;
            } else {
                r = parse_inline(p, buf, len, lim);
            }
            if (r == 2)
                continue;
            return r;
        case ST_MBULK:
            return parse_bulks(p, buf, len, lim);
        default:
            dyn_assert(!"bad parser state");
        }
    }
}

void resp_next(struct resp_parser *p)
{
    p->state = ST_START;
    p->is_inline = 0;
    p->mbulk_left = 0;
    p->bulk_len = -1;
    p->argc = 0;
    p->scan = 0;
    p->cmd_start = p->pos;
}

void resp_shift(struct resp_parser *p, size_t n)
{
    dyn_assert(n <= p->cmd_start);
    if (n == 0)
        return;
    p->pos -= n;
    p->cmd_start -= n;
    for (size_t i = 0; i < p->argc; i++)
        p->args[i].off -= n;
}

size_t resp_consumed(const struct resp_parser *p)
{
    return p->cmd_start;
}

size_t resp_want(const struct resp_parser *p)
{
    if (p->state != ST_MBULK || p->bulk_len < 0)
        return 0;
    return p->pos - p->cmd_start + (size_t)p->bulk_len + 2;
}

const char *resp_error(const struct resp_parser *p)
{
    return p->err ? p->err : "";
}
