/*  kvp_broker_priv.h - the broker's state, shared by its parts. Not for
    use outside broker/.

    The parts call one way only, each file calling those below it:

      kvp_broker.c    lifecycle and reactor          (kvp_broker.h)
      kvp_clients.c   the client side                (kvp_clients.h)
      kvp_workers.c   the worker side                (kvp_workers.h)
      kvp_replicas.c  replication's controller       (kvp_replicas.h)
      kvp_bio.c       socket and log helpers         (kvp_bio.h)

    kvp_broker.c also calls kvp_workers.c and kvp_bio.c directly, and
    kvp_clients.c calls kvp_replicas.c (placement, retirement). This
    header holds data only (the struct and a logging macro), so any part
    may include it.
*/
#ifndef KVP_BROKER_PRIV_H_INCLUDED
#define KVP_BROKER_PRIV_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include "kvp_broker.h"
#include "kvp_bmetrics.h"
#include "kvp_curve.h"
#include "kvp_zap.h"
#include "kvp_conns.h"
#include "kvp_proxy.h"
#include "kvp_inflight.h"
#include "kvp_peers.h"
#include "kvp_owners.h"
#include "kvp_session.h"
#include "kvp_trim.h"
#include "kvp_registry.h"
#include "kvp_request.h"
#include "kvp_reply.h"
#include "kvp_wire.h"
#include "kvp_guid.h"
#include "kvp_rc.h"
#include "kvp_log.h"

struct _kvp_broker_t {
    kvp_bconfig_t config;           /* the command line */
    char logid [48];                /* "kvp-broker[pid]" on every line */
    int64_t now;                    /* monotonic ms, once per loop pass */

    kvp_registry_t *registry;       /* ownership on disk */
    kvp_owners_t *owners;           /* ownership in memory, liveness */
    struct kvp_rparts_t *rparts;    /* replication's positions (R > 1) */
    kvp_inflight_t *inflight;       /* routed requests awaiting a reply */
    kvp_peers_t *peers;             /* clients: in flight, replies waiting */
    kvp_proxy_t *events;            /* the XSUB -> XPUB proxy thread */
    uint32_t nparts;                /* N */

    zsock_t *clients;               /* ROUTER for clients */
    zsock_t *workers;               /* ROUTER for workers (mandatory) */
    void *clients_h;                /* their libzmq handles */
    void *workers_h;
    zhashx_t *sessions;             /* routing id -> kvp_session_t */
    kvp_conns_budget_t budget;      /* client and subscriber connections */
    kvp_conns_budget_t workers_budget;  /* worker connections: no cap */
    kvp_conns_t *clients_conns;     /* their monitors */
    kvp_conns_t *workers_conns;
    uint64_t trimmed;               /* peers gone at the last look */
    kvp_trim_t *trim;               /* malloc_trim, off the reactor */

    kvp_request_t *request;         /* the reusable decoder */
    msgpack_sbuffer buf;            /* replies and maps we encode */
    uint32_t *scratch;              /* N entries: partition lists */
    size_t *offsets;                /* ClusterStatus groups */
    size_t offsets_size;            /* entries in offsets */

    kvp_register_t reg;             /* the REGISTER being handled */
    char refusal [256];             /* why it is refused */
    int64_t heartbeat_at;           /* next heartbeat tick, monotonic ms */
    int64_t silence_ms;             /* liveness * heartbeat */
    kvp_log_limit_t warnings;       /* kvp_bio_warn: one a second */
    bool draining;                  /* interrupted: no more clients */
    int64_t drain_until;            /* then: replies waiting go until */
    kvp_bmetrics_t *metrics;        /* --metrics, or NULL */
    kvp_curve_t *curve;             /* --curve-secret, or NULL: plain */
    kvp_zap_t *zap;                 /* who may connect, when secured */
    int64_t metrics_at;             /* next metrics snapshot, mono ms */

    uint64_t routed;                /* counters, logged at exit */
    uint64_t light;                 /* routed without the full decode */
    uint64_t answered;
    uint64_t timeouts;
    uint64_t lost;
};

/*  A debug line, formatted only when debug lines are written. */
#define KVP_BROKER_DEBUG(self, ...) KVP_DEBUG (__VA_ARGS__)

#endif
