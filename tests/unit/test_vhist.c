/*
 * test_vhist.c -- the version history behind DYNAMO.VERSIONS: bound 0
 * records nothing; a key keeps its last `bound` versions, oldest first;
 * the least recently written key makes room for a new one; a version
 * names the versions it directly superseded -- the previous write, both
 * siblings of a resolved conflict, an event its writer saw that this node
 * never held -- and not their ancestors; previews are cut, long keys are
 * told apart by all their bytes.
 */
#include <check.h>
#include <string.h>
#include "cluster/object.h"
#include "cluster/vclock.h"
#include "cluster/vhist.h"

#define NOW 1700000000000ULL

/* One coordinator: its actor, its dot high-water mark, its history and
 * its local copy of the key. */
struct coord {
    uint64_t actor;
    uint64_t hw;
    struct vhist h;
    struct object *cur;
};

static void coord_init(struct coord *c, const char *name, uint32_t bound,
                       uint32_t keys)
{
    memset(c, 0, sizeof(*c));
    c->actor = actor_make(name, 1);
    vhist_init(&c->h, bound, keys);
}

static void coord_free(struct coord *c)
{
    object_free(c->cur);
    vhist_free(&c->h);
}

/* A write of value through c, as db_write does it: the new version on top
 * of the local copy, described, then recorded.  ctx NULL: the local
 * copy's clock (a plain SET).  Returns the new version's record. */
static const struct vhist_version *write_key(struct coord *c, const char *key,
                                             const char *value,
                                             const struct vclock *ctx,
                                             uint64_t now)
{
    struct vclock local;
    vclock_init(&local);
    if (!ctx && c->cur)
        object_clock(c->cur, &local);
    struct object_write w = {
        .value = value,
        .vlen = strlen(value),
        .tombstone = 0,
        .ctx = ctx ? ctx : &local,
        .actor = c->actor,
        .now_ms = now,
        .min_counter = c->hw + 1,
        .max_counter = c->hw + 1,
    };
    uint32_t pruned = 0;
    struct object *o = object_write(c->cur, &w, &pruned);
    ck_assert_ptr_nonnull(o);
    c->hw++;
    struct vhist_version v;
    int found = 0;
    for (uint32_t i = 0; i < object_nsiblings(o) && !found; i++) {
        struct sibling s;
        object_sibling(o, i, &s);
        if (s.actor == c->actor && s.counter == c->hw) {
            vhist_describe(&c->h, key, strlen(key), c->cur, o, i, &v);
            found = 1;
        }
    }
    ck_assert(found);
    object_free(c->cur);
    c->cur = o;
    vhist_add(&c->h, key, strlen(key), &v);
    vclock_free(&local);
    const struct vhist_version *out[1024];
    uint32_t n = vhist_list(&c->h, key, strlen(key), out, 1024);
    ck_assert_uint_ge(n, 1);
    return out[n - 1];
}

/* c's local copy now also holds what from holds (replication). */
static void replicate(struct coord *to, const struct coord *from)
{
    if (!to->cur) {
        to->cur = object_dup(from->cur);
        return;
    }
    int changed;
    struct object *m = object_merge(to->cur, from->cur, &changed);
    object_free(to->cur);
    to->cur = m;
}

static int has_dot(const struct vhist_version *v, uint64_t actor,
                   uint64_t counter)
{
    for (uint32_t i = 0; i < v->nsup; i++)
        if (v->sup[i].actor == actor && v->sup[i].counter == counter)
            return 1;
    return 0;
}

START_TEST(bound_zero_records_nothing)
{
    struct vhist h;
    vhist_init(&h, 0, 16);
    ck_assert(!vhist_on(&h));
    struct vhist_version v;
    memset(&v, 0, sizeof(v));
    vhist_add(&h, "k", 1, &v);
    const struct vhist_version *out[4];
    ck_assert_uint_eq(vhist_list(&h, "k", 1, out, 4), 0);
    ck_assert_uint_eq(h.recorded, 0);
    vhist_free(&h);
}
END_TEST

START_TEST(a_key_keeps_its_last_bound_versions_oldest_first)
{
    struct coord a;
    coord_init(&a, "n1", 3, 8);
    for (int i = 0; i < 5; i++) {
        char val[8] = {'v', (char)('1' + i), 0};
        write_key(&a, "k", val, NULL, NOW + (uint64_t)i);
    }
    const struct vhist_version *out[8];
    ck_assert_uint_eq(vhist_list(&a.h, "k", 1, out, 8), 3);
    ck_assert_uint_eq(out[0]->dot.counter, 3);
    ck_assert_uint_eq(out[2]->dot.counter, 5);
    ck_assert_uint_eq(out[0]->time_ms, NOW + 2);
    ck_assert_mem_eq(out[2]->value, "v5", 2);
    /* each supersedes the one before it, even once that one is gone */
    ck_assert_uint_eq(out[0]->nsup, 1);
    ck_assert_uint_eq(out[0]->sup[0].counter, 2);
    ck_assert_uint_eq(out[2]->sup[0].counter, 4);
    ck_assert_uint_eq(a.h.recorded, 5);
    /* asking for fewer gives the oldest ones */
    ck_assert_uint_eq(vhist_list(&a.h, "k", 1, out, 2), 2);
    ck_assert_uint_eq(out[1]->dot.counter, 4);
    ck_assert_uint_eq(vhist_list(&a.h, "other", 5, out, 8), 0);
    coord_free(&a);
}
END_TEST

START_TEST(a_long_history_names_only_the_previous_version)
{
    struct coord a;
    coord_init(&a, "n1", 40, 2);
    for (int i = 0; i < 30; i++) {
        const struct vhist_version *v =
            write_key(&a, "k", "v", NULL, NOW + (uint64_t)i);
        ck_assert_uint_eq(v->nsup, i ? 1 : 0);
        if (i)
            ck_assert_uint_eq(v->sup[0].counter, (uint64_t)i);
    }
    const struct vhist_version *out[40];
    ck_assert_uint_eq(vhist_list(&a.h, "k", 1, out, 40), 30);
    coord_free(&a);
}
END_TEST

START_TEST(the_least_recently_written_key_is_evicted)
{
    struct coord a;
    coord_init(&a, "n1", 4, 2);
    write_key(&a, "a", "1", NULL, NOW);
    object_free(a.cur);
    a.cur = NULL;
    write_key(&a, "b", "1", NULL, NOW + 1);
    object_free(a.cur);
    a.cur = NULL;
    write_key(&a, "a", "2", NULL, NOW + 2); /* a is now the most recent */
    object_free(a.cur);
    a.cur = NULL;
    struct vhist_version *ring_b = NULL;
    for (uint32_t i = 0; i < a.h.cap; i++)
        if (a.h.slot[i].klen == 1 && a.h.slot[i].key[0] == 'b')
            ring_b = a.h.slot[i].v;
    ck_assert_ptr_nonnull(ring_b);
    write_key(&a, "c", "1", NULL, NOW + 3);
    const struct vhist_version *out[4];
    ck_assert_uint_eq(vhist_list(&a.h, "b", 1, out, 4), 0);
    ck_assert_uint_eq(vhist_list(&a.h, "a", 1, out, 4), 2);
    ck_assert_uint_eq(vhist_list(&a.h, "c", 1, out, 4), 1);
    ck_assert_uint_eq(a.h.keys_evicted, 1);
    ck_assert_uint_eq(a.h.used, 2);
    /* c took b's slot and its ring: nothing new was allocated */
    ck_assert_ptr_eq(out[0], ring_b);
    coord_free(&a);
}
END_TEST

START_TEST(a_resolving_write_supersedes_both_siblings_not_their_ancestor)
{
    struct coord a, b;
    coord_init(&a, "n1", 16, 8);
    coord_init(&b, "n2", 16, 8);
    const struct vhist_version *v1 = write_key(&a, "k", "v1", NULL, NOW);
    ck_assert_uint_eq(v1->nsup, 0);
    replicate(&b, &a);
    struct vclock ctx1, ctx2;
    vclock_init(&ctx1);
    vclock_init(&ctx2);
    object_clock(a.cur, &ctx1); /* a client's GET */

    /* two writes with that same context, through two coordinators */
    const struct vhist_version *va = write_key(&a, "k", "x", &ctx1, NOW + 1);
    const struct vhist_version *vb = write_key(&b, "k", "y", &ctx1, NOW + 2);
    ck_assert_uint_eq(va->nsup, 1);
    ck_assert(has_dot(va, a.actor, 1));
    ck_assert_uint_eq(vb->nsup, 1);
    ck_assert(has_dot(vb, a.actor, 1));

    /* they meet: two siblings; a write with the merged context */
    replicate(&a, &b);
    ck_assert_uint_eq(object_nsiblings(a.cur), 2);
    object_clock(a.cur, &ctx2);
    const struct vhist_version *vr = write_key(&a, "k", "z", &ctx2, NOW + 3);
    ck_assert_uint_eq(object_nsiblings(a.cur), 1);
    ck_assert_uint_eq(vr->nsup, 2);
    ck_assert(has_dot(vr, a.actor, 2));
    ck_assert(has_dot(vr, b.actor, 1));
    ck_assert(!has_dot(vr, a.actor, 1)); /* an ancestor, not a parent */
    /* its clock is the context plus its own dot */
    ck_assert_uint_eq(vr->nclock, 2);
    ck_assert_uint_eq(vr->dot.actor, a.actor);
    ck_assert_uint_eq(vr->dot.counter, 3);

    vclock_free(&ctx1);
    vclock_free(&ctx2);
    coord_free(&a);
    coord_free(&b);
}
END_TEST

START_TEST(an_event_of_the_context_this_node_never_held_is_named)
{
    struct coord a, b;
    coord_init(&a, "n1", 16, 8);
    coord_init(&b, "n2", 16, 8);
    write_key(&a, "k", "v1", NULL, NOW);
    replicate(&b, &a);
    write_key(&a, "k", "v2", NULL, NOW + 1); /* b never gets it */
    struct vclock ctx;
    vclock_init(&ctx);
    object_clock(a.cur, &ctx); /* a client read it from a */
    const struct vhist_version *v = write_key(&b, "k", "v3", &ctx, NOW + 2);
    ck_assert(has_dot(v, a.actor, 2));
    /* b holds v1 and cannot know that v2 descends from it */
    ck_assert(has_dot(v, a.actor, 1));
    ck_assert_uint_eq(v->nsup, 2);
    /* and a blind write (empty context) supersedes nothing */
    struct vclock empty;
    vclock_init(&empty);
    const struct vhist_version *blind = write_key(&b, "k", "v4", &empty,
                                                  NOW + 3);
    ck_assert_uint_eq(blind->nsup, 0);
    ck_assert_uint_eq(object_nsiblings(b.cur), 2);
    vclock_free(&empty);
    vclock_free(&ctx);
    coord_free(&a);
    coord_free(&b);
}
END_TEST

START_TEST(previews_are_cut_and_deletes_are_marked)
{
    struct coord a;
    coord_init(&a, "n1", 4, 4);
    char big[101];
    memset(big, 'x', 100);
    big[100] = 0;
    const struct vhist_version *v = write_key(&a, "k", big, NULL, NOW);
    ck_assert_uint_eq(v->size, 100);
    ck_assert_uint_eq(v->vlen, VHIST_VALUE_MAX);
    ck_assert_uint_eq(v->tombstone, 0);

    struct vclock local;
    vclock_init(&local);
    object_clock(a.cur, &local);
    struct object_write w = {.tombstone = 1, .ctx = &local,
                             .actor = a.actor, .now_ms = NOW + 1,
                             .min_counter = a.hw + 1,
                             .max_counter = a.hw + 1};
    uint32_t pruned = 0;
    struct object *o = object_write(a.cur, &w, &pruned);
    struct vhist_version d;
    vhist_describe(&a.h, "k", 1, a.cur, o, 0, &d);
    ck_assert_uint_eq(d.tombstone, 1);
    ck_assert_uint_eq(d.size, 0);
    ck_assert_uint_eq(d.nsup, 1);
    ck_assert_uint_eq(d.sup[0].counter, 1);
    object_free(o);
    vclock_free(&local);
    coord_free(&a);
}
END_TEST

START_TEST(long_keys_are_told_apart_by_all_their_bytes)
{
    struct coord a;
    coord_init(&a, "n1", 4, 4);
    char k1[300], k2[300];
    memset(k1, 'k', sizeof(k1) - 1);
    k1[sizeof(k1) - 1] = 0;
    memcpy(k2, k1, sizeof(k2));
    k2[250] = 'z'; /* past VHIST_KEY_MAX */
    write_key(&a, k1, "1", NULL, NOW);
    object_free(a.cur);
    a.cur = NULL;
    write_key(&a, k2, "2", NULL, NOW + 1);
    const struct vhist_version *out[4];
    ck_assert_uint_eq(vhist_list(&a.h, k1, strlen(k1), out, 4), 1);
    ck_assert_mem_eq(out[0]->value, "1", 1);
    ck_assert_uint_eq(vhist_list(&a.h, k2, strlen(k2), out, 4), 1);
    ck_assert_mem_eq(out[0]->value, "2", 1);
    ck_assert_uint_eq(vhist_list(&a.h, k1, 200, out, 4), 0);
    coord_free(&a);
}
END_TEST

static Suite *vhist_suite(void)
{
    Suite *s = suite_create("vhist");
    TCase *tc = tcase_create("history");
    tcase_add_test(tc, bound_zero_records_nothing);
    tcase_add_test(tc, a_key_keeps_its_last_bound_versions_oldest_first);
    tcase_add_test(tc, a_long_history_names_only_the_previous_version);
    tcase_add_test(tc, the_least_recently_written_key_is_evicted);
    tcase_add_test(tc,
                   a_resolving_write_supersedes_both_siblings_not_their_ancestor);
    tcase_add_test(tc, an_event_of_the_context_this_node_never_held_is_named);
    tcase_add_test(tc, previews_are_cut_and_deletes_are_marked);
    tcase_add_test(tc, long_keys_are_told_apart_by_all_their_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(vhist_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
