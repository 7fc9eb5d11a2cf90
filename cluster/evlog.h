/*
 * evlog.h -- a bounded ring of cluster events (pure; see evlog.c).
 */
#ifndef DYN_EVLOG_H
#define DYN_EVLOG_H

#include <stddef.h>
#include <stdint.h>

enum evlog_type {
    EV_MEMBER,          /* a member's status changed (up, suspect, down) */
    EV_GOSSIP,          /* gossip brought news of a member */
    EV_SLOPPY_WRITE,    /* a write went to a stand-in */
    EV_HINT_STORED,
    EV_HINT_DELIVERED,
    EV_READ_REPAIR,
    EV_AE_EXCHANGE,     /* an anti-entropy exchange ended */
    EV_AE_REPAIR,       /* keys repaired by anti-entropy */
    EV_SIBLING_CREATED,
    EV_SIBLING_RESOLVED,
    EV_QUORUM_FAILURE,
    EV_RING,            /* the ring changed */
    EV_JOIN,
    EV_LEAVE,
    EV_STREAM,          /* streaming progress of a ring change */
    EV_KILL,
    EV_REVIVE,
    EV_FAULT,
    EV_TYPES
};

#define EVENT_FIELDS 4
#define EVENT_VALUE_MAX 72

struct evlog_entry {
    uint64_t id;                /* 1, 2, ...; 0: an empty slot */
    uint64_t wall_ms;
    uint8_t type;               /* enum evlog_type */
    uint8_t nf;
    struct {
        const char *name;       /* a string literal */
        char value[EVENT_VALUE_MAX];
    } f[EVENT_FIELDS];
};

struct evlog {
    struct evlog_entry *slot;         /* cap slots, allocated once */
    uint32_t cap;               /* 0: off */
    uint64_t next_id;           /* the last id given */
};

void evlog_init(struct evlog *r, uint32_t cap);
void evlog_free(struct evlog *r);
/* The next event, numbered, overwriting the oldest; NULL when off. */
struct evlog_entry *evlog_add(struct evlog *r, uint64_t wall_ms,
                        enum evlog_type type);
/* Adds a field (name is kept as a pointer: a literal); the value is
 * printf-formatted and truncated.  Ignored past EVENT_FIELDS or e NULL. */
void evlog_field(struct evlog_entry *e, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds a field from bytes (a key), truncated. */
void evlog_field_bytes(struct evlog_entry *e, const char *name, const void *p,
                       size_t len);
/* The type's name ("hint-stored"), or "?" */
const char *evlog_type_name(unsigned type);
/* Up to max events with id > since, oldest first.  Returns the count. */
uint32_t evlog_since(const struct evlog *r, uint64_t since,
                     const struct evlog_entry **out, uint32_t max);

#endif
