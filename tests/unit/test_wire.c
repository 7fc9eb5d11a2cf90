/*
 * test_wire.c -- the byte codecs: LEB128 varints at their edges, what each
 * decoder refuses, and the little-endian helpers' byte order.
 *
 * The expected bytes are written out by hand, so a change of format fails
 * here before it fails in vclock, object, gossip or ring.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/util.h"
#include "server/wire.h"

/* Encodes v, checks the bytes, and checks that both decoders give v back
 * from exactly those bytes. */
static void round_trip(uint64_t v, const uint8_t *want, size_t wlen)
{
    uint8_t b[WIRE_VARINT_MAX + 4];
    memset(b, 0xee, sizeof(b));
    ck_assert_uint_eq(wire_varint_size(v), wlen);
    ck_assert_uint_eq(wire_varint_put(b, v), wlen);
    ck_assert_mem_eq(b, want, wlen);
    ck_assert_uint_eq(b[wlen], 0xee); /* nothing written past the end */

    uint64_t got = 0;
    size_t used = 0;
    ck_assert_int_eq(wire_varint_get(b, wlen, &got, &used), 0);
    ck_assert_uint_eq(got, v);
    ck_assert_uint_eq(used, wlen);
    got = 0;
    used = 0;
    ck_assert_int_eq(wire_varint_get_canonical(b, wlen, &got, &used), 0);
    ck_assert_uint_eq(got, v);
    ck_assert_uint_eq(used, wlen);
    /* trailing bytes are not read */
    ck_assert_int_eq(wire_varint_get(b, sizeof(b), &got, &used), 0);
    ck_assert_uint_eq(used, wlen);
}

/* Both decoders refuse in[0..len), and leave the outputs untouched. */
static void refused_by_both(const uint8_t *in, size_t len)
{
    uint64_t v = 42;
    size_t used = 7;
    ck_assert_int_eq(wire_varint_get(in, len, &v, &used), DYN_EINVAL);
    ck_assert_int_eq(wire_varint_get_canonical(in, len, &v, &used),
                     DYN_EINVAL);
    ck_assert_uint_eq(v, 42);
    ck_assert_uint_eq(used, 7);
}

START_TEST(varint_edges_encode_and_decode)
{
    round_trip(0, (const uint8_t[]){0x00}, 1);
    round_trip(1, (const uint8_t[]){0x01}, 1);
    round_trip(127, (const uint8_t[]){0x7f}, 1);
    round_trip(128, (const uint8_t[]){0x80, 0x01}, 2);
    round_trip(300, (const uint8_t[]){0xac, 0x02}, 2);
    round_trip(16383, (const uint8_t[]){0xff, 0x7f}, 2);
    round_trip(16384, (const uint8_t[]){0x80, 0x80, 0x01}, 3);
    round_trip(1ULL << 63,
               (const uint8_t[]){0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x80, 0x01},
               10);
    round_trip(UINT64_MAX,
               (const uint8_t[]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                 0xff, 0xff, 0x01},
               10);
    ck_assert_uint_eq(wire_varint_size((1ULL << 63) - 1), 9);
}
END_TEST

START_TEST(varint_truncated_input_is_refused)
{
    const uint8_t two[] = {0x80, 0x01};
    refused_by_both(two, 0);   /* nothing at all */
    refused_by_both(two, 1);   /* a continuation byte, then the end */
    const uint8_t max[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0x01};
    for (size_t len = 0; len < sizeof(max); len++)
        refused_by_both(max, len);
}
END_TEST

START_TEST(varint_too_long_or_too_big_is_refused)
{
    /* 11 bytes: the 10th has its continuation bit set */
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                              0x80, 0x80, 0x80, 0x80, 0x00};
    refused_by_both(eleven, sizeof(eleven));
    /* 10 bytes whose last is 2: 2^64, one past UINT64_MAX */
    const uint8_t past[] = {0x80, 0x80, 0x80, 0x80, 0x80,
                            0x80, 0x80, 0x80, 0x80, 0x02};
    refused_by_both(past, sizeof(past));
    /* 10 bytes whose last is 0x7f: far past (the old ring decoder kept
     * the low bit and dropped the rest) */
    const uint8_t far[] = {0xff, 0xff, 0xff, 0xff, 0xff,
                           0xff, 0xff, 0xff, 0xff, 0x7f};
    refused_by_both(far, sizeof(far));
}
END_TEST

/* gossip and ring always decoded padded varints; vclock and object never
 * did (their bytes are unique).  Both stay as they were. */
START_TEST(non_shortest_forms_only_in_the_lenient_decoder)
{
    const struct {
        uint8_t b[WIRE_VARINT_MAX];
        size_t len;
        uint64_t v;
    } padded[] = {
        {{0x80, 0x00}, 2, 0},
        {{0x81, 0x80, 0x00}, 3, 1},
        {{0xff, 0x80, 0x00}, 3, 127},
        {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 10, 0},
    };
    for (size_t i = 0; i < sizeof(padded) / sizeof(padded[0]); i++) {
        uint64_t v = 42;
        size_t used = 0;
        ck_assert_int_eq(wire_varint_get(padded[i].b, padded[i].len, &v,
                                         &used), 0);
        ck_assert_uint_eq(v, padded[i].v);
        ck_assert_uint_eq(used, padded[i].len);
        v = 42;
        used = 7;
        ck_assert_int_eq(wire_varint_get_canonical(padded[i].b,
                                                   padded[i].len, &v, &used),
                         DYN_EINVAL);
        ck_assert_uint_eq(v, 42);
        ck_assert_uint_eq(used, 7);
    }
}
END_TEST

START_TEST(little_endian_byte_order)
{
    uint8_t b[8];
    wire_store_le16(b, 0x0102);
    ck_assert_mem_eq(b, ((const uint8_t[]){0x02, 0x01}), 2);
    ck_assert_uint_eq(wire_load_le16(b), 0x0102);

    wire_store_le32(b, 0x01020304u);
    ck_assert_mem_eq(b, ((const uint8_t[]){0x04, 0x03, 0x02, 0x01}), 4);
    ck_assert_uint_eq(wire_load_le32(b), 0x01020304u);

    wire_store_le64(b, 0x0102030405060708ULL);
    ck_assert_mem_eq(b, ((const uint8_t[]){0x08, 0x07, 0x06, 0x05, 0x04,
                                           0x03, 0x02, 0x01}),
                     8);
    ck_assert_uint_eq(wire_load_le64(b), 0x0102030405060708ULL);

    /* the top bit of each width survives (no sign extension) */
    wire_store_le16(b, 0xffff);
    ck_assert_uint_eq(wire_load_le16(b), 0xffff);
    wire_store_le32(b, 0xffffffffu);
    ck_assert_uint_eq(wire_load_le32(b), 0xffffffffu);
    wire_store_le64(b, UINT64_MAX);
    ck_assert_uint_eq(wire_load_le64(b), UINT64_MAX);
    wire_store_le64(b, 1ULL << 63);
    ck_assert_uint_eq(wire_load_le64(b), 1ULL << 63);
    ck_assert_uint_eq(b[7], 0x80);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, varint_edges_encode_and_decode);
    tcase_add_test(tc, varint_truncated_input_is_refused);
    tcase_add_test(tc, varint_too_long_or_too_big_is_refused);
    tcase_add_test(tc, non_shortest_forms_only_in_the_lenient_decoder);
    tcase_add_test(tc, little_endian_byte_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
