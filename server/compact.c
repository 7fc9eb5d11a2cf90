/*
 * compact.c -- compaction of the engine's sealed segments, in slices on
 * the event loop.  engine.h's essay gives the rules (which segment, which
 * records are carried, when the old file goes); this file adds how.
 *
 * A compaction's life:
 *
 *   compact_step (from engine_cron, every cron and every 2 ms while busy)
 *     compact_pick      the sealed segment with the most dead bytes past
 *                       compact-ratio (a quarter of it while all the files
 *                       exceed 1 + ratio/2 times the live bytes); opened
 *     compact_slice     parse the bytes read so far, record by record:
 *       compact_record    a PUT the key directory still points at is
 *                         appended again (engine_append) and the directory
 *                         moved to the copy; a DEL is carried only while an
 *                         older segment may hold a PUT; FLUSH is dropped
 *       compact_request   bytes not read yet: a JOB_READ for the helper
 *                         thread, and the slice ends (it never waits)
 *     compact_finish    the segment is done: the records appended are
 *                       written, and a JOB_COMPACT fdatasyncs the active
 *                       segment and only then unlinks the old one and its
 *                       hint
 *   compact_job_done    (engine_poll) a READ's bytes become the buffer,
 *                       unless the compaction stopped or moved on since (its
 *                       `gen` differs); a COMPACT's result is counted, or a
 *                       failed fdatasync fails the engine
 *
 * Invariants: a slice stops after ENGINE_SLICE_BYTES of input or its time
 * budget (checked every 32 records); a segment is never unlinked before
 * the copies of its live records are durable; a segment whose read failed
 * is kept, counted as all live, so it is not picked again.
 *
 * Dependencies: this file writes through the engine's append path and
 * queues jobs on its helper thread (engine_int.h); the engine calls
 * compact_step, compact_stop and compact_job_done.  Nothing else calls it.
 * Thread-safety: the event loop's only; the helper thread sees only jobs.
 * Errors: an append error pauses the compaction (it is picked again
 * later); a failed engine stops it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "server/engine_int.h"
#include "server/log.h"
#include "server/store.h"
#include "server/util.h"
#include "server/wire.h"

void compact_init(struct compaction *c)
{
    c->fd = -1;
    dbuf_init(&c->buf);
}

void compact_free(struct compaction *c)
{
    dbuf_free(&c->buf);
}

void compact_stop(struct engine *e)
{
    struct compaction *c = &e->cmp;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->on = 0;
    c->gen++;
    c->rd_inflight = 0;
    c->rd_failed = 0;
    dbuf_reset(&c->buf);
    dbuf_shrink(&c->buf, ENGINE_SLICE_BYTES * 2);
    e->st.compacting = 0;
}

static int compact_pick(struct engine *e)
{
    uint32_t act = seglog_active(e->log);
    struct segstat *best = NULL;
    double best_ratio = -1;
    /* Besides each segment's own ratio, a global one: while the data files
     * hold more than (1 + ratio/2) x the live bytes, segments down to a
     * quarter of the ratio are compacted too, so space stays bounded near
     * 1.25x live (ratio 0.5) rather than the per-segment worst case of
     * 1 / (1 - ratio). */
    uint64_t all = 0, all_live = 0;
    for (size_t i = 0; i < e->nsegs; i++) {
        all += e->segs[i].total;
        all_live += DYN_MIN(e->segs[i].live, e->segs[i].total);
    }
    uint64_t pm = (uint64_t)e->ratio_pm;
    if (all * 1000 > all_live * (1000 + pm / 2))
        pm /= 4;
    for (size_t i = 0; i < e->nsegs; i++) {
        struct segstat *s = &e->segs[i];
        if (s->seg == act || s->hint_pending)
            continue;
        uint64_t live = DYN_MIN(s->live, s->total);
        uint64_t dead = s->total - live;
        if (s->total > 0 && dead * 1000 <= pm * s->total)
            continue;
        double ratio = s->total ? (double)dead / (double)s->total : 1.0;
        if (ratio > best_ratio) {
            best = s;
            best_ratio = ratio;
        }
    }
    if (!best)
        return 0;
    struct compaction *c = &e->cmp;
    struct dbuf p;
    dbuf_init(&p);
    seglog_segment_path(e->log, best->seg, &p);
    c->fd = open(p.p, O_RDONLY | O_CLOEXEC);
    dbuf_free(&p);
    if (c->fd < 0) {
        dlog(DLOG_WARNING, "Compaction: cannot open segment %u: %s",
             best->seg, strerror(errno));
        engine_seg_drop(e, best->seg); /* it is gone: nothing to keep */
        return 0;
    }
    c->on = 1;
    c->gen++;
    c->rd_inflight = 0;
    c->rd_failed = 0;
    c->req_off = c->req_len = 0;
    c->seg = best->seg;
    c->off = 0;
    c->size = best->total;
    c->oldest = best == &e->segs[0];
    c->buf_off = 0;
    dbuf_reset(&c->buf);
    (void)posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    (void)posix_fadvise(c->fd, 0, 4 * ENGINE_READ_CHUNK, POSIX_FADV_WILLNEED);
    e->st.compacting = 1;
    return 1;
}

/* Asks the helper thread for file bytes [off, off + want) (at least a
 * slice's worth, clamped to the file): they arrive in buf, by engine_poll,
 * for a later slice.  Returns 0 (asked, or already asked), or -1 when a
 * read failed. */
static int compact_request(struct engine *e, uint64_t want)
{
    struct compaction *c = &e->cmp;
    if (c->rd_failed) {
        errno = c->rd_err;
        return -1;
    }
    if (c->rd_inflight)
        return 0;
    want = DYN_MIN(DYN_MAX(want, (uint64_t)ENGINE_SLICE_BYTES),
                   c->size - c->off);
    int fd = dup(c->fd);
    if (fd < 0)
        return -1;
    struct job *j = engine_job_new(e, JOB_READ, fd);
    dbuf_init(&j->data);
    j->seg = c->seg;
    j->off = c->off;
    j->len = want;
    j->gen = c->gen;
    c->req_off = c->off;
    c->req_len = want;
    c->rd_inflight = 1;
    (void)posix_fadvise(c->fd, (off_t)(c->off + want),
                        (off_t)(4 * ENGINE_READ_CHUNK), POSIX_FADV_WILLNEED);
    engine_job_submit(e, j);
    return 0;
}

/* Handles one valid record of the segment being compacted.  0 or an
 * append error (the compaction then stops). */
static int compact_record(struct engine *e, const struct seglog_rec *r)
{
    struct compaction *c = &e->cmp;
    uint64_t cur, nloc;
    unsigned flags;
    int rc;
    switch (r->type) {
    case ENGINE_REC_PUT:
        if (!store_get_loc(e->store, r->key, r->klen, &cur, &flags) ||
            loc_seg(cur) != c->seg || loc_off(cur) != c->off)
            return 0;
        rc = engine_append(e, ENGINE_REC_PUT, r->key, r->klen, r->value,
                           r->vlen, flags, &nloc);
        if (rc)
            return rc;
        store_move_loc(e->store, r->key, r->klen, cur, nloc);
        engine_seg_live_sub(e, cur);
        e->st.compact_records_moved++;
        return 0;
    case ENGINE_REC_DEL:
        /* Still needed only while an older segment may hold a PUT. */
        if (c->oldest || store_get_loc(e->store, r->key, r->klen, NULL, NULL))
            return 0;
        return engine_append(e, ENGINE_REC_DEL, r->key, r->klen, NULL, 0, 0,
                             NULL);
    default:
        return 0; /* FLUSH: everything older is already gone */
    }
}

static void compact_finish(struct engine *e)
{
    struct compaction *c = &e->cmp;
    uint32_t seg = c->seg;
    uint64_t bytes = c->size;
    compact_stop(e);
    if (seglog_pending(e->log) > 0 && seglog_flush(e->log) != 0) {
        engine_fail(e, seglog_errno(e->log), "write");
        return;
    }
    int fd = dup(seglog_active_fd(e->log));
    if (fd < 0) {
        dlog(DLOG_WARNING, "Compaction: dup: %s", strerror(errno));
        return;
    }
    engine_seg_drop(e, seg);
    seglog_unmap(e->log, seg);
    struct job *j = engine_job_new(e, JOB_COMPACT, fd);
    j->seg = seg;
    j->bytes = bytes;
    j->path_a = engine_path_dup(e, seg, ".seg");
    j->path_b = engine_path_dup(e, seg, ".hint");
    engine_job_submit(e, j);
}

/* One slice; returns 1 while the segment is not done. */
static int compact_slice(struct engine *e, uint64_t budget_us)
{
    struct compaction *c = &e->cmp;
    uint64_t start = dyn_mono_us();
    uint64_t consumed = 0;
    unsigned n = 0;
    int ioerr = 0;
    while (c->off < c->size && consumed < ENGINE_SLICE_BYTES) {
        if (e->failed) {
            compact_stop(e);
            return 0;
        }
        if (c->off < c->buf_off || c->off >= c->buf_off + c->buf.len) {
            if (compact_request(e, 0) != 0)
                ioerr = 1;
            break; /* the bytes come from the helper thread */
        }
        const uint8_t *p = (const uint8_t *)c->buf.p + (c->off - c->buf_off);
        size_t avail = (size_t)(c->buf_off + c->buf.len - c->off);
        struct seglog_rec r;
        int pr = seglog_parse(p, avail, ENGINE_MAX_KEY, ENGINE_MAX_VALUE, &r);
        if (pr == 0 && c->off + avail < c->size) {
            /* the record runs past the buffer: read it whole (fill()
             * clamps to the file), unless its length is impossible */
            uint64_t want = ENGINE_READ_CHUNK;
            int possible = 1;
            if (avail >= SEGLOG_HEADER) {
                want = (uint64_t)SEGLOG_HEADER + wire_load_le32(p + 2) +
                       wire_load_le32(p + 6) + SEGLOG_TRAILER;
                possible = c->off + want <= c->size;
            }
            if (possible) {
                /* the answer to a request for the whole record came
                 * short: the file is shorter than it was.  (A request
                 * still in flight has not answered: a record bigger than
                 * a slice's read was taken for a short file, its segment
                 * kept as all live, and its space never reclaimed.) */
                if (!c->rd_inflight && c->buf_off == c->off &&
                    c->req_off == c->off && c->buf.len < c->req_len) {
                    ioerr = 1;
                    break;
                }
                if (compact_request(e, want) != 0)
                    ioerr = 1;
                break; /* the whole record comes from the helper thread */
            }
        }
        if (pr != 1) {
            c->off++; /* corrupt: look for the next record */
            consumed++;
            continue;
        }
        if (compact_record(e, &r) != 0) {
            dlog(DLOG_NOTICE, "Compaction of segment %u paused: %s", c->seg,
                 engine_error_text(e, e->failed ? DYN_EIO : DYN_EAGAIN));
            compact_stop(e);
            return 0;
        }
        c->off += r.size;
        consumed += r.size;
        if ((++n & 31) == 0 && dyn_mono_us() - start >= budget_us)
            break;
    }
    if (ioerr) {
        /* Keep the segment (and stop picking it): its records may still be
         * needed, and reading them failed. */
        dlog(DLOG_WARNING, "Compaction: reading segment %u failed: %s",
             c->seg, strerror(errno ? errno : EIO));
        struct segstat *s = engine_seg_find(e, c->seg);
        if (s)
            s->live = s->total;
        compact_stop(e);
    } else if (c->off >= c->size) {
        compact_finish(e);
    }
    uint64_t dt = dyn_mono_us() - start;
    e->st.compact_worst_slice_us = DYN_MAX(e->st.compact_worst_slice_us, dt);
    return c->on;
}

int compact_step(struct engine *e, uint64_t budget_us)
{
    if (!e->cmp.on && !compact_pick(e))
        return 0;
    return compact_slice(e, budget_us);
}

void compact_job_done(struct engine *e, struct job *j)
{
    switch (j->kind) {
    case JOB_READ: {
        struct compaction *c = &e->cmp;
        if (!c->on || !c->rd_inflight || j->gen != c->gen)
            break; /* stale: the compaction stopped or moved on */
        c->rd_inflight = 0;
        if (j->rc != 0) {
            c->rd_failed = 1;
            c->rd_err = j->err;
            break;
        }
        struct dbuf t = c->buf;
        c->buf = j->data;
        j->data = t;
        c->buf_off = j->off;
        break;
    }
    case JOB_COMPACT:
        if (j->rc != 0) {
            engine_fail(e, j->err, "fsync");
        } else {
            e->st.compactions++;
            e->st.compact_bytes_reclaimed += j->bytes;
            dlog(DLOG_VERBOSE, "Compacted segment %u (%llu bytes)", j->seg,
                 (unsigned long long)j->bytes);
        }
        break;
    default:
        break; /* not a compaction's job */
    }
}
