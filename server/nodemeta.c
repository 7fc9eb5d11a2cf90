/*
 * nodemeta.c -- node.meta: the rules (pure, first half) and the file I/O
 * (second half).  nodemeta.h describes the file and its rules; this file
 * adds how they are kept.
 *
 * The identity draws on the system's entropy, not the node's random source:
 * an identity must differ between nodes and runs, and the engine (disk
 * only) is not simulated.  Only the I/O half draws it; nodemeta_decide is
 * handed the number, so its rules are tested without a file or a die.
 *
 * Invariants: the counters written never go down within a life of the
 * node, and an open writes the new identity (fsynced) before the engine
 * accepts any write.
 */
#include "server/nodemeta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "server/log.h"
#include "server/util.h"

/* ---- pure ------------------------------------------------------------------ */

int nodemeta_parse(const char *text, struct nodemeta_file *out)
{
    unsigned long inc = 0;
    unsigned long long reserved = 0;
    int n = 0;
    memset(out, 0, sizeof(*out));
    /* The scanf rules the file was always read with (fscanf before). */
    if (sscanf(text, "incarnation %lu%n", &inc, &n) != 1)
        return DYN_EINVAL;
    if (sscanf(text + n, " counters %llu", &reserved) != 1)
        reserved = 0;
    out->have = 1;
    out->incarnation = inc;
    out->counters = reserved;
    return 0;
}

int nodemeta_encode(uint32_t inc, uint64_t reserved, char *buf, size_t cap)
{
    int len = snprintf(buf, cap, "incarnation %u\ncounters %llu\n", inc,
                       (unsigned long long)reserved);
    if (len < 0 || (size_t)len >= cap)
        return DYN_ELIMIT;
    return len;
}

void nodemeta_decide(const struct nodemeta_file *f, int has_data,
                     uint32_t random24, struct nodemeta *out)
{
    uint64_t reserved = f->have ? f->counters : 0;
    uint32_t next;
    memset(out, 0, sizeof(*out));
    out->fresh = f->have && reserved >= NODEMETA_COUNTER_FRESH;
    if (out->fresh) {
        out->fresh_from = reserved;
        reserved = 0;
    }
    if (f->have && !out->fresh && has_data)
        next = (uint32_t)(f->incarnation & 0xffffffu); /* same actor */
    else if (f->have)
        next = (uint32_t)((f->incarnation + 1) & 0xffffffu);
    else
        next = random24 & 0xffffffu;
    if (next == 0)
        next = 1;
    out->incarnation = next;
    /* counters in use may reach the old reservation: start above it */
    out->counter_base = reserved;
    out->counter_reserved = reserved + NODEMETA_COUNTER_BLOCK;
}

uint64_t nodemeta_reserve_target(uint64_t used)
{
    return used > UINT64_MAX - NODEMETA_COUNTER_BLOCK
               ? UINT64_MAX : used + NODEMETA_COUNTER_BLOCK;
}

/* ---- file I/O ---------------------------------------------------------------- */

static void meta_path(const char *dir, const char *name, struct dbuf *out)
{
    dbuf_init(out);
    dbuf_printf(out, "%s/%s", dir, name);
    dbuf_appendc(out, 0);
}

void nodemeta_read(const char *dir, struct nodemeta_file *out)
{
    struct dbuf path;
    meta_path(dir, "node.meta", &path);
    int fd = open(path.p, O_RDONLY | O_CLOEXEC);
    dbuf_free(&path);
    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return;
    char text[NODEMETA_MAX_BYTES + 1];
    size_t got = dyn_read_full(fd, text, NODEMETA_MAX_BYTES);
    close(fd);
    text[got] = 0;
    (void)nodemeta_parse(text, out);
}

int nodemeta_has_data(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        found = l > 9 && strncmp(de->d_name, "data.", 5) == 0 &&
                strcmp(de->d_name + l - 4, ".seg") == 0;
    }
    closedir(d);
    return found;
}

int nodemeta_write(const char *dir, uint32_t inc, uint64_t reserved,
                   struct dbuf *err)
{
    struct dbuf path, tmp;
    meta_path(dir, "node.meta", &path);
    meta_path(dir, "node.meta.tmp", &tmp);
    char line[96];
    int len = nodemeta_encode(inc, reserved, line, sizeof(line));
    dyn_assert(len > 0); /* 96 bytes hold any two numbers */
    int rc = 0;
    int fd = open(tmp.p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int ok = fd >= 0 && dyn_write_all(fd, line, (size_t)len) == 0 &&
             fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp.p, path.p) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        dbuf_reset(err);
        dbuf_printf(err, "cannot write %s: %s", path.p, strerror(saved));
        rc = DYN_EIO;
    } else {
        dyn_fsync_dir(dir);
    }
    dbuf_free(&path);
    dbuf_free(&tmp);
    return rc;
}

/* 24 random bits from the system (see the essay). */
static uint32_t system_random24(void)
{
    uint8_t r[3] = {0, 0, 0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = dyn_mono_us() ^ dyn_wall_ms() ^ (uint64_t)getpid();
        memcpy(r, &t, sizeof(r));
    }
    return (uint32_t)r[0] << 16 | (uint32_t)r[1] << 8 | r[2];
}

int nodemeta_open(const char *dir, struct nodemeta *out, struct dbuf *err)
{
    struct nodemeta_file f;
    nodemeta_read(dir, &f);
    nodemeta_decide(&f, f.have ? nodemeta_has_data(dir) : 0,
                    f.have ? 0 : system_random24(), out);
    if (out->fresh)
        dlog(DLOG_WARNING, "node.meta reserves dot counters up to %llu, "
             "near the end of the counter space: starting a fresh actor",
             (unsigned long long)out->fresh_from);
    return nodemeta_write(dir, out->incarnation, out->counter_reserved, err);
}

int nodemeta_reserve(const char *dir, struct nodemeta *m, uint64_t used)
{
    if (used < m->counter_reserved)
        return 0;
    struct dbuf err;
    dbuf_init(&err);
    uint64_t want = nodemeta_reserve_target(used);
    int rc = nodemeta_write(dir, m->incarnation, want, &err);
    if (rc == 0)
        m->counter_reserved = want;
    else
        dlog(DLOG_WARNING, "%.*s", (int)err.len, err.p);
    dbuf_free(&err);
    return rc;
}
