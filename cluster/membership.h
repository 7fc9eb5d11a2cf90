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
 * Gossip (cluster/gossip.c) adds a second, indirect detector on top:
 * membership_heard() records evidence that a member is alive (its gossiped
 * heartbeat went up, or it answered us), and once heartbeat timeouts are
 * set with membership_set_heartbeat_timeouts(), a member not heard of for
 * hb_suspect_ms / hb_down_ms turns SUSPECT / DOWN even when nothing is
 * asked of it.  Each detector only escalates in membership_tick; recovery
 * comes from evidence: a reply clears both, a heartbeat clears the gossip
 * one (a peer whose requests still time out stays as the requests say).
 *
 * LEFT (DYNAMO.LEAVE) and REMOVED (DYNAMO.FORGET) are tombstones, not
 * judgements: neither detector moves a member out of them, and only gossip
 * with a higher incarnation (the node came back as a new life) does.  They
 * stay in the table so that gossip does not resurrect the member from
 * stale entries; membership_remove is for tables that do not gossip.
 *
 * Our own entry may hold a tombstone too: LEFT once this node has left, or
 * the tombstone the cluster holds for it (LEFT or REMOVED, adopted by
 * gossip.c when this node is not rejoining).  A node whose own entry is a
 * tombstone stays out of the ring.  `rejoining` is set by DYNAMO.JOIN
 * (gossip_rejoin) and cleared once the node is in the ring: while it is
 * set, a tombstone for this node is outbid with a new incarnation instead
 * of adopted (the rule is in gossip.h).  `self_heard` records that some
 * gossip message has carried our own entry, so that the node knows what
 * the cluster holds for it before it asks to join.
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
    MEMBER_LEFT = 3,        /* left on its own (DYNAMO.LEAVE): tombstone */
    MEMBER_REMOVED = 4,     /* forgotten (DYNAMO.FORGET): tombstone */
};
#define MEMBER_STATUS_MAX MEMBER_REMOVED
#define MEMBER_IS_TOMBSTONE(s) ((s) == MEMBER_LEFT || (s) == MEMBER_REMOVED)

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
    uint64_t last_heard_ms;     /* last evidence of life: reply or heartbeat */
};

struct membership {
    struct member *m;
    uint32_t n;
    uint32_t cap;
    uint32_t self;
    uint64_t suspect_ms;    /* unanswered this long: SUSPECT */
    uint64_t down_ms;       /* unanswered this long: DOWN */
    uint64_t down_transitions;
    uint64_t hb_suspect_ms; /* not heard of this long: SUSPECT (0: off) */
    uint64_t hb_down_ms;    /* not heard of this long: DOWN (0: off) */
    int rejoining;          /* DYNAMO.JOIN given, not in the ring yet */
    int self_heard;         /* a gossip message carried our own entry */
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

/* Up or suspect: takes traffic.  DOWN and the tombstones do not. */
int membership_is_up(const struct membership *mb, uint32_t i);

/* Turns on the heartbeat detector (both 0: off, the default).  down_ms is
 * raised to suspect_ms if below it. */
void membership_set_heartbeat_timeouts(struct membership *mb,
                                       uint64_t suspect_ms, uint64_t down_ms);
/* Evidence that member i is alive at now_ms (its heartbeat advanced).
 * Clears the heartbeat verdict; the status becomes what the request
 * detector alone says.  Returns 1 and fills ev on a change. */
int membership_heard(struct membership *mb, uint32_t i, uint64_t now_ms,
                     struct member_event *ev);
/* Sets a tombstone (MEMBER_LEFT or MEMBER_REMOVED) on member i, self
 * included (it left, or the cluster holds it as left or forgotten).
 * Returns 1 and fills ev on a change, DYN_EINVAL for a
 * status that is not a tombstone or an index out of range. */
int membership_set_tombstone(struct membership *mb, uint32_t i,
                             enum member_status s, uint64_t now_ms,
                             struct member_event *ev);

const char *member_status_name(enum member_status s);

#endif
