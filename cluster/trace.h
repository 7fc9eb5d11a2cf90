/*
 * trace.h -- a bounded ring of request traces (pure; see trace.c).
 */
#ifndef DYN_TRACE_H
#define DYN_TRACE_H

#include <stddef.h>
#include <stdint.h>

#define TRACE_KEY_MAX 64      /* key bytes kept (the full length is kept) */
#define TRACE_NAME_MAX 64     /* a member's name, NUL-terminated */
#define TRACE_REPS 16         /* replicas per trace (QUORUM_MAX) */
#define TRACE_OUTCOME_MAX 96

/* What one replica did in one operation. */
enum trace_rep_flag {
    TR_OWNER = 1,       /* among the key's top N */
    TR_UP = 2,          /* reachable when the op began */
    TR_SELF = 4,        /* the coordinator itself */
    TR_READ_ASKED = 8,
    TR_READ_OK = 16,
    TR_READ_FAILED = 32,
    TR_WRITE_ASKED = 64,
    TR_WRITE_OK = 128,
    TR_WRITE_FAILED = 256,
    TR_STANDIN = 512,   /* stood in for `standin_for`, with a hint */
    TR_REPAIRED = 1024, /* a read repair was sent to it */
    TR_HINT_KEPT = 2048 /* a hint for it was kept (it missed the write) */
};

struct trace_rep {
    uint32_t member;                  /* the caller's id (member index) */
    char name[TRACE_NAME_MAX];
    char standin_for[TRACE_NAME_MAX]; /* owner it stood in for, or "" */
    uint32_t flags;                   /* enum trace_rep_flag */
    uint32_t status;                  /* the member's status when the op
                                       * began (enum member_status) */
    uint32_t read_us, write_us;       /* answer latency from the start */
    uint32_t siblings;                /* read answer: versions (0: none) */
    uint64_t digest;                  /* read answer: object digest */
};

struct trace {
    uint64_t id;                /* 1, 2, ...; 0: an empty slot */
    uint64_t wall_ms;           /* when the op began */
    uint64_t start_us;          /* monotonic, for the latencies */
    char op[16];                /* the command name */
    char key[TRACE_KEY_MAX];
    uint32_t klen;              /* full length; key holds the first bytes */
    char coordinator[TRACE_NAME_MAX];
    char forwarded_from[TRACE_NAME_MAX]; /* "" unless reached by FWD */
    uint32_t n, r, w;
    uint32_t read_quorum_us;    /* R reached, from the start (0: never) */
    uint32_t write_quorum_us;   /* W reached (0: never) */
    uint32_t done_us;           /* the reply, from the start */
    uint32_t nrep;
    struct trace_rep rep[TRACE_REPS];
    char outcome[TRACE_OUTCOME_MAX]; /* "ok" or the error's first words */
};

/* At most this many operations a second are traced (trace_admit): a
 * trace is a view for a person, and under load recording every operation
 * cost a 3-node cluster about 8% more CPU per GET at -P 16
 * (docs/BENCHMARKS.md), while the dashboard's stream forwards at most 64
 * traces a second per member anyway. */
#define TRACE_PER_SEC 1000

struct trace_ring {
    struct trace *slot;         /* cap slots, allocated once */
    uint32_t cap;               /* 0: tracing off */
    uint64_t next_id;           /* the last id given */
    uint64_t sec;               /* trace_admit's current second */
    uint32_t in_sec;            /* operations traced in it */
    uint64_t skipped;           /* operations left untraced by the cap */
};

/* Whether an operation starting at mono_us is traced: tracing is on and
 * fewer than TRACE_PER_SEC were traced in that second (else it counts
 * one skipped). */
int trace_admit(struct trace_ring *r, uint64_t mono_us);

/* Allocates cap slots (0: off, nothing allocated). */
void trace_ring_init(struct trace_ring *r, uint32_t cap);
void trace_ring_free(struct trace_ring *r);
/* The next slot, cleared and numbered, overwriting the oldest; NULL when
 * the ring is off. */
struct trace *trace_begin(struct trace_ring *r, uint64_t wall_ms,
                          uint64_t mono_us, const char *op, const char *key,
                          size_t klen);
/* The trace numbered id if its slot still holds it, else NULL (a ring
 * that wrapped while the op ran). */
struct trace *trace_get(struct trace_ring *r, uint64_t id);
/* The entry of replica `member` (the caller's id), added with its name
 * and flags 0 if new; NULL when full. */
struct trace_rep *trace_rep(struct trace *t, uint32_t member,
                            const char *name);
/* Microseconds from the trace's start to now_us (saturated, at least 1). */
uint32_t trace_elapsed(const struct trace *t, uint64_t now_us);
/* Records the outcome text (truncated). */
void trace_outcome(struct trace *t, const char *s, size_t len);
/* Up to max traces, newest first; with key != NULL only those of that key
 * (all its bytes must match).  Returns how many were stored in out. */
uint32_t trace_list(const struct trace_ring *r, const char *key, size_t klen,
                    const struct trace **out, uint32_t max);
/* Up to max finished traces with id > since, oldest first, for a reader
 * that follows the ring (the http API's event stream): it stops before
 * the first trace still pending (no outcome yet), so a reader that asks
 * again from the last id it got misses none; a trace pending for more
 * than stale_ms (an op whose end the ring never saw) no longer holds the
 * rest back and is listed as it is.  now_ms is the wall clock. */
uint32_t trace_since(const struct trace_ring *r, uint64_t since,
                     uint64_t now_ms, uint64_t stale_ms,
                     const struct trace **out, uint32_t max);

#endif
