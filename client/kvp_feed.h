/*  kvp_feed.h - the gap-free subscriber: every job event once, in seq
    order per partition, across stalls, reconnects and restarts.

    A feed follows the live stream (kvp_sub, spec section 7) and reads the
    stored log back (GetEvents, section 10) wherever the live stream has a
    gap: a subscriber that joined late, stalled past its queues, or lost
    its connection while the broker or the owner restarted. It merges both
    sources (kvp_merge), drops repeats, and hands the caller each event
    once, in seq order per partition. Events that can no longer be read
    (past retention) are never hidden: the caller gets a LOST message
    naming the partition and the count, in their place in the order.

        kvp_feed_config_t config = { .broker = "tcp://127.0.0.1:5555",
                                     .events = "tcp://127.0.0.1:5558",
                                     .partition = -1 };
        kvp_feed_t *feed = kvp_feed_new (&config);
        kvp_feed_load (feed, "pos.txt", NULL);      //  resume, if saved
        kvp_feed_msg_t msg;
        while (kvp_feed_recv (feed, 1000, &msg) >= 0) {
            if (msg.kind == KVP_FEED_EVENT) ... msg.event ...
            kvp_feed_save (feed, "pos.txt");
        }
        kvp_feed_destroy (&feed);

    The position is a map partition -> last seq handed on. A partition the
    feed has no position for starts from "now" (the partition's last
    durable seq when the feed first asks: nothing before it is handed on,
    everything after it is) or, with from_start, from the first event
    kept. The feed learns N with ClusterStatus; while the broker or a
    partition's owner is away (no reply, 32777, 32772, 32774, 32771) it
    asks again with backoff, from 100 ms to 5 s. A partition that has been
    quiet is asked now and then (from 1 s, doubling to 16 s), so that even
    the last events of a burst, lost with nothing after them, are found.

    One feed is used by one thread. Uses kvp_sub, kvp_client, kvp_merge,
    proto (the partition function) and czmq.
*/
#ifndef KVP_FEED_H_INCLUDED
#define KVP_FEED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <msgpack.h>
#include "kvp_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *broker;         /* clients endpoint: GetEvents, ClusterStatus */
    const char *events;         /* events endpoint: the live stream */
    const char *system;         /* a GUID or WMI path: only that system's
                                   events; NULL: every system */
    int partition;              /* >= 0: only that partition; -1: all */
    bool from_start;            /* partitions without a position start at
                                   the first event kept (else from now) */
    int rcvhwm;                 /* live receive queue, messages (0: 100000) */
    int timeout_ms;             /* wait for a reply before asking again
                                   (0: 3000) */
    unsigned limit;             /* GetEvents page, 1..10000 (0: 1000) */
    size_t held_max;            /* bytes held ahead of gaps (0: 64 MiB) */
    const kvp_curve_t *curve;   /* CURVE keys for both sockets (NULL:
                                   plain); used only by kvp_feed_new */
} kvp_feed_config_t;

typedef enum {
    KVP_FEED_EVENT,             /* an event */
    KVP_FEED_LOST               /* events that can no longer be read */
} kvp_feed_kind_t;

/*  One message of the feed. */
typedef struct {
    kvp_feed_kind_t kind;
    uint32_t partition;
    uint64_t seq;               /* EVENT: its seq; LOST: the first lost */
    uint64_t count;             /* LOST: how many events */
    bool replayed;              /* EVENT: read back with GetEvents */
    const msgpack_object *event;    /* EVENT: the event map (the feed's,
                                   valid until the next recv) */
    const void *body;           /* EVENT: its msgpack bytes, as long */
    size_t len;
} kvp_feed_msg_t;

/*  Counters since the feed was made. */
typedef struct {
    uint64_t delivered;         /* events handed on */
    uint64_t replayed;          /* of them, read back: gaps filled */
    uint64_t repeats;           /* events dropped as already seen */
    uint64_t lost;              /* events reported LOST */
    uint64_t shed;              /* live events not held (read back later) */
    uint64_t skipped;           /* events passed over: before "now" or the
                                   start, or other systems' in a replay */
    uint64_t requests;          /* GetEvents and ClusterStatus sent */
    uint64_t timeouts;          /* of them, not answered in time */
    uint64_t retries;           /* answered "try again" (32771/2/4/7) */
} kvp_feed_stats_t;

typedef struct _kvp_feed_t kvp_feed_t;

/*  Make a feed and connect its sockets (the strings in `config` are
    copied). Returns NULL if `system` is not a GUID or WMI path, or an
    endpoint is invalid (logged). */
kvp_feed_t *
    kvp_feed_new (const kvp_feed_config_t *config);

/*  Close the feed and null the caller's pointer; safe on NULL. */
void
    kvp_feed_destroy (kvp_feed_t **self_p);

/*  Resume partition `part` after seq `last` (before the first recv).
    Returns 0, or -1 once the feed has started. */
int
    kvp_feed_set_position (kvp_feed_t *self, uint32_t part, uint64_t last);

/*  Read a position saved by kvp_feed_save (lines "PARTITION SEQ"; '#'
    starts a comment) before the first recv. A missing file is no error:
    *found (may be NULL) says whether there was one. Returns 0, or -1
    with kvp_feed_error set (unreadable, malformed line). */
int
    kvp_feed_load (kvp_feed_t *self, const char *path, bool *found);

/*  Write the position (every partition with one, including those read
    by load that this feed does not follow) to `path`, replacing it at
    once (a new file renamed over it). Returns 0, or -1 with
    kvp_feed_error set. */
int
    kvp_feed_save (kvp_feed_t *self, const char *path);

/*  The next message within `timeout_ms` (0: do not wait; negative: for
    ever). Returns 1 with *msg filled, 0 on timeout, -1 when interrupted
    or when the feed cannot go on (kvp_feed_error says why; for example a
    partition not below N). */
int
    kvp_feed_recv (kvp_feed_t *self, int timeout_ms, kvp_feed_msg_t *msg);

/*  Whether every partition the feed follows has a position (N is known
    and "now" has been learned): events made after this are all handed
    on. */
bool
    kvp_feed_ready (kvp_feed_t *self);

/*  Ask every followed partition for what follows its position now (a
    caller that knows events are due, for example after a load). */
void
    kvp_feed_catch_up (kvp_feed_t *self);

/*  The last seq of `part` handed on, into *last; false if the feed does
    not follow it or its position is not known yet. */
bool
    kvp_feed_position (kvp_feed_t *self, uint32_t part, uint64_t *last);

/*  N (0 until ClusterStatus has answered). */
uint32_t
    kvp_feed_partitions (kvp_feed_t *self);

void
    kvp_feed_stats (kvp_feed_t *self, kvp_feed_stats_t *stats);

/*  Why the last call that could fail failed ("" if none). */
const char *
    kvp_feed_error (kvp_feed_t *self);

#ifdef __cplusplus
}
#endif
#endif
