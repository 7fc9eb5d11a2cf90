/*
 * replay.h -- the typed-op journal's ops run again at startup
 * (server/replay.c; the journal is server/journal.h).
 */
#ifndef DYN_REPLAY_H
#define DYN_REPLAY_H

#include "server/buf.h"

struct command;
struct node;

/* 1 when the journal can run cmd again exactly: a write of one key (its
 * first argument), no subcommand, no chance in its effect (CMD_CHANCE).
 * dispatch_call journals only those; other writes encode. */
int replay_journalable(const struct command *cmd);

/* Opens the journal of n's engine (storage disk), runs its ops again on
 * the loaded keys (those a record holds skipped), checkpoints, and turns
 * journaling on when n is alone and journal-max-bytes is not 0.  0, or an
 * error with err's text (the data files cannot be written). */
int replay_journal(struct node *n, struct dbuf *err);

#endif
