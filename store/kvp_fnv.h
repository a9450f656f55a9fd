/*  kvp_fnv.h - a 128-bit hash of a byte string (FNV-1a, 128-bit variant).

    The store uses it to name items whose Name is too long to fit in an
    LMDB key: the key then holds the Name's first bytes and this hash of
    the whole Name. FNV-1a 128 spreads well on text and has no known
    practical collisions for non-adversarial input; it is NOT
    cryptographic, so the store still compares the full Name it keeps in
    the record. Leaf module: no dependencies.
*/
#ifndef KVP_FNV_H_INCLUDED
#define KVP_FNV_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_FNV_SIZE 16        /* bytes in a hash */

/*  Hash `size` bytes at `data` (may be NULL when size is 0) into `out`,
    most significant byte first, so the result is the same on every
    platform. */
void
    kvp_fnv_128 (const void *data, size_t size, uint8_t out [KVP_FNV_SIZE]);

#ifdef __cplusplus
}
#endif
#endif
