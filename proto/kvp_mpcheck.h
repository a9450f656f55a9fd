/*  kvp_mpcheck.h - a validating pre-scan of msgpack bytes (internal to
    proto/).

    msgpack-c trusts declared lengths: an array header claiming 2^32
    elements makes it reserve memory for them before it finds the bytes
    missing, and deep nesting costs stack. Every decoder in proto/ runs
    this scan first, so that only well-formed, shallow, exactly-sized
    input ever reaches msgpack_unpack. One pass, no allocation. The same
    walk, bounded, finds the `rid` of a body refused before it is unpacked
    (kvp_mpcheck_rid), so that even that refusal reaches the client that
    matches replies by rid. Leaf module: no dependencies.
*/
#ifndef KVP_MPCHECK_H_INCLUDED
#define KVP_MPCHECK_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_MPCHECK_DEPTH   8       /* deepest container nesting accepted */
#define KVP_MPCHECK_RID_HEADERS 8192    /* headers kvp_mpcheck_rid reads */

/*  Check that `len` bytes at `data` hold exactly one msgpack object, with
    containers nested at most `max_depth` (<= KVP_MPCHECK_DEPTH) levels,
    every declared length within the bytes that remain, no reserved type
    byte (0xc1) and nothing after the object. Returns NULL when the bytes
    are fine, else a static text saying why not. */
const char *
    kvp_mpcheck_scan (const void *data, size_t len, unsigned max_depth);

/*  Find the `rid` of a request body that is not decoded: over the size
    limit, or malformed somewhere after its start. Reads the top-level
    map's pairs in order, stepping over each key and value header by
    header (never into a str's bytes), until the first key that is the str
    "rid". True with *rid set when that key's value is an integer >= 0 (of
    any msgpack width: what msgpack-c, and so the full decoder, reads as a
    uint); false when the bytes are not a map, the first rid is of another
    type, or no rid turns up within `len` bytes, KVP_MPCHECK_RID_HEADERS
    headers and well-formed msgpack. `data` may be NULL when len is 0. */
bool
    kvp_mpcheck_rid (const void *data, size_t len, uint64_t *rid);

/*  The big-endian unsigned number in the `bytes` (1..8) bytes at `p`: how
    msgpack writes its lengths and integers. */
uint64_t
    kvp_mpcheck_be (const uint8_t *p, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
