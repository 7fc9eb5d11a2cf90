/*
 * hreq.c -- path matching, percent-decoding and the access checks of the
 * JSON API (hreq.h says why each exists).
 *
 * Invariants: no function here allocates unless it returns success with
 * an out-pointer to fill; every input is treated as hostile (a header is
 * whatever a client sent), so lengths are checked before copies and no
 * function reads past a NUL.
 *
 * Thread-safety: stateless.  Errors: DYN_EINVAL for malformed input.
 */
#include "server/http/hreq.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "server/util.h"

int hreq_pct_decode(const char *s, size_t len, char **out, size_t *outlen)
{
    char *d = dyn_malloc(len + 1);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            d[k++] = s[i];
            continue;
        }
        int hi = len - i < 3 ? -1 : dyn_hex_val(s[i + 1]);
        int lo = len - i < 3 ? -1 : dyn_hex_val(s[i + 2]);
        if (hi < 0 || lo < 0) {
            dyn_free(d);
            return DYN_EINVAL;
        }
        d[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    d[k] = '\0';
    *out = d;
    *outlen = k;
    return 0;
}

int hreq_match(const char *pattern, const char *path, char **param,
               size_t *param_len)
{
    const char *cap = NULL;
    size_t caplen = 0;
    const char *p = pattern, *s = path;
    *param = NULL;
    *param_len = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return 0;
        p++;
        s++;
        size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
        if (pl > 0 && p[0] == ':') {
            if (sl == 0)
                return 0;
            cap = s;
            caplen = sl;
        } else if (pl != sl || memcmp(p, s, pl) != 0) {
            return 0;
        }
        p += pl;
        s += sl;
    }
    if (*p || *s)
        return 0;
    if (cap) {
        char *d;
        size_t dl;
        if (hreq_pct_decode(cap, caplen, &d, &dl) != 0)
            return DYN_EINVAL;
        *param = d;
        *param_len = dl;
    }
    return 1;
}

int hreq_host_part(const char *host, char *out, size_t outlen)
{
    const char *b = host, *e;
    if (*b == '[') {
        e = strchr(b, ']');
        if (!e || (e[1] && e[1] != ':'))
            return DYN_EINVAL;
        b++;
    } else {
        e = strchr(b, ':');
        if (!e)
            e = b + strlen(b);
    }
    size_t n = (size_t)(e - b);
    if (n == 0 || n >= outlen)
        return DYN_EINVAL;
    memcpy(out, b, n);
    out[n] = '\0';
    /* a port, when given, is digits only */
    const char *port = *e == ']' ? e + 1 : e;
    if (*port == ':') {
        port++;
        if (!*port)
            return DYN_EINVAL;
        for (; *port; port++)
            if (*port < '0' || *port > '9')
                return DYN_EINVAL;
    }
    return 0;
}

static int name_allowed(const char *h, const char *const *names,
                        size_t nnames)
{
    static const char *const local[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(local); i++)
        if (strcasecmp(h, local[i]) == 0)
            return 1;
    for (size_t i = 0; i < nnames; i++)
        if (names[i] && names[i][0] && strcasecmp(h, names[i]) == 0)
            return 1;
    return 0;
}

int hreq_host_allowed(const char *host, const char *const *names,
                      size_t nnames)
{
    char h[256];
    if (hreq_host_part(host, h, sizeof(h)) != 0)
        return 0;
    return name_allowed(h, names, nnames);
}

int hreq_origin_allowed(const char *origin, const char *const *names,
                        size_t nnames, int port)
{
    int dflt;
    const char *rest;
    if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
        dflt = 80;
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        rest = origin + 8;
        dflt = 443;
    } else {
        return 0; /* "null", other schemes */
    }
    if (strpbrk(rest, "/?#@ "))
        return 0; /* an origin has no path, query or user */
    char h[256];
    if (hreq_host_part(rest, h, sizeof(h)) != 0 ||
        !name_allowed(h, names, nnames))
        return 0;
    const char *colon = rest[0] == '[' ? strchr(rest, ']') : rest;
    colon = colon ? strchr(colon, ':') : NULL;
    long long p = dflt;
    if (colon && dyn_str2ll(colon + 1, strlen(colon + 1), &p) != 0)
        return 0;
    return p == port;
}

/* An origin's parts: scheme length (4 http, 5 https), host, port. */
static int origin_parts(const char *origin, int *https, char *host,
                        size_t cap, long long *port)
{
    const char *rest;
    if (strncasecmp(origin, "http://", 7) == 0) {
        rest = origin + 7;
        *https = 0;
    } else if (strncasecmp(origin, "https://", 8) == 0) {
        rest = origin + 8;
        *https = 1;
    } else {
        return DYN_EINVAL;
    }
    if (strpbrk(rest, "/?#@ ") || hreq_host_part(rest, host, cap) != 0)
        return DYN_EINVAL;
    const char *colon = rest[0] == '[' ? strchr(rest, ']') : rest;
    colon = colon ? strchr(colon, ':') : NULL;
    *port = *https ? 443 : 80;
    if (colon && dyn_str2ll(colon + 1, strlen(colon + 1), port) != 0)
        return DYN_EINVAL;
    return 0;
}

static int is_loopback_name(const char *h)
{
    return strcasecmp(h, "localhost") == 0 || hreq_addr_is_loopback(h);
}

int hreq_origin_listed(const char *origin, const char *const *origins,
                       size_t norigins)
{
    char h[256], lh[256];
    int https, lhttps;
    long long port, lport;
    if (origin_parts(origin, &https, h, sizeof(h), &port) != 0)
        return 0;
    for (size_t i = 0; i < norigins; i++) {
        if (!origins[i] ||
            origin_parts(origins[i], &lhttps, lh, sizeof(lh), &lport) != 0)
            continue;
        if (https != lhttps || port != lport)
            continue;
        if (strcasecmp(h, lh) == 0 ||
            (is_loopback_name(h) && is_loopback_name(lh)))
            return 1;
    }
    return 0;
}

/* Same time wherever a and b differ (their lengths still show). */
static int same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (padding optional) into out; the decoded length, or -1. */
static long b64_decode(const char *s, char *out, size_t outcap)
{
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64_val((unsigned char)*s);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k >= outcap)
                return -1;
            out[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; *s == '='; s++)
        ;
    return *s ? -1 : (long)k;
}

int hreq_auth_ok(const char *authorization, const char *pass)
{
    if (!pass || !pass[0])
        return 1;
    if (!authorization)
        return 0;
    size_t plen = strlen(pass);
    if (strncasecmp(authorization, "Bearer ", 7) == 0) {
        const char *t = authorization + 7;
        return same_secret(t, strlen(t), pass, plen);
    }
    if (strncasecmp(authorization, "Basic ", 6) == 0) {
        char buf[1024];
        long n = b64_decode(authorization + 6, buf, sizeof(buf));
        if (n < 0)
            return 0;
        char *colon = memchr(buf, ':', (size_t)n);
        if (!colon)
            return 0;
        size_t off = (size_t)(colon + 1 - buf);
        return same_secret(colon + 1, (size_t)n - off, pass, plen);
    }
    return 0;
}

int hreq_addr_is_loopback(const char *addr)
{
    if (strncasecmp(addr, "::ffff:", 7) == 0)
        addr += 7;
    if (strncmp(addr, "127.", 4) == 0)
        return strspn(addr + 4, "0123456789.") == strlen(addr + 4);
    return strcmp(addr, "::1") == 0 || strcmp(addr, "0:0:0:0:0:0:0:1") == 0;
}

void hreq_allow_text(unsigned methods, char *out, size_t outlen)
{
    static const struct {
        unsigned bit;
        const char *name;
    } m[] = {{HREQ_GET, "GET"},
             {HREQ_HEAD, "HEAD"},
             {HREQ_POST, "POST"},
             {HREQ_PUT, "PUT"},
             {HREQ_DELETE, "DELETE"}};
    size_t k = 0;
    out[0] = '\0';
    for (size_t i = 0; i < DYN_ARRAY_LEN(m); i++) {
        if (!(methods & m[i].bit))
            continue;
        int w = snprintf(out + k, outlen - k, "%s%s", k ? ", " : "",
                         m[i].name);
        if (w < 0 || (size_t)w >= outlen - k)
            return;
        k += (size_t)w;
    }
}
