/*
 * crdt_int.h -- what crdt_counter.c and crdt_set.c share and nobody else
 * needs: a bounded reader over untrusted bytes, the writer's helpers, and
 * the canonical long double and signed integer codecs.
 *
 * The reader never reads past its end: every get checks the remaining
 * length, and the first failure sticks (r->err), so a decoder reads its
 * fields in a row and checks once.  Varints are wire.h's shortest form
 * only, so each state has one encoding.
 *
 * Long doubles are written as sign, exponent and the 64-bit mantissa
 * (x87's 80-bit format holds exactly that), so the bytes do not depend on
 * the platform's padding, and a value survives encode and decode bit for
 * bit; NaN and infinities have no encoding.
 */
#ifndef DYN_CRDT_INT_H
#define DYN_CRDT_INT_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "server/buf.h"
#include "server/util.h"
#include "server/wire.h"

_Static_assert(LDBL_MANT_DIG <= 64, "long double mantissa must fit 64 bits");

struct crdt_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    int err; /* 0, or the first DYN_EINVAL */
};

static inline void crdt_rd_init(struct crdt_rd *r, const uint8_t *p,
                                size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->err = 0;
}

static inline size_t crdt_rd_left(const struct crdt_rd *r)
{
    return r->err ? 0 : r->len - r->off;
}

static inline uint64_t crdt_rd_varint(struct crdt_rd *r)
{
    uint64_t v = 0;
    size_t k;
    if (r->err)
        return 0;
    if (wire_varint_get_canonical(r->p + r->off, r->len - r->off, &v, &k)) {
        r->err = DYN_EINVAL;
        return 0;
    }
    r->off += k;
    return v;
}

static inline uint8_t crdt_rd_u8(struct crdt_rd *r)
{
    if (r->err || r->len - r->off < 1) {
        r->err = DYN_EINVAL;
        return 0;
    }
    return r->p[r->off++];
}

static inline uint64_t crdt_rd_u64(struct crdt_rd *r)
{
    if (r->err || r->len - r->off < 8) {
        r->err = DYN_EINVAL;
        return 0;
    }
    uint64_t v = wire_load_le64(r->p + r->off);
    r->off += 8;
    return v;
}

/* n bytes in place, or NULL (error set). */
static inline const uint8_t *crdt_rd_bytes(struct crdt_rd *r, uint64_t n)
{
    if (r->err || n > r->len - r->off) {
        r->err = DYN_EINVAL;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += (size_t)n;
    return q;
}

static inline uint64_t crdt_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t crdt_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* The writers append in place: one capacity check, no call, since an
 * encoder calls them a few times per member. */
static inline uint8_t *crdt_put_room(struct dbuf *b, size_t n)
{
    if (b->cap - b->len < n)
        dbuf_reserve(b, n);
    return (uint8_t *)b->p + b->len;
}

static inline void crdt_put_varint(struct dbuf *b, uint64_t v)
{
    uint8_t *o = crdt_put_room(b, WIRE_VARINT_MAX);
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    b->len += n;
}

static inline void crdt_put_u64(struct dbuf *b, uint64_t v)
{
    wire_store_le64(crdt_put_room(b, 8), v);
    b->len += 8;
}

static inline void crdt_put_u8(struct dbuf *b, uint8_t v)
{
    *crdt_put_room(b, 1) = v;
    b->len++;
}

static inline void crdt_put_bytes(struct dbuf *b, const void *p, size_t n)
{
    if (n) {
        memcpy(crdt_put_room(b, n), p, n);
        b->len += n;
    }
}

/* sign byte | varint mantissa | zigzag exponent; zero is mantissa 0,
 * exponent 0 (the sign byte keeps -0). */
static inline void crdt_put_ld(struct dbuf *b, long double v)
{
    int e = 0;
    long double m = frexpl(v, &e);
    crdt_put_u8(b, signbit(v) ? 1 : 0);
    if (m == 0) {
        crdt_put_varint(b, 0);
        crdt_put_varint(b, 0);
        return;
    }
    uint64_t mant = (uint64_t)ldexpl(fabsl(m), 64);
    crdt_put_varint(b, mant);
    crdt_put_varint(b, crdt_zigzag(e));
}

static inline long double crdt_rd_ld(struct crdt_rd *r)
{
    uint8_t sign = crdt_rd_u8(r);
    uint64_t mant = crdt_rd_varint(r);
    int64_t e = crdt_unzigzag(crdt_rd_varint(r));
    if (r->err)
        return 0;
    if (sign > 1 || (mant == 0 && e != 0) ||
        (mant != 0 && !(mant >> 63)) ||
        e < LDBL_MIN_EXP - LDBL_MANT_DIG || e > LDBL_MAX_EXP) {
        r->err = DYN_EINVAL;
        return 0;
    }
    long double v = mant ? ldexpl((long double)mant, (int)(e - 64)) : 0.0L;
    return sign ? -v : v;
}

/* Bytes in canonical member order: memcmp of the common prefix, then the
 * shorter first. */
static inline int crdt_bytes_cmp(const uint8_t *a, size_t alen,
                                 const uint8_t *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : (alen > blen);
}

static inline int crdt_dot_cmp_raw(uint64_t aa, uint64_t ac, uint64_t ba,
                                   uint64_t bc)
{
    if (aa != ba)
        return aa < ba ? -1 : 1;
    if (ac != bc)
        return ac < bc ? -1 : 1;
    return 0;
}

#endif
