/*
 * replay.c -- runs the typed-op journal's ops again at startup.
 *
 * A node alone with storage disk journals each deferred typed write as
 * the command that made it (server/journal.h; db.c, "The journal").
 * After the data files are loaded, every op of the journal comes here in
 * order:
 *
 *   op ─> its command a journalable one?  no: counted as an error, logged
 *      ─> db_journal_held: the key's record has the op's first dot, or
 *         the key is gone?  yes: skipped (its record holds it)
 *      ─> the command runs again through its handler, on a shadow client,
 *         with the node's clock showing the op's time, the dot counter
 *         just below its first dot and node_random's state as it was:
 *         the handler makes the same state and the same dots
 *      ─> it wrote other dots, or answered an error: counted, logged
 *
 * Why it gives the state the node had: a journaled op ran on the key's
 * value as it stood, which is the last record's value and the ops after
 * it, in the journal's order; the same handler on the same value with
 * the same dots, time and chance makes the same value (the commands
 * journaled are those replay_journalable admits: one key, no chance).
 * The dots are checked, so a handler that would take another path is
 * seen, not trusted.  A replayed write defers as any write does (it is
 * not journaled again); the checkpoint that follows writes every key's
 * record and starts the journal afresh.
 *
 * Thread-safety: the loop, before it serves anyone.  Errors: an op that
 * does not run again is counted (INFO journal_replay_errors) and logged;
 * only a failure to write the data files stops the start.
 */
#include "server/replay.h"

#include <string.h>
#include "server/client.h"
#include "server/command.h"
#include "server/db.h"
#include "server/engine.h"
#include "server/journal.h"
#include "server/log.h"
#include "server/node.h"

int replay_journalable(const struct command *cmd)
{
    return (cmd->flags & CMD_WRITE) &&
           !(cmd->flags & (CMD_CHANCE | CMD_INTERNAL)) &&
           cmd->first_key == 1 && cmd->last_key == 1 &&
           cmd->numkeys_at == 0 && cmd->subcommands == NULL;
}

struct replay_run {
    struct node *n;
    uint64_t wall_us;
    int replayed, skipped, errors;
};

static uint64_t replay_wall_us(void *ctx)
{
    const struct replay_run *r = ctx;
    return r->wall_us;
}

static void replay_failed(struct replay_run *r, const struct journal_op *op,
                          const char *why, const struct dbuf *reply)
{
    r->errors++;
    int len = reply ? (int)DYN_MIN(reply->len, (size_t)120) : 0;
    dlog(DLOG_WARNING, "journal: an op on key '%.*s' (%.*s) did not run "
         "again: %s%s%.*s", (int)DYN_MIN(op->klen, 64u),
         (const char *)op->key,
         op->argc ? (int)DYN_MIN(op->argv[0].len, (size_t)32) : 0,
         op->argc ? op->argv[0].p : "", why, len ? ": " : "", len,
         reply ? reply->p : "");
}

static int replay_op(void *ctx, const struct journal_op *op)
{
    struct replay_run *r = ctx;
    struct node *n = r->n;
    const struct command *cmd =
        command_lookup(n->commands, op->argv[0].p, op->argv[0].len);
    if (!cmd || !replay_journalable(cmd) || op->first == 0 || op->argc < 2 ||
        (cmd->arity > 0 && op->argc != (uint32_t)cmd->arity) ||
        (cmd->arity < 0 && op->argc < (uint32_t)-cmd->arity) ||
        op->argv[1].len != op->klen ||
        memcmp(op->argv[1].p, op->key, op->klen) != 0) {
        replay_failed(r, op, "not a command the journal runs", NULL);
        return 0;
    }
    if (db_journal_held(n, op->key, op->klen, op->actor, op->first)) {
        r->skipped++;
        return 0;
    }
    struct node_clock saved = n->clock;
    uint64_t counter = n->dot_counter;
    n->clock.wall_us = replay_wall_us;
    n->clock.mono_us = NULL;
    n->clock.turn_ms = NULL;
    n->clock.ctx = r;
    r->wall_us = op->ts_ms * 1000;
    n->dot_counter = op->first - 1;
    n->rng = op->rng;
    n->replay_ndots = 0;

    struct client sc;
    memset(&sc, 0, sizeof(sc));
    sc.node = n;
    sc.fd = -1;
    sc.resp = 2;
    sc.authenticated = 1;
    memcpy(sc.addr, "journal", sizeof("journal"));
    dbuf_init(&sc.obuf);
    cmd->proc(&sc, (int)op->argc, op->argv);
    db_typed_end(n);

    uint64_t used = n->dot_counter;
    n->clock = saved;
    n->dot_counter = DYN_MAX(counter, used);
    if (sc.errors)
        replay_failed(r, op, "it answered an error", &sc.obuf);
    else if (n->replay_ndots != op->ndots ||
             n->replay_first.counter != op->first)
        replay_failed(r, op, "it wrote other dots", NULL);
    else
        r->replayed++;
    dbuf_free(&sc.obuf);
    dyn_free(sc.name);
    dyn_free(sc.lib_name);
    dyn_free(sc.lib_ver);
    return 0;
}

int replay_journal(struct node *n, struct dbuf *err)
{
    if (!n->engine)
        return 0;
    struct replay_run r = {.n = n};
    n->journal_replaying = 1;
    int rc = engine_journal_open(
        n->engine, db_typed_alone(n), (uint64_t)n->cfg.journal_max_bytes,
        (uint64_t)UINT32_MAX, (uint64_t)n->cfg.journal_held_max_bytes,
        replay_op, &r, err);
    n->journal_replaying = 0;
    engine_journal_count(n->engine, r.replayed, r.skipped, r.errors);
    if (r.replayed || r.skipped || r.errors)
        dlog(DLOG_NOTICE, "journal: %d op(s) run again, %d already held by "
             "their keys' records, %d failed", r.replayed, r.skipped,
             r.errors);
    return rc;
}
