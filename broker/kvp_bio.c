/*  kvp_bio.c - the broker's socket and log helpers: whole-message receive,
    the client reply envelope, rate-limited warnings.
*/
#include "kvp_bio.h"
#include <stdarg.h>

void
kvp_bio_warn (kvp_broker_t *self, const char *format, ...)
{
    uint64_t held;
    if (!kvp_log_limit (&self->warnings, 1000, &held))
        return;
    char text [512];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    if (held)
        zsys_warning ("%s: %s (and %llu more warnings held back)",
                      self->logid, text, (unsigned long long) held);
    else
        zsys_warning ("%s: %s", self->logid, text);
}

int
kvp_bio_send_client (void *arg, zframe_t *identity, zframe_t **body_p)
{
    kvp_broker_t *self = arg;
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    //  Mandatory routing: a full client fails here (EAGAIN), a gone one too
    //  (EHOSTUNREACH); once this frame is in, the rest of the message is
    if (zmq_send (self->clients_h, zframe_data (identity),
                  zframe_size (identity), more) == -1)
        return zmq_errno () == EAGAIN ? EAGAIN : EHOSTUNREACH;
    zmq_send (self->clients_h, "", 0, more);
    zmq_send (self->clients_h, KVP_BIO_SIG, KVP_BIO_SIG_LEN, more);
    if (zframe_send (body_p, self->clients_h, ZFRAME_DONTWAIT) == -1)
        zframe_destroy (body_p);
    return 0;
}

void
kvp_bio_reply (kvp_broker_t *self, zframe_t **client_p,
               const kvp_rid_t *rid, unsigned rc, const char *format, ...)
{
    char error [512] = "";
    if (format) {
        va_list args;
        va_start (args, format);
        vsnprintf (error, sizeof error, format, args);
        va_end (args);
    }
    kvp_reply_status (&self->buf, rid, rc, format ? error : NULL);
    kvp_bio_send_buf (self, client_p);
}

void
kvp_bio_send_buf (kvp_broker_t *self, zframe_t **client_p)
{
    if (self->metrics)
        kvp_bmetrics_reply (self->metrics, self->buf.data, self->buf.size);
    zframe_t *body = zframe_new (self->buf.data, self->buf.size);
    if (body)
        kvp_peers_send (self->peers, client_p, &body);
    zframe_destroy (client_p);      //  out of memory: nothing to send
}

//  The first frame of a message, without waiting: NULL when none is
//  queued. Asking ZMQ_EVENTS first (zsock_events) would make libzmq look
//  at its command pipe on every message, a poll and a getpid system call
//  each; a non-blocking receive does that only when the queue runs dry.
static zframe_t *
s_recv_first (void *handle, bool *more)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&msg);
        return NULL;
    }
    *more = zmq_msg_more (&msg);
    //  A routing identity, a few bytes: copying it is cheaper than a
    //  second look at the queue.
    zframe_t *frame = zframe_new (zmq_msg_data (&msg), zmq_msg_size (&msg));
    zmq_msg_close (&msg);
    return frame;
}

//  Receive one whole message: up to `max` frames into `frames`, the rest
//  discarded. Returns the total number of frames, 0 if nothing was waiting.
static size_t
s_recv (void *handle, zframe_t **frames, size_t max)
{
    bool more = false;
    zframe_t *frame = s_recv_first (handle, &more);
    if (!frame)
        return 0;
    frames [0] = frame;
    size_t total = 1;
    //  The other frames of a message arrive with the first: no waiting.
    while (more) {
        frame = zframe_recv (handle);
        if (!frame)
            break;                  //  interrupted mid-message: drop it
        more = zframe_more (frame);
        if (total < max)
            frames [total] = frame;
        else
            zframe_destroy (&frame);
        total++;
    }
    return total;
}

void
kvp_bio_drain (kvp_broker_t *self, void *handle, size_t max, kvp_bio_fn *fn)
{
    assert (max > 0 && max <= KVP_BIO_FRAMES);
    for (int count = 0; count < KVP_BIO_BATCH; count++) {
        zframe_t *frames [KVP_BIO_FRAMES] = { NULL };
        size_t total = s_recv (handle, frames, max);
        if (total == 0)
            break;
        fn (self, frames, total);
        //  Whatever the handler did not take (moved on) goes here.
        for (size_t i = 0; i < max; i++)
            zframe_destroy (&frames [i]);
    }
}

int
kvp_bio_send_head (kvp_broker_t *self, kvp_session_t *session,
                   const char *command, bool more)
{
    size_t len;
    const uint8_t *id = kvp_session_identity (session, &len);
    //  Mandatory routing: a gone peer fails here (EHOSTUNREACH), a full
    //  one too (EAGAIN); once this frame is in, the rest of the message is.
    if (zmq_send (self->workers_h, id, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return zmq_errno ();
    zmq_send (self->workers_h, command, strlen (command),
              (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    return 0;
}

int
kvp_bio_send_worker (kvp_broker_t *self, kvp_session_t *session,
                     const char *command, const void **data,
                     const size_t *sizes, int count)
{
    int rc = kvp_bio_send_head (self, session, command, count > 0);
    for (int i = 0; rc == 0 && i < count; i++)
        zmq_send (self->workers_h, data [i], sizes [i],
                  (i + 1 < count ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    return rc;
}
