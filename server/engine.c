/*
 * engine.c -- the Bitcask-style durable engine proper: its state, the
 * append path, hint files, loading, commit and undo, and the helper thread
 * with its job queue.  engine.h describes the files, the records, the
 * guarantees and the failure rules; this file adds how they are kept.
 *
 * Its neighbours: compaction is server/compact.c (it appends through
 * engine_append and queues READ and COMPACT jobs here; engine_cron steps
 * it), node.meta is server/nodemeta.c (identity and dot-counter
 * reservations; it knows nothing of the engine).  What the engine's files
 * share is server/engine_int.h, included by nobody else.
 *
 * The life of a write (storage disk):
 *
 *   engine_put_take(key, obj)
 *     seglog_reserve   room for the record, preallocated (full disk ->
 *                      DYN_EAGAIN, nothing changed)
 *     seglog_append    into the write buffer; pos = (segment, offset)
 *     hint_add         the hint entry for the segment being written
 *     store_put_loc    keydir -> location; the old location's bytes die
 *     engine_commit    (unless the caller batches) write(2), fdatasync
 *                      when appendfsync is always
 *
 * Location word kept in the store (64 bits; loc_* in engine_int.h):
 *     segment (22 bits) | offset (30 bits) | size code (12 bits)
 * The size code is exact below 2 KiB and rounds up by under 1/32 above; it
 * is only used for live-byte accounting, where it is added and subtracted
 * identically.  So a segment number above 2^22 - 1 cannot be addressed:
 * writes are then refused (at 64 MiB segments, after 256 TiB written).
 *
 * Per segment the engine keeps {total bytes, live bytes, hint pending}
 * in a small array sorted by segment number (a node has tens of segments).
 *
 * The helper thread runs jobs in order: SYNC (fdatasync a dup of the
 * active segment; everysec), HINT (fdatasync a finished .hint.tmp, rename
 * it, fsync the directory), COMPACT (fdatasync a dup of the active
 * segment, then unlink the compacted segment and its hint), READ (pread
 * the next bytes of the segment being compacted into the job's buffer),
 * HINT_WRITE (append a spilled megabyte of hint entries to
 * the .hint.tmp file, created by the first), PREPARE (create segment
 * active + 1, preallocate it, fsync the directory: the descriptor goes to
 * seglog_adopt_next, so a roll is a swap), RESERVE (fallocate the active
 * segment ahead of the appends).  A sealed segment's SYNC also gives back
 * its unused preallocation.  So a roll on the loop does no file creation,
 * fallocate or ftruncate, unless the thread was late.  Results come back
 * on the done queue, with a byte on the wake-up pipe; engine_poll hands
 * READ and COMPACT results to compact_job_done, the rest it handles here.
 *
 * Loop stalls: the public entry points are timed (call_begin/call_end,
 * outermost only, appendfsync always's fdatasync left out) and the worst
 * goes to INFO storage_loop_worst_us.  Building with -DENGINE_NO_AHEAD
 * turns off the work ahead (PREPARE, RESERVE, and the trim goes back on
 * the loop), to measure what it saves.
 *
 * Undo: every engine_put_take notes (key, previous location) until the
 * next successful commit; a commit that fails puts those keys back
 * (newest first) before it returns, so a write whose reply is an error
 * is not served from memory.
 *
 * Thread-safety: everything but the two queues belongs to the loop.
 */
#include "server/engine.h"
#include "server/engine_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cluster/delta.h"
#include "server/config.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/store.h"
#include "server/util.h"
#include "server/wire.h"

#define HINT_PUT 0x11
#define HINT_DEL 0x12
#define HINT_FLUSH 0x13
#define HINT_END 0x1f
#define HINT_PUT_VLEN 9
#define HINT_END_VLEN 16
#define HINT_SPILL (1024 * 1024)

/* ---- small helpers ------------------------------------------------------------ */

static void engine_path(const struct engine *e, uint32_t seg,
                        const char *suffix, struct dbuf *out)
{
    dbuf_reset(out);
    dbuf_printf(out, "%s/data.%08u%s", e->dir, seg, suffix);
    dbuf_appendc(out, 0);
    out->len--;
}

char *engine_path_dup(const struct engine *e, uint32_t seg,
                      const char *suffix)
{
    struct dbuf b;
    dbuf_init(&b);
    engine_path(e, seg, suffix, &b);
    return b.p; /* NUL-terminated, owned by the caller */
}

void engine_fail(struct engine *e, int err, const char *what)
{
    if (e->failed)
        return;
    e->failed = 1;
    e->fail_errno = err ? err : EIO;
    e->fail_what = what;
    dlog(DLOG_WARNING,
         "MISCONF: %s of the data files in %s failed: %s. Writes that were "
         "not yet durable may be lost; this node refuses all writes until "
         "it is restarted.",
         what, e->dir, strerror(e->fail_errno));
}

/* ---- segment table ---------------------------------------------------------- */

struct segstat *engine_seg_find(struct engine *e, uint32_t seg)
{
    size_t lo = 0, hi = e->nsegs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e->segs[mid].seg < seg)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < e->nsegs && e->segs[lo].seg == seg ? &e->segs[lo] : NULL;
}

static struct segstat *seg_get(struct engine *e, uint32_t seg)
{
    struct segstat *s = engine_seg_find(e, seg);
    if (s)
        return s;
    if (e->nsegs == e->capsegs) {
        e->capsegs = e->capsegs ? e->capsegs * 2 : 16;
        e->segs = dyn_realloc(e->segs, e->capsegs * sizeof(*e->segs));
    }
    size_t i = e->nsegs;
    while (i > 0 && e->segs[i - 1].seg > seg) {
        e->segs[i] = e->segs[i - 1];
        i--;
    }
    memset(&e->segs[i], 0, sizeof(e->segs[i]));
    e->segs[i].seg = seg;
    e->nsegs++;
    return &e->segs[i];
}

void engine_seg_drop(struct engine *e, uint32_t seg)
{
    struct segstat *s = engine_seg_find(e, seg);
    if (!s)
        return;
    size_t i = (size_t)(s - e->segs);
    memmove(&e->segs[i], &e->segs[i + 1],
            (e->nsegs - i - 1) * sizeof(*e->segs));
    e->nsegs--;
}

static void seg_live_add(struct engine *e, uint64_t loc)
{
    seg_get(e, loc_seg(loc))->live += loc_acct(loc);
}

void engine_seg_live_sub(struct engine *e, uint64_t loc)
{
    struct segstat *s = engine_seg_find(e, loc_seg(loc));
    if (s)
        s->live -= DYN_MIN(s->live, loc_acct(loc));
}

/* ---- helper thread ------------------------------------------------------------ */

static void job_free(struct job *j)
{
    if (j->fd >= 0)
        close(j->fd); /* a created segment nobody took */
    dbuf_free(&j->data);
    dyn_free(j->path_a);
    dyn_free(j->path_b);
    dyn_free(j->dir);
    dyn_free(j);
}

static void job_read(struct job *j)
{
    dbuf_reserve(&j->data, (size_t)j->len);
    size_t got = 0;
    j->rc = 0;
    while (got < j->len) {
        ssize_t r = pread(j->fd, j->data.p + got, (size_t)j->len - got,
                          (off_t)(j->off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            j->rc = -1;
            j->err = errno;
        }
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    j->data.len = got;
    if (got == 0 && j->rc == 0) {
        j->rc = -1;
        j->err = EIO; /* the file is shorter than it was */
    }
    close(j->fd);
    j->fd = -1;
}

static void job_error(struct job *j)
{
    if (j->rc == 0) {
        j->rc = -1;
        j->err = errno ? errno : EIO;
    }
}

/* Appends j->data to the hint's tmp file at j->off (created when off is
 * 0); the file must be exactly off bytes long, so a lost earlier write
 * fails every later one.  O_APPEND is what puts the bytes at off: a plain
 * open starts at 0, and each spill after the first overwrote the start
 * of the file (the size check then failed from the third spill on, and a
 * segment with over 2 MiB of entries never got its hint).  Leaves the
 * file open in j->fd on success. */
static void job_hint_write(struct job *j)
{
    int flags = O_WRONLY | O_APPEND | O_CLOEXEC |
                (j->off == 0 ? O_CREAT | O_TRUNC : 0);
    j->fd = open(j->path_a, flags, 0644);
    struct stat st;
    if (j->fd < 0 || fstat(j->fd, &st) != 0) {
        job_error(j);
        return;
    }
    if ((uint64_t)st.st_size != j->off) {
        errno = EIO;
        job_error(j);
        return;
    }
    if (j->data.len && dyn_write_all(j->fd, j->data.p, j->data.len) != 0)
        job_error(j);
}

/* Creates the next segment file (empty) and preallocates it; the open
 * descriptor goes back to the loop (seglog_adopt_next). */
static void job_prepare(struct job *j)
{
    j->fd = open(j->path_a, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    if (j->fd < 0 || fstat(j->fd, &st) != 0) {
        job_error(j);
        return;
    }
    if (st.st_size != 0) {
        errno = EEXIST; /* the loop got there first and uses it */
        job_error(j);
        return;
    }
    if (j->len && fallocate(j->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)j->len))
        j->len = 0; /* no room (or no support): the loop will see */
    dyn_fsync_dir(j->dir);
}

static void job_run(struct job *j)
{
    j->rc = 0;
    switch (j->kind) {
    case JOB_READ:
        job_read(j);
        return;
    case JOB_PREPARE:
        job_prepare(j);
        if (j->rc != 0 && j->fd >= 0) {
            close(j->fd);
            j->fd = -1;
        }
        return;
    case JOB_RESERVE:
        if (fallocate(j->fd, FALLOC_FL_KEEP_SIZE, (off_t)j->off,
                      (off_t)j->len) != 0)
            job_error(j);
        break;
    case JOB_HINT_WRITE:
        job_hint_write(j);
        if (j->rc != 0)
            unlink(j->path_a);
        break;
    case JOB_HINT:
        job_hint_write(j);
        if (j->rc == 0 && fdatasync(j->fd) != 0)
            job_error(j);
        if (j->fd >= 0)
            close(j->fd);
        j->fd = -1;
        if (j->rc == 0 && rename(j->path_a, j->path_b) != 0)
            job_error(j);
        if (j->rc != 0)
            unlink(j->path_a);
        dyn_fsync_dir(j->dir);
        break;
    case JOB_SYNC:
        /* a sealed segment gives back its unused preallocation first */
        if (j->trim)
            (void)ftruncate(j->fd, (off_t)j->bytes);
        if (fdatasync(j->fd) != 0)
            job_error(j);
        break;
    case JOB_COMPACT:
        if (fdatasync(j->fd) != 0)
            job_error(j);
        close(j->fd);
        j->fd = -1;
        if (j->rc == 0) {
            unlink(j->path_a);
            unlink(j->path_b);
            dyn_fsync_dir(j->dir);
        }
        break;
    }
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
    if (j->kind == JOB_HINT || j->kind == JOB_HINT_WRITE) {
        dbuf_free(&j->data); /* written: do not hold it until the poll */
        dbuf_init(&j->data);
    }
}

static void *engine_thread(void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        struct job *j = e->todo.head;
        if (!j) {
            if (e->stop)
                break;
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        e->todo.head = j->next;
        if (!e->todo.head)
            e->todo.tail = NULL;
        pthread_mutex_unlock(&e->mu);

        job_run(j);

        pthread_mutex_lock(&e->mu);
        jobq_push(&e->done, j);
        pthread_mutex_unlock(&e->mu);
        char b = 1;
        ssize_t w = write(e->wake[1], &b, 1); /* full pipe: already awake */
        (void)w;
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* Queues a job (takes it).  Without a thread (it failed to start) the job
 * runs inline, so nothing is ever skipped. */
void engine_job_submit(struct engine *e, struct job *j)
{
    e->st.jobs_pending++;
    if (!e->thr_started) {
        job_run(j);
        pthread_mutex_lock(&e->mu);
        jobq_push(&e->done, j);
        pthread_mutex_unlock(&e->mu);
        return;
    }
    pthread_mutex_lock(&e->mu);
    jobq_push(&e->todo, j);
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

struct job *engine_job_new(struct engine *e, enum job_kind kind, int fd)
{
    struct job *j = dyn_calloc(1, sizeof(*j));
    j->kind = kind;
    j->fd = fd;
    j->dir = dyn_strdup(e->dir);
    dbuf_init(&j->data);
    return j;
}

static void rotate_done(struct engine *e);
static int journal_active(const struct engine *e);
static int edits_active(const struct engine *e);
static int put_take_impl(struct engine *e, const void *key, size_t klen,
                         struct object *obj, const void *delta, size_t dlen,
                         int whole);

static void job_done(struct engine *e, struct job *j)
{
    e->st.jobs_pending--;
    switch (j->kind) {
    case JOB_SYNC:
        if (j->periodic)
            e->sync_inflight = 0;
        if (j->rotation)
            e->rot_sync_inflight = 0;
        if (j->rc != 0)
            engine_fail(e, j->err, "fsync");
        else {
            e->st.fsyncs++;
            if (j->seq > e->synced)
                e->synced = j->seq;
            /* the rotation it was queued for (a checkpoint may have
             * ended that one, and another begun) */
            if (j->rotation && e->rotating && e->jr && j->seg == e->rot_seg &&
                e->rot_off >= e->rot_keys.len)
                rotate_done(e);
        }
        break;
    case JOB_HINT_WRITE:
        if (j->rc != 0) {
            if (e->hw.seg == j->seg)
                e->hw.broken = 1; /* no hint for this segment: scanned */
            dlog(DLOG_WARNING, "Writing hint file %s failed: %s (the "
                 "segment will be scanned at the next start)", j->path_a,
                 strerror(j->err));
        }
        break;
    case JOB_PREPARE:
        e->prep_inflight = 0;
        if (j->rc == 0 && j->fd >= 0) {
            /* not wanted any more (a roll got there first): just close,
             * the file may be in use */
            struct stat st;
            if (e->failed || !e->log ||
                seglog_adopt_next(e->log, j->seg, j->fd, j->len) != 0) {
                /* a stale request re-created a segment that is gone
                 * (FLUSHALL removed it meanwhile): remove the empty file */
                if (e->log && j->seg < seglog_active(e->log) &&
                    !engine_seg_find(e, j->seg) && fstat(j->fd, &st) == 0 &&
                    st.st_size == 0)
                    (void)unlink(j->path_a);
                close(j->fd);
            }
            j->fd = -1;
        }
        break;
    case JOB_RESERVE:
        e->resv_inflight = 0;
        if (j->rc == 0 && !e->failed)
            seglog_reserved_ahead(e->log, j->seg, j->off + j->len);
        break;
    case JOB_HINT: {
        struct segstat *s = engine_seg_find(e, j->seg);
        if (s)
            s->hint_pending = 0;
        if (j->rc != 0)
            dlog(DLOG_WARNING, "Writing hint file %s failed: %s (the segment "
                 "will be scanned at the next start)", j->path_b,
                 strerror(j->err));
        break;
    }
    case JOB_READ:
    case JOB_COMPACT:
        compact_job_done(e, j);
        break;
    }
    job_free(j);
}

static void poll_impl(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK)
        return;
    char b[64];
    while (read(e->wake[0], b, sizeof(b)) > 0)
        ;
    pthread_mutex_lock(&e->mu);
    struct job *j = e->done.head;
    e->done.head = e->done.tail = NULL;
    pthread_mutex_unlock(&e->mu);
    while (j) {
        struct job *next = j->next;
        job_done(e, j);
        j = next;
    }
}

/* ---- hint files --------------------------------------------------------------- */

static void hint_reset(struct hintw *h)
{
    h->seg = 0;
    dbuf_reset(&h->buf);
    dbuf_shrink(&h->buf, HINT_SPILL * 2);
    h->written = 0;
    h->entries = 0;
    h->broken = 0;
}

/* Drops the hint being collected and its tmp file.  Only when no hint job
 * of it can be queued (the helper thread is stopped). */
static void hint_abandon(struct engine *e)
{
    struct hintw *h = &e->hw;
    if (h->seg && h->written > 0) {
        struct dbuf p;
        dbuf_init(&p);
        engine_path(e, h->seg, ".hint.tmp", &p);
        unlink(p.p);
        dbuf_free(&p);
    }
    hint_reset(h);
}

/* Hands the entries collected so far to the helper thread, which appends
 * them to the tmp file (creating it first), so the loop never waits for a
 * file creation or a write of the hint. */
static void hint_spill(struct engine *e)
{
    struct hintw *h = &e->hw;
    if (h->broken || h->buf.len == 0)
        return;
    struct job *j = engine_job_new(e, JOB_HINT_WRITE, -1);
    j->seg = h->seg;
    j->off = h->written;
    j->path_a = engine_path_dup(e, h->seg, ".hint.tmp");
    struct dbuf t = j->data;
    j->data = h->buf;
    h->buf = t;
    h->written += j->data.len;
    engine_job_submit(e, j);
}

static void hint_add(struct engine *e, uint8_t type, const void *key,
                     uint32_t klen, uint64_t off, uint32_t size,
                     unsigned flags)
{
    struct hintw *h = &e->hw;
    if (h->broken)
        return;
    uint8_t v[HINT_PUT_VLEN];
    uint32_t vlen = 0;
    if (type == HINT_PUT) {
        wire_store_le32(v, (uint32_t)off);
        wire_store_le32(v + 4, size);
        v[8] = (uint8_t)(flags & STORE_F_PERSIST); /* no summary */
        vlen = HINT_PUT_VLEN;
    }
    seglog_encode(&h->buf, type, key, klen, v, vlen);
    h->entries++;
    if (h->buf.len >= HINT_SPILL)
        hint_spill(e);
}

/* Finishes the hint of h->seg, whose data file is seg_bytes long: the END
 * entry is appended, then the helper thread writes what is left, fsyncs
 * and renames (without a thread, job_submit runs it here). */
static void hint_seal(struct engine *e, uint64_t seg_bytes)
{
    struct hintw *h = &e->hw;
    if (h->seg == 0)
        return;
    if (h->broken) {
        hint_reset(h);
        return;
    }
    uint8_t v[HINT_END_VLEN];
    wire_store_le64(v, h->entries);
    wire_store_le64(v + 8, seg_bytes);
    seglog_encode(&h->buf, HINT_END, NULL, 0, v, HINT_END_VLEN);
    struct job *j = engine_job_new(e, JOB_HINT, -1);
    j->seg = h->seg;
    j->off = h->written;
    j->path_a = engine_path_dup(e, h->seg, ".hint.tmp");
    j->path_b = engine_path_dup(e, h->seg, ".hint");
    struct dbuf t = j->data;
    j->data = h->buf;
    h->buf = t;
    struct segstat *s = engine_seg_find(e, h->seg);
    if (s)
        s->hint_pending = 1;
    engine_job_submit(e, j);
    hint_reset(h);
}

/* The active segment changed (a roll): seal the old one's hint, start the
 * new one's. */
static void engine_note_active(struct engine *e)
{
    uint32_t act = seglog_active(e->log);
    if (e->hw.seg == act)
        return;
    if (e->hw.seg) {
        struct segstat *old = engine_seg_find(e, e->hw.seg);
        uint64_t sz = seglog_segment_size(e->log, e->hw.seg);
        if (old)
            old->total = sz;
        hint_seal(e, sz);
    }
    hint_reset(&e->hw);
    e->hw.seg = act;
    seg_get(e, act);
}

/* ---- appending ------------------------------------------------------------------ */

/* Seals the active segment and starts the next.  With appendfsync always
 * the old segment is fsynced here (a batch being committed may span the
 * roll, and its commit syncs only the new segment); otherwise its
 * fdatasync goes to the helper thread, ahead of its hint job, so the loop
 * never waits for a whole segment to reach the disk. */
static int engine_roll(struct engine *e)
{
    if (seglog_pending(e->log) > 0 && seglog_flush(e->log) != 0) {
        engine_fail(e, seglog_errno(e->log), "write");
        return DYN_EIO;
    }
    if (e->fsync_mode == FSYNC_ALWAYS || !e->thr_started) {
        uint64_t t0 = dyn_mono_us();
        if (seglog_sync(e->log) != 0) {
            engine_fail(e, seglog_errno(e->log), "fsync");
            return DYN_EIO;
        }
        e->call_fsync_us += dyn_mono_us() - t0;
    }
    /* The next segment was (usually) created and preallocated ahead by the
     * helper thread, so this is a swap of descriptors; the sealed one goes
     * to the helper thread, which gives back its unused tail and
     * fdatasyncs it (ahead of its hint job). */
    struct seglog_sealed old;
    if (seglog_roll_handoff(e->log, &old) != 0) {
        /* the new file could not be created: nothing is lost */
        e->nospace_errno = seglog_errno(e->log);
        if (seglog_failed(e->log)) {
            engine_fail(e, e->nospace_errno, "write");
            return DYN_EIO;
        }
        if (e->nospace_errno == ENOSPC || e->nospace_errno == EDQUOT) {
            e->st.disk_full_errors++;
            e->st.disk_full = 1;
            return DYN_EAGAIN;
        }
        return DYN_EIO;
    }
    e->st.segment_rolls++;
#ifdef ENGINE_NO_AHEAD
    if (old.fd >= 0 && old.trim && ftruncate(old.fd, (off_t)old.size) == 0)
        old.trim = 0;
#endif
    if (old.fd >= 0) {
        struct job *j = engine_job_new(e, JOB_SYNC, old.fd);
        j->seg = old.seg;
        j->trim = old.trim;
        j->bytes = old.size;
        engine_job_submit(e, j);
    }
    return 0;
}

/* Asks the helper thread for the file system work that would otherwise
 * wait on the loop: creating and preallocating the next segment before
 * the roll needs it, and preallocating the active one a step ahead of the
 * appends.  Each is best effort; the loop does it itself when it is not
 * ready in time. */
static void engine_ahead(struct engine *e)
{
#ifdef ENGINE_NO_AHEAD
    return; /* measurement build: the loop does it all at the roll */
#endif
    if (e->failed || !e->thr_started || !e->log)
        return;
    uint32_t next = seglog_active(e->log) + 1;
    if (!e->prep_inflight && e->prep_seg != next && next <= LOC_SEG_MAX &&
        !seglog_has_next(e->log)) {
        struct job *j = engine_job_new(e, JOB_PREPARE, -1);
        j->seg = next;
        j->len = seglog_reserve_chunk(e->log) / 4;
        j->path_a = engine_path_dup(e, next, ".seg");
        e->prep_inflight = 1;
        e->prep_seg = next;
        engine_job_submit(e, j);
    }
    uint64_t from, len;
    if (!e->resv_inflight && seglog_reserve_wanted(e->log, &from, &len)) {
        int fd = dup(seglog_active_fd(e->log));
        if (fd < 0)
            return;
        struct job *j = engine_job_new(e, JOB_RESERVE, fd);
        j->seg = seglog_active(e->log);
        j->off = from;
        j->len = len;
        e->resv_inflight = 1;
        engine_job_submit(e, j);
    }
}

/* 1 when a record of bytes fits the active segment (an empty one takes
 * any record). */
static int fits_active(const struct engine *e, uint64_t bytes)
{
    uint64_t at = seglog_segment_size(e->log, seglog_active(e->log));
    return at == 0 || at + bytes <= e->segmax;
}

/* A record of bytes that would not fit the active segment starts the
 * next one: rolled here, with the sealed segment's sync and hint
 * (seglog_reserve would roll by itself, without them).  0 or
 * engine_roll's error. */
static int roll_for(struct engine *e, uint64_t bytes)
{
    if (fits_active(e, bytes))
        return 0;
    int rc = engine_roll(e);
    engine_note_active(e);
    return rc;
}

/* Appends one record and its hint entry (engine_int.h). */
int engine_append(struct engine *e, uint8_t type, const void *key,
                  uint32_t klen, const void *val, uint32_t vlen,
                  unsigned flags, uint64_t *loc)
{
    if (e->failed)
        return DYN_EIO;
    if ((uint64_t)vlen > ENGINE_MAX_VALUE || klen > ENGINE_MAX_KEY)
        return DYN_ELIMIT;
    uint64_t total = (uint64_t)SEGLOG_HEADER + klen + vlen + SEGLOG_TRAILER;
    int rc = roll_for(e, total);
    if (rc != 0)
        return rc;
    rc = seglog_reserve(e->log, total);
    engine_note_active(e);
    if (rc == DYN_EAGAIN) {
        e->nospace_errno = seglog_errno(e->log);
        e->st.disk_full_errors++;
        e->st.disk_full = 1;
        return DYN_EAGAIN;
    }
    if (rc != 0) {
        if (seglog_failed(e->log))
            engine_fail(e, seglog_errno(e->log), "fsync");
        else
            e->nospace_errno = seglog_errno(e->log);
        return DYN_EIO;
    }
    if (seglog_active(e->log) > LOC_SEG_MAX)
        return DYN_ELIMIT;
    struct seglog_pos pos;
    rc = seglog_append(e->log, type, key, klen, val, vlen, &pos);
    engine_note_active(e);
    if (rc != 0) {
        if (seglog_failed(e->log))
            engine_fail(e, seglog_errno(e->log), "fsync");
        return rc == DYN_ELIMIT ? DYN_ELIMIT : DYN_EIO;
    }
    if (!seglog_can_reserve(e->log)) {
        /* No preallocation here: write now, so that a full disk refuses
         * this record before anything points at it. */
        rc = seglog_flush(e->log);
        if (rc != 0) {
            int err = seglog_errno(e->log);
            if (seglog_failed(e->log)) {
                engine_fail(e, err, "write");
                return DYN_EIO;
            }
            e->nospace_errno = err;
            if (err == ENOSPC || err == EDQUOT) {
                e->st.disk_full_errors++;
                e->st.disk_full = 1;
                return DYN_EAGAIN;
            }
            return DYN_EIO;
        }
    }
    e->st.disk_full = 0;
    uint32_t size = (uint32_t)total;
    struct segstat *s = seg_get(e, pos.seg);
    s->total = DYN_MAX(s->total, pos.off + size);
    uint64_t l = loc_make(pos.seg, pos.off, size);
    if (type == ENGINE_REC_PUT)
        seg_live_add(e, l);
    hint_add(e, type == ENGINE_REC_PUT ? HINT_PUT
                : type == ENGINE_REC_DEL ? HINT_DEL : HINT_FLUSH,
             key, klen, pos.off, size, flags);
    e->appended++;
    if (loc)
        *loc = l;
    engine_ahead(e);
    return 0;
}

#define UNDO_HDR 13
#define UNDO_HOLD 2 /* had_old's place: an edit's entry (undo_note_hold) */

static void undo_note(struct engine *e, const void *key, uint32_t klen,
                      int had_old, uint64_t old)
{
    uint8_t h[UNDO_HDR];
    wire_store_le32(h, klen);
    h[4] = (uint8_t)(had_old != 0);
    wire_store_le64(h + 5, had_old ? old : 0);
    dbuf_append(&e->undo, h, UNDO_HDR);
    dbuf_append(&e->undo, key, klen);
}

/* A held version replaced (prev, owned by the entry until the commit; NULL
 * when the key's version was its record): a failed commit puts it back. */
static void undo_note_hold(struct engine *e, const void *key, uint32_t klen,
                           struct object *prev)
{
    uint8_t h[UNDO_HDR];
    wire_store_le32(h, klen);
    h[4] = UNDO_HOLD;
    wire_store_le64(h + 5, (uint64_t)(uintptr_t)prev);
    dbuf_append(&e->undo, h, UNDO_HDR);
    dbuf_append(&e->undo, key, klen);
    e->undo_holds++;
}

static struct object *undo_prev(const uint8_t *h)
{
    return (struct object *)(uintptr_t)wire_load_le64(h + 5);
}

static void undo_clear(struct engine *e)
{
    for (size_t off = 0; e->undo_holds && off + UNDO_HDR <= e->undo.len;) {
        const uint8_t *h = (const uint8_t *)e->undo.p + off;
        if (h[4] == UNDO_HOLD)
            object_free(undo_prev(h));
        off += UNDO_HDR + wire_load_le32(h);
    }
    e->undo_holds = 0;
    dbuf_reset(&e->undo);
    dbuf_shrink(&e->undo, 64 * 1024);
}

static struct object *engine_load(void *ctx, uint64_t loc, const void *key,
                                  size_t klen);

/* The commit of the writes in e->undo failed: put every key back to the
 * version it had before them (newest first, so a key written twice ends at
 * its committed version), so that a write that got an error reply is not
 * served from memory either.  A version that cannot be read back leaves
 * the key absent. */
static void undo_apply(struct engine *e)
{
    size_t n = 0, cap = 0;
    size_t *offs = NULL;
    for (size_t off = 0; off + UNDO_HDR <= e->undo.len;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            offs = dyn_realloc(offs, cap * sizeof(*offs));
        }
        offs[n++] = off;
        off += UNDO_HDR + wire_load_le32((const uint8_t *)e->undo.p + off);
    }
    for (size_t i = n; i-- > 0;) {
        const uint8_t *h = (const uint8_t *)e->undo.p + offs[i];
        uint32_t klen = wire_load_le32(h);
        uint64_t old = wire_load_le64(h + 5), cur;
        const uint8_t *key = h + UNDO_HDR;
        if (h[4] == UNDO_HOLD) {
            struct object *prev = undo_prev(h);
            wire_store_le64((uint8_t *)h + 5, 0); /* (undo_clear) */
            if (prev) {
                struct store_hold_info back = {0, 0, 0, 0};
                (void)store_hold(e->store, key, klen, prev, &back, NULL,
                                 NULL);
                continue;
            }
            /* the version before the edit was the record */
            if (!store_get_loc(e->store, key, klen, &old, NULL))
                continue;
        }
        struct object *o = h[4] ? engine_load(e, old, key, klen) : NULL;
        if (o) {
            uint64_t flags = store_object_flags(o);
            store_put_loc(e->store, key, klen, old, flags, object_digest(o),
                          e->value_cache ? o : NULL, &cur);
            if (!e->value_cache)
                object_free(o);
        } else {
            store_remove_loc(e->store, key, klen, &cur);
        }
    }
    if (n)
        dlog(DLOG_WARNING, "%zu write(s) that could not be made durable were "
             "taken back from memory", n);
    dyn_free(offs);
    undo_clear(e);
}

/* key's held version written as a record (ending its hold): 0 (also
 * when it is not held), or the write's error (DYN_EAGAIN: the disk is
 * full, it stays held). */
static int held_write(struct engine *e, const void *key, size_t klen)
{
    const struct object *o = store_held(e->store, key, klen, NULL);
    if (!o)
        return 0;
    return put_take_impl(e, key, klen, object_dup(o), NULL, 0, 1);
}

/* Every key of keys (store_held_keys' format) written whole, until the
 * held bytes are at most until (0: all): 0, or the first error. */
static int held_write_keys(struct engine *e, const struct dbuf *keys,
                           size_t until)
{
    for (size_t off = 0; off + 4 <= keys->len;) {
        const uint8_t *p = (const uint8_t *)keys->p + off;
        uint32_t kl = wire_load_le32(p);
        if (until && store_held_bytes(e->store) <= until)
            return 0;
        int rc = held_write(e, p + 4, kl);
        if (rc != 0)
            return rc;
        off += 4 + kl;
    }
    return 0;
}

/* The held versions past hold_max bytes of memory: written whole down to
 * three quarters of it (before a commit's records are flushed). */
static void held_trim(struct engine *e)
{
    if (e->settling || e->checkpointing || e->failed ||
        store_held_bytes(e->store) <= e->hold_max)
        return;
    struct dbuf keys;
    dbuf_init(&keys);
    store_held_keys(e->store, &keys);
    e->settling = 1;
    (void)held_write_keys(e, &keys, e->hold_max / 4 * 3);
    e->settling = 0;
    dbuf_free(&keys);
}

/* The store's deferred typed values (store_defer) written as records:
 * before a commit, so that the replies of the writes they hold leave
 * only once those writes are in the log, and from the cron (a write
 * whose reply never left is not kept in memory alone for long).  The
 * writes go through engine_put_take, which may commit by itself: the
 * flag keeps that from settling again. */
static void settle_deferred(struct engine *e)
{
    /* with the journal on, a deferred value's writes are in the journal
     * and it is written when it is read, let go of, or by a rotation */
    if (e->settling || journal_active(e) || store_deferred_count(e->store) == 0)
        return;
    e->settling = 1;
    store_settle_deferred(e->store);
    e->settling = 0;
}

/*
 * The journal's rotation.  Past journal-max-bytes the journal is not
 * emptied in one go (settling every deferred value at once stalled the
 * loop for 0.9 s with 1,000 lists deferred): the journal starts a new
 * segment, the keys deferred at that moment are noted, and each commit
 * (and the cron) settles the next of them for at most ROT_SLICE_US
 * before its records are written.  Every op in the older segments
 * belongs to one of those keys (a key not deferred then had its ops held
 * by a record already), so once each was settled -- or was gone, or was
 * settled by a read meanwhile -- and the records are durable, the older
 * segments go.  Ops made meanwhile are in the new segment.
 */
#define ROT_SLICE_US 1000

static void rotate_step(struct engine *e)
{
    if (!e->rotating || e->settling || e->checkpointing ||
        e->rot_off >= e->rot_keys.len || dyn_wall_ms() < e->rot_wait_ms)
        return;
    uint64_t t0 = dyn_mono_us();
    e->settling = 1;
    while (e->rot_off < e->rot_keys.len && !e->failed) {
        const uint8_t *p = (const uint8_t *)e->rot_keys.p + e->rot_off;
        uint32_t kl = wire_load_le32(p);
        struct store_hold_info hi;
        if (store_settle(e->store, p + 4, kl) ||
            (store_held(e->store, p + 4, kl, &hi) && hi.seg < e->rot_seg &&
             held_write(e, p + 4, kl) != 0)) {
            /* a full disk: the key stays deferred (or held), its ops
             * (or edits) in the journal; tried again in a second */
            e->rot_wait_ms = dyn_wall_ms() + 1000;
            break;
        }
        e->rot_off += 4 + kl;
        if (dyn_mono_us() - t0 >= ROT_SLICE_US)
            break;
    }
    e->settling = 0;
}

static int rotate_begin(struct engine *e)
{
    if (journal_roll(e->jr, &e->rot_seg) != 0) {
        engine_fail(e, journal_errno(e->jr), "journal write");
        return DYN_EIO;
    }
    store_deferred_keys(e->store, &e->rot_keys);
    store_held_keys(e->store, &e->rot_keys);
    e->rotating = 1;
    return 0;
}

/* No rotation under way (the keys' list let go of). */
static void rotate_clear(struct engine *e)
{
    e->rotating = 0;
    e->rot_off = 0;
    dbuf_free(&e->rot_keys);
    dbuf_init(&e->rot_keys);
}

/* The rotation's records are durable: the older segments go. */
static void rotate_done(struct engine *e)
{
    journal_drop_before(e->jr, e->rot_seg);
    rotate_clear(e);
    e->st.journal_checkpoints++;
}

/* After a commit's writes: a rotation whose keys are all settled ends
 * (the records made durable, the older segments removed); a journal past
 * its bound starts one. */
static int rotate_finish(struct engine *e)
{
    if (e->checkpointing)
        return 0;
    if (e->rotating && e->rot_off >= e->rot_keys.len &&
        !e->rot_sync_inflight) {
        /* the records are written (this commit's flush): the helper
         * thread fdatasyncs them, after every sealed segment's sync
         * queued before, and the rotation ends when it reports
         * (rotate_done); without the thread, here */
        int fd = e->thr_started ? dup(seglog_active_fd(e->log)) : -1;
        if (fd >= 0) {
            struct job *j = engine_job_new(e, JOB_SYNC, fd);
            j->seq = e->appended;
            j->rotation = 1;
            j->seg = e->rot_seg;
            e->rot_sync_inflight = 1;
            engine_job_submit(e, j);
        } else {
            if (seglog_sync(e->log) != 0) {
                engine_fail(e, seglog_errno(e->log), "fsync");
                return DYN_EIO;
            }
            e->st.fsyncs++;
            rotate_done(e);
        }
    }
    if (!e->rotating && journal_bytes(e->jr) > e->journal_max)
        return rotate_begin(e);
    return 0;
}

static int commit_impl(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    settle_deferred(e);
    rotate_step(e);
    held_trim(e);
    if (e->failed) {
        undo_apply(e);
        return DYN_EIO;
    }
    if (seglog_pending(e->log) > 0 && seglog_flush(e->log) != 0) {
        /* The records were accepted (the store points at them) and are
         * now gone: this node can no longer vouch for its writes. */
        engine_fail(e, seglog_errno(e->log), "write");
        undo_apply(e);
        return DYN_EIO;
    }
    if (e->fsync_mode == FSYNC_ALWAYS && seglog_unsynced(e->log)) {
        uint64_t t0 = dyn_mono_us();
        if (seglog_sync(e->log) != 0) {
            engine_fail(e, seglog_errno(e->log), "fsync");
            undo_apply(e);
            return DYN_EIO;
        }
        uint64_t dt = dyn_mono_us() - t0;
        e->call_fsync_us += dt;
        e->st.fsyncs++;
        e->st.fsync_worst_us = DYN_MAX(e->st.fsync_worst_us, dt);
        e->synced = e->appended;
    }
    /* the journal after the records: an op's record may be in the log
     * without its op (the op is then held), never the reverse */
    if (e->jr && journal_pending(e->jr) > 0 && journal_flush(e->jr) != 0) {
        engine_fail(e, journal_errno(e->jr), "journal write");
        undo_apply(e);
        return DYN_EIO;
    }
    if (e->jr && e->fsync_mode == FSYNC_ALWAYS && journal_unsynced(e->jr)) {
        uint64_t t0 = dyn_mono_us();
        if (journal_sync(e->jr) != 0) {
            engine_fail(e, journal_errno(e->jr), "journal fsync");
            undo_apply(e);
            return DYN_EIO;
        }
        e->call_fsync_us += dyn_mono_us() - t0;
        e->st.fsyncs++;
    }
    if ((journal_active(e) || edits_active(e)) && rotate_finish(e) != 0) {
        undo_apply(e);
        return DYN_EIO;
    }
    e->committed = e->appended;
    if (e->undo.len)
        undo_clear(e);
    return 0;
}

/*
 * Edits in the journal.  With the journal open (journal-max-bytes > 0,
 * appendfsync not always), a write that changes a large object whose
 * version before it is in memory (held, cached, or the record a scratch
 * object holds: the write just read it) appends to the journal the edit
 * that turns that version into the new one (cluster/delta.h's bytes,
 * naming both by digest) instead of a record of the whole object, and
 * the store holds the new version (store_hold) while the key's entry
 * still points at its older record.  The next write edits the held
 * version.  A push onto a list of a million elements on a replica thus
 * costs the push's bytes on disk, not the list's.
 *
 * A chain of edits ends in a record of the whole version (held_write)
 * when it reaches EDIT_CHAIN_MAX edits, when the journal rotates past
 * the segment it began in (a chain never spans segments: the rotation
 * drops segments whole), when the held versions pass hold_max bytes of
 * memory, and at a checkpoint (start, shutdown).  So a start applies at
 * most EDIT_CHAIN_MAX edits to any key, each a copy of the object: the
 * count, not the edits' bytes, is what a start pays for.
 *
 * Replay (engine_journal_open, in the journal's order, with the typed
 * ops): an edit whose base digest is the key's version's is applied and
 * checked against its target digest; any other is skipped (a record
 * written after it holds it, or the key went).  Every stored version of
 * a key descends from the one before by a write on this node, so the
 * versions a key's edits name form one line, and the digests find the
 * place where the records left off.
 *
 * Why not for everything: a small object's record costs about what its
 * edit costs, and an edit needs the version before it in memory.
 */
#define EDIT_MIN_OBJ 4096
#define EDIT_CHAIN_MAX 100

static int edits_active(const struct engine *e)
{
    return e->edits_on && e->hold_max > 0 && e->jr &&
           e->fsync_mode != FSYNC_ALWAYS;
}

/* Journals obj (not taken) as an edit of key's version in memory and
 * holds it: 0, or non-zero when it must be written whole instead (no
 * version in memory, the chain is full, the edit is not small; DYN_EIO
 * when the journal failed).  delta: the edit when the caller has it
 * (its base the key's version, its target obj), or NULL. */
static int put_edit(struct engine *e, const void *key, size_t klen,
                    struct object *obj, const void *delta, size_t dlen)
{
    const struct object *base = store_current(e->store, key, klen);
    if (!base)
        return DYN_ENOTFOUND;
    uint32_t seg = journal_segment(e->jr);
    size_t osz = object_size(obj);
    struct store_hold_info hi;
    if (store_held(e->store, key, klen, &hi) &&
        (hi.seg != seg || hi.n >= EDIT_CHAIN_MAX))
        return DYN_ELIMIT;
    uint64_t bd, td;
    if (delta) {
        if (delta_digests(delta, dlen, &bd, &td) != 0 ||
            bd != object_digest(base) || td != object_digest(obj))
            return DYN_EINVAL;
    } else {
        dbuf_reset(&e->ebuf);
        dbuf_reset(&e->ekey);
        if (delta_make(object_bytes(base), object_size(base),
                       object_digest(base), object_bytes(obj), osz,
                       object_digest(obj), osz / 4, &e->ebuf) != 0)
            return DYN_ELIMIT;
        dbuf_append(&e->ekey, key, klen);
        delta = e->ebuf.p;
        dlen = e->ebuf.len;
    }
    if (dlen > osz / 4)
        return DYN_ELIMIT;
    /* no room (or no journal to put it in): the record instead, which
     * answers for a full disk itself */
    if (journal_room(e->jr, SEGLOG_HEADER + SEGLOG_TRAILER + klen + dlen) != 0)
        return DYN_EAGAIN;
    if (journal_append_delta(e->jr, key, klen, delta, dlen) != 0) {
        engine_fail(e, journal_errno(e->jr), "journal write");
        return DYN_EIO;
    }
    e->appended++; /* its reply waits for the commit that writes it */
    struct store_hold_info add = {seg, 1, dlen, e->appended};
    struct object *prev = NULL;
    uint64_t pstamp = 0;
    (void)store_hold(e->store, key, klen, obj, &add, &prev, &pstamp);
    if (prev && pstamp > e->committed)
        /* held since the last commit: an older undo entry of this
         * commit puts the committed version back (a replica given many
         * edits of a long list in one batch keeps one copy, not each) */
        object_free(prev);
    else
        undo_note_hold(e, key, (uint32_t)klen, prev);
    e->st.journal_edits++;
    e->st.journal_edit_bytes += SEGLOG_HEADER + SEGLOG_TRAILER + klen + dlen;
    e->st.journal_edit_object_bytes +=
        SEGLOG_HEADER + SEGLOG_TRAILER + klen + osz;
    return 0;
}

static int put_take_impl(struct engine *e, const void *key, size_t klen,
                         struct object *obj, const void *delta, size_t dlen,
                         int whole)
{
    if (e->storage != STORAGE_DISK) {
        store_put_take(e->store, key, klen, obj);
        return 0;
    }
    if (klen > ENGINE_MAX_KEY) {
        object_free(obj);
        return DYN_ELIMIT;
    }
    uint64_t flags = store_object_flags(obj);
    uint64_t loc, old;
    size_t osz = object_size(obj);
    if (osz > ENGINE_MAX_VALUE) {
        object_free(obj);
        return DYN_ELIMIT;
    }
    if (!whole && osz >= EDIT_MIN_OBJ && edits_active(e) && !e->failed) {
        int rc = put_edit(e, key, klen, obj, delta, dlen);
        if (rc == DYN_EIO)
            object_free(obj);
        if (rc == 0 && !e->group_commit)
            return engine_commit(e);
        if (rc == 0 || rc == DYN_EIO)
            return rc;
    }
    int rc = engine_append(e, ENGINE_REC_PUT, key, (uint32_t)klen,
                           object_bytes(obj), (uint32_t)osz, flags, &loc);
    if (rc != 0) {
        object_free(obj);
        return rc;
    }
    e->st.write_bytes += SEGLOG_HEADER + SEGLOG_TRAILER + klen + osz;
    int had = store_put_loc(e->store, key, klen, loc, flags,
                            object_digest(obj), e->value_cache ? obj : NULL,
                            &old);
    if (had)
        engine_seg_live_sub(e, old);
    undo_note(e, key, (uint32_t)klen, had, old);
    if (!e->value_cache)
        object_free(obj);
    if (!e->group_commit)
        return engine_commit(e);
    return 0;
}

static int remove_impl(struct engine *e, const void *key, size_t klen)
{
    if (e->storage != STORAGE_DISK)
        return store_remove(e->store, key, klen);
    if (!store_get_loc(e->store, key, klen, NULL, NULL))
        return DYN_ENOTFOUND;
    int rc = engine_append(e, ENGINE_REC_DEL, key, (uint32_t)klen, NULL, 0,
                           0, NULL);
    if (rc != 0)
        return rc;
    uint64_t old;
    if (store_remove_loc(e->store, key, klen, &old) == 0)
        engine_seg_live_sub(e, old);
    return 0;
}

/* Unlinks every segment older than the active one, oldest first. */
static void engine_drop_sealed(struct engine *e)
{
    uint32_t act = seglog_active(e->log);
    struct dbuf p;
    dbuf_init(&p);
    while (e->nsegs > 0 && e->segs[0].seg < act) {
        uint32_t seg = e->segs[0].seg;
        seglog_remove_segment(e->log, seg);
        engine_path(e, seg, ".hint", &p);
        unlink(p.p);
        engine_seg_drop(e, seg);
    }
    dbuf_free(&p);
    dyn_fsync_dir(e->dir);
}

static int engine_flush_once(struct engine *e);

int engine_flush_all(struct engine *e)
{
    if (e->storage != STORAGE_DISK) {
        store_clear(e->store);
        return 0;
    }
    if (e->failed)
        return DYN_EIO;
    compact_stop(e);
    int rc = engine_commit(e);
    if (rc)
        return rc;
    rc = engine_flush_once(e);
    if (rc == DYN_EAGAIN) {
        /* A full disk: make room from the sealed segments (all flushed
         * anyway), then try again.  A crash between the two leaves only
         * the active segment's keys: a partial flush. */
        dlog(DLOG_WARNING, "FLUSHALL on a full disk: removing the sealed "
             "segments first");
        engine_drop_sealed(e);
        rc = engine_flush_once(e);
    }
    return rc;
}

static int engine_flush_once(struct engine *e)
{
    int rc;
    /* The FLUSH record opens a fresh segment, so every older one can go. */
    if (seglog_segment_size(e->log, seglog_active(e->log)) > 0) {
        rc = seglog_roll(e->log);
        if (rc) {
            if (seglog_failed(e->log)) {
                engine_fail(e, seglog_errno(e->log), "fsync");
                return DYN_EIO;
            }
            e->nospace_errno = seglog_errno(e->log);
            return e->nospace_errno == ENOSPC ? DYN_EAGAIN : DYN_EIO;
        }
        engine_note_active(e);
    }
    rc = engine_append(e, ENGINE_REC_FLUSH, NULL, 0, NULL, 0, 0, NULL);
    if (rc)
        return rc;
    if (seglog_sync(e->log) != 0) {
        engine_fail(e, seglog_errno(e->log), "fsync");
        return DYN_EIO;
    }
    e->st.fsyncs++;
    store_clear(e->store);
    engine_drop_sealed(e);
    for (size_t i = 0; i < e->nsegs; i++)
        e->segs[i].live = 0;
    return 0;
}

/* ---- reading ------------------------------------------------------------------- */

static struct object *engine_load(void *ctx, uint64_t loc, const void *key,
                                  size_t klen)
{
    struct engine *e = ctx;
    struct seglog_pos pos = { .seg = loc_seg(loc), .off = loc_off(loc) };
    struct seglog_rec r;
    struct object *o = NULL;
    /* A record this node wrote, its checksum verified: typed values are
     * not decoded again here (a typed write on a large value loaded it
     * twice per write, each time decoding it whole); every use decodes
     * and checks them anyway.  The scan at startup checks them whole. */
    struct object_limits lim = e->lim;
    lim.typed_trusted = 1;
    int rc = seglog_read_sized(e->log, pos, loc_acct(loc), &e->rbuf, &r);
    if (rc != 0 || r.type != ENGINE_REC_PUT || r.klen != klen ||
        memcmp(r.key, key, klen) != 0 ||
        object_from_bytes(r.value, r.vlen, &lim, &o) != 0) {
        e->st.read_errors++;
        dlog(DLOG_WARNING, "Record of a key at segment %u offset %llu failed "
             "verification (%s); the key reads as absent", pos.seg,
             (unsigned long long)pos.off,
             rc == DYN_EIO ? strerror(seglog_errno(e->log)) : "corrupt");
        return NULL;
    }
    dbuf_shrink(&e->rbuf, 64 * 1024);
    return o;
}

static int cron_impl(struct engine *e, uint64_t now_ms, uint64_t budget_us)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    engine_poll(e);
    settle_deferred(e);
    rotate_step(e); /* its records go with the flush below */
    if (e->failed)
        return 0;
    /* Removals (expiry, reaping) are not committed by themselves. */
    if (seglog_pending(e->log) > 0 && seglog_flush(e->log) != 0) {
        engine_fail(e, seglog_errno(e->log), "write");
        return 0;
    }
    if ((journal_active(e) || edits_active(e)) && rotate_finish(e) != 0)
        return 0;
    if (e->fsync_mode == FSYNC_EVERYSEC && !e->sync_inflight &&
        e->appended > e->synced && now_ms >= e->last_sync_ms + 1000) {
        /* the journal's file first: the jobs run in order, so the data
         * file's (periodic) job reports both */
        int jfd = e->jr && journal_unsynced(e->jr)
                      ? dup(journal_active_fd(e->jr))
                      : -1;
        if (jfd >= 0)
            engine_job_submit(e, engine_job_new(e, JOB_SYNC, jfd));
        int fd = dup(seglog_active_fd(e->log));
        if (fd >= 0) {
            struct job *j = engine_job_new(e, JOB_SYNC, fd);
            j->seq = e->appended;
            j->periodic = 1;
            e->sync_inflight = 1;
            e->last_sync_ms = now_ms;
            engine_job_submit(e, j);
        }
    }
    engine_ahead(e);
    return compact_step(e, budget_us ? budget_us : 1000);
}

/* ---- node.meta (server/nodemeta.c) ----------------------------------------- */

uint64_t engine_counter_base(const struct engine *e)
{
    return e && e->storage == STORAGE_DISK ? e->meta.counter_base : 0;
}

uint64_t engine_counter_reserved(const struct engine *e)
{
    return e && e->storage == STORAGE_DISK ? e->meta.counter_reserved
                                           : UINT64_MAX;
}

int engine_reserve_counters(struct engine *e, uint64_t used)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    return nodemeta_reserve(e->dir, &e->meta, used);
}

/* ---- loading ---------------------------------------------------------------------- */

static void apply_put(struct engine *e, const void *key, uint32_t klen,
                      uint64_t loc, uint64_t flags)
{
    uint64_t old;
    if (store_put_loc(e->store, key, klen, loc, flags, 0, NULL, &old))
        engine_seg_live_sub(e, old);
    seg_live_add(e, loc);
}

static void apply_del(struct engine *e, const void *key, uint32_t klen)
{
    uint64_t old;
    if (store_remove_loc(e->store, key, klen, &old) == 0)
        engine_seg_live_sub(e, old);
}

static void apply_flush(struct engine *e, uint32_t seg)
{
    store_clear(e->store);
    for (size_t i = 0; i < e->nsegs; i++)
        e->segs[i].live = 0;
    e->flush_seg = DYN_MAX(e->flush_seg, seg);
}

/* Reads seg's hint file whole and checks it (see engine.h).  On success
 * buf holds the file and *entries_len the bytes before the END entry. */
static int hint_validate(struct engine *e, uint32_t seg, uint64_t seg_bytes,
                         struct dbuf *buf, size_t *entries_len, int *exists)
{
    struct dbuf p;
    dbuf_init(&p);
    engine_path(e, seg, ".hint", &p);
    int fd = open(p.p, O_RDONLY | O_CLOEXEC);
    dbuf_free(&p);
    *exists = fd >= 0;
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    dbuf_reset(buf);
    dbuf_reserve(buf, (size_t)st.st_size + 1);
    size_t got = dyn_read_full(fd, buf->p, (size_t)st.st_size);
    close(fd);
    buf->len = got;
    const uint8_t *b = (const uint8_t *)buf->p;
    size_t off = 0;
    uint64_t n = 0;
    while (off < got) {
        struct seglog_rec r;
        if (seglog_parse(b + off, got - off, ENGINE_MAX_KEY, 64, &r) != 1)
            return -1;
        if (r.type == HINT_END) {
            if (off + r.size != got || r.vlen != HINT_END_VLEN ||
                wire_load_le64(r.value) != n || wire_load_le64(r.value + 8) != seg_bytes)
                return -1;
            *entries_len = off;
            return 0;
        }
        if ((r.type == HINT_PUT && r.vlen != HINT_PUT_VLEN) ||
            (r.type != HINT_PUT && r.type != HINT_DEL &&
             r.type != HINT_FLUSH))
            return -1;
        if (r.type == HINT_PUT &&
            (uint64_t)wire_load_le32(r.value) + wire_load_le32(r.value + 4) > seg_bytes)
            return -1;
        n++;
        off += r.size;
    }
    return -1; /* no END: truncated */
}

static void hint_apply(struct engine *e, uint32_t seg, const uint8_t *b,
                       size_t len)
{
    size_t off = 0;
    while (off < len) {
        struct seglog_rec r;
        int ok = seglog_parse(b + off, len - off, ENGINE_MAX_KEY, 64, &r);
        dyn_assert(ok == 1);
        if (r.type == HINT_PUT)
            apply_put(e, r.key, r.klen,
                      loc_make(seg, wire_load_le32(r.value), wire_load_le32(r.value + 4)),
                      r.value[8] & STORE_F_PERSIST);
        else if (r.type == HINT_DEL)
            apply_del(e, r.key, r.klen);
        else
            apply_flush(e, seg);
        e->st.hint_entries++;
        off += r.size;
    }
}

static uint64_t file_size(const struct engine *e, uint32_t seg,
                          const char *suffix);

/* Replay of a scanned data record (seglog_open's callback). */
static int engine_replay(void *ctx, const struct seglog_rec *r)
{
    struct engine *e = ctx;
    if (e->hw.seg != r->pos.seg) {
        /* A scanned segment is done: write its hint now (not the last
         * one, which stays active and keeps collecting). */
        if (e->hw.seg)
            hint_seal(e, file_size(e, e->hw.seg, ".seg"));
        hint_reset(&e->hw);
        e->hw.seg = r->pos.seg;
    }
    struct segstat *s = seg_get(e, r->pos.seg);
    s->total = DYN_MAX(s->total, r->pos.off + r->size);
    e->st.records_scanned++;
    switch (r->type) {
    case ENGINE_REC_PUT: {
        struct object *o;
        if (object_from_bytes(r->value, r->vlen, &e->lim, &o) != 0) {
            e->st.corrupt_records++;
            return 0;
        }
        uint64_t flags = store_object_flags(o);
        object_free(o);
        apply_put(e, r->key, r->klen, loc_make(r->pos.seg, r->pos.off,
                                               r->size), flags);
        hint_add(e, HINT_PUT, r->key, r->klen, r->pos.off, r->size, flags);
        break;
    }
    case ENGINE_REC_DEL:
        apply_del(e, r->key, r->klen);
        hint_add(e, HINT_DEL, r->key, r->klen, 0, 0, 0);
        break;
    case ENGINE_REC_FLUSH:
        apply_flush(e, r->pos.seg);
        hint_add(e, HINT_FLUSH, NULL, 0, 0, 0, 0);
        break;
    default:
        e->st.corrupt_records++;
        break;
    }
    return 0;
}

struct seglist {
    uint32_t *v;
    size_t n, cap;
};

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 and *seg when name is data.NNNNNNNN<suffix>. */
static int parse_name(const char *nm, const char *suffix, uint32_t *seg)
{
    size_t len = strlen(nm), sl = strlen(suffix);
    if (len != 5 + 8 + sl || strncmp(nm, "data.", 5) != 0 ||
        strcmp(nm + 13, suffix) != 0)
        return 0;
    uint32_t v = 0;
    for (int i = 5; i < 13; i++) {
        if (nm[i] < '0' || nm[i] > '9')
            return 0;
        v = v * 10 + (uint32_t)(nm[i] - '0');
    }
    *seg = v;
    return 1;
}

/* Lists the data segments; removes stale .hint.tmp files and hints whose
 * segment is gone. */
static int list_dir(struct engine *e, struct seglist *out)
{
    DIR *d = opendir(e->dir);
    if (!d)
        return -1;
    struct seglist hints = { 0 };
    struct dirent *de;
    struct dbuf p;
    dbuf_init(&p);
    while ((de = readdir(d)) != NULL) {
        uint32_t seg;
        struct seglist *l = NULL;
        if (parse_name(de->d_name, ".seg", &seg))
            l = out;
        else if (parse_name(de->d_name, ".hint", &seg))
            l = &hints;
        else if (parse_name(de->d_name, ".hint.tmp", &seg)) {
            engine_path(e, seg, ".hint.tmp", &p);
            unlink(p.p);
        }
        if (!l)
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->v = dyn_realloc(l->v, l->cap * sizeof(uint32_t));
        }
        l->v[l->n++] = seg;
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof(uint32_t), cmp_u32);
    for (size_t i = 0; i < hints.n; i++) {
        if (out->n && bsearch(&hints.v[i], out->v, out->n, sizeof(uint32_t),
                              cmp_u32))
            continue;
        engine_path(e, hints.v[i], ".hint", &p);
        unlink(p.p);
    }
    dyn_free(hints.v);
    dbuf_free(&p);
    return 0;
}

static uint64_t file_size(const struct engine *e, uint32_t seg,
                          const char *suffix)
{
    struct dbuf p;
    struct stat st;
    dbuf_init(&p);
    engine_path(e, seg, suffix, &p);
    int ok = stat(p.p, &st) == 0;
    dbuf_free(&p);
    return ok ? (uint64_t)st.st_size : 0;
}

static int engine_load_all(struct engine *e, uint64_t segment_max,
                           struct dbuf *err)
{
    struct seglist segs = { 0 };
    if (list_dir(e, &segs) != 0) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot read directory %s: %s", e->dir,
                    strerror(errno));
        return DYN_EIO;
    }
    /* Empty segments at the end hold no record: the next segment created
     * ahead of a roll (engine_ahead), left by a crash.  Removed, so that
     * the last one with records is the active one again (its torn tail is
     * cut, its hint entries carry over). */
    while (segs.n > 1 && file_size(e, segs.v[segs.n - 1], ".seg") == 0) {
        struct dbuf p;
        dbuf_init(&p);
        engine_path(e, segs.v[segs.n - 1], ".seg", &p);
        int gone = unlink(p.p) == 0;
        engine_path(e, segs.v[segs.n - 1], ".hint", &p);
        if (gone)
            unlink(p.p);
        dbuf_free(&p);
        if (!gone)
            break;
        segs.n--;
    }
    uint32_t last = segs.n ? segs.v[segs.n - 1] : 0;
    uint32_t first_scan = last + 1;
    struct dbuf hb;
    dbuf_init(&hb);
    for (size_t i = 0; i < segs.n; i++) {
        uint32_t seg = segs.v[i];
        uint64_t size = file_size(e, seg, ".seg");
        size_t elen = 0;
        int exists = 0;
        if (hint_validate(e, seg, size, &hb, &elen, &exists) != 0) {
            if (exists) {
                e->st.hint_files_rejected++;
                dlog(DLOG_WARNING, "Hint file of segment %u is truncated or "
                     "corrupt: scanning the segment instead", seg);
            }
            first_scan = seg;
            break;
        }
        seg_get(e, seg)->total = size;
        hint_apply(e, seg, (const uint8_t *)hb.p, elen);
        e->st.hint_files_used++;
        if (seg == last) {
            /* The active segment continues: its hint entries so far carry
             * over to the hint being collected, and the file goes (it will
             * not match the segment once anything is appended). */
            hint_reset(&e->hw);
            e->hw.seg = seg;
            dbuf_append(&e->hw.buf, hb.p, elen);
            const uint8_t *b = (const uint8_t *)hb.p;
            for (size_t off = 0; off < elen;) {
                struct seglog_rec r;
                seglog_parse(b + off, elen - off, ENGINE_MAX_KEY, 64, &r);
                e->hw.entries++;
                off += r.size;
            }
            struct dbuf p;
            dbuf_init(&p);
            engine_path(e, seg, ".hint", &p);
            unlink(p.p);
            dbuf_free(&p);
        }
    }
    dbuf_free(&hb);
    for (size_t i = 0; i < segs.n; i++)
        seg_get(e, segs.v[i]);
    dyn_free(segs.v);

    struct seglog_opts so = {
        .dir = e->dir,
        .prefix = "data",
        .segment_max_bytes = segment_max,
        .max_key = ENGINE_MAX_KEY,
        .max_value = ENGINE_MAX_VALUE,
    };
    struct seglog_recovery rec;
    int rc = seglog_open(&so, first_scan, engine_replay, e, &e->log, &rec);
    if (rc != 0) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot open the data files in %s: %s", e->dir,
                    strerror(errno ? errno : EIO));
        return rc;
    }
    e->st.corrupt_records += rec.corrupt_records;
    e->st.truncated_bytes += rec.truncated_bytes;
    uint32_t act = seglog_active(e->log);
    if (e->hw.seg && e->hw.seg != act) {
        hint_seal(e, seglog_segment_size(e->log, e->hw.seg));
        hint_reset(&e->hw);
    }
    e->hw.seg = act;
    seg_get(e, act)->total = seglog_segment_size(e->log, act);
    /* Sizes after the torn tail was cut. */
    for (size_t i = 0; i < e->nsegs; i++)
        e->segs[i].total = seglog_segment_size(e->log, e->segs[i].seg);
    /* Segments older than the newest FLUSH are garbage. */
    if (e->flush_seg) {
        struct dbuf p;
        dbuf_init(&p);
        while (e->nsegs > 0 && e->segs[0].seg < e->flush_seg &&
               e->segs[0].seg != act) {
            uint32_t seg = e->segs[0].seg;
            seglog_remove_segment(e->log, seg);
            engine_path(e, seg, ".hint", &p);
            unlink(p.p);
            engine_seg_drop(e, seg);
        }
        dbuf_free(&p);
    }
    return 0;
}

/* ---- open / close -------------------------------------------------------------- */

int engine_open(const struct engine_opts *o, struct store *s,
                struct engine **out, struct dbuf *err)
{
    struct engine *e = dyn_calloc(1, sizeof(*e));
    e->storage = o->storage;
    e->store = s;
    e->st.storage = o->storage;
    e->wake[0] = e->wake[1] = -1;
    dbuf_init(&e->hw.buf);
    compact_init(&e->cmp);
    dbuf_init(&e->rbuf);
    dbuf_init(&e->undo);
    dbuf_init(&e->ebuf);
    dbuf_init(&e->ekey);
    dbuf_init(&e->rot_keys);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    if (o->storage != STORAGE_DISK) {
        *out = e;
        return 0;
    }
    e->value_cache = o->value_cache;
    e->st.value_cache = o->value_cache;
    e->dir = dyn_strdup(o->dir && o->dir[0] ? o->dir : ".");
    e->fsync_mode = o->appendfsync;
    e->ratio_pm = o->compact_ratio_pm;
    e->last_sync_ms = dyn_wall_ms();
    if (mkdir(e->dir, 0755) != 0 && errno != EEXIST) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot create directory %s: %s", e->dir,
                    strerror(errno));
        engine_close(e);
        return DYN_EIO;
    }
    int rc = nodemeta_open(e->dir, &e->meta, err);
    e->st.incarnation = e->meta.incarnation;
    if (rc) {
        engine_close(e);
        return rc;
    }
    store_set_kind(s, o->value_cache ? STORE_DISK_CACHE : STORE_DISK,
                   engine_load, e);
    uint64_t max = o->segment_max_bytes ? o->segment_max_bytes
                                        : 64ull * 1024 * 1024;
    if (max > (1ull << LOC_OFF_BITS))
        max = 1ull << LOC_OFF_BITS;
    e->segmax = max;
    uint64_t t0 = dyn_mono_us();
    e->st.loading = 1;
    rc = engine_load_all(e, max, err);
    e->st.loading = 0;
    if (rc) {
        engine_close(e);
        return rc;
    }
    e->st.load_time_ms = (dyn_mono_us() - t0) / 1000;
    e->st.keys_loaded = store_count(s);

    if (pipe2(e->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        dbuf_reset(err);
        dbuf_printf(err, "pipe: %s", strerror(errno));
        engine_close(e);
        return DYN_EIO;
    }
    if (pthread_create(&e->thr, NULL, engine_thread, e) == 0)
        e->thr_started = 1;
    else
        dlog(DLOG_WARNING, "Cannot start the storage helper thread: fsyncs "
             "will run on the event loop");
    *out = e;
    return 0;
}

void engine_close(struct engine *e)
{
    if (!e)
        return;
    if (e->storage == STORAGE_DISK) {
        compact_stop(e);
        /* written below, with the rest; with the journal on, a
         * checkpoint leaves the next start nothing to run again */
        if (e->log && (journal_active(e) || store_held_count(e->store)) &&
            !e->failed)
            (void)engine_journal_checkpoint(e);
        if (e->log)
            settle_deferred(e);
        if (e->log) {
            if (!e->failed && seglog_sync(e->log) == 0) {
                uint32_t act = seglog_active(e->log);
                if (e->hw.seg == act)
                    hint_seal(e, seglog_segment_size(e->log, act));
            } else if (!e->failed) {
                engine_fail(e, seglog_errno(e->log), "fsync");
            }
        }
        /* the thread runs every queued job (hint writes included) before
         * it stops */
        if (e->thr_started) {
            pthread_mutex_lock(&e->mu);
            e->stop = 1;
            pthread_cond_signal(&e->cv);
            pthread_mutex_unlock(&e->mu);
            pthread_join(e->thr, NULL);
            e->thr_started = 0;
        }
        if (e->wake[0] >= 0)
            engine_poll(e);
        hint_abandon(e);
        /* jobs finished without a thread are on the done list too */
        struct job *j = e->done.head;
        while (j) {
            struct job *next = j->next;
            job_free(j);
            j = next;
        }
        if (e->jr && !e->failed && journal_sync(e->jr) != 0)
            dlog(DLOG_WARNING, "fsync of the journal in %s failed: %s", e->dir,
                 strerror(journal_errno(e->jr)));
        journal_close(e->jr);
        seglog_close(e->log);
        if (e->wake[0] >= 0)
            close(e->wake[0]);
        if (e->wake[1] >= 0)
            close(e->wake[1]);
    }
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    dbuf_free(&e->hw.buf);
    compact_free(&e->cmp);
    dbuf_free(&e->rbuf);
    dbuf_free(&e->undo);
    dbuf_free(&e->ebuf);
    dbuf_free(&e->ekey);
    dbuf_free(&e->rot_keys);
    dyn_free(e->segs);
    dyn_free(e->dir);
    dyn_free(e);
}

/* ---- loop-stall measurement ------------------------------------------------ */

/* Every entry point the event loop calls while serving (writes, commits,
 * cron, polls) is timed, outermost call only; the fdatasync that
 * appendfsync always asks of a commit (or of a roll) is not counted, since
 * it is the durability the client waits for (fsync_worst_us has it).
 * The worst is INFO storage_loop_worst_us, with the call's name. */
static void call_begin(struct engine *e)
{
    if (e->depth++ == 0) {
        e->call_t0 = dyn_mono_us();
        e->call_fsync_us = 0;
    }
}

static void call_end(struct engine *e, const char *what)
{
    if (--e->depth != 0)
        return;
    uint64_t dt = dyn_mono_us() - e->call_t0;
    dt -= DYN_MIN(dt, e->call_fsync_us);
    if (dt > e->st.loop_worst_us) {
        e->st.loop_worst_us = dt;
        e->st.loop_worst_call = what;
    }
}

int engine_put_take(struct engine *e, const void *key, size_t klen,
                    struct object *obj)
{
    return engine_put_edit(e, key, klen, obj, NULL, 0);
}

int engine_last_edit(const struct engine *e, const void *key, size_t klen,
                     uint64_t base, uint64_t target, struct dbuf *out)
{
    uint64_t bd, td;
    if (!e || e->ekey.len != klen || e->ebuf.len == 0 ||
        memcmp(e->ekey.p, key, klen) != 0 ||
        delta_digests(e->ebuf.p, e->ebuf.len, &bd, &td) != 0 || bd != base ||
        td != target)
        return DYN_ENOTFOUND;
    dbuf_append(out, e->ebuf.p, e->ebuf.len);
    return 0;
}

int engine_put_edit(struct engine *e, const void *key, size_t klen,
                    struct object *obj, const void *delta, size_t dlen)
{
    if (e->storage != STORAGE_DISK)
        return put_take_impl(e, key, klen, obj, delta, dlen, 0);
    call_begin(e);
    int rc = put_take_impl(e, key, klen, obj, delta, dlen, 0);
    call_end(e, "write");
    return rc;
}

int engine_remove(struct engine *e, const void *key, size_t klen)
{
    if (e->storage != STORAGE_DISK)
        return remove_impl(e, key, klen);
    call_begin(e);
    int rc = remove_impl(e, key, klen);
    call_end(e, "remove");
    return rc;
}

int engine_commit(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    call_begin(e);
    int rc = commit_impl(e);
    call_end(e, "commit");
    return rc;
}

int engine_cron(struct engine *e, uint64_t now_ms, uint64_t budget_us)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    call_begin(e);
    int rc = cron_impl(e, now_ms, budget_us);
    call_end(e, e->cmp.on || rc ? "compaction" : "cron");
    return rc;
}

void engine_poll(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK)
        return;
    call_begin(e);
    poll_impl(e);
    call_end(e, "poll");
}

/* ---- settings and reporting -------------------------------------------------- */

void engine_set_group_commit(struct engine *e, int on)
{
    e->group_commit = on;
}

uint64_t engine_seq(const struct engine *e)
{
    return e && e->storage == STORAGE_DISK ? e->appended : 0;
}

void engine_promise(struct engine *e)
{
    if (e && e->storage == STORAGE_DISK)
        e->appended++;
}

int engine_room(struct engine *e, uint64_t bytes)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    if (e->failed)
        return DYN_EIO;
    if (!seglog_can_reserve(e->log))
        return DYN_EINVAL;
    /* already there (most calls: a deferred write asks for its key's
     * record each time): no roll, no reserve, and no timing of either */
    if (fits_active(e, bytes) && seglog_reserved_covers(e->log, bytes))
        return 0;
    call_begin(e);
    int rc = roll_for(e, bytes); /* as engine_append */
    if (rc == 0) {
        rc = seglog_reserve(e->log, bytes);
        engine_note_active(e);
    }
    call_end(e, "reserve");
    if (rc == DYN_EAGAIN) {
        e->nospace_errno = seglog_errno(e->log);
        e->st.disk_full = 1;
    }
    return rc;
}

void engine_fail_deferred(struct engine *e, int rc)
{
    if (!e || e->storage != STORAGE_DISK || e->failed)
        return;
    engine_fail(e, rc == DYN_EAGAIN ? ENOSPC : EIO,
                "write of a deferred typed value");
}

uint64_t engine_committed_seq(const struct engine *e)
{
    return e && e->storage == STORAGE_DISK ? e->committed : 0;
}

void engine_batch_begin(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK || e->batch_open)
        return;
    e->batch_open = 1;
    e->batch_seq0 = e->appended;
    e->group_commit = 1;
}

int engine_batch_end(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK || !e->batch_open)
        return 0;
    e->batch_open = 0;
    e->group_commit = 0;
    if (e->appended == e->batch_seq0)
        return 0;           /* nothing of this batch to vouch for */
    int rc = engine_commit(e);
    return rc != 0 && e->committed < e->appended ? DYN_EIO : 0;
}

void engine_set_appendfsync(struct engine *e, int mode)
{
    /* leaving always turns the journal on: a value deferred under always
     * holds writes the journal does not, and the next commit would no
     * longer settle it, so it is settled now (written by this turn's
     * commit, before those writes' replies) */
    if (e->storage == STORAGE_DISK && e->journal_on && !journal_active(e) &&
        mode != FSYNC_ALWAYS) {
        settle_deferred(e);
    }
    e->fsync_mode = mode;
}

void engine_set_compact_ratio(struct engine *e, int ratio_pm)
{
    e->ratio_pm = ratio_pm;
}

int engine_wakeup_fd(const struct engine *e)
{
    return e && e->storage == STORAGE_DISK ? e->wake[0] : -1;
}

int engine_writable(const struct engine *e)
{
    return e && e->failed ? DYN_EIO : 0;
}

const char *engine_error_text(struct engine *e, int rc)
{
    if (e->failed) {
        snprintf(e->errtext, sizeof(e->errtext),
                 "MISCONF %s failed in the data directory: %s; this node "
                 "refuses writes until it is restarted",
                 e->fail_what ? e->fail_what : "fsync",
                 strerror(e->fail_errno));
    } else if (rc == DYN_EAGAIN) {
        snprintf(e->errtext, sizeof(e->errtext),
                 "ERR disk full: %s; write refused (reads still work)",
                 strerror(e->nospace_errno ? e->nospace_errno : ENOSPC));
    } else if (rc == DYN_ELIMIT) {
        snprintf(e->errtext, sizeof(e->errtext),
                 "ERR write refused: the record is too large for the data "
                 "files");
    } else {
        snprintf(e->errtext, sizeof(e->errtext),
                 "ERR write to the data directory failed: %s; write refused",
                 strerror(e->nospace_errno ? e->nospace_errno : EIO));
    }
    return e->errtext;
}

void engine_get_stats(const struct engine *e, struct engine_stats *out)
{
    *out = e->st;
    out->failed = e->failed;
    out->fail_errno = e->fail_errno;
    if (e->storage != STORAGE_DISK)
        return;
    /* files: the segments known, and the next one created ahead */
    out->segments = (uint32_t)e->nsegs + (e->log && seglog_has_next(e->log));
    out->journal_bytes = e->jr ? journal_bytes(e->jr) : 0;
    out->journal_on = journal_active(e);
    out->journal_rotating = e->rotating;
    out->journal_edits_on = edits_active(e);
    out->held_keys = store_held_count(e->store);
    out->held_bytes = store_held_bytes(e->store);
    out->disk_bytes = 0;
    out->live_bytes = 0;
    for (size_t i = 0; i < e->nsegs; i++) {
        out->disk_bytes += e->segs[i].total;
        out->live_bytes += DYN_MIN(e->segs[i].live, e->segs[i].total);
    }
}

void engine_info(const struct engine *e, struct dbuf *b)
{
    struct engine_stats s;
    engine_get_stats(e, &s);
    unsigned long long u;
    dbuf_printf(b, "storage:%s\r\n",
                s.storage == STORAGE_DISK ? "disk" : "memory");
    dbuf_printf(b, "value_cache:%s\r\n", s.value_cache ? "yes" : "no");
#define ENGINE_LINE(name, v) \
    (u = (unsigned long long)(v), dbuf_printf(b, name ":%llu\r\n", u))
    ENGINE_LINE("loading_time_ms", s.load_time_ms);
    ENGINE_LINE("loading_keys", s.keys_loaded);
    ENGINE_LINE("loading_records_scanned", s.records_scanned);
    ENGINE_LINE("loading_hint_entries", s.hint_entries);
    ENGINE_LINE("loading_hint_files_used", s.hint_files_used);
    ENGINE_LINE("loading_hint_files_rejected", s.hint_files_rejected);
    ENGINE_LINE("loading_corrupt_records", s.corrupt_records);
    ENGINE_LINE("loading_truncated_bytes", s.truncated_bytes);
    ENGINE_LINE("disk_segments", s.segments);
    ENGINE_LINE("disk_bytes", s.disk_bytes);
    ENGINE_LINE("disk_live_bytes", s.live_bytes);
    ENGINE_LINE("disk_write_bytes", s.write_bytes);
    ENGINE_LINE("compactions", s.compactions);
    ENGINE_LINE("compaction_in_progress", s.compacting);
    ENGINE_LINE("compaction_records_moved", s.compact_records_moved);
    ENGINE_LINE("compaction_bytes_reclaimed", s.compact_bytes_reclaimed);
    ENGINE_LINE("compaction_worst_slice_us", s.compact_worst_slice_us);
    ENGINE_LINE("fsyncs", s.fsyncs);
    ENGINE_LINE("fsync_worst_us", s.fsync_worst_us);
    ENGINE_LINE("storage_loop_worst_us", s.loop_worst_us);
    dbuf_printf(b, "storage_loop_worst_call:%s\r\n",
                s.loop_worst_call ? s.loop_worst_call : "none");
    ENGINE_LINE("segment_rolls", s.segment_rolls);
    dbuf_printf(b, "storage_write_status:%s\r\n",
                s.failed ? "failed" : s.disk_full ? "disk_full" : "ok");
    dbuf_printf(b, "storage_failure:%s\r\n",
                s.failed ? strerror(s.fail_errno) : "none");
    ENGINE_LINE("disk_full_errors", s.disk_full_errors);
    ENGINE_LINE("read_errors", s.read_errors);
    ENGINE_LINE("incarnation", s.incarnation);
    dbuf_printf(b, "journal_enabled:%s\r\n", s.journal_on ? "yes" : "no");
    ENGINE_LINE("journal_bytes", s.journal_bytes);
    ENGINE_LINE("journal_ops", s.journal_ops);
    ENGINE_LINE("journal_checkpoints", s.journal_checkpoints);
    ENGINE_LINE("journal_rotating", s.journal_rotating);
    ENGINE_LINE("journal_replayed_ops", s.journal_replayed);
    ENGINE_LINE("journal_replay_skipped", s.journal_skipped);
    ENGINE_LINE("journal_replay_errors", s.journal_replay_errors);
    ENGINE_LINE("journal_corrupt_records", s.journal_corrupt);
    dbuf_printf(b, "journal_edits_enabled:%s\r\n",
                s.journal_edits_on ? "yes" : "no");
    ENGINE_LINE("journal_edits", s.journal_edits);
    ENGINE_LINE("journal_edit_bytes", s.journal_edit_bytes);
    ENGINE_LINE("journal_edit_object_bytes", s.journal_edit_object_bytes);
    ENGINE_LINE("journal_edits_replayed", s.journal_edits_replayed);
    ENGINE_LINE("journal_edits_skipped", s.journal_edits_skipped);
    ENGINE_LINE("journal_edit_errors", s.journal_edit_errors);
    ENGINE_LINE("journal_held_keys", s.held_keys);
    ENGINE_LINE("journal_held_bytes", s.held_bytes);
#undef ENGINE_LINE
}

/* ---- the typed-op journal (journal.h) ------------------------------------ */

/* An edit found in the journal at open (see "Edits in the journal"). */
static int replay_edit(void *ctx, const uint8_t *key, size_t klen,
                       const uint8_t *delta, size_t dlen)
{
    struct engine *e = ctx;
    uint64_t bd, td;
    const struct object *cur = store_get(e->store, key, klen);
    if (!cur || delta_digests(delta, dlen, &bd, &td) != 0 ||
        object_digest(cur) != bd) {
        e->st.journal_edits_skipped++;
        return 0;
    }
    struct object_limits lim = e->lim;
    lim.typed_trusted = 1; /* this node's bytes, checked by digest */
    struct object *o = NULL;
    uint64_t tlen;
    uint8_t *bytes;
    int rc = delta_target_len(delta, dlen, &tlen) != 0 ||
                     tlen > ENGINE_MAX_VALUE
                 ? DYN_EINVAL
                 : 0;
    if (rc == 0) {
        struct object *raw = object_raw((size_t)tlen, &bytes);
        rc = delta_patch_into(object_bytes(cur), object_size(cur), delta,
                              dlen, bytes, (size_t)tlen);
        if (rc != 0)
            object_free(raw);
        else
            rc = object_from_raw(raw, &lim, &o);
    }
    if (rc != 0 || object_digest(o) != td) {
        object_free(o);
        e->st.journal_edit_errors++;
    } else {
        struct store_hold_info add = {0, 0, 0, 0};
        (void)store_hold(e->store, key, klen, o, &add, NULL, NULL);
        e->st.journal_edits_replayed++;
    }
    return 0;
}

int engine_journal_open(struct engine *e, int on, uint64_t max_bytes,
                        uint64_t max_value, uint64_t hold_max,
                        engine_journal_fn fn, void *ctx, struct dbuf *err)
{
    if (!e || e->storage != STORAGE_DISK)
        return 0;
    dyn_assert(e->jr == NULL);
    uint64_t corrupt = 0;
    struct journal *jr = NULL;
    int rc = journal_open(e->dir, max_value, fn, ctx, replay_edit, e, &jr,
                          &corrupt);
    e->st.journal_corrupt = corrupt;
    if (rc != 0) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot open the journal in %s: %s", e->dir,
                    rc == DYN_EIO ? strerror(errno) : "a file is not a journal");
        return rc;
    }
    e->jr = jr;
    if (corrupt)
        dlog(DLOG_WARNING, "journal: %llu corrupt record(s) skipped",
             (unsigned long long)corrupt);
    /* the replayed ops are now deferred values: written, made durable,
     * and the journal that held them started afresh */
    rc = engine_journal_checkpoint(e);
    if (rc == DYN_EAGAIN) {
        /* a full disk: the ops stay in the journal, and their values
         * deferred, until there is room */
        dlog(DLOG_WARNING, "journal: the disk is full; %u value(s) stay "
             "in the journal until there is room",
             store_deferred_count(e->store));
        rc = 0;
    }
    if (rc == 0)
        rc = engine_commit(e);
    if (rc != 0) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot write the journal's ops to %s: %s", e->dir,
                    strerror(e->fail_errno ? e->fail_errno : EIO));
        return rc;
    }
    e->journal_on = on && max_bytes > 0;
    e->edits_on = max_bytes > 0;
    e->journal_max = max_bytes;
    e->hold_max = hold_max;
    return 0;
}

/* appendfsync always takes the journal's place: each commit fsyncs the
 * values it settles, and a failed fsync takes its writes back (undo),
 * which a journaled op could not be */
static int journal_active(const struct engine *e)
{
    return e->journal_on && e->fsync_mode != FSYNC_ALWAYS;
}

int engine_journal_on(const struct engine *e)
{
    return e && journal_active(e);
}

int engine_journal_op(struct engine *e, const struct journal_op *op)
{
    if (!e || !e->journal_on)
        return DYN_EINVAL;
    if (e->failed)
        return DYN_EIO;
    uint64_t bytes = SEGLOG_HEADER + SEGLOG_TRAILER + op->klen + 40;
    for (uint32_t i = 0; i < op->argc; i++)
        bytes += 4 + op->argv[i].len;
    int rc = journal_room(e->jr, bytes);
    if (rc == 0)
        rc = journal_append(e->jr, op);
    if (rc != 0)
        return rc;
    e->st.journal_ops++;
    return 0;
}

/* Every deferred value written, the records made durable (fdatasync, on
 * the loop: at start and shutdown only; under load the journal rotates),
 * then the journal started afresh: nothing in it is needed any more.
 * DYN_EAGAIN: a full disk kept a value deferred, and the journal as it
 * is. */
int engine_journal_checkpoint(struct engine *e)
{
    if (!e || e->storage != STORAGE_DISK || !e->jr || e->checkpointing)
        return 0;
    if (e->failed)
        return DYN_EIO;
    e->checkpointing = 1;
    int was = e->settling;
    e->settling = 1;
    store_settle_deferred(e->store);
    if (store_held_count(e->store)) {
        struct dbuf keys;
        dbuf_init(&keys);
        store_held_keys(e->store, &keys);
        (void)held_write_keys(e, &keys, 0);
        dbuf_free(&keys);
    }
    e->settling = was;
    int rc = e->failed ? DYN_EIO : 0;
    /* a value the full disk refused stays deferred (or held): its ops
     * (edits) stay in the journal, which cannot start afresh yet */
    if (rc == 0 && (store_deferred_count(e->store) > 0 ||
                    store_held_count(e->store) > 0))
        rc = DYN_EAGAIN;
    if (rc == 0 && seglog_sync(e->log) != 0) {
        engine_fail(e, seglog_errno(e->log), "fsync");
        rc = DYN_EIO;
    }
    if (rc == 0 && journal_restart(e->jr) != 0) {
        engine_fail(e, journal_errno(e->jr), "journal restart");
        rc = DYN_EIO;
    }
    if (rc == 0) {
        e->st.fsyncs++;
        e->st.journal_checkpoints++;
        rotate_clear(e); /* whatever it waited for is written */
    }
    e->checkpointing = 0;
    return rc;
}

void engine_journal_count(struct engine *e, int replayed, int skipped,
                          int errors)
{
    e->st.journal_replayed += (uint64_t)replayed;
    e->st.journal_skipped += (uint64_t)skipped;
    e->st.journal_replay_errors += (uint64_t)errors;
}

uint32_t engine_incarnation(const struct engine *e)
{
    return e->st.incarnation;
}
