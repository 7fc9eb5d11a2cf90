/*
 * engine_int.h -- what the storage engine's own files share, and nothing
 * outside them may include: server/engine.c (the engine proper: its state,
 * the append path, hints, loading, the helper thread and its job queue)
 * and server/compact.c (compaction).  Everyone else sees server/engine.h.
 *
 * Dependencies, one file to another:
 *   engine.c  -> compact.c   compact_init/free, compact_stop, compact_step,
 *                            compact_job_done (the engine drives compaction
 *                            from its cron, FLUSHALL and close)
 *   compact.c -> engine.c    engine_append, the segment table, the job
 *                            queue, engine_fail: compaction is a writer of
 *                            the log like any other, so it needs the append
 *                            path, which is the engine's
 *   engine.c  -> nodemeta.c  identity and counter reservations (nodemeta.h;
 *                            nodemeta calls nothing of the engine)
 * The first two make a circle of two files inside the storage layer; it
 * stays because the append path and the entry points that must stop or
 * step compaction (engine_cron, engine_flush_all, engine_close) are the
 * same engine.  Nothing outside the layer takes part in it.
 *
 * Thread-safety: as engine.h; only todo/done (under mu) are shared with
 * the helper thread.
 */
#ifndef DYN_ENGINE_INT_H
#define DYN_ENGINE_INT_H

#include <pthread.h>
#include <stdint.h>
#include "cluster/object.h"
#include "server/buf.h"
#include "server/engine.h"
#include "server/nodemeta.h"
#include "server/seglog.h"
#include "server/util.h"

#define LOC_SEG_BITS 22
#define LOC_OFF_BITS 30
#define LOC_SZ_BITS 12
#define LOC_SEG_MAX ((1u << LOC_SEG_BITS) - 1)

#define ENGINE_MAX_KEY (512u * 1024 * 1024)
#define ENGINE_READ_CHUNK (64 * 1024)
#define ENGINE_MAX_VALUE (0xffffffffu - 64)

/* ---- helper thread jobs -------------------------------------------------- */

enum job_kind {
    JOB_SYNC, JOB_HINT, JOB_COMPACT, JOB_READ,
    JOB_HINT_WRITE, JOB_PREPARE, JOB_RESERVE
};

struct job {
    struct job *next;
    enum job_kind kind;
    int fd;             /* owned by the job; closed by the thread */
    uint64_t seq;       /* JOB_SYNC: records appended when it was queued */
    int periodic;       /* JOB_SYNC: everysec's (else a sealed segment's) */
    int rotation;       /* JOB_SYNC: ends the journal's rotation */
    int trim;           /* JOB_SYNC: ftruncate to `bytes` first */
    uint32_t seg;
    uint64_t bytes;     /* JOB_COMPACT: the segment's size; SYNC: trim */
    char *path_a;       /* HINT(_WRITE): tmp; COMPACT, PREPARE: segment */
    char *path_b;       /* HINT: final; COMPACT: hint */
    char *dir;
    int rc;             /* 0 or -1 */
    int err;
    /* JOB_READ: bytes [off, off + len) of the segment being compacted;
     * HINT(_WRITE): data goes at off of the tmp file; PREPARE, RESERVE:
     * preallocate len bytes from off */
    uint64_t off, len, gen;
    struct dbuf data;
};

struct jobq {
    struct job *head, *tail;
};

/* Appends j (the caller holds e->mu when the queue is shared). */
static inline void jobq_push(struct jobq *q, struct job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
}

/* ---- engine state ---------------------------------------------------------- */

struct segstat {
    uint32_t seg;
    uint64_t total;
    uint64_t live;
    int hint_pending;   /* a HINT job is in flight */
};

/* The hint being collected for the segment being written. */
struct hintw {
    uint32_t seg;       /* 0 = none */
    struct dbuf buf;    /* entries not yet handed to the helper thread */
    uint64_t written;   /* bytes handed over (JOB_HINT_WRITE) so far */
    uint64_t entries;
    int broken;         /* a write failed: no hint for this segment */
};

struct compaction {
    int on;
    uint32_t seg;
    int fd;
    uint64_t off;
    uint64_t size;
    int oldest;
    struct dbuf buf;
    uint64_t buf_off;
    /* reads run on the helper thread (JOB_READ): a slice never waits for
     * the disk, it ends and the next one finds the bytes */
    uint64_t gen;           /* bumped at every pick and stop */
    int rd_inflight;
    int rd_failed;
    int rd_err;
    uint64_t req_off, req_len;  /* the last read asked for */
};

struct engine {
    int storage;
    int value_cache;
    struct nodemeta meta;       /* identity and dot counters (node.meta) */
    char *dir;
    int fsync_mode;
    int group_commit;
    int ratio_pm;
    uint64_t segmax;
    struct store *store;
    struct seglog *log;
    struct object_limits lim;

    uint64_t appended;      /* records appended, ever */
    uint64_t committed;     /* ... covered by a successful engine_commit */
    uint64_t batch_seq0;    /* engine_batch_begin: appended then */
    /* Writes put into the store since the last successful commit, to be
     * undone if the commit fails: entries of klen u32 | had_old u8 |
     * old loc u64 | key, in order. */
    struct dbuf undo;
    int batch_open;
    int settling;           /* writing the store's deferred typed values */
    uint64_t synced;        /* ... known to be fsynced (everysec) */
    int sync_inflight;
    uint64_t last_sync_ms;

    int failed;
    int fail_errno;
    const char *fail_what;
    int nospace_errno;
    char errtext[256];

    struct segstat *segs;
    size_t nsegs, capsegs;
    struct hintw hw;
    struct compaction cmp;
    struct dbuf rbuf;
    uint32_t flush_seg;     /* loading: the segment of the newest FLUSH */
    uint32_t load_active;   /* loading: the segment that will be active */

    /* helper thread */
    pthread_t thr;
    int thr_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct jobq todo, done;
    int stop;
    int wake[2];
    /* work done ahead on the helper thread (engine_ahead) */
    int prep_inflight;      /* JOB_PREPARE queued */
    uint32_t prep_seg;      /* the last segment asked to be created */
    int resv_inflight;      /* JOB_RESERVE queued */
    /* loop-stall measurement of the engine's entry points */
    int depth;
    uint64_t call_t0;
    uint64_t call_fsync_us; /* appendfsync always fdatasyncs in the call */
    /* the typed-op journal: ops of deferred typed writes (journal.h) */
    struct journal *jr;     /* NULL until engine_journal_open */
    int journal_on;         /* commits do not settle deferred values */
    int edits_on;           /* large writes journaled as edits */
    uint64_t hold_max;      /* held versions' bytes (store_hold) */
    struct dbuf ebuf;       /* the last edit made (engine_last_edit) */
    struct dbuf ekey;       /* ... its key */
    uint32_t undo_holds;    /* undo entries that own a version */
    uint64_t journal_max;   /* journal-max-bytes */
    int checkpointing;
    /* a rotation (engine.c, "The journal's rotation"): the keys deferred
     * when it began, settled a slice per commit; then the segments below
     * rot_seg go */
    int rotating;
    uint32_t rot_seg;
    struct dbuf rot_keys;
    size_t rot_off;
    uint64_t rot_wait_ms;   /* a full disk refused a settle: not before */
    int rot_sync_inflight;  /* its records' fdatasync, on the thread */

    struct engine_stats st;
};

/* ---- the location word (engine.c's essay) --------------------------------- */

/* Size code: exact below 2048, else 6-bit mantissa << exponent, rounded
 * up.  decode(encode(n)) >= n, and is what accounting adds and subtracts. */
static inline uint32_t size_encode(uint64_t n)
{
    if (n < 2048)
        return (uint32_t)n;
    unsigned ex = 5;
    while (((n + (1ull << ex) - 1) >> ex) >= 64)
        ex++;
    uint64_t m = (n + (1ull << ex) - 1) >> ex;
    return 2048u + (uint32_t)(ex - 5) * 64u + (uint32_t)m;
}

static inline uint64_t size_decode(uint32_t c)
{
    if (c < 2048)
        return c;
    c -= 2048;
    return (uint64_t)(c % 64) << (c / 64 + 5);
}

static inline uint64_t loc_make(uint32_t seg, uint64_t off, uint64_t size)
{
    dyn_assert(seg <= LOC_SEG_MAX && off < (1ull << LOC_OFF_BITS));
    return (uint64_t)seg << (LOC_OFF_BITS + LOC_SZ_BITS) |
           off << LOC_SZ_BITS | size_encode(size);
}

static inline uint32_t loc_seg(uint64_t l)
{
    return (uint32_t)(l >> (LOC_OFF_BITS + LOC_SZ_BITS));
}

static inline uint64_t loc_off(uint64_t l)
{
    return (l >> LOC_SZ_BITS) & ((1ull << LOC_OFF_BITS) - 1);
}

static inline uint64_t loc_acct(uint64_t l)
{
    return size_decode((uint32_t)(l & ((1u << LOC_SZ_BITS) - 1)));
}


/* ---- engine.c, for compact.c ---------------------------------------------------- */

/* Appends one record and its hint entry; for a PUT, counts it live and
 * returns its location in *loc.  On error nothing was appended. */
int engine_append(struct engine *e, uint8_t type, const void *key,
                  uint32_t klen, const void *val, uint32_t vlen,
                  unsigned flags, uint64_t *loc);
/* Marks the engine failed (refusing writes until restart); logged once. */
void engine_fail(struct engine *e, int err, const char *what);
/* dir/data.NNNNNNNN<suffix>, NUL-terminated, owned by the caller. */
char *engine_path_dup(const struct engine *e, uint32_t seg,
                      const char *suffix);
/* The segment table (sorted by number). */
struct segstat *engine_seg_find(struct engine *e, uint32_t seg);
void engine_seg_drop(struct engine *e, uint32_t seg);
void engine_seg_live_sub(struct engine *e, uint64_t loc);
/* The helper thread's queue: a new job (owns fd), and its submission
 * (takes the job; its result comes back through engine_poll). */
struct job *engine_job_new(struct engine *e, enum job_kind kind, int fd);
void engine_job_submit(struct engine *e, struct job *j);

/* ---- compact.c, for engine.c ------------------------------------------------------ */

void compact_init(struct compaction *c);
void compact_free(struct compaction *c);
/* Stops the compaction in progress, if any (its segment stays). */
void compact_stop(struct engine *e);
/* Picks a segment when none is being compacted and runs one slice of at
 * most budget_us; returns 1 while compaction work remains. */
int compact_step(struct engine *e, uint64_t budget_us);
/* A JOB_READ or JOB_COMPACT came back from the helper thread. */
void compact_job_done(struct engine *e, struct job *j);

#endif
