/*
 * membership.h -- the member table and the local failure detector (pure).
 *
 * Each node keeps its own view of every member: name, addresses, status,
 * incarnation and heartbeat.  Failure detection is local, as in the paper:
 * a peer is judged only by whether it answers *this* node.
 *
 *          reply                 no reply for suspect_ms       no reply for down_ms
 *   UP <───────────── SUSPECT <─────────────────────────── UP ──────────────────────> DOWN
 *    ^                   │ no reply for down_ms                                       │
 *    │                   └──────────────────────────> DOWN ─── reply (probe) ─────────┘──> UP
 *
 * "No reply" is measured from the oldest request still unanswered, so an
 * idle peer (nothing asked) is never suspected; the I/O shell pings every
 * peer at ping_interval_ms, which keeps a request outstanding when the peer
 * is silent, and keeps probing DOWN peers so that recovery is noticed.
 * Gossip (the failures issue) adds heartbeats on top through
 * membership_merge_heartbeat.
 *
 * The functions take now_ms and return what changed; they never do I/O.
 * Thread-safety: none; the event loop owns the table.
 */
#ifndef DYN_MEMBERSHIP_H
#define DYN_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#define MEMBER_NAME_MAX 64
#define MEMBER_HOST_MAX 64

enum member_status {
    MEMBER_UP = 0,
    MEMBER_SUSPECT = 1,
    MEMBER_DOWN = 2,
};

struct member {
    char name[MEMBER_NAME_MAX];
    char host[MEMBER_HOST_MAX];
    uint16_t port;          /* client port */
    uint16_t peer_port;     /* cluster bus port */
    int self;
    enum member_status status;
    uint32_t incarnation;
    uint64_t heartbeat;
    uint64_t last_reply_ms;     /* last time it answered us */
    uint64_t oldest_wait_ms;    /* oldest unanswered request, 0 if none */
    uint64_t status_since_ms;
    uint64_t down_transitions;
};

struct membership {
    struct member *m;
    uint32_t n;
    uint32_t cap;
    uint32_t self;
    uint64_t suspect_ms;    /* unanswered this long: SUSPECT */
    uint64_t down_ms;       /* unanswered this long: DOWN */
    uint64_t down_transitions;
};

/* A status change, for the event log. */
struct member_event {
    uint32_t member;
    enum member_status from;
    enum member_status to;
};

void membership_init(struct membership *mb, uint64_t suspect_ms,
                     uint64_t down_ms);
void membership_free(struct membership *mb);

/* Adds a member; returns its index, or DYN_EEXIST / DYN_EINVAL (name or
 * host too long, empty name). */
int membership_add(struct membership *mb, const char *name, const char *host,
                   uint16_t port, uint16_t peer_port, int self,
                   uint32_t incarnation, uint64_t now_ms);
int membership_find(const struct membership *mb, const char *name);
/* Removes a member (DYNAMO.FORGET, leave).  Indices above it shift down.
 * The self entry cannot be removed (DYN_EINVAL). */
int membership_remove(struct membership *mb, const char *name);

/* A request was sent to member i at now_ms (starts the wait clock). */
void membership_on_request(struct membership *mb, uint32_t i, uint64_t now_ms);
/* Member i answered: it is UP.  Returns 1 and fills ev on a change. */
int membership_on_reply(struct membership *mb, uint32_t i, uint64_t now_ms,
                        struct member_event *ev);
/* Applies the timeouts; fills up to max events, returns how many. */
uint32_t membership_tick(struct membership *mb, uint64_t now_ms,
                         struct member_event *ev, uint32_t max);

int membership_is_up(const struct membership *mb, uint32_t i);
const char *member_status_name(enum member_status s);

#endif
