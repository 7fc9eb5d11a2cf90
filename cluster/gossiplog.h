/*
 * gossiplog.h -- a bounded ring of this node's recent gossip rounds
 * (pure; see gossiplog.c).
 */
#ifndef DYN_GOSSIPLOG_H
#define DYN_GOSSIPLOG_H

#include <stddef.h>
#include <stdint.h>

#define GOSSIPLOG_ROUNDS 32     /* rounds a node keeps (both directions) */
#define GOSSIPLOG_NEWS 6        /* news lines kept per round; more are
                                 * only counted */
#define GOSSIPLOG_NEWS_MAX 64   /* bytes of one news line, NUL included */
#define GOSSIPLOG_PEER_MAX 64

enum gossiplog_dir {
    GOSSIPLOG_SENT,             /* we asked the peer; its reply merged */
    GOSSIPLOG_RECEIVED,         /* the peer asked us; its message merged */
};

struct gossiplog_round {
    uint64_t seq;               /* 1, 2, ...; 0: an empty slot */
    uint64_t wall_ms;           /* when the round started */
    char peer[GOSSIPLOG_PEER_MAX];
    uint8_t dir;                /* enum gossiplog_dir */
    uint8_t answered;           /* SENT: the reply came; RECEIVED: 1 */
    uint32_t entries;           /* members in the message that came in */
    uint32_t nnews;             /* news lines, kept or not */
    char news[GOSSIPLOG_NEWS][GOSSIPLOG_NEWS_MAX];
};

struct gossiplog {
    struct gossiplog_round *slot;   /* cap slots, allocated once */
    uint32_t cap;                   /* 0: off */
    uint64_t last_seq;
};

void gossiplog_init(struct gossiplog *l, uint32_t cap);
void gossiplog_free(struct gossiplog *l);      /* also of a zeroed log */
/* The next round, overwriting the oldest; NULL when off.  peer is
 * truncated to fit. */
struct gossiplog_round *gossiplog_add(struct gossiplog *l, uint64_t wall_ms,
                                      enum gossiplog_dir dir,
                                      const char *peer);
/* The round numbered seq if the ring still holds it, else NULL. */
struct gossiplog_round *gossiplog_find(struct gossiplog *l, uint64_t seq);
/* One line of news (printf-formatted, truncated); past GOSSIPLOG_NEWS it
 * is only counted.  r NULL: ignored. */
void gossiplog_news(struct gossiplog_round *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Up to max rounds, newest first.  Returns the count. */
uint32_t gossiplog_list(const struct gossiplog *l,
                        const struct gossiplog_round **out, uint32_t max);
const char *gossiplog_dir_name(unsigned dir);  /* "sent" | "received" */

#endif
