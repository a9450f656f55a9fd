/*  kvp_sub.h - a subscriber to the broker's job events (spec section 7).

    A SUB socket connected to the broker's `events` endpoint, subscribed to
    one topic prefix ("job/" for every job, "job/<guid>" for one system).
    Each event is two frames, the topic and a msgpack map; anything else
    is dropped and counted. Like replies, event bytes are untrusted and
    checked (kvp_mpcheck_scan) before decoding.

    The subscription travels to the publishers through the broker's proxy
    in a moment; events published before it arrives are not delivered
    (PUB/SUB), and a subscriber that falls behind loses what does not fit
    its queues. kvp_feed (kvp_feed.h) builds the gap-free subscriber on
    it. Uses czmq and msgpack-c.
*/
#ifndef KVP_SUB_H_INCLUDED
#define KVP_SUB_H_INCLUDED

#include <stddef.h>
#include <czmq.h>
#include <msgpack.h>
#include "kvp_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_SUB_TOPIC_MAX   255     /* longer topics are dropped */
#define KVP_SUB_RCVHWM      100000  /* receive queue, messages */

typedef struct _kvp_sub_t kvp_sub_t;

/*  Connect a subscriber to `endpoint`, subscribed to topics starting with
    `prefix` ("" for all). Returns NULL if the socket cannot be made or the
    endpoint is invalid. */
kvp_sub_t *
    kvp_sub_new (const char *endpoint, const char *prefix);

/*  kvp_sub_new with a receive queue of `rcvhwm` messages (> 0) instead of
    KVP_SUB_RCVHWM. */
kvp_sub_t *
    kvp_sub_new_hwm (const char *endpoint, const char *prefix, int rcvhwm);

/*  kvp_sub_new_hwm (rcvhwm 0: KVP_SUB_RCVHWM) as a CURVE client with
    `curve` (NULL: plain); a key the broker does not let in receives
    nothing. */
kvp_sub_t *
    kvp_sub_new_curve (const char *endpoint, const char *prefix, int rcvhwm,
                       const kvp_curve_t *curve);

/*  Close and null the caller's pointer; safe on NULL. */
void
    kvp_sub_destroy (kvp_sub_t **self_p);

/*  The SUB socket, for a zpoller; read with kvp_sub_recv (self, 0, ...). */
zsock_t *
    kvp_sub_sock (kvp_sub_t *self);

/*  Receive the next event within `timeout_ms` (0: do not wait; negative:
    wait for ever). Returns 1 and sets *topic (NUL-terminated) and *event
    (the decoded map); both belong to the subscriber and stay valid until
    the next kvp_sub_recv or destroy. Returns 0 on timeout, -1 when
    interrupted. Malformed messages are skipped (kvp_sub_dropped). */
int
    kvp_sub_recv (kvp_sub_t *self, int timeout_ms, const char **topic,
                  const msgpack_object **event);

/*  The raw body of the event the last kvp_sub_recv returned (sets *len);
    valid as long as that event. NULL before the first. */
const void *
    kvp_sub_body (kvp_sub_t *self, size_t *len);

/*  Number of messages dropped as malformed so far. */
size_t
    kvp_sub_dropped (kvp_sub_t *self);

#ifdef __cplusplus
}
#endif
#endif
