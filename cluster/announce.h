/*
 * announce.h -- where a node listens for its peers and what address it
 * tells them: the words of `bind` and `cluster-announce-ip`, read as rules.
 *
 * `bind` takes Redis's syntax: space-separated addresses, "*" for any IPv4
 * address, "::*" for any IPv6 one, and a leading '-' for an address that
 * may be missing on this host (skipped, not fatal).  The client listener
 * (net.c) and the peer bus's listeners (peer.c) read the words the same
 * way, through announce_bind_word, so a bind line that one accepts the
 * other accepts too.
 *
 * What a node advertises (the host of its own member entry, which gossip
 * carries to every other node, and which they dial) is chosen by
 * announce_choose:
 *   1. cluster-announce-ip, when set;
 *   2. else the first bind address that is neither a wildcard nor, when a
 *      loopback address is not acceptable, a loopback one; addresses marked
 *      optional ('-') come after every other, since they may not exist here.
 * A wildcard is never advertised (no other node can dial 0.0.0.0), and in a
 * cluster whose other members are not on loopback a loopback address is
 * not either (another host would dial itself).  When nothing is left the
 * node must not start: the caller says so, naming cluster-announce-ip.
 *
 * Pure: string rules only (inet_pton), no sockets, no I/O.  Reentrant.
 * Errors: 0, or DYN_EINVAL (a malformed word, nothing to advertise).
 */
#ifndef DYN_ANNOUNCE_H
#define DYN_ANNOUNCE_H

#include <stddef.h>

#define ANNOUNCE_HOST_MAX 64    /* longest host kept, with its NUL */

enum announce_kind {
    ANNOUNCE_WILDCARD,  /* 0.0.0.0, ::, "*", "::*" */
    ANNOUNCE_LOOPBACK,  /* 127.0.0.0/8, ::1, "localhost" */
    ANNOUNCE_ROUTABLE,  /* any other address or host name */
};

/* One word of `bind`: host[cap] gets the address to bind ("*" mapped to
 * "0.0.0.0", "::*" to "::"), *optional whether it started with '-'.
 * DYN_EINVAL: empty, or longer than cap - 1. */
int announce_bind_word(const char *word, char *host, size_t cap,
                       int *optional);
/* The next word of a bind line at *p (words are separated by spaces and
 * tabs), copied NUL-terminated into word[cap]; *p moves past it.  Returns
 * its length, 0 when no word is left, or DYN_ELIMIT for a word of cap
 * bytes or more (skipped, word untouched). */
int announce_next_word(const char **p, char *word, size_t cap);

/* What kind of address host is: a numeric address (IPv6 possibly in
 * brackets, as cluster-node lines write it) or a host name. */
enum announce_kind announce_kind_of(const char *host);

/* The host part of a "HOST:PORT[@PEERPORT]" line (a seed, or the address
 * of a cluster-node line), into host[cap].  DYN_EINVAL: no ':' or too long. */
int announce_host_of(const char *hostport, char *host, size_t cap);

/* The address to advertise (see the rules above) into out[cap].
 * bind: the bind option's words; announce_ip: cluster-announce-ip, NULL or
 * "" when unset; loopback_ok: whether a loopback address may be
 * advertised (every other member known is on loopback).
 * DYN_EINVAL: announce_ip is a wildcard or an unacceptable loopback, or no
 * bind address qualifies. */
int announce_choose(const char *bind, const char *announce_ip,
                    int loopback_ok, char *out, size_t cap);

#endif
