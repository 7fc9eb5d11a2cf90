/*
 * test_db.c -- the keyspace as handlers see it: visibility, lazy and active
 * expiry, versioned writes (siblings, max-siblings, lww, pruning),
 * tombstone reaping, and refusal of a newer node's format or type.  Runs
 * db.c on a bare struct node (no event loop).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include "cluster/crdt.h"
#include "server/db.h"
#include "server/node.h"
#include "server/store.h"
#include "server/tcache.h"
#include "server/util.h"

/* node.c (the I/O shell) is not linked here: the test supplies the random
 * source and the clock db.c reads (the system's, as node.c's when a node's
 * clock hooks are unset). */
/* Nonzero: the wall clock every node of a test reads (two nodes that
 * must write the same bytes write at the same times). */
static uint64_t test_now_ms;

uint64_t node_wall_ms(const struct node *n)
{
    (void)n;
    return test_now_ms ? test_now_ms : dyn_wall_ms();
}

uint64_t node_mono_us(const struct node *n)
{
    (void)n;
    return dyn_mono_us();
}

uint64_t node_random(struct node *n)
{
    uint64_t x = n->rng ? n->rng : 0x9E3779B97F4A7C15ULL;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    n->rng = x;
    return x;
}

#define ACTOR_A 0xA000000000000001ULL
#define ACTOR_B 0xB000000000000001ULL

static void node_setup(struct node *n)
{
    memset(n, 0, sizeof(*n));
    n->cfg.ring_partitions = 16;
    n->cfg.vclock_max_entries = 10;
    n->cfg.max_siblings = 100;
    n->cfg.conflict_policy = CONFLICT_SIBLINGS;
    n->cfg.tombstone_grace_s = 60;
    n->cfg.active_expire = 1;
    n->store = store_new(16);
    n->actor = ACTOR_A;
    n->rng = 12345;
}

static void node_teardown(struct node *n)
{
    store_free(n->store);
    dbuf_free(&n->typed_enc);
}

static int set_val(struct node *n, const char *k, const char *v,
                   int64_t expire_ms)
{
    struct db_write w = {.value = v, .vlen = strlen(v),
                         .expire_ms = expire_ms};
    return db_write(n, k, strlen(k), &w);
}

static int del_key(struct node *n, const char *k)
{
    struct db_write w = {.tombstone = 1};
    return db_write(n, k, strlen(k), &w);
}

/* A write with an explicit (possibly empty) client context. */
static int put_ctx(struct node *n, const char *k, const char *v,
                   const struct vclock *ctx)
{
    struct db_write w = {.value = v, .vlen = strlen(v), .ctx = ctx};
    return db_write(n, k, strlen(k), &w);
}

static int visible(struct node *n, const char *k, const char *expect)
{
    struct db_value v;
    if (!db_lookup(n, k, strlen(k), &v))
        return 0;
    return v.vlen == strlen(expect) && memcmp(v.value, expect, v.vlen) == 0;
}

START_TEST(set_get_overwrite)
{
    struct node n;
    node_setup(&n);
    struct db_value v;
    ck_assert_int_eq(db_lookup(&n, "k", 1, &v), 0);
    ck_assert_int_eq(set_val(&n, "k", "one", 0), 0);
    ck_assert(visible(&n, "k", "one"));
    ck_assert_int_eq(set_val(&n, "k", "two", 0), 0);
    ck_assert(visible(&n, "k", "two"));
    ck_assert_int_eq(db_lookup(&n, "k", 1, &v), 1);
    ck_assert_uint_eq(v.nsiblings, 1); /* a plain SET supersedes */
    ck_assert_int_eq(v.expire_ms, 0);
    ck_assert_uint_eq(db_size(&n), 1);
    ck_assert_uint_eq(n.stats.siblings_created, 0);
    node_teardown(&n);
}
END_TEST

START_TEST(delete_hides_but_keeps_tombstone)
{
    struct node n;
    node_setup(&n);
    set_val(&n, "a", "1", 0);
    set_val(&n, "b", "2", 0);
    ck_assert_int_eq(del_key(&n, "a"), 0);
    struct db_value v;
    ck_assert_int_eq(db_lookup(&n, "a", 1, &v), 0);
    ck_assert_uint_eq(db_size(&n), 1);
    const struct object *o = db_object(&n, "a", 1);
    ck_assert_ptr_nonnull(o);
    ck_assert(object_is_deleted(o));
    ck_assert_uint_eq(object_nsiblings(o), 1);
    /* Writing again resurrects it. */
    set_val(&n, "a", "again", 0);
    ck_assert(visible(&n, "a", "again"));
    ck_assert_uint_eq(db_size(&n), 2);
    node_teardown(&n);
}
END_TEST

START_TEST(lazy_expiry_removes_on_access)
{
    struct node n;
    node_setup(&n);
    int64_t now = (int64_t)dyn_wall_ms();
    set_val(&n, "gone", "x", now - 1);
    set_val(&n, "later", "y", now + 3600 * 1000);
    ck_assert_uint_eq(store_count(n.store), 2);
    struct db_value v;
    ck_assert_int_eq(db_lookup(&n, "gone", 4, &v), 0);
    ck_assert_uint_eq(n.stats.expired_keys, 1);
    ck_assert_uint_eq(store_count(n.store), 1); /* physically removed */
    ck_assert_ptr_null(db_object(&n, "gone", 4));
    ck_assert_int_eq(db_lookup(&n, "later", 5, &v), 1);
    ck_assert_int_eq(v.expire_ms, now + 3600 * 1000);
    node_teardown(&n);
}
END_TEST

START_TEST(write_over_expired_key_continues_the_counter)
{
    struct node n;
    node_setup(&n);
    int64_t now = (int64_t)dyn_wall_ms();
    set_val(&n, "k", "a", 0);
    set_val(&n, "k", "b", now - 1); /* counter 2, already expired */
    ck_assert_int_eq(set_val(&n, "k", "c", 0), 0);
    ck_assert_uint_eq(n.stats.expired_keys, 1);
    const struct object *o = db_object(&n, "k", 1);
    ck_assert_uint_eq(object_nsiblings(o), 1);
    struct sibling s;
    object_sibling(o, 0, &s);
    ck_assert_uint_eq(s.actor, ACTOR_A);
    ck_assert_uint_eq(s.counter, 3);
    ck_assert_int_eq(s.expire_ms, 0);
    ck_assert(visible(&n, "k", "c"));
    node_teardown(&n);
}
END_TEST

START_TEST(active_expire_removes_expired_keys)
{
    struct node n;
    node_setup(&n);
    int64_t now = (int64_t)dyn_wall_ms();
    char k[32];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof(k), "dead:%d", i);
        set_val(&n, k, "v", now - 10);
        snprintf(k, sizeof(k), "alive:%d", i);
        set_val(&n, k, "v", i % 2 ? now + 3600 * 1000 : 0);
    }
    ck_assert_uint_eq(store_count(n.store), 1000);
    ck_assert_uint_eq(store_count_expiring(n.store), 750);
    /* Generous budget: every slice keeps finding > 25% expired until
     * only the 250 live TTL keys are left in the index. */
    for (int round = 0; round < 5000 && store_count(n.store) > 500; round++)
        db_active_expire(&n, 1000000);
    ck_assert_uint_eq(store_count(n.store), 500);
    ck_assert_uint_eq(n.stats.expired_keys, 500);
    ck_assert_uint_eq(store_count_expiring(n.store), 250);
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof(k), "alive:%d", i);
        ck_assert(visible(&n, k, "v"));
    }
    /* Nothing expired: a slice removes nothing. */
    db_active_expire(&n, 1000000);
    ck_assert_uint_eq(n.stats.expired_keys, 500);
    node_teardown(&n);
}
END_TEST

START_TEST(concurrent_writes_make_siblings)
{
    struct node n;
    node_setup(&n);
    struct vclock empty;
    vclock_init(&empty);
    /* Two writers that both saw nothing: concurrent, both kept. */
    ck_assert_int_eq(put_ctx(&n, "k", "x", &empty), 0);
    n.actor = ACTOR_B;
    ck_assert_int_eq(put_ctx(&n, "k", "y", &empty), 0);
    struct db_value v;
    ck_assert_int_eq(db_lookup(&n, "k", 1, &v), 1);
    ck_assert_uint_eq(v.nsiblings, 2);
    ck_assert_uint_eq(n.stats.siblings_created, 1);

    /* A write with the merged context resolves them. */
    struct vclock ctx;
    vclock_init(&ctx);
    object_clock(db_object(&n, "k", 1), &ctx);
    ck_assert_int_eq(put_ctx(&n, "k", "resolved", &ctx), 0);
    ck_assert_int_eq(db_lookup(&n, "k", 1, &v), 1);
    ck_assert_uint_eq(v.nsiblings, 1);
    ck_assert(visible(&n, "k", "resolved"));
    vclock_free(&ctx);
    vclock_free(&empty);
    node_teardown(&n);
}
END_TEST

/* A version that expires takes only itself away: a concurrent sibling
 * without a TTL stays visible; when every version has expired the key goes. */
START_TEST(an_expired_sibling_does_not_take_a_live_one_with_it)
{
    struct node n;
    node_setup(&n);
    struct vclock empty;
    vclock_init(&empty);
    int64_t soon = (int64_t)dyn_wall_ms() + 150;
    ck_assert_int_eq(put_ctx(&n, "k", "stays", &empty), 0);
    n.actor = ACTOR_B;
    /* the later (winning) sibling carries a short TTL */
    struct db_write w = {.value = "goes", .vlen = 4, .ctx = &empty,
                         .expire_ms = soon};
    ck_assert_int_eq(db_write(&n, "k", 1, &w), 0);
    ck_assert(visible(&n, "k", "goes"));
    while ((int64_t)dyn_wall_ms() <= soon + 5)
        ;
    ck_assert(visible(&n, "k", "stays"));
    ck_assert_ptr_nonnull(db_object(&n, "k", 1));

    /* both expired: the key is gone and removed */
    n.actor = ACTOR_A;
    int64_t later = (int64_t)dyn_wall_ms() + 100;
    struct vclock ctx;
    vclock_init(&ctx);
    w.value = "a";
    w.vlen = 1;
    w.expire_ms = later;
    w.ctx = &empty;
    ck_assert_int_eq(db_write(&n, "j", 1, &w), 0);
    n.actor = ACTOR_B;
    ck_assert_int_eq(db_write(&n, "j", 1, &w), 0);
    while ((int64_t)dyn_wall_ms() <= later + 5)
        ;
    ck_assert(!visible(&n, "j", "a"));
    ck_assert_ptr_null(db_object(&n, "j", 1));
    vclock_free(&ctx);
    vclock_free(&empty);
    node_teardown(&n);
}
END_TEST

/* A client context may not claim writes of this node that it never made:
 * a claim above its high-water mark is refused and changes nothing, the
 * value stored before stays, and the next writes take the next counters
 * (2^64-1, 2^64-2 and 2^63 are the values that once lost writes). */
START_TEST(a_context_claiming_unmade_writes_is_refused)
{
    struct node n;
    node_setup(&n);
    ck_assert_int_eq(set_val(&n, "k", "kept", 0), 0);
    ck_assert_uint_eq(n.dot_counter, 1);
    const uint64_t claims[] = {UINT64_MAX, UINT64_MAX - 1, 1ULL << 63, 2};
    struct vclock c;
    vclock_init(&c);
    for (size_t i = 0; i < DYN_ARRAY_LEN(claims); i++) {
        vclock_set(&c, ACTOR_A, claims[i], 1);
        ck_assert_int_eq(put_ctx(&n, "k", "forged", &c), DYN_EINVAL);
        ck_assert_int_eq(put_ctx(&n, "new", "forged", &c), DYN_EINVAL);
        ck_assert(visible(&n, "k", "kept"));
        ck_assert(!visible(&n, "new", "forged"));
        ck_assert_uint_eq(n.dot_counter, 1);
    }
    /* the node's own figure is fine, and so is any foreign actor's */
    vclock_set(&c, ACTOR_A, 1, 1);
    vclock_set(&c, ACTOR_B, UINT64_MAX, 1);
    ck_assert_int_eq(put_ctx(&n, "k", "resolved", &c), 0);
    ck_assert(visible(&n, "k", "resolved"));
    ck_assert_int_eq(set_val(&n, "k", "next", 0), 0);
    ck_assert(visible(&n, "k", "next"));
    ck_assert_int_eq(set_val(&n, "fresh", "x", 0), 0);
    ck_assert_uint_eq(object_actor_counter(db_object(&n, "fresh", 5),
                                           ACTOR_A), 4);
    ck_assert_uint_eq(n.dot_counter, 4);
    vclock_free(&c);
    node_teardown(&n);
}
END_TEST

/* A version forged at another coordinator, whose context claims this
 * node's future writes, reaches this node by replication: SET still
 * works (and the forged version stays beside it, nothing is lost), the
 * context DYNAMO.GET hands out is accepted back, a blind write that the
 * forged version would cover is refused, and the high-water mark never
 * absorbs the claim. */
START_TEST(a_replicated_forged_claim_never_moves_the_counters)
{
    struct node n;
    node_setup(&n);
    ck_assert_int_eq(set_val(&n, "other", "x", 0), 0); /* counter 1 */
    struct vclock forged;
    vclock_init(&forged);
    vclock_set(&forged, ACTOR_A, UINT64_MAX, 1);
    struct object_write fw = {.value = "forged", .vlen = 6, .ctx = &forged,
                              .actor = ACTOR_B, .now_ms = 1};
    store_put_take(n.store, "k", 1, object_write(NULL, &fw, NULL));

    ck_assert_int_eq(set_val(&n, "k", "set", 0), 0);
    ck_assert(visible(&n, "k", "set"));
    ck_assert_uint_eq(object_nsiblings(db_object(&n, "k", 1)), 2);
    ck_assert_uint_eq(n.dot_counter, 2);

    struct vclock clk, empty;
    vclock_init(&clk);
    vclock_init(&empty);
    object_clock(db_object(&n, "k", 1), &clk);
    ck_assert_int_eq(put_ctx(&n, "k", "put", &clk), 0);
    ck_assert(visible(&n, "k", "put"));
    ck_assert_uint_eq(n.dot_counter, 3);
    ck_assert_int_eq(put_ctx(&n, "k", "blind", &empty), DYN_EPROTO);
    ck_assert(visible(&n, "k", "put"));
    ck_assert_uint_eq(n.dot_counter, 3);
    vclock_free(&clk);
    vclock_free(&empty);
    vclock_free(&forged);
    node_teardown(&n);
}
END_TEST

/* The same on a node that has not written yet (high-water mark 0): the
 * claim is dropped from the context, not turned into a counter of 0. */
START_TEST(a_forged_claim_on_a_node_that_never_wrote)
{
    struct node n;
    node_setup(&n);
    struct vclock forged;
    vclock_init(&forged);
    vclock_set(&forged, ACTOR_A, UINT64_MAX, 1);
    struct object_write fw = {.value = "forged", .vlen = 6, .ctx = &forged,
                              .actor = ACTOR_B, .now_ms = 1};
    store_put_take(n.store, "k", 1, object_write(NULL, &fw, NULL));
    ck_assert_int_eq(set_val(&n, "k", "set", 0), 0);
    const struct object *o = db_object(&n, "k", 1);
    ck_assert_uint_eq(object_nsiblings(o), 2);
    struct object *copy = NULL;
    ck_assert_int_eq(object_from_bytes(object_bytes(o), object_size(o), NULL,
                                       &copy), 0);
    struct vclock clk;
    vclock_init(&clk);
    object_clock(o, &clk); /* every context decodes */
    ck_assert_uint_eq(vclock_get(&clk, ACTOR_B), 1);
    ck_assert_uint_eq(n.dot_counter, 1);
    ck_assert(visible(&n, "k", "set"));
    object_free(copy);
    vclock_free(&clk);
    vclock_free(&forged);
    node_teardown(&n);
}
END_TEST

START_TEST(plain_set_supersedes_siblings)
{
    struct node n;
    node_setup(&n);
    struct vclock empty;
    vclock_init(&empty);
    put_ctx(&n, "k", "x", &empty);
    n.actor = ACTOR_B;
    put_ctx(&n, "k", "y", &empty);
    ck_assert_uint_eq(object_nsiblings(db_object(&n, "k", 1)), 2);
    set_val(&n, "k", "z", 0);
    ck_assert_uint_eq(object_nsiblings(db_object(&n, "k", 1)), 1);
    ck_assert(visible(&n, "k", "z"));
    vclock_free(&empty);
    node_teardown(&n);
}
END_TEST

START_TEST(max_siblings_refuses_and_changes_nothing)
{
    struct node n;
    node_setup(&n);
    n.cfg.max_siblings = 2;
    struct vclock empty;
    vclock_init(&empty);
    ck_assert_int_eq(put_ctx(&n, "k", "1", &empty), 0);
    ck_assert_int_eq(put_ctx(&n, "k", "2", &empty), 0);
    const struct object *before = db_object(&n, "k", 1);
    ck_assert_uint_eq(object_nsiblings(before), 2);
    uint64_t digest = object_digest(before);
    ck_assert_uint_eq(n.stats.sibling_cap_refusals, 0);
    ck_assert_int_eq(put_ctx(&n, "k", "3", &empty), DYN_ELIMIT);
    const struct object *after = db_object(&n, "k", 1);
    ck_assert_uint_eq(object_nsiblings(after), 2);
    ck_assert_uint_eq(object_digest(after), digest);
    /* every refusal is counted (INFO sibling_cap_refusals) */
    ck_assert_int_eq(put_ctx(&n, "k", "4", &empty), DYN_ELIMIT);
    ck_assert_uint_eq(n.stats.sibling_cap_refusals, 2);
    vclock_free(&empty);
    node_teardown(&n);
}
END_TEST

START_TEST(lww_keeps_only_the_winner)
{
    struct node n;
    node_setup(&n);
    n.cfg.conflict_policy = CONFLICT_LWW;
    struct vclock empty;
    vclock_init(&empty);
    put_ctx(&n, "k", "x", &empty);
    n.actor = ACTOR_B;
    put_ctx(&n, "k", "y", &empty);
    struct db_value v;
    ck_assert_int_eq(db_lookup(&n, "k", 1, &v), 1);
    ck_assert_uint_eq(v.nsiblings, 1);
    ck_assert_uint_eq(n.stats.siblings_created, 0);
    vclock_free(&empty);
    node_teardown(&n);
}
END_TEST

START_TEST(context_pruning_is_counted)
{
    struct node n;
    node_setup(&n);
    n.cfg.vclock_max_entries = 2;
    struct vclock ctx;
    vclock_init(&ctx);
    for (uint64_t a = 1; a <= 5; a++)
        vclock_set(&ctx, a << 40, 1, 1000 + a);
    ck_assert_int_eq(put_ctx(&n, "k", "v", &ctx), 0);
    ck_assert_uint_gt(n.stats.vclock_prunes, 0);
    vclock_free(&ctx);
    node_teardown(&n);
}
END_TEST

START_TEST(tombstones_reaped_after_grace)
{
    struct node n;
    node_setup(&n);
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof(k), "k:%d", i);
        set_val(&n, k, "v", 0);
        if (i % 2)
            del_key(&n, k);
    }
    ck_assert_uint_eq(store_count(n.store), 100);
    ck_assert_uint_eq(db_size(&n), 50);

    /* Within the grace period nothing goes. */
    db_reap_tombstones(&n, 1000000);
    ck_assert_uint_eq(store_count(n.store), 100);
    ck_assert_uint_eq(n.stats.tombstones_reaped, 0);

    n.cfg.tombstone_grace_s = 0;
    for (int round = 0; round < 100 && store_count(n.store) > 50; round++)
        db_reap_tombstones(&n, 1000000);
    ck_assert_uint_eq(store_count(n.store), 50);
    ck_assert_uint_eq(n.stats.tombstones_reaped, 50);
    ck_assert_uint_eq(db_size(&n), 50);
    for (int i = 0; i < 100; i += 2) {
        snprintf(k, sizeof(k), "k:%d", i);
        ck_assert(visible(&n, k, "v"));
    }
    node_teardown(&n);
}
END_TEST

START_TEST(flush_empties_the_keyspace)
{
    struct node n;
    node_setup(&n);
    set_val(&n, "a", "1", 0);
    set_val(&n, "b", "2", 0);
    del_key(&n, "b");
    db_flush(&n);
    ck_assert_uint_eq(db_size(&n), 0);
    ck_assert_uint_eq(store_count(n.store), 0);
    ck_assert_ptr_null(db_object(&n, "b", 1));
    node_teardown(&n);
}
END_TEST

/* An object a newer node wrote (a format or a value type this node does
 * not know) is refused with DYN_EFORMAT, and nothing is stored: not over
 * an existing key, not as a new one. */
START_TEST(a_newer_format_or_type_is_refused_and_nothing_stored)
{
    struct node n;
    node_setup(&n);
    ck_assert_int_eq(set_val(&n, "k", "v", 0), 0);
    const struct object *cur = db_object(&n, "k", 1);
    ck_assert_ptr_nonnull(cur);
    size_t len = object_size(cur);
    uint8_t *before = dyn_memdup(object_bytes(cur), len);
    uint8_t *newer = dyn_memdup(before, len);
    newer[0] = 4; /* OBJECT_FORMAT 4: not known here */
    ck_assert_int_eq(db_merge_bytes(&n, "k", 1, newer, len), DYN_EFORMAT);
    ck_assert_int_eq(db_merge_bytes(&n, "new", 3, newer, len), DYN_EFORMAT);
    /* format 2 with one sibling of type 0x7f */
    uint8_t typed[] = {2, 1, 0x04, 0x7f, 1, 0, 0, 0, 0, 0, 0, 0xB0,
                       1, 1, 0, 1, 0x7f};
    ck_assert_int_eq(db_merge_bytes(&n, "k", 1, typed, sizeof(typed)),
                     DYN_EFORMAT);
    ck_assert_int_eq(db_merge_bytes(&n, "new", 3, typed, sizeof(typed)),
                     DYN_EFORMAT);
    cur = db_object(&n, "k", 1);
    ck_assert_uint_eq(object_size(cur), len);
    ck_assert_mem_eq(object_bytes(cur), before, len);
    ck_assert_ptr_null(db_object(&n, "new", 3));
    ck_assert(visible(&n, "k", "v"));
    /* bad bytes are DYN_EINVAL, not DYN_EFORMAT */
    ck_assert_int_eq(db_merge_bytes(&n, "k", 1, before, len - 1),
                     DYN_EINVAL);
    /* the same merge path takes a known format */
    ck_assert_int_eq(db_merge_bytes(&n, "new", 3, before, len), 1);
    ck_assert_ptr_nonnull(db_object(&n, "new", 3));
    dyn_free(before);
    dyn_free(newer);
    node_teardown(&n);
}
END_TEST


/* ---- deferred typed encoding (db.c's essay) ------------------------------ */

/* SADD of members m[0..k) as cmd_set.c does it: the op's state from
 * db_typed_take_write, the members added with fresh dots, written; the
 * command's end gives back what was lent. */
static int t_sadd(struct node *n, const char *key, const char **m, int k)
{
    void *st = NULL;
    int64_t exp = 0;
    size_t lens[8];
    for (int i = 0; i < k; i++)
        lens[i] = strlen(m[i]);
    int rc = db_typed_take_write(n, key, strlen(key), CRDT_TYPE_SET, &st, &exp,
                                 1024);
    if (rc == DB_WRONGTYPE) { /* a string was written over the set */
        db_typed_end(n);
        return rc;
    }
    ck_assert_int_ge(rc, 0);
    if (rc == 0)
        st = crdt_set_new();
    struct crdt_dot first;
    uint64_t ts;
    uint32_t added;
    db_typed_dots(n, key, strlen(key), (uint32_t)k, &first, &ts);
    ck_assert_int_eq(crdt_set_add_many(st, (const void *const *)m, lens,
                                       (uint32_t)k, &first,
                                       db_crdt_limits(n), &added), 0);
    ck_assert_int_eq(db_typed_write_state(n, key, strlen(key), CRDT_TYPE_SET,
                                          st, &first, (uint32_t)k, ts, exp),
                     0);
    db_typed_end(n);
    return 0;
}

/* SREM of one member: written when it was there; freed (nothing written)
 * when not, which with a deferred state frees nothing. */
static int t_srem(struct node *n, const char *key, const char *m)
{
    void *st = NULL;
    int64_t exp = 0;
    int rc = db_typed_take_write(n, key, strlen(key), CRDT_TYPE_SET, &st, &exp,
                                 1024);
    if (rc == DB_WRONGTYPE) {
        db_typed_end(n);
        return rc;
    }
    ck_assert_int_ge(rc, 0);
    if (rc == 1 && crdt_set_remove(st, m, strlen(m)) == 1) {
        struct crdt_dot d;
        uint64_t ts;
        db_typed_dots(n, key, strlen(key), 1, &d, &ts);
        ck_assert_int_eq(db_typed_write_state(n, key, strlen(key),
                                              CRDT_TYPE_SET, st, &d, 1, ts,
                                              exp), 0);
    } else {
        crdt_set_free(st);
    }
    db_typed_end(n);
    return 0;
}

/* One op of another type, as its handler does it (the dots it uses, a
 * state borrowed for an all-or-nothing op): HSET f v, ZADD score m,
 * LPUSH v, LPOP.  DB_WRONGTYPE when the key holds another type. */
enum t_op { T_HSET, T_ZADD, T_LPUSH, T_LPOP };

static int t_other(struct node *n, const char *key, enum t_op op,
                   const char *m, double score)
{
    static const int types[] = {CRDT_TYPE_HASH, CRDT_TYPE_ZSET,
                                CRDT_TYPE_LIST, CRDT_TYPE_LIST};
    int type = types[op];
    size_t klen = strlen(key), mlen = strlen(m);
    void *st = NULL;
    int64_t exp = 0;
    int rc = db_typed_take_write(n, key, klen, type, &st, &exp, 256);
    if (rc == DB_WRONGTYPE) {
        db_typed_end(n);
        return rc;
    }
    ck_assert_int_ge(rc, 0);
    if (op == T_LPOP && rc == 0) {
        db_typed_end(n);
        return 0;
    }
    if (rc == 0)
        st = type == CRDT_TYPE_HASH   ? (void *)crdt_hash_new()
             : type == CRDT_TYPE_ZSET ? (void *)crdt_zset_new()
                                      : (void *)crdt_list_new();
    struct crdt_dot first, next;
    uint64_t ts;
    uint32_t used = 1;
    int added;
    db_typed_dots(n, key, klen, 2, &first, &ts);
    next = first;
    const struct crdt_limits *lim = db_crdt_limits(n);
    switch (op) {
    case T_HSET:
        ck_assert_int_eq(crdt_hash_set(st, m, mlen, "v", 1, ts, &next, lim,
                                       &added), 0);
        used = (uint32_t)(next.counter - first.counter);
        break;
    case T_ZADD:
        ck_assert_int_eq(crdt_zset_add(st, m, mlen, score, &first, ts, lim,
                                       &added), 0);
        break;
    case T_LPUSH: {
        const void *v[1] = {m};
        ck_assert_int_eq(crdt_list_insert_many(st, 0, v, &mlen, 1, &first,
                                               lim), 0);
        break;
    }
    case T_LPOP:
        crdt_list_remove(st, 0);
        break;
    }
    ck_assert_int_eq(db_typed_write_state(n, key, klen, type, st, &first,
                                          used ? used : 1, ts, exp), 0);
    db_typed_end(n);
    return 0;
}

/* The object of key on a and on b, byte for byte. */
static void same_object(struct node *a, struct node *b, const char *key)
{
    const struct object *oa = db_object(a, key, strlen(key));
    const struct object *ob = db_object(b, key, strlen(key));
    ck_assert_int_eq(oa != NULL, ob != NULL);
    if (oa)
        ck_assert_msg(object_equal(oa, ob), "key %s differs", key);
}

/* Node a defers its typed writes (sets, and a hash, a sorted set and a
 * list), node b (typed-cache-size 0) encodes each one: the same ops at
 * the same times leave the same bytes, whenever a read makes a encode,
 * through evictions (cache_bytes small), a DEL, a string written over a
 * set, and the cache switched off and on.  With cluster, both act as
 * members of a cluster (the claims of an encoded write, no compaction):
 * a defers as a coordinator lets it (typed_defer_turn), b keeps decoded
 * states but encodes every write, as a coordinator did before write
 * groups; there the cache is switched off and on in both. */
static void deferred_run_as(uint64_t seed, long long cache_bytes,
                            uint64_t min_deferred, uint64_t min_evicted,
                            int cluster)
{
    struct node a, b;
    node_setup(&a);
    node_setup(&b);
    a.cfg.typed_cache_size = cache_bytes;
    b.cfg.typed_cache_size = cluster ? cache_bytes : 0;
    static char member_of_no_cluster;
    if (cluster) {
        /* db.c only asks whether there is one */
        a.cluster = b.cluster = (struct cluster *)&member_of_no_cluster;
        a.typed_defer_turn = 1;
    }
    a.cfg.proto_max_bulk_len = b.cfg.proto_max_bulk_len = 512LL << 20;
    static const char *mem[] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6",
                                "m7", "m8", "m9", "member-10", "m11"};
    static const char *keys[] = {"s0", "s1", "s2", "h0", "z0", "l0"};
    uint64_t x = seed;
    for (int i = 0; i < 4000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        test_now_ms = 1000000 + (uint64_t)i / 3;
        int ki = (int)(x % 6);
        const char *key = keys[ki];
        uint64_t op = (x >> 8) % 100;
        if (ki >= 3 && op < 85) {
            /* the key's own type: h0 hashes, z0 sorted sets, l0 lists */
            enum t_op o = ki == 3 ? T_HSET : ki == 4 ? T_ZADD
                          : op < 50 ? T_LPUSH : T_LPOP;
            const char *m = mem[(x >> 16) % 12];
            double sc = (double)((x >> 20) % 7);
            ck_assert_int_eq(t_other(&a, key, o, m, sc),
                             t_other(&b, key, o, m, sc));
        } else if (op < 60) {
            const char *m[3];
            int k = 1 + (int)((x >> 16) % 3);
            for (int j = 0; j < k; j++)
                m[j] = mem[(x >> (24 + 4 * j)) % 12];
            ck_assert_int_eq(t_sadd(&a, key, m, k), t_sadd(&b, key, m, k));
        } else if (op < 85) {
            const char *m = mem[(x >> 16) % 12];
            ck_assert_int_eq(t_srem(&a, key, m), t_srem(&b, key, m));
        } else if (op < 93) {
            same_object(&a, &b, key); /* a encodes the key here */
        } else if (op < 96) {
            ck_assert_int_eq(set_val(&a, "other", "v", 0), 0);
            ck_assert_int_eq(set_val(&b, "other", "v", 0), 0);
        } else if (op < 98) {
            ck_assert_int_eq(del_key(&a, key), 0);
            ck_assert_int_eq(del_key(&b, key), 0);
        } else if (op < 99) {
            ck_assert_int_eq(set_val(&a, key, "str", 0), 0);
            ck_assert_int_eq(set_val(&b, key, "str", 0), 0);
        } else {
            /* CONFIG SET typed-cache-size 0, one command, then back */
            a.cfg.typed_cache_size = 0;
            (void)t_srem(&a, key, "nothing");
            a.cfg.typed_cache_size = cache_bytes;
            if (cluster) {
                b.cfg.typed_cache_size = 0;
                (void)t_srem(&b, key, "nothing");
                b.cfg.typed_cache_size = cache_bytes;
            }
        }
    }
    for (int k = 0; k < 6; k++)
        same_object(&a, &b, keys[k]);
    /* the run did defer, and encoded deferred states */
    ck_assert_uint_gt(a.stats.typed_writes_deferred, min_deferred);
    ck_assert_uint_gt(a.stats.typed_encodes_deferred, 100);
    ck_assert_uint_eq(b.stats.typed_writes_deferred, 0);
    struct tcache_stats st;
    tcache_stats(a.tcache, &st);
    ck_assert_uint_ge(st.evictions, min_evicted);
    test_now_ms = 0;
    tcache_free(a.tcache);
    if (b.tcache)
        tcache_free(b.tcache);
    node_teardown(&a);
    node_teardown(&b);
}

static void deferred_run(uint64_t seed, long long cache_bytes,
                         uint64_t min_deferred, uint64_t min_evicted)
{
    deferred_run_as(seed, cache_bytes, min_deferred, min_evicted, 0);
}

START_TEST(deferred_set_writes_store_the_bytes_of_encoded_ones)
{
    deferred_run(0x5eedULL, 64LL << 20, 1000, 0);
    deferred_run(0xdefe77edULL, 64LL << 20, 1000, 0);
    deferred_run(0xc1a1e5ULL, 64LL << 20, 1000, 0);
    deferred_run(0x10ca1ULL, 64LL << 20, 1000, 0);
}
END_TEST

START_TEST(deferred_writes_in_a_cluster_store_the_bytes_of_encoded_ones)
{
    /* a coordinator's write group: the claims of encoded writes, no
     * compaction, the context of what each state had seen */
    deferred_run_as(0x5eedULL, 64LL << 20, 1000, 0, 1);
    deferred_run_as(0xdefe77edULL, 64LL << 20, 1000, 0, 1);
    deferred_run_as(0xc1a1e5ULL, 64LL << 20, 1000, 0, 1);
}
END_TEST

START_TEST(deferred_states_evicted_are_encoded_first)
{
    /* a bound that holds about one small set: every other key's state is
     * evicted, and so encoded, between its writes (how many writes still
     * defer depends on what an entry of the cache costs) */
    deferred_run(0xe71c7ULL, 900, 150, 200);
    deferred_run(0xbadcafeULL, 2000, 200, 100);
}
END_TEST

static Suite *db_suite(void)
{
    Suite *su = suite_create("db");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, set_get_overwrite);
    tcase_add_test(tc, delete_hides_but_keeps_tombstone);
    tcase_add_test(tc, lazy_expiry_removes_on_access);
    tcase_add_test(tc, write_over_expired_key_continues_the_counter);
    tcase_add_test(tc, active_expire_removes_expired_keys);
    tcase_add_test(tc, concurrent_writes_make_siblings);
    tcase_add_test(tc, an_expired_sibling_does_not_take_a_live_one_with_it);
    tcase_add_test(tc, plain_set_supersedes_siblings);
    tcase_add_test(tc, max_siblings_refuses_and_changes_nothing);
    tcase_add_test(tc, lww_keeps_only_the_winner);
    tcase_add_test(tc, context_pruning_is_counted);
    tcase_add_test(tc, tombstones_reaped_after_grace);
    tcase_add_test(tc, flush_empties_the_keyspace);
    tcase_add_test(tc, a_context_claiming_unmade_writes_is_refused);
    tcase_add_test(tc, a_replicated_forged_claim_never_moves_the_counters);
    tcase_add_test(tc, a_forged_claim_on_a_node_that_never_wrote);
    tcase_add_test(tc, a_newer_format_or_type_is_refused_and_nothing_stored);
    tcase_add_test(tc, deferred_set_writes_store_the_bytes_of_encoded_ones);
    tcase_add_test(tc, deferred_states_evicted_are_encoded_first);
    tcase_add_test(tc,
                   deferred_writes_in_a_cluster_store_the_bytes_of_encoded_ones);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(db_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
