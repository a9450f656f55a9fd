/*  kvp_clients.c - the broker's client side: check the envelope, learn
    what routing needs from the body, answer the local ops, route the
    others to their partition's owner (assigning it on first use; a read
    by partition, GetEvents, never assigns one: the broker answers it for
    a partition that has no owner yet).

    The fast way in is the light scan (kvp_route.h): op, rid and routing
    key, read without unpacking the body, for bodies where the full decode
    is sure to agree. The owner decodes and validates every body it gets,
    so a fault elsewhere in the body still earns its own code, from the
    worker. Everything else takes the full decode (kvp_request_decode),
    and so does a body the light scan let through before the broker gives
    an answer of its own (32777, 32774, an unknown job) or assigns a
    partition: the client then gets exactly the code it got when every
    body was decoded here, by the spec's order of faults.
*/
#include "kvp_broker_priv.h"
#include "kvp_clients.h"
#include "kvp_workers.h"
#include "kvp_replicas.h"
#include "kvp_bio.h"
#include "kvp_route.h"
#include <errno.h>
#include <stdarg.h>

//  The frames of a client message: [identity][empty][KVP1][body].
enum { F_ID, F_EMPTY, F_SIG, F_BODY, F_COUNT };

//  One client message being served.
typedef struct {
    zframe_t **client_p;            //  its identity frame (taken by a reply)
    zframe_t **body_p;              //  its body (moved when routed)
    kvp_route_t route;              //  op, rid, routing key (rid.str
                                    //  borrows the body)
    bool decoded;                   //  the full decode has passed
    uint32_t part;                  //  its partition, once located
} s_msg_t;

//  --- local ops -----------------------------------------------------------

static void
s_ping (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid)
{
    kvp_bio_reply (self, client_p, rid, KVP_RC_OK, NULL);
}

static void
s_pack_parts (msgpack_packer *pk, const uint32_t *parts, size_t count)
{
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_uint32 (pk, parts [i]);
}

//  Room for the ClusterStatus group offsets of every known worker.
static bool
s_offsets_room (kvp_broker_t *self, size_t workers)
{
    if (self->offsets_size >= workers + 1)
        return true;
    size_t *grown = realloc (self->offsets, (workers + 1) * sizeof *grown);
    if (!grown)
        return false;
    self->offsets = grown;
    self->offsets_size = workers + 1;
    return true;
}

//  The partitions each known worker follows (holds a copy of without
//  leading it), from the registry: grouped by worker as kvp_owners_layout
//  groups the ones they lead, workers in name order.
typedef struct {
    uint32_t *parts;                //  every group, one after the other
    size_t *offsets;                //  W + 1: where each group starts
} s_follows_t;

//  The index of worker `name` among the `workers` known, or `workers`.
static size_t
s_worker_index (kvp_broker_t *self, size_t workers, const char *name)
{
    size_t low = 0, high = workers;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        bool alive;
        int cmp = strcmp (kvp_owners_worker (self->owners, mid, &alive),
                          name);
        if (cmp == 0)
            return mid;
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return workers;
}

//  Call `fn` for every (worker index, partition) where the worker holds
//  a copy of the partition without leading it. No work at all with one
//  copy per partition.
typedef void (s_follow_fn) (s_follows_t *follows, size_t worker,
                            uint32_t part);

static void
s_each_follow (kvp_broker_t *self, size_t workers, s_follows_t *follows,
               s_follow_fn *fn)
{
    const kvp_regstate_t *state = kvp_registry_state (self->registry);
    if (kvp_regstate_replicas (state) < 2)
        return;
    for (uint32_t part = 0; part < self->nparts; part++) {
        kvp_regpart_t copies;
        if (!kvp_regstate_partition (state, part, &copies))
            continue;
        for (size_t j = 0; j < copies.count; j++)
            if (j != copies.leader)
                fn (follows, s_worker_index (self, workers,
                                             copies.replicas [j]), part);
    }
}

static void
s_count_follow (s_follows_t *follows, size_t worker, uint32_t part)
{
    follows->offsets [worker + 1]++;
}

//  offsets [worker] serves as the group's cursor while filling.
static void
s_fill_follow (s_follows_t *follows, size_t worker, uint32_t part)
{
    follows->parts [follows->offsets [worker]++] = part;
}

//  Fill *follows (the caller frees both arrays); false when out of memory.
static bool
s_follows_layout (kvp_broker_t *self, size_t workers, s_follows_t *follows)
{
    //  One more group than workers: copies on a name the owners table
    //  does not know, which are counted and never shown.
    follows->offsets = calloc (workers + 2, sizeof *follows->offsets);
    if (!follows->offsets)
        return false;
    s_each_follow (self, workers, follows, s_count_follow);
    for (size_t i = 1; i <= workers + 1; i++)
        follows->offsets [i] += follows->offsets [i - 1];
    size_t total = follows->offsets [workers + 1];
    follows->parts = malloc ((total ? total : 1) * sizeof *follows->parts);
    if (!follows->parts)
        return false;
    s_each_follow (self, workers, follows, s_fill_follow);
    //  The cursors ended at the next group's start: shift them back
    for (size_t i = workers + 1; i > 0; i--)
        follows->offsets [i] = follows->offsets [i - 1];
    follows->offsets [0] = 0;
    return true;
}

//  One worker of ClusterStatus: {id, alive, partitions, follows}.
static void
s_pack_worker (kvp_broker_t *self, msgpack_packer *pk, size_t index,
               const s_follows_t *follows)
{
    bool alive;
    const char *name = kvp_owners_worker (self->owners, index, &alive);
    const size_t *at = self->offsets;
    msgpack_pack_map (pk, 4);
    kvp_pack_cstr (pk, "id");
    kvp_pack_cstr (pk, name);
    kvp_pack_cstr (pk, "alive");
    if (alive)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    kvp_pack_cstr (pk, "partitions");
    s_pack_parts (pk, self->scratch + at [index], at [index + 1] - at [index]);
    kvp_pack_cstr (pk, "follows");
    at = follows->offsets;
    s_pack_parts (pk, follows->parts + at [index],
                  at [index + 1] - at [index]);
}

static void
s_pack_status (kvp_broker_t *self, msgpack_packer *pk, size_t workers,
               const s_follows_t *follows)
{
    const kvp_regstate_t *state = kvp_registry_state (self->registry);
    kvp_pack_cstr (pk, "partitions");
    msgpack_pack_uint32 (pk, self->nparts);
    kvp_pack_cstr (pk, "replicas");
    msgpack_pack_uint32 (pk, kvp_regstate_replicas (state));
    kvp_pack_cstr (pk, "min_insync");
    msgpack_pack_uint32 (pk, kvp_regstate_min_insync (state));
    kvp_pack_cstr (pk, "workers");
    msgpack_pack_array (pk, workers);
    for (size_t i = 0; i < workers; i++)
        s_pack_worker (self, pk, i, follows);
    kvp_pack_cstr (pk, "unowned");
    size_t unowned = self->offsets [workers];
    s_pack_parts (pk, self->scratch + unowned, self->nparts - unowned);
}

static void
s_cluster_status (kvp_broker_t *self, zframe_t **client_p,
                  const kvp_rid_t *rid)
{
    size_t known = kvp_owners_workers (self->owners);
    s_follows_t follows = { NULL, NULL };
    if (!s_offsets_room (self, known)
    ||  !s_follows_layout (self, known, &follows)) {
        free (follows.parts);
        free (follows.offsets);
        kvp_bio_reply (self, client_p, rid, KVP_RC_IN_USE,
                       "broker out of memory");
        return;
    }
    size_t workers = kvp_owners_layout (self->owners, self->scratch,
                                        self->offsets);
    msgpack_packer pk;
    kvp_pack_start (&pk, &self->buf);
    kvp_reply_begin (&pk, rid, KVP_RC_OK, NULL, 5);
    s_pack_status (self, &pk, workers, &follows);
    free (follows.parts);
    free (follows.offsets);
    kvp_bio_send_buf (self, client_p);
}

//  The code for a registry commit that failed: 32778 when the registry
//  is full, else 32777 (the broker cannot record the decision now).
static unsigned
s_commit_rc (int rc)
{
    return rc == KVP_STORE_FULL ? KVP_RC_OUT_OF_MEMORY : KVP_RC_NOT_AVAILABLE;
}

//  RetireWorker {id}: commit a RETIRE decision, then act on it. A worker
//  the registry does not know is an invalid parameter (32773, as an
//  unknown system is); one retired already is in the wrong state for it
//  (32775). Either changes nothing.
static void
s_retire_worker (kvp_broker_t *self, zframe_t **client_p,
                 const kvp_rid_t *rid)
{
    size_t len;
    const char *id = kvp_request_worker (self->request, &len);
    char name [KVP_WORKER_ID_MAX + 1];
    snprintf (name, sizeof name, "%.*s", (int) len, id);
    const kvp_regstate_t *state = kvp_registry_state (self->registry);
    if (!kvp_regstate_known (state, name)) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_INVALID_PARAM,
                       "id: unknown worker %s", name);
        return;
    }
    if (kvp_regstate_retired (state, name)) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_INVALID_STATE,
                       "id: worker %s is retired already", name);
        return;
    }
    kvp_decision_t record = { .type = KVP_DECISION_RETIRE, .worker = name };
    char why [256];
    int rc = kvp_registry_apply (self->registry, &record, why, sizeof why);
    if (rc) {
        zsys_error ("%s: cannot retire worker %s: %s (%s)", self->logid,
                    name, kvp_store_strerror (rc), why);
        kvp_bio_reply (self, client_p, rid, s_commit_rc (rc),
                       "cannot record the retirement of %s: %s", name,
                       kvp_store_strerror (rc));
        return;
    }
    kvp_replicas_retired (self, name);
    kvp_bio_reply (self, client_p, rid, KVP_RC_OK, NULL);
}

typedef void (s_local_fn) (kvp_broker_t *self, zframe_t **client_p,
                           const kvp_rid_t *rid);

//  The ops the broker answers itself (routed KVP_BY_BROKER), by op.
static s_local_fn *const s_local [KVP_OP_COUNT] = {
    [KVP_OP_PING] = s_ping,
    [KVP_OP_CLUSTER_STATUS] = s_cluster_status,
    [KVP_OP_RETIRE_WORKER] = s_retire_worker,
};

bool
kvp_broker_answers (kvp_op_t op)
{
    return (unsigned) op < KVP_OP_COUNT && s_local [op] != NULL;
}

//  --- the full decode -------------------------------------------------------

//  Decode and validate the whole body. Returns false, with the client
//  answered the fault's code, if the body has one.
static bool
s_decode (kvp_broker_t *self, s_msg_t *msg)
{
    zframe_t *body = *msg->body_p;
    int rc = kvp_request_decode (self->request, zframe_data (body),
                                 zframe_size (body));
    if (rc != KVP_RC_OK) {
        if (rc == KVP_RC_ACCESS_DENIED)
            kvp_bio_warn (self, "refused %s",
                          kvp_request_error (self->request));
        kvp_bio_reply (self, msg->client_p, kvp_request_rid (self->request),
                       (unsigned) rc, "%s", kvp_request_error (self->request));
        return false;
    }
    msg->decoded = true;
    return true;
}

//  The full decode of a body the light scan let through, if not done yet:
//  run before the broker answers or assigns anything itself.
static bool
s_validate (kvp_broker_t *self, s_msg_t *msg)
{
    return msg->decoded || s_decode (self, msg);
}

//  Fill msg->route from the full decode of a routed op.
static void
s_route_from_request (kvp_broker_t *self, s_msg_t *msg)
{
    kvp_route_from_request (&msg->route, self->request);
    if (msg->route.make_id)
        kvp_guid_random (&msg->route.guid);     //  DefineSystem: we make it
}

//  Answer a routed message with a broker error: after the full decode,
//  whose fault (if the body has one) comes first.
static void
s_refuse (kvp_broker_t *self, s_msg_t *msg, unsigned rc,
          const char *format, ...) __attribute__ ((format (printf, 4, 5)));

static void
s_refuse (kvp_broker_t *self, s_msg_t *msg, unsigned rc,
          const char *format, ...)
{
    if (!s_validate (self, msg))
        return;
    char error [256];
    va_list args;
    va_start (args, format);
    vsnprintf (error, sizeof error, format, args);
    va_end (args);
    kvp_bio_reply (self, msg->client_p, &msg->route.rid, rc, "%s", error);
}

//  --- routing -------------------------------------------------------------

//  Set msg->part from the route. Returns false (reply sent) if it names
//  no partition we have.
static bool
s_locate (kvp_broker_t *self, s_msg_t *msg)
{
    const kvp_route_t *route = &msg->route;
    msg->part = kvp_route_partition (route, self->nparts);
    if (msg->part != KVP_ROUTE_NONE)
        return true;
    if (kvp_op_route (route->op) == KVP_BY_PARTITION)
        s_refuse (self, msg, KVP_RC_INVALID_PARAM, "partition: %" PRIu64
                  " is not below the %u partitions of this cluster",
                  route->partition, self->nparts);
    else
        s_refuse (self, msg, KVP_RC_INVALID_PARAM, "unknown job");
    return false;
}

//  GetEvents of a partition never assigned: it has no events, and it
//  stays unassigned (spec section 10).
static void
s_events_unassigned (kvp_broker_t *self, s_msg_t *msg)
{
    if (!s_validate (self, msg))
        return;
    uint64_t from;
    kvp_request_events (self->request, NULL, &from, NULL);
    kvp_events_page_t page = { msg->part, 1, 0, from };
    kvp_reply_events (&self->buf, &msg->route.rid, &page, 0, NULL, 0);
    kvp_bio_send_buf (self, msg->client_p);
}

//  Give the unowned partition to a live worker and tell it. Returns its
//  session, or NULL with the client answered. Only a body that passes the
//  full decode gets a partition assigned, as ever.
static kvp_session_t *
s_assign (kvp_broker_t *self, s_msg_t *msg)
{
    if (!s_validate (self, msg))
        return NULL;
    uint32_t part = msg->part;
    const char *owner;
    int rc;
    bool copies = kvp_replicas_on (self);
    kvp_session_t *session = copies
        ? kvp_replicas_place (self, part, &owner, &rc)
        : kvp_owners_assign (self->owners, part, &owner, &rc);
    if (!session) {
        if (rc) {
            zsys_error ("%s: cannot record the owner of partition %u: %s",
                        self->logid, part, kvp_store_strerror (rc));
            s_refuse (self, msg, KVP_RC_NOT_AVAILABLE,
                      "partition %u: cannot record its owner", part);
        }
        else
            s_refuse (self, msg, KVP_RC_NOT_AVAILABLE, "no live worker");
        return NULL;
    }
    zsys_info ("%s: partition %u assigned to %s", self->logid, part, owner);
    //  ASSIGN goes before the REQUEST on the same socket, so the worker
    //  knows the partition is its own when the request arrives. A worker
    //  that cannot take it (gone, or its queue full) is expired: it learns
    //  the partition from the WELCOME when it registers again.
    if (!copies && kvp_broker_send_assign (self, session, part) != 0) {
        kvp_broker_worker_gone (self, session);
        s_refuse (self, msg, KVP_RC_NOT_AVAILABLE,
                  "partition %u: worker %s is down", part, owner);
        return NULL;
    }
    return session;
}

//  The live owner of the partition, or NULL with the client answered.
static kvp_session_t *
s_owner (kvp_broker_t *self, s_msg_t *msg)
{
    const char *owner;
    kvp_session_t *session = kvp_owners_route (self->owners, msg->part,
                                               &owner);
    if (!owner && kvp_op_route (msg->route.op) == KVP_BY_PARTITION) {
        s_events_unassigned (self, msg);
        return NULL;
    }
    if (!owner)
        return s_assign (self, msg);
    if (!session) {
        s_refuse (self, msg, KVP_RC_NOT_AVAILABLE,
                  "partition %u: worker %s is down", msg->part, owner);
        return NULL;
    }
    if (kvp_session_inflight (session) >= self->config.queue_limit
    ||  kvp_session_inflight_bytes (session) + zframe_size (*msg->body_p)
        > self->config.queue_bytes) {
        s_refuse (self, msg, KVP_RC_IN_USE,
                  "worker %s is over its queue limit", owner);
        return NULL;
    }
    return session;
}

//  Remember the request (counted in flight for its client, which may be
//  at its bound: then 32774) and send it on; the body frame is moved.
static void
s_dispatch (kvp_broker_t *self, s_msg_t *msg, kvp_session_t *session)
{
    const kvp_route_t *route = &msg->route;
    kvp_peer_t *peer = kvp_peers_route_begin (self->peers, *msg->client_p);
    if (!peer) {
        s_refuse (self, msg, KVP_RC_IN_USE, "this client has %llu requests "
                  "in flight, the most it may have; retry later",
                  (unsigned long long) self->config.client_inflight);
        return;
    }
    kvp_flight_t *entry = kvp_inflight_add (
        self->inflight, msg->client_p, &route->rid, session,
        self->now + (int64_t) self->config.deadline_ms);
    if (!entry) {
        kvp_peers_route_end (self->peers, peer);
        s_refuse (self, msg, KVP_RC_IN_USE, "broker out of memory");
        return;
    }
    entry->peer = peer;
    entry->op = route->op;
    entry->bytes = zframe_size (*msg->body_p);
    int rc = kvp_broker_send_request (self, session, entry->tag, msg->part,
                                      route->has_guid ? &route->guid : NULL,
                                      msg->body_p);
    if (rc == 0) {
        if (self->metrics)
            entry->sent_us = zclock_usecs ();
        kvp_session_inflight_add (session, 1, entry->bytes);
        self->routed++;
        self->light += !msg->decoded;
        return;
    }
    //  Not sent, and the body is still ours (a send fails on its first
    //  frame): the outcome is known (nothing happened), so say why.
    entry = kvp_inflight_take (self->inflight, entry->tag);
    *msg->client_p = entry->client;
    entry->client = NULL;
    kvp_inflight_release (self->inflight, &entry);
    kvp_peers_route_end (self->peers, peer);
    const char *name = kvp_session_name (session);
    if (rc == EHOSTUNREACH) {
        s_refuse (self, msg, KVP_RC_NOT_AVAILABLE,
                  "partition %u: worker %s is down", msg->part, name);
        kvp_broker_worker_gone (self, session);
    }
    else
        s_refuse (self, msg, KVP_RC_IN_USE,
                  "worker %s cannot take more requests", name);
}

static void
s_route (kvp_broker_t *self, s_msg_t *msg)
{
    if (self->metrics)
        kvp_bmetrics_request (self->metrics, msg->route.op);
    if (!s_locate (self, msg))
        return;
    kvp_session_t *session = s_owner (self, msg);
    if (session)
        s_dispatch (self, msg, session);
}

//  --- one message ---------------------------------------------------------

//  Why the envelope is not [identity][empty]["KVP1"][body], or NULL.
static const char *
s_envelope_fault (zframe_t **frames, size_t total)
{
    if (total != F_COUNT)
        return "malformed message: expected [empty][KVP1][body]";
    if (zframe_size (frames [F_EMPTY]) != 0)
        return "malformed message: no empty delimiter frame";
    if (zframe_size (frames [F_SIG]) != KVP_BIO_SIG_LEN
    ||  memcmp (zframe_data (frames [F_SIG]), KVP_BIO_SIG,
                KVP_BIO_SIG_LEN) != 0)
        return "malformed message: signature is not KVP1";
    return NULL;
}

//  The full decode's way: local ops answered here, routed ones located
//  from the decoded request.
static void
s_serve_decoded (kvp_broker_t *self, s_msg_t *msg)
{
    if (!s_decode (self, msg)) {
        if (self->metrics)
            kvp_bmetrics_request (self->metrics, KVP_OP_COUNT);
        return;
    }
    kvp_op_t op = kvp_request_op (self->request);
    const kvp_rid_t *rid = kvp_request_rid (self->request);
    if (self->metrics && kvp_op_route (op) == KVP_BY_BROKER)
        kvp_bmetrics_request (self->metrics, op);
    if (kvp_op_route (op) != KVP_BY_BROKER) {
        s_route_from_request (self, msg);
        s_route (self, msg);
    }
    else
    if (s_local [op])
        s_local [op] (self, msg->client_p, rid);
    else                            //  a table row without its handler
        kvp_bio_reply (self, msg->client_p, rid, KVP_RC_NOT_SUPPORTED,
                       "%s has no handler in the broker", kvp_op_name (op));
}

//  The role of the client that sent `body`: with CURVE on, from the
//  metadata the ZAP handler gave its connection, told to the decoder with
//  the client's name. The handler lets no client in without a known role;
//  should one lack it anyway, it may only read.
static kvp_role_t
s_access (kvp_broker_t *self, zframe_t *body)
{
    if (!self->curve)
        return KVP_ROLE_ADMIN;
    const char *name = zframe_meta (body, "User-Id");
    int found = kvp_role_lookup (zframe_meta (body, KVP_ZAP_ROLE));
    kvp_role_t role = found < 0 ? KVP_ROLE_READER : (kvp_role_t) found;
    kvp_request_set_access (self->request, role, name ? name : "?");
    return role;
}

static void
s_serve (kvp_broker_t *self, zframe_t **frames, size_t total)
{
    const char *fault = s_envelope_fault (frames, total);
    if (fault) {
        if (self->metrics)
            kvp_bmetrics_request (self->metrics, KVP_OP_COUNT);
        kvp_bio_reply (self, &frames [F_ID], NULL, KVP_RC_INVALID_PARAM,
                       "%s", fault);
        return;
    }
    s_msg_t msg = { .client_p = &frames [F_ID], .body_p = &frames [F_BODY] };
    zframe_t *body = frames [F_BODY];
    kvp_role_t role = s_access (self, body);
    //  Anything the light scan is not sure of, or that the client may not
    //  do, takes the full decode, which says why.
    if (kvp_route_scan (&msg.route, zframe_data (body), zframe_size (body))
    ||  kvp_op_role (msg.route.op) > role)
        s_serve_decoded (self, &msg);
    else
        s_route (self, &msg);
}

void
kvp_broker_clients_serve (void *arg, zframe_t **frames, size_t total)
{
    s_serve ((kvp_broker_t *) arg, frames, total);
}

//  A message read: set aside while its sender leaves its replies
//  waiting (backpressure), discarded past its bytes, else served.
static void
s_arrive (kvp_broker_t *self, zframe_t **frames, size_t total)
{
    kvp_peers_hold_t held = kvp_peers_hold (self->peers, frames, total);
    if (held == KVP_PEERS_SERVE)
        s_serve (self, frames, total);
    else
    if (held == KVP_PEERS_DISCARDED)
        kvp_bio_warn (self, "discarded a request unread: its client has "
                      "replies waiting and over --client-queue %llu bytes "
                      "held (%llu discarded so far)",
                      (unsigned long long) self->config.client_queue,
                      (unsigned long long) kvp_peers_discarded (self->peers));
}

void
kvp_broker_clients_ready (kvp_broker_t *self)
{
    kvp_bio_drain (self, self->clients_h, F_COUNT, s_arrive);
}
