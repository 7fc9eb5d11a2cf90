/*
 * ring.c -- the partition table and its claim function.  See ring.h for the
 * rules; this file keeps two invariants on every path:
 *
 *   1. names[] is sorted and unique, and owner[] indexes into it;
 *   2. after ring_add/ring_remove every node owns floor(Q/S) or ceil(Q/S)
 *      partitions, provided it held before the change.
 *
 * The neighbour preference (avoid owning p-(N-1)..p+(N-1) twice) keeps the
 * N replicas of a partition on distinct nodes without having to walk far,
 * which is what makes a preference list short and failure-independent.
 */
#include "cluster/ring.h"

#include <stdlib.h>
#include <string.h>
#include "server/util.h"
#include "server/wire.h"

static uint32_t log2u(uint32_t q)
{
    uint32_t b = 0;
    while ((1u << b) < q)
        b++;
    return b;
}

int ring_init(struct ring *r, uint32_t q)
{
    memset(r, 0, sizeof(*r));
    if (q == 0 || q > RING_MAX_PARTITIONS || (q & (q - 1)) != 0)
        return DYN_EINVAL;
    r->q = q;
    r->bits = log2u(q);
    r->owner = dyn_calloc(q, sizeof(uint16_t));
    return 0;
}

void ring_free(struct ring *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nnodes; i++)
        dyn_free(r->names[i]);
    dyn_free(r->names);
    dyn_free(r->owner);
    memset(r, 0, sizeof(*r));
}

void ring_copy(struct ring *dst, const struct ring *src)
{
    ring_init(dst, src->q);
    dst->epoch = src->epoch;
    dst->nnodes = src->nnodes;
    dst->names = dyn_calloc(src->nnodes ? src->nnodes : 1, sizeof(char *));
    for (uint32_t i = 0; i < src->nnodes; i++)
        dst->names[i] = dyn_strdup(src->names[i]);
    memcpy(dst->owner, src->owner, src->q * sizeof(uint16_t));
}

int ring_node_index(const struct ring *r, const char *name)
{
    uint32_t lo = 0, hi = r->nnodes;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = strcmp(r->names[mid], name);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

uint32_t ring_owned_count(const struct ring *r, uint32_t i)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < r->q; p++)
        n += r->owner[p] == i;
    return n;
}

static void counts(const struct ring *r, uint32_t *cnt)
{
    memset(cnt, 0, r->nnodes * sizeof(uint32_t));
    for (uint32_t p = 0; p < r->q; p++)
        cnt[r->owner[p]]++;
}

/* 1 when node owns a partition within dist positions of p (p excluded). */
static int owns_near(const struct ring *r, uint32_t node, uint32_t p,
                     uint32_t dist)
{
    for (uint32_t d = 1; d <= dist && d < r->q; d++) {
        if (r->owner[(p + d) & (r->q - 1)] == node)
            return 1;
        if (r->owner[(p - d) & (r->q - 1)] == node)
            return 1;
    }
    return 0;
}

int ring_add(struct ring *r, const char *name, uint32_t nval)
{
    if (ring_node_index(r, name) >= 0)
        return DYN_EEXIST;
    if (r->nnodes >= RING_MAX_NODES)
        return DYN_ELIMIT;
    /* insert in sorted position and renumber owners */
    uint32_t pos = 0;
    while (pos < r->nnodes && strcmp(r->names[pos], name) < 0)
        pos++;
    r->names = dyn_realloc(r->names, (r->nnodes + 1) * sizeof(char *));
    memmove(&r->names[pos + 1], &r->names[pos],
            (r->nnodes - pos) * sizeof(char *));
    r->names[pos] = dyn_strdup(name);
    for (uint32_t p = 0; p < r->q; p++)
        if (r->owner[p] >= pos && r->nnodes > 0)
            r->owner[p]++;
    r->nnodes++;
    r->epoch++;
    if (r->nnodes == 1) {
        for (uint32_t p = 0; p < r->q; p++)
            r->owner[p] = (uint16_t)pos;
        return 0;
    }
    uint32_t want = r->q / r->nnodes;
    uint32_t *cnt = dyn_calloc(r->nnodes, sizeof(uint32_t));
    counts(r, cnt);
    uint32_t dist = nval > 1 ? nval - 1 : 0;
    for (uint32_t k = 0; k < want; k++) {
        uint32_t donor = UINT32_MAX;
        for (uint32_t i = 0; i < r->nnodes; i++)
            if (i != pos && (donor == UINT32_MAX || cnt[i] > cnt[donor]))
                donor = i;
        uint32_t pick = UINT32_MAX, fallback = UINT32_MAX;
        for (uint32_t p = 0; p < r->q; p++) {
            if (r->owner[p] != donor)
                continue;
            if (fallback == UINT32_MAX)
                fallback = p;
            if (!owns_near(r, pos, p, dist)) {
                pick = p;
                break;
            }
        }
        if (pick == UINT32_MAX)
            pick = fallback;
        r->owner[pick] = (uint16_t)pos;
        cnt[donor]--;
        cnt[pos]++;
    }
    dyn_free(cnt);
    return 0;
}

int ring_remove(struct ring *r, const char *name, uint32_t nval)
{
    int idx = ring_node_index(r, name);
    if (idx < 0)
        return DYN_ENOTFOUND;
    uint32_t gone = (uint32_t)idx;
    r->epoch++;
    if (r->nnodes > 1) {
        uint32_t *cnt = dyn_calloc(r->nnodes, sizeof(uint32_t));
        counts(r, cnt);
        uint32_t dist = nval > 1 ? nval - 1 : 0;
        for (uint32_t p = 0; p < r->q; p++) {
            if (r->owner[p] != gone)
                continue;
            uint32_t best = UINT32_MAX, best_any = UINT32_MAX;
            for (uint32_t i = 0; i < r->nnodes; i++) {
                if (i == gone)
                    continue;
                if (best_any == UINT32_MAX || cnt[i] < cnt[best_any])
                    best_any = i;
                if (!owns_near(r, i, p, dist) &&
                    (best == UINT32_MAX || cnt[i] < cnt[best]))
                    best = i;
            }
            /* Balance first: take the neighbour-free node only if it is as
             * lightly loaded as the lightest one. */
            if (best == UINT32_MAX || cnt[best] > cnt[best_any])
                best = best_any;
            r->owner[p] = (uint16_t)best;
            cnt[best]++;
        }
        dyn_free(cnt);
    }
    dyn_free(r->names[gone]);
    memmove(&r->names[gone], &r->names[gone + 1],
            (r->nnodes - gone - 1) * sizeof(char *));
    r->nnodes--;
    for (uint32_t p = 0; p < r->q; p++) {
        if (r->nnodes == 0)
            r->owner[p] = 0;
        else if (r->owner[p] > gone)
            r->owner[p]--;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ring_build(struct ring *r, uint32_t q, const char *const *names,
               size_t n, uint32_t nval)
{
    (void)nval;
    int rc = ring_init(r, q);
    if (rc)
        return rc;
    if (n > RING_MAX_NODES) {
        ring_free(r);
        return DYN_ELIMIT;
    }
    r->names = dyn_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r->names[i] = dyn_strdup(names[i]);
    qsort(r->names, n, sizeof(char *), cmp_names);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(r->names[i - 1], r->names[i]) == 0) {
            r->nnodes = (uint32_t)n;
            ring_free(r);
            return DYN_EEXIST;
        }
    }
    r->nnodes = (uint32_t)n;
    /* A fresh cluster stripes the nodes round the ring: perfectly balanced,
     * and any N consecutive partitions have N distinct owners (but at the
     * wrap-around when S does not divide Q). */
    for (uint32_t p = 0; p < q && n > 0; p++)
        r->owner[p] = (uint16_t)(p % n);
    r->epoch = 1;
    return 0;
}

uint32_t ring_partition_of_hash(const struct ring *r, uint64_t hash)
{
    return r->bits == 0 ? 0 : (uint32_t)(hash >> (64 - r->bits));
}

uint32_t ring_partition_of(const struct ring *r, const void *key, size_t klen)
{
    return ring_partition_of_hash(r, dyn_hash64(key, klen));
}

uint64_t ring_partition_start(const struct ring *r, uint32_t p)
{
    return r->bits == 0 ? 0 : (uint64_t)p << (64 - r->bits);
}

uint32_t ring_preflist(const struct ring *r, uint32_t p, uint16_t *out,
                       uint32_t max)
{
    uint32_t n = 0;
    if (r->nnodes == 0 || max == 0)
        return 0;
    if (max > r->nnodes)
        max = r->nnodes;
    for (uint32_t k = 0; k < r->q && n < max; k++) {
        uint16_t o = r->owner[(p + k) & (r->q - 1)];
        uint32_t j;
        for (j = 0; j < n; j++)
            if (out[j] == o)
                break;
        if (j == n)
            out[n++] = o;
    }
    /* Nodes that own no partition at all (possible only when S > Q) come
     * last, in name order, so the list still names every node. */
    for (uint32_t i = 0; i < r->nnodes && n < max; i++) {
        uint32_t j;
        for (j = 0; j < n; j++)
            if (out[j] == i)
                break;
        if (j == n)
            out[n++] = (uint16_t)i;
    }
    return n;
}

uint32_t ring_diff(const struct ring *a, const struct ring *b,
                   struct ring_move *moves, uint32_t max)
{
    uint32_t n = 0;
    if (a->q != b->q)
        return 0;
    for (uint32_t p = 0; p < a->q; p++) {
        const char *fa = a->nnodes ? a->names[a->owner[p]] : NULL;
        const char *fb = b->nnodes ? b->names[b->owner[p]] : NULL;
        if (fa && fb && strcmp(fa, fb) == 0)
            continue;
        if (!fa && !fb)
            continue;
        if (n < max) {
            moves[n].partition = p;
            moves[n].from = fa;
            moves[n].to = fb;
        }
        n++;
    }
    return n;
}

/* ---- encoding --------------------------------------------------------- */

static void put_varint(struct dbuf *b, uint64_t v)
{
    uint8_t tmp[WIRE_VARINT_MAX];
    dbuf_append(b, tmp, wire_varint_put(tmp, v));
}

/* Non-shortest forms decode, as they always have here; a value past
 * 2^64-1 no longer does (wire.h). */
static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    size_t used;
    if (wire_varint_get(*p, (size_t)(end - *p), out, &used))
        return DYN_EINVAL;
    *p += used;
    return 0;
}

void ring_encode(const struct ring *r, struct dbuf *out)
{
    put_varint(out, r->q);
    put_varint(out, r->epoch);
    put_varint(out, r->nnodes);
    for (uint32_t i = 0; i < r->nnodes; i++) {
        size_t l = strlen(r->names[i]);
        put_varint(out, l);
        dbuf_append(out, r->names[i], l);
    }
    for (uint32_t p = 0; p < r->q; p++) {
        dbuf_appendc(out, (char)(r->owner[p] & 0xff));
        dbuf_appendc(out, (char)(r->owner[p] >> 8));
    }
}

int ring_decode(struct ring *r, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t q, epoch, nn;
    memset(r, 0, sizeof(*r));
    if (get_varint(&p, end, &q) || get_varint(&p, end, &epoch) ||
        get_varint(&p, end, &nn))
        return DYN_EINVAL;
    if (q > RING_MAX_PARTITIONS || nn > RING_MAX_NODES)
        return DYN_EINVAL;
    if (ring_init(r, (uint32_t)q))
        return DYN_EINVAL;
    r->epoch = epoch;
    r->names = dyn_calloc(nn ? nn : 1, sizeof(char *));
    for (uint64_t i = 0; i < nn; i++) {
        uint64_t l;
        if (get_varint(&p, end, &l) || l == 0 || l > 255 ||
            (uint64_t)(end - p) < l || memchr(p, 0, l))
            goto bad;
        r->names[i] = dyn_malloc(l + 1);
        memcpy(r->names[i], p, l);
        r->names[i][l] = 0;
        r->nnodes = (uint32_t)i + 1;
        p += l;
        if (i > 0 && strcmp(r->names[i - 1], r->names[i]) >= 0)
            goto bad;
    }
    if ((uint64_t)(end - p) != q * 2)
        goto bad;
    for (uint32_t i = 0; i < q; i++) {
        uint16_t o = (uint16_t)(p[2 * i] | (p[2 * i + 1] << 8));
        if (nn ? o >= nn : o != 0)
            goto bad;
        r->owner[i] = o;
    }
    return 0;
bad:
    ring_free(r);
    return DYN_EINVAL;
}
