/*
 * cluster.c -- the cluster services of one node: it owns struct cluster
 * (the member table, the ring, the peer bus) and starts, ticks, reports and
 * stops the Dynamo modules that live on it.
 *
 *   members.c      gossip rounds, seeds, failure-detector pings, new
 *                  members, DYNAMO.KILL / REVIVE / FAULT
 *   handoff.c      sloppy-quorum hints: the hint store, hinted writes,
 *                  delivery to owners that answer again
 *   rebalance.c    DYNAMO.JOIN / LEAVE / FORGET: pending rings, partition
 *                  streaming, dropping what a node no longer replicates
 *   antientropy.c  Merkle exchanges between the replicas of a partition
 *   replica.c      the replica side of the peer protocol (R.GET, R.PUT ...)
 *
 * They share one internal API, cluster_int.h: the clock of the loop turn
 * (cl_now), whether a member can be asked now (cl_reachable: up in the
 * failure detector and linked on the bus), a partition's replicas
 * (cl_replicas) and one way to send (cl_send).  Merging what another node
 * sent is the db layer's (db_merge_object).
 *
 * The request path -- the coordinator, cluster/coordinator.c -- sits above
 * all of this: it calls down into cluster.h and cluster_int.h, and nothing
 * here calls it.  Its one peer command (FWD) reaches the bus through
 * cluster_init's extra table, so the handler table is assembled here
 * without naming it.
 *
 * The peer bus's hooks land here too: every request sent and every reply
 * received feeds the failure detector (membership.c), and the replica
 * writes of one read from a peer are committed as one group before their
 * acknowledgements leave (peer_batch_begin / end).
 *
 * Where the node is reached (announce.h): the bus listens on every bind
 * address, so that whichever one the other nodes dial is served; and the
 * node's own member entry, which gossip carries to them, holds its
 * cluster-node line's address, or else cluster-announce-ip, or else the
 * first bind address they can dial.  A node that has nothing dialable to
 * advertise (a wildcard; loopback beside members that are not on loopback)
 * does not start: cluster_init says which option to set, at its line.
 *
 * Thread-safety: none; the event loop owns everything.
 */
#include "cluster/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/announce.h"
#include "cluster/antientropy.h"
#include "cluster/cluster_int.h"
#include "cluster/membership.h"
#include "cluster/peer.h"
#include "cluster/quorum.h"
#include "cluster/ring.h"
#include "cluster/vclock.h"
#include "cluster/vhist.h"
#include "server/config.h"
#include "server/engine.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* ---- small helpers ------------------------------------------------------ */

/* The node's clock of this loop turn (node_turn_ms: libevent's cached
 * time on a real node, virtual time in the simulation, tests/sim): it is
 * read several times per request, and a clock_gettime each time showed in
 * profiles; being a loop turn behind only moves deadlines by as much. */
static uint64_t now_ms(const struct cluster *cl)
{
    return node_turn_ms(cl->node);
}

static int self_member(const struct cluster *cl)
{
    return (int)cl->mb.self;
}

int cl_member_of_ring(const struct cluster *cl, uint16_t ring_idx)
{
    return membership_find(&cl->mb, cl->ring.names[ring_idx]);
}

static int member_reachable(const struct cluster *cl, int m)
{
    if (m < 0)
        return 0;
    if (m == self_member(cl))
        return 1;
    return membership_is_up(&cl->mb, (uint32_t)m) &&
           peer_is_connected(cl->bus, cl->peer_of[m]);
}

#define NO_MEMBER 0xffff

/* Top-N replicas of the partition, as member indices. */
static uint32_t replicas_of(struct cluster *cl, uint32_t part, uint16_t *out)
{
    uint16_t ri[QUORUM_MAX];
    uint32_t nval = cl_nval(cl);
    uint32_t k = ring_preflist(&cl->ring, part, ri, nval);
    uint32_t m = 0;
    for (uint32_t i = 0; i < k; i++) {
        int mi = cl_member_of_ring(cl, ri[i]);
        if (mi >= 0)
            out[m++] = (uint16_t)mi;
    }
    return m;
}

/* ---- peer bus wiring ---------------------------------------------------- */

static int member_of_peer(const struct cluster *cl, int peer_id)
{
    for (uint32_t i = 0; i < cl->mb.n; i++)
        if (cl->peer_of[i] == peer_id)
            return (int)i;
    return -1;
}

static void on_sent(void *ctx, int peer_id, uint64_t t)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    (void)t; /* the bus's clock is monotonic; membership runs on ours */
    if (m >= 0)
        membership_on_request(&cl->mb, (uint32_t)m, now_ms(cl));
}

void cl_log_event(struct cluster *cl, const struct member_event *ev)
{
    dlog(DLOG_NOTICE, "member %s: %s -> %s", cl->mb.m[ev->member].name,
         member_status_name(ev->from), member_status_name(ev->to));
    struct evlog_entry *e = cl_event(cl, EV_MEMBER);
    evlog_field(e, "member", "%s", cl->mb.m[ev->member].name);
    evlog_field(e, "from", "%s", member_status_name(ev->from));
    evlog_field(e, "to", "%s", member_status_name(ev->to));
}

/* node_actor_name's hook: a member whose name hashes to the actor's top
 * 40 bits (actor_make).  The low 24 bits, the incarnation, are not
 * compared: every life of a node is named by its name. */
static const char *cl_actor_name(void *ctx, uint64_t actor)
{
    struct cluster *cl = ctx;
    for (uint32_t i = 0; i < cl->mb.n; i++) {
        const char *name = cl->mb.m[i].name;
        if ((actor_make(name, 0) ^ actor) >> 24 == 0)
            return name;
    }
    return NULL;
}

struct evlog_entry *cl_event(struct cluster *cl, enum evlog_type type)
{
    return evlog_add(&cl->node->events, node_wall_ms(cl->node), type);
}

static void on_reply(void *ctx, int peer_id, uint64_t t)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    struct member_event ev;
    (void)t;
    if (m >= 0 && membership_on_reply(&cl->mb, (uint32_t)m, now_ms(cl), &ev))
        cl_log_event(cl, &ev);
}

static void on_link(void *ctx, int peer_id, int up)
{
    struct cluster *cl = ctx;
    int m = member_of_peer(cl, peer_id);
    if (m >= 0)
        dlog(DLOG_VERBOSE, "link to %s %s", cl->mb.m[m].name,
             up ? "up" : "down");
}

/* Group commit on the peer bus: the replica writes of one read from a
 * peer are committed once, before their acknowledgements leave. */
static void peer_batch_begin(void *ctx)
{
    struct cluster *cl = ctx;
    if (cl->node->engine)
        engine_batch_begin(cl->node->engine);
}

static int peer_batch_end(void *ctx)
{
    struct cluster *cl = ctx;
    return cl->node->engine ? engine_batch_end(cl->node->engine) : 0;
}

/* The peer commands of every file of the layer, then extra (the layers
 * above: the coordinator's FWD). */
static struct peer_handlers handlers_of(struct cluster *cl,
                                        const struct peer_command *extra,
                                        size_t nextra)
{
    size_t nae = 0;
    const struct peer_command *ae = antientropy_peer_commands(&nae);
    const struct {
        const struct peer_command *c;
        size_t n;
    } parts[] = {
        {replica_peer_cmds, replica_npeer_cmds},
        {members_peer_cmds, members_npeer_cmds},
        {handoff_peer_cmds, handoff_npeer_cmds},
        {rebalance_peer_cmds, rebalance_npeer_cmds},
        {ae, nae},
        {extra, nextra},
    };
    size_t total = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(parts); i++)
        total += parts[i].n;
    cl->pcmds = dyn_malloc(sizeof(*cl->pcmds) * (total + 1));
    total = 0;
    for (size_t i = 0; i < DYN_ARRAY_LEN(parts); i++) {
        if (parts[i].n)
            memcpy(cl->pcmds + total, parts[i].c,
                   sizeof(*parts[i].c) * parts[i].n);
        total += parts[i].n;
    }
    struct peer_handlers h = {
        .commands = cl->pcmds,
        .ncommands = total,
        .on_message = NULL,
        .on_sent = on_sent,
        .on_reply = on_reply,
        .on_link = on_link,
        .batch_begin = peer_batch_begin,
        .batch_end = peer_batch_end,
    };
    return h;
}

/* ---- for the other files of the layer (cluster_int.h) ----------------- */

/* ---- for the other files of the Dynamo layer (cluster_int.h) ---------- */

uint64_t cl_now(const struct cluster *cl)
{
    return now_ms(cl);
}

int cl_reachable(const struct cluster *cl, int m)
{
    return member_reachable(cl, m);
}

/* A notice nobody waits for: its answer, or its failure, is dropped. */
static void notify_answer(void *ctx, int err, const struct peer_value *v)
{
    (void)ctx;
    (void)err;
    (void)v;
}

int cl_send(struct cluster *cl, uint16_t m, int argc,
            const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx)
{
    if (m >= cl->mb.n || m == cl->mb.self || cl->peer_of[m] < 0)
        return DYN_EINVAL;
    return peer_request(cl->bus, cl->peer_of[m], argc, argv,
                        fn ? fn : notify_answer, ctx, NULL);
}

uint32_t cl_nval(const struct cluster *cl)
{
    uint32_t nval = (uint32_t)cl->node->cfg.n;
    /* the config, DYNAMO.CONFIG and gossip all refuse n > QUORUM_MAX */
    dyn_assert(nval <= QUORUM_MAX);
    return nval;
}

uint32_t cl_replicas(struct cluster *cl, uint32_t part, uint16_t *out)
{
    return replicas_of(cl, part, out);
}

/* ---- where the node is reached ------------------------------------------ */

/* Whether every other member we know of (cluster-node lines, seeds) is on
 * loopback: only then may this node advertise a loopback address.  With
 * no other member known (a node waiting for DYNAMO.JOIN) nobody says
 * otherwise, so loopback is acceptable. */
static int others_on_loopback(const struct cluster *cl, const char *seeds)
{
    for (uint32_t i = 0; i < cl->mb.n; i++)
        if (i != cl->mb.self &&
            announce_kind_of(cl->mb.m[i].host) != ANNOUNCE_LOOPBACK)
            return 0;
    const char *p = seeds ? seeds : "";
    while (*p) {
        size_t len = strcspn(p, "\n");
        char line[256], host[ANNOUNCE_HOST_MAX];
        snprintf(line, sizeof(line), "%.*s", (int)DYN_MIN(len, 255), p);
        p += len + (p[len] ? 1 : 0);
        /* a malformed seed is members_init's to report */
        if (line[0] && announce_host_of(line, host, sizeof(host)) == 0 &&
            announce_kind_of(host) != ANNOUNCE_LOOPBACK)
            return 0;
    }
    return 1;
}

/* Prefixes a message with where `name` was set ("conf:3: "), if anywhere. */
static void located(struct dbuf *err, const struct config *c,
                    const char *name)
{
    const char *at = config_origin(c, name);
    if (at)
        dbuf_printf(err, "%s: ", at);
}

/* The address this node advertises (announce.h), into host[cap]: for a
 * node in its own cluster-node lines, that line's host, which every other
 * node's lines hold too, so cluster-announce-ip may only repeat it; for
 * any other node, announce_choose over cluster-announce-ip and bind.  A
 * wildcard, or loopback where other members are not on loopback, is
 * refused with a message naming the option to set. */
static int advertised_host(const struct cluster *cl, const struct config *c,
                           char *host, size_t cap, struct dbuf *err)
{
    const char *ann = c->cluster_announce_ip ? c->cluster_announce_ip : "";
    int lo_ok = others_on_loopback(cl, c->seeds);
    const char *why = lo_ok ? "a wildcard address cannot be dialed"
                            : "the other members are not on loopback, and "
                              "neither a wildcard nor a loopback address "
                              "can be dialed from their hosts";
    if (cl->mb.self != UINT32_MAX) {
        const char *mine = cl->mb.m[cl->mb.self].host;
        enum announce_kind k = announce_kind_of(mine);
        if (k == ANNOUNCE_WILDCARD || (k == ANNOUNCE_LOOPBACK && !lo_ok)) {
            located(err, c, "cluster-node");
            dbuf_printf(err, "cluster-node line of '%s' gives address '%s', "
                        "which the other nodes cannot reach (%s)",
                        c->node_name, mine, why);
            return DYN_EINVAL;
        }
        if (ann[0] && strcmp(ann, mine) != 0) {
            located(err, c, "cluster-announce-ip");
            dbuf_printf(err, "cluster-announce-ip '%s' differs from the "
                        "cluster-node line of '%s' (%s): the other nodes "
                        "dial the address of that line", ann, c->node_name,
                        mine);
            return DYN_EINVAL;
        }
        snprintf(host, cap, "%s", mine);
        return 0;
    }
    if (announce_choose(c->bind, ann, lo_ok, host, cap) == 0)
        return 0;
    if (ann[0]) {
        located(err, c, "cluster-announce-ip");
        dbuf_printf(err, "cluster-announce-ip '%s' cannot be advertised "
                    "(%s)", ann, lo_ok ? "a wildcard address cannot be "
                    "dialed" : "the other members are not on loopback");
    } else {
        located(err, c, "bind");
        dbuf_printf(err, "bind '%s' has no address to advertise to the "
                    "other nodes (%s): set cluster-announce-ip to the "
                    "address they reach this node at", c->bind, why);
    }
    return DYN_EINVAL;
}

/* ---- public ------------------------------------------------------------- */

/* ---- public ------------------------------------------------------------- */

/* "NAME HOST:PORT[@PEERPORT]" */
static int parse_member(const char *line, char *name, char *host, int *port,
                        int *pport)
{
    char hp[128];
    if (sscanf(line, "%63s %127s", name, hp) != 2)
        return -1;
    char *at = strchr(hp, '@');
    *pport = 0;
    if (at) {
        *at = 0;
        *pport = atoi(at + 1);
    }
    char *colon = strrchr(hp, ':');
    if (!colon)
        return -1;
    *colon = 0;
    *port = atoi(colon + 1);
    if (*port <= 0 || *port > 65535)
        return -1;
    if (!*pport)
        *pport = *port + 10000;
    if (*pport <= 0 || *pport > 65535)
        return -1;
    snprintf(host, 64, "%.63s", hp);
    return 0;
}

int cluster_init(struct node *n, const struct peer_command *extra,
                 size_t nextra, struct dbuf *err)
{
    const char *list = n->cfg.cluster_nodes ? n->cfg.cluster_nodes : "";
    n->cluster = NULL;
    /* a cluster node: static members, seeds, or a secret (a node waiting
     * for DYNAMO.JOIN) */
    if (!list[0] && !(n->cfg.seeds && n->cfg.seeds[0]) &&
        !(n->cfg.cluster_secret && n->cfg.cluster_secret[0]))
        return 0;
    struct cluster *cl = dyn_calloc(1, sizeof(*cl));
    cl->node = n;
    trace_ring_init(&n->traces, (uint32_t)n->cfg.trace_max);
    evlog_init(&n->events, (uint32_t)n->cfg.event_max);
    vhist_init(&n->versions, (uint32_t)n->cfg.version_history,
               (uint32_t)n->cfg.version_history_keys);
    n->actor_name = cl_actor_name;
    n->actor_name_ctx = cl;
    membership_init(&cl->mb, (uint64_t)n->cfg.suspect_timeout_ms,
                    DYN_MAX((uint64_t)n->cfg.down_timeout_ms,
                            (uint64_t)n->cfg.suspect_timeout_ms));
    const char **names = dyn_calloc(256, sizeof(char *));
    int *pports = dyn_calloc(256, sizeof(int));
    size_t nn = 0;
    int self_pport = 0;
    const char *p = list;
    uint64_t t = now_ms(cl);
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[256], name[64], host[64];
        int port, pport;
        snprintf(line, sizeof(line), "%.*s", (int)DYN_MIN(len, 255), p);
        p += len + (e ? 1 : 0);
        if (!line[0])
            continue;
        if (parse_member(line, name, host, &port, &pport) != 0) {
            dbuf_printf(err, "cluster-node '%s': expected NAME HOST:PORT", line);
            goto fail;
        }
        int self = strcmp(name, n->cfg.node_name) == 0;
        if (self && n->cfg.cluster_port)
            pport = n->cfg.cluster_port;
        if (self)
            self_pport = pport;
        int rc = membership_add(&cl->mb, name, host, (uint16_t)port,
                                (uint16_t)pport, self, 1, t);
        if (rc < 0) {
            dbuf_printf(err, "cluster-node '%s': %s", line,
                        rc == DYN_EEXIST ? "the name appears twice"
                                         : "invalid name or host");
            goto fail;
        }
        if (nn < 256) {
            pports[nn] = pport;
            names[nn++] = cl->mb.m[rc].name;
        }
    }
    if (cl->mb.self == UINT32_MAX && nn) {
        dbuf_printf(err, "node-name '%s' is not among the cluster-node lines",
                    n->cfg.node_name);
        goto fail;
    }
    char host[ANNOUNCE_HOST_MAX];
    if (advertised_host(cl, &n->cfg, host, sizeof(host), err) != 0)
        goto fail;
    if (cl->mb.self == UINT32_MAX) {
        /* seeds only: we know ourselves, and learn the rest by gossip */
        self_pport = n->cfg.cluster_port ? n->cfg.cluster_port
                                         : n->cfg.port + 10000;
        if (membership_add(&cl->mb, n->cfg.node_name, host,
                           (uint16_t)n->cfg.port, (uint16_t)self_pport, 1, 1,
                           t) < 0) {
            dbuf_printf(err, "node-name '%s' or bind '%s' is not usable as a "
                             "member", n->cfg.node_name, host);
            goto fail;
        }
    }
    const char *secret = n->cfg.cluster_secret ? n->cfg.cluster_secret : "";
    if (!secret[0] && !n->cfg.cluster_insecure) {
        dbuf_printf(err, "cluster-secret is not set: the peer bus will not "
                         "start without one (or set cluster-insecure yes)");
        goto fail;
    }
    if (!nn) {
        /* no ring until a seed's gossip brings one (epoch 0 loses) */
        if (ring_init(&cl->ring, (uint32_t)n->cfg.ring_partitions) != 0) {
            dbuf_printf(err, "cannot build the ring");
            goto fail;
        }
    } else if (ring_build(&cl->ring, (uint32_t)n->cfg.ring_partitions, names,
                          nn, (uint32_t)n->cfg.n) != 0) {
        dbuf_printf(err, "cannot build the ring");
        goto fail;
    }
    rebalance_load_ring(cl);
    /* the bus listens wherever clients may reach us: on every bind
     * address, so that the one the others dial is among them */
    const char *bind_host = n->cfg.bind && n->cfg.bind[0] ? n->cfg.bind
                                                          : "127.0.0.1";
    struct peer_bus_opts o = {
        .self_name = n->cfg.node_name,
        .bind_host = bind_host,
        .port = self_pport,
        .secret = secret,
        .secret_len = strlen(secret),
        .insecure = n->cfg.cluster_insecure,
        .tls = n->cfg.tls_cluster,
        .max_message = (size_t)n->cfg.proto_max_bulk_len + 4096,
        .connect_timeout_ms = (uint64_t)n->cfg.request_timeout_ms * 2,
        .dead_link_ms = (uint64_t)n->cfg.request_timeout_ms * 5,
    };
    struct peer_handlers handlers = handlers_of(cl, extra, nextra);
    if (n->cfg.tls_cluster && !secret[0]) {
        dbuf_printf(err, "tls-cluster yes needs cluster-secret: the bus's "
                         "TLS key is derived from it");
        goto fail;
    }
    if (peer_bus_open(n->peers, n->base, &o, &handlers, cl, &cl->bus) != 0) {
        dbuf_printf(err, "cannot start the peer bus on %s (port %d)",
                    bind_host, self_pport);
        goto fail;
    }
    if (members_init(cl, err) != 0 || handoff_init(cl, err) != 0 ||
        rebalance_init(cl) != 0)
        goto fail_bus;
    for (uint32_t i = 0; i < cl->mb.n; i++)
        members_added(cl, i);
    dyn_free(names);
    dyn_free(pports);
    n->cluster = cl;
    cl->ae = antientropy_new(n);
    dlog(DLOG_NOTICE,
         "cluster: %u members, ring of %u partitions, N=%d R=%d W=%d, peer "
         "bus on %s (port %d), advertised as %s",
         cl->mb.n, cl->ring.q, n->cfg.n, n->cfg.r, n->cfg.w, bind_host,
         self_pport, host);
    return 0;
fail_bus:
    rebalance_free(cl);
    handoff_free(cl);
    members_free(cl);
    peer_bus_free(cl->bus);
    dyn_free(cl->peer_of);
fail:
    dyn_free(names);
    dyn_free(pports);
    ring_free(&cl->ring);
    membership_free(&cl->mb);
    dyn_free(cl->pcmds);
    dyn_free(cl);
    trace_ring_free(&n->traces);
    evlog_free(&n->events);
    vhist_free(&n->versions);
    n->actor_name = NULL;
    n->actor_name_ctx = NULL;
    return DYN_EINVAL;
}

void cluster_free(struct node *n)
{
    struct cluster *cl = n->cluster;
    if (!cl)
        return;
    antientropy_free(cl->ae);
    cl->ae = NULL;
    replica_free(cl);
    /* fails what is outstanding: the callbacks run before this returns */
    cl->closing = 1;
    peer_bus_free(cl->bus);
    cl->bus = NULL;
    rebalance_free(cl);
    handoff_free(cl);
    members_free(cl);
    ring_free(&cl->ring);
    membership_free(&cl->mb);
    dyn_free(cl->peer_of);
    dyn_free(cl->pcmds);
    dyn_free(cl);
    n->cluster = NULL;
    trace_ring_free(&n->traces);
    evlog_free(&n->events);
    vhist_free(&n->versions);
    n->actor_name = NULL;
    n->actor_name_ctx = NULL;
}

void cluster_tick(struct node *n, uint64_t t)
{
    struct cluster *cl = n->cluster;
    if (!cl)
        return;
    members_tick(cl, t);
    if (!members_killed(cl)) {
        handoff_tick(cl, t);
        rebalance_tick(cl, t);
    }
    /* even when killed: it answers its waiting clients (deadlines, and
     * DYNAMO.KILL ends a run), and starts nothing while killed */
    antientropy_tick(cl->ae, t);
}

int cluster_quorum_check(struct node *n, const struct dyn_arg *name,
                         const struct dyn_arg *value, struct dbuf *err)
{
    struct cluster *cl = n->cluster;
    long long nv;
    /* N cannot exceed the members: there would be no N replicas */
    if (cl && dyn_arg_is(name->p, name->len, "n") &&
        dyn_str2ll(value->p, value->len, &nv) == 0 &&
        nv > (long long)cl->mb.n) {
        reply_errorf(err,
                     "ERR n (%lld) cannot exceed the %u members of the "
                     "cluster",
                     nv, cl->mb.n);
        return DYN_EINVAL;
    }
    return 0;
}

const struct ring *cluster_ring(const struct node *n)
{
    return n->cluster ? &n->cluster->ring : NULL;
}

const struct membership *cluster_membership(const struct node *n)
{
    return n->cluster ? &n->cluster->mb : NULL;
}

int cluster_member_reachable(const struct node *n, int member)
{
    return n->cluster && member_reachable(n->cluster, member);
}

void cluster_info(struct node *n, struct dbuf *out)
{
    struct cluster *cl = n->cluster;
    if (!cl) {
        dbuf_printf(out, "cluster_enabled:0\r\n");
        return;
    }
    uint32_t up = 0;
    for (uint32_t m = 0; m < cl->mb.n; m++)
        up += membership_is_up(&cl->mb, m);
    struct peer_bus_stats ps;
    peer_bus_get_stats(cl->bus, &ps);
    dbuf_printf(out,
                "cluster_enabled:1\r\n"
                "cluster_members:%u\r\n"
                "cluster_members_up:%u\r\n"
                "ring_epoch:%llu\r\n"
                "coordinated:%llu\r\n"
                "forwarded:%llu\r\n"
                "forward_retries:%llu\r\n"
                "forwards_received:%llu\r\n"
                "read_repairs:%llu\r\n"
                "late_answers:%llu\r\n"
                "noquorum_reads:%llu\r\n"
                "noquorum_writes:%llu\r\n"
                "replica_gets:%llu\r\n"
                "replica_puts:%llu\r\n"
                "down_transitions:%llu\r\n"
                "peer_requests_sent:%llu\r\n"
                "peer_link_writes:%llu\r\n"
                "peer_auth_failures:%llu\r\n",
                cl->mb.n, up, (unsigned long long)cl->ring.epoch,
                (unsigned long long)cl->coordinated,
                (unsigned long long)cl->forwarded,
                (unsigned long long)cl->forward_retries,
                (unsigned long long)cl->forwards_received,
                (unsigned long long)cl->read_repairs,
                (unsigned long long)cl->late_answers,
                (unsigned long long)cl->noquorum_reads,
                (unsigned long long)cl->noquorum_writes,
                (unsigned long long)cl->replica_gets,
                (unsigned long long)cl->replica_puts,
                (unsigned long long)cl->mb.down_transitions,
                (unsigned long long)ps.requests_sent,
                (unsigned long long)ps.link_writes,
                (unsigned long long)ps.auth_failures);
    dbuf_printf(out, "peer_auth_timeouts:%llu\r\npeer_unauth_refused:%llu\r\n",
                (unsigned long long)ps.auth_timeouts,
                (unsigned long long)ps.unauth_refused);
    dbuf_printf(out,
                "replica_gets_same:%llu\r\nreplica_deltas:%llu\r\n"
                "replica_deltas_refused:%llu\r\ndeltas_sent:%llu\r\n"
                "delta_bytes:%llu\r\ndelta_object_bytes:%llu\r\n"
                "deltas_resent:%llu\r\nwrite_groups:%llu\r\n"
                "writes_grouped:%llu\r\n",
                (unsigned long long)cl->replica_gets_same,
                (unsigned long long)cl->replica_deltas,
                (unsigned long long)cl->replica_deltas_refused,
                (unsigned long long)cl->deltas_sent,
                (unsigned long long)cl->delta_bytes,
                (unsigned long long)cl->delta_object_bytes,
                (unsigned long long)cl->deltas_resent,
                (unsigned long long)cl->write_groups,
                (unsigned long long)cl->writes_grouped);
    dbuf_printf(out, "keyspace_slices:%llu\r\nkeyspace_disk_reads:%llu\r\n",
                (unsigned long long)cl->keyspace_slices,
                (unsigned long long)store_keyspace_loads(cl->node->store));
    members_info(cl, out);
    handoff_info(cl, out);
    rebalance_info(cl, out);
    antientropy_info(cl->ae, out);
}

int cluster_self(const struct node *n)
{
    return n->cluster ? self_member(n->cluster) : -1;
}

uint32_t cluster_replicas(struct node *n, uint32_t part, uint16_t *out,
                          uint32_t max)
{
    uint16_t rep[QUORUM_MAX];
    if (!n->cluster)
        return 0;
    uint32_t k = replicas_of(n->cluster, part, rep);
    k = DYN_MIN(k, max);
    memcpy(out, rep, sizeof(uint16_t) * k);
    return k;
}

int cluster_request(struct node *n, int member, int argc,
                    const struct dyn_arg *argv, peer_reply_fn *fn, void *ctx)
{
    struct cluster *cl = n->cluster;
    if (!cl || member < 0 || (uint32_t)member >= cl->mb.n ||
        member == self_member(cl) || !member_reachable(cl, member))
        return DYN_EINVAL;
    return peer_request(cl->bus, cl->peer_of[member], argc, argv, fn, ctx,
                        NULL);
}

uint64_t cluster_now_ms(const struct node *n)
{
    return n->cluster ? now_ms(n->cluster) : node_turn_ms(n);
}

struct node *cluster_node_of(void *peer_ctx)
{
    return ((struct cluster *)peer_ctx)->node;
}

/* ---- changes asked of another node ------------------------------------ */

int cl_refused(int err, const struct peer_value *v, cluster_done_fn *done,
               void *ctx)
{
    if (!err)
        return 0;
    done(ctx, err == DYN_EPROTO && v && v->type == PEER_V_ERROR
                  ? v->str
                  : "ERR no answer over the peer bus");
    return 1;
}
