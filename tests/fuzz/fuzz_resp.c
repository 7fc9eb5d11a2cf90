/*
 * fuzz_resp.c -- libFuzzer target for the RESP request parser.
 *
 * The input drives a parser the way a connection does: bytes arrive in
 * chunks, are appended to a query buffer, commands are taken with
 * resp_parse/resp_next, and consumed bytes are dropped with resp_shift.
 *
 *   byte 0   bit 0: unauthenticated limits
 *            bit 1: tiny limits (max_inline 48, max_bulk 40) to reach the
 *                   "too big" paths with short inputs
 *            bits 2-4: chunking mode (whole, 1 byte, random sizes ...)
 *            bit 5: drop consumed bytes only when the buffer is large
 *   byte 1   seed for the chunk sizes
 *   rest     the byte stream
 *
 * Invariants checked (abort() on violation):
 *   - spans lie in [cmd_start, pos), pos <= buffer length, argc >= 1;
 *   - multibulk spans are in order and do not overlap;
 *   - resp_want() is 0 or larger than what the buffer holds;
 *   - resp_next() makes everything up to pos consumable;
 *   - with the normal limits, any chunking gives the same commands and the
 *     same error as feeding the whole input at once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/buf.h"
#include "server/resp.h"
#include "server/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(e) do { if (!(e)) abort(); } while (0)

struct outcome {
    uint64_t hash;      /* over every command's arguments */
    size_t ncmd;
    int error;
    char err[64];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ULL;
    return h;
}

static size_t next_chunk(uint32_t *rng, int mode, size_t left)
{
    size_t n;
    *rng = *rng * 1103515245u + 12345u;
    uint32_t r = *rng >> 8;
    switch (mode) {
    case 0: n = left; break;
    case 1: n = 1; break;
    case 2: n = 1 + r % 4; break;
    case 3: n = 1 + r % 17; break;
    case 4: n = 1 + r % 128; break;
    case 5: n = (r & 1) ? 1 : 1 + r % 64; break;
    default: n = 1 + r % 1024; break;
    }
    return n < left ? n : left;
}

static void run(const uint8_t *in, size_t n, const struct resp_limits *lim,
                int mode, uint32_t seed, int lazy_drop, struct outcome *out)
{
    struct resp_parser p;
    struct dbuf q;
    size_t at = 0;
    uint32_t rng = seed;
    resp_init(&p);
    dbuf_init(&q);
    memset(out, 0, sizeof(*out));
    out->hash = 1469598103934665603ULL;
    while (at < n) {
        size_t c = next_chunk(&rng, mode, n - at);
        dbuf_append(&q, in + at, c);
        at += c;
        for (;;) {
            int r = resp_parse(&p, q.p, q.len, lim);
            CHECK(p.cmd_start <= p.pos && p.pos <= q.len);
            if (r == RESP_NEED_MORE) {
                size_t want = resp_want(&p);
                CHECK(want == 0 || p.cmd_start + want > q.len);
                CHECK(want == 0 || want > p.pos - p.cmd_start);
                break;
            }
            if (r == RESP_ERROR) {
                CHECK(resp_error(&p)[0] != '\0');
                CHECK(resp_parse(&p, q.p, q.len, lim) == RESP_ERROR);
                out->error = 1;
                strncpy(out->err, resp_error(&p), sizeof(out->err) - 1);
                goto done;
            }
            CHECK(r == RESP_COMMAND);
            CHECK(p.argc >= 1);
            size_t prev_end = p.cmd_start;
            for (size_t i = 0; i < p.argc; i++) {
                struct resp_span s = p.args[i];
                CHECK(s.off >= p.cmd_start);
                CHECK(s.len <= p.pos && s.off <= p.pos - s.len);
                if (!p.is_inline) {
                    CHECK(s.off >= prev_end);
                    prev_end = s.off + s.len;
                }
                out->hash = mix(out->hash, &s.len, sizeof(s.len));
                out->hash = mix(out->hash, q.p + s.off, s.len);
            }
            out->ncmd++;
            CHECK(resp_parse(&p, q.p, q.len, lim) == RESP_COMMAND);
            resp_next(&p);
            CHECK(resp_consumed(&p) == p.pos);
            CHECK(p.argc == 0);
        }
        size_t k = resp_consumed(&p);
        CHECK(k <= p.pos);
        if (!lazy_drop || k > 256) {
            dbuf_consume(&q, k);
            resp_shift(&p, k);
            CHECK(resp_consumed(&p) == 0);
        }
    }
done:
    resp_free(&p);
    dbuf_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data[0];
    uint32_t seed = data[1];
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    struct resp_limits lim = {
        .max_bulk = 512LL * 1024 * 1024,
        .max_inline = 64 * 1024,
        .unauthenticated = flags & 1,
        .unauth_max_args = 10,
        .unauth_max_bulk = 16384,
    };
    int tiny = (flags >> 1) & 1;
    if (tiny) {
        lim.max_inline = 48;
        lim.max_bulk = 40;
        lim.unauth_max_args = 3;
        lim.unauth_max_bulk = 20;
    }
    int mode = (flags >> 2) & 7;
    int lazy = (flags >> 5) & 1;

    struct outcome chunked, whole;
    run(in, n, &lim, mode, seed, lazy, &chunked);
    if (!tiny && n < lim.max_inline) {
        run(in, n, &lim, 0, 0, 0, &whole);
        CHECK(chunked.ncmd == whole.ncmd);
        CHECK(chunked.hash == whole.hash);
        CHECK(chunked.error == whole.error);
        CHECK(!whole.error || strcmp(chunked.err, whole.err) == 0);
    }
    return 0;
}
