/*
 * test_engine.c -- the durable engine as a restarting node sees it: what
 * was written comes back after close and reopen (from hint files when they
 * are good, by scanning the data when they are truncated or corrupt, and
 * past junk at the end of the log), compaction keeps every live key while
 * giving disk space back, values read from disk are the newest ones, and a
 * random mix of writes, removals, flushes, compactions and restarts always
 * agrees with a plain in-memory model.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cluster/object.h"
#include "server/config.h"
#include "server/engine.h"
#include "server/store.h"
#include "server/util.h"

struct db {
    char *dir;
    uint64_t segmax;
    int value_cache;
    int fsync;
    struct store *s;
    struct engine *e;
};

static char *make_dir(void)
{
    char tmpl[] = "/tmp/enginetestXXXXXX";
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

static void db_open(struct db *d)
{
    struct dbuf err;
    dbuf_init(&err);
    struct engine_opts o = {
        .storage = STORAGE_DISK,
        .dir = d->dir,
        .appendfsync = d->fsync,
        .segment_max_bytes = d->segmax,
        .compact_ratio_pm = 500,
        .value_cache = d->value_cache,
    };
    d->s = store_new(16);
    int rc = engine_open(&o, d->s, &d->e, &err);
    ck_assert_msg(rc == 0, "engine_open: %.*s", (int)err.len,
                  err.p ? err.p : "");
    dbuf_free(&err);
}

static void db_close(struct db *d)
{
    engine_close(d->e);
    store_free(d->s);
    d->e = NULL;
    d->s = NULL;
}

static void db_init(struct db *d, uint64_t segmax, int value_cache)
{
    memset(d, 0, sizeof(*d));
    d->dir = make_dir();
    d->segmax = segmax;
    d->value_cache = value_cache;
    d->fsync = FSYNC_NO;
    db_open(d);
}

static void db_fini(struct db *d)
{
    db_close(d);
    rm_dir(d->dir);
    dyn_free(d->dir);
}

static struct object *mkobj(const char *val, uint64_t counter)
{
    struct object_write w = {
        .value = val, .vlen = strlen(val), .actor = 7,
        .now_ms = 1000 + counter, .min_counter = counter,
    };
    uint32_t pruned = 0;
    return object_write(NULL, &w, &pruned);
}

static void put(struct db *d, const char *key, const char *val)
{
    static uint64_t counter = 1;
    ck_assert_int_eq(engine_put_take(d->e, key, strlen(key),
                                     mkobj(val, counter++)), 0);
}

/* The key's value as text into out, or "" with return 0 if absent. */
static int get(struct db *d, const char *key, char *out, size_t cap)
{
    const struct object *o = store_get(d->s, key, strlen(key));
    out[0] = '\0';
    if (!o)
        return 0;
    struct sibling sb;
    object_sibling(o, object_winner(o), &sb);
    ck_assert_uint_lt(sb.vlen, cap);
    memcpy(out, sb.value, sb.vlen);
    out[sb.vlen] = '\0';
    return 1;
}

static void expect(struct db *d, const char *key, const char *val)
{
    char got[512];
    int found = get(d, key, got, sizeof(got));
    if (!val)
        ck_assert_msg(!found, "%s: expected absent, got '%s'", key, got);
    else
        ck_assert_msg(found && strcmp(got, val) == 0,
                      "%s: expected '%s', got %s'%s'", key, val,
                      found ? "" : "absent ", got);
}

static struct engine_stats stats(struct db *d)
{
    struct engine_stats st;
    engine_get_stats(d->e, &st);
    return st;
}

/* Files in dir ending in suffix; their total size into *bytes. */
static int count_files(const char *dir, const char *suffix, uint64_t *bytes)
{
    DIR *dd = opendir(dir);
    ck_assert_ptr_nonnull(dd);
    struct dirent *de;
    int n = 0;
    size_t sl = strlen(suffix);
    if (bytes)
        *bytes = 0;
    while ((de = readdir(dd)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < sl || strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        n++;
        if (bytes) {
            char p[512];
            struct stat st;
            snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
            ck_assert_int_eq(stat(p, &st), 0);
            *bytes += (uint64_t)st.st_size;
        }
    }
    closedir(dd);
    return n;
}

static void seg_path(const char *dir, uint32_t seg, const char *suffix,
                     char *out, size_t cap)
{
    snprintf(out, cap, "%s/data.%08u%s", dir, seg, suffix);
}

static void fill(struct db *d, int nkeys, int round)
{
    for (int i = 0; i < nkeys; i++) {
        char k[32], v[128];
        snprintf(k, sizeof(k), "key:%04d", i);
        snprintf(v, sizeof(v), "value-%d-%d-%060d", i, round, i);
        put(d, k, v);
    }
}

static void expect_filled(struct db *d, int nkeys, int round)
{
    for (int i = 0; i < nkeys; i++) {
        char k[32], v[128];
        snprintf(k, sizeof(k), "key:%04d", i);
        snprintf(v, sizeof(v), "value-%d-%d-%060d", i, round, i);
        expect(d, k, v);
    }
}

/* Runs cron slices until no compaction work is left and the helper thread
 * has reported every job (polled, with a deadline). */
static void settle(struct db *d)
{
    uint64_t deadline = dyn_mono_us() + 30 * 1000000ull;
    while (dyn_mono_us() < deadline) {
        int more = engine_cron(d->e, dyn_wall_ms(), 2000);
        if (more)
            continue;
        if (stats(d).jobs_pending == 0 &&
            !engine_cron(d->e, dyn_wall_ms(), 2000) &&
            stats(d).jobs_pending == 0)
            return;
        usleep(200);
    }
    ck_abort_msg("compaction did not settle");
}

/* ------------------------------------------------------------------ tests */

START_TEST(put_get_delete_survive_reopen)
{
    struct db d;
    db_init(&d, 1 << 20, 0);
    fill(&d, 100, 1);
    put(&d, "key:0003", "overwritten");
    ck_assert_int_eq(engine_remove(d.e, "key:0005", 8), 0);
    ck_assert_int_eq(engine_remove(d.e, "key:0005", 8), DYN_ENOTFOUND);
    ck_assert_int_eq(engine_remove(d.e, "nosuch", 6), DYN_ENOTFOUND);
    ck_assert_int_eq(engine_commit(d.e), 0);
    db_close(&d);

    db_open(&d);
    expect(&d, "key:0003", "overwritten");
    expect(&d, "key:0005", NULL);
    expect(&d, "key:0000", "value-0-1-000000000000000000000000000000000000"
                           "000000000000000000000000");
    ck_assert_uint_eq(store_count(d.s), 99);
    ck_assert_uint_eq(stats(&d).keys_loaded, 99);
    db_fini(&d);
}
END_TEST

/* The same data is the same actor; data that is gone makes a new
 * incarnation; dot counters never restart below what was reserved. */
START_TEST(identity_survives_with_the_data_and_counters_never_repeat)
{
    struct db d;
    db_init(&d, 1 << 20, 0);
    uint32_t a = engine_incarnation(d.e);
    uint64_t r0 = engine_counter_reserved(d.e);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_gt(r0, engine_counter_base(d.e));
    fill(&d, 10, 1);
    /* below the reservation nothing is written; past it, it moves up */
    ck_assert_int_eq(engine_reserve_counters(d.e, r0 - 1), 0);
    ck_assert_uint_eq(engine_counter_reserved(d.e), r0);
    ck_assert_int_eq(engine_reserve_counters(d.e, r0 + 5), 0);
    uint64_t r1 = engine_counter_reserved(d.e);
    ck_assert_uint_gt(r1, r0 + 5);
    db_close(&d);

    db_open(&d);
    ck_assert_uint_eq(engine_incarnation(d.e), a); /* same data */
    ck_assert_uint_ge(engine_counter_base(d.e), r1);
    uint64_t r2 = engine_counter_reserved(d.e);
    db_close(&d);

    /* lose the data, keep node.meta: a new incarnation, counters still up */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/data.*", d.dir);
    ck_assert_int_eq(system(cmd), 0);
    db_open(&d);
    ck_assert_uint_eq(engine_incarnation(d.e),
                      (a + 1) & 0xffffff ? (a + 1) & 0xffffff : 1);
    ck_assert_uint_ge(engine_counter_base(d.e), r2);
    db_fini(&d);
}
END_TEST

START_TEST(hints_are_used_on_reopen_and_give_the_same_keydir)
{
    struct db d;
    db_init(&d, 8192, 0);
    fill(&d, 300, 1);
    fill(&d, 150, 2);
    ck_assert_int_eq(engine_remove(d.e, "key:0207", 8), 0);
    int nseg = count_files(d.dir, ".seg", NULL);
    ck_assert_int_gt(nseg, 5);
    db_close(&d);
    /* every segment has a hint after a clean close */
    ck_assert_int_eq(count_files(d.dir, ".hint", NULL), nseg);

    db_open(&d);
    struct engine_stats st = stats(&d);
    ck_assert_uint_eq(st.hint_files_used, (uint32_t)nseg);
    ck_assert_uint_eq(st.records_scanned, 0);
    ck_assert_uint_gt(st.hint_entries, 0);
    expect_filled(&d, 150, 2);
    for (int i = 150; i < 300; i++) {
        char k[32], v[128];
        snprintf(k, sizeof(k), "key:%04d", i);
        snprintf(v, sizeof(v), "value-%d-1-%060d", i, i);
        expect(&d, k, i == 207 ? NULL : v);
    }
    size_t n_hint = store_count(d.s);
    db_close(&d);

    /* without any hint file: the scan gives the same directory */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.hint", d.dir);
    ck_assert_int_eq(system(cmd), 0);
    db_open(&d);
    st = stats(&d);
    ck_assert_uint_eq(st.hint_files_used, 0);
    ck_assert_uint_gt(st.records_scanned, 450);
    ck_assert_uint_eq(store_count(d.s), n_hint);
    expect_filled(&d, 150, 2);
    expect(&d, "key:0207", NULL);
    db_close(&d);
    /* the scan wrote the hints back */
    ck_assert_int_eq(count_files(d.dir, ".hint", NULL), nseg);
    db_open(&d);
    ck_assert_uint_eq(stats(&d).hint_files_used, (uint32_t)nseg);
    db_fini(&d);
}
END_TEST

/* Small records fill a segment with many entries: a segment of 6 MiB holds
 * over 3 MiB of hint entries, which reach the .tmp file in several spills
 * of a megabyte.  Every spill must land after the one before, so every
 * sealed segment has its hint once the helper thread is done, and the
 * restart reads hints only. */
START_TEST(segments_with_megabytes_of_hint_entries_get_their_hints)
{
    struct db d;
    db_init(&d, 6 << 20, 0);
    const int n = 400000;
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof(k), "k:%07d", i);
        put(&d, k, i % 2 ? "v" : "w");
    }
    ck_assert_int_eq(engine_commit(d.e), 0);
    settle(&d);
    /* (the next segment may already exist, created ahead and empty) */
    int sealed = (int)stats(&d).segment_rolls, nseg = sealed + 1;
    ck_assert_int_ge(sealed, 2);
    /* sealed segments have their hint before any close */
    ck_assert_int_eq(count_files(d.dir, ".hint", NULL), sealed);
    char p[512];
    struct stat st;
    seg_path(d.dir, 1, ".hint", p, sizeof(p));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_gt(st.st_size, 3 << 20); /* three spills and the rest */
    db_close(&d);
    ck_assert_int_eq(count_files(d.dir, ".hint", NULL), nseg);

    db_open(&d);
    struct engine_stats s = stats(&d);
    ck_assert_uint_eq(s.hint_files_used, (uint32_t)nseg);
    ck_assert_uint_eq(s.hint_files_rejected, 0);
    ck_assert_uint_eq(s.records_scanned, 0);
    ck_assert_uint_eq(s.hint_entries, (uint64_t)n);
    ck_assert_uint_eq(store_count(d.s), (size_t)n);
    for (int i = 0; i < n; i += 997) {
        char k[32];
        snprintf(k, sizeof(k), "k:%07d", i);
        expect(&d, k, i % 2 ? "v" : "w");
    }
    expect(&d, "k:0399999", "v");
    db_fini(&d);
}
END_TEST

/* Damages segment 1's hint with `how` (0: cut short, 1: a flipped bit,
 * 2: the first half again after the END), reopens, expects the scan. */
static void damaged_hint_falls_back(int how)
{
    struct db d;
    db_init(&d, 8192, 0);
    fill(&d, 200, 1);
    fill(&d, 200, 2);
    db_close(&d);
    char p[512];
    seg_path(d.dir, 1, ".hint", p, sizeof(p));
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    if (how == 0) {
        ck_assert_int_eq(truncate(p, st.st_size - 5), 0);
    } else if (how == 2) {
        /* entries after the END: what a spill written over the start of
         * the file used to leave (issue #13 item 6) */
        int fd = open(p, O_RDWR);
        ck_assert_int_ge(fd, 0);
        char buf[4096];
        size_t n = (size_t)st.st_size / 2;
        ck_assert_uint_le(n, sizeof(buf));
        ck_assert_int_eq(pread(fd, buf, n, 0), (ssize_t)n);
        ck_assert_int_eq(pwrite(fd, buf, n, st.st_size), (ssize_t)n);
        close(fd);
    } else {
        int fd = open(p, O_RDWR);
        ck_assert_int_ge(fd, 0);
        uint8_t b;
        off_t at = st.st_size / 2;
        ck_assert_int_eq(pread(fd, &b, 1, at), 1);
        b ^= 0x10;
        ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
        close(fd);
    }
    db_open(&d);
    struct engine_stats s = stats(&d);
    ck_assert_uint_eq(s.hint_files_rejected, 1);
    ck_assert_uint_eq(s.hint_files_used, 0); /* segment 1 comes first */
    ck_assert_uint_gt(s.records_scanned, 0);
    expect_filled(&d, 200, 2);
    ck_assert_uint_eq(store_count(d.s), 200);
    db_fini(&d);
}

START_TEST(truncated_hint_falls_back_to_scanning)
{
    damaged_hint_falls_back(0);
}
END_TEST

START_TEST(hint_with_entries_after_its_end_falls_back_to_scanning)
{
    damaged_hint_falls_back(2);
}
END_TEST

START_TEST(hint_with_bad_checksum_falls_back_to_scanning)
{
    damaged_hint_falls_back(1);
}
END_TEST

START_TEST(trailing_junk_in_the_data_is_cut)
{
    struct db d;
    db_init(&d, 1 << 20, 0);
    fill(&d, 50, 1);
    db_close(&d);
    char p[512];
    seg_path(d.dir, 1, ".seg", p, sizeof(p));
    /* junk after the last record (and the hint no longer matches) */
    FILE *f = fopen(p, "ab");
    ck_assert_ptr_nonnull(f);
    fputs("\xd7garbage that is not a record", f);
    fclose(f);
    db_open(&d);
    struct engine_stats s = stats(&d);
    ck_assert_uint_eq(s.hint_files_rejected, 1);
    ck_assert_uint_gt(s.truncated_bytes, 0);
    expect_filled(&d, 50, 1);
    /* writes go on after the cut, and survive */
    put(&d, "after", "junk");
    db_close(&d);
    db_open(&d);
    expect(&d, "after", "junk");
    expect_filled(&d, 50, 1);
    db_fini(&d);
}
END_TEST

START_TEST(compaction_keeps_live_keys_and_gives_space_back)
{
    struct db d;
    db_init(&d, 16384, 0);
    for (int r = 1; r <= 10; r++)
        fill(&d, 200, r);
    ck_assert_int_eq(engine_remove(d.e, "key:0042", 8), 0);
    ck_assert_int_eq(engine_commit(d.e), 0);
    uint64_t before, after;
    count_files(d.dir, ".seg", &before);
    struct engine_stats s0 = stats(&d);
    ck_assert_uint_gt(s0.disk_bytes, 5 * s0.live_bytes);

    settle(&d);
    struct engine_stats s1 = stats(&d);
    count_files(d.dir, ".seg", &after);
    ck_assert_uint_gt(s1.compactions, 0);
    ck_assert_uint_lt(after, before / 3);
    /* within 1.5x the live data plus one (partly dead) active segment */
    ck_assert_uint_le(after, s1.live_bytes * 3 / 2 + 16384);
    ck_assert_uint_gt(s1.compact_worst_slice_us, 0);
    for (int i = 0; i < 200; i++) {
        char k[32], v[128];
        snprintf(k, sizeof(k), "key:%04d", i);
        snprintf(v, sizeof(v), "value-%d-10-%060d", i, i);
        expect(&d, k, i == 42 ? NULL : v);
    }
    db_close(&d);
    db_open(&d);
    for (int i = 0; i < 200; i++) {
        char k[32], v[128];
        snprintf(k, sizeof(k), "key:%04d", i);
        snprintf(v, sizeof(v), "value-%d-10-%060d", i, i);
        expect(&d, k, i == 42 ? NULL : v);
    }
    db_fini(&d);
}
END_TEST

/* Records of every size cross the compaction's read chunks at every
 * remainder, segments are larger than a chunk: nothing live is skipped. */
START_TEST(compaction_reads_records_across_chunk_boundaries)
{
    struct db d;
    db_init(&d, 150 * 1024, 0);
    enum { NK = 3000 };
    static char want[NK][128];
    uint64_t rng = 42;
    for (int r = 0; r < 24; r++) {
        for (int i = 0; i < NK; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            int len = 1 + (int)((rng >> 33) % 60);
            char k[32];
            snprintf(k, sizeof(k), "key:%05d", i);
            int n = snprintf(want[i], sizeof(want[i]), "r%d-%d-", r, i);
            memset(want[i] + n, 'a' + (char)(r % 26), (size_t)len);
            want[i][n + len] = '\0';
            put(&d, k, want[i]);
        }
        settle(&d);
        for (int i = 0; i < NK; i++) {
            char k[32];
            snprintf(k, sizeof(k), "key:%05d", i);
            expect(&d, k, want[i]);
        }
    }
    ck_assert_uint_gt(stats(&d).compactions, 30);
    ck_assert_uint_eq(stats(&d).read_errors, 0);
    db_fini(&d);
}
END_TEST

/* Records bigger than a compaction slice's read (a typed value of some
 * hundred kilobytes, rewritten whole) are read whole while the slices go
 * on: the segments of their dead copies are given back.  (A slice that
 * ran while the read of such a record was still in flight took the
 * segment for a file shorter than it was and kept it as all live, so its
 * space was never reclaimed.) */
START_TEST(compaction_gives_back_segments_of_records_bigger_than_a_read)
{
    struct db d;
    db_init(&d, 2 * 1024 * 1024, 0);
    size_t big = 300 * 1024;
    char *v = dyn_malloc(big + 1);
    for (int r = 0; r < 60; r++) {
        memset(v, 'a' + r % 26, big);
        snprintf(v, 16, "round-%02d-", r);
        v[9] = 'x'; /* the NUL snprintf left */
        v[big] = '\0';
        put(&d, "big", v);
        put(&d, "small", r % 2 ? "odd" : "even");
        settle(&d);
    }
    struct engine_stats st = stats(&d);
    ck_assert_uint_gt(st.compactions, 5);
    /* what is left: the live copies, the active segment and at most a
     * sealed one or two waiting for the ratio */
    ck_assert_msg(st.disk_bytes <= 4 * 2 * 1024 * 1024,
                  "disk_bytes %llu after compaction (live %llu)",
                  (unsigned long long)st.disk_bytes,
                  (unsigned long long)st.live_bytes);
    ck_assert_uint_le(st.live_bytes, 2 * big);
    ck_assert_uint_eq(st.read_errors, 0);
    char got[32];
    ck_assert_int_eq(get(&d, "small", got, sizeof(got)), 1);
    ck_assert_str_eq(got, "odd");
    db_fini(&d);
    dyn_free(v);
}
END_TEST

static void overwrites(int value_cache)
{
    struct db d;
    db_init(&d, 4096, value_cache);
    char k[32], v[256];
    for (int r = 0; r < 30; r++) {
        for (int i = 0; i < 40; i++) {
            snprintf(k, sizeof(k), "k%d", i);
            snprintf(v, sizeof(v), "round %d of key %d %.*s", r, i, i * 4,
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            put(&d, k, v);
            /* read back at once: from the write buffer or the file */
            expect(&d, k, v);
        }
        if (r % 7 == 0)
            engine_cron(d.e, dyn_wall_ms(), 2000);
    }
    /* two lookups in a row: the first value stays valid across the second */
    const struct object *a = store_get(d.s, "k1", 2);
    ck_assert_ptr_nonnull(a);
    const struct object *b = store_get(d.s, "k2", 2);
    ck_assert_ptr_nonnull(b);
    struct sibling sa;
    object_sibling(a, object_winner(a), &sa);
    ck_assert_int_eq(memcmp(sa.value, "round 29 of key 1 ", 18), 0);
    settle(&d);
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        snprintf(v, sizeof(v), "round 29 of key %d %.*s", i, i * 4,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        expect(&d, k, v);
    }
    ck_assert_uint_eq(store_get_kind(d.s),
                      value_cache ? STORE_DISK_CACHE : STORE_DISK);
    db_fini(&d);
}

START_TEST(values_on_disk_are_the_newest_after_many_overwrites)
{
    overwrites(0);
}
END_TEST

START_TEST(value_cache_returns_the_same)
{
    overwrites(1);
}
END_TEST

START_TEST(flush_all_survives_reopen_and_removes_old_segments)
{
    struct db d;
    db_init(&d, 8192, 0);
    fill(&d, 200, 1);
    ck_assert_int_gt(count_files(d.dir, ".seg", NULL), 2);
    ck_assert_int_eq(engine_flush_all(d.e), 0);
    ck_assert_uint_eq(store_count(d.s), 0);
    /* the helper thread may be creating the next segment ahead meanwhile
     * (counted at once, this failed now and then under ASan): once every
     * job has reported, the files are the engine's, at most the active
     * segment and the one made ahead */
    settle(&d);
    int files = count_files(d.dir, ".seg", NULL);
    ck_assert_int_eq(files, (int)stats(&d).segments);
    ck_assert_int_le(files, 2);
    put(&d, "new", "life");
    db_close(&d);
    db_open(&d);
    ck_assert_uint_eq(store_count(d.s), 1);
    expect(&d, "new", "life");
    expect(&d, "key:0001", NULL);
    db_fini(&d);
}
END_TEST

START_TEST(always_fsyncs_every_write)
{
    struct db d;
    memset(&d, 0, sizeof(d));
    d.dir = make_dir();
    d.segmax = 1 << 20;
    d.fsync = FSYNC_ALWAYS;
    db_open(&d);
    put(&d, "a", "1");
    put(&d, "b", "2");
    ck_assert_uint_ge(stats(&d).fsyncs, 2);
    engine_set_group_commit(d.e, 1);
    uint64_t f0 = stats(&d).fsyncs;
    put(&d, "c", "3");
    put(&d, "d", "4");
    ck_assert_uint_eq(stats(&d).fsyncs, f0); /* batched ... */
    ck_assert_int_eq(engine_commit(d.e), 0);
    ck_assert_uint_eq(stats(&d).fsyncs, f0 + 1); /* ... one for both */
    ck_assert_int_eq(engine_writable(d.e), 0);
    db_fini(&d);
}
END_TEST

/* A random mix against a model: puts, removals, flushes, compaction and
 * restarts (sometimes without hints), small segments. */
START_TEST(random_history_matches_a_model)
{
    enum { NK = 48 };
    char model[NK][64];
    int present[NK];
    memset(present, 0, sizeof(present));
    struct db d;
    db_init(&d, 2048, 0);
    uint64_t rng = 0x1234567;
    for (int op = 0; op < 6000; op++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        int k = (int)(rng % NK);
        int what = (int)((rng >> 20) % 1000);
        char key[16];
        snprintf(key, sizeof(key), "k%02d", k);
        if (what < 700) {
            snprintf(model[k], sizeof(model[k]), "v%d-%llu", op,
                     (unsigned long long)(rng >> 40));
            put(&d, key, model[k]);
            present[k] = 1;
        } else if (what < 995) {
            int rc = engine_remove(d.e, key, strlen(key));
            ck_assert_int_eq(rc, present[k] ? 0 : DYN_ENOTFOUND);
            present[k] = 0;
        } else {
            ck_assert_int_eq(engine_flush_all(d.e), 0);
            memset(present, 0, sizeof(present));
        }
        if (op % 50 == 0)
            for (int i = 0; i < 20; i++)
                engine_cron(d.e, dyn_wall_ms(), 500);
        if (op % 700 == 699) {
            db_close(&d);
            if ((op / 700) % 3 == 1) {
                char cmd[512];
                snprintf(cmd, sizeof(cmd), "rm -f %s/*.hint", d.dir);
                ck_assert_int_eq(system(cmd), 0);
            }
            db_open(&d);
            for (int i = 0; i < NK; i++) {
                char kk[16];
                snprintf(kk, sizeof(kk), "k%02d", i);
                expect(&d, kk, present[i] ? model[i] : NULL);
            }
        }
    }
    settle(&d);
    db_close(&d);
    db_open(&d);
    for (int i = 0; i < NK; i++) {
        char kk[16];
        snprintf(kk, sizeof(kk), "k%02d", i);
        expect(&d, kk, present[i] ? model[i] : NULL);
    }
    db_fini(&d);
}
END_TEST

/* The live-byte figure (INFO disk_live_bytes) after a crash in the middle
 * of a compaction: the copies in the active segment and the originals in
 * the not-yet-removed input segment are both on disk, and only the newest
 * may count.  A child process writes, compacts for k slices, writes the
 * copies out and dies without closing (as kill -9 would); the reopened
 * engine's live bytes must be exactly the records the keys point at. */
static uint64_t live_bytes_of_keys(struct db *d, int nkeys)
{
    uint64_t sum = 0;
    for (int i = 0; i < nkeys; i++) {
        char k[32];
        snprintf(k, sizeof(k), "key:%04d", i);
        const struct object *o = store_get(d->s, k, strlen(k));
        ck_assert_ptr_nonnull(o);
        sum += 10 + strlen(k) + object_size(o) + 8; /* seglog framing */
    }
    return sum;
}

START_TEST(live_bytes_are_exact_after_a_crash_during_compaction)
{
    enum { NK = 300 };
    for (int slices = 1; slices <= 7; slices += 2) {
        struct db d;
        db_init(&d, 16384, 0);
        db_close(&d);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            db_open(&d);
            for (int r = 1; r <= 6; r++)
                fill(&d, NK, r);
            /* half the keys once more: the segments of round 6 are then
             * half dead, and compacting them moves live records */
            for (int i = 0; i < NK; i += 2) {
                char k[32], v[128];
                snprintf(k, sizeof(k), "key:%04d", i);
                snprintf(v, sizeof(v), "value-%d-%d-%060d", i, 7, i);
                put(&d, k, v);
            }
            /* until the first record was copied, then slices - 1 more */
            int done = 0;
            uint64_t deadline = dyn_mono_us() + 10 * 1000000ull;
            while (done < slices && dyn_mono_us() < deadline) {
                /* hint jobs must finish before their segments are picked */
                if (!engine_cron(d.e, dyn_wall_ms(), 200))
                    usleep(200);
                if (stats(&d).compact_records_moved > 0)
                    done++;
            }
            if (engine_commit(d.e) != 0)
                _exit(2);
            _exit(stats(&d).compact_records_moved > 0 ? 0 : 3);
        }
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child: status %d (3: no record moved)", status);
        db_open(&d);
        for (int i = 0; i < NK; i++) {
            char k[32], v[128];
            snprintf(k, sizeof(k), "key:%04d", i);
            snprintf(v, sizeof(v), "value-%d-%d-%060d", i, i % 2 ? 6 : 7, i);
            expect(&d, k, v);
        }
        struct engine_stats st = stats(&d);
        ck_assert_uint_eq(st.live_bytes, live_bytes_of_keys(&d, NK));
        /* and compaction, from there, gets the disk near the live data */
        settle(&d);
        st = stats(&d);
        ck_assert_uint_eq(st.live_bytes, live_bytes_of_keys(&d, NK));
        ck_assert_uint_le(st.disk_bytes, st.live_bytes * 3 / 2 + 16384);
        db_close(&d);
        db_open(&d);
        ck_assert_uint_eq(stats(&d).live_bytes, live_bytes_of_keys(&d, NK));
        db_fini(&d);
    }
}
END_TEST

/* ---- edits in the journal (engine.c, "Edits in the journal") ---------- */

#define BIG 8000

/* Round r's value of the large key: BIG bytes, r + 1 of them changed. */
static void big_value(int r, char *out)
{
    memset(out, 'a', BIG);
    for (int j = 0; j <= r; j++)
        out[(j * 131) % BIG] = (char)('A' + j % 26);
    out[BIG] = '\0';
}

static void journal_on(struct db *d, uint64_t max)
{
    struct dbuf err;
    dbuf_init(&err);
    int rc = engine_journal_open(d->e, 0, max, UINT32_MAX, 4 * max, NULL,
                                 NULL, &err);
    ck_assert_msg(rc == 0, "engine_journal_open: %.*s", (int)err.len,
                  err.p ? err.p : "");
    dbuf_free(&err);
}

static void expect_big(struct db *d, int r)
{
    static char want[BIG + 1];
    big_value(r, want);
    const struct object *o = store_get(d->s, "big", 3);
    ck_assert_ptr_nonnull(o);
    struct sibling sb;
    object_sibling(o, object_winner(o), &sb);
    ck_assert_msg(sb.vlen == BIG && memcmp(sb.value, want, BIG) == 0,
                  "the large key is not round %d's value", r);
}

/* rounds writes of the large key, each after reading it (as a write does:
 * its version before is then in memory); in a child that dies without
 * closing the engine (kill -9).  Exit 0, 3 when a check failed, 4 when
 * commit_each (each write committed and the helper thread's reports
 * taken) did not keep the journal within three times max. */
static void big_rounds_then_crash(struct db *d, uint64_t max, int rounds,
                                  int commit_each)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        static char v[BIG + 1];
        db_open(d);
        journal_on(d, max);
        engine_set_group_commit(d->e, !commit_each);
        for (int r = 0; r < rounds; r++) {
            (void)store_get(d->s, "big", 3);
            big_value(r, v);
            if (engine_put_take(d->e, "big", 3, mkobj(v, 100000 + r)) != 0)
                _exit(3);
            if (commit_each)
                settle(d); /* a rotation's fsync reports */
        }
        if (engine_commit(d->e) != 0)
            _exit(3);
        struct engine_stats st = stats(d);
        if (commit_each && (st.journal_checkpoints < 2 ||
                            st.journal_bytes > 3 * max))
            _exit(4); /* the rotation did not bound the journal */
        _exit(st.journal_edits > 0 && st.held_keys == 1 ? 0 : 3);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child: status %d", status);
}

/* A large key written 250 times: after its first record every write is an
 * edit in the journal (a chain ends in a record every EDIT_CHAIN_MAX
 * edits), and after a crash the start applies the edits since the last
 * record: the last value, at most 100 edits run, none failing. */
START_TEST(edits_of_a_large_key_survive_a_crash)
{
    for (int vc = 0; vc <= 1; vc++) {
        struct db d;
        db_init(&d, 0, vc);
        db_close(&d);
        big_rounds_then_crash(&d, 1 << 20, 250, 0);
        db_open(&d);
        journal_on(&d, 1 << 20);
        struct engine_stats st = stats(&d);
        ck_assert_uint_ge(st.journal_edits_replayed, 1);
        ck_assert_uint_le(st.journal_edits_replayed, 100);
        ck_assert_uint_eq(st.journal_edit_errors, 0);
        ck_assert_uint_eq(st.held_keys, 0); /* written at the start */
        expect_big(&d, 249);
        /* and that start wrote it whole: nothing to run again */
        db_close(&d);
        db_open(&d);
        journal_on(&d, 1 << 20);
        ck_assert_uint_eq(stats(&d).journal_edits_replayed, 0);
        expect_big(&d, 249);
        db_fini(&d);
    }
}
END_TEST

/* Under a 16 KB journal the edits' rotation writes the held key whole and
 * drops the older segments: the journal stays near its bound, and a crash
 * still gives the last value. */
START_TEST(edits_rotate_with_the_journal)
{
    struct db d;
    db_init(&d, 0, 0);
    db_close(&d);
    big_rounds_then_crash(&d, 16384, 1000, 1);
    db_open(&d);
    journal_on(&d, 16384);
    expect_big(&d, 999);
    ck_assert_uint_eq(stats(&d).journal_edit_errors, 0);
    db_fini(&d);
}
END_TEST

/* Small values and a journal that is off never make edits. */
START_TEST(small_values_and_no_journal_make_no_edits)
{
    struct db d;
    db_init(&d, 0, 0);
    journal_on(&d, 1 << 20);
    for (int i = 0; i < 50; i++) {
        char v[64];
        snprintf(v, sizeof(v), "small-%d", i);
        (void)store_get(d.s, "k", 1);
        put(&d, "k", v);
    }
    ck_assert_uint_eq(stats(&d).journal_edits, 0);
    db_fini(&d);
    db_init(&d, 0, 0);
    journal_on(&d, 0);
    static char v[BIG + 1];
    for (int r = 0; r < 5; r++) {
        (void)store_get(d.s, "big", 3);
        big_value(r, v);
        ck_assert_int_eq(engine_put_take(d.e, "big", 3, mkobj(v, 500 + r)),
                         0);
    }
    ck_assert_uint_eq(stats(&d).journal_edits, 0);
    ck_assert_uint_eq(stats(&d).held_keys, 0);
    expect_big(&d, 4);
    db_fini(&d);
}
END_TEST

START_TEST(memory_storage_writes_no_files)
{
    char *dir = make_dir();
    struct store *s = store_new(16);
    struct engine *e;
    struct dbuf err;
    dbuf_init(&err);
    struct engine_opts o = { .storage = STORAGE_MEMORY, .dir = dir };
    ck_assert_int_eq(engine_open(&o, s, &e, &err), 0);
    ck_assert_int_eq(engine_put_take(e, "a", 1, mkobj("x", 1)), 0);
    ck_assert_ptr_nonnull(store_get(s, "a", 1));
    ck_assert_int_eq(engine_remove(e, "a", 1), 0);
    ck_assert_int_eq(count_files(dir, "", NULL), 2); /* . and .. */
    engine_close(e);
    store_free(s);
    dbuf_free(&err);
    rm_dir(dir);
    dyn_free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, put_get_delete_survive_reopen);
    tcase_add_test(tc, identity_survives_with_the_data_and_counters_never_repeat);
    tcase_add_test(tc, hints_are_used_on_reopen_and_give_the_same_keydir);
    tcase_add_test(tc, segments_with_megabytes_of_hint_entries_get_their_hints);
    tcase_add_test(tc, truncated_hint_falls_back_to_scanning);
    tcase_add_test(tc, hint_with_bad_checksum_falls_back_to_scanning);
    tcase_add_test(tc, hint_with_entries_after_its_end_falls_back_to_scanning);
    tcase_add_test(tc, trailing_junk_in_the_data_is_cut);
    tcase_add_test(tc, compaction_keeps_live_keys_and_gives_space_back);
    tcase_add_test(tc, compaction_reads_records_across_chunk_boundaries);
    tcase_add_test(tc,
                   compaction_gives_back_segments_of_records_bigger_than_a_read);
    tcase_add_test(tc, values_on_disk_are_the_newest_after_many_overwrites);
    tcase_add_test(tc, value_cache_returns_the_same);
    tcase_add_test(tc, flush_all_survives_reopen_and_removes_old_segments);
    tcase_add_test(tc, always_fsyncs_every_write);
    tcase_add_test(tc, random_history_matches_a_model);
    tcase_add_test(tc, memory_storage_writes_no_files);
    tcase_add_test(tc, live_bytes_are_exact_after_a_crash_during_compaction);
    tcase_add_test(tc, edits_of_a_large_key_survive_a_crash);
    tcase_add_test(tc, edits_rotate_with_the_journal);
    tcase_add_test(tc, small_values_and_no_journal_make_no_edits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
