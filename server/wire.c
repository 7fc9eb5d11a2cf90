/*
 * wire.c -- LEB128 varints; the format, what a decode refuses and why there
 * are two decoders are in wire.h.  The little-endian helpers are inline in
 * the header.
 *
 * Pure and reentrant.  Errors: the decoders return DYN_EINVAL and leave
 * *v and *used untouched.
 */
#include "server/wire.h"

#include "server/util.h"

size_t wire_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t wire_varint_put(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static int varint_get(const uint8_t *in, size_t len, int canonical,
                      uint64_t *v, size_t *used)
{
    uint64_t r = 0;
    size_t max = len < WIRE_VARINT_MAX ? len : WIRE_VARINT_MAX;
    for (size_t i = 0; i < max; i++) {
        uint8_t b = in[i];
        /* the 10th byte holds bit 63 only: above 1 it overflows, or it has
         * a continuation bit and an 11th byte would follow */
        if (i == WIRE_VARINT_MAX - 1 && b > 1)
            return DYN_EINVAL;
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (canonical && b == 0 && i > 0)
                return DYN_EINVAL; /* a shorter form exists */
            *v = r;
            *used = i + 1;
            return 0;
        }
    }
    return DYN_EINVAL; /* the input ended before the last byte */
}

int wire_varint_get(const uint8_t *in, size_t len, uint64_t *v, size_t *used)
{
    return varint_get(in, len, 0, v, used);
}

int wire_varint_get_canonical(const uint8_t *in, size_t len, uint64_t *v,
                              size_t *used)
{
    return varint_get(in, len, 1, v, used);
}
