/*
 * cmd_trace.c -- what the cluster did, read back from this node's rings:
 *
 *   DYNAMO.TRACE [count]        -> the latest `count` traces (default 10),
 *                                  newest first
 *   DYNAMO.TRACE key            -> the traces of that key still held
 *   DYNAMO.TRACE KEY key        -> the same, for a key that looks like a
 *                                  number
 *   DYNAMO.TRACE SINCE id [max] -> the finished traces with id > id,
 *                                  oldest first, up to the first one still
 *                                  running (trace_since): what a reader
 *                                  that follows the ring asks (the http
 *                                  API's /api/stream); with max, only the
 *                                  newest max of them (a reader that
 *                                  samples a busy node)
 *   DYNAMO.EVENTS [since]       -> every event held with id > since
 *                                  (default 0), oldest first; since may
 *                                  be a cursor "n1:5,n2:9" (per node
 *                                  ids, as GET /api/events gives): this
 *                                  node takes its own, else that of
 *                                  "*" ("*:7,n1:9"), else 0
 *   DYNAMO.VERSIONS [KEY] key   -> the versions of key this node created
 *                                  and still holds, oldest first
 *   DYNAMO.TRACE CLUSTER ... / DYNAMO.EVENTS CLUSTER ...
 *   / DYNAMO.VERSIONS CLUSTER [KEY] key
 *                               -> the same of every reachable member,
 *                                  concatenated, this node's first (the
 *                                  coordinator's COMBINE_NODES: R.NODES);
 *                                  each record names its node, event ids
 *                                  are per node.  A member that could
 *                                  not be asked, failed or stayed silent
 *                                  for request-timeout-ms (killed) adds
 *                                  one record {node, unanswered: why}
 *                                  at the end: the others' records are
 *                                  still the answer.  Flat arrays (RESP2
 *                                  maps) whatever the protocol.  A key
 *                                  named CLUSTER: DYNAMO.TRACE KEY CLUSTER
 *                                  (DYNAMO.VERSIONS KEY CLUSTER)
 *
 * The rings are cluster/trace.c and cluster/evlog.c, in struct node; the
 * request path and the cluster services write them (coordinator.c,
 * handoff.c, members.c, ...).  The version history is cluster/vhist.c,
 * written by db_write where a version is made (server/db.c), so a version
 * is held by the node that coordinated its write (CLUSTER gathers them);
 * dots and clocks name actors as DYNAMO.VCLOCK does (node_actor_name).  This file only renders them, one map per
 * record, so a client (or the dashboard) reads fields by name:
 *
 *   trace:   id time_ms op key [key_len] coordinator forwarded_from n r w
 *            read_quorum_us write_quorum_us done_us outcome replicas
 *   replica: node role (owner | stand-in) status up standin_for
 *            read (- | asked | ok | failed) read_us version
 *            write (- | asked | ok | failed) write_us hint repaired
 *   event:   id time_ms node type, then the event's own fields
 *   version: dot clock actor actor_id node time_ms op (put | delete)
 *            value (the first 64 bytes) size supersedes (dots)
 *            supersedes_more (dots left out) clock_cut (entries left out)
 *
 * Latencies are microseconds from the start of the operation; 0 means
 * "never" (no answer, quorum not reached).  A trace is recorded only by
 * the node that coordinated the operation: a node that forwarded it has
 * none, the coordinator's says forwarded_from.  trace-max 0 (or
 * event-max 0, version-history 0), or a node outside a cluster: nothing
 * is recorded and the replies are empty arrays.
 *
 * Errors: a count that is not a positive integer, a since that is not a
 * non-negative integer or a cursor of name:id pairs, a missing key, too
 * many arguments: -ERR with the usage.
 *
 * Thread-safety: the event loop owns the node and its rings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/evlog.h"
#include "cluster/membership.h"
#include "cluster/trace.h"
#include "cluster/vclock.h"
#include "cluster/vhist.h"
#include "server/client.h"
#include "server/cmd_trace.h"
#include "server/command.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

#define TRACE_DEFAULT_COUNT 10

static void kv_str(struct dbuf *b, const char *k, const char *v)
{
    reply_bulk_cstr(b, k);
    reply_bulk_cstr(b, v);
}

static void kv_int(struct dbuf *b, const char *k, long long v)
{
    reply_bulk_cstr(b, k);
    reply_int(b, v);
}

static const char *step(uint32_t f, uint32_t asked, uint32_t ok,
                        uint32_t failed)
{
    return f & ok ? "ok" : f & failed ? "failed" : f & asked ? "asked" : "-";
}

static void reply_replica(struct dbuf *b, int resp,
                          const struct trace_rep *r)
{
    char version[64] = "";
    if (r->flags & TR_READ_OK && r->siblings)
        snprintf(version, sizeof(version), "%u sibling%s, digest %016" PRIx64,
                 r->siblings, r->siblings == 1 ? "" : "s", r->digest);
    else if (r->flags & TR_READ_OK && !(r->flags & TR_SELF))
        snprintf(version, sizeof(version), "not found");
    reply_map(b, resp, 13);
    kv_str(b, "node", r->name);
    kv_str(b, "role", r->flags & TR_OWNER ? "owner" : "stand-in");
    kv_str(b, "status", member_status_name((enum member_status)r->status));
    kv_int(b, "up", !!(r->flags & TR_UP));
    kv_str(b, "standin_for", r->standin_for);
    kv_str(b, "read",
           step(r->flags, TR_READ_ASKED, TR_READ_OK, TR_READ_FAILED));
    kv_int(b, "read_us", r->read_us);
    kv_str(b, "version", version);
    kv_str(b, "write",
           step(r->flags, TR_WRITE_ASKED, TR_WRITE_OK, TR_WRITE_FAILED));
    kv_int(b, "write_us", r->write_us);
    kv_int(b, "hint", !!(r->flags & TR_HINT_KEPT));
    kv_int(b, "repaired", !!(r->flags & TR_REPAIRED));
    kv_int(b, "self", !!(r->flags & TR_SELF));
}

static void reply_trace(struct dbuf *b, int resp, const struct trace *t)
{
    reply_map(b, resp, 15);
    kv_int(b, "id", (long long)t->id);
    kv_int(b, "time_ms", (long long)t->wall_ms);
    kv_str(b, "op", t->op);
    reply_bulk_cstr(b, "key");
    reply_bulk(b, t->key, DYN_MIN(t->klen, (uint32_t)TRACE_KEY_MAX));
    kv_int(b, "key_len", t->klen);
    kv_str(b, "coordinator", t->coordinator);
    kv_str(b, "forwarded_from", t->forwarded_from);
    kv_int(b, "n", t->n);
    kv_int(b, "r", t->r);
    kv_int(b, "w", t->w);
    kv_int(b, "read_quorum_us", t->read_quorum_us);
    kv_int(b, "write_quorum_us", t->write_quorum_us);
    kv_int(b, "done_us", t->done_us);
    kv_str(b, "outcome", t->outcome[0] ? t->outcome : "pending");
    reply_bulk_cstr(b, "replicas");
    reply_array(b, t->nrep);
    for (uint32_t i = 0; i < t->nrep; i++)
        reply_replica(b, resp, &t->rep[i]);
}

void cmd_trace_since(struct node *n, uint64_t since, uint32_t newest,
                     int resp, struct dbuf *out)
{
    const struct trace_ring *ring = &n->traces;
    uint32_t max = ring->cap ? ring->cap : 1;
    const struct trace **list = dyn_malloc(sizeof(*list) * max);
    /* an op ends within its phases' request timeouts; twice that over,
     * its trace has lost its end (see trace_since) */
    uint64_t stale = 4 * (uint64_t)n->cfg.request_timeout_ms;
    uint32_t k = trace_since(ring, since, node_wall_ms(n), stale, list, max);
    uint32_t skip = k > newest ? k - newest : 0; /* the newest of them */
    reply_array(out, k - skip);
    for (uint32_t i = skip; i < k; i++)
        reply_trace(out, resp, list[i]);
    dyn_free(list);
}

void cmd_trace_events(struct node *n, uint64_t since, int resp,
                      struct dbuf *out)
{
    const struct evlog *ring = &n->events;
    uint32_t max = ring->cap ? ring->cap : 1;
    const struct evlog_entry **list = dyn_malloc(sizeof(*list) * max);
    uint32_t k = evlog_since(ring, since, list, ring->cap);
    const char *node = n->cfg.node_name ? n->cfg.node_name : "";
    reply_array(out, k);
    for (uint32_t i = 0; i < k; i++) {
        const struct evlog_entry *e = list[i];
        reply_map(out, resp, 4 + e->nf);
        kv_int(out, "id", (long long)e->id);
        kv_int(out, "time_ms", (long long)e->wall_ms);
        kv_str(out, "node", node);
        kv_str(out, "type", evlog_type_name(e->type));
        for (uint32_t f = 0; f < e->nf; f++)
            kv_str(out, e->f[f].name, e->f[f].value);
    }
    dyn_free(list);
}

/* A leading CLUSTER is the coordinator's (nodes_start gathers, and runs
 * this handler without it); a node alone answers for itself.  Drops it
 * (argv[0], the name, is not read). */
static void skip_cluster(int *argc, const struct dyn_arg **argv)
{
    if (*argc >= 2 && dyn_arg_is((*argv)[1].p, (*argv)[1].len, "cluster")) {
        (*argv)++;
        (*argc)--;
    }
}

/* DYNAMO.TRACE [count | key | KEY key] */
static void dynamo_trace(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    skip_cluster(&argc, &argv);
    const struct trace_ring *ring = &c->node->traces;
    long long count = TRACE_DEFAULT_COUNT;
    const char *key = NULL;
    size_t klen = 0;
    if ((argc == 3 || argc == 4) &&
        dyn_arg_is(argv[1].p, argv[1].len, "since")) {
        unsigned long long since, max = UINT32_MAX;
        if (dyn_str2ull(argv[2].p, argv[2].len, &since) != 0 ||
            (argc == 4 && (dyn_str2ull(argv[3].p, argv[3].len, &max) != 0 ||
                           max < 1))) {
            client_error(c, "ERR syntax: DYNAMO.TRACE SINCE id [max] (a "
                            "trace id, and a positive count)");
            return;
        }
        cmd_trace_since(c->node, since, (uint32_t)DYN_MIN(max, UINT32_MAX),
                        c->resp, &c->obuf);
        return;
    }
    if (argc == 3) {
        if (!dyn_arg_is(argv[1].p, argv[1].len, "key")) {
            client_error(c, "ERR syntax: DYNAMO.TRACE [count | key | KEY "
                            "key | SINCE id]");
            return;
        }
        key = argv[2].p;
        klen = argv[2].len;
    } else if (argc == 2) {
        long long v;
        if (dyn_str2ll(argv[1].p, argv[1].len, &v) == 0) {
            if (v < 1) {
                client_error(c, "ERR DYNAMO.TRACE count must be a positive "
                                "integer");
                return;
            }
            count = v;
        } else if (argv[1].len && (argv[1].p[0] == '-' ||
                                   (argv[1].p[0] >= '0' &&
                                    argv[1].p[0] <= '9'))) {
            /* "-1", "1.5", "99999999999999999999": meant as a count */
            client_error(c, "ERR DYNAMO.TRACE count must be a positive "
                            "integer (use DYNAMO.TRACE KEY k for a key that "
                            "looks like a number)");
            return;
        } else {
            key = argv[1].p;
            klen = argv[1].len;
        }
    } else if (argc > 3) {
        client_error(c, "ERR syntax: DYNAMO.TRACE [count | key | KEY key | "
                        "SINCE id]");
        return;
    }
    uint32_t max = (uint32_t)DYN_MIN((long long)ring->cap, count);
    const struct trace **out = dyn_malloc(sizeof(*out) * (max ? max : 1));
    uint32_t k = trace_list(ring, key, klen, out, max);
    reply_array(&c->obuf, k);
    for (uint32_t i = 0; i < k; i++)
        reply_trace(&c->obuf, c->resp, out[i]);
    dyn_free(out);
}

/* A cursor "name:id,name:id,...": this node's id into *since; if it is
 * not named, the id of the name "*", else 0.  -1 if it is not one. */
static int cursor_since(const char *p, size_t len, const char *self,
                        unsigned long long *since)
{
    unsigned long long mine = 0, star = 0;
    int named = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && p[e] != ',')
            e++;
        const char *colon = memchr(p + i, ':', e - i);
        unsigned long long id;
        if (!colon || colon == p + i ||
            dyn_str2ull(colon + 1, (size_t)(p + e - colon - 1), &id) != 0)
            return -1;
        size_t nl = (size_t)(colon - (p + i));
        if (strlen(self) == nl && memcmp(self, p + i, nl) == 0) {
            mine = id;
            named = 1;
        } else if (nl == 1 && p[i] == '*') {
            star = id;
        }
        i = e + 1;
        if (e < len && i == len)
            return -1; /* a trailing comma */
    }
    *since = named ? mine : star;
    return len ? 0 : -1;
}

/* DYNAMO.EVENTS [since | cursor] */
static void dynamo_events(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    skip_cluster(&argc, &argv);
    unsigned long long since = 0;
    if (argc > 2) {
        client_error(c, "ERR syntax: DYNAMO.EVENTS [since | cursor]");
        return;
    }
    const char *node = c->node->cfg.node_name ? c->node->cfg.node_name : "";
    if (argc == 2 && dyn_str2ull(argv[1].p, argv[1].len, &since) != 0 &&
        cursor_since(argv[1].p, argv[1].len, node, &since) != 0) {
        client_error(c, "ERR DYNAMO.EVENTS since must be an event id (a "
                        "non-negative integer) or a cursor name:id,...");
        return;
    }
    cmd_trace_events(c->node, since, c->resp, &c->obuf);
}

/* vclock_format's naming callback (as DYNAMO.VCLOCK's). */
static const char *actor_name(void *ctx, uint64_t actor)
{
    return node_actor_name(ctx, actor);
}

static void format_dot(const struct node *n, struct vhist_dot d,
                       struct dbuf *out)
{
    const char *name = node_actor_name(n, d.actor);
    if (name)
        dbuf_printf(out, "%s:%" PRIu64, name, d.counter);
    else
        dbuf_printf(out, "%016" PRIx64 ":%" PRIu64, d.actor, d.counter);
}

static void reply_version(struct client *c, const struct vhist_version *v,
                          struct vclock *clk, struct dbuf *tmp)
{
    struct node *n = c->node;
    reply_map(&c->obuf, c->resp, 12);
    dbuf_reset(tmp);
    format_dot(n, v->dot, tmp);
    reply_bulk_cstr(&c->obuf, "dot");
    reply_bulk(&c->obuf, tmp->p, tmp->len);
    vhist_clock(v, clk);
    dbuf_reset(tmp);
    vclock_format(clk, tmp, actor_name, n);
    reply_bulk_cstr(&c->obuf, "clock");
    reply_bulk(&c->obuf, tmp->p, tmp->len);
    const char *name = node_actor_name(n, v->dot.actor);
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, v->dot.actor);
    kv_str(&c->obuf, "actor", name ? name : hex);
    kv_str(&c->obuf, "actor_id", hex);
    kv_str(&c->obuf, "node", n->cfg.node_name ? n->cfg.node_name : "");
    kv_int(&c->obuf, "time_ms", (long long)v->time_ms);
    kv_str(&c->obuf, "op", v->tombstone ? "delete" : "put");
    reply_bulk_cstr(&c->obuf, "value");
    reply_bulk(&c->obuf, v->value, v->vlen);
    kv_int(&c->obuf, "size", v->size);
    reply_bulk_cstr(&c->obuf, "supersedes");
    reply_array(&c->obuf, v->nsup);
    for (uint32_t i = 0; i < v->nsup; i++) {
        dbuf_reset(tmp);
        format_dot(n, v->sup[i], tmp);
        reply_bulk(&c->obuf, tmp->p, tmp->len);
    }
    kv_int(&c->obuf, "supersedes_more", v->sup_more);
    kv_int(&c->obuf, "clock_cut", v->clock_cut);
}

/* DYNAMO.VERSIONS [KEY] key */
static void dynamo_versions(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    skip_cluster(&argc, &argv);
    if (argc == 3 && dyn_arg_is(argv[1].p, argv[1].len, "key")) {
        argv++;
        argc--;
    }
    if (argc != 2) {
        client_error(c, "ERR syntax: DYNAMO.VERSIONS [CLUSTER] [KEY] key");
        return;
    }
    const struct vhist *h = &c->node->versions;
    const struct vhist_version **out =
        dyn_malloc(sizeof(*out) * (h->bound ? h->bound : 1));
    uint32_t k = vhist_list(h, argv[1].p, argv[1].len, out, h->bound);
    struct vclock clk;
    struct dbuf tmp;
    vclock_init(&clk);
    dbuf_init(&tmp);
    reply_array(&c->obuf, k);
    for (uint32_t i = 0; i < k; i++)
        reply_version(c, out[i], &clk, &tmp);
    dbuf_free(&tmp);
    vclock_free(&clk);
    dyn_free(out);
}

const struct command cmd_trace_table[] = {
    {"dynamo.trace", dynamo_trace, -1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's latest traces of the quorum operations it "
     "coordinated, or those of one key.",
     "O(T) where T is trace-max.", NULL, ROUTE_ALL, COMBINE_NODES, NULL, 0},
    {"dynamo.events", dynamo_events, -1, CMD_READONLY | CMD_DYNAMO, 0, 0, 0,
     "@read @slow", "dynamo", "1.0.0",
     "Shows this node's cluster events newer than an event id.",
     "O(E) where E is event-max.", NULL, ROUTE_ALL, COMBINE_NODES, NULL, 0},
    {"dynamo.versions", dynamo_versions, -2, CMD_READONLY | CMD_DYNAMO, 0, 0,
     0, "@read @slow", "dynamo", "1.0.0",
     "Shows the versions of a key this node created (its version history), "
     "each with its clock and the versions it superseded.",
     "O(V) where V is version-history.", NULL, ROUTE_ALL, COMBINE_NODES,
     NULL, 0},
    {NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0,
     NULL, 0},
};
