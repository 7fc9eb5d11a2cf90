/*
 * cmd_server.h -- what the server group's command files share: cmd_info.c,
 * cmd_config.c, cmd_command.c and cmd_server.c (which defines these).
 *
 * CONFIG, COMMAND and MEMORY are containers: their subcommands are rows of
 * their own ("config|get").  The dispatcher (command.c) normally resolves
 * the subcommand itself; server_container_run does it when a container is
 * handed the whole request, with the same errors.  server_reply_help is the
 * HELP reply all three give, with Redis's header and footer.
 *
 * Thread-safety: as the handlers, on the event loop only.
 */
#ifndef DYN_CMD_SERVER_H
#define DYN_CMD_SERVER_H

#include <stddef.h>
#include "server/client.h"
#include "server/command.h"

/* The flags of the introspection commands and subcommands: they answer
 * while the node loads and when it is stale. */
#define CMDI_FLAGS (CMD_LOADING | CMD_STALE)

/* The row of table `subs` whose name after '|' is `sub` (case-insensitive),
 * or NULL.  subs may be NULL. */
const struct command *server_sub_find(const struct command *subs,
                                      const char *sub, size_t len);

/* Whether argc arguments (the name included) fit cmd's arity. */
int server_arity_ok(const struct command *cmd, int argc);

/* Runs the subcommand named by argv[1] from table `subs`, for a container
 * command whose subcommand the dispatcher did not resolve itself.  upname
 * is the container's name in capitals, for the error reply. */
void server_container_run(struct client *c, const struct command *subs,
                          const char *upname, int argc,
                          const struct dyn_arg *argv);

/* A help reply: "UPNAME <subcommand> ...", one status line per entry of the
 * NULL-terminated lines, then Redis's HELP footer. */
void server_reply_help(struct client *c, const char *upname,
                       const char *const *lines);

#endif
