/*
 * crdt_hash.c -- Redis hashes as an observed-remove map whose fields are
 * last-writer-wins registers, or counters once HINCRBY/HINCRBYFLOAT
 * touched them (issue #14, docs/TYPES.md "Hashes").
 *
 * Built on crdt_set: a hash state IS an ORSWOT whose members are entries,
 * so the join, the causal context, compaction and the untrusted-bytes
 * decoder are crdt_set's.  This file only builds, reads and orders
 * entries.  An entry's bytes:
 *
 *   u32 BE flen | field | u8 kind | payload
 *
 * so a field's entries are adjacent in member order (crdt_set_lower_bound
 * of the prefix finds them).  Kinds, in that order:
 *
 *   INC  (1) actor's cumulative increments of this field:
 *            part = u64 BE actor | u64 BE seq | u64 BE int sum (two's
 *            complement) | u64 BE float op count | crdt_put_ld float sum.
 *            seq is the counter of the dot of the actor's latest HINCRBY*
 *            of the field: an actor's later part extends its earlier one.
 *            The actor is the op's, or a run of the node's own when its
 *            state lacked its latest increment (crdt_hash_inc_actor,
 *            docs/TYPES.md 5.1), so two parts of one node add up.
 *   REG  (2) an HSET: u64 BE ts_ms | value bytes.  Two HSETs of the
 *            same value in the same millisecond are one member (with
 *            both dots), which reads the same.
 *   SNAP (3) an observed reset: varint n >= 1 | n parts, actors strictly
 *            ascending: the INC parts an HSET or HDEL saw and removed.
 *   ALL  (4) DEL of the key (crdt_hash_clear, one dot): prefix length
 *            0xffffffff (no field's, so these sort last), varint n >= 1,
 *            n x (varint len | a SNAP entry), fields ascending: the SNAP
 *            of every field the DEL saw incremented.  A field's snapshot
 *            is its SNAPs' and the ALLs' parts, per actor the highest seq.
 *
 * Ops (each entry added uses one dot; *dot is advanced past those used):
 *   HSET f v   adds REG, adds a SNAP of every part it saw (INC entries and
 *              older SNAPs, per actor the highest seq) when there is one,
 *              and removes every other entry of f;
 *   HDEL f     the same without the REG: when f had no INC or SNAP, no
 *              entry is left at all (no tombstone);
 *   HINCRBY    replaces the actor's INC entry by one whose sums continue
 *              from the actor's highest-seq part (its INC, or the SNAP
 *              that removed it);
 *   DEL        removes every entry and adds one ALL when any field was
 *              incremented.
 * Reading a field: present while it has a REG or a live INC (seq above
 * the actor's snapshot seq).  Value = the winning REG (highest ts, then
 * the greater value bytes; "0" when none) plus, per actor with a live
 * INC, INC - snapshot.
 * An increment therefore counts unless a reset observed it; a SNAP is
 * the per-field price of that (bounded by the actors, and only for
 * fields that were ever incremented away from a single node).
 *
 * Folding: a caller alone with the key (db_typed_alone) passes fold = 1;
 * HINCRBY* then computes the value exactly as Redis 7.0 does and stores
 * it as a plain REG, so a single node's replies are Redis's, byte for
 * byte.
 *
 * Encoding: u8 CRDT_TYPE_HASH | crdt_set encoding of the entries.  Decode
 * checks the set, then every entry (it parses, and re-encodes to its own
 * bytes), and the limits: fields <= max_members, field and value bytes
 * <= max_member_len.
 *
 * A lazily built view (fields, their entry ranges, computed values) serves
 * the reads; every change drops it.  Pure; one owner; errors per crdt.h.
 */
#include "cluster/crdt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/crdt_int.h"

enum { HK_INC = 1, HK_REG = 2, HK_SNAP = 3, HK_ALL = 4 };

/* The key-wide reset's prefix: no field is that long (too_long). */
#define ALL_FLEN 0xffffffffu

#define PREFIX_LEN 4

struct hpart {
    uint64_t actor, seq;
    int64_t i;
    uint64_t fops;
    long double f;
};

struct hfield {
    uint32_t lo, hi;   /* its entries in the set */
    const uint8_t *f;  /* into the set's member */
    uint32_t flen;
    const uint8_t *v;  /* the REG's bytes, or into vbuf */
    size_t vlen;
    size_t voff;       /* when computed: offset in vbuf, else SIZE_MAX */
};

struct crdt_hash {
    struct crdt_set *s;
    int viewed;
    uint32_t nf, capf;
    struct hfield *fv;
    struct dbuf vbuf;
    int pinned; /* crdt_hash_pin */
    uint64_t inc_actor; /* crdt_hash_inc_actor; not part of the state */
};

/* ---- entries ---------------------------------------------------------------- */

static void put_be32(struct dbuf *b, uint32_t v)
{
    uint8_t t[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v };
    dbuf_append(b, t, 4);
}

static void put_be64(struct dbuf *b, uint64_t v)
{
    uint8_t t[8];
    for (int k = 0; k < 8; k++)
        t[k] = (uint8_t)(v >> (56 - 8 * k));
    dbuf_append(b, t, 8);
}

static uint64_t rd_be64(struct crdt_rd *r)
{
    const uint8_t *p = crdt_rd_bytes(r, 8);
    uint64_t v = 0;
    if (!p)
        return 0;
    for (int k = 0; k < 8; k++)
        v = v << 8 | p[k];
    return v;
}

static void put_prefix(struct dbuf *b, const void *f, size_t flen)
{
    put_be32(b, (uint32_t)flen);
    dbuf_append(b, f, flen);
}

static void put_part(struct dbuf *b, const struct hpart *p)
{
    put_be64(b, p->actor);
    put_be64(b, p->seq);
    put_be64(b, (uint64_t)p->i);
    put_be64(b, p->fops);
    crdt_put_ld(b, p->f);
}

static void rd_part(struct crdt_rd *r, struct hpart *p)
{
    p->actor = rd_be64(r);
    p->seq = rd_be64(r);
    p->i = (int64_t)rd_be64(r);
    p->fops = rd_be64(r);
    p->f = crdt_rd_ld(r);
    if (!r->err && (p->seq == 0 || !isfinite(p->f)))
        r->err = DYN_EINVAL;
}

/* One parsed entry; pointers into the member. */
struct hentry {
    const uint8_t *f;
    uint32_t flen;
    uint8_t kind;
    uint64_t ts;
    const uint8_t *v;     /* REG */
    size_t vlen;
    struct hpart inc;     /* INC */
    const uint8_t *snap;  /* SNAP: the parts; ALL: the SNAP entries */
    size_t snaplen;
    uint32_t nsnap;
};

static int entry_parse(const uint8_t *p, size_t len, struct hentry *e);

/* ALL: varint n >= 1 | n x (varint len | a SNAP entry), fields strictly
 * ascending (the entries' member order). */
static int all_parse(const uint8_t *p, size_t len, struct hentry *e)
{
    struct crdt_rd r;
    memset(e, 0, sizeof(*e));
    e->kind = HK_ALL;
    e->flen = ALL_FLEN;
    crdt_rd_init(&r, p + PREFIX_LEN + 1, len - PREFIX_LEN - 1);
    uint64_t n = crdt_rd_varint(&r);
    if (r.err || n == 0 || n > crdt_rd_left(&r) / 6)
        return DYN_EINVAL;
    e->snap = r.p + r.off;
    e->nsnap = (uint32_t)n;
    struct hentry prev = { 0 };
    for (uint64_t k = 0; k < n; k++) {
        uint64_t l = crdt_rd_varint(&r);
        const uint8_t *q = crdt_rd_bytes(&r, l);
        struct hentry x;
        if (r.err || entry_parse(q, (size_t)l, &x) != 0 || x.kind != HK_SNAP)
            return DYN_EINVAL;
        /* fields strictly ascending in member order: (length, bytes) */
        if (k && (x.flen < prev.flen ||
                  (x.flen == prev.flen &&
                   (x.flen == 0 || memcmp(prev.f, x.f, x.flen) >= 0))))
            return DYN_EINVAL;
        prev = x;
    }
    e->snaplen = (size_t)(r.p + r.off - e->snap);
    return r.off == r.len ? 0 : DYN_EINVAL;
}

/* The k-th SNAP entry of a parsed ALL, in place. */
static void all_item(const struct hentry *e, uint32_t k, const uint8_t **p,
                     size_t *len)
{
    struct crdt_rd r;
    crdt_rd_init(&r, e->snap, e->snaplen);
    uint64_t l = 0;
    const uint8_t *q = NULL;
    for (uint32_t j = 0; j <= k; j++) {
        l = crdt_rd_varint(&r);
        q = crdt_rd_bytes(&r, l);
    }
    *p = q;
    *len = (size_t)l;
}

/* Parses an entry; 0 or DYN_EINVAL (anything but a well-formed entry in
 * its one encoding). */
static int entry_parse(const uint8_t *p, size_t len, struct hentry *e)
{
    struct crdt_rd r;
    if (len < PREFIX_LEN + 1)
        return DYN_EINVAL;
    uint32_t flen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                    (uint32_t)p[2] << 8 | p[3];
    if (flen == ALL_FLEN)
        return p[PREFIX_LEN] == HK_ALL ? all_parse(p, len, e) : DYN_EINVAL;
    if (flen > len - PREFIX_LEN - 1)
        return DYN_EINVAL;
    memset(e, 0, sizeof(*e));
    e->f = p + PREFIX_LEN;
    e->flen = flen;
    e->kind = p[PREFIX_LEN + flen];
    crdt_rd_init(&r, p + PREFIX_LEN + flen + 1, len - PREFIX_LEN - flen - 1);
    switch (e->kind) {
    case HK_INC:
        rd_part(&r, &e->inc);
        break;
    case HK_REG:
        e->ts = rd_be64(&r);
        e->vlen = crdt_rd_left(&r);
        e->v = crdt_rd_bytes(&r, e->vlen);
        break;
    case HK_SNAP: {
        uint64_t n = crdt_rd_varint(&r);
        if (r.err || n == 0 || n > crdt_rd_left(&r) / 35)
            return DYN_EINVAL;
        e->snap = r.p + r.off;
        e->nsnap = (uint32_t)n;
        struct hpart q, prev = { 0 };
        for (uint64_t k = 0; k < n && !r.err; k++) {
            rd_part(&r, &q);
            if (k && q.actor <= prev.actor)
                return DYN_EINVAL;
            prev = q;
        }
        e->snaplen = (size_t)(r.p + r.off - e->snap);
        break;
    }
    default:
        return DYN_EINVAL;
    }
    if (r.err || r.off != r.len)
        return DYN_EINVAL;
    return 0;
}

/* The k-th part of a parsed SNAP (k < nsnap, parsed before). */
static void snap_part(const struct hentry *e, uint32_t k, struct hpart *out)
{
    struct crdt_rd r;
    crdt_rd_init(&r, e->snap, e->snaplen);
    for (uint32_t j = 0; j <= k; j++)
        rd_part(&r, out);
}

/* ---- a field's state -------------------------------------------------------- */

struct hactor {
    uint64_t actor;
    int has_inc, has_snap;
    struct hpart inc, snap;
};

struct feval {
    uint32_t lo, hi;
    int has_reg;
    struct hentry reg; /* the winner */
    uint32_t na, capa;
    struct hactor *a;  /* by actor */
    int live;          /* an INC above its actor's SNAP */
    __int128 isum;
    long double fsum;
    int fl;            /* a live float increment */
    int nsnap_entries;
    uint32_t snap_ix;  /* the one SNAP entry, when nsnap_entries == 1 */
};

static struct hactor *actor_slot(struct feval *e, uint64_t actor)
{
    for (uint32_t k = 0; k < e->na; k++)
        if (e->a[k].actor == actor)
            return &e->a[k];
    if (e->na == e->capa) {
        e->capa = e->capa ? e->capa * 2 : 4;
        e->a = dyn_realloc(e->a, (size_t)e->capa * sizeof(*e->a));
    }
    struct hactor *h = &e->a[e->na++];
    memset(h, 0, sizeof(*h));
    h->actor = actor;
    return h;
}

static int reg_wins(const struct hentry *a, const struct hentry *b)
{
    if (a->ts != b->ts)
        return a->ts > b->ts;
    return crdt_bytes_cmp(a->v, a->vlen, b->v, b->vlen) > 0;
}

static void member(const struct crdt_set *s, uint32_t i, const uint8_t **p,
                   size_t *len)
{
    crdt_set_member(s, i, p, len);
}

/* The range of f's entries. */
static void field_range(const struct crdt_set *s, const void *f, size_t flen,
                        uint32_t *lo, uint32_t *hi)
{
    struct dbuf pre;
    dbuf_init(&pre);
    put_prefix(&pre, f, flen);
    uint32_t k = crdt_set_lower_bound(s, pre.p, pre.len);
    *lo = k;
    for (; k < crdt_set_card(s); k++) {
        const uint8_t *p;
        size_t len;
        member(s, k, &p, &len);
        if (len < pre.len || memcmp(p, pre.p, pre.len) != 0)
            break;
    }
    *hi = k;
    dbuf_free(&pre);
}

/* Entries of a range were checked by decode or built here, so they parse. */
static void entry_at(const struct crdt_set *s, uint32_t i, struct hentry *e)
{
    const uint8_t *p;
    size_t len;
    member(s, i, &p, &len);
    int rc = entry_parse(p, len, e);
    dyn_assert(rc == 0);
}

static void merge_snap(struct feval *e, const struct hentry *x)
{
    for (uint32_t j = 0; j < x->nsnap; j++) {
        struct hpart q;
        snap_part(x, j, &q);
        struct hactor *a = actor_slot(e, q.actor);
        if (!a->has_snap || q.seq > a->snap.seq)
            a->snap = q;
        a->has_snap = 1;
    }
}

/* The index of the first key-wide reset: they are the last members
 * (their prefix is the greatest), one per concurrent DEL. */
static uint32_t all_first(const struct crdt_set *s)
{
    uint32_t n = crdt_set_card(s);
    while (n > 0) {
        const uint8_t *p;
        size_t len;
        member(s, n - 1, &p, &len);
        if (len < PREFIX_LEN || memcmp(p, "\xff\xff\xff\xff", PREFIX_LEN) != 0)
            break;
        n--;
    }
    return n;
}

/* Field f's state: its entries [lo, hi) and its part of the key-wide
 * reset. */
static void feval_run(const struct crdt_set *s, const void *f, size_t flen,
                      uint32_t lo, uint32_t hi, struct feval *e)
{
    struct hentry all;
    memset(e, 0, sizeof(*e));
    e->lo = lo;
    e->hi = hi;
    for (uint32_t m = all_first(s); m < crdt_set_card(s); m++) {
        entry_at(s, m, &all);
        for (uint32_t k = 0; k < all.nsnap; k++) {
            const uint8_t *p;
            size_t len;
            struct hentry x;
            all_item(&all, k, &p, &len);
            if (entry_parse(p, len, &x) == 0 && x.flen == flen &&
                (flen == 0 || memcmp(x.f, f, flen) == 0))
                merge_snap(e, &x);
        }
    }
    for (uint32_t k = lo; k < hi; k++) {
        struct hentry x;
        entry_at(s, k, &x);
        if (x.kind == HK_REG) {
            if (!e->has_reg || reg_wins(&x, &e->reg))
                e->reg = x;
            e->has_reg = 1;
        } else if (x.kind == HK_INC) {
            struct hactor *a = actor_slot(e, x.inc.actor);
            if (!a->has_inc || x.inc.seq > a->inc.seq)
                a->inc = x.inc;
            a->has_inc = 1;
        } else {
            e->nsnap_entries++;
            e->snap_ix = k;
            merge_snap(e, &x);
        }
    }
    /* Actor order, so every replica sums the floats alike. */
    for (uint32_t i = 1; i < e->na; i++)
        for (uint32_t j = i; j > 0 && e->a[j - 1].actor > e->a[j].actor; j--) {
            struct hactor t = e->a[j];
            e->a[j] = e->a[j - 1];
            e->a[j - 1] = t;
        }
    for (uint32_t k = 0; k < e->na; k++) {
        struct hactor *a = &e->a[k];
        if (!a->has_inc || (a->has_snap && a->inc.seq <= a->snap.seq))
            continue;
        struct hpart z = { 0 };
        const struct hpart *b = a->has_snap ? &a->snap : &z;
        e->live = 1;
        e->isum += (__int128)a->inc.i - b->i;
        e->fsum += a->inc.f - b->f;
        if (a->inc.fops != b->fops)
            e->fl = 1;
    }
}

static void feval_free(struct feval *e)
{
    dyn_free(e->a);
}

static int feval_present(const struct feval *e)
{
    return e->has_reg || e->live;
}

static void put_i128(struct dbuf *out, __int128 v)
{
    char t[48];
    int n = 0;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        t[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        dbuf_appendc(out, '-');
    while (n)
        dbuf_appendc(out, t[--n]);
}

/* The value's text (docs/TYPES.md "Hashes"). */
static void feval_text(const struct feval *e, struct dbuf *out)
{
    const uint8_t *b = e->has_reg ? e->reg.v : (const uint8_t *)"0";
    size_t blen = e->has_reg ? e->reg.vlen : 1;
    long long bi;
    long double bf;
    if (!e->live) {
        dbuf_append(out, b, blen);
        return;
    }
    if (!e->fl && dyn_str2ll((const char *)b, blen, &bi) == 0) {
        put_i128(out, (__int128)bi + e->isum);
        return;
    }
    if (crdt_ld_parse(b, blen, &bf) == 0) {
        char *t = dyn_malloc(CRDT_LD_CHARS);
        size_t n = crdt_ld_format(t, CRDT_LD_CHARS,
                                  bf + (long double)e->isum + e->fsum);
        dbuf_append(out, t, n);
        dyn_free(t);
        return;
    }
    dbuf_append(out, b, blen); /* not a number: the increments wait */
}

/* ---- the view ----------------------------------------------------------------- */

static void view_drop(struct crdt_hash *h)
{
    h->viewed = 0;
    h->nf = 0;
    dbuf_reset(&h->vbuf);
}

/* The end of the run of entries of x's field that starts at k (x is
 * entry k): the next members with the same prefix, by a linear step. */
static uint32_t group_end(const struct crdt_set *s, uint32_t k,
                          const struct hentry *x)
{
    uint32_t n = crdt_set_card(s), hi = k + 1;
    const uint8_t *p0;
    size_t l0;
    member(s, k, &p0, &l0);
    size_t plen = PREFIX_LEN + (size_t)x->flen;
    for (; hi < n; hi++) {
        const uint8_t *p;
        size_t len;
        member(s, hi, &p, &len);
        if (len <= plen || memcmp(p, p0, plen) != 0)
            break;
    }
    return hi;
}

/* The field whose entries start at *k (its entry in *x, its run
 * [*lo, *hi) and its value in *e, which the caller frees), *k moved past
 * it.  0 when no field is left (the end, or the ALL entry). */
static int field_next(const struct crdt_set *s, uint32_t *k,
                      struct hentry *x, uint32_t *lo, uint32_t *hi,
                      struct feval *e)
{
    if (*k >= crdt_set_card(s))
        return 0;
    entry_at(s, *k, x);
    if (x->kind == HK_ALL)
        return 0;
    *lo = *k;
    *hi = group_end(s, *k, x);
    feval_run(s, x->f, x->flen, *lo, *hi, e);
    *k = *hi;
    return 1;
}

static void view_build(struct crdt_hash *h)
{
    if (h->viewed)
        return;
    h->nf = 0;
    dbuf_reset(&h->vbuf);
    uint32_t k = 0, lo, hi;
    struct hentry x;
    struct feval e;
    while (field_next(h->s, &k, &x, &lo, &hi, &e)) {
        if (feval_present(&e)) {
            if (h->nf == h->capf) {
                h->capf = h->capf ? h->capf * 2 : 8;
                h->fv = dyn_realloc(h->fv, (size_t)h->capf * sizeof(*h->fv));
            }
            struct hfield *f = &h->fv[h->nf++];
            f->lo = lo;
            f->hi = hi;
            f->f = x.f;
            f->flen = x.flen;
            if (!e.live) {
                f->v = e.reg.v;
                f->vlen = e.reg.vlen;
                f->voff = SIZE_MAX;
            } else {
                f->voff = h->vbuf.len;
                feval_text(&e, &h->vbuf);
                f->vlen = h->vbuf.len - f->voff;
            }
        }
        feval_free(&e);
    }
    h->viewed = 1;
}

int crdt_hash_empty(struct crdt_hash *h)
{
    if (h->viewed)
        return h->nf == 0;
    /* the first present field answers: no view to build */
    uint32_t k = 0, lo, hi;
    struct hentry x;
    struct feval e;
    while (field_next(h->s, &k, &x, &lo, &hi, &e)) {
        int present = feval_present(&e);
        feval_free(&e);
        if (present)
            return 0;
    }
    return 1;
}

int crdt_hash_claim(struct crdt_hash *h, uint64_t actor, uint64_t lo,
                    uint64_t hi)
{
    return crdt_set_claim(h->s, actor, lo, hi); /* no entry changes */
}

uint32_t crdt_hash_len(struct crdt_hash *h)
{
    view_build(h);
    return h->nf;
}

void crdt_hash_field(struct crdt_hash *h, uint32_t i, const uint8_t **f,
                     size_t *flen)
{
    view_build(h);
    dyn_assert(i < h->nf);
    *f = h->fv[i].f;
    *flen = h->fv[i].flen;
}

void crdt_hash_value(struct crdt_hash *h, uint32_t i, const uint8_t **v,
                     size_t *vlen)
{
    view_build(h);
    dyn_assert(i < h->nf);
    const struct hfield *f = &h->fv[i];
    *v = f->voff == SIZE_MAX ? f->v
                              : (const uint8_t *)h->vbuf.p + f->voff;
    *vlen = f->vlen;
}

int crdt_hash_find(struct crdt_hash *h, const void *f, size_t flen,
                   uint32_t *i)
{
    view_build(h);
    uint32_t lo = 0, hi = h->nf;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct hfield *x = &h->fv[mid];
        int c = x->flen != flen ? (x->flen < flen ? -1 : 1)
                : flen          ? memcmp(x->f, f, flen)
                                : 0;
        if (c == 0) {
            *i = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- life -------------------------------------------------------------------- */

static struct crdt_hash *wrap(struct crdt_set *s)
{
    struct crdt_hash *h = dyn_calloc(1, sizeof(*h));
    h->s = s;
    dbuf_init(&h->vbuf);
    return h;
}

struct crdt_hash *crdt_hash_new(void)
{
    return wrap(crdt_set_new());
}

uint32_t crdt_hash_entries(const struct crdt_hash *h)
{
    return crdt_set_card(h->s);
}

void crdt_hash_pin(struct crdt_hash *h, int on)
{
    h->pinned = on;
}

void crdt_hash_free(struct crdt_hash *h)
{
    if (!h || h->pinned)
        return;
    crdt_set_free(h->s);
    dyn_free(h->fv);
    dbuf_free(&h->vbuf);
    dyn_free(h);
}

struct crdt_hash *crdt_hash_dup(const struct crdt_hash *h)
{
    return wrap(crdt_set_dup(h->s));
}

struct crdt_hash *crdt_hash_join(const struct crdt_hash *a,
                                 const struct crdt_hash *b)
{
    return wrap(crdt_set_join(a->s, b->s));
}

void crdt_hash_seen(const struct crdt_hash *h, struct vclock *out)
{
    crdt_set_seen(h->s, out);
}

int crdt_hash_compact(struct crdt_hash *h, const struct vclock *stable)
{
    view_drop(h);
    return crdt_set_compact(h->s, stable);
}

int crdt_hash_compact_marks(struct crdt_hash *h, const struct vclock *stable)
{
    view_drop(h);
    return crdt_set_compact_marks(h->s, stable);
}

/* ---- ops ---------------------------------------------------------------------- */

/* The set's bounds: actors and dots as given; fields, their bytes and
 * values' bytes are bounded by this file (an entry is more than a field,
 * and the key-wide reset names many). */
static struct crdt_limits inner_limits(const struct crdt_limits *lim)
{
    struct crdt_limits l = { 0, 0, 0, 0 };
    if (!lim)
        return l;
    l = *lim;
    l.max_members = 0;    /* fields are bounded here, not entries */
    l.max_member_len = 0; /* fields and values are, by this file */
    return l;
}

/* The copies of f's entries [lo, hi) (their bytes move as the set
 * changes). */
struct olds {
    uint32_t n;
    struct dbuf *b;
};

static void olds_take(const struct crdt_set *s, uint32_t lo, uint32_t hi,
                      struct olds *o)
{
    o->n = hi - lo;
    o->b = dyn_calloc(o->n + 1, sizeof(*o->b));
    for (uint32_t k = 0; k < o->n; k++) {
        const uint8_t *p;
        size_t len;
        member(s, lo + k, &p, &len);
        dbuf_init(&o->b[k]);
        dbuf_append(&o->b[k], p, len);
    }
}

static void olds_free(struct olds *o)
{
    for (uint32_t k = 0; k < o->n; k++)
        dbuf_free(&o->b[k]);
    dyn_free(o->b);
}

/* The SNAP an HSET/HDEL leaves: per actor its highest-seq part; empty
 * (len 0) when the field was never incremented. */
static void snap_build(const struct feval *e, const void *f, size_t flen,
                       struct dbuf *out)
{
    uint32_t n = 0;
    for (uint32_t k = 0; k < e->na; k++)
        n += e->a[k].has_inc || e->a[k].has_snap;
    if (n == 0)
        return;
    put_prefix(out, f, flen);
    crdt_put_u8(out, HK_SNAP);
    crdt_put_varint(out, n);
    for (uint32_t k = 0; k < e->na; k++) {
        const struct hactor *a = &e->a[k];
        if (a->has_inc && (!a->has_snap || a->inc.seq > a->snap.seq))
            put_part(out, &a->inc);
        else if (a->has_snap)
            put_part(out, &a->snap);
        else if (a->has_inc)
            put_part(out, &a->inc);
    }
}

static int add_entry(struct crdt_set *s, const struct dbuf *b,
                     struct crdt_dot *dot, const struct crdt_limits *lim)
{
    struct crdt_limits il = inner_limits(lim);
    int added;
    int rc = crdt_set_add(s, b->p, b->len, dot, &il, &added);
    if (rc == 0)
        dot->counter++;
    return rc;
}

/*
 * Replaces f's entries [e->lo, e->hi) by new ones: a REG (reg non-NULL),
 * the SNAP of what the op saw (with_snap), an INC (inc non-NULL).  Adds
 * first, so a refused add leaves the old entries; an old SNAP equal to
 * the new one is kept as it is (no dot spent).
 */
static int replace(struct crdt_hash *h, const struct feval *e, const void *f,
                   size_t flen, const struct dbuf *reg, int with_snap,
                   const struct dbuf *inc, struct crdt_dot *dot,
                   const struct crdt_limits *lim)
{
    struct olds o;
    struct dbuf snap;
    dbuf_init(&snap);
    if (with_snap)
        snap_build(e, f, flen, &snap);
    olds_take(h->s, e->lo, e->hi, &o);
    view_drop(h);
    int keep_snap = -1;
    if (snap.len && e->nsnap_entries == 1) {
        const uint8_t *p;
        size_t len;
        member(h->s, e->snap_ix, &p, &len);
        if (len == snap.len && memcmp(p, snap.p, len) == 0)
            keep_snap = (int)(e->snap_ix - e->lo);
    }
    const struct dbuf *adds[3] = { reg, snap.len && keep_snap < 0 ? &snap
                                                                  : NULL,
                                   inc };
    int rc = 0;
    uint32_t done = 0;
    for (uint32_t k = 0; k < 3 && rc == 0; k++) {
        if (!adds[k])
            continue;
        rc = add_entry(h->s, adds[k], dot, lim);
        if (rc == 0)
            done |= 1u << k;
    }
    if (rc) {
        for (uint32_t k = 0; k < 3; k++)
            if (done & (1u << k))
                crdt_set_remove(h->s, adds[k]->p, adds[k]->len);
    } else {
        for (uint32_t k = 0; k < o.n; k++) {
            if ((int)k == keep_snap)
                continue;
            int same = 0;
            for (uint32_t j = 0; j < 3; j++)
                same |= adds[j] && adds[j]->len == o.b[k].len &&
                        memcmp(adds[j]->p, o.b[k].p, o.b[k].len) == 0;
            if (!same)
                crdt_set_remove(h->s, o.b[k].p, o.b[k].len);
        }
    }
    olds_free(&o);
    dbuf_free(&snap);
    return rc;
}

static int check_new_field(struct crdt_hash *h, int present,
                           const struct crdt_limits *lim)
{
    if (!present && lim && lim->max_members &&
        crdt_hash_len(h) >= lim->max_members)
        return DYN_ELIMIT;
    return 0;
}

static int too_long(size_t len, const struct crdt_limits *lim)
{
    return len > UINT32_MAX - 64 ||
           (lim && lim->max_member_len && len > lim->max_member_len);
}

static void reg_bytes(struct dbuf *b, const void *f, size_t flen,
                      const void *v, size_t vlen, uint64_t ts)
{
    put_prefix(b, f, flen);
    crdt_put_u8(b, HK_REG);
    put_be64(b, ts);
    dbuf_append(b, v, vlen);
}

/* HSET f v, with_snap as the op's (0: folding, nothing concurrent). */
static int set_field(struct crdt_hash *h, const void *f, size_t flen,
                     const void *v, size_t vlen, uint64_t ts_ms,
                     int with_snap, struct crdt_dot *dot,
                     const struct crdt_limits *lim, int *added)
{
    if (dot->counter == 0)
        return DYN_EINVAL;
    if (too_long(flen, lim) || too_long(vlen, lim))
        return DYN_ELIMIT;
    uint32_t lo, hi;
    struct feval e;
    field_range(h->s, f, flen, &lo, &hi);
    feval_run(h->s, f, flen, lo, hi, &e);
    int present = feval_present(&e);
    int rc = check_new_field(h, present, lim);
    if (rc == 0) {
        struct dbuf reg;
        dbuf_init(&reg);
        reg_bytes(&reg, f, flen, v, vlen, ts_ms);
        rc = replace(h, &e, f, flen, &reg, with_snap, NULL, dot, lim);
        dbuf_free(&reg);
    }
    feval_free(&e);
    if (rc == 0 && added)
        *added = !present;
    return rc;
}

int crdt_hash_set(struct crdt_hash *h, const void *f, size_t flen,
                  const void *v, size_t vlen, uint64_t ts_ms,
                  struct crdt_dot *dot, const struct crdt_limits *lim,
                  int *added)
{
    return set_field(h, f, flen, v, vlen, ts_ms, 1, dot, lim, added);
}

int crdt_hash_del(struct crdt_hash *h, const void *f, size_t flen,
                  struct crdt_dot *dot, const struct crdt_limits *lim,
                  int *removed)
{
    uint32_t lo, hi;
    struct feval e;
    int rc = 0;
    *removed = 0;
    field_range(h->s, f, flen, &lo, &hi);
    feval_run(h->s, f, flen, lo, hi, &e);
    if (feval_present(&e)) {
        if (dot->counter == 0)
            rc = DYN_EINVAL;
        else
            rc = replace(h, &e, f, flen, NULL, 1, NULL, dot, lim);
        *removed = rc == 0;
    }
    feval_free(&e);
    return rc;
}

/* The actor's part that an increment continues: its highest seq. */
static struct hpart base_part(const struct feval *e, uint64_t actor)
{
    struct hpart z = { actor, 0, 0, 0, 0 };
    for (uint32_t k = 0; k < e->na; k++) {
        const struct hactor *a = &e->a[k];
        if (a->actor != actor)
            continue;
        if (a->has_inc && (!a->has_snap || a->inc.seq > a->snap.seq))
            return a->inc;
        if (a->has_snap)
            return a->snap;
    }
    return z;
}

/* Shared by both increments: the field's current text in cur. */
static int incr_common(struct crdt_hash *h, const void *f, size_t flen,
                       const struct crdt_dot *dot,
                       const struct crdt_limits *lim, struct feval *e,
                       struct dbuf *cur, int *present)
{
    uint32_t lo, hi;
    if (dot->counter == 0)
        return DYN_EINVAL;
    if (too_long(flen, lim))
        return DYN_ELIMIT;
    field_range(h->s, f, flen, &lo, &hi);
    feval_run(h->s, f, flen, lo, hi, e);
    *present = feval_present(e);
    if (*present)
        feval_text(e, cur);
    return 0;
}

static int incr_finish(struct crdt_hash *h, const struct feval *e,
                       const void *f, size_t flen, const struct hpart *np,
                       struct crdt_dot *dot, const struct crdt_limits *lim)
{
    /* The new INC replaces the actor's INC entries only. */
    struct dbuf inc;
    dbuf_init(&inc);
    put_prefix(&inc, f, flen);
    crdt_put_u8(&inc, HK_INC);
    put_part(&inc, np);
    view_drop(h);
    int rc = add_entry(h->s, &inc, dot, lim);
    if (rc == 0) {
        struct olds o;
        olds_take(h->s, e->lo, e->hi + 1, &o);
        for (uint32_t k = 0; k < o.n; k++) {
            struct hentry x;
            if (entry_parse((const uint8_t *)o.b[k].p, o.b[k].len, &x) == 0 &&
                x.kind == HK_INC && x.inc.actor == np->actor &&
                x.inc.seq != np->seq)
                crdt_set_remove(h->s, o.b[k].p, o.b[k].len);
        }
        olds_free(&o);
    }
    dbuf_free(&inc);
    return rc;
}

void crdt_hash_inc_actor(struct crdt_hash *h, uint64_t actor)
{
    h->inc_actor = actor;
}

int crdt_hash_has_dot(const struct crdt_hash *h, const struct crdt_dot *d)
{
    return crdt_set_has_dot(h->s, d);
}

int crdt_hash_incrby(struct crdt_hash *h, const void *f, size_t flen,
                     int64_t by, int fold, uint64_t ts_ms,
                     struct crdt_dot *dot, const struct crdt_limits *lim,
                     int64_t *result)
{
    struct feval e;
    struct dbuf cur;
    int present;
    long long v = 0;
    dbuf_init(&cur);
    int rc = incr_common(h, f, flen, dot, lim, &e, &cur, &present);
    if (rc)
        goto out;
    if (present && dyn_str2ll((const char *)cur.p, cur.len, &v) != 0) {
        rc = CRDT_ENOTINT;
        goto out;
    }
    if ((by < 0 && v < 0 && by < INT64_MIN - v) ||
        (by > 0 && v > 0 && by > INT64_MAX - v)) {
        rc = CRDT_EOVERFLOW;
        goto out;
    }
    if ((rc = check_new_field(h, present, lim)) != 0)
        goto out;
    *result = v + by;
    if (fold) {
        char t[24];
        size_t n = (size_t)snprintf(t, sizeof(t), "%" PRId64, *result);
        feval_free(&e);
        dbuf_free(&cur);
        return set_field(h, f, flen, t, n, ts_ms, 0, dot, lim, NULL);
    }
    uint64_t ia = h->inc_actor ? h->inc_actor : dot->actor;
    struct hpart np = base_part(&e, ia);
    if (__builtin_add_overflow(np.i, by, &np.i)) {
        rc = CRDT_EOVERFLOW;
        goto out;
    }
    np.actor = ia;
    np.seq = dot->counter;
    rc = incr_finish(h, &e, f, flen, &np, dot, lim);
out:
    feval_free(&e);
    dbuf_free(&cur);
    return rc;
}

int crdt_hash_incrbyfloat(struct crdt_hash *h, const void *f, size_t flen,
                          long double by, int fold, uint64_t ts_ms,
                          struct crdt_dot *dot, const struct crdt_limits *lim,
                          long double *result)
{
    struct feval e;
    struct dbuf cur;
    int present;
    long double v = 0;
    dbuf_init(&cur);
    int rc = incr_common(h, f, flen, dot, lim, &e, &cur, &present);
    if (rc)
        goto out;
    if (present && crdt_ld_parse(cur.p, cur.len, &v) != 0) {
        rc = CRDT_ENOTFLOAT;
        goto out;
    }
    v += by;
    if (isnan(v) || isinf(v)) {
        rc = CRDT_ENANINF;
        goto out;
    }
    if ((rc = check_new_field(h, present, lim)) != 0)
        goto out;
    *result = v;
    if (fold) {
        char *t = dyn_malloc(CRDT_LD_CHARS);
        size_t n = crdt_ld_format(t, CRDT_LD_CHARS, v);
        feval_free(&e);
        dbuf_free(&cur);
        rc = set_field(h, f, flen, t, n, ts_ms, 0, dot, lim, NULL);
        dyn_free(t);
        return rc;
    }
    uint64_t ia = h->inc_actor ? h->inc_actor : dot->actor;
    struct hpart np = base_part(&e, ia);
    np.f += by;
    if (!isfinite(np.f)) {
        rc = CRDT_ENANINF;
        goto out;
    }
    np.fops++;
    np.actor = ia;
    np.seq = dot->counter;
    rc = incr_finish(h, &e, f, flen, &np, dot, lim);
out:
    feval_free(&e);
    dbuf_free(&cur);
    return rc;
}

/* A field name, for the key-wide reset's list. */
struct fname {
    const uint8_t *f;
    uint32_t flen;
};

static int fname_cmp(const void *x, const void *y)
{
    const struct fname *a = x, *b = y;
    if (a->flen != b->flen)
        return a->flen < b->flen ? -1 : 1;
    return a->flen ? memcmp(a->f, b->f, a->flen) : 0;
}

int crdt_hash_clear(struct crdt_hash *h, const struct crdt_dot *dot,
                    const struct crdt_limits *lim)
{
    uint32_t n = crdt_set_card(h->s), first = all_first(h->s), nn = 0;
    if (dot->counter == 0)
        return DYN_EINVAL;
    /* every field the state names: by its entries, or by a reset */
    uint32_t cap = n + 1;
    struct fname *names = dyn_malloc((size_t)cap * sizeof(*names));
    for (uint32_t k = 0; k < first; k++) {
        struct hentry x;
        entry_at(h->s, k, &x);
        if (nn == 0 || fname_cmp(&names[nn - 1],
                                 &(struct fname){ x.f, x.flen }) != 0)
            names[nn++] = (struct fname){ x.f, x.flen };
    }
    for (uint32_t m = first; m < n; m++) {
        struct hentry all;
        entry_at(h->s, m, &all);
        for (uint32_t k = 0; k < all.nsnap; k++) {
            const uint8_t *p;
            size_t len;
            struct hentry x;
            all_item(&all, k, &p, &len);
            entry_parse(p, len, &x);
            if (nn == cap) {
                cap *= 2;
                names = dyn_realloc(names, (size_t)cap * sizeof(*names));
            }
            names[nn++] = (struct fname){ x.f, x.flen };
        }
    }
    qsort(names, nn, sizeof(*names), fname_cmp);
    /* per field, what the DEL saw: its SNAP entry, in member order */
    struct dbuf b, one;
    dbuf_init(&b);
    dbuf_init(&one);
    uint32_t ni = 0;
    for (uint32_t k = 0; k < nn; k++) {
        if (k && fname_cmp(&names[k - 1], &names[k]) == 0)
            continue;
        uint32_t lo, hi;
        struct feval e;
        field_range(h->s, names[k].f, names[k].flen, &lo, &hi);
        feval_run(h->s, names[k].f, names[k].flen, lo, hi, &e);
        dbuf_reset(&one);
        snap_build(&e, names[k].f, names[k].flen, &one);
        feval_free(&e);
        if (!one.len)
            continue;
        crdt_put_varint(&b, one.len);
        dbuf_append(&b, one.p, one.len);
        ni++;
    }
    dyn_free(names);
    struct dbuf entry;
    dbuf_init(&entry);
    int rc = 0;
    if (ni) {
        put_be32(&entry, ALL_FLEN);
        crdt_put_u8(&entry, HK_ALL);
        crdt_put_varint(&entry, ni);
        dbuf_append(&entry, b.p, b.len);
        struct crdt_dot d = *dot;
        rc = add_entry(h->s, &entry, &d, lim);
    }
    if (rc == 0) {
        view_drop(h);
        /* every other member goes (its dots stay seen) */
        uint32_t m = crdt_set_card(h->s);
        while (m-- > 0) {
            const uint8_t *p;
            size_t len;
            member(h->s, m, &p, &len);
            if (ni && len == entry.len && memcmp(p, entry.p, len) == 0)
                continue;
            uint8_t *copy = len ? dyn_memdup(p, len) : NULL;
            crdt_set_remove(h->s, copy, len);
            dyn_free(copy);
        }
    }
    dbuf_free(&b);
    dbuf_free(&one);
    dbuf_free(&entry);
    return rc;
}

/* ---- encoding --------------------------------------------------------------- */

void crdt_hash_encode(const struct crdt_hash *h, struct dbuf *out)
{
    crdt_put_u8(out, CRDT_TYPE_HASH);
    crdt_set_encode(h->s, out);
}

/* An entry's one encoding, for decode's check. */
static void entry_encode(const struct hentry *e, struct dbuf *out);
static void entry_encode(const struct hentry *e, struct dbuf *out)
{
    if (e->kind == HK_ALL)
        put_be32(out, ALL_FLEN);
    else
        put_prefix(out, e->f, e->flen);
    crdt_put_u8(out, e->kind);
    if (e->kind == HK_INC) {
        put_part(out, &e->inc);
    } else if (e->kind == HK_REG) {
        put_be64(out, e->ts);
        dbuf_append(out, e->v, e->vlen);
    } else if (e->kind == HK_SNAP) {
        crdt_put_varint(out, e->nsnap);
        for (uint32_t k = 0; k < e->nsnap; k++) {
            struct hpart q;
            snap_part(e, k, &q);
            put_part(out, &q);
        }
    } else {
        crdt_put_varint(out, e->nsnap);
        for (uint32_t k = 0; k < e->nsnap; k++) {
            const uint8_t *p;
            size_t len;
            struct hentry x;
            all_item(e, k, &p, &len);
            entry_parse(p, len, &x);
            struct dbuf one;
            dbuf_init(&one);
            entry_encode(&x, &one);
            crdt_put_varint(out, one.len);
            dbuf_append(out, one.p, one.len);
            dbuf_free(&one);
        }
    }
}

int crdt_hash_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_hash **out)
{
    struct crdt_set *s;
    struct crdt_limits il = inner_limits(lim);
    *out = NULL;
    if (len < 1 || p[0] != CRDT_TYPE_HASH)
        return DYN_EINVAL;
    int rc = crdt_set_decode(p + 1, len - 1, lim ? &il : NULL, &s);
    if (rc)
        return rc;
    struct dbuf again;
    dbuf_init(&again);
    uint32_t n = crdt_set_card(s);
    for (uint32_t k = 0; k < n && rc == 0; k++) {
        const uint8_t *m;
        size_t ml;
        struct hentry e;
        member(s, k, &m, &ml);
        if (entry_parse(m, ml, &e) != 0) {
            rc = DYN_EINVAL;
            break;
        }
        if ((e.kind != HK_ALL && too_long(e.flen, lim)) ||
            (e.kind == HK_REG && too_long(e.vlen, lim)))
            rc = DYN_ELIMIT;
        dbuf_reset(&again);
        entry_encode(&e, &again);
        if (again.len != ml || memcmp(again.p, m, ml) != 0)
            rc = DYN_EINVAL;
    }
    dbuf_free(&again);
    struct crdt_hash *h = wrap(s);
    if (rc == 0 && lim && lim->max_members &&
        crdt_hash_len(h) > lim->max_members)
        rc = DYN_ELIMIT;
    if (rc) {
        crdt_hash_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

/* ---- a readable state (DYNAMO.LOCAL) --------------------------------------- */

static void describe_bytes(struct dbuf *out, const uint8_t *p, size_t len)
{
    size_t shown = DYN_MIN(len, (size_t)64);
    dbuf_appendc(out, '"');
    for (size_t i = 0; i < shown; i++) {
        if (p[i] == '\\' || p[i] == '"')
            dbuf_printf(out, "\\%c", p[i]);
        else if (p[i] >= 0x20 && p[i] < 0x7f)
            dbuf_appendc(out, (char)p[i]);
        else
            dbuf_printf(out, "\\x%02x", p[i]);
    }
    dbuf_appendc(out, '"');
    if (shown < len)
        dbuf_printf(out, "...(%zu bytes)", len);
}

static void describe_part(struct dbuf *out, const struct hpart *q)
{
    dbuf_printf(out, " actor=%016" PRIx64 " seq=%" PRIu64 " sum=%" PRId64,
                q->actor, q->seq, q->i);
    if (q->fops) {
        char t[64];
        if (crdt_ld_format(t, sizeof(t), q->f) == 0)
            snprintf(t, sizeof(t), "%Lg", q->f);
        dbuf_printf(out, " float_ops=%" PRIu64 " float_sum=%s", q->fops, t);
    }
}

static void describe_dots(struct dbuf *out, const struct crdt_dot *dots,
                          uint32_t nd, int mark)
{
    dbuf_appends(out, " dots");
    if (mark)
        dbuf_appends(out, " stable");
    for (uint32_t d = 0; d < nd; d++)
        dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, dots[d].actor,
                    dots[d].counter);
    dbuf_appendc(out, '\n');
}

/* A SNAP's parts, then a newline (the caller chops it when the line goes
 * on). */
static void describe_snap(struct dbuf *out, const struct hentry *y)
{
    for (uint32_t q = 0; q < y->nsnap; q++) {
        struct hpart p;
        snap_part(y, q, &p);
        dbuf_appends(out, q ? " |" : "");
        describe_part(out, &p);
    }
    dbuf_appendc(out, '\n');
}

static void chop_newline(struct dbuf *out)
{
    out->len--;
}

void crdt_hash_describe(const struct crdt_hash *h, struct dbuf *out)
{
    struct vclock c;
    vclock_init(&c);
    crdt_set_clock(h->s, &c);
    dbuf_appends(out, "clock");
    for (uint32_t k = 0; k < c.n; k++)
        dbuf_printf(out, " %016" PRIx64 ":%" PRIu64, c.e[k].actor,
                    c.e[k].counter);
    vclock_free(&c);
    dbuf_printf(out, "\ncloud %" PRIu64 " dots in %u ranges\n",
                crdt_set_ncloud(h->s), crdt_set_ncloud_ranges(h->s));
    uint32_t n = crdt_set_card(h->s), k = 0;
    const struct crdt_dot *dots;
    uint32_t nd;
    int mark;
    while (k < n) {
        struct hentry x;
        uint32_t lo, hi;
        entry_at(h->s, k, &x);
        if (x.kind == HK_ALL) {
            crdt_set_member_dots(h->s, k, &dots, &nd, &mark);
            dbuf_printf(out, "key-wide reset (DEL) of %u fields", x.nsnap);
            describe_dots(out, dots, nd, mark);
            for (uint32_t q = 0; q < x.nsnap; q++) {
                const uint8_t *p;
                size_t len;
                struct hentry y;
                all_item(&x, q, &p, &len);
                entry_parse(p, len, &y);
                dbuf_appends(out, "  field ");
                describe_bytes(out, y.f, y.flen);
                describe_snap(out, &y);
            }
            k++;
            continue;
        }
        field_range(h->s, x.f, x.flen, &lo, &hi);
        struct feval e;
        feval_run(h->s, x.f, x.flen, lo, hi, &e);
        dbuf_appends(out, "field ");
        describe_bytes(out, x.f, x.flen);
        if (feval_present(&e)) {
            struct dbuf v;
            dbuf_init(&v);
            feval_text(&e, &v);
            dbuf_appends(out, " = ");
            describe_bytes(out, (const uint8_t *)v.p, v.len);
            dbuf_free(&v);
        } else {
            dbuf_appends(out, " (absent)");
        }
        dbuf_appendc(out, '\n');
        for (uint32_t j = lo; j < hi; j++) {
            struct hentry y;
            entry_at(h->s, j, &y);
            if (y.kind == HK_REG) {
                dbuf_printf(out, "  reg ts=%" PRIu64 " ", y.ts);
                describe_bytes(out, y.v, y.vlen);
            } else if (y.kind == HK_INC) {
                dbuf_appends(out, "  inc");
                describe_part(out, &y.inc);
            } else {
                dbuf_appends(out, "  reset-snapshot");
                describe_snap(out, &y);
                chop_newline(out);
            }
            crdt_set_member_dots(h->s, j, &dots, &nd, &mark);
            describe_dots(out, dots, nd, mark);
        }
        feval_free(&e);
        k = hi;
    }
}
