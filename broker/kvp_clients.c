/*  kvp_clients.c - the broker's client side: check the envelope, decode
    the body, answer the local ops, route the others to their partition's
    owner (assigning it on first use).
*/
#include "kvp_broker_priv.h"
#include "kvp_clients.h"
#include "kvp_workers.h"
#include "kvp_bio.h"
#include <errno.h>

//  The frames of a client message: [identity][empty][KVP1][body].
enum { F_ID, F_EMPTY, F_SIG, F_BODY, F_COUNT };

//  Where a routed request goes: its partition and the guid frame.
typedef struct {
    uint32_t part;
    kvp_guid_t guid;
    bool has_guid;                  //  false for GetJob: empty guid frame
} s_route_t;

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

//  One worker of ClusterStatus: {id, alive, partitions}.
static void
s_pack_worker (kvp_broker_t *self, msgpack_packer *pk, size_t index)
{
    bool alive;
    const char *name = kvp_owners_worker (self->owners, index, &alive);
    const size_t *at = self->offsets;
    msgpack_pack_map (pk, 3);
    kvp_pack_cstr (pk, "id");
    kvp_pack_cstr (pk, name);
    kvp_pack_cstr (pk, "alive");
    if (alive)
        msgpack_pack_true (pk);
    else
        msgpack_pack_false (pk);
    kvp_pack_cstr (pk, "partitions");
    s_pack_parts (pk, self->scratch + at [index], at [index + 1] - at [index]);
}

static void
s_cluster_status (kvp_broker_t *self, zframe_t **client_p,
                  const kvp_rid_t *rid)
{
    if (!s_offsets_room (self, kvp_owners_workers (self->owners))) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_IN_USE,
                       "broker out of memory");
        return;
    }
    size_t workers = kvp_owners_layout (self->owners, self->scratch,
                                        self->offsets);
    msgpack_packer pk;
    msgpack_sbuffer_clear (&self->buf);
    msgpack_packer_init (&pk, &self->buf, msgpack_sbuffer_write);
    kvp_reply_begin (&pk, rid, KVP_RC_OK, NULL, 3);
    kvp_pack_cstr (&pk, "partitions");
    msgpack_pack_uint32 (&pk, self->nparts);
    kvp_pack_cstr (&pk, "workers");
    msgpack_pack_array (&pk, workers);
    for (size_t i = 0; i < workers; i++)
        s_pack_worker (self, &pk, i);
    kvp_pack_cstr (&pk, "unowned");
    size_t unowned = self->offsets [workers];
    s_pack_parts (&pk, self->scratch + unowned, self->nparts - unowned);
    kvp_bio_send_buf (self, client_p);
}

typedef void (s_local_fn) (kvp_broker_t *self, zframe_t **client_p,
                           const kvp_rid_t *rid);

//  The ops the broker answers itself (KVP_OPF_LOCAL), by op.
static s_local_fn *const s_local [KVP_OP_COUNT] = {
    [KVP_OP_PING] = s_ping,
    [KVP_OP_CLUSTER_STATUS] = s_cluster_status,
};

//  --- routing -------------------------------------------------------------

//  Fill `route` from the decoded request. Returns false (reply sent) if it
//  names no partition we have.
static bool
s_locate (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid,
          unsigned flags, s_route_t *route)
{
    kvp_request_t *req = self->request;
    if (flags & KVP_OPF_JOB) {
        uint32_t epoch;
        uint64_t seq;
        kvp_request_job_parts (req, &route->part, &epoch, &seq);
        route->has_guid = false;
        if (route->part < self->nparts)
            return true;
        kvp_bio_reply (self, client_p, rid, KVP_RC_INVALID_PARAM,
                       "unknown job");
        return false;
    }
    const kvp_guid_t *target = kvp_request_target (req);
    if (!target) {                  //  a routed op must name its target
        kvp_bio_reply (self, client_p, rid, KVP_RC_INVALID_PARAM,
                       "missing target");
        return false;
    }
    if ((flags & KVP_OPF_ID) && !kvp_request_has_id (req))
        kvp_guid_random (&route->guid);
    else
        route->guid = *target;
    route->has_guid = true;
    route->part = kvp_guid_partition (&route->guid, self->nparts);
    return true;
}

//  Give the unowned partition to a live worker and tell it. Returns its
//  session, or NULL with the client answered.
static kvp_session_t *
s_assign (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid,
          uint32_t part)
{
    const char *owner;
    int rc;
    kvp_session_t *session = kvp_owners_assign (self->owners, part, &owner,
                                                &rc);
    if (!session) {
        if (rc)
            zsys_error ("%s: cannot record the owner of partition %u: %s",
                        self->logid, part, kvp_store_strerror (rc));
        kvp_bio_reply (self, client_p, rid, KVP_RC_NOT_AVAILABLE,
                       rc ? "partition %u: cannot record its owner"
                             : "no live worker", part);
        return NULL;
    }
    zsys_info ("%s: partition %u assigned to %s", self->logid, part, owner);
    //  ASSIGN goes before the REQUEST on the same socket, so the worker
    //  knows the partition is its own when the request arrives. A worker
    //  that cannot take it (gone, or its queue full) is expired: it learns
    //  the partition from the WELCOME when it registers again.
    if (kvp_broker_send_assign (self, session, part) != 0) {
        kvp_broker_worker_gone (self, session);
        kvp_bio_reply (self, client_p, rid, KVP_RC_NOT_AVAILABLE,
                       "partition %u: worker %s is down", part, owner);
        return NULL;
    }
    return session;
}

//  The live owner of the partition, or NULL with the client answered.
static kvp_session_t *
s_owner (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid,
         uint32_t part)
{
    const char *owner;
    kvp_session_t *session = kvp_owners_route (self->owners, part, &owner);
    if (!owner)
        return s_assign (self, client_p, rid, part);
    if (!session) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_NOT_AVAILABLE,
                       "partition %u: worker %s is down", part, owner);
        return NULL;
    }
    if (kvp_session_inflight (session) >= self->config.queue_limit) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_IN_USE,
                       "worker %s is over its queue limit", owner);
        return NULL;
    }
    return session;
}

//  Remember the request and send it on; the body frame is moved.
static void
s_dispatch (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid,
            kvp_session_t *session, const s_route_t *route,
            zframe_t **body_p)
{
    kvp_flight_t *entry = kvp_inflight_add (
        self->inflight, client_p, rid, session,
        self->now + (int64_t) self->config.deadline_ms);
    if (!entry) {
        kvp_bio_reply (self, client_p, rid, KVP_RC_IN_USE,
                       "broker out of memory");
        return;
    }
    int rc = kvp_broker_send_request (self, session, entry->tag, route->part,
                                      route->has_guid ? &route->guid : NULL,
                                      body_p);
    if (rc == 0) {
        kvp_session_inflight_add (session, 1);
        self->routed++;
        return;
    }
    //  Not sent: the outcome is known (nothing happened), so say why.
    entry = kvp_inflight_take (self->inflight, entry->tag);
    const char *name = kvp_session_name (session);
    if (rc == EHOSTUNREACH) {
        kvp_bio_reply (self, &entry->client, &entry->rid,
                       KVP_RC_NOT_AVAILABLE,
                       "partition %u: worker %s is down", route->part,
                       name);
        kvp_broker_worker_gone (self, session);
    }
    else
        kvp_bio_reply (self, &entry->client, &entry->rid, KVP_RC_IN_USE,
                       "worker %s cannot take more requests", name);
    kvp_inflight_release (self->inflight, &entry);
}

static void
s_route (kvp_broker_t *self, zframe_t **client_p, const kvp_rid_t *rid,
         unsigned flags, zframe_t **body_p)
{
    s_route_t route;
    if (!s_locate (self, client_p, rid, flags, &route))
        return;
    kvp_session_t *session = s_owner (self, client_p, rid, route.part);
    if (session)
        s_dispatch (self, client_p, rid, session, &route, body_p);
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

static void
s_serve (kvp_broker_t *self, zframe_t **frames, size_t total)
{
    const char *fault = s_envelope_fault (frames, total);
    if (fault) {
        kvp_bio_reply (self, &frames [F_ID], NULL, KVP_RC_INVALID_PARAM,
                       "%s", fault);
        return;
    }
    zframe_t *body = frames [F_BODY];
    int rc = kvp_request_decode (self->request, zframe_data (body),
                                 zframe_size (body));
    const kvp_rid_t *rid = kvp_request_rid (self->request);
    if (rc != KVP_RC_OK) {
        kvp_bio_reply (self, &frames [F_ID], rid, (unsigned) rc, "%s",
                       kvp_request_error (self->request));
        return;
    }
    kvp_op_t op = kvp_request_op (self->request);
    unsigned flags = kvp_op_flags (op);
    if (flags & KVP_OPF_LOCAL) {
        assert (s_local [op]);
        s_local [op] (self, &frames [F_ID], rid);
    }
    else
        s_route (self, &frames [F_ID], rid, flags, &frames [F_BODY]);
}

void
kvp_broker_clients_ready (kvp_broker_t *self)
{
    for (int count = 0; count < KVP_BIO_BATCH; count++) {
        zframe_t *frames [F_COUNT] = { NULL };
        size_t total = kvp_bio_recv (self->clients_h, frames, F_COUNT);
        if (total == 0)
            break;
        s_serve (self, frames, total);
        //  Whatever was not moved on (identity, body) goes here.
        for (size_t i = 0; i < F_COUNT; i++)
            zframe_destroy (&frames [i]);
    }
}
