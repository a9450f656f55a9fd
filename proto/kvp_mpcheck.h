/*  kvp_mpcheck.h - a validating pre-scan of msgpack bytes (internal to
    proto/).

    msgpack-c trusts declared lengths: an array header claiming 2^32
    elements makes it reserve memory for them before it finds the bytes
    missing, and deep nesting costs stack. Every decoder in proto/ runs
    this scan first, so that only well-formed, shallow, exactly-sized
    input ever reaches msgpack_unpack. One pass, no allocation.
    Leaf module: no dependencies.
*/
#ifndef KVP_MPCHECK_H_INCLUDED
#define KVP_MPCHECK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_MPCHECK_DEPTH   8       /* deepest container nesting accepted */

/*  Check that `len` bytes at `data` hold exactly one msgpack object, with
    containers nested at most `max_depth` (<= KVP_MPCHECK_DEPTH) levels,
    every declared length within the bytes that remain, no reserved type
    byte (0xc1) and nothing after the object. Returns NULL when the bytes
    are fine, else a static text saying why not. */
const char *
    kvp_mpcheck_scan (const void *data, size_t len, unsigned max_depth);

/*  The big-endian unsigned number in the `bytes` (1..8) bytes at `p`: how
    msgpack writes its lengths and integers. */
uint64_t
    kvp_mpcheck_be (const uint8_t *p, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
