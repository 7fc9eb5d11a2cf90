/*
 * crdt.c -- the registry of typed values: what the object layer and db do
 * with a value whose type is a number in a sibling (docs/TYPES.md).
 *
 * Each type is one row of function pointers over its own state (decode,
 * encode, join, ...), adapted here from the type's own file, so that
 * object.c can join two siblings of a type and db.c can clear, compact
 * or describe one without knowing any type.  A type this node does not
 * know has no row: crdt_type_known() says no, and object.c refuses the
 * object before it keeps anything (docs/TYPES.md section 2).
 *
 * Pure; errors are those of the type's decoder (DYN_EINVAL, DYN_ELIMIT).
 */
#include "cluster/crdt.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cluster/crdt_int.h"
#include "server/util.h"

struct crdt_vt {
    int type;
    const char *name; /* Redis's TYPE reply */
    int (*decode)(const uint8_t *p, size_t len, const struct crdt_limits *lim,
                  void **out);
    void (*encode)(const void *s, struct dbuf *out);
    void (*free)(void *s);
    void *(*join)(const void *a, const void *b);
    int (*empty)(const void *s);
    void (*seen)(const void *s, struct vclock *out);
    int (*clear)(void *s, const struct crdt_dot *dot, uint64_t ts_ms,
                 const struct crdt_limits *lim);
    /* NULL: none; fold: crdt_set_compact, else crdt_set_compact_marks */
    int (*compact)(void *s, const struct vclock *stable, int fold);
    void (*describe)(const void *s, struct dbuf *out);
    void (*items)(const void *s, crdt_emit_fn emit, void *ctx);
};

/* ---- the counter ------------------------------------------------------------ */

static int vt_counter_decode(const uint8_t *p, size_t len,
                             const struct crdt_limits *lim, void **out)
{
    return crdt_counter_decode(p, len, lim, (struct crdt_counter **)out);
}

static void vt_counter_encode(const void *s, struct dbuf *out)
{
    crdt_counter_encode(s, out);
}

static void vt_counter_free(void *s)
{
    crdt_counter_free(s);
}

static void *vt_counter_join(const void *a, const void *b)
{
    return crdt_counter_join(a, b);
}

static int vt_counter_empty(const void *s)
{
    struct crdt_counter_value v;
    crdt_counter_value(s, &v);
    return v.kind == CRDT_COUNTER_ABSENT;
}

static void vt_counter_seen(const void *s, struct vclock *out)
{
    crdt_counter_clock(s, out);
}

static int vt_counter_clear(void *s, const struct crdt_dot *dot,
                            uint64_t ts_ms, const struct crdt_limits *lim)
{
    return crdt_counter_reset(s, NULL, 0, dot, ts_ms, lim);
}

static void vt_counter_describe(const void *s, struct dbuf *out)
{
    crdt_counter_describe(s, out);
}

static void vt_counter_items(const void *s, crdt_emit_fn emit, void *ctx)
{
    struct dbuf b;
    dbuf_init(&b);
    if (crdt_counter_format(s, &b) == 0)
        (void)emit(ctx, (const uint8_t *)b.p, b.len);
    dbuf_free(&b);
}

/* ---- the set ------------------------------------------------------------------ */

static int vt_set_decode(const uint8_t *p, size_t len,
                         const struct crdt_limits *lim, void **out)
{
    return crdt_set_decode(p, len, lim, (struct crdt_set **)out);
}

static void vt_set_encode(const void *s, struct dbuf *out)
{
    crdt_set_encode(s, out);
}

static void vt_set_free(void *s)
{
    crdt_set_free(s);
}

static void *vt_set_join(const void *a, const void *b)
{
    return crdt_set_join(a, b);
}

static int vt_set_empty(const void *s)
{
    return crdt_set_card(s) == 0;
}

static void vt_set_seen(const void *s, struct vclock *out)
{
    crdt_set_seen(s, out);
}

static int vt_set_clear(void *s, const struct crdt_dot *dot, uint64_t ts_ms,
                        const struct crdt_limits *lim)
{
    (void)dot;
    (void)ts_ms;
    (void)lim;
    crdt_set_clear(s);
    return 0;
}

static int vt_set_compact(void *s, const struct vclock *stable, int fold)
{
    return fold ? crdt_set_compact(s, stable)
                : crdt_set_compact_marks(s, stable);
}

static void vt_set_describe(const void *s, struct dbuf *out)
{
    crdt_set_describe(s, out);
}

static void vt_set_items(const void *s, crdt_emit_fn emit, void *ctx)
{
    const uint8_t *m;
    size_t len;
    for (uint32_t i = 0; i < crdt_set_card(s); i++) {
        crdt_set_member(s, i, &m, &len);
        if (emit(ctx, m, len))
            return;
    }
}

/* ---- the list ----------------------------------------------------------------- */

static int vt_list_decode(const uint8_t *p, size_t len,
                          const struct crdt_limits *lim, void **out)
{
    return crdt_list_decode(p, len, lim, (struct crdt_list **)out);
}

static void vt_list_encode(const void *s, struct dbuf *out)
{
    crdt_list_encode(s, out);
}

static void vt_list_free(void *s)
{
    crdt_list_free(s);
}

static void *vt_list_join(const void *a, const void *b)
{
    return crdt_list_join(a, b);
}

static int vt_list_empty(const void *s)
{
    return crdt_list_len(s) == 0;
}

static void vt_list_seen(const void *s, struct vclock *out)
{
    crdt_list_seen(s, out);
}

static int vt_list_clear(void *s, const struct crdt_dot *dot, uint64_t ts_ms,
                         const struct crdt_limits *lim)
{
    (void)dot;
    (void)ts_ms;
    (void)lim;
    uint32_t n = crdt_list_len(s);
    uint32_t *ix = dyn_malloc(((size_t)n + 1) * sizeof(*ix));
    for (uint32_t i = 0; i < n; i++)
        ix[i] = i;
    crdt_list_remove_at(s, ix, n);
    dyn_free(ix);
    return 0;
}

static int vt_list_compact(void *s, const struct vclock *stable, int fold)
{
    return fold ? crdt_list_compact(s, stable)
                : crdt_list_compact_marks(s, stable);
}

static void vt_list_describe(const void *s, struct dbuf *out)
{
    crdt_list_describe(s, out);
}

static void vt_list_items(const void *s, crdt_emit_fn emit, void *ctx)
{
    const uint8_t *v;
    size_t len;
    for (uint32_t i = 0; i < crdt_list_len(s); i++) {
        crdt_list_at(s, i, &v, &len);
        if (emit(ctx, v, len))
            return;
    }
}

/* ---- the sorted set ---------------------------------------------------------- */

static int vt_zset_decode(const uint8_t *p, size_t len,
                          const struct crdt_limits *lim, void **out)
{
    return crdt_zset_decode(p, len, lim, (struct crdt_zset **)out);
}

static void vt_zset_encode(const void *s, struct dbuf *out)
{
    crdt_zset_encode(s, out);
}

static void vt_zset_free(void *s)
{
    crdt_zset_free(s);
}

static void *vt_zset_join(const void *a, const void *b)
{
    return crdt_zset_join(a, b);
}

static int vt_zset_empty(const void *s)
{
    return crdt_zset_card(s) == 0;
}

static void vt_zset_seen(const void *s, struct vclock *out)
{
    crdt_zset_seen(s, out);
}

static int vt_zset_clear(void *s, const struct crdt_dot *dot, uint64_t ts_ms,
                         const struct crdt_limits *lim)
{
    (void)dot;
    (void)ts_ms;
    (void)lim;
    crdt_zset_clear(s);
    return 0;
}

static int vt_zset_compact(void *s, const struct vclock *stable, int fold)
{
    return fold ? crdt_zset_compact(s, stable)
                : crdt_zset_compact_marks(s, stable);
}

static void vt_zset_describe(const void *s, struct dbuf *out)
{
    crdt_zset_describe(s, out);
}

/* ZRANGE k 0 -1 WITHSCORES: member, then its score as Redis writes it. */
static void vt_zset_items(const void *s, crdt_emit_fn emit, void *ctx)
{
    const uint8_t *m;
    size_t len;
    double score;
    char num[64];
    for (uint32_t i = 0; i < crdt_zset_card(s); i++) {
        crdt_zset_at(s, i, &m, &len, &score);
        if (emit(ctx, m, len))
            return;
        int n = isinf(score) ? snprintf(num, sizeof(num), "%s",
                                        score > 0 ? "inf" : "-inf")
                             : snprintf(num, sizeof(num), "%.17g", score);
        if (emit(ctx, (const uint8_t *)num, (size_t)n))
            return;
    }
}

/* ---- the hash ----------------------------------------------------------------- */

static int vt_hash_decode(const uint8_t *p, size_t len,
                          const struct crdt_limits *lim, void **out)
{
    return crdt_hash_decode(p, len, lim, (struct crdt_hash **)out);
}

static void vt_hash_encode(const void *s, struct dbuf *out)
{
    crdt_hash_encode(s, out);
}

static void vt_hash_free(void *s)
{
    crdt_hash_free(s);
}

static void *vt_hash_join(const void *a, const void *b)
{
    return crdt_hash_join(a, b);
}

/* The reads build a view, so they take the state as theirs. */
static int vt_hash_empty(const void *s)
{
    return crdt_hash_empty((struct crdt_hash *)s);
}

static void vt_hash_seen(const void *s, struct vclock *out)
{
    crdt_hash_seen(s, out);
}

static int vt_hash_clear(void *s, const struct crdt_dot *dot, uint64_t ts_ms,
                         const struct crdt_limits *lim)
{
    (void)ts_ms;
    return crdt_hash_clear(s, dot, lim);
}

static int vt_hash_compact(void *s, const struct vclock *stable, int fold)
{
    return fold ? crdt_hash_compact(s, stable)
                : crdt_hash_compact_marks(s, stable);
}

static void vt_hash_describe(const void *s, struct dbuf *out)
{
    crdt_hash_describe(s, out);
}

static void vt_hash_items(const void *s, crdt_emit_fn emit, void *ctx)
{
    struct crdt_hash *h = (struct crdt_hash *)s;
    const uint8_t *p;
    size_t len;
    for (uint32_t i = 0; i < crdt_hash_len(h); i++) {
        crdt_hash_field(h, i, &p, &len);
        if (emit(ctx, p, len))
            return;
        crdt_hash_value(h, i, &p, &len);
        if (emit(ctx, p, len))
            return;
    }
}

/* ---- the registry --------------------------------------------------------- */

static const struct crdt_vt crdt_types[] = {
    { CRDT_TYPE_COUNTER, "string", vt_counter_decode, vt_counter_encode,
      vt_counter_free, vt_counter_join, vt_counter_empty, vt_counter_seen,
      vt_counter_clear, NULL, vt_counter_describe, vt_counter_items },
    { CRDT_TYPE_SET, "set", vt_set_decode, vt_set_encode, vt_set_free,
      vt_set_join, vt_set_empty, vt_set_seen, vt_set_clear, vt_set_compact,
      vt_set_describe, vt_set_items },
    { CRDT_TYPE_LIST, "list", vt_list_decode, vt_list_encode, vt_list_free,
      vt_list_join, vt_list_empty, vt_list_seen, vt_list_clear,
      vt_list_compact, vt_list_describe, vt_list_items },
    { CRDT_TYPE_ZSET, "zset", vt_zset_decode, vt_zset_encode, vt_zset_free,
      vt_zset_join, vt_zset_empty, vt_zset_seen, vt_zset_clear,
      vt_zset_compact, vt_zset_describe, vt_zset_items },
    { CRDT_TYPE_HASH, "hash", vt_hash_decode, vt_hash_encode, vt_hash_free,
      vt_hash_join, vt_hash_empty, vt_hash_seen, vt_hash_clear,
      vt_hash_compact, vt_hash_describe, vt_hash_items },
};

static const struct crdt_vt *vt_of(int type)
{
    for (size_t k = 0; k < sizeof(crdt_types) / sizeof(crdt_types[0]); k++)
        if (crdt_types[k].type == type)
            return &crdt_types[k];
    return NULL;
}

int crdt_type_known(int type)
{
    return vt_of(type) != NULL;
}

const char *crdt_type_name(int type)
{
    if (type == CRDT_TYPE_STRING)
        return "string";
    const struct crdt_vt *vt = vt_of(type);
    return vt ? vt->name : "none";
}

int crdt_validate_bytes(int type, const uint8_t *p, size_t len,
                        const struct crdt_limits *lim, int *empty)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt)
        return DYN_EINVAL;
    int rc = vt->decode(p, len, lim, &s);
    if (rc == 0) {
        if (empty)
            *empty = vt->empty(s);
        vt->free(s);
    }
    return rc;
}

int crdt_join_bytes(int type, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen, const struct crdt_limits *lim,
                    struct dbuf *out, int *empty)
{
    const struct crdt_vt *vt = vt_of(type);
    void *sa = NULL, *sb = NULL;
    if (!vt)
        return DYN_EINVAL;
    int rc = vt->decode(a, alen, lim, &sa);
    if (rc == 0)
        rc = vt->decode(b, blen, lim, &sb);
    if (rc == 0) {
        void *j = vt->join(sa, sb);
        vt->encode(j, out);
        if (empty)
            *empty = vt->empty(j);
        vt->free(j);
    }
    if (sa)
        vt->free(sa);
    if (sb)
        vt->free(sb);
    return rc;
}

int crdt_empty_bytes(int type, const uint8_t *p, size_t len)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt || vt->decode(p, len, NULL, &s) != 0)
        return 0;
    int e = vt->empty(s);
    vt->free(s);
    return e;
}

int crdt_seen_bytes(int type, const uint8_t *p, size_t len, struct vclock *out)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt)
        return DYN_EINVAL;
    /* The set-based types' context heads their encoding, and every dot
     * of a member is in it: read the head only (the hot path of every
     * write that replaces a typed version, object.c's coverage test). */
    if (type == CRDT_TYPE_SET)
        return crdt_set_seen_encoded(p, len, out);
    if (type == CRDT_TYPE_HASH || type == CRDT_TYPE_ZSET ||
        type == CRDT_TYPE_LIST) {
        if (len < 1 || p[0] != type)
            return DYN_EINVAL;
        return crdt_set_seen_encoded(p + 1, len - 1, out);
    }
    int rc = vt->decode(p, len, NULL, &s);
    if (rc)
        return rc;
    vt->seen(s, out);
    vt->free(s);
    return 0;
}

int crdt_clear_bytes(int type, const uint8_t *p, size_t len,
                     struct dbuf *out)
{
    if (type == CRDT_TYPE_COUNTER) {
        struct crdt_counter *c = NULL;
        int rc = crdt_counter_decode(p, len, NULL, &c);
        if (rc)
            return rc;
        crdt_counter_clear_observed(c);
        crdt_counter_encode(c, out);
        crdt_counter_free(c);
        return 0;
    }
    if (type == CRDT_TYPE_SET) {
        struct crdt_set *s = NULL;
        int rc = crdt_set_decode(p, len, NULL, &s);
        if (rc)
            return rc;
        crdt_set_clear(s);
        crdt_set_encode(s, out);
        crdt_set_free(s);
        return 0;
    }
    if (type != CRDT_TYPE_HASH && type != CRDT_TYPE_ZSET &&
        type != CRDT_TYPE_LIST)
        return DYN_EINVAL;
    /* the set-based types: the type byte, then a set of entries; with no
     * entry each is its type's empty state over the same context */
    const struct crdt_vt *vt = vt_of(type);
    void *whole = NULL;
    int rc = vt->decode(p, len, NULL, &whole);
    if (rc)
        return rc;
    vt->free(whole);
    struct crdt_set *s = NULL;
    rc = crdt_set_decode(p + 1, len - 1, NULL, &s);
    if (rc)
        return rc;
    crdt_set_clear(s);
    crdt_put_u8(out, (uint8_t)type);
    crdt_set_encode(s, out);
    crdt_set_free(s);
    return 0;
}

int crdt_compact_all_bytes(int type, const uint8_t *p, size_t len,
                           struct dbuf *out)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt)
        return DYN_EINVAL;
    int rc = vt->decode(p, len, NULL, &s);
    if (rc == 0)
        rc = crdt_state_compact_stable(type, s, 0);
    if (rc == 0)
        vt->encode(s, out);
    vt->free(s);
    return rc;
}

/* ---- decoded states ---------------------------------------------------------- */

int crdt_state_decode(int type, const uint8_t *p, size_t len,
                      const struct crdt_limits *lim, void **out)
{
    const struct crdt_vt *vt = vt_of(type);
    *out = NULL;
    return vt ? vt->decode(p, len, lim, out) : DYN_EINVAL;
}

void crdt_state_encode(int type, const void *s, struct dbuf *out)
{
    vt_of(type)->encode(s, out);
}

void crdt_state_free(int type, void *s)
{
    if (s)
        vt_of(type)->free(s);
}

int crdt_state_empty(int type, const void *s)
{
    return vt_of(type)->empty(s);
}

int crdt_state_clear(int type, void *s, const struct crdt_dot *dot,
                     uint64_t ts_ms, const struct crdt_limits *lim)
{
    return vt_of(type)->clear(s, dot, ts_ms, lim);
}

void *crdt_state_join(int type, const void *a, const void *b)
{
    return vt_of(type)->join(a, b);
}

uint64_t crdt_state_entries(int type, const void *s)
{
    switch (type) {
    case CRDT_TYPE_SET: return crdt_set_card(s);
    case CRDT_TYPE_HASH: return crdt_hash_entries(s);
    case CRDT_TYPE_ZSET: return crdt_zset_entries(s);
    case CRDT_TYPE_LIST: return crdt_list_len(s);
    default: return 1;
    }
}

uint64_t crdt_state_seen_top(int type, const void *s, uint64_t actor)
{
    struct vclock seen;
    vclock_init(&seen);
    vt_of(type)->seen(s, &seen);
    uint64_t top = vclock_get(&seen, actor);
    vclock_free(&seen);
    return top;
}

int crdt_state_pin(int type, void *s, int on)
{
    if (!s)
        return type == CRDT_TYPE_SET || type == CRDT_TYPE_HASH ||
               type == CRDT_TYPE_ZSET || type == CRDT_TYPE_LIST;
    switch (type) {
    case CRDT_TYPE_SET: crdt_set_pin(s, on); return 1;
    case CRDT_TYPE_HASH: crdt_hash_pin(s, on); return 1;
    case CRDT_TYPE_ZSET: crdt_zset_pin(s, on); return 1;
    case CRDT_TYPE_LIST: crdt_list_pin(s, on); return 1;
    default: return 0; /* a counter */
    }
}

int crdt_state_claim(int type, void *s, uint64_t actor, uint64_t lo,
                     uint64_t hi)
{
    switch (type) {
    case CRDT_TYPE_SET: return crdt_set_claim(s, actor, lo, hi);
    case CRDT_TYPE_HASH: return crdt_hash_claim(s, actor, lo, hi);
    case CRDT_TYPE_ZSET: return crdt_zset_claim(s, actor, lo, hi);
    case CRDT_TYPE_LIST: return crdt_list_claim(s, actor, lo, hi);
    default: return 0; /* a counter's entries are per actor: no gaps */
    }
}

int crdt_state_compact_stable(int type, void *s, int fold)
{
    const struct crdt_vt *vt = vt_of(type);
    if (!vt->compact)
        return 0;
    struct vclock seen;
    vclock_init(&seen);
    vt->seen(s, &seen);
    int rc = vt->compact(s, &seen, fold);
    vclock_free(&seen);
    return rc;
}

int crdt_state_compact_all(int type, void *s)
{
    return crdt_state_compact_stable(type, s, 1);
}

int crdt_items_bytes(int type, const uint8_t *p, size_t len,
                     crdt_emit_fn emit, void *ctx)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt)
        return DYN_EINVAL;
    int rc = vt->decode(p, len, NULL, &s);
    if (rc)
        return rc;
    vt->items(s, emit, ctx);
    vt->free(s);
    return 0;
}

int crdt_state_items(int type, const void *s, crdt_emit_fn emit, void *ctx)
{
    const struct crdt_vt *vt = vt_of(type);
    if (!vt)
        return DYN_EINVAL;
    vt->items(s, emit, ctx);
    return 0;
}

int crdt_describe_bytes(int type, const uint8_t *p, size_t len,
                        struct dbuf *out)
{
    const struct crdt_vt *vt = vt_of(type);
    void *s = NULL;
    if (!vt)
        return DYN_EINVAL;
    int rc = vt->decode(p, len, NULL, &s);
    if (rc)
        return rc;
    vt->describe(s, out);
    vt->free(s);
    return 0;
}
