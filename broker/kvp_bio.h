/*  kvp_bio.h - the broker's socket and log helpers: draining a socket
    message by message, the client reply envelope, rate-limited warnings.

    The bottom of the broker's call order (see kvp_broker_priv.h): the
    other parts call these, and these call nothing of theirs. Not for use
    outside broker/.
*/
#ifndef KVP_BIO_H_INCLUDED
#define KVP_BIO_H_INCLUDED

#include "kvp_broker_priv.h"

#define KVP_BIO_SIG         "KVP1"  /* the client envelope's signature */
#define KVP_BIO_SIG_LEN     4
#define KVP_BIO_BATCH       256     /* messages per socket per loop pass */
#define KVP_BIO_FRAMES      5       /* frames a message handler may see */

/*  A warning, at most one a second (the others are counted and the count
    shown with the next one printed). */
void
    kvp_bio_warn (kvp_broker_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Send a broker-made reply {rid, rc, error} to a client, taking the
    identity frame. `format` (printf) makes the error text; NULL for none.
    Encodes into self->buf. */
void
    kvp_bio_reply (kvp_broker_t *self, zframe_t **client_p,
                   const kvp_rid_t *rid, unsigned rc,
                   const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

/*  Send the body encoded in self->buf to a client, taking the identity:
    through self->peers, so it waits there when the client's queue is
    full; a gone client loses it. */
void
    kvp_bio_send_buf (kvp_broker_t *self, zframe_t **client_p);

/*  kvp_peers_send_fn for self->peers (arg is the broker): one reply as
    [identity][empty][KVP1][body], never blocking. */
int
    kvp_bio_send_client (void *arg, zframe_t *identity, zframe_t **body_p);

/*  To a worker: [identity][command] (+ more frames to follow when
    `more`). Returns 0 or the errno of the identity frame (EHOSTUNREACH:
    gone; EAGAIN: full); once it is in, the rest of the message is. */
int
    kvp_bio_send_head (kvp_broker_t *self, kvp_session_t *session,
                       const char *command, bool more);

/*  [identity][command] and `count` frames more, never blocking. Returns
    what kvp_bio_send_head returned. */
int
    kvp_bio_send_worker (kvp_broker_t *self, kvp_session_t *session,
                         const char *command, const void **data,
                         const size_t *sizes, int count);

/*  What kvp_bio_drain hands each message to: its frames (at most the
    `max` given to kvp_bio_drain) and its total frame count, which may be
    larger. The handler takes the frames it keeps (nulling them). */
typedef void (kvp_bio_fn) (kvp_broker_t *self, zframe_t **frames,
                           size_t total);

/*  Serve the messages waiting on socket `handle` (a libzmq handle),
    without blocking and at most KVP_BIO_BATCH of them: each is received
    whole, up to `max` (1..KVP_BIO_FRAMES) frames kept and the rest
    discarded, passed to `fn`, and whatever frames `fn` left destroyed.
    While messages are queued it makes no system call of its own per
    message. */
void
    kvp_bio_drain (kvp_broker_t *self, void *handle, size_t max,
                   kvp_bio_fn *fn);

#endif
