/*  kvp_clients.h - the broker's client side (kvp_clients.c): the envelope
    check, the ops the broker answers itself, routing to the owners.

    Calls down into kvp_workers.c and kvp_bio.c only (see
    kvp_broker_priv.h). Not for use outside broker/.
*/
#ifndef KVP_CLIENTS_H_INCLUDED
#define KVP_CLIENTS_H_INCLUDED

#include "kvp_broker_priv.h"

/*  Serve up to KVP_BIO_BATCH client messages waiting on self->clients. */
void
    kvp_broker_clients_ready (kvp_broker_t *self);

/*  Whether the broker has a handler for `op` (the ops the op table routes
    KVP_BY_BROKER must all have one; tests/test_op.c checks). */
bool
    kvp_broker_answers (kvp_op_t op);

#endif
