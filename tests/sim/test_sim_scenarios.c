/*
 * test_sim_scenarios.c -- Dynamo's repair paths in the deterministic
 * cluster (sim_fixture.h): each scenario drives one mechanism to its end
 * and asserts what a user would see afterwards.
 *
 *   - join and leave with streaming (rebalance.c): a node joins through a
 *     seed, the partitions it gains stream to it, then a node leaves; every
 *     key written before is readable with its value, and each partition's
 *     replicas under the final ring hold it;
 *   - hinted handoff with a budget (handoff.c, hints.c): while an owner is
 *     cut off, its writes become hints on the stand-ins until
 *     hint-max-bytes is reached, and the rest are dropped and counted; when
 *     it returns, every hint kept is delivered and the counters agree;
 *   - tombstone reaping across a partition (db.c, antientropy.c): a delete
 *     while one replica is cut off; no node reaps the tombstone before the
 *     cut-off replica holds it, however long past tombstone-grace-s, so the
 *     value never comes back; after the heal every replica reaps it;
 *   - anti-entropy after a wipe (antientropy.c): one replica's store is
 *     emptied, and DYNAMO.AE ALL on it brings every key back;
 *   - the root sweep after a wipe (antientropy.c): the same wipe at the
 *     default settings and with no command at all: the sweeps (every
 *     anti-entropy-sweep-interval-ms, one AE.ROOTS per peer) find the
 *     emptied partitions and exchange them back to back, so the replica
 *     is whole again within a few sweep intervals of virtual time, where
 *     one partition per anti-entropy-interval-ms would take 64 x 10 s;
 *   - a late write failure (coordinator.c, handoff.c): a replica's R.PUT
 *     fails after the stand-in that coordinated it has handed off and
 *     dropped its copy; the hint is kept from the replicated object, and
 *     the replica gets the write with no read and no anti-entropy;
 *   - hints owed to a node that left (handoff.c, rebalance.c): a node cut
 *     off from a leaver stands in for it, the leave completes, the links
 *     heal; the hints go to the keys' replicas of the final ring, and every
 *     key ends on exactly those replicas;
 *   - a driver lost mid-change (rebalance.c): a joiner is cut off for good
 *     once the members hold its pending ring; they give it up, and
 *     DYNAMO.FORGET of the joiner then works.
 *
 * Every scenario runs over several seeds (each an interleaving), and each
 * replays: the same seed twice gives a byte-identical trace (every
 * delivery with a hash of its bytes, every tick, command and reply, with
 * virtual time), and another seed another trace.
 *
 * The server's cron (main.c) reaps tombstones; the simulation has no cron,
 * so the tombstone scenario calls db_reap_tombstones on every node each
 * simulated 100 ms, as the cron would.
 *
 * SIM_TRACE=1 prints every delivery.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/cluster.h"
#include "cluster/coordinator.h"
#include "cluster/membership.h"
#include "cluster/object.h"
#include "cluster/peer.h"
#include "cluster/ring.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/store.h"
#include "server/util.h"
#include "tests/sim/sim_fixture.h"

#define SEEDS 12
#define NKEYS 24

/* ---- helpers ------------------------------------------------------------- */

static void key_name(int i, char *out, size_t cap)
{
    snprintf(out, cap, "key%d", i);
}

static void key_value(int i, char *out, size_t cap)
{
    snprintf(out, cap, "value-%d-padded-to-some-length", i);
}

static void write_keys(struct sim *s, int via, int nkeys)
{
    for (int i = 0; i < nkeys; i++) {
        char k[32], v[64], line[128];
        key_name(i, k, sizeof(k));
        key_value(i, v, sizeof(v));
        snprintf(line, sizeof(line), "SET %s %s", k, v);
        sim_expect(s, via, line, "+OK\r\n");
    }
}

/* Lets time pass in ticks of step_ms, delivering everything each tick,
 * until done(s) or max_ms of virtual time; returns done(s). */
static int sim_run_until(struct sim *s,
                         int (*done)(struct sim *, const void *ctx),
                         const void *ctx, uint64_t step_ms, uint64_t max_ms)
{
    uint64_t end = sim_net_now(s->net) + max_ms;
    while (!done(s, ctx)) {
        if (sim_net_now(s->net) >= end)
            return 0;
        sim_advance(s, step_ms);
        sim_settle(s);
    }
    return 1;
}

/* Every key is held, with its value, by each replica of its partition
 * under node `ring_of`'s ring, and a GET through each node in via[]
 * returns it. */
static void check_keys(struct sim *s, int ring_of, const int *via, int nvia)
{
    const struct ring *r = cluster_ring(sim_node(s, ring_of));
    for (int i = 0; i < NKEYS; i++) {
        char k[32], v[64], line[64];
        key_name(i, k, sizeof(k));
        key_value(i, v, sizeof(v));
        uint16_t ri[16];
        uint32_t np = ring_preflist(r, ring_partition_of(r, k, strlen(k)), ri,
                                    (uint32_t)sim_node(s, ring_of)->cfg.n);
        SIM_ASSERT(s, np == (uint32_t)sim_node(s, ring_of)->cfg.n,
                   "%s has %u replicas", k, np);
        for (uint32_t j = 0; j < np; j++) {
            int node = atoi(r->names[ri[j]] + 1) - 1; /* "nK" */
            SIM_ASSERT(s, sim_holds(s, node, k, v),
                       "replica %s of %s lacks its value", r->names[ri[j]], k);
        }
        snprintf(line, sizeof(line), "GET %s", k);
        for (int j = 0; j < nvia; j++) {
            struct client *c = sim_cmd(s, via[j], line);
            SIM_ASSERT(s, reply_is_bulk(c, v), "GET %s via n%d: %s", k,
                       via[j] + 1, reply_text(c));
            sim_client_free(c);
        }
    }
}

static long long sum_info(struct sim *s, const char *name)
{
    long long t = 0;
    for (int i = 0; i < s->nn; i++)
        t += sim_info(s, i, name);
    return t;
}

/* ---- 1. join and leave with streaming ------------------------------------ */

struct ring_goal {
    int nodes;      /* the ring size the change leads to */
    int skip;       /* a node left out of the check (the leaver), or -1 */
};

/* Every node (but skip) has installed the same ring of goal->nodes nodes
 * and holds no pending change. */
static int ring_settled(struct sim *s, const void *ctx)
{
    const struct ring_goal *g = ctx;
    uint64_t epoch = cluster_ring(sim_node(s, 0))->epoch;
    for (int i = 0; i < s->nn; i++) {
        if (i == g->skip)
            continue;
        const struct ring *r = cluster_ring(sim_node(s, i));
        if (r->nnodes != (uint32_t)g->nodes || r->epoch != epoch ||
            sim_info(s, i, "rebalance_pending_epoch") != 0)
            return 0;
    }
    return 1;
}

static void join_and_leave(uint64_t seed, struct dbuf *trace)
{
    struct sim_opts o = {.nn = 3, .nval = 3, .r = 2, .w = 2};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    write_keys(s, 0, NKEYS);
    sim_settle(s);
    uint64_t epoch0 = cluster_ring(sim_node(s, 0))->epoch;

    /* n4 starts with n1 as its seed, learns the ring and joins */
    int j = sim_add_joiner(s, 0);
    struct ring_goal joined = {.nodes = 4, .skip = -1};
    SIM_ASSERT(s, sim_run_until(s, ring_settled, &joined, 50, 120000),
               "the join did not complete (n4 ring: %u nodes)",
               cluster_ring(sim_node(s, j))->nnodes);
    SIM_ASSERT(s, cluster_ring(sim_node(s, 0))->epoch > epoch0,
               "the ring did not change");
    SIM_ASSERT(s, sim_info(s, j, "rebalance_keys_in") > 0,
               "nothing streamed to n4");
    SIM_ASSERT(s, store_count(sim_node(s, j)->store) > 0, "n4 holds nothing");
    int all4[] = {0, 1, 2, 3};
    check_keys(s, 0, all4, 4);

    /* n2 leaves: what it replicated streams to the others */
    sim_expect(s, 1, "DYNAMO.LEAVE", "+OK\r\n");
    struct ring_goal left = {.nodes = 3, .skip = 1};
    SIM_ASSERT(s, sim_run_until(s, ring_settled, &left, 50, 120000),
               "the leave did not complete");
    const struct ring *r = cluster_ring(sim_node(s, 0));
    for (uint32_t i = 0; i < r->nnodes; i++)
        SIM_ASSERT(s, strcmp(r->names[i], "n2") != 0,
                   "n2 is still in the ring");
    int rest[] = {0, 2, 3};
    check_keys(s, 0, rest, 3);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 2. hinted handoff with a budget ------------------------------------- */

#define HH_BUDGET 500
#define HH_KEYS 40

static int hints_drained(struct sim *s, const void *ctx)
{
    (void)ctx;
    return sum_info(s, "hints_pending") == 0;
}

static void handoff_with_budget(uint64_t seed, struct dbuf *trace)
{
    char budget[16];
    snprintf(budget, sizeof(budget), "%d", HH_BUDGET);
    /* no anti-entropy: only the handoff may carry the writes to n4 */
    struct sim_opts o = {.nn = 4, .nval = 3, .r = 2, .w = 2,
                         .hint_max_bytes = budget,
                         .extra = "anti-entropy-interval-ms 0\n"};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    const int owner = 3;
    sim_net_isolate(s->net, owner, SIM_LINK_DOWN);
    int owned = 0;
    for (int i = 0; i < HH_KEYS; i++) {
        char k[32], v[64], line[128];
        int pl[8];
        key_name(i, k, sizeof(k));
        key_value(i, v, sizeof(v));
        int np = sim_preflist(s, k, pl);
        for (int p = 0; p < np; p++)
            owned += pl[p] == owner;
        snprintf(line, sizeof(line), "SET %s %s", k, v);
        sim_expect(s, (int)(sim_net_random(s->net) % 3), line, "+OK\r\n");
    }
    sim_settle(s);
    SIM_ASSERT(s, store_count(sim_node(s, owner)->store) == 0,
               "the cut-off owner got writes");
    long long stored = sum_info(s, "hints_stored");
    long long dropped = sum_info(s, "hints_dropped");
    long long pending = sum_info(s, "hints_pending");
    /* every write n4 owns made one hint for it, kept or dropped, and
     * (one write per key) every hint kept is still pending */
    SIM_ASSERT(s, stored + dropped == owned,
               "%d writes owned by n4, %lld hints stored, %lld dropped",
               owned, stored, dropped);
    SIM_ASSERT(s, pending == stored, "%lld hints stored, %lld pending",
               stored, pending);
    SIM_ASSERT(s, dropped > 0, "the budget was never reached (%lld stored)",
               stored);
    /* and each hint not kept is a lost one, counted as such */
    SIM_ASSERT(s, sum_info(s, "hints_lost") == dropped,
               "%lld hints dropped, %lld counted as lost", dropped,
               sum_info(s, "hints_lost"));
    SIM_ASSERT(s, pending > 0, "no hint kept");
    for (int i = 0; i < s->nn; i++)
        SIM_ASSERT(s, sim_info(s, i, "hints_pending_bytes") <= HH_BUDGET,
                   "n%d holds %lld bytes of hints over a budget of %d",
                   i + 1, sim_info(s, i, "hints_pending_bytes"), HH_BUDGET);
    long long delivered0 = sum_info(s, "hints_delivered");
    SIM_ASSERT(s, delivered0 == 0, "delivered %lld to a cut-off node",
               delivered0);

    /* n4 comes back: the hints kept are delivered, and only they */
    sim_net_isolate(s->net, owner, SIM_LINK_UP);
    SIM_ASSERT(s, sim_run_until(s, hints_drained, NULL, 50, 60000),
               "%lld hints still pending", sum_info(s, "hints_pending"));
    long long delivered = sum_info(s, "hints_delivered");
    SIM_ASSERT(s, delivered == pending,
               "%lld hints were pending, %lld delivered", pending, delivered);
    SIM_ASSERT(s, sum_info(s, "hints_dropped") == dropped,
               "drops counted after the heal");
    /* one pending hint per (owner, key): n4 got at least that many keys,
     * each with its value */
    size_t got = store_count(sim_node(s, owner)->store);
    SIM_ASSERT(s, got >= (size_t)pending, "n4 holds %zu keys after %lld hints",
               got, pending);
    for (int i = 0; i < HH_KEYS; i++) {
        char k[32], v[64];
        key_name(i, k, sizeof(k));
        key_value(i, v, sizeof(v));
        SIM_ASSERT(s, !sim_local(s, owner, k) || sim_holds(s, owner, k, v),
                   "n4 holds a wrong %s", k);
    }
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 3. tombstone reaping across a partition ---------------------------- */

#define TS_GRACE_S 1

/* What the server's cron does each period, then one tick's worth of
 * messages. */
static void ts_period(struct sim *s)
{
    sim_advance(s, 100);
    for (int i = 0; i < s->nn; i++)
        db_reap_tombstones(sim_node(s, i), 100000);
    sim_settle(s);
}

/* Is key "k" a tombstone (all siblings deleted) on node? */
static int ts_deleted(struct sim *s, int node)
{
    const struct object *o = sim_local(s, node, "k");
    return o && object_is_deleted(o);
}

static void tombstone_across_a_partition(uint64_t seed, struct dbuf *trace)
{
    struct sim_opts o = {.nn = 3, .nval = 3, .r = 2, .w = 2,
                         .extra = "tombstone-grace-s 1\n"
                                  "anti-entropy-interval-ms 20\n"};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    sim_expect(s, 0, "SET k v", "+OK\r\n");
    sim_settle(s);
    for (int i = 0; i < 3; i++)
        SIM_ASSERT(s, sim_holds(s, i, "k", "v"), "n%d lacks k", i + 1);

    /* n3 is cut off; the delete reaches n1 and n2 */
    sim_net_isolate(s->net, 2, SIM_LINK_DOWN);
    sim_expect(s, 0, "DEL k", ":1\r\n");
    sim_settle(s);
    SIM_ASSERT(s, ts_deleted(s, 0) && ts_deleted(s, 1),
               "the delete did not reach n1 and n2");
    SIM_ASSERT(s, sim_holds(s, 2, "k", "v"), "n3 was not cut off");

    /* ten times the grace period: no node may reap it, since n3 lacks it */
    for (int t = 0; t < 10 * TS_GRACE_S * 10; t++)
        ts_period(s);
    SIM_ASSERT(s, ts_deleted(s, 0) && ts_deleted(s, 1),
               "a tombstone was reaped while n3 still held the value");
    for (int i = 0; i < 3; i++)
        SIM_ASSERT(s, sim_node(s, i)->stats.tombstones_reaped == 0,
                   "n%d reaped a tombstone", i + 1);

    /* heal: anti-entropy carries the tombstone to n3, and only once every
     * replica holds it may any of them reap it */
    sim_net_isolate(s->net, 2, SIM_LINK_UP);
    uint64_t end = sim_net_now(s->net) + 120000;
    int gone = 0;
    while (!gone) {
        ts_period(s);
        int reaped = 0;
        gone = 1;
        for (int i = 0; i < 3; i++) {
            reaped |= sim_local(s, i, "k") == NULL;
            gone &= sim_local(s, i, "k") == NULL;
        }
        SIM_ASSERT(s, !reaped || !sim_holds(s, 2, "k", "v"),
                   "reaped while n3 still held the value");
        SIM_ASSERT(s, sim_net_now(s->net) < end,
                   "not reaped everywhere (n1 %s, n2 %s, n3 %s)",
                   sim_local(s, 0, "k") ? "has it" : "reaped",
                   sim_local(s, 1, "k") ? "has it" : "reaped",
                   sim_local(s, 2, "k") ? "has it" : "reaped");
    }
    for (int i = 0; i < 3; i++) {
        SIM_ASSERT(s, sim_node(s, i)->stats.tombstones_reaped >= 1,
                   "n%d did not count its reap", i + 1);
        sim_expect(s, i, "GET k", "$-1\r\n");
    }
    /* and it stays gone: more rounds of anti-entropy bring nothing back */
    for (int t = 0; t < 50; t++)
        ts_period(s);
    for (int i = 0; i < 3; i++)
        SIM_ASSERT(s, sim_local(s, i, "k") == NULL, "k came back on n%d",
                   i + 1);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 4. anti-entropy after a wipe ---------------------------------------- */

static void antientropy_after_a_wipe(uint64_t seed, struct dbuf *trace)
{
    /* no periodic rounds: the repair below is the one DYNAMO.AE asks for */
    struct sim_opts o = {.nn = 3, .nval = 3, .r = 2, .w = 2,
                         .extra = "anti-entropy-interval-ms 0\n"};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    write_keys(s, (int)(seed % 3), NKEYS);
    sim_settle(s);
    ck_assert_int_eq(db_flush(sim_node(s, 2)), 0);
    SIM_ASSERT(s, store_count(sim_node(s, 2)->store) == 0, "wipe failed");

    struct client *c = sim_cmd(s, 2, "DYNAMO.AE ALL");
    struct peer_value v;
    long used = sim_resp_parse(c->obuf.p, c->obuf.len, &v);
    SIM_ASSERT(s, used > 0 && v.type == PEER_V_ARRAY && v.n == 14,
               "DYNAMO.AE ALL: %s", reply_text(c));
    long long repaired = -1, failed = -1;
    for (size_t i = 0; i + 1 < v.n; i += 2) {
        if (strcmp(v.elem[i].str, "keys_repaired") == 0)
            repaired = v.elem[i + 1].integer;
        if (strcmp(v.elem[i].str, "peers_failed") == 0)
            failed = v.elem[i + 1].integer;
    }
    sim_value_clear(&v);
    sim_client_free(c);
    SIM_ASSERT(s, failed == 0, "%lld peers failed", failed);
    SIM_ASSERT(s, repaired >= NKEYS, "%lld keys repaired of %d", repaired,
               NKEYS);
    sim_settle(s);
    SIM_ASSERT(s, store_count(sim_node(s, 2)->store) == NKEYS,
               "n3 holds %zu keys of %d", store_count(sim_node(s, 2)->store),
               NKEYS);
    for (int i = 0; i < NKEYS; i++) {
        char k[32];
        key_name(i, k, sizeof(k));
        const struct object *a = sim_local(s, 0, k);
        const struct object *b = sim_local(s, 2, k);
        SIM_ASSERT(s, a && b && object_equal(a, b),
                   "n3's %s differs from n1's after the repair", k);
    }
    int only3[] = {2};
    check_keys(s, 0, only3, 1);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 5. the root sweep after a wipe --------------------------------------- */

/* Lets ms of virtual time pass in 100 ms ticks, delivering everything. */
static void run_for(struct sim *s, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 100) {
        sim_advance(s, 100);
        sim_settle(s);
    }
}

static int all_swept(struct sim *s, const void *ctx)
{
    (void)ctx;
    for (int i = 0; i < s->nn; i++)
        if (sim_info(s, i, "ae_sweeps") < 1)
            return 0;
    return 1;
}

static int node3_whole(struct sim *s, const void *ctx)
{
    (void)ctx;
    return store_count(sim_node(s, 2)->store) == NKEYS;
}

static void sweep_after_a_wipe(uint64_t seed, struct dbuf *trace)
{
    /* the defaults: anti-entropy-interval-ms 10000, sweeps every 1000 */
    struct sim_opts o = {.nn = 3, .nval = 3, .r = 2, .w = 2};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    write_keys(s, (int)(seed % 3), NKEYS);
    sim_settle(s);
    /* past every node's first sweep (after its trees are warm, one
     * partition a tick), so the wipe is found by a periodic sweep and not
     * by the one a node that starts empty makes */
    SIM_ASSERT(s, sim_run_until(s, all_swept, NULL, 100, 20000),
               "a node did not sweep (n1 %lld, n2 %lld, n3 %lld)",
               sim_info(s, 0, "ae_sweeps"), sim_info(s, 1, "ae_sweeps"),
               sim_info(s, 2, "ae_sweeps"));
    ck_assert_int_eq(db_flush(sim_node(s, 2)), 0);
    SIM_ASSERT(s, store_count(sim_node(s, 2)->store) == 0, "wipe failed");
    long long ex0 = sum_info(s, "ae_exchanges");

    /* 64 partitions at one per anti-entropy-interval-ms would take 640 s
     * of virtual time; the sweeps need a few intervals (virtual time:
     * deterministic, not a wall-clock bound) */
    int whole = sim_run_until(s, node3_whole, NULL, 100, 5000);
    SIM_ASSERT(s, whole, "n3 holds %zu keys of %d after 5 s",
               store_count(sim_node(s, 2)->store), NKEYS);
    SIM_ASSERT(s, sum_info(s, "ae_sweep_partitions_differed") >= 1,
               "no sweep found a partition different");
    SIM_ASSERT(s, sum_info(s, "ae_exchanges") - ex0 <= 3 * 64,
               "%lld exchanges: more than the partitions that differed",
               sum_info(s, "ae_exchanges") - ex0);
    SIM_ASSERT(s, sum_info(s, "read_repairs") == 0, "a read repaired");
    for (int i = 0; i < NKEYS; i++) {
        char k[32];
        key_name(i, k, sizeof(k));
        const struct object *a = sim_local(s, 0, k);
        const struct object *b = sim_local(s, 2, k);
        SIM_ASSERT(s, a && b && object_equal(a, b),
                   "n3's %s differs from n1's after the sweeps", k);
    }
    /* in sync now: further sweeps compare roots and find nothing */
    run_for(s, 1500);       /* sweeps out at the repair's end finish */
    long long diff0 = sum_info(s, "ae_sweep_partitions_differed");
    long long cmp0 = sum_info(s, "ae_sweep_roots_compared");
    run_for(s, 3000);
    SIM_ASSERT(s, sum_info(s, "ae_sweep_roots_compared") > cmp0,
               "no root compared in 3 s");
    SIM_ASSERT(s, sum_info(s, "ae_sweep_partitions_differed") == diff0,
               "an in-sync cluster's sweep found %lld partitions different",
               sum_info(s, "ae_sweep_partitions_differed") - diff0);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 6. a late write failure on a stand-in that gave its copy away ------ */

/* The sequence (#13, item 1), for a key with replicas A, B, C and
 * first fallback D in a 4-node cluster:
 *   - D cannot reach A, and its link to B swallows everything (a partition
 *     D has not noticed yet);
 *   - a SET through D: D coordinates it, standing in for A, and C's ack
 *     makes W=2, so the client gets OK while B's R.PUT hangs;
 *   - the links heal at once: D delivers its hint to A and, not being a
 *     replica, drops its stand-in copy;
 *   - only then does the R.PUT to B fail (the dead-link timeout).
 * The write B missed must still reach it by a hint, with no read and no
 * anti-entropy: D keeps the hint from the object it replicated, not from
 * its (gone) local copy. */

struct late_ctx {
    int node;
    const char *key, *value;
};

static int late_holds(struct sim *s, const void *ctx)
{
    const struct late_ctx *l = ctx;
    return sim_holds(s, l->node, l->key, l->value);
}

static void late_write_failure(uint64_t seed, struct dbuf *trace)
{
    /* no anti-entropy: only a hint may carry the write to B */
    struct sim_opts o = {.nn = 4, .nval = 3, .r = 2, .w = 2,
                         .hint_max_bytes = "1048576",
                         .extra = "anti-entropy-interval-ms 0\n"};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    char key[32];
    snprintf(key, sizeof(key), "late%llu", (unsigned long long)seed);
    const char *value = "the-acknowledged-write";
    int pl[8];
    SIM_ASSERT(s, sim_preflist(s, key, pl) == 3, "%s: no 3 replicas", key);
    const int A = pl[0], B = pl[1], C = pl[2];
    const int D = 0 + 1 + 2 + 3 - A - B - C; /* the one other node */

    sim_net_link(s->net, D, A, SIM_LINK_DOWN);
    sim_net_link(s->net, A, D, SIM_LINK_DOWN);
    sim_net_link(s->net, D, B, SIM_LINK_SILENT);
    sim_net_link(s->net, B, D, SIM_LINK_SILENT);
    char line[96];
    snprintf(line, sizeof(line), "SET %s %s", key, value);
    sim_expect(s, D, line, "+OK\r\n");
    sim_drain(s); /* the R.PUT to B is swallowed, its failure due later */
    SIM_ASSERT(s, sim_holds(s, C, key, value), "C did not take the write");
    SIM_ASSERT(s, !sim_local(s, A, key) && !sim_local(s, B, key),
               "A or B got the write through a cut link");
    SIM_ASSERT(s, sim_holds(s, D, key, value) &&
                      sim_info(s, D, "hints_pending") == 1,
               "D did not stand in for A (%lld hints pending)",
               sim_info(s, D, "hints_pending"));

    /* heal: D hands A its write and drops its stand-in copy, while the
     * R.PUT to B is still waiting for its dead-link timeout */
    sim_net_link(s->net, D, A, SIM_LINK_UP);
    sim_net_link(s->net, A, D, SIM_LINK_UP);
    sim_net_link(s->net, D, B, SIM_LINK_UP);
    sim_net_link(s->net, B, D, SIM_LINK_UP);
    uint64_t end = sim_net_now(s->net) + 60000;
    while (sim_local(s, D, key)) {
        SIM_ASSERT(s, sim_net_now(s->net) < end, "D never dropped its copy");
        sim_advance(s, 50);
        sim_drain(s);
    }
    SIM_ASSERT(s, sim_holds(s, A, key, value), "A did not get its hint");
    SIM_ASSERT(s, !sim_local(s, B, key),
               "B got the write before its R.PUT failed: not the late case");

    /* the R.PUT to B fails now; the hint it leaves carries the write */
    struct late_ctx at_b = {B, key, value};
    SIM_ASSERT(s, sim_run_until(s, late_holds, &at_b, 50, 60000),
               "B never got the acknowledged write (%lld hints lost on D)",
               sim_info(s, D, "hints_lost"));
    SIM_ASSERT(s, sim_run_until(s, hints_drained, NULL, 50, 60000),
               "%lld hints still pending", sum_info(s, "hints_pending"));
    SIM_ASSERT(s, sum_info(s, "hints_lost") == 0, "%lld hints lost",
               sum_info(s, "hints_lost"));
    for (int i = 0; i < 4; i++)
        SIM_ASSERT(s, i == D ? !sim_local(s, i, key)
                             : sim_holds(s, i, key, value),
                   "n%d: wrong copy of %s at the end", i + 1, key);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 7. hints owed to a node that left ---------------------------------- */

/* The sequence (#13, item 8) in 5 nodes: n1 and n5 cannot reach
 * each other; writes through n1 make n1 stand in for n5 on the keys whose
 * first fallback it is; n5 leaves, the links heal.  n5 is no replica of
 * anything now, so n1's hints for it must go to the keys' replicas of the
 * final ring, and then every key sits on exactly those replicas. */

#define LV_KEYS 48

struct sees_down {
    int node, peer;
};

static int sees_down(struct sim *s, const void *ctx)
{
    const struct sees_down *d = ctx;
    const struct membership *mb = cluster_membership(sim_node(s, d->node));
    char name[16];
    snprintf(name, sizeof(name), "n%d", d->peer + 1);
    int m = membership_find(mb, name);
    return m >= 0 && mb->m[m].status == MEMBER_DOWN;
}

/* Every key of write_keys is held by exactly its replicas under node 0's
 * ring, with its value. */
static int placed_exactly(struct sim *s, const void *ctx)
{
    (void)ctx;
    const struct ring *r = cluster_ring(sim_node(s, 0));
    uint32_t nval = (uint32_t)sim_node(s, 0)->cfg.n;
    for (int i = 0; i < LV_KEYS; i++) {
        char k[32], v[64];
        key_name(i, k, sizeof(k));
        key_value(i, v, sizeof(v));
        uint16_t ri[16];
        uint32_t np = ring_preflist(r, ring_partition_of(r, k, strlen(k)), ri,
                                    nval);
        for (int node = 0; node < s->nn; node++) {
            int replica = 0;
            for (uint32_t j = 0; j < np; j++)
                replica |= atoi(r->names[ri[j]] + 1) - 1 == node;
            if (replica ? !sim_holds(s, node, k, v) : !!sim_local(s, node, k))
                return 0;
        }
    }
    return 1;
}

static void hints_for_a_leaver(uint64_t seed, struct dbuf *trace)
{
    struct sim_opts o = {.nn = 5, .nval = 3, .r = 2, .w = 2,
                         .hint_max_bytes = "1048576"};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    const int n1 = 0, n5 = 4;
    sim_net_link(s->net, n1, n5, SIM_LINK_DOWN);
    sim_net_link(s->net, n5, n1, SIM_LINK_DOWN);
    struct sees_down d1 = {n1, n5}, d5 = {n5, n1};
    SIM_ASSERT(s, sim_run_until(s, sees_down, &d1, 50, 60000) &&
                      sim_run_until(s, sees_down, &d5, 50, 60000),
               "n1 and n5 do not see each other down");
    write_keys(s, n1, LV_KEYS);
    sim_settle(s);
    long long owed = sim_info(s, n1, "hints_pending");
    SIM_ASSERT(s, owed > 0, "n1 stood in for n5 on no key");

    sim_expect(s, n5, "DYNAMO.LEAVE", "+OK\r\n");
    struct ring_goal left = {.nodes = 4, .skip = n5};
    SIM_ASSERT(s, sim_run_until(s, ring_settled, &left, 50, 120000),
               "the leave did not complete");
    sim_net_link(s->net, n1, n5, SIM_LINK_UP);
    sim_net_link(s->net, n5, n1, SIM_LINK_UP);

    SIM_ASSERT(s, sim_run_until(s, hints_drained, NULL, 50, 60000),
               "%lld hints still pending (n1 %lld)",
               sum_info(s, "hints_pending"), sim_info(s, n1, "hints_pending"));
    SIM_ASSERT(s, sim_info(s, n1, "hints_retargeted") == owed,
               "n1 owed %lld hints to n5 and re-targeted %lld", owed,
               sim_info(s, n1, "hints_retargeted"));
    SIM_ASSERT(s, sum_info(s, "hints_lost") == 0, "%lld hints lost",
               sum_info(s, "hints_lost"));
    SIM_ASSERT(s, sim_run_until(s, placed_exactly, NULL, 100, 60000),
               "keys are not on exactly their replicas of the final ring");
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- 8. a driver lost in the middle of its change ------------------------ */

static int no_pending(struct sim *s, const void *ctx)
{
    const int *among = ctx;
    for (int i = 0; i < *among; i++)
        if (sim_info(s, i, "rebalance_pending_epoch") != 0)
            return 0;
    return 1;
}

/* n4 joins, and is cut off for good once the members hold its pending
 * ring: they must give the ring up (else every later change is refused
 * with -BUSY, and writes keep going to a gainer that never comes), and
 * then DYNAMO.FORGET n4 works and every key is where it was. */
static void lost_driver(uint64_t seed, struct dbuf *trace)
{
    struct sim_opts o = {.nn = 3, .nval = 3, .r = 2, .w = 2};
    struct sim *s = sim_new_opts(&o, seed);
    sim_net_trace_to(s->net, trace);
    write_keys(s, 0, NKEYS);
    sim_settle(s);
    int j = sim_add_joiner(s, 0);
    uint64_t end = sim_net_now(s->net) + 60000;
    while (sim_info(s, 0, "rebalance_pending_epoch") == 0) {
        SIM_ASSERT(s, sim_net_now(s->net) < end, "n4 never started its join");
        sim_advance(s, 20);
        sim_drain(s);
    }
    SIM_ASSERT(s, cluster_ring(sim_node(s, 0))->nnodes == 3,
               "the join completed before the cut");
    sim_net_isolate(s->net, j, SIM_LINK_DOWN);
    int members = 3;
    SIM_ASSERT(s, sim_run_until(s, no_pending, &members, 100, 120000),
               "a member still holds the lost driver's pending ring");
    SIM_ASSERT(s, sim_info(s, 0, "rebalance_pending_abandoned") >= 1,
               "n1 counted no abandoned change");
    sim_expect(s, 0, "DYNAMO.FORGET n4", "+OK\r\n");
    sim_settle(s);
    struct ring_goal three = {.nodes = 3, .skip = j};
    SIM_ASSERT(s, sim_run_until(s, ring_settled, &three, 100, 60000),
               "the ring did not settle");
    int all3[] = {0, 1, 2};
    check_keys(s, 0, all3, 3);
    sim_net_trace_to(s->net, NULL);
    sim_free(s);
}

/* ---- each scenario over seeds, and replayed ------------------------------ */

typedef void scenario_fn(uint64_t seed, struct dbuf *trace);

static void over_seeds(scenario_fn *fn)
{
    for (uint64_t seed = 0; seed < SEEDS; seed++)
        fn(seed, NULL);
}

/* The same seed twice: byte-identical traces; another seed: another. */
static void replays(scenario_fn *fn, uint64_t seed)
{
    struct dbuf a, b, c;
    dbuf_init(&a);
    dbuf_init(&b);
    dbuf_init(&c);
    fn(seed, &a);
    fn(seed, &b);
    dbuf_appendc(&a, 0);
    a.len--;
    ck_assert_msg(a.len > 0 && strstr(a.p, " REQ n") && strstr(a.p, " REP n") &&
                      strstr(a.p, " cmd c") && strstr(a.p, " reply c"),
                  "seed %llu: the trace lacks an event kind",
                  (unsigned long long)seed);
    char why[400] = "";
    if (!trace_equal(&a, &b))
        trace_diff(&a, &b, why, sizeof(why));
    ck_assert_msg(trace_equal(&a, &b),
                  "seed %llu replayed differently (%zu vs %zu bytes), %s",
                  (unsigned long long)seed, a.len, b.len, why);
    fn(seed + 1000, &c);
    ck_assert_msg(!trace_equal(&a, &c), "seeds %llu and %llu gave the same "
                  "trace", (unsigned long long)seed,
                  (unsigned long long)seed + 1000);
    dbuf_free(&a);
    dbuf_free(&b);
    dbuf_free(&c);
}

START_TEST(a_joined_node_streams_its_partitions_and_a_leave_loses_no_key)
{
    over_seeds(join_and_leave);
    replays(join_and_leave, 7);
}
END_TEST

START_TEST(hints_over_the_budget_are_dropped_and_the_kept_ones_delivered)
{
    over_seeds(handoff_with_budget);
    replays(handoff_with_budget, 7);
}
END_TEST

START_TEST(a_tombstone_outlives_a_partition_and_is_reaped_after_it)
{
    over_seeds(tombstone_across_a_partition);
    replays(tombstone_across_a_partition, 7);
}
END_TEST

START_TEST(anti_entropy_refills_a_wiped_replica)
{
    over_seeds(antientropy_after_a_wipe);
    replays(antientropy_after_a_wipe, 7);
}
END_TEST

START_TEST(root_sweeps_refill_a_wiped_replica_with_no_command)
{
    over_seeds(sweep_after_a_wipe);
    replays(sweep_after_a_wipe, 7);
}
END_TEST

START_TEST(a_write_that_fails_late_on_a_stand_in_still_leaves_a_hint)
{
    over_seeds(late_write_failure);
    replays(late_write_failure, 7);
}
END_TEST

START_TEST(hints_owed_to_a_node_that_left_reach_the_keys_replicas)
{
    over_seeds(hints_for_a_leaver);
    replays(hints_for_a_leaver, 7);
}
END_TEST

START_TEST(members_give_up_the_pending_ring_of_a_lost_driver)
{
    over_seeds(lost_driver);
    replays(lost_driver, 7);
}
END_TEST

/* One case each, so that CK_RUN_CASE=join (handoff, tombstone, wipe,
 * latewrite, sweep, leaver, lostdriver) runs one scenario alone. */
static Suite *sim_scenarios_suite(void)
{
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"latewrite", a_write_that_fails_late_on_a_stand_in_still_leaves_a_hint},
        {"leaver", hints_owed_to_a_node_that_left_reach_the_keys_replicas},
        {"lostdriver", members_give_up_the_pending_ring_of_a_lost_driver},
        {"wipe", anti_entropy_refills_a_wiped_replica},
        {"sweep", root_sweeps_refill_a_wiped_replica_with_no_command},
        {"tombstone", a_tombstone_outlives_a_partition_and_is_reaped_after_it},
        {"handoff",
         hints_over_the_budget_are_dropped_and_the_kept_ones_delivered},
        {"join", a_joined_node_streams_its_partitions_and_a_leave_loses_no_key},
    };
    Suite *s = suite_create("sim_scenarios");
    for (size_t i = 0; i < DYN_ARRAY_LEN(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    dlog_set_level(DLOG_WARNING);
    SRunner *sr = srunner_create(sim_scenarios_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
