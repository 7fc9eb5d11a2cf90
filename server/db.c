/*
 * db.c -- the keyspace as command handlers see it: visibility, lazy and
 * active expiry, versioned writes and tombstone reaping over the local
 * store.
 *
 * Visibility.  A key is visible when its winning sibling (object_winner:
 * highest ts_ms, actor, counter) is a value, not a tombstone, and is not
 * expired (expire_ms == 0 or expire_ms > now).  When the winner is an
 * expired value the whole object is removed from the store on the spot
 * (lazy expiry, counted in stats.expired_keys); every replica computes the
 * same absolute expire_ms, so they all drop it.  A tombstone winner leaves
 * the object stored (it must outlive its grace period so that replicas
 * learn of the delete) but hides the key.
 *
 * Writes.  db_write() builds the next version with object_write() on top of
 * the stored object.  With no client context (SET, DEL, ...) the context is
 * the merged clock of the stored object, so the write supersedes every
 * local version.  If the stored object had expired, it is dropped first but
 * its clock still seeds the context, so the writer's counter keeps growing
 * and the new dot can never collide with an older event held elsewhere.
 * conflict-policy lww reduces the result to its winner.  A result above
 * max-siblings is refused with DYN_ELIMIT and nothing changes; the refusal
 * is counted (INFO sibling_cap_refusals) and logged with the key, escaped
 * and cut to 64 bytes, at most one line per 10 s (with the count of the
 * refusals not logged in between), so any client's flood of blind writes
 * shows up without filling the disk.
 *
 * Counters.  Every dot of this node's actor is dot_counter + 1 (the
 * node-wide high-water mark, reserved in node.meta before a record holds
 * it), so the node knows exactly what it issued: nothing above
 * dot_counter.  A client context that claims more of this actor is refused
 * (DYN_EINVAL) unless the key's stored clock holds the same claim (forged
 * at another coordinator and handed out by DYNAMO.GET); a stored claim
 * like that is read as "every write made so far" (clamped to dot_counter).
 * object_write gets dot_counter + 1 as floor and ceiling, so no context can
 * move the mark; a write it cannot place under the ceiling (a sibling that
 * stays claims the next dot) is refused with DYN_EPROTO.
 *
 * Background work (from the cron): db_active_expire() is Redis's adaptive
 * cycle -- sample 20 keys that carry an expiry, delete the expired ones,
 * repeat while more than a quarter of a sample was expired and the time
 * budget lasts.  db_reap_tombstones() does the same over all-tombstone
 * objects, removing those whose newest tombstone is older than
 * tombstone-grace-s.
 *
 * Time: expiry, reaping and their slice budgets read the node's clock
 * (node_wall_ms, node_mono_us), never the system's, so a simulation drives
 * them and replays them from its seed.
 *
 * History: a write that is stored is recorded in the node's version
 * history (cluster/vhist.c), with what it superseded among the versions
 * of cur and those the history holds; db_write is where a version is
 * made, on the key's coordinator, so each version is recorded once.
 *
 * Stats: db counts expired_keys, expired_stale_perc, tombstones_reaped,
 * vclock_prunes and siblings_created.  keyspace_hits/misses and the sibling
 * histogram are the handlers' to count (they know which command reads).
 *
 * Durability: when the node has an engine (server/engine.h), every change
 * goes through it -- writes with engine_put_take, physical removals
 * (expiry, reaping) with engine_remove, FLUSHALL with engine_flush_all --
 * so that it is logged before the store changes.  Objects returned by the
 * store may then be loaded from disk into a scratch object: a pointer from
 * db_lookup/db_object is valid until the next db call but one (see
 * store.h); handlers copy what they keep across writes.
 *
 * Thread-safety: none; the event loop owns the node.
 * Errors: db_write returns 0, DYN_ELIMIT, DYN_EINVAL / DYN_EPROTO (see
 * Counters), or the engine's DYN_EAGAIN (disk full) / DYN_EIO (the engine
 * has failed); db_error_text() words them, and db_reply_write_error()
 * is the one reply every write command sends for them.
 */
#include <inttypes.h>
#include <string.h>
#include "server/db.h"
#include "server/engine.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/node.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/tcache.h"
#include "server/util.h"

#define EXPIRE_SAMPLE 20

static int sib_expired(const struct sibling *s, uint64_t now_ms)
{
    return !s->tombstone && s->expire_ms != 0 &&
           (uint64_t)s->expire_ms <= now_ms;
}

/* Every sibling is a value whose expiry has passed: the key is gone
 * everywhere (every replica computes the same), so it may be removed.  A
 * tombstone keeps the object until it is reaped. */
static int db_all_expired(const struct object *o, uint64_t now_ms)
{
    struct sibling s;
    uint32_t n = object_nsiblings(o);
    if (n == 1) {
        object_winner_get(o, &s);
        return sib_expired(&s, now_ms);
    }
    for (uint32_t i = 0; i < n; i++) {
        object_sibling(o, i, &s);
        if (!sib_expired(&s, now_ms))
            return 0;
    }
    return 1;
}

int db_visible(const struct object *o, uint64_t now_ms, struct sibling *out)
{
    return object_visible(o, now_ms, out);
}

/* Physical removal, through the engine when there is one.  A removal the
 * engine cannot log (disk full) is not done: the key stays, still expired,
 * and is tried again later. */
static int db_remove(struct node *n, const void *key, size_t klen)
{
    if (n->engine)
        return engine_remove(n->engine, key, klen);
    return store_remove(n->store, key, klen);
}

int db_drop(struct node *n, const void *key, size_t klen)
{
    return db_remove(n, key, klen);
}

static void db_expire_key(struct node *n, const void *key, size_t klen)
{
    if (db_remove(n, key, klen) == 0)
        n->stats.expired_keys++;
}

const struct object *db_object(struct node *n, const void *key, size_t klen)
{
    const struct object *o = store_get(n->store, key, klen);
    if (o && db_all_expired(o, node_wall_ms(n))) {
        db_expire_key(n, key, klen);
        return NULL;
    }
    return o;
}

int db_is_collection(int type)
{
    return type != CRDT_TYPE_STRING && type != CRDT_TYPE_COUNTER;
}

int db_lookup(struct node *n, const void *key, size_t klen,
              struct db_value *v)
{
    const struct object *o = db_object(n, key, klen);
    if (!o)
        return 0;
    struct sibling w;
    if (!db_visible(o, node_wall_ms(n), &w))
        return 0;
    v->value = w.value;
    v->vlen = w.vlen;
    v->expire_ms = w.expire_ms;
    v->nsiblings = object_nsiblings(o);
    v->type = w.type;
    v->state = w.type != CRDT_TYPE_STRING ? w.value : NULL;
    v->slen = w.type != CRDT_TYPE_STRING ? w.vlen : 0;
    v->dot.actor = w.actor;
    v->dot.counter = w.counter;
    v->ts_ms = w.ts_ms;
    if (w.type == CRDT_TYPE_COUNTER) {
        /* a counter reads as its text, with the strings beside it as
         * bases (a visible one is never absent) */
        struct crdt_counter *c = NULL;
        dbuf_reset(&n->typed_view);
        if (crdt_counter_decode(w.value, w.vlen, NULL, &c) != 0 ||
            object_counter_fold(o, node_wall_ms(n), NULL, c) < 0 ||
            crdt_counter_format(c, &n->typed_view) != 0) {
            crdt_counter_free(c);
            return 0;
        }
        crdt_counter_free(c);
        v->value = (const uint8_t *)n->typed_view.p;
        v->vlen = (uint32_t)n->typed_view.len;
    }
    return 1;
}

/* A key for a log line: at most DB_LOG_KEY_MAX bytes of it, printable
 * ASCII as is (backslash and quote escaped), the rest as \xHH, so a hostile
 * key can neither forge log lines nor make one long. */
#define DB_LOG_KEY_MAX 64

static void db_key_repr(struct dbuf *out, const void *key, size_t klen)
{
    const unsigned char *k = key;
    size_t shown = DYN_MIN(klen, (size_t)DB_LOG_KEY_MAX);
    dbuf_appendc(out, '"');
    for (size_t i = 0; i < shown; i++) {
        if (k[i] == '\\' || k[i] == '"')
            dbuf_printf(out, "\\%c", k[i]);
        else if (k[i] >= 0x20 && k[i] < 0x7f)
            dbuf_appendc(out, (char)k[i]);
        else
            dbuf_printf(out, "\\x%02x", k[i]);
    }
    dbuf_appendc(out, '"');
    if (shown < klen)
        dbuf_printf(out, "... (%zu bytes)", klen);
}

/* A write refused by max-siblings: counted (INFO sibling_cap_refusals), and
 * logged with its key, at most one line per DB_SIBLING_CAP_LOG_US so a
 * flood of refused writes cannot fill the disk; the line says how many
 * refusals went unlogged before it. */
#define DB_SIBLING_CAP_LOG_US 10000000ULL

static void db_sibling_cap_refused(struct node *n, const void *key,
                                   size_t klen)
{
    n->stats.sibling_cap_refusals++;
    uint64_t now = node_mono_us(n);
    if (n->sibling_cap_log_us &&
        now - n->sibling_cap_log_us < DB_SIBLING_CAP_LOG_US) {
        n->sibling_cap_unlogged++;
        return;
    }
    if (DLOG_WARNING >= dlog_current_level) {
        struct dbuf m;
        dbuf_init(&m);
        dbuf_appends(&m, "Write refused: key ");
        db_key_repr(&m, key, klen);
        dbuf_printf(&m, " would have more than %d siblings (max-siblings)",
                    n->cfg.max_siblings);
        if (n->sibling_cap_unlogged)
            dbuf_printf(&m, "; %" PRIu64 " more such refusals since the "
                        "previous line", n->sibling_cap_unlogged);
        dlog_write(DLOG_WARNING, "%.*s", (int)m.len, m.p);
        dbuf_free(&m);
    }
    n->sibling_cap_log_us = now;
    n->sibling_cap_unlogged = 0;
}

static void db_issued(struct node *n, const void *key, size_t klen,
                      uint64_t last);
static int db_commit(struct node *n, const void *key, size_t klen,
                     const struct object *cur, struct object_write *ow,
                     struct vclock *local, const void *state);
static int db_write_typed_string(struct node *n, const void *key,
                                 size_t klen, const struct object *cur,
                                 const struct db_write *w);

int db_write(struct node *n, const void *key, size_t klen,
             const struct db_write *w)
{
    uint64_t now = node_wall_ms(n);
    const struct object *cur = store_get(n->store, key, klen);
    struct vclock local;
    vclock_init(&local);

    if (cur && !w->ctx && !db_typed_alone(n)) {
        int rc = db_write_typed_string(n, key, klen, cur, w);
        if (rc != DYN_ENOTFOUND)
            return rc;
    }

    if (n->dot_counter == UINT64_MAX)
        return DYN_EPROTO; /* cannot happen: node.meta restarts far below */
    /* With no client context the write supersedes everything local,
     * expired versions included (see the essay). */
    const struct vclock *ctx = w->ctx ? w->ctx : &local;
    uint64_t claim = w->ctx ? vclock_get(w->ctx, n->actor) : 0;
    if (cur && (!w->ctx || claim > n->dot_counter))
        object_clock(cur, &local);
    if (claim > n->dot_counter) {
        /* A client context claims a write of this node beyond its
         * high-water mark: refused, unless the key itself holds that claim
         * (forged at another coordinator, handed out by DYNAMO.GET); then,
         * like a stored claim below, it means every write made so far. */
        if (vclock_get(&local, n->actor) < claim) {
            vclock_free(&local);
            return DYN_EINVAL;
        }
        vclock_copy(&local, w->ctx);
        ctx = &local;
    }
    /* A context that claims more of this node than it issued covers no
     * more than every write the node has made (see the essay). */
    if (ctx == &local)
        vclock_cap(&local, n->actor, n->dot_counter);
    if (cur && db_all_expired(cur, now)) {
        db_expire_key(n, key, klen);
        cur = NULL;
    }

    struct object_write ow = {
        .value = w->value,
        .vlen = w->vlen,
        .tombstone = w->tombstone,
        .expire_ms = w->expire_ms,
        .ctx = ctx,
        .actor = n->actor,
        .now_ms = now,
        .max_ctx_entries = (uint32_t)n->cfg.vclock_max_entries,
        .min_counter = n->dot_counter + 1,
        .max_counter = n->dot_counter + 1,
    };
    return db_commit(n, key, klen, cur, &ow, &local, NULL);
}

/* For the version history, when it is on: the sibling of o this node
 * wrote with counter used, described against cur (the copy o replaces).
 * 1 when *rec was filled. */
static int db_describe(struct node *n, const void *key, size_t klen,
                       const struct object *cur, const struct object *o,
                       uint64_t used, const void *state,
                       struct vhist_version *rec)
{
    for (uint32_t i = 0; vhist_on(&n->versions) && i < object_nsiblings(o);
         i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        if (s.actor == n->actor && s.counter == used) {
            vhist_describe_state(&n->versions, key, klen, cur, o, i, state,
                                 rec);
            return 1;
        }
    }
    return 0;
}

/* object_write on top of cur, then the counters, the history, the
 * sibling cap and the store: every versioned write ends here.  Frees
 * local (ow->ctx may point at it).  state: ow's typed value decoded, or
 * NULL (the history's preview decodes it then). */
static int db_commit(struct node *n, const void *key, size_t klen,
                     const struct object *cur, struct object_write *ow,
                     struct vclock *local, const void *state)
{
    /* a key whose journaled writes a full disk kept from their record
     * (db_materialize) is still deferred: cur is the last record without
     * them, and nothing is built on it until they are written */
    if (store_is_deferred(n->store, key, klen)) {
        vclock_free(local);
        return DYN_EAGAIN;
    }
    uint32_t pruned = 0;
    uint32_t nsib_before = cur ? object_nsiblings(cur) : 0;
    struct object *o = object_write(cur, ow, &pruned);
    if (!o) {
        /* a sibling that stays claims the next dot of this node */
        vclock_free(local);
        return DYN_EPROTO;
    }
    /* remember the dot just used: counters keep rising across keys */
    uint64_t used = object_actor_counter(o, n->actor);
    if (used > n->dot_counter)
        n->dot_counter = used;
    db_issued(n, key, klen, used);
    /* The version history (DYNAMO.VERSIONS): described now, while cur is
     * still the copy the write replaced, recorded once it is stored. */
    struct vhist_version rec;
    int described = db_describe(n, key, klen, cur, o, used, state, &rec);
    /* the counter must be reserved in node.meta before a record holds it */
    if (n->engine && engine_reserve_counters(n->engine, n->dot_counter)) {
        vclock_free(local);
        object_free(o);
        return DYN_EIO;
    }
    vclock_free(local);
    n->stats.vclock_prunes += pruned;

    if (n->cfg.conflict_policy == CONFLICT_LWW) {
        struct object *l = object_lww(o);
        object_free(o);
        o = l;
    }
    uint32_t nsib = object_nsiblings(o);
    if (n->cfg.max_siblings > 0 && nsib > (uint32_t)n->cfg.max_siblings) {
        object_free(o);
        db_sibling_cap_refused(n, key, klen);
        return DYN_ELIMIT;
    }
    if (nsib > 1) {
        n->stats.siblings_created++;
        struct evlog_entry *e =
            evlog_add(&n->events, node_wall_ms(n), EV_SIBLING_CREATED);
        evlog_field_bytes(e, "key", key, klen);
        evlog_field(e, "siblings", "%u", nsib);
    } else if (nsib_before > 1) {
        /* a write whose context covered every sibling */
        struct evlog_entry *e =
            evlog_add(&n->events, node_wall_ms(n), EV_SIBLING_RESOLVED);
        evlog_field_bytes(e, "key", key, klen);
        evlog_field(e, "siblings_before", "%u", nsib_before);
    }
    int rc = 0;
    if (n->engine) {
        engine_set_appendfsync(n->engine, n->cfg.appendfsync);
        rc = engine_put_take(n->engine, key, klen, o);
        /* DYN_ELIMIT means max-siblings to handlers */
        if (rc == DYN_ELIMIT)
            rc = DYN_ERANGE;
    } else {
        store_put_take(n->store, key, klen, o);
    }
    if (described && rc == 0)
        vhist_add(&n->versions, key, klen, &rec);
    return rc;
}

/* ---- typed values ------------------------------------------------------- */

/*
 * Deferred encoding.  On a node alone (no replica to send to), a typed
 * write need not encode its state at all: the decoded state, kept in the
 * cache, is the key's value, and the store's object stays as the last
 * encoding left it, marked stale (store_defer).  The first read of the
 * key's object -- any command that reads bytes (a read, TYPE,
 * DYNAMO.LOCAL, EXPIRE ...), a Merkle tree, the cache evicting or
 * clearing it -- calls db_materialize, which encodes the state and
 * builds the object exactly as the chain of writes would have.  With
 * storage disk the same holds, and the log is written once per commit
 * rather than once per write: db_materialize writes the object as the
 * key's next record (engine_put_take), every commit first settles the
 * keys still stale (store_settle_deferred, from engine_commit and the
 * engine's cron), and each deferred write counts as a record in
 * engine_seq (engine_promise), so its reply leaves only after the
 * commit that wrote its record -- the durability of a write encoded at
 * once.  Room for the record is preallocated before a write is deferred
 * (engine_room; a full disk then refuses it as an encoded write would);
 * a settled record that still cannot be written fails the engine, since
 * the writes it holds were accepted (engine.h).  The object is built:
 * the last write's dot and time, and for context the stale object's clock
 * with the write before it (each write's context is the previous
 * object's clock).  tests/unit/test_db.c checks that the bytes are those
 * of writes encoded one by one.
 *
 * So a run of writes to a key costs its ops, not its size.  The state is
 * lent to the op (db_typed_take_write) and stays the cache's, pinned:
 * an op that fails and frees it frees nothing.  A key qualifies while its
 * object is one visible typed sibling without expiry, the state stays
 * non-empty, and a bound on its encoding (the last encoding's size plus
 * each op's reserve) stays within proto-max-bulk-len; anything else
 * encodes (the write path below, exactly as before).  Only types whose
 * states can be pinned defer (sets, hashes, sorted sets and lists; not
 * counters).  Compaction, which alone runs on every encoded write, runs on
 * a deferred state every DB_DEFER_COMPACT writes and when it is encoded;
 * in between, a write claims the node's dots issued to other keys since
 * the key's last op (as in a cluster), so the context stays one range.
 * Compacting later gives the same state: marks replace dots whenever it
 * runs, and it folds into the clock every dot up to the highest the
 * state has seen, claimed or not (so nothing is claimed above it).
 * Because the reserves overstate what ops add, a state is also encoded
 * once its bound passes half of proto-max-bulk-len, so that the bound
 * follows its real size well before the limit; the cache charges it its
 * last encoded size scaled by its entries since (crdt_state_entries).
 *
 * The journal.  Alone on disk with the journal on (journal-max-bytes,
 * not under appendfsync always: engine_journal_on), a commit no longer
 * settles the deferred keys: each deferred write appends its command to
 * the typed-op journal instead (engine_journal_op, before anything
 * changes; its reply still waits for the commit, engine_promise), and
 * the key's record is written when its bytes are read, when the cache
 * lets go of it, or by a rotation (engine.c).  Only a command the
 * journal can run again exactly (server/replay.c: one key, the
 * command's own, no chance) defers; any other write encodes, which
 * settles the key first.  Because a write changes a deferred state
 * before it is known whether it defers, the next write of such a state
 * is lent it only when it will be journaled (db_journal_may_defer), so
 * a state in the journal's care holds journaled writes only.  A full
 * disk that refuses a settled record leaves the key deferred (its
 * writes are in the journal): db_commit then refuses any write built on
 * its stale record, and the cache keeps the state (db_flush_key).  At
 * start replay.c runs the journal again (db_journal_held skips what a
 * record holds), and the engine checkpoints.
 *
 * In a cluster a write is deferred only while the coordinator runs it
 * with n->typed_defer_turn set, and the coordinator settles the key
 * before the loop turn ends and replicates the encoding once for the
 * turn's writes of the key (cluster/coordinator.c, "Write groups").
 * There a deferred write does what an encoded one does: the claims of
 * db_claim_issued, no compaction (only anti-entropy knows which dots are
 * stable), no engine_promise (its record is written within the turn,
 * before its reply), and the encoding takes for context the stale
 * object's clock, what its state had seen (seen_of_type) and what the
 * state before the last write had seen of this node's dots
 * (tcache_write.prev_seen), as the last encoded write would have taken;
 * test_db.c compares the bytes.  Every deferred write reserves its dot's
 * counter in node.meta first, as db_commit does, and the encoding records
 * one version in the version history (DYNAMO.VERSIONS).
 */
#define DB_DEFER_COMPACT 256

/* What a decoded state of len encoded bytes and entries entries
 * (crdt_state_entries) is charged in the cache: its bytes, and per entry
 * the member record and the allocations for its bytes and dots (about
 * 40 bytes; measured: 100 lists of 5,000 8-byte elements keep 31 MB
 * decoded beside 16.7 MB encoded), plus the state's fixed part. */
static uint64_t db_state_cost(size_t len, uint64_t entries)
{
    return (uint64_t)len + 40 * entries + 256;
}

static void db_state_free(int type, void *s)
{
    (void)crdt_state_pin(type, s, 0);
    crdt_state_free(type, s);
}

static void db_state_pin(int type, void *s, int on)
{
    (void)crdt_state_pin(type, s, on);
}

/* A buffer to encode a typed state into: the node's, kept between
 * encodings (a large value's encoding then reuses pages instead of
 * faulting fresh ones in: measured, a third of a coordinator's CPU per
 * push onto a 100,000-element list went to page faults), or a fresh one
 * while the node's is in use.  db_enc_end gives it back, and lets go of
 * a kept buffer past DB_ENC_KEEP bytes. */
#define DB_ENC_KEEP (16u << 20)
static struct dbuf *db_enc_begin(struct node *n, struct dbuf *own)
{
    if (n->typed_enc_busy) {
        dbuf_init(own);
        return own;
    }
    n->typed_enc_busy = 1;
    dbuf_reset(&n->typed_enc);
    return &n->typed_enc;
}

static void db_enc_end(struct node *n, struct dbuf *enc)
{
    if (enc != &n->typed_enc) {
        dbuf_free(enc);
        return;
    }
    n->typed_enc_busy = 0;
    if (enc->cap > DB_ENC_KEEP) {
        dbuf_free(enc);
        dbuf_init(enc);
    }
}

/* The cache lets go of key's deferred state: encode it into the store. */
static int db_flush_key(void *ctx, const void *key, size_t klen)
{
    struct node *n = ctx;
    /* still deferred: a full disk refused its record, and the state
     * holds journaled writes the store's copy lacks (db_materialize) */
    return store_settle(n->store, key, klen);
}

/* The store's materializer: key's deferred state as the object the
 * writes that changed it would have stored (see the essay). */
static int db_defer_base(const struct object *cur, int type);
static int db_journaling(struct node *n);
static uint64_t db_memory_stamp(const struct object *o);
static uint64_t db_stamp_of(struct node *n, const void *key, size_t klen);
static void seen_of_type(const struct object *cur, int type,
                         struct vclock *ctx);

static struct object *db_materialize(void *ctx, const void *key, size_t klen,
                                     const struct object *stale)
{
    struct node *n = ctx;
    int type = 0, pending = 0;
    struct tcache_write *w = NULL;
    void *st = n->tcache ? tcache_peek(n->tcache, key, klen, &type, &pending,
                                       &w)
                         : NULL;
    dyn_assert(st && pending); /* a stale object's value is in the cache */
    int alone = db_typed_alone(n);
    if (alone)
        (void)crdt_state_compact_all(type, st);
    struct dbuf own;
    struct dbuf *enc = db_enc_begin(n, &own);
    crdt_state_encode(type, st, enc);
    if (enc->len > (uint64_t)n->cfg.proto_max_bulk_len)
        dlog(DLOG_WARNING, "typed key '%.*s' encodes to %zu bytes, above "
             "proto-max-bulk-len", (int)DYN_MIN(klen, (size_t)64),
             (const char *)key, enc->len);
    struct vclock local;
    vclock_init(&local);
    object_clock(stale, &local);
    if (!alone)
        seen_of_type(stale, type, &local);
    if (w->prev_dot > vclock_get(&local, n->actor))
        vclock_set(&local, n->actor, w->prev_dot, w->prev_ts);
    /* and, in a cluster, what the state before the last write had seen
     * of this node's dots (its claims: seen_of_type of that object) */
    if (!alone && w->prev_seen > vclock_get(&local, n->actor))
        vclock_set(&local, n->actor, w->prev_seen, 0);
    struct object_write ow = {
        .type = type,
        .value = enc->p,
        .vlen = enc->len,
        .actor = n->actor,
        .ctx = &local,
        .now_ms = w->ts,
        .max_ctx_entries = (uint32_t)n->cfg.vclock_max_entries,
        .min_counter = w->dot,
        .max_counter = w->dot,
    };
    uint32_t pruned = 0;
    struct object *o = object_write(stale, &ow, &pruned);
    dyn_assert(o != NULL); /* its dot is above every dot the stale one has */
    n->stats.vclock_prunes += pruned;
    n->stats.typed_encodes_deferred++;
    vclock_free(&local);
    /* o's stamp, as db_stamp_of will give it once o is the key's copy:
     * in memory its digest (the store takes o on return), on disk its
     * record's location (known once written, below) */
    int simple = db_defer_base(o, type); /* what a stamp promises */
    uint64_t stamp = 0;
    /* the version history (on in a cluster): the writes encoded together
     * are one version, described against the copy it replaces */
    struct vhist_version rec;
    int described = db_describe(n, key, klen, stale, o, w->dot, st, &rec);
    if (store_get_kind(n->store) != STORE_MEMORY) {
        /* the key's next record (stale is not used after this: the
         * engine's put frees the cached copy it may be).  The writes it
         * holds were accepted: if it cannot be written the engine fails
         * (their replies become its error) and the state is dropped */
        int rc = engine_put_take(n->engine, key, klen, o);
        if (rc == DYN_EAGAIN && db_journaling(n)) {
            /* a full disk: the writes are in the journal, so the state
             * stays deferred (the caller reads the last record) and is
             * written once there is room (db_typed_take_write refuses
             * writes that cannot join it meanwhile) */
            (void)store_defer(n->store, key, klen);
            n->stats.typed_settles_refused++;
            db_enc_end(n, enc);
            return NULL;
        }
        if (rc != 0) {
            engine_fail_deferred(n->engine, rc);
            tcache_drop(n->tcache, key, klen);
            db_enc_end(n, enc);
            return NULL;
        }
        o = NULL;
        stamp = db_stamp_of(n, key, klen);
    } else if (simple) {
        stamp = db_memory_stamp(o);
    }
    w->bound = w->encoded = enc->len;
    w->entries = crdt_state_entries(type, st);
    tcache_settle(n->tcache, key, klen, (const uint8_t *)enc->p, enc->len,
                  db_state_cost(enc->len, w->entries));
    if (simple)
        tcache_stamp(n->tcache, key, klen, stamp);
    if (described)
        vhist_add(&n->versions, key, klen, &rec); /* memory: stored next */
    db_enc_end(n, enc);
    return o;
}

struct tcache *db_tcache_new(struct node *n, uint64_t seed)
{
    struct tcache *c = tcache_new(seed, db_state_free);
    tcache_set_owner(c, db_flush_key, db_state_pin, n);
    store_set_materializer(n->store, db_materialize, n);
    return c;
}

/* The node's cache of decoded states (server/tcache.h) when
 * typed-cache-size allows one, made here when main.c did not (unit tests,
 * the simulation); NULL when it is off (CONFIG SET), after letting go of
 * what it held (deferred states are encoded into the store first):
 * states and issued dots go stale while it is off. */
static struct tcache *db_tcache(struct node *n)
{
    if (n->cfg.typed_cache_size <= 0) {
        if (n->tcache)
            tcache_clear(n->tcache);
        return NULL;
    }
    if (!n->tcache)
        n->tcache = db_tcache_new(n, node_random(n));
    return n->tcache;
}

/* 1 when the node may defer typed encodings at all (see the essay). */
static int db_defer_ok(struct node *n)
{
    return n->tcache && n->cfg.typed_cache_size > 0 &&
           (db_typed_alone(n) || n->typed_defer_turn) &&
           (store_get_kind(n->store) == STORE_MEMORY) ==
               (n->cfg.storage != STORAGE_DISK);
}

/* 1 when cur (not stale) is one visible version of type without expiry:
 * a write over it may be deferred. */
static int db_defer_base(const struct object *cur, int type)
{
    if (!cur || object_nsiblings(cur) != 1)
        return 0;
    struct sibling s;
    object_sibling(cur, 0, &s);
    return s.type == type && !s.tombstone && s.expire_ms == 0;
}

/* key's deferred state (its store object stale; n->tcache set), its type
 * and the record of its writes; NULL when the key is not deferred. */
static void *db_deferred(struct node *n, const void *key, size_t klen,
                         int *type, struct tcache_write **w)
{
    int stale = 0, pending = 0;
    (void)store_peek(n->store, key, klen, &stale);
    if (!stale)
        return NULL;
    void *p = tcache_peek(n->tcache, key, klen, type, &pending, w);
    dyn_assert(p && pending); /* a stale object's value is in the cache */
    return p;
}

/* The stamp of an object in a memory store: its digest (objects never
 * change; a large one keeps its digest), made odd so that it is never 0. */
static uint64_t db_memory_stamp(const struct object *o)
{
    return object_digest(o) | 1;
}

/* The name of key's copy in the store for the cache's stamps
 * (tcache_stamp): on disk its record's location (records are never
 * rewritten in place) or, for a version held newer than its record
 * (store_hold), db_memory_stamp of it; in memory db_memory_stamp.  0
 * when the key is absent or its object is stale (deferred). */
static uint64_t db_stamp_of(struct node *n, const void *key, size_t klen)
{
    if (store_get_kind(n->store) != STORE_MEMORY) {
        const struct object *h = store_held(n->store, key, klen, NULL);
        if (h)
            return db_memory_stamp(h);
        uint64_t loc;
        return store_get_loc(n->store, key, klen, &loc, NULL) ? loc : 0;
    }
    int stale = 0;
    const struct object *o = store_peek(n->store, key, klen, &stale);
    return o && !stale ? db_memory_stamp(o) : 0;
}

/* Stamps key's kept state with its copy in the store, o (memory) or the
 * record just written (disk), when that copy is the state alone: one
 * visible sibling of type without expiry (db_defer_base), which is what
 * a stamp promises its readers. */
static void db_stamp(struct node *n, const void *key, size_t klen, int type,
                     const struct object *o)
{
    if (n->tcache && o && db_defer_base(o, type))
        tcache_stamp(n->tcache, key, klen, db_stamp_of(n, key, klen));
}

/* 1 (and the encoding's length) when key's copy in the store is the one
 * its kept state of type was stamped with: the state is the key's whole
 * value -- one visible sibling of type, no expiry -- known without
 * hashing the copy (nor, on disk, reading it). */
static int db_stamped(struct node *n, const void *key, size_t klen,
                      int type, uint64_t *len)
{
    uint64_t st;
    return n->tcache && (st = db_stamp_of(n, key, klen)) != 0 &&
           tcache_current_stamp(n->tcache, key, klen, type, st, len);
}

/* Lends key's kept state (the store's copy, len encoded bytes) to a
 * write that may be deferred and may add reserve to it: its record of
 * deferred writes starts afresh. */
static void *db_lend_for_write(struct tcache *tc, const void *key,
                               size_t klen, int type, uint64_t len,
                               uint64_t reserve)
{
    int ptype = 0, pending = 0;
    struct tcache_write *w = NULL;
    void *p = tcache_peek(tc, key, klen, &ptype, &pending, &w);
    memset(w, 0, sizeof(*w));
    w->bound = w->encoded = len;
    w->entries = crdt_state_entries(type, p);
    w->reserve = reserve;
    tcache_lend(tc, key, klen, 0);
    return p;
}

/* 1 when this node's deferred typed writes go to the typed-op journal:
 * alone, on disk, the engine's journal on, not while it is replayed. */
static int db_journaling(struct node *n)
{
    return store_get_kind(n->store) != STORE_MEMORY && db_typed_alone(n) &&
           !n->journal_replaying && engine_journal_on(n->engine);
}

/* The command running, when the journal can run it again and key is
 * its key (dispatch_call's jctx); else NULL. */
static const struct node_journal_ctx *db_journal_ctx(struct node *n,
                                                     const void *key,
                                                     size_t klen)
{
    const struct node_journal_ctx *jc = n->jctx;
    if (!jc || jc->argv[jc->key_at].len != klen ||
        memcmp(jc->argv[jc->key_at].p, key, klen) != 0)
        return NULL;
    return jc;
}

/* A deferred state's next write, on a node alone on disk with the
 * journal on, changes the state before it is known whether the write
 * defers: 1 when it will be able to (the command is journalable for this
 * key, and its record has room), so that a state in the journal's care
 * only ever holds journaled writes.  1 in every other case. */
static int db_journal_may_defer(struct node *n, const void *key,
                                size_t klen, uint64_t bound)
{
    if (!db_journaling(n))
        return 1;
    return db_journal_ctx(n, key, klen) &&
           engine_room(n->engine, bound + klen + 64) == 0;
}

int db_typed_take_write(struct node *n, const void *key, size_t klen,
                        int type, void **state, int64_t *expire_ms,
                        uint64_t reserve)
{
    *state = NULL;
    *expire_ms = 0;
    struct tcache *tc = db_tcache(n);
    uint64_t limit = (uint64_t)n->cfg.proto_max_bulk_len;
    int ptype = 0, stale = 0;
    struct tcache_write *w = NULL;
    void *p = tc ? db_deferred(n, key, klen, &ptype, &w) : NULL;
    if (p) {
        if (ptype != type)
            return DB_WRONGTYPE; /* the visible value is of ptype */
        if (reserve && db_defer_ok(n) && w->bound <= limit &&
            reserve <= limit - w->bound &&
            db_journal_may_defer(n, key, klen, w->bound + reserve)) {
            w->reserve = reserve;
            tcache_lend(tc, key, klen, 1);
            *state = p;
            return 1;
        }
        if (store_settle(n->store, key, klen)) /* encoded: as below */
            return DYN_EAGAIN; /* its journaled writes could not be
                                * written (a full disk): nothing joins
                                * them that the journal does not hold */
    }
    uint64_t slen;
    if (!p && reserve && tc && db_defer_ok(n) && crdt_state_pin(type, NULL, 0) &&
        db_stamped(n, key, klen, type, &slen) && slen <= limit &&
        reserve <= limit - slen) {
        /* as below, known from the stamp */
        *state = db_lend_for_write(tc, key, klen, type, slen, reserve);
        return 1;
    }
    struct db_typed t;
    int rc = db_typed_lookup(n, key, klen, type, &t);
    if (rc != 1)
        return rc;
    *expire_ms = t.expire_ms;
    if (reserve && tc && db_defer_ok(n) && crdt_state_pin(type, NULL, 0) &&
        t.len <= limit && reserve <= limit - t.len &&
        tcache_current(tc, key, klen, type, t.state, t.len) &&
        db_defer_base(store_peek(n->store, key, klen, &stale), type)) {
        *state = db_lend_for_write(tc, key, klen, type, t.len, reserve);
        return 1;
    }
    void *s = db_typed_take(n, key, klen, type, &t);
    if (!s) {
        rc = crdt_state_decode(type, t.state, t.len, db_crdt_limits(n), &s);
        if (rc)
            return rc;
    }
    *state = s;
    return 1;
}

int db_typed_borrow(struct node *n, const void *key, size_t klen, int type,
                    void **state, int64_t *expire_ms)
{
    *state = NULL;
    *expire_ms = 0;
    struct tcache *tc = n->cfg.typed_cache_size > 0 ? n->tcache : NULL;
    int ptype = 0, pending = 0;
    struct tcache_write *w = NULL;
    if (!tc || !crdt_state_pin(type, NULL, 0))
        return 0;
    void *p = db_deferred(n, key, klen, &ptype, &w);
    if (p) {
        if (ptype != type)
            return DB_WRONGTYPE;
        tcache_lend_read(tc, key, klen);
        *state = p;
        return 1;
    }
    p = tcache_peek(tc, key, klen, &ptype, &pending, &w);
    if (!p || ptype != type)
        return 0;
    uint64_t slen;
    if (db_stamped(n, key, klen, type, &slen)) {
        tcache_lend_read(tc, key, klen);
        *state = p;
        return 1;
    }
    struct db_typed t;
    if (db_typed_lookup(n, key, klen, type, &t) != 1 ||
        !tcache_current(tc, key, klen, type, t.state, t.len))
        return 0;
    tcache_lend_read(tc, key, klen);
    *state = p;
    *expire_ms = t.expire_ms;
    return 1;
}

void db_typed_unchanged(struct node *n, const void *key, size_t klen)
{
    if (n->tcache)
        tcache_unchanged(n->tcache, key, klen);
}

int db_deferred_type(struct node *n, const void *key, size_t klen)
{
    int type = 0;
    struct tcache_write *w;
    return n->tcache && db_deferred(n, key, klen, &type, &w) ? type : -1;
}

void db_typed_end(struct node *n)
{
    if (n->tcache)
        tcache_end_lends(n->tcache);
}

/* In a cluster: the dots this node issued between the key's previous op
 * and this one went to other keys, and those it reserved for this op
 * beyond the ndots it used went nowhere: claimed into state, they keep
 * the context one range (docs/TYPES.md, "Claims").  Only when this op's
 * reservation is the last issued for the key. */
static void db_claim_issued(struct node *n, const void *key, size_t klen,
                            int type, void *state,
                            const struct crdt_dot *first, uint32_t ndots)
{
    uint64_t prev, newest, used_last = first->counter + ndots - 1;
    if (!n->tcache ||
        !tcache_issued(n->tcache, key, klen, &prev, &newest) ||
        newest < used_last || !prev || prev >= first->counter)
        return;
    if (prev + 1 < first->counter)
        (void)crdt_state_claim(type, state, n->actor, prev + 1,
                               first->counter - 1);
    if (newest > used_last)
        (void)crdt_state_claim(type, state, n->actor, used_last + 1, newest);
}

/* The write of a state db_typed_take_write lent, deferred when it may be
 * (the essay): 1 when it was, 0 when the caller encodes it. */
static int db_typed_defer(struct node *n, const void *key, size_t klen,
                          int type, void *state, const struct crdt_dot *first,
                          uint32_t ndots, uint64_t ts_ms, int64_t expire_ms)
{
    uint64_t used = first->counter + ndots - 1, prev, newest;
    struct tcache *tc = n->tcache;
    int ptype = 0, pending = 0, stale = 0;
    struct tcache_write *w = NULL;
    if (!tc || tcache_peek(tc, key, klen, &ptype, &pending, &w) != state ||
        ptype != type || expire_ms != 0 || !db_defer_ok(n) ||
        crdt_state_empty(type, state))
        return 0;
    /* on disk the key's next record must fit: room for it now, or the
     * write is encoded at once (and a full disk refuses it cleanly) */
    int disk = store_get_kind(n->store) != STORE_MEMORY;
    int alone = db_typed_alone(n);
    /* alone on disk with the journal on, the write's op is journaled:
     * only a command the journal can run again (dispatch_call's jctx)
     * on this very key defers (not while the journal is replayed) */
    int journal = db_journaling(n);
    const struct node_journal_ctx *jc = db_journal_ctx(n, key, klen);
    if (journal && !jc)
        return 0;
    if (disk && engine_room(n->engine, w->bound + w->reserve + klen + 64))
        return 0;
    /* the dot's counter is reserved in node.meta before any record or
     * replica holds it, as db_commit does (else the encoded write below
     * fails cleanly) */
    if (n->engine && engine_reserve_counters(n->engine, used))
        return 0;
    if (journal) {
        /* before anything changes: a journaled op that then encodes
         * instead is held by its record, and replay skips it */
        struct journal_op op = {
            .key = key,
            .klen = (uint32_t)klen,
            .actor = first->actor,
            .first = first->counter,
            .ndots = ndots,
            .ts_ms = ts_ms,
            .rng = jc->rng,
            .argc = (uint32_t)jc->argc,
            .argv = jc->argv,
        };
        if (engine_journal_op(n->engine, &op) != 0)
            return 0;
    }
    uint64_t slen;
    if (!pending) {
        if (!db_stamped(n, key, klen, type, &slen)) {
            const struct object *cur = store_peek(n->store, key, klen,
                                                  &stale);
            if (stale || !db_defer_base(cur, type))
                return 0;
        }
        if (store_defer(n->store, key, klen) != 0)
            return 0;
        w->prev_dot = w->prev_ts = w->seen = 0;
        w->ops = 0;
    } else {
        w->prev_dot = w->dot;
        w->prev_ts = w->ts;
    }
    w->prev_seen = w->seen;
    /* the dots issued between this key's ops went to other keys (or were
     * reserved and not used): claimed, they keep the context one range
     * between compactions (docs/TYPES.md, "Claims"; compaction folds
     * them into the clock, as it does unclaimed ones).  Not the ones
     * reserved beyond this op's, and none for an op whose state has not
     * seen its own dots (a remove): compaction folds up to the highest
     * dot seen, and claims must not move that.  In a cluster the claims
     * are the encoded write's (db_claim_issued), so that the state
     * encoded at the end of the turn is the one writes encoded one by
     * one would have left */
    if (!alone) {
        db_claim_issued(n, key, klen, type, state, first, ndots);
        w->seen = crdt_state_seen_top(type, state, n->actor);
    } else if (tcache_issued(tc, key, klen, &prev, &newest) && prev &&
             prev + 1 < first->counter &&
             crdt_state_seen_top(type, state, n->actor) >= first->counter)
        (void)crdt_state_claim(type, state, n->actor, prev + 1,
                               first->counter - 1);
    w->dot = used;
    w->ts = ts_ms;
    w->bound += w->reserve;
    w->reserve = 0;
    w->ops++;
    tcache_lend(tc, key, klen, 1);
    /* its reply waits for the record; in a cluster the coordinator
     * encodes the key before the turn ends (n->typed_defer_turn), which
     * writes the record as an encoded write would */
    if (disk && alone && !n->journal_replaying)
        engine_promise(n->engine);
    /* alone every dot is stable; in a cluster only anti-entropy knows
     * which are, as for encoded writes */
    if (w->ops % DB_DEFER_COMPACT == 0 && alone)
        (void)crdt_state_compact_all(type, state);
    if (used > n->dot_counter)
        n->dot_counter = used;
    db_issued(n, key, klen, used);
    n->stats.typed_writes_deferred++;
    if (w->bound > (uint64_t)n->cfg.proto_max_bulk_len / 2) {
        /* the reserves overstate what ops add: encode now, so that the
         * bound follows the real size well before the limit (an
         * encoding each time the bound passes half of it) */
        (void)store_get(n->store, key, klen);
        return 1;
    }
    /* the charge: the last encoding's, scaled by the entries since */
    uint64_t est = w->encoded;
    uint64_t now = crdt_state_entries(type, state);
    if (w->entries && now > w->entries)
        est = w->encoded * now / w->entries;
    else if (!w->entries)
        est = w->bound;
    tcache_charge(tc, key, klen, db_state_cost(est, now),
                  (uint64_t)n->cfg.typed_cache_size);
    return 1;
}

/* Remembers that this node's dots up to last were issued, the last of
 * them for key (the typed state cache keeps it: docs/TYPES.md "Claims");
 * nothing when the cache is off. */
static void db_issued(struct node *n, const void *key, size_t klen,
                      uint64_t last)
{
    struct tcache *tc = db_tcache(n);
    if (tc)
        tcache_issue(tc, key, klen, last, (uint64_t)n->cfg.typed_cache_size);
}

uint64_t db_counter_last(struct node *n, const void *key, size_t klen,
                         uint64_t *run)
{
    struct tcache *tc = db_tcache(n);
    *run = 0;
    return tc ? tcache_counter_last(tc, key, klen, run) : 0;
}

void db_counter_op(struct node *n, const void *key, size_t klen,
                   uint64_t seq, uint64_t run)
{
    struct tcache *tc = db_tcache(n);
    if (tc)
        tcache_counter_op(tc, key, klen, seq, run,
                          (uint64_t)n->cfg.typed_cache_size);
}

uint64_t db_inc_run(struct node *n, uint64_t last, uint64_t run, int seen,
                    const struct crdt_dot *first)
{
    if (!last || seen)
        return run;
    /* a run of its own: an actor id no node has (a hash of the node's
     * actor and the dot the run begins at) */
    uint64_t b[2] = { n->actor, first->counter };
    uint64_t a = dyn_hash64(b, sizeof(b));
    return a ? a : 1;
}

int db_journal_held(struct node *n, const void *key, size_t klen,
                    uint64_t actor, uint64_t counter)
{
    int stale = 0;
    const struct object *o = store_peek(n->store, key, klen, &stale);
    if (stale)
        return 0; /* an earlier op of the key ran again: so do the later */
    if (!o)
        return 1; /* its base was there: the key went since */
    struct vclock c;
    vclock_init(&c);
    object_clock(o, &c);
    int held = vclock_get(&c, actor) >= counter;
    vclock_free(&c);
    return held;
}

int db_typed_alone(struct node *n)
{
    return n->cluster == NULL;
}

/* Bounds: the actors a state names and the cloud of dots above a gap are
 * named constants (a cluster has few actors; anti-entropy's compaction
 * keeps the cloud small); members and member bytes are bounded by the
 * state's encoding, which proto-max-bulk-len bounds as a whole. */
#define DB_CRDT_MAX_ACTORS 4096
#define DB_CRDT_MAX_CLOUD (1u << 22)

const struct crdt_limits *db_crdt_limits(struct node *n)
{
    uint64_t bulk = (uint64_t)n->cfg.proto_max_bulk_len;
    n->crdt_limits.max_actors = DB_CRDT_MAX_ACTORS;
    n->crdt_limits.max_members = 0;
    n->crdt_limits.max_member_len = bulk > UINT32_MAX ? UINT32_MAX
                                                       : (uint32_t)bulk;
    n->crdt_limits.max_dots = DB_CRDT_MAX_CLOUD;
    return &n->crdt_limits;
}

int db_typed_lookup(struct node *n, const void *key, size_t klen, int type,
                    struct db_typed *out)
{
    const struct object *o = db_object(n, key, klen);
    struct sibling w;
    if (!o || !db_visible(o, node_wall_ms(n), &w))
        return 0;
    if (w.type != type)
        return DB_WRONGTYPE;
    out->state = w.value;
    out->len = w.vlen;
    out->expire_ms = w.expire_ms;
    return 1;
}

void db_typed_dots(struct node *n, const void *key, size_t klen,
                   uint32_t ndots, struct crdt_dot *first, uint64_t *ts_ms)
{
    dyn_assert(ndots >= 1 && n->dot_counter < UINT64_MAX - ndots);
    first->actor = n->actor;
    first->counter = n->dot_counter + 1;
    n->dot_counter += ndots;
    *ts_ms = node_wall_ms(n);
    db_issued(n, key, klen, n->dot_counter);
}

/* The sibling of type in o that an op could not have read (not the
 * visible non-empty winner), or 0. */
static int db_unread_sibling(struct node *n, const struct object *o, int type,
                             struct sibling *out)
{
    struct sibling w;
    int vis = db_visible(o, node_wall_ms(n), &w);
    for (uint32_t i = 0; i < object_nsiblings(o); i++) {
        object_sibling(o, i, out);
        if (out->type != type)
            continue;
        return !(vis && w.actor == out->actor && w.counter == out->counter);
    }
    return 0;
}

void *db_typed_take(struct node *n, const void *key, size_t klen, int type,
                    const struct db_typed *t)
{
    struct tcache *tc = db_tcache(n);
    if (!tc)
        return NULL;
    uint64_t st = db_stamp_of(n, key, klen), len;
    if (st && tcache_current_stamp(tc, key, klen, type, st, &len) &&
        len == t->len)
        return tcache_take_stamped(tc, key, klen, type, st);
    return tcache_take(tc, key, klen, type, t->state, t->len);
}

/* Adds to ctx what cur's sibling of type has seen.  In a cluster a state
 * has seen more than its object's clock shows: the dots it claimed, some
 * above its own write's dot (those its op reserved and did not use).  The
 * op that read the state has seen them too; without them in its context
 * the sibling it replaces would not be covered, and each write would join
 * the two states (decode both, join, encode) instead of replacing one. */
static void seen_of_type(const struct object *cur, int type,
                         struct vclock *ctx)
{
    uint32_t k = object_nsiblings(cur);
    for (uint32_t i = 0; i < k; i++) {
        struct sibling s;
        object_sibling(cur, i, &s);
        if (s.type != type)
            continue;
        struct vclock seen;
        vclock_init(&seen);
        if (crdt_seen_bytes(type, s.value, s.vlen, &seen) == 0)
            vclock_merge(ctx, &seen);
        vclock_free(&seen);
    }
}

int db_typed_write_state(struct node *n, const void *key, size_t klen,
                         int type, void *state, const struct crdt_dot *first,
                         uint32_t ndots, uint64_t ts_ms, int64_t expire_ms)
{
    dyn_assert(ndots >= 1);
    if (n->journal_replaying) {
        n->replay_first = *first;
        n->replay_ndots = ndots;
    }
    if (db_typed_defer(n, key, klen, type, state, first, ndots, ts_ms,
                       expire_ms))
        return 0;
    const struct object *cur = store_get(n->store, key, klen);
    struct tcache *tc = db_tcache(n);
    struct sibling un;
    dyn_assert(first->actor == n->actor && ndots >= 1);
    if (cur && db_unread_sibling(n, cur, type, &un)) {
        void *other = NULL;
        int rc = crdt_state_decode(type, un.value, un.vlen, NULL, &other);
        if (rc) {
            crdt_state_free(type, state);
            return rc;
        }
        void *j = crdt_state_join(type, state, other);
        crdt_state_free(type, other);
        crdt_state_free(type, state);
        state = j;
    }
    /* alone, every dot is stable and compaction folds the whole context
     * into the clock (a refusal leaves the state as it was); in a cluster
     * the dots issued around this op are claimed */
    uint64_t used_last = first->counter + ndots - 1;
    if (db_typed_alone(n))
        (void)crdt_state_compact_all(type, state);
    else
        db_claim_issued(n, key, klen, type, state, first, ndots);
    struct dbuf own;
    struct dbuf *enc = db_enc_begin(n, &own);
    crdt_state_encode(type, state, enc);
    int rc = 0;
    if (enc->len > (uint64_t)n->cfg.proto_max_bulk_len)
        rc = DB_ETOOBIG;
    struct vclock local;
    vclock_init(&local);
    if (rc == 0) {
        if (cur)
            object_clock(cur, &local);
        if (cur && !db_typed_alone(n))
            seen_of_type(cur, type, &local);
        if (cur && db_all_expired(cur, ts_ms)) {
            db_expire_key(n, key, klen);
            cur = NULL;
        }
        struct object_write ow = {
            .type = type,
            .value = enc->p,
            .vlen = enc->len,
            .tombstone = crdt_state_empty(type, state),
            .expire_ms = expire_ms,
            .ctx = &local,
            .actor = n->actor,
            .now_ms = ts_ms,
            .max_ctx_entries = (uint32_t)n->cfg.vclock_max_entries,
            .min_counter = used_last,
            .max_counter = used_last,
        };
        rc = db_commit(n, key, klen, cur, &ow, &local, state);
    } else {
        vclock_free(&local);
    }
    if (rc == 0 && tc) {
        tcache_put(tc, key, klen, type, state,
                   (const uint8_t *)enc->p, enc->len,
                   db_state_cost(enc->len, crdt_state_entries(type, state)),
                   (uint64_t)n->cfg.typed_cache_size);
        /* on disk the record would have to be read back to be checked */
        if (store_get_kind(n->store) == STORE_MEMORY)
            db_stamp(n, key, klen, type, store_get(n->store, key, klen));
    } else
        crdt_state_free(type, state);
    db_enc_end(n, enc);
    return rc;
}

int db_typed_write(struct node *n, const void *key, size_t klen, int type,
                   const void *state, size_t len, const struct crdt_dot *first,
                   uint32_t ndots, uint64_t ts_ms, int64_t expire_ms)
{
    void *s = NULL;
    int rc = crdt_state_decode(type, state, len, NULL, &s);
    if (rc)
        return rc;
    return db_typed_write_state(n, key, klen, type, s, first, ndots, ts_ms,
                                expire_ms);
}

/*
 * A string write (SET, DEL, APPEND ...) on a key whose local object holds
 * a typed version, in a cluster (docs/TYPES.md section 4):
 *   - a counter: an observed reset, so an increment this node has not seen
 *     survives (SET k v: the counter's base is v; DEL: absent);
 *   - DEL of a set, hash, sorted set or list: every member it holds goes,
 *     the context stays, so a concurrent add elsewhere wins.
 * DYN_ENOTFOUND: nothing typed to keep; an ordinary write follows.
 */
static int db_write_typed_string(struct node *n, const void *key,
                                 size_t klen, const struct object *cur,
                                 const struct db_write *w)
{
    struct sibling s, vis;
    int have = 0;
    for (uint32_t i = 0; i < object_nsiblings(cur) && !have; i++) {
        object_sibling(cur, i, &s);
        have = s.type == CRDT_TYPE_COUNTER;
    }
    if (!have) {
        if (!w->tombstone || !db_visible(cur, node_wall_ms(n), &vis) ||
            !db_is_collection(vis.type))
            return DYN_ENOTFOUND;
        s = vis;
    }
    struct crdt_dot dot;
    uint64_t ts, run, last = db_counter_last(n, key, klen, &run);
    void *st = NULL;
    db_typed_dots(n, key, klen, 1, &dot, &ts);
    int rc = crdt_state_decode(s.type, s.value, s.vlen, NULL, &st);
    if (rc == 0 && s.type == CRDT_TYPE_COUNTER) {
        crdt_counter_own_last(st, dot.actor, last);
        rc = crdt_counter_reset(st, w->tombstone ? NULL : w->value, w->vlen,
                                &dot, ts, db_crdt_limits(n));
    }
    else if (rc == 0)
        rc = crdt_state_clear(s.type, st, &dot, ts, db_crdt_limits(n));
    if (rc != 0) {
        crdt_state_free(s.type, st);
        return rc;
    }
    int counter = s.type == CRDT_TYPE_COUNTER;
    rc = db_typed_write_state(n, key, klen, s.type, st, &dot, 1, ts,
                              w->tombstone ? 0 : w->expire_ms);
    if (rc == 0 && counter)
        db_counter_op(n, key, klen, dot.counter, 0);
    return rc;
}

struct db_keys {
    char **k;
    size_t *len;
    uint32_t n, cap;
};

static int db_collect_typed(void *ctx, const void *key, size_t klen,
                            const struct object *obj)
{
    struct db_keys *ks = ctx;
    if (!obj || object_bytes(obj)[0] < 2) /* format 2 or 3: a typed sibling */
        return 0;
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 16;
        ks->k = dyn_realloc(ks->k, ks->cap * sizeof(*ks->k));
        ks->len = dyn_realloc(ks->len, ks->cap * sizeof(*ks->len));
    }
    ks->k[ks->n] = dyn_memdup(key, klen);
    ks->len[ks->n++] = klen;
    return 0;
}

int db_key_hot(struct node *n, const struct object *o)
{
    if (!o)
        return 0;
    struct sibling newest; /* the winner has the highest ts */
    object_winner_get(o, &newest);
    return newest.ts_ms + 2 * (uint64_t)n->cfg.request_timeout_ms >
           node_wall_ms(n);
}

void db_compact_typed(struct node *n, uint32_t part)
{
    struct db_keys ks = { NULL, NULL, 0, 0 };
    store_iter_partition(n->store, part, db_collect_typed, &ks);
    struct dbuf out;
    dbuf_init(&out);
    for (uint32_t k = 0; k < ks.n; k++) {
        const struct object *o = store_get(n->store, ks.k[k], ks.len[k]);
        /* a key being written: its replicas may hold newer writes whose
         * deltas would find this copy compacted and be refused */
        struct object *cur = o && !db_key_hot(n, o) ? object_dup(o) : NULL;
        for (uint32_t i = 0; cur && i < object_nsiblings(cur); i++) {
            struct sibling s;
            object_sibling(cur, i, &s);
            if (s.type == CRDT_TYPE_STRING)
                continue;
            dbuf_reset(&out);
            if (crdt_compact_all_bytes(s.type, s.value, s.vlen, &out) != 0 ||
                (out.len == s.vlen && memcmp(out.p, s.value, s.vlen) == 0))
                continue;
            struct object *next = object_replace_value(cur, i, out.p, out.len);
            object_free(cur);
            cur = next;
            n->stats.typed_compactions++;
        }
        if (cur && !object_equal(cur, o))
            (void)db_store_take(n, ks.k[k], ks.len[k], cur);
        else
            object_free(cur);
        dyn_free(ks.k[k]);
    }
    dbuf_free(&out);
    dyn_free(ks.k);
    dyn_free(ks.len);
}

int db_store_edit(struct node *n, const void *key, size_t klen,
                  struct object *obj, const void *delta, size_t dlen)
{
    if (n->engine) {
        engine_set_appendfsync(n->engine, n->cfg.appendfsync);
        int rc = engine_put_edit(n->engine, key, klen, obj, delta, dlen);
        return rc == DYN_ELIMIT ? DYN_ERANGE : rc;
    }
    store_put_take(n->store, key, klen, obj);
    return 0;
}

int db_store_take(struct node *n, const void *key, size_t klen,
                  struct object *obj)
{
    return db_store_edit(n, key, klen, obj, NULL, 0);
}

/* The common case, replicas in sync, costs one comparison: no merge is
 * built unless the versions differ. */
int db_merge_object(struct node *n, const void *key, size_t klen,
                    const struct object *remote, struct object *own)
{
    const struct object *cur = store_get(n->store, key, klen);
    struct object *m;
    if (!cur) {
        m = own ? own : object_dup(remote);
    } else if (object_equal(cur, remote)) {
        object_free(own);
        return 0;
    } else {
        int changed = 0;
        m = object_merge(cur, remote, &changed);
        object_free(own);
        if (!changed) {
            object_free(m);
            return 0;
        }
    }
    int rc = db_store_take(n, key, klen, m);
    return rc < 0 ? rc : 1;
}

/* The limits a received object is parsed within.  Twice max-siblings: a
 * peer's object may hold the siblings of two nodes that each kept
 * max-siblings before they met; db_write caps what stays. */
static struct object_limits parse_limits(struct node *n, int typed_trusted)
{
    struct object_limits lim = {
        .max_siblings = (uint32_t)n->cfg.max_siblings * 2,
        .max_ctx_entries = 4096,
        .max_value_len = (uint64_t)n->cfg.proto_max_bulk_len,
        .types = db_crdt_limits(n),
        .typed_trusted = typed_trusted,
    };
    return lim;
}

int db_parse_object(struct node *n, const void *bytes, size_t len,
                    struct object **out)
{
    struct object_limits lim = parse_limits(n, 0);
    return object_from_bytes((const uint8_t *)bytes, len, &lim, out);
}

int db_parse_raw_checked(struct node *n, struct object *raw,
                         struct object **out)
{
    struct object_limits lim = parse_limits(n, 1);
    return object_from_raw(raw, &lim, out);
}

int db_merge_bytes(struct node *n, const void *key, size_t klen,
                   const void *bytes, size_t len)
{
    struct object *o = NULL;
    int rc = db_parse_object(n, bytes, len, &o);
    if (rc != 0)
        return rc == DYN_EFORMAT ? rc : DYN_EINVAL;
    return db_merge_object(n, key, klen, o, o);
}

size_t db_size(struct node *n)
{
    return store_count_live(n->store);
}

int db_flush(struct node *n)
{
    int rc = 0;
    if (n->engine)
        rc = engine_flush_all(n->engine);
    else
        store_clear(n->store);
    if (rc == 0 && n->tcache)
        tcache_clear(n->tcache); /* stale anyway: frees the memory now */
    return rc;
}

const char *db_error_text(struct node *n, int rc)
{
    if (rc == DYN_EINVAL)
        return "ERR invalid context: it claims writes this node never made";
    if (rc == DYN_EPROTO)
        return "ERR the key holds a version whose context claims this "
               "node's next write: overwrite it with SET, or with "
               "DYNAMO.PUT and a context that covers it";

    if (n->engine && (rc == DYN_EIO || rc == DYN_EAGAIN))
        return engine_error_text(n->engine, rc);
    if (n->engine && rc == DYN_ERANGE)
        return engine_error_text(n->engine, DYN_ELIMIT);
    return "ERR write failed";
}

void db_reply_write_error(struct node *n, struct dbuf *out, int rc,
                          const struct vclock *ctx)
{
    if (rc == DYN_EINVAL && ctx)
        reply_errorf(out,
                     "ERR invalid context: it claims write %" PRIu64
                     " of this node, which has made %" PRIu64 " so far",
                     vclock_get(ctx, n->actor), n->dot_counter);
    else if (rc == DB_ETOOBIG)
        reply_errorf(out,
                     "ERR value would encode to more than "
                     "proto-max-bulk-len (%lld bytes)",
                     n->cfg.proto_max_bulk_len);
    else if (rc == DYN_ELIMIT)
        reply_errorf(out,
                     "ERR too many siblings for key (max-siblings %d): "
                     "resolve them with DYNAMO.GET and DYNAMO.PUT",
                     n->cfg.max_siblings);
    else
        reply_error(out, db_error_text(n, rc));
}

void db_active_expire(struct node *n, uint64_t budget_us)
{
    uint64_t start = node_mono_us(n);
    char *keys[EXPIRE_SAMPLE];
    size_t klens[EXPIRE_SAMPLE];

    for (;;) {
        if (store_count_expiring(n->store) == 0)
            return;
        uint64_t now = node_wall_ms(n);
        size_t got = store_sample_expiring(n->store, EXPIRE_SAMPLE,
                                           node_random(n), keys, klens);
        size_t expired = 0;
        for (size_t i = 0; i < got; i++) {
            const struct object *o = store_get(n->store, keys[i], klens[i]);
            if (o && db_all_expired(o, now)) {
                db_expire_key(n, keys[i], klens[i]);
                expired++;
            }
            dyn_free(keys[i]);
        }
        if (got == 0)
            return;
        /* A slow moving average of the share of stale keys, as INFO's
         * expired_stale_perc. */
        uint64_t perc = expired * 100 / got;
        n->stats.expired_stale_perc =
            (n->stats.expired_stale_perc * 95 + perc * 5) / 100;
        if (expired * 4 <= got)
            return;
        if (node_mono_us(n) - start >= budget_us)
            return;
    }
}

/*
 * Whether an all-tombstone object may be forgotten.  Single node: once the
 * newest tombstone is older than tombstone-grace-s, since this node holds
 * the only replica.
 *
 * CLUSTER HOOK: with replication, a tombstone may be reaped only when, in
 * addition, anti-entropy has confirmed that all N replicas of the key's
 * partition hold it (or a newer version); otherwise a replica that missed
 * the delete would resurrect the value.  Add that condition here.
 */
int db_tombstone_reapable(struct node *n, uint32_t part,
                          const struct object *o, uint64_t now_ms)
{
    if (!o || !object_is_deleted(o))
        return 0;
    /* in a cluster: only once anti-entropy saw every replica hold it */
    if (n->cluster && !store_tombstones_confirmed(n->store, part))
        return 0;
    uint64_t newest = 0;
    uint32_t ns = object_nsiblings(o);
    for (uint32_t i = 0; i < ns; i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        newest = DYN_MAX(newest, s.ts_ms);
    }
    uint64_t grace_ms = (uint64_t)(n->cfg.tombstone_grace_s > 0
                                       ? n->cfg.tombstone_grace_s : 0) * 1000;
    return newest + grace_ms <= now_ms;
}

void db_reap_tombstones(struct node *n, uint64_t budget_us)
{
    uint64_t start = node_mono_us(n);
    char *keys[EXPIRE_SAMPLE];
    size_t klens[EXPIRE_SAMPLE];

    for (;;) {
        if (store_count(n->store) == store_count_live(n->store))
            return;
        uint64_t now = node_wall_ms(n);
        size_t got = store_sample_deleted(n->store, EXPIRE_SAMPLE,
                                          node_random(n), keys, klens);
        size_t reaped = 0;
        for (size_t i = 0; i < got; i++) {
            const struct object *o = store_get(n->store, keys[i], klens[i]);
            if (db_tombstone_reapable(
                    n, store_partition_of(n->store, keys[i], klens[i]), o,
                    now) &&
                db_remove(n, keys[i], klens[i]) == 0) {
                n->stats.tombstones_reaped++;
                reaped++;
            }
            dyn_free(keys[i]);
        }
        if (got == 0 || reaped * 4 <= got)
            return;
        if (node_mono_us(n) - start >= budget_us)
            return;
    }
}
