/*
 * engine.h -- the durable storage engine: a log-structured store in the
 * manner of Bitcask, under the node's store.
 *
 * The store (server/store.h) is the key directory: one open-addressing
 * table per ring partition.  With `storage disk` every entry holds the
 * location of its newest record (segment, offset, size) instead of the
 * object (`value-cache no`, Bitcask), or both (`value-cache yes`).  Every
 * change goes through the engine, which appends a record to the active
 * segment of a server/seglog.h log (prefix "data") before it changes the
 * store.  `storage memory` keeps today's in-memory behaviour: the engine
 * then only forwards to the store and writes no files at all.
 *
 * Files in `dir`
 * --------------
 *   data.NNNNNNNN.seg        append-only segments (seglog); the highest
 *                            number is the active one, the rest are sealed
 *   data.NNNNNNNN.hint       a sealed segment's key directory (see below)
 *   data.NNNNNNNN.hint.tmp   a hint being written (removed at startup)
 *   node.meta                the node's incarnation and dot-counter
 *                            reservation, replaced atomically
 *                            (server/nodemeta.h)
 *   journal.NNNNNNNN.seg     the journal (server/journal.h): a node
 *                            alone's typed ops, and every disk node's
 *                            edits of large values (engine.c, "Edits in
 *                            the journal"), whose new versions the store
 *                            holds in memory until they are written
 *
 * Data records (seglog record, its `type` byte):
 *   ENGINE_REC_PUT   1   key, value = the object's bytes (cluster/object.h)
 *   ENGINE_REC_DEL   2   key, empty value: a physical removal (expiry,
 *                        tombstone reaping).  A DEL (a client delete) is
 *                        a PUT of a tombstone object, not this.
 *   ENGINE_REC_FLUSH 3   no key: everything before it is gone (FLUSHALL).
 * Every record carries seglog's XXH3 checksum.
 *
 * Hint files use the same record framing (so each entry is checksummed),
 * one entry per data record of the segment, in order:
 *   HINT_PUT   0x11  key, value = off u32 | size u32 | flags u8
 *                    (STORE_F_PERSIST: deleted, expiry, hidden)
 *   HINT_DEL   0x12  key
 *   HINT_FLUSH 0x13
 *   HINT_END   0x1f  value = entries u64 | segment bytes u64
 * A hint is used only when every entry parses, the END entry is last and
 * its counts match the entries and the data file's size; anything else
 * (truncated, a bad checksum, trailing junk, a data file of another size)
 * falls back to scanning the segment.  Hints are written for a sealed
 * segment when it is sealed (the entries are collected as records are
 * appended, spilled to the .tmp file a megabyte at a time), fsynced and
 * renamed into place by the helper thread; at a clean shutdown the active
 * segment's hint is written too, so a clean restart reads hints only.
 *
 * Restart: hints of the oldest segments up to the first one without a
 * valid hint, then a seglog scan of the rest: a torn tail is cut off, a
 * corrupt record is skipped, counted and never served (seglog.h).  A
 * record whose object does not decode is counted as corrupt too (the scan
 * decodes typed values whole).  A read re-verifies the checksum, so a
 * record damaged on disk after loading is not served either (the key
 * reads as absent, engine_stats.read_errors); it checks the object's
 * structure but does not decode its typed values again (a record this
 * node wrote; every use of a typed value decodes and checks it).
 *
 * Durability (appendfsync):
 *   always    engine_commit() writes and fdatasyncs before it returns; the
 *             caller commits before any reply leaves, so a node that
 *             acknowledges a write (as coordinator or replica) has fsynced
 *             it.  Without group commit (the default) every write commits
 *             at once; with engine_set_group_commit(1) the caller commits
 *             once per batch of requests, before writing the replies.
 *             server/net.c turns it on while it dispatches a client batch
 *             and commits before any client output leaves (one commit per
 *             loop turn); the peer bus does the same per read callback
 *             through engine_batch_begin/end (struct peer_handlers).
 *             Outside those brackets (timers, link callbacks, read repair)
 *             every write still commits at once.
 *   everysec  records are written (write(2)) at every commit, and
 *             fdatasynced once a second by the helper thread: a process
 *             crash loses nothing written, a power loss at most ~1 s.
 *   no        written at every commit, fsynced when the kernel decides.
 * Sealing a segment: with always its fdatasync runs on the loop (a batch
 * may span the roll); otherwise the helper thread syncs the sealed segment
 * (ahead of its hint) and the loop goes on at once.
 *
 * Failures:
 *   - A failed fsync (or a failed write of records already accepted)
 *     takes the writes that commit covered back out of the store (each key
 *     returns to the version it had before them, read back from its older
 *     record, so a write that got an error reply is not served from
 *     memory; after a restart it may still be found, if its bytes reached
 *     the file) and makes the engine refuse every later write, forever, until restart:
 *     the records it could not persist may be lost, and a later fsync that
 *     succeeds proves nothing about them.  Logged once.
 *     Reply text: engine_error_text(); it starts with "MISCONF".
 *   - A full disk: space for each record is preallocated (seglog_reserve)
 *     before the record is accepted, so a write that does not fit fails
 *     cleanly with DYN_EAGAIN ("ERR disk full ...") and changes nothing;
 *     reads keep working and writes work again once space is free.
 *
 * Compaction (server/compact.c) runs in slices from engine_cron() (main.c
 * calls it from the cron, and every 2 ms while it returns 1): a sealed
 * segment whose dead bytes / size passes compact-ratio -- or a quarter of
 * it while all the data files together exceed (1 + compact-ratio / 2) x
 * the live bytes -- is read front to back; each PUT
 * record the key directory still points at is appended again to the active
 * segment and the directory moved to the copy.  DEL records are carried
 * forward only while older segments exist and the key is still absent (so
 * an older PUT cannot come back); FLUSH records are dropped (older segments
 * are removed when the FLUSH is written).  When the segment is done, the
 * helper thread fdatasyncs the active segment and only then unlinks the old
 * segment and its hint.  A slice stops after ENGINE_SLICE_BYTES of input or
 * its time budget (checked every 32 records); the longest slice is
 * reported (compact_worst_slice_us).  The input is read by the helper
 * thread (a slice that needs bytes not yet read asks for them and ends;
 * the next slice finds them), so a slice never waits for a disk read.
 * The CPU work of a slice is bounded.  The file system work that waits for
 * the journal is kept off the loop too (the helper thread creates and
 * preallocates the next segment ahead of the roll, preallocates the active
 * one ahead of the appends, gives back a sealed segment's unused tail and
 * writes the hint files), so what remains on the loop is write(2) of the
 * log to the page cache, and the fallback when the thread is late.  The
 * longest engine call on the loop is reported (storage_loop_worst_us and
 * the call's name; docs/BENCHMARKS.md has the figures).
 * Accounting: a segment's live bytes are the sizes of the records the
 * directory points at (sizes above 2 KiB are rounded up by < 2%, the same
 * way on add and remove); DEL and FLUSH records count as dead.
 *
 * Helper thread: one, for fdatasync of dup()ed segment descriptors, for
 * writing hint files, for creating and preallocating segments ahead.  An
 * empty segment after the last one holds no record (created ahead, then a
 * crash): it is removed at open.  It talks to the loop only through two job
 * queues (mutex-protected lists of jobs whose ownership moves with them)
 * and a pipe whose read end (engine_wakeup_fd) the loop watches and then
 * calls engine_poll(); engine_cron() polls as well.
 *
 * Incarnation: every open of a disk engine reads node.meta and writes it
 * back (write, fsync, rename, fsync dir) before any write is accepted: the
 * same incarnation while the data survives, the next one when it is gone,
 * a random 24-bit one for a new dir (as a memory-only node has every
 * time), and dot counters that start above the old reservation, so no
 * actor ever reuses a dot counter.  server/nodemeta.h has the rules.
 *
 * Thread-safety: the event loop owns the engine; only the job queues are
 * shared with the helper thread.
 * Errors: 0 or a negative dyn_err: DYN_EAGAIN = disk full (retry later),
 * DYN_EIO = the engine has failed (fsync/write) and refuses writes.
 */
#ifndef DYN_ENGINE_H
#define DYN_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/object.h"
#include "server/buf.h"

struct engine;
struct store;

#define ENGINE_REC_PUT 1
#define ENGINE_REC_DEL 2
#define ENGINE_REC_FLUSH 3

/* Compaction input per slice (bytes), besides the time budget. */
#define ENGINE_SLICE_BYTES (256 * 1024)

struct engine_opts {
    int storage;                /* enum storage_mode (server/config.h) */
    const char *dir;
    int appendfsync;            /* enum appendfsync_mode */
    uint64_t segment_max_bytes; /* 0 = 64 MiB */
    int compact_ratio_pm;       /* thousandths */
    int value_cache;
    uint64_t max_value;         /* longer records are corrupt; 0 = 512 MiB */
};

struct engine_stats {
    int storage;                /* enum storage_mode */
    int value_cache;
    /* loading (the last open) */
    int loading;
    uint64_t load_time_ms;
    uint64_t keys_loaded;
    uint64_t records_scanned;   /* data records replayed by scanning */
    uint64_t hint_entries;      /* entries replayed from hint files */
    uint64_t corrupt_records;   /* skipped while loading */
    uint64_t truncated_bytes;   /* torn tail cut off */
    uint32_t hint_files_used;
    uint32_t hint_files_rejected;
    /* disk */
    uint32_t segments;
    uint64_t disk_bytes;
    uint64_t live_bytes;
    uint64_t write_bytes;           /* records of writes appended (not
                                     * compaction's copies) */
    /* compaction */
    uint64_t compactions;           /* segments compacted and removed */
    uint64_t compact_records_moved;
    uint64_t compact_bytes_reclaimed;
    uint64_t compact_worst_slice_us;
    int compacting;                 /* a segment is being compacted */
    /* durability */
    uint64_t fsyncs;
    uint64_t fsync_worst_us;        /* loop-side (always) fsyncs only */
    /* the longest an engine call on the event loop took (write, remove,
     * commit, cron with its compaction slice, poll), less the fdatasync
     * that appendfsync always asks of it; FLUSHALL is not counted */
    uint64_t loop_worst_us;
    const char *loop_worst_call;    /* which: "write", "commit", ... */
    uint64_t segment_rolls;         /* active segments sealed */
    int failed;                     /* refusing writes */
    int fail_errno;
    uint64_t disk_full_errors;      /* writes refused for lack of space */
    int disk_full;                  /* the last write found the disk full */
    uint64_t read_errors;           /* records that failed verification */
    uint32_t jobs_pending;          /* helper-thread jobs not yet reported */
    uint32_t incarnation;
    /* the typed-op journal (server/journal.h) */
    int journal_on;                 /* deferred typed writes journaled */
    uint64_t journal_bytes;         /* in its files now */
    uint64_t journal_ops;           /* ops appended */
    uint64_t journal_checkpoints;   /* restarts and rotations ended */
    int journal_rotating;           /* a rotation is settling its keys */
    uint64_t journal_replayed;      /* ops run again at startup */
    uint64_t journal_skipped;       /* ... found held by a record */
    uint64_t journal_replay_errors; /* ... that did not run as recorded */
    uint64_t journal_corrupt;       /* records skipped at open */
    int journal_edits_on;           /* large writes journaled as edits */
    uint64_t journal_edits;         /* edits appended */
    uint64_t journal_edit_bytes;    /* ... their bytes */
    uint64_t journal_edit_object_bytes; /* ... the records they stood
                                         * for */
    uint64_t journal_edits_replayed;
    uint64_t journal_edits_skipped; /* ... found held by a record */
    uint64_t journal_edit_errors;   /* ... that did not give their target */
    uint32_t held_keys;             /* versions newer than their records */
    uint64_t held_bytes;
};

/* Opens the engine over an EMPTY store (whose kind it sets) and loads it
 * from dir.  On error, err holds a message.  Memory storage writes nothing
 * and never fails. */
int engine_open(const struct engine_opts *o, struct store *s,
                struct engine **out, struct dbuf *err);
/* Flushes, fsyncs, writes the active segment's hint and stops the helper
 * thread.  NULL is a no-op. */
void engine_close(struct engine *e);

/* Writes a new version of key; takes obj.  0, DYN_EAGAIN (disk full:
 * nothing changed), DYN_EIO (failed: nothing changed -- when the commit of
 * this very write failed, it was taken back from the store too). */
int engine_put_take(struct engine *e, const void *key, size_t klen,
                    struct object *obj);
/* engine_put_take for a caller that holds the edit (cluster/delta.h)
 * from key's version to obj (a replica given one; NULL: none, as
 * engine_put_take): with the journal's edits on (engine.c, "Edits in the
 * journal") it is journaled as it is, else obj is written whole. */
int engine_put_edit(struct engine *e, const void *key, size_t klen,
                    struct object *obj, const void *delta, size_t dlen);
/* The last edit the engine made itself, when it was key's from the
 * version of digest base to that of target: appended to out (0), else
 * DYN_ENOTFOUND.  A coordinator sends it to the replicas instead of
 * making the same edit again. */
int engine_last_edit(const struct engine *e, const void *key, size_t klen,
                     uint64_t base, uint64_t target, struct dbuf *out);
/* Physical removal (expiry, reaping).  0, DYN_ENOTFOUND, or an error
 * (nothing changed).  Never fsyncs by itself. */
int engine_remove(struct engine *e, const void *key, size_t klen);
/* Drops every key (FLUSHALL).  0 or an error (nothing changed). */
int engine_flush_all(struct engine *e);

/* Makes everything accepted so far durable as appendfsync says (see the
 * essay).  Cheap when nothing is pending. */
int engine_commit(struct engine *e);
/* 1: the caller calls engine_commit once per batch before replying. */
void engine_set_group_commit(struct engine *e, int on);
/* Group commit bookkeeping.  engine_seq counts the records accepted so far
 * (0 in memory mode); engine_committed_seq how many of them the last
 * successful engine_commit covered.  A reply that acknowledges a write
 * accepted when engine_seq was S may leave once engine_commit succeeded
 * with engine_committed_seq >= S; if the commit failed, it must not. */
uint64_t engine_seq(const struct engine *e);
uint64_t engine_committed_seq(const struct engine *e);
/* Deferred typed values (server/db.c, "deferred encoding"; the store
 * holds them until store_settle_deferred, which every commit and the
 * cron call first, unless the journal is on: engine_journal_*).
 * engine_promise: a write whose record (or journaled op) will be
 * written when its key is settled was accepted; it counts in engine_seq
 * like a record, so its reply waits for the commit that writes it.
 * engine_room: preallocates room for a record of bytes before a write
 * is deferred (rolling to the next segment first when the active one
 * would not hold it, as an append does): 0, DYN_EAGAIN (disk full),
 * DYN_EIO (failed) or DYN_EINVAL (this file system cannot preallocate);
 * anything but 0 means: write it now instead.  engine_fail_deferred: a
 * settled value could not be written (rc from engine_put_take): the
 * writes it held were accepted, so the engine fails as when records
 * already accepted cannot be written (their replies become the
 * fail-stop error; the room reserved makes a full disk here rare: only
 * when the settle rolls to a new segment). */
void engine_promise(struct engine *e);
int engine_room(struct engine *e, uint64_t bytes);
void engine_fail_deferred(struct engine *e, int rc);
/* A batch of requests whose replies are written together (the peer bus):
 * begin turns group commit on; end turns it off and commits what the batch
 * appended.  end returns DYN_EIO when the batch appended records that could
 * not be made durable (its acknowledgements must not be sent), else 0.
 * Nested begins are ignored. */
void engine_batch_begin(struct engine *e);
int engine_batch_end(struct engine *e);
void engine_set_appendfsync(struct engine *e, int mode);
void engine_set_compact_ratio(struct engine *e, int ratio_pm);

/* The typed-op journal (server/journal.h; db.c's essay, "The journal").
 * engine_journal_open: opens dir's journal after the load and hands
 * every op in it to fn (the startup replay, server/replay.c), then
 * checkpoints: settles every deferred value, makes the records durable
 * and starts the journal afresh.  on: from then on, deferred typed
 * writes are journaled (engine_journal_op) and commits no longer settle
 * them; max_bytes: past it the journal rotates (engine.c, "The
 * journal's rotation").  Memory storage: 0,
 * nothing opened.  engine_journal_op: appends a deferred write's op,
 * after preallocating room for it (anything but 0: write it encoded
 * instead); its reply waits for the commit (engine_promise).
 * engine_journal_checkpoint: as at open (engine_close does it too). */
struct journal_op;
typedef int (*engine_journal_fn)(void *ctx, const struct journal_op *op);
int engine_journal_open(struct engine *e, int on, uint64_t max_bytes,
                        uint64_t max_value, uint64_t hold_max,
                        engine_journal_fn fn, void *ctx, struct dbuf *err);
int engine_journal_on(const struct engine *e);
int engine_journal_op(struct engine *e, const struct journal_op *op);
int engine_journal_checkpoint(struct engine *e);
/* Replay outcomes, counted for INFO. */
void engine_journal_count(struct engine *e, int replayed, int skipped,
                          int errors);

/* Background work: once-a-second fsync (everysec), compaction slices
 * (at most budget_us, and ENGINE_SLICE_BYTES), results of the helper
 * thread.  Returns 1 when compaction work remains. */
int engine_cron(struct engine *e, uint64_t now_ms, uint64_t budget_us);
/* The read end of the helper thread's wake-up pipe (-1 in memory mode);
 * when it is readable, call engine_poll. */
int engine_wakeup_fd(const struct engine *e);
void engine_poll(struct engine *e);

/* 0 when writes are accepted, else the error a write would get now
 * (DYN_EIO when failed). */
int engine_writable(const struct engine *e);
/* The reply text for an error from this engine (no leading '-'). */
const char *engine_error_text(struct engine *e, int rc);

void engine_get_stats(const struct engine *e, struct engine_stats *out);
/* INFO persistence lines ("name:value\r\n") for the stats above. */
void engine_info(const struct engine *e, struct dbuf *out);
uint32_t engine_incarnation(const struct engine *e);
/* Dot counters (node.dot_counter): the node starts above counter_base and
 * must not use a counter >= counter_reserved before engine_reserve_counters
 * has moved the reservation past it (node.meta, fsynced).  A memory store
 * starts at 0 with no limit. */
uint64_t engine_counter_base(const struct engine *e);
uint64_t engine_counter_reserved(const struct engine *e);
int engine_reserve_counters(struct engine *e, uint64_t used);

#endif
