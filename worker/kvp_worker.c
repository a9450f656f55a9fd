/*  kvp_worker.c - the worker's session with the broker and its loop.
*/
#include "kvp_worker.h"
#include "kvp_curve.h"
#include "kvp_batch.h"
#include "kvp_events.h"
#include "kvp_identity.h"
#include "kvp_log.h"
#include "kvp_notify.h"
#include "kvp_rc.h"
#include "kvp_replicate.h"
#include "kvp_request.h"
#include "kvp_route.h"
#include "kvp_store.h"
#include "kvp_wire.h"
#include "kvp_wmetrics.h"

#include <czmq.h>

#define S_MAXMSGSIZE    (8 * 1024 * 1024)   /* transport cap on the DEALER */
#define S_SNDHWM        100000              /* replies queued to the broker */
#define S_TICK_MS       1000                /* housekeeping period */
#define S_PURGE_MAX     1000                /* log entries per purge call */
#define S_REQUEST_FRAMES 5                  /* REQUEST tag part guid body */
#define S_ERROR_MAX     256                 /* REFUSE text kept */
#define S_BACKLOG_WAIT_MS 1000              /* for a subscriber at start */
#define S_SUBSCRIBE_WAIT_MS 300             /* before taking work */
#define S_STATS_MS 10000                    /* batch statistics line */
#define S_METRICS_MS 500                    /* metrics snapshot period */

typedef enum {
    S_UNREGISTERED,             /* REGISTER sent, no WELCOME yet */
    S_READY                     /* WELCOME received: serving */
} s_state_t;

struct _kvp_worker_t {
    const kvp_config_t *config; /* borrowed */
    kvp_curve_t *curve;         /* --curve-secret, or NULL: plain */
    kvp_identity_t ident;       /* id, token, nparts of the directory */
    kvp_store_t *store;
    kvp_batch_t *batch;         /* group commit and sent marks */
    kvp_replicate_t *repl;      /* roles, REPL out, followers' apply */
    kvp_events_t *events;       /* publisher to events-in */
    zsock_t *dealer;            /* to the broker's workers ROUTER */
    void *handle;               /* its libzmq socket */
    zpoller_t *poller;          /* dealer + events */
    s_state_t state;
    uint32_t nparts;            /* the broker's N; 0 before WELCOME */
    uint8_t *owned;             /* KVP_PARTITIONS_MAX flags */
    size_t owned_count;         /* partitions owned */
    int64_t heartbeat;          /* interval, ms (WELCOME may change it) */
    int64_t expiry;             /* mono ms: broker presumed gone */
    int64_t register_at;        /* mono ms: send REGISTER (0: none due) */
    int64_t last_register;      /* mono ms of the last REGISTER */
    int64_t send_at;            /* mono ms: HEARTBEAT due */
    int64_t tick_at;            /* mono ms: housekeeping due */
    int status;                 /* exit status once stopping; -1 before */
    int64_t stats_at;           /* mono ms: next batch statistics line */
    kvp_store_stats_t last;     /* store counters at the last line */
    kvp_wmetrics_t *metrics;    /* --metrics, or NULL */
    int64_t metrics_at;         /* mono ms: next metrics snapshot */
    msgpack_sbuffer buf;        /* REGISTER body */
};

typedef void (s_command_fn) (kvp_worker_t *self, zmsg_t **msg_p);

//  The broker was heard from: it is alive for liveness more intervals.
static void
s_alive (kvp_worker_t *self)
{
    self->expiry = zclock_mono ()
                 + self->heartbeat * (int64_t) self->config->liveness;
}

//  --- Sending to the broker ---------------------------------------------------

//  Send `count` frames without blocking. A broker that does not read is a
//  broker the liveness timer will replace; waiting for it helps nobody.
static bool
s_send (kvp_worker_t *self, const void **data, const size_t *sizes,
        int count)
{
    for (int i = 0; i < count; i++) {
        int more = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_send (self->handle, data [i], sizes [i],
                      more | ZMQ_DONTWAIT) < 0) {
            //  Only the first frame can fail: the rest are part of a
            //  message libzmq already accepted.
            zsys_warning ("cannot send %.*s to the broker: %s",
                          (int) sizes [0], (const char *) data [0],
                          zmq_strerror (zmq_errno ()));
            return false;
        }
    }
    self->send_at = zclock_mono () + self->heartbeat;
    return true;
}

static void
s_send_command (kvp_worker_t *self, const char *command)
{
    const void *data [] = { command };
    size_t sizes [] = { strlen (command) };
    s_send (self, data, sizes, 1);
}

//  REGISTER {version, id, token, partitions held, nparts, zone}.
static void
s_register (kvp_worker_t *self)
{
    kvp_register_t reg = { .version = KVP_WIRE_VERSION,
                           .nparts = self->ident.nparts };
    memcpy (reg.id, self->ident.id, sizeof reg.id);
    memcpy (reg.token, self->ident.token, sizeof reg.token);
    if (self->config->zone)     //  checked by the parse: it fits
        snprintf (reg.zone, sizeof reg.zone, "%s", self->config->zone);
    int rc = kvp_store_partitions (self->store, &reg.partitions,
                                   &reg.partition_count);
    if (rc)
        zsys_error ("cannot list partitions: %s", kvp_store_strerror (rc));
    kvp_register_encode (&self->buf, &reg);
    free (reg.partitions);
    const void *data [] = { KVP_W_REGISTER, self->buf.data };
    size_t sizes [] = { strlen (KVP_W_REGISTER), self->buf.size };
    s_send (self, data, sizes, 2);
    self->state = S_UNREGISTERED;
    self->last_register = zclock_mono ();
    self->register_at = 0;
    s_alive (self);             //  here: the deadline for WELCOME
    zsys_info ("registering with %s (%zu partitions held, N=%u)",
               self->config->broker, reg.partition_count, reg.nparts);
}

//  A fresh DEALER to the broker; the old one (and whatever it had queued)
//  is dropped.
static bool
s_connect (kvp_worker_t *self)
{
    if (self->dealer) {
        zpoller_remove (self->poller, self->dealer);
        zsock_set_linger (self->dealer, 0);
        zsock_destroy (&self->dealer);
    }
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer)
        return false;
    kvp_curve_client (self->curve, self->dealer);
    zsock_set_maxmsgsize (self->dealer, S_MAXMSGSIZE);
    zsock_set_sndhwm (self->dealer, S_SNDHWM);
    zsock_set_rcvtimeo (self->dealer, 0);   //  reads drain, never wait
    zsock_set_linger (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", self->config->broker) != 0) {
        zsys_error ("cannot connect to %s", self->config->broker);
        return false;
    }
    self->handle = zsock_resolve (self->dealer);
    return zpoller_add (self->poller, self->dealer) == 0;
}

static void
s_reconnect (kvp_worker_t *self, const char *why)
{
    zsys_warning ("%s: reconnecting to %s", why, self->config->broker);
    if (!s_connect (self)) {
        zsys_error ("cannot make a new socket to the broker");
        self->status = 1;
        return;
    }
    s_register (self);
}

//  --- Broker commands -----------------------------------------------------------

//  Own exactly `parts` (WELCOME) or add them (ASSIGN).
static void
s_own (kvp_worker_t *self, const uint32_t *parts, size_t count, bool reset)
{
    if (reset) {
        memset (self->owned, 0, KVP_PARTITIONS_MAX);
        self->owned_count = 0;
    }
    for (size_t i = 0; i < count; i++)
        if (parts [i] < KVP_PARTITIONS_MAX && !self->owned [parts [i]]) {
            self->owned [parts [i]] = 1;
            self->owned_count++;
        }
}

//  The map of a WELCOME or ASSIGN; false (logged) if malformed.
static bool
s_assign_decode (zmsg_t *msg, uint32_t **parts, size_t *count,
                 uint32_t *nparts, uint32_t *heartbeat)
{
    zframe_t *body = zmsg_size (msg) == 2 ? zmsg_last (msg) : NULL;
    if (body && kvp_assign_decode (zframe_data (body), zframe_size (body),
                                   parts, count, nparts, heartbeat))
        return true;
    zsys_warning ("malformed WELCOME/ASSIGN from the broker: dropped");
    return false;
}

static void
s_on_welcome (kvp_worker_t *self, zmsg_t **msg_p)
{
    uint32_t *parts, nparts, heartbeat;
    size_t count;
    if (!s_assign_decode (*msg_p, &parts, &count, &nparts, &heartbeat))
        return;
    if (nparts == 0 || nparts > KVP_PARTITIONS_MAX
    ||  (self->ident.nparts && self->ident.nparts != nparts)) {
        zsys_error ("the broker runs %u partitions, this data was made with "
                    "%u: stopping", nparts, self->ident.nparts);
        self->status = 2;
    }
    else {
        int rc = kvp_identity_set_nparts (&self->ident, self->store, nparts);
        if (rc)
            zsys_error ("cannot record N: %s", kvp_store_strerror (rc));
        self->nparts = nparts;
        s_own (self, parts, count, true);
        if (heartbeat)
            self->heartbeat = heartbeat;
        //  A shorter interval than ours starts now, not at our next beat
        int64_t beat = zclock_mono () + self->heartbeat;
        if (self->send_at > beat)
            self->send_at = beat;
        self->state = S_READY;
        s_alive (self);
        zsys_notice ("registered: %zu of %u partitions, heartbeat %lld ms",
                     self->owned_count, nparts, (long long) self->heartbeat);
        kvp_notify_ready ("serving %zu of %u partitions from %s",
                          self->owned_count, nparts, self->config->broker);
    }
    free (parts);
}

static void
s_on_assign (kvp_worker_t *self, zmsg_t **msg_p)
{
    uint32_t *parts, nparts, heartbeat;
    size_t count;
    if (!s_assign_decode (*msg_p, &parts, &count, &nparts, &heartbeat))
        return;
    s_own (self, parts, count, false);
    zsys_info ("assigned %zu partitions (%zu owned)", count,
               self->owned_count);
    free (parts);
}

static void
s_on_refuse (kvp_worker_t *self, zmsg_t **msg_p)
{
    char error [S_ERROR_MAX] = "(unreadable)";
    zframe_t *body = zmsg_size (*msg_p) == 2 ? zmsg_last (*msg_p) : NULL;
    if (body)
        kvp_refuse_decode (zframe_data (body), zframe_size (body), error,
                           sizeof error);
    if (strncmp (error, "fatal:", 6) == 0) {
        zsys_error ("refused by the broker: %s", error);
        self->status = 2;
        return;
    }
    zsys_warning ("refused by the broker: %s; registering again", error);
    //  At most one REGISTER per heartbeat: every message we send to a
    //  broker that forgot us earns a REFUSE.
    if (self->state == S_READY || !self->register_at) {
        self->state = S_UNREGISTERED;
        self->register_at = self->last_register + self->heartbeat;
    }
}

static void
s_on_heartbeat (kvp_worker_t *self, zmsg_t **msg_p)
{
}

//  --- Requests ----------------------------------------------------------------------

//  Set the slot's target and check that its partition is ours. Returns
//  false with the reason in `why` otherwise.
static bool
s_route (kvp_worker_t *self, kvp_slot_t *slot, zframe_t *guid, char *why,
         size_t size)
{
    kvp_route_t route;
    kvp_route_from_request (&route, slot->request);
    if (route.make_id
    &&  !kvp_guid_parse (&route.guid, (const char *) zframe_data (guid),
                         zframe_size (guid))) {
        //  The broker made the id: it is in the guid frame.
        snprintf (why, size, "id: the broker sent no GUID");
        return false;
    }
    memset (&slot->target, 0, sizeof slot->target);
    if (route.has_guid)
        slot->target = route.guid;
    if (kvp_op_route (route.op) == KVP_BY_BROKER)
        return true;            //  the executor answers 32770
    uint32_t part = kvp_route_partition (&route, self->nparts);
    kvp_roles_t *roles = kvp_replicate_roles (self->repl);
    kvp_copy_role_t kind = part < KVP_PARTITIONS_MAX
                         ? kvp_roles_kind (roles, part) : KVP_COPY_NONE;
    if (part == slot->part && part < KVP_PARTITIONS_MAX
    &&  (kind == KVP_COPY_LEADER
      || (kind == KVP_COPY_NONE && self->owned [part]))) {
        slot->no_jobs = !kvp_roles_writable (roles, part);
        return true;
    }
    snprintf (why, size, "partition %u not owned here", slot->part);
    return false;
}

//  REQUEST [tag 8][partition 4][guid 36 or 0][body]: claim a slot, decode,
//  route. Frames that break the wire contract are logged and dropped.
static void
s_on_request (kvp_worker_t *self, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *tag = zmsg_size (msg) == S_REQUEST_FRAMES ? zmsg_next (msg) : NULL;
    zframe_t *part = tag ? zmsg_next (msg) : NULL;
    zframe_t *guid = part ? zmsg_next (msg) : NULL;
    zframe_t *body = guid ? zmsg_next (msg) : NULL;
    kvp_slot_t *slot = NULL;
    if (body && zframe_size (tag) == 8 && zframe_size (part) == 4
    &&  (zframe_size (guid) == KVP_GUID_LEN || zframe_size (guid) == 0))
        slot = kvp_batch_claim (self->batch);
    if (!slot) {
        zsys_warning ("malformed REQUEST from the broker: dropped");
        return;
    }
    slot->received_ms = (uint64_t) zclock_time ();
    slot->received_us = zclock_usecs ();
    memcpy (slot->tag, zframe_data (tag), 8);
    slot->part = kvp_get_u32 (zframe_data (part));
    slot->msg = msg;            //  keeps the body alive until the reply
    *msg_p = NULL;
    int rc = kvp_request_decode (slot->request, zframe_data (body),
                                 zframe_size (body));
    char why [128];
    if (rc)
        kvp_slot_reject (slot, (unsigned) rc,
                         kvp_request_error (slot->request));
    else
    if (!s_route (self, slot, guid, why, sizeof why))
        kvp_slot_reject (slot, KVP_RC_NOT_AVAILABLE, why);
    else
        slot->state = KVP_SLOT_READY;
}

static const struct {
    const char *name;
    s_command_fn *handler;
} s_commands [] = {
    { KVP_W_REQUEST, s_on_request },        //  first: the hot one
    { KVP_W_HEARTBEAT, s_on_heartbeat },
    { KVP_W_ASSIGN, s_on_assign },
    { KVP_W_WELCOME, s_on_welcome },
    { KVP_W_REFUSE, s_on_refuse },
};

//  Dispatch one message from the broker by its command frame.
static void
s_on_message (kvp_worker_t *self, zmsg_t **msg_p)
{
    if (self->state == S_READY && kvp_replicate_message (self->repl, msg_p)) {
        s_alive (self);
        zmsg_destroy (msg_p);
        return;
    }
    zframe_t *command = zmsg_first (*msg_p);
    size_t len = command ? zframe_size (command) : 0;
    size_t i, count = sizeof s_commands / sizeof s_commands [0];
    for (i = 0; i < count; i++)
        if (strlen (s_commands [i].name) == len
        &&  memcmp (s_commands [i].name, zframe_data (command), len) == 0)
            break;
    if (i == count)
        zsys_warning ("unknown command from the broker: dropped");
    else {
        //  Any message proves a serving broker alive; while waiting
        //  for WELCOME only WELCOME counts.
        if (self->state == S_READY)
            s_alive (self);
        if (i > 0)
            KVP_DEBUG ("broker: %s", s_commands [i].name);
        s_commands [i].handler (self, msg_p);
    }
    zmsg_destroy (msg_p);
}

//  --- The pass --------------------------------------------------------------------

//  Count one reply (and its event) into the metrics.
static void
s_count_reply (kvp_worker_t *self, kvp_slot_t *slot, int64_t now_us)
{
    kvp_wmetrics_reply (self->metrics, kvp_request_op (slot->request),
                        slot->reply.data, slot->reply.size,
                        (double) (now_us - slot->received_us) / 1e6);
    if (slot->event.size)
        kvp_wmetrics_event (self->metrics);
}

//  Reply to every slot and publish every event, in order.
static void
s_answer (kvp_worker_t *self)
{
    size_t size = kvp_batch_size (self->batch);
    int64_t now_us = self->metrics ? zclock_usecs () : 0;
    for (size_t i = 0; i < size; i++) {
        kvp_slot_t *slot = kvp_batch_slot (self->batch, i);
        if (kvp_replicate_answer (self->repl, slot))
            continue;               //  held until the in-sync set has it
        const void *data [] = { KVP_W_REPLY, slot->tag, slot->reply.data };
        size_t sizes [] = { strlen (KVP_W_REPLY), 8, slot->reply.size };
        s_send (self, data, sizes, 3);
        if (self->metrics)
            s_count_reply (self, slot, now_us);
        if (slot->event.size) {
            kvp_events_publish (self->events, slot->topic, slot->topic_len,
                                slot->event.data, slot->event.size);
            kvp_batch_sent (self->batch, slot->part, slot->seq);
        }
    }
}

//  Read what the broker sent (at most --batch messages), run the requests
//  as one group commit, answer them.
static void
s_serve (kvp_worker_t *self)
{
    for (size_t n = 0; n < self->config->batch && self->status < 0; n++) {
        zmsg_t *msg = zmsg_recv (self->dealer);
        if (!msg)
            break;
        s_on_message (self, &msg);
    }
    size_t size = kvp_batch_size (self->batch);
    if (!size) {
        kvp_replicate_apply (self->repl);
        return;
    }
    KVP_DEBUG ("batch of %zu requests", size);
    int64_t start_us = self->metrics ? zclock_usecs () : 0;
    kvp_batch_run (self->batch);
    if (self->metrics)
        kvp_wmetrics_batch (self->metrics, size,
                            (double) (zclock_usecs () - start_us) / 1e6);
    s_answer (self);
    kvp_batch_clear (self->batch);
    kvp_replicate_apply (self->repl);
}

//  The log and its checkpoints since the last line: what bounds the log's
//  size on disk and how far LMDB is behind it.
static void
s_report_store (kvp_worker_t *self)
{
    kvp_store_stats_t st;
    kvp_store_stats (self->store, &st);
    uint64_t checkpoints = st.checkpoints - self->last.checkpoints;
    uint64_t us = st.checkpoint_us - self->last.checkpoint_us;
    if (checkpoints)
        zsys_info ("log %.1f MB in %zu segments, %.1f MB behind; %llu "
                   "checkpoints, %.1f ms each (longest so far %.1f ms)",
                   (double) st.log_bytes / 1e6, st.log_segments,
                   (double) st.backlog / 1e6,
                   (unsigned long long) checkpoints,
                   (double) us / (double) checkpoints / 1000.0,
                   (double) st.checkpoint_us_max / 1000.0);
    self->last = st;
}

//  Every S_STATS_MS of activity, one line on how the group commit went:
//  what an operator tunes (--batch) and what a slow disk looks like.
static void
s_report (kvp_worker_t *self, int64_t now)
{
    if (now < self->stats_at)
        return;
    kvp_batch_stats_t st;
    kvp_batch_stats (self->batch, &st);
    if (st.batches)
        zsys_info ("last %d s: %llu requests in %llu batches (%.1f each), "
                   "%.0f us running each; %llu commits, %.0f us each",
                   S_STATS_MS / 1000,
                   (unsigned long long) st.requests,
                   (unsigned long long) st.batches,
                   (double) st.requests / (double) st.batches,
                   (double) st.exec_us / (double) st.batches,
                   (unsigned long long) st.commits,
                   st.commits ? (double) st.commit_us / (double) st.commits : 0.0);
    s_report_store (self);
    self->stats_at = now + S_STATS_MS;
}

//  Purge what retention allows (one bounded call per pass, so a long
//  backlog of expired jobs never holds up requests). Write the pending
//  sent marks, which otherwise wait for a pass that writes: at most one
//  commit a second, and a restart does not repeat a quiet worker's last
//  events.
static void
s_housekeeping (kvp_worker_t *self, int64_t now)
{
    uint64_t before = (uint64_t) zclock_time ()
                    - self->config->retention_s * 1000;
    size_t purged = 0;
    int rc = kvp_store_purge (self->store, before, S_PURGE_MAX, &purged);
    if (rc)
        zsys_warning ("purge failed: %s", kvp_store_strerror (rc));
    else
    if (purged)
        KVP_DEBUG ("purged %zu jobs", purged);
    bool more = purged == S_PURGE_MAX;
    if (!more && (rc = kvp_batch_flush (self->batch)))
        zsys_warning ("cannot write sent marks: %s", kvp_store_strerror (rc));
    self->tick_at = more ? now : now + S_TICK_MS;
    s_report (self, now);
}

//  Fire the timers that are due.
static void
s_timers (kvp_worker_t *self, int64_t now)
{
    kvp_notify_alive (now);
    if (now >= self->tick_at)
        s_housekeeping (self, now);
    if (self->metrics && now >= self->metrics_at) {
        kvp_wmetrics_publish (self->metrics, self->store, self->owned_count);
        self->metrics_at = now + S_METRICS_MS;
    }
    //  After a long pass the broker's heartbeats may be waiting unread:
    //  read them before calling the broker gone.
    if (now >= self->expiry && !(zsock_events (self->dealer) & ZMQ_POLLIN))
        s_reconnect (self, self->state == S_READY ? "broker silent"
                                                  : "no WELCOME");
    else
    if (self->state == S_UNREGISTERED && self->register_at
    &&  now >= self->register_at)
        s_register (self);
    else
    if (self->state == S_READY && now >= self->send_at)
        s_send_command (self, KVP_W_HEARTBEAT);
}

//  Milliseconds until the next timer.
static int64_t
s_timeout (kvp_worker_t *self, int64_t now)
{
    int64_t next = self->tick_at < self->expiry ? self->tick_at : self->expiry;
    if (self->metrics && self->metrics_at < next)
        next = self->metrics_at;
    if (kvp_notify_due () < next)
        next = kvp_notify_due ();
    if (self->state == S_READY && self->send_at < next)
        next = self->send_at;
    if (self->state == S_UNREGISTERED && self->register_at
    &&  self->register_at < next)
        next = self->register_at;
    return next > now ? next - now : 0;
}

//  --- Life cycle ------------------------------------------------------------------

//  --- Replication's hooks ------------------------------------------------------

static bool
s_repl_send (void *arg, const void **data, const size_t *sizes, int count)
{
    return s_send ((kvp_worker_t *) arg, data, sizes, count);
}

//  A reply held for the in-sync set may go, with its event.
static void
s_release (void *arg, const kvp_held_t *held)
{
    kvp_worker_t *self = (kvp_worker_t *) arg;
    const void *data [] = { KVP_W_REPLY, held->tag, held->reply };
    size_t sizes [] = { strlen (KVP_W_REPLY), 8, held->reply_size };
    s_send (self, data, sizes, 3);
    if (self->metrics)
        kvp_wmetrics_reply (self->metrics, (kvp_op_t) held->op, held->reply,
                            held->reply_size,
                            (double) (zclock_usecs () - held->received_us)
                            / 1e6);
    if (held->topic) {
        kvp_events_publish (self->events, held->topic, held->topic_len,
                            held->event, held->event_size);
        kvp_batch_sent (self->batch, held->part, held->seq);
        if (self->metrics)
            kvp_wmetrics_event (self->metrics);
    }
}

//  A new leader's events past the ones published, now committed.
static void
s_tail (void *arg, uint32_t part)
{
    kvp_worker_t *self = (kvp_worker_t *) arg;
    size_t count = 0;
    int rc = kvp_events_backlog_part (self->events, self->store, self->batch,
                                      part, &count);
    if (rc)
        zsys_error ("partition %u: cannot read unsent events: %s", part,
                    kvp_store_strerror (rc));
    else
    if (count)
        zsys_notice ("partition %u: published %zu events its last leader "
                     "had not", part, count);
}

//  --curve-secret and --broker-public: both or neither; a bad key file is
//  the command line's fault (exit 2).
static bool
s_open_curve (kvp_worker_t *self, int *status)
{
    const kvp_config_t *config = self->config;
    if (!config->curve_secret && !config->broker_public)
        return true;
    char error [512] = "--curve-secret and --broker-public go together";
    if (config->curve_secret && config->broker_public)
        self->curve = kvp_curve_load (config->curve_secret,
                                      config->broker_public, error,
                                      sizeof error);
    if (!self->curve) {
        zsys_error ("%s", error);
        *status = 2;
    }
    return self->curve != NULL;
}

static bool
s_open (kvp_worker_t *self, int *status)
{
    const kvp_config_t *config = self->config;
    kvp_store_config_t store_config = { .map_size = config->map_size,
        .map_max = config->map_max, .nosync = config->nosync,
        .wal_segment = config->wal_segment,
        .checkpoint_ms = (unsigned) config->checkpoint_ms,
        .checkpoint_ops = config->checkpoint_ops,
        .checkpoint_log = config->checkpoint_log,
        .backlog_max = config->backlog_max };
    if (!s_open_curve (self, status))
        return false;
    int rc = 0;
    self->store = kvp_store_new (config->data, &store_config, &rc);
    if (!self->store) {
        //  A damaged log or another layout: never served, kept as it is
        bool refused = rc == KVP_STORE_CORRUPT || rc == KVP_STORE_MISMATCH;
        zsys_error ("cannot open the store in %s: %s%s", config->data,
                    kvp_store_strerror (rc), refused
                    ? " (refusing to start; the files are left as they are"
                      " for inspection)": "");
        *status = refused ? 2 : 1;
        return false;
    }
    char error [256];
    rc = kvp_identity_load (&self->ident, self->store, config->id, error,
                            sizeof error);
    if (rc) {
        fprintf (stderr, "kvp-worker: %s\n", error);
        *status = rc == KVP_IDENTITY_CONFLICT ? 2 : 1;
        return false;
    }
    self->batch = kvp_batch_new (self->store, config->batch);
    self->repl = kvp_replicate_new (self->store, self->ident.id, s_repl_send,
                                    s_release, s_tail, self);
    if (self->batch && self->repl) {
        kvp_batch_on_commit (self->batch, kvp_replicate_harvest, self->repl);
        kvp_batch_on_fold (self->batch, kvp_replicate_fold,
                           kvp_replicate_unfold, self->repl);
    }
    self->events = kvp_events_new (config->events_in, self->curve);
    self->poller = zpoller_new (NULL);
    self->owned = (uint8_t *) calloc (KVP_PARTITIONS_MAX, 1);
    if (!self->batch || !self->repl || !self->events || !self->poller
    ||  !self->owned)
        return false;
    zpoller_add (self->poller, kvp_events_sock (self->events));
    if (config->metrics
    &&  !(self->metrics = kvp_wmetrics_new (config->metrics, error,
                                            sizeof error))) {
        zsys_error ("%s", error);
        return false;
    }
    if (self->metrics)
        zsys_notice ("metrics at http://%s/metrics", config->metrics);
    return s_connect (self);
}

kvp_worker_t *
kvp_worker_new (const kvp_config_t *config, int *status)
{
    assert (config);
    *status = 1;
    kvp_worker_t *self = (kvp_worker_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->heartbeat = (int64_t) config->heartbeat_ms;
    self->status = -1;
    msgpack_sbuffer_init (&self->buf);
    if (!s_open (self, status)) {
        kvp_worker_destroy (&self);
        return NULL;
    }
    *status = 0;
    return self;
}

void
kvp_worker_destroy (kvp_worker_t **self_p)
{
    assert (self_p);
    kvp_worker_t *self = *self_p;
    if (!self)
        return;
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->dealer);
    kvp_events_destroy (&self->events);
    kvp_wmetrics_destroy (&self->metrics);
    kvp_replicate_destroy (&self->repl);
    kvp_batch_destroy (&self->batch);
    kvp_store_destroy (&self->store);
    kvp_curve_destroy (&self->curve);
    msgpack_sbuffer_destroy (&self->buf);
    free (self->owned);
    free (self);
    *self_p = NULL;
}

const char *
kvp_worker_id (kvp_worker_t *self)
{
    return self->ident.id;
}

//  Before registering: the events committed but never published.
static void
s_backlog (kvp_worker_t *self)
{
    //  Subscriptions arrive within moments of connecting when anyone
    //  listens; the bound keeps a restart without listeners quick.
    size_t count = 0;
    int wait = self->heartbeat < S_BACKLOG_WAIT_MS ? (int) self->heartbeat
                                                   : S_BACKLOG_WAIT_MS;
    if (kvp_replicate_marked (self->store)) {
        //  A copy may hold a tail its cluster never acknowledged: each
        //  leader publishes once its epoch committed it (kvp_roles.h).
        kvp_events_wait_subscriber (self->events, S_SUBSCRIBE_WAIT_MS);
        return;
    }
    int rc = kvp_events_backlog (self->events, self->store, self->batch,
                                 wait, &count);
    if (rc)
        zsys_error ("cannot read unsent events: %s", kvp_store_strerror (rc));
    if (count)
        zsys_notice ("published %zu events left unsent", count);
    if ((rc = kvp_batch_flush (self->batch)))
        zsys_warning ("cannot write sent marks: %s", kvp_store_strerror (rc));
    //  Events published before a subscription has come through the
    //  broker's proxy are dropped by the publisher: give it a moment
    //  before taking work, so a restart does not lose its first events.
    kvp_events_wait_subscriber (self->events, S_SUBSCRIBE_WAIT_MS);
}

//  SIGTERM/SIGINT: the last pass is complete; leave cleanly.
static void
s_stop (kvp_worker_t *self)
{
    kvp_notify_stopping ();
    int rc = kvp_batch_flush (self->batch);
    if (rc)
        zsys_warning ("cannot write sent marks: %s", kvp_store_strerror (rc));
    if (self->status > 0 || !self->dealer)
        return;                 //  refused: the broker does not know us
    s_send_command (self, KVP_W_BYE);
    zsock_set_linger (self->dealer, 1000);  //  let BYE and replies out
    zsys_notice ("stopped");
}

int
kvp_worker_run (kvp_worker_t *self)
{
    s_backlog (self);
    self->tick_at = zclock_mono () + S_TICK_MS;
    s_register (self);
    while (self->status < 0 && !zsys_interrupted) {
        s_timers (self, zclock_mono ());
        if (self->status >= 0)
            break;
        void *which = zpoller_wait (self->poller,
                                    (int) s_timeout (self, zclock_mono ()));
        if (which == self->dealer)
            s_serve (self);
        else
        if (which)
            kvp_events_drain (self->events);
        else
        if (zpoller_terminated (self->poller))
            break;
    }
    s_stop (self);
    return self->status < 0 ? 0 : self->status;
}
