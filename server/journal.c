/*
 * journal.c -- the typed-op journal's files and records (journal.h says
 * what it is for and what a record holds).
 *
 * A thin layer over seglog: the records are checksummed, a torn tail is
 * cut at open, a corrupt record is skipped (counted; its op is lost, as a
 * corrupt data record's value is).  The segments are never compacted:
 * the engine starts a new segment and removes the older ones once every
 * op in them is held by a durable data record (at start and shutdown at
 * once, journal_restart; under load in two steps, journal_roll and
 * journal_drop_before).  `lo` is the oldest segment that may still
 * exist, so that a restart removes them all.
 *
 * Thread-safety: one owner.  Errors: 0 or a negative dyn_err.
 */
#include "server/journal.h"

#include <string.h>
#include "server/seglog.h"
#include "server/wire.h"

/* past journal-max-bytes' maximum (1 GB): a segment never rolls by
 * itself, so the bytes of the sealed ones are known from open and restart */
#define JOURNAL_SEGMENT_MAX (4ull << 30)
#define JOURNAL_MAX_KEY (512u * 1024 * 1024)
#define JOURNAL_FIXED (8 + 8 + 4 + 8 + 8 + 4)

struct journal {
    struct seglog *log;
    uint32_t lo;
    uint64_t sealed;    /* bytes of the segments before the active one */
    struct dbuf enc;
};

struct journal_open_ctx {
    journal_replay_fn fn;
    void *ctx;
    journal_delta_fn dfn;
    void *dctx;
    uint32_t lo;
    uint64_t corrupt;
};

static int journal_scan(void *ctx, const struct seglog_rec *r)
{
    struct journal_open_ctx *oc = ctx;
    if (r->pos.seg < oc->lo)
        oc->lo = r->pos.seg;
    if (r->type == JOURNAL_DELTA)
        return oc->dfn ? oc->dfn(oc->dctx, r->key, r->klen, r->value,
                                 r->vlen)
                       : 0;
    struct journal_op op;
    if (r->type != JOURNAL_OP ||
        journal_op_parse(r->value, r->vlen, &op) != 0) {
        oc->corrupt++;
        return 0;
    }
    op.key = r->key;
    op.klen = r->klen;
    int rc = oc->fn ? oc->fn(oc->ctx, &op) : 0;
    journal_op_clear(&op);
    return rc;
}

int journal_open(const char *dir, uint64_t max_value, journal_replay_fn fn,
                 void *ctx, journal_delta_fn dfn, void *dctx,
                 struct journal **out, uint64_t *corrupt)
{
    struct seglog_opts so = {
        .dir = dir,
        .prefix = "journal",
        .segment_max_bytes = JOURNAL_SEGMENT_MAX,
        .max_key = JOURNAL_MAX_KEY,
        .max_value = max_value,
    };
    struct journal_open_ctx oc = {
        .fn = fn, .ctx = ctx, .dfn = dfn, .dctx = dctx, .lo = UINT32_MAX};
    struct seglog_recovery rec;
    struct journal *j = dyn_calloc(1, sizeof(*j));
    dbuf_init(&j->enc);
    *out = NULL;
    int rc = seglog_open(&so, 0, journal_scan, &oc, &j->log, &rec);
    if (corrupt)
        *corrupt = oc.corrupt + rec.corrupt_records;
    if (rc != 0) {
        journal_close(j);
        return rc;
    }
    uint32_t active = seglog_active(j->log);
    j->lo = oc.lo < active ? oc.lo : active;
    for (uint32_t s = j->lo; s < active; s++)
        j->sealed += seglog_segment_size(j->log, s);
    *out = j;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->log)
        seglog_close(j->log);
    dbuf_free(&j->enc);
    dyn_free(j);
}

void journal_op_encode(const struct journal_op *op, struct dbuf *out)
{
    uint8_t h[JOURNAL_FIXED];
    wire_store_le64(h, op->actor);
    wire_store_le64(h + 8, op->first);
    wire_store_le32(h + 16, op->ndots);
    wire_store_le64(h + 20, op->ts_ms);
    wire_store_le64(h + 28, op->rng);
    wire_store_le32(h + 36, op->argc);
    dbuf_append(out, h, sizeof(h));
    for (uint32_t i = 0; i < op->argc; i++) {
        uint8_t l[4];
        wire_store_le32(l, (uint32_t)op->argv[i].len);
        dbuf_append(out, l, 4);
        dbuf_append(out, op->argv[i].p, op->argv[i].len);
    }
}

int journal_op_parse(const uint8_t *v, size_t len, struct journal_op *op)
{
    memset(op, 0, sizeof(*op));
    if (len < JOURNAL_FIXED)
        return DYN_EINVAL;
    op->actor = wire_load_le64(v);
    op->first = wire_load_le64(v + 8);
    op->ndots = wire_load_le32(v + 16);
    op->ts_ms = wire_load_le64(v + 20);
    op->rng = wire_load_le64(v + 28);
    uint32_t argc = wire_load_le32(v + 36);
    size_t off = JOURNAL_FIXED;
    /* every argument takes at least its 4-byte length */
    if (argc == 0 || op->ndots == 0 || argc > (len - off) / 4)
        return DYN_EINVAL;
    struct dyn_arg *argv = dyn_calloc(argc, sizeof(*argv));
    op->argv = argv;
    for (uint32_t i = 0; i < argc; i++) {
        if (len - off < 4)
            goto bad;
        uint32_t l = wire_load_le32(v + off);
        off += 4;
        if (l > len - off)
            goto bad;
        argv[i].p = (const char *)v + off;
        argv[i].len = l;
        off += l;
    }
    if (off != len)
        goto bad;
    op->argc = argc;
    return 0;
bad:
    journal_op_clear(op);
    return DYN_EINVAL;
}

void journal_op_clear(struct journal_op *op)
{
    dyn_free((void *)op->argv);
    op->argv = NULL;
    op->argc = 0;
}

int journal_append(struct journal *j, const struct journal_op *op)
{
    dbuf_reset(&j->enc);
    journal_op_encode(op, &j->enc);
    if (j->enc.len > UINT32_MAX)
        return DYN_ELIMIT;
    struct seglog_pos pos;
    return seglog_append(j->log, JOURNAL_OP, op->key, op->klen, j->enc.p,
                         (uint32_t)j->enc.len, &pos);
}

int journal_append_delta(struct journal *j, const void *key, size_t klen,
                         const void *delta, size_t dlen)
{
    if (dlen > UINT32_MAX)
        return DYN_ELIMIT;
    struct seglog_pos pos;
    return seglog_append(j->log, JOURNAL_DELTA, key, (uint32_t)klen, delta,
                         (uint32_t)dlen, &pos);
}

uint32_t journal_segment(const struct journal *j)
{
    return seglog_active(j->log);
}

int journal_room(struct journal *j, uint64_t bytes)
{
    return seglog_reserve(j->log, bytes);
}

int journal_flush(struct journal *j)
{
    return seglog_flush(j->log);
}

int journal_sync(struct journal *j)
{
    return seglog_sync(j->log);
}

size_t journal_pending(const struct journal *j)
{
    return seglog_pending(j->log);
}

int journal_unsynced(const struct journal *j)
{
    return seglog_unsynced(j->log);
}

int journal_active_fd(const struct journal *j)
{
    return seglog_active_fd(j->log);
}

int journal_errno(const struct journal *j)
{
    return seglog_errno(j->log);
}

uint64_t journal_bytes(const struct journal *j)
{
    return j->sealed + seglog_segment_size(j->log, seglog_active(j->log));
}

int journal_roll(struct journal *j, uint32_t *seg)
{
    uint64_t was = seglog_segment_size(j->log, seglog_active(j->log));
    int rc = seglog_roll_nosync(j->log);
    if (rc != 0)
        return rc;
    j->sealed += was;
    *seg = seglog_active(j->log);
    return 0;
}

void journal_drop_before(struct journal *j, uint32_t seg)
{
    for (uint32_t s = j->lo; s < seg && s < seglog_active(j->log); s++) {
        j->sealed -= DYN_MIN(j->sealed, seglog_segment_size(j->log, s));
        (void)seglog_remove_segment(j->log, s);
    }
    if (seg > j->lo)
        j->lo = DYN_MIN(seg, seglog_active(j->log));
}

int journal_restart(struct journal *j)
{
    uint32_t seg;
    int rc = journal_roll(j, &seg);
    if (rc != 0)
        return rc;
    journal_drop_before(j, seg);
    j->sealed = 0;
    return 0;
}
