/*
 * crdt.h -- conflict-free replicated data types for typed values (pure).
 *
 * Issue #14 makes Redis's counters and sets merge by themselves.  This
 * header is the library those commands will be built on: the states, the
 * operations a coordinator applies, the join every replica uses to merge
 * two states, and the canonical encodings.  docs/TYPES.md gives the
 * semantics, the object format that will carry these values, and the
 * proofs' sketches.  The command handlers (server/cmd_*.c) use it.
 *
 * Dots.  Every update is named by a dot (actor, counter), the same actor
 * ids and counters as object.c's dotted version vectors: the coordinator
 * that applies an op hands in its actor and its next counter.  A state
 * refuses a dot it has already seen (CRDT_ESTALE), so a dot names one
 * event.
 *
 *   crdt_counter_*  a PN-counter with a base and observed reset
 *                   (crdt_counter.c): INCRBY/DECRBY/INCRBYFLOAT, SET and
 *                   DEL on a counter.
 *   crdt_set_*      an add-wins observed-remove set without tombstones
 *                   (ORSWOT, crdt_set.c), members are byte strings.
 *   crdt_zset_*     a sorted set (crdt_zset.c): add-wins members on a
 *                   crdt_set of entries, scores last-writer-wins registers
 *                   plus ZINCRBY counters with observed reset.
 *   crdt_list_*     a sequence on the ORSWOT (crdt_list.c): each element
 *                   is a member whose bytes start with a dense position
 *                   id, so member order is list order.
 *   crdt_hash_*     an observed-remove map of registers and counters,
 *                   on crdt_set (crdt_hash.c): the hash commands.
 *
 * Every state has one canonical encoding: equal states have equal bytes,
 * and decode(encode(s)) == s.  Decoders take untrusted bytes and check
 * every invariant and limit before they keep anything.
 *
 * Pure: no I/O, no clock, no randomness; time arrives as ts_ms.
 * Thread-safety: none; a state has one owner.
 * Errors: 0, a negative enum dyn_err (DYN_EINVAL malformed input,
 * DYN_ELIMIT a limit), or a negative enum crdt_err below; crdt_err_text()
 * gives the Redis 7.0 error text of the latter for the command layer.
 */
#ifndef DYN_CRDT_H
#define DYN_CRDT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/vclock.h"
#include "server/buf.h"

/* The first byte of each type's encoding: its tag and version.  The object
 * format (docs/TYPES.md) carries the same number per sibling. */
enum crdt_type {
    CRDT_TYPE_STRING = 0,  /* not a CRDT: a plain string sibling */
    CRDT_TYPE_COUNTER = 1,
    CRDT_TYPE_SET = 2,
    CRDT_TYPE_HASH = 3,
    CRDT_TYPE_ZSET = 4,
    CRDT_TYPE_LIST = 5,
};

/* Errors of the operations, after enum dyn_err's range. */
enum crdt_err {
    CRDT_ESTALE = -100,    /* the op's dot was already seen by the state */
    CRDT_ENOTINT = -101,   /* "value is not an integer or out of range" */
    CRDT_ENOTFLOAT = -102, /* "value is not a valid float" */
    CRDT_EOVERFLOW = -103, /* "increment or decrement would overflow" */
    CRDT_ENANINF = -104,   /* "increment would produce NaN or Infinity" */
    CRDT_ENANSCORE = -110, /* "resulting score is not a number (NaN)" */
};

/* The Redis error text (with its "ERR " prefix) of a crdt_err, or of
 * DYN_ELIMIT / DYN_EINVAL; NULL for anything else. */
const char *crdt_err_text(int err);

struct crdt_dot {
    uint64_t actor;
    uint64_t counter; /* >= 1 */
};

/* Bounds on a state; 0 means none.  Operations that would pass a bound
 * return DYN_ELIMIT and change nothing; decoders return DYN_ELIMIT. */
struct crdt_limits {
    uint32_t max_actors;      /* distinct actors a state names */
    uint32_t max_members;     /* set members */
    uint32_t max_member_len;  /* bytes of one member or of a counter's base */
    uint32_t max_dots;        /* dots of one member; ranges of the cloud */
};

/* ---- typed values as bytes (crdt.c) --------------------------------------
 *
 * What the object layer and db need of a value whose type is only known
 * at run time: the registry dispatches on the type number to the type's
 * own decode, join and encode.  Every function takes the type's canonical
 * encoding (untrusted bytes are checked: DYN_EINVAL, DYN_ELIMIT), and
 * writes a canonical encoding into out. */

/* 1 when this node knows the type number (and may store it). */
int crdt_type_known(int type);
/* Redis's TYPE name: "string" (a counter too), "set", "hash", "zset",
 * "list"; "none" for an unknown number. */
const char *crdt_type_name(int type);
/* Decodes and re-checks p (the canonical encoding of type); 0 or the
 * decoder's error.  empty (may be NULL): 1 when the state reads as absent
 * (crdt_empty_bytes, from the same decoding). */
int crdt_validate_bytes(int type, const uint8_t *p, size_t len,
                        const struct crdt_limits *lim, int *empty);
/* The join of two states of one type, into out; empty (may be NULL) as
 * crdt_validate_bytes's, of the join. */
int crdt_join_bytes(int type, const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen, const struct crdt_limits *lim,
                    struct dbuf *out, int *empty);
/* 1 when the state reads as absent (no member; a counter whose DEL won). */
int crdt_empty_bytes(int type, const uint8_t *p, size_t len);
/* Per actor, the highest dot the state has seen (its context, gaps
 * claimed).  0 or the decoder's error. */
int crdt_seen_bytes(int type, const uint8_t *p, size_t len, struct vclock *out);
/* Compaction with every dot the state has seen stable, the context kept
 * as it is (crdt_state_compact_stable without the fold: what a cluster's
 * replica does once every replica holds this state); a counter is
 * returned as is. */
int crdt_compact_all_bytes(int type, const uint8_t *p, size_t len,
                           struct dbuf *out);
/* The state with everything it holds observed away and nothing new: the
 * members, entries, elements go (a counter: crdt_counter_clear_observed),
 * the context stays.  No dot: it is a function of the state alone, above
 * it in the join's order, and clearing twice changes nothing.  A write of
 * another type that saw the whole state leaves this in its place
 * (object.c, docs/TYPES.md section 4), so what the write did not see
 * still wins a join with it.  (A hash's or sorted set's counters keep no
 * snapshot here: an increment of an actor it did not see later brings
 * back that actor's whole sum, as after a sorted set's DEL.) */
int crdt_clear_bytes(int type, const uint8_t *p, size_t len,
                     struct dbuf *out);
/* ---- decoded states (crdt.c) ---------------------------------------------
 *
 * The same operations on a decoded state (void *, the type's own struct)
 * for a caller that keeps states decoded between ops (server/tcache.h):
 * type must be known (crdt_type_known), s a state of that type. */
int crdt_state_decode(int type, const uint8_t *p, size_t len,
                      const struct crdt_limits *lim, void **out);
void crdt_state_encode(int type, const void *s, struct dbuf *out);
void crdt_state_free(int type, void *s); /* NULL: nothing */
int crdt_state_empty(int type, const void *s);
void *crdt_state_join(int type, const void *a, const void *b); /* new */
/* DEL as an observed remove: every member the state holds goes (a
 * counter: a reset to absent with dot); the context stays, so an add
 * this state has not seen still wins a later join. */
int crdt_state_clear(int type, void *s, const struct crdt_dot *dot,
                     uint64_t ts_ms, const struct crdt_limits *lim);
/* How many entries (members, fields' entries, elements) the state holds,
 * in O(1): a measure of its size between encodings.  A counter: 1. */
uint64_t crdt_state_entries(int type, const void *s);
/* The highest dot of actor the state has seen (its context's). */
uint64_t crdt_state_seen_top(int type, const void *s, uint64_t actor);
/* Pins (on = 1) or unpins a state, as crdt_set_pin: 1, or 0 for a type
 * whose states cannot be pinned (nothing done).  s NULL: only the answer. */
int crdt_state_pin(int type, void *s, int on);
/* crdt_set_claim on the state's context (a counter: nothing to do). */
int crdt_state_claim(int type, void *s, uint64_t actor, uint64_t lo,
                     uint64_t hi);
/* Compaction in place with every dot the state has seen stable: member
 * dots become marks, and with fold the context's gaps are taken as seen
 * (a node alone, which holds the only copy); 0 or DYN_EINVAL.
 * crdt_state_compact_all: with the fold. */
int crdt_state_compact_stable(int type, void *s, int fold);
int crdt_state_compact_all(int type, void *s);

/* A readable account of the state: one item per line (DYNAMO.LOCAL). */
int crdt_describe_bytes(int type, const uint8_t *p, size_t len,
                        struct dbuf *out);
/* The value as a client reads it, item by item, in the order a full read
 * replies (SMEMBERS, HGETALL's field then value, ZRANGE WITHSCORES's
 * member then score, LRANGE): emit is called per item, and returns
 * non-zero to stop; a counter emits its text once (nothing when absent).
 * 0 or the decoder's error.  crdt_state_items: the same of a decoded
 * state (0, or DYN_EINVAL for a type without one). */
typedef int (*crdt_emit_fn)(void *ctx, const uint8_t *p, size_t len);
int crdt_items_bytes(int type, const uint8_t *p, size_t len,
                     crdt_emit_fn emit, void *ctx);
int crdt_state_items(int type, const void *s, crdt_emit_fn emit, void *ctx);
/* A member or a value for a readable line: quoted, escaped, cut to 64. */
void crdt_describe_member(struct dbuf *out, const uint8_t *p, size_t len);

/* crdt_set_seen of an encoded set (CRDT_TYPE_SET first), reading only
 * the context at its head; 0 or DYN_EINVAL for a malformed head. */
int crdt_set_seen_encoded(const uint8_t *p, size_t len, struct vclock *out);

/* ---- the PN-counter ------------------------------------------------------ */

struct crdt_counter; /* opaque */

/* What a counter reads as. */
enum crdt_counter_kind {
    CRDT_COUNTER_ABSENT = 0, /* the key does not exist (a DEL won) */
    CRDT_COUNTER_BYTES,      /* a string that is not a number (its base) */
    CRDT_COUNTER_INT,        /* an integer: i */
    CRDT_COUNTER_FLOAT,      /* a long double: f */
    CRDT_COUNTER_BIG,        /* an integer beyond int64 (concurrent adds
                              * that no single replica could reach): text */
};

struct crdt_counter *crdt_counter_new(void);
void crdt_counter_free(struct crdt_counter *c);
struct crdt_counter *crdt_counter_dup(const struct crdt_counter *c);

/* A counter based on an observed string version: the value and the dot
 * and ts_ms of the version it came from (INCR on a string holding "5").
 * value NULL: the base is an absent key.  DYN_ELIMIT above
 * max_member_len. */
int crdt_counter_from_string(const void *value, size_t len,
                             const struct crdt_dot *dot, uint64_t ts_ms,
                             const struct crdt_limits *lim,
                             struct crdt_counter **out);

/* A string sibling concurrent with the counter (a SET that did not see
 * it, beside an INCR that did not see the SET) joins it as a base
 * candidate with the string's dot and time: value NULL for a deleted one.
 * The entries stay (a base is no increment); the bases' context takes
 * the dot, and a string it has seen (held, or taken by a reset) changes
 * nothing.  What reads and INCR do with a counter's string
 * siblings (object_counter_fold).  DYN_ELIMIT above the limits. */
int crdt_counter_add_string(struct crdt_counter *c, const void *value,
                            size_t len, const struct crdt_dot *dot,
                            uint64_t ts_ms, const struct crdt_limits *lim);

/* What the caller knows of actor's ops on this key: last is the dot of
 * its latest (0: not known).  When the state's run of actor does not end
 * there, the state lacks some of actor's increments (a node that dropped
 * its copy of the key and read another's), so actor's next op (INCRBY,
 * INCRBYFLOAT, reset) begins a run of its own that counts from zero
 * instead of continuing the one the state holds; a state without any run
 * of actor begins one anyway.  docs/TYPES.md section 5.1. */
void crdt_counter_own_last(struct crdt_counter *c, uint64_t actor,
                           uint64_t last);

/* INCRBY by (DECRBY: the caller negates, and refuses INT64_MIN with
 * "decrement would overflow" as Redis does).  *result: the new value.
 * CRDT_ENOTINT when the value is not an integer, CRDT_EOVERFLOW when the
 * result or the actor's own running sum would leave int64. */
int crdt_counter_incrby(struct crdt_counter *c, int64_t by,
                        const struct crdt_dot *dot,
                        const struct crdt_limits *lim, int64_t *result);

/* INCRBYFLOAT by.  *result: the new value.  CRDT_ENOTFLOAT,
 * CRDT_ENANINF. */
int crdt_counter_incrbyfloat(struct crdt_counter *c, long double by,
                             const struct crdt_dot *dot,
                             const struct crdt_limits *lim,
                             long double *result);

/* Observed reset: SET value (value NULL: DEL).  Every increment this state
 * has seen is cancelled; one it has not seen (a concurrent INCR) survives
 * the join and is added to the new base. */
int crdt_counter_reset(struct crdt_counter *c, const void *value, size_t len,
                       const struct crdt_dot *dot, uint64_t ts_ms,
                       const struct crdt_limits *lim);

/* The observed clear of a write of another type that saw the whole
 * state, without a dot of its own: every entry snapshotted, every base
 * gone; the result reads as absent and is above c in the join's order. */
void crdt_counter_clear_observed(struct crdt_counter *c);

/* The value.  For BYTES, bytes and len point into the state. */
struct crdt_counter_value {
    enum crdt_counter_kind kind;
    int64_t i;
    long double f;
    const uint8_t *bytes;
    size_t len;
};
void crdt_counter_value(const struct crdt_counter *c,
                        struct crdt_counter_value *out);
/* The value as GET would reply it; returns 0, or DYN_ENOTFOUND (absent). */
int crdt_counter_format(const struct crdt_counter *c, struct dbuf *out);

/* The least upper bound of a and b (a new state). */
struct crdt_counter *crdt_counter_join(const struct crdt_counter *a,
                                       const struct crdt_counter *b);
/* The counter's clock: per actor the last dot it has seen. */
void crdt_counter_clock(const struct crdt_counter *c, struct vclock *out);

void crdt_counter_describe(const struct crdt_counter *c, struct dbuf *out);
void crdt_counter_encode(const struct crdt_counter *c, struct dbuf *out);
int crdt_counter_decode(const uint8_t *p, size_t len,
                        const struct crdt_limits *lim,
                        struct crdt_counter **out);

/* Redis's long double text and parsing, shared with INCRBYFLOAT on plain
 * strings (cmd_string.c).  parse is string2ld: strtold over the whole
 * argument, no leading space, no NaN, no overflow to a useless value;
 * 0 or DYN_EINVAL.  format is ld2string's human form, %.17Lf without
 * trailing zeros ("-0" is "0"); the length, 0 when cap is too small.
 * CRDT_LD_CHARS is Redis's MAX_LONG_DOUBLE_CHARS. */
#define CRDT_LD_CHARS (5 * 1024)
int crdt_ld_parse(const void *p, size_t len, long double *out);
size_t crdt_ld_format(char *buf, size_t cap, long double v);

/* ---- the ORSWOT ---------------------------------------------------------- */

struct crdt_set; /* opaque */

struct crdt_set *crdt_set_new(void);
void crdt_set_free(struct crdt_set *s);
/* A pinned set is its owner's (server/tcache.h lends the states it keeps):
 * crdt_set_free does nothing to it until the owner unpins it. */
void crdt_set_pin(struct crdt_set *s, int on);
struct crdt_set *crdt_set_dup(const struct crdt_set *s);

/* SADD of one member: its observed dots are replaced by dot.  *added: 1
 * when it was not a member.  CRDT_ESTALE, DYN_ELIMIT. */
int crdt_set_add(struct crdt_set *s, const void *m, size_t len,
                 const struct crdt_dot *dot, const struct crdt_limits *lim,
                 int *added);
/* SREM of one member: forgets the member; its dots stay in the context,
 * so a join drops them wherever they are (no tombstone).  Returns 1 when
 * it was a member, else 0. */
int crdt_set_remove(struct crdt_set *s, const void *m, size_t len);

/* Removes the members at the indexes ix[0..k) (ascending; duplicates and
 * indexes past the end are ignored), as crdt_set_remove of each, in one
 * O(n) pass: a list's LTRIM or LREM.  Returns how many went. */
uint32_t crdt_set_remove_at(struct crdt_set *s, const uint32_t *ix,
                            uint32_t k);
/*
 * SADD of k members at once (SADD, SMOVE, the STORE forms): the i-th takes
 * the dot (first->actor, first->counter + i).  The result is what k
 * crdt_set_add calls in that order give, byte for byte (a member named
 * twice keeps the dot of its last naming), in O(n + k log k) instead of
 * O(k n).  All or nothing: CRDT_ESTALE when any of the k dots was seen,
 * DYN_ELIMIT when the members, a member's bytes, the actors or the cloud
 * would pass lim (then nothing changed, where single adds would have
 * stopped half way); DYN_EINVAL for a zero or overflowing counter.
 * *added: the members that were not members.
 */
int crdt_set_add_many(struct crdt_set *s, const void *const *m,
                      const size_t *lens, uint32_t k,
                      const struct crdt_dot *first,
                      const struct crdt_limits *lim, uint32_t *added);
/* SREM of k members at once, as k crdt_set_remove calls in O(k log n +
 * k log k + n).  Returns how many distinct members went. */
uint32_t crdt_set_remove_many(struct crdt_set *s, const void *const *m,
                              const size_t *lens, uint32_t k);
/* Removes every member, as crdt_set_remove of each (the context stays):
 * a STORE form's destination, observed before it is rewritten. */
void crdt_set_clear(struct crdt_set *s);

int crdt_set_contains(const struct crdt_set *s, const void *m, size_t len);
/* The index of the first member >= (p, len) in canonical order, or the
 * card when there is none. */
uint32_t crdt_set_lower_bound(const struct crdt_set *s, const void *p,
                              size_t len);
uint32_t crdt_set_card(const struct crdt_set *s);
/* The i-th member in canonical order (bytes, then length). */
void crdt_set_member(const struct crdt_set *s, uint32_t i,
                     const uint8_t **m, size_t *len);

/* The i-th member's dots (borrowed until the next change) and its
 * stable mark, for readable dumps. */
void crdt_set_member_dots(const struct crdt_set *s, uint32_t i,
                          const struct crdt_dot **dots, uint32_t *ndots,
                          int *mark);

/* The least upper bound of a and b (a new state).  With compacted
 * states, only under crdt_set_compact's precondition. */
struct crdt_set *crdt_set_join(const struct crdt_set *a,
                               const struct crdt_set *b);

/* The causal context's clock part: per actor, every dot up to the counter
 * has been seen (the dot cloud holds the rest). */
void crdt_set_clock(const struct crdt_set *s, struct vclock *out);
/* Number of dots kept: per member, and in the cloud (the metadata cost). */
uint64_t crdt_set_ndots(const struct crdt_set *s);
/* The cloud: the dots it holds, and the ranges it holds them in (its
 * size: the context keeps a run of one actor's dots as one range). */
uint64_t crdt_set_ncloud(const struct crdt_set *s);
uint32_t crdt_set_ncloud_ranges(const struct crdt_set *s);
/*
 * Adds actor's dots lo..hi to the context, as seen, without any member:
 * for dots the caller knows no op on this value carries (its node issued
 * them to other keys), so that the context keeps one range where it would
 * otherwise keep a gap per write (docs/TYPES.md, "Claims").  0, or
 * DYN_EINVAL for an empty range or a counter 0.
 */
int crdt_set_claim(struct crdt_set *s, uint64_t actor, uint64_t lo,
                   uint64_t hi);

/*
 * Folds what every replica has seen into the clock.  stable is a clock
 * such that (the caller's precondition) every dot of this key up to it has
 * been delivered to every state that will ever be joined with this one,
 * and all those states descend from one common state that holds them: in
 * the cluster, the N replicas answered equal digests for the key and no
 * hint for it is pending.  Then
 *   - the cloud's dots up to stable join the clock;
 *   - each member's dots up to stable are dropped, and the member keeps a
 *     one-bit mark "present since a stable add" instead.
 * Returns DYN_EINVAL (nothing changed) when stable is not within the
 * state's context: a state cannot be stable beyond what it has seen.
 */
int crdt_set_compact(struct crdt_set *s, const struct vclock *stable);
/* The same without folding the cloud: member dots up to stable become
 * marks, the context stays as it is, gaps and all.  What a cluster's
 * replica does (db_compact_typed): the join's mark rule then knows
 * exactly which states saw what the marks stand for (docs/TYPES.md 6.3);
 * the fold is for a node alone. */
int crdt_set_compact_marks(struct crdt_set *s, const struct vclock *stable);

/* Per actor the highest dot seen (clock and cloud). */
void crdt_set_seen(const struct crdt_set *s, struct vclock *out);
/* 1 when d is in the context (clock or cloud): exactly, gaps apart. */
int crdt_set_has_dot(const struct crdt_set *s, const struct crdt_dot *d);
void crdt_set_describe(const struct crdt_set *s, struct dbuf *out);
void crdt_set_encode(const struct crdt_set *s, struct dbuf *out);
int crdt_set_decode(const uint8_t *p, size_t len,
                    const struct crdt_limits *lim, struct crdt_set **out);

/* ---- the sorted set ------------------------------------------------------ */

struct crdt_zset; /* opaque */

struct crdt_zset *crdt_zset_new(void);
void crdt_zset_free(struct crdt_zset *z);
void crdt_zset_pin(struct crdt_zset *z, int on); /* as crdt_set_pin */
/* The entries of the ORSWOT underneath (O(1)). */
uint32_t crdt_zset_entries(const struct crdt_zset *z);
struct crdt_zset *crdt_zset_dup(const struct crdt_zset *z);

/*
 * ZADD member score: a register write with dot and ts_ms.  It observes
 * every entry of the member (its older registers and the ZINCRBY counters
 * it sees, whose sums it records as cancelled) and replaces them.
 * *added: 1 when it was not a member.  CRDT_ESTALE, DYN_ELIMIT (member
 * bytes, members, actors, dots); nothing changes on an error.  score must
 * not be NaN (DYN_EINVAL).
 */
int crdt_zset_add(struct crdt_zset *z, const void *m, size_t len, double score,
                  const struct crdt_dot *dot, uint64_t ts_ms,
                  const struct crdt_limits *lim, int *added);
/* As crdt_hash_inc_actor and crdt_hash_has_dot, for ZINCRBY (and ZADD
 * INCR) counters. */
void crdt_zset_inc_actor(struct crdt_zset *z, uint64_t actor);
int crdt_zset_has_dot(const struct crdt_zset *z, const struct crdt_dot *d);
/*
 * ZINCRBY member by.  fold = 1 on a node that holds the only copy (no
 * concurrent writer): the new score is written as a register, old + by
 * exactly as Redis computes it.  fold = 0: dot's actor's counter for the
 * member grows by `by`, so increments concurrent with anything survive.
 * *result: the score it reads as afterwards.  CRDT_ENANSCORE when the
 * result would be NaN (nothing changes), CRDT_ESTALE, DYN_ELIMIT.
 */
int crdt_zset_incrby(struct crdt_zset *z, const void *m, size_t len, double by,
                     const struct crdt_dot *dot, uint64_t ts_ms, int fold,
                     const struct crdt_limits *lim, double *result);
/*
 * ZREM member: every entry of the member goes.  With fold = 0, when the
 * member had ZINCRBY counters, one hidden entry (with dot) keeps what they
 * had summed, so a concurrent ZINCRBY that survives the remove adds only
 * its own increment.  Returns 1 when it was a member, 0 when not, or an
 * error (CRDT_ESTALE, DYN_ELIMIT; nothing changed).
 */
int crdt_zset_remove(struct crdt_zset *z, const void *m, size_t len,
                     const struct crdt_dot *dot, int fold,
                     const struct crdt_limits *lim);

/* Reads, on the view sorted by (score, member bytes; shorter first on a
 * common prefix), Redis's order.  Member pointers point into the state
 * until its next change. */
uint32_t crdt_zset_card(const struct crdt_zset *z);
/* 1 and *score when m is a member, else 0. */
int crdt_zset_score(const struct crdt_zset *z, const void *m, size_t len,
                    double *score);
/* The member at rank i < card. */
void crdt_zset_at(const struct crdt_zset *z, uint32_t i, const uint8_t **m,
                  size_t *len, double *score);
/* 1 and *rank when m is a member, else 0. */
int crdt_zset_rank(const struct crdt_zset *z, const void *m, size_t len,
                   uint32_t *rank);

/* The least upper bound of a and b (a new state): crdt_set_join of the
 * entries. */
struct crdt_zset *crdt_zset_join(const struct crdt_zset *a,
                                 const struct crdt_zset *b);
/* crdt_set_compact of the entries, under its precondition; also drops the
 * hidden entries of removed members (no concurrent ZINCRBY can remain). */
int crdt_zset_compact(struct crdt_zset *z, const struct vclock *stable);
int crdt_zset_compact_marks(struct crdt_zset *z, const struct vclock *stable);
/* crdt_set_claim on its entries' context. */
int crdt_zset_claim(struct crdt_zset *z, uint64_t actor, uint64_t lo,
                    uint64_t hi);
/* Entries kept (registers, counters, hidden): the metadata cost. */
uint32_t crdt_zset_nentries(const struct crdt_zset *z);
/* Per actor the highest dot seen (crdt_set_seen of the entries). */
void crdt_zset_seen(const struct crdt_zset *z, struct vclock *out);
/* DEL as an observed remove of every entry, without a dot: no hidden
 * entry stays, so a ZINCRBY concurrent with the DEL survives it with its
 * counter's whole sum (nothing acknowledged is lost; TYPES.md). */
void crdt_zset_clear(struct crdt_zset *z);

/* u8 CRDT_TYPE_ZSET, then crdt_set_encode of the entries. */
void crdt_zset_encode(const struct crdt_zset *z, struct dbuf *out);
/* Untrusted bytes; only the canonical encoding is accepted. */
int crdt_zset_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_zset **out);
/* Readable text, one line per member by rank with its entries, then the
 * hidden entries (DYNAMO.LOCAL). */
void crdt_zset_describe(const struct crdt_zset *z, struct dbuf *out);
/* ---- the list (a sequence on the ORSWOT) --------------------------------- */

struct crdt_list; /* opaque */

/* Bytes a position id may take (an element's bytes are its id, then its
 * value).  Only thousands of LINSERTs at one place come near it: the op
 * is then refused with DYN_ELIMIT. */
#define CRDT_LIST_MAX_ID 4096

struct crdt_list *crdt_list_new(void);
void crdt_list_free(struct crdt_list *l);
void crdt_list_pin(struct crdt_list *l, int on); /* as crdt_set_pin */
struct crdt_list *crdt_list_dup(const struct crdt_list *l);

uint32_t crdt_list_len(const struct crdt_list *l);
/* The value of element i (< len); v points into the state. */
void crdt_list_at(const struct crdt_list *l, uint32_t i, const uint8_t **v,
                  size_t *len);

/* Inserts v so that it becomes element i (0 <= i <= len): LPUSH is i = 0,
 * RPUSH i = len, LINSERT between two neighbours.  The element is named by
 * dot.  CRDT_ESTALE (a seen dot), DYN_ELIMIT (members, actors, cloud, the
 * value above max_member_len, or the id above CRDT_LIST_MAX_ID),
 * DYN_EINVAL (i > len, or two neighbours with one id: a corrupt state);
 * nothing changes on error. */
int crdt_list_insert(struct crdt_list *l, uint32_t i, const void *v,
                     size_t len, const struct crdt_dot *dot,
                     const struct crdt_limits *lim);
/* Inserts k values so that v[j] becomes element i + j: RPUSH k v... is
 * i = len; LPUSH k a b c is i = 0 with v = { c, b, a }.  The j-th takes
 * the dot (first->actor, first->counter + j).  The same state as k single
 * inserts in push order.  The members and value limits are checked first;
 * on any other error (actors, cloud, a seen dot) l may hold some of the
 * values: the caller discards it, as a handler does with a failed op. */
int crdt_list_insert_many(struct crdt_list *l, uint32_t i,
                          const void *const *v, const size_t *lens,
                          uint32_t k, const struct crdt_dot *first,
                          const struct crdt_limits *lim);
/* Removes element i (< len), leaving no tombstone. */
void crdt_list_remove(struct crdt_list *l, uint32_t i);
/* Removes the elements at ix[0..k) (ascending), in one pass. */
void crdt_list_remove_at(struct crdt_list *l, const uint32_t *ix, uint32_t k);
/* LSET: element i (< len) is removed and v takes its place (a new element
 * named by dot, between the old one's neighbours).  Errors as insert. */
int crdt_list_set(struct crdt_list *l, uint32_t i, const void *v, size_t len,
                  const struct crdt_dot *dot, const struct crdt_limits *lim);

/* The least upper bound of a and b (a new state); crdt_set_join's rules
 * for compacted states. */
struct crdt_list *crdt_list_join(const struct crdt_list *a,
                                 const struct crdt_list *b);
void crdt_list_clock(const struct crdt_list *l, struct vclock *out);
/* crdt_set_seen of the elements. */
void crdt_list_seen(const struct crdt_list *l, struct vclock *out);
/* crdt_set_compact of the elements (its precondition and errors). */
int crdt_list_compact(struct crdt_list *l, const struct vclock *stable);
int crdt_list_compact_marks(struct crdt_list *l, const struct vclock *stable);
/* crdt_set_claim on its entries' context. */
int crdt_list_claim(struct crdt_list *l, uint64_t actor, uint64_t lo,
                    uint64_t hi);

/* u8 CRDT_TYPE_LIST, then the elements' crdt_set encoding. */
void crdt_list_encode(const struct crdt_list *l, struct dbuf *out);
/* Untrusted bytes: the set's checks, then every element's id (its
 * grammar, see crdt_list.c) and its value against max_member_len. */
int crdt_list_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_list **out);
/* Readable text for DYNAMO.LOCAL: the clock, the cloud and element dot
 * counts, then one line per element in list order: its position id
 * (digits and dots, '.'-separated) and its value (crdt_describe_member). */
void crdt_list_describe(const struct crdt_list *l, struct dbuf *out);
/* ---- the hash ------------------------------------------------------------ */

/*
 * An observed-remove map of fields (crdt_hash.c, docs/TYPES.md "Hashes"):
 * a field is a last-writer-wins register (HSET), or a counter once
 * HINCRBY/HINCRBYFLOAT touched it; a reset (HSET, HDEL) cancels the
 * increments it saw and no other.  The state is a crdt_set of entries.
 *
 * Ops take dot, the first dot they may use: each entry an op adds uses
 * one, and *dot is advanced past those it used (HSET: at most 2, HDEL at
 * most 1, HINCRBY* 1).  An op that fails changes no field (a refused add
 * may leave its dot in the context).  fold = 1 (the caller is the key's
 * only replica): an increment stores Redis's exact result as a register.
 */
struct crdt_hash; /* opaque */

struct crdt_hash *crdt_hash_new(void);
void crdt_hash_free(struct crdt_hash *h);
void crdt_hash_pin(struct crdt_hash *h, int on); /* as crdt_set_pin */
/* The entries of the ORSWOT underneath (O(1)). */
uint32_t crdt_hash_entries(const struct crdt_hash *h);
struct crdt_hash *crdt_hash_dup(const struct crdt_hash *h);

/* HSET f v at wall time ts_ms.  *added (may be NULL): 1 when f was
 * absent.  DYN_ELIMIT: f or v longer than max_member_len, or a new field
 * beyond max_members. */
int crdt_hash_set(struct crdt_hash *h, const void *f, size_t flen,
                  const void *v, size_t vlen, uint64_t ts_ms,
                  struct crdt_dot *dot, const struct crdt_limits *lim,
                  int *added);
/* HDEL f.  *removed: 1 when f was present. */
int crdt_hash_del(struct crdt_hash *h, const void *f, size_t flen,
                  struct crdt_dot *dot, const struct crdt_limits *lim,
                  int *removed);
/* DEL of the whole hash, an observed remove with one dot: every entry
 * goes, and one key-wide reset keeps, per field that was incremented,
 * what the DEL saw (so a concurrent HINCRBY counts alone). */
int crdt_hash_clear(struct crdt_hash *h, const struct crdt_dot *dot,
                    const struct crdt_limits *lim);
/* The actor the next increments (HINCRBY, HINCRBYFLOAT) keep their
 * sums under: 0 (the default), the op's dot's; another, a run of the
 * node's increments of its own (docs/TYPES.md 5.1, "Runs": a node whose
 * state lacks its latest increment begins one).  Not part of the state.
 * crdt_hash_has_dot: 1 when the state's context holds d. */
void crdt_hash_inc_actor(struct crdt_hash *h, uint64_t actor);
int crdt_hash_has_dot(const struct crdt_hash *h, const struct crdt_dot *d);
/* HINCRBY f by.  *result: the new value.  CRDT_ENOTINT (the value is not
 * an integer), CRDT_EOVERFLOW (Redis's test, or the actor's own running
 * sum would leave int64). */
int crdt_hash_incrby(struct crdt_hash *h, const void *f, size_t flen,
                     int64_t by, int fold, uint64_t ts_ms,
                     struct crdt_dot *dot, const struct crdt_limits *lim,
                     int64_t *result);
/* HINCRBYFLOAT f by (by finite).  *result: the new value, which
 * crdt_ld_format prints as Redis replies it.  CRDT_ENOTFLOAT,
 * CRDT_ENANINF. */
int crdt_hash_incrbyfloat(struct crdt_hash *h, const void *f, size_t flen,
                          long double by, int fold, uint64_t ts_ms,
                          struct crdt_dot *dot, const struct crdt_limits *lim,
                          long double *result);

/* Reads go through a view built on first use after a change, hence the
 * non-const state; pointers stay valid until the next change. */
uint32_t crdt_hash_len(struct crdt_hash *h);
/* crdt_hash_len(h) == 0, without building the view: stops at the first
 * field that reads as present. */
int crdt_hash_empty(struct crdt_hash *h);
/* The i-th present field (i < len), in (length, bytes) order. */
void crdt_hash_field(struct crdt_hash *h, uint32_t i, const uint8_t **f,
                     size_t *flen);
void crdt_hash_value(struct crdt_hash *h, uint32_t i, const uint8_t **v,
                     size_t *vlen);
/* 1 and *i when f is present, else 0. */
int crdt_hash_find(struct crdt_hash *h, const void *f, size_t flen,
                   uint32_t *i);

struct crdt_hash *crdt_hash_join(const struct crdt_hash *a,
                                 const struct crdt_hash *b);
/* Per actor, the highest dot the state has seen (crdt_set_seen). */
void crdt_hash_seen(const struct crdt_hash *h, struct vclock *out);
/* crdt_set_compact's rule and precondition, on the entries. */
int crdt_hash_compact(struct crdt_hash *h, const struct vclock *stable);
int crdt_hash_compact_marks(struct crdt_hash *h, const struct vclock *stable);
/* crdt_set_claim on its entries' context. */
int crdt_hash_claim(struct crdt_hash *h, uint64_t actor, uint64_t lo,
                    uint64_t hi);
/* u8 CRDT_TYPE_HASH, then the entries' crdt_set encoding. */
void crdt_hash_encode(const struct crdt_hash *h, struct dbuf *out);
int crdt_hash_decode(const uint8_t *p, size_t len,
                     const struct crdt_limits *lim, struct crdt_hash **out);
/* Text: the context, then each field, its value and its entries with
 * their dots (DYNAMO.LOCAL). */
void crdt_hash_describe(const struct crdt_hash *h, struct dbuf *out);

#endif
