/*
 * seglog.c -- append-only, checksummed segment files.  See seglog.h for the
 * record layout and the recovery rules; this file adds how they are kept:
 *
 *   - the active segment is open O_APPEND; `size` is its length on disk and
 *     pending records sit in `wbuf` until seglog_flush();
 *   - a write that fails part-way is undone with ftruncate(size), so a
 *     partial record never sits in the middle of a file;
 *   - `failed` latches the first fsync or write error for good.
 *   - seglog_reserve() preallocates the active segment ahead of the
 *     appends (fallocate with KEEP_SIZE, so the file's size and recovery
 *     are unaffected): a full disk is then reported when a record is
 *     appended, before the caller has acted on it, rather than later when
 *     the buffer is written.  The unused tail is given back at roll/close.
 *   - the file system work of a roll can be done elsewhere (the engine's
 *     helper thread), because it waits for the file system's journal:
 *     the caller creates and preallocates the next segment ahead of time
 *     (seglog_adopt_next), so the roll itself is a swap of descriptors,
 *     and takes the sealed segment's descriptor (seglog_roll_handoff) to
 *     give back its unused tail and fdatasync it.  An empty segment after
 *     the last non-empty one (created ahead, then a crash) holds no record
 *     and is removed at open, so the tail of the one before it is still
 *     the torn tail that gets cut.
 *
 * Segments are scanned with mmap: they are bounded by segment_max_bytes
 * and read once, front to back.
 *
 * Random reads (seglog_read) go through a small cache of read-only
 * mappings (SEGLOG_MAPS segments, least recently used out): a read is then
 * a bounds check, a parse and the checksum, with no system call -- a SET
 * on a Bitcask store reads the old version for its clock, so this is on
 * the write path too.  The active segment is mapped segment_max_bytes
 * long (past its end of file, which is allowed; only bytes below `size`,
 * known written, are touched); a sealed one its file size.  Every access
 * is bounded by the bytes known to be in the file, so a damaged length
 * never reaches past the end of file.  The price: an I/O error of the
 * disk under a mapped page is a SIGBUS rather than an EIO.  Where mmap
 * fails the read falls back to pread.
 */
#include "server/seglog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include "server/util.h"
#include "server/wire.h"

#define SEGLOG_MAPS 8

struct seglog_map {
    uint32_t seg;
    int fd;             /* -1: slot unused */
    const uint8_t *p;   /* NULL: mmap failed, pread fd instead */
    size_t maplen;
    uint64_t valid;     /* bytes known to be in the file (sealed) */
    int was_active;     /* mapped while active: valid not known yet */
    uint64_t used;      /* LRU clock */
};

struct seglog {
    char *dir;
    char *prefix;
    uint64_t segment_max_bytes;
    uint32_t max_key;
    uint64_t max_value;
    uint32_t active;        /* active segment number */
    int fd;                 /* active segment, O_APPEND */
    uint64_t size;          /* bytes of the active segment on disk */
    struct dbuf wbuf;       /* appended, not yet written */
    int unsynced;           /* written since the last fdatasync */
    int failed;
    int err;
    int read_fd;            /* pread fallback: a map slot's fd (not owned) */
    uint32_t read_seg;
    struct seglog_map maps[SEGLOG_MAPS];
    uint64_t map_clock;
    uint64_t reserved;      /* active segment: preallocated up to here */
    int no_reserve;         /* the file system cannot preallocate */
    /* the next segment, created (and preallocated) ahead of the roll by
     * the caller, elsewhere (seglog_adopt_next); -1 = none */
    int next_fd;
    uint32_t next_seg;
    uint64_t next_reserved;
};

/* Preallocation step (capped by segment_max_bytes): fallocate can wait
 * for the file system's journal for milliseconds while an fsync runs, so
 * it is done rarely; the unused tail is given back at roll and close. */
#define SEGLOG_RESERVE_CHUNK (4 * 1024 * 1024)

int seglog_parse(const uint8_t *buf, size_t len, uint32_t max_key,
                 uint64_t max_value, struct seglog_rec *rec)
{
    if (len < 1)
        return 0;
    if (buf[0] != SEGLOG_MAGIC)
        return -1;
    if (len < SEGLOG_HEADER)
        return 0;
    uint32_t klen = wire_load_le32(buf + 2), vlen = wire_load_le32(buf + 6);
    if (klen > max_key || vlen > max_value)
        return -1;
    uint64_t total = (uint64_t)SEGLOG_HEADER + klen + vlen + SEGLOG_TRAILER;
    if (len < total)
        return 0;
    uint64_t want = wire_load_le64(buf + total - SEGLOG_TRAILER);
    if (XXH3_64bits(buf, total - SEGLOG_TRAILER) != want)
        return -1;
    rec->type = buf[1];
    rec->key = buf + SEGLOG_HEADER;
    rec->klen = klen;
    rec->value = buf + SEGLOG_HEADER + klen;
    rec->vlen = vlen;
    rec->size = (uint32_t)total;
    return 1;
}

void seglog_encode(struct dbuf *out, uint8_t type, const void *key,
                   uint32_t klen, const void *value, uint32_t vlen)
{
    size_t start = out->len;
    size_t total = SEGLOG_HEADER + (size_t)klen + vlen + SEGLOG_TRAILER;
    dbuf_reserve(out, total);
    uint8_t *p = (uint8_t *)out->p + start;
    p[0] = SEGLOG_MAGIC;
    p[1] = type;
    wire_store_le32(p + 2, klen);
    wire_store_le32(p + 6, vlen);
    if (klen)
        memcpy(p + SEGLOG_HEADER, key, klen);
    if (vlen)
        memcpy(p + SEGLOG_HEADER + klen, value, vlen);
    wire_store_le64(p + total - SEGLOG_TRAILER,
            XXH3_64bits(p, total - SEGLOG_TRAILER));
    out->len += total;
}

void seglog_segment_path(const struct seglog *l, uint32_t seg,
                         struct dbuf *out)
{
    dbuf_reset(out);
    dbuf_printf(out, "%s/%s.%08u.seg", l->dir, l->prefix, seg);
    dbuf_appendc(out, 0);
    out->len--;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Segment numbers present in the directory, sorted. */
static int list_segments(const struct seglog *l, uint32_t **out, size_t *n)
{
    DIR *d = opendir(l->dir);
    if (!d)
        return DYN_EIO;
    size_t cap = 16, cnt = 0;
    uint32_t *v = dyn_malloc(cap * sizeof(uint32_t));
    size_t plen = strlen(l->prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        size_t len = strlen(nm);
        if (len != plen + 1 + 8 + 4 || strncmp(nm, l->prefix, plen) != 0 ||
            nm[plen] != '.' || strcmp(nm + plen + 9, ".seg") != 0)
            continue;
        unsigned long long num = 0;
        int ok = 1;
        for (int i = 0; i < 8; i++) {
            char c = nm[plen + 1 + i];
            if (c < '0' || c > '9')
                ok = 0;
            num = num * 10 + (unsigned)(c - '0');
        }
        if (!ok)
            continue;
        if (cnt == cap)
            v = dyn_realloc(v, (cap *= 2) * sizeof(uint32_t));
        v[cnt++] = (uint32_t)num;
    }
    closedir(d);
    qsort(v, cnt, sizeof(uint32_t), cmp_u32);
    *out = v;
    *n = cnt;
    return 0;
}

/* Scans one segment; returns the length of its valid prefix in *keep when
 * it is the last segment (the caller truncates there). */
static int scan_segment(struct seglog *l, uint32_t seg, int last,
                        seglog_replay_fn fn, void *ctx,
                        struct seglog_recovery *rec, uint64_t *keep)
{
    struct dbuf path;
    dbuf_init(&path);
    seglog_segment_path(l, seg, &path);
    int fd = open(path.p, O_RDONLY | O_CLOEXEC);
    dbuf_free(&path);
    if (fd < 0) {
        l->err = errno;
        return DYN_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        l->err = errno;
        close(fd);
        return DYN_EIO;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            l->err = errno;
            close(fd);
            return DYN_EIO;
        }
    }
    close(fd);
    rec->segments++;
    size_t off = 0, valid_end = 0;
    int rc = 0;
    while (off < len) {
        struct seglog_rec r;
        int p = seglog_parse(map + off, len - off, l->max_key, l->max_value,
                             &r);
        if (p == 1) {
            r.pos.seg = seg;
            r.pos.off = off;
            rec->records++;
            rec->bytes += r.size;
            off += r.size;
            valid_end = off;
            if (fn && (rc = fn(ctx, &r)) != 0)
                break;
            continue;
        }
        if (p == -1)
            rec->corrupt_records++;
        /* Incomplete or corrupt: look for the next intact record. */
        size_t next = off + 1;
        for (; next < len; next++) {
            if (map[next] != SEGLOG_MAGIC)
                continue;
            struct seglog_rec t;
            if (seglog_parse(map + next, len - next, l->max_key, l->max_value,
                             &t) == 1)
                break;
        }
        if (next >= len) {
            if (p == 0 && !last)
                rec->corrupt_records++; /* a hole inside a sealed segment */
            break;
        }
        if (p == 0)
            rec->corrupt_records++; /* an impossible length mid-file */
        off = next;
    }
    if (map)
        munmap((void *)map, len);
    *keep = valid_end;
    if (last && valid_end < len)
        rec->truncated_bytes += len - valid_end;
    return rc;
}

/* Gives back the preallocated space past the end of the active segment
 * (truncating to the current size frees blocks beyond EOF). */
static void seglog_release(struct seglog *l)
{
    if (l->fd >= 0 && l->reserved > l->size && l->wbuf.len == 0 &&
        ftruncate(l->fd, (off_t)l->size) == 0)
        l->reserved = l->size;
}

/* Forgets the segment created ahead; with `remove`, its file goes too
 * (only while it is still empty: it was never written). */
static void next_drop(struct seglog *l, int remove)
{
    if (l->next_fd < 0)
        return;
    struct stat st;
    if (remove && l->next_seg > l->active && fstat(l->next_fd, &st) == 0 &&
        st.st_size == 0) {
        struct dbuf path;
        dbuf_init(&path);
        seglog_segment_path(l, l->next_seg, &path);
        (void)unlink(path.p);
        dbuf_free(&path);
    }
    close(l->next_fd);
    l->next_fd = -1;
}

/* Makes seg the active segment: the one created ahead if it is seg, else
 * opened (created) here.  The old active segment is closed after giving
 * back its unused tail, or handed to *old when old is not NULL. */
static int open_active(struct seglog *l, uint32_t seg,
                       struct seglog_sealed *old)
{
    int fd;
    uint64_t reserved = 0;
    if (l->next_fd >= 0 && l->next_seg == seg) {
        fd = l->next_fd;
        reserved = l->next_reserved;
        l->next_fd = -1;
    } else {
        next_drop(l, 0);
        struct dbuf path;
        dbuf_init(&path);
        seglog_segment_path(l, seg, &path);
        fd = open(path.p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        dbuf_free(&path);
        if (fd < 0) {
            l->err = errno;
            return DYN_EIO;
        }
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        l->err = errno;
        close(fd);
        return DYN_EIO;
    }
    if (l->fd >= 0) {
        if (old) {
            old->fd = l->fd;
            old->seg = l->active;
            old->size = l->size;
            old->trim = l->reserved > l->size;
        } else {
            seglog_release(l);
            close(l->fd);
        }
    }
    l->fd = fd;
    l->active = seg;
    l->size = (uint64_t)st.st_size;
    l->reserved = DYN_MAX(l->size, reserved);
    return 0;
}

int seglog_open(const struct seglog_opts *o, uint32_t first_seg,
                seglog_replay_fn fn, void *ctx, struct seglog **out,
                struct seglog_recovery *rec)
{
    struct seglog *l = dyn_calloc(1, sizeof(*l));
    struct seglog_recovery dummy;
    if (!rec)
        rec = &dummy;
    memset(rec, 0, sizeof(*rec));
    l->dir = dyn_strdup(o->dir);
    l->prefix = dyn_strdup(o->prefix);
    l->segment_max_bytes = o->segment_max_bytes ? o->segment_max_bytes
                                                : 64 * 1024 * 1024;
    l->max_key = o->max_key ? o->max_key : 512u * 1024 * 1024;
    l->max_value = o->max_value ? o->max_value : 512ull * 1024 * 1024;
    l->fd = -1;
    l->next_fd = -1;
    l->read_fd = -1;
    for (int i = 0; i < SEGLOG_MAPS; i++)
        l->maps[i].fd = -1;
    dbuf_init(&l->wbuf);
    if (mkdir(l->dir, 0755) != 0 && errno != EEXIST) {
        l->err = errno;
        seglog_close(l);
        return DYN_EIO;
    }
    uint32_t *segs;
    size_t n;
    int rc = list_segments(l, &segs, &n);
    if (rc) {
        l->err = errno;
        seglog_close(l);
        return rc;
    }
    /* Empty segments at the end (created ahead of a roll that never came,
     * or by a roll just before a crash) hold nothing: remove them, so the
     * last segment with records stays the active one and its torn tail is
     * cut rather than counted as corrupt. */
    while (n > 1 && segs[n - 1] >= first_seg &&
           seglog_segment_size(l, segs[n - 1]) == 0) {
        struct dbuf path;
        dbuf_init(&path);
        seglog_segment_path(l, segs[n - 1], &path);
        int gone = unlink(path.p) == 0;
        dbuf_free(&path);
        if (!gone)
            break;
        n--;
    }
    uint64_t keep = 0;
    for (size_t i = 0; i < n; i++) {
        if (segs[i] < first_seg)
            continue;
        rc = scan_segment(l, segs[i], i == n - 1, fn, ctx, rec, &keep);
        if (rc)
            break;
    }
    uint32_t active = n ? segs[n - 1] : 1;
    /* the tail is known (and may be cut) only if the last one was scanned */
    int scanned_last = n && segs[n - 1] >= first_seg;
    dyn_free(segs);
    if (rc) {
        seglog_close(l);
        return rc;
    }
    rc = open_active(l, active, NULL);
    if (rc == 0 && scanned_last && keep < l->size) {
        /* cut the torn or corrupt tail so appends follow whole records */
        if (ftruncate(l->fd, (off_t)keep) != 0 || fdatasync(l->fd) != 0) {
            l->err = errno;
            rc = DYN_EIO;
        } else {
            l->size = keep;
        }
    }
    if (rc) {
        seglog_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

static void map_drop(struct seglog_map *m);

void seglog_close(struct seglog *l)
{
    if (!l)
        return;
    if (l->fd >= 0) {
        if (!l->failed && seglog_flush(l) == 0)
            seglog_release(l);
        close(l->fd);
    }
    next_drop(l, 1);
    for (int i = 0; i < SEGLOG_MAPS; i++)
        map_drop(&l->maps[i]);
    dbuf_free(&l->wbuf);
    dyn_free(l->dir);
    dyn_free(l->prefix);
    dyn_free(l);
}

int seglog_roll(struct seglog *l)
{
    if (l->failed)
        return DYN_EIO;
    int rc = seglog_sync(l);
    if (rc)
        return rc;
    return open_active(l, l->active + 1, NULL);
}

int seglog_roll_nosync(struct seglog *l)
{
    if (l->failed)
        return DYN_EIO;
    int rc = seglog_flush(l);
    if (rc)
        return rc;
    rc = open_active(l, l->active + 1, NULL);
    if (rc == 0)
        l->unsynced = 0; /* the new segment has nothing to sync */
    return rc;
}

int seglog_roll_handoff(struct seglog *l, struct seglog_sealed *old)
{
    old->fd = -1;
    old->seg = 0;
    old->size = 0;
    old->trim = 0;
    if (l->failed)
        return DYN_EIO;
    int rc = seglog_flush(l);
    if (rc)
        return rc;
    rc = open_active(l, l->active + 1, old);
    if (rc == 0)
        l->unsynced = 0; /* the new segment has nothing to sync */
    return rc;
}

int seglog_adopt_next(struct seglog *l, uint32_t seg, int fd,
                      uint64_t reserved)
{
    struct stat st;
    if (l->failed || l->next_fd >= 0 || seg != l->active + 1 ||
        fstat(fd, &st) != 0 || st.st_size != 0)
        return DYN_EINVAL;
    l->next_fd = fd;
    l->next_seg = seg;
    l->next_reserved = l->no_reserve ? 0 : reserved;
    return 0;
}

int seglog_has_next(const struct seglog *l)
{
    return l->next_fd >= 0 && l->next_seg == l->active + 1;
}

uint64_t seglog_reserve_chunk(const struct seglog *l)
{
    /* a sixteenth of a segment, within [1 MiB, SEGLOG_RESERVE_CHUNK] (and
     * the segment): each fallocate may wait for the journal, so small
     * segments are preallocated whole rather than 64 KiB at a time */
    return DYN_MIN(DYN_MIN(DYN_MAX(l->segment_max_bytes / 16, 1024 * 1024),
                           SEGLOG_RESERVE_CHUNK),
                   l->segment_max_bytes);
}

int seglog_reserve_wanted(const struct seglog *l, uint64_t *from,
                          uint64_t *len)
{
    if (l->failed || l->no_reserve || l->fd < 0)
        return 0;
    /* a quarter to a half step ahead: enough to cover the appends while
     * the request waits, without holding much unused space */
    uint64_t chunk = seglog_reserve_chunk(l);
    uint64_t at = l->size + l->wbuf.len;
    uint64_t target = DYN_MIN(at + chunk / 2, l->segment_max_bytes);
    if (l->reserved >= at + chunk / 4 || l->reserved >= target)
        return 0;
    *from = l->reserved;
    *len = target - l->reserved;
    return 1;
}

void seglog_reserved_ahead(struct seglog *l, uint32_t seg, uint64_t upto)
{
    if (seg == l->active && !l->failed && upto > l->reserved)
        l->reserved = upto;
}

int seglog_append(struct seglog *l, uint8_t type, const void *key,
                  uint32_t klen, const void *value, uint32_t vlen,
                  struct seglog_pos *pos)
{
    if (l->failed)
        return DYN_EIO;
    if (klen > l->max_key || vlen > l->max_value)
        return DYN_ELIMIT;
    uint64_t total = (uint64_t)SEGLOG_HEADER + klen + vlen + SEGLOG_TRAILER;
    uint64_t at = l->size + l->wbuf.len;
    if (at > 0 && at + total > l->segment_max_bytes) {
        int rc = seglog_roll(l);
        if (rc)
            return rc;
        at = 0;
    }
    seglog_encode(&l->wbuf, type, key, klen, value, vlen);
    if (pos) {
        pos->seg = l->active;
        pos->off = at;
    }
    return 0;
}

int seglog_flush(struct seglog *l)
{
    if (l->failed)
        return DYN_EIO;
    size_t done = 0;
    while (done < l->wbuf.len) {
        ssize_t w = write(l->fd, l->wbuf.p + done, l->wbuf.len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            l->err = w < 0 ? errno : EIO;
            /* undo the partial record; drop what was pending */
            if (ftruncate(l->fd, (off_t)l->size) != 0) {
                l->failed = 1;
            }
            l->reserved = l->size;
            dbuf_reset(&l->wbuf);
            return DYN_EIO;
        }
        done += (size_t)w;
    }
    l->size += l->wbuf.len;
    if (l->wbuf.len)
        l->unsynced = 1;
    dbuf_reset(&l->wbuf);
    dbuf_shrink(&l->wbuf, 1 << 20);
    return 0;
}

int seglog_sync(struct seglog *l)
{
    int rc = seglog_flush(l);
    if (rc)
        return rc;
    if (!l->unsynced)
        return 0;
    if (fdatasync(l->fd) != 0) {
        l->err = errno;
        l->failed = 1;
        return DYN_EIO;
    }
    l->unsynced = 0;
    return 0;
}

size_t seglog_pending(const struct seglog *l)
{
    return l->wbuf.len;
}

int seglog_unsynced(const struct seglog *l)
{
    return l->unsynced || l->wbuf.len > 0;
}

static void map_drop(struct seglog_map *m)
{
    if (m->fd < 0)
        return;
    if (m->p)
        munmap((void *)m->p, m->maplen);
    close(m->fd);
    m->fd = -1;
    m->p = NULL;
}

static void maps_drop_seg(struct seglog *l, uint32_t seg)
{
    for (int i = 0; i < SEGLOG_MAPS; i++)
        if (l->maps[i].fd >= 0 && l->maps[i].seg == seg)
            map_drop(&l->maps[i]);
}

/* The map slot of seg (opened and mapped if needed), or NULL with l->err. */
static struct seglog_map *map_get(struct seglog *l, uint32_t seg)
{
    struct seglog_map *victim = &l->maps[0];
    for (int i = 0; i < SEGLOG_MAPS; i++) {
        struct seglog_map *m = &l->maps[i];
        if (m->fd >= 0 && m->seg == seg) {
            m->used = ++l->map_clock;
            return m;
        }
        if (m->fd < 0 || (victim->fd >= 0 && m->used < victim->used))
            victim = m;
    }
    map_drop(victim);
    struct dbuf path;
    dbuf_init(&path);
    seglog_segment_path(l, seg, &path);
    int fd = open(path.p, O_RDONLY | O_CLOEXEC);
    dbuf_free(&path);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        l->err = errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    struct seglog_map *m = victim;
    m->fd = fd;
    m->seg = seg;
    m->used = ++l->map_clock;
    m->valid = (uint64_t)st.st_size;
    m->was_active = seg == l->active;
    m->maplen = (size_t)(m->was_active
                             ? DYN_MAX(l->segment_max_bytes,
                                       (uint64_t)st.st_size)
                             : (uint64_t)st.st_size);
    m->p = NULL;
    if (m->maplen > 0) {
        void *p = mmap(NULL, m->maplen, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
            m->p = p;
            (void)madvise(p, m->maplen, MADV_RANDOM);
        }
    }
    return m;
}

/* Bytes of seg known to be in its file. */
static uint64_t map_valid(struct seglog *l, struct seglog_map *m)
{
    if (m->seg == l->active)
        return l->size;
    if (m->was_active) {
        struct stat st;
        if (fstat(m->fd, &st) == 0)
            m->valid = (uint64_t)st.st_size;
        m->was_active = 0;
    }
    return m->valid;
}

int seglog_read(struct seglog *l, struct seglog_pos pos, struct dbuf *buf,
                struct seglog_rec *rec)
{
    return seglog_read_sized(l, pos, 0, buf, rec);
}

int seglog_read_sized(struct seglog *l, struct seglog_pos pos,
                      uint64_t size_hint, struct dbuf *buf,
                      struct seglog_rec *rec)
{
    /* A record still in the write buffer is read from there. */
    if (pos.seg == l->active && pos.off >= l->size) {
        uint64_t o = pos.off - l->size;
        if (o >= l->wbuf.len)
            return DYN_EINVAL;
        dbuf_reset(buf);
        dbuf_append(buf, l->wbuf.p + o, l->wbuf.len - o);
    } else {
        struct seglog_map *m = map_get(l, pos.seg);
        if (!m)
            return DYN_EIO;
        uint64_t valid = map_valid(l, m);
        if (m->p && pos.off < valid && valid <= m->maplen) {
            /* parse in place, within the bytes known written; the record
             * is copied out since the caller keeps it in buf */
            struct seglog_rec r;
            const uint8_t *at = m->p + pos.off;
            if (seglog_parse(at, (size_t)(valid - pos.off), l->max_key,
                             l->max_value, &r) != 1)
                return DYN_EINVAL;
            dbuf_reset(buf);
            dbuf_append(buf, at, r.size);
            const uint8_t *b = (const uint8_t *)buf->p;
            *rec = r;
            rec->key = b + (r.key - at);
            rec->value = b + (r.value - at);
            rec->pos = pos;
            return 0;
        }
        l->read_fd = m->fd;
        l->read_seg = pos.seg;
        /* One pread of the record's size when the caller knows it (the
         * usual case: the key directory does), else a page and the rest. */
        size_t first = size_hint >= SEGLOG_HEADER + SEGLOG_TRAILER &&
                               size_hint <= 65536 ? (size_t)size_hint : 4096;
        dbuf_reset(buf);
        dbuf_reserve(buf, first);
        ssize_t r = pread(l->read_fd, buf->p, first, (off_t)pos.off);
        if (r < 0) {
            l->err = errno;
            return DYN_EIO;
        }
        buf->len = (size_t)r;
        if (buf->len >= SEGLOG_HEADER) {
            const uint8_t *h = (const uint8_t *)buf->p;
            uint64_t total = (uint64_t)SEGLOG_HEADER + wire_load_le32(h + 2) +
                             wire_load_le32(h + 6) + SEGLOG_TRAILER;
            if (total > buf->len && total <= (uint64_t)SEGLOG_HEADER +
                                                  l->max_key + l->max_value +
                                                  SEGLOG_TRAILER) {
                dbuf_reserve(buf, total - buf->len);
                r = pread(l->read_fd, buf->p + buf->len, total - buf->len,
                          (off_t)(pos.off + buf->len));
                if (r < 0) {
                    l->err = errno;
                    return DYN_EIO;
                }
                buf->len += (size_t)r;
            }
        }
    }
    if (seglog_parse((const uint8_t *)buf->p, buf->len, l->max_key,
                     l->max_value, rec) != 1)
        return DYN_EINVAL;
    rec->pos = pos;
    return 0;
}

uint32_t seglog_active(const struct seglog *l)
{
    return l->active;
}

void seglog_unmap(struct seglog *l, uint32_t seg)
{
    maps_drop_seg(l, seg);
    l->read_fd = -1;
}

int seglog_remove_segment(struct seglog *l, uint32_t seg)
{
    if (seg == l->active)
        return DYN_EINVAL;
    maps_drop_seg(l, seg);
    l->read_fd = -1;
    struct dbuf path;
    dbuf_init(&path);
    seglog_segment_path(l, seg, &path);
    int rc = unlink(path.p) == 0 ? 0 : DYN_EIO;
    if (rc)
        l->err = errno;
    dbuf_free(&path);
    return rc;
}

uint64_t seglog_segment_size(const struct seglog *l, uint32_t seg)
{
    if (seg == l->active)
        return l->size + l->wbuf.len;
    struct dbuf path;
    struct stat st;
    dbuf_init(&path);
    seglog_segment_path(l, seg, &path);
    int ok = stat(path.p, &st) == 0;
    dbuf_free(&path);
    return ok ? (uint64_t)st.st_size : 0;
}

int seglog_reserve(struct seglog *l, uint64_t bytes)
{
    if (l->failed)
        return DYN_EIO;
    uint64_t at = l->size + l->wbuf.len;
    if (at > 0 && at + bytes > l->segment_max_bytes) {
        int rc = seglog_roll(l);
        if (rc)
            return rc;
        at = l->size + l->wbuf.len;
    }
    if (l->no_reserve || at + bytes <= l->reserved)
        return 0;
    uint64_t chunk = seglog_reserve_chunk(l);
    /* half a step: the rest is preallocated ahead elsewhere
     * (seglog_reserve_wanted), and unused space stays small */
    uint64_t want = DYN_MAX(at + bytes, DYN_MAX(l->reserved, at) + chunk / 2);
    want = DYN_MIN(want, DYN_MAX(at + bytes, l->segment_max_bytes));
    int r = fallocate(l->fd, FALLOC_FL_KEEP_SIZE, (off_t)l->reserved,
                      (off_t)(want - l->reserved));
    if (r != 0 && (errno == ENOSPC || errno == EDQUOT) &&
        want > at + bytes) {
        /* not a whole chunk: try for just this record */
        want = at + bytes;
        r = fallocate(l->fd, FALLOC_FL_KEEP_SIZE, (off_t)l->reserved,
                      (off_t)(want - l->reserved));
    }
    if (r != 0 && (errno == ENOSPC || errno == EDQUOT) && l->next_fd >= 0) {
        /* the segment created ahead holds space: give it back, retry */
        next_drop(l, 1);
        r = fallocate(l->fd, FALLOC_FL_KEEP_SIZE, (off_t)l->reserved,
                      (off_t)(at + bytes - l->reserved));
        if (r == 0)
            want = at + bytes;
    }
    if (r == 0) {
        l->reserved = want;
        return 0;
    }
    l->err = errno;
    if (errno == ENOSPC || errno == EDQUOT)
        return DYN_EAGAIN;
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
        l->no_reserve = 1;
        return 0;
    }
    return DYN_EIO;
}

int seglog_reserved_covers(const struct seglog *l, uint64_t bytes)
{
    return !l->failed && !l->no_reserve &&
           l->size + l->wbuf.len + bytes <= l->reserved;
}

int seglog_can_reserve(const struct seglog *l)
{
    return !l->no_reserve;
}

int seglog_active_fd(const struct seglog *l)
{
    return l->fd;
}

int seglog_failed(const struct seglog *l)
{
    return l->failed;
}

int seglog_errno(const struct seglog *l)
{
    return l->err;
}
