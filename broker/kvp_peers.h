/*  kvp_peers.h - the broker's clients, each by its routing identity: the
    requests it has in flight to workers, the replies it has not taken yet
    and the requests it sent meanwhile. An entry lives only while it holds
    one of those, so a client that goes away leaves nothing behind.

    The bounds, per client:

      in flight   at most `inflight_max` requests routed and not yet
                  answered: kvp_peers_route_begin says no past it, and the
                  caller answers 32774.
      replies     a reply goes to ZeroMQ while the client's queue there has
                  room (its ROUTER's send high-water mark); one that does
                  not fit waits here, in order, with every reply after it.
                  Nothing is dropped: a reply waits until the client takes
                  it or is gone.
      reading     while replies wait the client is "blocked": the requests
                  it sends are set aside unserved (kvp_peers_hold) and
                  served, in order, once its replies are out
                  (kvp_peers_pump). A client that does not read is not
                  served: what it already had applied is answered, nothing
                  more is applied for it.
      bytes       replies waiting and requests set aside take at most
                  `queue_max` bytes (each counted with its bookkeeping; a
                  request set aside is copied, without its envelope's
                  identity): a request past that is discarded unread
                  (kvp_peers_discarded counts them), and kvp_peers_crowded
                  tells the caller to send a short 32774 instead of a
                  reply it may replace (a read's). The replies of requests
                  in flight when the client blocked are kept whatever
                  their size; there are at most `inflight_max` of them.

    Sending is the caller's (kvp_peers_send_fn), so the table is tested
    without sockets. Not thread-safe: the broker's reactor owns it.
*/
#ifndef KVP_PEERS_H_INCLUDED
#define KVP_PEERS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_PEERS_FRAMES    4       /* frames of a request set aside */

typedef struct _kvp_peers_t kvp_peers_t;
typedef struct _kvp_peer_t kvp_peer_t;

/*  Hand one reply `body` to client `identity` (borrowed). Returns 0 when
    it was taken (then *body_p is NULL), EAGAIN when the client's queue is
    full or EHOSTUNREACH when the client is gone (then *body_p is still
    the caller's). */
typedef int (kvp_peers_send_fn) (void *arg, zframe_t *identity,
                                 zframe_t **body_p);

/*  Serve one request that was set aside: frames [0 .. min (total,
    KVP_PEERS_FRAMES) - 1] are the callee's to take (nulling them); what
    it leaves is destroyed. */
typedef void (kvp_peers_serve_fn) (void *arg, zframe_t **frames,
                                   size_t total);

/*  What kvp_peers_hold did with a request. */
typedef enum {
    KVP_PEERS_SERVE,            /* nothing: serve it now */
    KVP_PEERS_HELD,             /* set aside: its frames were taken */
    KVP_PEERS_DISCARDED         /* over the bytes: frames destroyed */
} kvp_peers_hold_t;

/*  A new table with the bounds above; sends go through `send` (`arg`
    passed along). NULL when out of memory. */
kvp_peers_t *
    kvp_peers_new (size_t inflight_max, size_t queue_max,
                   kvp_peers_send_fn *send, void *arg);

/*  Free the table and everything waiting in it; null the pointer. Safe on
    NULL. */
void
    kvp_peers_destroy (kvp_peers_t **self_p);

/*  A request from `identity` is to be routed: count it in flight. Returns
    its client (for kvp_peers_route_end and kvp_peers_reply), or NULL when
    the client is at its bound (or out of memory): answer 32774. */
kvp_peer_t *
    kvp_peers_route_begin (kvp_peers_t *self, zframe_t *identity);

/*  A routed request of `peer` is answered (or will never be): one fewer
    in flight. The peer may be freed: do not use it after. */
void
    kvp_peers_route_end (kvp_peers_t *self, kvp_peer_t *peer);

/*  Requests `peer` has in flight. */
size_t
    kvp_peers_inflight (kvp_peer_t *peer);

/*  Reply `*body_p` to client `*identity_p`, taking both: now, or after
    the replies waiting for it. A gone client's reply is dropped. */
void
    kvp_peers_send (kvp_peers_t *self, zframe_t **identity_p,
                    zframe_t **body_p);

/*  As kvp_peers_send, to a client known from kvp_peers_route_begin (no
    lookup); the identity frame is taken and destroyed. */
void
    kvp_peers_reply (kvp_peers_t *self, kvp_peer_t *peer,
                     zframe_t **identity_p, zframe_t **body_p);

/*  Would a reply of `size` bytes to `peer` wait here past its bytes? Only
    a blocked client can be crowded. */
bool
    kvp_peers_crowded (kvp_peers_t *self, kvp_peer_t *peer, size_t size);

/*  A request arrived: frames [0] is its sender's identity, `total` its
    frame count (up to KVP_PEERS_FRAMES of them are in `frames`). When the
    sender is blocked it is set aside (a copy; the frames are destroyed)
    or discarded past the bytes, see kvp_peers_hold_t. */
kvp_peers_hold_t
    kvp_peers_hold (kvp_peers_t *self, zframe_t **frames, size_t total);

/*  Retry the blocked clients due by `now` (monotonic ms): send what
    waits for them, and serve the requests they set aside through `serve`
    once their replies are out, at most `batch` requests in all. */
void
    kvp_peers_pump (kvp_peers_t *self, int64_t now, size_t batch,
                    kvp_peers_serve_fn *serve, void *arg);

/*  When kvp_peers_pump is next due (monotonic ms), -1 if never. */
int64_t
    kvp_peers_next (kvp_peers_t *self);

/*  Figures: clients with an entry, blocked clients, bytes waiting
    (replies and requests), replies waiting, and requests discarded and
    clients gone with something waiting, since the table was made. */
size_t
    kvp_peers_count (kvp_peers_t *self);
size_t
    kvp_peers_blocked (kvp_peers_t *self);
size_t
    kvp_peers_bytes (kvp_peers_t *self);
size_t
    kvp_peers_replies (kvp_peers_t *self);
uint64_t
    kvp_peers_discarded (kvp_peers_t *self);
uint64_t
    kvp_peers_gone (kvp_peers_t *self);

#ifdef __cplusplus
}
#endif
#endif
