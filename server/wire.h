/*
 * wire.h -- the byte codecs every encoding here is made of: unsigned
 * LEB128 varints and fixed-width little-endian integers.
 *
 * Before this module the varint lived in four files (vclock, object,
 * gossip, ring) and the little-endian helpers in three (engine, seglog,
 * hints), each copy with its own idea of what a bad input is.  Now there
 * is one of each, and the formats they produce are unchanged.
 *
 * Varints.  7 bits per byte, least significant group first, the high bit
 * set on every byte but the last; a uint64_t takes 1 to WIRE_VARINT_MAX
 * (10) bytes.  Every decode is bounded by the length it is given and
 * returns DYN_EINVAL, never a partial value, when
 *   - the input ends before the last byte (truncated),
 *   - the value would need an 11th byte, or its 10th byte is above 1
 *     (past 2^64-1).
 * Two decoders, because the formats differ in what they accept:
 *   - wire_varint_get_canonical also refuses a non-shortest form (a last
 *     byte 0x00 after a continuation, e.g. 80 00 for 0).  vclock and object
 *     use it: their bytes are unique, so equal objects hash equal.
 *   - wire_varint_get accepts non-shortest forms, as gossip and the ring
 *     encoding always have (a peer that pads its varints still decodes).
 *     The old ring decoder also took a 10th byte above 1 and dropped the
 *     high bits; that is now an error, as it always was in gossip.
 *
 * Little-endian.  wire_store_le* / wire_load_le* write and read exactly 2,
 * 4 or 8 bytes at p.  They do not know the buffer's end: their callers
 * read fixed-size headers and check the header's length once before
 * reading its fields (seglog_parse, the engine's hint and undo records,
 * hints_key_decode).  A varint's length is not known in advance, which is
 * why its decoders take one.
 *
 * Pure: libc only (wire.c takes enum dyn_err from util.h, itself libc
 * only).  Reentrant; no state.
 */
#ifndef DYN_WIRE_H
#define DYN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VARINT_MAX 10

/* Bytes wire_varint_put writes for v: 1 to WIRE_VARINT_MAX. */
size_t wire_varint_size(uint64_t v);
/* Writes v's shortest form at out (room for wire_varint_size(v) bytes);
 * returns the bytes written. */
size_t wire_varint_put(uint8_t *out, uint64_t v);
/* Decodes one varint from in[0..len): 0 with *v and *used (bytes read), or
 * DYN_EINVAL (truncated, longer than 10 bytes, past 2^64-1).  Accepts
 * non-shortest forms. */
int wire_varint_get(const uint8_t *in, size_t len, uint64_t *v, size_t *used);
/* The same, and refuses a non-shortest form too. */
int wire_varint_get_canonical(const uint8_t *in, size_t len, uint64_t *v,
                              size_t *used);

static inline void wire_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void wire_store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void wire_store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t wire_load_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t wire_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t wire_load_le64(const uint8_t *p)
{
    return (uint64_t)wire_load_le32(p) | (uint64_t)wire_load_le32(p + 4) << 32;
}

#endif
