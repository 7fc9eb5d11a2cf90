/*
 * outq.h -- a client's queued output: a FIFO of reply blocks.
 *
 * A client builds its replies in one contiguous dbuf (client.h's obuf); when
 * that buffer holds a block's worth (net.c decides when), the queue takes
 * the buffer's memory as its newest block, without copying, and the client
 * starts a new one.  A client that does not read its replies thus costs
 * O(new bytes) per reply, however much is queued: nothing is ever
 * reallocated or moved, where one ever-growing buffer would copy all it
 * holds each time it doubles.  The socket writer asks for the head blocks as
 * an iovec (one writev) and then consumes what was written, which frees the
 * blocks that are fully out.
 *
 * Invariants: pending is the sum over blocks of len - start, and every
 * block has start < len (an emptied block is freed at once); mem is the sum
 * of the blocks' allocation sizes; an all-zero struct outq is an empty
 * queue (outq_init only zeroes), so a client made with calloc or memset
 * needs no more.
 * Thread-safety: none; a queue belongs to one client.
 * Errors: none; allocation aborts on out-of-memory (util.h).
 */
#ifndef DYN_OUTQ_H
#define DYN_OUTQ_H

#include <stddef.h>
#include <sys/uio.h>
#include "server/buf.h"

struct outq_block;

struct outq {
    struct outq_block *head, *tail;
    size_t pending;  /* bytes queued and not yet consumed */
    size_t mem;      /* bytes allocated for blocks */
    size_t blocks;   /* number of blocks */
};

void outq_init(struct outq *q);
void outq_free(struct outq *q);  /* drops everything queued */
/* Queues b->p[from .. b->len) and takes b's memory: b is left empty
 * (dbuf_init).  A buffer with much unused room is trimmed first.  Nothing
 * is queued when from == b->len (b is still emptied). */
void outq_take(struct outq *q, struct dbuf *b, size_t from);
/* Fills up to max iovecs with the head blocks' pending bytes, in order;
 * returns how many it filled (all blocks when the queue has <= max). */
int outq_iov(const struct outq *q, struct iovec *iov, int max);
/* Drops the first n pending bytes (n <= pending): written. */
void outq_consume(struct outq *q, size_t n);

#endif
