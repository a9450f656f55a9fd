/*  kvp_hash.c - a 128-bit non-cryptographic hash for digests. */
#include "kvp_hash.h"

static uint64_t
s_rotl (uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/*  A full-avalanche 64-bit mixer: every input bit flips about half of the
    output bits. */
static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

void
kvp_hash_init (kvp_hash_t *hash)
{
    hash->a = 0x243f6a8885a308d3ULL;    //  digits of pi: nothing up a sleeve
    hash->b = 0x13198a2e03707344ULL;
    hash->words = 0;
}

void
kvp_hash_word (kvp_hash_t *hash, uint64_t word)
{
    //  Different offsets, rotations and multipliers keep the lanes apart
    hash->a = s_rotl (hash->a ^ s_mix (word ^ 0x9e3779b97f4a7c15ULL), 27)
            * 0xc2b2ae3d27d4eb4fULL;
    hash->b = s_rotl (hash->b + s_mix (word + 0x632be59bd9b4e019ULL), 31)
            * 0x165667b19e3779f9ULL;
    hash->words++;
}

void
kvp_hash_bytes (kvp_hash_t *hash, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *) data;
    kvp_hash_word (hash, len);
    while (len > 0) {
        size_t take = len < 8? len: 8;
        uint64_t word = 0;              //  little-endian, zero-padded tail
        for (size_t i = 0; i < take; i++)
            word |= (uint64_t) p [i] << (8 * i);
        kvp_hash_word (hash, word);
        p += take;
        len -= take;
    }
}

void
kvp_hash_final (kvp_hash_t *hash, uint8_t digest [16])
{
    uint64_t a = s_mix (hash->a ^ hash->words);
    uint64_t b = s_mix (hash->b ^ s_rotl (a, 17));
    for (int i = 0; i < 8; i++) {
        digest [i] = (uint8_t) (a >> (56 - 8 * i));
        digest [8 + i] = (uint8_t) (b >> (56 - 8 * i));
    }
}
