/*
 * http.c -- the JSON API: libevent's evhttp on the node's own loop, at
 * http-port on every bind address (0: off).
 *
 * Why it is built this way: every answer must be what the cluster really
 * does, so the API has no logic of its own about keys, quorums or
 * members.  It runs the same commands a RESP client would, through the
 * same path (dispatch_request: arity, statistics, the pipeline, the
 * coordinator), on a client of its own that has no socket, and converts
 * their RESP3 replies to JSON (rjson.c).  Only GET /api/cluster and
 * /metrics read something no command gives: every node's INFO, which
 * they ask of each member over the peer bus (R.INFO, server/cmd_info.c).
 *
 * A request's life:
 *
 *   evhttp ──> http_request_cb
 *      access: protected mode (403), Host and Origin (403), password (401)
 *      route:  path -> row of the table (404), method (405 + Allow),
 *              body <= HTTP_BODY_MAX (413), a JSON object (400)
 *      ──> struct hcall, the row's endpoint at step 0
 *   endpoint ──> hcall_run(argv)            one command at a time
 *      a client with no socket: c->ev_write is our event, fd -1
 *      dispatch_request(c, argv) ──> (pipeline ──> coordinator ──> peers)
 *      the reply is complete when the client is not CLIENT_BLOCKED and
 *      its write event fired (client_unblock / our own event_active, so
 *      an endpoint never runs inside the call that started its command)
 *   hcall_done_cb ──> reply bytes to JSON ──> endpoint, step + 1
 *   endpoint ──> hcall_answer(status, json)  or the next command
 *
 * Endpoints (the table at the end):
 *   GET    /api/cluster              members (DYNAMO.MEMBERS), ring epoch,
 *                                    N/R/W, per node INFO's figures, and
 *                                    "spares" (DYNAMO.SPARES: spare-node
 *                                    lines that are not members)
 *   GET    /api/cluster/config       N, R, W
 *   POST   /api/cluster/config       {n,r,w} (any subset): DYNAMO.CONFIG SET
 *   GET    /api/data?cursor=&match=&count=
 *                                    SCAN of the whole cluster, as many
 *                                    steps as count keys take (<= 256)
 *   GET    /api/data/:key            DYNAMO.GET + DYNAMO.VCLOCK: values,
 *                                    context, each version's clock (404 when
 *                                    no value is live; the body still holds
 *                                    the context), and "trace": the newest
 *                                    trace of the key's DYNAMO.GET (PUT:
 *                                    DYNAMO.PUT) from any node (DYNAMO.TRACE
 *                                    CLUSTER KEY), or null
 *   PUT    /api/data/:key            {"value", "context"?, "w"?}: DYNAMO.PUT,
 *                                    then the key as GET shows it
 *   DELETE /api/data/:key            {"context"?}: DYNAMO.DEL with it, DEL
 *                                    without
 *   GET    /api/ring                 DYNAMO.RING
 *   GET    /api/ring/key/:key        DYNAMO.PREFLIST
 *   GET    /api/versions/:key        the key's version history: every
 *                                    node's (DYNAMO.VERSIONS CLUSTER KEY),
 *                                    one entry per dot, oldest first, each
 *                                    with its clock, actor, node, time, op,
 *                                    value preview, size and the dots it
 *                                    superseded; "bound" (version-history)
 *                                    and "live": the current siblings' dots
 *                                    (DYNAMO.VCLOCK, a quorum read; null
 *                                    with "live_error" when it fails; a
 *                                    history not gathered in time:
 *                                    "history_error").  A
 *                                    live version no history holds is
 *                                    listed from its clock, "recorded":
 *                                    false
 *   POST   /api/nodes                {"addr"}: a spare-node of this node:
 *                                    DYNAMO.ADD (it is told over the peer
 *                                    bus to join through this node); any
 *                                    other address: DYNAMO.JOIN
 *   DELETE /api/nodes/:id            this node: DYNAMO.LEAVE; a member that
 *                                    is down: DYNAMO.FORGET; a live other
 *                                    member: DYNAMO.LEAVE name (it is told
 *                                    over the peer bus to leave)
 *   POST   /api/nodes/:id/kill       {"seconds"?}: DYNAMO.KILL
 *   POST   /api/nodes/:id/revive     DYNAMO.REVIVE
 *   GET    /api/events?since=        DYNAMO.EVENTS CLUSTER since: every
 *                                    member's events merged by time_ms,
 *                                    with "cursor" (per node last ids: the
 *                                    next since) and "unanswered"
 *   GET    /api/merkle               DYNAMO.RING + DYNAMO.ROOTS CLUSTER:
 *                                    each partition's replicas' roots,
 *                                    in_sync, the count divergent
 *   GET    /api/merkle/:partition    DYNAMO.MERKLE partition: roots and
 *                                    the differing leaves (400 not a
 *                                    number, 404 no such partition)
 *   GET    /api/gossip               DYNAMO.GOSSIP CLUSTER: each node's
 *                                    member view and last gossip rounds
 *   GET    /api/faults               DYNAMO.FAULT LIST
 *   POST   /api/faults               {"from":[..], "to":[..], "delay_ms"?,
 *                                    "both"?}: DYNAMO.FAULT per pair
 *   DELETE /api/faults               DYNAMO.FAULT CLEAR ALL
 *   GET    /metrics                  Prometheus text of every node's INFO
 *   GET    /api/stream               Server-Sent Events of the whole
 *                                    cluster: "stats" each second, every
 *                                    member's new "event"s and finished
 *                                    "trace"s (sse.c: polled over the peer
 *                                    bus only while subscribed); 503 past
 *                                    http-stream-max
 *   GET    /                         the dashboard page (index.html)
 *   GET    /ui/<name>                its stylesheet and ES modules
 *
 * The page: serve_page answers / and /ui/<name> from the table that
 * tools/embed-www builds from server/http/www/ at build time (www.h: name,
 * content type, bytes), so a node needs no file beside its binary and
 * reads nothing at request time; a name not in the table is a JSON 404.
 * The page and its files need no password (they hold nothing secret, and
 * the page must load to show its password form when the API answers
 * 401); protected mode, Host and Origin are checked as for the API.  They
 * carry Cache-Control: no-cache (a new build is seen at once) and a
 * Content-Security-Policy that allows only this node's scripts and
 * styles (the page has no inline script or style) and API calls to any
 * http origin (each member checks the Origin it is called from).  The
 * page reads the stream with fetch() and the Authorization header, never
 * a token in the URL.
 *
 * Access (hreq.h tells why): with protected-mode on and no requirepass,
 * only loopback peers are served, as on the client port.  Every request
 * must name this node in Host (its node-name, bind addresses,
 * cluster-announce-ip, host name, the address it reached, or localhost)
 * and, when it has an Origin, come from this node's own http origin or
 * the exact http origin of a cluster member (learned from the members'
 * INFO http_addr: at start, LEARN_FIRST_MS later and again while one is
 * missing, and at every /api/cluster and stream round; hreq is given the
 * list).  A member's origin is answered with Access-Control-Allow-Origin:
 * <that origin> and Vary: Origin (never "*"), and its OPTIONS preflight
 * with 204 before the password check (a preflight has no credentials): the
 * page served by one node calls the others directly.  Any other origin
 * gets 403, preflight included.  With requirepass, the password is
 * required (Bearer, or Basic with any user).  Connections are bounded by
 * http-max-connections (counted from their first request: see "the
 * connection cap").  State changes are POST, PUT and DELETE only (the
 * table has no GET that changes anything).  Errors are JSON {"error":
 * "..."}: 400 bad JSON or fields, 401, 403, 404 unknown path or member,
 * 405 with Allow,
 * 413 body over HTTP_BODY_MAX (evhttp itself refuses, with its own page,
 * a body over twice that before reading it), 503 when the cluster could
 * not answer (NOQUORUM, TIMEOUT, a killed node).  Nothing is read from
 * the filesystem at request time.
 *
 * Invariants: evhttp's close callback of every connection that sent a
 * request is hconn_closed_cb, which tells the connection's watcher (an
 * hcall or a stream subscriber, http_conn_watch); a struct hcall lives
 * until it answered or its connection closed, and then until the command
 * it has in flight completes (its client is freed then, never inside
 * dispatch); a gather (R.INFO) keeps a count of outstanding peer callbacks
 * and frees itself after the last, whether or not its hcall is still
 * there.
 *
 * Thread-safety: event loop only.  Errors: a request never crashes the
 * node; a command's error becomes the JSON error.
 */
#include "server/http/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <jansson.h>
#include "cluster/announce.h"
#include "cluster/cluster.h"
#include "cluster/membership.h"
#include "cluster/ring.h"
#include "server/client.h"
#include "server/cmd_info.h"
#include "server/dispatch.h"
#include "server/http/hreq.h"
#include "server/http/rjson.h"
#include "server/http/www.h"
#include "server/http/sse.h"
#include "server/log.h"
#include "server/node.h"
#include "server/pipeline.h"
#include "server/util.h"

/* Request bodies are small JSON objects; a PUT's value is the largest. */
#define HTTP_BODY_MAX (64 * 1024)
#define HTTP_HEADERS_MAX (16 * 1024)
#define HTTP_TIMEOUT_S 60
#define HTTP_MAX_ARGS 8
/* INFO sections per node in /api/cluster and /metrics */
static const char *const cluster_sections[] = {"server", "memory",
                                               "keyspace", "dynamo"};
/* INFO sections that say where a member's http API is */
static const char *const origin_sections[] = {"server"};
/* the first look at the members' http origins: LEARN_FIRST_MS after
 * start, then every LEARN_AGAIN_MS while a member's is unknown, at most
 * LEARN_TRIES times (every /api/cluster and stream round learns too) */
#define LEARN_FIRST_MS 1000
#define LEARN_AGAIN_MS 5000
#define LEARN_TRIES 12
static const char *const metric_sections[] = {"clients", "memory", "stats",
                                              "keyspace", "dynamo"};

struct hcall;
typedef void endpoint_fn(struct hcall *hc, json_t *reply, int failed);

struct route {
    const char *pattern;
    unsigned method;        /* one enum hreq_method bit */
    endpoint_fn *fn;
};

struct gather;
struct hconn;

struct http {
    struct node *node;
    struct evhttp *eh;
    struct hcall *calls;    /* in flight */
    char *names[24];        /* names that mean this node (Host, Origin) */
    size_t nnames;
    struct sse *sse;        /* GET /api/stream (sse.c) */
    /* the members' http origins, learned from their INFO: {name:
     * "http://host:port"}, and the same as a list for hreq */
    json_t *origins;
    const char **origin_list;
    size_t norigins;
    struct event *learn_ev;
    int learn_tries;
    /* the listeners, paused at http-max-connections (the count is
     * INFO's http_connections) */
    struct evconnlistener *listeners[16];
    size_t nlisteners;
    int paused;
    struct hconn *conns;    /* connections that sent a request */
};

struct hcall {
    struct http *h;
    struct evhttp_request *req;     /* NULL once the connection closed */
    struct evhttp_connection *evcon;
    const struct route *rt;
    char *param;            /* the path's :key / :id, decoded */
    size_t plen;
    json_t *body;           /* the request's JSON object, or NULL */
    struct evkeyvalq query;
    int step;               /* commands completed so far */
    json_t *acc;            /* what the endpoint keeps between steps */
    int phase;              /* the endpoint's own state */
    struct client *c;       /* the command in flight, or NULL */
    char cmdname[32];       /* its name, for errors */
    struct gather *g;       /* the R.INFO gather in flight, or NULL */
    struct hcall *prev, *next;
};

/* ---- the connection cap ---------------------------------------------------- */

/* evhttp (2.1) has no connection limit and no hook where a connection
 * ends except its one close callback, so that callback is ours on every
 * connection (hconn_closed_cb), and whoever else wants to hear of the
 * close (a request's hcall, a stream subscriber) registers through
 * http_conn_watch.  A connection is counted from its first request (evhttp
 * gives us nothing before): at http-max-connections the listeners stop
 * accepting, so further clients wait in the kernel's backlog, and they
 * resume when a connection closes; a request on a connection accepted
 * meanwhile over the cap gets 503 and the connection is closed.  One that
 * never sends a request is closed by evhttp's timeout (HTTP_TIMEOUT_S). */
struct hconn {
    struct evhttp_connection *evcon;
    http_close_fn *fn;      /* who else hears of the close, or NULL */
    void *arg;
    struct http *h_owner;
    struct hconn *prev, *next;
};

static void listeners_set(struct http *h, int paused)
{
    if (h->paused == paused)
        return;
    h->paused = paused;
    for (size_t i = 0; i < h->nlisteners; i++) {
        if (paused)
            evconnlistener_disable(h->listeners[i]);
        else
            evconnlistener_enable(h->listeners[i]);
    }
}

static void hconn_forget(struct http *h, struct hconn *c)
{
    struct node *n = h->node;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    dyn_free(c);
    n->stats.http_connections--;
    if (n->stats.http_connections < (uint64_t)n->cfg.http_max_connections)
        listeners_set(h, 0);
}

static void hconn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    struct hconn *c = arg;
    http_close_fn *fn = c->fn;
    void *fn_arg = c->arg;
    hconn_forget(c->h_owner, c);
    if (fn)
        fn(evcon, fn_arg);
}

static struct hconn *hconn_find(struct http *h, struct evhttp_connection *evcon)
{
    for (struct hconn *c = h->conns; c; c = c->next)
        if (c->evcon == evcon)
            return c;
    return NULL;
}

/* Counts evcon on its first request; 0, or -1 when it is over the cap. */
static int hconn_track(struct http *h, struct evhttp_connection *evcon)
{
    struct node *n = h->node;
    if (hconn_find(h, evcon))
        return 0;
    if (n->stats.http_connections >= (uint64_t)n->cfg.http_max_connections)
        return -1;
    struct hconn *c = dyn_calloc(1, sizeof(*c));
    c->evcon = evcon;
    c->h_owner = h;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    evhttp_connection_set_closecb(evcon, hconn_closed_cb, c);
    if (++n->stats.http_connections >= (uint64_t)n->cfg.http_max_connections)
        listeners_set(h, 1);
    return 0;
}

void http_conn_watch(struct http *h, struct evhttp_connection *evcon,
                     http_close_fn *fn, void *arg)
{
    struct hconn *c = evcon ? hconn_find(h, evcon) : NULL;
    if (c) {
        c->fn = fn;
        c->arg = arg;
    }
}

void http_conn_close(struct http *h, struct evhttp_connection *evcon)
{
    struct hconn *c = hconn_find(h, evcon);
    if (c)
        hconn_forget(h, c);
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    evhttp_connection_free(evcon);
}

/* ---- answers ------------------------------------------------------------- */

static void hcall_free(struct hcall *hc);

static void send_json(struct evhttp_request *req, int status, json_t *j)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", "application/json");
    evhttp_add_header(out, "Cache-Control", "no-store");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    struct evbuffer *b = evbuffer_new();
    if (text) {
        evbuffer_add(b, text, strlen(text));
        evbuffer_add(b, "\n", 1);
    }
    free(text);
    static const struct {
        int code;
        const char *reason;
    } reasons[] = {{200, "OK"},
                   {400, "Bad Request"},
                   {401, "Unauthorized"},
                   {403, "Forbidden"},
                   {404, "Not Found"},
                   {405, "Method Not Allowed"},
                   {409, "Conflict"},
                   {413, "Payload Too Large"},
                   {500, "Internal Server Error"},
                   {503, "Service Unavailable"}};
    const char *reason = "Error";
    for (size_t i = 0; i < DYN_ARRAY_LEN(reasons); i++)
        if (reasons[i].code == status)
            reason = reasons[i].reason;
    evhttp_send_reply(req, status, reason, b);
    evbuffer_free(b);
}

static json_t *error_json(const char *msg)
{
    json_t *e = json_object();
    json_object_set_new(e, "error", rjson_string(msg, strlen(msg)));
    return e;
}

static void send_error(struct evhttp_request *req, int status, const char *msg)
{
    json_t *e = error_json(msg);
    send_json(req, status, e);
    json_decref(e);
}

/* Answers (takes j) and ends the call. */
static void hcall_answer(struct hcall *hc, int status, json_t *j)
{
    if (hc->req) {
        http_conn_watch(hc->h, hc->evcon, NULL, NULL);
        send_json(hc->req, status, j);
        hc->req = NULL;
    }
    json_decref(j);
    hcall_free(hc);
}

static void hcall_error(struct hcall *hc, int status, const char *msg)
{
    hcall_answer(hc, status, error_json(msg));
}

/* A command's error reply as an answer: the cluster could not serve it
 * (503), or the request was wrong (400). */
static void hcall_command_error(struct hcall *hc, json_t *reply)
{
    const char *text = json_string_value(json_object_get(reply, "error"));
    if (!text)
        text = "ERR the command failed";
    static const char *const unavailable[] = {
        "NOQUORUM", "TIMEOUT", "KILLED", "LOADING", "TRYAGAIN", "MISCONF",
        "UNAVAILABLE", "BUSY"};
    int status = 400;
    for (size_t i = 0; i < DYN_ARRAY_LEN(unavailable); i++)
        if (strncmp(text, unavailable[i], strlen(unavailable[i])) == 0)
            status = 503;
    if (strstr(text, "not in a cluster"))
        status = 404;
    json_t *e = error_json(text);
    json_object_set_new(e, "command", json_string(hc->cmdname));
    hcall_answer(hc, status, e);
}

/* ---- commands through the request path ----------------------------------- */

static void client_gone(struct client *c)
{
    client_free(c); /* net.c's: unlinks, cancels the pipeline, frees */
}

static void hcall_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct hcall *hc = arg;
    struct client *c = hc->c;
    if (c->flags & CLIENT_BLOCKED)
        return; /* not complete yet: the pipeline unblocks it */
    int closed = (c->flags & (CLIENT_CLOSE_ASAP | CLIENT_CLOSE_AFTER_REPLY)) &&
                 c->obuf.len == 0;
    json_t *reply = closed ? NULL : rjson_reply(c->obuf.p, c->obuf.len, NULL);
    int failed = c->obuf.len > 0 && (c->obuf.p[0] == '-' || c->obuf.p[0] == '!');
    hc->c = NULL;
    client_gone(c);
    if (!hc->req) { /* the connection closed meanwhile */
        json_decref(reply);
        hcall_free(hc);
        return;
    }
    if (!reply) {
        hcall_error(hc, 500, closed ? "ERR the request's client was closed"
                                    : "ERR unreadable reply");
        return;
    }
    hc->step++;
    hc->rt->fn(hc, reply, failed);
    json_decref(reply);
}

/* Runs argv as this call's next command; the endpoint is called back with
 * its reply from the loop. */
static void hcall_run(struct hcall *hc, int argc, const struct dyn_arg *argv)
{
    struct node *n = hc->h->node;
    struct client *c = dyn_calloc(1, sizeof(*c));
    c->node = n;
    c->id = n->next_client_id++;
    c->fd = -1;
    const char *peer = "?";
    ev_uint16_t port = 0;
    if (hc->evcon)
        evhttp_connection_get_peer(hc->evcon, (char **)&peer, &port);
    snprintf(c->addr, sizeof(c->addr), "%s:%u", peer, (unsigned)port);
    snprintf(c->laddr, sizeof(c->laddr), "http:%d", n->cfg.http_port);
    dbuf_init(&c->qbuf);
    dbuf_init(&c->obuf);
    outq_init(&c->oq);
    resp_init(&c->parser);
    c->resp = 3;
    c->authenticated = 1; /* the API checked the password */
    c->ctime_ms = c->last_ms = node_turn_ms(n);
    c->name = dyn_strdup("http-api");
    c->ev_write = event_new(n->base, -1, 0, hcall_done_cb, hc);
    c->next = n->clients;
    if (n->clients)
        n->clients->prev = c;
    n->clients = c;
    n->nclients++;
    hc->c = c;
    snprintf(hc->cmdname, sizeof(hc->cmdname), "%.*s", (int)argv[0].len,
             argv[0].p);
    dispatch_request(c, argc, argv);
    if (!(c->flags & CLIENT_BLOCKED))
        event_active(c->ev_write, EV_WRITE, 1);
}

/* hcall_run of C strings. */
static void hcall_runv(struct hcall *hc, int argc, const char *const *args)
{
    struct dyn_arg av[HTTP_MAX_ARGS];
    dyn_assert(argc <= HTTP_MAX_ARGS);
    for (int i = 0; i < argc; i++) {
        av[i].p = args[i];
        av[i].len = strlen(args[i]);
    }
    hcall_run(hc, argc, av);
}

/* ---- the R.INFO gather ---------------------------------------------------- */

struct gather {
    struct hcall *hc;       /* NULL once it answered or went away */
    json_t *nodes;          /* {"name": rjson_info} or {"error": ...} */
    int refs;               /* peer callbacks outstanding */
    struct event *timer;
    void (*finish)(struct hcall *hc, json_t *nodes);
};

struct gather_part {
    struct gather *g;
    char name[MEMBER_NAME_MAX];
};

static void gather_release(struct gather *g)
{
    if (g->refs > 0 || g->hc)
        return;
    if (g->timer)
        event_free(g->timer);
    json_decref(g->nodes);
    dyn_free(g);
}

static void gather_end(struct gather *g)
{
    struct hcall *hc = g->hc;
    if (!hc)
        return;
    g->hc = NULL;
    hc->g = NULL;
    if (g->timer)
        evtimer_del(g->timer);
    json_t *nodes = json_incref(g->nodes);
    void (*finish)(struct hcall *, json_t *) = g->finish;
    gather_release(g); /* may free g */
    finish(hc, nodes);
    json_decref(nodes);
}

static void gather_reply(void *ctx, int err, const struct peer_value *v)
{
    struct gather_part *part = ctx;
    struct gather *g = part->g;
    g->refs--;
    if (g->hc) {
        json_t *entry;
        if (err == 0 && v && v->type == PEER_V_STRING)
            entry = rjson_info(v->str, v->len);
        else
            entry = error_json(v && v->type == PEER_V_ERROR
                                   ? v->str /* a node without R.INFO */
                                   : err ? "no answer over the peer bus"
                                         : "an unexpected answer");
        json_object_set_new(g->nodes, part->name, entry);
    }
    dyn_free(part);
    if (g->hc && g->refs == 0)
        gather_end(g);
    else
        gather_release(g);
}

static void gather_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct gather *g = arg;
    struct hcall *hc = g->hc;
    if (!hc)
        return;
    const struct membership *mb = cluster_membership(hc->h->node);
    char msg[96];
    snprintf(msg, sizeof(msg), "no answer within %d ms",
             hc->h->node->cfg.request_timeout_ms);
    for (uint32_t m = 0; mb && m < mb->n; m++)
        if (!MEMBER_IS_TOMBSTONE(mb->m[m].status) &&
            !json_object_get(g->nodes, mb->m[m].name))
            json_object_set_new(g->nodes, mb->m[m].name, error_json(msg));
    gather_end(g);
}

/* Every member's INFO (sections) into {"name": info}; a member that cannot
 * be asked or does not answer within request-timeout-ms gets {"error"}.
 * finish runs from the loop. */
static void gather_start(struct hcall *hc, const char *const *sections,
                         size_t nsec,
                         void (*finish)(struct hcall *hc, json_t *nodes))
{
    struct node *n = hc->h->node;
    struct gather *g = dyn_calloc(1, sizeof(*g));
    g->hc = hc;
    g->finish = finish;
    g->nodes = json_object();
    hc->g = g;
    struct dyn_arg av[8];
    av[0].p = "R.INFO";
    av[0].len = 6;
    for (size_t i = 0; i < nsec && i + 1 < DYN_ARRAY_LEN(av); i++) {
        av[i + 1].p = sections[i];
        av[i + 1].len = strlen(sections[i]);
    }
    int argc = (int)nsec + 1;
    struct dbuf text;
    dbuf_init(&text);
    cmd_info_text(n, argc, av, &text);
    const char *self = n->cfg.node_name ? n->cfg.node_name : "";
    json_object_set_new(g->nodes, self, rjson_info(text.p, text.len));
    dbuf_free(&text);
    const struct membership *mb = cluster_membership(n);
    for (uint32_t m = 0; mb && m < mb->n; m++) {
        if (mb->m[m].self || MEMBER_IS_TOMBSTONE(mb->m[m].status))
            continue;
        struct gather_part *part = dyn_calloc(1, sizeof(*part));
        part->g = g;
        snprintf(part->name, sizeof(part->name), "%s", mb->m[m].name);
        g->refs++;
        if (cluster_request(n, (int)m, argc, av, gather_reply, part) != 0) {
            g->refs--;
            json_object_set_new(g->nodes, part->name,
                                error_json("unreachable"));
            dyn_free(part);
        }
    }
    g->timer = evtimer_new(n->base, gather_timeout, g);
    struct timeval tv = {0, 0};
    if (g->refs > 0) {
        tv.tv_sec = n->cfg.request_timeout_ms / 1000;
        tv.tv_usec = (n->cfg.request_timeout_ms % 1000) * 1000;
    }
    evtimer_add(g->timer, &tv); /* with nobody to ask: at once, from the loop */
}

/* ---- the members' origins ---------------------------------------------------- */

/* Rebuilds the member-origin list from what nodes ({name: INFO}) say:
 * a current member keeps its last known origin when it did not answer;
 * one that left or was removed, and this node itself, are dropped. */
static void origins_learn(void *arg, json_t *nodes)
{
    struct http *h = arg;
    const struct membership *mb = cluster_membership(h->node);
    json_t *fresh = json_object();
    for (uint32_t m = 0; mb && m < mb->n; m++) {
        if (mb->m[m].self || MEMBER_IS_TOMBSTONE(mb->m[m].status))
            continue;
        const char *name = mb->m[m].name;
        json_t *info = json_object_get(nodes, name);
        json_t *server = json_object_get(info, "server");
        const char *addr = json_string_value(json_object_get(server,
                                                             "http_addr"));
        if (addr && addr[0]) {
            char o[128];
            snprintf(o, sizeof(o), "http://%s", addr);
            json_object_set_new(fresh, name, json_string(o));
        } else if (json_object_get(h->origins, name)) {
            json_object_set(fresh, name, json_object_get(h->origins, name));
        }
    }
    json_decref(h->origins);
    h->origins = fresh;
    dyn_free(h->origin_list);
    h->norigins = json_object_size(fresh);
    h->origin_list = dyn_calloc(h->norigins ? h->norigins : 1,
                                sizeof(*h->origin_list));
    size_t k = 0;
    const char *name;
    json_t *o;
    json_object_foreach(fresh, name, o) h->origin_list[k++] =
        json_string_value(o);
}

/* Every non-tombstone member other than this node has a known origin. */
static int origins_complete(const struct http *h)
{
    const struct membership *mb = cluster_membership(h->node);
    for (uint32_t m = 0; mb && m < mb->n; m++)
        if (!mb->m[m].self && !MEMBER_IS_TOMBSTONE(mb->m[m].status) &&
            !json_object_get(h->origins, mb->m[m].name))
            return 0;
    return 1;
}

static void learn_done(void *arg, json_t *nodes)
{
    struct http *h = arg;
    origins_learn(h, nodes);
    if (!origins_complete(h) && ++h->learn_tries < LEARN_TRIES) {
        struct timeval tv = {LEARN_AGAIN_MS / 1000,
                             (LEARN_AGAIN_MS % 1000) * 1000};
        evtimer_add(h->learn_ev, &tv);
    }
}

static void learn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct http *h = arg;
    sse_gather_info(h->sse, origin_sections, DYN_ARRAY_LEN(origin_sections),
                    learn_done, h);
}

/* ---- endpoints: the cluster ----------------------------------------------- */

static json_t *path_get(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    return b ? json_object_get(x, b) : x;
}

/* out[name] = from[field], or 0 when it is absent (an empty keyspace has
 * no db0 line). */
static void set_or_zero(json_t *out, const char *name, json_t *from,
                        const char *field)
{
    json_t *v = json_object_get(from, field);
    json_object_set_new(out, name, v ? json_incref(v) : json_integer(0));
}

/* INFO's hints_by_owner "n2=3,n4=1", which rjson reads as {"n2": 3,
 * "n4": 1} (an empty value: no owner, {}). */
static json_t *hints_by_owner(json_t *dynamo)
{
    json_t *v = json_object_get(dynamo, "hints_by_owner");
    return json_is_object(v) ? json_copy(v) : json_object();
}

static void cluster_finish(struct hcall *hc, json_t *nodes)
{
    struct node *n = hc->h->node;
    json_t *out = hc->acc;
    hc->acc = NULL;
    json_t *per = json_object();
    const char *name;
    json_t *info;
    json_object_foreach(nodes, name, info) {
        json_t *e = json_object();
        if (json_object_get(info, "error")) {
            json_object_set_new(e, "answered", json_false());
            json_object_set(e, "error", json_object_get(info, "error"));
        } else {
            json_object_set_new(e, "answered", json_true());
            set_or_zero(e, "keys", path_get(info, "keyspace", "db0"), "keys");
            set_or_zero(e, "used_memory", json_object_get(info, "memory"),
                        "used_memory");
            set_or_zero(e, "hints_held", json_object_get(info, "dynamo"),
                        "hints_pending");
            set_or_zero(e, "hints_held_bytes",
                        json_object_get(info, "dynamo"),
                        "hints_pending_bytes");
            json_object_set_new(e, "hints_by_owner",
                                hints_by_owner(json_object_get(info,
                                                               "dynamo")));
            json_object_set(e, "dynamo", json_object_get(info, "dynamo"));
            json_t *addr = path_get(info, "server", "http_addr");
            json_object_set_new(e, "http", json_is_string(addr) &&
                                                   json_string_length(addr)
                                               ? json_incref(addr)
                                               : json_null());
        }
        json_object_set_new(per, name, e);
    }
    origins_learn(hc->h, nodes);
    json_object_set_new(out, "nodes", per);
    json_object_set_new(out, "n", json_integer(n->cfg.n));
    json_object_set_new(out, "r", json_integer(n->cfg.r));
    json_object_set_new(out, "w", json_integer(n->cfg.w));
    hcall_answer(hc, 200, out);
}

/* GET /api/cluster: DYNAMO.MEMBERS, DYNAMO.SPARES, then every node's
 * INFO. */
static void ep_cluster(struct hcall *hc, json_t *reply, int failed)
{
    struct node *n = hc->h->node;
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.MEMBERS"};
        hcall_runv(hc, 1, av);
        return;
    }
    if (hc->step == 2) {
        /* [{addr, name, http, linked}] */
        json_object_set_new(hc->acc, "spares",
                            failed || !json_is_array(reply)
                                ? json_array()
                                : json_incref(reply));
        gather_start(hc, cluster_sections, DYN_ARRAY_LEN(cluster_sections),
                     cluster_finish);
        return;
    }
    json_t *out = json_object();
    const char *self = n->cfg.node_name ? n->cfg.node_name : "";
    json_object_set_new(out, "node", json_string(self));
    if (failed) { /* a node alone */
        json_object_set_new(out, "cluster", json_false());
        json_object_set_new(out, "ring_epoch", json_integer(0));
        json_t *me = json_object();
        json_object_set_new(me, "name", json_string(self));
        json_object_set_new(me, "status", json_string("self"));
        json_t *arr = json_array();
        json_array_append_new(arr, me);
        json_object_set_new(out, "members", arr);
        json_object_set_new(out, "spares", json_array());
        hc->acc = out;
        gather_start(hc, cluster_sections, DYN_ARRAY_LEN(cluster_sections),
                     cluster_finish);
        return;
    }
    /* [["ring_epoch", e], {member}, ...] */
    json_object_set_new(out, "cluster", json_true());
    json_t *epoch = json_array_get(json_array_get(reply, 0), 1);
    json_object_set_new(out, "ring_epoch",
                        epoch ? json_incref(epoch) : json_integer(0));
    json_t *members = json_array();
    for (size_t i = 1; i < json_array_size(reply); i++)
        json_array_append(members, json_array_get(reply, i));
    json_object_set_new(out, "members", members);
    hc->acc = out;
    static const char *const av[] = {"DYNAMO.SPARES"};
    hcall_runv(hc, 1, av);
}

static void metrics_finish(struct hcall *hc, json_t *nodes)
{
    json_t *ok = json_object();
    const char *name;
    json_t *info;
    json_object_foreach(nodes, name, info) {
        if (!json_object_get(info, "error"))
            json_object_set(ok, name, info);
    }
    struct dbuf text;
    dbuf_init(&text);
    rjson_metrics(ok, &text);
    json_decref(ok);
    if (hc->req) {
        http_conn_watch(hc->h, hc->evcon, NULL, NULL);
        struct evkeyvalq *out = evhttp_request_get_output_headers(hc->req);
        evhttp_add_header(out, "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_add_header(out, "Cache-Control", "no-store");
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, text.p ? text.p : "", text.len);
        evhttp_send_reply(hc->req, 200, "OK", b);
        evbuffer_free(b);
        hc->req = NULL;
    }
    dbuf_free(&text);
    hcall_free(hc);
}

/* GET /metrics */
static void ep_metrics(struct hcall *hc, json_t *reply, int failed)
{
    gather_start(hc, metric_sections, DYN_ARRAY_LEN(metric_sections),
                 metrics_finish);
}

static json_t *quorum_json(const struct node *n)
{
    json_t *o = json_object();
    json_object_set_new(o, "n", json_integer(n->cfg.n));
    json_object_set_new(o, "r", json_integer(n->cfg.r));
    json_object_set_new(o, "w", json_integer(n->cfg.w));
    return o;
}

/* GET /api/cluster/config */
static void ep_config_get(struct hcall *hc, json_t *reply, int failed)
{
    hcall_answer(hc, 200, quorum_json(hc->h->node));
}

/* POST /api/cluster/config {n, r, w}: one DYNAMO.CONFIG SET each, n first
 * when it grows and last when it shrinks, so that each step keeps
 * R, W <= N. */
static void ep_config_set(struct hcall *hc, json_t *reply, int failed)
{
    struct node *n = hc->h->node;
    if (hc->step == 0) {
        const char *key;
        json_t *v;
        if (!hc->body || json_object_size(hc->body) == 0) {
            hcall_error(hc, 400, "ERR the body must be an object with n, r "
                                 "or w");
            return;
        }
        json_object_foreach(hc->body, key, v) {
            if (strcmp(key, "n") && strcmp(key, "r") && strcmp(key, "w")) {
                hcall_error(hc, 400, "ERR unknown field: only n, r and w");
                return;
            }
            if (!json_is_integer(v)) {
                hcall_error(hc, 400, "ERR n, r and w must be integers");
                return;
            }
        }
        json_t *order = json_array();
        json_t *nv = json_object_get(hc->body, "n");
        int n_first = nv && json_integer_value(nv) > n->cfg.n;
        if (nv && n_first)
            json_array_append_new(order, json_string("n"));
        if (json_object_get(hc->body, "r"))
            json_array_append_new(order, json_string("r"));
        if (json_object_get(hc->body, "w"))
            json_array_append_new(order, json_string("w"));
        if (nv && !n_first)
            json_array_append_new(order, json_string("n"));
        hc->acc = order;
    } else if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    if ((size_t)hc->step >= json_array_size(hc->acc)) {
        hcall_answer(hc, 200, quorum_json(n));
        return;
    }
    const char *name = json_string_value(json_array_get(hc->acc, hc->step));
    char val[32];
    snprintf(val, sizeof(val), "%lld",
             (long long)json_integer_value(json_object_get(hc->body, name)));
    const char *av[] = {"DYNAMO.CONFIG", "SET", name, val};
    hcall_runv(hc, 4, av);
}

/* ---- endpoints: data ------------------------------------------------------- */

/* The key as DYNAMO.GET and DYNAMO.VCLOCK show it; phase says which reply
 * comes (0: start, 1: GET's, 2: VCLOCK's).  put: answer 200 even with no
 * live value (the PUT succeeded). */
/* The newest trace in a DYNAMO.TRACE CLUSTER KEY answer of the command a
 * data request ran (DYNAMO.GET, DYNAMO.PUT; DYNAMO.DEL or DEL), as an
 * object; NULL if there is none (trace-max 0, or it was overwritten). */
static json_t *op_trace_of(json_t *traces, int method)
{
    const char *want = method == HREQ_PUT      ? "dynamo.put"
                       : method == HREQ_DELETE ? "del"
                                               : "dynamo.get";
    json_t *best = NULL;
    long long best_ms = -1;
    size_t i;
    json_t *t;
    json_array_foreach(traces, i, t) {
        json_t *o = json_is_array(t) ? rjson_pairs(t) : NULL;
        const char *op = o ? json_string_value(json_object_get(o, "op"))
                           : NULL;
        long long ms = o ? json_integer_value(json_object_get(o, "time_ms"))
                         : 0;
        if (op && strstr(op, want) && ms > best_ms) {
            json_decref(best);
            best = o;
            best_ms = ms;
        } else {
            json_decref(o);
        }
    }
    return best;
}

static void data_view(struct hcall *hc, json_t *reply, int failed)
{
    struct dyn_arg av[2] = {{NULL, 0}, {hc->param, hc->plen}};
    if (hc->phase == 0) {
        hc->phase = 1;
        av[0].p = "DYNAMO.GET";
        av[0].len = 10;
        hcall_run(hc, 2, av);
        return;
    }
    if (failed && hc->phase != 3) { /* no trace is no error: "trace": null */
        hcall_command_error(hc, reply);
        return;
    }
    if (hc->phase == 1) {
        json_t *out = json_object();
        json_object_set_new(out, "key", rjson_string(hc->param, hc->plen));
        json_object_set(out, "context", json_array_get(reply, 0));
        json_t *vals = json_array_get(reply, 1);
        json_object_set(out, "values", vals ? vals : json_array());
        json_decref(hc->acc);
        hc->acc = out;
        hc->phase = 2;
        av[0].p = "DYNAMO.VCLOCK";
        av[0].len = 13;
        hcall_run(hc, 2, av);
        return;
    }
    if (hc->phase == 2) {
        json_object_set(hc->acc, "versions", json_is_array(reply)
                                                 ? reply
                                                 : json_array());
        /* the operation's trace, from whichever node coordinated it */
        hc->phase = 3;
        static const char *const tav[] = {"DYNAMO.TRACE", "CLUSTER", "KEY"};
        struct dyn_arg t[4];
        for (int i = 0; i < 3; i++) {
            t[i].p = tav[i];
            t[i].len = strlen(tav[i]);
        }
        t[3].p = hc->param;
        t[3].len = hc->plen;
        hcall_run(hc, 4, t);
        return;
    }
    json_t *out = hc->acc;
    hc->acc = NULL;
    json_t *trace = op_trace_of(reply, hc->rt->method);
    json_object_set_new(out, "trace", trace ? trace : json_null());
    int live = json_array_size(json_object_get(out, "values")) > 0;
    if (!live && hc->rt->method == HREQ_GET)
        json_object_set_new(out, "error", json_string("no live value"));
    hcall_answer(hc, live || hc->rt->method != HREQ_GET ? 200 : 404, out);
}

/* GET /api/data/:key */
static void ep_data_get(struct hcall *hc, json_t *reply, int failed)
{
    data_view(hc, reply, failed);
}

/* A string field of the body, or NULL (and *bad set when present but not
 * a string). */
static const char *body_string(struct hcall *hc, const char *name,
                               size_t *len, int *bad)
{
    json_t *v = hc->body ? json_object_get(hc->body, name) : NULL;
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Refuses fields outside allowed[] (400); 0 when the body is fine. */
static int body_only(struct hcall *hc, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(hc->body, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, allowed[i]) != 0)
            i++;
        if (i == n) {
            char msg[160];
            snprintf(msg, sizeof(msg), "ERR unknown field '%.64s'", key);
            hcall_error(hc, 400, msg);
            return -1;
        }
    }
    return 0;
}

/* PUT /api/data/:key {"value", "context"?, "w"?} */
static void ep_data_put(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const fields[] = {"value", "context", "w"};
        size_t vl = 0, cl = 0;
        int bad = 0;
        if (!hc->body) {
            hcall_error(hc, 400, "ERR the body must be {\"value\": ...}");
            return;
        }
        if (body_only(hc, fields, DYN_ARRAY_LEN(fields)) != 0)
            return;
        const char *value = body_string(hc, "value", &vl, &bad);
        const char *ctx = body_string(hc, "context", &cl, &bad);
        json_t *w = json_object_get(hc->body, "w");
        if (bad || !value || (w && !json_is_integer(w))) {
            hcall_error(hc, 400, "ERR value (and context) must be strings, "
                                 "w an integer");
            return;
        }
        char wb[32];
        struct dyn_arg av[6] = {{"DYNAMO.PUT", 10},
                                {hc->param, hc->plen},
                                {ctx ? ctx : "", ctx ? cl : 0},
                                {value, vl}};
        int argc = 4;
        if (w) {
            snprintf(wb, sizeof(wb), "%lld", (long long)json_integer_value(w));
            av[4].p = "W";
            av[4].len = 1;
            av[5].p = wb;
            av[5].len = strlen(wb);
            argc = 6;
        }
        hcall_run(hc, argc, av);
        return;
    }
    if (hc->step == 1 && failed) {
        hcall_command_error(hc, reply);
        return;
    }
    data_view(hc, reply, failed);
}

/* DELETE /api/data/:key {"context"?} */
static void ep_data_delete(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const fields[] = {"context"};
        size_t cl = 0;
        int bad = 0;
        if (hc->body && body_only(hc, fields, 1) != 0)
            return;
        const char *ctx = body_string(hc, "context", &cl, &bad);
        if (bad) {
            hcall_error(hc, 400, "ERR context must be a string");
            return;
        }
        struct dyn_arg av[3] = {{ctx ? "DYNAMO.DEL" : "DEL", ctx ? 10 : 3},
                                {hc->param, hc->plen},
                                {ctx, cl}};
        hcall_run(hc, ctx ? 3 : 2, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "key", rjson_string(hc->param, hc->plen));
    json_object_set(out, "deleted", reply);
    hcall_answer(hc, 200, out);
}

/* GET /api/data?cursor=&match=&count= : SCAN steps, each with COUNT the
 * keys still wanted, until count keys (default 100, at most 1000) or the
 * end, and at most HTTP_SCAN_STEPS steps per request (in a cluster a
 * cursor is a partition and a step returns whole partitions until about
 * COUNT keys, before MATCH filters them). */
#define HTTP_SCAN_STEPS 256
static void ep_data_scan(struct hcall *hc, json_t *reply, int failed)
{
    const char *match = evhttp_find_header(&hc->query, "match");
    const char *cur;
    char curbuf[32];
    if (hc->step == 0) {
        const char *count = evhttp_find_header(&hc->query, "count");
        unsigned long long v, want = 100;
        cur = evhttp_find_header(&hc->query, "cursor");
        if (!cur || !*cur)
            cur = "0";
        if (dyn_str2ull(cur, strlen(cur), &v) != 0) {
            hcall_error(hc, 400, "ERR cursor must be a decimal integer");
            return;
        }
        if (count && (dyn_str2ull(count, strlen(count), &want) != 0 ||
                      want < 1 || want > 1000)) {
            hcall_error(hc, 400, "ERR count must be an integer from 1 to "
                                 "1000");
            return;
        }
        hc->phase = (int)want;
        hc->acc = json_array();
    } else {
        if (failed) {
            hcall_command_error(hc, reply);
            return;
        }
        json_array_extend(hc->acc, json_array_get(reply, 1));
        cur = json_string_value(json_array_get(reply, 0));
        if (!cur || strcmp(cur, "0") == 0 ||
            json_array_size(hc->acc) >= (size_t)hc->phase ||
            hc->step >= HTTP_SCAN_STEPS) {
            json_t *out = json_object();
            json_object_set_new(out, "cursor", json_string(cur ? cur : "0"));
            json_object_set_new(out, "keys", hc->acc);
            hc->acc = NULL;
            hcall_answer(hc, 200, out);
            return;
        }
        snprintf(curbuf, sizeof(curbuf), "%s", cur);
        cur = curbuf;
    }
    char cnt[24];
    size_t have = hc->acc ? json_array_size(hc->acc) : 0;
    snprintf(cnt, sizeof(cnt), "%zu", (size_t)hc->phase - have);
    if (match && *match) {
        const char *av[] = {"SCAN", cur, "MATCH", match, "COUNT", cnt};
        hcall_runv(hc, 6, av);
    } else {
        const char *av[] = {"SCAN", cur, "COUNT", cnt};
        hcall_runv(hc, 4, av);
    }
}

/* ---- endpoints: the ring ---------------------------------------------------- */

/* [[name, x], ...] as [{"name": name, field: x}, ...] */
static json_t *pairs_to_objects(json_t *pairs, const char *field)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) {
        json_t *o = json_object();
        json_object_set(o, "name", json_array_get(p, 0));
        json_object_set(o, field, json_array_get(p, 1));
        json_array_append_new(out, o);
    }
    return out;
}

/* GET /api/ring */
static void ep_ring(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.RING"};
        hcall_runv(hc, 1, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_t *out = json_object();
    json_object_set(out, "epoch", json_object_get(reply, "epoch"));
    json_object_set(out, "partitions", json_object_get(reply, "partitions"));
    json_object_set_new(out, "nodes",
                        pairs_to_objects(json_object_get(reply, "nodes"),
                                         "partitions"));
    json_t *table = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(reply, "table"), i, row) {
        json_t *o = json_object();
        json_object_set(o, "partition", json_array_get(row, 0));
        json_object_set(o, "owner", json_array_get(row, 1));
        json_t *reps = json_array();
        for (size_t k = 1; k < json_array_size(row); k++)
            json_array_append(reps, json_array_get(row, k));
        json_object_set_new(o, "replicas", reps);
        json_array_append_new(table, o);
    }
    json_object_set_new(out, "table", table);
    hcall_answer(hc, 200, out);
}

/* GET /api/ring/key/:key */
static void ep_ring_key(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        struct dyn_arg av[2] = {{"DYNAMO.PREFLIST", 15},
                                {hc->param, hc->plen}};
        hcall_run(hc, 2, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_t *out = json_object();
    json_object_set_new(out, "key", rjson_string(hc->param, hc->plen));
    json_object_set(out, "hash", json_object_get(reply, "hash"));
    json_object_set(out, "partition", json_object_get(reply, "partition"));
    json_object_set_new(out, "replicas",
                        pairs_to_objects(json_object_get(reply, "replicas"),
                                         "status"));
    json_object_set_new(out, "fallbacks",
                        pairs_to_objects(json_object_get(reply, "fallbacks"),
                                         "status"));
    hcall_answer(hc, 200, out);
}

/* ---- endpoints: Merkle trees ------------------------------------------------- */

/* The value after `name` in a flat [name, value, ...] record (a RESP2 map
 * in a COMBINE_NODES answer), or NULL. */
static json_t *pairs_get(json_t *rec, const char *name)
{
    for (size_t i = 0; i + 1 < json_array_size(rec); i += 2) {
        const char *k = json_string_value(json_array_get(rec, i));
        if (k && strcmp(k, name) == 0)
            return json_array_get(rec, i + 1);
    }
    return NULL;
}

/* A COMBINE_NODES answer split: the records of the nodes that answered
 * (rec(node) is their record, as json objects when to_obj) into *answered
 * as {"node": record}, the names of those that did not into a new
 * array. */
static json_t *split_unanswered(json_t *records, json_t *answered, int to_obj)
{
    json_t *missing = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(records, i, r) {
        json_t *node = pairs_get(r, "node");
        if (!json_is_string(node))
            continue;
        if (pairs_get(r, "unanswered"))
            json_array_append(missing, node);
        else if (answered)
            json_object_set_new(answered, json_string_value(node),
                                to_obj ? rjson_pairs(r) : json_incref(r));
    }
    return missing;
}

/* GET /api/merkle: DYNAMO.RING, then DYNAMO.ROOTS CLUSTER; per partition
 * the roots of its N replicas (an answered replica that lists no tree for
 * it holds the empty one), in_sync when the roots of those that answered
 * are equal.  A replica that did not answer has root null and keys -1. */
static void ep_merkle(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.RING"};
        hcall_runv(hc, 1, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    if (hc->step == 1) {
        json_decref(hc->acc);
        hc->acc = json_incref(json_object_get(reply, "table"));
        static const char *const av[] = {"DYNAMO.ROOTS", "CLUSTER"};
        hcall_runv(hc, 2, av);
        return;
    }
    /* node -> {"empty": root, "p": {"<partition>": [root, keys]}} */
    json_t *nodes = json_object();
    json_t *unanswered = split_unanswered(reply, nodes, 0);
    const char *name;
    json_t *rec;
    json_object_foreach(nodes, name, rec) {
        json_t *v = json_object();
        json_object_set(v, "empty", pairs_get(rec, "empty_root"));
        json_t *parts = json_object();
        size_t i;
        json_t *row;
        json_array_foreach(pairs_get(rec, "partitions"), i, row) {
            char pk[24];
            snprintf(pk, sizeof(pk), "%lld",
                     (long long)json_integer_value(json_array_get(row, 0)));
            json_t *rk = json_array();
            json_array_append(rk, json_array_get(row, 1));
            json_array_append(rk, json_array_get(row, 2));
            json_object_set_new(parts, pk, rk);
        }
        json_object_set_new(v, "p", parts);
        json_object_set_new(nodes, name, v);
    }
    json_t *list = json_array();
    long long divergent = 0;
    size_t i;
    json_t *row;
    json_array_foreach(hc->acc, i, row) {
        json_t *part = json_array_get(row, 0);
        char pk[24];
        snprintf(pk, sizeof(pk), "%lld", (long long)json_integer_value(part));
        json_t *reps = json_array();
        const char *first = NULL;
        int in_sync = 1;
        for (size_t k = 1; k < json_array_size(row); k++) {
            json_t *who = json_array_get(row, k);
            json_t *v = json_object_get(nodes, json_string_value(who));
            json_t *o = json_object();
            json_object_set(o, "node", who);
            if (!v) {
                json_object_set_new(o, "root", json_null());
                json_object_set_new(o, "keys", json_integer(-1));
            } else {
                json_t *rk = json_object_get(json_object_get(v, "p"), pk);
                json_t *root = rk ? json_array_get(rk, 0)
                                  : json_object_get(v, "empty");
                json_object_set(o, "root", root);
                json_object_set_new(o, "keys", rk ? json_incref(
                                                        json_array_get(rk, 1))
                                                  : json_integer(0));
                const char *r = json_string_value(root);
                if (!first)
                    first = r;
                else if (r && strcmp(first, r) != 0)
                    in_sync = 0;
            }
            json_array_append_new(reps, o);
        }
        divergent += !in_sync;
        json_t *o = json_object();
        json_object_set(o, "partition", part);
        json_object_set_new(o, "in_sync", json_boolean(in_sync));
        json_object_set_new(o, "replicas", reps);
        json_array_append_new(list, o);
    }
    json_decref(nodes);
    json_t *out = json_object();
    json_object_set_new(out, "partitions", list);
    json_object_set_new(out, "divergent", json_integer(divergent));
    json_object_set_new(out, "unanswered", unanswered);
    hcall_answer(hc, 200, out);
}

/* GET /api/merkle/:partition: DYNAMO.MERKLE partition.  Not a partition
 * number: 400; a number the ring does not have: 404. */
static void ep_merkle_partition(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        const struct ring *ring = cluster_ring(hc->h->node);
        int digits = hc->plen > 0 && hc->plen <= 9;
        for (size_t i = 0; i < hc->plen && digits; i++)
            digits = hc->param[i] >= '0' && hc->param[i] <= '9';
        if (!digits) {
            hcall_error(hc, 400, "ERR the partition must be a number");
            return;
        }
        if (ring && strtoul(hc->param, NULL, 10) >= ring->q) {
            char msg[96];
            snprintf(msg, sizeof(msg), "ERR no partition %s: the ring has "
                     "%u (0 to %u)", hc->param, ring->q, ring->q - 1);
            hcall_error(hc, 404, msg);
            return;
        }
        struct dyn_arg av[2] = {{"DYNAMO.MERKLE", 13},
                                {hc->param, hc->plen}};
        hcall_run(hc, 2, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    if (!json_is_object(reply)) { /* a node alone lists its own tree */
        hcall_error(hc, 404, "ERR this node is not in a cluster");
        return;
    }
    json_t *out = json_object();
    json_object_set(out, "partition", json_object_get(reply, "partition"));
    json_object_set(out, "leaves", json_object_get(reply, "leaves"));
    json_t *reps = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(reply, "replicas"), i, r) {
        json_t *o = json_object();
        json_object_set(o, "node", json_array_get(r, 0));
        json_object_set(o, "root", json_array_get(r, 1));
        json_object_set(o, "keys", json_array_get(r, 2));
        json_array_append_new(reps, o);
    }
    json_object_set_new(out, "replicas", reps);
    json_object_set(out, "differing_leaves",
                    json_object_get(reply, "differing_leaves"));
    json_object_set(out, "unanswered", json_object_get(reply, "unanswered"));
    hcall_answer(hc, 200, out);
}

/* ---- endpoints: a key's version history ------------------------------------ */

static int version_order(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = json_integer_value(json_object_get(x, "time_ms"));
    json_int_t ty = json_integer_value(json_object_get(y, "time_ms"));
    if (tx != ty)
        return tx < ty ? -1 : 1;
    const char *dx = json_string_value(json_object_get(x, "dot"));
    const char *dy = json_string_value(json_object_get(y, "dot"));
    return strcmp(dx ? dx : "", dy ? dy : "");
}

/* A live sibling (a DYNAMO.VCLOCK map) that no node's history holds (its
 * coordinator restarted, or evicted the key): listed from its clock, with
 * no value, node or supersedes. */
static json_t *unrecorded_version(json_t *sib)
{
    json_t *v = json_object();
    json_t *dot = json_object_get(sib, "dot");
    const char *d = json_string_value(dot);
    const char *colon = d ? strrchr(d, ':') : NULL;
    json_object_set(v, "dot", dot);
    json_object_set(v, "clock", json_object_get(sib, "clock"));
    json_object_set_new(v, "actor", colon ? rjson_string(d, (size_t)(colon - d))
                                          : json_null());
    json_object_set_new(v, "node", json_null());
    json_object_set(v, "time_ms", json_object_get(sib, "ts"));
    json_object_set_new(v, "op", json_string(json_integer_value(json_object_get(
                                                 sib, "tombstone"))
                                                 ? "delete"
                                                 : "put"));
    json_object_set_new(v, "value", json_null());
    json_object_set(v, "size", json_object_get(sib, "size"));
    json_object_set_new(v, "supersedes", json_array());
    json_object_set_new(v, "recorded", json_false());
    return v;
}

/* GET /api/versions/:key: every node's history of the key (DYNAMO.VERSIONS
 * CLUSTER KEY key), one entry per dot, oldest first, and "live": the dots
 * of the key's current siblings by a quorum read (DYNAMO.VCLOCK).  Each
 * half answers without the other, so a dashboard keeps its timeline while
 * a node dies: a gather that fails (a member that does not answer within
 * request-timeout-ms) lists only the live versions, with
 * "history_error"; a quorum read that fails leaves "live" null, with
 * "live_error". */
static void ep_versions(struct hcall *hc, json_t *reply, int failed)
{
    struct node *n = hc->h->node;
    if (hc->step == 0) {
        struct dyn_arg av[4] = {{"DYNAMO.VERSIONS", 15},
                                {"CLUSTER", 7},
                                {"KEY", 3},
                                {hc->param, hc->plen}};
        hcall_run(hc, 4, av);
        return;
    }
    if (hc->step == 1) {
        /* a member that did not answer in time: the versions the live
         * read shows, and the gather's error */
        hc->acc = json_object();
        json_object_set_new(hc->acc, "history",
                            failed ? json_array() : json_incref(reply));
        if (failed)
            json_object_set(hc->acc, "error",
                            json_object_get(reply, "error"));
        struct dyn_arg av[2] = {{"DYNAMO.VCLOCK", 13}, {hc->param, hc->plen}};
        hcall_run(hc, 2, av);
        return;
    }
    json_t *seen = json_object(); /* dot -> its version */
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(hc->acc, "history"), i, x) {
        json_t *v = json_is_array(x) ? rjson_pairs(x) : json_incref(x);
        const char *dot = json_string_value(json_object_get(v, "dot"));
        if (dot && !json_object_get(seen, dot)) {
            json_object_set_new(v, "recorded", json_true());
            json_object_set(seen, dot, v);
        }
        json_decref(v);
    }
    json_t *live = json_array();
    if (failed) {
        json_decref(live);
        live = json_null();
    } else {
        json_array_foreach(reply, i, x) {
            json_t *sib = json_is_array(x) ? rjson_pairs(x) : json_incref(x);
            json_t *dot = json_object_get(sib, "dot");
            if (json_is_string(dot)) {
                json_array_append(live, dot);
                if (!json_object_get(seen, json_string_value(dot)))
                    json_object_set_new(seen, json_string_value(dot),
                                        unrecorded_version(sib));
            }
            json_decref(sib);
        }
    }
    size_t nv = json_object_size(seen), k = 0;
    json_t **sorted = dyn_malloc(sizeof(*sorted) * (nv ? nv : 1));
    const char *dot;
    json_object_foreach(seen, dot, x) sorted[k++] = x;
    qsort(sorted, nv, sizeof(*sorted), version_order);
    json_t *versions = json_array();
    for (k = 0; k < nv; k++)
        json_array_append(versions, sorted[k]);
    dyn_free(sorted);
    json_decref(seen);

    json_t *out = json_object();
    json_object_set_new(out, "key", rjson_string(hc->param, hc->plen));
    json_object_set_new(out, "bound", json_integer(n->cfg.version_history));
    json_object_set_new(out, "versions", versions);
    json_object_set_new(out, "live", live);
    if (failed) {
        const char *e = json_string_value(json_object_get(reply, "error"));
        json_object_set_new(out, "live_error",
                            json_string(e ? e : "ERR the read failed"));
    }
    json_t *herr = json_object_get(hc->acc, "error");
    if (herr)
        json_object_set(out, "history_error", herr);
    hcall_answer(hc, 200, out);
}

/* ---- endpoints: members and faults ------------------------------------------ */

/* The member the path names, or -1 after answering 404. */
static int path_member(struct hcall *hc)
{
    const struct membership *mb = cluster_membership(hc->h->node);
    int m = -1;
    if (mb && hc->plen < MEMBER_NAME_MAX && !memchr(hc->param, 0, hc->plen))
        m = membership_find(mb, hc->param);
    if (m < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "ERR no member named '%.64s'", hc->param);
        hcall_error(hc, 404, msg);
    }
    return m;
}

/* An endpoint whose one command answers +OK: {"ok": true}. */
static int ok_or_error(struct hcall *hc, json_t *reply, int failed)
{
    if (failed) {
        hcall_command_error(hc, reply);
        return -1;
    }
    json_t *out = json_object();
    json_object_set_new(out, "ok", json_true());
    hcall_answer(hc, 200, out);
    return 0;
}

/* POST /api/nodes {"addr": "host:port"} */
static void ep_nodes_add(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const fields[] = {"addr"};
        size_t al = 0;
        int bad = 0;
        const char *addr = hc->body ? body_string(hc, "addr", &al, &bad)
                                    : NULL;
        if (hc->body && body_only(hc, fields, 1) != 0)
            return;
        if (!addr || bad || al == 0) {
            hcall_error(hc, 400, "ERR the body must be {\"addr\": "
                                 "\"host:port\"}");
            return;
        }
        /* a spare-node of ours is told to join through us; any other
         * address keeps DYNAMO.JOIN's meaning (we gossip with it) */
        int spare = cluster_is_spare(hc->h->node, addr, al);
        struct dyn_arg av[2] = {
            {spare ? "DYNAMO.ADD" : "DYNAMO.JOIN", spare ? 10u : 11u},
            {addr, al}};
        hcall_run(hc, 2, av);
        return;
    }
    ok_or_error(hc, reply, failed);
}

/* DELETE /api/nodes/:id */
static void ep_nodes_remove(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        int m = path_member(hc);
        if (m < 0)
            return;
        const struct membership *mb = cluster_membership(hc->h->node);
        if (mb->m[m].self) {
            static const char *const av[] = {"DYNAMO.LEAVE"};
            hcall_runv(hc, 1, av);
        } else if (mb->m[m].status != MEMBER_UP &&
                   mb->m[m].status != MEMBER_SUSPECT) {
            const char *av[] = {"DYNAMO.FORGET", mb->m[m].name};
            hcall_runv(hc, 2, av);
        } else {
            /* a live other member is told to leave (it drives its own
             * leave, as DYNAMO.LEAVE on it would) */
            const char *av[] = {"DYNAMO.LEAVE", mb->m[m].name};
            hcall_runv(hc, 2, av);
        }
        return;
    }
    ok_or_error(hc, reply, failed);
}

/* POST /api/nodes/:id/kill {"seconds"?} and /revive */
static void node_kill_or_revive(struct hcall *hc, json_t *reply, int failed,
                                int kill)
{
    if (hc->step == 0) {
        static const char *const fields[] = {"seconds"};
        json_t *s = hc->body ? json_object_get(hc->body, "seconds") : NULL;
        if (hc->body && body_only(hc, kill ? fields : NULL, kill) != 0)
            return;
        if (s && (!json_is_integer(s) || json_integer_value(s) < 0)) {
            hcall_error(hc, 400, "ERR seconds must be a positive integer");
            return;
        }
        int m = path_member(hc);
        if (m < 0)
            return;
        const struct membership *mb = cluster_membership(hc->h->node);
        char secs[32];
        snprintf(secs, sizeof(secs), "%lld",
                 s ? (long long)json_integer_value(s) : 0LL);
        const char *av[] = {kill ? "DYNAMO.KILL" : "DYNAMO.REVIVE",
                            mb->m[m].name, secs};
        hcall_runv(hc, kill && s ? 3 : 2, av);
        return;
    }
    ok_or_error(hc, reply, failed);
}

static void ep_node_kill(struct hcall *hc, json_t *reply, int failed)
{
    node_kill_or_revive(hc, reply, failed, 1);
}

static void ep_node_revive(struct hcall *hc, json_t *reply, int failed)
{
    node_kill_or_revive(hc, reply, failed, 0);
}

/* The last step of a one-command endpoint: the command's error, or
 * {field: reply} with 200. */
static void answer_field(struct hcall *hc, json_t *reply, int failed,
                         const char *field)
{
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_t *out = json_object();
    json_object_set(out, field, reply);
    hcall_answer(hc, 200, out);
}

/* Orders merged events by time, then node, then id. */
static int event_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_int_t tx = json_integer_value(json_object_get(x, "time_ms"));
    json_int_t ty = json_integer_value(json_object_get(y, "time_ms"));
    if (tx != ty)
        return tx < ty ? -1 : 1;
    const char *nx = json_string_value(json_object_get(x, "node"));
    const char *ny = json_string_value(json_object_get(y, "node"));
    int c = strcmp(nx ? nx : "", ny ? ny : "");
    if (c)
        return c;
    json_int_t ix = json_integer_value(json_object_get(x, "id"));
    json_int_t iy = json_integer_value(json_object_get(y, "id"));
    return ix < iy ? -1 : ix > iy;
}

/* since= as {"node": last id}: a cursor's pairs (its "*" pair, the id of
 * every node it does not name, into *all), or NULL for a plain id (given
 * for every node: *all). */
static json_t *cursor_parse(const char *since, json_int_t *all)
{
    *all = 0;
    if (!since || !strchr(since, ':')) {
        *all = since ? strtoll(since, NULL, 10) : 0;
        return NULL;
    }
    json_t *o = json_object();
    const char *p = since;
    while (*p) {
        size_t e = strcspn(p, ",");
        const char *colon = memchr(p, ':', e);
        if (colon && colon == p + 1 && *p == '*') {
            *all = strtoll(colon + 1, NULL, 10);
        } else if (colon && colon > p &&
                   (size_t)(colon - p) < MEMBER_NAME_MAX) {
            char name[MEMBER_NAME_MAX];
            snprintf(name, sizeof(name), "%.*s", (int)(colon - p), p);
            json_object_set_new(o, name,
                                json_integer(strtoll(colon + 1, NULL, 10)));
        }
        p += e + (p[e] == ',');
    }
    return o;
}

/* GET /api/events?since=: the event logs of every member (DYNAMO.EVENTS
 * CLUSTER since), merged oldest first by time.  since is an event id
 * (for every node) or the "cursor" a previous answer gave: per node the
 * last id seen ("n1:5,n2:9", and "*:id" for the nodes it does not name,
 * after a plain since); so polling with it never repeats an event.  Members that did
 * not answer are "unanswered".  A bad since is a 400 (the command's
 * check). */
static void ep_events(struct hcall *hc, json_t *reply, int failed)
{
    const char *since = evhttp_find_header(&hc->query, "since");
    if (hc->step == 0) {
        const char *av[] = {"DYNAMO.EVENTS", "CLUSTER", since ? since : "0"};
        hcall_runv(hc, 3, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_int_t all;
    json_t *last = cursor_parse(since, &all);
    if (!last)
        last = json_object();
    size_t n = json_array_size(reply), k = 0, i;
    json_t **ev = dyn_malloc(sizeof(*ev) * (n ? n : 1));
    json_t *unanswered = json_array();
    json_t *r;
    json_array_foreach(reply, i, r) {
        json_t *o = json_is_object(r) ? json_incref(r) : rjson_pairs(r);
        const char *node = json_string_value(json_object_get(o, "node"));
        if (!node) {
            json_decref(o);
            continue;
        }
        json_int_t seen = json_object_get(last, node)
                              ? json_integer_value(json_object_get(last, node))
                              : all;
        if (json_object_get(o, "unanswered")) {
            json_array_append_new(unanswered, json_string(node));
            json_object_set_new(last, node, json_integer(seen));
            json_decref(o);
            continue;
        }
        json_int_t id = json_integer_value(json_object_get(o, "id"));
        json_object_set_new(last, node, json_integer(id > seen ? id : seen));
        ev[k++] = o;
    }
    qsort(ev, k, sizeof(*ev), event_cmp);
    json_t *events = json_array();
    for (i = 0; i < k; i++)
        json_array_append_new(events, ev[i]);
    dyn_free(ev);
    /* the nodes that answered with no new event keep their place */
    const char *name;
    json_t *v;
    struct dbuf cur;
    dbuf_init(&cur);
    if (all > 0) /* for the nodes that had nothing new, or are new */
        dbuf_printf(&cur, "*:%lld", (long long)all);
    json_object_foreach(last, name, v)
        dbuf_printf(&cur, "%s%s:%lld", cur.len ? "," : "", name,
                    (long long)json_integer_value(v));
    json_t *out = json_object();
    json_object_set_new(out, "events", events);
    json_object_set_new(out, "cursor", rjson_string(cur.p ? cur.p : "",
                                                    cur.len));
    json_object_set_new(out, "unanswered", unanswered);
    dbuf_free(&cur);
    json_decref(last);
    hcall_answer(hc, 200, out);
}

/* GET /api/gossip: every member's view of the others and its last gossip
 * rounds (DYNAMO.GOSSIP CLUSTER). */
static void ep_gossip(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.GOSSIP", "CLUSTER"};
        hcall_runv(hc, 2, av);
        return;
    }
    if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    json_t *nodes = json_object();
    json_t *unanswered = split_unanswered(reply, nodes, 1);
    const char *name;
    json_t *rec;
    json_object_foreach(nodes, name, rec) json_object_del(rec, "node");
    json_t *out = json_object();
    json_object_set_new(out, "nodes", nodes);
    json_object_set_new(out, "unanswered", unanswered);
    hcall_answer(hc, 200, out);
}

/* GET /api/faults */
static void ep_faults_list(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.FAULT", "LIST"};
        hcall_runv(hc, 2, av);
        return;
    }
    answer_field(hc, reply, failed, "faults");
}

/* A member name list from a body field: a string or an array of them. */
static json_t *name_list(json_t *v)
{
    if (json_is_string(v)) {
        json_t *a = json_array();
        json_array_append(a, v);
        return a;
    }
    if (!json_is_array(v) || json_array_size(v) == 0)
        return NULL;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x) if (!json_is_string(x)) return NULL;
    return json_incref(v);
}

/* POST /api/faults {"from": [...], "to": [...], "delay_ms"?, "both"?}:
 * one DYNAMO.FAULT per (from, to) pair: DROP, or DELAY ms; BOTH ways
 * unless both is false. */
static void ep_faults_add(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const fields[] = {"from", "to", "delay_ms",
                                             "both"};
        if (!hc->body) {
            hcall_error(hc, 400, "ERR the body must be {\"from\": [...], "
                                 "\"to\": [...]}");
            return;
        }
        if (body_only(hc, fields, DYN_ARRAY_LEN(fields)) != 0)
            return;
        json_t *from = name_list(json_object_get(hc->body, "from"));
        json_t *to = name_list(json_object_get(hc->body, "to"));
        json_t *delay = json_object_get(hc->body, "delay_ms");
        json_t *both = json_object_get(hc->body, "both");
        if (!from || !to || (delay && (!json_is_integer(delay) ||
                                       json_integer_value(delay) < 0)) ||
            (both && !json_is_boolean(both))) {
            json_decref(from);
            json_decref(to);
            hcall_error(hc, 400, "ERR from and to are member names (a string "
                                 "or a list), delay_ms an integer, both a "
                                 "boolean");
            return;
        }
        json_t *pairs = json_array();
        size_t i, k;
        json_t *a, *b;
        json_array_foreach(from, i, a) json_array_foreach(to, k, b)
        {
            json_t *pr = json_array();
            json_array_append(pr, a);
            json_array_append(pr, b);
            json_array_append_new(pairs, pr);
        }
        json_decref(from);
        json_decref(to);
        hc->acc = pairs;
    } else if (failed) {
        hcall_command_error(hc, reply);
        return;
    }
    if ((size_t)hc->step >= json_array_size(hc->acc)) {
        json_t *out = json_object();
        json_object_set_new(out, "ok", json_true());
        json_object_set_new(out, "faults", json_integer(hc->step));
        hcall_answer(hc, 200, out);
        return;
    }
    json_t *pr = json_array_get(hc->acc, hc->step);
    json_t *delay = json_object_get(hc->body, "delay_ms");
    json_t *both = json_object_get(hc->body, "both");
    char ms[32];
    const char *av[HTTP_MAX_ARGS] = {
        "DYNAMO.FAULT", json_string_value(json_array_get(pr, 0)),
        json_string_value(json_array_get(pr, 1))};
    int argc = 3;
    if (delay) {
        snprintf(ms, sizeof(ms), "%lld", (long long)json_integer_value(delay));
        av[argc++] = "DELAY";
        av[argc++] = ms;
    } else {
        av[argc++] = "DROP";
    }
    if (!both || json_is_true(both))
        av[argc++] = "BOTH";
    hcall_runv(hc, argc, av);
}

/* DELETE /api/faults */
static void ep_faults_clear(struct hcall *hc, json_t *reply, int failed)
{
    if (hc->step == 0) {
        static const char *const av[] = {"DYNAMO.FAULT", "CLEAR", "ALL"};
        hcall_runv(hc, 3, av);
        return;
    }
    ok_or_error(hc, reply, failed);
}

/* GET /api/stream: Server-Sent Events (sse.c); 503 past http-stream-max */
static void ep_stream(struct hcall *hc, json_t *reply, int failed)
{
    struct http *h = hc->h;
    if (evhttp_request_get_command(hc->req) == EVHTTP_REQ_HEAD) {
        hcall_answer(hc, 200, json_object()); /* evhttp sends no body */
        return;
    }
    if (!sse_has_room(h->sse)) {
        hcall_error(hc, 503, "ERR too many stream subscribers (see "
                             "http-stream-max)");
        return;
    }
    struct evhttp_request *req = hc->req;
    http_conn_watch(hc->h, hc->evcon, NULL, NULL);
    hc->req = NULL;
    hcall_free(hc);
    sse_subscribe(h->sse, req);
}

static const struct route routes[] = {
    {"/api/cluster", HREQ_GET, ep_cluster},
    {"/api/cluster/config", HREQ_GET, ep_config_get},
    {"/api/cluster/config", HREQ_POST, ep_config_set},
    {"/api/data", HREQ_GET, ep_data_scan},
    {"/api/data/:key", HREQ_GET, ep_data_get},
    {"/api/data/:key", HREQ_PUT, ep_data_put},
    {"/api/data/:key", HREQ_DELETE, ep_data_delete},
    {"/api/ring", HREQ_GET, ep_ring},
    {"/api/ring/key/:key", HREQ_GET, ep_ring_key},
    {"/api/versions/:key", HREQ_GET, ep_versions},
    {"/api/nodes", HREQ_POST, ep_nodes_add},
    {"/api/nodes/:id", HREQ_DELETE, ep_nodes_remove},
    {"/api/nodes/:id/kill", HREQ_POST, ep_node_kill},
    {"/api/nodes/:id/revive", HREQ_POST, ep_node_revive},
    {"/api/events", HREQ_GET, ep_events},
    {"/api/merkle", HREQ_GET, ep_merkle},
    {"/api/merkle/:partition", HREQ_GET, ep_merkle_partition},
    {"/api/gossip", HREQ_GET, ep_gossip},
    {"/api/faults", HREQ_GET, ep_faults_list},
    {"/api/faults", HREQ_POST, ep_faults_add},
    {"/api/faults", HREQ_DELETE, ep_faults_clear},
    {"/api/stream", HREQ_GET, ep_stream},
    {"/metrics", HREQ_GET, ep_metrics},
};

/* ---- a request ---------------------------------------------------------------- */

static void hcall_free(struct hcall *hc)
{
    if (hc->c)
        return; /* freed when its command completes (hcall_done_cb) */
    if (hc->g) {
        struct gather *g = hc->g;
        hc->g = NULL;
        g->hc = NULL;
        gather_release(g);
    }
    if (hc->evcon)
        http_conn_watch(hc->h, hc->evcon, NULL, NULL);
    struct http *h = hc->h;
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        h->calls = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    evhttp_clear_headers(&hc->query);
    json_decref(hc->body);
    json_decref(hc->acc);
    dyn_free(hc->param);
    dyn_free(hc);
}

/* The connection went away before the answer: forget the request (evhttp
 * frees it); a command in flight still completes, into nothing. */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg)
{
    struct hcall *hc = arg;
    hc->req = NULL;
    hc->evcon = NULL;
    if (!hc->c)
        hcall_free(hc);
}

static unsigned method_bit(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return HREQ_GET;
    case EVHTTP_REQ_HEAD: return HREQ_GET; /* evhttp drops the body */
    case EVHTTP_REQ_POST: return HREQ_POST;
    case EVHTTP_REQ_PUT: return HREQ_PUT;
    case EVHTTP_REQ_DELETE: return HREQ_DELETE;
    default: return HREQ_OTHER;
    }
}

/* The address the client reached (it names this node too). */
static void local_addr(struct evhttp_connection *evcon, char *out, size_t cap)
{
    out[0] = '\0';
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out,
                  (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out,
                  (socklen_t)cap);
}

/* Protected mode, Host, Origin, and (when need_pass) the password: 0, or
 * it answered. */
static int check_access(struct http *h, struct evhttp_request *req,
                        int need_pass)
{
    struct node *n = h->node;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t pport = 0;
    evhttp_connection_get_peer(evcon, &peer, &pport);
    const char *pass = n->cfg.requirepass;
    int has_pass = pass && pass[0];
    if (n->cfg.protected_mode && !has_pass && peer && !hreq_addr_is_loopback(peer)) {
        send_error(req, 403,
                   "DENIED protected mode is on and no password is set: "
                   "only loopback clients are served (set requirepass, or "
                   "protected-mode no)");
        return -1;
    }
    const char *names[DYN_ARRAY_LEN(h->names) + 1];
    size_t nn = 0;
    for (size_t i = 0; i < h->nnames; i++)
        names[nn++] = h->names[i];
    char here[INET6_ADDRSTRLEN];
    local_addr(evcon, here, sizeof(here));
    names[nn++] = here;
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *host = evhttp_find_header(in, "Host");
    if (host && !hreq_host_allowed(host, names, nn)) {
        send_error(req, 403, "ERR the Host header does not name this node");
        return -1;
    }
    const char *origin = evhttp_find_header(in, "Origin");
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Vary", "Origin");
    if (origin && !hreq_origin_allowed(origin, names, nn, n->cfg.http_port)) {
        if (!hreq_origin_listed(origin, h->origin_list, h->norigins)) {
            send_error(req, 403, "ERR cross-origin requests are refused "
                                 "(only this node's and its cluster "
                                 "members' http origins are served)");
            return -1;
        }
        /* a page of another member: it may read this answer */
        evhttp_add_header(out, "Access-Control-Allow-Origin", origin);
    }
    if (evhttp_request_get_command(req) == EVHTTP_REQ_OPTIONS) {
        /* a preflight carries no credentials: answered before them */
        evhttp_add_header(out, "Access-Control-Allow-Methods",
                          "GET, POST, PUT, DELETE");
        evhttp_add_header(out, "Access-Control-Allow-Headers",
                          "Content-Type, Authorization");
        evhttp_add_header(out, "Access-Control-Max-Age", "600");
        evhttp_add_header(out, "Allow", "GET, HEAD, POST, PUT, DELETE, "
                                        "OPTIONS");
        evhttp_send_reply(req, 204, "No Content", NULL);
        return -1;
    }
    if (need_pass &&
        !hreq_auth_ok(evhttp_find_header(in, "Authorization"), pass)) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "WWW-Authenticate", "Bearer realm=\"dynamod\"");
        send_error(req, 401, "NOAUTH Authentication required.");
        return -1;
    }
    return 0;
}

/* ---- the page ------------------------------------------------------------ */

/* The policy the page is written for (no inline script or style, STYLE.md):
 * its own scripts and styles only; the API of any member (connect-src:
 * members' http origins are not known here, and each member checks the
 * Origin itself); no framing, no forms posted elsewhere. */
#define PAGE_CSP                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; "             \
    "img-src 'self' data:; connect-src 'self' http: https:; "               \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* GET / and GET /ui/<name>: a file of the table tools/embed-www built
 * (www.h), never the filesystem.  No password: the page holds nothing
 * secret, and it must load to ask for the password (#login) when the API
 * answers 401.  Protected mode, Host and Origin are checked as for the
 * API. */
static void serve_page(struct http *h, struct evhttp_request *req,
                       const char *path)
{
    if (check_access(h, req, 0) != 0)
        return;
    if (method_bit(evhttp_request_get_command(req)) != HREQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        send_error(req, 405, "ERR method not allowed here");
        return;
    }
    const char *name = strcmp(path, "/") == 0 ? "index.html" : path + 4;
    const struct www_file *f = NULL;
    for (size_t i = 0; i < www_nfiles && !f; i++)
        if (strcmp(www_files[i].name, name) == 0)
            f = &www_files[i];
    if (!f) {
        send_error(req, 404, "ERR no such file");
        return;
    }
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", f->type);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(out, "Referrer-Policy", "no-referrer");
    evhttp_add_header(out, "Content-Security-Policy", PAGE_CSP);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, f->bytes, f->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void http_request_cb(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    if (hconn_track(h, evhttp_request_get_connection(req)) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Connection", "close");
        send_error(req, 503, "ERR too many http connections (see "
                             "http-max-connections)");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path && (strcmp(path, "/") == 0 || strncmp(path, "/ui/", 4) == 0)) {
        serve_page(h, req, path);
        return;
    }
    if (check_access(h, req, 1) != 0)
        return;
    if (!path || !*path) {
        send_error(req, 404, "ERR no such path");
        return;
    }
    unsigned method = method_bit(evhttp_request_get_command(req));
    unsigned allow = 0;
    const struct route *rt = NULL;
    char *param = NULL;
    size_t plen = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(routes); i++) {
        char *p = NULL;
        size_t pl = 0;
        int m = hreq_match(routes[i].pattern, path, &p, &pl);
        if (m < 0) {
            send_error(req, 400, "ERR bad percent-encoding in the path");
            dyn_free(param);
            return;
        }
        if (m == 0)
            continue;
        allow |= routes[i].method;
        if (!rt && routes[i].method == method) {
            rt = &routes[i];
            param = p;
            plen = pl;
        } else {
            dyn_free(p);
        }
    }
    if (!allow) {
        send_error(req, 404, "ERR no such path");
        return;
    }
    if (!rt) {
        char a[64];
        hreq_allow_text(allow, a, sizeof(a));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", a);
        send_error(req, 405, "ERR method not allowed here");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    json_t *body = NULL;
    if (blen > HTTP_BODY_MAX) {
        dyn_free(param);
        send_error(req, 413, "ERR the body is larger than the API takes");
        return;
    }
    if (blen > 0) {
        json_error_t jerr;
        const char *bytes = (const char *)evbuffer_pullup(in, -1);
        body = json_loadb(bytes, blen, JSON_REJECT_DUPLICATES, &jerr);
        if (!body || !json_is_object(body)) {
            char msg[256];
            if (body)
                snprintf(msg, sizeof(msg), "ERR the body must be a JSON "
                                           "object");
            else
                snprintf(msg, sizeof(msg), "ERR bad JSON: %s (line %d)",
                         jerr.text, jerr.line);
            json_decref(body);
            dyn_free(param);
            send_error(req, 400, msg);
            return;
        }
    }
    struct hcall *hc = dyn_calloc(1, sizeof(*hc));
    hc->h = h;
    hc->req = req;
    hc->evcon = evhttp_request_get_connection(req);
    hc->rt = rt;
    hc->param = param;
    hc->plen = plen;
    hc->body = body;
    TAILQ_INIT(&hc->query);
    const char *q = evhttp_uri_get_query(uri);
    if (q && evhttp_parse_query_str(q, &hc->query) != 0) {
        hc->req = NULL;
        hcall_free(hc);
        send_error(req, 400, "ERR bad query string");
        return;
    }
    hc->next = h->calls;
    if (h->calls)
        h->calls->prev = hc;
    h->calls = hc;
    http_conn_watch(h, hc->evcon, conn_closed_cb, hc);
    rt->fn(hc, NULL, 0);
}

/* ---- start and stop ------------------------------------------------------- */

static void add_name(struct http *h, const char *name)
{
    if (name && name[0] && h->nnames < DYN_ARRAY_LEN(h->names))
        h->names[h->nnames++] = dyn_strdup(name);
}

int http_start(struct node *n)
{
    n->http = NULL;
    if (n->cfg.http_port <= 0)
        return 0;
    struct http *h = dyn_calloc(1, sizeof(*h));
    h->node = n;
    h->eh = evhttp_new(n->base);
    evhttp_set_max_body_size(h->eh, 2 * HTTP_BODY_MAX);
    evhttp_set_max_headers_size(h->eh, HTTP_HEADERS_MAX);
    evhttp_set_timeout(h->eh, HTTP_TIMEOUT_S);
    evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                          EVHTTP_REQ_DELETE |
                                          EVHTTP_REQ_OPTIONS |
                                          EVHTTP_REQ_PATCH);
    evhttp_set_gencb(h->eh, http_request_cb, h);
    add_name(h, n->cfg.node_name);
    add_name(h, n->cfg.cluster_announce_ip);
    char hn[256];
    if (gethostname(hn, sizeof(hn)) == 0) {
        hn[sizeof(hn) - 1] = '\0';
        add_name(h, hn);
    }
    const char *bind = n->cfg.bind && n->cfg.bind[0] ? n->cfg.bind
                                                     : "127.0.0.1";
    char *copy = dyn_strdup(bind);
    char *save = NULL;
    int rc = 0, bound = 0;
    for (char *tok = strtok_r(copy, " \t", &save); tok && rc == 0;
         tok = strtok_r(NULL, " \t", &save)) {
        int optional = 0;
        char host[ANNOUNCE_HOST_MAX];
        if (announce_bind_word(tok, host, sizeof(host), &optional) != 0) {
            dlog(DLOG_WARNING, "http: invalid bind address '%s'", tok);
            rc = optional ? 0 : DYN_EINVAL;
            continue;
        }
        if (strcmp(host, "0.0.0.0") && strcmp(host, "::"))
            add_name(h, host);
        struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(
            h->eh, host, (ev_uint16_t)n->cfg.http_port);
        if (bs && h->nlisteners < DYN_ARRAY_LEN(h->listeners))
            h->listeners[h->nlisteners++] =
                evhttp_bound_socket_get_listener(bs);
        if (!bs) {
            dlog(DLOG_WARNING, "http: could not listen on %s:%d", host,
                 n->cfg.http_port);
            rc = optional ? 0 : DYN_EIO;
            continue;
        }
        bound++;
    }
    dyn_free(copy);
    if (rc == 0 && bound == 0)
        rc = DYN_EIO;
    n->http = h;
    if (rc != 0) {
        http_free(n);
        return rc;
    }
    h->sse = sse_new(n, origins_learn, h);
    h->learn_ev = evtimer_new(n->base, learn_cb, h);
    struct timeval tv = {LEARN_FIRST_MS / 1000, (LEARN_FIRST_MS % 1000) * 1000};
    evtimer_add(h->learn_ev, &tv);
    dlog(DLOG_NOTICE, "http API on port %d", n->cfg.http_port);
    return 0;
}

void http_free(struct node *n)
{
    struct http *h = n->http;
    if (!h)
        return;
    while (h->calls) {
        struct hcall *hc = h->calls;
        hc->req = NULL; /* evhttp_free drops the requests */
        if (hc->c) {
            struct client *c = hc->c;
            hc->c = NULL;
            client_gone(c);
        }
        hcall_free(hc);
    }
    sse_free(h->sse);
    if (h->learn_ev)
        event_free(h->learn_ev);
    json_decref(h->origins);
    dyn_free(h->origin_list);
    h->nlisteners = 0; /* evhttp_free frees them before the connections */
    evhttp_free(h->eh); /* its connections' close callbacks forget them */
    while (h->conns)
        hconn_forget(h, h->conns);
    for (size_t i = 0; i < h->nnames; i++)
        dyn_free(h->names[i]);
    dyn_free(h);
    n->http = NULL;
}
