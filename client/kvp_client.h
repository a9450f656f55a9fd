/*  kvp_client.h - a KVP/1 client: one DEALER connection to a broker.

    A client builds a request body with msgpack, sends it as
    [empty]["KVP1"][body] and matches replies by `rid`, which it assigns
    itself (a uint counting from 1). Many requests may be in flight
    (pipelining); replies come back in any order.

        kvp_client_t *client = kvp_client_new ("tcp://127.0.0.1:5555");
        msgpack_packer *pk = kvp_client_begin (client, "GetSystem", 1);
        msgpack_pack_str_with_body (pk, "target", 6);
        msgpack_pack_str_with_body (pk, guid, 36);
        kvp_reply_t *reply = kvp_client_call (client, 5000);
        if (reply && kvp_reply_rc (reply) == 0) ...
        kvp_reply_destroy (&reply);
        kvp_client_destroy (&client);

    Reconnection is ZeroMQ's own (every 100 ms while the broker is away);
    requests sent meanwhile wait in the socket's queue. The receive side
    refuses messages over 8 MiB (the connection is dropped) and drops, with
    a warning, any message that is not [empty]["KVP1"][msgpack map]: no
    bytes that arrive can crash the client.

    One client is used by one thread. Also declares kvp_reply_t (replies)
    and kvp_sub_t (event subscriber). Uses czmq, msgpack-c and proto/.
*/
#ifndef KVP_CLIENT_H_INCLUDED
#define KVP_CLIENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <msgpack.h>
#include "kvp_client_reply.h"
#include "kvp_curve.h"
#include "kvp_sub.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_CLIENT_MSG_MAX      (8 * 1024 * 1024)   /* ZMQ_MAXMSGSIZE */
#define KVP_CLIENT_RECONNECT_MS 100     /* ZMQ_RECONNECT_IVL */
#define KVP_CLIENT_KEEP_MAX     4096    /* replies kept for later wait/recv */

typedef struct _kvp_client_t kvp_client_t;

/*  Create a client connected to `endpoint` (e.g. "tcp://127.0.0.1:5555",
    or a comma-separated list: see kvp_client_attach).
    Connecting does not wait for the broker: the first request goes out
    when it is there. Returns NULL if the socket cannot be made or the
    endpoint is invalid. */
kvp_client_t *
    kvp_client_new (const char *endpoint);

/*  kvp_client_new as a CURVE client with `curve` (our secret certificate
    and the broker's public key, from kvp_curve_load or
    kvp_curve_for_client; NULL: plain). A broker that does not let the key
    in never answers: calls time out. `curve` may be freed after. */
kvp_client_t *
    kvp_client_new_curve (const char *endpoint, const kvp_curve_t *curve);

/*  Connect `sock` to each endpoint of a comma-separated list ("EP" or
    "EP1,EP2"): several brokers, of which a request goes to one that is
    connected (ZMQ_IMMEDIATE), so a client given a list keeps working
    while one of them is away. Returns 0, or -1 if an endpoint is invalid.
    kvp_client_new and kvp_sub_new take such lists. */
int
    kvp_client_attach (zsock_t *sock, const char *endpoints);

/*  Close the connection (unsent requests are discarded), free the replies
    still kept, and null the caller's pointer; safe on NULL. */
void
    kvp_client_destroy (kvp_client_t **self_p);

/*  The endpoint given to kvp_client_new. */
const char *
    kvp_client_endpoint (kvp_client_t *self);

/*  The DEALER socket, for a zpoller over many clients. Only poll it for
    input; read with kvp_client_recv (self, 0). Owned by the client. */
zsock_t *
    kvp_client_sock (kvp_client_t *self);

/*  Start a request body: clears the client's body buffer and packs a map
    header for 2 + `n_extra` pairs, then "op": `op` and "rid": a new uint
    rid. The caller packs exactly `n_extra` key/value pairs with the
    returned packer (owned by the client; valid until the next begin), then
    calls kvp_client_send or one of the call functions. */
msgpack_packer *
    kvp_client_begin (kvp_client_t *self, const char *op, size_t n_extra);

/*  Send the body built since the last kvp_client_begin; sets *rid (may be
    NULL) to its rid. Sending again resends the same bytes. Returns 0, or
    -1 if the message could not be queued within 10 s (the queue is full
    because the broker has been away) or the client was interrupted. */
int
    kvp_client_send (kvp_client_t *self, uint64_t *rid);

/*  Send `len` arbitrary bytes as the body of [empty]["KVP1"][body], for
    tests and tools that send hostile input. Nothing is checked; no rid is
    assigned. Returns 0 or -1 as kvp_client_send. */
int
    kvp_client_send_raw (kvp_client_t *self, const void *body, size_t len);

/*  Return the next reply, whatever its rid: first any reply kept by an
    earlier kvp_client_wait, else the next to arrive within `timeout_ms`
    (0: do not wait; negative: wait for ever). Returns NULL on timeout or
    interruption. The caller destroys the reply. */
kvp_reply_t *
    kvp_client_recv (kvp_client_t *self, int timeout_ms);

/*  Return the reply whose rid is `rid`, waiting at most `timeout_ms` (as
    in recv). Replies for other rids that arrive meanwhile are kept, in
    arrival order, for later recv/wait calls (at most KVP_CLIENT_KEEP_MAX;
    past that the oldest is dropped with a warning). Returns NULL on
    timeout; the caller destroys the reply. */
kvp_reply_t *
    kvp_client_wait (kvp_client_t *self, uint64_t rid, int timeout_ms);

/*  Send the body built since kvp_client_begin and wait for its reply
    (send + wait). Returns NULL if sending failed or no reply came within
    `timeout_ms`; a reply that comes late is then discarded. */
kvp_reply_t *
    kvp_client_call (kvp_client_t *self, int timeout_ms);

/*  kvp_client_call for item ops that carry an idempotency `key`: while the
    outcome is unknown - no reply within `timeout_ms`, or rc 32771 (Status
    is unknown), 32772 (Timeout) or 32774 (System is in use) - wait
    `backoff_ms` (doubled after each try, at most 5 s) and resend the SAME
    body, same rid and key, up to `retries` more times. The spec makes this
    safe: a request repeated with the same key returns the first job and
    changes nothing. Returns the last reply received (whatever its rc), or
    NULL if the last try got none; duplicate replies that arrive later are
    discarded. */
kvp_reply_t *
    kvp_client_call_retry (kvp_client_t *self, int timeout_ms, int retries,
                           int backoff_ms);

/*  Number of received messages dropped as malformed so far. */
size_t
    kvp_client_dropped (kvp_client_t *self);

#ifdef __cplusplus
}
#endif
#endif
