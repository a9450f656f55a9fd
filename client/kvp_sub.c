/*  kvp_sub.c - a subscriber to job events. See kvp_sub.h. */

#include <string.h>
#include "kvp_sub.h"
#include "kvp_client.h"
#include "kvp_poll.h"

struct _kvp_sub_t {
    zsock_t *sock;                  /* SUB to the broker's events */
    char *endpoint;                 /* as given, for logs */
    char topic [KVP_SUB_TOPIC_MAX + 1];     /* of the last event */
    kvp_reply_t *event;             /* the last event's body and objects */
    size_t dropped;                 /* malformed messages dropped */
};

kvp_sub_t *
kvp_sub_new (const char *endpoint, const char *prefix)
{
    return kvp_sub_new_hwm (endpoint, prefix, KVP_SUB_RCVHWM);
}

kvp_sub_t *
kvp_sub_new_hwm (const char *endpoint, const char *prefix, int rcvhwm)
{
    return kvp_sub_new_curve (endpoint, prefix, rcvhwm, NULL);
}

kvp_sub_t *
kvp_sub_new_curve (const char *endpoint, const char *prefix, int rcvhwm,
                   const kvp_curve_t *curve)
{
    kvp_sub_t *self = (kvp_sub_t *) zmalloc (sizeof (kvp_sub_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->sock = zsock_new (ZMQ_SUB);
    if (!self->endpoint || !self->sock) {
        kvp_sub_destroy (&self);
        return NULL;
    }
    kvp_curve_client (curve, self->sock);
    zsock_set_maxmsgsize (self->sock, KVP_CLIENT_MSG_MAX);
    zsock_set_reconnect_ivl (self->sock, KVP_CLIENT_RECONNECT_MS);
    zsock_set_rcvhwm (self->sock, rcvhwm > 0 ? rcvhwm : KVP_SUB_RCVHWM);
    zsock_set_subscribe (self->sock, prefix);
    if (kvp_client_attach (self->sock, endpoint)) {
        zsys_error ("sub %s: cannot connect: %s", endpoint,
                    zmq_strerror (zmq_errno ()));
        kvp_sub_destroy (&self);
        return NULL;
    }
    return self;
}

void
kvp_sub_destroy (kvp_sub_t **self_p)
{
    if (self_p && *self_p) {
        kvp_sub_t *self = *self_p;
        zsock_destroy (&self->sock);
        kvp_reply_destroy (&self->event);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
kvp_sub_sock (kvp_sub_t *self)
{
    return self->sock;
}

const void *
kvp_sub_body (kvp_sub_t *self, size_t *len)
{
    if (!self->event) {
        *len = 0;
        return NULL;
    }
    return kvp_reply_body (self->event, len);
}

size_t
kvp_sub_dropped (kvp_sub_t *self)
{
    return self->dropped;
}

/*  Keep a [topic][map] message as the current event; false if it is not
    one. */
static bool
s_accept (kvp_sub_t *self, zmq_msg_t *frames, int count)
{
    if (count != 2 || zmq_msg_size (&frames [0]) > KVP_SUB_TOPIC_MAX)
        return false;
    //  A reply object is exactly "checked bytes decoded as a map".
    kvp_reply_t *event = kvp_reply_new (zmq_msg_data (&frames [1]),
                                        zmq_msg_size (&frames [1]));
    if (!event)
        return false;
    kvp_reply_destroy (&self->event);
    self->event = event;
    size_t len = zmq_msg_size (&frames [0]);
    memcpy (self->topic, zmq_msg_data (&frames [0]), len);
    self->topic [len] = 0;
    return true;
}

int
kvp_sub_recv (kvp_sub_t *self, int timeout_ms, const char **topic,
              const msgpack_object **event)
{
    int64_t deadline = kvp_poll_deadline (timeout_ms);
    while (true) {
        zmq_msg_t frames [2];
        int count = kvp_poll_recv (self->sock, frames, 2);
        if (count < 0)
            return -1;
        if (count == 0) {
            int rc = kvp_poll_in (self->sock, deadline);
            if (rc != 1)
                return rc;
            continue;
        }
        bool ok = s_accept (self, frames, count);
        kvp_poll_close (frames, count, 2);
        if (ok) {
            *topic = self->topic;
            *event = kvp_reply_map (self->event);
            return 1;
        }
        self->dropped++;
        zsys_warning ("sub %s: dropped a malformed event (%d frames)",
                      self->endpoint, count);
    }
}
