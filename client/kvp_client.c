/*  kvp_client.c - a KVP/1 client over one DEALER. See kvp_client.h. */

#include <errno.h>
#include <string.h>
#include "kvp_client.h"
#include "kvp_poll.h"
#include "kvp_rc.h"

#define SIGNATURE       "KVP1"
#define SEND_TIMEOUT_MS 10000       /* a full queue for this long: give up */
#define IGNORED_MAX     64          /* rids whose late replies are dropped */
#define BACKOFF_MAX_MS  5000

struct _kvp_client_t {
    zsock_t *sock;                  /* DEALER to the broker */
    char *endpoint;                 /* as given */
    msgpack_sbuffer body;           /* the request being built */
    msgpack_packer pk;              /* packs into body */
    uint64_t next_rid;              /* last rid assigned */
    uint64_t body_rid;              /* rid of the body in `body` */
    kvp_reply_t *kept [KVP_CLIENT_KEEP_MAX];    /* replies not yet asked for */
    size_t nkept;                   /* entries in kept, oldest first */
    uint64_t ignored [IGNORED_MAX]; /* ring of abandoned rids */
    size_t nignored;                /* rids ever put in the ring */
    size_t dropped;                 /* malformed messages dropped */
};

kvp_client_t *
kvp_client_new (const char *endpoint)
{
    return kvp_client_new_curve (endpoint, NULL);
}

kvp_client_t *
kvp_client_new_curve (const char *endpoint, const kvp_curve_t *curve)
{
    kvp_client_t *self = (kvp_client_t *) zmalloc (sizeof (kvp_client_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->sock = zsock_new (ZMQ_DEALER);
    msgpack_sbuffer_init (&self->body);
    msgpack_packer_init (&self->pk, &self->body, msgpack_sbuffer_write);
    if (!self->endpoint || !self->sock) {
        kvp_client_destroy (&self);
        return NULL;
    }
    kvp_curve_client (curve, self->sock);
    zsock_set_maxmsgsize (self->sock, KVP_CLIENT_MSG_MAX);
    zsock_set_reconnect_ivl (self->sock, KVP_CLIENT_RECONNECT_MS);
    zsock_set_sndtimeo (self->sock, SEND_TIMEOUT_MS);
    //  Pipelining clients keep many requests in flight: do not let the
    //  default high-water marks of 1000 be the limit.
    zsock_set_sndhwm (self->sock, 100000);
    zsock_set_rcvhwm (self->sock, 100000);
    zsock_set_linger (self->sock, 0);
    if (kvp_client_attach (self->sock, endpoint)) {
        zsys_error ("client %s: cannot connect: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
        kvp_client_destroy (&self);
        return NULL;
    }
    return self;
}

int
kvp_client_attach (zsock_t *sock, const char *endpoints)
{
    //  Several brokers: requests go only to one that is connected.
    if (strchr (endpoints, ','))
        zsock_set_immediate (sock, 1);
    char *list = strdup (endpoints);
    int rc = list ? 0 : -1;
    char *save = NULL;
    for (char *ep = list ? strtok_r (list, ",", &save) : NULL; ep && !rc;
         ep = strtok_r (NULL, ",", &save))
        rc = zsock_connect (sock, "%s", ep);
    free (list);
    return rc;
}

void
kvp_client_destroy (kvp_client_t **self_p)
{
    if (self_p && *self_p) {
        kvp_client_t *self = *self_p;
        for (size_t i = 0; i < self->nkept; i++)
            kvp_reply_destroy (&self->kept [i]);
        zsock_destroy (&self->sock);
        msgpack_sbuffer_destroy (&self->body);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

const char *
kvp_client_endpoint (kvp_client_t *self)
{
    return self->endpoint;
}

zsock_t *
kvp_client_sock (kvp_client_t *self)
{
    return self->sock;
}

size_t
kvp_client_dropped (kvp_client_t *self)
{
    return self->dropped;
}

/* --- sending ------------------------------------------------------------ */

msgpack_packer *
kvp_client_begin (kvp_client_t *self, const char *op, size_t n_extra)
{
    assert (op);
    msgpack_sbuffer_clear (&self->body);
    self->body_rid = ++self->next_rid;
    msgpack_pack_map (&self->pk, 2 + n_extra);
    msgpack_pack_str_with_body (&self->pk, "op", 2);
    msgpack_pack_str_with_body (&self->pk, op, strlen (op));
    msgpack_pack_str_with_body (&self->pk, "rid", 3);
    msgpack_pack_uint64 (&self->pk, self->body_rid);
    return &self->pk;
}

int
kvp_client_send_raw (kvp_client_t *self, const void *body, size_t len)
{
    void *handle = zsock_resolve (self->sock);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE) < 0
    ||  zmq_send (handle, SIGNATURE, 4, ZMQ_SNDMORE) < 0
    ||  zmq_send (handle, body, len, 0) < 0) {
        //  A DEALER queues whole messages only: a failure on the first
        //  frame sends nothing, and later ones cannot fail after it.
        zsys_warning ("client %s: send failed: %s", self->endpoint,
                      zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

/* --- rids whose replies are no longer wanted ------------------------------ */

static bool
s_is_ignored (kvp_client_t *self, uint64_t rid)
{
    size_t n = self->nignored < IGNORED_MAX ? self->nignored : IGNORED_MAX;
    for (size_t i = 0; i < n; i++)
        if (self->ignored [i] == rid)
            return true;
    return false;
}

/*  Forget `rid`: replies for it that come later are dropped silently. */
static void
s_ignore (kvp_client_t *self, uint64_t rid)
{
    self->ignored [self->nignored++ % IGNORED_MAX] = rid;
}

/*  Want replies for `rid` again (its body is being sent once more). */
static void
s_unignore (kvp_client_t *self, uint64_t rid)
{
    size_t n = self->nignored < IGNORED_MAX ? self->nignored : IGNORED_MAX;
    for (size_t i = 0; i < n; i++)
        if (self->ignored [i] == rid)
            self->ignored [i] = 0;      //  rid 0 is never assigned
}

int
kvp_client_send (kvp_client_t *self, uint64_t *rid)
{
    assert (self->body_rid);        //  kvp_client_begin comes first
    if (rid)
        *rid = self->body_rid;
    if (self->nignored)
        s_unignore (self, self->body_rid);
    return kvp_client_send_raw (self, self->body.data, self->body.size);
}

/* --- receiving ------------------------------------------------------------ */

/*  Turn one received message into a reply, or NULL (counted and logged)
    if it is not [empty]["KVP1"][msgpack map]. */
static kvp_reply_t *
s_decode (kvp_client_t *self, zmq_msg_t *frames, int count)
{
    kvp_reply_t *reply = NULL;
    if (count == 3 && zmq_msg_size (&frames [0]) == 0
    &&  zmq_msg_size (&frames [1]) == 4
    &&  memcmp (zmq_msg_data (&frames [1]), SIGNATURE, 4) == 0)
        reply = kvp_reply_new (zmq_msg_data (&frames [2]),
                               zmq_msg_size (&frames [2]));
    if (!reply) {
        self->dropped++;
        zsys_warning ("client %s: dropped a malformed reply (%d frames)",
                      self->endpoint, count);
    }
    return reply;
}

/*  The next well-formed reply from the socket before `deadline`, skipping
    malformed ones and late replies for ignored rids. NULL on timeout. */
static kvp_reply_t *
s_recv_socket (kvp_client_t *self, int64_t deadline)
{
    while (true) {
        zmq_msg_t frames [3];
        int count = kvp_poll_recv (self->sock, frames, 3);
        if (count < 0)
            return NULL;
        if (count == 0) {
            if (kvp_poll_in (self->sock, deadline) != 1)
                return NULL;
            continue;
        }
        kvp_reply_t *reply = s_decode (self, frames, count);
        kvp_poll_close (frames, count, 3);
        if (reply && self->nignored && kvp_reply_rid (reply)
        &&  s_is_ignored (self, kvp_reply_rid (reply)))
            kvp_reply_destroy (&reply);
        if (reply)
            return reply;
    }
}

/*  Remove and return kept reply `index`. */
static kvp_reply_t *
s_take_kept (kvp_client_t *self, size_t index)
{
    kvp_reply_t *reply = self->kept [index];
    self->nkept--;
    memmove (self->kept + index, self->kept + index + 1,
             (self->nkept - index) * sizeof (kvp_reply_t *));
    return reply;
}

static void
s_keep (kvp_client_t *self, kvp_reply_t *reply)
{
    if (self->nkept == KVP_CLIENT_KEEP_MAX) {
        kvp_reply_t *oldest = s_take_kept (self, 0);
        zsys_warning ("client %s: too many unclaimed replies, dropped rid %"
                      PRIu64, self->endpoint, kvp_reply_rid (oldest));
        kvp_reply_destroy (&oldest);
    }
    self->kept [self->nkept++] = reply;
}

kvp_reply_t *
kvp_client_recv (kvp_client_t *self, int timeout_ms)
{
    if (self->nkept)
        return s_take_kept (self, 0);
    return s_recv_socket (self, kvp_poll_deadline (timeout_ms));
}

kvp_reply_t *
kvp_client_wait (kvp_client_t *self, uint64_t rid, int timeout_ms)
{
    for (size_t i = 0; i < self->nkept; i++)
        if (kvp_reply_rid (self->kept [i]) == rid)
            return s_take_kept (self, i);
    int64_t deadline = kvp_poll_deadline (timeout_ms);
    kvp_reply_t *reply;
    while ((reply = s_recv_socket (self, deadline))) {
        if (kvp_reply_rid (reply) == rid)
            return reply;
        s_keep (self, reply);
    }
    return NULL;
}

/* --- calls ---------------------------------------------------------------- */

kvp_reply_t *
kvp_client_call (kvp_client_t *self, int timeout_ms)
{
    uint64_t rid;
    if (kvp_client_send (self, &rid))
        return NULL;
    kvp_reply_t *reply = kvp_client_wait (self, rid, timeout_ms);
    if (!reply)
        s_ignore (self, rid);
    return reply;
}

/*  Whether a reply leaves the outcome unknown or says "try later". */
static bool
s_retryable (const kvp_reply_t *reply)
{
    if (!reply)
        return true;
    int rc = kvp_reply_rc (reply);
    return rc == KVP_RC_STATUS_UNKNOWN || rc == KVP_RC_TIMEOUT
        || rc == KVP_RC_IN_USE;
}

kvp_reply_t *
kvp_client_call_retry (kvp_client_t *self, int timeout_ms, int retries,
                       int backoff_ms)
{
    uint64_t rid = self->body_rid;
    kvp_reply_t *reply = NULL;
    for (int attempt = 0; attempt <= retries; attempt++) {
        if (attempt) {
            zsys_info ("client %s: rid %" PRIu64 " outcome unknown (%d), "
                       "retry %d of %d", self->endpoint, rid,
                       reply ? kvp_reply_rc (reply) : -1, attempt, retries);
            kvp_reply_destroy (&reply);
            zclock_sleep (backoff_ms);
            backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS
                       ? BACKOFF_MAX_MS : backoff_ms * 2;
        }
        if (zsys_interrupted || kvp_client_send (self, NULL))
            break;
        reply = kvp_client_wait (self, rid, timeout_ms);
        if (!s_retryable (reply))
            break;
    }
    //  Earlier tries may still be answered: those answers are not wanted.
    s_ignore (self, rid);
    return reply;
}
