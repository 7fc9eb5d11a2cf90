/*
 * test_delta.c -- cluster/delta.c: an edit always rebuilds exactly its
 * target from exactly its base; a small change makes a small edit; any
 * other base, a cut or changed edit, or a target past the limit is
 * refused without harm.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/delta.h"
#include "server/buf.h"
#include "server/util.h"

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* len random bytes from an alphabet of k symbols (k small: repetitive). */
static void fill(uint8_t *p, size_t len, unsigned k)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(next() % k);
}

/* delta_make with the digests computed here. */
static int make(const uint8_t *base, size_t blen, const uint8_t *t,
                size_t tlen, size_t max, struct dbuf *out)
{
    return delta_make(base, blen, dyn_hash64(base, blen), t, tlen,
                      dyn_hash64(t, tlen), max, out);
}

/* Applies d to base and checks the result is target. */
static void roundtrip(const uint8_t *base, size_t blen, const uint8_t *t,
                      size_t tlen, const struct dbuf *d)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    ck_assert_int_eq(delta_apply(base, blen, d->p, d->len, SIZE_MAX, &out,
                                 &olen), 0);
    ck_assert_uint_eq(olen, tlen);
    ck_assert(tlen == 0 || memcmp(out, t, tlen) == 0);
    dyn_free(out);
}

START_TEST(equal_texts_make_a_header_only)
{
    uint8_t a[1000];
    fill(a, sizeof(a), 256);
    struct dbuf d;
    dbuf_init(&d);
    ck_assert_int_eq(make(a, sizeof(a), a, sizeof(a), 1000, &d), 0);
    ck_assert_uint_le(d.len, DELTA_HEADER + 2);
    roundtrip(a, sizeof(a), a, sizeof(a), &d);
    uint64_t bd, td;
    ck_assert_int_eq(delta_digests(d.p, d.len, &bd, &td), 0);
    ck_assert_uint_eq(bd, dyn_hash64(a, sizeof(a)));
    ck_assert_uint_eq(td, bd);
    dbuf_free(&d);
}
END_TEST

START_TEST(empty_base_or_target)
{
    uint8_t a[300];
    fill(a, sizeof(a), 256);
    struct dbuf d;
    dbuf_init(&d);
    ck_assert_int_eq(make(a, 0, a, sizeof(a), SIZE_MAX, &d), 0);
    roundtrip(a, 0, a, sizeof(a), &d);
    dbuf_reset(&d);
    ck_assert_int_eq(make(a, sizeof(a), a, 0, SIZE_MAX, &d), 0);
    ck_assert_uint_le(d.len, DELTA_HEADER + 8);
    roundtrip(a, sizeof(a), a, 0, &d);
    dbuf_free(&d);
}
END_TEST

/* target = base with nedits random edits (insert, delete, replace) of at
 * most maxlen bytes each; returns target's length and the bytes the edits
 * inserted. */
static size_t edit(const uint8_t *base, size_t blen, uint8_t *t, int nedits,
                   size_t maxlen, unsigned k, size_t *inserted)
{
    memcpy(t, base, blen);
    size_t tlen = blen;
    *inserted = 0;
    for (int e = 0; e < nedits; e++) {
        size_t at = tlen ? (size_t)(next() % (tlen + 1)) : 0;
        size_t len = 1 + (size_t)(next() % maxlen);
        switch (next() % 3) {
        case 0: /* insert */
            memmove(t + at + len, t + at, tlen - at);
            fill(t + at, len, k);
            tlen += len;
            *inserted += len;
            break;
        case 1: /* delete */
            len = DYN_MIN(len, tlen - at);
            memmove(t + at, t + at + len, tlen - at - len);
            tlen -= len;
            break;
        default: /* replace */
            len = DYN_MIN(len, tlen - at);
            fill(t + at, len, k);
            *inserted += len;
            break;
        }
    }
    return tlen;
}

START_TEST(random_edits_rebuild_the_target_exactly)
{
    enum { MAXB = 20000, MAXE = 8, MAXL = 600 };
    uint8_t *base = dyn_malloc(MAXB), *t = dyn_malloc(MAXB + MAXE * MAXL);
    struct dbuf d;
    dbuf_init(&d);
    for (int round = 0; round < 3000; round++) {
        unsigned k = round % 3 == 0 ? 2 : round % 3 == 1 ? 7 : 256;
        size_t blen = (size_t)(next() % MAXB);
        fill(base, blen, k);
        size_t ins;
        size_t tlen = edit(base, blen, t, 1 + (int)(next() % MAXE),
                           1 + (size_t)(next() % MAXL), k, &ins);
        dbuf_reset(&d);
        ck_assert_int_eq(make(base, blen, t, tlen, SIZE_MAX, &d), 0);
        roundtrip(base, blen, t, tlen, &d);
    }
    dbuf_free(&d);
    dyn_free(base);
    dyn_free(t);
}
END_TEST

/* The point of it: in bytes that do not repeat (as encodings with dots
 * and lengths mostly do not), a few small edits make an edit about as big
 * as what they inserted, however long the text. */
START_TEST(small_edits_make_small_deltas)
{
    enum { B = 200000 };
    uint8_t *base = dyn_malloc(B), *t = dyn_malloc(B + 1000);
    struct dbuf d;
    dbuf_init(&d);
    for (int round = 0; round < 600; round++) {
        fill(base, B, 256);
        int nedits = 1 + (int)(next() % 4);
        size_t ins;
        size_t tlen = edit(base, B, t, nedits, 24, 256, &ins);
        dbuf_reset(&d);
        ck_assert_int_eq(make(base, B, t, tlen, SIZE_MAX, &d), 0);
        roundtrip(base, B, t, tlen, &d);
        /* each edit: three varints, and at most DELTA_SYNC-1 equal bytes
         * folded into its insert when two edits fall close together */
        ck_assert_uint_le(d.len, DELTA_HEADER + 3 + ins +
                                     (size_t)nedits * (3 * 3 + 8 + 24));
    }
    dbuf_free(&d);
    dyn_free(base);
    dyn_free(t);
}
END_TEST

/* A record like a list element of redis-benchmark's LPUSH: a position,
 * an actor id and a counter, a length and the same value every time. */
static size_t record(uint8_t *p, uint32_t n)
{
    static const uint8_t actor[8] = {0xd7, 0x33, 0xa2, 0x6d,
                                     0xd4, 0x83, 0x04, 0xf7};
    size_t k = 0;
    uint32_t pos = 0x80000000u - n * 4096u;
    memcpy(p + k, &pos, 4);
    k += 4;
    memcpy(p + k, actor, 8);
    k += 8;
    memcpy(p + k, &n, 4);
    k += 4;
    p[k++] = 3;
    memcpy(p + k, "xxx", 3);
    return k + 3;
}

START_TEST(many_near_equal_records_inserted_make_a_small_delta)
{
    /* 50 records pushed at once in front of 5,000 like them (and a count
     * in the header changed): one insert, not a chain of short syncs on
     * the wrong diagonals */
    enum { OLD = 5000, NEW = 50 };
    uint8_t *base = dyn_malloc(16 + 24 * OLD),
            *t = dyn_malloc(16 + 24 * (OLD + NEW));
    size_t blen = 0, tlen = 0;
    memset(base, 0x11, 16);
    memset(t, 0x11, 16);
    memcpy(base + 4, &(uint32_t){OLD}, 4);
    memcpy(t + 4, &(uint32_t){OLD + NEW}, 4);
    blen = tlen = 16;
    for (uint32_t n = OLD + NEW; n > OLD; n--)
        tlen += record(t + tlen, n);
    size_t ins = tlen - 16;
    for (uint32_t n = OLD; n > 0; n--) {
        blen += record(base + blen, n);
        tlen += record(t + tlen, n);
    }
    struct dbuf d;
    dbuf_init(&d);
    ck_assert_int_eq(make(base, blen, t, tlen, SIZE_MAX, &d), 0);
    roundtrip(base, blen, t, tlen, &d);
    ck_assert_uint_le(d.len, DELTA_HEADER + 3 + ins + 64);
    dbuf_free(&d);
    dyn_free(base);
    dyn_free(t);
}
END_TEST

START_TEST(max_refuses_a_big_edit_and_leaves_out_alone)
{
    uint8_t a[4000], b[4000];
    fill(a, sizeof(a), 256);
    fill(b, sizeof(b), 256);
    struct dbuf d;
    dbuf_init(&d);
    dbuf_append(&d, "xy", 2);
    ck_assert_int_eq(make(a, sizeof(a), b, sizeof(b), 2000, &d),
                     DYN_ELIMIT);
    ck_assert_uint_eq(d.len, 2);
    ck_assert_int_eq(make(a, sizeof(a), b, sizeof(b), 5000, &d), 0);
    ck_assert_uint_gt(d.len, 4000);
    dbuf_free(&d);
}
END_TEST

START_TEST(another_base_is_refused)
{
    uint8_t a[2000], b[2000], c[2000];
    fill(a, sizeof(a), 256);
    memcpy(b, a, sizeof(a));
    b[700] ^= 1;
    memcpy(c, a, sizeof(a));
    c[10] ^= 0x40; /* a replica whose copy differs by one bit */
    struct dbuf d;
    dbuf_init(&d);
    ck_assert_int_eq(make(a, sizeof(a), b, sizeof(b), SIZE_MAX, &d),
                     0);
    uint8_t *out = (uint8_t *)"untouched";
    size_t olen = 7;
    ck_assert_int_eq(delta_apply(c, sizeof(c), d.p, d.len, SIZE_MAX, &out,
                                 &olen), DYN_ENOTFOUND);
    ck_assert_uint_eq(olen, 7);
    ck_assert_int_eq(delta_apply(a, sizeof(a) - 1, d.p, d.len, SIZE_MAX,
                                 &out, &olen), DYN_ENOTFOUND);
    ck_assert_int_eq(delta_apply(a, sizeof(a), d.p, d.len, sizeof(b) - 1,
                                 &out, &olen), DYN_ELIMIT);
    ck_assert_uint_eq(olen, 7);
    dbuf_free(&d);
}
END_TEST

/* Hostile or damaged bytes: every cut, and random changes of each byte,
 * give an error (or, when the change left the edit meaning the same, the
 * exact target: the digest checks it); nothing reads out of bounds (the
 * ASan build runs this). */
START_TEST(cut_or_changed_deltas_fail_cleanly)
{
    uint8_t a[3000], b[3200];
    fill(a, sizeof(a), 256);
    size_t ins;
    size_t blen = edit(a, sizeof(a), b, 5, 40, 256, &ins);
    struct dbuf d;
    dbuf_init(&d);
    ck_assert_int_eq(make(a, sizeof(a), b, blen, SIZE_MAX, &d), 0);
    uint8_t *out;
    size_t olen;
    for (size_t cut = 0; cut < d.len; cut++) {
        int rc = delta_apply(a, sizeof(a), d.p, cut, SIZE_MAX, &out, &olen);
        ck_assert_int_eq(rc, DYN_EINVAL);
    }
    uint8_t *m = dyn_malloc(d.len);
    for (int round = 0; round < 20000; round++) {
        memcpy(m, d.p, d.len);
        size_t at = DELTA_HEADER + (size_t)(next() % (d.len - DELTA_HEADER));
        m[at] = (uint8_t)next();
        int rc = delta_apply(a, sizeof(a), m, d.len, 1 << 20, &out, &olen);
        if (rc == 0) {
            ck_assert_uint_eq(olen, blen);
            ck_assert(memcmp(out, b, blen) == 0);
            dyn_free(out);
        } else {
            ck_assert(rc == DYN_EINVAL || rc == DYN_ELIMIT);
        }
    }
    /* a header of another format */
    memcpy(m, d.p, d.len);
    m[0] = 2;
    ck_assert_int_eq(delta_apply(a, sizeof(a), m, d.len, SIZE_MAX, &out,
                                 &olen), DYN_EINVAL);
    dyn_free(m);
    dbuf_free(&d);
}
END_TEST

static Suite *delta_suite(void)
{
    Suite *su = suite_create("delta");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, equal_texts_make_a_header_only);
    tcase_add_test(tc, empty_base_or_target);
    tcase_add_test(tc, random_edits_rebuild_the_target_exactly);
    tcase_add_test(tc, small_edits_make_small_deltas);
    tcase_add_test(tc, many_near_equal_records_inserted_make_a_small_delta);
    tcase_add_test(tc, max_refuses_a_big_edit_and_leaves_out_alone);
    tcase_add_test(tc, another_base_is_refused);
    tcase_add_test(tc, cut_or_changed_deltas_fail_cleanly);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(delta_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
