/*  fuzz_rid.c - libFuzzer target for the rid scan of bodies that are not
    decoded (kvp_mpcheck_rid), through the request decoder that uses it.
    The scan must never read out of bounds, and it must agree with the
    full decoder: a uint rid it finds is the one the decoder reports, and
    within its bound (every input here is shorter than its header budget)
    it finds the uint rid of every body whose map the decoder reads. */
#include <stdint.h>
#include "kvp_mpcheck.h"
#include "kvp_request.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static kvp_request_t *s_request;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_request)
        s_request = kvp_request_new ();
    uint64_t scanned = 0;
    bool found = kvp_mpcheck_rid (data, size, &scanned);
    kvp_request_decode (s_request, data, size);
    const kvp_rid_t *rid = kvp_request_rid (s_request);
    if (found)
        CHECK (rid->type == KVP_RID_UINT && rid->uint == scanned);
    if (size <= KVP_MPCHECK_RID_HEADERS)
        CHECK (found == (rid->type == KVP_RID_UINT));
    return 0;
}
