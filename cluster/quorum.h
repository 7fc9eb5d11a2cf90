/*
 * quorum.h -- one quorum request's bookkeeping (pure).
 *
 * The coordinator asks the replicas of a key (its own local answer counts as
 * one of them) and needs `need` successes: R for a read, W for a write.
 *
 *   quorum_init ──> quorum_reply(...) per answer ──> QUORUM_MET    reply to client
 *                        │                       └─> QUORUM_FAILED -NOQUORUM
 *                        └── quorum_timeout() ─────> QUORUM_FAILED (if not met)
 *
 * The outcome is decided once: the first time `need` successes are counted
 * (MET), or the first time success has become impossible (FAILED: too many
 * failures, or the deadline).  Answers after that are still recorded and
 * counted as late, so a read can repair every replica that answered, and the
 * stats can show late acks.
 *
 * For reads, each successful answer carries the replica's object (or none);
 * quorum_merged() reconciles them and quorum_stale() lists the replicas whose
 * answer lacks something the merge has: the read repair targets.
 *
 * Thread-safety: none.  Ownership: replies given to quorum_reply are taken.
 */
#ifndef DYN_QUORUM_H
#define DYN_QUORUM_H

#include <stddef.h>
#include <stdint.h>
#include "cluster/object.h"

#define QUORUM_MAX 16

enum quorum_state {
    QUORUM_PENDING = 0,
    QUORUM_MET = 1,
    QUORUM_FAILED = 2,
};

enum quorum_answer {
    QA_WAITING = 0,
    QA_OK = 1,
    QA_FAILED = 2,
};

struct quorum {
    uint32_t n;                     /* replicas asked */
    uint32_t need;                  /* successes required */
    uint32_t ok;
    uint32_t failed;
    uint32_t late;                  /* answers after the outcome */
    enum quorum_state state;
    uint16_t node[QUORUM_MAX];      /* who was asked (caller's ids) */
    uint8_t answer[QUORUM_MAX];     /* enum quorum_answer */
    struct object *obj[QUORUM_MAX]; /* read answers; NULL = not found */
};

/* need must be 1..n and n <= QUORUM_MAX (DYN_EINVAL otherwise). */
int quorum_init(struct quorum *q, const uint16_t *nodes, uint32_t n,
                uint32_t need);
void quorum_free(struct quorum *q);

/* Records node's answer: ok or failed, with its object for reads (taken,
 * may be NULL).  Returns the state after it; an answer from a node not
 * asked, or a second answer from one, changes nothing. *decided is set to 1
 * when this answer decided the outcome. */
enum quorum_state quorum_reply(struct quorum *q, uint16_t node, int ok,
                               struct object *obj, int *decided);
/* The index of node among those asked (node[], answer[], obj[]), or -1. */
int quorum_slot(const struct quorum *q, uint16_t node);
/* The deadline passed: FAILED unless already MET. */
enum quorum_state quorum_timeout(struct quorum *q, int *decided);

/* Reconciliation of every object answered so far (NULL if none). */
struct object *quorum_merged(const struct quorum *q);
/* Replicas that answered ok with an object that lacks part of merged (or
 * with none).  Fills out, returns how many. */
/* 1 when a replica's answer (NULL: it had nothing) lacks part of merged. */
int quorum_behind(const struct object *answer, const struct object *merged);
uint32_t quorum_stale(const struct quorum *q, const struct object *merged,
                      uint16_t *out, uint32_t max);

#endif
