/*  kvp_exec.h - execute one request against the store (spec sections 4,
    6 and 10): the op handlers, dispatched by one constant table indexed by
    kvp_op_t.

    A request runs inside the batch the caller opened (kvp_store_begin), in
    its own nested transaction: a handler that fails undoes only its own
    writes. Everything the reply and the event need is encoded into the
    slot before the batch commits, because LMDB's pointers die at commit.
    The executor checks what needs the store (unknown system, Data
    Exchange, existing keys, idempotency keys, job ids); the request was
    validated by kvp_request_decode and its partition by the caller.

    Uses proto and store; no sockets.
*/
#ifndef KVP_EXEC_H_INCLUDED
#define KVP_EXEC_H_INCLUDED

#include <stdbool.h>
#include "kvp_request.h"
#include "kvp_slot.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_exec_t kvp_exec_t;

/*  Create an executor over `store` (borrowed: it must outlive the
    executor). Returns NULL when out of memory. */
kvp_exec_t *
    kvp_exec_new (kvp_store_t *store);

/*  Destroy an executor and null the caller's pointer; safe on NULL. */
void
    kvp_exec_destroy (kvp_exec_t **self_p);

/*  Run a READY slot inside the open batch. On return 0 the slot holds its
    reply (a success or a KVP/1 error; a store failure other than FULL is
    answered 32771) and, when it made a job, its event, topic, seq and job
    id. Returns KVP_STORE_FULL or KVP_STORE_EIO when a write failed: the
    batch is then broken, the slot's results are cleared, and the caller
    must abort the batch. */
int
    kvp_exec_run (kvp_exec_t *self, kvp_slot_t *slot);

/*  True if `op` changes the store when it succeeds (the op table's
    `writes` column, kvp_op_writes). */
bool
    kvp_exec_writes (kvp_op_t op);

/*  True if the executor has a handler for `op` (every op the op table
    routes to a worker must have one; tests/test_op.c checks). */
bool
    kvp_exec_handles (kvp_op_t op);

#ifdef __cplusplus
}
#endif
#endif
