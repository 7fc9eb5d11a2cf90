/*
 * util.c -- allocation that aborts on OOM, strict number parsing, glob
 * matching and the key hash.  See util.h for the contracts.
 *
 * Allocation goes through the process allocator, which is jemalloc in
 * release builds (linked, not preloaded) and libc malloc under ASan.
 */
#include "server/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

static void oom(size_t n) __attribute__((noreturn));
static void oom(size_t n)
{
    fprintf(stderr, "dynamod: out of memory allocating %zu bytes\n", n);
    abort();
}

void *dyn_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *dyn_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *dyn_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *dyn_strdup(const char *s)
{
    return dyn_memdup(s, strlen(s) + 1);
}

void *dyn_memdup(const void *p, size_t n)
{
    void *q = dyn_malloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

void dyn_free(void *p)
{
    free(p);
}

void dyn_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "dynamod: assertion failed: %s (%s:%d)\n", expr, file,
            line);
    abort();
}

int dyn_str2ull(const char *s, size_t len, unsigned long long *out)
{
    unsigned long long v = 0;
    if (len == 0 || len > 20)
        return DYN_EINVAL;
    if (len == 1 && s[0] == '0') {
        *out = 0;
        return 0;
    }
    if (s[0] < '1' || s[0] > '9')
        return DYN_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return DYN_EINVAL;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return DYN_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int dyn_str2ll(const char *s, size_t len, long long *out)
{
    unsigned long long v;
    int neg = 0;
    if (len == 0)
        return DYN_EINVAL;
    if (s[0] == '-') {
        neg = 1;
        s++;
        len--;
        if (len == 1 && s[0] == '0')
            return DYN_EINVAL; /* "-0" is not canonical */
    }
    if (dyn_str2ull(s, len, &v) != 0)
        return DYN_EINVAL;
    if (neg) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return DYN_EINVAL;
        *out = (long long)(0 - v);
    } else {
        if (v > (unsigned long long)LLONG_MAX)
            return DYN_EINVAL;
        *out = (long long)v;
    }
    return 0;
}

int dyn_ll2str(char *dst, long long v)
{
    /* digits from the end (every reply header and integer goes through
     * here: snprintf was 1.5 % of a SADD's CPU) */
    char tmp[24];
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v
                                 : (unsigned long long)v;
    int n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    for (int i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    dst[n] = '\0';
    return n;
}

int dyn_hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int dyn_arg_is(const char *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return n == len && strncasecmp(p, lit, n) == 0;
}

static int lower(int c, int nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Glob matching with Redis 7.0's semantics (stringmatchlen), including its
 * corner cases: an empty string matches only the empty pattern ("*" does
 * not match ""), and trailing '*'s are skipped only once the string has been
 * used up inside the loop.
 *
 * Time: a '*' tries each suffix, but once a try has run out of string
 * without matching (*exhausted), a longer skip cannot match either, so every
 * enclosing '*' gives up.  That keeps "*a*a*a*...b" polynomial.  The depth
 * guard bounds the recursion. */
static int glob_rec(const char *p, size_t pl, const char *s, size_t sl,
                    int nocase, int *exhausted, int depth)
{
    if (depth > 1000)
        return 0;
    while (pl && sl) {
        switch (p[0]) {
        case '*':
            while (pl > 1 && p[1] == '*') {
                p++;
                pl--;
            }
            if (pl == 1)
                return 1;
            while (sl) {
                if (glob_rec(p + 1, pl - 1, s, sl, nocase, exhausted,
                             depth + 1))
                    return 1;
                if (*exhausted)
                    return 0;
                s++;
                sl--;
            }
            *exhausted = 1;
            return 0;
        case '?':
            break;
        case '[': {
            int neg, match = 0;
            p++;
            pl--;
            neg = pl && p[0] == '^';
            if (neg) {
                p++;
                pl--;
            }
            while (pl && p[0] != ']') {
                /* As Redis 7.0: an escaped char in a class compares case
                 * sensitively, and a range is ordered before it is folded
                 * ("[Z-a]" matches nothing when nocase). */
                if (p[0] == '\\' && pl >= 2) {
                    p++;
                    pl--;
                    if (p[0] == s[0])
                        match = 1;
                } else if (pl >= 3 && p[1] == '-') {
                    int a = p[0], b = p[2];
                    if (a > b) {
                        int t = a;
                        a = b;
                        b = t;
                    }
                    a = lower(a, nocase);
                    b = lower(b, nocase);
                    int c = lower(s[0], nocase);
                    if (c >= a && c <= b)
                        match = 1;
                    p += 2;
                    pl -= 2;
                } else if (lower(p[0], nocase) == lower(s[0], nocase)) {
                    match = 1;
                }
                p++;
                pl--;
            }
            if (pl == 0) { /* unterminated: treat end as ']' */
                p--;
                pl++;
            }
            if (neg)
                match = !match;
            if (!match)
                return 0;
            break;
        }
        case '\\':
            if (pl >= 2) {
                p++;
                pl--;
            }
            /* fall through */
        default:
            if (lower(p[0], nocase) != lower(s[0], nocase))
                return 0;
            break;
        }
        p++;
        pl--;
        s++;
        sl--;
        if (sl == 0) {
            while (pl && p[0] == '*') {
                p++;
                pl--;
            }
            break;
        }
    }
    return pl == 0 && sl == 0;
}

int dyn_glob_match(const char *pat, size_t plen, const char *s, size_t slen,
                   int nocase)
{
    int exhausted = 0;
    return glob_rec(pat, plen, s, slen, nocase, &exhausted, 0);
}

uint64_t dyn_hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

uint64_t dyn_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t dyn_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t dyn_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int dyn_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

size_t dyn_read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

void dyn_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}
