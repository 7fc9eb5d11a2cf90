/*
 * gossip.h -- anti-entropy for the member table and the ring (pure).
 *
 * Every gossip-interval-ms the I/O shell does, with a random live peer
 * (gossip_pick_peer), or with a seed address while the table holds only
 * this node:
 *
 *     gossip_beat(mb)                      our heartbeat += 1
 *     gossip_encode(mb, ring, out)  ──GOSSIP──>  peer: gossip_decode, gossip_merge
 *     we: gossip_decode, gossip_merge  <──reply──  peer: gossip_encode
 *
 * A push-pull exchange: both sides end with the union of what they knew.
 *
 * Merge rules, per remote entry (tombstone = MEMBER_LEFT / MEMBER_REMOVED):
 *   - an unknown name is added (learned from a seed or a peer): UP, or the
 *     remote's tombstone;
 *   - a lower incarnation is stale and ignored;
 *   - a higher incarnation is a new life of the node: take its incarnation,
 *     heartbeat, address and tombstone-or-not; an alive entry counts as
 *     evidence of life (membership_heard);
 *   - same incarnation: a tombstone beats an alive entry (REMOVED beats
 *     LEFT), and an alive entry never resurrects a tombstone; otherwise a
 *     higher heartbeat is taken and counts as evidence of life, which is
 *     what lets the heartbeat detector (membership.h) mark a member DOWN
 *     when its heartbeat stops advancing, traffic or not;
 *   - the sender's opinion of UP/SUSPECT/DOWN is carried (DYNAMO.MEMBERS of
 *     another node may show it) but never adopted: failure detection is
 *     local, as in the paper.
 *   - our own entry: a remote alive entry with a higher incarnation (we
 *     restarted and forgot ours) is refuted by taking incarnation + 1; a
 *     higher heartbeat for us at our incarnation is caught up with, so our
 *     next beat shows.  A remote tombstone (LEFT or REMOVED) at or above
 *     our incarnation is the record of an operator's decision (our
 *     DYNAMO.LEAVE, or a DYNAMO.FORGET of us), and only a new decision
 *     overrules it:
 *       - rejoining (DYNAMO.JOIN was given to this node in this life, and
 *         it is not in the ring yet: mb->rejoining): we outbid it, taking
 *         the tombstone's incarnation + 1, alive (GOSSIP_EV_SELF_REJOINED);
 *         the others then see a new life and take us back as UP, and the
 *         old tombstone is overwritten in every table;
 *       - otherwise we adopt it on our own entry, at its incarnation
 *         (GOSSIP_EV_SELF_REMOVED, once: a tombstone is adopted only over
 *         an alive entry): this node is out, gossips itself as such, and
 *         rebalance.c never drives it into the ring.  A stronger or newer
 *         tombstone is taken quietly after that.
 *     A remote tombstone below our incarnation is an older life's: ignored.
 * The ring: the higher epoch replaces ours; at equal epochs a different
 * table is settled by a total order on (nodes, owners) -- the greater
 * wins -- so every node converges on the same table.  A ring with another
 * partition count is a different cluster: the whole message is refused.
 *
 * Wire format (a bulk string inside the GOSSIP peer command), varints are
 * LEB128, at most 10 bytes:
 *     u8 version(1) | varint sender | varint n | n x entry |
 *     varint ring_len | ring_encode bytes
 *     entry = varint len, name | varint len, host | varint port |
 *             varint peer_port | u8 status | varint incarnation |
 *             varint heartbeat
 * gossip_decode treats the bytes as hostile: every count and length is
 * checked against the bytes left and the limits below before anything is
 * allocated, names and hosts are printable ASCII without spaces, names
 * are unique, sender < n, and the message must end exactly.
 *
 * Thread-safety: none; the event loop owns the table and the ring.
 * Errors: DYN_EINVAL (bad encoding), DYN_EPROTO (another cluster's ring),
 * DYN_ELIMIT (the table is full: the rest of the message is still merged).
 */
#ifndef DYN_GOSSIP_H
#define DYN_GOSSIP_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/membership.h"
#include "cluster/ring.h"
#include "server/buf.h"

#define GOSSIP_VERSION 1
#define GOSSIP_MAX_MEMBERS 4096         /* tombstones included */
#define GOSSIP_MAX_BYTES (4u << 20)     /* longest message decode accepts */

struct gossip_entry {
    char name[MEMBER_NAME_MAX];
    char host[MEMBER_HOST_MAX];
    uint16_t port;
    uint16_t peer_port;
    enum member_status status;      /* as the sender sees it */
    uint32_t incarnation;
    uint64_t heartbeat;
};

struct gossip_msg {
    uint32_t sender;                /* index into e: the sender's own entry */
    uint32_t n;
    struct gossip_entry *e;         /* owned */
    struct ring ring;               /* owned */
};

enum gossip_event_type {
    GOSSIP_EV_JOINED,       /* member was unknown; to = its status */
    GOSSIP_EV_STATUS,       /* status changed from -> to */
    GOSSIP_EV_RESTARTED,    /* new incarnation; address may have changed */
    GOSSIP_EV_RING,         /* ring replaced; the old one is in old_ring */
    GOSSIP_EV_SELF_REFUTED, /* our incarnation was raised over a stale one */
    GOSSIP_EV_SELF_REMOVED, /* we adopted the cluster's tombstone for us;
                             * from = our status before, to = the tomb */
    GOSSIP_EV_SELF_REJOINED,/* rejoining: we outbid a tombstone for us;
                             * from = the tombstone's status */
};

struct gossip_event {
    enum gossip_event_type type;
    uint32_t member;                /* index in the table (not for RING) */
    enum member_status from, to;
};

/* What a merge changed.  Owns the events and, after GOSSIP_EV_RING, the
 * ring we had before (for ring_diff and handoff planning). */
struct gossip_events {
    struct gossip_event *ev;
    uint32_t n, cap;
    int has_old_ring;
    struct ring old_ring;
};

void gossip_events_init(struct gossip_events *ev);
void gossip_events_free(struct gossip_events *ev);   /* NULL: no-op */

/* Our heartbeat += 1; call once per gossip interval, before encoding. */
void gossip_beat(struct membership *mb);

/* Appends the message (whole table, tombstones included, and the ring) to
 * out.  DYN_EINVAL if the table has no self entry. */
int gossip_encode(const struct membership *mb, const struct ring *ring,
                  struct dbuf *out);

/* Parses untrusted bytes into msg (free with gossip_msg_free, also after
 * an error).  Returns 0 or DYN_EINVAL. */
int gossip_decode(const uint8_t *p, size_t len, struct gossip_msg *msg);
void gossip_msg_free(struct gossip_msg *msg);

/* Applies the rules above at now_ms.  ev (may be NULL) is emptied first,
 * then receives what changed.  Returns 0, DYN_EPROTO (nothing merged) or
 * DYN_ELIMIT (merged, but some new members did not fit). */
int gossip_merge(struct membership *mb, struct ring *ring,
                 const struct gossip_msg *msg, uint64_t now_ms,
                 struct gossip_events *ev);

/* A uniformly random live peer (UP or SUSPECT, not self) chosen with the
 * random value rnd; DYN_ENOTFOUND when there is none (then gossip with a
 * seed). */
int gossip_pick_peer(const struct membership *mb, uint64_t rnd,
                     uint32_t *out);

/* DYNAMO.LEAVE, once the handoff is done: our entry becomes LEFT and is
 * gossiped as such.  DYNAMO.FORGET name: the member becomes REMOVED at its
 * current incarnation.  Return 0, DYN_ENOTFOUND or DYN_EINVAL (forget
 * self). */
int gossip_leave(struct membership *mb, uint64_t now_ms);
int gossip_forget(struct membership *mb, const char *name, uint64_t now_ms);
/* DYNAMO.JOIN on a node that is not in the ring: from now on a tombstone
 * for it is outbid (mb->rejoining), and if our own entry is a tombstone
 * (we left, or adopted the cluster's), we take a new life at once:
 * incarnation + 1, alive, heartbeat 0.  Returns 1 if the incarnation was
 * raised, 0 if not, DYN_ENOTFOUND (no self entry) or DYN_ELIMIT (the
 * incarnation cannot grow). */
int gossip_rejoin(struct membership *mb, uint64_t now_ms);

#endif
