/*
 * outq.c -- the reply block FIFO; see outq.h for why and the invariants.
 *
 * A block is a header plus the data buffer it took from a dbuf, so taking a
 * buffer costs one small allocation and no copy.  A buffer whose unused
 * room is more than a quarter of what it holds is trimmed with realloc
 * first (jemalloc shrinks a large allocation in place), so that what a
 * slow reader pins stays close to what it is owed.
 */
#include "server/outq.h"

#include <string.h>
#include "server/util.h"

struct outq_block {
    struct outq_block *next;
    char *data;
    size_t start;  /* bytes of data already consumed */
    size_t len;    /* bytes of data */
    size_t cap;    /* allocation size of data */
};

void outq_init(struct outq *q)
{
    memset(q, 0, sizeof(*q));
}

static void outq_pop(struct outq *q)
{
    struct outq_block *b = q->head;
    q->head = b->next;
    if (!q->head)
        q->tail = NULL;
    q->pending -= b->len - b->start;
    q->mem -= b->cap;
    q->blocks--;
    dyn_free(b->data);
    dyn_free(b);
}

void outq_free(struct outq *q)
{
    while (q->head)
        outq_pop(q);
    outq_init(q);
}

void outq_take(struct outq *q, struct dbuf *b, size_t from)
{
    dyn_assert(from <= b->len);
    if (from == b->len) {
        dbuf_free(b);
        return;
    }
    if (b->cap - b->len > b->len / 4) {
        b->p = dyn_realloc(b->p, b->len);
        b->cap = b->len;
    }
    struct outq_block *blk = dyn_malloc(sizeof(*blk));
    blk->next = NULL;
    blk->data = b->p;
    blk->start = from;
    blk->len = b->len;
    blk->cap = b->cap;
    if (q->tail)
        q->tail->next = blk;
    else
        q->head = blk;
    q->tail = blk;
    q->pending += blk->len - blk->start;
    q->mem += blk->cap;
    q->blocks++;
    dbuf_init(b);
}

int outq_iov(const struct outq *q, struct iovec *iov, int max)
{
    int k = 0;
    for (const struct outq_block *b = q->head; b && k < max; b = b->next) {
        iov[k].iov_base = b->data + b->start;
        iov[k].iov_len = b->len - b->start;
        k++;
    }
    return k;
}

void outq_consume(struct outq *q, size_t n)
{
    dyn_assert(n <= q->pending);
    while (n > 0) {
        struct outq_block *b = q->head;
        size_t left = b->len - b->start;
        if (n < left) {
            b->start += n;
            q->pending -= n;
            return;
        }
        n -= left;
        outq_pop(q);
    }
}
