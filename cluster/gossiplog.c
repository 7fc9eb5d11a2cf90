/*
 * gossiplog.c -- a bounded ring of this node's recent gossip rounds (pure:
 * no I/O, no node; time comes in as an argument).
 *
 * Gossip is the quietest part of the cluster: a round every
 * gossip-interval-ms with one random peer, and most rounds change
 * nothing.  The dashboard shows who told whom what, so members.c records
 * each round here: when, with whom, which way (we asked: "sent", with
 * what the reply brought; the peer asked: "received"), how many member
 * entries the message that came in held, and the news it caused here --
 * a member joined, restarted (a new incarnation), changed status, our
 * own refutation, a new ring.  DYNAMO.GOSSIP reads it back.
 *
 * Invariants: GOSSIPLOG_ROUNDS slots (the cluster passes the count) are
 * allocated once; a round takes the next slot and the next seq, so the
 * newest overwrites the oldest and memory never grows.  A sent round is
 * filled in later, when the reply comes: the caller keeps its seq and
 * gossiplog_find returns the slot only if no newer round took it.  News
 * lines have a bounded count and size; more are counted, not kept.
 *
 * Thread-safety: none; the event loop owns the ring.
 */
#include "cluster/gossiplog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "server/util.h"

void gossiplog_init(struct gossiplog *l, uint32_t cap)
{
    memset(l, 0, sizeof(*l));
    if (!cap)
        return;
    l->slot = dyn_calloc(cap, sizeof(*l->slot));
    l->cap = cap;
}

void gossiplog_free(struct gossiplog *l)
{
    dyn_free(l->slot);
    memset(l, 0, sizeof(*l));
}

struct gossiplog_round *gossiplog_add(struct gossiplog *l, uint64_t wall_ms,
                                      enum gossiplog_dir dir,
                                      const char *peer)
{
    if (!l->cap)
        return NULL;
    uint64_t seq = ++l->last_seq;
    struct gossiplog_round *r = &l->slot[(seq - 1) % l->cap];
    memset(r, 0, sizeof(*r));
    r->seq = seq;
    r->wall_ms = wall_ms;
    r->dir = (uint8_t)dir;
    r->answered = dir == GOSSIPLOG_RECEIVED;
    snprintf(r->peer, sizeof(r->peer), "%s", peer ? peer : "");
    return r;
}

struct gossiplog_round *gossiplog_find(struct gossiplog *l, uint64_t seq)
{
    if (!l->cap || seq == 0 || seq > l->last_seq)
        return NULL;
    struct gossiplog_round *r = &l->slot[(seq - 1) % l->cap];
    return r->seq == seq ? r : NULL;
}

void gossiplog_news(struct gossiplog_round *r, const char *fmt, ...)
{
    if (!r)
        return;
    if (r->nnews < GOSSIPLOG_NEWS) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->news[r->nnews], GOSSIPLOG_NEWS_MAX, fmt, ap);
        va_end(ap);
    }
    r->nnews++;
}

uint32_t gossiplog_list(const struct gossiplog *l,
                        const struct gossiplog_round **out, uint32_t max)
{
    uint32_t k = 0;
    for (uint64_t seq = l->last_seq; seq > 0 && k < max; seq--) {
        const struct gossiplog_round *r = &l->slot[(seq - 1) % l->cap];
        if (r->seq != seq)
            break; /* overwritten: older ones are gone too */
        out[k++] = r;
    }
    return k;
}

const char *gossiplog_dir_name(unsigned dir)
{
    return dir == GOSSIPLOG_SENT ? "sent" : dir == GOSSIPLOG_RECEIVED
                                               ? "received"
                                               : "?";
}
