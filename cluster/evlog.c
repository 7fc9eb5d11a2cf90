/*
 * evlog.c -- a bounded ring of cluster events (pure: no I/O, no node).
 *
 * The events are what a person watching the cluster wants to see happen:
 * member status changes and gossip news, sloppy writes, hints stored and
 * delivered, read repairs, anti-entropy exchanges and the keys they
 * repaired, siblings created and resolved, quorum failures, ring changes,
 * joins, leaves and streaming, kills, revives and faults.  Each is
 * recorded where it happens (next to the INFO counter that counts it), by
 * the node it happens on, and DYNAMO.EVENTS [since] reads them back.
 *
 * The ring holds event-max slots allocated once; an event takes the next
 * slot and the next id (ids only grow, so a reader polls with the last id
 * it saw, and a gap in the ids says the ring overwrote what it missed).
 * Fields are a few name = value pairs of bounded size, formatted into the
 * slot: no allocation per event.  event-max 0 records nothing.
 */
#include "cluster/evlog.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "server/util.h"

static const char *const type_names[EV_TYPES] = {
    [EV_MEMBER] = "member",
    [EV_GOSSIP] = "gossip",
    [EV_SLOPPY_WRITE] = "sloppy-write",
    [EV_HINT_STORED] = "hint-stored",
    [EV_HINT_DELIVERED] = "hint-delivered",
    [EV_READ_REPAIR] = "read-repair",
    [EV_AE_EXCHANGE] = "ae-exchange",
    [EV_AE_REPAIR] = "ae-repair",
    [EV_SIBLING_CREATED] = "sibling-created",
    [EV_SIBLING_RESOLVED] = "sibling-resolved",
    [EV_QUORUM_FAILURE] = "quorum-failure",
    [EV_RING] = "ring",
    [EV_JOIN] = "join",
    [EV_LEAVE] = "leave",
    [EV_STREAM] = "stream",
    [EV_KILL] = "kill",
    [EV_REVIVE] = "revive",
    [EV_FAULT] = "fault",
};

void evlog_init(struct evlog *r, uint32_t cap)
{
    memset(r, 0, sizeof(*r));
    if (!cap)
        return;
    r->slot = dyn_calloc(cap, sizeof(*r->slot));
    r->cap = cap;
}

void evlog_free(struct evlog *r)
{
    dyn_free(r->slot);
    memset(r, 0, sizeof(*r));
}

struct evlog_entry *evlog_add(struct evlog *r, uint64_t wall_ms,
                        enum evlog_type type)
{
    if (!r->cap)
        return NULL;
    uint64_t id = ++r->next_id;
    struct evlog_entry *e = &r->slot[(id - 1) % r->cap];
    e->id = id;
    e->wall_ms = wall_ms;
    e->type = (uint8_t)type;
    e->nf = 0;
    return e;
}

void evlog_field(struct evlog_entry *e, const char *name, const char *fmt, ...)
{
    if (!e || e->nf >= EVENT_FIELDS)
        return;
    va_list ap;
    va_start(ap, fmt);
    e->f[e->nf].name = name;
    vsnprintf(e->f[e->nf].value, EVENT_VALUE_MAX, fmt, ap);
    va_end(ap);
    e->nf++;
}

void evlog_field_bytes(struct evlog_entry *e, const char *name, const void *p,
                       size_t len)
{
    if (!e || e->nf >= EVENT_FIELDS)
        return;
    len = DYN_MIN(len, (size_t)EVENT_VALUE_MAX - 1);
    e->f[e->nf].name = name;
    memcpy(e->f[e->nf].value, p, len);
    e->f[e->nf].value[len] = 0;
    e->nf++;
}

const char *evlog_type_name(unsigned type)
{
    return type < EV_TYPES && type_names[type] ? type_names[type] : "?";
}

uint32_t evlog_since(const struct evlog *r, uint64_t since,
                     const struct evlog_entry **out, uint32_t max)
{
    if (!r->cap || since >= r->next_id || !max)
        return 0;
    uint64_t first = since + 1;
    /* the oldest still held */
    if (r->next_id - first >= r->cap)
        first = r->next_id - r->cap + 1;
    uint32_t k = 0;
    for (uint64_t id = first; id <= r->next_id && k < max; id++) {
        const struct evlog_entry *e = &r->slot[(id - 1) % r->cap];
        if (e->id == id)
            out[k++] = e;
    }
    return k;
}
