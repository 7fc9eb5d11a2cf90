/*
 * gossip.c -- encoding, validation and merge of gossip messages; the rules
 * and the wire format are in gossip.h.
 *
 * Invariants kept by gossip_merge:
 *   - for every member, (incarnation, tombstone-or-not, heartbeat) only
 *     ever grows, in that order of precedence, so merges commute and a
 *     stale message can never undo a newer one;
 *   - the ring's epoch only grows, and at a given epoch the table only
 *     moves up the total order of ring_order(), so every node that has
 *     seen the same rings holds the same one;
 *   - members are only appended, never removed or reordered, so indices
 *     the caller keeps (peer links) stay valid across a merge.
 * Decode never reads past the buffer and allocates only after the counts
 * have been checked against the bytes that remain.
 */
#include "cluster/gossip.h"

#include <stdlib.h>
#include <string.h>
#include "server/util.h"
#include "server/wire.h"

/* Smallest encoded entry: 1-byte name and empty host, all varints 1 byte. */
#define ENTRY_MIN_BYTES 8

/* ---- events ----------------------------------------------------------- */

void gossip_events_init(struct gossip_events *ev)
{
    memset(ev, 0, sizeof(*ev));
}

static void events_clear(struct gossip_events *ev)
{
    ev->n = 0;
    if (ev->has_old_ring)
        ring_free(&ev->old_ring);
    ev->has_old_ring = 0;
}

void gossip_events_free(struct gossip_events *ev)
{
    if (!ev)
        return;
    events_clear(ev);
    dyn_free(ev->ev);
    memset(ev, 0, sizeof(*ev));
}

static void events_push(struct gossip_events *ev, enum gossip_event_type t,
                        uint32_t member, enum member_status from,
                        enum member_status to)
{
    if (!ev)
        return;
    if (ev->n == ev->cap) {
        ev->cap = ev->cap ? ev->cap * 2 : 16;
        ev->ev = dyn_realloc(ev->ev, ev->cap * sizeof(*ev->ev));
    }
    struct gossip_event *e = &ev->ev[ev->n++];
    e->type = t;
    e->member = member;
    e->from = from;
    e->to = to;
}

static void events_push_status(struct gossip_events *ev,
                               const struct member_event *me)
{
    events_push(ev, GOSSIP_EV_STATUS, me->member, me->from, me->to);
}

/* ---- encoding --------------------------------------------------------- */

static void put_varint(struct dbuf *b, uint64_t v)
{
    uint8_t tmp[WIRE_VARINT_MAX];
    dbuf_append(b, tmp, wire_varint_put(tmp, v));
}

static void put_str(struct dbuf *b, const char *s)
{
    size_t l = strlen(s);
    put_varint(b, l);
    dbuf_append(b, s, l);
}

void gossip_beat(struct membership *mb)
{
    if (mb->self < mb->n)
        mb->m[mb->self].heartbeat++;
}

int gossip_encode(const struct membership *mb, const struct ring *ring,
                  struct dbuf *out)
{
    if (mb->self >= mb->n)
        return DYN_EINVAL;
    dbuf_appendc(out, GOSSIP_VERSION);
    put_varint(out, mb->self);
    put_varint(out, mb->n);
    for (uint32_t i = 0; i < mb->n; i++) {
        const struct member *m = &mb->m[i];
        put_str(out, m->name);
        put_str(out, m->host);
        put_varint(out, m->port);
        put_varint(out, m->peer_port);
        dbuf_appendc(out, (char)m->status);
        put_varint(out, m->incarnation);
        put_varint(out, m->heartbeat);
    }
    struct dbuf r;
    dbuf_init(&r);
    ring_encode(ring, &r);
    put_varint(out, r.len);
    dbuf_append(out, r.p, r.len);
    dbuf_free(&r);
    return 0;
}

/* ---- decoding --------------------------------------------------------- */

struct reader {
    const uint8_t *p;
    const uint8_t *end;
};

/* Non-shortest forms decode, as they always have here (wire.h). */
static int get_varint(struct reader *r, uint64_t *out)
{
    size_t used;
    if (wire_varint_get(r->p, (size_t)(r->end - r->p), out, &used))
        return DYN_EINVAL;
    r->p += used;
    return 0;
}

static int get_bounded(struct reader *r, uint64_t max, uint64_t *out)
{
    if (get_varint(r, out) || *out > max)
        return DYN_EINVAL;
    return 0;
}

static size_t left(const struct reader *r)
{
    return (size_t)(r->end - r->p);
}

/* A name or host: printable ASCII without spaces, minlen..cap-1 bytes. */
static int get_str(struct reader *r, char *dst, size_t cap, size_t minlen)
{
    uint64_t l;
    if (get_bounded(r, cap - 1, &l) || l < minlen || left(r) < l)
        return DYN_EINVAL;
    for (uint64_t i = 0; i < l; i++)
        if (r->p[i] <= 0x20 || r->p[i] >= 0x7f)
            return DYN_EINVAL;
    memcpy(dst, r->p, (size_t)l);
    dst[l] = 0;
    r->p += l;
    return 0;
}

static int get_entry(struct reader *r, struct gossip_entry *e)
{
    uint64_t port, pport, inc;
    if (get_str(r, e->name, sizeof(e->name), 1) ||
        get_str(r, e->host, sizeof(e->host), 0) ||
        get_bounded(r, UINT16_MAX, &port) ||
        get_bounded(r, UINT16_MAX, &pport) || left(r) < 1)
        return DYN_EINVAL;
    uint8_t st = *r->p++;
    if (st > MEMBER_STATUS_MAX || get_bounded(r, UINT32_MAX, &inc) ||
        get_varint(r, &e->heartbeat))
        return DYN_EINVAL;
    e->port = (uint16_t)port;
    e->peer_port = (uint16_t)pport;
    e->status = (enum member_status)st;
    e->incarnation = (uint32_t)inc;
    return 0;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
    const struct gossip_entry *x = *(const struct gossip_entry *const *)a;
    const struct gossip_entry *y = *(const struct gossip_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int names_unique(const struct gossip_msg *msg)
{
    if (msg->n < 2)
        return 1;
    const struct gossip_entry **v = dyn_malloc(msg->n * sizeof(*v));
    for (uint32_t i = 0; i < msg->n; i++)
        v[i] = &msg->e[i];
    qsort(v, msg->n, sizeof(*v), cmp_entry_ptr);
    int ok = 1;
    for (uint32_t i = 1; i < msg->n && ok; i++)
        ok = strcmp(v[i - 1]->name, v[i]->name) != 0;
    dyn_free(v);
    return ok;
}

int gossip_decode(const uint8_t *p, size_t len, struct gossip_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    if (len > GOSSIP_MAX_BYTES || len < 1 || p[0] != GOSSIP_VERSION)
        return DYN_EINVAL;
    struct reader r = {p + 1, p + len};
    uint64_t sender, n, rlen;
    if (get_bounded(&r, GOSSIP_MAX_MEMBERS, &sender) ||
        get_bounded(&r, GOSSIP_MAX_MEMBERS, &n) || sender >= n ||
        n > left(&r) / ENTRY_MIN_BYTES)
        return DYN_EINVAL;
    msg->e = dyn_calloc((size_t)n, sizeof(*msg->e));
    for (uint64_t i = 0; i < n; i++) {
        if (get_entry(&r, &msg->e[i]))
            goto bad;
        msg->n = (uint32_t)i + 1;
    }
    msg->sender = (uint32_t)sender;
    if (!names_unique(msg) || get_varint(&r, &rlen) || rlen != left(&r))
        goto bad;
    if (ring_decode(&msg->ring, r.p, (size_t)rlen))
        goto bad;
    return 0;
bad:
    gossip_msg_free(msg);
    return DYN_EINVAL;
}

void gossip_msg_free(struct gossip_msg *msg)
{
    if (!msg)
        return;
    dyn_free(msg->e);
    ring_free(&msg->ring);
    memset(msg, 0, sizeof(*msg));
}

/* ---- merge ------------------------------------------------------------ */

/* A total order on rings of the same q: node count, then names, then the
 * owner table.  Only its determinism matters. */
static int ring_order(const struct ring *a, const struct ring *b)
{
    if (a->nnodes != b->nnodes)
        return a->nnodes < b->nnodes ? -1 : 1;
    for (uint32_t i = 0; i < a->nnodes; i++) {
        int c = strcmp(a->names[i], b->names[i]);
        if (c)
            return c < 0 ? -1 : 1;
    }
    for (uint32_t p = 0; p < a->q; p++)
        if (a->owner[p] != b->owner[p])
            return a->owner[p] < b->owner[p] ? -1 : 1;
    return 0;
}

static void merge_ring(struct ring *ring, const struct ring *remote,
                       struct gossip_events *ev)
{
    if (remote->epoch < ring->epoch)
        return;
    if (remote->epoch == ring->epoch && ring->q &&
        ring_order(remote, ring) <= 0)
        return;
    if (ev) {
        ev->old_ring = *ring;   /* moved: the caller may diff against it */
        ev->has_old_ring = 1;
    } else {
        ring_free(ring);
    }
    ring_copy(ring, remote);
    events_push(ev, GOSSIP_EV_RING, 0, MEMBER_UP, MEMBER_UP);
}

static void merge_self(struct membership *mb, uint32_t i,
                       const struct gossip_entry *e, uint64_t now_ms,
                       struct gossip_events *ev)
{
    struct member *m = &mb->m[i];
    int tomb = MEMBER_IS_TOMBSTONE(e->status);
    mb->self_heard = 1;
    if (tomb && e->incarnation >= m->incarnation) {
        if (mb->rejoining) {
            /* told to join: a new life outbids the operator's old
             * decision, and every table overwrites the tombstone */
            if (e->incarnation == UINT32_MAX)
                return;
            m->incarnation = e->incarnation + 1;
            m->heartbeat = 0;
            if (MEMBER_IS_TOMBSTONE(m->status)) {
                m->status = MEMBER_UP;
                m->status_since_ms = now_ms;
            }
            events_push(ev, GOSSIP_EV_SELF_REJOINED, i, e->status,
                        MEMBER_UP);
            return;
        }
        if (!MEMBER_IS_TOMBSTONE(m->status)) {
            /* not asked to come back: we are out, and say so */
            enum member_status from = m->status;
            m->incarnation = e->incarnation;
            membership_set_tombstone(mb, i, e->status, now_ms, NULL);
            events_push(ev, GOSSIP_EV_SELF_REMOVED, i, from, e->status);
            return;
        }
        /* out already: agree with the newest, strongest tombstone */
        m->incarnation = e->incarnation;
        if (e->status > m->status)
            membership_set_tombstone(mb, i, e->status, now_ms, NULL);
        return;
    }
    if (tomb)
        return;     /* an older life's tombstone */
    if (e->incarnation > m->incarnation) {
        if (MEMBER_IS_TOMBSTONE(m->status))
            return;     /* we left; an old life of ours is of no interest */
        /* our own older life, seen with a later incarnation than we
         * restarted with: outbid it so our heartbeats are heard */
        if (e->incarnation == UINT32_MAX)
            return;
        m->incarnation = e->incarnation + 1;
        m->heartbeat = 0;
        events_push(ev, GOSSIP_EV_SELF_REFUTED, i, m->status, m->status);
    } else if (e->incarnation == m->incarnation &&
               e->heartbeat > m->heartbeat) {
        m->heartbeat = e->heartbeat;
    }
}

static void adopt_tombstone(struct membership *mb, uint32_t i,
                            enum member_status s, uint64_t now_ms,
                            struct gossip_events *ev)
{
    struct member_event me;
    if (membership_set_tombstone(mb, i, s, now_ms, &me) == 1)
        events_push_status(ev, &me);
}

static void heard(struct membership *mb, uint32_t i, uint64_t now_ms,
                  struct gossip_events *ev)
{
    struct member_event me;
    if (membership_heard(mb, i, now_ms, &me) == 1)
        events_push_status(ev, &me);
}

static void merge_other(struct membership *mb, uint32_t i,
                        const struct gossip_entry *e, uint64_t now_ms,
                        struct gossip_events *ev)
{
    struct member *m = &mb->m[i];
    int tomb = MEMBER_IS_TOMBSTONE(e->status);
    if (e->incarnation < m->incarnation)
        return;
    if (e->incarnation > m->incarnation) {
        /* a new life: its address and state replace the old one's */
        m->incarnation = e->incarnation;
        m->heartbeat = e->heartbeat;
        strcpy(m->host, e->host);
        m->port = e->port;
        m->peer_port = e->peer_port;
        m->oldest_wait_ms = 0;
        events_push(ev, GOSSIP_EV_RESTARTED, i, m->status, m->status);
        if (tomb) {
            adopt_tombstone(mb, i, e->status, now_ms, ev);
        } else if (MEMBER_IS_TOMBSTONE(m->status)) {
            enum member_status from = m->status;
            m->status = MEMBER_UP;
            m->status_since_ms = now_ms;
            m->last_heard_ms = now_ms;
            events_push(ev, GOSSIP_EV_STATUS, i, from, MEMBER_UP);
        } else {
            heard(mb, i, now_ms, ev);
        }
        return;
    }
    /* same incarnation */
    if (e->heartbeat > m->heartbeat && !tomb &&
        !MEMBER_IS_TOMBSTONE(m->status)) {
        m->heartbeat = e->heartbeat;
        heard(mb, i, now_ms, ev);
        return;
    }
    if (e->heartbeat > m->heartbeat)
        m->heartbeat = e->heartbeat;
    if (tomb && (!MEMBER_IS_TOMBSTONE(m->status) || e->status > m->status))
        adopt_tombstone(mb, i, e->status, now_ms, ev);
}

static int learn(struct membership *mb, const struct gossip_entry *e,
                 uint64_t now_ms, struct gossip_events *ev)
{
    if (mb->n >= GOSSIP_MAX_MEMBERS)
        return DYN_ELIMIT;
    int i = membership_add(mb, e->name, e->host, e->port, e->peer_port, 0,
                           e->incarnation, now_ms);
    if (i < 0)
        return i;   /* cannot happen after decode's checks */
    struct member *m = &mb->m[i];
    m->heartbeat = e->heartbeat;
    if (MEMBER_IS_TOMBSTONE(e->status))
        m->status = e->status;
    events_push(ev, GOSSIP_EV_JOINED, (uint32_t)i, m->status, m->status);
    return 0;
}

int gossip_merge(struct membership *mb, struct ring *ring,
                 const struct gossip_msg *msg, uint64_t now_ms,
                 struct gossip_events *ev)
{
    if (ev)
        events_clear(ev);
    if (ring->q && msg->ring.q != ring->q)
        return DYN_EPROTO;
    int rc = 0;
    for (uint32_t k = 0; k < msg->n; k++) {
        const struct gossip_entry *e = &msg->e[k];
        int i = membership_find(mb, e->name);
        if (i < 0) {
            if (learn(mb, e, now_ms, ev) == DYN_ELIMIT)
                rc = DYN_ELIMIT;
        } else if (mb->m[i].self) {
            merge_self(mb, (uint32_t)i, e, now_ms, ev);
        } else {
            merge_other(mb, (uint32_t)i, e, now_ms, ev);
        }
    }
    merge_ring(ring, &msg->ring, ev);
    return rc;
}

/* ---- peers and explicit changes --------------------------------------- */

int gossip_pick_peer(const struct membership *mb, uint64_t rnd,
                     uint32_t *out)
{
    uint32_t live = 0;
    for (uint32_t i = 0; i < mb->n; i++)
        live += !mb->m[i].self && membership_is_up(mb, i);
    if (live == 0)
        return DYN_ENOTFOUND;
    uint32_t k = (uint32_t)(rnd % live);
    for (uint32_t i = 0; i < mb->n; i++) {
        if (mb->m[i].self || !membership_is_up(mb, i))
            continue;
        if (k-- == 0) {
            *out = i;
            return 0;
        }
    }
    return DYN_ENOTFOUND;   /* not reached */
}

int gossip_leave(struct membership *mb, uint64_t now_ms)
{
    if (mb->self >= mb->n)
        return DYN_ENOTFOUND;
    int rc = membership_set_tombstone(mb, mb->self, MEMBER_LEFT, now_ms, NULL);
    return rc < 0 ? rc : 0;
}

int gossip_forget(struct membership *mb, const char *name, uint64_t now_ms)
{
    int i = membership_find(mb, name);
    if (i < 0)
        return DYN_ENOTFOUND;
    if (mb->m[i].self)
        return DYN_EINVAL;
    int rc = membership_set_tombstone(mb, (uint32_t)i, MEMBER_REMOVED, now_ms,
                                      NULL);
    return rc < 0 ? rc : 0;
}

int gossip_rejoin(struct membership *mb, uint64_t now_ms)
{
    if (mb->self >= mb->n)
        return DYN_ENOTFOUND;
    struct member *m = &mb->m[mb->self];
    mb->rejoining = 1;
    if (!MEMBER_IS_TOMBSTONE(m->status))
        return 0;
    if (m->incarnation == UINT32_MAX)
        return DYN_ELIMIT;
    m->incarnation++;
    m->heartbeat = 0;
    m->status = MEMBER_UP;
    m->status_since_ms = now_ms;
    return 1;
}
