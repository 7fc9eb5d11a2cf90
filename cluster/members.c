/*
 * members.c -- the I/O side of membership: gossip rounds, seeds, the
 * failure detector's pings, members learned at run time, and the
 * simulated failures DYNAMO.KILL / DYNAMO.REVIVE / DYNAMO.FAULT.
 *
 * The decisions live in pure modules (membership.c: the failure detector;
 * gossip.c: the merge rules and the wire format); this file sends and
 * receives.  Every cluster tick (5 ms):
 *
 *   - every ping interval (request-timeout-ms / 2), R.PING to every
 *     connected peer, so that a silent peer always has a request
 *     outstanding and turns SUSPECT after suspect-timeout-ms and DOWN after
 *     down-timeout-ms; DOWN peers are pinged too (probing notices
 *     recovery); a peer whose link is down counts as not answering;
 *   - every gossip-interval-ms, our heartbeat + 1 and one push-pull GOSSIP
 *     exchange with a random live peer, or with a seed while we know no
 *     live peer.  The reply is merged like the request, so both ends leave
 *     with the union.  A member learned this way gets a peer link at once;
 *     a new ring (higher epoch) goes to rebalance.c.
 *
 * What the cluster holds for this node comes back in gossip too (the rule
 * is gossip.h's): a tombstone for it is adopted, logged once, and shown in
 * INFO (member_status, member_incarnation, member_rejoining), unless
 * DYNAMO.JOIN made it rejoin, when the tombstone is outbid and that is
 * logged instead.
 *
 * Gossip also carries the quorum settings (n, r, w) with a version, the
 * time of the DYNAMO.CONFIG SET that made them: the newer version wins, so
 * a node that was down when they changed catches up at its first exchange.
 *
 * Seeds are HOST:PORT lines.  The peer bus dials them under a "?seed-i"
 * name, which accepts whoever answers there if it proves the cluster
 * secret; the seed's real name arrives in its gossip reply.  DYNAMO.JOIN
 * adds one at run time, and refuses a seed off loopback while this node
 * advertises a loopback address (announce.h): the seed could not reach it.
 *
 * Spares (spare-node lines, at most SPARES_MAX) are nodes that hold the
 * cluster secret but are not members: an operator may add them from the
 * http API.  The bus dials each under a "?spare-i" name, as it does a
 * seed, and keeps the link; every second a linked spare is asked R.SPARE
 * (its name, its http port, whether it is in a ring), so DYNAMO.SPARES
 * answers from what this node holds, without waiting on the network.
 * DYNAMO.ADD sends the spare R.JOIN with this node's own address: the
 * spare runs DYNAMO.JOIN through us (rebalance.c), its real join with the
 * streaming of its partitions.  A spare that became a member (its address
 * or reported name is a live member) is no longer listed.
 *
 * DYNAMO.KILL puts the peer bus in its killed state (every request in or
 * out is silently lost, links stay up) and the coordinator refuses data
 * commands; the node keeps its data and its admin commands.  REVIVE (or the
 * timer) undoes it.  R.REVIVE and R.FAULT pass through a killed bus and
 * through faults (PEER_CMD_UNFILTERED), so a relayed REVIVE or CLEAR always
 * arrives.
 *
 * A fault from A to B is applied on one of the two: on A as drop_out (A's
 * requests to B are never sent), or on B as drop_in (A's requests are
 * answered with the bus's drop marker, which A takes as silence).  Both
 * directions is both flags on one node.  A delay is always applied on the
 * sending side.  A node named in neither end relays the fault to A (and,
 * for a delay both ways, to B).
 *
 * The random choices (the gossip partner, which seed) come from a stream
 * seeded by the node's random source (node_random), and time from the
 * node's clock via the tick, so a simulation replays them from its seed.
 *
 * Thread-safety: none; the event loop owns everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cluster/announce.h"
#include "cluster/cluster_int.h"
#include "cluster/cluster.h"
#include "cluster/gossip.h"
#include "cluster/gossiplog.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

#define SPARES_MAX 16
#define SPARE_ASK_MS 1000

/* A spare-node line, and what the spare last said of itself. */
struct spare {
    struct cluster *cl;
    char addr[MEMBER_HOST_MAX + 16];    /* "host:port", its client address */
    char host[MEMBER_HOST_MAX];
    int port;
    int peer;                           /* the link's peer id */
    char name[MEMBER_NAME_MAX];         /* "" until it answered */
    int http_port;                      /* 0: none, or not yet known */
    int in_ring;
    int asking;                         /* an R.SPARE in flight */
    uint64_t asked_ms;
};

/* This file's state (cl->mem). */
struct members {
    struct spare *spares;               /* the spare-node lines, in order */
    uint32_t nspares;
    uint64_t last_gossip_ms;
    uint64_t rnd;                       /* xorshift state */
    int *seed_peer;                     /* peer ids of the seed links */
    uint32_t nseeds;
    uint32_t peer_cap;                  /* capacity of cl->peer_of, fault */
    struct peer_fault *fault;           /* per member: DYNAMO.FAULT */
    int killed;                         /* DYNAMO.KILL in effect */
    uint64_t killed_until;              /* 0: until DYNAMO.REVIVE */
    uint64_t gossip_rounds;
    uint64_t qversion;                  /* of n/r/w: DYNAMO.CONFIG SET's
                                         * time; gossip keeps the newest */
    struct gossiplog rounds;            /* the last GOSSIPLOG_ROUNDS rounds,
                                         * for DYNAMO.GOSSIP */
};

/* A sent round waiting for its reply: the slot is found again by seq. */
struct gossip_ask {
    struct cluster *cl;
    uint64_t seq;
};

static uint64_t rnd_next(struct cluster *cl)
{
    uint64_t x = cl->mem->rnd;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    cl->mem->rnd = x;
    return x;
}

static void grow(struct cluster *cl, uint32_t need)
{
    if (need <= cl->mem->peer_cap)
        return;
    uint32_t cap = DYN_MAX(need, cl->mem->peer_cap * 2);
    cl->peer_of = dyn_realloc(cl->peer_of, sizeof(int) * cap);
    cl->mem->fault = dyn_realloc(cl->mem->fault, sizeof(*cl->mem->fault) * cap);
    for (uint32_t i = cl->mem->peer_cap; i < cap; i++) {
        cl->peer_of[i] = -1;
        memset(&cl->mem->fault[i], 0, sizeof(cl->mem->fault[i]));
    }
    cl->mem->peer_cap = cap;
}

void members_added(struct cluster *cl, uint32_t m)
{
    grow(cl, m + 1);
    if (m == cl->mb.self || cl->peer_of[m] >= 0)
        return;
    const struct member *me = &cl->mb.m[m];
    int id = peer_add(cl->bus, me->name, me->host, me->peer_port);
    if (id == DYN_EEXIST) {
        int old = peer_find(cl->bus, me->name);
        if (old >= 0)
            peer_remove(cl->bus, old);
        id = peer_add(cl->bus, me->name, me->host, me->peer_port);
    }
    cl->peer_of[m] = id >= 0 ? id : -1;
    if (id >= 0)
        peer_set_fault(cl->bus, id, &cl->mem->fault[m]);
    dlog(DLOG_NOTICE, "member %s (%s:%u) added", me->name, me->host,
         (unsigned)me->port);
}

/* "HOST:PORT[@PEERPORT]" */
static int parse_seed(const char *s, char *host, size_t hostsz, int *port_out,
                      int *pport)
{
    char hp[160];
    snprintf(hp, sizeof(hp), "%s", s);
    char *at = strchr(hp, '@');
    *pport = 0;
    if (at) {
        *at = 0;
        long long v;
        if (dyn_str2ll(at + 1, strlen(at + 1), &v) != 0 || v <= 0 ||
            v > 65535)
            return -1;
        *pport = (int)v;
    }
    char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return -1;
    *colon = 0;
    long long port;
    if (dyn_str2ll(colon + 1, strlen(colon + 1), &port) != 0 || port <= 0 ||
        port > 65535)
        return -1;
    if (!*pport)
        *pport = (int)port + 10000;
    if (*pport > 65535 || strlen(hp) >= hostsz)
        return -1;
    snprintf(host, hostsz, "%s", hp);
    *port_out = (int)port;
    return 0;
}

static int seed_add(struct cluster *cl, const char *line, struct dbuf *err)
{
    char host[MEMBER_HOST_MAX], name[PEER_NAME_MAX];
    int port, pport;
    if (parse_seed(line, host, sizeof(host), &port, &pport) != 0) {
        dbuf_printf(err, "seed '%s': expected HOST:PORT[@PEERPORT]", line);
        return DYN_EINVAL;
    }
    snprintf(name, sizeof(name), "?seed-%u", cl->mem->nseeds);
    int id = peer_add(cl->bus, name, host, pport);
    if (id < 0) {
        dbuf_printf(err, "seed '%s': cannot add it", line);
        return DYN_EINVAL;
    }
    cl->mem->seed_peer = dyn_realloc(cl->mem->seed_peer, sizeof(int) * (cl->mem->nseeds + 1));
    cl->mem->seed_peer[cl->mem->nseeds++] = id;
    return 0;
}

int members_add_seed(struct cluster *cl, const char *hostport, size_t len,
                     struct dbuf *err)
{
    char line[160];
    if (len >= sizeof(line)) {
        dbuf_printf(err, "ERR expected host:port");
        return DYN_EINVAL;
    }
    memcpy(line, hostport, len);
    line[len] = 0;
    /* we were started knowing no other member, so a loopback address was
     * acceptable then (cluster_init); a seed elsewhere could never dial it
     * back, and would let a member into the ring that everyone sees down */
    const char *self_host = cl->mb.m[cl->mb.self].host;
    char host[ANNOUNCE_HOST_MAX];
    if (announce_host_of(line, host, sizeof(host)) == 0 &&
        announce_kind_of(host) != ANNOUNCE_LOOPBACK &&
        announce_kind_of(self_host) != ANNOUNCE_ROUTABLE) {
        dbuf_printf(err, "ERR this node advertises %s, which the nodes at "
                    "%s cannot reach: restart it with cluster-announce-ip "
                    "(or a bind address) they can reach", self_host, host);
        return DYN_EINVAL;
    }
    struct dbuf e;
    dbuf_init(&e);
    int rc = seed_add(cl, line, &e);
    if (rc != 0)
        dbuf_printf(err, "ERR %.*s", (int)e.len, e.p);
    dbuf_free(&e);
    /* gossip with it at once rather than at the next round */
    cl->mem->last_gossip_ms = 0;
    return rc;
}

/* ---- spares ------------------------------------------------------------- */

static int spares_init(struct cluster *cl, struct dbuf *err)
{
    const char *p = cl->node->cfg.spare_nodes ? cl->node->cfg.spare_nodes
                                              : "";
    struct members *mem = cl->mem;
    mem->spares = dyn_calloc(SPARES_MAX, sizeof(*mem->spares));
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[160], name[PEER_NAME_MAX];
        snprintf(line, sizeof(line), "%.*s", (int)DYN_MIN(len, 159), p);
        p += len + (e ? 1 : 0);
        if (!line[0])
            continue;
        if (mem->nspares == SPARES_MAX) {
            dbuf_printf(err, "spare-node: at most %d lines", SPARES_MAX);
            return DYN_EINVAL;
        }
        struct spare *sp = &mem->spares[mem->nspares];
        int pport;
        if (parse_seed(line, sp->host, sizeof(sp->host), &sp->port,
                       &pport) != 0) {
            dbuf_printf(err, "spare-node '%s': expected HOST:PORT[@PEERPORT]",
                        line);
            return DYN_EINVAL;
        }
        snprintf(sp->addr, sizeof(sp->addr), "%s:%d", sp->host, sp->port);
        snprintf(name, sizeof(name), "?spare-%u", mem->nspares);
        sp->peer = peer_add(cl->bus, name, sp->host, pport);
        if (sp->peer < 0) {
            dbuf_printf(err, "spare-node '%s': cannot add it", line);
            return DYN_EINVAL;
        }
        sp->cl = cl;
        mem->nspares++;
    }
    return 0;
}

/* The live (not tombstoned) member a spare has become, or -1. */
static int spare_member(const struct cluster *cl, const struct spare *sp)
{
    for (uint32_t m = 0; m < cl->mb.n; m++) {
        const struct member *me = &cl->mb.m[m];
        if (MEMBER_IS_TOMBSTONE(me->status))
            continue;
        if ((me->port == sp->port && strcmp(me->host, sp->host) == 0) ||
            (sp->name[0] && strcmp(me->name, sp->name) == 0))
            return (int)m;
    }
    return -1;
}

/* R.SPARE's answer: [name, http-port, in-ring]. */
static void spare_answered(void *ctx, int err, const struct peer_value *v)
{
    struct spare *sp = ctx;
    sp->asking = 0;
    if (err || !v || v->type != PEER_V_ARRAY || v->n != 3 ||
        v->elem[0].type != PEER_V_STRING || v->elem[1].type != PEER_V_INT ||
        v->elem[2].type != PEER_V_INT)
        return;
    snprintf(sp->name, sizeof(sp->name), "%s", v->elem[0].str);
    sp->http_port = (int)v->elem[1].integer;
    sp->in_ring = v->elem[2].integer != 0;
}

static void spares_tick(struct cluster *cl, uint64_t t)
{
    struct dyn_arg av[1] = {{"R.SPARE", 7}};
    for (uint32_t i = 0; i < cl->mem->nspares; i++) {
        struct spare *sp = &cl->mem->spares[i];
        if (sp->asking || t - sp->asked_ms < SPARE_ASK_MS ||
            !peer_is_connected(cl->bus, sp->peer))
            continue;
        sp->asked_ms = t;
        if (peer_request(cl->bus, sp->peer, 1, av, spare_answered, sp,
                         NULL) == 0)
            sp->asking = 1;
    }
}

/* R.SPARE: what a member shows of us while we are its spare. */
static void h_spare(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    (void)argc;
    (void)argv;
    const char *me = cl->mb.m[cl->mb.self].name;
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, 3);
    reply_bulk_cstr(b, me);
    reply_int(b, cl->node->cfg.http_port);
    reply_int(b, ring_node_index(&cl->ring, me) >= 0 &&
                     !MEMBER_IS_TOMBSTONE(cl->mb.m[cl->mb.self].status));
    peer_call_done(call);
}

void cluster_spares_reply(struct node *n, struct dbuf *out, int resp)
{
    struct cluster *cl = n->cluster;
    uint32_t k = 0;
    for (uint32_t i = 0; cl && i < cl->mem->nspares; i++)
        k += spare_member(cl, &cl->mem->spares[i]) < 0;
    reply_array(out, k);
    for (uint32_t i = 0; cl && i < cl->mem->nspares; i++) {
        const struct spare *sp = &cl->mem->spares[i];
        if (spare_member(cl, sp) >= 0)
            continue;
        int linked = peer_is_connected(cl->bus, sp->peer);
        reply_map(out, resp, 4);
        reply_bulk_cstr(out, "addr");
        reply_bulk_cstr(out, sp->addr);
        reply_bulk_cstr(out, "name");
        if (sp->name[0])
            reply_bulk_cstr(out, sp->name);
        else
            reply_null(out, resp);
        reply_bulk_cstr(out, "http");
        if (sp->http_port > 0) {
            char hp[MEMBER_HOST_MAX + 16];
            snprintf(hp, sizeof(hp), "%s:%d", sp->host, sp->http_port);
            reply_bulk_cstr(out, hp);
        } else {
            reply_null(out, resp);
        }
        reply_bulk_cstr(out, "linked");
        reply_bool(out, resp, linked);
    }
}

struct spare_add {
    struct spare *sp;
    cluster_done_fn *done;
    void *ctx;
};

static void spare_join_answered(void *ctx, int err, const struct peer_value *v)
{
    struct spare_add *a = ctx;
    if (!cl_refused(err, v, a->done, a->ctx)) {
        /* the join itself is logged by its driver, the spare; this says
         * here who asked for it */
        struct evlog_entry *e = cl_event(a->sp->cl, EV_JOIN);
        evlog_field(e, "state", "asked");
        evlog_field(e, "kind", "join");
        evlog_field(e, "member", "%s",
                    a->sp->name[0] ? a->sp->name : a->sp->addr);
        evlog_field(e, "addr", "%s", a->sp->addr);
        a->done(a->ctx, NULL);
    }
    dyn_free(a);
}

static struct spare *spare_at(const struct cluster *cl, const char *addr,
                              size_t len)
{
    for (uint32_t i = 0; cl && i < cl->mem->nspares; i++) {
        struct spare *s = &cl->mem->spares[i];
        if (strlen(s->addr) == len && memcmp(s->addr, addr, len) == 0)
            return s;
    }
    return NULL;
}

int cluster_is_spare(const struct node *n, const char *addr, size_t len)
{
    return spare_at(n->cluster, addr, len) != NULL;
}

int cluster_add_spare(struct node *n, const char *addr, size_t len,
                      cluster_done_fn *done, void *ctx, struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    if (!cl) {
        dbuf_printf(err, "ERR this node is not in a cluster");
        return DYN_EINVAL;
    }
    struct spare *sp = spare_at(cl, addr, len);
    if (!sp) {
        dbuf_printf(err, "ERR '%.*s' is not a spare-node of this node",
                    (int)DYN_MIN(len, 80), addr);
        return DYN_ENOTFOUND;
    }
    int m = spare_member(cl, sp);
    if (m >= 0) {
        dbuf_printf(err, "ERR %s is already a member (%s)", sp->addr,
                    cl->mb.m[m].name);
        return DYN_EEXIST;
    }
    if (members_killed(cl) || !peer_is_connected(cl->bus, sp->peer)) {
        dbuf_printf(err, "ERR the spare %s is not linked over the peer bus",
                    sp->addr);
        return DYN_EIO;
    }
    /* where the spare dials us: our advertised address, as a seed line */
    const struct member *me = &cl->mb.m[cl->mb.self];
    char seed[MEMBER_HOST_MAX + 16];
    snprintf(seed, sizeof(seed), "%s:%u@%u", me->host, (unsigned)me->port,
             (unsigned)me->peer_port);
    struct dyn_arg av[2] = {{"R.JOIN", 6}, {seed, strlen(seed)}};
    struct spare_add *a = dyn_malloc(sizeof(*a));
    a->sp = sp;
    a->done = done;
    a->ctx = ctx;
    if (peer_request(cl->bus, sp->peer, 2, av, spare_join_answered, a,
                     NULL) != 0) {
        dyn_free(a);
        dbuf_printf(err, "ERR cannot send to the spare %s", sp->addr);
        return DYN_EIO;
    }
    dlog(DLOG_NOTICE, "DYNAMO.ADD: told the spare %s to join through %s",
         sp->addr, seed);
    return 0;
}

int members_init(struct cluster *cl, struct dbuf *err)
{
    struct node *n = cl->node;
    cl->mem = dyn_calloc(1, sizeof(*cl->mem));
    /* gossip's own stream, seeded from the node's random source so that
     * a simulation replays it from its seed (xorshift: never zero) */
    cl->mem->rnd = node_random(n) | 1;
    gossiplog_init(&cl->mem->rounds, GOSSIPLOG_ROUNDS);
    grow(cl, DYN_MAX(cl->mb.n, 8));
    uint64_t hb = (uint64_t)n->cfg.down_timeout_ms +
                  5 * (uint64_t)n->cfg.gossip_interval_ms;
    membership_set_heartbeat_timeouts(&cl->mb, hb, hb * 2);
    const char *p = n->cfg.seeds ? n->cfg.seeds : "";
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[160];
        snprintf(line, sizeof(line), "%.*s", (int)DYN_MIN(len, 159), p);
        p += len + (e ? 1 : 0);
        if (line[0] && seed_add(cl, line, err) != 0)
            return DYN_EINVAL;
    }
    return spares_init(cl, err);
}

void members_free(struct cluster *cl)
{
    if (!cl->mem)
        return;
    dyn_free(cl->mem->seed_peer);
    dyn_free(cl->mem->spares);
    dyn_free(cl->mem->fault);
    gossiplog_free(&cl->mem->rounds);
    dyn_free(cl->mem);
    cl->mem = NULL;
}

const struct gossiplog *cluster_gossip_log(const struct node *n)
{
    return n->cluster && n->cluster->mem ? &n->cluster->mem->rounds : NULL;
}

int members_killed(const struct cluster *cl)
{
    return cl->mem->killed;
}

uint64_t members_quorum_version(const struct cluster *cl)
{
    return cl->mem->qversion;
}

void members_info(struct cluster *cl, struct dbuf *out)
{
    const struct member *me = &cl->mb.m[cl->mb.self];
    dbuf_printf(out, "gossip_rounds:%llu\r\nkilled:%d\r\n"
                "member_status:%s\r\nmember_incarnation:%u\r\n"
                "member_rejoining:%d\r\n",
                (unsigned long long)cl->mem->gossip_rounds, cl->mem->killed,
                member_status_name(me->status), me->incarnation,
                cl->mb.rejoining);
}

void cluster_quorum_changed(struct node *n, const struct dyn_arg *name,
                            const struct dyn_arg *value)
{
    struct cluster *cl = n->cluster;
    if (!cl)
        return;
    /* the version is the time of the change: gossip keeps the newest, so
     * nodes that miss this notice catch up */
    cl->mem->qversion = DYN_MAX(cl->mem->qversion + 1, node_wall_ms(n));
    char vb[24];
    snprintf(vb, sizeof(vb), "%llu", (unsigned long long)cl->mem->qversion);
    struct dyn_arg av[4] = {{"R.CONFIG", 8}, *name, *value, {vb, strlen(vb)}};
    for (uint32_t m = 0; m < cl->mb.n; m++)
        if (m != cl->mb.self)
            cl_send(cl, (uint16_t)m, 4, av, NULL, NULL);
}

/* ---- gossip ------------------------------------------------------------- */

/* EV_GOSSIP: what a gossip message told us about a member. */
static void gossip_news(struct cluster *cl, const char *news, uint32_t m)
{
    struct evlog_entry *e = cl_event(cl, EV_GOSSIP);
    evlog_field(e, "news", "%s", news);
    evlog_field(e, "member", "%s", cl->mb.m[m].name);
    evlog_field(e, "incarnation", "%u", cl->mb.m[m].incarnation);
}

/* What a merge changed, applied; each change is also a news line of the
 * round that brought it (r, may be NULL). */
static void apply_events(struct cluster *cl, struct gossip_events *ev,
                         struct gossiplog_round *r)
{
    for (uint32_t i = 0; i < ev->n; i++) {
        const struct gossip_event *e = &ev->ev[i];
        const struct member *who = &cl->mb.m[e->member];
        switch (e->type) {
        case GOSSIP_EV_JOINED:
        case GOSSIP_EV_RESTARTED:
        case GOSSIP_EV_SELF_REFUTED:
        case GOSSIP_EV_SELF_REJOINED:
            gossiplog_news(r, "%s: %s, incarnation %u", who->name,
                           e->type == GOSSIP_EV_JOINED ? "joined"
                           : e->type == GOSSIP_EV_RESTARTED ? "restarted"
                           : e->type == GOSSIP_EV_SELF_REFUTED
                               ? "refuted"
                               : "rejoined",
                           who->incarnation);
            break;
        case GOSSIP_EV_STATUS:
        case GOSSIP_EV_SELF_REMOVED:
            gossiplog_news(r, "%s: %s->%s", who->name,
                           member_status_name(e->from),
                           member_status_name(e->to));
            break;
        case GOSSIP_EV_RING:
            break;
        }
        switch (e->type) {
        case GOSSIP_EV_JOINED:
            members_added(cl, e->member);
            gossip_news(cl, "joined", e->member);
            break;
        case GOSSIP_EV_RESTARTED: {
            /* a new life: the address may have changed */
            grow(cl, e->member + 1);
            if (cl->peer_of[e->member] >= 0) {
                peer_remove(cl->bus, cl->peer_of[e->member]);
                cl->peer_of[e->member] = -1;
            }
            members_added(cl, e->member);
            dlog(DLOG_NOTICE, "member %s restarted (incarnation %u)",
                 cl->mb.m[e->member].name, cl->mb.m[e->member].incarnation);
            gossip_news(cl, "restarted", e->member);
            break;
        }
        case GOSSIP_EV_STATUS: {
            struct member_event me = {e->member, e->from, e->to};
            cl_log_event(cl, &me);
            break;
        }
        case GOSSIP_EV_SELF_REFUTED:
            dlog(DLOG_NOTICE, "gossip: raised our incarnation to %u",
                 cl->mb.m[cl->mb.self].incarnation);
            gossip_news(cl, "refuted", cl->mb.self);
            break;
        case GOSSIP_EV_SELF_REMOVED:
            /* once per adoption: the entry is a tombstone from now on */
            dlog(DLOG_WARNING, "gossip: the cluster holds this node as %s "
                 "(incarnation %u): it stays out of the ring; DYNAMO.JOIN "
                 "host:port brings it back as a new life",
                 e->to == MEMBER_LEFT ? "left" : "forgotten",
                 cl->mb.m[cl->mb.self].incarnation);
            break;
        case GOSSIP_EV_SELF_REJOINED:
            dlog(DLOG_NOTICE, "gossip: the cluster held this node as %s; "
                 "rejoining as incarnation %u",
                 e->from == MEMBER_LEFT ? "left" : "forgotten",
                 cl->mb.m[cl->mb.self].incarnation);
            break;
        case GOSSIP_EV_RING:
            break;
        }
    }
    if (ev->has_old_ring) {
        gossiplog_news(r, "ring: epoch %llu->%llu",
                       (unsigned long long)ev->old_ring.epoch,
                       (unsigned long long)cl->ring.epoch);
        dlog(DLOG_NOTICE, "gossip: ring epoch %llu -> %llu",
             (unsigned long long)ev->old_ring.epoch,
             (unsigned long long)cl->ring.epoch);
        rebalance_ring_changed(cl, &ev->old_ring);
    }
}

/* Decodes and merges a GOSSIP payload; the round it belongs to (r, may be
 * NULL) gets its entry count and news. */
static int merge_bytes(struct cluster *cl, const char *p, size_t len,
                       struct gossiplog_round *r)
{
    struct gossip_msg msg;
    struct gossip_events ev;
    gossip_events_init(&ev);
    int rc = gossip_decode((const uint8_t *)p, len, &msg);
    if (rc == 0) {
        if (r)
            r->entries = msg.n;
        rc = gossip_merge(&cl->mb, &cl->ring, &msg, cl_now(cl), &ev);
        apply_events(cl, &ev, r);
    }
    gossip_msg_free(&msg);
    gossip_events_free(&ev);
    return rc;
}

int members_adopt_quorum(struct cluster *cl, uint64_t version, long long n,
                         long long r, long long w, const char *from)
{
    /* n above QUORUM_MAX is refused, as config and DYNAMO.CONFIG do */
    if (version <= cl->mem->qversion || n < 1 || n > QUORUM_MAX || r < 1 ||
        r > 64 || w < 1 || w > 64)
        return 0;
    struct config *c = &cl->node->cfg;
    cl->mem->qversion = version;
    if (c->n == n && c->r == r && c->w == w)
        return 1;
    c->n = (int)n;
    c->r = (int)r;
    c->w = (int)w;
    dlog(DLOG_NOTICE, "quorum settings n=%lld r=%lld w=%lld from %s", n, r, w,
         from);
    return 1;
}

/* The quorum part of a GOSSIP request or reply: version n r w. */
static void quorum_args(struct cluster *cl, char buf[4][24],
                        struct dyn_arg *av)
{
    const struct config *c = &cl->node->cfg;
    snprintf(buf[0], 24, "%llu", (unsigned long long)cl->mem->qversion);
    snprintf(buf[1], 24, "%d", c->n);
    snprintf(buf[2], 24, "%d", c->r);
    snprintf(buf[3], 24, "%d", c->w);
    for (int i = 0; i < 4; i++) {
        av[i].p = buf[i];
        av[i].len = strlen(buf[i]);
    }
}

static void adopt_quorum_values(struct cluster *cl,
                                const struct peer_value *v, const char *from)
{
    unsigned long long ver;
    long long q[3];
    for (int i = 0; i < 4; i++)
        if (v[i].type != PEER_V_STRING)
            return;
    if (dyn_str2ull(v[0].str, v[0].len, &ver) != 0)
        return;
    for (int i = 0; i < 3; i++)
        if (dyn_str2ll(v[1 + i].str, v[1 + i].len, &q[i]) != 0)
            return;
    members_adopt_quorum(cl, ver, q[0], q[1], q[2], from);
}

static void gossip_reply(void *ctx, int err, const struct peer_value *v)
{
    struct gossip_ask *ask = ctx;
    struct cluster *cl = ask->cl;
    struct gossiplog_round *r = gossiplog_find(&cl->mem->rounds, ask->seq);
    dyn_free(ask);
    const struct peer_value *bytes = v;
    if (err == 0 && v && v->type == PEER_V_ARRAY && v->n == 5) {
        bytes = &v->elem[0];
        adopt_quorum_values(cl, &v->elem[1], "gossip");
    }
    if (err == 0 && bytes && bytes->type == PEER_V_STRING) {
        if (r)
            r->answered = 1;
        int rc = merge_bytes(cl, bytes->str, bytes->len, r);
        if (rc == DYN_EPROTO)
            dlog(DLOG_WARNING, "gossip: a peer belongs to another cluster "
                               "(its ring has another partition count)");
    }
}

static void h_gossip(void *ctx, struct peer_call *call, int argc,
                     const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    if (argc != 2 && argc != 6) {
        peer_call_reply_error(call, "ERR GOSSIP bytes [version n r w]");
        return;
    }
    if (argc == 6) {
        struct peer_value q[4];
        memset(q, 0, sizeof(q));
        for (int i = 0; i < 4; i++) {
            q[i].type = PEER_V_STRING;
            q[i].str = (char *)argv[2 + i].p;
            q[i].len = argv[2 + i].len;
        }
        adopt_quorum_values(cl, q, peer_call_peer_name(call));
    }
    struct gossiplog_round *r =
        gossiplog_add(&cl->mem->rounds, node_wall_ms(cl->node),
                      GOSSIPLOG_RECEIVED, peer_call_peer_name(call));
    int rc = merge_bytes(cl, argv[1].p, argv[1].len, r);
    if (rc == DYN_EINVAL || rc == DYN_EPROTO) {
        peer_call_reply_error(call, rc == DYN_EPROTO
                                        ? "ERR another cluster (ring size)"
                                        : "ERR malformed gossip");
        return;
    }
    struct dbuf out;
    dbuf_init(&out);
    gossip_encode(&cl->mb, &cl->ring, &out);
    char qb[4][24];
    struct dyn_arg qa[4];
    quorum_args(cl, qb, qa);
    struct dbuf *b = peer_call_buf(call);
    reply_array(b, 5);
    reply_bulk(b, out.p, out.len);
    for (int i = 0; i < 4; i++)
        reply_bulk(b, qa[i].p, qa[i].len);
    peer_call_done(call);
    dbuf_free(&out);
}

static void gossip_round(struct cluster *cl)
{
    gossip_beat(&cl->mb);
    cl->mem->gossip_rounds++;
    uint32_t m;
    int peer = -1;
    char name[PEER_NAME_MAX] = "";
    if (gossip_pick_peer(&cl->mb, rnd_next(cl), &m) == 0 &&
        m < cl->mem->peer_cap && cl->peer_of[m] >= 0 &&
        peer_is_connected(cl->bus, cl->peer_of[m])) {
        peer = cl->peer_of[m];
        snprintf(name, sizeof(name), "%s", cl->mb.m[m].name);
    }
    if (peer < 0 && cl->mem->nseeds) {
        /* nobody live, or the pick is not connected yet: a seed */
        uint32_t start = (uint32_t)(rnd_next(cl) % cl->mem->nseeds);
        for (uint32_t i = 0; i < cl->mem->nseeds && peer < 0; i++) {
            uint32_t k = (start + i) % cl->mem->nseeds;
            int id = cl->mem->seed_peer[k];
            if (peer_is_connected(cl->bus, id)) {
                peer = id;
                snprintf(name, sizeof(name), "?seed-%u", k); /* seed_add's */
            }
        }
    }
    if (peer < 0)
        return;
    struct dbuf out;
    dbuf_init(&out);
    if (gossip_encode(&cl->mb, &cl->ring, &out) == 0) {
        char qb[4][24];
        struct dyn_arg av[6] = {{"GOSSIP", 6}, {out.p, out.len}};
        quorum_args(cl, qb, av + 2);
        struct gossip_ask *ask = dyn_malloc(sizeof(*ask));
        struct gossiplog_round *r =
            gossiplog_add(&cl->mem->rounds, node_wall_ms(cl->node),
                          GOSSIPLOG_SENT, name);
        ask->cl = cl;
        ask->seq = r ? r->seq : 0;
        if (peer_request(cl->bus, peer, 6, av, gossip_reply, ask, NULL) != 0)
            dyn_free(ask); /* refused at once: no callback */
    }
    dbuf_free(&out);
}

/* ---- simulated failures ------------------------------------------------- */

static void set_killed(struct cluster *cl, int on, uint64_t until)
{
    if (cl->mem->killed != on) {
        dlog(DLOG_WARNING, on ? "DYNAMO.KILL: this node now behaves as "
                                "crashed (peer traffic dropped, data "
                                "commands refused)"
                              : "DYNAMO.REVIVE: this node is back");
        struct evlog_entry *e = cl_event(cl, on ? EV_KILL : EV_REVIVE);
        evlog_field(e, "member", "%s", cl->mb.m[cl->mb.self].name);
        if (on && until)
            evlog_field(e, "until_ms", "%llu", (unsigned long long)until);
    }
    cl->mem->killed = on;
    cl->mem->killed_until = on ? until : 0;
    peer_bus_set_killed(cl->bus, on);
}

static int member_named(struct cluster *cl, const char *name, size_t len)
{
    char tmp[MEMBER_NAME_MAX];
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, name, len);
    tmp[len] = 0;
    return membership_find(&cl->mb, tmp);
}

static void apply_fault(struct cluster *cl, int m, int drop_out, int drop_in,
                        uint64_t delay)
{
    grow(cl, (uint32_t)m + 1);
    struct peer_fault *f = &cl->mem->fault[m];
    f->drop_out |= drop_out;
    f->drop_in |= drop_in;
    if (delay)
        f->delay_ms = delay;
    if (cl->peer_of[m] >= 0)
        peer_set_fault(cl->bus, cl->peer_of[m], f);
    struct evlog_entry *e = cl_event(cl, EV_FAULT);
    evlog_field(e, "peer", "%s", cl->mb.m[m].name);
    evlog_field(e, "drop", "%s", drop_out && drop_in ? "both"
                                 : drop_out          ? "out"
                                 : drop_in           ? "in"
                                                     : "no");
    if (delay)
        evlog_field(e, "delay_ms", "%llu", (unsigned long long)delay);
}

static void clear_faults(struct cluster *cl)
{
    evlog_field(cl_event(cl, EV_FAULT), "cleared", "all");
    for (uint32_t m = 0; m < cl->mem->peer_cap; m++) {
        memset(&cl->mem->fault[m], 0, sizeof(cl->mem->fault[m]));
        if (cl->peer_of[m] >= 0)
            peer_set_fault(cl->bus, cl->peer_of[m], &cl->mem->fault[m]);
    }
}

/* The fault rule of the essay, from this node's point of view.  kind 0:
 * drop, 1: delay.  Returns 0, or DYN_ENOTFOUND (unknown member). */
static int fault_apply(struct cluster *cl, const char *from, size_t flen,
                       const char *to, size_t tlen, int kind, uint64_t ms,
                       int both)
{
    int a = member_named(cl, from, flen), b = member_named(cl, to, tlen);
    int self = (int)cl->mb.self;
    if (a < 0 || b < 0)
        return DYN_ENOTFOUND;
    if (a == b)
        return DYN_EINVAL;
    char msbuf[24];
    snprintf(msbuf, sizeof(msbuf), "%llu", (unsigned long long)ms);
    struct dyn_arg av[6] = {{"R.FAULT", 7},
                            {from, flen},
                            {to, tlen},
                            {kind ? "DELAY" : "DROP", kind ? 5u : 4u},
                            {msbuf, strlen(msbuf)},
                            {"BOTH", 4}};
    if (kind == 0) {
        if (a == self)
            apply_fault(cl, b, 1, both, 0);
        else if (b == self)
            apply_fault(cl, a, both, 1, 0);
        else
            cl_send(cl, (uint16_t)a, both ? 6 : 5, av, NULL, NULL);
        return 0;
    }
    /* delays are applied by the sender */
    if (a == self)
        apply_fault(cl, b, 0, 0, ms);
    else
        cl_send(cl, (uint16_t)a, 5, av, NULL, NULL);
    if (both) {
        if (b == self)
            apply_fault(cl, a, 0, 0, ms);
        else {
            struct dyn_arg rv[5] = {av[0], av[2], av[1], av[3], av[4]};
            cl_send(cl, (uint16_t)b, 5, rv, NULL, NULL);
        }
    }
    return 0;
}

static void h_fault(void *ctx, struct peer_call *call, int argc,
                    const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    if (argc == 2 && dyn_arg_is(argv[1].p, argv[1].len, "CLEAR")) {
        clear_faults(cl);
        peer_call_reply_ok(call);
        return;
    }
    unsigned long long ms;
    if ((argc != 5 && argc != 6) ||
        dyn_str2ull(argv[4].p, argv[4].len, &ms) != 0) {
        peer_call_reply_error(call, "ERR R.FAULT from to DROP|DELAY ms [BOTH]");
        return;
    }
    int kind = dyn_arg_is(argv[3].p, argv[3].len, "DELAY");
    int rc = fault_apply(cl, argv[1].p, argv[1].len, argv[2].p, argv[2].len,
                         kind, ms, argc == 6);
    if (rc == 0)
        peer_call_reply_ok(call);
    else
        peer_call_reply_error(call, "ERR unknown member");
}

/* The end of a DYNAMO.KILL of `seconds` (0: until REVIVE).  A count of
 * seconds beyond the clock's range saturates: it must not wrap into a
 * deadline that has already passed. */
static uint64_t kill_until(struct cluster *cl, uint64_t seconds)
{
    uint64_t now = cl_now(cl);
    if (!seconds)
        return 0;
    if (seconds >= (UINT64_MAX - now) / 1000)
        return UINT64_MAX;
    return now + seconds * 1000;
}

static void h_kill(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    unsigned long long s = 0;
    if (argc == 2 && dyn_str2ull(argv[1].p, argv[1].len, &s) != 0) {
        peer_call_reply_error(call, "ERR R.KILL [seconds]");
        return;
    }
    /* reply first: the bus drops our replies' requests, not replies */
    peer_call_reply_ok(call);
    set_killed(cl, 1, kill_until(cl, s));
}

static void h_revive(void *ctx, struct peer_call *call, int argc,
                     const struct dyn_arg *argv)
{
    struct cluster *cl = ctx;
    (void)argc;
    (void)argv;
    set_killed(cl, 0, 0);
    peer_call_reply_ok(call);
}

const struct peer_command members_peer_cmds[] = {
    {"GOSSIP", h_gossip, 0},
    {"R.KILL", h_kill, 0},
    {"R.REVIVE", h_revive, PEER_CMD_UNFILTERED},
    {"R.FAULT", h_fault, PEER_CMD_UNFILTERED},
    {"R.SPARE", h_spare, 0},
};
const size_t members_npeer_cmds =
    sizeof(members_peer_cmds) / sizeof(members_peer_cmds[0]);

/* ---- the tick ----------------------------------------------------------- */

void members_tick(struct cluster *cl, uint64_t t)
{
    struct node *n = cl->node;
    if (cl->mem->killed && cl->mem->killed_until && t >= cl->mem->killed_until)
        set_killed(cl, 0, 0);
    /* thresholds can change at run time (CONFIG SET) */
    cl->mb.suspect_ms = (uint64_t)n->cfg.suspect_timeout_ms;
    cl->mb.down_ms = DYN_MAX((uint64_t)n->cfg.down_timeout_ms,
                             cl->mb.suspect_ms);
    cl->ping_interval_ms = DYN_MAX(cl->mb.suspect_ms / 3, 20);
    if (cl->mem->killed)
        return; /* a crashed node does nothing */
    spares_tick(cl, t);
    /* failure detector: keep a request outstanding to every peer */
    if (t - cl->last_ping_ms >= cl->ping_interval_ms) {
        cl->last_ping_ms = t;
        struct dyn_arg av[1] = {{"R.PING", 6}};
        for (uint32_t m = 0; m < cl->mb.n; m++)
            if (m != cl->mb.self && cl->peer_of[m] >= 0 &&
                !MEMBER_IS_TOMBSTONE(cl->mb.m[m].status) &&
                peer_is_connected(cl->bus, cl->peer_of[m]))
                cl_send(cl, (uint16_t)m, 1, av, NULL, NULL);
    }
    struct member_event ev[16];
    uint32_t k = membership_tick(&cl->mb, t, ev, 16);
    for (uint32_t i = 0; i < k; i++)
        cl_log_event(cl, &ev[i]);
    /* a peer we cannot reach at all is down, not just silent */
    for (uint32_t m = 0; m < cl->mb.n; m++)
        if (m != cl->mb.self && cl->peer_of[m] >= 0 &&
            !peer_is_connected(cl->bus, cl->peer_of[m]))
            membership_on_request(&cl->mb, m, t);
    if (t - cl->mem->last_gossip_ms >= (uint64_t)n->cfg.gossip_interval_ms) {
        cl->mem->last_gossip_ms = t;
        gossip_round(cl);
    }
}

/* ---- the public commands ------------------------------------------------ */

/* The member a KILL / REVIVE names (NULL: this node), or <0 with err. */
static int target_member(struct cluster *cl, const char *name, size_t len,
                         struct dbuf *err)
{
    if (!cl)
        return DYN_EINVAL;
    int m = name ? member_named(cl, name, len) : (int)cl->mb.self;
    if (m < 0) {
        dbuf_printf(err, "ERR unknown member '%.*s'", (int)len, name);
        return DYN_ENOTFOUND;
    }
    return m;
}

int cluster_kill(struct node *n, const char *name, size_t len,
                 uint64_t seconds, struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    int m = target_member(cl, name, len, err);
    if (m < 0)
        return m;
    if (m == (int)cl->mb.self) {
        set_killed(cl, 1, kill_until(cl, seconds));
        return 0;
    }
    char sb[24];
    snprintf(sb, sizeof(sb), "%llu", (unsigned long long)seconds);
    struct dyn_arg av[2] = {{"R.KILL", 6}, {sb, strlen(sb)}};
    if (cl_send(cl, (uint16_t)m, 2, av, NULL, NULL) != 0) {
        dbuf_printf(err, "ERR member '%.*s' is not reachable", (int)len,
                    name);
        return DYN_EIO;
    }
    return 0;
}

int cluster_revive(struct node *n, const char *name, size_t len,
                   struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    int m = target_member(cl, name, len, err);
    if (m < 0)
        return m;
    if (m == (int)cl->mb.self) {
        set_killed(cl, 0, 0);
        return 0;
    }
    struct dyn_arg av[1] = {{"R.REVIVE", 8}};
    if (cl_send(cl, (uint16_t)m, 1, av, NULL, NULL) != 0) {
        dbuf_printf(err, "ERR member '%.*s' is not connected", (int)len, name);
        return DYN_EIO;
    }
    return 0;
}

int cluster_is_killed(const struct node *n)
{
    return n->cluster && n->cluster->mem->killed;
}

int cluster_fault(struct node *n, int argc, const struct dyn_arg *argv,
                  struct dbuf *out)
{
    struct cluster *cl = n->cluster;
    if (!cl)
        return DYN_EINVAL;
    if (argc >= 2 && dyn_arg_is(argv[1].p, argv[1].len, "CLEAR")) {
        if (argc > 3 || (argc == 3 && !dyn_arg_is(argv[2].p, argv[2].len,
                                                   "ALL"))) {
            reply_error(out, "ERR syntax: DYNAMO.FAULT CLEAR [ALL]");
            return DYN_EINVAL;
        }
        clear_faults(cl);
        if (argc == 3) {
            struct dyn_arg av[2] = {{"R.FAULT", 7}, {"CLEAR", 5}};
            for (uint32_t m = 0; m < cl->mb.n; m++)
                if (m != cl->mb.self)
                    cl_send(cl, (uint16_t)m, 2, av, NULL, NULL);
        }
        reply_ok(out);
        return 0;
    }
    if (argc == 2 && dyn_arg_is(argv[1].p, argv[1].len, "LIST")) {
        uint32_t k = 0;
        for (uint32_t m = 0; m < cl->mb.n && m < cl->mem->peer_cap; m++)
            k += cl->mem->fault[m].drop_out || cl->mem->fault[m].drop_in ||
                 cl->mem->fault[m].delay_ms;
        reply_array(out, k);
        for (uint32_t m = 0; m < cl->mb.n && m < cl->mem->peer_cap; m++) {
            const struct peer_fault *f = &cl->mem->fault[m];
            if (!f->drop_out && !f->drop_in && !f->delay_ms)
                continue;
            reply_array(out, 4);
            reply_bulk_cstr(out, cl->mb.m[m].name);
            reply_bulk_cstr(out, f->drop_out ? "drop-to" : "-");
            reply_bulk_cstr(out, f->drop_in ? "drop-from" : "-");
            reply_int(out, (long long)f->delay_ms);
        }
        return 0;
    }
    /* from to DROP [BOTH] | from to DELAY ms [BOTH] */
    int kind = -1, both = 0;
    unsigned long long ms = 0;
    if (argc >= 4 && dyn_arg_is(argv[3].p, argv[3].len, "DROP")) {
        kind = 0;
        both = argc == 5 && dyn_arg_is(argv[4].p, argv[4].len, "BOTH");
        if (argc != 4 && !both)
            kind = -1;
    } else if (argc >= 5 && dyn_arg_is(argv[3].p, argv[3].len, "DELAY")) {
        kind = 1;
        both = argc == 6 && dyn_arg_is(argv[5].p, argv[5].len, "BOTH");
        if ((argc != 5 && !both) ||
            dyn_str2ull(argv[4].p, argv[4].len, &ms) != 0 || ms == 0 ||
            ms > 600000)
            kind = -1;
    }
    if (kind < 0) {
        reply_error(out, "ERR syntax: DYNAMO.FAULT from to DROP [BOTH] | "
                         "DYNAMO.FAULT from to DELAY ms [BOTH] | "
                         "DYNAMO.FAULT CLEAR [ALL] | DYNAMO.FAULT LIST");
        return DYN_EINVAL;
    }
    int rc = fault_apply(cl, argv[1].p, argv[1].len, argv[2].p, argv[2].len,
                         kind, ms, both);
    if (rc == DYN_ENOTFOUND)
        reply_error(out, "ERR unknown member");
    else if (rc == DYN_EINVAL)
        reply_error(out, "ERR from and to are the same member");
    else
        reply_ok(out);
    return rc;
}
