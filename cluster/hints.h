/*
 * hints.h -- the durable hint store for hinted handoff.
 *
 * When a write meant for a down node (the "owner") is taken by a stand-in,
 * the stand-in keeps a hint: (owner, key, object bytes).  Once the owner
 * answers again the coordinator reads the pending hints with hints_next(),
 * sends them, and on the owner's acknowledgement calls hints_delivered().
 * The store is durable: it lives in <dir>/hints as seglog segments
 * (hints.NNNNNNNN.seg), the same checksummed log as the storage engine, and
 * a restart (or kill -9) replays it to rebuild the in-memory index.
 *
 * Records (seglog type byte; all integers little endian):
 *
 *     HINTS_REC_ADD 0x21  key = id u64 | owner_len u16 | owner | key
 *                         value = the object bytes
 *     HINTS_REC_DEL 0x22  key = id u64 | owner_len u16 | owner | key
 *
 * `id` is a store-wide sequence number, unique per accepted hint and
 * increasing: it is the delivery order (oldest first) and it names the
 * exact version a DEL removes.
 *
 * Rules (they hold after any replay, too):
 *   - at most one pending hint per (owner, key): a later hints_add() for the
 *     same pair REPLACES the earlier payload and takes a new id (it moves to
 *     the back of the owner's queue).  This is right because the coordinator
 *     hands us the object it stored locally, already reconciled, so the newer
 *     payload carries every sibling the older one had;
 *   - hints_delivered() removes the hint only if its id is still the pending
 *     one: an acknowledgement for a version that has since been replaced
 *     leaves the newer version pending (DYN_ENOTFOUND is returned);
 *   - the budget (hint-max-bytes) bounds the pending bytes, counted as whole
 *     log records (header, owner, key, object, checksum).  A hint that would
 *     pass it is dropped and counted, and anti-entropy must repair what it
 *     would have carried; a replacement that would pass it is dropped and
 *     the older version stays pending.  Budget 0 stores nothing.  Hints
 *     found on disk at open are kept even beyond the budget.
 *   - recovery is seglog's: a torn tail is cut (the hint whose record was
 *     torn is gone), a corrupt record is skipped and counted.  A delivery
 *     whose DEL record was lost in a crash is delivered again, which is
 *     harmless: the owner reconciles it by its vector clocks.
 *
 * Space: a sealed segment is removed once no pending hint lives in it and
 * every older segment is gone (a DEL may only outlive its ADD, never the
 * reverse).  When the oldest sealed segment is mostly dead and the store
 * holds more than twice its pending bytes on disk, its live hints are copied
 * forward (same id) and it is removed, so one long-dead owner cannot pin
 * the disk.  When the last pending hint is delivered the active segment is
 * rolled and every older segment removed.  This work happens inside
 * hints_add / hints_delivered / hints_drop_owner, bounded to one segment's
 * copy per call.
 *
 * Durability: appends are buffered; hints_flush() writes them to the kernel
 * (enough for kill -9), hints_sync() also fdatasyncs.  The fsync policy is
 * the caller's (appendfsync).  A failed fsync is sticky, as in seglog:
 * every later add/delivered fails with DYN_EIO.
 *
 * No libevent, no sockets: this module is file I/O only, one owner (the
 * event loop), not thread-safe.  Errors: 0 or a negative dyn_err.
 */
#ifndef DYN_HINTS_H
#define DYN_HINTS_H

#include <stddef.h>
#include <stdint.h>
#include "server/seglog.h"

#define HINTS_REC_ADD 0x21
#define HINTS_REC_DEL 0x22
#define HINTS_OWNER_MAX 1024                /* owner name bytes */
#define HINTS_SEGMENT_DEFAULT (8u << 20)    /* segment_max_bytes when 0 */

struct hints;

struct hints_opts {
    const char *dir;            /* the node's dir; the store is dir/hints */
    uint64_t max_bytes;         /* hint-max-bytes: pending budget, 0 = none */
    uint64_t segment_max_bytes; /* 0 = HINTS_SEGMENT_DEFAULT */
};

struct hints_recovery {
    struct seglog_recovery log; /* records, corrupt, truncated bytes... */
    uint64_t pending;           /* hints pending after the replay */
    uint64_t pending_bytes;
    uint64_t bad_records;       /* well-framed but unreadable hint records */
};

struct hints_stats {
    uint64_t stored;        /* hints accepted since open (replacements too) */
    uint64_t replaced;      /* of which replaced an older pending version */
    uint64_t delivered;     /* acknowledged and removed */
    uint64_t dropped;       /* not stored: over budget, or an I/O error */
    uint64_t dropped_io;    /* of which because of an I/O error */
    uint64_t corrupt;       /* pending hints found unreadable on delivery */
    uint64_t pending;       /* hints pending now */
    uint64_t pending_bytes; /* their record bytes (what the budget counts) */
    uint64_t disk_bytes;    /* every segment, dead records included */
    uint64_t max_bytes;     /* the budget */
    uint32_t segments;
    uint32_t owners;        /* owners with pending hints */
    uint64_t segments_removed;
    uint64_t compactions;   /* segments whose live hints were copied forward */
};

/* One pending hint handed out for delivery; key and obj are owned by the
 * batch. */
struct hint {
    uint64_t id;
    uint8_t *key;
    uint32_t klen;
    uint8_t *obj;
    uint32_t olen;
};

struct hints_batch {
    struct hint *v;
    size_t n;
    size_t cap;
};

/* Opens (creating dir/hints) and replays the log.  rec may be NULL. */
int hints_open(const struct hints_opts *o, struct hints **out,
               struct hints_recovery *rec);
/* Flushes (no fsync: call hints_sync first if the policy wants it) and
 * frees.  hints_close(NULL) is a no-op. */
void hints_close(struct hints *hs);

/* Changes the budget (CONFIG SET hint-max-bytes); pending hints stay. */
void hints_set_budget(struct hints *hs, uint64_t max_bytes);

/* Stores a hint for owner (a member name).  0, DYN_ELIMIT (dropped: over
 * the budget; counted), DYN_EINVAL (empty or too long owner name) or
 * DYN_EIO (log failed; counted as dropped).  Copies what it needs. */
int hints_add(struct hints *hs, const char *owner, const void *key,
              uint32_t klen, const void *obj, uint32_t olen);

/* Owners with pending hints, in name order. */
typedef void (*hints_owner_fn)(void *ctx, const char *owner, uint64_t count,
                               uint64_t bytes);
void hints_owners(const struct hints *hs, hints_owner_fn fn, void *ctx);
/* Pending count and record bytes for one owner (0, 0 if none). */
void hints_pending(const struct hints *hs, const char *owner,
                   uint64_t *count, uint64_t *bytes);

void hints_batch_init(struct hints_batch *b);
void hints_batch_reset(struct hints_batch *b);  /* frees items, keeps b */
void hints_batch_free(struct hints_batch *b);

/* Fills out (reset first) with up to max pending hints of owner whose id
 * is > after_id, oldest first, without removing them.  after_id 0 starts
 * at the oldest; pass the last id of the batch in flight to pipeline.
 * A hint found corrupt on disk is removed and counted (stats.corrupt).
 * 0 (out->n may be 0) or DYN_EIO. */
int hints_next(struct hints *hs, const char *owner, uint64_t after_id,
               size_t max, struct hints_batch *out);

/* The owner acknowledged hint id for key: appends a DEL record and removes
 * it.  DYN_ENOTFOUND when no such hint is pending (already delivered, or
 * replaced by a newer version, which stays pending).  DYN_EIO if the log
 * failed (the hint stays pending). */
int hints_delivered(struct hints *hs, const char *owner, const void *key,
                    uint32_t klen, uint64_t id);

/* Removes hint id of (owner, key) as hints_delivered does, without
 * counting it as delivered (the caller re-targeted it to other owners).
 * The same returns. */
int hints_drop(struct hints *hs, const char *owner, const void *key,
               uint32_t klen, uint64_t id);

/* Walks up to max pending hints of owner whose id is > after_id, oldest
 * first, from memory (no disk read): fn gets each one's id and key (valid
 * during the call only; fn must not change the store).  Returns the id of
 * the last hint walked, 0 if none. */
typedef void (*hints_key_fn)(void *ctx, uint64_t id, const void *key,
                             uint32_t klen);
uint64_t hints_scan(const struct hints *hs, const char *owner,
                    uint64_t after_id, size_t max, hints_key_fn fn,
                    void *ctx);

/* Drops every pending hint of owner: DEL records, not counted as
 * delivered.  *n (may be NULL) gets how many. */
int hints_drop_owner(struct hints *hs, const char *owner, uint64_t *n);

int hints_flush(struct hints *hs);  /* write buffered records */
/* 1 if some owner has a hint pending for key (O(owners)). */
int hints_has_key(const struct hints *hs, const void *key, uint32_t klen);
int hints_sync(struct hints *hs);   /* and fdatasync */
int hints_unsynced(const struct hints *hs);
int hints_failed(const struct hints *hs);
int hints_errno(const struct hints *hs);

void hints_stats(const struct hints *hs, struct hints_stats *st);

#endif
