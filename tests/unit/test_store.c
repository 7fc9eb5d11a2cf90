/*
 * test_store.c -- the per-partition store: lookups, counts, partition
 * iteration, SCAN across resizes, sampling indexes, binary keys, stress.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/store.h"
#include "server/util.h"
#include "cluster/merkle.h"

#define ACTOR 0x1234500000001ULL

static struct object *make_obj(const char *val, int tombstone,
                               int64_t expire_ms)
{
    struct object_write w = {
        .value = val,
        .vlen = val ? strlen(val) : 0,
        .tombstone = tombstone,
        .expire_ms = expire_ms,
        .ctx = NULL,
        .actor = ACTOR,
        .now_ms = 1000,
        .max_ctx_entries = 10,
    };
    uint32_t pruned = 0;
    return object_write(NULL, &w, &pruned);
}

static struct object *val_obj(const char *val)
{
    return make_obj(val, 0, 0);
}

/* The winning value of a stored object, as a C string in buf. */
static const char *obj_value(const struct object *o, char *buf, size_t cap)
{
    struct sibling s;
    object_sibling(o, object_winner(o), &s);
    size_t n = s.vlen < cap - 1 ? s.vlen : cap - 1;
    memcpy(buf, s.value, n);
    buf[n] = '\0';
    return buf;
}

static void put_str(struct store *s, const char *k, const char *v)
{
    store_put_take(s, k, strlen(k), val_obj(v));
}

static const struct object *get_str(struct store *s, const char *k)
{
    return store_get(s, k, strlen(k));
}

/* ---- basic operations ---------------------------------------------------- */

START_TEST(put_get_replace_remove)
{
    struct store *s = store_new(16);
    char buf[64];

    ck_assert_ptr_null(get_str(s, "a"));
    put_str(s, "a", "one");
    put_str(s, "b", "two");
    ck_assert_uint_eq(store_count(s), 2);
    ck_assert_str_eq(obj_value(get_str(s, "a"), buf, sizeof(buf)), "one");
    ck_assert_str_eq(obj_value(get_str(s, "b"), buf, sizeof(buf)), "two");

    put_str(s, "a", "uno");
    ck_assert_uint_eq(store_count(s), 2);
    ck_assert_str_eq(obj_value(get_str(s, "a"), buf, sizeof(buf)), "uno");

    ck_assert_int_eq(store_remove(s, "a", 1), 0);
    ck_assert_ptr_null(get_str(s, "a"));
    ck_assert_int_eq(store_remove(s, "a", 1), DYN_ENOTFOUND);
    ck_assert_uint_eq(store_count(s), 1);
    ck_assert_str_eq(obj_value(get_str(s, "b"), buf, sizeof(buf)), "two");
    store_free(s);
    store_free(NULL);
}
END_TEST

START_TEST(counts_live_deleted_expiring)
{
    struct store *s = store_new(8);

    put_str(s, "v", "x");
    store_put_take(s, "t", 1, make_obj(NULL, 1, 0));
    store_put_take(s, "e", 1, make_obj("y", 0, 5000));
    ck_assert_uint_eq(store_count(s), 3);
    ck_assert_uint_eq(store_count_live(s), 2);
    ck_assert_uint_eq(store_count_expiring(s), 1);

    /* A value becomes a tombstone and back, an expiry goes away. */
    store_put_take(s, "v", 1, make_obj(NULL, 1, 0));
    ck_assert_uint_eq(store_count_live(s), 1);
    store_put_take(s, "t", 1, val_obj("back"));
    ck_assert_uint_eq(store_count_live(s), 2);
    store_put_take(s, "e", 1, val_obj("persisted"));
    ck_assert_uint_eq(store_count_expiring(s), 0);
    store_put_take(s, "e", 1, make_obj("y", 0, 9000));
    ck_assert_uint_eq(store_count_expiring(s), 1);

    ck_assert_int_eq(store_remove(s, "e", 1), 0);
    ck_assert_int_eq(store_remove(s, "v", 1), 0);
    ck_assert_uint_eq(store_count(s), 1);
    ck_assert_uint_eq(store_count_live(s), 1);
    ck_assert_uint_eq(store_count_expiring(s), 0);
    store_free(s);
}
END_TEST

START_TEST(binary_keys_with_nul_bytes)
{
    struct store *s = store_new(4);
    char buf[64];
    const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'};

    store_put_take(s, k1, 3, val_obj("1"));
    store_put_take(s, k2, 3, val_obj("2"));
    store_put_take(s, k3, 1, val_obj("3"));
    store_put_take(s, "", 0, val_obj("empty"));
    ck_assert_uint_eq(store_count(s), 4);
    ck_assert_str_eq(obj_value(store_get(s, k1, 3), buf, sizeof(buf)), "1");
    ck_assert_str_eq(obj_value(store_get(s, k2, 3), buf, sizeof(buf)), "2");
    ck_assert_str_eq(obj_value(store_get(s, k3, 1), buf, sizeof(buf)), "3");
    ck_assert_str_eq(obj_value(store_get(s, "", 0), buf, sizeof(buf)),
                     "empty");
    ck_assert_ptr_null(store_get(s, k1, 2)); /* "a\0" is another key */
    ck_assert_int_eq(store_remove(s, k1, 3), 0);
    ck_assert_ptr_null(store_get(s, k1, 3));
    ck_assert_ptr_nonnull(store_get(s, k2, 3));
    store_free(s);
}
END_TEST

START_TEST(clear_drops_everything)
{
    struct store *s = store_new(32);
    char k[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(k, sizeof(k), "key:%d", i);
        store_put_take(s, k, strlen(k), make_obj("v", i % 3 == 0, i % 5 ? 0 : 777));
    }
    ck_assert_uint_eq(store_count(s), 1000);
    store_clear(s);
    ck_assert_uint_eq(store_count(s), 0);
    ck_assert_uint_eq(store_count_live(s), 0);
    ck_assert_uint_eq(store_count_expiring(s), 0);
    for (uint32_t p = 0; p < 32; p++)
        ck_assert_uint_eq(store_partition_count(s, p), 0);
    ck_assert_ptr_null(get_str(s, "key:1"));
    char *keys[4];
    size_t kl[4];
    ck_assert_uint_eq(store_sample_expiring(s, 4, 1, keys, kl), 0);
    ck_assert_uint_eq(store_sample_deleted(s, 4, 1, keys, kl), 0);
    /* Usable afterwards. */
    put_str(s, "again", "yes");
    ck_assert_uint_eq(store_count(s), 1);
    store_free(s);
}
END_TEST

/* ---- partitions --------------------------------------------------------- */

struct part_ctx {
    struct store *s;
    uint32_t partition;
    size_t seen;
    size_t wrong;
    unsigned char *hit; /* per key index */
};

static int key_index(const void *key, size_t klen)
{
    char buf[32];
    if (klen >= sizeof(buf) || klen < 3)
        return -1;
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    return atoi(buf + 2);
}

static int part_cb(void *ctx, const void *key, size_t klen,
                   const struct object *obj)
{
    struct part_ctx *c = ctx;
    (void)obj;
    c->seen++;
    if (store_partition_of(c->s, key, klen) != c->partition)
        c->wrong++;
    int i = key_index(key, klen);
    if (i >= 0)
        c->hit[i]++;
    return 0;
}

START_TEST(partition_of_is_top_bits_of_hash)
{
    struct store *s = store_new(256);
    ck_assert_uint_eq(store_partitions(s), 256);
    ck_assert_uint_eq(store_partition_of_hash(s, 0xAB00000000000000ULL), 0xAB);
    ck_assert_uint_eq(store_partition_of_hash(s, 0xFFFFFFFFFFFFFFFFULL), 255);
    ck_assert_uint_eq(store_partition_of(s, "foo", 3),
                      dyn_hash64("foo", 3) >> 56);
    store_free(s);
    s = store_new(1);
    ck_assert_uint_eq(store_partition_of_hash(s, ~0ULL), 0);
    store_free(s);
}
END_TEST

START_TEST(partition_iteration_returns_exactly_its_keys)
{
    enum { N = 3000, Q = 16 };
    struct store *s = store_new(Q);
    unsigned char *hit = calloc(N, 1);
    char k[32];
    size_t expect[Q] = {0};
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof(k), "k:%d", i);
        put_str(s, k, "v");
        expect[store_partition_of(s, k, strlen(k))]++;
    }
    size_t total = 0;
    for (uint32_t p = 0; p < Q; p++) {
        struct part_ctx c = {.s = s, .partition = p, .hit = hit};
        store_iter_partition(s, p, part_cb, &c);
        ck_assert_uint_eq(c.wrong, 0);
        ck_assert_uint_eq(c.seen, expect[p]);
        ck_assert_uint_eq(store_partition_count(s, p), expect[p]);
        total += c.seen;
    }
    ck_assert_uint_eq(total, N);
    for (int i = 0; i < N; i++)
        ck_assert_uint_eq(hit[i], 1);
    free(hit);
    store_free(s);
}
END_TEST

static int stop_after_one(void *ctx, const void *key, size_t klen,
                          const struct object *obj)
{
    (void)key;
    (void)klen;
    (void)obj;
    (*(int *)ctx)++;
    return 1;
}

START_TEST(partition_iteration_stops_when_asked)
{
    struct store *s = store_new(1);
    char k[32];
    for (int i = 0; i < 50; i++) {
        snprintf(k, sizeof(k), "k:%d", i);
        put_str(s, k, "v");
    }
    int calls = 0;
    store_iter_partition(s, 0, stop_after_one, &calls);
    ck_assert_int_eq(calls, 1);
    store_free(s);
}
END_TEST

/* ---- scan --------------------------------------------------------------- */

struct scan_ctx {
    unsigned *hit;
    size_t cap;
    size_t calls;
};

static int scan_cb(void *ctx, const void *key, size_t klen,
                   const struct object *obj)
{
    struct scan_ctx *c = ctx;
    (void)obj;
    int i = key_index(key, klen);
    if (i >= 0 && (size_t)i < c->cap)
        c->hit[i]++;
    c->calls++;
    return 0;
}

/* Scans the whole store, calling between(s, step) between calls. */
static void scan_all(struct store *s, struct scan_ctx *c, size_t count,
                     void (*between)(struct store *, int), size_t max_calls)
{
    uint64_t cur = 0;
    size_t calls = 0;
    int step = 0;
    do {
        cur = store_scan(s, cur, count, scan_cb, c);
        if (between)
            between(s, step++);
        ck_assert_uint_lt(++calls, max_calls);
    } while (cur != 0);
}

START_TEST(scan_static_returns_every_key)
{
    enum { N = 5000 };
    uint32_t qs[] = {1, 4, 256};
    for (size_t qi = 0; qi < DYN_ARRAY_LEN(qs); qi++) {
        struct store *s = store_new(qs[qi]);
        char k[32];
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            put_str(s, k, "v");
        }
        struct scan_ctx c = {.hit = calloc(N, sizeof(unsigned)), .cap = N};
        scan_all(s, &c, 10, NULL, 100000);
        for (int i = 0; i < N; i++)
            ck_assert_uint_eq(c.hit[i], 1); /* no resize: exactly once */
        free(c.hit);
        store_free(s);
    }
}
END_TEST

START_TEST(scan_empty_store_ends_at_once)
{
    struct store *s = store_new(8);
    struct scan_ctx c = {.hit = NULL, .cap = 0};
    uint64_t cur = 0;
    int calls = 0;
    do {
        cur = store_scan(s, cur, 10, scan_cb, &c);
        ck_assert_int_lt(++calls, 100);
    } while (cur);
    ck_assert_uint_eq(c.calls, 0);
    store_free(s);
}
END_TEST

enum { GROW_BASE = 1000, GROW_STEP = 30, GROW_MAX = 60000 };

static void grow_between(struct store *s, int step)
{
    char k[32];
    /* New keys on every call: partitions double several times while the
     * cursor is part-way through them. */
    for (int i = 0; i < GROW_STEP; i++) {
        int id = GROW_BASE + step * GROW_STEP + i;
        if (id >= GROW_MAX)
            return;
        snprintf(k, sizeof(k), "k:%d", id);
        put_str(s, k, "v");
    }
}

START_TEST(scan_while_table_grows)
{
    uint32_t qs[] = {1, 4};
    for (size_t qi = 0; qi < DYN_ARRAY_LEN(qs); qi++) {
        struct store *s = store_new(qs[qi]);
        char k[32];
        for (int i = 0; i < GROW_BASE; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            put_str(s, k, "v");
        }
        struct scan_ctx c = {.hit = calloc(GROW_MAX, sizeof(unsigned)),
                             .cap = GROW_MAX};
        scan_all(s, &c, 10, grow_between, 1000000);
        for (int i = 0; i < GROW_BASE; i++)
            ck_assert_msg(c.hit[i] >= 1, "key %d missed (Q=%u)", i, qs[qi]);
        free(c.hit);
        store_free(s);
    }
}
END_TEST

enum { SHRINK_N = 20000 };

static void shrink_between(struct store *s, int step)
{
    char k[32];
    /* Removes 500 keys per call that are not multiples of 10. */
    for (int i = 0; i < 500; i++) {
        int id = step * 500 + i;
        if (id >= SHRINK_N)
            return;
        if (id % 10 == 0)
            continue;
        snprintf(k, sizeof(k), "k:%d", id);
        ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
    }
}

START_TEST(scan_while_table_shrinks)
{
    uint32_t qs[] = {1, 4};
    for (size_t qi = 0; qi < DYN_ARRAY_LEN(qs); qi++) {
        struct store *s = store_new(qs[qi]);
        char k[32];
        for (int i = 0; i < SHRINK_N; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            put_str(s, k, "v");
        }
        struct scan_ctx c = {.hit = calloc(SHRINK_N, sizeof(unsigned)),
                             .cap = SHRINK_N};
        scan_all(s, &c, 20, shrink_between, 1000000);
        ck_assert_uint_eq(store_count(s), SHRINK_N / 10);
        for (int i = 0; i < SHRINK_N; i += 10)
            ck_assert_msg(c.hit[i] >= 1, "key %d missed (Q=%u)", i, qs[qi]);
        free(c.hit);
        store_free(s);
    }
}
END_TEST

/* ---- sampling ----------------------------------------------------------- */

static int is_ttl_key(const char *k, size_t klen)
{
    return klen > 4 && memcmp(k, "ttl:", 4) == 0;
}

START_TEST(sample_expiring_finds_only_expiring_keys)
{
    struct store *s = store_new(256);
    char k[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(k, sizeof(k), "k:%d", i);
        put_str(s, k, "v");
    }
    for (int i = 0; i < 10; i++) {
        snprintf(k, sizeof(k), "ttl:%d", i);
        store_put_take(s, k, strlen(k), make_obj("v", 0, 100000 + i));
    }
    ck_assert_uint_eq(store_count_expiring(s), 10);

    char *keys[20];
    size_t kl[20];
    /* Fewer expiring keys than asked for: all of them, once each. */
    size_t n = store_sample_expiring(s, 20, 42, keys, kl);
    ck_assert_uint_eq(n, 10);
    unsigned seen[10] = {0};
    for (size_t i = 0; i < n; i++) {
        ck_assert(is_ttl_key(keys[i], kl[i]));
        seen[atoi(keys[i] + 4)]++;
        dyn_free(keys[i]);
    }
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(seen[i], 1);

    /* A smaller sample: distinct expiring keys, and different seeds reach
     * every key eventually. */
    unsigned reached[10] = {0};
    for (uint64_t seed = 1; seed < 200; seed++) {
        memset(seen, 0, sizeof(seen));
        n = store_sample_expiring(s, 3, seed * 7919, keys, kl);
        ck_assert_uint_ge(n, 1);
        ck_assert_uint_le(n, 3);
        for (size_t i = 0; i < n; i++) {
            ck_assert(is_ttl_key(keys[i], kl[i]));
            int id = atoi(keys[i] + 4);
            ck_assert_uint_eq(seen[id]++, 0);
            reached[id] = 1;
            dyn_free(keys[i]);
        }
    }
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(reached[i], 1);

    /* Removing and persisting keys takes them out of the index. */
    for (int i = 0; i < 5; i++) {
        snprintf(k, sizeof(k), "ttl:%d", i);
        ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
    }
    snprintf(k, sizeof(k), "ttl:%d", 5);
    put_str(s, k, "no ttl");
    ck_assert_uint_eq(store_count_expiring(s), 4);
    n = store_sample_expiring(s, 20, 9, keys, kl);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_ge(atoi(keys[i] + 4), 6);
        dyn_free(keys[i]);
    }
    store_free(s);
}
END_TEST

START_TEST(sample_deleted_finds_only_tombstones)
{
    struct store *s = store_new(64);
    char k[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(k, sizeof(k), "k:%d", i);
        store_put_take(s, k, strlen(k), make_obj("v", i % 1000 == 0, 0));
    }
    ck_assert_uint_eq(store_count_live(s), 4995);
    char *keys[8];
    size_t kl[8];
    size_t n = store_sample_deleted(s, 8, 5, keys, kl);
    ck_assert_uint_eq(n, 5);
    for (size_t i = 0; i < n; i++) {
        ck_assert(object_is_deleted(store_get(s, keys[i], kl[i])));
        ck_assert_int_eq(atoi(keys[i] + 2) % 1000, 0);
        dyn_free(keys[i]);
    }
    n = store_sample_deleted(s, 2, 5, keys, kl);
    ck_assert_uint_eq(n, 2);
    ck_assert(kl[0] != kl[1] || memcmp(keys[0], keys[1], kl[0]) != 0);
    dyn_free(keys[0]);
    dyn_free(keys[1]);
    store_free(s);
}
END_TEST

/* ---- stress ------------------------------------------------------------- */

START_TEST(stress_200k_keys)
{
    enum { N = 200000 };
    uint32_t qs[] = {1, 256}; /* 1: one table beyond 2^16 slots */
    for (size_t qi = 0; qi < DYN_ARRAY_LEN(qs); qi++) {
        struct store *s = store_new(qs[qi]);
        char k[32], buf[32];
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            snprintf(buf, sizeof(buf), "%d", i * 3);
            store_put_take(s, k, strlen(k), make_obj(buf, 0, i % 4 ? 0 : 1));
        }
        ck_assert_uint_eq(store_count(s), N);
        ck_assert_uint_eq(store_count_expiring(s), N / 4);
        size_t ovh = store_overhead_bytes(s);
        ck_assert_uint_gt(ovh, (size_t)N * 24);
        ck_assert_uint_lt(ovh, (size_t)N * 64);

        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            const struct object *o = store_get(s, k, strlen(k));
            ck_assert_ptr_nonnull(o);
            ck_assert_int_eq(atoi(obj_value(o, buf, sizeof(buf))), i * 3);
        }
        for (int i = 0; i < N; i += 2) {
            snprintf(k, sizeof(k), "k:%d", i);
            ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
        }
        ck_assert_uint_eq(store_count(s), N / 2);
        ck_assert_uint_eq(store_count_expiring(s), 0); /* i%4==0 were even */
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof(k), "k:%d", i);
            ck_assert((store_get(s, k, strlen(k)) != NULL) == (i % 2 == 1));
        }
        for (int i = 1; i < N; i += 2) {
            snprintf(k, sizeof(k), "k:%d", i);
            ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
        }
        ck_assert_uint_eq(store_count(s), 0);
        /* Empty tables are given back. */
        /* 32 bytes per empty partition: its table header, and the visible
         * count and fingerprint of the keyspace commands */
        ck_assert_uint_lt(store_overhead_bytes(s), 4096 + 256 * 32);
        store_free(s);
    }
}
END_TEST


/* ---- Merkle trees (anti-entropy) ------------------------------------------ */

/* The partition's tree rebuilt from scratch from its entries. */
struct rebuild_ctx {
    struct merkle *t;
};

static int rebuild_add(void *ctx, const void *key, size_t klen,
                       const struct object *o)
{
    struct rebuild_ctx *r = ctx;
    merkle_toggle(r->t, dyn_hash64(key, klen), object_digest(o) ? object_digest(o) : 1);
    return 0;
}

static void expect_trees_match_rebuild(struct store *s)
{
    for (uint32_t p = 0; p < store_partitions(s); p++) {
        struct rebuild_ctx r = { merkle_new(store_merkle_leaves(s)) };
        store_iter_partition(s, p, rebuild_add, &r);
        ck_assert_uint_eq(merkle_root(store_merkle(s, p)), merkle_root(r.t));
        merkle_free(r.t);
    }
}

START_TEST(merkle_trees_follow_every_change_in_memory)
{
    struct store *s = store_new(8);
    char k[32], v[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof(k), "m%d", i);
        put_str(s, k, "first");
    }
    store_merkle_enable(s, 64);
    expect_trees_match_rebuild(s);      /* built from the store */
    for (int i = 0; i < 3000; i += 3) {
        snprintf(k, sizeof(k), "m%d", i);
        snprintf(v, sizeof(v), "second%d", i);
        put_str(s, k, v);                           /* replace */
        snprintf(k, sizeof(k), "m%d", i + 1);
        ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);   /* remove */
        snprintf(k, sizeof(k), "new%d", i);
        put_str(s, k, "x");                         /* insert */
    }
    expect_trees_match_rebuild(s);
    uint64_t before = merkle_root(store_merkle(s, 0));
    store_clear(s);
    expect_trees_match_rebuild(s);
    ck_assert_uint_ne(before, merkle_root(store_merkle(s, 0)));
    ck_assert_uint_gt(store_merkle_bytes(s), 0);
    store_free(s);
}
END_TEST

/* A memory materializer: the stale value with "+" appended. */
static struct object *plus_mat_fn(void *ctx, const void *key, size_t klen,
                                  const struct object *stale)
{
    (void)key;
    (void)klen;
    int *calls = ctx;
    (*calls)++;
    struct sibling sb;
    object_sibling(stale, 0, &sb);
    char v[64];
    snprintf(v, sizeof(v), "%.*s+", (int)sb.vlen, (const char *)sb.value);
    return val_obj(v);
}

/* In a cluster a coordinator defers a key's encoding within a loop turn
 * while its partition has a tree: the tree keeps the stale digest until
 * the entry is settled, then holds the new one, as if it had been put. */
START_TEST(merkle_trees_follow_deferred_entries_once_settled)
{
    struct store *s = store_new(8);
    int calls = 0;
    char k[32];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof(k), "d%d", i);
        put_str(s, k, "v");
    }
    store_merkle_enable(s, 64);
    store_set_materializer(s, plus_mat_fn, &calls);
    uint64_t roots[8];
    for (uint32_t p = 0; p < 8; p++)
        roots[p] = merkle_root(store_merkle(s, p));
    for (int i = 0; i < 500; i += 2) {
        snprintf(k, sizeof(k), "d%d", i);
        ck_assert_int_eq(store_defer(s, k, strlen(k)), 0);
    }
    /* nothing settled yet: the trees are as they were */
    for (uint32_t p = 0; p < 8; p++)
        ck_assert_uint_eq(merkle_root(store_merkle(s, p)), roots[p]);
    ck_assert_int_eq(calls, 0);
    /* some settled by a read, the rest by the walk of the check */
    for (int i = 0; i < 100; i += 2) {
        snprintf(k, sizeof(k), "d%d", i);
        ck_assert_ptr_nonnull(get_str(s, k));
    }
    ck_assert_int_eq(calls, 50);
    expect_trees_match_rebuild(s);
    ck_assert_int_eq(calls, 250);
    const struct object *o = get_str(s, "d2");
    struct sibling sb;
    object_sibling(o, 0, &sb);
    ck_assert_int_eq((int)sb.vlen, 2);
    ck_assert_int_eq(memcmp(sb.value, "v+", 2), 0);
    store_free(s);
}
END_TEST

/* store_iter_leaves reports exactly the partition's entries whose leaf is
 * in the mask, each once, with its digest: the tag scan (up to 2^16
 * leaves) and the rehashing path (more leaves) alike. */
struct leaf_ctx {
    struct merkle *t;
    const uint64_t *mask;
    size_t n;           /* iter_leaves: reported / iter_partition: wanted */
    int bad;
};

static int in_mask(const uint64_t *mask, uint32_t leaf)
{
    return (mask[leaf / 64] >> (leaf % 64)) & 1;
}

static int leaf_got(void *ctx, const void *key, size_t klen, uint64_t digest,
                    unsigned flags)
{
    struct leaf_ctx *c = ctx;
    (void)flags;
    if (!in_mask(c->mask, merkle_leaf_of(c->t, dyn_hash64(key, klen))) ||
        digest == 0)
        c->bad++;
    c->n++;
    return 0;
}

static int leaf_want(void *ctx, const void *key, size_t klen,
                     const struct object *o)
{
    struct leaf_ctx *c = ctx;
    (void)o;
    if (in_mask(c->mask, merkle_leaf_of(c->t, dyn_hash64(key, klen))))
        c->n++;
    return 0;
}

START_TEST(iter_leaves_lists_exactly_the_keys_of_the_leaves_asked)
{
    static const uint32_t leaf_counts[] = { 64, 1024, 1u << 17 };
    for (size_t lc = 0; lc < DYN_ARRAY_LEN(leaf_counts); lc++) {
        uint32_t L = leaf_counts[lc];
        struct store *s = store_new(2);
        char k[32];
        for (int i = 0; i < 20000; i++) {     /* ~10k keys per partition */
            snprintf(k, sizeof(k), "leafkey:%d", i);
            put_str(s, k, "v");
        }
        store_merkle_enable(s, L);
        uint64_t *mask = calloc((L + 63) / 64, sizeof(uint64_t));
        for (uint32_t l = 0; l < L; l += 3)
            mask[l / 64] |= 1ull << (l % 64);
        for (uint32_t p = 0; p < 2; p++) {
            struct merkle *t = store_merkle(s, p);
            struct leaf_ctx got = { t, mask, 0, 0 }, want = { t, mask, 0, 0 };
            store_iter_leaves(s, p, mask, leaf_got, &got);
            store_iter_partition(s, p, leaf_want, &want);
            ck_assert_int_eq(got.bad, 0);
            ck_assert_uint_gt(want.n, 0);
            ck_assert_uint_eq(got.n, want.n);
        }
        free(mask);
        store_free(s);
    }
}
END_TEST

/* A fake disk for the disk kinds: loc = index into an array of objects. */
struct fake_disk {
    struct object *rec[4096];
    uint64_t n;
    int loads;
};

static struct object *fake_load(void *ctx, uint64_t loc, const void *key,
                                size_t klen)
{
    struct fake_disk *d = ctx;
    d->loads++;
    return loc < d->n ? object_dup(d->rec[loc]) : NULL;
}

/* Frees the store and the fake disk's records. */
static void disk_free(struct store *s, struct fake_disk *d)
{
    store_free(s);
    for (uint64_t i = 0; i < d->n; i++)
        object_free(d->rec[i]);
    free(d);
}

static void disk_put(struct store *s, struct fake_disk *d, const char *k,
                     const char *v, int tombstone, int give_digest)
{
    struct object *o = make_obj(v, tombstone, 0);
    uint64_t loc = d->n++;
    d->rec[loc] = o;
    uint64_t old;
    store_put_loc(s, k, strlen(k), loc, store_object_flags(o),
                  give_digest ? object_digest(o) : 0,
                  store_get_kind(s) == STORE_DISK_CACHE ? object_dup(o) : NULL,
                  &old);
}

START_TEST(merkle_trees_follow_disk_entries)
{
    enum store_kind kinds[] = { STORE_DISK, STORE_DISK_CACHE };
    for (int ki = 0; ki < 2; ki++) {
        struct fake_disk *d = calloc(1, sizeof(*d));
        struct store *s = store_new(4);
        store_set_kind(s, kinds[ki], fake_load, d);
        char k[32];
        /* loaded at startup: digests unknown */
        for (int i = 0; i < 500; i++) {
            snprintf(k, sizeof(k), "d%d", i);
            disk_put(s, d, k, "v1", 0, 0);
        }
        store_merkle_enable(s, 32);
        d->loads = 0;
        for (uint32_t p = 0; p < 4; p++)
            (void)store_merkle(s, p);
        /* the build loaded the records it had no digest (nor cache) for */
        if (kinds[ki] == STORE_DISK)
            ck_assert_int_eq(d->loads, 500);
        expect_trees_match_rebuild(s);
        /* writes with a digest replace, remove and insert without loads */
        for (int i = 0; i < 500; i += 2) {
            snprintf(k, sizeof(k), "d%d", i);
            int before = d->loads;
            disk_put(s, d, k, "v2", i % 4 == 0, 1);
            ck_assert_int_eq(d->loads, before);
            snprintf(k, sizeof(k), "d%d", i + 1);
            ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
            ck_assert_int_eq(d->loads, before);
        }
        expect_trees_match_rebuild(s);
        disk_free(s, d);
    }
}
END_TEST

START_TEST(tombstones_need_confirmation_after_they_are_stored)
{
    struct store *s = store_new(4);
    put_str(s, "live", "v");
    for (uint32_t p = 0; p < 4; p++)
        ck_assert(store_tombstones_confirmed(s, p));
    store_put_take(s, "dead", 4, make_obj(NULL, 1, 0));
    uint32_t p = store_partition_of(s, "dead", 4);
    ck_assert(!store_tombstones_confirmed(s, p));
    uint64_t g = store_generation(s);
    store_confirm_tombstones(s, p, g - 1);          /* too old */
    ck_assert(!store_tombstones_confirmed(s, p));
    store_confirm_tombstones(s, p, g);
    ck_assert(store_tombstones_confirmed(s, p));
    store_confirm_tombstones(s, p, g - 1);          /* never goes back */
    ck_assert(store_tombstones_confirmed(s, p));
    put_str(s, "live2", "v");                       /* a value: still fine */
    store_put_take(s, "dead", 4, make_obj(NULL, 1, 0));  /* a new one */
    ck_assert(!store_tombstones_confirmed(s, p));
    store_free(s);
}
END_TEST

/* ---- the visible keyspace from memory ------------------------------------ */

static struct object *mk(const char *val, int tombstone, int64_t expire_ms,
                         uint64_t actor, uint64_t ts)
{
    struct object_write w = {
        .value = val, .vlen = val ? strlen(val) : 0,
        .tombstone = tombstone, .expire_ms = expire_ms, .ctx = NULL,
        .actor = actor, .now_ms = ts, .max_ctx_entries = 10,
    };
    uint32_t pruned = 0;
    return object_write(NULL, &w, &pruned);
}

/* A random object: one to three concurrent versions (different actors,
 * so none covers another), values or tombstones, some with an expiry in
 * [100, 400). */
static struct object *random_obj(uint64_t *rnd)
{
    int n = 1 + (int)((*rnd = *rnd * 6364136223846793005ULL + 1) >> 33) % 3;
    struct object *o = NULL;
    for (int i = 0; i < n; i++) {
        uint64_t r = (*rnd = *rnd * 6364136223846793005ULL + 1) >> 20;
        int tomb = r % 4 == 0;
        int64_t exp = (r >> 4) % 2 ? 100 + (int64_t)((r >> 8) % 300) : 0;
        struct object *v = mk(tomb ? NULL : "v", tomb, exp, ACTOR + (uint64_t)i,
                              1000 + (r >> 16) % 50);
        if (!o) {
            o = v;
        } else {
            int ch;
            struct object *m = object_merge(o, v, &ch);
            object_free(o);
            object_free(v);
            o = m;
        }
    }
    return o;
}

struct brute {
    uint64_t now;
    uint64_t count, fp;
};

static int brute_cb(void *ctx, const void *key, size_t klen,
                    const struct object *o)
{
    struct brute *b = ctx;
    if (object_visible(o, b->now, NULL)) {
        b->count++;
        b->fp ^= store_key_fp(dyn_hash64(key, klen));
    }
    return 0;
}

struct visit {
    struct store *s;
    uint64_t now;
    int n, wrong;
};

static int visit_cb(void *ctx, const void *key, size_t klen, int visible)
{
    struct visit *v = ctx;
    v->n++;
    /* compare with the object itself (a load the store does not count) */
    const struct object *o = store_get(v->s, key, klen);
    if (!o || object_visible(o, v->now, NULL) != visible)
        v->wrong++;
    return 0;
}

/* The counts, fingerprints and per-key verdicts that keyspace commands
 * read from memory equal a walk over the objects, at every instant around
 * the expiries, after inserts, replaces and removes, on every kind. */
START_TEST(visible_counts_equal_a_walk_over_the_objects)
{
    enum store_kind kinds[] = { STORE_MEMORY, STORE_DISK, STORE_DISK_CACHE };
    for (int ki = 0; ki < 3; ki++) {
        struct fake_disk *d = calloc(1, sizeof(*d));
        struct store *s = store_new(8);
        if (kinds[ki] != STORE_MEMORY)
            store_set_kind(s, kinds[ki], fake_load, d);
        uint64_t rnd = 42 + (uint64_t)ki;
        char k[32];
        for (int round = 0; round < 3; round++) {
            for (int i = 0; i < 1000; i++) {
                snprintf(k, sizeof(k), "k%d", (int)((rnd >> 7) % 600));
                rnd = rnd * 6364136223846793005ULL + 1442695040888963407ULL;
                if ((rnd >> 40) % 7 == 0) {
                    store_remove(s, k, strlen(k));
                    continue;
                }
                struct object *o = random_obj(&rnd);
                if (kinds[ki] == STORE_MEMORY) {
                    store_put_take(s, k, strlen(k), o);
                } else {
                    uint64_t loc = d->n++, old;
                    d->rec[loc] = o;
                    store_put_loc(s, k, strlen(k), loc, store_object_flags(o),
                                  object_digest(o),
                                  kinds[ki] == STORE_DISK_CACHE
                                      ? object_dup(o) : NULL, &old);
                }
            }
            uint64_t times[] = {0, 99, 100, 101, 250, 399, 400, 1000};
            uint32_t parts[8] = {0, 1, 2, 3, 4, 5, 6, 7};
            for (size_t t = 0; t < 8; t++) {
                uint64_t cnt[8], fp[8];
                store_count_visible(s, times[t], parts, 8, cnt, fp);
                for (uint32_t p = 0; p < 8; p++) {
                    struct brute b = {times[t], 0, 0};
                    store_iter_partition(s, p, brute_cb, &b);
                    ck_assert_uint_eq(cnt[p], b.count);
                    ck_assert_uint_eq(fp[p], b.fp);
                    struct visit v = {s, times[t], 0, 0};
                    store_iter_visible(s, p, times[t], visit_cb, &v);
                    ck_assert_int_eq(v.n, (int)store_partition_count(s, p));
                    ck_assert_int_eq(v.wrong, 0);
                }
            }
        }
        disk_free(s, d);
    }
}
END_TEST

/* Counting reads no record while every expiring object has at most one
 * expiry; an entry loaded without its summary (a hint file keeps only the
 * STORE_F_PERSIST bits) is read once, then known. */
START_TEST(counts_read_no_record_once_summaries_are_known)
{
    struct fake_disk *d = calloc(1, sizeof(*d));
    struct store *s = store_new(4);
    store_set_kind(s, STORE_DISK, fake_load, d);
    const char *keys[] = {"plain", "ttl", "gone", "hint-ttl"};
    struct object *objs[] = {mk("v", 0, 0, ACTOR, 1000),
                             mk("v", 0, 500, ACTOR, 1000),
                             mk(NULL, 1, 0, ACTOR, 1000),
                             mk("v", 0, 700, ACTOR, 1000)};
    for (int i = 0; i < 4; i++) {
        uint64_t loc = d->n++, old;
        d->rec[loc] = objs[i];
        uint64_t fl = store_object_flags(objs[i]);
        if (i == 3)
            fl &= STORE_F_PERSIST; /* as a hint file gives it */
        store_put_loc(s, keys[i], strlen(keys[i]), loc, fl, 0, NULL, &old);
    }
    uint32_t parts[4] = {0, 1, 2, 3};
    uint64_t cnt[4], fp[4], total;
    d->loads = 0;
    store_count_visible(s, 100, parts, 4, cnt, fp);
    total = cnt[0] + cnt[1] + cnt[2] + cnt[3];
    ck_assert_uint_eq(total, 3);
    ck_assert_int_eq(d->loads, 1);
    ck_assert_uint_eq(store_keyspace_loads(s), 1);
    store_count_visible(s, 600, parts, 4, cnt, fp);  /* ttl expired */
    total = cnt[0] + cnt[1] + cnt[2] + cnt[3];
    ck_assert_uint_eq(total, 2);
    store_count_visible(s, 700, parts, 4, cnt, fp);  /* hint-ttl too */
    total = cnt[0] + cnt[1] + cnt[2] + cnt[3];
    ck_assert_uint_eq(total, 1);
    ck_assert_int_eq(d->loads, 1);
    ck_assert_uint_eq(store_keyspace_loads(s), 1);
    disk_free(s, d);
}
END_TEST

/* STORE_DISK reads a record once while a scratch object holds it (a typed
 * write looks its key up twice), and a pointer store_get returned still
 * survives one more lookup however the lookups hit. */
START_TEST(disk_lookups_reuse_the_record_they_hold)
{
    struct fake_disk *d = calloc(1, sizeof(*d));
    struct store *s = store_new(4);
    store_set_kind(s, STORE_DISK, fake_load, d);
    disk_put(s, d, "x", "vx", 0, 1);
    disk_put(s, d, "y", "vy", 0, 1);
    disk_put(s, d, "z", "vz", 0, 1);
    d->loads = 0;
    const struct object *x = store_get(s, "x", 1);
    ck_assert_ptr_eq(store_get(s, "x", 1), x);
    ck_assert_int_eq(d->loads, 1);
    const struct object *y = store_get(s, "y", 1);
    ck_assert_int_eq(d->loads, 2);
    /* x again, from its scratch object: now the newest, so z's load
     * replaces y's, and x survives it */
    ck_assert_ptr_eq(store_get(s, "x", 1), x);
    ck_assert_int_eq(d->loads, 2);
    const struct object *z = store_get(s, "z", 1);
    ck_assert_int_eq(d->loads, 3);
    struct sibling sb;
    object_sibling(x, 0, &sb);
    ck_assert(sb.vlen == 2 && memcmp(sb.value, "vx", 2) == 0);
    object_sibling(z, 0, &sb);
    ck_assert(sb.vlen == 2 && memcmp(sb.value, "vz", 2) == 0);
    (void)y;
    ck_assert_ptr_eq(store_get(s, "x", 1), x); /* still held: no load */
    ck_assert_int_eq(d->loads, 3);
    /* a new record of x is read, not the scratch copy of the old one */
    disk_put(s, d, "x", "v2", 0, 1);
    const struct object *x2 = store_get(s, "x", 1);
    ck_assert_int_eq(d->loads, 4);
    object_sibling(x2, 0, &sb);
    ck_assert(sb.vlen == 2 && memcmp(sb.value, "v2", 2) == 0);
    disk_free(s, d);
}
END_TEST

/* A held version (store_hold): newer than the entry's record, what reads,
 * iteration, store_current and the Merkle tree see until a record or a
 * removal ends it; its counts add up; an undo gets the one it replaced. */
static int reads_as(struct store *s, const char *k, const char *v)
{
    const struct object *o = store_get(s, k, strlen(k));
    struct sibling sb;
    if (!o)
        return 0;
    object_sibling(o, object_winner(o), &sb);
    return sb.vlen == strlen(v) && memcmp(sb.value, v, sb.vlen) == 0;
}

START_TEST(held_versions_are_the_keys_until_a_record_ends_them)
{
    enum store_kind kinds[] = { STORE_DISK, STORE_DISK_CACHE };
    for (int ki = 0; ki < 2; ki++) {
        struct fake_disk *d = calloc(1, sizeof(*d));
        struct store *s = store_new(4);
        store_set_kind(s, kinds[ki], fake_load, d);
        store_merkle_enable(s, 16);
        for (uint32_t p = 0; p < 4; p++)
            (void)store_merkle(s, p);
        disk_put(s, d, "k", "v1", 0, 1);
        disk_put(s, d, "other", "o1", 0, 1);
        struct store_hold_info first = {3, 1, 10, 100};
        ck_assert_int_eq(store_hold(s, "nope", 4, make_obj("x", 0, 0),
                                    &first, NULL, NULL),
                         DYN_ENOTFOUND);
        ck_assert_int_eq(store_hold(s, "k", 1, make_obj("v2", 0, 0), &first,
                                    NULL, NULL),
                         0);
        int loads = d->loads;
        ck_assert(reads_as(s, "k", "v2"));
        ck_assert_int_eq(d->loads, loads); /* from memory */
        ck_assert_ptr_eq(store_current(s, "k", 1), store_get(s, "k", 1));
        expect_trees_match_rebuild(s);
        /* a second hold: the counts add up, the segment stays the
         * first's, the stamp is the new one's, and prev gets the version
         * it replaced with its stamp */
        struct store_hold_info next = {9, 1, 5, 101};
        struct object *prev = NULL;
        uint64_t pstamp = 0;
        ck_assert_int_eq(store_hold(s, "k", 1, make_obj("v3", 0, 0), &next,
                                    &prev, &pstamp),
                         0);
        ck_assert_ptr_nonnull(prev);
        ck_assert_uint_eq(pstamp, 100);
        struct sibling sb;
        object_sibling(prev, 0, &sb);
        ck_assert(sb.vlen == 2 && memcmp(sb.value, "v2", 2) == 0);
        object_free(prev);
        struct store_hold_info hi;
        ck_assert_ptr_nonnull(store_held(s, "k", 1, &hi));
        ck_assert_uint_eq(hi.seg, 3);
        ck_assert_uint_eq(hi.n, 2);
        ck_assert_uint_eq(hi.bytes, 15);
        ck_assert_uint_eq(hi.stamp, 101);
        ck_assert_uint_eq(store_held_count(s), 1);
        ck_assert_uint_gt(store_held_bytes(s), 0);
        struct dbuf keys;
        dbuf_init(&keys);
        store_held_keys(s, &keys);
        ck_assert_uint_eq(keys.len, 5);
        ck_assert(memcmp(keys.p + 4, "k", 1) == 0);
        dbuf_free(&keys);
        ck_assert(reads_as(s, "k", "v3"));
        expect_trees_match_rebuild(s);
        /* a record ends the hold */
        disk_put(s, d, "k", "v4", 0, 1);
        ck_assert_ptr_null(store_held(s, "k", 1, NULL));
        ck_assert_uint_eq(store_held_count(s), 0);
        ck_assert_uint_eq(store_held_bytes(s), 0);
        ck_assert(reads_as(s, "k", "v4"));
        expect_trees_match_rebuild(s);
        /* and so does a removal, and a clear */
        ck_assert_int_eq(store_hold(s, "k", 1, make_obj("v5", 0, 0), &first,
                                    NULL, NULL),
                         0);
        ck_assert_int_eq(store_remove(s, "k", 1), 0);
        ck_assert_uint_eq(store_held_count(s), 0);
        ck_assert_uint_eq(store_held_bytes(s), 0);
        ck_assert_int_eq(store_hold(s, "other", 5, make_obj("o2", 0, 0),
                                    &first, NULL, NULL),
                         0);
        ck_assert(reads_as(s, "other", "o2"));
        store_clear(s);
        ck_assert_uint_eq(store_held_count(s), 0);
        ck_assert_uint_eq(store_held_bytes(s), 0);
        disk_free(s, d);
    }
}
END_TEST

/* Deferred values in the disk kinds: the materializer gets the record's
 * object and writes the next record itself (as the engine does). */
struct fake_mat {
    struct fake_disk *d;
    struct store *s;
    int calls;
    char last_seen[16];
};

static struct object *fake_mat_fn(void *ctx, const void *key, size_t klen,
                                  const struct object *stale)
{
    struct fake_mat *m = ctx;
    m->calls++;
    struct sibling sb;
    object_sibling(stale, 0, &sb);
    snprintf(m->last_seen, sizeof(m->last_seen), "%.*s", (int)sb.vlen,
             (const char *)sb.value);
    char k[32];
    snprintf(k, sizeof(k), "%.*s", (int)klen, (const char *)key);
    char v[48];
    snprintf(v, sizeof(v), "new-%s", k);
    disk_put(m->s, m->d, k, v, 0, 1);
    return NULL;
}

static void expect_value(struct store *s, const char *k, const char *v)
{
    const struct object *o = store_get(s, k, strlen(k));
    ck_assert_ptr_nonnull(o);
    struct sibling sb;
    object_sibling(o, 0, &sb);
    ck_assert_msg(sb.vlen == strlen(v) && memcmp(sb.value, v, sb.vlen) == 0,
                  "%s: want %s, got %.*s", k, v, (int)sb.vlen,
                  (const char *)sb.value);
}

START_TEST(disk_deferred_values_settle_on_read_and_on_demand)
{
    enum store_kind kinds[] = { STORE_DISK, STORE_DISK_CACHE };
    for (int ki = 0; ki < 2; ki++) {
        struct fake_disk *d = calloc(1, sizeof(*d));
        struct store *s = store_new(4);
        store_set_kind(s, kinds[ki], fake_load, d);
        struct fake_mat m = { .d = d, .s = s };
        ck_assert_int_eq(store_defer(s, "a", 1), DYN_EINVAL); /* no mat */
        store_set_materializer(s, fake_mat_fn, &m);
        char k[32];
        for (int i = 0; i < 200; i++) {
            snprintf(k, sizeof(k), "k%d", i);
            disk_put(s, d, k, "old", 0, 1);
        }
        ck_assert_int_eq(store_defer(s, "nope", 4), DYN_ENOTFOUND);
        /* a peek reads nothing and says stale; a get settles it once */
        ck_assert_int_eq(store_defer(s, "k1", 2), 0);
        ck_assert_int_eq(store_defer(s, "k1", 2), 0); /* once in the set */
        ck_assert_uint_eq(store_deferred_count(s), 1);
        int stale = 0, loads = d->loads;
        ck_assert_ptr_null(store_peek(s, "k1", 2, &stale));
        ck_assert_int_eq(stale, 1);
        ck_assert_int_eq(d->loads, loads);
        ck_assert_int_eq(m.calls, 0);
        expect_value(s, "k1", "new-k1");
        ck_assert_int_eq(m.calls, 1);
        ck_assert_str_eq(m.last_seen, "old");
        ck_assert_uint_eq(store_deferred_count(s), 0);
        expect_value(s, "k1", "new-k1");
        ck_assert_int_eq(m.calls, 1);
        ck_assert(store_peek(s, "k1", 2, &stale) != NULL && stale == 0);
        /* a put ends a deferral, a compaction move does not, a remove
         * ends it */
        ck_assert_int_eq(store_defer(s, "k2", 2), 0);
        disk_put(s, d, "k2", "put", 0, 1);
        ck_assert_uint_eq(store_deferred_count(s), 0);
        expect_value(s, "k2", "put");
        ck_assert_int_eq(store_defer(s, "k3", 2), 0);
        uint64_t loc;
        ck_assert(store_get_loc(s, "k3", 2, &loc, NULL));
        d->rec[d->n] = object_dup(d->rec[loc]);
        ck_assert_int_eq(store_move_loc(s, "k3", 2, loc, d->n), 1);
        d->n++;
        ck_assert_uint_eq(store_deferred_count(s), 1);
        ck_assert_int_eq(store_defer(s, "k4", 2), 0);
        ck_assert_int_eq(store_remove(s, "k4", 2), 0);
        ck_assert_uint_eq(store_deferred_count(s), 1);
        /* many at once (the set grows and loses members in any order),
         * then all settled on demand */
        for (int i = 10; i < 200; i += 3) {
            snprintf(k, sizeof(k), "k%d", i);
            ck_assert_int_eq(store_defer(s, k, strlen(k)), 0);
        }
        for (int i = 10; i < 200; i += 9) {
            snprintf(k, sizeof(k), "k%d", i);
            ck_assert_int_eq(store_remove(s, k, strlen(k)), 0);
        }
        uint32_t left = store_deferred_count(s);
        ck_assert_uint_gt(left, 40);
        int before = m.calls;
        store_settle_deferred(s);
        ck_assert_uint_eq(store_deferred_count(s), 0);
        ck_assert_int_eq(m.calls - before, (int)left);
        expect_value(s, "k3", "new-k3");
        for (int i = 10; i < 200; i++) {
            snprintf(k, sizeof(k), "k%d", i);
            char want[48];
            snprintf(want, sizeof(want), "new-%s", k);
            if (i % 9 == 1)
                ck_assert_ptr_null(store_get(s, k, strlen(k)));
            else
                expect_value(s, k, i % 3 == 1 ? want : "old");
        }
        disk_free(s, d);
    }
}
END_TEST

static Suite *store_suite(void)
{
    Suite *su = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, put_get_replace_remove);
    tcase_add_test(tc, counts_live_deleted_expiring);
    tcase_add_test(tc, binary_keys_with_nul_bytes);
    tcase_add_test(tc, clear_drops_everything);
    tcase_add_test(tc, partition_of_is_top_bits_of_hash);
    tcase_add_test(tc, partition_iteration_returns_exactly_its_keys);
    tcase_add_test(tc, partition_iteration_stops_when_asked);
    tcase_add_test(tc, scan_static_returns_every_key);
    tcase_add_test(tc, scan_empty_store_ends_at_once);
    tcase_add_test(tc, scan_while_table_grows);
    tcase_add_test(tc, scan_while_table_shrinks);
    tcase_add_test(tc, sample_expiring_finds_only_expiring_keys);
    tcase_add_test(tc, sample_deleted_finds_only_tombstones);
    tcase_add_test(tc, stress_200k_keys);
    tcase_add_test(tc, merkle_trees_follow_every_change_in_memory);
    tcase_add_test(tc, merkle_trees_follow_deferred_entries_once_settled);
    tcase_add_test(tc, merkle_trees_follow_disk_entries);
    tcase_add_test(tc, iter_leaves_lists_exactly_the_keys_of_the_leaves_asked);
    tcase_add_test(tc, tombstones_need_confirmation_after_they_are_stored);
    tcase_add_test(tc, visible_counts_equal_a_walk_over_the_objects);
    tcase_add_test(tc, counts_read_no_record_once_summaries_are_known);
    tcase_add_test(tc, disk_lookups_reuse_the_record_they_hold);
    tcase_add_test(tc, held_versions_are_the_keys_until_a_record_ends_them);
    tcase_add_test(tc, disk_deferred_values_settle_on_read_and_on_demand);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
