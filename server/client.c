/*
 * client.c -- what the layers below the network may do to a client: mark
 * it for closing, wake it, describe it, answer it an error, drop its
 * MULTI queue.  None of it touches the socket: net.c, at the top of the
 * stack, owns the connection, reads and writes, and acts on the flags set
 * here from its own callbacks (an activated write event).
 *
 * Errors go through client_error / client_errorf so that the status of a
 * command is known without reading its reply: c->errors counts the error
 * replies, and the dispatcher (dispatch.c) and the coordinator compare it
 * before and after a handler.
 *
 * Thread-safety: event loop only.
 */
#include <stdarg.h>
#include <event2/event.h>
#include "server/client.h"
#include "server/reply.h"
#include "server/util.h"

size_t client_obuf_pending(const struct client *c)
{
    return c->oq.pending + c->obuf.len - c->obuf_sent;
}

void client_close_after_reply(struct client *c)
{
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

/* The write event runs the close (a client with no event -- the
 * coordinator's shadow client, a simulated one -- only gets the flag). */
void client_close_async(struct client *c)
{
    c->flags |= CLIENT_CLOSE_ASAP;
    if (c->ev_write)
        event_active(c->ev_write, EV_WRITE, 1);
}

void client_unblock(struct client *c)
{
    c->flags &= ~(unsigned)CLIENT_BLOCKED;
    c->flags |= CLIENT_RESUME;
    if (c->ev_write)
        event_active(c->ev_write, EV_WRITE, 1);
}

void client_wake(struct client *c)
{
    if (c->ev_write)
        event_active(c->ev_write, EV_WRITE, 1);
}

void client_error(struct client *c, const char *msg)
{
    c->errors++;
    reply_error(&c->obuf, msg);
}

void client_errorf(struct client *c, const char *fmt, ...)
{
    va_list ap;
    c->errors++;
    va_start(ap, fmt);
    reply_verrorf(&c->obuf, fmt, ap);
    va_end(ap);
}

void client_multi_reset(struct client *c)
{
    for (int i = 0; i < c->multi_count; i++) {
        struct queued_cmd *q = &c->multi[i];
        for (int j = 0; j < q->argc; j++)
            dyn_free((void *)q->argv[j].p);
        dyn_free(q->argv);
    }
    dyn_free(c->multi);
    c->multi = NULL;
    c->multi_count = 0;
    c->multi_cap = 0;
    c->flags &= ~(unsigned)(CLIENT_MULTI | CLIENT_DIRTY_EXEC);
}

/* CLIENT LIST / CLIENT INFO. */

void client_describe(const struct client *c, struct dbuf *out, uint64_t now_ms)
{
    char flags[8];
    int nf = 0;
    if (c->flags & CLIENT_MULTI)
        flags[nf++] = 'x';
    if (c->flags & CLIENT_BLOCKED)
        flags[nf++] = 'b';
    if (c->flags & CLIENT_CLOSE_AFTER_REPLY)
        flags[nf++] = 'c';
    if (c->flags & CLIENT_CLOSE_ASAP)
        flags[nf++] = 'A';
    if (nf == 0)
        flags[nf++] = 'N';
    flags[nf] = '\0';
    size_t multi_mem = 0;
    for (int i = 0; i < c->multi_count; i++)
        for (int j = 0; j < c->multi[i].argc; j++)
            multi_mem += c->multi[i].argv[j].len;
    size_t argv_mem = 0;
    for (size_t i = 0; i < c->parser.argc && c->parser.args; i++)
        argv_mem += c->parser.args[i].len;
    size_t tot = sizeof(*c) + c->qbuf.cap + c->obuf.cap + c->oq.mem + multi_mem;
    uint64_t age = now_ms > c->ctime_ms ? (now_ms - c->ctime_ms) / 1000 : 0;
    uint64_t idle = now_ms > c->last_ms ? (now_ms - c->last_ms) / 1000 : 0;
    dbuf_printf(out,
                "id=%llu addr=%s laddr=%s fd=%d name=%s age=%llu idle=%llu "
                "flags=%s db=%d sub=0 psub=0 ssub=0 multi=%d qbuf=%zu "
                "qbuf-free=%zu argv-mem=%zu multi-mem=%zu rbs=%zu rbp=%zu "
                "obl=%zu oll=%zu omem=%zu tot-mem=%zu events=r%s cmd=%s "
                "user=default redir=-1 resp=%d lib-name=%s lib-ver=%s",
                (unsigned long long)c->id, c->addr, c->laddr, c->fd,
                c->name ? c->name : "", (unsigned long long)age,
                (unsigned long long)idle, flags, c->db,
                (c->flags & CLIENT_MULTI) ? c->multi_count : -1, c->qbuf.len,
                c->qbuf.cap - c->qbuf.len, argv_mem, multi_mem, c->qbuf.cap,
                c->qbuf.cap, c->obuf.len - c->obuf_sent, c->oq.blocks,
                c->oq.mem, tot,
                (c->flags & CLIENT_WRITE_EV) ? "w" : "",
                c->last_cmd ? c->last_cmd : "NULL", c->resp,
                c->lib_name ? c->lib_name : "", c->lib_ver ? c->lib_ver : "");
}
