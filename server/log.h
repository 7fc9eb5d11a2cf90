/*
 * log.h -- leveled logging to stderr or to `logfile`.
 *
 * The level is tested before the arguments are formatted (the macro), so a
 * debug line costs one compare when debug is off.  Lines look like Redis's:
 * "pid:role dd Mon yyyy hh:mm:ss.mmm <sym> message", with '.' debug,
 * '-' verbose, '*' notice, '#' warning.
 *
 * The log state is process-wide (the one exception to "no globals", like
 * stderr itself): it is set once at startup and on CONFIG SET loglevel /
 * logfile from the event loop.  Writes are single write(2) calls, so a helper
 * thread's lines do not interleave mid-line.
 */
#ifndef DYN_LOG_H
#define DYN_LOG_H

enum dlog_level {
    DLOG_DEBUG = 0,
    DLOG_VERBOSE = 1,
    DLOG_NOTICE = 2,
    DLOG_WARNING = 3,
};

extern int dlog_current_level;

/* Returns 0 or DYN_EIO (file cannot be opened).  NULL or "" = stderr. */
int dlog_set_file(const char *path);
void dlog_set_level(int level);
/* "debug" | "verbose" | "notice" | "warning" -> level, or -1. */
int dlog_level_from_name(const char *name);
const char *dlog_level_name(int level);

void dlog_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define dlog(level, ...)                          \
    do {                                          \
        if ((level) >= dlog_current_level)        \
            dlog_write((level), __VA_ARGS__);     \
    } while (0)

#endif
