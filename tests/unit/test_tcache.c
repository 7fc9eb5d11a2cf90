/*
 * test_tcache.c -- the cache of decoded typed states (server/tcache.h):
 * a take answers only for the exact encoding a state was cached with,
 * a stale entry goes, the bound evicts least recently used first, and
 * every state the cache drops is freed exactly once.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/tcache.h"
#include "server/util.h"

/* States are counted allocations: freed tells how many the cache freed. */
static int freed;
static int live;

static void *state_new(int tag)
{
    int *p = dyn_malloc(sizeof(*p));
    *p = tag;
    live++;
    return p;
}

static void state_free(int type, void *s)
{
    (void)type;
    freed++;
    live--;
    dyn_free(s);
}

static void reset_counts(void)
{
    freed = 0;
    live = 0;
}

static const uint8_t ENC_A[] = "encoding of a";
static const uint8_t ENC_B[] = "encoding of b";

START_TEST(take_answers_only_the_exact_encoding)
{
    reset_counts();
    struct tcache *c = tcache_new(42, state_free);
    tcache_put(c, "k", 1, 2, state_new(7), ENC_A, sizeof(ENC_A), 100, 1000);
    /* another key, another type, another encoding: no */
    ck_assert_ptr_null(tcache_take(c, "x", 1, 2, ENC_A, sizeof(ENC_A)));
    ck_assert_ptr_null(tcache_take(c, "k", 1, 3, ENC_A, sizeof(ENC_A)));
    ck_assert_int_eq(freed, 1); /* the type mismatch dropped the entry */
    tcache_put(c, "k", 1, 2, state_new(8), ENC_A, sizeof(ENC_A), 100, 1000);
    ck_assert_ptr_null(tcache_take(c, "k", 1, 2, ENC_B, sizeof(ENC_B)));
    ck_assert_ptr_null(tcache_take(c, "k", 1, 2, ENC_A, sizeof(ENC_A) - 1));
    ck_assert_int_eq(freed, 2);
    /* the exact bytes, even at another address: the state, once */
    tcache_put(c, "k", 1, 2, state_new(9), ENC_A, sizeof(ENC_A), 100, 1000);
    uint8_t copy[sizeof(ENC_A)];
    memcpy(copy, ENC_A, sizeof(copy));
    int *s = tcache_take(c, "k", 1, 2, copy, sizeof(copy));
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(*s, 9);
    ck_assert_ptr_null(tcache_take(c, "k", 1, 2, copy, sizeof(copy)));
    struct tcache_stats st;
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.hits, 1);
    ck_assert_uint_eq(st.entries, 0); /* no state kept; the key known */
    ck_assert_uint_eq(st.tracked, 1);
    ck_assert_uint_eq(st.bytes, tcache_entry_cost(1));
    state_free(2, s);
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(a_put_replaces_and_frees_the_old_state)
{
    reset_counts();
    struct tcache *c = tcache_new(3, state_free);
    tcache_put(c, "k", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 10, 1000);
    tcache_put(c, "k", 1, 2, state_new(2), ENC_B, sizeof(ENC_B), 20, 1000);
    ck_assert_int_eq(freed, 1);
    struct tcache_stats st;
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 1);
    ck_assert_uint_eq(st.bytes, 20 + tcache_entry_cost(1));
    int *s = tcache_take(c, "k", 1, 2, ENC_B, sizeof(ENC_B));
    ck_assert_int_eq(*s, 2);
    state_free(2, s);
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(the_bound_evicts_least_recently_used_first)
{
    reset_counts();
    struct tcache *c = tcache_new(4, state_free);
    char key[16];
    const uint64_t one = 100 + tcache_entry_cost(2), max = 10 * one;
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        tcache_put(c, key, strlen(key), 2, state_new(i), ENC_A,
                   sizeof(ENC_A), 100, max);
    }
    struct tcache_stats st;
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 10);
    ck_assert_uint_eq(st.bytes, max);
    /* k0 is used again (taken and put back): k1 is now the oldest */
    int *s = tcache_take(c, "k0", 2, 2, ENC_A, sizeof(ENC_A));
    ck_assert_ptr_nonnull(s);
    tcache_put(c, "k0", 2, 2, s, ENC_A, sizeof(ENC_A), 100, max);
    tcache_put(c, "kA", 2, 2, state_new(10), ENC_A, sizeof(ENC_A), 100, max);
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 10);
    ck_assert_uint_eq(st.bytes, max);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_ptr_null(tcache_take(c, "k1", 2, 2, ENC_A, sizeof(ENC_A)));
    s = tcache_take(c, "k0", 2, 2, ENC_A, sizeof(ENC_A));
    ck_assert_ptr_nonnull(s);
    state_free(2, s);
    /* a lower bound evicts down to it; a state larger than the bound is
     * not kept at all */
    tcache_shrink(c, 2 * one);
    tcache_stats(c, &st);
    ck_assert_uint_le(st.bytes, 2 * one);
    ck_assert_uint_le(st.entries, 2);
    tcache_put(c, "big", 3, 2, state_new(99), ENC_A, sizeof(ENC_A), 5000,
               max);
    ck_assert_ptr_null(tcache_take(c, "big", 3, 2, ENC_A, sizeof(ENC_A)));
    tcache_clear(c);
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.tracked, 0);
    ck_assert_uint_eq(st.bytes, 0);
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(issued_dots_outlive_takes_and_go_with_the_entry)
{
    reset_counts();
    struct tcache *c = tcache_new(6, state_free);
    uint64_t prev, last;
    ck_assert_int_eq(tcache_issued(c, "k", 1, &prev, &last), 0);
    tcache_issue(c, "k", 1, 10, 1u << 20);
    ck_assert_int_eq(tcache_issued(c, "k", 1, &prev, &last), 1);
    ck_assert_uint_eq(prev, 0);
    ck_assert_uint_eq(last, 10);
    tcache_put(c, "k", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 10,
               1u << 20);
    int *s = tcache_take(c, "k", 1, 2, ENC_A, sizeof(ENC_A));
    ck_assert_ptr_nonnull(s);
    state_free(2, s);
    tcache_issue(c, "k", 1, 15, 1u << 20);
    ck_assert_int_eq(tcache_issued(c, "k", 1, &prev, &last), 1);
    ck_assert_uint_eq(prev, 10);
    ck_assert_uint_eq(last, 15);
    /* evicted: nothing known, the next op claims nothing */
    tcache_shrink(c, 0);
    ck_assert_int_eq(tcache_issued(c, "k", 1, &prev, &last), 0);
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(many_keys_grow_the_table_and_all_are_found)
{
    reset_counts();
    struct tcache *c = tcache_new(5, state_free);
    char key[32];
    enum { K = 5000 };
    for (int i = 0; i < K; i++) {
        snprintf(key, sizeof(key), "key:%d", i);
        tcache_put(c, key, strlen(key), 2, state_new(i), (uint8_t *)key,
                   strlen(key), 1, UINT64_MAX);
    }
    for (int i = K - 1; i >= 0; i--) {
        snprintf(key, sizeof(key), "key:%d", i);
        int *s = tcache_take(c, key, strlen(key), 2, (uint8_t *)key,
                             strlen(key));
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(*s, i);
        state_free(2, s);
    }
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

/* ---- lending and deferred (pending) states ------------------------- */

/* The owner's side: pins counted per state, a flush that "encodes" the
 * key's pending state (settles it) unless told the store holds no such
 * key (an orphan). */
static int pins, flushes, flush_settles = 1, flush_keeps;

static void owner_pin(int type, void *s, int on)
{
    (void)type;
    (void)s;
    pins += on ? 1 : -1;
}

static int owner_flush(void *ctx, const void *key, size_t klen)
{
    struct tcache *c = ctx;
    flushes++;
    if (flush_settles)
        tcache_settle(c, key, klen, ENC_B, sizeof(ENC_B), 100);
    return flush_keeps;
}

static struct tcache *owned_cache(void)
{
    reset_counts();
    pins = flushes = flush_keeps = 0;
    flush_settles = 1;
    struct tcache *c = tcache_new(5, state_free);
    tcache_set_owner(c, owner_flush, owner_pin, c);
    return c;
}

START_TEST(a_lent_state_stays_until_its_command_ends)
{
    struct tcache *c = owned_cache();
    const uint64_t max = 1000;
    tcache_put(c, "k", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 100, max);
    ck_assert(tcache_current(c, "k", 1, 2, ENC_A, sizeof(ENC_A)));
    ck_assert(!tcache_current(c, "k", 1, 2, ENC_B, sizeof(ENC_B)));
    int type, pending;
    struct tcache_write *w;
    int *s = tcache_peek(c, "k", 1, &type, &pending, &w);
    ck_assert_int_eq(*s, 1);
    ck_assert_int_eq(pending, 0);
    tcache_lend(c, "k", 1, 0);
    ck_assert_int_eq(pins, 1);
    /* lent: a take misses, a shrink to nothing keeps it */
    ck_assert_ptr_null(tcache_take(c, "k", 1, 2, ENC_A, sizeof(ENC_A)));
    tcache_shrink(c, 0);
    ck_assert_ptr_eq(tcache_peek(c, "k", 1, &type, &pending, &w), s);
    /* a put of another state while lent: the lent one is freed only at
     * the end (the borrower may still read it), the new one is kept */
    tcache_put(c, "k", 1, 2, state_new(2), ENC_B, sizeof(ENC_B), 100, max);
    ck_assert_int_eq(freed, 0);
    ck_assert_int_eq(*s, 1);
    tcache_end_lends(c);
    ck_assert_int_eq(freed, 1);
    ck_assert_int_eq(pins, 0);
    /* lent and not written: dropped at the end (the op may have changed
     * it) */
    tcache_lend(c, "k", 1, 0);
    tcache_end_lends(c);
    ck_assert_int_eq(freed, 2);
    ck_assert_ptr_null(tcache_peek(c, "k", 1, &type, &pending, &w));
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(a_pending_state_is_flushed_before_it_goes)
{
    struct tcache *c = owned_cache();
    const uint64_t max = 1000;
    tcache_put(c, "p", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 100, max);
    tcache_lend(c, "p", 1, 1); /* written, not encoded: pending */
    int type, pending;
    struct tcache_write *w;
    ck_assert_ptr_nonnull(tcache_peek(c, "p", 1, &type, &pending, &w));
    ck_assert_int_eq(pending, 1);
    w->dot = 77; /* the owner's record stays with the entry */
    tcache_end_lends(c);
    ck_assert_int_eq(freed, 0); /* pending: kept, still pinned */
    ck_assert_int_eq(pins, 1);
    ck_assert(!tcache_current(c, "p", 1, 2, ENC_A, sizeof(ENC_A)));
    ck_assert_ptr_null(tcache_take(c, "p", 1, 2, ENC_A, sizeof(ENC_A)));
    ck_assert_ptr_nonnull(tcache_peek(c, "p", 1, &type, &pending, &w));
    ck_assert_uint_eq(w->dot, 77);
    /* evicted: flushed (settled, unpinned) first, then freed */
    tcache_shrink(c, 0);
    ck_assert_int_eq(flushes, 1);
    ck_assert_int_eq(pins, 0);
    ck_assert_int_eq(freed, 1);
    /* a clear flushes too; an orphan (the flush settles nothing) goes */
    tcache_put(c, "q", 1, 2, state_new(2), ENC_A, sizeof(ENC_A), 100, max);
    tcache_lend(c, "q", 1, 1);
    tcache_end_lends(c);
    flush_settles = 0;
    tcache_clear(c);
    ck_assert_int_eq(flushes, 2);
    ck_assert_int_eq(freed, 2);
    /* settled by its own flush: a normal entry the store's bytes match */
    flush_settles = 1;
    tcache_put(c, "r", 1, 2, state_new(3), ENC_A, sizeof(ENC_A), 100, max);
    tcache_lend(c, "r", 1, 1);
    tcache_end_lends(c);
    (void)owner_flush(c, "r", 1);
    ck_assert(tcache_current(c, "r", 1, 2, ENC_B, sizeof(ENC_B)));
    int *s = tcache_peek(c, "r", 1, &type, &pending, &w);
    ck_assert_int_eq(*s, 3);
    ck_assert_int_eq(pending, 0);
    ck_assert_int_eq(pins, 0);
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

/* The owner could not encode a pending state and still needs it (a full
 * disk refused its record while the journal holds its writes): neither an
 * eviction nor a clear frees it; once a flush settles it, it goes. */
START_TEST(a_state_its_owner_still_needs_stays)
{
    struct tcache *c = owned_cache();
    const uint64_t max = 1000;
    tcache_put(c, "p", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 100, max);
    tcache_lend(c, "p", 1, 1);
    tcache_end_lends(c);
    flush_settles = 0;
    flush_keeps = 1;
    tcache_shrink(c, 0);
    tcache_clear(c);
    ck_assert_int_eq(flushes, 2);
    ck_assert_int_eq(freed, 0);
    int type, pending;
    struct tcache_write *w;
    int *s = tcache_peek(c, "p", 1, &type, &pending, &w);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(*s, 1);
    ck_assert_int_eq(pending, 1);
    ck_assert_int_eq(pins, 1);
    /* room again: the next eviction settles it, and it goes */
    flush_settles = 1;
    flush_keeps = 0;
    tcache_shrink(c, 0);
    ck_assert_int_eq(freed, 1);
    ck_assert_int_eq(pins, 0);
    ck_assert_ptr_null(tcache_peek(c, "p", 1, &type, &pending, &w));
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

START_TEST(a_lent_state_written_as_it_is_stays_as_the_stores)
{
    struct tcache *c = owned_cache();
    int *s = state_new(4);
    tcache_put(c, "w", 1, 2, s, ENC_A, sizeof(ENC_A), 100, 1000);
    tcache_lend(c, "w", 1, 0);
    /* the owner encoded the lent state itself and puts it back */
    tcache_put(c, "w", 1, 2, s, ENC_B, sizeof(ENC_B), 120, 1000);
    tcache_end_lends(c);
    ck_assert_int_eq(freed, 0);
    ck_assert_int_eq(pins, 0);
    ck_assert(tcache_current(c, "w", 1, 2, ENC_B, sizeof(ENC_B)));
    struct tcache_stats st;
    tcache_stats(c, &st);
    ck_assert_uint_eq(st.bytes, 120 + tcache_entry_cost(1));
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

/* A stamp names the store's copy a state was settled to: it answers only
 * for that stamp, that type and a state that is not pending, and anything
 * that changes the state clears it. */
START_TEST(a_stamp_answers_until_the_state_changes)
{
    struct tcache *c = owned_cache();
    uint64_t len = 0;
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 5, &len)); /* nothing */
    tcache_put(c, "s", 1, 2, state_new(1), ENC_A, sizeof(ENC_A), 100, 1000);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 5, &len)); /* none yet */
    tcache_stamp(c, "s", 1, 5);
    ck_assert(tcache_current_stamp(c, "s", 1, 2, 5, &len));
    ck_assert_uint_eq(len, sizeof(ENC_A));
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 6, &len)); /* another copy */
    ck_assert(!tcache_current_stamp(c, "s", 1, 3, 5, &len)); /* another type */
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 0, &len));
    /* written and deferred: pending, so not the store's copy */
    tcache_lend(c, "s", 1, 1);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 5, &len));
    tcache_stamp(c, "s", 1, 9); /* a pending state takes no stamp */
    tcache_end_lends(c);
    /* settled again: a new encoding, no stamp until the owner gives one */
    tcache_settle(c, "s", 1, ENC_B, sizeof(ENC_B), 120);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 5, &len));
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 9, &len));
    tcache_stamp(c, "s", 1, 7);
    ck_assert(tcache_current_stamp(c, "s", 1, 2, 7, &len));
    ck_assert_uint_eq(len, sizeof(ENC_B));
    /* a put of another state, a take or a drop clear it */
    tcache_put(c, "s", 1, 2, state_new(2), ENC_A, sizeof(ENC_A), 100, 1000);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 7, &len));
    tcache_stamp(c, "s", 1, 8);
    /* a take by stamp: only that stamp and type, and nothing changes
     * when it misses */
    ck_assert_ptr_null(tcache_take_stamped(c, "s", 1, 2, 9));
    ck_assert_ptr_null(tcache_take_stamped(c, "s", 1, 3, 8));
    ck_assert(tcache_current_stamp(c, "s", 1, 2, 8, &len));
    int *t = tcache_take_stamped(c, "s", 1, 2, 8);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(*t, 2);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 8, &len));
    ck_assert_ptr_null(tcache_take_stamped(c, "s", 1, 2, 8));
    tcache_put(c, "s", 1, 2, t, ENC_A, sizeof(ENC_A), 100, 1000);
    tcache_stamp(c, "s", 1, 8);
    t = tcache_take(c, "s", 1, 2, ENC_A, sizeof(ENC_A));
    ck_assert_ptr_nonnull(t);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 8, &len));
    tcache_put(c, "s", 1, 2, t, ENC_A, sizeof(ENC_A), 100, 1000);
    tcache_stamp(c, "s", 1, 10);
    tcache_drop(c, "s", 1);
    ck_assert(!tcache_current_stamp(c, "s", 1, 2, 10, &len));
    tcache_free(c);
    ck_assert_int_eq(live, 0);
}
END_TEST

static Suite *tcache_suite(void)
{
    Suite *su = suite_create("tcache");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, take_answers_only_the_exact_encoding);
    tcase_add_test(tc, a_put_replaces_and_frees_the_old_state);
    tcase_add_test(tc, the_bound_evicts_least_recently_used_first);
    tcase_add_test(tc, many_keys_grow_the_table_and_all_are_found);
    tcase_add_test(tc, issued_dots_outlive_takes_and_go_with_the_entry);
    tcase_add_test(tc, a_lent_state_stays_until_its_command_ends);
    tcase_add_test(tc, a_pending_state_is_flushed_before_it_goes);
    tcase_add_test(tc, a_state_its_owner_still_needs_stays);
    tcase_add_test(tc, a_lent_state_written_as_it_is_stays_as_the_stores);
    tcase_add_test(tc, a_stamp_answers_until_the_state_changes);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    SRunner *sr = srunner_create(tcache_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
