/*
 * cmd_info.c -- INFO: the node's state and counters, by section.
 *
 * Why this file exists: client libraries read INFO's `loading` and
 * `redis_version`, tools and tests read its counters, and people read its
 * `dynamo` section to see what the cluster is doing.  So INFO keeps Redis
 * 7.0's section order and line format ("# Name" then "name:value\r\n" lines,
 * sections joined by an empty line), with our own `dynamo` section after
 * `keyspace`.  Sections and fields that Redis has and a Dynamo node has no
 * use for (modules, errorstats, replication, rdb_*, aof_*) keep Redis's
 * idle values, so parsers that expect them find them.
 *
 * Which sections: none named gives the default set; "all" or "everything"
 * gives every section; "default" adds the default set; any other name picks
 * that section, and a name that matches no section adds nothing (an empty
 * reply when nothing else was asked for), as in Redis.  The text is a
 * verbatim string ("txt") in RESP3 and a bulk string in RESP2.
 *
 * Memory figures come from the allocator in use: jemalloc's mallctl (the
 * call also keeps jemalloc in the link under --as-needed), ASan's counters
 * under --enable-asan, glibc's mallinfo2 otherwise; RSS comes from
 * /proc/self/statm.  Cluster counters come from the cluster layer
 * (cluster_info), the durable engine's from engine_info.
 *
 * The same text goes to peers: R.INFO [section ...] (cmd_info_peer, which
 * the coordinator puts in the bus's handler table) answers it as a bulk,
 * so that any node can show every node's figures (the http API's GET
 * /api/cluster and /metrics, server/http/http.c).
 *
 * Invariants: INFO reads the node and changes nothing but the memory peak,
 * which it raises when it sees a new one.
 *
 * Thread-safety: runs on the event loop, which owns the node.
 *
 * Errors: none reach the client; a figure that cannot be read (uname,
 * /proc, the allocator) shows as empty or 0.
 */
/* The generated config.h (PACKAGE_VERSION, DYN_NO_JEMALLOC), in angle
 * brackets: "config.h" would find server/config.h next to this file. */
#include <config.h>

#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef DYN_NO_JEMALLOC
/* Calling mallctl also keeps jemalloc in the link under --as-needed. */
#include <jemalloc/jemalloc.h>
#elif defined(__SANITIZE_ADDRESS__)
/* From the ASan runtime (sanitizer/allocator_interface.h, not always
 * installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_heap_size(void);
#endif

#include "server/buf.h"
#include "server/client.h"
#include "server/cmd_info.h"
#include "server/cmd_server.h"
#include "server/command.h"
#include "cluster/announce.h"
#include "cluster/cluster.h"
#include "cluster/membership.h"
#include "server/config.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/node.h"
#include "server/tcache.h"
#include "server/reply.h"
#include "server/store.h"
#include "server/util.h"

/* ------------------------------------------------------------------------ */
/* INFO                                                                     */
/* ------------------------------------------------------------------------ */

struct mem_figures {
    uint64_t used;      /* bytes allocated by the program */
    uint64_t active;    /* bytes in active pages (jemalloc) */
    uint64_t resident;  /* allocator's resident bytes */
    uint64_t rss;       /* process RSS */
    char allocator[64];
};

static uint64_t proc_rss(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void server_mem_read(struct mem_figures *m)
{
    memset(m, 0, sizeof *m);
#ifndef DYN_NO_JEMALLOC
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    mallctl("epoch", &epoch, &sz, &epoch, sz);
    size_t v = 0;
    sz = sizeof v;
    if (mallctl("stats.allocated", &v, &sz, NULL, 0) == 0)
        m->used = v;
    sz = sizeof v;
    if (mallctl("stats.active", &v, &sz, NULL, 0) == 0)
        m->active = v;
    sz = sizeof v;
    if (mallctl("stats.resident", &v, &sz, NULL, 0) == 0)
        m->resident = v;
    const char *ver = NULL;
    sz = sizeof ver;
    if (mallctl("version", &ver, &sz, NULL, 0) == 0 && ver) {
        size_t l = strcspn(ver, "-");
        snprintf(m->allocator, sizeof m->allocator, "jemalloc-%.*s", (int)l,
                 ver);
    } else {
        snprintf(m->allocator, sizeof m->allocator, "jemalloc");
    }
#elif defined(__SANITIZE_ADDRESS__)
    /* ASan owns malloc, and mallinfo2() would report nothing. */
    m->used = __sanitizer_get_current_allocated_bytes();
    m->active = m->used;
    m->resident = __sanitizer_get_heap_size();
    snprintf(m->allocator, sizeof m->allocator, "libc");
#else
    struct mallinfo2 mi = mallinfo2();
    m->used = mi.uordblks + mi.hblkhd;
    m->active = m->used;
    m->resident = mi.arena + mi.hblkhd;
    snprintf(m->allocator, sizeof m->allocator, "libc");
#endif
    m->rss = proc_rss();
}

/* Redis's bytesToHuman: "1016.07K". */
static void server_human_bytes(char *out, size_t cap, uint64_t n)
{
    static const char units[] = "KMGTPE";
    if (n < 1024) {
        snprintf(out, cap, "%" PRIu64 "B", n);
        return;
    }
    double d = (double)n / 1024.0;
    int u = 0;
    while (d >= 1024.0 && u < 5) {
        d /= 1024.0;
        u++;
    }
    snprintf(out, cap, "%.2f%c", d, units[u]);
}

static double server_tv_sec(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1000000.0;
}

/* Where this node's http API is reached from the other members: the host
 * it advertises to them (its member entry), or for a node alone the one
 * announce_choose picks, and http-port; "" when http-port is 0.  The other
 * nodes learn it from INFO (http.c: /api/cluster's "http", and the origins
 * they accept from the dashboard). */
void cmd_info_http_addr(const struct node *n, char *out, size_t cap)
{
    out[0] = '\0';
    if (n->cfg.http_port <= 0)
        return;
    char host[ANNOUNCE_HOST_MAX] = "";
    const struct membership *mb = cluster_membership(n);
    int self = mb ? cluster_self(n) : -1;
    if (self >= 0 && (uint32_t)self < mb->n)
        snprintf(host, sizeof(host), "%s", mb->m[self].host);
    else if (announce_choose(n->cfg.bind, n->cfg.cluster_announce_ip, 1,
                             host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (strchr(host, ':') && host[0] != '[')
        snprintf(out, cap, "[%s]:%d", host, n->cfg.http_port);
    else
        snprintf(out, cap, "%s:%d", host, n->cfg.http_port);
}

static void server_info_server(struct node *n, struct dbuf *b, uint64_t now_ms)
{
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    uint64_t up = now_ms > n->start_ms ? (now_ms - n->start_ms) / 1000 : 0;
    dbuf_appends(b, "# Server\r\n"
                    "redis_version:7.0.15\r\n"
                    "redis_git_sha1:00000000\r\n"
                    "redis_git_dirty:0\r\n"
                    "dynamo_version:" PACKAGE_VERSION "\r\n"
                    "redis_mode:standalone\r\n");
    dbuf_printf(b, "os:%s %s %s\r\n", u.sysname, u.release, u.machine);
    dbuf_printf(b, "arch_bits:%d\r\n", (int)(sizeof(long) * 8));
    dbuf_appends(b, "monotonic_clock:POSIX clock_gettime\r\n"
                    "multiplexing_api:libevent\r\n");
#ifdef __GNUC__
    dbuf_printf(b, "gcc_version:%d.%d.%d\r\n", __GNUC__, __GNUC_MINOR__,
                __GNUC_PATCHLEVEL__);
#endif
    dbuf_printf(b, "process_id:%ld\r\n", (long)getpid());
    dbuf_appends(b, "process_supervised:no\r\n");
    dbuf_printf(b, "run_id:%s\r\n", n->run_id);
    dbuf_printf(b, "tcp_port:%d\r\n", n->cfg.port);
    char http[ANNOUNCE_HOST_MAX + 8];
    cmd_info_http_addr(n, http, sizeof(http));
    dbuf_printf(b, "http_port:%d\r\n", n->cfg.http_port);
    dbuf_printf(b, "http_addr:%s\r\n", http);
    dbuf_printf(b, "server_time_usec:%" PRIu64 "\r\n", node_wall_us(n));
    dbuf_printf(b, "uptime_in_seconds:%" PRIu64 "\r\n", up);
    dbuf_printf(b, "uptime_in_days:%" PRIu64 "\r\n", up / 86400);
    dbuf_printf(b, "hz:%d\r\n", n->cfg.hz);
    dbuf_printf(b, "configured_hz:%d\r\n", n->cfg.hz);
    dbuf_printf(b, "executable:%s\r\n", n->executable ? n->executable : "");
    dbuf_printf(b, "config_file:%s\r\n", n->config_file ? n->config_file : "");
    dbuf_appends(b, "io_threads_active:0\r\n");
}

static void server_info_clients(struct node *n, struct dbuf *b)
{
    size_t max_in = 0, max_out = 0, blocked = 0;
    for (struct client *c = n->clients; c; c = c->next) {
        max_in = DYN_MAX(max_in, c->qbuf.len);
        max_out = DYN_MAX(max_out, client_obuf_pending(c));
        if (c->flags & CLIENT_BLOCKED)
            blocked++;
    }
    dbuf_printf(b,
                "# Clients\r\n"
                "connected_clients:%zu\r\n"
                "cluster_connections:0\r\n"
                "maxclients:%d\r\n"
                "client_recent_max_input_buffer:%zu\r\n"
                "client_recent_max_output_buffer:%zu\r\n"
                "blocked_clients:%zu\r\n"
                "tracking_clients:0\r\n"
                "clients_in_timeout_table:0\r\n",
                n->nclients, n->cfg.maxclients, max_in, max_out, blocked);
    dbuf_printf(b, "http_connections:%" PRIu64 "\r\n"
                   "http_stream_subscribers:%" PRIu64 "\r\n",
                n->stats.http_connections, n->stats.http_stream_subscribers);
}

static void server_info_memory(struct node *n, struct dbuf *b)
{
    struct mem_figures m;
    server_mem_read(&m);
    if (m.used > n->stats.used_memory_peak)
        n->stats.used_memory_peak = m.used;
    uint64_t peak = n->stats.used_memory_peak;
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    uint64_t total = (pages > 0 && psize > 0)
                         ? (uint64_t)pages * (uint64_t)psize : 0;
    char h1[32], h2[32], h3[32], h4[32];
    server_human_bytes(h1, sizeof h1, m.used);
    server_human_bytes(h2, sizeof h2, m.rss);
    server_human_bytes(h3, sizeof h3, peak);
    server_human_bytes(h4, sizeof h4, total);
    size_t overhead = n->store ? store_overhead_bytes(n->store) : 0;
    dbuf_appends(b, "# Memory\r\n");
    dbuf_printf(b, "used_memory:%" PRIu64 "\r\n", m.used);
    dbuf_printf(b, "used_memory_human:%s\r\n", h1);
    dbuf_printf(b, "used_memory_rss:%" PRIu64 "\r\n", m.rss);
    dbuf_printf(b, "used_memory_rss_human:%s\r\n", h2);
    dbuf_printf(b, "used_memory_peak:%" PRIu64 "\r\n", peak);
    dbuf_printf(b, "used_memory_peak_human:%s\r\n", h3);
    dbuf_printf(b, "used_memory_peak_perc:%.2f%%\r\n",
                peak ? 100.0 * (double)m.used / (double)peak : 0.0);
    dbuf_printf(b, "used_memory_overhead:%zu\r\n", overhead);
    dbuf_printf(b, "allocator_allocated:%" PRIu64 "\r\n", m.used);
    dbuf_printf(b, "allocator_active:%" PRIu64 "\r\n", m.active);
    dbuf_printf(b, "allocator_resident:%" PRIu64 "\r\n", m.resident);
    dbuf_printf(b, "total_system_memory:%" PRIu64 "\r\n", total);
    dbuf_printf(b, "total_system_memory_human:%s\r\n", h4);
    dbuf_appends(b, "maxmemory:0\r\n"
                    "maxmemory_human:0B\r\n"
                    "maxmemory_policy:noeviction\r\n");
    dbuf_printf(b, "allocator_frag_ratio:%.2f\r\n",
                m.used ? (double)m.active / (double)m.used : 0.0);
    dbuf_printf(b, "mem_fragmentation_ratio:%.2f\r\n",
                m.used ? (double)m.rss / (double)m.used : 0.0);
    dbuf_printf(b, "mem_allocator:%s\r\n", m.allocator);
    dbuf_appends(b, "active_defrag_running:0\r\n"
                    "lazyfree_pending_objects:0\r\n"
                    "lazyfreed_objects:0\r\n");
}

static void server_info_persistence(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Persistence\r\n"
                    "loading:0\r\n"
                    "async_loading:0\r\n"
                    "rdb_changes_since_last_save:0\r\n"
                    "rdb_bgsave_in_progress:0\r\n");
    dbuf_printf(b, "rdb_last_save_time:%" PRIu64 "\r\n", n->start_ms / 1000);
    dbuf_appends(b, "rdb_last_bgsave_status:ok\r\n"
                    "rdb_last_bgsave_time_sec:-1\r\n"
                    "rdb_current_bgsave_time_sec:-1\r\n"
                    "rdb_saves:0\r\n"
                    "aof_enabled:0\r\n"
                    "aof_rewrite_in_progress:0\r\n"
                    "aof_rewrite_scheduled:0\r\n"
                    "aof_last_rewrite_time_sec:-1\r\n"
                    "aof_current_rewrite_time_sec:-1\r\n"
                    "aof_last_bgrewrite_status:ok\r\n"
                    "aof_rewrites:0\r\n"
                    "aof_last_write_status:ok\r\n");
    if (n->engine)
        engine_info(n->engine, b); /* the durable engine's own lines */
}

static void server_info_stats(struct node *n, struct dbuf *b)
{
    const struct node_stats *s = &n->stats;
    dbuf_appends(b, "# Stats\r\n");
    dbuf_printf(b, "total_connections_received:%" PRIu64 "\r\n",
                s->total_connections_received);
    dbuf_printf(b, "total_commands_processed:%" PRIu64 "\r\n",
                s->total_commands_processed);
    /* the last whole second's client commands (a routed one counted
     * when its reply came) */
    const struct latency_hist *sec =
        second_window_last(&s->last_second, node_mono_us(n));
    dbuf_printf(b, "instantaneous_ops_per_sec:%" PRIu64 "\r\n", sec->count);
    dbuf_printf(b, "last_second_p99_usec:%.0f\r\n",
                latency_quantile(sec, 0.99));
    dbuf_printf(b, "http_stream_rounds:%" PRIu64 "\r\n"
                   "http_stream_dropped:%" PRIu64 "\r\n",
                s->http_stream_rounds, s->http_stream_dropped);
    dbuf_printf(b, "total_net_input_bytes:%" PRIu64 "\r\n",
                s->total_net_input_bytes);
    dbuf_printf(b, "total_net_output_bytes:%" PRIu64 "\r\n",
                s->total_net_output_bytes);
    dbuf_appends(b, "instantaneous_input_kbps:0.00\r\n"
                    "instantaneous_output_kbps:0.00\r\n");
    dbuf_printf(b, "rejected_connections:%" PRIu64 "\r\n",
                s->rejected_connections);
    dbuf_appends(b, "sync_full:0\r\n"
                    "sync_partial_ok:0\r\n"
                    "sync_partial_err:0\r\n");
    dbuf_printf(b, "expired_keys:%" PRIu64 "\r\n", s->expired_keys);
    dbuf_printf(b, "expired_stale_perc:%.2f\r\n",
                (double)s->expired_stale_perc);
    dbuf_appends(b, "evicted_keys:0\r\nevicted_clients:0\r\n");
    dbuf_printf(b, "keyspace_hits:%" PRIu64 "\r\n", s->keyspace_hits);
    dbuf_printf(b, "keyspace_misses:%" PRIu64 "\r\n", s->keyspace_misses);
    dbuf_appends(b, "pubsub_channels:0\r\npubsub_patterns:0\r\n"
                    "latest_fork_usec:0\r\ntotal_forks:0\r\n");
    dbuf_printf(b, "unexpected_error_replies:%" PRIu64 "\r\n",
                s->unexpected_error_replies);
    dbuf_printf(b, "total_error_replies:%" PRIu64 "\r\n",
                s->total_error_replies);
    dbuf_printf(b, "client_query_buffer_limit_disconnections:%" PRIu64 "\r\n",
                s->client_query_buffer_limit_disconnections);
    dbuf_printf(b, "client_output_buffer_limit_disconnections:%" PRIu64 "\r\n",
                s->client_output_limit_disconnections);
}

static void server_info_replication(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Replication\r\n"
                    "role:master\r\n"
                    "connected_slaves:0\r\n"
                    "master_failover_state:no-failover\r\n");
    dbuf_printf(b, "master_replid:%s\r\n", n->run_id);
    dbuf_appends(b, "master_replid2:"
                    "0000000000000000000000000000000000000000\r\n"
                    "master_repl_offset:0\r\n"
                    "second_repl_offset:-1\r\n"
                    "repl_backlog_active:0\r\n"
                    "repl_backlog_size:1048576\r\n"
                    "repl_backlog_first_byte_offset:0\r\n"
                    "repl_backlog_histlen:0\r\n");
}

static void server_info_cpu(struct dbuf *b)
{
    struct rusage self, children, thread;
    memset(&self, 0, sizeof self);
    memset(&children, 0, sizeof children);
    memset(&thread, 0, sizeof thread);
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
#ifdef RUSAGE_THREAD
    getrusage(RUSAGE_THREAD, &thread);
#else
    thread = self;
#endif
    dbuf_printf(b,
                "# CPU\r\n"
                "used_cpu_sys:%.6f\r\n"
                "used_cpu_user:%.6f\r\n"
                "used_cpu_sys_children:%.6f\r\n"
                "used_cpu_user_children:%.6f\r\n"
                "used_cpu_sys_main_thread:%.6f\r\n"
                "used_cpu_user_main_thread:%.6f\r\n",
                server_tv_sec(self.ru_stime), server_tv_sec(self.ru_utime),
                server_tv_sec(children.ru_stime),
                server_tv_sec(children.ru_utime),
                server_tv_sec(thread.ru_stime), server_tv_sec(thread.ru_utime));
}

/* Calls fn for every command and subcommand that has stats to show. */
typedef void (*stat_fn)(struct dbuf *b, const struct command *cmd,
                        const struct command_stat *st);

static void server_stats_each(struct node *n, struct dbuf *b, stat_fn fn)
{
    const struct command_registry *r = n->commands;
    if (!r || !n->stats.cmd)
        return;
    size_t slots = command_stat_slots(r);
    for (size_t i = 0; i < command_count(r); i++) {
        const struct command *cmd = command_at(r, i);
        const struct command *sub = cmd->subcommands;
        for (const struct command *x = cmd; x; ) {
            size_t k = command_stat_index(r, x);
            if (k < slots) {
                const struct command_stat *st = &n->stats.cmd[k];
                if (st->calls || st->failed_calls || st->rejected_calls)
                    fn(b, x, st);
            }
            if (sub && sub->name)
                x = sub++;
            else
                x = NULL;
        }
    }
}

static void server_commandstat_line(struct dbuf *b, const struct command *cmd,
                                    const struct command_stat *st)
{
    dbuf_printf(b,
                "cmdstat_%s:calls=%" PRIu64 ",usec=%" PRIu64
                ",usec_per_call=%.2f,rejected_calls=%" PRIu64
                ",failed_calls=%" PRIu64 "\r\n",
                cmd->name, st->calls, st->usec,
                st->calls ? (double)st->usec / (double)st->calls : 0.0,
                st->rejected_calls, st->failed_calls);
}

static void server_latencystat_line(struct dbuf *b, const struct command *cmd,
                                    const struct command_stat *st)
{
    if (!st->lat.count)
        return;
    dbuf_printf(b,
                "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n",
                cmd->name, latency_quantile(&st->lat, 0.5),
                latency_quantile(&st->lat, 0.99),
                latency_quantile(&st->lat, 0.999));
}

static void server_dynamo_latency_line(struct dbuf *b,
                                       const struct command *cmd,
                                       const struct command_stat *st)
{
    if (!st->lat.count)
        return;
    dbuf_printf(b, "latency_%s:p50=%.3f,p99=%.3f\r\n", cmd->name,
                latency_quantile(&st->lat, 0.5),
                latency_quantile(&st->lat, 0.99));
}

static void server_info_keyspace(struct node *n, struct dbuf *b)
{
    dbuf_appends(b, "# Keyspace\r\n");
    if (!n->store)
        return;
    size_t keys = db_size(n);
    if (keys > 0)
        dbuf_printf(b, "db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", keys,
                    store_count_expiring(n->store));
}

static void server_info_dynamo(struct node *n, struct dbuf *b)
{
    const struct node_stats *s = &n->stats;
    const struct config *cfg = &n->cfg;
    dbuf_appends(b, "# Dynamo\r\n");
    dbuf_printf(b, "node_name:%s\r\n", cfg->node_name ? cfg->node_name : "");
    dbuf_printf(b, "actor:%016" PRIx64 "\r\n", n->actor);
    dbuf_printf(b, "incarnation:%" PRIu32 "\r\n", n->incarnation);
    dbuf_printf(b, "n:%d\r\nr:%d\r\nw:%d\r\n", cfg->n, cfg->r, cfg->w);
    dbuf_printf(b, "conflict_policy:%s\r\n",
                cfg->conflict_policy == CONFLICT_LWW ? "lww" : "siblings");
    dbuf_printf(b, "vclock_max_entries:%d\r\n", cfg->vclock_max_entries);
    dbuf_printf(b, "quorum_failures:%" PRIu64 "\r\n", s->quorum_failures);
    /* ring, quorum and repair counters (cluster_enabled:0 when alone);
     * hinted handoff and anti-entropy counters come with those
     * mechanisms */
    cluster_info(n, b);
    dbuf_printf(b, "vclock_prunes:%" PRIu64 "\r\n", s->vclock_prunes);
    dbuf_printf(b, "siblings_created:%" PRIu64 "\r\n", s->siblings_created);
    dbuf_printf(b, "sibling_cap_refusals:%" PRIu64 "\r\n",
                s->sibling_cap_refusals);
    dbuf_printf(b,
                "sibling_hist:1=%" PRIu64 ",2=%" PRIu64 ",3=%" PRIu64
                ",4=%" PRIu64 ",5-8=%" PRIu64 ",9+=%" PRIu64 "\r\n",
                s->sibling_hist[0], s->sibling_hist[1], s->sibling_hist[2],
                s->sibling_hist[3], s->sibling_hist[4], s->sibling_hist[5]);
    /* the trace ring behind DYNAMO.TRACE (cluster/trace.c): operations
     * traced, and left untraced by the TRACE_PER_SEC cap */
    dbuf_printf(b, "traces_recorded:%" PRIu64 "\r\n", n->traces.next_id);
    dbuf_printf(b, "traces_skipped:%" PRIu64 "\r\n", n->traces.skipped);
    /* the version history behind DYNAMO.VERSIONS (cluster/vhist.c) */
    dbuf_printf(b, "versions_recorded:%" PRIu64 "\r\n", n->versions.recorded);
    dbuf_printf(b, "version_history_keys:%" PRIu32 "\r\n", n->versions.used);
    dbuf_printf(b, "version_history_evicted:%" PRIu64 "\r\n",
                n->versions.keys_evicted);
    if (n->store) {
        size_t all = store_count(n->store), live = store_count_live(n->store);
        dbuf_printf(b, "partitions:%" PRIu32 "\r\n",
                    store_partitions(n->store));
        dbuf_printf(b, "tombstones:%zu\r\n", all > live ? all - live : 0);
    } else {
        dbuf_printf(b, "partitions:%d\r\ntombstones:0\r\n",
                    cfg->ring_partitions);
    }
    dbuf_printf(b, "tombstones_reaped:%" PRIu64 "\r\n", s->tombstones_reaped);
    dbuf_printf(b, "typed_compactions:%" PRIu64 "\r\n", s->typed_compactions);
    dbuf_printf(b, "typed_writes_deferred:%" PRIu64
                "\r\ntyped_encodes_deferred:%" PRIu64
                "\r\ntyped_settles_refused:%" PRIu64 "\r\n",
                s->typed_writes_deferred, s->typed_encodes_deferred,
                s->typed_settles_refused);
    struct tcache_stats tc = { 0 };
    if (n->tcache)
        tcache_stats(n->tcache, &tc);
    dbuf_printf(b,
                "typed_cache_hits:%" PRIu64 "\r\ntyped_cache_misses:%" PRIu64
                "\r\ntyped_cache_evictions:%" PRIu64
                "\r\ntyped_cache_keys:%" PRIu64
                "\r\ntyped_cache_bytes:%" PRIu64 "\r\n",
                tc.hits, tc.misses, tc.evictions, tc.entries, tc.bytes);
    server_stats_each(n, b, server_dynamo_latency_line);
}

enum info_section {
    SEC_SERVER, SEC_CLIENTS, SEC_MEMORY, SEC_PERSISTENCE, SEC_STATS,
    SEC_REPLICATION, SEC_CPU, SEC_MODULES, SEC_COMMANDSTATS, SEC_ERRORSTATS,
    SEC_LATENCYSTATS, SEC_CLUSTER, SEC_KEYSPACE, SEC_DYNAMO, SEC_COUNT
};

/* In output order. `dflt`: part of the default set; every section is part
 * of "all" and "everything". */
static const struct {
    const char *name;
    int dflt;
} sections[SEC_COUNT] = {
    [SEC_SERVER] = {"server", 1},
    [SEC_CLIENTS] = {"clients", 1},
    [SEC_MEMORY] = {"memory", 1},
    [SEC_PERSISTENCE] = {"persistence", 1},
    [SEC_STATS] = {"stats", 1},
    [SEC_REPLICATION] = {"replication", 1},
    [SEC_CPU] = {"cpu", 1},
    [SEC_MODULES] = {"modules", 1},
    [SEC_COMMANDSTATS] = {"commandstats", 0},
    [SEC_ERRORSTATS] = {"errorstats", 1},
    [SEC_LATENCYSTATS] = {"latencystats", 0},
    [SEC_CLUSTER] = {"cluster", 1},
    [SEC_KEYSPACE] = {"keyspace", 1},
    [SEC_DYNAMO] = {"dynamo", 1},
};

static void server_info_section(struct node *n, struct dbuf *b, int sec,
                                uint64_t now_ms)
{
    switch (sec) {
    case SEC_SERVER: server_info_server(n, b, now_ms); break;
    case SEC_CLIENTS: server_info_clients(n, b); break;
    case SEC_MEMORY: server_info_memory(n, b); break;
    case SEC_PERSISTENCE: server_info_persistence(n, b); break;
    case SEC_STATS: server_info_stats(n, b); break;
    case SEC_REPLICATION: server_info_replication(n, b); break;
    case SEC_CPU: server_info_cpu(b); break;
    case SEC_MODULES: dbuf_appends(b, "# Modules\r\n"); break;
    case SEC_COMMANDSTATS:
        dbuf_appends(b, "# Commandstats\r\n");
        server_stats_each(n, b, server_commandstat_line);
        break;
    case SEC_ERRORSTATS: dbuf_appends(b, "# Errorstats\r\n"); break;
    case SEC_LATENCYSTATS:
        dbuf_appends(b, "# Latencystats\r\n");
        server_stats_each(n, b, server_latencystat_line);
        break;
    case SEC_CLUSTER:
        dbuf_appends(b, "# Cluster\r\ncluster_enabled:0\r\n");
        break;
    case SEC_KEYSPACE: server_info_keyspace(n, b); break;
    case SEC_DYNAMO: server_info_dynamo(n, b); break;
    default: break;
    }
}

void cmd_info_text(struct node *n, int argc, const struct dyn_arg *argv,
                   struct dbuf *text)
{
    int want[SEC_COUNT] = {0};
    if (argc == 1) {
        for (int i = 0; i < SEC_COUNT; i++)
            want[i] = sections[i].dflt;
    }
    for (int a = 1; a < argc; a++) {
        const struct dyn_arg *x = &argv[a];
        if (dyn_arg_is(x->p, x->len, "all") ||
            dyn_arg_is(x->p, x->len, "everything")) {
            for (int i = 0; i < SEC_COUNT; i++)
                want[i] = 1;
        } else if (dyn_arg_is(x->p, x->len, "default")) {
            for (int i = 0; i < SEC_COUNT; i++)
                want[i] |= sections[i].dflt;
        } else {
            for (int i = 0; i < SEC_COUNT; i++)
                if (dyn_arg_is(x->p, x->len, sections[i].name))
                    want[i] = 1;
        }
    }
    uint64_t now_ms = node_wall_ms(n);
    int first = 1;
    for (int i = 0; i < SEC_COUNT; i++) {
        if (!want[i])
            continue;
        if (!first)
            dbuf_appends(text, "\r\n");
        first = 0;
        server_info_section(n, text, i, now_ms);
    }
}

static void server_info_proc(struct client *c, int argc,
                             const struct dyn_arg *argv)
{
    struct dbuf text;
    dbuf_init(&text);
    cmd_info_text(c->node, argc, argv, &text);
    reply_verbatim(&c->obuf, c->resp, "txt", text.p ? text.p : "", text.len);
    dbuf_free(&text);
}

/* R.INFO [section ...] from a peer: this node's INFO text as a bulk.  A
 * node under DYNAMO.KILL never sees it (the bus drops it, as it drops
 * every filtered command), so a killed node is a silent one here too. */
void cmd_info_peer(void *ctx, struct peer_call *call, int argc,
                   const struct dyn_arg *argv)
{
    struct dbuf text;
    dbuf_init(&text);
    cmd_info_text(cluster_node_of(ctx), argc, argv, &text);
    peer_call_reply_bulk(call, text.p ? text.p : "", text.len);
    dbuf_free(&text);
}

/* ------------------------------------------------------------------------ */
/* Table                                                                    */
/* ------------------------------------------------------------------------ */

const struct command cmd_info_table[] = {
    {.name = "info", .proc = server_info_proc, .arity = -1, .flags = CMDI_FLAGS,
     .acl_categories = "@slow @dangerous", .group = "server", .since = "1.0.0",
     .summary = "Report the node's state and counters, by section",
     .complexity = "O(1)"},
    {.name = NULL},
};
