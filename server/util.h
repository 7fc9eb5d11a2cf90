/*
 * util.h -- allocation, assertions, error codes and small string helpers
 * shared by every module, pure or not; and three file helpers (write all,
 * read all, fsync a directory) that the storage files share.
 *
 * Allocation never returns NULL: on out-of-memory the process logs to stderr
 * and aborts, as Redis does, so callers never test for it.  dyn_free(NULL) is
 * a no-op.  dyn_assert() stays on in release builds and is for invariants
 * only; bad input from a client or a peer is an error reply, never an assert.
 *
 * Thread-safety: everything here is reentrant.
 */
#ifndef DYN_UTIL_H
#define DYN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Functions return 0 or a negative dyn_err; results go to out-parameters. */
enum dyn_err {
    DYN_OK = 0,
    DYN_EINVAL = -1,    /* malformed argument or encoding */
    DYN_ENOTFOUND = -2, /* no such key / entry */
    DYN_EPROTO = -3,    /* protocol violation */
    DYN_ELIMIT = -4,    /* a configured limit would be exceeded */
    DYN_EIO = -5,       /* I/O error (disk, socket) */
    DYN_EAGAIN = -6,    /* not now: try again later */
    DYN_EEXIST = -7,    /* already exists */
    DYN_ERANGE = -8,    /* value out of range */
    DYN_EFORMAT = -9,   /* a stored format or value type this node does
                         * not know (a newer node wrote it) */
};

void *dyn_malloc(size_t n);
void *dyn_calloc(size_t nmemb, size_t size);
void *dyn_realloc(void *p, size_t n);
char *dyn_strdup(const char *s);
void *dyn_memdup(const void *p, size_t n);
void dyn_free(void *p);

void dyn_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));
#define dyn_assert(e) \
    ((e) ? (void)0 : dyn_assert_fail(#e, __FILE__, __LINE__))

#define DYN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define DYN_MAX(a, b) ((a) > (b) ? (a) : (b))
#define DYN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Strict integer parsing with Redis's rules (string2ll): no spaces, no '+',
 * no leading zeros, must fit.  Returns 0 on success, DYN_EINVAL otherwise. */
int dyn_str2ll(const char *s, size_t len, long long *out);
/* Like dyn_str2ll but for unsigned 64-bit. */
int dyn_str2ull(const char *s, size_t len, unsigned long long *out);
/* Writes the decimal form of v, NUL-terminated; returns its length. dst must
 * hold at least 21 bytes. */
int dyn_ll2str(char *dst, long long v);

/* Case-insensitive compare of a (ptr,len) argument with a C string. */
/* One argument of a request: points into the query buffer (or, for commands
 * queued by MULTI, into the client's own copy; or into a peer message).
 * Not NUL-terminated. */
struct dyn_arg {
    const char *p;
    size_t len;
};

int dyn_arg_is(const char *p, size_t len, const char *lit);

/* The value of one hex digit (either case), -1 for any other character. */
int dyn_hex_val(int c);

/* Redis-style glob match (stringmatchlen): '*', '?', '[...]', '\\'. */
int dyn_glob_match(const char *pat, size_t plen, const char *s, size_t slen,
                   int nocase);

/* 64-bit key hash: XXH3_64bits.  The ring position of a key. */
uint64_t dyn_hash64(const void *p, size_t n);

/* The system's wall clock (ms, us) and monotonic clock (us).  Server and
 * cluster code reads time through its node (node_wall_ms and friends in
 * node.h), whose system clock these are, so a simulation can replace it;
 * pure modules are handed the time.  Direct callers: node.c, the log's
 * timestamps, the storage engine's timing of its own disk work, and the
 * peer bus's link timers. */
uint64_t dyn_wall_ms(void);
uint64_t dyn_wall_us(void);
uint64_t dyn_mono_us(void);

/* Writes all n bytes (retrying short writes and EINTR): 0, or -1 with
 * errno set (EIO for a write that made no progress).  For the files of
 * the storage engine and node.meta. */
int dyn_write_all(int fd, const void *p, size_t n);
/* Reads up to n bytes (retrying short reads and EINTR) until n, end of
 * file or an error; returns how many it read. */
size_t dyn_read_full(int fd, void *p, size_t n);
/* fsyncs a directory, so a rename or unlink in it is durable; best effort
 * (a directory that cannot be opened is skipped). */
void dyn_fsync_dir(const char *dir);

#endif
