/*  fuzz_route.c - libFuzzer target for the broker's light routing scan.
    The scan must never read out of bounds, and whenever it accepts a body
    that the full decoder also accepts, both must agree on op, rid and the
    routing key and so on the partition: the broker routes on the scan
    alone. */
#include <stdint.h>
#include <string.h>
#include "kvp_route.h"
#include "kvp_request.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static kvp_request_t *s_request;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_request)
        s_request = kvp_request_new ();
    kvp_route_t route;
    if (kvp_route_scan (&route, data, size) != NULL)
        return 0;
    if (kvp_request_decode (s_request, data, size) != 0)
        return 0;           //  another field's fault: the worker says so
    CHECK (kvp_request_op (s_request) == route.op);
    const kvp_rid_t *rid = kvp_request_rid (s_request);
    CHECK (rid->type == route.rid.type);
    if (rid->type == KVP_RID_UINT)
        CHECK (rid->uint == route.rid.uint);
    if (rid->type == KVP_RID_STR)
        CHECK (rid->len == route.rid.len
               && memcmp (rid->str, route.rid.str, rid->len) == 0);
    if (route.has_guid) {
        const kvp_guid_t *target = kvp_request_target (s_request);
        CHECK (target && strcmp (target->text, route.guid.text) == 0);
    }
    //  The decoded request names the same partition, whatever N is.
    kvp_route_t decoded;
    kvp_route_from_request (&decoded, s_request);
    for (uint32_t nparts = 1; nparts <= 65536; nparts *= 16)
        CHECK (kvp_route_partition (&decoded, nparts)
            == kvp_route_partition (&route, nparts));
    return 0;
}
