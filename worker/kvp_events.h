/*  kvp_events.h - the worker's event publisher (spec section 7).

    One publishing socket connected to the broker's events-in (XSUB). It is
    an XPUB rather than a plain PUB: it publishes exactly like a PUB, and
    it also hears the subscriptions the broker's proxy forwards, which lets
    a restarting worker wait (a bounded time) until someone listens before
    it publishes the events it had committed but not yet sent. The send
    high-water mark is large and sends never block: a slow subscriber loses
    events (a gap in seq shows it), it never stalls the worker.
*/
#ifndef KVP_EVENTS_H_INCLUDED
#define KVP_EVENTS_H_INCLUDED

#include <stdbool.h>
#include <czmq.h>
#include "kvp_batch.h"
#include "kvp_store.h"
#include "kvp_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_events_t kvp_events_t;

/*  Connect a publisher to `endpoint`, as a CURVE client with `curve` (the
    worker's keys; NULL: plain). Returns NULL on failure (logged). */
kvp_events_t *
    kvp_events_new (const char *endpoint, const kvp_curve_t *curve);

/*  Close the publisher (linger 0: unsent events are dropped, they stay
    unsent in the store's marks only if never published) and null the
    pointer; safe on NULL. */
void
    kvp_events_destroy (kvp_events_t **self_p);

/*  The socket, for a poller: readable when subscriptions arrive. */
zsock_t *
    kvp_events_sock (kvp_events_t *self);

/*  Read and drop the subscription messages waiting on the socket (call
    when the poller says it is readable). */
void
    kvp_events_drain (kvp_events_t *self);

/*  Publish one event: [topic][body]. Never blocks; an event that does not
    fit the queue is dropped. */
void
    kvp_events_publish (kvp_events_t *self, const char *topic,
                        size_t topic_len, const void *body, size_t len);

/*  Wait up to `wait_ms` for the first subscription to reach the publisher
    (at once if one has). Returns whether one has. */
bool
    kvp_events_wait_subscriber (kvp_events_t *self, int wait_ms);

/*  Publish every stored event not yet marked sent (each partition's log
    after its record's `sent`), in seq order per partition, recording the
    marks in `batch` (the caller flushes them). If there is anything to
    send, first waits up to `wait_ms` for a subscription to reach the
    publisher (0: do not wait). Sets *count to the number published.
    Returns 0 or a store code. Must not run inside a batch. */
int
    kvp_events_backlog (kvp_events_t *self, kvp_store_t *store,
                        kvp_batch_t *batch, int wait_ms, size_t *count);

/*  The same for one partition, without waiting (a new leader's tail).
    Must not run inside a batch. */
int
    kvp_events_backlog_part (kvp_events_t *self, kvp_store_t *store,
                             kvp_batch_t *batch, uint32_t part,
                             size_t *count);

#ifdef __cplusplus
}
#endif
#endif
