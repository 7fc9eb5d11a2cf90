/*
 * rjson.c -- RESP replies and INFO text to JSON, INFO figures to
 * Prometheus text (rjson.h gives the mapping and why).
 *
 * The RESP reader here is for replies our own handlers wrote, but it
 * still checks every length against the bytes it was given and bounds
 * nesting (RJSON_MAX_DEPTH), so a bug above shows as a NULL, never as a
 * read out of bounds.
 *
 * Thread-safety: stateless.  Errors: NULL for malformed input; jansson's
 * own failures (out of memory) abort, as every allocation here does.
 */
#include "server/http/rjson.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/util.h"

/* ---- strings ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *rjson_string(const char *p, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0, s;
    while (i < len && (s = utf8_seq(u + i, len - i)) > 0)
        i += s;
    if (i == len)
        return json_stringn(p, len);
    struct dbuf b;
    dbuf_init(&b);
    for (i = 0; i < len;) {
        s = utf8_seq(u + i, len - i);
        if (s == 0) {
            dbuf_append(&b, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        } else {
            dbuf_append(&b, p + i, s);
            i += s;
        }
    }
    json_t *j = json_stringn(b.p, b.len);
    dbuf_free(&b);
    return j;
}

/* ---- RESP --------------------------------------------------------------- */

/* The line after the type byte: [p+1, *end) with "\r\n" at *end. */
static int resp_line(const char *p, size_t len, const char **end)
{
    for (size_t i = 1; i + 1 < len; i++)
        if (p[i] == '\r' && p[i + 1] == '\n') {
            *end = p + i;
            return 0;
        }
    return DYN_EINVAL;
}

static json_t *resp_value(const char *p, size_t len, size_t *used, int depth);

static json_t *resp_aggregate(char type, long long count, const char *p,
                              size_t len, size_t *used, int depth)
{
    size_t off = 0;
    if (type == '%' || type == '|') {
        json_t *obj = json_object();
        for (long long i = 0; i < count; i++) {
            size_t u1, u2;
            json_t *k = resp_value(p + off, len - off, &u1, depth + 1);
            if (!k) {
                json_decref(obj);
                return NULL;
            }
            off += u1;
            json_t *v = resp_value(p + off, len - off, &u2, depth + 1);
            if (!v) {
                json_decref(k);
                json_decref(obj);
                return NULL;
            }
            off += u2;
            char num[32];
            const char *ks;
            char *dumped = NULL;
            if (json_is_string(k)) {
                ks = json_string_value(k);
            } else if (json_is_integer(k)) {
                snprintf(num, sizeof(num), "%lld",
                         (long long)json_integer_value(k));
                ks = num;
            } else {
                dumped = json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY);
                ks = dumped ? dumped : "";
            }
            if (json_is_string(k))
                json_object_setn_new(obj, ks, json_string_length(k), v);
            else
                json_object_set_new(obj, ks, v);
            free(dumped);
            json_decref(k);
        }
        *used = off;
        return obj;
    }
    json_t *arr = json_array();
    for (long long i = 0; i < count; i++) {
        size_t u;
        json_t *v = resp_value(p + off, len - off, &u, depth + 1);
        if (!v) {
            json_decref(arr);
            return NULL;
        }
        off += u;
        json_array_append_new(arr, v);
    }
    *used = off;
    return arr;
}

static json_t *resp_error(json_t *text)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", text);
    return o;
}

static json_t *resp_value(const char *p, size_t len, size_t *used, int depth)
{
    const char *end;
    if (depth > RJSON_MAX_DEPTH || len < 3 || resp_line(p, len, &end) != 0)
        return NULL;
    const char *line = p + 1;
    size_t ll = (size_t)(end - line);
    size_t hdr = ll + 3; /* type byte, line, CRLF */
    long long n = 0;
    switch (p[0]) {
    case '+':
    case '(':
        *used = hdr;
        return rjson_string(line, ll);
    case '-':
        *used = hdr;
        return resp_error(rjson_string(line, ll));
    case ':':
        if (dyn_str2ll(line, ll, &n) != 0 && !(ll == 2 && line[0] == '-' &&
                                               line[1] == '0'))
            return NULL;
        *used = hdr;
        return json_integer(n);
    case '#':
        if (ll != 1 || (line[0] != 't' && line[0] != 'f'))
            return NULL;
        *used = hdr;
        return json_boolean(line[0] == 't');
    case '_':
        if (ll != 0)
            return NULL;
        *used = hdr;
        return json_null();
    case ',': {
        char buf[64];
        if (ll == 0 || ll >= sizeof(buf))
            return NULL;
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        *used = hdr;
        if (strcmp(buf, "inf") == 0 || strcmp(buf, "-inf") == 0 ||
            strcmp(buf, "nan") == 0)
            return json_string(buf);
        char *e;
        double d = strtod(buf, &e);
        if (*e || !isfinite(d))
            return NULL;
        return json_real(d);
    }
    case '$':
    case '=':
    case '!': {
        if (ll == 2 && line[0] == '-' && line[1] == '1') {
            *used = hdr;
            return json_null();
        }
        if (dyn_str2ll(line, ll, &n) != 0 || n < 0 ||
            (unsigned long long)n > len - hdr ||
            len - hdr - (size_t)n < 2 || p[hdr + (size_t)n] != '\r' ||
            p[hdr + (size_t)n + 1] != '\n')
            return NULL;
        const char *s = p + hdr;
        size_t sl = (size_t)n;
        *used = hdr + sl + 2;
        if (p[0] == '=') {
            if (sl < 4 || s[3] != ':')
                return NULL;
            s += 4;
            sl -= 4;
        }
        json_t *str = rjson_string(s, sl);
        return p[0] == '!' ? resp_error(str) : str;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
        if (ll == 2 && line[0] == '-' && line[1] == '1' && p[0] == '*') {
            *used = hdr;
            return json_null();
        }
        if (dyn_str2ll(line, ll, &n) != 0 || n < 0 ||
            (unsigned long long)n > len)
            return NULL; /* each element takes 3 bytes at least */
        size_t u;
        json_t *v = resp_aggregate(p[0], n, p + hdr, len - hdr, &u, depth);
        if (!v)
            return NULL;
        if (p[0] == '|') {
            /* an attribute describes the value after it: skip it */
            json_decref(v);
            size_t u2;
            json_t *real = resp_value(p + hdr + u, len - hdr - u, &u2,
                                      depth + 1);
            if (!real)
                return NULL;
            *used = hdr + u + u2;
            return real;
        }
        *used = hdr + u;
        return v;
    }
    default:
        return NULL;
    }
}

json_t *rjson_reply(const char *p, size_t len, size_t *used)
{
    size_t u = 0;
    json_t *v = p ? resp_value(p, len, &u, 0) : NULL;
    if (v && used)
        *used = u;
    return v;
}

/* ---- INFO --------------------------------------------------------------- */

/* A number when s[0..len) is a whole integer or a plain decimal, else a
 * string. */
static json_t *info_scalar(const char *s, size_t len)
{
    long long v;
    if (dyn_str2ll(s, len, &v) == 0)
        return json_integer(v);
    char buf[64];
    if (len > 0 && len < sizeof(buf) && strspn(s, "-0123456789.") >= len) {
        memcpy(buf, s, len);
        buf[len] = '\0';
        char *e;
        double d = strtod(buf, &e);
        if (*e == '\0' && e != buf && isfinite(d))
            return json_real(d);
    }
    return rjson_string(s, len);
}

/* "k=v,k=v" as an object, or NULL when s is not such a list. */
static json_t *info_pairs(const char *s, size_t len)
{
    if (!memchr(s, '=', len))
        return NULL;
    json_t *o = json_object();
    size_t i = 0;
    while (i <= len) {
        const char *item = s + i;
        const char *comma = memchr(item, ',', len - i);
        size_t il = comma ? (size_t)(comma - item) : len - i;
        const char *eq = memchr(item, '=', il);
        if (!eq || eq == item) {
            json_decref(o);
            return NULL;
        }
        size_t kl = (size_t)(eq - item);
        json_object_setn_new(o, item, kl,
                             info_scalar(eq + 1, il - kl - 1));
        i += il + 1;
        if (!comma)
            break;
    }
    return o;
}

json_t *rjson_info(const char *text, size_t len)
{
    json_t *all = json_object();
    json_t *sec = NULL;
    size_t i = 0;
    while (i < len) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t)(nl - line) : len - i;
        i += ll + 1;
        if (ll > 0 && line[ll - 1] == '\r')
            ll--;
        if (ll == 0)
            continue;
        if (line[0] == '#') {
            size_t k = 1;
            while (k < ll && line[k] == ' ')
                k++;
            char name[64];
            size_t nl2 = ll - k < sizeof(name) - 1 ? ll - k : sizeof(name) - 1;
            for (size_t j = 0; j < nl2; j++)
                name[j] = (char)tolower((unsigned char)line[k + j]);
            name[nl2] = '\0';
            sec = json_object();
            json_object_set_new(all, name, sec);
            continue;
        }
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line)
            continue;
        if (!sec) {
            sec = json_object();
            json_object_set_new(all, "default", sec);
        }
        size_t kl = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vl = ll - kl - 1;
        json_t *val = info_pairs(v, vl);
        if (!val)
            val = info_scalar(v, vl);
        json_object_setn_new(sec, line, kl, val);
    }
    return all;
}

/* ---- Prometheus --------------------------------------------------------- */

static void metric_name(struct dbuf *b, const char *sec, const char *field,
                        const char *sub)
{
    const char *parts[3] = {sec, field, sub};
    dbuf_appends(b, "dynamod");
    for (int k = 0; k < 3; k++) {
        if (!parts[k])
            continue;
        dbuf_appendc(b, '_');
        for (const char *c = parts[k]; *c; c++)
            dbuf_appendc(b, isalnum((unsigned char)*c) ? *c : '_');
    }
}

static void metric_add(json_t *metrics, const char *sec, const char *field,
                       const char *sub, const char *node, json_t *v)
{
    if (!json_is_number(v))
        return;
    struct dbuf name;
    dbuf_init(&name);
    metric_name(&name, sec, field, sub);
    dbuf_appendc(&name, '\0');
    json_t *samples = json_object_get(metrics, name.p);
    if (!samples) {
        samples = json_object();
        json_object_set_new(metrics, name.p, samples);
    }
    json_object_set(samples, node, v);
    dbuf_free(&name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void label_value(struct dbuf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            dbuf_appends(b, "\\\\");
        else if (*s == '"')
            dbuf_appends(b, "\\\"");
        else if (*s == '\n')
            dbuf_appends(b, "\\n");
        else
            dbuf_appendc(b, *s);
    }
}

void rjson_metrics(json_t *nodes, struct dbuf *out)
{
    json_t *metrics = json_object();
    const char *node;
    json_t *info;
    json_object_foreach(nodes, node, info) {
        const char *sec;
        json_t *fields;
        json_object_foreach(info, sec, fields) {
            const char *field;
            json_t *v;
            json_object_foreach(fields, field, v) {
                if (json_is_object(v)) {
                    const char *sub;
                    json_t *sv;
                    json_object_foreach(v, sub, sv)
                        metric_add(metrics, sec, field, sub, node, sv);
                } else {
                    metric_add(metrics, sec, field, NULL, node, v);
                }
            }
        }
    }
    size_t nm = json_object_size(metrics), k = 0;
    const char **names = dyn_calloc(nm ? nm : 1, sizeof(*names));
    const char *name;
    json_t *samples;
    json_object_foreach(metrics, name, samples)
        names[k++] = name;
    qsort(names, nm, sizeof(*names), cmp_str);
    for (k = 0; k < nm; k++) {
        samples = json_object_get(metrics, names[k]);
        dbuf_printf(out, "# TYPE %s untyped\n", names[k]);
        json_t *v;
        json_object_foreach(samples, node, v) {
            dbuf_printf(out, "%s{node=\"", names[k]);
            label_value(out, node);
            if (json_is_integer(v))
                dbuf_printf(out, "\"} %lld\n",
                            (long long)json_integer_value(v));
            else
                dbuf_printf(out, "\"} %.17g\n", json_real_value(v));
        }
    }
    dyn_free(names);
    json_decref(metrics);
}

/* A flat [name, value, ...] array (a RESP2 map) as an object; a value
 * that is itself such an array of arrays (a trace's replicas) too. */
json_t *rjson_pairs(json_t *a)
{
    json_t *o = json_object();
    for (size_t i = 0; i + 1 < json_array_size(a); i += 2) {
        const char *k = json_string_value(json_array_get(a, i));
        json_t *v = json_array_get(a, i + 1);
        if (!k)
            continue;
        if (json_is_array(v)) {
            json_t *list = json_array();
            size_t j;
            json_t *x;
            json_array_foreach(v, j, x) json_array_append_new(
                list, json_is_array(x) ? rjson_pairs(x) : json_incref(x));
            json_object_set_new(o, k, list);
        } else {
            json_object_set(o, k, v);
        }
    }
    return o;
}
