/*  kvp_inflight.h - the broker's table of requests sent to workers and not
    yet answered.

    Each request the broker routes gets a tag (a uint64 that only grows,
    starting at 1) and one entry here: the client's routing identity, a
    copy of the request's rid, the worker session it went to and its
    deadline. Lookup, insert and remove by tag are O(1) (open addressing
    keyed by the tag: tags are consecutive, so they spread perfectly).
    Entries are also kept in a FIFO list by send time: every request gets
    the same deadline interval, so the list is ordered by deadline and
    expiry only looks at its head.

    Entries come from a pool and go back to it: no allocation per request
    once the pool has grown to the peak number in flight (a rid string
    longer than a small inline buffer is the exception).

    The worker session is an opaque pointer to this module. No sockets.
*/
#ifndef KVP_INFLIGHT_H_INCLUDED
#define KVP_INFLIGHT_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_request.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  One request in flight; fields are read-only to callers. */
typedef struct {
    uint64_t tag;               /* the key, chosen by kvp_inflight_add */
    zframe_t *client;           /* client routing identity, owned by the
                                   entry until taken by the caller */
    kvp_rid_t rid;              /* copy of the request's rid; str points
                                   into the entry */
    void *worker;               /* the worker session, borrowed */
    int64_t deadline;           /* monotonic ms when the client gets 32772 */
    int64_t sent_us;            /* monotonic us when sent; set by the
                                   caller, for metrics only */
    void *peer;                 /* the client (kvp_peers), borrowed; set
                                   by the caller */
    size_t bytes;               /* the request body's size; set by the
                                   caller */
    int op;                     /* its kvp_op_t; set by the caller */
} kvp_flight_t;

typedef struct _kvp_inflight_t kvp_inflight_t;

/*  Create an empty table. Returns NULL when out of memory. */
kvp_inflight_t *
    kvp_inflight_new (void);

/*  Destroy the table, every entry still in it and the pool; null the
    caller's pointer. Safe on NULL. */
void
    kvp_inflight_destroy (kvp_inflight_t **self_p);

/*  Add a request: takes ownership of *client_p (nulled) and copies `rid`
    (may be NULL: no rid). `deadline` must not be earlier than that of any
    entry already in the table (the FIFO order is the deadline order).
    Returns the entry, with its new tag, or NULL when out of memory (then
    *client_p is left with the caller). */
kvp_flight_t *
    kvp_inflight_add (kvp_inflight_t *self, zframe_t **client_p,
                      const kvp_rid_t *rid, void *worker, int64_t deadline);

/*  The entry with `tag`, still in the table, or NULL. */
kvp_flight_t *
    kvp_inflight_lookup (kvp_inflight_t *self, uint64_t tag);

/*  Remove and return the entry with `tag`, or NULL if there is none. The
    caller owns it until kvp_inflight_release. */
kvp_flight_t *
    kvp_inflight_take (kvp_inflight_t *self, uint64_t tag);

/*  Remove and return the oldest entry if its deadline is <= `now`, else
    NULL. Call in a loop to expire every overdue entry. */
kvp_flight_t *
    kvp_inflight_expire (kvp_inflight_t *self, int64_t now);

/*  The earliest deadline in the table, or -1 when it is empty. */
int64_t
    kvp_inflight_next_deadline (kvp_inflight_t *self);

/*  Called for each entry drained by kvp_inflight_drain. The entry is
    already out of the table; the callback may take entry->client (set it
    to NULL); the table releases the entry after the call. */
typedef void (kvp_flight_fn) (kvp_flight_t *entry, void *arg);

/*  Remove every entry whose worker is `worker` (or every entry if
    `worker` is NULL), oldest first, calling `fn` for each. Returns how
    many were removed. One pass over the table. */
size_t
    kvp_inflight_drain (kvp_inflight_t *self, void *worker,
                        kvp_flight_fn *fn, void *arg);

/*  Give back an entry that take or expire returned: destroys its client
    frame if the caller left it there, returns the entry to the pool, and
    nulls the caller's pointer. Safe on NULL. */
void
    kvp_inflight_release (kvp_inflight_t *self, kvp_flight_t **entry_p);

/*  Number of entries in the table. */
size_t
    kvp_inflight_size (kvp_inflight_t *self);

#ifdef __cplusplus
}
#endif
#endif
