/*
 * main.c -- dynamod's entry point: configuration, node assembly, the event
 * loop and a clean shutdown.
 *
 *   dynamod [config-file] [--option value ...]
 *
 * Startup: defaults, then the file, then the command line (later wins), then
 * the cross-field checks.  An error is printed to stderr and exits 1; a
 * warning is logged.  The node is then built (event base, store, command
 * registry, identity), the listeners are bound (a bind failure exits 1; the
 * JSON API's http-port too, server/http/http.c), and the loop runs until
 * SIGTERM, SIGINT or SHUTDOWN asks it to stop.
 *
 * Shutdown is orderly: the loop stops after its current iteration, then the
 * http API (its requests in flight are dropped), the clients, listeners, timers, store and registry are freed in that order, so
 * a leak checker sees a clean exit.
 *
 * The cron timer runs cfg.hz times a second (re-armed each tick, so CONFIG
 * SET hz takes effect at once): active expiry and tombstone reaping in time
 * slices, then idle-client timeouts and buffer shrinking.
 *
 * This is the only place, with net.c, that touches sockets, signals and the
 * process; the node it builds is passed to everything else.  It is also
 * where the node gets its real clock (node_clock_system) and its random
 * seed (from /dev/urandom): everything else reads time and draws random
 * numbers through the node, which the simulation (tests/sim) sets instead.
 */
#include <config.h> /* autoconf's: PACKAGE_VERSION (server/config.h is ours) */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>
#include <event2/event.h>
#include "cluster/vclock.h"
#include "server/client.h"
#include "server/command.h"
#include "server/config.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/http/http.h"
#include "server/log.h"
#include "server/node.h"
#include "cluster/coordinator.h"
#include "server/dispatch.h"
#include "server/pipeline.h"
#include "server/store.h"
#include "server/replay.h"
#include "server/tcache.h"
#include "server/tls.h"
#include "server/util.h"

#define COMPAT_REDIS_VERSION "7.0.15"

static void main_usage(FILE *f)
{
    fprintf(f,
            "Usage: dynamod [/path/to/dynamod.conf] [--option value ...]\n"
            "       dynamod -v or --version\n"
            "       dynamod -h or --help\n"
            "\n"
            "Examples:\n"
            "       dynamod                       (default configuration)\n"
            "       dynamod conf/dynamod.conf\n"
            "       dynamod --port 7002 --node-name n2\n"
            "       dynamod conf/dynamod.conf --loglevel verbose\n"
            "\n"
            "Every option of the config file can be given on the command line\n"
            "as --name value; the command line wins over the file.\n");
}

static void main_version(void)
{
    printf("dynamod v=%s (redis %s compatible) bits=%d\n", PACKAGE_VERSION,
           COMPAT_REDIS_VERSION, (int)(sizeof(void *) * 8));
}

/* Fills buf from /dev/urandom; falls back to time and pid mixing. */
static void main_random_bytes(void *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd >= 0) {
        while (got < len) {
            ssize_t r = read(fd, (char *)buf + got, len - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
    }
    if (got < len) {
        uint64_t x = dyn_mono_us() ^ ((uint64_t)getpid() << 32) ^ dyn_wall_ms();
        for (size_t i = got; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((unsigned char *)buf)[i] = (unsigned char)x;
        }
    }
}

static void main_cron_arm(struct node *n)
{
    int hz = n->cfg.hz;
    if (hz < 1)
        hz = 1;
    if (hz > 500)
        hz = 500;
    struct timeval tv;
    tv.tv_sec = 0;
    tv.tv_usec = 1000000 / hz;
    if (tv.tv_usec >= 1000000) {
        tv.tv_sec = tv.tv_usec / 1000000;
        tv.tv_usec %= 1000000;
    }
    evtimer_add(n->cron_ev, &tv);
}

static void main_engine_slice_arm(struct node *n);

static void main_cron(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    n->cronloops++;
    int hz = n->cfg.hz > 0 ? n->cfg.hz : 1;
    uint64_t period_us = 1000000u / (uint64_t)hz;
    if (n->cfg.active_expire)
        db_active_expire(n, period_us / 4); /* Redis's 25% of a tick */
    db_reap_tombstones(n, period_us / 20);
    if (n->engine) {
        /* everysec fsync, compaction slices (2 ms), CONFIG SET changes */
        engine_set_appendfsync(n->engine, n->cfg.appendfsync);
        engine_set_compact_ratio(n->engine, n->cfg.compact_ratio_pm);
        if (engine_cron(n->engine, node_wall_ms(n), 2000) &&
            !evtimer_pending(n->engine_slice_ev, NULL))
            main_engine_slice_arm(n);
    }
    net_cron(n, node_wall_ms(n));
    if (!n->shutdown_asap)
        main_cron_arm(n);
}

/* While compaction has work, a slice (at most 2 ms) runs every 2 ms, so
 * the loop spends at most half its time compacting and never waits more
 * than one slice. */
static void main_engine_slice_arm(struct node *n)
{
    struct timeval tv = {0, 2000};
    evtimer_add(n->engine_slice_ev, &tv);
}

static void main_engine_slice(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    if (engine_cron(n->engine, node_wall_ms(n), 2000) && !n->shutdown_asap)
        main_engine_slice_arm(n);
}

static void main_engine_wake(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    engine_poll(n->engine);
}

/* The storage engine over the store: loads dir (storage disk) and gives
 * the node its incarnation.  Exits on failure, as Redis does when it
 * cannot load its data. */
static void main_open_engine(struct node *n)
{
    struct engine_opts eo = {
        .storage = n->cfg.storage,
        .dir = n->cfg.dir,
        .appendfsync = n->cfg.appendfsync,
        .segment_max_bytes = (uint64_t)n->cfg.segment_max_bytes,
        .compact_ratio_pm = n->cfg.compact_ratio_pm,
        .value_cache = n->cfg.value_cache,
    };
    struct dbuf err;
    dbuf_init(&err);
    if (engine_open(&eo, n->store, &n->engine, &err) != 0) {
        dbuf_appendc(&err, 0);
        fprintf(stderr, "*** FATAL: cannot load the data files: %s\n", err.p);
        dlog(DLOG_WARNING, "Fatal error loading the data files: %s", err.p);
        exit(1);
    }
    dbuf_free(&err);
    if (n->cfg.storage != STORAGE_DISK)
        return;
    struct engine_stats st;
    engine_get_stats(n->engine, &st);
    n->incarnation = engine_incarnation(n->engine);
    n->dot_counter = engine_counter_base(n->engine);
    node_update_actor(n);
    dlog(DLOG_VERBOSE, "incarnation %u, dot counters from %llu",
         n->incarnation, (unsigned long long)n->dot_counter);
    dlog(DLOG_NOTICE, "DB loaded from disk: %.3f seconds (%llu keys, %u hint "
         "files, %llu records scanned, %llu corrupt skipped, %llu bytes of "
         "torn tail cut)", (double)st.load_time_ms / 1000,
         (unsigned long long)st.keys_loaded, st.hint_files_used,
         (unsigned long long)st.records_scanned,
         (unsigned long long)st.corrupt_records,
         (unsigned long long)st.truncated_bytes);
    n->engine_ev = event_new(n->base, engine_wakeup_fd(n->engine),
                             EV_READ | EV_PERSIST, main_engine_wake, n);
    event_add(n->engine_ev, NULL);
    n->engine_slice_ev = evtimer_new(n->base, main_engine_slice, n);
}

/* The coordinator's clock: quorum deadlines, pings, failure detection. */
static void main_cluster_tick(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    coord_tick(n, node_wall_ms(n));
}

static void main_signal(evutil_socket_t sig, short what, void *arg)
{
    struct node *n = arg;
    dlog(DLOG_WARNING, "Received %s scheduling shutdown...",
         sig == SIGINT ? "SIGINT" : "SIGTERM");
    node_request_shutdown(n, 0);
}

static int main_write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return DYN_EIO;
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return 0;
}

/* Parses the command line into n->cfg; exits on error. */
static void main_configure(struct node *n, int argc, char **argv)
{
    config_init_defaults(&n->cfg);
    int start = 1;
    struct dbuf err, warn;
    dbuf_init(&err);
    dbuf_init(&warn);
    if (argc >= 2 && strncmp(argv[1], "--", 2) != 0 &&
        strcmp(argv[1], "-") != 0) {
        char abs[PATH_MAX];
        const char *path = argv[1];
        if (realpath(path, abs))
            path = abs;
        n->config_file = dyn_strdup(path);
        if (config_load_file(&n->cfg, n->config_file, &err) < 0) {
            dbuf_appendc(&err, '\0');
            fprintf(stderr, "\n*** FATAL CONFIG FILE ERROR (dynamod %s) ***\n"
                            "%s\n", PACKAGE_VERSION, err.p);
            exit(1);
        }
        start = 2;
    }
    if (config_load_argv(&n->cfg, argc, argv, start, &err) < 0) {
        dbuf_appendc(&err, '\0');
        fprintf(stderr, "\n*** FATAL CONFIG ERROR (dynamod %s) ***\n%s\n",
                PACKAGE_VERSION, err.p);
        exit(1);
    }
    config_finalize(&n->cfg);
    if (config_validate(&n->cfg, &err, &warn) < 0 ||
        config_check_dir(&n->cfg, &err) < 0) {
        dbuf_appendc(&err, '\0');
        fprintf(stderr, "\n*** FATAL CONFIG ERROR (dynamod %s) ***\n%s\n",
                PACKAGE_VERSION, err.p);
        exit(1);
    }
    if (dlog_set_file(n->cfg.logfile) < 0) {
        const char *at = config_origin(&n->cfg, "logfile");
        fprintf(stderr, "\n*** FATAL CONFIG ERROR (dynamod %s) ***\n%s: "
                "Can't open the log file: %s (%s)\n", PACKAGE_VERSION,
                at ? at : "config", n->cfg.logfile, strerror(errno));
        exit(1);
    }
    dlog_set_level(n->cfg.loglevel);
    if (warn.len > 0) {
        dbuf_appendc(&warn, '\0');
        char *save = NULL;
        for (char *line = strtok_r(warn.p, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save))
            dlog(DLOG_WARNING, "WARNING %s", line);
    }
    dbuf_free(&err);
    dbuf_free(&warn);
}

static void main_identity(struct node *n)
{
    unsigned char rnd[8 + 3 + 20];
    main_random_bytes(rnd, sizeof(rnd));
    uint64_t seed;
    memcpy(&seed, rnd, 8);
    n->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
    n->incarnation = ((uint32_t)rnd[8] << 16 | (uint32_t)rnd[9] << 8 |
                      (uint32_t)rnd[10]) & 0xffffffu;
    node_update_actor(n);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        n->run_id[2 * i] = hex[rnd[11 + i] >> 4];
        n->run_id[2 * i + 1] = hex[rnd[11 + i] & 15];
    }
    n->run_id[40] = '\0';
}

/* Raises the open files limit for maxclients (plus room for listeners,
 * logs and the store), or lowers maxclients to fit, as Redis does. */
static void main_adjust_open_files(struct node *n)
{
    const rlim_t reserved = 32;
    rlim_t want = (rlim_t)n->cfg.maxclients + reserved;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = want;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
        rl.rlim_cur = rl.rlim_max;
    if (rl.rlim_cur > old && setrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur >= want)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur <= reserved) {
        dlog(DLOG_WARNING, "Your current 'ulimit -n' of %llu is not enough "
                           "for the server to start. Please increase it.",
             (unsigned long long)rl.rlim_cur);
        exit(1);
    }
    int fit = (int)(rl.rlim_cur - reserved);
    dlog(DLOG_WARNING,
         "You requested maxclients of %d requiring at least %llu max file "
         "descriptors. Current maximum open files is %llu. maxclients has "
         "been reduced to %d to compensate for low ulimit.",
         n->cfg.maxclients, (unsigned long long)want,
         (unsigned long long)rl.rlim_cur, fit);
    n->cfg.maxclients = fit;
}

static void main_teardown(struct node *n)
{
    http_free(n); /* before the clients: its own are among them */
    net_free_all_clients(n);
    net_close_listeners(n);
    tls_ctx_free(n->tls_ctx);
    n->tls_ctx = NULL;
    if (n->cluster_ev)
        event_free(n->cluster_ev);
    pipeline_free(n);
    coord_free(n);
    if (n->cron_ev)
        event_free(n->cron_ev);
    if (n->sigterm_ev)
        event_free(n->sigterm_ev);
    if (n->sigint_ev)
        event_free(n->sigint_ev);
    if (n->engine_ev)
        event_free(n->engine_ev);
    if (n->engine_slice_ev)
        event_free(n->engine_slice_ev);
    engine_close(n->engine); /* flush, fsync, hint of the active segment */
    n->engine = NULL;
    store_free(n->store);
    tcache_free(n->tcache);
    dbuf_free(&n->typed_view);
    dbuf_free(&n->typed_enc);
    command_registry_free(n->commands);
    dyn_free(n->stats.cmd);
    if (n->cfg.pidfile && n->cfg.pidfile[0])
        unlink(n->cfg.pidfile);
    event_base_free(n->base);
    config_free(&n->cfg);
    dyn_free(n->config_file);
    dyn_free(n->executable);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-v") == 0 ||
                      strcmp(argv[1], "--version") == 0)) {
        main_version();
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        main_usage(stdout);
        return 0;
    }

    struct node *n = dyn_calloc(1, sizeof(*n));
    node_clock_system(n); /* the real clock; main_identity seeds node->rng */
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (el > 0) {
        exe[el] = '\0';
        n->executable = dyn_strdup(exe);
    } else {
        n->executable = dyn_strdup(argv[0]);
    }
    main_configure(n, argc, argv);
    signal(SIGPIPE, SIG_IGN);

    dlog(DLOG_NOTICE, "oO0OoO0OoO0Oo Dynamod is starting oO0OoO0OoO0Oo");
    dlog(DLOG_NOTICE,
         "Dynamod version=%s (redis %s compatible), bits=%d, pid=%d, just "
         "started",
         PACKAGE_VERSION, COMPAT_REDIS_VERSION, (int)(sizeof(void *) * 8),
         (int)getpid());
    if (n->config_file)
        dlog(DLOG_NOTICE, "Configuration loaded from %s", n->config_file);
    else
        dlog(DLOG_WARNING, "Warning: no config file specified, using the "
                           "default config. In order to specify a config "
                           "file use %s /path/to/dynamod.conf",
             argv[0]);

    main_adjust_open_files(n);
    n->start_ms = n->stat_reset_ms = node_wall_ms(n);
    n->next_client_id = 1;
    n->base = event_base_new();
    if (!n->base) {
        dlog(DLOG_WARNING, "Failed creating the event loop.");
        return 1;
    }
    main_identity(n);
    n->store = store_new((uint32_t)n->cfg.ring_partitions);
    {
        uint64_t seed;
        main_random_bytes(&seed, sizeof(seed));
        n->tcache = db_tcache_new(n, seed);
    }
    main_open_engine(n);
    n->commands = dispatch_registry_new();
    n->stats.cmd = dyn_calloc(command_stat_slots(n->commands) + 1,
                              sizeof(*n->stats.cmd));

    {
        struct dbuf err;
        dbuf_init(&err);
        if (coord_init(n, &err) != 0) {
            dbuf_appendc(&err, 0);
            fprintf(stderr, "*** FATAL CONFIG ERROR: %s\n", err.p);
            dlog(DLOG_WARNING, "cluster: %s", err.p);
            return 1;
        }
        dbuf_free(&err);
        if (n->coord) {
            pipeline_init(n);
            struct timeval tv = {0, 5000};
            n->cluster_ev = event_new(n->base, -1, EV_PERSIST,
                                      main_cluster_tick, n);
            event_add(n->cluster_ev, &tv);
        }
    }
    {
        /* the typed-op journal: its ops run again on the loaded keys */
        struct dbuf err;
        dbuf_init(&err);
        if (replay_journal(n, &err) != 0) {
            dbuf_appendc(&err, 0);
            fprintf(stderr, "*** FATAL: cannot load the data files: %s\n",
                    err.p);
            dlog(DLOG_WARNING, "Fatal error loading the journal: %s", err.p);
            return 1;
        }
        dbuf_free(&err);
    }
    if (n->cfg.tls_port > 0) {
        struct dbuf err;
        const char *bad = NULL;
        struct tls_server_opts to = {
            .cert_file = n->cfg.tls_cert_file,
            .key_file = n->cfg.tls_key_file,
            .ca_cert_file = n->cfg.tls_ca_cert_file,
            .auth_clients = n->cfg.tls_auth_clients,
        };
        dbuf_init(&err);
        n->tls_ctx = tls_server_ctx_new(&to, &err, &bad);
        if (!n->tls_ctx) {
            const char *where = bad ? config_origin(&n->cfg, bad) : NULL;
            if (!where)
                where = config_origin(&n->cfg, "tls-port");
            dbuf_appendc(&err, 0);
            fprintf(stderr, "*** FATAL CONFIG ERROR: %s: %s\n",
                    where ? where : "tls-port", err.p);
            dlog(DLOG_WARNING, "TLS: %s", err.p);
            return 1;
        }
        dbuf_free(&err);
    }
    if (net_listen(n) < 0) {
        dlog(DLOG_WARNING, "Failed listening on port %d (tcp), aborting.",
             n->cfg.port);
        return 1;
    }
    if (http_start(n) < 0) {
        dlog(DLOG_WARNING, "Failed listening on http-port %d, aborting.",
             n->cfg.http_port);
        return 1;
    }
    if (n->cfg.pidfile && n->cfg.pidfile[0] &&
        main_write_pidfile(n->cfg.pidfile) < 0)
        dlog(DLOG_WARNING, "Failed to write PID file %s: %s", n->cfg.pidfile,
             strerror(errno));

    n->sigterm_ev = evsignal_new(n->base, SIGTERM, main_signal, n);
    n->sigint_ev = evsignal_new(n->base, SIGINT, main_signal, n);
    event_add(n->sigterm_ev, NULL);
    event_add(n->sigint_ev, NULL);
    n->cron_ev = evtimer_new(n->base, main_cron, n);
    main_cron_arm(n);

    dlog(DLOG_NOTICE, "Node name=%s incarnation=%u actor=%016llx run_id=%s",
         n->cfg.node_name ? n->cfg.node_name : "", n->incarnation,
         (unsigned long long)n->actor, n->run_id);
    dlog(DLOG_NOTICE, "Running mode=%s, port=%d.",
         n->cluster ? "cluster" : "standalone", n->cfg.port);
    dlog(DLOG_NOTICE, "Server initialized");
    dlog(DLOG_NOTICE, "Ready to accept connections tcp");
    if (n->tls_ctx)
        dlog(DLOG_NOTICE, "Ready to accept connections tls (port %d)",
             n->cfg.tls_port);
    {
        const char *b = n->cfg.bind && n->cfg.bind[0] ? n->cfg.bind : "127.0.0.1";
        char host[64];
        size_t hl = strcspn(b, " \t");
        if (hl >= sizeof(host))
            hl = sizeof(host) - 1;
        memcpy(host, b, hl);
        host[hl] = '\0';
        const char *h = host[0] == '-' ? host + 1 : host;
        if (strcmp(h, "*") == 0 || strcmp(h, "0.0.0.0") == 0)
            h = "127.0.0.1";
        else if (strcmp(h, "::*") == 0 || strcmp(h, "::") == 0)
            h = "::1";
        dlog(DLOG_NOTICE, "connect with: redis-cli -h %s -p %d", h,
             n->cfg.port);
    }

    event_base_dispatch(n->base);

    int code = n->exit_code;
    main_teardown(n);
    dlog(DLOG_WARNING, "Dynamod is now ready to exit, bye bye...");
    dyn_free(n);
    return code;
}
