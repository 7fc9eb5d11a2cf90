/*
 * seglog.h -- append-only segment files with a checksum on every record.
 *
 * The durable layer under the Bitcask-style store and the hint store: a
 * directory holds PREFIX.NNNNNNNN.seg files; only the highest-numbered one
 * is appended to, and a new one is started once it passes segment_max_bytes.
 * seglog knows records, not keys: what a record means (a put, a tombstone,
 * a hint) is the caller's `type` byte.
 *
 * Record layout (little endian):
 *
 *     magic u8 (0xD7) | type u8 | klen u32 | vlen u32 | key | value | xxh3 u64
 *
 * The checksum covers everything before it.  On open, every segment is
 * scanned in order and each valid record is handed to the replay callback:
 *   - a record cut short by the end of the LAST segment is a torn tail: the
 *     file is truncated to the end of the last whole record;
 *   - a record whose checksum or header is wrong is corrupt: it is counted,
 *     never replayed, and the scan resynchronises on the next valid record;
 *     when nothing valid follows in the last segment, the tail is cut.
 * So recovery yields exactly the whole, intact records.
 *
 * Durability: appends go to a user-space buffer; seglog_flush() writes it
 * and seglog_sync() fdatasyncs.  A failed write is rolled back with
 * ftruncate so the file never holds a partial record in its middle.  A failed
 * fsync is sticky: every later append and sync fails (DYN_EIO), because a
 * later successful fsync does not prove the earlier data reached the disk.
 *
 * Thread-safety: one owner.  Errors: 0 or a negative dyn_err; errno is kept
 * in seglog_errno() for the log line.
 */
#ifndef DYN_SEGLOG_H
#define DYN_SEGLOG_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

#define SEGLOG_HEADER 10
#define SEGLOG_TRAILER 8
#define SEGLOG_MAGIC 0xD7

struct seglog;

struct seglog_opts {
    const char *dir;
    const char *prefix;         /* file name prefix, e.g. "data" or "hints" */
    uint64_t segment_max_bytes; /* roll over past this */
    uint32_t max_key;           /* records with longer keys are corrupt */
    uint64_t max_value;         /* ... or longer values */
};

struct seglog_pos {
    uint32_t seg;   /* segment number */
    uint64_t off;   /* offset of the record's first byte */
};

struct seglog_rec {
    uint8_t type;
    const uint8_t *key;
    uint32_t klen;
    const uint8_t *value;
    uint32_t vlen;
    struct seglog_pos pos;
    uint32_t size;  /* whole record, header and checksum included */
};

struct seglog_recovery {
    uint64_t records;           /* replayed */
    uint64_t bytes;             /* bytes of valid records */
    uint64_t corrupt_records;   /* skipped: bad checksum or header */
    uint64_t truncated_bytes;   /* torn tail cut off */
    uint32_t segments;
};

/* Return non-zero to abort the open (the value is returned by open). */
typedef int (*seglog_replay_fn)(void *ctx, const struct seglog_rec *r);

/* Opens (creating dir's files as needed) and replays every segment, or only
 * segments >= first_seg.  fn may be NULL. */
int seglog_open(const struct seglog_opts *o, uint32_t first_seg,
                seglog_replay_fn fn, void *ctx, struct seglog **out,
                struct seglog_recovery *rec);
void seglog_close(struct seglog *l);

/* Appends a record to the write buffer; *pos gets where it will live. */
int seglog_append(struct seglog *l, uint8_t type, const void *key,
                  uint32_t klen, const void *value, uint32_t vlen,
                  struct seglog_pos *pos);
/* Writes the buffer to the active segment. */
int seglog_flush(struct seglog *l);
/* Flush, then fdatasync the active segment. */
int seglog_sync(struct seglog *l);
/* Bytes appended but not yet written / not yet synced. */
size_t seglog_pending(const struct seglog *l);
int seglog_unsynced(const struct seglog *l);

/* Reads and verifies the record at pos into buf (rec points into buf).
 * Returns 0, DYN_EINVAL (corrupt) or DYN_EIO. */
int seglog_read(struct seglog *l, struct seglog_pos pos, struct dbuf *buf,
                struct seglog_rec *rec);
/* The same, reading size_hint bytes at first (the record's size, or an
 * upper bound of it; 0 = unknown): one pread instead of a 4 KiB one. */
int seglog_read_sized(struct seglog *l, struct seglog_pos pos,
                      uint64_t size_hint, struct dbuf *buf,
                      struct seglog_rec *rec);

/* Starts a new active segment now (compaction seals the old one). */
int seglog_roll(struct seglog *l);
/* The same without the fdatasync of the old segment: the caller has
 * dup()ed its descriptor (seglog_active_fd) and syncs it elsewhere (a
 * helper thread), so the loop does not stall on it. */
int seglog_roll_nosync(struct seglog *l);
uint32_t seglog_active(const struct seglog *l);

/* Rolls without the file system work on the caller's thread.
 *
 * The next segment can be created ahead, elsewhere: open
 * seglog_segment_path(active + 1) O_WRONLY|O_CREAT|O_APPEND, preallocate
 * `reserved` bytes (fallocate KEEP_SIZE), then seglog_adopt_next() hands
 * the descriptor over (0; DYN_EINVAL when seg is no longer active + 1 or
 * the file is not empty: the caller closes fd and must not remove the
 * file).  A roll then only swaps descriptors.  seglog_close removes an
 * unused one; seglog_open removes empty trailing segments.
 *
 * seglog_roll_handoff() is seglog_roll_nosync() that hands the sealed
 * segment's descriptor to the caller (old->fd, -1 if none), who must close
 * it, fdatasync it as appendfsync needs, and, when old->trim, give back
 * the preallocated tail (ftruncate(old->fd, old->size)). */
struct seglog_sealed {
    int fd;
    uint32_t seg;
    uint64_t size;
    int trim;
};
int seglog_adopt_next(struct seglog *l, uint32_t seg, int fd,
                      uint64_t reserved);
int seglog_has_next(const struct seglog *l);
int seglog_roll_handoff(struct seglog *l, struct seglog_sealed *old);
/* The preallocation step (bytes). */
uint64_t seglog_reserve_chunk(const struct seglog *l);
/* 1 when the active segment's preallocation is less than a quarter step
 * ahead of the appends: [*from, *from + *len) (up to half a step ahead)
 * should be preallocated (elsewhere, on
 * a dup of seglog_active_fd), and seglog_reserved_ahead(seg, from + len)
 * told once it was. */
int seglog_reserve_wanted(const struct seglog *l, uint64_t *from,
                          uint64_t *len);
void seglog_reserved_ahead(struct seglog *l, uint32_t seg, uint64_t upto);
/* Forgets seg's read mapping and descriptor (its file is about to be
 * removed elsewhere, and must not stay allocated through them). */
void seglog_unmap(struct seglog *l, uint32_t seg);
/* Removes a sealed segment file (after compaction moved its live records). */
int seglog_remove_segment(struct seglog *l, uint32_t seg);
/* Size in bytes of a segment, 0 if absent. */
uint64_t seglog_segment_size(const struct seglog *l, uint32_t seg);
/* The path of a segment file into out. */
void seglog_segment_path(const struct seglog *l, uint32_t seg,
                         struct dbuf *out);

/* Preallocates room (fallocate, FALLOC_FL_KEEP_SIZE, in chunks) so that the
 * next `bytes` appended cannot fail for lack of space when they are written
 * later; rolls over first when they would not fit the active segment.
 * Returns 0, DYN_EAGAIN when the file system is full (ENOSPC/EDQUOT, errno
 * in seglog_errno), or DYN_EIO.  Where the file system cannot preallocate
 * it returns 0 and guarantees nothing (seglog_can_reserve() says so). */
int seglog_reserve(struct seglog *l, uint64_t bytes);
int seglog_can_reserve(const struct seglog *l);
/* 1 when the next bytes appended are already preallocated (a reserve of
 * them would do nothing). */
int seglog_reserved_covers(const struct seglog *l, uint64_t bytes);
/* The active segment's descriptor, for a helper thread to dup() and
 * fdatasync (the seglog keeps ownership). */
int seglog_active_fd(const struct seglog *l);

int seglog_failed(const struct seglog *l);  /* sticky fsync/write failure */
int seglog_errno(const struct seglog *l);

/* Parses one record at buf[0..len): 1 = valid (rec filled), 0 = incomplete
 * (needs more bytes), -1 = corrupt.  Exposed for tests and hint files. */
int seglog_parse(const uint8_t *buf, size_t len, uint32_t max_key,
                 uint64_t max_value, struct seglog_rec *rec);
/* Encodes one record into out. */
void seglog_encode(struct dbuf *out, uint8_t type, const void *key,
                   uint32_t klen, const void *value, uint32_t vlen);

#endif
