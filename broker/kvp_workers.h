/*  kvp_workers.h - the broker's worker side (kvp_workers.c): sessions, the
    wire commands, heartbeats and liveness, and the sends to workers.

    Calls down into kvp_bio.c only (see kvp_broker_priv.h). Not for use
    outside broker/.
*/
#ifndef KVP_WORKERS_H_INCLUDED
#define KVP_WORKERS_H_INCLUDED

#include "kvp_broker_priv.h"

/*  Serve up to KVP_BIO_BATCH worker messages waiting on self->workers. */
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

/*  A request in flight is over (answered, expired, or lost with its
    worker): its worker and its client have one fewer in flight. Call
    after its reply is sent; the entry stays the caller's to release. */
void
    kvp_broker_flight_done (kvp_broker_t *self, kvp_flight_t *entry);

/*  Destroy every session (at the end). */
void
    kvp_broker_workers_clear (kvp_broker_t *self);

#endif
