/*  kvp_op.h - the KVP/1 operations: the one table that says, per op, what
    it takes, how the broker routes it, whether it writes, and which role
    may run it.

    Every other part reads this table rather than keeping its own: the
    request decoder checks the fields an op takes (kvp_request.c), the
    light scan and the routing function pick the routing key from the
    route column (kvp_route.c), the broker answers the ops routed
    KVP_BY_BROKER and sends the others on, the worker's group commit asks
    whether an op writes, and access control (spec section 11) will ask
    for the role. A new op is one row here, its fields' checks in the
    decoder, and its handler (broker or worker); tests/test_op.c checks
    that every routed op has a worker handler and every broker op a broker
    one.

    Leaf module: no dependencies.
*/
#ifndef KVP_OP_H_INCLUDED
#define KVP_OP_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The operations, in table order. */
typedef enum {
    KVP_OP_PING,
    KVP_OP_CLUSTER_STATUS,
    KVP_OP_DEFINE_SYSTEM,
    KVP_OP_DESTROY_SYSTEM,
    KVP_OP_MODIFY_SYSTEM_SETTINGS,
    KVP_OP_ADD_KVP_ITEMS,
    KVP_OP_MODIFY_KVP_ITEMS,
    KVP_OP_REMOVE_KVP_ITEMS,
    KVP_OP_GET_KVP_ITEMS,
    KVP_OP_GET_JOB,
    KVP_OP_GET_SYSTEM,
    KVP_OP_GET_EVENTS,
    KVP_OP_RETIRE_WORKER,       /* an extension (spec section 12's retire) */
    KVP_OP_COUNT
} kvp_op_t;

/*  The top-level request keys an op may read (besides `op` and `rid`,
    which every op reads). KVP_FIELD_NONE ends an op's list. */
typedef enum {
    KVP_FIELD_NONE,
    KVP_FIELD_OP,
    KVP_FIELD_RID,
    KVP_FIELD_NAME,
    KVP_FIELD_ID,
    KVP_FIELD_TARGET,
    KVP_FIELD_DXE,              /* DataExchangeEnabled */
    KVP_FIELD_ITEMS,
    KVP_FIELD_KEY,
    KVP_FIELD_SOURCE,
    KVP_FIELD_JOB,
    KVP_FIELD_PARTITION,
    KVP_FIELD_FROM,
    KVP_FIELD_LIMIT,
    KVP_FIELD_AFTER,            /* a page's position: {Source, Name} */
    KVP_FIELD_COUNT
} kvp_field_t;

/*  How the broker finds the partition of a request. */
typedef enum {
    KVP_BY_BROKER,              /* none: the broker answers it itself */
    KVP_BY_TARGET,              /* partition (`target`) */
    KVP_BY_ID,                  /* partition (`id`); the broker makes an id
                                   when there is none */
    KVP_BY_JOB,                 /* the partition written in the `job` id */
    KVP_BY_PARTITION            /* `partition` as given */
} kvp_op_route_t;

/*  The least role that may run an op (spec section 11): each role may do
    what the ones before it may. */
typedef enum {
    KVP_ROLE_READER,
    KVP_ROLE_WRITER,
    KVP_ROLE_ADMIN
} kvp_role_t;

#define KVP_OP_FIELDS_MAX 4     /* fields one op reads, besides op and rid */

/*  One field an op reads. */
typedef struct {
    kvp_field_t field;          /* KVP_FIELD_NONE ends the list */
    bool required;              /* absent: 32773 "missing field" */
} kvp_op_field_t;

/*  One row of the table. */
typedef struct {
    const char *name;           /* as spelled on the wire */
    kvp_op_route_t route;       /* how the broker routes it */
    bool writes;                /* changes a worker's store when it
                                   succeeds (the broker's registry is not
                                   counted) */
    kvp_role_t role;            /* least role that may run it */
    kvp_op_field_t fields [KVP_OP_FIELDS_MAX];  /* what it takes, in the
                                   order the decoder checks them */
} kvp_op_info_t;

/*  The row of `op`, or NULL when op is not one (KVP_OP_COUNT and above). */
const kvp_op_info_t *
    kvp_op_info (kvp_op_t op);

/*  The op's wire name ("Unknown" for no op), and the op for a name (-1 if
    none: names are case-sensitive). */
const char *
    kvp_op_name (kvp_op_t op);
int
    kvp_op_lookup (const char *name, size_t len);

/*  Columns of the table: how op is routed (KVP_BY_BROKER for no op),
    whether it writes (false for no op), its role (KVP_ROLE_ADMIN for no
    op), and whether it reads `field`. */
kvp_op_route_t
    kvp_op_route (kvp_op_t op);
bool
    kvp_op_writes (kvp_op_t op);
kvp_role_t
    kvp_op_role (kvp_op_t op);
bool
    kvp_op_takes (kvp_op_t op, kvp_field_t field);

/*  Whether op names a system (routed by `target` or `id`), and whether it
    is an item op (reads `items`; makes a job). */
bool
    kvp_op_names_system (kvp_op_t op);
bool
    kvp_op_items (kvp_op_t op);

/*  The key of `field` as on the wire ("" for KVP_FIELD_NONE and no field),
    and the field for a key (KVP_FIELD_NONE if none). */
const char *
    kvp_field_name (kvp_field_t field);
kvp_field_t
    kvp_field_lookup (const char *key, size_t len);

/*  "reader", "writer", "admin" (spec section 11); "unknown" otherwise. */
const char *
    kvp_role_name (kvp_role_t role);

/*  The role named `name` (as kvp_role_name spells it), or -1. */
int
    kvp_role_lookup (const char *name);

#ifdef __cplusplus
}
#endif
#endif
