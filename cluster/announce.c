/*
 * announce.c -- the rules of `bind` and `cluster-announce-ip`: how a bind
 * word reads, which addresses are wildcards or loopback, and which address
 * a node advertises to its peers.  The reasons are in announce.h.
 *
 * Invariants: nothing here binds, resolves or connects; a host name other
 * than "localhost" is taken as routable (resolving it would be I/O, and the
 * operator who wrote a name meant it to be reached).
 *
 * Thread-safety: reentrant.  Errors: 0 or DYN_EINVAL.
 */
#include "cluster/announce.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "server/util.h"

int announce_bind_word(const char *word, char *host, size_t cap,
                       int *optional)
{
    *optional = 0;
    if (word[0] == '-') {
        *optional = 1;
        word++;
    }
    if (strcmp(word, "*") == 0)
        word = "0.0.0.0";
    else if (strcmp(word, "::*") == 0)
        word = "::";
    size_t len = strlen(word);
    if (len == 0 || len >= cap)
        return DYN_EINVAL;
    memcpy(host, word, len + 1);
    return 0;
}

int announce_next_word(const char **p, char *word, size_t cap)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strcspn(s, " \t");
    *p = s + len;
    if (!len)
        return 0;
    if (len >= cap)
        return DYN_ELIMIT;
    memcpy(word, s, len);
    word[len] = '\0';
    return (int)len;
}

enum announce_kind announce_kind_of(const char *host)
{
    unsigned char a[16];
    size_t hl = strlen(host);
    if (hl > 2 && hl < ANNOUNCE_HOST_MAX && host[0] == '[' &&
        host[hl - 1] == ']') {
        /* "[::1]", as a cluster-node line may write an IPv6 address */
        char inner[ANNOUNCE_HOST_MAX];
        memcpy(inner, host + 1, hl - 2);
        inner[hl - 2] = '\0';
        return announce_kind_of(inner);
    }
    if (strcmp(host, "*") == 0 || strcmp(host, "::*") == 0)
        return ANNOUNCE_WILDCARD;
    if (strcasecmp(host, "localhost") == 0)
        return ANNOUNCE_LOOPBACK;
    if (inet_pton(AF_INET, host, a) == 1) {
        if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0)
            return ANNOUNCE_WILDCARD;
        return a[0] == 127 ? ANNOUNCE_LOOPBACK : ANNOUNCE_ROUTABLE;
    }
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char zero[16], mapped[12] = {
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, zero, 16) == 0)
            return ANNOUNCE_WILDCARD;
        if (memcmp(a, zero, 15) == 0 && a[15] == 1)
            return ANNOUNCE_LOOPBACK;
        if (memcmp(a, mapped, 12) == 0) {
            if (a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] == 0)
                return ANNOUNCE_WILDCARD;
            if (a[12] == 127)
                return ANNOUNCE_LOOPBACK;
        }
        return ANNOUNCE_ROUTABLE;
    }
    return ANNOUNCE_ROUTABLE;
}

int announce_host_of(const char *hostport, char *host, size_t cap)
{
    const char *at = strchr(hostport, '@');
    size_t len = at ? (size_t)(at - hostport) : strlen(hostport);
    const char *colon = NULL;
    for (size_t i = 0; i < len; i++)
        if (hostport[i] == ':')
            colon = hostport + i;
    if (!colon || colon == hostport || (size_t)(colon - hostport) >= cap)
        return DYN_EINVAL;
    size_t hl = (size_t)(colon - hostport);
    memcpy(host, hostport, hl);
    host[hl] = '\0';
    return 0;
}

static int acceptable(const char *host, int loopback_ok)
{
    enum announce_kind k = announce_kind_of(host);
    return k == ANNOUNCE_ROUTABLE || (k == ANNOUNCE_LOOPBACK && loopback_ok);
}

/* The first acceptable word of bind whose optional mark is `optional`. */
static int first_of(const char *bind, int optional, int loopback_ok,
                    char *out, size_t cap)
{
    const char *p = bind;
    char word[ANNOUNCE_HOST_MAX + 1], host[ANNOUNCE_HOST_MAX];
    int rc, opt;
    while ((rc = announce_next_word(&p, word, sizeof(word))) != 0) {
        if (rc > 0 &&
            announce_bind_word(word, host, sizeof(host), &opt) == 0 &&
            opt == optional && acceptable(host, loopback_ok) &&
            strlen(host) < cap) {
            memcpy(out, host, strlen(host) + 1);
            return 0;
        }
    }
    return DYN_EINVAL;
}

int announce_choose(const char *bind, const char *announce_ip,
                    int loopback_ok, char *out, size_t cap)
{
    if (announce_ip && announce_ip[0]) {
        if (!acceptable(announce_ip, loopback_ok) ||
            strlen(announce_ip) >= cap)
            return DYN_EINVAL;
        memcpy(out, announce_ip, strlen(announce_ip) + 1);
        return 0;
    }
    if (!bind)
        return DYN_EINVAL;
    if (first_of(bind, 0, loopback_ok, out, cap) == 0)
        return 0;
    return first_of(bind, 1, loopback_ok, out, cap);
}
