/*
 * test_seglog.c -- the segment log's recovery promises: a torn tail at any
 * byte gives back exactly the whole records before it, a flipped bit is
 * caught and that record never comes back, junk is cut, and records survive
 * segment roll-over and reopening.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "server/seglog.h"
#include "server/util.h"

struct got {
    int n;
    char keys[256][32];
    uint32_t vlens[256];
    int bad_value;
};

static int collect(void *ctx, const struct seglog_rec *r)
{
    struct got *g = ctx;
    if (g->n < 256) {
        snprintf(g->keys[g->n], 32, "%.*s", (int)r->klen, (const char *)r->key);
        g->vlens[g->n] = r->vlen;
        /* values are the key's number repeated: check content */
        for (uint32_t i = 0; i < r->vlen; i++)
            if (r->value[i] != (uint8_t)(r->klen + i))
                g->bad_value = 1;
    }
    g->n++;
    return 0;
}

static char *make_dir(void)
{
    char tmpl[] = "/tmp/seglogtestXXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return dyn_strdup(d);
}

static void rm_dir(const char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
}

static struct seglog_opts opts(const char *dir, uint64_t segmax)
{
    struct seglog_opts o = {dir, "data", segmax, 1024, 1 << 20};
    return o;
}

/* Writes n records key0..key{n-1}; record i has a value of 10+i*7 bytes.
 * Returns the byte offset where each record ends in ends[]. */
static void write_records(const char *dir, int n, uint64_t *ends)
{
    struct seglog *l;
    struct seglog_opts o = opts(dir, 1 << 30);
    ck_assert_int_eq(seglog_open(&o, 0, NULL, NULL, &l, NULL), 0);
    for (int i = 0; i < n; i++) {
        char key[32];
        uint8_t val[2048];
        int kl = snprintf(key, sizeof(key), "key%d", i);
        uint32_t vl = (uint32_t)(10 + i * 7);
        for (uint32_t j = 0; j < vl; j++)
            val[j] = (uint8_t)(kl + j);
        struct seglog_pos pos;
        ck_assert_int_eq(seglog_append(l, 1, key, (uint32_t)kl, val, vl, &pos),
                         0);
        ends[i] = pos.off + SEGLOG_HEADER + kl + vl + SEGLOG_TRAILER;
    }
    ck_assert_int_eq(seglog_sync(l), 0);
    seglog_close(l);
}

static void seg_path(const char *dir, uint32_t seg, char *out, size_t n)
{
    snprintf(out, n, "%s/data.%08u.seg", dir, seg);
}

START_TEST(reopen_replays_everything_in_order)
{
    char *dir = make_dir();
    uint64_t ends[50];
    write_records(dir, 50, ends);
    struct got g = {0};
    struct seglog *l;
    struct seglog_recovery rec;
    struct seglog_opts o = opts(dir, 1 << 30);
    ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
    ck_assert_int_eq(g.n, 50);
    ck_assert_int_eq(g.bad_value, 0);
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key%d", i);
        ck_assert_str_eq(g.keys[i], key);
    }
    ck_assert_uint_eq(rec.records, 50);
    ck_assert_uint_eq(rec.corrupt_records, 0);
    ck_assert_uint_eq(rec.truncated_bytes, 0);
    seglog_close(l);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

/* Cut the file at every byte offset across its last three records. */
START_TEST(torn_tail_at_every_offset_gives_whole_record_prefix)
{
    char *dir = make_dir();
    uint64_t ends[20];
    write_records(dir, 20, ends);
    char path[256];
    seg_path(dir, 1, path, sizeof(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *f = fopen(path, "rb");
    uint8_t *orig = dyn_malloc((size_t)st.st_size);
    ck_assert_uint_eq(fread(orig, 1, (size_t)st.st_size, f),
                      (size_t)st.st_size);
    fclose(f);
    for (uint64_t cut = ends[16]; cut <= (uint64_t)st.st_size; cut++) {
        f = fopen(path, "wb");
        fwrite(orig, 1, cut, f);
        fclose(f);
        int whole = 0;
        while (whole < 20 && ends[whole] <= cut)
            whole++;
        struct got g = {0};
        struct seglog *l;
        struct seglog_recovery rec;
        struct seglog_opts o = opts(dir, 1 << 30);
        ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
        ck_assert_msg(g.n == whole, "cut at %llu: got %d records, want %d",
                      (unsigned long long)cut, g.n, whole);
        ck_assert_int_eq(g.bad_value, 0);
        ck_assert_uint_eq(rec.truncated_bytes,
                          cut - (whole ? ends[whole - 1] : 0));
        /* appending after recovery gives a readable log again */
        struct seglog_pos pos;
        ck_assert_int_eq(seglog_append(l, 1, "new", 3, "", 0, &pos), 0);
        ck_assert_uint_eq(pos.off, whole ? ends[whole - 1] : 0);
        ck_assert_int_eq(seglog_sync(l), 0);
        seglog_close(l);
        struct got g2 = {0};
        ck_assert_int_eq(seglog_open(&o, 0, collect, &g2, &l, &rec), 0);
        ck_assert_int_eq(g2.n, whole + 1);
        ck_assert_str_eq(g2.keys[whole], "new");
        seglog_close(l);
    }
    dyn_free(orig);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

/* Flip one bit inside each record in turn: that record is never returned,
 * and the records after it still are (unless it was the last one). */
START_TEST(bit_flip_in_any_record_is_detected)
{
    char *dir = make_dir();
    uint64_t ends[12];
    write_records(dir, 12, ends);
    char path[256];
    seg_path(dir, 1, path, sizeof(path));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    size_t len = (size_t)st.st_size;
    FILE *f = fopen(path, "rb");
    uint8_t *orig = dyn_malloc(len);
    ck_assert_uint_eq(fread(orig, 1, len, f), len);
    fclose(f);
    uint8_t *copy = dyn_malloc(len);
    for (int victim = 0; victim < 12; victim++) {
        uint64_t start = victim ? ends[victim - 1] : 0;
        for (uint64_t b = start; b < ends[victim]; b++) {
            memcpy(copy, orig, len);
            copy[b] ^= (uint8_t)(1u << (b % 8));
            f = fopen(path, "wb");
            fwrite(copy, 1, len, f);
            fclose(f);
            struct got g = {0};
            struct seglog *l;
            struct seglog_recovery rec;
            struct seglog_opts o = opts(dir, 1 << 30);
            ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
            char vkey[32];
            snprintf(vkey, sizeof(vkey), "key%d", victim);
            for (int i = 0; i < g.n && i < 256; i++)
                ck_assert_msg(strcmp(g.keys[i], vkey) != 0,
                              "flipped byte %llu: %s was served",
                              (unsigned long long)b, vkey);
            ck_assert_int_eq(g.bad_value, 0);
            if (victim < 11)
                ck_assert_msg(g.n == 11, "flip at %llu: %d records",
                              (unsigned long long)b, g.n);
            ck_assert_uint_ge(rec.corrupt_records + (rec.truncated_bytes > 0),
                              1);
            seglog_close(l);
        }
    }
    dyn_free(orig);
    dyn_free(copy);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

START_TEST(trailing_junk_is_cut)
{
    char *dir = make_dir();
    uint64_t ends[5];
    write_records(dir, 5, ends);
    char path[256];
    seg_path(dir, 1, path, sizeof(path));
    FILE *f = fopen(path, "ab");
    fwrite("\xd7garbage-after-the-last-record", 1, 30, f);
    fclose(f);
    struct got g = {0};
    struct seglog *l;
    struct seglog_recovery rec;
    struct seglog_opts o = opts(dir, 1 << 30);
    ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
    ck_assert_int_eq(g.n, 5);
    ck_assert_uint_eq(rec.truncated_bytes, 30);
    seglog_close(l);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq((uint64_t)st.st_size, ends[4]);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

START_TEST(segments_roll_and_records_read_back)
{
    char *dir = make_dir();
    struct seglog *l;
    struct seglog_opts o = opts(dir, 1000);
    ck_assert_int_eq(seglog_open(&o, 0, NULL, NULL, &l, NULL), 0);
    struct seglog_pos pos[100];
    for (int i = 0; i < 100; i++) {
        char key[32];
        uint8_t val[64];
        int kl = snprintf(key, sizeof(key), "k%d", i);
        for (int j = 0; j < 50; j++)
            val[j] = (uint8_t)(kl + j);
        ck_assert_int_eq(seglog_append(l, 2, key, (uint32_t)kl, val, 50,
                                       &pos[i]),
                         0);
    }
    ck_assert_uint_gt(seglog_active(l), 5);
    /* pending and written records both read back */
    struct dbuf buf;
    dbuf_init(&buf);
    for (int i = 0; i < 100; i++) {
        struct seglog_rec r;
        char key[32];
        int kl = snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(seglog_read(l, pos[i], &buf, &r), 0);
        ck_assert_uint_eq(r.klen, (uint32_t)kl);
        ck_assert_mem_eq(r.key, key, (size_t)kl);
        ck_assert_uint_eq(r.type, 2);
    }
    ck_assert_int_eq(seglog_sync(l), 0);
    uint32_t active = seglog_active(l);
    ck_assert_int_eq(seglog_remove_segment(l, active), DYN_EINVAL);
    ck_assert_int_eq(seglog_remove_segment(l, 1), 0);
    seglog_close(l);
    struct got g = {0};
    struct seglog_recovery rec;
    ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
    ck_assert_int_lt(g.n, 100);
    ck_assert_int_gt(g.n, 80);
    ck_assert_str_eq(g.keys[g.n - 1], "k99");
    ck_assert_uint_eq(rec.corrupt_records, 0);
    seglog_close(l);
    dbuf_free(&buf);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

START_TEST(limits_reject_oversized_records)
{
    char *dir = make_dir();
    struct seglog *l;
    struct seglog_opts o = opts(dir, 1 << 20);
    ck_assert_int_eq(seglog_open(&o, 0, NULL, NULL, &l, NULL), 0);
    static uint8_t big[2048];
    ck_assert_int_eq(seglog_append(l, 1, big, 2000, "", 0, NULL), DYN_ELIMIT);
    seglog_close(l);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

/* A roll onto a segment created ahead (elsewhere) swaps descriptors: the
 * records go to that file, the sealed one comes back to the caller; an
 * empty segment left after the last one (a crash before the roll) is
 * removed at open, and the torn tail before it is still cut. */
START_TEST(roll_onto_segment_created_ahead)
{
    char *dir = make_dir();
    struct seglog *l;
    struct seglog_opts o = opts(dir, 1 << 20);
    ck_assert_int_eq(seglog_open(&o, 0, NULL, NULL, &l, NULL), 0);
    uint32_t first = seglog_active(l);
    struct seglog_pos pos;
    ck_assert_int_eq(seglog_append(l, 1, "a", 1, "xx", 2, &pos), 0);
    ck_assert_int_eq(seglog_flush(l), 0);

    /* not the next segment, or not empty: refused */
    char path[256];
    seg_path(dir, first + 2, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(seglog_adopt_next(l, first + 2, fd, 0), DYN_EINVAL);
    close(fd);
    unlink(path);

    seg_path(dir, first + 1, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(seglog_adopt_next(l, first + 1, fd, 4096), 0);
    ck_assert(seglog_has_next(l));
    struct seglog_sealed old;
    ck_assert_int_eq(seglog_roll_handoff(l, &old), 0);
    ck_assert_int_eq(seglog_active(l), first + 1);
    ck_assert_int_eq(seglog_active_fd(l), fd); /* the adopted file */
    ck_assert_int_eq(old.seg, first);
    ck_assert_uint_eq(old.size, SEGLOG_HEADER + 1 + 2 + SEGLOG_TRAILER);
    ck_assert_int_ge(old.fd, 0);
    ck_assert_int_ne(old.fd, fd);
    close(old.fd);
    ck_assert(!seglog_has_next(l));
    ck_assert_int_eq(seglog_append(l, 1, "b", 1, "yyy", 3, &pos), 0);
    ck_assert_int_eq(pos.seg, first + 1);
    ck_assert_int_eq(seglog_sync(l), 0);

    /* one more created ahead and never used: close removes it */
    char next[256];
    seg_path(dir, first + 2, next, sizeof(next));
    fd = open(next, O_WRONLY | O_CREAT | O_APPEND, 0644);
    ck_assert_int_eq(seglog_adopt_next(l, first + 2, fd, 0), 0);
    seglog_close(l);
    ck_assert_int_ne(access(next, F_OK), 0);

    /* a crash: the active segment's last record torn, an empty next */
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size - 3), 0);
    fd = open(next, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    close(fd);
    struct got g = {0};
    struct seglog_recovery rec;
    ck_assert_int_eq(seglog_open(&o, 0, collect, &g, &l, &rec), 0);
    ck_assert_int_ne(access(next, F_OK), 0);
    ck_assert_int_eq(seglog_active(l), first + 1);
    ck_assert_int_eq(g.n, 1);
    ck_assert_str_eq(g.keys[0], "a");
    ck_assert_uint_eq(rec.corrupt_records, 0);
    ck_assert_uint_eq(rec.truncated_bytes,
                      SEGLOG_HEADER + 1 + 3 + SEGLOG_TRAILER - 3);
    ck_assert_uint_eq(seglog_segment_size(l, first + 1), 0);
    seglog_close(l);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

static Suite *seglog_suite(void)
{
    Suite *s = suite_create("seglog");
    TCase *tc = tcase_create("seglog");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reopen_replays_everything_in_order);
    tcase_add_test(tc, torn_tail_at_every_offset_gives_whole_record_prefix);
    tcase_add_test(tc, bit_flip_in_any_record_is_detected);
    tcase_add_test(tc, trailing_junk_is_cut);
    tcase_add_test(tc, segments_roll_and_records_read_back);
    tcase_add_test(tc, limits_reject_oversized_records);
    tcase_add_test(tc, roll_onto_segment_created_ahead);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(seglog_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
