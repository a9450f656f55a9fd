/*  kvp_fnv.c - FNV-1a 128: for each byte, xor it into the state, then
    multiply the state by the FNV prime, modulo 2^128.

    offset basis  0x6c62272e07bb014262b821756295c58d
    prime         2^88 + 2^8 + 0x3b = 0x0000000001000000000000000000013b

    Uses the compiler's unsigned 128-bit integer (GCC and Clang on 64-bit
    targets); the multiply is then a few machine instructions per byte.
*/
#include "kvp_fnv.h"

typedef unsigned __int128 s_u128;

void
kvp_fnv_128 (const void *data, size_t size, uint8_t out [KVP_FNV_SIZE])
{
    const s_u128 prime = ((s_u128) 1 << 88) + ((s_u128) 1 << 8) + 0x3b;
    s_u128 state = ((s_u128) 0x6c62272e07bb0142ULL << 64)
                 | (s_u128) 0x62b821756295c58dULL;
    const uint8_t *bytes = (const uint8_t *) data;
    for (size_t i = 0; i < size; i++) {
        state ^= bytes [i];
        state *= prime;
    }
    for (int i = KVP_FNV_SIZE - 1; i >= 0; i--) {
        out [i] = (uint8_t) state;
        state >>= 8;
    }
}
