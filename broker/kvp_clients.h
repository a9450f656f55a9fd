/*  kvp_clients.h - the broker's client side (kvp_clients.c): the envelope
    check, the ops the broker answers itself, routing to the owners.

    Calls down into kvp_workers.c and kvp_bio.c only (see
    kvp_broker_priv.h). Not for use outside broker/.
*/
#ifndef KVP_CLIENTS_H_INCLUDED
#define KVP_CLIENTS_H_INCLUDED

#include "kvp_broker_priv.h"

/*  Serve up to KVP_BIO_BATCH client messages waiting on self->clients;
    those of a client whose replies wait in self->peers are set aside
    (kvp_peers_hold). */
void
    kvp_broker_clients_ready (kvp_broker_t *self);

/*  kvp_peers_serve_fn (arg is the broker): serve one message that was set
    aside, now that its client takes its replies again. */
void
    kvp_broker_clients_serve (void *arg, zframe_t **frames, size_t total);

/*  Whether the broker has a handler for `op` (the ops the op table routes
    KVP_BY_BROKER must all have one; tests/test_op.c checks). */
bool
    kvp_broker_answers (kvp_op_t op);

#endif
