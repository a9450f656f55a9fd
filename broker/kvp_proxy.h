/*  kvp_proxy.h - the event proxy: workers PUB -> broker XSUB "events-in"
    -> broker XPUB "events" -> subscribers' SUB, in a thread of its own.

    Messages are moved frame by frame in both directions: events from XSUB
    to XPUB, subscriptions (and unsubscriptions) from XPUB back to XSUB so
    they reach the workers' PUB sockets, which filter at the source.

    High-water marks: XSUB holds up to KVP_PROXY_HWM messages per worker
    and XPUB up to `hwm` per subscriber (the broker's --events-hwm, by
    default as many), so a burst of events is queued rather than
    dropped. XPUB never
    blocks (ZMQ_XPUB_NODROP stays off): when one subscriber's queue is full,
    that subscriber loses the messages past the mark, the other subscribers
    and the proxy carry on. A gap in `seq` shows the loss (spec section 7),
    and GetEvents reads the lost events back (section 10).
    XSUB also caps incoming messages at the transport limit (max_msg).
*/
#ifndef KVP_PROXY_H_INCLUDED
#define KVP_PROXY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_PROXY_HWM   1000000     /* messages queued per peer */

typedef struct _kvp_proxy_t kvp_proxy_t;

/*  Start the proxy: bind XSUB to `events_in` and XPUB to `events`, with
    ZMQ_MAXMSGSIZE `max_msg` on XSUB and a send high-water mark of `hwm`
    messages (0: KVP_PROXY_HWM) on XPUB. Returns NULL if a bind fails (the
    reason is written into `error`, `size` bytes). With `curve` (the
    broker's keys; NULL: plain) both are CURVE servers, XSUB in the
    workers' ZAP domain and XPUB in the clients'. `logid` prefixes its
    log lines (copied). */
kvp_proxy_t *
    kvp_proxy_new (const char *events_in, const char *events,
                   int64_t max_msg, int hwm, const kvp_curve_t *curve,
                   const char *logid, char *error, size_t size);

/*  The events the proxy has handed to XPUB since it started (XPUB gives
    them to the subscribers whose topics match). Safe from any thread
    while the proxy runs: the proxy thread alone writes the counter. */
uint64_t
    kvp_proxy_forwarded (kvp_proxy_t *self);

/*  Stop the proxy thread, close its sockets, null the pointer. Safe on
    NULL. */
void
    kvp_proxy_destroy (kvp_proxy_t **self_p);

#ifdef __cplusplus
}
#endif
#endif
