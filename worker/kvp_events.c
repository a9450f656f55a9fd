/*  kvp_events.c - publish job events; republish the unsent ones at start.
*/
#include "kvp_events.h"
#include "kvp_reply.h"

//  Spec: large queues, so a subscriber that keeps up sees every event.
#define S_SNDHWM    1000000
#define S_TOPIC_MAX 1024        //  what it hears: subscriptions, a topic each

struct _kvp_events_t {
    zsock_t *sock;              /* XPUB connected to events-in */
    void *handle;               /* its libzmq socket */
    bool subscribed;            /* a subscription has arrived */
};

kvp_events_t *
kvp_events_new (const char *endpoint, const kvp_curve_t *curve)
{
    kvp_events_t *self = (kvp_events_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->sock = zsock_new (ZMQ_XPUB);
    if (self->sock) {
        kvp_curve_client (curve, self->sock);
        zsock_set_sndhwm (self->sock, S_SNDHWM);
        zsock_set_maxmsgsize (self->sock, S_TOPIC_MAX);
        zsock_set_sndtimeo (self->sock, 0);
        zsock_set_linger (self->sock, 0);
    }
    if (!self->sock || zsock_connect (self->sock, "%s", endpoint) != 0) {
        zsys_error ("events: cannot connect to %s", endpoint);
        kvp_events_destroy (&self);
        return NULL;
    }
    self->handle = zsock_resolve (self->sock);
    return self;
}

void
kvp_events_destroy (kvp_events_t **self_p)
{
    assert (self_p);
    kvp_events_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->sock);
    free (self);
    *self_p = NULL;
}

zsock_t *
kvp_events_sock (kvp_events_t *self)
{
    return self->sock;
}

void
kvp_events_drain (kvp_events_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&msg, self->handle, ZMQ_DONTWAIT) >= 0) {
        //  A subscription is [1][prefix]; [0][prefix] unsubscribes.
        if (zmq_msg_size (&msg) > 0
        &&  *(const uint8_t *) zmq_msg_data (&msg) == 1)
            self->subscribed = true;
    }
    zmq_msg_close (&msg);
}

void
kvp_events_publish (kvp_events_t *self, const char *topic, size_t topic_len,
                    const void *body, size_t len)
{
    //  An XPUB drops what exceeds its high-water mark and never blocks;
    //  DONTWAIT makes sure of it.
    if (zmq_send (self->handle, topic, topic_len,
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) == (int) topic_len)
        zmq_send (self->handle, body, len, ZMQ_DONTWAIT);
}

//  Wait until a subscription arrives, at most `wait_ms`.
bool
kvp_events_wait_subscriber (kvp_events_t *self, int wait_ms)
{
    int64_t until = zclock_mono () + wait_ms;
    while (!self->subscribed && !zsys_interrupted) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            break;
        zmq_pollitem_t item = { self->handle, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) > 0)
            kvp_events_drain (self);
    }
    return self->subscribed;
}

typedef struct {
    kvp_events_t *self;
    msgpack_zone *zone;         /* strings of the decoded job */
    size_t count;               /* events published */
} s_walk_t;

//  log_each callback: publish one stored event.
static int
s_publish_logged (void *arg, uint32_t part, uint64_t seq, const void *event,
                  size_t len)
{
    s_walk_t *walk = (s_walk_t *) arg;
    kvp_job_t job;
    msgpack_zone_clear (walk->zone);
    if (!kvp_job_decode (&job, event, len, walk->zone)) {
        zsys_warning ("events: partition %u seq %llu does not decode",
                      part, (unsigned long long) seq);
        return 0;
    }
    char topic [KVP_TOPIC_MAX + 1];
    size_t topic_len = kvp_event_topic (topic, job.target);
    kvp_events_publish (walk->self, topic, topic_len, event, len);
    walk->count++;
    return 0;
}

//  Does any partition hold events not yet marked sent?
static bool
s_has_backlog (kvp_store_t *store, const uint32_t *list, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        kvp_partition_t info;
        if (kvp_store_partition_get (store, list [i], &info) == KVP_STORE_OK
        &&  info.seq > info.sent)
            return true;
    }
    return false;
}

//  Publish the unsent events of each partition inside one (read) batch.
static int
s_publish_all (kvp_events_t *self, kvp_store_t *store, kvp_batch_t *batch,
               const uint32_t *list, size_t count, s_walk_t *walk)
{
    int rc = kvp_store_begin (store);
    for (size_t i = 0; rc == KVP_STORE_OK && i < count; i++) {
        kvp_partition_t info;
        rc = kvp_store_partition_get (store, list [i], &info);
        if (rc == KVP_STORE_OK && info.seq > info.sent) {
            rc = kvp_store_log_each (store, list [i], info.sent + 1,
                                     s_publish_logged, walk);
            //  Up to seq is dealt with, even entries purged meanwhile.
            if (rc == KVP_STORE_OK)
                kvp_batch_sent (batch, list [i], info.seq);
        }
    }
    kvp_store_abort (store);
    return rc;
}

int
kvp_events_backlog_part (kvp_events_t *self, kvp_store_t *store,
                         kvp_batch_t *batch, uint32_t part, size_t *count)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    s_walk_t walk = { self, &zone, 0 };
    int rc = s_publish_all (self, store, batch, &part, 1, &walk);
    msgpack_zone_destroy (&zone);
    *count = walk.count;
    return rc;
}

int
kvp_events_backlog (kvp_events_t *self, kvp_store_t *store,
                    kvp_batch_t *batch, int wait_ms, size_t *count)
{
    *count = 0;
    uint32_t *list = NULL;
    size_t parts = 0;
    int rc = kvp_store_partitions (store, &list, &parts);
    if (rc != KVP_STORE_OK || !s_has_backlog (store, list, parts)) {
        free (list);
        return rc;
    }
    if (wait_ms > 0 && !kvp_events_wait_subscriber (self, wait_ms))
        zsys_info ("events: no subscriber yet, publishing the backlog anyway");
    msgpack_zone zone;
    msgpack_zone_init (&zone, 1024);
    s_walk_t walk = { self, &zone, 0 };
    rc = s_publish_all (self, store, batch, list, parts, &walk);
    msgpack_zone_destroy (&zone);
    free (list);
    *count = walk.count;
    return rc;
}
