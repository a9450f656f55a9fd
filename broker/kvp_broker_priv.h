/*  kvp_broker_priv.h - what the three parts of the broker share: the
    reactor and lifecycle (kvp_broker.c), the client side (kvp_clients.c)
    and the worker side (kvp_workers.c). Not for use outside broker/.
*/
#ifndef KVP_BROKER_PRIV_H_INCLUDED
#define KVP_BROKER_PRIV_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include "kvp_broker.h"
#include "kvp_proxy.h"
#include "kvp_inflight.h"
#include "kvp_owners.h"
#include "kvp_session.h"
#include "kvp_registry.h"
#include "kvp_request.h"
#include "kvp_reply.h"
#include "kvp_wire.h"
#include "kvp_guid.h"
#include "kvp_rc.h"

#define KVP_BROKER_SIG      "KVP1"
#define KVP_BROKER_SIG_LEN  4
#define KVP_BROKER_BATCH    256     /* messages per socket per loop pass */

struct _kvp_broker_t {
    kvp_bconfig_t config;           /* the command line */
    char logid [48];                /* "kvp-broker[pid]" on every line */
    bool verbose;                   /* debug logs on */
    int64_t now;                    /* monotonic ms, once per loop pass */

    kvp_registry_t *registry;       /* ownership on disk */
    kvp_owners_t *owners;           /* ownership in memory, liveness */
    kvp_inflight_t *inflight;       /* routed requests awaiting a reply */
    kvp_proxy_t *events;            /* the XSUB -> XPUB proxy thread */
    uint32_t nparts;                /* N */

    zsock_t *clients;               /* ROUTER for clients */
    zsock_t *workers;               /* ROUTER for workers (mandatory) */
    void *clients_h;                /* their libzmq handles */
    void *workers_h;
    zhashx_t *sessions;             /* routing id -> kvp_session_t */

    kvp_request_t *request;         /* the reusable decoder */
    msgpack_sbuffer buf;            /* replies and maps we encode */
    uint32_t *scratch;              /* N entries: partition lists */
    size_t *offsets;                /* ClusterStatus groups */
    size_t offsets_size;            /* entries in offsets */

    kvp_register_t reg;             /* the REGISTER being handled */
    char refusal [256];             /* why it is refused */
    int64_t heartbeat_at;           /* next heartbeat tick, monotonic ms */
    int64_t silence_ms;             /* liveness * heartbeat */
    int64_t warned_at;              /* last rate-limited warning */
    size_t warnings_held;           /* warnings not printed since then */
    bool draining;                  /* interrupted: no more clients */

    uint64_t routed;                /* counters, logged at exit */
    uint64_t answered;
    uint64_t timeouts;
    uint64_t lost;
};

/*  A debug line, formatted only when --verbose is on. */
#define KVP_BROKER_DEBUG(self, ...) \
    do { if ((self)->verbose) zsys_debug (__VA_ARGS__); } while (0)

/*  A warning, at most one a second (the others are counted). */
void
    kvp_broker_warn (kvp_broker_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  Send a broker-made reply {rid, rc, error} to a client, taking the
    identity frame. `format` (printf) makes the error text; NULL for none. */
void
    kvp_broker_reply (kvp_broker_t *self, zframe_t **client_p,
                      const kvp_rid_t *rid, unsigned rc,
                      const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

/*  Send the body encoded in self->buf to a client, taking the identity. */
void
    kvp_broker_send_buf (kvp_broker_t *self, zframe_t **client_p);

/*  Send a body (a worker's reply, moved) to a client, taking both frames. */
void
    kvp_broker_forward (kvp_broker_t *self, zframe_t **client_p,
                        zframe_t **body_p);

/*  Receive one whole message without blocking: up to `max` frames into
    `frames` (the caller destroys them), the rest discarded. Returns the
    total number of frames, 0 if nothing was waiting. */
size_t
    kvp_broker_recv (void *handle, zframe_t **frames, size_t max);

/*  Client side (kvp_clients.c): serve up to a batch of client messages. */
void
    kvp_broker_clients_ready (kvp_broker_t *self);

/*  Worker side (kvp_workers.c). */
/*  Serve up to a batch of worker messages. */
void
    kvp_broker_workers_ready (kvp_broker_t *self);

/*  Periodic work: heartbeats to ready workers, silent ones expired,
    forgotten sessions reaped. */
void
    kvp_broker_workers_tick (kvp_broker_t *self);

/*  Send ASSIGN {partitions: [part]} to a worker. Returns 0 or the errno
    of the failed send (EHOSTUNREACH: it is gone; EAGAIN: it is full). */
int
    kvp_broker_send_assign (kvp_broker_t *self, kvp_session_t *session,
                            uint32_t part);

/*  Send REQUEST [tag][part][guid][body] to a worker; `guid` NULL sends an
    empty guid frame. Takes *body_p only on success. Returns 0 or errno. */
int
    kvp_broker_send_request (kvp_broker_t *self, kvp_session_t *session,
                             uint64_t tag, uint32_t part,
                             const kvp_guid_t *guid, zframe_t **body_p);

/*  A worker cannot be reached any more (a send failed with EHOSTUNREACH,
    or an ASSIGN could not be queued): expire its session now. */
void
    kvp_broker_worker_gone (kvp_broker_t *self, kvp_session_t *session);

/*  Destroy every session (at the end). */
void
    kvp_broker_workers_clear (kvp_broker_t *self);

#endif
