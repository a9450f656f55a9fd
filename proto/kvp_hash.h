/*  kvp_hash.h - a 128-bit non-cryptographic hash for digests (internal to
    proto/).

    Two independent 64-bit lanes, each a multiply-rotate chain fed with
    the input one 64-bit word at a time through a full-avalanche mixer,
    joined by a final mix. Good enough to tell two different requests
    apart by accident (a collision takes about 2^64 tries); not meant to
    resist someone crafting collisions on purpose.

    Callers feed fields with kvp_hash_bytes (which prefixes the length, so
    "ab"+"c" and "a"+"bc" differ) and numbers with kvp_hash_word.
    Leaf module: no dependencies.
*/
#ifndef KVP_HASH_H_INCLUDED
#define KVP_HASH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t a;                 /* first lane */
    uint64_t b;                 /* second lane */
    uint64_t words;             /* words absorbed */
} kvp_hash_t;

/*  Start a hash. */
void
    kvp_hash_init (kvp_hash_t *hash);

/*  Absorb one 64-bit number. */
void
    kvp_hash_word (kvp_hash_t *hash, uint64_t word);

/*  Absorb `len` bytes (may be NULL when len is 0), length first. */
void
    kvp_hash_bytes (kvp_hash_t *hash, const void *data, size_t len);

/*  Finish: write the 16-byte digest (big-endian lanes). */
void
    kvp_hash_final (kvp_hash_t *hash, uint8_t digest [16]);

#ifdef __cplusplus
}
#endif
#endif
