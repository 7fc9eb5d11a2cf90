/*
 * vclock.c -- vector clocks: compare, merge, prune, and their encodings.
 *
 * A clock is a sorted array of (actor, counter, ts_ms).  Sorting by actor
 * makes compare and merge one linear walk over both inputs, and makes the
 * encoding canonical: two equal clocks always have the same bytes, which
 * object.c relies on so that equal objects have equal digests.
 *
 * Binary encoding (the header's contract):
 *
 *   varint count | count x ( actor: 8 bytes big-endian
 *                            | varint counter (>= 1) | varint ts_ms )
 *
 * Varints are unsigned LEB128 (server/wire.h).  The decoder accepts only
 * the shortest form of each varint, strictly ascending actors and non-zero
 * counters, so the bytes of a clock are unique and decode(encode(c)) == c.
 * It checks the entry count against both max_entries and the remaining
 * input before it allocates, so hostile input cannot make it allocate much.
 *
 * The client context is base64url (RFC 4648 section 5) without padding.
 * The decoder rejects characters outside the alphabet, impossible lengths
 * (len % 4 == 1) and non-zero trailing bits, so each clock has exactly one
 * text form.  The empty string is accepted as the empty clock, because a
 * client writing a new key has no context to give.
 *
 * Pure: no clock reads and no randomness; the time comes in as now_ms.
 * Thread-safety: none; a clock has one owner.
 * Errors: decoders return DYN_EINVAL (malformed) or DYN_ELIMIT (too many
 * entries); vclock_increment returns DYN_ERANGE rather than wrap a counter;
 * everything else cannot fail (allocation aborts on OOM).
 */
#include "cluster/vclock.h"

#include <string.h>

#include "server/util.h"
#include "server/wire.h"

/* An encoded entry is at least 8 (actor) + 1 (counter) + 1 (ts) bytes. */
#define VCLOCK_MIN_ENTRY 10

uint64_t actor_make(const char *node_name, uint32_t incarnation)
{
    uint64_t h = dyn_hash64(node_name, strlen(node_name));
    return (h & ~(uint64_t)0xffffff) | (incarnation & 0xffffffu);
}

void vclock_init(struct vclock *c)
{
    c->n = 0;
    c->cap = 0;
    c->e = NULL;
}

void vclock_free(struct vclock *c)
{
    dyn_free(c->e);
    vclock_init(c);
}

void vclock_clear(struct vclock *c)
{
    c->n = 0;
}

static void vclock_reserve(struct vclock *c, uint32_t n)
{
    if (n <= c->cap)
        return;
    uint32_t cap = c->cap ? c->cap : 4;
    while (cap < n)
        cap *= 2;
    c->e = dyn_realloc(c->e, (size_t)cap * sizeof(*c->e));
    c->cap = cap;
}

void vclock_copy(struct vclock *dst, const struct vclock *src)
{
    if (dst == src)
        return;
    vclock_reserve(dst, src->n);
    if (src->n)
        memcpy(dst->e, src->e, (size_t)src->n * sizeof(*src->e));
    dst->n = src->n;
}

/* Index of actor, or of the first entry greater than it (insert point). */
static uint32_t vclock_find(const struct vclock *c, uint64_t actor)
{
    uint32_t lo = 0, hi = c->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->e[mid].actor < actor)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t vclock_get(const struct vclock *c, uint64_t actor)
{
    uint32_t i = vclock_find(c, actor);
    return (i < c->n && c->e[i].actor == actor) ? c->e[i].counter : 0;
}

void vclock_set(struct vclock *c, uint64_t actor, uint64_t counter,
                uint64_t ts_ms)
{
    uint32_t i = vclock_find(c, actor);
    if (i < c->n && c->e[i].actor == actor) {
        c->e[i].counter = counter;
        c->e[i].ts_ms = ts_ms;
        return;
    }
    vclock_reserve(c, c->n + 1);
    memmove(&c->e[i + 1], &c->e[i], (size_t)(c->n - i) * sizeof(*c->e));
    c->e[i].actor = actor;
    c->e[i].counter = counter;
    c->e[i].ts_ms = ts_ms;
    c->n++;
}

enum vclock_order vclock_compare(const struct vclock *a,
                                 const struct vclock *b)
{
    int a_more = 0, b_more = 0; /* some counter of a (b) exceeds the other */
    uint32_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->e[i].actor < b->e[j].actor)) {
            a_more = 1;
            i++;
        } else if (i >= a->n || b->e[j].actor < a->e[i].actor) {
            b_more = 1;
            j++;
        } else {
            if (a->e[i].counter > b->e[j].counter)
                a_more = 1;
            else if (a->e[i].counter < b->e[j].counter)
                b_more = 1;
            i++;
            j++;
        }
        if (a_more && b_more)
            return VCLOCK_CONCURRENT;
    }
    if (a_more)
        return VCLOCK_AFTER;
    if (b_more)
        return VCLOCK_BEFORE;
    return VCLOCK_EQUAL;
}

int vclock_descends(const struct vclock *a, const struct vclock *b)
{
    enum vclock_order o = vclock_compare(a, b);
    return o == VCLOCK_EQUAL || o == VCLOCK_AFTER;
}

void vclock_merge(struct vclock *dst, const struct vclock *src)
{
    if (dst == src || src->n == 0)
        return;
    /* Merge from the back so dst can be extended in place. */
    uint32_t extra = 0, i = 0, j = 0;
    while (j < src->n) {
        if (i < dst->n && dst->e[i].actor < src->e[j].actor) {
            i++;
        } else if (i < dst->n && dst->e[i].actor == src->e[j].actor) {
            i++;
            j++;
        } else {
            extra++;
            j++;
        }
    }
    vclock_reserve(dst, dst->n + extra);
    int64_t a = (int64_t)dst->n - 1, b = (int64_t)src->n - 1;
    int64_t k = (int64_t)dst->n + extra - 1;
    while (b >= 0) {
        const struct vclock_entry *s = &src->e[b];
        if (a >= 0 && dst->e[a].actor > s->actor) {
            dst->e[k--] = dst->e[a--];
        } else if (a >= 0 && dst->e[a].actor == s->actor) {
            struct vclock_entry d = dst->e[a--];
            if (s->counter > d.counter ||
                (s->counter == d.counter && s->ts_ms > d.ts_ms)) {
                d.counter = s->counter;
                d.ts_ms = s->ts_ms;
            }
            dst->e[k--] = d;
            b--;
        } else {
            dst->e[k--] = *s;
            b--;
        }
    }
    dst->n += extra;
}

void vclock_cap(struct vclock *c, uint64_t actor, uint64_t max)
{
    uint32_t i = vclock_find(c, actor);
    if (i >= c->n || c->e[i].actor != actor || c->e[i].counter <= max)
        return;
    if (max > 0) {
        c->e[i].counter = max;
        return;
    }
    memmove(&c->e[i], &c->e[i + 1], (size_t)(c->n - i - 1) * sizeof(*c->e));
    c->n--;
}

int vclock_increment(struct vclock *c, uint64_t actor, uint64_t now_ms)
{
    uint64_t v = vclock_get(c, actor);
    if (v == UINT64_MAX)
        return DYN_ERANGE;
    vclock_set(c, actor, v + 1, now_ms);
    return 0;
}

uint32_t vclock_prune(struct vclock *c, uint32_t max_entries)
{
    uint32_t dropped = 0;
    while (c->n > max_entries) {
        uint32_t victim = 0;
        for (uint32_t i = 1; i < c->n; i++) {
            const struct vclock_entry *e = &c->e[i], *v = &c->e[victim];
            if (e->ts_ms < v->ts_ms ||
                (e->ts_ms == v->ts_ms && e->actor < v->actor))
                victim = i;
        }
        memmove(&c->e[victim], &c->e[victim + 1],
                (size_t)(c->n - victim - 1) * sizeof(*c->e));
        c->n--;
        dropped++;
    }
    return dropped;
}

/* ---- binary encoding ---------------------------------------------------- */

/* The varints are wire.h's, in their shortest form only. */
size_t vclock_varint_size(uint64_t v)
{
    return wire_varint_size(v);
}

size_t vclock_varint_put(uint8_t *out, uint64_t v)
{
    return wire_varint_put(out, v);
}

size_t vclock_varint_get(const uint8_t *in, size_t len, uint64_t *v)
{
    size_t used;
    if (wire_varint_get_canonical(in, len, v, &used))
        return 0;
    return used;
}

size_t vclock_encoded_len(const uint8_t *in, size_t len)
{
    uint64_t count;
    size_t off = vclock_varint_get(in, len, &count), k;
    if (off == 0 || count > (len - off) / VCLOCK_MIN_ENTRY)
        return 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t v;
        if (len - off < 8)
            return 0;
        off += 8;
        if (!(k = vclock_varint_get(in + off, len - off, &v)))
            return 0;
        off += k;
        if (!(k = vclock_varint_get(in + off, len - off, &v)))
            return 0;
        off += k;
    }
    return off;
}

size_t vclock_encoded_size(const struct vclock *c)
{
    size_t n = vclock_varint_size(c->n);
    for (uint32_t i = 0; i < c->n; i++)
        n += 8 + vclock_varint_size(c->e[i].counter) +
             vclock_varint_size(c->e[i].ts_ms);
    return n;
}

size_t vclock_encode(const struct vclock *c, uint8_t *out)
{
    size_t n = vclock_varint_put(out, c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        uint64_t a = c->e[i].actor;
        for (int k = 7; k >= 0; k--)
            out[n++] = (uint8_t)(a >> (8 * k));
        n += vclock_varint_put(out + n, c->e[i].counter);
        n += vclock_varint_put(out + n, c->e[i].ts_ms);
    }
    return n;
}

void vclock_encode_buf(const struct vclock *c, struct dbuf *out)
{
    size_t sz = vclock_encoded_size(c);
    dbuf_reserve(out, sz);
    size_t w = vclock_encode(c, (uint8_t *)out->p + out->len);
    dyn_assert(w == sz);
    out->len += w;
}

int vclock_decode(struct vclock *c, const uint8_t *in, size_t len,
                  uint32_t max_entries, size_t *consumed)
{
    uint64_t count;
    size_t off = vclock_varint_get(in, len, &count);
    vclock_clear(c);
    if (off == 0)
        return DYN_EINVAL;
    if (count > max_entries)
        return DYN_ELIMIT;
    if (count > (len - off) / VCLOCK_MIN_ENTRY)
        return DYN_EINVAL; /* cannot fit: truncated */
    vclock_reserve(c, (uint32_t)count);
    for (uint64_t i = 0; i < count; i++) {
        struct vclock_entry e;
        size_t k;
        if (len - off < 8)
            goto bad;
        e.actor = 0;
        for (int b = 0; b < 8; b++)
            e.actor = (e.actor << 8) | in[off + b];
        off += 8;
        if (!(k = vclock_varint_get(in + off, len - off, &e.counter)) ||
            e.counter == 0)
            goto bad;
        off += k;
        if (!(k = vclock_varint_get(in + off, len - off, &e.ts_ms)))
            goto bad;
        off += k;
        if (i > 0 && e.actor <= c->e[i - 1].actor)
            goto bad;
        c->e[i] = e;
        c->n = (uint32_t)i + 1;
    }
    if (consumed)
        *consumed = off;
    return 0;
bad:
    vclock_clear(c);
    return DYN_EINVAL;
}

/* ---- client context (base64url, no padding) ----------------------------- */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64url_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

void vclock_context_encode(const struct vclock *c, struct dbuf *out)
{
    size_t n = vclock_encoded_size(c);
    uint8_t stackbuf[256];
    uint8_t *raw = n <= sizeof(stackbuf) ? stackbuf : dyn_malloc(n);
    vclock_encode(c, raw);
    dbuf_reserve(out, (n * 4 + 2) / 3);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
                     raw[i + 2];
        dbuf_appendc(out, b64url[v >> 18]);
        dbuf_appendc(out, b64url[(v >> 12) & 63]);
        dbuf_appendc(out, b64url[(v >> 6) & 63]);
        dbuf_appendc(out, b64url[v & 63]);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)raw[i] << 16;
        dbuf_appendc(out, b64url[v >> 18]);
        dbuf_appendc(out, b64url[(v >> 12) & 63]);
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8;
        dbuf_appendc(out, b64url[v >> 18]);
        dbuf_appendc(out, b64url[(v >> 12) & 63]);
        dbuf_appendc(out, b64url[(v >> 6) & 63]);
    }
    if (raw != stackbuf)
        dyn_free(raw);
}

int vclock_context_decode(struct vclock *c, const char *s, size_t len,
                          uint32_t max_entries)
{
    if (len == 0) {
        vclock_clear(c);
        return 0;
    }
    if (len % 4 == 1)
        return DYN_EINVAL;
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    uint8_t stackbuf[256];
    uint8_t *raw = n <= sizeof(stackbuf) ? stackbuf : dyn_malloc(n);
    size_t o = 0;
    int rc = DYN_EINVAL;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_val((unsigned char)s[i]);
        if (v < 0)
            goto out;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-zero padding bits: not the canonical text */
        goto out;
    dyn_assert(o == n);
    size_t used = 0;
    if (vclock_decode(c, raw, n, max_entries, &used) == 0 && used == n)
        rc = 0;
    else
        vclock_clear(c);
out:
    if (raw != stackbuf)
        dyn_free(raw);
    return rc;
}

void vclock_format(const struct vclock *c, struct dbuf *out,
                   vclock_name_fn name, void *ctx)
{
    dbuf_appendc(out, '[');
    for (uint32_t i = 0; i < c->n; i++) {
        const struct vclock_entry *e = &c->e[i];
        const char *nm = name ? name(ctx, e->actor) : NULL;
        if (i)
            dbuf_appends(out, ", ");
        if (nm)
            dbuf_appends(out, nm);
        else
            dbuf_printf(out, "%016llx", (unsigned long long)e->actor);
        dbuf_printf(out, ":%llu@%llu", (unsigned long long)e->counter,
                    (unsigned long long)e->ts_ms);
    }
    dbuf_appendc(out, ']');
}
