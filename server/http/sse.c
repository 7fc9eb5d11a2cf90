/*
 * sse.c -- GET /api/stream: what the whole cluster does, pushed to the
 * dashboard as Server-Sent Events, at a cost paid only while someone
 * watches.
 *
 * Why it polls: every node records its own events and the traces of the
 * operations it coordinated (cluster/evlog.c, cluster/trace.c), and a
 * page looking at one node wants them all.  Pushing every record to every
 * node as it happens would cost the request path something whether or
 * not anyone watches; instead the node that serves a subscriber pulls,
 * twice a second, what is new on each member: R.NODES DYNAMO.EVENTS since
 * and R.NODES DYNAMO.TRACE SINCE id over the peer bus (the CLUSTER forms'
 * per-node command, with each member's own cursor), and this node's part
 * straight from its rings (cmd_trace.h).  Once a second it asks every
 * member's INFO (R.INFO) for the figures.
 *
 *   first subscriber ──> tick every SSE_POLL_MS (one timer)
 *      records round: each member  R.NODES DYNAMO.EVENTS <its last id>
 *                                  R.NODES DYNAMO.TRACE SINCE <its last id>
 *                                          SSE_TRACES_PER_ROUND
 *         answers (or request-timeout-ms) ──> merged by time_ms ──>
 *         "event" (id: the cursor "n1:5,n2:9") and "trace" to everyone
 *      stats round, every SSE_STATS_MS: each member  R.INFO ...
 *         ──> "stats" {time_ms, node, ring_epoch, n, r, w, nodes{...}}
 *      a comment every SSE_PING_MS (keep-alive)
 *   last subscriber gone ──> the timer stops; nothing runs
 *
 * Cursors: per member, the last event and trace id pushed.  The first
 * round after the stream starts only sets them (a subscriber sees what
 * happens from then on; GET /api/events has the past), a member first
 * seen later is read from its start, and a member whose run_id changed
 * (it restarted, its ids began again) is read from 0.  A member that does
 * not answer keeps its cursor and is asked again next round.  Traces come
 * finished (trace_since: never one still pending), so a trace is pushed
 * once, complete; a busy member sends only its newest
 * SSE_TRACES_PER_ROUND per round (a sample: what it skipped is still in
 * DYNAMO.TRACE while its ring holds it), so the stream's cost does not
 * grow with the load it shows.
 *
 * Bounds: http-stream-max subscribers (one more: 503, by http.c), one
 * round of each kind in flight, and SSE_PENDING_MAX bytes a subscriber
 * may leave unread: past that it is dropped (its connection closed), not
 * buffered for.
 *
 * Invariants: a subscriber is in s->subs until its connection closes or it
 * is dropped, and the timer runs exactly while s->subs is not empty; a
 * round lives until its last peer callback and its end, whichever comes
 * later, and ends into nothing once the sse is freed.
 *
 * Thread-safety: event loop only.  Errors: a member that errs or does not
 * answer is shown as not answered; nothing here fails a request.
 */
#include "server/http/sse.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "cluster/cluster.h"
#include "cluster/membership.h"
#include "cluster/ring.h"
#include "server/cmd_info.h"
#include "server/cmd_trace.h"
#include "server/http/http.h"
#include "server/http/rjson.h"
#include "server/log.h"
#include "server/node.h"
#include "server/util.h"

#define SSE_POLL_MS 500
#define SSE_STATS_MS 1000
#define SSE_PING_MS 15000
#define SSE_RETRY_MS 2000   /* EventSource's reconnect delay */
/* traces a member sends per round at most (the newest): a busy node
 * finishes thousands of ops a second, and a page shows a handful */
#define SSE_TRACES_PER_ROUND 32
/* what the stats round asks of each member */
static const char *const stats_sections[] = {"server", "stats", "memory",
                                             "keyspace", "dynamo"};

struct sse_sub {
    struct sse *s;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct sse_sub *prev, *next;
};

struct cursor {
    char name[MEMBER_NAME_MAX];
    char run_id[48];
    uint64_t ev, tr;        /* the last event / trace id pushed */
    int quiet;              /* its next answer only moves the cursor */
};

enum round_kind { ROUND_INFO, ROUND_RECORDS };

struct round {
    struct sse *s;          /* NULL once the sse is gone */
    enum round_kind kind;
    int refs;               /* peer callbacks outstanding */
    int ended;
    json_t *nodes;          /* INFO: {name: info}; RECORDS: {name:
                             * {"events": [...], "traces": [...]}} */
    struct event *timer;
    sse_info_fn *fn;        /* INFO: who gets the answers */
    void *arg;
    struct round *prev, *next;  /* s->rounds */
};

struct part {
    struct round *r;
    const char *field;      /* RECORDS: "events" or "traces"; INFO: NULL */
    char name[MEMBER_NAME_MAX];
};

struct sse {
    struct node *n;
    struct sse_sub *subs;
    size_t nsubs;
    struct event *tick;
    uint64_t last_stats_ms, last_ping_ms;
    int records_busy, stats_busy;
    int priming;            /* the next records round only sets cursors */
    struct cursor *cur;
    size_t ncur, capcur;
    struct round *rounds;   /* every round not yet freed */
    sse_info_fn *learn;     /* gets each stats round's INFO too */
    void *learn_arg;
};

/* ---- subscribers ----------------------------------------------------------- */

static void sync_count(struct sse *s)
{
    s->n->stats.http_stream_subscribers = s->nsubs;
}

static void sub_unlink(struct sse_sub *sub)
{
    struct sse *s = sub->s;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        s->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    s->nsubs--;
    sync_count(s);
    if (s->nsubs == 0) {
        /* nobody watches: stop, and start afresh for the next one */
        event_del(s->tick);
        s->ncur = 0;
    }
}

/* The client went away.  A request whose connection failed under it is
 * detached from the connection and left to us: ending it frees it. */
static void sub_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    struct sse_sub *sub = arg;
    struct evhttp_request *req = sub->req;
    sub_unlink(sub);
    dyn_free(sub);
    if (req && !evhttp_request_get_connection(req))
        evhttp_send_reply_end(req);
}

/* Too slow a reader: its connection is closed (and its request with it). */
static void sub_drop(struct sse_sub *sub)
{
    struct evhttp_connection *evcon = sub->evcon;
    struct http *h = sub->s->n->http;
    sub->s->n->stats.http_stream_dropped++;
    dlog(DLOG_NOTICE, "http: dropping a stream subscriber with more than "
                      "%d bytes unread", SSE_PENDING_MAX);
    sub_unlink(sub);
    dyn_free(sub);
    http_conn_close(h, evcon);
}

static size_t sub_pending(const struct sse_sub *sub)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(sub->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Sends text to every subscriber, dropping those that fell behind. */
static void push_all(struct sse *s, const char *text, size_t len)
{
    struct sse_sub *sub = s->subs, *next;
    for (; sub; sub = next) {
        next = sub->next;
        if (sub_pending(sub) + len > SSE_PENDING_MAX) {
            sub_drop(sub);
            continue;
        }
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, text, len);
        evhttp_send_reply_chunk(sub->req, b);
        evbuffer_free(b);
    }
}

/* One SSE message: "event: name\n[id: id\n]data: json\n\n". */
static void push_event(struct sse *s, const char *name, const char *id,
                       json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!json)
        return;
    struct dbuf b;
    dbuf_init(&b);
    dbuf_printf(&b, "event: %s\n", name);
    if (id)
        dbuf_printf(&b, "id: %s\n", id);
    dbuf_appends(&b, "data: ");
    dbuf_appends(&b, json);
    dbuf_appends(&b, "\n\n");
    free(json);
    push_all(s, b.p, b.len);
    dbuf_free(&b);
}

/* ---- rounds: one request per member, answers by name ------------------------ */

static void round_free_if_done(struct round *r)
{
    if (r->refs > 0 || !r->ended)
        return;
    if (r->s) {
        if (r->prev)
            r->prev->next = r->next;
        else
            r->s->rounds = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    if (r->timer)
        event_free(r->timer);
    json_decref(r->nodes);
    dyn_free(r);
}

static void records_finish(struct sse *s, json_t *nodes);
static void stats_finish(struct sse *s, json_t *nodes);

static void round_end(struct round *r)
{
    if (r->ended)
        return;
    r->ended = 1;
    evtimer_del(r->timer);
    struct sse *s = r->s;
    if (s) {
        if (r->kind == ROUND_RECORDS) {
            s->records_busy = 0;
            records_finish(s, r->nodes);
        } else if (r->fn) {
            r->fn(r->arg, r->nodes);
        }
    }
    round_free_if_done(r);
}

static void round_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    round_end(arg);
}

/* A peer's answer as JSON: a bulk (INFO) as its text, arrays as arrays. */
static json_t *value_json(const struct peer_value *v, int depth)
{
    if (depth > RJSON_MAX_DEPTH)
        return json_null();
    switch (v->type) {
    case PEER_V_STRING:
    case PEER_V_STATUS:
        return rjson_string(v->str, v->len);
    case PEER_V_INT:
        return json_integer(v->integer);
    case PEER_V_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->n; i++)
            json_array_append_new(a, value_json(&v->elem[i], depth + 1));
        return a;
    }
    default:
        return json_null();
    }
}

/* A flat-pairs record list as a list of objects. */
static json_t *records_of(json_t *list)
{
    json_t *out = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (json_is_array(x))
        json_array_append_new(out, rjson_pairs(x));
    return out;
}

static json_t *node_entry(struct round *r, const char *name)
{
    json_t *e = json_object_get(r->nodes, name);
    if (!e) {
        e = json_object();
        json_object_set_new(r->nodes, name, e);
    }
    return e;
}

static void part_reply(void *ctx, int err, const struct peer_value *v)
{
    struct part *p = ctx;
    struct round *r = p->r;
    r->refs--;
    if (!r->ended && r->s) {
        if (!p->field) {
            json_t *info;
            if (err == 0 && v && v->type == PEER_V_STRING)
                info = rjson_info(v->str, v->len);
            else {
                info = json_object();
                json_object_set_new(info, "error",
                                    json_string(err ? "no answer over the "
                                                      "peer bus"
                                                    : "an unexpected "
                                                      "answer"));
            }
            json_object_set_new(r->nodes, p->name, info);
        } else if (err == 0 && v && v->type == PEER_V_ARRAY) {
            json_t *raw = value_json(v, 0);
            json_object_set_new(node_entry(r, p->name), p->field,
                                records_of(raw));
            json_decref(raw);
        }
    }
    dyn_free(p);
    if (r->refs == 0 && !r->ended)
        round_end(r);
    else
        round_free_if_done(r);
}

static struct round *round_new(struct sse *s, enum round_kind kind)
{
    struct round *r = dyn_calloc(1, sizeof(*r));
    r->s = s;
    r->kind = kind;
    r->nodes = json_object();
    r->timer = evtimer_new(s->n->base, round_timer_cb, r);
    r->next = s->rounds;
    if (s->rounds)
        s->rounds->prev = r;
    s->rounds = r;
    return r;
}

static void round_ask(struct round *r, int member, const char *name,
                      const char *field, int argc, const struct dyn_arg *av)
{
    struct part *p = dyn_calloc(1, sizeof(*p));
    p->r = r;
    p->field = field;
    snprintf(p->name, sizeof(p->name), "%s", name);
    r->refs++;
    if (cluster_request(r->s->n, member, argc, av, part_reply, p) != 0) {
        r->refs--;
        dyn_free(p);
    }
}

/* Arms the end: after the last answer, or request-timeout-ms; at once
 * (from the loop) when nobody was asked. */
static void round_arm(struct round *r)
{
    struct node *n = r->s->n;
    struct timeval tv = {0, 0};
    if (r->refs > 0) {
        tv.tv_sec = n->cfg.request_timeout_ms / 1000;
        tv.tv_usec = (n->cfg.request_timeout_ms % 1000) * 1000;
    }
    evtimer_add(r->timer, &tv);
}

static const char *self_name(const struct node *n)
{
    return n->cfg.node_name ? n->cfg.node_name : "";
}

void sse_gather_info(struct sse *s, const char *const *sections, size_t nsec,
                     sse_info_fn *fn, void *arg)
{
    struct node *n = s->n;
    struct round *r = round_new(s, ROUND_INFO);
    r->fn = fn;
    r->arg = arg;
    struct dyn_arg av[8] = {{"R.INFO", 6}};
    int argc = 1;
    for (size_t i = 0; i < nsec && argc < (int)DYN_ARRAY_LEN(av); i++) {
        av[argc].p = sections[i];
        av[argc++].len = strlen(sections[i]);
    }
    struct dbuf text;
    dbuf_init(&text);
    cmd_info_text(n, argc, av, &text);
    json_object_set_new(r->nodes, self_name(n), rjson_info(text.p, text.len));
    dbuf_free(&text);
    const struct membership *mb = cluster_membership(n);
    for (uint32_t m = 0; mb && m < mb->n; m++)
        if (!mb->m[m].self && !MEMBER_IS_TOMBSTONE(mb->m[m].status))
            round_ask(r, (int)m, mb->m[m].name, NULL, argc, av);
    round_arm(r);
}

/* ---- the records round -------------------------------------------------------- */

static struct cursor *cursor_of(struct sse *s, const char *name)
{
    for (size_t i = 0; i < s->ncur; i++)
        if (strcmp(s->cur[i].name, name) == 0)
            return &s->cur[i];
    if (s->ncur == s->capcur) {
        s->capcur = s->capcur ? 2 * s->capcur : 8;
        s->cur = dyn_realloc(s->cur, s->capcur * sizeof(*s->cur));
    }
    struct cursor *c = &s->cur[s->ncur++];
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->quiet = s->priming;
    return c;
}

static void records_start(struct sse *s)
{
    struct node *n = s->n;
    struct round *r = round_new(s, ROUND_RECORDS);
    s->records_busy = 1;
    s->n->stats.http_stream_rounds++;
    char ev[24], tr[24], most[16];
    snprintf(most, sizeof(most), "%d", SSE_TRACES_PER_ROUND);
    struct cursor *self = cursor_of(s, self_name(n));
    struct dbuf out;
    dbuf_init(&out);
    cmd_trace_events(n, self->ev, 2, &out);
    json_t *raw = rjson_reply(out.p, out.len, NULL);
    json_object_set_new(node_entry(r, self->name), "events", records_of(raw));
    json_decref(raw);
    dbuf_reset(&out);
    cmd_trace_since(n, self->tr, SSE_TRACES_PER_ROUND, 2, &out);
    raw = rjson_reply(out.p, out.len, NULL);
    json_object_set_new(node_entry(r, self->name), "traces", records_of(raw));
    json_decref(raw);
    dbuf_free(&out);
    const struct membership *mb = cluster_membership(n);
    for (uint32_t m = 0; mb && m < mb->n; m++) {
        if (mb->m[m].self || MEMBER_IS_TOMBSTONE(mb->m[m].status))
            continue;
        struct cursor *c = cursor_of(s, mb->m[m].name);
        if (!cluster_member_reachable(n, (int)m))
            continue; /* its cursor waits (quiet if made while priming) */
        snprintf(ev, sizeof(ev), "%" PRIu64, c->ev);
        snprintf(tr, sizeof(tr), "%" PRIu64, c->tr);
        struct dyn_arg eav[3] = {{"R.NODES", 7}, {"DYNAMO.EVENTS", 13},
                                 {ev, strlen(ev)}};
        struct dyn_arg tav[5] = {{"R.NODES", 7}, {"DYNAMO.TRACE", 12},
                                 {"SINCE", 5}, {tr, strlen(tr)},
                                 {most, strlen(most)}};
        round_ask(r, (int)m, c->name, "events", 3, eav);
        round_ask(r, (int)m, c->name, "traces", 5, tav);
    }
    s->priming = 0; /* members first seen from now on are read whole */
    round_arm(r);
}

/* The cursor text after the events pushed so far: "n1:5,n2:9". */
static void cursor_text(const struct sse *s, struct dbuf *out)
{
    dbuf_reset(out);
    for (size_t i = 0; i < s->ncur; i++)
        dbuf_printf(out, "%s%s:%" PRIu64, i ? "," : "", s->cur[i].name,
                    s->cur[i].ev);
    dbuf_appendc(out, '\0');
}

static long long int_field(json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name));
}

static int by_time(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    long long tx = int_field(x, "time_ms"), ty = int_field(y, "time_ms");
    if (tx != ty)
        return tx < ty ? -1 : 1;
    const char *nx = json_string_value(json_object_get(x, "node"));
    const char *ny = json_string_value(json_object_get(y, "node"));
    int c = strcmp(nx ? nx : "", ny ? ny : "");
    if (c)
        return c;
    long long ix = int_field(x, "id"), iy = int_field(y, "id");
    return ix < iy ? -1 : ix > iy;
}

/* Collects field ("events" / "traces") of every node into one list sorted
 * by time, moving each node's cursor; a quiet cursor's records are left
 * out.  Returns a new array of borrowed records (in nodes). */
static json_t **collect(struct sse *s, json_t *nodes, const char *field,
                        size_t *count)
{
    size_t cap = 0, k = 0;
    json_t **all = NULL;
    const char *name;
    json_t *e;
    json_object_foreach(nodes, name, e) {
        json_t *list = json_object_get(e, field);
        if (!list)
            continue;
        struct cursor *c = cursor_of(s, name);
        uint64_t *last = field[0] == 'e' ? &c->ev : &c->tr;
        size_t i;
        json_t *rec;
        json_array_foreach(list, i, rec) {
            long long id = int_field(rec, "id");
            if (id <= 0 || (uint64_t)id <= *last)
                continue;
            *last = (uint64_t)id;
            if (c->quiet)
                continue;
            if (field[0] == 't') /* a trace names its coordinator; the
                                  * stream names the node it came from */
                json_object_set_new(rec, "node", json_string(name));
            if (k == cap) {
                cap = cap ? 2 * cap : 16;
                all = dyn_realloc(all, cap * sizeof(*all));
            }
            all[k++] = rec;
        }
    }
    if (k > 1)
        qsort(all, k, sizeof(*all), by_time);
    *count = k;
    return all;
}

static void records_finish(struct sse *s, json_t *nodes)
{
    size_t ne = 0, nt = 0;
    json_t **events = collect(s, nodes, "events", &ne);
    json_t **traces = collect(s, nodes, "traces", &nt);
    const char *name;
    json_t *e;
    json_object_foreach(nodes, name, e) {
        if (json_object_get(e, "events") && json_object_get(e, "traces"))
            cursor_of(s, name)->quiet = 0; /* it answered in full */
    }
    if (ne) {
        /* the id of each is the cursor after all of them: a client that
         * resumes from any of them (/api/events?since=) sees none twice */
        struct dbuf id;
        dbuf_init(&id);
        cursor_text(s, &id);
        for (size_t i = 0; i < ne; i++)
            push_event(s, "event", id.p, events[i]);
        dbuf_free(&id);
    }
    for (size_t i = 0; i < nt; i++)
        push_event(s, "trace", NULL, traces[i]);
    dyn_free(events);
    dyn_free(traces);
}

/* ---- the stats round ----------------------------------------------------------- */

static json_t *path2(json_t *o, const char *a, const char *b)
{
    return json_object_get(json_object_get(o, a), b);
}

static json_t *num_or_zero(json_t *v)
{
    return json_is_number(v) ? json_incref(v) : json_integer(0);
}

static void stats_info_cb(void *arg, json_t *nodes)
{
    stats_finish(arg, nodes);
}

/* One node's figures in a stats event, from its INFO (NULL or {"error"}:
 * it did not answer); status is this node's view of it. */
static json_t *node_figures(json_t *info, const char *status)
{
    json_t *e = json_object();
    int answered = info && !json_object_get(info, "error");
    int killed = answered &&
                 json_integer_value(path2(info, "dynamo", "killed")) != 0;
    json_object_set_new(e, "status", json_string(killed ? "killed"
                                                        : status));
    json_object_set_new(e, "answered", json_boolean(answered));
    json_object_set_new(e, "killed", json_boolean(killed));
    json_object_set_new(e, "ops_per_sec",
                        num_or_zero(path2(info, "stats",
                                          "instantaneous_ops_per_sec")));
    json_object_set_new(e, "p99_us",
                        num_or_zero(path2(info, "stats",
                                          "last_second_p99_usec")));
    json_object_set_new(e, "keys",
                        num_or_zero(json_object_get(
                            path2(info, "keyspace", "db0"), "keys")));
    json_object_set_new(e, "hints_held",
                        num_or_zero(path2(info, "dynamo", "hints_pending")));
    json_t *owners = path2(info, "dynamo", "hints_by_owner");
    json_object_set_new(e, "hints_by_owner", json_is_object(owners)
                                                 ? json_copy(owners)
                                                 : json_object());
    json_object_set_new(e, "used_memory",
                        num_or_zero(path2(info, "memory", "used_memory")));
    json_t *http = path2(info, "server", "http_addr");
    json_object_set_new(e, "http", json_is_string(http) &&
                                           json_string_length(http)
                                       ? json_incref(http)
                                       : json_null());
    return e;
}

static void stats_finish(struct sse *s, json_t *nodes)
{
    struct node *n = s->n;
    s->stats_busy = 0;
    if (s->learn)
        s->learn(s->learn_arg, nodes);
    json_t *out = json_object();
    json_object_set_new(out, "time_ms", json_integer((json_int_t)
                                                     node_wall_ms(n)));
    json_object_set_new(out, "node", json_string(self_name(n)));
    const struct ring *ring = cluster_ring(n);
    json_object_set_new(out, "ring_epoch",
                        json_integer(ring ? (json_int_t)ring->epoch : 0));
    json_object_set_new(out, "n", json_integer(n->cfg.n));
    json_object_set_new(out, "r", json_integer(n->cfg.r));
    json_object_set_new(out, "w", json_integer(n->cfg.w));
    json_t *per = json_object();
    const struct membership *mb = cluster_membership(n);
    for (uint32_t m = 0; mb && m < mb->n; m++) {
        if (MEMBER_IS_TOMBSTONE(mb->m[m].status))
            continue;
        json_t *info = json_object_get(nodes, mb->m[m].name);
        json_object_set_new(per, mb->m[m].name,
                            node_figures(info, mb->m[m].self
                                                   ? "up"
                                                   : member_status_name(
                                                         mb->m[m].status)));
        /* a member that restarted counts its ids from 1 again */
        const char *run = json_string_value(path2(info, "server", "run_id"));
        if (run) {
            struct cursor *c = cursor_of(s, mb->m[m].name);
            if (c->run_id[0] && strcmp(c->run_id, run) != 0) {
                c->ev = c->tr = 0;
                c->quiet = 0;
            }
            snprintf(c->run_id, sizeof(c->run_id), "%s", run);
        }
    }
    if (!mb) /* a node alone */
        json_object_set_new(per, self_name(n),
                            node_figures(json_object_get(nodes,
                                                         self_name(n)),
                                         "up"));
    json_object_set_new(out, "nodes", per);
    push_event(s, "stats", NULL, out);
    json_decref(out);
}

/* ---- the timer ------------------------------------------------------------------- */

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sse *s = arg;
    uint64_t now = node_wall_ms(s->n);
    if (!s->records_busy)
        records_start(s);
    if (!s->stats_busy && now >= s->last_stats_ms + SSE_STATS_MS - 50) {
        s->stats_busy = 1;
        s->last_stats_ms = now;
        sse_gather_info(s, stats_sections, DYN_ARRAY_LEN(stats_sections),
                        stats_info_cb, s);
    }
    if (now >= s->last_ping_ms + SSE_PING_MS) {
        s->last_ping_ms = now;
        static const char ping[] = ": keep-alive\n\n";
        push_all(s, ping, sizeof(ping) - 1);
    }
}

int sse_has_room(const struct sse *s)
{
    return s && s->nsubs < (size_t)s->n->cfg.http_stream_max;
}

void sse_subscribe(struct sse *s, struct evhttp_request *req)
{
    struct node *n = s->n;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply_start(req, 200, "OK");
    struct sse_sub *sub = dyn_calloc(1, sizeof(*sub));
    sub->s = s;
    sub->req = req;
    sub->evcon = evhttp_request_get_connection(req);
    /* nothing is read while the stream runs: no read timeout; a writer
     * that stalls is dropped by SSE_PENDING_MAX */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(sub->evcon);
    if (bev) {
        struct timeval wt = {SSE_PING_MS / 1000 * 4, 0};
        bufferevent_set_timeouts(bev, NULL, &wt);
    }
    http_conn_watch(s->n->http, sub->evcon, sub_closed_cb, sub);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "retry: %d\n: subscribed to %s\n\n", SSE_RETRY_MS,
                        self_name(n));
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
    sub->next = s->subs;
    if (s->subs)
        s->subs->prev = sub;
    s->subs = sub;
    if (s->nsubs++ == 0) {
        s->priming = 1;
        s->ncur = 0;
        s->last_stats_ms = 0;
        s->last_ping_ms = node_wall_ms(n);
        struct timeval tv = {0, SSE_POLL_MS * 1000};
        event_add(s->tick, &tv);
        event_active(s->tick, EV_TIMEOUT, 1); /* the first round now */
    }
    sync_count(s);
}

struct sse *sse_new(struct node *n, sse_info_fn *learn, void *learn_arg)
{
    struct sse *s = dyn_calloc(1, sizeof(*s));
    s->n = n;
    s->learn = learn;
    s->learn_arg = learn_arg;
    s->tick = event_new(n->base, -1, EV_PERSIST, tick_cb, s);
    return s;
}

void sse_free(struct sse *s)
{
    if (!s)
        return;
    while (s->subs) {
        struct sse_sub *sub = s->subs;
        http_conn_watch(s->n->http, sub->evcon, NULL, NULL);
        sub_unlink(sub);
        dyn_free(sub);
    }
    while (s->rounds) {
        struct round *r = s->rounds;
        s->rounds = r->next;
        r->s = NULL;
        r->prev = r->next = NULL;
        r->ended = 1;
        evtimer_del(r->timer);
        round_free_if_done(r);
    }
    event_free(s->tick);
    dyn_free(s->cur);
    dyn_free(s);
}
