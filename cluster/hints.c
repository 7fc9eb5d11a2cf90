/*
 * hints.c -- the durable hint store.  hints.h tells what is promised; this
 * file tells how it is kept.
 *
 *   owners[]  sorted by name; an owner exists only while it has hints.
 *             Each owner has a queue of its entries ordered by id (oldest
 *             first); new hints have the highest id, so they go to the tail
 *             in O(1), and replay inserts from the tail backwards.
 *   tab       (owner, key) -> entry, chained, power-of-two buckets.
 *   segs[]    every segment file on disk, by number: its record bytes and
 *             how many pending hints (and their bytes) live in it.
 *
 * Invariants:
 *   - an entry's pos names its newest ADD record on disk (or in the seglog
 *     write buffer); segs[pos.seg].live counts it;
 *   - pending_bytes == sum of entry sizes == sum of segs[].live_bytes;
 *   - segments are removed only from the front of segs[]: a DEL in segment
 *     S removes an ADD in a segment <= S, so removing S while an older one
 *     survives could bring that ADD back on replay.  The active segment is
 *     never removed.
 *   - the replay applies the same rules as the live calls: an ADD with an
 *     id below the pending one is stale, an equal id is a copy made by
 *     compaction (only the location moves), a higher id replaces; a DEL
 *     removes the pending entry when its id is <= the DEL's.
 */
#include "cluster/hints.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "server/buf.h"
#include "server/util.h"
#include "server/wire.h"

#define HINTS_KEY_FIXED 10 /* id u64 | owner_len u16 */

struct hentry {
    struct howner *o;
    uint8_t *key;
    uint32_t klen;
    uint32_t size;              /* whole ADD record */
    uint64_t id;
    uint64_t hash;
    struct seglog_pos pos;
    struct hentry *prev, *next; /* owner queue, by id */
    struct hentry *hnext;       /* hash chain */
};

struct howner {
    char *name;
    size_t nlen;
    struct hentry *head, *tail;
    uint64_t count;
    uint64_t bytes;
};

struct hseg {
    uint32_t seg;
    uint64_t bytes;       /* record bytes in the file */
    uint64_t live;        /* pending hints whose ADD is here */
    uint64_t live_bytes;
};

struct hints {
    struct seglog *log;
    char *dir;
    uint64_t max_bytes;
    uint64_t next_id;
    struct howner **owners;
    size_t nowners, owners_cap;
    struct hentry **tab;
    size_t tab_size, nentries;
    struct hseg *segs;
    size_t nsegs, segs_cap;
    uint64_t pending_bytes;
    uint64_t bad_records;
    struct dbuf scratch;
    struct dbuf rbuf;
    struct hints_stats st;      /* the counters; the rest is computed */
};

static uint32_t hints_rec_size(size_t nlen, uint32_t klen, uint32_t olen)
{
    uint64_t s = (uint64_t)SEGLOG_HEADER + HINTS_KEY_FIXED + nlen + klen +
                 olen + SEGLOG_TRAILER;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* ---- owners ------------------------------------------------------------ */

static int hints_name_cmp(const struct howner *o, const char *n, size_t nlen)
{
    size_t m = DYN_MIN(o->nlen, nlen);
    int c = memcmp(o->name, n, m);
    if (c)
        return c;
    return o->nlen < nlen ? -1 : o->nlen > nlen;
}

/* Binary search; *at gets the insertion index when absent. */
static struct howner *hints_owner_find(const struct hints *hs, const char *n,
                                       size_t nlen, size_t *at)
{
    size_t lo = 0, hi = hs->nowners;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = hints_name_cmp(hs->owners[mid], n, nlen);
        if (c == 0) {
            if (at)
                *at = mid;
            return hs->owners[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at)
        *at = lo;
    return NULL;
}

static struct howner *hints_owner_get(struct hints *hs, const char *n,
                                      size_t nlen)
{
    size_t at;
    struct howner *o = hints_owner_find(hs, n, nlen, &at);
    if (o)
        return o;
    o = dyn_calloc(1, sizeof(*o));
    o->name = dyn_malloc(nlen + 1);
    memcpy(o->name, n, nlen);
    o->name[nlen] = 0;
    o->nlen = nlen;
    if (hs->nowners == hs->owners_cap) {
        hs->owners_cap = hs->owners_cap ? hs->owners_cap * 2 : 8;
        hs->owners = dyn_realloc(hs->owners,
                                 hs->owners_cap * sizeof(*hs->owners));
    }
    memmove(hs->owners + at + 1, hs->owners + at,
            (hs->nowners - at) * sizeof(*hs->owners));
    hs->owners[at] = o;
    hs->nowners++;
    return o;
}

/* Frees the owner once it has no hints left. */
static void hints_owner_release(struct hints *hs, struct howner *o)
{
    if (o->count)
        return;
    size_t at;
    struct howner *f = hints_owner_find(hs, o->name, o->nlen, &at);
    dyn_assert(f == o);
    memmove(hs->owners + at, hs->owners + at + 1,
            (hs->nowners - at - 1) * sizeof(*hs->owners));
    hs->nowners--;
    dyn_free(o->name);
    dyn_free(o);
}

/* ---- segments ---------------------------------------------------------- */

static struct hseg *hints_seg_get(struct hints *hs, uint32_t seg)
{
    size_t lo = 0, hi = hs->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (hs->segs[mid].seg == seg)
            return &hs->segs[mid];
        if (hs->segs[mid].seg < seg)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (hs->nsegs == hs->segs_cap) {
        hs->segs_cap = hs->segs_cap ? hs->segs_cap * 2 : 8;
        hs->segs = dyn_realloc(hs->segs, hs->segs_cap * sizeof(*hs->segs));
    }
    memmove(hs->segs + lo + 1, hs->segs + lo,
            (hs->nsegs - lo) * sizeof(*hs->segs));
    memset(&hs->segs[lo], 0, sizeof(hs->segs[lo]));
    hs->segs[lo].seg = seg;
    hs->nsegs++;
    return &hs->segs[lo];
}

static void hints_seg_live(struct hints *hs, struct seglog_pos pos,
                           uint32_t size, int add)
{
    struct hseg *s = hints_seg_get(hs, pos.seg);
    if (add) {
        s->live++;
        s->live_bytes += size;
    } else {
        dyn_assert(s->live > 0 && s->live_bytes >= size);
        s->live--;
        s->live_bytes -= size;
    }
}

static uint64_t hints_disk_bytes(const struct hints *hs)
{
    uint64_t t = 0;
    for (size_t i = 0; i < hs->nsegs; i++)
        t += hs->segs[i].bytes;
    return t;
}

/* ---- entries ----------------------------------------------------------- */

static uint64_t hints_hash(const struct howner *o, const void *key,
                           uint32_t klen)
{
    return dyn_hash64(key, klen) ^
           ((uint64_t)(uintptr_t)o * 0x9E3779B97F4A7C15ull);
}

static struct hentry *hints_entry_find(const struct hints *hs,
                                       const struct howner *o,
                                       const void *key, uint32_t klen)
{
    if (!o || !hs->tab_size)
        return NULL;
    uint64_t h = hints_hash(o, key, klen);
    for (struct hentry *e = hs->tab[h & (hs->tab_size - 1)]; e; e = e->hnext)
        if (e->hash == h && e->o == o && e->klen == klen &&
            (klen == 0 || memcmp(e->key, key, klen) == 0))
            return e;
    return NULL;
}

int hints_has_key(const struct hints *hs, const void *key, uint32_t klen)
{
    for (size_t i = 0; i < hs->nowners; i++)
        if (hints_entry_find(hs, hs->owners[i], key, klen))
            return 1;
    return 0;
}

static void hints_tab_grow(struct hints *hs)
{
    size_t n = hs->tab_size ? hs->tab_size * 2 : 64;
    struct hentry **t = dyn_calloc(n, sizeof(*t));
    for (size_t i = 0; i < hs->tab_size; i++) {
        struct hentry *e = hs->tab[i], *nx;
        for (; e; e = nx) {
            nx = e->hnext;
            e->hnext = t[e->hash & (n - 1)];
            t[e->hash & (n - 1)] = e;
        }
    }
    dyn_free(hs->tab);
    hs->tab = t;
    hs->tab_size = n;
}

/* Links e into its owner's queue in id order (from the tail: new ids are
 * the highest). */
static void hints_queue_insert(struct howner *o, struct hentry *e)
{
    struct hentry *p = o->tail;
    while (p && p->id > e->id)
        p = p->prev;
    e->prev = p;
    e->next = p ? p->next : o->head;
    if (e->next)
        e->next->prev = e;
    else
        o->tail = e;
    if (p)
        p->next = e;
    else
        o->head = e;
}

static void hints_queue_unlink(struct howner *o, struct hentry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        o->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        o->tail = e->prev;
    e->prev = e->next = NULL;
}

/* A new pending entry (the ADD at pos, size bytes). */
static void hints_entry_new(struct hints *hs, struct howner *o,
                            const void *key, uint32_t klen, uint64_t id,
                            struct seglog_pos pos, uint32_t size)
{
    if (hs->nentries >= hs->tab_size)
        hints_tab_grow(hs);
    struct hentry *e = dyn_calloc(1, sizeof(*e));
    e->o = o;
    e->key = dyn_memdup(key, klen ? klen : 1);
    e->klen = klen;
    e->id = id;
    e->size = size;
    e->pos = pos;
    e->hash = hints_hash(o, key, klen);
    size_t b = e->hash & (hs->tab_size - 1);
    e->hnext = hs->tab[b];
    hs->tab[b] = e;
    hs->nentries++;
    hints_queue_insert(o, e);
    o->count++;
    o->bytes += size;
    hs->pending_bytes += size;
    hints_seg_live(hs, pos, size, 1);
}

/* Points e at a newer version (a replacement: new id, new place in the
 * queue) or at a copy of the same one (same id). */
static void hints_entry_move(struct hints *hs, struct hentry *e, uint64_t id,
                             struct seglog_pos pos, uint32_t size)
{
    hints_seg_live(hs, e->pos, e->size, 0);
    e->o->bytes = e->o->bytes - e->size + size;
    hs->pending_bytes = hs->pending_bytes - e->size + size;
    e->size = size;
    e->pos = pos;
    hints_seg_live(hs, pos, size, 1);
    if (id != e->id) {
        hints_queue_unlink(e->o, e);
        e->id = id;
        hints_queue_insert(e->o, e);
    }
}

static void hints_entry_remove(struct hints *hs, struct hentry *e)
{
    struct howner *o = e->o;
    struct hentry **pp = &hs->tab[e->hash & (hs->tab_size - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    hs->nentries--;
    hints_queue_unlink(o, e);
    hints_seg_live(hs, e->pos, e->size, 0);
    o->count--;
    o->bytes -= e->size;
    hs->pending_bytes -= e->size;
    dyn_free(e->key);
    dyn_free(e);
    hints_owner_release(hs, o);
}

/* ---- the log ----------------------------------------------------------- */

static int hints_append(struct hints *hs, uint8_t type, uint64_t id,
                        const char *owner, size_t nlen, const void *key,
                        uint32_t klen, const void *obj, uint32_t olen,
                        struct seglog_pos *pos, uint32_t *size)
{
    struct dbuf *k = &hs->scratch;
    dbuf_reset(k);
    uint8_t fixed[HINTS_KEY_FIXED];
    wire_store_le64(fixed, id);
    wire_store_le16(fixed + 8, (uint16_t)nlen);
    dbuf_append(k, fixed, sizeof(fixed));
    dbuf_append(k, owner, nlen);
    if (klen)
        dbuf_append(k, key, klen);
    if (k->len > UINT32_MAX)
        return DYN_ELIMIT;
    struct seglog_pos p;
    int rc = seglog_append(hs->log, type, k->p, (uint32_t)k->len, obj, olen,
                           &p);
    if (rc)
        return rc;
    uint32_t sz = hints_rec_size(nlen, klen, olen);
    hints_seg_get(hs, p.seg)->bytes += sz;
    /* a roll inside the append sealed the old active: make sure the new
     * one is known even when nothing lands in it later */
    hints_seg_get(hs, seglog_active(hs->log));
    if (pos)
        *pos = p;
    if (size)
        *size = sz;
    return 0;
}

/* Splits a hint record's key; 0 or DYN_EINVAL. */
static int hints_split(const uint8_t *k, uint32_t klen, uint64_t *id,
                       const char **owner, size_t *nlen, const uint8_t **key,
                       uint32_t *keylen)
{
    if (klen < HINTS_KEY_FIXED)
        return DYN_EINVAL;
    *id = wire_load_le64(k);
    size_t n = wire_load_le16(k + 8);
    if (n == 0 || n > klen - HINTS_KEY_FIXED)
        return DYN_EINVAL;
    *owner = (const char *)k + HINTS_KEY_FIXED;
    *nlen = n;
    *key = k + HINTS_KEY_FIXED + n;
    *keylen = klen - HINTS_KEY_FIXED - (uint32_t)n;
    return 0;
}

static int hints_replay(void *ctx, const struct seglog_rec *r)
{
    struct hints *hs = ctx;
    uint64_t id;
    const char *owner;
    size_t nlen;
    const uint8_t *key;
    uint32_t klen;
    hints_seg_get(hs, r->pos.seg);
    if ((r->type != HINTS_REC_ADD && r->type != HINTS_REC_DEL) ||
        hints_split(r->key, r->klen, &id, &owner, &nlen, &key, &klen) != 0) {
        hs->bad_records++;
        return 0;
    }
    if (id >= hs->next_id)
        hs->next_id = id + 1;
    struct howner *o = hints_owner_find(hs, owner, nlen, NULL);
    struct hentry *e = hints_entry_find(hs, o, key, klen);
    if (r->type == HINTS_REC_DEL) {
        if (e && e->id <= id)
            hints_entry_remove(hs, e);
        return 0;
    }
    if (e) {
        if (e->id <= id)
            hints_entry_move(hs, e, id, r->pos, r->size);
        return 0; /* else stale: an older version */
    }
    o = hints_owner_get(hs, owner, nlen);
    hints_entry_new(hs, o, key, klen, id, r->pos, r->size);
    return 0;
}

/* Adds every hints.NNNNNNNN.seg in the directory to segs[], so that files
 * holding no valid record are known (and removed) too. */
static int hints_scan_dir(struct hints *hs)
{
    DIR *d = opendir(hs->dir);
    if (!d)
        return DYN_EIO;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strlen(n) != 6 + 8 + 4 || strncmp(n, "hints.", 6) != 0 ||
            strcmp(n + 14, ".seg") != 0)
            continue;
        uint32_t v = 0;
        int ok = 1;
        for (int i = 6; i < 14; i++) {
            if (n[i] < '0' || n[i] > '9')
                ok = 0;
            v = v * 10 + (uint32_t)(n[i] - '0');
        }
        if (ok)
            hints_seg_get(hs, v);
    }
    closedir(d);
    return 0;
}

/* Copies the live hints of the oldest (sealed) segment forward, with their
 * ids, and syncs, so that the segment can go. */
static int hints_compact_oldest(struct hints *hs)
{
    uint32_t seg = hs->segs[0].seg;
    size_t n = 0, cap = (size_t)hs->segs[0].live;
    struct hentry **v = dyn_malloc((cap ? cap : 1) * sizeof(*v));
    for (size_t i = 0; i < hs->nowners; i++)
        for (struct hentry *e = hs->owners[i]->head; e; e = e->next)
            if (e->pos.seg == seg && n < cap)
                v[n++] = e;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct hentry *e = v[i];
        struct seglog_rec r;
        rc = seglog_read(hs->log, e->pos, &hs->rbuf, &r);
        if (rc == DYN_EINVAL) {
            hs->st.corrupt++;
            hints_entry_remove(hs, e);
            rc = 0;
            continue;
        }
        if (rc)
            break;
        struct seglog_pos pos;
        rc = seglog_append(hs->log, r.type, r.key, r.klen, r.value, r.vlen,
                           &pos);
        if (rc)
            break;
        hints_seg_get(hs, pos.seg)->bytes += r.size;
        hints_seg_get(hs, seglog_active(hs->log));
        hints_entry_move(hs, e, e->id, pos, r.size);
    }
    dyn_free(v);
    /* the copies must be on disk before the originals are unlinked */
    if (rc == 0)
        rc = seglog_sync(hs->log);
    if (rc == 0)
        hs->st.compactions++;
    return rc;
}

/* Removes the dead prefix of segs[]; rolls first when nothing is pending;
 * copies the oldest segment forward when it pins mostly dead bytes. */
static int hints_reclaim(struct hints *hs)
{
    int rc;
    uint32_t active = seglog_active(hs->log);
    if (hs->nentries == 0 && hints_seg_get(hs, active)->bytes > 0) {
        /* no sync: the old active goes away at once */
        if ((rc = seglog_roll_nosync(hs->log)) != 0)
            return rc;
        active = seglog_active(hs->log);
        hints_seg_get(hs, active);
    }
    int flushed = 0, compacted = 0;
    for (;;) {
        while (hs->nsegs > 0 && hs->segs[0].seg != active &&
               hs->segs[0].live == 0) {
            /* a replacing ADD still in the buffer must reach the file
             * before the segment with the version it replaced goes */
            if (!flushed) {
                if ((rc = seglog_flush(hs->log)) != 0)
                    return rc;
                flushed = 1;
            }
            rc = seglog_remove_segment(hs->log, hs->segs[0].seg);
            if (rc && seglog_errno(hs->log) != ENOENT)
                return rc;
            memmove(hs->segs, hs->segs + 1,
                    (hs->nsegs - 1) * sizeof(*hs->segs));
            hs->nsegs--;
            hs->st.segments_removed++;
        }
        if (compacted || hs->nsegs < 2 || hs->segs[0].seg == active)
            return 0;
        const struct hseg *s = &hs->segs[0];
        if (s->live_bytes * 2 > s->bytes ||
            hints_disk_bytes(hs) <= 2 * hs->pending_bytes)
            return 0;
        if ((rc = hints_compact_oldest(hs)) != 0)
            return rc;
        compacted = 1;
        active = seglog_active(hs->log);
    }
}

/* ---- API --------------------------------------------------------------- */

int hints_open(const struct hints_opts *o, struct hints **out,
               struct hints_recovery *rec)
{
    struct hints_recovery dummy;
    if (!rec)
        rec = &dummy;
    memset(rec, 0, sizeof(*rec));
    if (!o->dir || !*o->dir)
        return DYN_EINVAL;
    if (mkdir(o->dir, 0755) != 0 && errno != EEXIST)
        return DYN_EIO;
    struct hints *hs = dyn_calloc(1, sizeof(*hs));
    struct dbuf path;
    dbuf_init(&path);
    dbuf_printf(&path, "%s/hints", o->dir);
    dbuf_appendc(&path, 0);
    hs->dir = dyn_strdup(path.p);
    dbuf_free(&path);
    hs->max_bytes = o->max_bytes;
    hs->next_id = 1;
    dbuf_init(&hs->scratch);
    dbuf_init(&hs->rbuf);
    hs->st.max_bytes = o->max_bytes;
    struct seglog_opts so = {
        .dir = hs->dir,
        .prefix = "hints",
        .segment_max_bytes = o->segment_max_bytes ? o->segment_max_bytes
                                                  : HINTS_SEGMENT_DEFAULT,
        .max_key = 0,
        .max_value = 0,
    };
    int rc = seglog_open(&so, 0, hints_replay, hs, &hs->log, &rec->log);
    if (rc == 0)
        rc = hints_scan_dir(hs);
    if (rc) {
        hints_close(hs); /* hs->log is NULL if seglog_open failed */
        return rc;
    }
    hints_seg_get(hs, seglog_active(hs->log));
    for (size_t i = 0; i < hs->nsegs; i++)
        hs->segs[i].bytes = seglog_segment_size(hs->log, hs->segs[i].seg);
    rec->pending = hs->nentries;
    rec->pending_bytes = hs->pending_bytes;
    rec->bad_records = hs->bad_records;
    (void)hints_reclaim(hs); /* best effort: retried on the next delivery */
    *out = hs;
    return 0;
}

void hints_close(struct hints *hs)
{
    if (!hs)
        return;
    seglog_close(hs->log);
    while (hs->nowners > 0) {
        struct howner *o = hs->owners[hs->nowners - 1];
        while (o->head) {
            struct hentry *e = o->head;
            o->head = e->next;
            dyn_free(e->key);
            dyn_free(e);
        }
        dyn_free(o->name);
        dyn_free(o);
        hs->nowners--;
    }
    dyn_free(hs->owners);
    dyn_free(hs->tab);
    dyn_free(hs->segs);
    dbuf_free(&hs->scratch);
    dbuf_free(&hs->rbuf);
    dyn_free(hs->dir);
    dyn_free(hs);
}

void hints_set_budget(struct hints *hs, uint64_t max_bytes)
{
    hs->max_bytes = max_bytes;
    hs->st.max_bytes = max_bytes;
}

int hints_add(struct hints *hs, const char *owner, const void *key,
              uint32_t klen, const void *obj, uint32_t olen)
{
    size_t nlen = owner ? strlen(owner) : 0;
    if (nlen == 0 || nlen > HINTS_OWNER_MAX)
        return DYN_EINVAL;
    uint32_t size = hints_rec_size(nlen, klen, olen);
    struct howner *o = hints_owner_find(hs, owner, nlen, NULL);
    struct hentry *e = hints_entry_find(hs, o, key, klen);
    uint64_t after = hs->pending_bytes - (e ? e->size : 0) + size;
    if (after > hs->max_bytes) {
        hs->st.dropped++;
        return DYN_ELIMIT;
    }
    uint64_t id = hs->next_id;
    struct seglog_pos pos;
    int rc = hints_append(hs, HINTS_REC_ADD, id, owner, nlen, key, klen, obj,
                          olen, &pos, &size);
    if (rc) {
        hs->st.dropped++;
        hs->st.dropped_io++;
        return rc == DYN_ELIMIT ? DYN_ELIMIT : DYN_EIO;
    }
    hs->next_id++;
    hs->st.stored++;
    if (e) {
        hs->st.replaced++;
        hints_entry_move(hs, e, id, pos, size);
        (void)hints_reclaim(hs); /* the old version may have freed a seg */
    } else {
        o = hints_owner_get(hs, owner, nlen);
        hints_entry_new(hs, o, key, klen, id, pos, size);
    }
    return 0;
}

void hints_owners(const struct hints *hs, hints_owner_fn fn, void *ctx)
{
    for (size_t i = 0; i < hs->nowners; i++)
        fn(ctx, hs->owners[i]->name, hs->owners[i]->count,
           hs->owners[i]->bytes);
}

void hints_pending(const struct hints *hs, const char *owner,
                   uint64_t *count, uint64_t *bytes)
{
    const struct howner *o =
        owner ? hints_owner_find(hs, owner, strlen(owner), NULL) : NULL;
    if (count)
        *count = o ? o->count : 0;
    if (bytes)
        *bytes = o ? o->bytes : 0;
}

void hints_batch_init(struct hints_batch *b)
{
    memset(b, 0, sizeof(*b));
}

void hints_batch_reset(struct hints_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        dyn_free(b->v[i].key);
        dyn_free(b->v[i].obj);
    }
    b->n = 0;
}

void hints_batch_free(struct hints_batch *b)
{
    if (!b)
        return;
    hints_batch_reset(b);
    dyn_free(b->v);
    hints_batch_init(b);
}

int hints_next(struct hints *hs, const char *owner, uint64_t after_id,
               size_t max, struct hints_batch *out)
{
    hints_batch_reset(out);
    struct howner *o =
        owner ? hints_owner_find(hs, owner, strlen(owner), NULL) : NULL;
    if (!o)
        return 0;
    struct hentry *e = o->head;
    while (e && e->id <= after_id)
        e = e->next;
    while (e && out->n < max) {
        struct hentry *next = e->next;
        struct seglog_rec r;
        uint64_t id;
        const char *on;
        size_t nlen;
        const uint8_t *key;
        uint32_t klen;
        int rc = seglog_read(hs->log, e->pos, &hs->rbuf, &r);
        if (rc == 0 && (r.type != HINTS_REC_ADD ||
                        hints_split(r.key, r.klen, &id, &on, &nlen, &key,
                                    &klen) != 0 ||
                        id != e->id))
            rc = DYN_EINVAL;
        if (rc == DYN_EINVAL) {
            /* rotted on disk since the replay: it cannot be delivered */
            hs->st.corrupt++;
            hints_entry_remove(hs, e); /* may free o, then next is NULL */
            e = next;
            continue;
        }
        if (rc)
            return rc;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = dyn_realloc(out->v, out->cap * sizeof(*out->v));
        }
        struct hint *h = &out->v[out->n++];
        h->id = e->id;
        h->key = dyn_memdup(key, klen ? klen : 1);
        h->klen = klen;
        h->obj = dyn_memdup(r.value, r.vlen ? r.vlen : 1);
        h->olen = r.vlen;
        e = next;
    }
    return 0;
}

/* Removes hint id of (owner, key) with a DEL record. */
static int hints_remove_one(struct hints *hs, const char *owner,
                            const void *key, uint32_t klen, uint64_t id)
{
    size_t nlen = owner ? strlen(owner) : 0;
    struct howner *o =
        nlen ? hints_owner_find(hs, owner, nlen, NULL) : NULL;
    struct hentry *e = hints_entry_find(hs, o, key, klen);
    if (!e || e->id != id)
        return DYN_ENOTFOUND;
    int rc = hints_append(hs, HINTS_REC_DEL, id, owner, nlen, key, klen, NULL,
                          0, NULL, NULL);
    if (rc)
        return rc == DYN_ELIMIT ? DYN_ELIMIT : DYN_EIO;
    hints_entry_remove(hs, e);
    (void)hints_reclaim(hs);
    return 0;
}

int hints_delivered(struct hints *hs, const char *owner, const void *key,
                    uint32_t klen, uint64_t id)
{
    int rc = hints_remove_one(hs, owner, key, klen, id);
    if (rc == 0)
        hs->st.delivered++;
    return rc;
}

int hints_drop(struct hints *hs, const char *owner, const void *key,
               uint32_t klen, uint64_t id)
{
    return hints_remove_one(hs, owner, key, klen, id);
}

uint64_t hints_scan(const struct hints *hs, const char *owner,
                    uint64_t after_id, size_t max, hints_key_fn fn,
                    void *ctx)
{
    const struct howner *o =
        owner ? hints_owner_find(hs, owner, strlen(owner), NULL) : NULL;
    uint64_t last = 0;
    if (!o)
        return 0;
    const struct hentry *e = o->head;
    while (e && e->id <= after_id)
        e = e->next;
    for (size_t k = 0; e && k < max; k++, e = e->next) {
        last = e->id;
        fn(ctx, e->id, e->key, e->klen);
    }
    return last;
}

int hints_drop_owner(struct hints *hs, const char *owner, uint64_t *n)
{
    uint64_t cnt = 0;
    size_t nlen = owner ? strlen(owner) : 0;
    struct howner *o =
        nlen ? hints_owner_find(hs, owner, nlen, NULL) : NULL;
    int rc = 0;
    while (o) {
        struct hentry *e = o->head;
        int last = o->count == 1;
        rc = hints_append(hs, HINTS_REC_DEL, e->id, owner, nlen, e->key,
                          e->klen, NULL, 0, NULL, NULL);
        if (rc)
            break;
        hints_entry_remove(hs, e); /* frees o with its last hint */
        cnt++;
        if (last)
            o = NULL;
    }
    if (n)
        *n = cnt;
    if (cnt)
        (void)hints_reclaim(hs);
    return rc ? DYN_EIO : 0;
}

int hints_flush(struct hints *hs)
{
    return seglog_flush(hs->log);
}

int hints_sync(struct hints *hs)
{
    return seglog_sync(hs->log);
}

int hints_unsynced(const struct hints *hs)
{
    return seglog_unsynced(hs->log);
}

int hints_failed(const struct hints *hs)
{
    return seglog_failed(hs->log);
}

int hints_errno(const struct hints *hs)
{
    return seglog_errno(hs->log);
}

void hints_stats(const struct hints *hs, struct hints_stats *st)
{
    *st = hs->st;
    st->pending = hs->nentries;
    st->pending_bytes = hs->pending_bytes;
    st->disk_bytes = hints_disk_bytes(hs);
    st->segments = (uint32_t)hs->nsegs;
    st->owners = (uint32_t)hs->nowners;
}
