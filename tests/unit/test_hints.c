/*
 * test_hints.c -- the hint store's promises: hints come back oldest first
 * and go once delivered; they survive a close, a kill -9, a torn tail and a
 * flipped bit (only the damaged hint is lost); delivered hints stay
 * delivered; the budget drops and counts what does not fit and accepts
 * again once deliveries free room; and the disk is given back.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cluster/hints.h"
#include "server/util.h"

static char *make_dir(void)
{
    char tmpl[] = "/tmp/hintstestXXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return dyn_strdup(d);
}

static void rm_dir(char *d)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    dyn_free(d);
}

static struct hints *open_store(const char *dir, uint64_t budget,
                                uint64_t segmax, struct hints_recovery *rec)
{
    struct hints_opts o = {dir, budget, segmax};
    struct hints *hs = NULL;
    ck_assert_int_eq(hints_open(&o, &hs, rec), 0);
    ck_assert_ptr_nonnull(hs);
    return hs;
}

/* Object bytes for key i: recognisable, of a length that varies. */
static uint32_t obj_for(int i, int version, uint8_t *buf)
{
    uint32_t n = (uint32_t)(20 + (i % 7) * 13);
    for (uint32_t j = 0; j < n; j++)
        buf[j] = (uint8_t)(i * 31 + version * 7 + j);
    return n;
}

static void add_hint(struct hints *hs, const char *owner, int i, int version)
{
    char key[32];
    uint8_t obj[256];
    int kl = snprintf(key, sizeof(key), "key:%d", i);
    uint32_t ol = obj_for(i, version, obj);
    ck_assert_int_eq(hints_add(hs, owner, key, (uint32_t)kl, obj, ol), 0);
}

/* The hint's key is "key:i" and its object is version v of i. */
static void assert_hint(const struct hint *h, int i, int version)
{
    char key[32];
    uint8_t obj[256];
    int kl = snprintf(key, sizeof(key), "key:%d", i);
    uint32_t ol = obj_for(i, version, obj);
    ck_assert_uint_eq(h->klen, (uint32_t)kl);
    ck_assert(memcmp(h->key, key, (size_t)kl) == 0);
    ck_assert_uint_eq(h->olen, ol);
    ck_assert(memcmp(h->obj, obj, ol) == 0);
}

/* Every pending hint of owner, oldest first. */
static void pending_of(struct hints *hs, const char *owner,
                       struct hints_batch *b)
{
    ck_assert_int_eq(hints_next(hs, owner, 0, 100000, b), 0);
}

/* Delivers every pending hint of owner; returns how many. */
static size_t deliver_all(struct hints *hs, const char *owner)
{
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, owner, &b);
    for (size_t i = 0; i < b.n; i++)
        ck_assert_int_eq(hints_delivered(hs, owner, b.v[i].key, b.v[i].klen,
                                         b.v[i].id), 0);
    size_t n = b.n;
    hints_batch_free(&b);
    return n;
}

static int key_num(const struct hint *h)
{
    char k[32];
    snprintf(k, sizeof(k), "%.*s", (int)h->klen, (const char *)h->key);
    return atoi(k + 4);
}

static int count_segment_files(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/hints", dir);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".seg"))
            n++;
    closedir(d);
    return n;
}

static uint64_t dir_bytes(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/hints", dir);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    uint64_t t = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".seg"))
            continue;
        char f[1024];
        struct stat st;
        snprintf(f, sizeof(f), "%s/%s", path, e->d_name);
        ck_assert_int_eq(stat(f, &st), 0);
        t += (uint64_t)st.st_size;
    }
    closedir(d);
    return t;
}

/* The path of the highest-numbered segment (the active one). */
static void last_segment(const char *dir, char *out, size_t cap)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/hints", dir);
    DIR *d = opendir(path);
    ck_assert_ptr_nonnull(d);
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".seg") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof(best), "%s", e->d_name);
    closedir(d);
    ck_assert(best[0] != 0);
    snprintf(out, cap, "%s/%s", path, best);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

struct owner_list {
    int n;
    char names[128][32];
    uint64_t counts[128];
    uint64_t bytes[128];
};

static void list_owner(void *ctx, const char *owner, uint64_t count,
                       uint64_t bytes)
{
    struct owner_list *l = ctx;
    ck_assert_int_lt(l->n, 128);
    snprintf(l->names[l->n], 32, "%s", owner);
    l->counts[l->n] = count;
    l->bytes[l->n] = bytes;
    l->n++;
}

START_TEST(add_list_and_deliver_oldest_first)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    add_hint(hs, "node2", 1, 0);
    add_hint(hs, "node3", 9, 0);
    add_hint(hs, "node2", 2, 0);
    add_hint(hs, "node2", 3, 0);

    struct owner_list l = {0};
    hints_owners(hs, list_owner, &l);
    ck_assert_int_eq(l.n, 2);
    ck_assert_str_eq(l.names[0], "node2");
    ck_assert_uint_eq(l.counts[0], 3);
    ck_assert_str_eq(l.names[1], "node3");
    ck_assert_uint_eq(l.counts[1], 1);
    uint64_t c, b;
    hints_pending(hs, "node2", &c, &b);
    ck_assert_uint_eq(c, 3);
    ck_assert_uint_eq(b, l.bytes[0]);
    hints_pending(hs, "nobody", &c, &b);
    ck_assert_uint_eq(c, 0);
    ck_assert_uint_eq(b, 0);

    struct hints_batch batch;
    hints_batch_init(&batch);
    ck_assert_int_eq(hints_next(hs, "node2", 0, 2, &batch), 0);
    ck_assert_uint_eq(batch.n, 2);
    assert_hint(&batch.v[0], 1, 0);
    assert_hint(&batch.v[1], 2, 0);
    ck_assert_uint_lt(batch.v[0].id, batch.v[1].id);
    /* next does not remove: the same batch comes again */
    uint64_t last = batch.v[1].id;
    ck_assert_int_eq(hints_next(hs, "node2", 0, 2, &batch), 0);
    ck_assert_uint_eq(batch.n, 2);
    assert_hint(&batch.v[0], 1, 0);
    /* pipelining: what follows the batch in flight */
    ck_assert_int_eq(hints_next(hs, "node2", last, 10, &batch), 0);
    ck_assert_uint_eq(batch.n, 1);
    assert_hint(&batch.v[0], 3, 0);

    ck_assert_int_eq(hints_next(hs, "node2", 0, 10, &batch), 0);
    ck_assert_int_eq(hints_delivered(hs, "node2", batch.v[1].key,
                                     batch.v[1].klen, batch.v[1].id), 0);
    /* twice, or the wrong owner: nothing pending to remove */
    ck_assert_int_eq(hints_delivered(hs, "node2", batch.v[1].key,
                                     batch.v[1].klen, batch.v[1].id),
                     DYN_ENOTFOUND);
    ck_assert_int_eq(hints_delivered(hs, "node3", batch.v[0].key,
                                     batch.v[0].klen, batch.v[0].id),
                     DYN_ENOTFOUND);
    ck_assert_int_eq(hints_next(hs, "node2", 0, 10, &batch), 0);
    ck_assert_uint_eq(batch.n, 2);
    assert_hint(&batch.v[0], 1, 0);
    assert_hint(&batch.v[1], 3, 0);

    ck_assert_uint_eq(deliver_all(hs, "node2"), 2);
    l.n = 0;
    hints_owners(hs, list_owner, &l);
    ck_assert_int_eq(l.n, 1);
    ck_assert_str_eq(l.names[0], "node3");

    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.stored, 4);
    ck_assert_uint_eq(st.delivered, 3);
    ck_assert_uint_eq(st.dropped, 0);
    ck_assert_uint_eq(st.pending, 1);
    ck_assert_uint_eq(st.pending_bytes, l.bytes[0]);
    ck_assert_uint_eq(st.owners, 1);
    ck_assert_int_eq(hints_add(hs, "", "k", 1, "v", 1), DYN_EINVAL);
    hints_batch_free(&batch);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(later_hint_replaces_and_stale_ack_keeps_it)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    add_hint(hs, "node2", 1, 0);
    add_hint(hs, "node2", 2, 0);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node2", &b);
    uint64_t old_id = b.v[0].id;
    /* key 1 is written again while version 0 is in flight */
    add_hint(hs, "node2", 1, 1);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 2);
    assert_hint(&b.v[0], 2, 0);
    assert_hint(&b.v[1], 1, 1); /* replaced, and now the newest */
    uint64_t new_id = b.v[1].id;
    /* the owner acknowledges the old version: the new one stays */
    ck_assert_int_eq(hints_delivered(hs, "node2", "key:1", 5, old_id),
                     DYN_ENOTFOUND);
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.pending, 2);
    ck_assert_uint_eq(st.replaced, 1);
    ck_assert_uint_eq(st.stored, 3);
    hints_close(hs);

    /* the same after a replay */
    struct hints_recovery rec;
    hs = open_store(dir, 1 << 20, 0, &rec);
    ck_assert_uint_eq(rec.pending, 2);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 2);
    assert_hint(&b.v[0], 2, 0);
    assert_hint(&b.v[1], 1, 1);
    ck_assert_uint_eq(b.v[1].id, new_id);
    ck_assert_int_eq(hints_delivered(hs, "node2", "key:1", 5, new_id), 0);
    /* ids keep increasing after a restart */
    add_hint(hs, "node2", 3, 0);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_uint_gt(b.v[1].id, new_id);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(hints_survive_close_and_reopen)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 40; i++)
        add_hint(hs, i % 2 ? "b" : "a", i, 0);
    struct hints_stats before;
    hints_stats(hs, &before);
    hints_close(hs);

    struct hints_recovery rec;
    hs = open_store(dir, 1 << 20, 0, &rec);
    ck_assert_uint_eq(rec.pending, 40);
    ck_assert_uint_eq(rec.pending_bytes, before.pending_bytes);
    ck_assert_uint_eq(rec.log.corrupt_records, 0);
    ck_assert_uint_eq(rec.log.truncated_bytes, 0);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "a", &b);
    ck_assert_uint_eq(b.n, 20);
    for (size_t i = 0; i < b.n; i++)
        assert_hint(&b.v[i], (int)i * 2, 0);
    pending_of(hs, "b", &b);
    ck_assert_uint_eq(b.n, 20);
    for (size_t i = 0; i < b.n; i++)
        assert_hint(&b.v[i], (int)i * 2 + 1, 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(flushed_hints_survive_kill_9)
{
    char *dir = make_dir();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct hints_opts o = {dir, 1 << 20, 0};
        struct hints *hs;
        if (hints_open(&o, &hs, NULL) != 0)
            _exit(1);
        for (int i = 0; i < 10; i++) {
            char key[16];
            int kl = snprintf(key, sizeof(key), "key:%d", i);
            if (hints_add(hs, "node4", key, (uint32_t)kl, "obj", 3) != 0)
                _exit(1);
        }
        if (hints_delivered(hs, "node4", "key:0", 5, 1) != 0 ||
            hints_flush(hs) != 0)
            _exit(1);
        /* buffered only: a kill -9 loses it, as the fsync policy allows */
        hints_add(hs, "node4", "lost", 4, "obj", 3);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node4", &b);
    ck_assert_uint_eq(b.n, 9);
    for (size_t i = 0; i < b.n; i++)
        ck_assert_int_eq(key_num(&b.v[i]), (int)i + 1);
    ck_assert_uint_eq(deliver_all(hs, "node4"), 9);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(torn_tail_loses_only_the_torn_hint)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 5; i++)
        add_hint(hs, "node2", i, 0);
    hints_close(hs);

    char seg[1024];
    last_segment(dir, seg, sizeof(seg));
    off_t size = file_size(seg);
    /* cut the last record (key:4) in its middle */
    ck_assert_int_eq(truncate(seg, size - 9), 0);

    struct hints_recovery rec;
    hs = open_store(dir, 1 << 20, 0, &rec);
    ck_assert_uint_gt(rec.log.truncated_bytes, 0);
    ck_assert_uint_eq(rec.pending, 4);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_hint(&b.v[i], (int)i, 0);
    /* the store goes on after the cut */
    add_hint(hs, "node2", 7, 0);
    hints_close(hs);
    hs = open_store(dir, 1 << 20, 0, &rec);
    ck_assert_uint_eq(rec.log.truncated_bytes, 0);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 5);
    assert_hint(&b.v[4], 7, 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(torn_delivery_record_means_delivering_again)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 3; i++)
        add_hint(hs, "node2", i, 0);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node2", &b);
    ck_assert_int_eq(hints_delivered(hs, "node2", b.v[2].key, b.v[2].klen,
                                     b.v[2].id), 0);
    hints_close(hs);
    char seg[1024];
    last_segment(dir, seg, sizeof(seg));
    ck_assert_int_eq(truncate(seg, file_size(seg) - 3), 0);
    hs = open_store(dir, 1 << 20, 0, NULL);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 3); /* key:2 comes back, to be sent again */
    assert_hint(&b.v[2], 2, 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(flipped_bit_loses_only_that_hint)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 5; i++)
        add_hint(hs, "node2", i, 0);
    hints_close(hs);
    char seg[1024];
    last_segment(dir, seg, sizeof(seg));
    /* the records are in order; find key:2's object and flip a bit in it */
    FILE *f = fopen(seg, "r+b");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    uint8_t *k = memmem(buf, n, "key:2", 5);
    ck_assert_ptr_nonnull(k);
    size_t at = (size_t)(k - buf) + 5 + 3;
    buf[at] ^= 0x10;
    ck_assert_int_eq(fseek(f, (long)at, SEEK_SET), 0);
    ck_assert_int_eq(fputc(buf[at], f), buf[at]);
    fclose(f);

    struct hints_recovery rec;
    hs = open_store(dir, 1 << 20, 0, &rec);
    ck_assert_uint_eq(rec.log.corrupt_records, 1);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 4);
    int want[] = {0, 1, 3, 4};
    for (size_t i = 0; i < 4; i++)
        assert_hint(&b.v[i], want[i], 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(delivered_hints_stay_delivered_after_reopen)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 10; i++)
        add_hint(hs, "node2", i, 0);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node2", &b);
    for (size_t i = 0; i < b.n; i += 2)
        ck_assert_int_eq(hints_delivered(hs, "node2", b.v[i].key,
                                         b.v[i].klen, b.v[i].id), 0);
    hints_close(hs);
    for (int round = 0; round < 2; round++) {
        struct hints_recovery rec;
        hs = open_store(dir, 1 << 20, 0, &rec);
        ck_assert_uint_eq(rec.pending, 5);
        pending_of(hs, "node2", &b);
        ck_assert_uint_eq(b.n, 5);
        for (size_t i = 0; i < b.n; i++)
            ck_assert_int_eq(key_num(&b.v[i]), (int)i * 2 + 1);
        hints_close(hs);
    }
    hints_batch_free(&b);
    rm_dir(dir);
}
END_TEST

START_TEST(budget_drops_and_counts_then_accepts_after_delivery)
{
    char *dir = make_dir();
    uint8_t obj[100];
    memset(obj, 'x', sizeof(obj));
    /* each record: header 10 + id/len 10 + owner 5 + key 5 + 100 + 8 */
    const uint64_t rec = 10 + 10 + 5 + 5 + 100 + 8;
    struct hints *hs = open_store(dir, rec * 10, 0, NULL);
    int stored = 0, dropped = 0;
    for (int i = 0; i < 15; i++) {
        char key[8];
        snprintf(key, sizeof(key), "k%04d", i);
        int rc = hints_add(hs, "node2", key, 5, obj, sizeof(obj));
        if (rc == 0)
            stored++;
        else {
            ck_assert_int_eq(rc, DYN_ELIMIT);
            dropped++;
        }
    }
    ck_assert_int_eq(stored, 10);
    ck_assert_int_eq(dropped, 5);
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.dropped, 5);
    ck_assert_uint_eq(st.pending, 10);
    ck_assert_uint_eq(st.pending_bytes, rec * 10);
    ck_assert_uint_le(st.pending_bytes, st.max_bytes);
    /* a bigger replacement of a pending key does not fit either */
    uint8_t big[101];
    memset(big, 'y', sizeof(big));
    ck_assert_int_eq(hints_add(hs, "node2", "k0000", 5, big, sizeof(big)),
                     DYN_ELIMIT);
    /* ... but one of the same size replaces in place */
    ck_assert_int_eq(hints_add(hs, "node2", "k0000", 5, big, 100), 0);

    struct hints_batch b;
    hints_batch_init(&b);
    ck_assert_int_eq(hints_next(hs, "node2", 0, 2, &b), 0);
    for (size_t i = 0; i < b.n; i++)
        ck_assert_int_eq(hints_delivered(hs, "node2", b.v[i].key,
                                         b.v[i].klen, b.v[i].id), 0);
    ck_assert_int_eq(hints_add(hs, "node2", "k0100", 5, obj, sizeof(obj)),
                     0);
    ck_assert_int_eq(hints_add(hs, "node2", "k0101", 5, obj, sizeof(obj)),
                     0);
    ck_assert_int_eq(hints_add(hs, "node2", "k0102", 5, obj, sizeof(obj)),
                     DYN_ELIMIT);
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.dropped, 7);
    ck_assert_uint_eq(st.pending, 10);
    /* a lower budget at run time: pending hints stay, new ones drop */
    hints_set_budget(hs, rec * 5);
    ck_assert_int_eq(hints_add(hs, "node9", "k", 1, "v", 1), DYN_ELIMIT);
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.pending, 10);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(budget_zero_stores_nothing)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 0, 0, NULL);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(hints_add(hs, "node2", "k", 1, "v", 1), DYN_ELIMIT);
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.dropped, 3);
    ck_assert_uint_eq(st.stored, 0);
    ck_assert_uint_eq(st.pending, 0);
    ck_assert_uint_eq(st.disk_bytes, 0);
    struct owner_list l = {0};
    hints_owners(hs, list_owner, &l);
    ck_assert_int_eq(l.n, 0);
    hints_close(hs);
    ck_assert_uint_eq(dir_bytes(dir), 0);
    struct hints_recovery rec;
    hs = open_store(dir, 0, 0, &rec);
    ck_assert_uint_eq(rec.pending, 0);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(delivered_segments_are_removed)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 24, 4096, NULL);
    for (int i = 0; i < 300; i++)
        add_hint(hs, "node2", i, 0);
    ck_assert_int_eq(hints_flush(hs), 0);
    int files_full = count_segment_files(dir);
    uint64_t bytes_full = dir_bytes(dir);
    ck_assert_int_gt(files_full, 6);
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.disk_bytes, bytes_full);

    /* the oldest half delivered: their segments go, the rest stay */
    struct hints_batch b;
    hints_batch_init(&b);
    ck_assert_int_eq(hints_next(hs, "node2", 0, 150, &b), 0);
    ck_assert_uint_eq(b.n, 150);
    for (size_t i = 0; i < b.n; i++)
        ck_assert_int_eq(hints_delivered(hs, "node2", b.v[i].key,
                                         b.v[i].klen, b.v[i].id), 0);
    ck_assert_int_eq(hints_flush(hs), 0);
    /* (the DEL records take some room of their own) */
    ck_assert_int_lt(count_segment_files(dir), files_full);
    ck_assert_uint_lt(dir_bytes(dir), bytes_full);
    char first[1024];
    snprintf(first, sizeof(first), "%s/hints/hints.00000001.seg", dir);
    ck_assert_int_ne(access(first, F_OK), 0);
    hints_close(hs);

    struct hints_recovery rec;
    hs = open_store(dir, 1 << 24, 4096, &rec);
    ck_assert_uint_eq(rec.pending, 150);
    pending_of(hs, "node2", &b);
    ck_assert_uint_eq(b.n, 150);
    for (size_t i = 0; i < b.n; i++)
        assert_hint(&b.v[i], (int)i + 150, 0);

    /* everything delivered: back to one empty segment */
    ck_assert_uint_eq(deliver_all(hs, "node2"), 150);
    ck_assert_int_eq(hints_flush(hs), 0);
    ck_assert_int_eq(count_segment_files(dir), 1);
    ck_assert_uint_eq(dir_bytes(dir), 0);
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.disk_bytes, 0);
    ck_assert_uint_eq(st.segments, 1);
    ck_assert_uint_ge(st.segments_removed, (uint64_t)files_full - 1);
    hints_close(hs);
    hs = open_store(dir, 1 << 24, 4096, &rec);
    ck_assert_uint_eq(rec.pending, 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(one_dead_owner_does_not_pin_the_disk)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 24, 4096, NULL);
    /* node9 never comes back; its hints sit in the oldest segment */
    add_hint(hs, "node9", 1, 0);
    add_hint(hs, "node9", 2, 0);
    /* node2 churns through many segments' worth of hints */
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 20; i++)
            add_hint(hs, "node2", round * 20 + i, 0);
        ck_assert_uint_eq(deliver_all(hs, "node2"), 20);
    }
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_gt(st.compactions, 0);
    ck_assert_uint_le(count_segment_files(dir), 4);
    ck_assert_uint_le(st.disk_bytes, 3 * 4096);
    ck_assert_uint_eq(st.pending, 2);
    hints_close(hs);

    struct hints_recovery rec;
    hs = open_store(dir, 1 << 24, 4096, &rec);
    ck_assert_uint_eq(rec.pending, 2);
    struct hints_batch b;
    hints_batch_init(&b);
    pending_of(hs, "node9", &b);
    ck_assert_uint_eq(b.n, 2);
    assert_hint(&b.v[0], 1, 0);
    assert_hint(&b.v[1], 2, 0);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(many_owners)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 24, 16384, NULL);
    enum { OWNERS = 60, PER = 25 };
    for (int i = 0; i < PER; i++)
        for (int o = OWNERS - 1; o >= 0; o--) {
            char name[16];
            snprintf(name, sizeof(name), "node%02d", o);
            add_hint(hs, name, o * 1000 + i, 0);
        }
    for (int reopen = 0; reopen < 2; reopen++) {
        struct owner_list l = {0};
        hints_owners(hs, list_owner, &l);
        ck_assert_int_eq(l.n, OWNERS);
        for (int o = 0; o < OWNERS; o++) {
            char name[16];
            snprintf(name, sizeof(name), "node%02d", o);
            ck_assert_str_eq(l.names[o], name); /* in name order */
            ck_assert_uint_eq(l.counts[o], PER);
            struct hints_batch b;
            hints_batch_init(&b);
            pending_of(hs, name, &b);
            ck_assert_uint_eq(b.n, PER);
            for (int i = 0; i < PER; i++)
                assert_hint(&b.v[i], o * 1000 + i, 0);
            hints_batch_free(&b);
        }
        hints_close(hs);
        hs = open_store(dir, 1 << 24, 16384, NULL);
    }
    /* deliver owner by owner; the others are untouched */
    for (int o = 0; o < OWNERS; o++) {
        char name[16];
        snprintf(name, sizeof(name), "node%02d", o);
        ck_assert_uint_eq(deliver_all(hs, name), PER);
        struct hints_stats st;
        hints_stats(hs, &st);
        ck_assert_uint_eq(st.owners, (uint32_t)(OWNERS - o - 1));
        ck_assert_uint_eq(st.pending, (uint64_t)(OWNERS - o - 1) * PER);
    }
    ck_assert_int_eq(hints_flush(hs), 0);
    ck_assert_uint_eq(dir_bytes(dir), 0);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(drop_owner_forgets_its_hints)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 5; i++) {
        add_hint(hs, "gone", i, 0);
        add_hint(hs, "node2", i, 0);
    }
    uint64_t n = 0;
    ck_assert_int_eq(hints_drop_owner(hs, "gone", &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(hints_drop_owner(hs, "gone", &n), 0);
    ck_assert_uint_eq(n, 0);
    hints_close(hs);
    hs = open_store(dir, 1 << 20, 0, NULL);
    uint64_t c;
    hints_pending(hs, "gone", &c, NULL);
    ck_assert_uint_eq(c, 0);
    hints_pending(hs, "node2", &c, NULL);
    ck_assert_uint_eq(c, 5);
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.delivered, 0);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

/* hints_scan: ids and keys from memory, oldest first, paged by id. */
struct scan_seen {
    uint32_t n;
    uint64_t ids[16];
    char keys[16][32];
};

static void scan_cb(void *ctx, uint64_t id, const void *key, uint32_t klen)
{
    struct scan_seen *s = ctx;
    ck_assert_uint_lt(s->n, 16);
    s->ids[s->n] = id;
    snprintf(s->keys[s->n], sizeof(s->keys[0]), "%.*s", (int)klen,
             (const char *)key);
    s->n++;
}

START_TEST(scan_walks_an_owner_from_memory_in_pages)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    for (int i = 0; i < 5; i++) {
        add_hint(hs, "left", i, 0);
        add_hint(hs, "other", i, 0);
    }
    add_hint(hs, "left", 1, 1);   /* replaced: moves to the back */
    struct scan_seen a = {0};
    uint64_t last = hints_scan(hs, "left", 0, 3, scan_cb, &a);
    ck_assert_uint_eq(a.n, 3);
    ck_assert_str_eq(a.keys[0], "key:0");
    ck_assert_str_eq(a.keys[1], "key:2");
    ck_assert_str_eq(a.keys[2], "key:3");
    ck_assert_uint_eq(last, a.ids[2]);
    ck_assert_uint_lt(a.ids[0], a.ids[1]);
    struct scan_seen b = {0};
    uint64_t last2 = hints_scan(hs, "left", last, 10, scan_cb, &b);
    ck_assert_uint_eq(b.n, 2);
    ck_assert_str_eq(b.keys[0], "key:4");
    ck_assert_str_eq(b.keys[1], "key:1");
    ck_assert_uint_eq(last2, b.ids[1]);
    struct scan_seen c = {0};
    ck_assert_uint_eq(hints_scan(hs, "left", last2, 10, scan_cb, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_uint_eq(hints_scan(hs, "nobody", 0, 10, scan_cb, &c), 0);
    ck_assert_uint_eq(c.n, 0);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

START_TEST(drop_removes_one_version_without_counting_a_delivery)
{
    char *dir = make_dir();
    struct hints *hs = open_store(dir, 1 << 20, 0, NULL);
    add_hint(hs, "left", 1, 0);
    add_hint(hs, "left", 2, 0);
    struct hints_batch b;
    hints_batch_init(&b);
    ck_assert_int_eq(hints_next(hs, "left", 0, 10, &b), 0);
    ck_assert_uint_eq(b.n, 2);
    uint64_t id1 = b.v[0].id, id2 = b.v[1].id;
    add_hint(hs, "left", 2, 1);   /* a newer version of key:2 */
    ck_assert_int_eq(hints_drop(hs, "left", "key:1", 5, id1), 0);
    ck_assert_int_eq(hints_drop(hs, "left", "key:1", 5, id1), DYN_ENOTFOUND);
    /* the replaced version's id no longer names a pending hint */
    ck_assert_int_eq(hints_drop(hs, "left", "key:2", 5, id2), DYN_ENOTFOUND);
    ck_assert(!hints_has_key(hs, "key:1", 5));
    ck_assert(hints_has_key(hs, "key:2", 5));
    struct hints_stats st;
    hints_stats(hs, &st);
    ck_assert_uint_eq(st.delivered, 0);
    ck_assert_uint_eq(st.pending, 1);
    hints_close(hs);
    /* and it stays dropped after a replay */
    hs = open_store(dir, 1 << 20, 0, NULL);
    ck_assert_int_eq(hints_next(hs, "left", 0, 10, &b), 0);
    ck_assert_uint_eq(b.n, 1);
    assert_hint(&b.v[0], 2, 1);
    hints_batch_free(&b);
    hints_close(hs);
    rm_dir(dir);
}
END_TEST

static Suite *hints_suite(void)
{
    Suite *s = suite_create("hints");
    TCase *tc = tcase_create("hints");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, add_list_and_deliver_oldest_first);
    tcase_add_test(tc, later_hint_replaces_and_stale_ack_keeps_it);
    tcase_add_test(tc, hints_survive_close_and_reopen);
    tcase_add_test(tc, flushed_hints_survive_kill_9);
    tcase_add_test(tc, torn_tail_loses_only_the_torn_hint);
    tcase_add_test(tc, torn_delivery_record_means_delivering_again);
    tcase_add_test(tc, flipped_bit_loses_only_that_hint);
    tcase_add_test(tc, delivered_hints_stay_delivered_after_reopen);
    tcase_add_test(tc, budget_drops_and_counts_then_accepts_after_delivery);
    tcase_add_test(tc, budget_zero_stores_nothing);
    tcase_add_test(tc, delivered_segments_are_removed);
    tcase_add_test(tc, one_dead_owner_does_not_pin_the_disk);
    tcase_add_test(tc, many_owners);
    tcase_add_test(tc, drop_owner_forgets_its_hints);
    tcase_add_test(tc, scan_walks_an_owner_from_memory_in_pages);
    tcase_add_test(tc, drop_removes_one_version_without_counting_a_delivery);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hints_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
