/*
 * usage.c -- the usage notation parser and the node's usage lines (pure).
 *
 * Why this file exists: COMMAND DOCS must give every argument of every
 * command as Redis's argument maps, and redis-cli builds its typing hints
 * from them (it asserts on their shape at start-up).  Writing those maps by
 * hand for each command would be long and easy to get wrong; writing the
 * one usage line a person reads in the docs is short and obviously right.
 * This file turns such a line into the tree the maps are written from, and
 * holds the lines themselves (usage_table), so the unit test can parse every
 * row and a bad row fails `make check` rather than a redis-cli session.
 *
 * How: usage_check() first walks the line once and refuses what is not
 * well formed (see usage.h); only then does usage_seq() parse it by
 * recursive descent over [s, e) ranges: an item is a word or a bracketed
 * group, a top-level '|' makes a oneof, "[x ...]" marks the k items before
 * it as repeated (wrapping them in a block when k > 1).  Nodes come from the
 * tree's fixed pool; running out of it sets t->err, so a line that does not
 * fit is an error, never a tree with arguments missing.
 *
 * Invariants: a well formed line gives the same tree every time; no byte of
 * the line is read past its NUL; the recursion is bounded by
 * USAGE_MAX_DEPTH, which usage_check enforces before parsing.
 *
 * Thread-safety: no state outside the caller's tree; the table is const.
 *
 * Errors: DYN_EINVAL and DYN_ELIMIT, as usage.h lists them.
 */
#include "server/usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server/util.h"

/* Argument syntax for COMMAND DOCS, in the notation of Redis's docs
 * ("key [key ...]", "[NX|XX]", "[EX seconds|PX milliseconds]").  It is
 * turned into Redis's argument maps, from which redis-cli builds the hints
 * it shows while a command is typed.  Sorted by name for bsearch. */
static const struct usage_row usage_table[] = {
    {"append", "key value"},
    {"auth", "[username] password"},
    {"bgsave", "[SCHEDULE]"},
    {"bzmpop", "timeout numkeys key [key ...] MIN|MAX [COUNT count]"},
    {"bzpopmax", "key [key ...] timeout"},
    {"bzpopmin", "key [key ...] timeout"},
    {"client|list",
     "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]"},
    {"client|no-evict", "ON|OFF"},
    {"client|pause", "timeout [WRITE|ALL]"},
    {"client|reply", "ON|OFF|SKIP"},
    {"client|setname", "connection-name"},
    {"command|docs", "[command-name [command-name ...]]"},
    {"command|info", "[command-name [command-name ...]]"},
    {"command|list",
     "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"},
    {"config|get", "parameter [parameter ...]"},
    {"config|set", "parameter value [parameter value ...]"},
    {"copy", "source destination [DB destination-db] [REPLACE]"},
    {"decr", "key"},
    {"decrby", "key decrement"},
    {"del", "key [key ...]"},
    {"dynamo.config|get", "parameter"},
    {"dynamo.config|set", "parameter value"},
    {"dynamo.del", "key context [W w]"},
    {"dynamo.get", "key [R r]"},
    {"dynamo.local", "key"},
    {"dynamo.put", "key context value [W w]"},
    {"dynamo.vclock", "key"},
    {"dynamo.versions", "[CLUSTER] [KEY] key"},
    {"echo", "message"},
    {"exists", "key [key ...]"},
    {"expire", "key seconds [NX|XX|GT|LT]"},
    {"expireat", "key unix-time-seconds [NX|XX|GT|LT]"},
    {"expiretime", "key"},
    {"flushall", "[ASYNC|SYNC]"},
    {"flushdb", "[ASYNC|SYNC]"},
    {"get", "key"},
    {"getdel", "key"},
    {"getex",
     "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT "
     "unix-time-milliseconds|PERSIST]"},
    {"getrange", "key start end"},
    {"getset", "key value"},
    {"hello", "[protover [AUTH username password] [SETNAME clientname]]"},
    {"incr", "key"},
    {"incrby", "key increment"},
    {"incrbyfloat", "key increment"},
    {"info", "[section [section ...]]"},
    {"keys", "pattern"},
    {"lcs", "key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]"},
    {"memory|usage", "key [SAMPLES count]"},
    {"mget", "key [key ...]"},
    {"mset", "key value [key value ...]"},
    {"msetnx", "key value [key value ...]"},
    {"persist", "key"},
    {"pexpire", "key milliseconds [NX|XX|GT|LT]"},
    {"pexpireat", "key unix-time-milliseconds [NX|XX|GT|LT]"},
    {"pexpiretime", "key"},
    {"ping", "[message]"},
    {"psetex", "key milliseconds value"},
    {"pttl", "key"},
    {"rename", "key newkey"},
    {"renamenx", "key newkey"},
    {"sadd", "key member [member ...]"},
    {"scan", "cursor [MATCH pattern] [COUNT count] [TYPE type]"},
    {"scard", "key"},
    {"sdiff", "key [key ...]"},
    {"sdiffstore", "destination key [key ...]"},
    {"select", "index"},
    {"set",
     "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT "
     "unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"},
    {"setex", "key seconds value"},
    {"setnx", "key value"},
    {"setrange", "key offset value"},
    {"shutdown", "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"},
    {"sinter", "key [key ...]"},
    {"sintercard", "numkeys key [key ...] [LIMIT limit]"},
    {"sinterstore", "destination key [key ...]"},
    {"sismember", "key member"},
    {"smembers", "key"},
    {"smismember", "key member [member ...]"},
    {"smove", "source destination member"},
    {"spop", "key [count]"},
    {"srandmember", "key [count]"},
    {"srem", "key member [member ...]"},
    {"sscan", "key cursor [MATCH pattern] [COUNT count]"},
    {"strlen", "key"},
    {"substr", "key start end"},
    {"sunion", "key [key ...]"},
    {"sunionstore", "destination key [key ...]"},
    {"touch", "key [key ...]"},
    {"ttl", "key"},
    {"type", "key"},
    {"unlink", "key [key ...]"},
    {"wait", "numreplicas timeout"},
    {"watch", "key [key ...]"},
    {"zadd", "key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"},
    {"zcard", "key"},
    {"zcount", "key min max"},
    {"zdiff", "numkeys key [key ...] [WITHSCORES]"},
    {"zdiffstore", "destination numkeys key [key ...]"},
    {"zincrby", "key increment member"},
    {"zinter",
     "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE "
     "SUM|MIN|MAX] [WITHSCORES]"},
    {"zintercard", "numkeys key [key ...] [LIMIT limit]"},
    {"zinterstore",
     "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
     "[AGGREGATE SUM|MIN|MAX]"},
    {"zlexcount", "key min max"},
    {"zmpop", "numkeys key [key ...] MIN|MAX [COUNT count]"},
    {"zmscore", "key member [member ...]"},
    {"zpopmax", "key [count]"},
    {"zpopmin", "key [count]"},
    {"zrandmember", "key [count [WITHSCORES]]"},
    {"zrange",
     "key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]"},
    {"zrangebylex", "key min max [LIMIT offset count]"},
    {"zrangebyscore", "key min max [WITHSCORES] [LIMIT offset count]"},
    {"zrangestore",
     "dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]"},
    {"zrank", "key member"},
    {"zrem", "key member [member ...]"},
    {"zremrangebylex", "key min max"},
    {"zremrangebyrank", "key start stop"},
    {"zremrangebyscore", "key min max"},
    {"zrevrange", "key start stop [WITHSCORES]"},
    {"zrevrangebylex", "key max min [LIMIT offset count]"},
    {"zrevrangebyscore", "key max min [WITHSCORES] [LIMIT offset count]"},
    {"zrevrank", "key member"},
    {"zscan", "key cursor [MATCH pattern] [COUNT count]"},
    {"zscore", "key member"},
    {"zunion",
     "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE "
     "SUM|MIN|MAX] [WITHSCORES]"},
    {"zunionstore",
     "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] "
     "[AGGREGATE SUM|MIN|MAX]"},
};

static int usage_is_word_byte(char ch)
{
    return ch && ch != ' ' && ch != '[' && ch != ']' && ch != '|';
}

/* Refuses a line that is not well formed, before the parser sees it: the
 * parser below trusts balanced brackets, non-empty groups, a '|' with a
 * word on each side ("a|b"; "a | b" or "[x]|y" would lose an alternative),
 * and "..." only as the last word of a group. */
static int usage_check(const char *line)
{
    int depth = 0, words = 0;
    size_t wlen = 0;
    char prev = '\0'; /* the last byte that is not a space */
    for (const char *p = line; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch >= 0x7f)
            return DYN_EINVAL;
        if (ch == ' ') {
            wlen = 0;
            continue;
        }
        if (ch == '.' && strncmp(p, "...", 3) == 0) {
            /* A repetition marker: a word of its own, after something to
             * repeat, and the last word of its group. */
            if (p == line || p[-1] != ' ' || depth == 0 || prev == '[' ||
                prev == '|')
                return DYN_EINVAL;
            const char *q = p + 3;
            while (*q == ' ')
                q++;
            if (*q != ']')
                return DYN_EINVAL;
            p += 2;
            prev = '.';
            continue;
        }
        if (ch == '[') {
            if (++depth > USAGE_MAX_DEPTH)
                return DYN_ELIMIT;
        } else if (ch == ']') {
            if (depth == 0 || prev == '[' || prev == '|')
                return DYN_EINVAL;
            depth--;
        } else if (ch == '|') {
            if (p == line || !usage_is_word_byte(p[-1]) ||
                !usage_is_word_byte(p[1]))
                return DYN_EINVAL;
        }
        if (usage_is_word_byte((char)ch)) {
            if (wlen == 0)
                words++;
            if (++wlen >= USAGE_NAME_MAX)
                return DYN_ELIMIT;
        } else {
            wlen = 0;
        }
        prev = (char)ch;
    }
    if (depth != 0 || prev == '|' || words == 0)
        return DYN_EINVAL;
    return 0;
}

static int usage_new(struct usage_tree *t, int type, const char *name,
                     size_t nlen)
{
    if (t->used == USAGE_MAX_ARGS) {
        t->err = DYN_ELIMIT;
        return -1;
    }
    struct usage_arg *a = &t->arg[t->used];
    memset(a, 0, sizeof *a);
    a->type = type;
    a->child = a->next = -1;
    snprintf(a->name, sizeof a->name, "%.*s",
             (int)DYN_MIN(nlen, USAGE_NAME_MAX - 1), name);
    return t->used++;
}

static int usage_is_upper(const char *w, size_t n)
{
    int letters = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] >= 'a' && w[i] <= 'z')
            return 0;
        if (w[i] >= 'A' && w[i] <= 'Z')
            letters = 1;
    }
    return letters;
}

/* End of the item starting at s (a word or a bracketed group). */
static const char *usage_item_end(const char *s, const char *e)
{
    if (*s == '[') {
        int depth = 0;
        for (const char *p = s; p < e; p++) {
            if (*p == '[')
                depth++;
            else if (*p == ']' && --depth == 0)
                return p + 1;
        }
        return e;
    }
    const char *p = s;
    while (p < e && *p != ' ' && *p != '[')
        p++;
    return p;
}

/* The top-level '|' in [s, e), or NULL. */
static const char *usage_bar(const char *s, const char *e)
{
    int depth = 0;
    for (const char *p = s; p < e; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
        else if (*p == '|' && depth == 0)
            return p;
    }
    return NULL;
}

static int usage_seq(struct usage_tree *t, const char *s, const char *e);

/* A list parsed from [s, e) as one node: itself when it is one argument,
 * else a block around it. */
static int usage_one(struct usage_tree *t, const char *s, const char *e)
{
    int head = usage_seq(t, s, e);
    if (head < 0 || t->arg[head].next < 0)
        return head;
    int b = usage_new(t, USAGE_BLOCK, "block", 5);
    if (b >= 0)
        t->arg[b].child = head;
    return b;
}

static int usage_oneof(struct usage_tree *t, const char *s, const char *e)
{
    int o = usage_new(t, USAGE_ONEOF, "choice", 6), last = -1;
    if (o < 0)
        return -1;
    while (s < e) {
        const char *bar = usage_bar(s, e);
        const char *ae = bar ? bar : e;
        int a = usage_one(t, s, ae);
        if (a >= 0) {
            if (last < 0)
                t->arg[o].child = a;
            else
                t->arg[last].next = a;
            last = a;
        }
        s = bar ? bar + 1 : e;
    }
    return o;
}

/* Parses a sequence of items; returns the index of the first, or -1. */
static int usage_seq(struct usage_tree *t, const char *s, const char *e)
{
    int head = -1, prev[16], nprev = 0; /* prev: the items so far, in order */
    while (s < e) {
        while (s < e && *s == ' ')
            s++;
        if (s >= e)
            break;
        const char *ie = usage_item_end(s, e);
        int node = -1;
        if (*s == '[') {
            const char *is = s + 1, *ine = ie - 1;
            while (ine > is && ine[-1] == ' ')
                ine--;
            if (ine - is >= 3 && memcmp(ine - 3, "...", 3) == 0) {
                /* Repetition of the last k items: mark or wrap them. */
                const char *r = ine - 3;
                int k = 0;
                for (const char *p = is; p < r; ) {
                    while (p < r && *p == ' ')
                        p++;
                    if (p >= r)
                        break;
                    p = usage_item_end(p, r);
                    k++;
                }
                if (k < 1 || k > nprev) {
                    t->err = DYN_EINVAL; /* nothing before it to repeat */
                } else {
                    int first = prev[nprev - k];
                    if (k == 1) {
                        t->arg[first].multiple = 1;
                    } else {
                        int b = usage_new(t, USAGE_BLOCK, "block", 5);
                        if (b >= 0) {
                            t->arg[b].child = first;
                            t->arg[b].multiple = 1;
                            t->arg[prev[nprev - 1]].next = -1;
                            if (nprev - k == 0)
                                head = b;
                            else
                                t->arg[prev[nprev - k - 1]].next = b;
                            nprev -= k;
                            prev[nprev++] = b;
                        }
                    }
                }
                s = ie;
                continue;
            }
            node = usage_bar(is, ine) ? usage_oneof(t, is, ine)
                                      : usage_one(t, is, ine);
            if (node >= 0)
                t->arg[node].optional = 1;
        } else if (usage_bar(s, ie)) {
            node = usage_oneof(t, s, ie);
        } else if (usage_is_upper(s, (size_t)(ie - s))) {
            const char *ns = ie;
            while (ns < e && *ns == ' ')
                ns++;
            const char *ne = ns < e ? usage_item_end(ns, e) : ns;
            if (ns < e && *ns != '[' && !usage_bar(ns, ne) &&
                !usage_is_upper(ns, (size_t)(ne - ns))) {
                node = usage_new(t, USAGE_STRING, ns, (size_t)(ne - ns));
                ie = ne;
            } else {
                char low[USAGE_NAME_MAX];
                size_t l = DYN_MIN((size_t)(ie - s), USAGE_NAME_MAX - 1);
                for (size_t i = 0; i < l; i++)
                    low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32
                                                                 : s[i]);
                node = usage_new(t, USAGE_TOKEN, low, l);
            }
            if (node >= 0)
                snprintf(t->arg[node].token, USAGE_NAME_MAX, "%.*s",
                         (int)DYN_MIN((size_t)(usage_item_end(s, e) - s),
                                      USAGE_NAME_MAX - 1), s);
        } else {
            size_t l = (size_t)(ie - s);
            int key = (l >= 3 && memcmp(s, "key", 3) == 0) ||
                      (l >= 3 && memcmp(ie - 3, "key", 3) == 0) ||
                      (l == 6 && memcmp(s, "source", 6) == 0) ||
                      (l == 11 && memcmp(s, "destination", 11) == 0);
            node = usage_new(t, key ? USAGE_KEY : USAGE_STRING, s, l);
        }
        s = ie;
        if (node < 0)
            continue;
        if (nprev == 0)
            head = node;
        else
            t->arg[prev[nprev - 1]].next = node;
        if (nprev == (int)DYN_ARRAY_LEN(prev)) {
            memmove(prev, prev + 1, sizeof(prev) - sizeof(prev[0]));
            nprev--;
        }
        prev[nprev++] = node;
    }
    return head;
}

int usage_count(const struct usage_tree *t, int i)
{
    int n = 0;
    for (; i >= 0; i = t->arg[i].next)
        n++;
    return n;
}


int usage_parse(struct usage_tree *t, const char *line)
{
    t->used = 0;
    t->head = -1;
    t->err = usage_check(line);
    if (t->err < 0)
        return t->err;
    int head = usage_seq(t, line, line + strlen(line));
    if (t->err < 0)
        return t->err;
    t->head = head;
    return 0;
}

const char *usage_type_name(int type)
{
    static const char *const types[] = {"string", "key", "pure-token",
                                        "oneof", "block"};
    return type >= 0 && type < (int)DYN_ARRAY_LEN(types) ? types[type]
                                                          : "string";
}

static int usage_row_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct usage_row *)elem)->name);
}

const char *usage_find(const char *name)
{
    const struct usage_row *u =
        bsearch(name, usage_table, DYN_ARRAY_LEN(usage_table),
                sizeof(usage_table[0]), usage_row_cmp);
    return u ? u->line : NULL;
}

const struct usage_row *usage_rows(size_t *n)
{
    *n = DYN_ARRAY_LEN(usage_table);
    return usage_table;
}
