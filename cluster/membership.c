/*
 * membership.c -- member table and local failure detector; the state
 * machine is drawn in membership.h.  Invariants: names are unique; exactly
 * one entry has self set once the node has added itself; self is UP, or a
 * tombstone once it has left or learned that the cluster holds it as left
 * or forgotten (gossip.c); the detectors never move a member out of a
 * tombstone (LEFT, REMOVED) nor judge self.
 */
#include "cluster/membership.h"

#include <string.h>
#include "server/util.h"

void membership_init(struct membership *mb, uint64_t suspect_ms,
                     uint64_t down_ms)
{
    memset(mb, 0, sizeof(*mb));
    mb->suspect_ms = suspect_ms;
    mb->down_ms = down_ms > suspect_ms ? down_ms : suspect_ms;
    mb->self = UINT32_MAX;
}

void membership_free(struct membership *mb)
{
    if (!mb)
        return;
    dyn_free(mb->m);
    memset(mb, 0, sizeof(*mb));
}

int membership_find(const struct membership *mb, const char *name)
{
    for (uint32_t i = 0; i < mb->n; i++)
        if (strcmp(mb->m[i].name, name) == 0)
            return (int)i;
    return -1;
}

int membership_add(struct membership *mb, const char *name, const char *host,
                   uint16_t port, uint16_t peer_port, int self,
                   uint32_t incarnation, uint64_t now_ms)
{
    if (!name[0] || strlen(name) >= MEMBER_NAME_MAX ||
        strlen(host) >= MEMBER_HOST_MAX)
        return DYN_EINVAL;
    if (membership_find(mb, name) >= 0)
        return DYN_EEXIST;
    if (self && mb->self != UINT32_MAX)
        return DYN_EINVAL;
    if (mb->n == mb->cap) {
        mb->cap = mb->cap ? mb->cap * 2 : 8;
        mb->m = dyn_realloc(mb->m, mb->cap * sizeof(struct member));
    }
    struct member *m = &mb->m[mb->n];
    memset(m, 0, sizeof(*m));
    strcpy(m->name, name);
    strcpy(m->host, host);
    m->port = port;
    m->peer_port = peer_port;
    m->self = self;
    m->status = MEMBER_UP;
    m->incarnation = incarnation;
    m->last_reply_ms = now_ms;
    m->last_heard_ms = now_ms;
    m->status_since_ms = now_ms;
    if (self)
        mb->self = mb->n;
    return (int)mb->n++;
}

int membership_remove(struct membership *mb, const char *name)
{
    int i = membership_find(mb, name);
    if (i < 0)
        return DYN_ENOTFOUND;
    if (mb->m[i].self)
        return DYN_EINVAL;
    memmove(&mb->m[i], &mb->m[i + 1],
            (mb->n - (uint32_t)i - 1) * sizeof(struct member));
    mb->n--;
    if (mb->self != UINT32_MAX && mb->self > (uint32_t)i)
        mb->self--;
    return 0;
}

void membership_on_request(struct membership *mb, uint32_t i, uint64_t now_ms)
{
    if (i < mb->n && !mb->m[i].self && mb->m[i].oldest_wait_ms == 0)
        mb->m[i].oldest_wait_ms = now_ms ? now_ms : 1;
}

static int set_status(struct membership *mb, uint32_t i,
                      enum member_status to, uint64_t now_ms,
                      struct member_event *ev)
{
    struct member *m = &mb->m[i];
    if (m->status == to)
        return 0;
    if (ev) {
        ev->member = i;
        ev->from = m->status;
        ev->to = to;
    }
    if (to == MEMBER_DOWN) {
        m->down_transitions++;
        mb->down_transitions++;
    }
    m->status = to;
    m->status_since_ms = now_ms;
    return 1;
}

int membership_on_reply(struct membership *mb, uint32_t i, uint64_t now_ms,
                        struct member_event *ev)
{
    if (i >= mb->n)
        return 0;
    struct member *m = &mb->m[i];
    m->last_reply_ms = now_ms;
    m->last_heard_ms = now_ms;
    m->oldest_wait_ms = 0;
    if (MEMBER_IS_TOMBSTONE(m->status))
        return 0;
    return set_status(mb, i, MEMBER_UP, now_ms, ev);
}

/* What the request detector says about m at now_ms. */
static enum member_status request_verdict(const struct membership *mb,
                                          const struct member *m,
                                          uint64_t now_ms)
{
    if (m->oldest_wait_ms == 0 || now_ms < m->oldest_wait_ms)
        return MEMBER_UP;
    uint64_t waited = now_ms - m->oldest_wait_ms;
    if (waited >= mb->down_ms)
        return MEMBER_DOWN;
    if (waited >= mb->suspect_ms)
        return MEMBER_SUSPECT;
    return MEMBER_UP;
}

/* What the heartbeat detector says (UP when it is off). */
static enum member_status heartbeat_verdict(const struct membership *mb,
                                            const struct member *m,
                                            uint64_t now_ms)
{
    if (mb->hb_down_ms == 0 || now_ms < m->last_heard_ms)
        return MEMBER_UP;
    uint64_t age = now_ms - m->last_heard_ms;
    if (age >= mb->hb_down_ms)
        return MEMBER_DOWN;
    if (mb->hb_suspect_ms && age >= mb->hb_suspect_ms)
        return MEMBER_SUSPECT;
    return MEMBER_UP;
}

void membership_set_heartbeat_timeouts(struct membership *mb,
                                       uint64_t suspect_ms, uint64_t down_ms)
{
    mb->hb_suspect_ms = suspect_ms;
    mb->hb_down_ms = down_ms > suspect_ms ? down_ms : suspect_ms;
}

int membership_heard(struct membership *mb, uint32_t i, uint64_t now_ms,
                     struct member_event *ev)
{
    if (i >= mb->n)
        return 0;
    struct member *m = &mb->m[i];
    if (now_ms > m->last_heard_ms)
        m->last_heard_ms = now_ms;
    if (m->self || MEMBER_IS_TOMBSTONE(m->status))
        return 0;
    enum member_status to = request_verdict(mb, m, now_ms);
    if (to >= m->status)
        return 0;   /* evidence only lowers a verdict */
    return set_status(mb, i, to, now_ms, ev);
}

int membership_set_tombstone(struct membership *mb, uint32_t i,
                             enum member_status s, uint64_t now_ms,
                             struct member_event *ev)
{
    if (i >= mb->n || !MEMBER_IS_TOMBSTONE(s))
        return DYN_EINVAL;
    mb->m[i].oldest_wait_ms = 0;
    return set_status(mb, i, s, now_ms, ev);
}

uint32_t membership_tick(struct membership *mb, uint64_t now_ms,
                         struct member_event *ev, uint32_t max)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < mb->n; i++) {
        struct member *m = &mb->m[i];
        if (m->self || MEMBER_IS_TOMBSTONE(m->status))
            continue;
        /* the worse of the two verdicts; tick only escalates, evidence
         * (a reply, a heartbeat) is what lowers a status */
        enum member_status to = request_verdict(mb, m, now_ms);
        enum member_status hb = heartbeat_verdict(mb, m, now_ms);
        if (hb > to)
            to = hb;
        if (to <= m->status)
            continue;
        struct member_event e;
        if (set_status(mb, i, to, now_ms, &e) && k < max && ev)
            ev[k++] = e;
    }
    return k;
}

int membership_is_up(const struct membership *mb, uint32_t i)
{
    return i < mb->n && (mb->m[i].status == MEMBER_UP ||
                         mb->m[i].status == MEMBER_SUSPECT);
}

const char *member_status_name(enum member_status s)
{
    switch (s) {
    case MEMBER_UP:
        return "up";
    case MEMBER_SUSPECT:
        return "suspect";
    case MEMBER_DOWN:
        return "down";
    case MEMBER_LEFT:
        return "left";
    case MEMBER_REMOVED:
        return "removed";
    }
    return "unknown";
}
