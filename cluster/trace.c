/*
 * trace.c -- a bounded ring of request traces (pure: no I/O, no node).
 *
 * A trace is the record of one quorum operation (GET, SET, DEL,
 * DYNAMO.GET, DYNAMO.PUT, ...) as its coordinator ran it: the preference
 * list and each replica's status, which were asked and which answered
 * (with the version seen and the latency), the stand-ins and the owners
 * they stood in for, when R or W was reached, the read repairs sent and
 * the outcome.  cluster/coordinator.c writes it as the op goes, a few
 * stores into the slot; DYNAMO.TRACE (server/cmd_dynamo.c) reads it.
 *
 * The ring holds trace-max slots allocated once, at start: taking a slot
 * clears and numbers it, overwriting the oldest.  No allocation per op,
 * and with trace-max 0 nothing at all (trace_begin answers NULL and the
 * coordinator skips every store).  An op keeps its trace's id, not a
 * pointer: a ring that wrapped while the op waited on its replicas gave
 * the slot to a newer op, and trace_get then answers NULL, so the late
 * answer is simply not recorded.
 *
 * Names are copied in (members come and go; a trace keeps what was true
 * when it was recorded).  Keys longer than TRACE_KEY_MAX keep their first
 * bytes and their full length; such a trace matches only its exact key.
 */
#include "cluster/trace.h"

#include <string.h>
#include "server/util.h"

void trace_ring_init(struct trace_ring *r, uint32_t cap)
{
    memset(r, 0, sizeof(*r));
    if (!cap)
        return;
    r->slot = dyn_calloc(cap, sizeof(*r->slot));
    r->cap = cap;
}

void trace_ring_free(struct trace_ring *r)
{
    dyn_free(r->slot);
    memset(r, 0, sizeof(*r));
}

static void copy_name(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, s, len);
    dst[len] = 0;
}

int trace_admit(struct trace_ring *r, uint64_t mono_us)
{
    if (!r->cap)
        return 0;
    uint64_t sec = mono_us / 1000000;
    if (sec != r->sec) {
        r->sec = sec;
        r->in_sec = 0;
    }
    if (r->in_sec >= TRACE_PER_SEC) {
        r->skipped++;
        return 0;
    }
    r->in_sec++;
    return 1;
}

struct trace *trace_begin(struct trace_ring *r, uint64_t wall_ms,
                          uint64_t mono_us, const char *op, const char *key,
                          size_t klen)
{
    if (!r->cap)
        return NULL;
    uint64_t id = ++r->next_id;
    struct trace *t = &r->slot[(id - 1) % r->cap];
    /* the replicas are cleared as they are added (trace_rep) */
    memset(t, 0, offsetof(struct trace, rep));
    t->outcome[0] = 0;
    t->id = id;
    t->wall_ms = wall_ms;
    t->start_us = mono_us;
    copy_name(t->op, sizeof(t->op), op, strlen(op));
    t->klen = (uint32_t)klen;
    memcpy(t->key, key, DYN_MIN(klen, (size_t)TRACE_KEY_MAX));
    return t;
}

struct trace *trace_get(struct trace_ring *r, uint64_t id)
{
    if (!r->cap || !id)
        return NULL;
    struct trace *t = &r->slot[(id - 1) % r->cap];
    return t->id == id ? t : NULL;
}

struct trace_rep *trace_rep(struct trace *t, uint32_t member,
                            const char *name)
{
    for (uint32_t i = 0; i < t->nrep; i++)
        if (t->rep[i].member == member)
            return &t->rep[i];
    if (t->nrep == TRACE_REPS)
        return NULL;
    struct trace_rep *p = &t->rep[t->nrep++];
    p->member = member;
    p->flags = p->status = p->read_us = p->write_us = p->siblings = 0;
    p->digest = 0;
    p->standin_for[0] = 0;
    copy_name(p->name, sizeof(p->name), name, strlen(name));
    return p;
}

uint32_t trace_elapsed(const struct trace *t, uint64_t now_us)
{
    uint64_t d = now_us > t->start_us ? now_us - t->start_us : 0;
    if (d > UINT32_MAX)
        d = UINT32_MAX;
    return d ? (uint32_t)d : 1;
}

void trace_outcome(struct trace *t, const char *s, size_t len)
{
    copy_name(t->outcome, sizeof(t->outcome), s, len);
}

static int key_is(const struct trace *t, const char *key, size_t klen)
{
    return t->klen == klen && klen <= TRACE_KEY_MAX &&
           memcmp(t->key, key, klen) == 0;
}

uint32_t trace_list(const struct trace_ring *r, const char *key, size_t klen,
                    const struct trace **out, uint32_t max)
{
    uint32_t k = 0;
    for (uint64_t id = r->next_id; id > 0 && k < max; id--) {
        if (r->next_id - id >= r->cap)
            break;
        const struct trace *t = &r->slot[(id - 1) % r->cap];
        if (t->id != id)
            break;
        if (!key || key_is(t, key, klen))
            out[k++] = t;
    }
    return k;
}

uint32_t trace_since(const struct trace_ring *r, uint64_t since,
                     uint64_t now_ms, uint64_t stale_ms,
                     const struct trace **out, uint32_t max)
{
    if (!r->cap || since >= r->next_id)
        return 0;
    uint64_t first = since + 1;
    if (r->next_id - first >= r->cap)
        first = r->next_id - r->cap + 1; /* older ones were overwritten */
    uint32_t k = 0;
    for (uint64_t id = first; id <= r->next_id && k < max; id++) {
        const struct trace *t = &r->slot[(id - 1) % r->cap];
        if (t->id != id)
            break;
        if (!t->outcome[0] && now_ms < t->wall_ms + stale_ms)
            break; /* still running: it and the rest come next time */
        out[k++] = t;
    }
    return k;
}
