/*
 * test_journal.c -- the typed-op journal's records and files: an op comes
 * back from its bytes as it went in; bytes that are not an op (cut short,
 * a count of arguments no record could hold, bytes left over) are refused
 * without allocating by the count; ops survive reopening in order; a
 * restart leaves an empty journal and removes the older segments.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/journal.h"
#include "server/util.h"
#include "server/wire.h"

static struct journal_op sample(const struct dyn_arg *argv, uint32_t argc)
{
    struct journal_op op = {
        .key = (const uint8_t *)"mylist",
        .klen = 6,
        .actor = 0x1122334455667788ull,
        .first = 4242,
        .ndots = 3,
        .ts_ms = 1764000000123ull,
        .rng = 0xdeadbeefcafef00dull,
        .argc = argc,
        .argv = argv,
    };
    return op;
}

START_TEST(op_round_trips)
{
    struct dyn_arg argv[] = {{"RPUSH", 5}, {"mylist", 6}, {"", 0},
                             {"a\0b", 3}};
    struct journal_op op = sample(argv, 4), back;
    struct dbuf b;
    dbuf_init(&b);
    journal_op_encode(&op, &b);
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back), 0);
    ck_assert_uint_eq(back.actor, op.actor);
    ck_assert_uint_eq(back.first, op.first);
    ck_assert_uint_eq(back.ndots, op.ndots);
    ck_assert_uint_eq(back.ts_ms, op.ts_ms);
    ck_assert_uint_eq(back.rng, op.rng);
    ck_assert_uint_eq(back.argc, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(back.argv[i].len, argv[i].len);
        ck_assert_int_eq(memcmp(back.argv[i].p, argv[i].p, argv[i].len), 0);
    }
    journal_op_clear(&back);
    /* every cut is refused, and so is a byte too many */
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, cut, &back),
                         DYN_EINVAL);
    dbuf_appendc(&b, 'x');
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back),
                     DYN_EINVAL);
    dbuf_free(&b);
}
END_TEST

START_TEST(hostile_counts_are_refused)
{
    struct dyn_arg argv[] = {{"SADD", 4}, {"mylist", 6}};
    struct journal_op op = sample(argv, 2), back;
    struct dbuf b;
    dbuf_init(&b);
    journal_op_encode(&op, &b);
    /* argc at 2^32 - 1: more arguments than the bytes could hold, refused
     * before an array of that many is allocated */
    wire_store_le32((uint8_t *)b.p + 36, UINT32_MAX);
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back),
                     DYN_EINVAL);
    /* an argument longer than what follows it */
    wire_store_le32((uint8_t *)b.p + 36, 2);
    wire_store_le32((uint8_t *)b.p + 40, UINT32_MAX);
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back),
                     DYN_EINVAL);
    /* no dots, no arguments */
    struct journal_op none = sample(argv, 0);
    dbuf_reset(&b);
    journal_op_encode(&none, &b);
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back),
                     DYN_EINVAL);
    none = sample(argv, 2);
    none.ndots = 0;
    dbuf_reset(&b);
    journal_op_encode(&none, &b);
    ck_assert_int_eq(journal_op_parse((const uint8_t *)b.p, b.len, &back),
                     DYN_EINVAL);
    dbuf_free(&b);
}
END_TEST

struct seen {
    int n;
    uint64_t first[64];
};

static int collect(void *ctx, const struct journal_op *op)
{
    struct seen *s = ctx;
    ck_assert_int_eq(op->klen, 6);
    ck_assert_int_eq(memcmp(op->key, "mylist", 6), 0);
    ck_assert_uint_eq(op->argc, 2);
    if (s->n < 64)
        s->first[s->n] = op->first;
    s->n++;
    return 0;
}

/* Deltas are seen in order with the ops: a delta's "first" is 1000 plus
 * its first byte. */
static int collect_delta(void *ctx, const uint8_t *key, size_t klen,
                         const uint8_t *delta, size_t dlen)
{
    struct seen *s = ctx;
    ck_assert_uint_eq(klen, 3);
    ck_assert_int_eq(memcmp(key, "big", 3), 0);
    ck_assert_uint_ge(dlen, 1);
    if (s->n < 64)
        s->first[s->n] = 1000 + delta[0];
    s->n++;
    return 0;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "journal.", 8) == 0)
            n++;
    closedir(d);
    return n;
}

static char *tmp_dir(void)
{
    char tmpl[] = "/tmp/journaltestXXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return dyn_strdup(d);
}

static void rm_dir(char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    dyn_free(dir);
}

START_TEST(ops_survive_reopen_and_restart_empties)
{
    char *dir = tmp_dir();
    struct dyn_arg argv[] = {{"LPUSH", 5}, {"mylist", 6}};
    struct journal *j;
    struct seen s = {0};
    uint64_t corrupt = 1;
    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j,
                                  &corrupt),
                     0);
    ck_assert_int_eq(s.n, 0);
    ck_assert_uint_eq(corrupt, 0);
    for (int i = 0; i < 20; i++) {
        struct journal_op op = sample(argv, 2);
        op.first = 100 + (uint64_t)i;
        ck_assert_int_eq(journal_append(j, &op), 0);
    }
    ck_assert_uint_gt(journal_pending(j), 0);
    ck_assert_int_eq(journal_flush(j), 0);
    uint64_t bytes = journal_bytes(j);
    ck_assert_uint_gt(bytes, 20 * 40);
    journal_close(j);

    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j,
                                  &corrupt),
                     0);
    ck_assert_int_eq(s.n, 20);
    for (int i = 0; i < 20; i++)
        ck_assert_uint_eq(s.first[i], 100 + (uint64_t)i);
    ck_assert_uint_eq(journal_bytes(j), bytes);
    /* a restart: a new segment, the old one removed, nothing to replay */
    ck_assert_int_eq(journal_restart(j), 0);
    ck_assert_uint_eq(journal_bytes(j), 0);
    struct journal_op op = sample(argv, 2);
    op.first = 7;
    ck_assert_int_eq(journal_append(j, &op), 0);
    ck_assert_int_eq(journal_sync(j), 0);
    journal_close(j);
    ck_assert_int_eq(count_files(dir), 1);
    s.n = 0;
    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j,
                                  &corrupt),
                     0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(s.first[0], 7);
    journal_close(j);
    rm_dir(dir);
}
END_TEST

/* Deltas come back at open in order with the ops, to their own callback;
 * without one they are passed over, not counted corrupt. */
START_TEST(deltas_come_back_in_order_with_the_ops)
{
    char *dir = tmp_dir();
    struct dyn_arg argv[] = {{"LPUSH", 5}, {"mylist", 6}};
    struct journal *j;
    struct seen s = {0};
    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, collect_delta,
                                  &s, &j, NULL),
                     0);
    for (int i = 0; i < 10; i++) {
        struct journal_op op = sample(argv, 2);
        op.first = (uint64_t)i;
        ck_assert_int_eq(journal_append(j, &op), 0);
        uint8_t d[3] = {(uint8_t)i, 7, 7};
        ck_assert_int_eq(journal_append_delta(j, "big", 3, d, sizeof(d)), 0);
    }
    ck_assert_int_eq(journal_flush(j), 0);
    journal_close(j);
    memset(&s, 0, sizeof(s));
    uint64_t corrupt = 1;
    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, collect_delta,
                                  &s, &j, &corrupt),
                     0);
    ck_assert_uint_eq(corrupt, 0);
    ck_assert_int_eq(s.n, 20);
    for (int i = 0; i < 10; i++) {
        ck_assert_uint_eq(s.first[2 * i], (uint64_t)i);
        ck_assert_uint_eq(s.first[2 * i + 1], 1000 + (uint64_t)i);
    }
    journal_close(j);
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j,
                                  &corrupt),
                     0);
    ck_assert_int_eq(s.n, 10);
    ck_assert_uint_eq(corrupt, 0);
    journal_close(j);
    rm_dir(dir);
}
END_TEST

/* A rotation's two steps: a roll keeps the older segment (its ops still
 * come back on open), dropping below the new one removes it. */
START_TEST(roll_keeps_until_drop)
{
    char *dir = tmp_dir();
    struct dyn_arg argv[] = {{"RPUSH", 5}, {"mylist", 6}};
    struct journal *j;
    struct seen s = {0};
    ck_assert_int_eq(
        journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j, NULL), 0);
    struct journal_op op = sample(argv, 2);
    op.first = 1;
    ck_assert_int_eq(journal_append(j, &op), 0);
    uint32_t before = journal_segment(j), seg = 0;
    ck_assert_int_eq(journal_roll(j, &seg), 0);
    /* appends go to the segment the roll started (the engine tags edit
     * chains with it) */
    ck_assert_uint_gt(seg, before);
    ck_assert_uint_eq(journal_segment(j), seg);
    uint64_t old = journal_bytes(j);
    ck_assert_uint_gt(old, 0);
    op.first = 2;
    ck_assert_int_eq(journal_append(j, &op), 0);
    ck_assert_int_eq(journal_flush(j), 0);
    ck_assert_uint_gt(journal_bytes(j), old);
    ck_assert_int_eq(count_files(dir), 2);
    journal_close(j);
    /* both ops come back while the older segment is there */
    ck_assert_int_eq(
        journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j, NULL), 0);
    ck_assert_int_eq(s.n, 2);
    ck_assert_uint_eq(s.first[0], 1);
    ck_assert_uint_eq(s.first[1], 2);
    /* reopened, the segment to keep is the newest: drop below it */
    journal_drop_before(j, seg);
    ck_assert_int_eq(count_files(dir), 1);
    ck_assert_uint_eq(journal_bytes(j), old);
    journal_close(j);
    s.n = 0;
    ck_assert_int_eq(
        journal_open(dir, 1 << 20, collect, &s, NULL, NULL, &j, NULL), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_uint_eq(s.first[0], 2);
    journal_close(j);
    rm_dir(dir);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("journal");
    tcase_add_test(tc, op_round_trips);
    tcase_add_test(tc, hostile_counts_are_refused);
    tcase_add_test(tc, ops_survive_reopen_and_restart_empties);
    tcase_add_test(tc, roll_keeps_until_drop);
    tcase_add_test(tc, deltas_come_back_in_order_with_the_ops);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(journal_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
