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
#include <unistd.h>

int fsync(int fd);
int fdatasync(int fd);
int syncfs(int fd);

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

int fsync(int fd)
{
    if (shim_should_fail("fsync", fd))
        return -1;
    return ((int (*)(int))shim_real("fsync"))(fd);
}

int fdatasync(int fd)
{
    if (shim_should_fail("fdatasync", fd))
        return -1;
    return ((int (*)(int))shim_real("fdatasync"))(fd);
}

int syncfs(int fd)
{
    if (shim_should_fail("syncfs", fd))
        return -1;
    return ((int (*)(int))shim_real("syncfs"))(fd);
}
