/*
 * cmd_set.c -- the set commands: every non-blocking Redis 7.0 set command
 * (SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE
 * SSCAN SINTER SINTERCARD SUNION SDIFF SINTERSTORE SUNIONSTORE SDIFFSTORE)
 * on the add-wins observed-remove set of cluster/crdt_set.c (issue #14,
 * docs/TYPES.md section 6).
 *
 * A set key's value is a crdt_set state.  A handler reads it through db's
 * typed API (db_typed_lookup: the key's merged state in a cluster, or
 * WRONGTYPE), decodes it, and for a write applies the op with fresh dots
 * (db_typed_dots) and stores the new state (db_typed_write), which db
 * replicates.  So:
 *
 *   - SADD of k members takes k dots and adds them as one batch
 *     (crdt_set_add_many: O(n + k log k) on an n-member set).  Re-adding a
 *     member is an add too: it replaces the member's dot, so a concurrent
 *     SREM elsewhere that saw only the old add does not take it away.
 *   - SREM, SPOP and the source side of SMOVE are observed removes: the
 *     member goes, its dots stay in the context (no tombstone), and an add
 *     this state has not seen still wins a later join.  They take one dot,
 *     which names the new version; the set's context does not need it.
 *   - The STORE forms write the destination as a fresh set: every member
 *     the destination held is removed (observed), then the result is added
 *     with one dot per member; the TTL goes, as in Redis.  An empty result
 *     deletes the destination, of whatever type.
 *   - SMOVE adds to the destination first and then removes from the
 *     source, so a write that fails half way leaves the member in both sets
 *     rather than in neither.
 *
 * Multi-key commands (SMOVE, SINTER, SINTERCARD, SUNION, SDIFF and the
 * STORE forms) read and write several keys on the local store; in a
 * cluster the coordinator gathers every key's merged state first and
 * merges each written key through its replicas (ROUTE_GATHER), so they are
 * per key, not atomic across keys.  SINTERCARD's keys follow its numkeys
 * argument (numkeys_at 1; first_key 0 as in Redis's COMMAND INFO).
 *
 * Replies.  Members come out in the state's canonical order (bytes, then
 * length), where Redis's order is its hash table's: both are "no defined
 * order".  RESP3 types are Redis 7.0's: SMEMBERS, SINTER, SUNION, SDIFF
 * and SPOP with a count answer a set (~), SRANDMEMBER with a count an
 * array.  Errors are Redis 7.0's texts, found in Redis's order (arity and
 * syntax, then numbers, then WRONGTYPE, key by key).
 *
 * Randomness.  SPOP and SRANDMEMBER draw from node_random (node.h), so a
 * simulated cluster stays deterministic.
 *
 * SSCAN.  A cursor is a position in the 64-bit space of the members'
 * hashes (dyn_hash64 of the bytes, the same on every node): a call returns
 * the members whose hash is >= cursor, in hash order, about COUNT of them
 * (never splitting members that share a hash), and the next cursor is the
 * hash of the first member it did not return, or 0 when none is left.  So
 * cursors only grow, a scan terminates, and a member present from the
 * first call to the last is returned at least once whatever is added or
 * removed meanwhile.  A set with fewer than COUNT members comes back whole
 * with cursor 0, as a small set does from Redis; MATCH filters after COUNT,
 * as in Redis.
 *
 * Limits.  The library refuses an op that would pass the node's crdt
 * limits (db_crdt_limits) and the handler says which one; an encoding
 * longer than proto-max-bulk-len is refused before it is stored;
 * SRANDMEMBER with a negative count stops at client-output-buffer-limit
 * instead of building a reply that the client would be dropped for.
 *
 * A stored state that does not decode is a corrupt store: the reply is
 * "-ERR corrupt value" and a log line, never a crash.
 *
 * Thread-safety: handlers run on the event loop that owns the node.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/crdt.h"
#include "server/command.h"
#include "server/client.h"
#include "server/db.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/util.h"

/* ------------------------------------------------------------------ helpers */

/* A list of members: borrowed byte strings (arguments, or a decoded
 * set's members), in the form the crdt_set batch ops take. */
struct set_list {
    const void **p;
    size_t *len;
    uint32_t n, cap;
};

static void set_list_push(struct set_list *l, const void *p, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->p = dyn_realloc(l->p, (size_t)l->cap * sizeof(*l->p));
        l->len = dyn_realloc(l->len, (size_t)l->cap * sizeof(*l->len));
    }
    l->p[l->n] = p;
    l->len[l->n++] = len;
}

static void set_list_args(struct set_list *l, const struct dyn_arg *argv,
                          int n)
{
    for (int i = 0; i < n; i++)
        set_list_push(l, argv[i].p, argv[i].len);
}

static void set_list_free(struct set_list *l)
{
    dyn_free(l->p);
    dyn_free(l->len);
    l->p = NULL;
    l->len = NULL;
    l->n = l->cap = 0;
}

static void set_member_at(const struct crdt_set *s, uint32_t i,
                          const void **p, size_t *len)
{
    const uint8_t *m;
    crdt_set_member(s, i, &m, len);
    *p = m;
}

/* How set_read reads a key. */
enum set_mode {
    SET_COPY,  /* a copy of the set, not counted as a keyspace read */
    SET_READ,  /* for a read, counted as a keyspace hit or miss (Redis's
                * reads count): the state the node keeps when it does
                * (db_typed_borrow; freeing it does nothing), else a copy */
    SET_TAKE,  /* the set the op will write (db_typed_take_write): it may
                * be the node's own deferred state, which the caller
                * changes, writes or frees like a copy */
};

/* What an op that adds the members args[0..n) may add to a set's
 * encoding (db_typed_take_write's reserve). */
static uint64_t set_reserve(const struct dyn_arg *args, int n)
{
    uint64_t r = 64;
    for (int i = 0; i < n; i++)
        r += args[i].len + 64;
    return r;
}

/*
 * key's set into *out (the caller's to free; see enum set_mode).  1: a
 * set; 0: no key (or an empty set), *out NULL; -1: replied WRONGTYPE or
 * a corrupt state.  reserve: SET_TAKE's (set_reserve), else 0.
 */
static int set_read(struct client *c, const struct dyn_arg *key,
                    struct crdt_set **out, int64_t *expire_ms,
                    enum set_mode mode, uint64_t reserve)
{
    struct node *n = c->node;
    int64_t exp = 0;
    int rc;
    *out = NULL;
    if (expire_ms)
        *expire_ms = 0;
    if (mode == SET_TAKE) {
        void *st = NULL;
        rc = db_typed_take_write(n, key->p, key->len, CRDT_TYPE_SET, &st,
                                 &exp, reserve);
        *out = st;
    } else {
        struct db_typed t;
        void *st = NULL;
        /* a read uses the state the node keeps, when it does */
        rc = mode == SET_READ ? db_typed_borrow(n, key->p, key->len,
                                                CRDT_TYPE_SET, &st, &exp)
                              : 0;
        *out = st;
        if (rc == 0)
            rc = db_typed_lookup(n, key->p, key->len, CRDT_TYPE_SET, &t);
        if (rc == 1 && !*out) {
            exp = t.expire_ms;
            int d = crdt_set_decode(t.state, t.len, db_crdt_limits(n), out);
            if (d != 0)
                rc = d;
        }
        if (mode == SET_READ && rc == 1)
            n->stats.keyspace_hits++;
        else if (mode == SET_READ && rc == 0)
            n->stats.keyspace_misses++;
    }
    if (rc == DB_WRONGTYPE) {
        client_error(c, ERR_WRONGTYPE);
        return -1;
    }
    if (rc == DYN_EAGAIN || rc == DYN_EIO) {
        client_error(c, db_error_text(n, rc));
        return -1;
    }
    if (rc == DYN_ELIMIT) {
        client_error(c, "ERR stored set exceeds this node's crdt limits "
                        "(were they lowered?)");
        return -1;
    }
    if (rc < 0) {
        dlog(DLOG_WARNING, "set key '%.*s': stored state does not decode",
             (int)DYN_MIN(key->len, (size_t)128), key->p);
        client_error(c, "ERR corrupt value");
        return -1;
    }
    if (rc == 1 && expire_ms)
        *expire_ms = exp;
    return rc;
}

/* The sets of n keys into sets[] (NULL for an absent key), in argument
 * order, each checked as Redis checks them (read: counted as set_read's
 * SET_READ, else copies as SET_COPY).  0, or -1 after replying with every
 * set freed. */
static int set_read_keys(struct client *c, const struct dyn_arg *keys, int n,
                         struct crdt_set **sets, int read)
{
    for (int i = 0; i < n; i++) {
        if (set_read(c, &keys[i], &sets[i], NULL,
                     read ? SET_READ : SET_COPY, 0) < 0) {
            for (int j = 0; j < i; j++)
                crdt_set_free(sets[j]);
            return -1;
        }
    }
    return 0;
}

static void set_free_keys(struct crdt_set **sets, int n)
{
    for (int i = 0; i < n; i++)
        crdt_set_free(sets[i]);
}

/* Rolls the reply back to mark and answers a write error of db. */
static void set_write_failed(struct client *c, int rc, size_t mark)
{
    c->obuf.len = mark;
    c->errors++;
    db_reply_write_error(c->node, &c->obuf, rc, NULL);
}

/*
 * Stores *s as key's set, written by the op that reserved the dots
 * [first, first + ndots): the state goes to db (*s is NULL afterwards, so
 * the caller's free is a no-op).  0, or -1 after replying (the reply
 * rolled back to mark first).
 */
static int set_store(struct client *c, const struct dyn_arg *key,
                     struct crdt_set **s, const struct crdt_dot *first,
                     uint32_t ndots, uint64_t ts_ms, int64_t expire_ms,
                     size_t mark)
{
    struct node *n = c->node;
    int rc = db_typed_write_state(n, key->p, key->len, CRDT_TYPE_SET, *s,
                                  first, ndots, ts_ms, expire_ms);
    *s = NULL;
    if (rc == 0)
        return 0;
    if (rc == DB_ETOOBIG) {
        c->obuf.len = mark;
        client_errorf(c, "ERR set would encode to more than "
                         "proto-max-bulk-len (%lld bytes)",
                      n->cfg.proto_max_bulk_len);
        return -1;
    }
    set_write_failed(c, rc, mark);
    return -1;
}

/* A remove-only op (SREM, SPOP, SMOVE's source): one dot names the new
 * version. */
static int set_store_removal(struct client *c, const struct dyn_arg *key,
                             struct crdt_set **s, int64_t expire_ms,
                             size_t mark)
{
    struct crdt_dot dot;
    uint64_t ts;
    db_typed_dots(c->node, key->p, key->len, 1, &dot, &ts);
    return set_store(c, key, s, &dot, 1, ts, expire_ms, mark);
}

/*
 * Answers crdt_set_add_many's refusal of the batch l on s (unchanged).
 * For DYN_ELIMIT it finds which bound refused: the first whose limit alone
 * refuses the same batch, in the library's order of checks (this runs
 * only on the error path).
 */
static void set_reply_add_error(struct client *c, int rc,
                                const struct crdt_set *s,
                                const struct set_list *l,
                                const struct crdt_dot *first)
{
    const struct crdt_limits *lim = db_crdt_limits(c->node);
    if (rc != DYN_ELIMIT) {
        const char *t = crdt_err_text(rc);
        client_error(c, t ? t : "ERR set update refused (a stale dot)");
        return;
    }
    for (int k = 0; k < 4; k++) {
        struct crdt_limits one;
        memset(&one, 0, sizeof(one));
        uint32_t bound = 0, added;
        switch (k) {
        case 0: bound = one.max_member_len = lim->max_member_len; break;
        case 1: bound = one.max_actors = lim->max_actors; break;
        case 2: bound = one.max_dots = lim->max_dots; break;
        default: bound = one.max_members = lim->max_members; break;
        }
        if (bound == 0)
            continue;
        struct crdt_set *dup = crdt_set_dup(s);
        int again = crdt_set_add_many(dup, l->p, l->len, l->n, first, &one,
                                      &added);
        crdt_set_free(dup);
        if (again != DYN_ELIMIT)
            continue;
        switch (k) {
        case 0:
            client_errorf(c, "ERR set member would exceed "
                             "proto-max-bulk-len (%u bytes)", bound);
            break;
        case 1:
            client_errorf(c, "ERR set would name more than %u actors",
                          bound);
            break;
        case 2:
            client_errorf(c, "ERR set's causal context would exceed %u "
                             "dots until anti-entropy compacts it; retry "
                             "later", bound);
            break;
        default:
            client_errorf(c, "ERR set would exceed %u members", bound);
            break;
        }
        return;
    }
    client_error(c, "ERR set would exceed this node's crdt limits");
}

/* Adds the members of l to s with fresh dots of key and stores s.
 * *added: the new members.  0, or -1 after replying. */
static int set_add_and_store(struct client *c, const struct dyn_arg *key,
                             struct crdt_set **sp, const struct set_list *l,
                             int64_t expire_ms, size_t mark, uint32_t *added)
{
    struct crdt_dot first;
    uint64_t ts;
    db_typed_dots(c->node, key->p, key->len, l->n, &first, &ts);
    int rc = crdt_set_add_many(*sp, l->p, l->len, l->n, &first,
                               db_crdt_limits(c->node), added);
    if (rc != 0) {
        c->obuf.len = mark;
        set_reply_add_error(c, rc, *sp, l, &first);
        return -1;
    }
    return set_store(c, key, sp, &first, l->n, ts, expire_ms, mark);
}

static void set_reply_members(struct client *c, const struct set_list *l)
{
    reply_set(&c->obuf, c->resp, l->n);
    for (uint32_t i = 0; i < l->n; i++)
        reply_bulk(&c->obuf, l->p[i], l->len[i]);
}

static void set_reply_all(struct client *c, const struct crdt_set *s,
                          int as_set)
{
    uint32_t n = s ? crdt_set_card(s) : 0;
    if (as_set)
        reply_set(&c->obuf, c->resp, n);
    else
        reply_array(&c->obuf, n);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *m;
        size_t len;
        crdt_set_member(s, i, &m, &len);
        reply_bulk(&c->obuf, m, len);
    }
}

static uint32_t set_rand_below(struct node *n, uint32_t bound)
{
    return (uint32_t)(node_random(n) % bound);
}

/* k distinct indexes of 0..n-1 (k <= n) in random order: the first k
 * steps of a Fisher-Yates shuffle.  Owned by the caller. */
static uint32_t *set_rand_distinct(struct node *node, uint32_t n, uint32_t k)
{
    uint32_t *ix = dyn_malloc(((size_t)n + 1) * sizeof(*ix));
    for (uint32_t i = 0; i < n; i++)
        ix[i] = i;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t j = i + set_rand_below(node, n - i), t = ix[i];
        ix[i] = ix[j];
        ix[j] = t;
    }
    return ix;
}

/* ------------------------------------------------------------ single key */

static void set_sadd(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_set *s;
    int64_t expire;
    int rc = set_read(c, &argv[1], &s, &expire, SET_TAKE,
                      set_reserve(argv + 2, argc - 2));
    if (rc < 0)
        return;
    if (rc == 0)
        s = crdt_set_new();
    struct set_list l = { 0 };
    set_list_args(&l, argv + 2, argc - 2);
    /* On a node alone, members that are all there already: nothing
     * changes, as in Redis (no write, no new version).  In a cluster a
     * re-add is a write: its new dot wins over a concurrent SREM
     * elsewhere (add-wins). */
    if (rc == 1 && db_typed_alone(c->node)) {
        uint32_t i = 0;
        while (i < l.n && crdt_set_contains(s, l.p[i], l.len[i]))
            i++;
        if (i == l.n) {
            db_typed_unchanged(c->node, argv[1].p, argv[1].len);
            reply_int(&c->obuf, 0);
            set_list_free(&l);
            crdt_set_free(s);
            return;
        }
    }
    uint32_t added;
    if (set_add_and_store(c, &argv[1], &s, &l, expire, c->obuf.len,
                          &added) == 0)
        reply_int(&c->obuf, added);
    set_list_free(&l);
    crdt_set_free(s);
}

static void set_srem(struct client *c, int argc, const struct dyn_arg *argv)
{
    struct crdt_set *s;
    int64_t expire;
    int rc = set_read(c, &argv[1], &s, &expire, SET_TAKE,
                      set_reserve(NULL, 0));
    if (rc <= 0) {
        if (rc == 0)
            reply_int(&c->obuf, 0);
        return;
    }
    struct set_list l = { 0 };
    set_list_args(&l, argv + 2, argc - 2);
    uint32_t gone = crdt_set_remove_many(s, l.p, l.len, l.n);
    /* Nothing removed: nothing observed to change, no new version. */
    if (gone == 0 ||
        set_store_removal(c, &argv[1], &s, expire, c->obuf.len) == 0)
        reply_int(&c->obuf, gone);
    set_list_free(&l);
    crdt_set_free(s);
}

static void set_smembers(struct client *c, int argc,
                         const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_set *s;
    if (set_read(c, &argv[1], &s, NULL, SET_READ, 0) < 0)
        return;
    set_reply_all(c, s, 1);
    crdt_set_free(s);
}

static void set_sismember(struct client *c, int argc,
                          const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc < 0)
        return;
    reply_int(&c->obuf, rc && crdt_set_contains(s, argv[2].p, argv[2].len));
    crdt_set_free(s);
}

static void set_smismember(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc < 0)
        return;
    reply_array(&c->obuf, argc - 2);
    for (int i = 2; i < argc; i++)
        reply_int(&c->obuf,
                  rc && crdt_set_contains(s, argv[i].p, argv[i].len));
    crdt_set_free(s);
}

static void set_scard(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc < 0)
        return;
    reply_int(&c->obuf, rc ? crdt_set_card(s) : 0);
    crdt_set_free(s);
}

/* SPOP key count: count distinct random members, answered as a set; all
 * of them when count >= the card (the key goes). */
static void set_spop_count(struct client *c, const struct dyn_arg *argv)
{
    long long count;
    if (dyn_str2ll(argv[2].p, argv[2].len, &count) != 0 || count < 0) {
        client_error(c, "ERR value is out of range, must be positive");
        return;
    }
    struct crdt_set *s;
    int64_t expire;
    int rc = set_read(c, &argv[1], &s, &expire, SET_TAKE,
                      set_reserve(NULL, 0));
    if (rc < 0)
        return;
    if (rc == 0 || count == 0) {
        reply_set(&c->obuf, c->resp, 0);
        crdt_set_free(s);
        return;
    }
    size_t mark = c->obuf.len;
    uint32_t card = crdt_set_card(s);
    if ((unsigned long long)count >= card) {
        set_reply_all(c, s, 1);
        crdt_set_clear(s);
    } else {
        uint32_t k = (uint32_t)count;
        uint32_t *ix = set_rand_distinct(c->node, card, k);
        struct set_list l = { 0 };
        for (uint32_t i = 0; i < k; i++) {
            const void *p;
            size_t len;
            set_member_at(s, ix[i], &p, &len);
            set_list_push(&l, p, len);
        }
        set_reply_members(c, &l);
        /* l points into s: remove_many finds them all before it frees */
        crdt_set_remove_many(s, l.p, l.len, l.n);
        set_list_free(&l);
        dyn_free(ix);
    }
    set_store_removal(c, &argv[1], &s, expire, mark);
    crdt_set_free(s);
}

static void set_spop(struct client *c, int argc, const struct dyn_arg *argv)
{
    if (argc > 3) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 3) {
        set_spop_count(c, argv);
        return;
    }
    struct crdt_set *s;
    int64_t expire;
    int rc = set_read(c, &argv[1], &s, &expire, SET_TAKE,
                      set_reserve(NULL, 0));
    if (rc <= 0) {
        if (rc == 0)
            reply_null(&c->obuf, c->resp);
        return;
    }
    size_t mark = c->obuf.len;
    const void *p;
    size_t len;
    set_member_at(s, set_rand_below(c->node, crdt_set_card(s)), &p, &len);
    reply_bulk(&c->obuf, p, len);
    crdt_set_remove_many(s, &p, &len, 1);
    set_store_removal(c, &argv[1], &s, expire, mark);
    crdt_set_free(s);
}

/* SRANDMEMBER key count.  count > 0: distinct members, at most the card;
 * count < 0: |count| draws with repeats. */
static void set_srandmember_count(struct client *c,
                                  const struct dyn_arg *argv)
{
    long long count;
    if (dyn_str2ll(argv[2].p, argv[2].len, &count) != 0) {
        client_error(c, ERR_NOT_INTEGER);
        return;
    }
    if (count == LLONG_MIN) {
        client_error(c, "ERR value is out of range, value must between "
                        "-9223372036854775807 and 9223372036854775807");
        return;
    }
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc < 0)
        return;
    if (rc == 0 || count == 0) {
        reply_array(&c->obuf, 0);
        crdt_set_free(s);
        return;
    }
    uint32_t card = crdt_set_card(s);
    if (count < 0 || count == 1) {
        /* Draws with repeats: bounded by the output limit, not by the
         * set, so stop where the client would be dropped anyway. */
        unsigned long long draws = count < 0 ? (unsigned long long)-count : 1;
        long long limit = c->node->cfg.client_output_buffer_limit;
        size_t mark = c->obuf.len;
        reply_array(&c->obuf, (long long)draws);
        for (unsigned long long i = 0; i < draws; i++) {
            const void *p;
            size_t len;
            set_member_at(s, set_rand_below(c->node, card), &p, &len);
            reply_bulk(&c->obuf, p, len);
            if (limit > 0 && c->obuf.len - mark > (unsigned long long)limit) {
                c->obuf.len = mark;
                client_errorf(c, "ERR SRANDMEMBER's reply would pass "
                                 "client-output-buffer-limit (%lld bytes); "
                                 "ask for fewer members", limit);
                break;
            }
        }
    } else if ((unsigned long long)count >= card) {
        set_reply_all(c, s, 0);
    } else {
        uint32_t k = (uint32_t)count;
        uint32_t *ix = set_rand_distinct(c->node, card, k);
        reply_array(&c->obuf, k);
        for (uint32_t i = 0; i < k; i++) {
            const void *p;
            size_t len;
            set_member_at(s, ix[i], &p, &len);
            reply_bulk(&c->obuf, p, len);
        }
        dyn_free(ix);
    }
    crdt_set_free(s);
}

static void set_srandmember(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    if (argc > 3) {
        client_error(c, ERR_SYNTAX);
        return;
    }
    if (argc == 3) {
        set_srandmember_count(c, argv);
        return;
    }
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc <= 0) {
        if (rc == 0)
            reply_null(&c->obuf, c->resp);
        return;
    }
    const void *p;
    size_t len;
    set_member_at(s, set_rand_below(c->node, crdt_set_card(s)), &p, &len);
    reply_bulk(&c->obuf, p, len);
    crdt_set_free(s);
}

/* ------------------------------------------------------------------ SSCAN */

/* Redis's cursor rule: strtoul over the argument (so "-1" is a valid, huge
 * cursor), no leading space, nothing left over, no overflow. */
struct set_scan_item {
    uint64_t h;
    uint32_t i; /* the member's index: canonical order among equal h */
};

static int set_scan_cmp(const void *a, const void *b)
{
    const struct set_scan_item *x = a, *y = b;
    if (x->h != y->h)
        return x->h < y->h ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static void set_sscan(struct client *c, int argc, const struct dyn_arg *argv)
{
    uint64_t cursor;
    if (command_parse_cursor(&argv[2], &cursor) != 0) {
        client_error(c, "ERR invalid cursor");
        return;
    }
    struct crdt_set *s;
    int rc = set_read(c, &argv[1], &s, NULL, SET_READ, 0);
    if (rc < 0)
        return;
    if (rc == 0) { /* Redis answers before it reads the options */
        reply_array(&c->obuf, 2);
        reply_bulk_cstr(&c->obuf, "0");
        reply_array(&c->obuf, 0);
        return;
    }
    long long count = 10;
    const char *pat = NULL;
    size_t plen = 0;
    for (int i = 3; i < argc; i += 2) {
        int has_value = argc - i >= 2;
        if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "count")) {
            if (dyn_str2ll(argv[i + 1].p, argv[i + 1].len, &count) != 0) {
                client_error(c, ERR_NOT_INTEGER);
                crdt_set_free(s);
                return;
            }
            if (count < 1) {
                client_error(c, ERR_SYNTAX);
                crdt_set_free(s);
                return;
            }
        } else if (has_value && dyn_arg_is(argv[i].p, argv[i].len, "match")) {
            pat = argv[i + 1].p;
            plen = argv[i + 1].len;
            if (plen == 1 && pat[0] == '*')
                pat = NULL;
        } else {
            client_error(c, ERR_SYNTAX);
            crdt_set_free(s);
            return;
        }
    }

    uint32_t card = crdt_set_card(s), n = 0;
    struct set_scan_item *it = dyn_malloc(((size_t)card + 1) * sizeof(*it));
    for (uint32_t i = 0; i < card; i++) {
        const void *p;
        size_t len;
        set_member_at(s, i, &p, &len);
        uint64_t h = dyn_hash64(p, len);
        if (h >= cursor)
            it[n++] = (struct set_scan_item){ h, i };
    }
    qsort(it, n, sizeof(*it), set_scan_cmp);
    uint32_t take = 0;
    while (take < n && (take < (unsigned long long)count ||
                        it[take].h == it[take - 1].h))
        take++;
    uint64_t next = take < n ? it[take].h : 0;

    struct set_list found = { 0 };
    for (uint32_t k = 0; k < take; k++) {
        const void *p;
        size_t len;
        set_member_at(s, it[k].i, &p, &len);
        if (!pat || dyn_glob_match(pat, plen, p, len, 0))
            set_list_push(&found, p, len);
    }
    char num[32];
    snprintf(num, sizeof(num), "%llu", (unsigned long long)next);
    reply_array(&c->obuf, 2);
    reply_bulk_cstr(&c->obuf, num);
    reply_array(&c->obuf, found.n);
    for (uint32_t k = 0; k < found.n; k++)
        reply_bulk(&c->obuf, found.p[k], found.len[k]);
    set_list_free(&found);
    dyn_free(it);
    crdt_set_free(s);
}

/* --------------------------------------------------------- the algebra */

/* The intersection of sets[0..n) into out (pointers into the sets), at
 * most limit members (0: no limit).  An absent set makes it empty. */
static void set_inter(struct crdt_set **sets, int n, uint64_t limit,
                      struct set_list *out)
{
    int small = 0;
    for (int i = 0; i < n; i++) {
        if (!sets[i])
            return;
        if (crdt_set_card(sets[i]) < crdt_set_card(sets[small]))
            small = i;
    }
    uint32_t card = crdt_set_card(sets[small]);
    for (uint32_t k = 0; k < card; k++) {
        const void *p;
        size_t len;
        set_member_at(sets[small], k, &p, &len);
        int in_all = 1;
        for (int i = 0; i < n && in_all; i++)
            in_all = i == small || crdt_set_contains(sets[i], p, len);
        if (!in_all)
            continue;
        set_list_push(out, p, len);
        if (limit && out->n >= limit)
            return;
    }
}

/* Members of sets[0] in none of sets[1..n). */
static void set_diff(struct crdt_set **sets, int n, struct set_list *out)
{
    if (!sets[0])
        return;
    uint32_t card = crdt_set_card(sets[0]);
    for (uint32_t k = 0; k < card; k++) {
        const void *p;
        size_t len;
        set_member_at(sets[0], k, &p, &len);
        int elsewhere = 0;
        for (int i = 1; i < n && !elsewhere; i++)
            elsewhere = sets[i] && crdt_set_contains(sets[i], p, len);
        if (!elsewhere)
            set_list_push(out, p, len);
    }
}

/* One cursor per set, merged in canonical order: the union, each member
 * once, in O(total x n). */
static void set_union(struct crdt_set **sets, int n, struct set_list *out)
{
    uint32_t *at = dyn_calloc((size_t)n + 1, sizeof(*at));
    for (;;) {
        const void *best = NULL;
        size_t blen = 0;
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (!sets[i] || at[i] >= crdt_set_card(sets[i]))
                continue;
            const void *p;
            size_t len;
            set_member_at(sets[i], at[i], &p, &len);
            if (found) {
                size_t m = DYN_MIN(len, blen);
                int cmp = m ? memcmp(p, best, m) : 0;
                if (cmp > 0 || (cmp == 0 && len >= blen))
                    continue;
            }
            best = p;
            blen = len;
            found = 1;
        }
        if (!found)
            break;
        set_list_push(out, best, blen);
        for (int i = 0; i < n; i++) { /* step every set holding it */
            if (!sets[i] || at[i] >= crdt_set_card(sets[i]))
                continue;
            const void *p;
            size_t len;
            set_member_at(sets[i], at[i], &p, &len);
            if (len == blen && (blen == 0 || memcmp(p, best, blen) == 0))
                at[i]++;
        }
    }
    dyn_free(at);
}

enum set_op { SET_OP_INTER, SET_OP_UNION, SET_OP_DIFF };

static void set_compute(enum set_op op, struct crdt_set **sets, int n,
                        struct set_list *out)
{
    switch (op) {
    case SET_OP_INTER: set_inter(sets, n, 0, out); break;
    case SET_OP_UNION: set_union(sets, n, out); break;
    case SET_OP_DIFF: set_diff(sets, n, out); break;
    }
}

/* SINTER / SUNION / SDIFF key [key ...] */
static void set_algebra(struct client *c, int argc, const struct dyn_arg *argv,
                        enum set_op op)
{
    int n = argc - 1;
    struct crdt_set **sets = dyn_calloc((size_t)n, sizeof(*sets));
    if (set_read_keys(c, argv + 1, n, sets, 1) == 0) {
        struct set_list out = { 0 };
        set_compute(op, sets, n, &out);
        set_reply_members(c, &out);
        set_list_free(&out);
        set_free_keys(sets, n);
    }
    dyn_free(sets);
}

static void set_sinter(struct client *c, int argc, const struct dyn_arg *argv)
{
    set_algebra(c, argc, argv, SET_OP_INTER);
}

static void set_sunion(struct client *c, int argc, const struct dyn_arg *argv)
{
    set_algebra(c, argc, argv, SET_OP_UNION);
}

static void set_sdiff(struct client *c, int argc, const struct dyn_arg *argv)
{
    set_algebra(c, argc, argv, SET_OP_DIFF);
}

/*
 * Writes res as dst's whole value (a STORE form): a set at dst loses
 * every member it held (observed removes) and gets res with fresh dots;
 * another type is replaced; an empty res deletes dst.  The TTL goes.
 * Replies the card of res.
 */
static void set_store_result(struct client *c, const struct dyn_arg *dst,
                             const struct set_list *res)
{
    struct node *n = c->node;
    struct db_typed t;
    struct crdt_set *s = NULL;
    size_t mark = c->obuf.len;
    int rc = db_typed_lookup(n, dst->p, dst->len, CRDT_TYPE_SET, &t);
    if (rc == 1) {
        if (set_read(c, dst, &s, NULL, SET_COPY, 0) < 0)
            return;
        crdt_set_clear(s);
    }
    if (res->n == 0) {
        int wrc = 0;
        if (s) {
            if (set_store_removal(c, dst, &s, 0, mark) != 0) {
                crdt_set_free(s);
                return;
            }
        } else if (rc == DB_WRONGTYPE) {
            struct db_write w = { .tombstone = 1 };
            wrc = db_write(n, dst->p, dst->len, &w);
        }
        crdt_set_free(s);
        if (wrc != 0)
            set_write_failed(c, wrc, mark);
        else
            reply_int(&c->obuf, 0);
        return;
    }
    if (!s)
        s = crdt_set_new();
    uint32_t added;
    if (set_add_and_store(c, dst, &s, res, 0, mark, &added) == 0)
        reply_int(&c->obuf, res->n);
    crdt_set_free(s);
}

/* SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key [key ...] */
static void set_algebra_store(struct client *c, int argc,
                              const struct dyn_arg *argv, enum set_op op)
{
    int n = argc - 2;
    struct crdt_set **sets = dyn_calloc((size_t)n, sizeof(*sets));
    if (set_read_keys(c, argv + 2, n, sets, 0) == 0) {
        struct set_list out = { 0 };
        set_compute(op, sets, n, &out);
        set_store_result(c, &argv[1], &out);
        set_list_free(&out);
        set_free_keys(sets, n);
    }
    dyn_free(sets);
}

static void set_sinterstore(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    set_algebra_store(c, argc, argv, SET_OP_INTER);
}

static void set_sunionstore(struct client *c, int argc,
                            const struct dyn_arg *argv)
{
    set_algebra_store(c, argc, argv, SET_OP_UNION);
}

static void set_sdiffstore(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    set_algebra_store(c, argc, argv, SET_OP_DIFF);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit] */
static void set_sintercard(struct client *c, int argc,
                           const struct dyn_arg *argv)
{
    long long numkeys, limit = 0;
    if (dyn_str2ll(argv[1].p, argv[1].len, &numkeys) != 0 || numkeys < 1) {
        client_error(c, "ERR numkeys should be greater than 0");
        return;
    }
    if (numkeys > argc - 2) {
        client_error(c, "ERR Number of keys can't be greater than number of "
                        "args");
        return;
    }
    for (int i = 2 + (int)numkeys; i < argc; i++) {
        if (dyn_arg_is(argv[i].p, argv[i].len, "limit") && i + 1 < argc) {
            i++;
            if (dyn_str2ll(argv[i].p, argv[i].len, &limit) != 0 ||
                limit < 0) {
                client_error(c, "ERR LIMIT can't be negative");
                return;
            }
        } else {
            client_error(c, ERR_SYNTAX);
            return;
        }
    }
    int n = (int)numkeys;
    struct crdt_set **sets = dyn_calloc((size_t)n, sizeof(*sets));
    if (set_read_keys(c, argv + 2, n, sets, 1) == 0) {
        struct set_list out = { 0 };
        set_inter(sets, n, (uint64_t)limit, &out);
        reply_int(&c->obuf, out.n);
        set_list_free(&out);
        set_free_keys(sets, n);
    }
    dyn_free(sets);
}

/* SMOVE source destination member */
static void set_smove(struct client *c, int argc, const struct dyn_arg *argv)
{
    (void)argc;
    const struct dyn_arg *src = &argv[1], *dst = &argv[2], *m = &argv[3];
    struct crdt_set *from, *to;
    int64_t from_exp, to_exp;
    /* Redis's order: an absent source answers 0 before the destination's
     * type is looked at. */
    int rc = set_read(c, src, &from, &from_exp, SET_TAKE, set_reserve(NULL, 0));
    if (rc <= 0) {
        if (rc == 0)
            reply_int(&c->obuf, 0);
        return;
    }
    rc = set_read(c, dst, &to, &to_exp, SET_TAKE, set_reserve(m, 1));
    if (rc < 0) {
        crdt_set_free(from);
        return;
    }
    int same = src->len == dst->len && memcmp(src->p, dst->p, src->len) == 0;
    if (same || !crdt_set_contains(from, m->p, m->len)) {
        reply_int(&c->obuf, crdt_set_contains(from, m->p, m->len) && same);
        crdt_set_free(from);
        crdt_set_free(to);
        return;
    }
    if (!to)
        to = crdt_set_new();
    size_t mark = c->obuf.len;
    struct set_list l = { 0 };
    set_list_push(&l, m->p, m->len);
    uint32_t added;
    if (set_add_and_store(c, dst, &to, &l, to_exp, mark, &added) == 0) {
        crdt_set_remove_many(from, l.p, l.len, 1);
        if (set_store_removal(c, src, &from, from_exp, mark) == 0)
            reply_int(&c->obuf, 1);
    }
    set_list_free(&l);
    crdt_set_free(from);
    crdt_set_free(to);
}

/* ------------------------------------------------------------------ table */

#define RD (CMD_READONLY | CMD_DATA)
#define RD_FAST (CMD_READONLY | CMD_FAST | CMD_DATA)
#define WR (CMD_WRITE | CMD_DENYOOM | CMD_DATA)
#define WR_FAST (CMD_WRITE | CMD_DENYOOM | CMD_FAST | CMD_DATA)
#define WR_FAST_NOOOM (CMD_WRITE | CMD_FAST | CMD_DATA)

/* Several keys: each key's merged state is gathered through its own
 * replicas, and each key written is merged through them. */
#define SET_ROUTE_MULTI ROUTE_GATHER

const struct command cmd_set_table[] = {
    { "sadd", set_sadd, -3, WR_FAST, 1, 1, 1,
      "@write @set @fast", "set", "1.0.0",
      "Adds members to a set, creating it if needed; a concurrent remove "
      "elsewhere does not take them away.",
      "O(N + K log K): N members, K arguments.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "srem", set_srem, -3, WR_FAST_NOOOM, 1, 1, 1,
      "@write @set @fast", "set", "1.0.0",
      "Removes members from a set: the adds it has seen, not concurrent "
      "ones.", "O(N + K log N): N members, K arguments.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "smembers", set_smembers, 2, RD, 1, 1, 1,
      "@read @set @slow", "set", "1.0.0",
      "Returns every member of a set.",
      "O(N) where N is the set cardinality.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "sismember", set_sismember, 3, RD_FAST, 1, 1, 1,
      "@read @set @fast", "set", "1.0.0",
      "Tells whether a member belongs to a set.",
      "O(N) to read the set, then O(log N).", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "smismember", set_smismember, -3, RD_FAST, 1, 1, 1,
      "@read @set @fast", "set", "6.2.0",
      "Tells, for each of several members, whether it belongs to a set.",
      "O(N + K log N): N members, K members asked about.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "scard", set_scard, 2, RD_FAST, 1, 1, 1,
      "@read @set @fast", "set", "1.0.0",
      "Returns the number of members of a set.",
      "O(N) to read the set.", NULL, ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "spop", set_spop, -2, WR_FAST_NOOOM | CMD_CHANCE, 1, 1, 1,
      "@write @set @fast", "set", "1.0.0",
      "Removes and returns random members of a set.",
      "O(N) where N is the set cardinality.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "srandmember", set_srandmember, -2, RD, 1, 1, 1,
      "@read @set @slow", "set", "1.0.0",
      "Returns random members of a set, distinct for a positive count, "
      "with repeats for a negative one.",
      "O(N + C): N members, C the absolute value of the count.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "smove", set_smove, 4, WR_FAST_NOOOM, 1, 2, 1,
      "@write @set @fast", "set", "1.0.0",
      "Moves a member from one set to another: an add to the destination, "
      "then a remove from the source.", "O(N + M): the two sets' sizes.",
      NULL, SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sscan", set_sscan, -3, RD, 1, 1, 1,
      "@read @set @slow", "set", "2.8.0",
      "Iterates over the members of a set with a cursor (an order of "
      "member hashes: no member present throughout is missed).",
      "O(N log N) per call where N is the set cardinality.", NULL,
      ROUTE_KEY, COMBINE_NONE, NULL, 0 },
    { "sinter", set_sinter, -2, RD, 1, -1, 1,
      "@read @set @slow", "set", "1.0.0",
      "Returns the members every given set holds.",
      "O(T + N*M log T): T members in all, N the smallest set's, M sets.",
      NULL, SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sintercard", set_sintercard, -3, RD, 0, 0, 0,
      "@read @set @slow", "set", "7.0.0",
      "Counts the members every given set holds, stopping at an optional "
      "limit.",
      "O(T + N*M log T): T members in all, N the smallest set's, M sets.",
      NULL, SET_ROUTE_MULTI, COMBINE_NONE, NULL, 1 },
    { "sunion", set_sunion, -2, RD, 1, -1, 1,
      "@read @set @slow", "set", "1.0.0",
      "Returns the members any given set holds.",
      "O(T*M): T members in all, M sets.", NULL,
      SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sdiff", set_sdiff, -2, RD, 1, -1, 1,
      "@read @set @slow", "set", "1.0.0",
      "Returns the members of the first set that no other given set holds.",
      "O(T + N*M log T): T members in all, N the first set's, M sets.",
      NULL, SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sinterstore", set_sinterstore, -3, WR, 1, -1, 1,
      "@write @set @slow", "set", "1.0.0",
      "Stores the members every given set holds as a new set.",
      "O(T + N*M log T + K log K): K members stored.", NULL,
      SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sunionstore", set_sunionstore, -3, WR, 1, -1, 1,
      "@write @set @slow", "set", "1.0.0",
      "Stores the members any given set holds as a new set.",
      "O(T*M + K log K): K members stored.", NULL,
      SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { "sdiffstore", set_sdiffstore, -3, WR, 1, -1, 1,
      "@write @set @slow", "set", "1.0.0",
      "Stores the members of the first set that no other given set holds "
      "as a new set.", "O(T + N*M log T + K log K): K members stored.",
      NULL, SET_ROUTE_MULTI, COMBINE_NONE, NULL, 0 },
    { NULL, NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL,
      0, 0, NULL, 0 },
};
