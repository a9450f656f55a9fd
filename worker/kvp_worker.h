/*  kvp_worker.h - a worker: its session with the broker and its loop.

    One reactor: a poller on the DEALER to the broker (and on the event
    publisher, which hears subscriptions), with timers for heartbeats,
    broker liveness and housekeeping (retention purge). Each pass reads at
    most --batch messages, runs the requests among them as one group commit
    (kvp_batch), then replies and publishes in order.

    Session: UNREGISTERED (REGISTER sent, waiting for WELCOME) -> READY
    (serving). A broker silent for liveness x heartbeat, or a REGISTER left
    unanswered that long, makes the worker drop its DEALER, open a new one
    and register again: that is how a broker restart is survived. A REFUSE
    whose error starts with "fatal:" stops the worker with status 2; any
    other REFUSE makes it register again.
*/
#ifndef KVP_WORKER_H_INCLUDED
#define KVP_WORKER_H_INCLUDED

#include "kvp_config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_worker_t kvp_worker_t;

/*  Open the data directory (created if missing), load or make the
    worker's identity, and connect to the broker's endpoints, as `config`
    says (borrowed: it must outlive the worker). Returns NULL on failure
    with *status set to the exit status to use (2: the directory belongs
    to another worker; 1: anything else) and the reason logged. */
kvp_worker_t *
    kvp_worker_new (const kvp_config_t *config, int *status);

/*  Close the sockets and the store, null the pointer; safe on NULL. */
void
    kvp_worker_destroy (kvp_worker_t **self_p);

/*  The worker's name (from its directory or --id). */
const char *
    kvp_worker_id (kvp_worker_t *self);

/*  Publish the events committed but not yet sent, register, and serve
    until SIGINT/SIGTERM (zsys_interrupted) or a fatal refusal. On a
    signal the pass in progress is finished (committed, answered,
    published), the sent marks are written and BYE is sent. Returns the
    exit status: 0, or 2 after a fatal refusal. */
int
    kvp_worker_run (kvp_worker_t *self);

#ifdef __cplusplus
}
#endif
#endif
