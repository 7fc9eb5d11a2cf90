/*
 * delta.h -- a write's object as an edit of the version before it (pure).
 *
 * A coordinator that changed a large object by a small op (one member
 * added to a set of thousands, a push onto a long list) sends each
 * replica that held the version before it an edit of those bytes instead
 * of the whole new object.  The edit names both versions by their
 * digests, so a replica applies it only to exactly the bytes it was made
 * from and checks that the result is exactly the coordinator's; any other
 * replica refuses it and gets the whole object (cluster/coordinator.c,
 * "deltas").  docs/TYPES.md section 3 tells why that is a safe delta for
 * every type, and docs/DESIGN-CHANGES.md why it is the delta we built.
 *
 * The bytes:
 *
 *   u8 DELTA_FORMAT (1) | u64le base digest | u64le target digest |
 *   varint target length | ops...
 *   op: varint keep | varint drop | varint ilen | ilen bytes
 *
 * Applying copies `keep` bytes of the base, skips `drop`, appends the op's
 * `ilen` bytes, op after op; then the rest of the base.  Digests are
 * dyn_hash64's (object_digest's), so a replica compares the base one with
 * the digest it already computes for its object.
 *
 * delta_make finds the edit in one pass: equal runs are skipped a word at
 * a time, and after a difference it looks for the next run of
 * DELTA_SYNC equal bytes on the diagonals near the current one and near
 * the one the common tail gives (a varint that grew by a byte, an inserted
 * entry); when none is near, the rest up to the common tail is replaced.
 * The edit is always exact; how small it is depends on those guesses.
 */
#ifndef DYN_DELTA_H
#define DYN_DELTA_H

#include <stddef.h>
#include <stdint.h>
#include "server/buf.h"

#define DELTA_FORMAT 1
#define DELTA_HEADER 17 /* format byte and the two digests */

/* Appends to out an edit that turns base (whose dyn_hash64 is bdigest)
 * into target (tdigest), when it takes at most max bytes: 0, or
 * DYN_ELIMIT (out is then left as it was). */
int delta_make(const uint8_t *base, size_t blen, uint64_t bdigest,
               const uint8_t *target, size_t tlen, uint64_t tdigest,
               size_t max, struct dbuf *out);

/* The digests of the base a delta was made from and of its target: 0, or
 * DYN_EINVAL for bytes too short or of another format. */
int delta_digests(const void *delta, size_t dlen, uint64_t *base,
                  uint64_t *target);

/* Applies delta to base: 0 and *out (allocated, *olen bytes), or
 * DYN_ENOTFOUND when base is not the delta's base (its digest differs),
 * DYN_ELIMIT when the target would pass limit bytes, DYN_EINVAL for a
 * malformed delta or a result whose digest is not the target's.  Nothing
 * is allocated on error. */
int delta_apply(const uint8_t *base, size_t blen, const void *delta,
                size_t dlen, size_t limit, uint8_t **out, size_t *olen);
/* delta_apply's edit without its digest checks, for a caller that has
 * the base's digest at hand and checks the target's itself (a replica:
 * object_digest caches both).  The same errors but DYN_ENOTFOUND; a
 * malformed edit is still refused. */
int delta_patch(const uint8_t *base, size_t blen, const void *delta,
                size_t dlen, size_t limit, uint8_t **out, size_t *olen);
/* The length of a delta's target (0, or DYN_EINVAL), and delta_patch's
 * edit into t, of exactly that length (DYN_EINVAL for any other, or a
 * malformed edit). */
int delta_target_len(const void *delta, size_t dlen, uint64_t *tlen);
int delta_patch_into(const uint8_t *base, size_t blen, const void *delta,
                     size_t dlen, uint8_t *t, size_t tlen);

#endif
