/*  kvp_broker.h - the broker: one reactor thread serving clients and
    workers, plus the event proxy thread (kvp_events).

    Clients talk KVP/1 to the ROUTER "clients" (spec sections 2-5); the
    broker answers Ping and ClusterStatus itself and routes every other op
    to the worker owning partition(target) over the ROUTER "workers"
    (proto/kvp_wire.h). Each routed request is remembered with a deadline
    until its worker replies; every request gets exactly one reply.

    The broker stops on SIGINT/SIGTERM (zsys_interrupted): it stops reading
    clients, waits for the requests in flight (answering 32772 to those
    past their deadline), then returns from kvp_broker_run.
*/
#ifndef KVP_BROKER_H_INCLUDED
#define KVP_BROKER_H_INCLUDED

#include "kvp_bconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_broker_t kvp_broker_t;

/*  Open the registry in config->data (created if missing), bind the four
    endpoints and start the event proxy. `config` is copied; its strings
    are borrowed and must outlive the broker. Returns NULL on failure with
    the reason logged and *exit_code set: 2 when the registry was made
    with another number of partitions, 1 for anything else (a port in
    use, a folder that cannot be made). */
kvp_broker_t *
    kvp_broker_new (const kvp_bconfig_t *config, int *exit_code);

/*  Stop the event proxy, close everything (answering nothing more), and
    null the pointer. Safe on NULL. */
void
    kvp_broker_destroy (kvp_broker_t **self_p);

/*  Serve until interrupted and drained. Returns 0. */
int
    kvp_broker_run (kvp_broker_t *self);

#ifdef __cplusplus
}
#endif
#endif
