/*  kvp_route.h - what routing needs: a request's op, rid and routing key,
    and the partition that key names.

    Which key routes an op is the op table's route column (kvp_op.h): the
    `target` GUID, DefineSystem's `id`, the partition inside GetJob's
    `job`, GetEvents' `partition`. A route is filled either by the light
    scan of a raw body (kvp_route_scan, the broker's fast way in) or from
    a decoded request (kvp_route_from_request, the broker's full decode
    and the worker); kvp_route_partition then turns either into the
    partition, the one place that does.

    The broker only has to learn a request's op, rid and routing key to
    send it to the worker that owns its partition, and that worker decodes
    and validates the whole body anyway. kvp_route_scan reads those fields
    in one pass over the raw msgpack, skipping every other value without
    unpacking it: no allocation, every read bounded by the length given.

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
    reply. Uses kvp_op.h, kvp_request.h and kvp_guid.h; no sockets.
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

/*  No partition (kvp_route_partition). */
#define KVP_ROUTE_NONE  UINT32_MAX

/*  What a scan or a decoded request says about routing. Its pointers
    borrow the body. */
typedef struct {
    kvp_op_t op;                /* the op; routed unless the table says
                                   KVP_BY_BROKER */
    kvp_rid_t rid;              /* as kvp_request_rid gives it; str borrows
                                   the body */
    bool has_guid;              /* routed by KVP_BY_TARGET or KVP_BY_ID */
    bool make_id;               /* DefineSystem without `id` (decoded
                                   requests only): guid is zeroed and the
                                   caller sets it (the broker makes one,
                                   the worker reads the one it was sent) */
    kvp_guid_t guid;            /* `target` or `id`, lower-case */
    uint64_t partition;         /* KVP_BY_JOB: the partition of `job`;
                                   KVP_BY_PARTITION: `partition` as sent */
    uint32_t job_epoch;         /* KVP_BY_JOB: the other parts of `job` */
    uint64_t job_seq;
} kvp_route_t;

/*  Scan `len` bytes at `body` (may be NULL) for op, rid and routing key.
    Returns NULL with `route` filled when the request can be routed without
    the full decode; else a static text saying why not (`route` is then
    unspecified) and the caller must run kvp_request_decode. */
const char *
    kvp_route_scan (kvp_route_t *route, const void *body, size_t len);

/*  Fill `route` from `request`, which decoded without fault (the op is
    then known and its routing key valid). */
void
    kvp_route_from_request (kvp_route_t *route, kvp_request_t *request);

/*  The partition `route` names among `nparts` partitions: from its GUID,
    or the one it carries. KVP_ROUTE_NONE when nparts is 0, the op is the
    broker's, or the partition carried is not below nparts. */
uint32_t
    kvp_route_partition (const kvp_route_t *route, uint32_t nparts);

#ifdef __cplusplus
}
#endif
#endif
