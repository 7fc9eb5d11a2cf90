/*
 * test_gossip.c -- the gossip merge rules (gossip.h): unknown members are
 * learned, a higher incarnation beats everything older, a higher heartbeat
 * at the same incarnation is evidence of life that keeps the heartbeat
 * detector quiet, tombstones (left, removed) spread and are never undone by
 * stale entries, the higher ring epoch wins and equal epochs converge; and
 * the decoder refuses every truncation and survives random corruption.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include "cluster/gossip.h"
#include "server/buf.h"
#include "server/util.h"

#define Q 64

/* A node's state: its table (self first, then the others named) and a
 * ring over all of them. */
struct tnode {
    struct membership mb;
    struct ring ring;
};

static void tnode_init(struct tnode *t, const char *self,
                       const char *const *others, size_t n)
{
    membership_init(&t->mb, 1000, 3000);
    ck_assert_int_ge(membership_add(&t->mb, self, "127.0.0.1", 7001, 17001, 1,
                                    1, 0), 0);
    const char *names[32];
    names[0] = self;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ge(membership_add(&t->mb, others[i], "127.0.0.1",
                                        (uint16_t)(7002 + i),
                                        (uint16_t)(17002 + i), 0, 1, 0), 0);
        names[i + 1] = others[i];
    }
    ck_assert_int_eq(ring_build(&t->ring, Q, names, n + 1, 3), 0);
}

static void tnode_free(struct tnode *t)
{
    membership_free(&t->mb);
    ring_free(&t->ring);
}

/* a and b, each knowing the other. */
static void two_nodes(struct tnode *a, struct tnode *b)
{
    static const char *const oa[] = {"b"};
    static const char *const ob[] = {"a"};
    tnode_init(a, "a", oa, 1);
    tnode_init(b, "b", ob, 1);
}

/* A node of the three-node cluster a, b, c. */
static void of_three(struct tnode *t, const char *self)
{
    static const char *const others[3][2] = {
        {"b", "c"}, {"a", "c"}, {"a", "b"}};
    tnode_init(t, self, others[self[0] - 'a'], 2);
}

/* from's message, through the wire, merged into to. */
static int deliver(struct tnode *from, struct tnode *to, uint64_t now,
                   struct gossip_events *ev)
{
    struct dbuf b;
    struct gossip_msg msg;
    dbuf_init(&b);
    ck_assert_int_eq(gossip_encode(&from->mb, &from->ring, &b), 0);
    ck_assert_int_eq(gossip_decode((const uint8_t *)b.p, b.len, &msg), 0);
    int rc = gossip_merge(&to->mb, &to->ring, &msg, now, ev);
    gossip_msg_free(&msg);
    dbuf_free(&b);
    return rc;
}

static struct member *member(struct tnode *t, const char *name)
{
    int i = membership_find(&t->mb, name);
    ck_assert_msg(i >= 0, "%s is not in the table", name);
    return &t->mb.m[i];
}

static uint32_t count_events(const struct gossip_events *ev,
                             enum gossip_event_type type)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < ev->n; i++)
        k += ev->ev[i].type == type;
    return k;
}

static int rings_equal(const struct ring *a, const struct ring *b)
{
    struct dbuf x, y;
    dbuf_init(&x);
    dbuf_init(&y);
    ring_encode(a, &x);
    ring_encode(b, &y);
    int eq = x.len == y.len && memcmp(x.p, y.p, x.len) == 0;
    dbuf_free(&x);
    dbuf_free(&y);
    return eq;
}

START_TEST(encode_decode_round_trip)
{
    static const char *const o[] = {"b", "c"};
    struct tnode a;
    tnode_init(&a, "a", o, 2);
    a.mb.m[1].heartbeat = 123456789012ull;
    a.mb.m[2].incarnation = 77;
    a.mb.m[2].status = MEMBER_DOWN;
    struct dbuf b;
    dbuf_init(&b);
    ck_assert_int_eq(gossip_encode(&a.mb, &a.ring, &b), 0);
    struct gossip_msg msg;
    ck_assert_int_eq(gossip_decode((const uint8_t *)b.p, b.len, &msg), 0);
    ck_assert_uint_eq(msg.n, 3);
    ck_assert_uint_eq(msg.sender, 0);
    ck_assert_str_eq(msg.e[0].name, "a");
    ck_assert_str_eq(msg.e[2].name, "c");
    ck_assert_str_eq(msg.e[2].host, "127.0.0.1");
    ck_assert_uint_eq(msg.e[2].port, 7003);
    ck_assert_uint_eq(msg.e[2].peer_port, 17003);
    ck_assert_uint_eq(msg.e[2].incarnation, 77);
    ck_assert_int_eq(msg.e[2].status, MEMBER_DOWN);
    ck_assert_uint_eq(msg.e[1].heartbeat, 123456789012ull);
    ck_assert(rings_equal(&msg.ring, &a.ring));
    gossip_msg_free(&msg);
    gossip_msg_free(&msg); /* freeing twice is harmless */
    dbuf_free(&b);
    tnode_free(&a);
}
END_TEST

START_TEST(a_seed_teaches_a_new_node_everyone)
{
    static const char *const o[] = {"b", "c", "d"};
    struct tnode seed, fresh;
    tnode_init(&seed, "a", o, 3);
    /* the new node knows only itself and has no ring yet */
    membership_init(&fresh.mb, 1000, 3000);
    membership_add(&fresh.mb, "e", "10.0.0.5", 7005, 17005, 1, 1, 0);
    ring_init(&fresh.ring, Q);
    struct gossip_events ev;
    gossip_events_init(&ev);
    ck_assert_int_eq(deliver(&seed, &fresh, 1000, &ev), 0);
    ck_assert_uint_eq(fresh.mb.n, 5);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_JOINED), 4);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RING), 1);
    ck_assert(rings_equal(&fresh.ring, &seed.ring));
    for (uint32_t i = 0; i < fresh.mb.n; i++)
        ck_assert_int_eq(fresh.mb.m[i].status, MEMBER_UP);
    ck_assert_uint_eq(member(&fresh, "c")->peer_port, 17003);
    ck_assert(!member(&fresh, "c")->self);
    /* and the seed learns the newcomer from the reply */
    ck_assert_int_eq(deliver(&fresh, &seed, 1000, &ev), 0);
    ck_assert_uint_eq(seed.mb.n, 5);
    ck_assert_str_eq(member(&seed, "e")->host, "10.0.0.5");
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RING), 0);
    /* the same message again changes nothing */
    ck_assert_int_eq(deliver(&fresh, &seed, 1000, &ev), 0);
    ck_assert_uint_eq(ev.n, 0);
    gossip_events_free(&ev);
    tnode_free(&seed);
    tnode_free(&fresh);
}
END_TEST

START_TEST(higher_incarnation_beats_any_heartbeat)
{
    static const char *const ob[] = {"b"};
    struct tnode a, b;
    two_nodes(&a, &b);
    member(&a, "b")->heartbeat = 500;
    /* b restarted: new incarnation, heartbeat back to 3, new address */
    b.mb.m[0].incarnation = 2;
    b.mb.m[0].heartbeat = 3;
    strcpy(b.mb.m[0].host, "10.9.9.9");
    b.mb.m[0].peer_port = 19999;
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&b, &a, 100, &ev);
    ck_assert_uint_eq(member(&a, "b")->incarnation, 2);
    ck_assert_uint_eq(member(&a, "b")->heartbeat, 3);
    ck_assert_str_eq(member(&a, "b")->host, "10.9.9.9");
    ck_assert_uint_eq(member(&a, "b")->peer_port, 19999);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RESTARTED), 1);
    /* the old life's entry, however high its heartbeat, is stale */
    struct tnode stale;
    tnode_init(&stale, "c", ob, 1);
    member(&stale, "b")->heartbeat = 1000000;
    deliver(&stale, &a, 200, &ev);
    ck_assert_uint_eq(member(&a, "b")->incarnation, 2);
    ck_assert_uint_eq(member(&a, "b")->heartbeat, 3);
    ck_assert_str_eq(member(&a, "b")->host, "10.9.9.9");
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RESTARTED), 0);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
    tnode_free(&stale);
}
END_TEST

START_TEST(same_incarnation_higher_heartbeat_is_evidence_of_life)
{
    struct tnode a, b;
    struct member_event me[4];
    two_nodes(&a, &b);
    membership_set_heartbeat_timeouts(&a.mb, 3000, 5000);
    /* nothing asked of b, nothing heard: the heartbeat detector decides */
    ck_assert_uint_eq(membership_tick(&a.mb, 2999, me, 4), 0);
    ck_assert_uint_eq(membership_tick(&a.mb, 3000, me, 4), 1);
    ck_assert_int_eq(me[0].to, MEMBER_SUSPECT);
    ck_assert_uint_eq(membership_tick(&a.mb, 5000, me, 4), 1);
    ck_assert_int_eq(me[0].to, MEMBER_DOWN);
    ck_assert(!membership_is_up(&a.mb, 1));
    /* a heartbeat no higher than what we hold is no news */
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&b, &a, 6000, &ev);
    ck_assert_uint_eq(ev.n, 0);
    ck_assert_uint_eq(member(&a, "b")->last_heard_ms, 0);
    /* a higher one brings b back and restarts the clock */
    gossip_beat(&b.mb);
    deliver(&b, &a, 6000, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_STATUS), 1);
    ck_assert_int_eq(ev.ev[0].from, MEMBER_DOWN);
    ck_assert_int_eq(ev.ev[0].to, MEMBER_UP);
    ck_assert_uint_eq(member(&a, "b")->heartbeat, 1);
    ck_assert_uint_eq(membership_tick(&a.mb, 10999, me, 4), 1); /* suspect */
    gossip_beat(&b.mb);
    deliver(&b, &a, 11000, &ev);
    ck_assert_int_eq(member(&a, "b")->status, MEMBER_UP);
    ck_assert_uint_eq(membership_tick(&a.mb, 15999, me, 4), 1);
    ck_assert_int_eq(me[0].to, MEMBER_SUSPECT);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
}
END_TEST

START_TEST(heartbeats_do_not_overrule_request_timeouts)
{
    struct tnode a, b;
    struct member_event me[4];
    two_nodes(&a, &b);
    membership_set_heartbeat_timeouts(&a.mb, 3000, 5000);
    /* b does not answer us, though others hear from it */
    membership_on_request(&a.mb, 1, 100);
    ck_assert_uint_eq(membership_tick(&a.mb, 3100, me, 4), 1);
    ck_assert_int_eq(a.mb.m[1].status, MEMBER_DOWN);
    gossip_beat(&b.mb);
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&b, &a, 3200, &ev);
    ck_assert_int_eq(a.mb.m[1].status, MEMBER_DOWN);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_STATUS), 0);
    /* the probe's answer is what brings it back */
    ck_assert_int_eq(membership_on_reply(&a.mb, 1, 3300, me), 1);
    ck_assert_int_eq(a.mb.m[1].status, MEMBER_UP);
    ck_assert_uint_eq(membership_tick(&a.mb, 8299, me, 4), 1); /* suspect */
    ck_assert_uint_eq(membership_tick(&a.mb, 8300, me, 4), 1); /* down */
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
}
END_TEST

START_TEST(left_members_stay_left)
{
    struct tnode a, b, c;
    of_three(&a, "a");
    of_three(&b, "b");
    of_three(&c, "c");
    /* c saw b alive with a high heartbeat before b left */
    member(&c, "b")->heartbeat = 40;
    b.mb.m[0].heartbeat = 41;
    ck_assert_int_eq(gossip_leave(&b.mb, 50), 0);
    ck_assert_int_eq(b.mb.m[0].status, MEMBER_LEFT);
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&b, &a, 100, &ev);
    ck_assert_int_eq(member(&a, "b")->status, MEMBER_LEFT);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_STATUS), 1);
    ck_assert_int_eq(ev.ev[0].to, MEMBER_LEFT);
    /* c's stale view, even with more heartbeats, does not resurrect it */
    member(&c, "b")->heartbeat = 1000;
    deliver(&c, &a, 200, &ev);
    ck_assert_int_eq(member(&a, "b")->status, MEMBER_LEFT);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_STATUS), 0);
    /* the detectors leave it alone; no traffic goes to it */
    struct member_event me[4];
    membership_on_request(&a.mb, 1, 300);
    ck_assert_uint_eq(membership_tick(&a.mb, 100000, me, 4), 0);
    ck_assert_int_eq(membership_on_reply(&a.mb, 1, 100001, me), 0);
    ck_assert_int_eq(member(&a, "b")->status, MEMBER_LEFT);
    ck_assert(!membership_is_up(&a.mb, 1));
    for (uint64_t r = 0; r < 50; r++) {
        uint32_t p;
        ck_assert_int_eq(gossip_pick_peer(&a.mb, r, &p), 0);
        ck_assert_str_eq(a.mb.m[p].name, "c");
    }
    /* and a passes the tombstone on to c */
    deliver(&a, &c, 300, &ev);
    ck_assert_int_eq(member(&c, "b")->status, MEMBER_LEFT);
    /* b comes back as a new life: a higher incarnation resurrects it */
    struct tnode b2;
    of_three(&b2, "b");
    b2.mb.m[0].incarnation = 2;
    deliver(&b2, &a, 400, &ev);
    ck_assert_int_eq(member(&a, "b")->status, MEMBER_UP);
    ck_assert_uint_eq(member(&a, "b")->incarnation, 2);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RESTARTED), 1);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_STATUS), 1);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
    tnode_free(&b2);
    tnode_free(&c);
}
END_TEST

START_TEST(forget_spreads_and_beats_left)
{
    struct tnode a, b, c;
    of_three(&a, "a");
    of_three(&b, "b");
    of_three(&c, "c");
    ck_assert_int_eq(gossip_forget(&a.mb, "a", 0), DYN_EINVAL);
    ck_assert_int_eq(gossip_forget(&a.mb, "zz", 0), DYN_ENOTFOUND);
    /* c left, and at the same time an operator forgot it at a */
    ck_assert_int_eq(gossip_leave(&c.mb, 10), 0);
    ck_assert_int_eq(gossip_forget(&a.mb, "c", 10), 0);
    deliver(&c, &b, 20, NULL);
    ck_assert_int_eq(member(&b, "c")->status, MEMBER_LEFT);
    deliver(&a, &b, 30, NULL);
    ck_assert_int_eq(member(&b, "c")->status, MEMBER_REMOVED);
    /* the weaker tombstone does not undo the stronger, in either order */
    deliver(&c, &b, 40, NULL);
    ck_assert_int_eq(member(&b, "c")->status, MEMBER_REMOVED);
    deliver(&c, &a, 40, NULL);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_REMOVED);
    /* the forgotten node hears of it: it is out, and holds itself so */
    struct tnode c2;
    of_three(&c2, "c");
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&a, &c2, 50, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 1);
    ck_assert_int_eq(c2.mb.m[0].status, MEMBER_REMOVED);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
    tnode_free(&c);
    tnode_free(&c2);
}
END_TEST

START_TEST(our_own_entry)
{
    struct tnode a, b;
    two_nodes(&a, &b);
    /* b remembers a previous life of a with a higher incarnation */
    member(&b, "a")->incarnation = 9;
    member(&b, "a")->heartbeat = 70;
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&b, &a, 10, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REFUTED), 1);
    ck_assert_uint_eq(a.mb.m[0].incarnation, 10);
    gossip_beat(&a.mb);
    deliver(&a, &b, 20, &ev);
    ck_assert_uint_eq(member(&b, "a")->incarnation, 10);
    ck_assert_uint_eq(member(&b, "a")->heartbeat, 1);
    /* a heartbeat for us higher than ours (we restarted at the same
     * incarnation) is caught up with, so our next beat is news */
    member(&b, "a")->heartbeat = 500;
    deliver(&b, &a, 30, &ev);
    ck_assert_uint_eq(a.mb.m[0].heartbeat, 500);
    ck_assert_int_eq(a.mb.m[0].status, MEMBER_UP);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
}
END_TEST

/* A node restarted under its name after it left (or was forgotten) meets
 * the cluster's tombstone for it: without DYNAMO.JOIN it stays out, says
 * so once, and gossips itself as out; with DYNAMO.JOIN it outbids the
 * tombstone and every peer takes it back as a new life. */
START_TEST(a_tombstone_for_us_is_adopted_unless_we_rejoin)
{
    struct tnode a, b, c;
    of_three(&a, "a");
    of_three(&b, "b");
    of_three(&c, "c");
    /* c had incarnation 5 when it left; a and b hold that */
    c.mb.m[0].incarnation = 5;
    ck_assert_int_eq(gossip_leave(&c.mb, 10), 0);
    deliver(&c, &a, 20, NULL);
    deliver(&c, &b, 20, NULL);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_LEFT);
    ck_assert_uint_eq(member(&a, "c")->incarnation, 5);

    /* c restarts empty: incarnation 1, alive; a's tombstone is adopted */
    struct tnode c2;
    of_three(&c2, "c");
    struct gossip_events ev;
    gossip_events_init(&ev);
    ck_assert(!c2.mb.self_heard);
    deliver(&a, &c2, 30, &ev);
    ck_assert(c2.mb.self_heard);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 1);
    ck_assert_int_eq(c2.mb.m[0].status, MEMBER_LEFT);
    ck_assert_uint_eq(c2.mb.m[0].incarnation, 5);
    /* once: the next exchange tells it nothing new */
    deliver(&b, &c2, 40, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 0);
    ck_assert_uint_eq(ev.n, 0);
    /* and what it gossips keeps it out everywhere (its old alive entry
     * at incarnation 1 would not have either, but now it agrees) */
    deliver(&c2, &a, 50, NULL);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_LEFT);
    /* a stronger tombstone (forgotten meanwhile) is taken quietly */
    ck_assert_int_eq(gossip_forget(&b.mb, "c", 55), 0);
    deliver(&b, &c2, 60, &ev);
    ck_assert_int_eq(c2.mb.m[0].status, MEMBER_REMOVED);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 0);

    /* DYNAMO.JOIN: a new life at once, above the tombstone */
    ck_assert_int_eq(gossip_rejoin(&c2.mb, 70), 1);
    ck_assert(c2.mb.rejoining);
    ck_assert_int_eq(c2.mb.m[0].status, MEMBER_UP);
    ck_assert_uint_eq(c2.mb.m[0].incarnation, 6);
    deliver(&c2, &a, 80, &ev);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_UP);
    ck_assert_uint_eq(member(&a, "c")->incarnation, 6);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RESTARTED), 1);
    /* a stale message with the old tombstone undoes nothing, either way */
    deliver(&b, &a, 90, NULL);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_UP);
    deliver(&b, &c2, 90, &ev);
    ck_assert_int_eq(c2.mb.m[0].status, MEMBER_UP);
    ck_assert_uint_eq(c2.mb.m[0].incarnation, 6);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
    tnode_free(&c);
    tnode_free(&c2);
}
END_TEST

START_TEST(a_rejoining_node_outbids_a_tombstone_it_had_not_heard_of)
{
    struct tnode a, c;
    of_three(&a, "a");
    of_three(&c, "c");
    member(&a, "c")->incarnation = 9;
    ck_assert_int_eq(gossip_forget(&a.mb, "c", 10), 0);
    /* told to join before hearing anything: its entry is alive already */
    ck_assert_int_eq(gossip_rejoin(&c.mb, 20), 0);
    ck_assert_uint_eq(c.mb.m[0].incarnation, 1);
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&a, &c, 30, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REJOINED), 1);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 0);
    ck_assert_int_eq(c.mb.m[0].status, MEMBER_UP);
    ck_assert_uint_eq(c.mb.m[0].incarnation, 10);
    deliver(&c, &a, 40, &ev);
    ck_assert_int_eq(member(&a, "c")->status, MEMBER_UP);
    ck_assert_uint_eq(member(&a, "c")->incarnation, 10);
    /* a tombstone of an older life is no news once outbid */
    deliver(&a, &c, 50, &ev);
    ck_assert_uint_eq(ev.n, 0);
    /* once in the ring (rejoining cleared by the caller), a later forget
     * is adopted again */
    c.mb.rejoining = 0;
    ck_assert_int_eq(gossip_forget(&a.mb, "c", 60), 0);
    deliver(&a, &c, 70, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_SELF_REMOVED), 1);
    ck_assert_int_eq(c.mb.m[0].status, MEMBER_REMOVED);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&c);
}
END_TEST

START_TEST(higher_ring_epoch_wins_and_ties_converge)
{
    struct tnode a, b;
    of_three(&a, "a");
    of_three(&b, "b");
    ck_assert(rings_equal(&a.ring, &b.ring));
    /* a adds d: epoch 2 replaces b's epoch 1 */
    ck_assert_int_eq(ring_add(&a.ring, "d", 3), 0);
    struct gossip_events ev;
    gossip_events_init(&ev);
    deliver(&a, &b, 10, &ev);
    ck_assert_uint_eq(count_events(&ev, GOSSIP_EV_RING), 1);
    ck_assert(ev.has_old_ring);
    ck_assert_uint_eq(ev.old_ring.epoch, 1);
    ck_assert_uint_eq(b.ring.epoch, 2);
    ck_assert(rings_equal(&a.ring, &b.ring));
    ck_assert_uint_gt(ring_diff(&ev.old_ring, &b.ring, NULL, 0), 0);
    /* an older epoch is ignored */
    struct tnode old;
    of_three(&old, "c");
    deliver(&old, &b, 20, &ev);
    ck_assert_uint_eq(b.ring.epoch, 2);
    ck_assert(!ev.has_old_ring);
    /* both change at once to different tables with the same epoch */
    ck_assert_int_eq(ring_add(&a.ring, "e", 3), 0);
    ck_assert_int_eq(ring_remove(&b.ring, "c", 3), 0);
    ck_assert_uint_eq(a.ring.epoch, b.ring.epoch);
    ck_assert(!rings_equal(&a.ring, &b.ring));
    struct ring a0, b0, win;
    ring_copy(&a0, &a.ring);
    ring_copy(&b0, &b.ring);
    deliver(&a, &b, 30, NULL);
    deliver(&b, &a, 30, NULL);
    ck_assert(rings_equal(&a.ring, &b.ring));
    ck_assert(rings_equal(&a.ring, &a0) || rings_equal(&a.ring, &b0));
    ring_copy(&win, &a.ring);
    /* the winner is the same whichever way the messages go */
    ring_free(&a.ring);
    ring_free(&b.ring);
    ring_copy(&a.ring, &a0);
    ring_copy(&b.ring, &b0);
    deliver(&b, &a, 40, NULL);
    deliver(&a, &b, 40, NULL);
    ck_assert(rings_equal(&a.ring, &b.ring));
    ck_assert(rings_equal(&a.ring, &win));
    ring_free(&a0);
    ring_free(&b0);
    ring_free(&win);
    gossip_events_free(&ev);
    tnode_free(&a);
    tnode_free(&b);
    tnode_free(&old);
}
END_TEST

START_TEST(another_clusters_ring_is_refused)
{
    static const char *const oa[] = {"b"};
    struct tnode a, x;
    tnode_init(&a, "a", oa, 1);
    membership_init(&x.mb, 1000, 3000);
    membership_add(&x.mb, "x", "127.0.0.1", 9000, 19000, 1, 1, 0);
    const char *n[] = {"x"};
    ck_assert_int_eq(ring_build(&x.ring, Q * 2, n, 1, 3), 0);
    x.ring.epoch = 100;
    ck_assert_int_eq(deliver(&x, &a, 10, NULL), DYN_EPROTO);
    ck_assert_uint_eq(a.mb.n, 2);
    ck_assert_uint_eq(a.ring.q, Q);
    ck_assert_uint_eq(a.ring.epoch, 1);
    tnode_free(&a);
    tnode_free(&x);
}
END_TEST

START_TEST(peers_are_picked_among_the_live)
{
    static const char *const o[] = {"b", "c", "d", "e"};
    struct tnode a;
    tnode_init(&a, "a", o, 4);
    a.mb.m[2].status = MEMBER_DOWN;     /* c */
    a.mb.m[3].status = MEMBER_SUSPECT;  /* d still counts */
    uint32_t seen[5] = {0};
    for (uint64_t r = 0; r < 3000; r++) {
        uint32_t p;
        ck_assert_int_eq(gossip_pick_peer(&a.mb, r * 2654435761u, &p), 0);
        seen[p]++;
    }
    ck_assert_uint_eq(seen[0], 0);
    ck_assert_uint_eq(seen[2], 0);
    ck_assert_uint_eq(seen[1] + seen[3] + seen[4], 3000);
    for (int i = 1; i <= 4; i++)
        if (i != 2)
            ck_assert_uint_gt(seen[i], 800);
    struct membership alone;
    membership_init(&alone, 1000, 3000);
    membership_add(&alone, "z", "h", 1, 2, 1, 1, 0);
    uint32_t p = 99;
    ck_assert_int_eq(gossip_pick_peer(&alone, 7, &p), DYN_ENOTFOUND);
    ck_assert_uint_eq(p, 99);
    membership_free(&alone);
    tnode_free(&a);
}
END_TEST

/* ---- hostile input ---------------------------------------------------- */

static void encode_sample(struct dbuf *b)
{
    static const char *const o[] = {"node-2", "node-3", "node-4", "node-5"};
    struct tnode a;
    tnode_init(&a, "node-1", o, 4);
    a.mb.m[2].heartbeat = 1ull << 40;
    a.mb.m[3].incarnation = 300000;
    gossip_forget(&a.mb, "node-5", 0);
    dbuf_init(b);
    ck_assert_int_eq(gossip_encode(&a.mb, &a.ring, b), 0);
    tnode_free(&a);
}

START_TEST(decode_refuses_every_truncation)
{
    struct dbuf b;
    encode_sample(&b);
    struct gossip_msg msg;
    for (size_t len = 0; len < b.len; len++) {
        /* a copy of exactly len bytes, so that ASan sees any overread */
        uint8_t *p = dyn_malloc(len ? len : 1);
        memcpy(p, b.p, len);
        ck_assert_msg(gossip_decode(p, len, &msg) == DYN_EINVAL,
                      "prefix of %zu of %zu bytes accepted", len, b.len);
        ck_assert_ptr_null(msg.e);
        dyn_free(p);
    }
    /* one byte too many is refused as well */
    dbuf_appendc(&b, 0);
    ck_assert_int_eq(gossip_decode((const uint8_t *)b.p, b.len, &msg),
                     DYN_EINVAL);
    b.len--;
    ck_assert_int_eq(gossip_decode((const uint8_t *)b.p, b.len, &msg), 0);
    ck_assert_uint_eq(msg.n, 5);
    ck_assert_int_eq(msg.e[4].status, MEMBER_REMOVED);
    gossip_msg_free(&msg);
    dbuf_free(&b);
}
END_TEST

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Whatever decode accepts satisfies the invariants merge relies on. */
static void assert_sane(const struct gossip_msg *m)
{
    ck_assert_uint_lt(m->sender, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        ck_assert_uint_gt(strlen(m->e[i].name), 0);
        ck_assert_uint_lt(strlen(m->e[i].name), MEMBER_NAME_MAX);
        ck_assert_uint_lt(strlen(m->e[i].host), MEMBER_HOST_MAX);
        ck_assert_int_le(m->e[i].status, MEMBER_STATUS_MAX);
    }
    for (uint32_t p = 0; p < m->ring.q; p++)
        ck_assert(m->ring.nnodes ? m->ring.owner[p] < m->ring.nnodes
                                 : m->ring.owner[p] == 0);
}

START_TEST(decode_survives_random_corruption)
{
    struct dbuf b;
    encode_sample(&b);
    uint64_t s = 0x9e3779b97f4a7c15ull;
    uint32_t accepted = 0;
    uint8_t *p = dyn_malloc(b.len);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(p, b.p, b.len);
        int flips = 1 + (int)(xorshift(&s) % 4);
        for (int f = 0; f < flips; f++)
            p[xorshift(&s) % b.len] ^= (uint8_t)(1 + xorshift(&s) % 255);
        size_t len = b.len;
        if (xorshift(&s) % 4 == 0)
            len = xorshift(&s) % b.len;
        struct gossip_msg msg;
        int rc = gossip_decode(p, len, &msg);
        ck_assert(rc == 0 || rc == DYN_EINVAL);
        if (rc == 0) {
            accepted++;
            assert_sane(&msg);
            /* and merging it must be safe too */
            struct tnode t;
            tnode_init(&t, "node-1", (const char *const[]){"node-2"}, 1);
            int mrc = gossip_merge(&t.mb, &t.ring, &msg, 1, NULL);
            ck_assert(mrc == 0 || mrc == DYN_EPROTO);
            tnode_free(&t);
        }
        gossip_msg_free(&msg);
    }
    /* flips inside heartbeats, ports and hosts are still valid messages */
    ck_assert_uint_gt(accepted, 0);
    /* pure noise */
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = xorshift(&s) % 64;
        uint8_t noise[64];
        for (size_t i = 0; i < len; i++)
            noise[i] = (uint8_t)xorshift(&s);
        if (len)
            noise[0] = GOSSIP_VERSION;
        struct gossip_msg msg;
        int rc = gossip_decode(noise, len, &msg);
        ck_assert(rc == 0 || rc == DYN_EINVAL);
        if (rc == 0)
            assert_sane(&msg);
        gossip_msg_free(&msg);
    }
    dyn_free(p);
    dbuf_free(&b);
}
END_TEST

/* Hand-built messages for the limits. */
static void w_varint(struct dbuf *b, uint64_t v)
{
    while (v >= 0x80) {
        dbuf_appendc(b, (char)(v | 0x80));
        v >>= 7;
    }
    dbuf_appendc(b, (char)v);
}

static void w_str(struct dbuf *b, const char *s)
{
    w_varint(b, strlen(s));
    dbuf_appends(b, s);
}

struct wentry {
    const char *name, *host;
    uint64_t port, pport, status, inc, hb;
};

static int decode_built(uint64_t sender, const struct wentry *e, size_t n,
                        uint64_t claimed_n)
{
    struct dbuf b;
    dbuf_init(&b);
    dbuf_appendc(&b, GOSSIP_VERSION);
    w_varint(&b, sender);
    w_varint(&b, claimed_n);
    for (size_t i = 0; i < n; i++) {
        w_str(&b, e[i].name);
        w_str(&b, e[i].host);
        w_varint(&b, e[i].port);
        w_varint(&b, e[i].pport);
        dbuf_appendc(&b, (char)e[i].status);
        w_varint(&b, e[i].inc);
        w_varint(&b, e[i].hb);
    }
    struct ring r;
    ring_init(&r, Q);
    struct dbuf rb;
    dbuf_init(&rb);
    ring_encode(&r, &rb);
    w_varint(&b, rb.len);
    dbuf_append(&b, rb.p, rb.len);
    struct gossip_msg msg;
    int rc = gossip_decode((const uint8_t *)b.p, b.len, &msg);
    gossip_msg_free(&msg);
    ring_free(&r);
    dbuf_free(&rb);
    dbuf_free(&b);
    return rc;
}

START_TEST(decode_enforces_limits)
{
    const struct wentry ok = {"n1", "127.0.0.1", 7001, 17001, 0, 1, 5};
    ck_assert_int_eq(decode_built(0, &ok, 1, 1), 0);
    /* sender out of range; count larger than the bytes could hold */
    ck_assert_int_eq(decode_built(1, &ok, 1, 1), DYN_EINVAL);
    ck_assert_int_eq(decode_built(0, &ok, 1, 4000), DYN_EINVAL);
    ck_assert_int_eq(decode_built(0, &ok, 1, GOSSIP_MAX_MEMBERS + 1),
                     DYN_EINVAL);
    ck_assert_int_eq(decode_built(0, &ok, 1, 1ull << 62), DYN_EINVAL);
    char longname[MEMBER_NAME_MAX + 1];
    memset(longname, 'x', MEMBER_NAME_MAX);
    longname[MEMBER_NAME_MAX] = 0;
    struct wentry e = ok;
    e.name = longname;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    longname[MEMBER_NAME_MAX - 1] = 0; /* the longest that fits */
    ck_assert_int_eq(decode_built(0, &e, 1, 1), 0);
    const char *bad_names[] = {"", "a b", "a\nb", "caf\xc3\xa9"};
    for (size_t i = 0; i < DYN_ARRAY_LEN(bad_names); i++) {
        e = ok;
        e.name = bad_names[i];
        ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    }
    e = ok;
    e.host = "host\x01";
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    e = ok;
    e.port = 65536;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    e = ok;
    e.pport = 1ull << 40;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    e = ok;
    e.status = MEMBER_STATUS_MAX + 1;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    e = ok;
    e.inc = (uint64_t)UINT32_MAX + 1;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), DYN_EINVAL);
    e = ok;
    e.hb = UINT64_MAX;
    ck_assert_int_eq(decode_built(0, &e, 1, 1), 0);
    /* the same name twice */
    struct wentry two[2] = {ok, ok};
    ck_assert_int_eq(decode_built(1, two, 2, 2), DYN_EINVAL);
    two[1].name = "n2";
    ck_assert_int_eq(decode_built(1, two, 2, 2), 0);
    /* wrong version, empty, over the size limit */
    struct gossip_msg msg;
    const uint8_t v2[] = {2, 0, 0};
    ck_assert_int_eq(gossip_decode(v2, sizeof(v2), &msg), DYN_EINVAL);
    ck_assert_int_eq(gossip_decode(v2, 0, &msg), DYN_EINVAL);
    ck_assert_int_eq(gossip_decode(v2, (size_t)GOSSIP_MAX_BYTES + 1, &msg),
                     DYN_EINVAL);
    /* an 11-byte varint, and a 10-byte one that overflows 64 bits */
    const uint8_t long_varint[] = {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x00};
    ck_assert_int_eq(gossip_decode(long_varint, sizeof(long_varint), &msg),
                     DYN_EINVAL);
    const uint8_t overflow[] = {1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                0xff, 0xff, 0xff, 0x02};
    ck_assert_int_eq(gossip_decode(overflow, sizeof(overflow), &msg),
                     DYN_EINVAL);
}
END_TEST

static Suite *gossip_suite(void)
{
    Suite *s = suite_create("gossip");
    TCase *tc = tcase_create("merge");
    tcase_add_test(tc, encode_decode_round_trip);
    tcase_add_test(tc, a_seed_teaches_a_new_node_everyone);
    tcase_add_test(tc, higher_incarnation_beats_any_heartbeat);
    tcase_add_test(tc, same_incarnation_higher_heartbeat_is_evidence_of_life);
    tcase_add_test(tc, heartbeats_do_not_overrule_request_timeouts);
    tcase_add_test(tc, left_members_stay_left);
    tcase_add_test(tc, forget_spreads_and_beats_left);
    tcase_add_test(tc, our_own_entry);
    tcase_add_test(tc, a_tombstone_for_us_is_adopted_unless_we_rejoin);
    tcase_add_test(tc,
                   a_rejoining_node_outbids_a_tombstone_it_had_not_heard_of);
    tcase_add_test(tc, higher_ring_epoch_wins_and_ties_converge);
    tcase_add_test(tc, another_clusters_ring_is_refused);
    tcase_add_test(tc, peers_are_picked_among_the_live);
    suite_add_tcase(s, tc);
    TCase *hostile = tcase_create("decode");
    tcase_add_test(hostile, decode_refuses_every_truncation);
    tcase_add_test(hostile, decode_survives_random_corruption);
    tcase_add_test(hostile, decode_enforces_limits);
    tcase_set_timeout(hostile, 60);
    suite_add_tcase(s, hostile);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gossip_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
