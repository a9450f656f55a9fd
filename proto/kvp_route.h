/*  kvp_route.h - a light scan of a request body for what routing needs.

    The broker only has to learn a request's op, rid and routing key (the
    `target` GUID, DefineSystem's `id`, GetJob's `job`) to send it to the
    worker that owns its partition, and that worker decodes and validates
    the whole body anyway. kvp_route_scan reads those three fields in one
    pass over the raw msgpack, skipping every other value without unpacking
    it: no allocation, every read bounded by the length given.

    The scan is as strict about structure as the full decoder's pre-scan
    (kvp_mpcheck): exactly one object, declared lengths within the bytes,
    nesting at most KVP_MPCHECK_DEPTH, no reserved type byte. It accepts a
    body only when the full decode (kvp_request_decode) is sure to agree on
    op, rid and routing key, and can fail only on fields the worker checks
    (a fault it answers with the same code the broker would). Anything else
    - not a map, a key that is not a str, op, rid or a routing key given
    twice, a rid of another type, an unknown or local op, a missing or
    invalid routing key, DefineSystem without `id` - is refused with a
    reason, and the caller runs the full decode to get the exact KVP/1
    reply. Uses kvp_request.h (op table) and kvp_guid.h; no sockets.
*/
#ifndef KVP_ROUTE_H_INCLUDED
#define KVP_ROUTE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "kvp_request.h"
#include "kvp_guid.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  What a successful scan found. Filled only when kvp_route_scan returns
    NULL; its pointers borrow the body. */
typedef struct {
    kvp_op_t op;                /* a routed op (flags TARGET, ID or JOB) */
    kvp_rid_t rid;              /* as kvp_request_rid gives it; str borrows
                                   the body */
    bool has_guid;              /* true for TARGET and ID ops */
    kvp_guid_t guid;            /* `target` or `id`, lower-case */
    uint32_t job_partition;     /* GetJob: the parts of `job` */
    uint32_t job_epoch;
    uint64_t job_seq;
} kvp_route_t;

/*  Scan `len` bytes at `body` (may be NULL) for op, rid and routing key.
    Returns NULL with `route` filled when the request can be routed without
    the full decode; else a static text saying why not (`route` is then
    unspecified) and the caller must run kvp_request_decode. */
const char *
    kvp_route_scan (kvp_route_t *route, const void *body, size_t len);

#ifdef __cplusplus
}
#endif
#endif
