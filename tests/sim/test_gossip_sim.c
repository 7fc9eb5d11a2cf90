/*
 * test_gossip_sim.c -- gossip in a deterministic in-memory cluster.
 *
 * Sixteen nodes run the pure modules (membership, ring, gossip) with no
 * sockets: a round is one gossip interval, in which every live node, in a
 * random order, beats its heartbeat and does a push-pull exchange (encoded
 * and decoded, as on the wire) with a random live peer from its own table,
 * or with the seed while it knows nobody; then every node ticks its failure
 * detector.  A killed node stops gossiping and drops what is sent to it.
 * No pings or data traffic run, so the heartbeat detector is the only one
 * that can mark a node down.  All randomness comes from one seeded PRNG,
 * so a failure can be replayed from its seed; a test checks that the same
 * seed twice gives a byte-identical trace (every exchange, with a hash of
 * its encoded bytes, and every failure-detector event, with the time).
 *
 * The figures the failures issue asks for are printed on stderr (rounds to
 * converge at 16 nodes, rounds to detect a dead node, rounds to spread a
 * ring change); the assertions only bound them loosely.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cluster/gossip.h"
#include "server/buf.h"
#include "server/util.h"

#define NODES 16
#define MAXN 32
#define Q 256
#define INTERVAL_MS 1000
#define SEEDS 100
/* The heartbeat detector's thresholds, in gossip intervals. */
#define HB_SUSPECT_ROUNDS 6
#define HB_DOWN_ROUNDS 10

struct simnode {
    struct membership mb;
    struct ring ring;
    int alive;
};

struct sim {
    struct simnode n[MAXN];
    uint32_t count;
    uint64_t rng;
    uint64_t now;
    uint32_t seed;      /* the node everyone lists as `seed` */
    uint64_t false_downs; /* a live node marked DOWN by a live node */
    uint32_t victim;    /* for the stop conditions below */
    uint64_t want_epoch;
    struct dbuf *trace; /* NULL, or every exchange and detector event */
};

static uint64_t sim_rand(struct sim *s)
{
    /* splitmix64 */
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void node_name(uint32_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "node-%02u", i);
}

static uint32_t index_of(const char *name)
{
    unsigned i = MAXN;
    sscanf(name, "node-%u", &i);
    return i;
}

/* Node i starts knowing only itself, as with `seed` lines and nothing
 * else.  The seed node holds the cluster's ring. */
static void sim_start_node(struct sim *s, uint32_t i)
{
    struct simnode *n = &s->n[i];
    char name[16];
    node_name(i, name, sizeof(name));
    membership_init(&n->mb, 2 * INTERVAL_MS, 6 * INTERVAL_MS);
    membership_set_heartbeat_timeouts(&n->mb,
                                      HB_SUSPECT_ROUNDS * INTERVAL_MS,
                                      HB_DOWN_ROUNDS * INTERVAL_MS);
    ck_assert_int_eq(membership_add(&n->mb, name, "127.0.0.1",
                                    (uint16_t)(7001 + i),
                                    (uint16_t)(17001 + i), 1,
                                    (uint32_t)s->now / 1000 + 1, s->now), 0);
    ck_assert_int_eq(ring_init(&n->ring, Q), 0);
    n->alive = 1;
}

static void sim_init(struct sim *s, uint32_t count, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->count = count;
    s->rng = seed;
    s->now = 1000;
    s->seed = 0;
    for (uint32_t i = 0; i < count; i++)
        sim_start_node(s, i);
    char names[NODES][16];
    const char *nv[NODES];
    for (uint32_t i = 0; i < NODES && i < count; i++) {
        node_name(i, names[i], sizeof(names[i]));
        nv[i] = names[i];
    }
    ring_free(&s->n[s->seed].ring);
    ck_assert_int_eq(ring_build(&s->n[s->seed].ring, Q, nv,
                                count < NODES ? count : NODES, 3), 0);
}

static void sim_free(struct sim *s)
{
    for (uint32_t i = 0; i < s->count; i++) {
        membership_free(&s->n[i].mb);
        ring_free(&s->n[i].ring);
    }
}

/* from's message merged into to, through the wire encoding.  (Plain ifs:
 * a passing ck_assert costs a message to the runner, and this is hot.) */
static void sim_send(struct sim *s, uint32_t from, uint32_t to)
{
    struct dbuf b;
    struct gossip_msg msg;
    dbuf_init(&b);
    if (gossip_encode(&s->n[from].mb, &s->n[from].ring, &b) != 0)
        ck_abort_msg("node %u cannot encode", from);
    if (gossip_decode((const uint8_t *)b.p, b.len, &msg) != 0)
        ck_abort_msg("node %u's message does not decode", from);
    if (s->trace)
        dbuf_printf(s->trace, "t=%llu n%u->n%u len=%zu h=%016llx\n",
                    (unsigned long long)s->now, from, to, b.len,
                    (unsigned long long)dyn_hash64(b.p, b.len));
    int rc = gossip_merge(&s->n[to].mb, &s->n[to].ring, &msg, s->now, NULL);
    if (rc != 0)
        ck_abort_msg("node %u cannot merge node %u's message: %d", to, from,
                     rc);
    gossip_msg_free(&msg);
    dbuf_free(&b);
}

static void sim_round(struct sim *s)
{
    s->now += INTERVAL_MS;
    uint32_t order[MAXN];
    for (uint32_t i = 0; i < s->count; i++)
        order[i] = i;
    for (uint32_t i = s->count - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(sim_rand(s) % (i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t k = 0; k < s->count; k++) {
        uint32_t i = order[k];
        if (!s->n[i].alive)
            continue;
        gossip_beat(&s->n[i].mb);
        uint32_t m, peer;
        if (gossip_pick_peer(&s->n[i].mb, sim_rand(s), &m) == 0)
            peer = index_of(s->n[i].mb.m[m].name);
        else if (i != s->seed)
            peer = s->seed;
        else
            continue;
        if (peer >= s->count)
            ck_abort_msg("node %u picked an unknown peer", i);
        if (!s->n[peer].alive)
            continue;   /* sent into the void; no reply */
        sim_send(s, i, peer);
        sim_send(s, peer, i);
    }
    struct member_event ev[MAXN];
    for (uint32_t i = 0; i < s->count; i++) {
        if (!s->n[i].alive)
            continue;
        uint32_t k = membership_tick(&s->n[i].mb, s->now, ev, MAXN);
        for (uint32_t e = 0; e < k; e++) {
            uint32_t who = index_of(s->n[i].mb.m[ev[e].member].name);
            if (s->trace)
                dbuf_printf(s->trace, "t=%llu n%u sees n%u status %d\n",
                            (unsigned long long)s->now, i, who, (int)ev[e].to);
            if (ev[e].to == MEMBER_DOWN && who < s->count && s->n[who].alive)
                s->false_downs++;
        }
    }
}

/* Does node i see node j with status st? */
static int sees(const struct sim *s, uint32_t i, uint32_t j,
               enum member_status st)
{
    char name[16];
    node_name(j, name, sizeof(name));
    int m = membership_find(&s->n[i].mb, name);
    return m >= 0 && s->n[i].mb.m[m].status == st;
}

static int all_live_see(const struct sim *s, uint32_t j,
                        enum member_status st)
{
    for (uint32_t i = 0; i < s->count; i++)
        if (s->n[i].alive && i != j && !sees(s, i, j, st))
            return 0;
    return 1;
}

static int all_up(const struct sim *s)
{
    for (uint32_t j = 0; j < s->count; j++)
        if (s->n[j].alive && !all_live_see(s, j, MEMBER_UP))
            return 0;
    return 1;
}

static int rings_agree(const struct sim *s, uint64_t epoch)
{
    struct dbuf first, b;
    dbuf_init(&first);
    dbuf_init(&b);
    int ok = 1, have = 0;
    for (uint32_t i = 0; i < s->count && ok; i++) {
        if (!s->n[i].alive)
            continue;
        if (s->n[i].ring.epoch != epoch) {
            ok = 0;
            break;
        }
        dbuf_reset(&b);
        ring_encode(&s->n[i].ring, &b);
        if (!have) {
            dbuf_append(&first, b.p, b.len);
            have = 1;
        } else if (b.len != first.len || memcmp(b.p, first.p, b.len)) {
            ok = 0;
        }
    }
    dbuf_free(&first);
    dbuf_free(&b);
    return ok;
}

/* Runs rounds until done(s) or max rounds; returns the rounds taken, or
 * max + 1 if it never happened. */
static uint32_t run_until(struct sim *s, int (*done)(const struct sim *),
                          uint32_t max)
{
    for (uint32_t r = 1; r <= max; r++) {
        sim_round(s);
        if (done(s))
            return r;
    }
    return max + 1;
}

static int converged(const struct sim *s)
{
    return all_up(s) && rings_agree(s, 1);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, uint32_t *v, uint32_t n)
{
    qsort(v, n, sizeof(*v), cmp_u32);
    fprintf(stderr,
            "# gossip-sim %u nodes, %s: median %u, p90 %u, max %u rounds "
            "(min %u; %u seeds)\n",
            NODES, what, v[n / 2], v[(n * 9) / 10], v[n - 1], v[0], n);
}

START_TEST(sixteen_nodes_from_seeds_all_see_each_other_up)
{
    uint32_t rounds[SEEDS];
    uint64_t false_downs = 0;
    for (uint32_t k = 0; k < SEEDS; k++) {
        struct sim s;
        sim_init(&s, NODES, 1000 + k);
        /* only the seed's own entry exists anywhere at first */
        ck_assert_uint_eq(s.n[5].mb.n, 1);
        rounds[k] = run_until(&s, converged, 50);
        ck_assert_msg(rounds[k] <= 50, "seed %u did not converge", 1000 + k);
        /* and it stays that way: no live node is ever marked down */
        for (int r = 0; r < 30; r++)
            sim_round(&s);
        ck_assert(all_up(&s));
        false_downs += s.false_downs;
        sim_free(&s);
    }
    ck_assert_uint_eq(false_downs, 0);
    report("start from a seed to all-see-all-up and one ring", rounds,
           SEEDS);
    ck_assert_uint_le(rounds[SEEDS - 1], 20);
}
END_TEST

static int victim_down(const struct sim *s)
{
    return all_live_see(s, s->victim, MEMBER_DOWN);
}

START_TEST(a_killed_node_is_marked_down_by_all)
{
    uint32_t rounds[SEEDS], first[SEEDS];
    for (uint32_t k = 0; k < SEEDS; k++) {
        struct sim s;
        sim_init(&s, NODES, 5000 + k);
        ck_assert_uint_le(run_until(&s, converged, 50), 50);
        for (int r = 0; r < 10; r++)
            sim_round(&s);
        s.victim = 1 + (uint32_t)(sim_rand(&s) % (NODES - 1));
        s.n[s.victim].alive = 0;
        /* the first node to notice, then the last */
        first[k] = 0;
        uint32_t r;
        for (r = 1; r <= 100; r++) {
            sim_round(&s);
            int any = 0;
            for (uint32_t i = 0; i < NODES; i++)
                any |= s.n[i].alive && sees(&s, i, s.victim, MEMBER_DOWN);
            if (any && !first[k])
                first[k] = r;
            if (victim_down(&s))
                break;
        }
        rounds[k] = r;
        /* never before the configured threshold: no node heard from the
         * victim after it died */
        ck_assert_uint_ge(first[k], HB_DOWN_ROUNDS);
        ck_assert_uint_le(rounds[k], 100);
        ck_assert_uint_eq(s.false_downs, 0);
        /* and the others stay up */
        for (uint32_t j = 0; j < NODES; j++)
            if (j != s.victim)
                ck_assert(all_live_see(&s, j, MEMBER_UP));
        sim_free(&s);
    }
    fprintf(stderr, "# gossip-sim detection: heartbeat suspect after %u, "
                    "down after %u intervals without news\n",
            HB_SUSPECT_ROUNDS, HB_DOWN_ROUNDS);
    report("kill -> first node marks it down", first, SEEDS);
    report("kill -> every live node marks it down", rounds, SEEDS);
    ck_assert_uint_le(rounds[SEEDS - 1], HB_DOWN_ROUNDS + 8);
}
END_TEST

static int ring_spread(const struct sim *s)
{
    return rings_agree(s, s->want_epoch);
}

START_TEST(a_ring_change_at_one_node_reaches_all)
{
    uint32_t rounds[SEEDS];
    for (uint32_t k = 0; k < SEEDS; k++) {
        struct sim s;
        sim_init(&s, NODES, 9000 + k);
        ck_assert_uint_le(run_until(&s, converged, 50), 50);
        uint32_t at = (uint32_t)(sim_rand(&s) % NODES);
        ck_assert_int_eq(ring_remove(&s.n[at].ring, "node-15", 3), 0);
        s.want_epoch = 2;
        rounds[k] = run_until(&s, ring_spread, 50);
        ck_assert_uint_le(rounds[k], 50);
        for (uint32_t i = 0; i < NODES; i++)
            ck_assert_int_lt(ring_node_index(&s.n[i].ring, "node-15"), 0);
        /* two different changes at once, at the same epoch: everyone ends
         * with the same one of them */
        ck_assert_int_eq(ring_remove(&s.n[3].ring, "node-14", 3), 0);
        ck_assert_int_eq(ring_add(&s.n[9].ring, "node-99", 3), 0);
        s.want_epoch = 3;
        ck_assert_uint_le(run_until(&s, ring_spread, 50), 50);
        int removed = ring_node_index(&s.n[0].ring, "node-14") < 0;
        int added = ring_node_index(&s.n[0].ring, "node-99") >= 0;
        ck_assert_int_eq(removed + added, 1);
        sim_free(&s);
    }
    report("ring change at one node -> identical ring everywhere", rounds,
           SEEDS);
}
END_TEST

START_TEST(a_late_node_joins_through_the_seed)
{
    uint32_t rounds[SEEDS];
    for (uint32_t k = 0; k < SEEDS; k++) {
        struct sim s;
        sim_init(&s, NODES, 20000 + k);
        ck_assert_uint_le(run_until(&s, converged, 50), 50);
        /* node-16 starts with only itself; its one exchange is with the
         * seed, after which it knows everyone */
        s.count = NODES + 1;
        sim_start_node(&s, NODES);
        ck_assert_uint_eq(s.n[NODES].mb.n, 1);
        sim_send(&s, NODES, s.seed);
        sim_send(&s, s.seed, NODES);
        ck_assert_uint_eq(s.n[NODES].mb.n, NODES + 1);
        for (uint32_t j = 0; j < NODES; j++)
            ck_assert(sees(&s, NODES, j, MEMBER_UP));
        ck_assert(rings_agree(&s, 1));
        rounds[k] = run_until(&s, all_up, 50);
        ck_assert_uint_le(rounds[k], 50);
        sim_free(&s);
    }
    report("late joiner (after its seed exchange) -> known up by all",
           rounds, SEEDS);
}
END_TEST

START_TEST(a_node_that_left_stays_left_everywhere)
{
    for (uint32_t k = 0; k < 20; k++) {
        struct sim s;
        sim_init(&s, NODES, 30000 + k);
        ck_assert_uint_le(run_until(&s, converged, 50), 50);
        ck_assert_int_eq(gossip_leave(&s.n[7].mb, s.now), 0);
        /* it tells one peer, then shuts down */
        uint32_t m;
        ck_assert_int_eq(gossip_pick_peer(&s.n[7].mb, sim_rand(&s), &m), 0);
        sim_send(&s, 7, index_of(s.n[7].mb.m[m].name));
        s.n[7].alive = 0;
        s.victim = 7;
        for (int r = 0; r < 60; r++) {
            sim_round(&s);
            /* never judged down: it left, it did not fail */
            for (uint32_t i = 0; i < NODES; i++)
                if (s.n[i].alive)
                    ck_assert(!sees(&s, i, 7, MEMBER_DOWN));
        }
        ck_assert(all_live_see(&s, 7, MEMBER_LEFT));
        for (uint32_t i = 0; i < NODES; i++)
            ck_assert(i == 7 || !sees(&s, i, 7, MEMBER_UP));
        ck_assert_uint_eq(s.false_downs, 0);
        sim_free(&s);
    }
}
END_TEST

/* One run, traced: start from the seed, converge, kill a node, and go on
 * until every live node has marked it down. */
static void replay_run(uint64_t seed, struct dbuf *out)
{
    struct sim s;
    sim_init(&s, NODES, seed);
    s.trace = out;
    ck_assert_uint_le(run_until(&s, converged, 50), 50);
    s.victim = 1 + (uint32_t)(sim_rand(&s) % (NODES - 1));
    s.n[s.victim].alive = 0;
    ck_assert_uint_le(run_until(&s, victim_down, 100), 100);
    sim_free(&s);
}

START_TEST(the_same_seed_gives_a_byte_identical_trace)
{
    for (uint64_t seed = 40000; seed < 40010; seed++) {
        struct dbuf a, b, c;
        dbuf_init(&a);
        dbuf_init(&b);
        dbuf_init(&c);
        replay_run(seed, &a);
        replay_run(seed, &b);
        replay_run(seed + 1000, &c);
        dbuf_appendc(&a, 0);
        ck_assert_msg(strstr(a.p, "->") && strstr(a.p, " sees "),
                      "seed %llu: the trace lacks an event kind",
                      (unsigned long long)seed);
        a.len--;
        ck_assert_msg(a.len == b.len && memcmp(a.p, b.p, a.len) == 0,
                      "seed %llu replayed differently",
                      (unsigned long long)seed);
        ck_assert_msg(a.len != c.len || memcmp(a.p, c.p, a.len) != 0,
                      "seeds %llu and %llu gave the same trace",
                      (unsigned long long)seed,
                      (unsigned long long)seed + 1000);
        dbuf_free(&a);
        dbuf_free(&b);
        dbuf_free(&c);
    }
}
END_TEST

static Suite *gossip_sim_suite(void)
{
    Suite *s = suite_create("gossip_sim");
    TCase *tc = tcase_create("cluster16");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sixteen_nodes_from_seeds_all_see_each_other_up);
    tcase_add_test(tc, a_killed_node_is_marked_down_by_all);
    tcase_add_test(tc, a_ring_change_at_one_node_reaches_all);
    tcase_add_test(tc, a_late_node_joins_through_the_seed);
    tcase_add_test(tc, a_node_that_left_stays_left_everywhere);
    tcase_add_test(tc, the_same_seed_gives_a_byte_identical_trace);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gossip_sim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
