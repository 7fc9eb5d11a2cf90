/*
 * log.c -- leveled logging.  The only process-wide state besides signal
 * flags: the level and the file descriptor, set from the event loop.  Each
 * line is formatted into a stack buffer and written with one write(2), so
 * lines from a helper thread never interleave within a line.
 */
#include "server/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "server/util.h"

int dlog_current_level = DLOG_NOTICE;
static int log_fd = 2;

static const char *const level_names[] = {"debug", "verbose", "notice",
                                          "warning"};

int dlog_set_file(const char *path)
{
    int fd = 2;
    if (path && path[0]) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            return DYN_EIO;
    }
    if (log_fd != 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void dlog_set_level(int level)
{
    if (level >= DLOG_DEBUG && level <= DLOG_WARNING)
        dlog_current_level = level;
}

int dlog_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

const char *dlog_level_name(int level)
{
    return level >= 0 && level < 4 ? level_names[level] : "unknown";
}

void dlog_write(int level, const char *fmt, ...)
{
    static const char sym[] = ".-*#";
    char line[1024];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%d:M ", (int)getpid());
    n += (int)strftime(line + n, sizeof(line) - (size_t)n, "%d %b %Y %H:%M:%S",
                       &tm);
    n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d %c ",
                  (int)(tv.tv_usec / 1000), sym[level & 3]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
}
