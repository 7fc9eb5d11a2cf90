/*
 * quorum.c -- counting answers toward R or W; see quorum.h.  Invariants:
 * ok + failed <= n; state leaves PENDING at most once.
 */
#include "cluster/quorum.h"

#include <string.h>
#include "server/util.h"

int quorum_init(struct quorum *q, const uint16_t *nodes, uint32_t n,
                uint32_t need)
{
    memset(q, 0, sizeof(*q));
    if (n == 0 || n > QUORUM_MAX || need == 0 || need > n)
        return DYN_EINVAL;
    q->n = n;
    q->need = need;
    memcpy(q->node, nodes, n * sizeof(uint16_t));
    return 0;
}

void quorum_free(struct quorum *q)
{
    for (uint32_t i = 0; i < q->n; i++) {
        object_free(q->obj[i]);
        q->obj[i] = NULL;
    }
}

int quorum_slot(const struct quorum *q, uint16_t node)
{
    for (uint32_t i = 0; i < q->n; i++)
        if (q->node[i] == node)
            return (int)i;
    return -1;
}

enum quorum_state quorum_reply(struct quorum *q, uint16_t node, int ok,
                               struct object *obj, int *decided)
{
    int s = quorum_slot(q, node);
    if (decided)
        *decided = 0;
    if (s < 0 || q->answer[s] != QA_WAITING) {
        object_free(obj);
        return q->state;
    }
    q->answer[s] = ok ? QA_OK : QA_FAILED;
    if (ok) {
        q->ok++;
        q->obj[s] = obj;
    } else {
        q->failed++;
        object_free(obj);
    }
    if (q->state != QUORUM_PENDING) {
        q->late++;
        return q->state;
    }
    if (q->ok >= q->need)
        q->state = QUORUM_MET;
    else if (q->n - q->failed < q->need)
        q->state = QUORUM_FAILED;
    if (decided && q->state != QUORUM_PENDING)
        *decided = 1;
    return q->state;
}

enum quorum_state quorum_timeout(struct quorum *q, int *decided)
{
    if (decided)
        *decided = 0;
    if (q->state == QUORUM_PENDING) {
        q->state = QUORUM_FAILED;
        if (decided)
            *decided = 1;
    }
    return q->state;
}

struct object *quorum_merged(const struct quorum *q)
{
    struct object *m = NULL;
    for (uint32_t i = 0; i < q->n; i++) {
        if (q->answer[i] != QA_OK || !q->obj[i])
            continue;
        if (!m) {
            m = object_dup(q->obj[i]);
        } else {
            struct object *t = object_merge(m, q->obj[i], NULL);
            object_free(m);
            m = t;
        }
    }
    return m;
}

int quorum_behind(const struct object *answer, const struct object *merged)
{
    if (!answer)
        return 1;
    if (object_equal(answer, merged))
        return 0; /* the common case: no merge to build */
    int changed = 0;
    struct object *t = object_merge(answer, merged, &changed);
    object_free(t);
    return changed;
}

uint32_t quorum_stale(const struct quorum *q, const struct object *merged,
                      uint16_t *out, uint32_t max)
{
    uint32_t k = 0;
    if (!merged)
        return 0;
    for (uint32_t i = 0; i < q->n; i++)
        if (q->answer[i] == QA_OK && quorum_behind(q->obj[i], merged) &&
            k < max)
            out[k++] = q->node[i];
    return k;
}
