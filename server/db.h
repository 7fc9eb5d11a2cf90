/*
 * db.h -- the keyspace as command handlers see it.
 *
 * Handlers do not touch the store or build objects themselves; they ask db
 * for the *visible* state of a key (the winning sibling, with tombstones and
 * expired versions hidden, expiring lazily on access) and for versioned
 * writes.  In this single-node build db works on the local store; the
 * cluster coordinator takes its place behind the same calls, which is why
 * writes are described (struct db_write) rather than performed piecemeal.
 *
 * Every write makes a new version through object_write(): a plain SET's
 * context is the merged clock of everything stored locally, so it supersedes
 * what this node knows of; DYNAMO.PUT passes the client's context.
 */
#ifndef DYN_DB_H
#define DYN_DB_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/crdt.h"
#include "cluster/object.h"
#include "server/buf.h"

struct node;

/* The visible value of a key. */
struct db_value {
    const uint8_t *value;   /* borrowed: valid until the next write to key;
                             * a counter's text, a collection's encoding */
    uint32_t vlen;
    int64_t expire_ms;      /* 0 = none */
    uint32_t nsiblings;
    int type;               /* enum crdt_type of the visible version */
    const uint8_t *state;   /* a typed version's encoding (a counter's
                             * state), borrowed like value; NULL: a string */
    uint32_t slen;
    struct crdt_dot dot;    /* the visible version's dot and time */
    uint64_t ts_ms;
};

/* Returns 1 and fills v if the key is visible, 0 if it is absent, deleted or
 * expired (an expired key is removed here: lazy expiry).  Any type is
 * visible: string commands answer WRONGTYPE when v->type is a collection
 * (db_is_collection); a counter reads as its text (issue #14). */
int db_lookup(struct node *n, const void *key, size_t klen,
              struct db_value *v);

/* 1 for a set, hash, sorted set or list: a type string commands refuse. */
int db_is_collection(int type);

/* ---- typed values (issue #14, docs/TYPES.md) ------------------------------
 *
 * A handler of a typed command reads the key's state with
 * db_typed_lookup, reserves its op's dots with db_typed_dots, applies the
 * op with the crdt library, and stores the new state with db_typed_write.
 * In a cluster the coordinator has merged the replicas' copies into the
 * local one before the handler runs, and replicates what it wrote. */
#define DB_WRONGTYPE (-200)
#define DB_ETOOBIG (-201) /* the state would encode to more than
                           * proto-max-bulk-len */
struct db_typed {
    const uint8_t *state;  /* the type's encoding; borrowed until the next
                            * write to the key */
    size_t len;
    int64_t expire_ms;     /* 0 = none; pass it back to keep the TTL */
};
/* 1: key holds a non-empty value of type (out filled); 0: absent, expired,
 * or an empty state; DB_WRONGTYPE: it holds another type (a string or a
 * counter is another type for a collection). */
int db_typed_lookup(struct node *n, const void *key, size_t klen, int type,
                    struct db_typed *out);
/* The dot of this node's latest counter op on key (an increment or a
 * reset of its counter, HINCRBY*, ZINCRBY), 0 when the typed state cache
 * does not know it (a restart, an eviction, the cache off), and in *run
 * the actor that op kept its sums under (0: the node's own);
 * db_counter_op records both once the op's state is stored.  What a
 * counter op needs to know whether the state holds the node's latest
 * increment (docs/TYPES.md 5.1, "Runs"). */
uint64_t db_counter_last(struct node *n, const void *key, size_t klen,
                         uint64_t *run);
void db_counter_op(struct node *n, const void *key, size_t klen,
                   uint64_t seq, uint64_t run);
/* The actor a hash's or sorted set's increment keeps its sums under
 * (crdt_hash_inc_actor): run, the one the node's latest increment used,
 * when that op is known (last) and the state's context holds its dot
 * (seen); a new one, of this node alone, when the state lacks it (the
 * node dropped its copy, or read an older one); first is the op's dot. */
uint64_t db_inc_run(struct node *n, uint64_t last, uint64_t run, int seen,
                    const struct crdt_dot *first);
/* Reserves ndots >= 1 consecutive dots for one op on key: first->actor,
 * counters first->counter .. first->counter + ndots - 1, never issued
 * before by this node; *ts_ms the op's wall time. */
void db_typed_dots(struct node *n, const void *key, size_t klen,
                   uint32_t ndots, struct crdt_dot *first, uint64_t *ts_ms);
/* Stores state (type's canonical encoding) as key's version of type,
 * written by the op that used the dots of db_typed_dots: it supersedes
 * every version the local object holds.  A state of type the local object
 * holds but the op could not read (an empty one, or one a newer string
 * hides) is joined in first, so its context is not forgotten.  A state
 * that reads as empty makes the key absent and keeps its context.  On a
 * node alone the state is compacted (every dot is stable there).  0, or
 * db_write's errors (db_reply_write_error words them); DB_ETOOBIG when
 * the encoding passes proto-max-bulk-len; a decoder's error for bytes
 * that are not a state of type. */
int db_typed_write(struct node *n, const void *key, size_t klen, int type,
                   const void *state, size_t len, const struct crdt_dot *first,
                   uint32_t ndots, uint64_t ts_ms, int64_t expire_ms);
/*
 * The same write with the state decoded: state (of type) is taken, so the
 * caller neither frees nor uses it afterwards.  It is encoded here, once,
 * and kept decoded beside the store (server/tcache.h), so that the key's
 * next write finds it with db_typed_take instead of decoding it again.
 * DB_ETOOBIG when the encoding passes proto-max-bulk-len; else as
 * db_typed_write.
 */
int db_typed_write_state(struct node *n, const void *key, size_t klen,
                         int type, void *state, const struct crdt_dot *first,
                         uint32_t ndots, uint64_t ts_ms, int64_t expire_ms);
/* The decoded state of t, which db_typed_lookup just gave for key and
 * type, when the node kept it from its last write (typed-cache-size); NULL
 * when not (decode t->state then).  The caller owns it: it frees it, or
 * hands it to db_typed_write_state. */
void *db_typed_take(struct node *n, const void *key, size_t klen, int type,
                    const struct db_typed *t);
/*
 * The state an op that writes key starts from, in *state: 1 (a value of
 * type), 0 (absent, expired or empty; *state NULL), DB_WRONGTYPE, or a
 * decoder's error.  *expire_ms: the key's expiry.  reserve: at least the
 * bytes the op may add to the state's encoding (its arguments, plus 64
 * per argument), for an op that changes the state only when it succeeds
 * (all or nothing); 0 for any other (its state is never the node's
 * deferred one).  The caller changes the state and hands it to
 * db_typed_write_state, or frees it: a state the node keeps for a
 * deferred write (db.c, "Deferred encoding") stays the node's, and is
 * pinned so that freeing it does nothing; db_typed_end calls after the
 * command end what it lent.
 */
int db_typed_take_write(struct node *n, const void *key, size_t klen,
                        int type, void **state, int64_t *expire_ms,
                        uint64_t reserve);
/* For a command that only reads key: 1 and *state when the node keeps
 * the key's value decoded (its deferred state, or one it checked is the
 * store's), lent until the command ends: the caller reads it and frees
 * it (which does nothing), and changes nothing.  0: not kept (decode the
 * bytes, db_typed_lookup); DB_WRONGTYPE: the key holds a deferred value
 * of another type.  *expire_ms: the value's expiry. */
int db_typed_borrow(struct node *n, const void *key, size_t klen, int type,
                    void **state, int64_t *expire_ms);
/* The type of key's value when it is a deferred typed write (db.c,
 * "Deferred encoding": visible, not expiring), or -1 (look the key up):
 * for EXISTS and TYPE, which need no bytes. */
int db_deferred_type(struct node *n, const void *key, size_t klen);
/* A state db_typed_take_write lent that the command did not change and
 * will not write: it stays the key's (else the end drops it, since an op
 * may have changed it). */
void db_typed_unchanged(struct node *n, const void *key, size_t klen);
/* The end of a command: what db_typed_take_write lent goes back. */
void db_typed_end(struct node *n);
/* The node's cache of decoded states, made with seed, its deferred
 * writes wired to n's store (main.c at start; db.c when it needs one). */
struct tcache *db_tcache_new(struct node *n, uint64_t seed);

/* The startup replay of the typed-op journal (server/replay.c): 1 when
 * key's stored object already holds the op whose first dot is (actor,
 * counter) -- its clock has the dot -- or the key is absent (it held a
 * value when the op was journaled, so it was deleted since): the op is
 * skipped.  0: run it again. */
int db_journal_held(struct node *n, const void *key, size_t klen,
                    uint64_t actor, uint64_t counter);

/* 1 when this node holds the only copy of every key (no cluster): an op
 * may fold its effect into plain values, as Redis computes them. */
int db_typed_alone(struct node *n);
/* The node's bounds on typed values. */
const struct crdt_limits *db_crdt_limits(struct node *n);

/* Visibility: the versions that are values whose expiry has passed are
 * gone; among the rest, the highest (ts, actor, counter) wins, and the key
 * is visible when that winner is a value (filled into *out, may be NULL).
 * So an expired version never takes a concurrent live sibling with it. */
int db_visible(const struct object *o, uint64_t now_ms, struct sibling *out);

/* The stored object (all siblings, tombstones included), after lazy expiry;
 * NULL if none. */
const struct object *db_object(struct node *n, const void *key, size_t klen);

struct db_write {
    const void *value;
    size_t vlen;
    int tombstone;
    int64_t expire_ms;          /* 0 = none */
    const struct vclock *ctx;   /* NULL: supersede every local version */
};
/* Writes a new version.  Returns 0, or (nothing is changed then)
 * DYN_ELIMIT when the result would exceed max-siblings, DYN_EINVAL when
 * w->ctx claims writes of this node above its high-water mark, DYN_EPROTO
 * when a sibling that stays claims the node's next dot (db.c's essay). */
int db_write(struct node *n, const void *key, size_t klen,
             const struct db_write *w);

/* Stores obj (taken) as key's whole object, replacing what is there: for
 * replica merges, read repair, handoff -- anything that writes an object
 * it built itself.  Goes through the engine, so it is logged (and with
 * appendfsync always, fsynced) before it returns.  Code outside db.c must
 * use this rather than store_put_take, which a disk store refuses.
 * 0, or the engine's DYN_EAGAIN / DYN_EIO / DYN_ERANGE (nothing stored;
 * db_error_text words it). */
int db_store_take(struct node *n, const void *key, size_t klen,
                  struct object *obj);
/* db_store_take of the object an edit (cluster/delta.h) made from key's
 * copy: on disk the engine may journal the edit instead of the object
 * (engine_put_edit). */
int db_store_edit(struct node *n, const void *key, size_t klen,
                  struct object *obj, const void *delta, size_t dlen);

/* Merges an object received from another node (a replica write, read
 * repair, a hint, a streamed partition) into the local copy by the
 * clocks, through db_store_take so that a disk node logs it.  own is NULL
 * or remote itself, which is then consumed.  1: the local copy changed,
 * 0: it already held everything, <0: the store refused the write. */
int db_merge_object(struct node *n, const void *key, size_t klen,
                    const struct object *remote, struct object *own);
/* Parses object bytes from another node with this node's limits.  0, or
 * object_from_bytes's error (bad or oversized bytes). */
int db_parse_object(struct node *n, const void *bytes, size_t len,
                    struct object **out);
/* The same for the result of a delta (cluster/delta.h), made in place
 * (object_raw; raw becomes *out, or is freed on error): the bytes are,
 * digest for digest, an object the sending coordinator holds, which it
 * encoded itself or checked whole when it received it; so every check
 * but the decoding of typed values again (their type must be known). */
int db_parse_raw_checked(struct node *n, struct object *raw,
                         struct object **out);

/* What a node answers for an object db_parse_object refused with
 * DYN_EFORMAT (a format or value type a newer node wrote). */
#define DB_EFORMAT_TEXT \
    "ERR object format 2 (typed values) or a value type this node does " \
    "not know: upgrade this node; nothing was stored"

/* db_parse_object then db_merge_object: 1, 0, DYN_EINVAL for bad bytes
 * (DYN_EFORMAT: a newer node's format or type),
 * or the store's error. */
int db_merge_bytes(struct node *n, const void *key, size_t klen,
                   const void *bytes, size_t len);

/* Number of visible keys (DBSIZE). */
size_t db_size(struct node *n);
/* Physical removal of the local copy, no tombstone (a copy this node no
 * longer replicates: a stand-in's after hint delivery, a partition handed
 * off).  0, DYN_ENOTFOUND, or the engine's error (the key stays). */
int db_drop(struct node *n, const void *key, size_t klen);
/* FLUSHALL / FLUSHDB.  0, or the engine's error (nothing was flushed). */
int db_flush(struct node *n);
/* The reply text (no leading '-') for an error from db_write/db_flush
 * other than DYN_ELIMIT's max-siblings case: the engine's "MISCONF ..." /
 * "ERR disk full ..." wording, else "ERR write failed". */
const char *db_error_text(struct node *n, int rc);
/* The error reply for db_write's rc, the same for every command that
 * writes: max-siblings' figure for DYN_ELIMIT; with the client's context
 * ctx (NULL for a plain write), the claimed and issued counters for
 * DYN_EINVAL; db_error_text otherwise. */
void db_reply_write_error(struct node *n, struct dbuf *out, int rc,
                          const struct vclock *ctx);

/* Compacts every typed value of partition part (docs/TYPES.md 6.3): the
 * dots each state has seen become stable, so a set's members keep a one
 * byte mark instead of their dots.  Only when every replica holds exactly
 * this content (anti-entropy found every root equal to ours, unchanged
 * through its round), which is the compaction's precondition.  Counts
 * INFO typed_compactions. */
void db_compact_typed(struct node *n, uint32_t part);
/* 1 when o's newest version is younger than twice request-timeout-ms:
 * the write path may still be delivering it, so anti-entropy and
 * compaction leave it for now.  o NULL: 0. */
int db_key_hot(struct node *n, const struct object *o);

/* Active expiry and tombstone reaping, a slice per call (from the cron):
 * samples keys with an expiry, removes the expired ones, repeats while more
 * than 25% of a sample was expired and the time budget allows. */
void db_active_expire(struct node *n, uint64_t budget_us);
void db_reap_tombstones(struct node *n, uint64_t budget_us);
/* An all-tombstone object of partition part may be reaped: past
 * tombstone-grace-s and, in a cluster, confirmed on every replica by
 * anti-entropy.  o NULL: 0. */
int db_tombstone_reapable(struct node *n, uint32_t part,
                          const struct object *o, uint64_t now_ms);

#endif
