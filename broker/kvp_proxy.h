/*  kvp_proxy.h - the event proxy: workers PUB -> broker XSUB "events-in"
    -> broker XPUB "events" -> subscribers' SUB, in a thread of its own.

    Messages are moved frame by frame in both directions: events from XSUB
    to XPUB, subscriptions (and unsubscriptions) from XPUB back to XSUB so
    they reach the workers' PUB sockets, which filter at the source.

    High-water marks: XSUB reads ahead up to KVP_PROXY_HWM events per
    worker and XPUB queues up to `hwm` per subscriber (the broker's
    --events-hwm). XPUB never blocks (ZMQ_XPUB_NODROP stays off): when
    one subscriber's queue is full, that subscriber loses the events past
    the mark, the other subscribers and the proxy carry on. A gap in
    `seq` shows the loss (spec section 7), and GetEvents reads the lost
    events back (section 10). In bytes, a subscriber's queue holds a
    ZeroMQ message header per event frame (2 x 64 bytes) with the event's
    body shared by every subscriber that holds it: at most `hwm` x (128 +
    the largest event) for a subscriber alone in holding them, and the
    kernel's send buffer, fixed at KVP_PROXY_SNDBUF. Once both are full a
    stalled subscriber costs the fan-out nothing: ZeroMQ skips it until
    it reads again.
    XSUB caps incoming messages at the transport limit (max_msg), XPUB
    at KVP_PROXY_TOPIC_MAX (it hears only subscriptions).
*/
#ifndef KVP_PROXY_H_INCLUDED
#define KVP_PROXY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_curve.h"
#include "kvp_conns.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_PROXY_HWM       10000   /* events read ahead per worker */
#define KVP_PROXY_TOPIC_MAX 1024    /* a subscription message, bytes */
#define KVP_PROXY_SNDBUF    (128 << 10) /* kernel send buffer per
                                           subscriber, bytes */

typedef struct _kvp_proxy_t kvp_proxy_t;

/*  Start the proxy: bind XSUB to `events_in` and XPUB to `events`, with
    ZMQ_MAXMSGSIZE `max_msg` on XSUB and a send high-water mark of `hwm`
    messages (0: KVP_PROXY_HWM) on XPUB. Subscribers' connections count
    against `budget` (kvp_conns; borrowed, must outlive the proxy). With
    `curve` (the broker's keys; NULL: plain) both are CURVE servers, XSUB
    in the workers' ZAP domain and XPUB in the clients'. Returns NULL if a
    bind fails (the reason is written into `error`, `size` bytes). `logid`
    prefixes its log lines (copied). */
kvp_proxy_t *
    kvp_proxy_new (const char *events_in, const char *events,
                   int64_t max_msg, int hwm, const kvp_curve_t *curve,
                   kvp_conns_budget_t *budget,
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
