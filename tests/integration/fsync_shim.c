/*
 * fsync_shim.c -- an LD_PRELOAD library that makes fsync fail on demand,
 * for tests/integration/t_fsync_fail.sh.
 *
 * While the file named by the environment variable SHIM_FAIL_FILE exists,
 * fsync(), fdatasync() and syncfs() return -1 with errno = EIO without
 * touching the disk; otherwise they call the real functions (looked up with
 * dlsym(RTLD_NEXT)).  So the server starts normally and the test decides,
 * with `touch`, the moment the disk "fails" -- and, with `rm`, the moment it
 * "recovers", to check that the server does not take a later successful
 * fsync as covering the failed write.
 *
 * With SHIM_FAIL_WRITE_PATH set, the shim fails write() instead, and only
 * on descriptors whose file's path (/proc/self/fd) contains that text
 * ("/journal." for tests/integration/t_journal_edit_fail.sh): fsync and
 * the other files' writes are then left alone.
 *
 * Each failure is counted; the first one, and then every 1000th, prints a
 * line on stderr ("fsync_shim: fdatasync(fd 7) -> EIO (#1)") so the test
 * can tell that the shim was loaded and actually hit.
 *
 * Thread-safety: the failure counter is atomic and the real functions are
 * looked up with dlsym on every call (cheap enough for a test, and free of
 * any shared mutable pointer).  Test code only: not linked into the server.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);
ssize_t write(int fd, const void *buf, size_t count);

static atomic_ulong shim_failures;

static int shim_should_fail(const char *fn, int fd)
{
    const char *path = getenv("SHIM_FAIL_FILE");
    int saved = errno;

    if (path == NULL || *path == '\0' || access(path, F_OK) != 0) {
        errno = saved;
        return 0;
    }
    unsigned long n = atomic_fetch_add(&shim_failures, 1) + 1;
    if (n == 1 || n % 1000 == 0)
        fprintf(stderr, "fsync_shim: %s(fd %d) -> EIO (#%lu)\n", fn, fd, n);
    errno = EIO;
    return 1;
}

static void *shim_real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);

    if (f == NULL) {
        fprintf(stderr, "fsync_shim: dlsym(%s) failed\n", name);
        abort();
    }
    return f;
}

/* The write mode's text, or NULL (the fsync mode). */
static const char *shim_write_path(void)
{
    const char *w = getenv("SHIM_FAIL_WRITE_PATH");
    return w && *w ? w : NULL;
}

/* 1 when fd's file's path contains text. */
static int shim_fd_matches(int fd, const char *text)
{
    char link[64], path[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    return strstr(path, text) != NULL;
}

ssize_t write(int fd, const void *buf, size_t count)
{
    const char *w = shim_write_path();
    int saved = errno;
    if (w && shim_fd_matches(fd, w) && shim_should_fail("write", fd))
        return -1;
    errno = saved;
    return ((ssize_t (*)(int, const void *, size_t))shim_real("write"))(
        fd, buf, count);
}

int fsync(int fd)
{
    if (!shim_write_path() && shim_should_fail("fsync", fd))
        return -1;
    return ((int (*)(int))shim_real("fsync"))(fd);
}

int fdatasync(int fd)
{
    if (!shim_write_path() && shim_should_fail("fdatasync", fd))
        return -1;
    return ((int (*)(int))shim_real("fdatasync"))(fd);
}

int syncfs(int fd)
{
    if (!shim_write_path() && shim_should_fail("syncfs", fd))
        return -1;
    return ((int (*)(int))shim_real("syncfs"))(fd);
}
