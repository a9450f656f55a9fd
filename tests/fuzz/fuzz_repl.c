/*  fuzz_repl.c - libFuzzer target for the replication headers
    (proto/kvp_repl.c), which the broker decodes from every worker and a
    worker from the broker: the input as a header of each size. A header
    is refused, or it is one the encoder would write: its fields in range
    and encoding back to the very same bytes (so what passes is exactly
    what a peer could have meant, nothing read past its end). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_repl.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static const size_t s_sizes [] = {
    KVP_REPL_ROLE, KVP_REPL_DATA, KVP_REPL_POS, KVP_REPL_COPY, KVP_REPL_CHUNK
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    for (size_t k = 0; k < sizeof s_sizes / sizeof s_sizes [0]; k++) {
        kvp_repl_t hdr;
        if (!kvp_repl_decode (&hdr, s_sizes [k], data, size)) {
            kvp_repl_t zero;
            memset (&zero, 0, sizeof zero);
            CHECK (memcmp (&hdr, &zero, sizeof hdr) == 0);
            continue;
        }
        CHECK (size == s_sizes [k]);
        CHECK (hdr.part < 65536 && hdr.epoch > 0 && hdr.seq >= hdr.prev);
        uint8_t out [KVP_REPL_HEADER_MAX];
        CHECK (kvp_repl_encode (&hdr, s_sizes [k], out) == size);
        CHECK (memcmp (out, data, size) == 0);
    }
    return 0;
}
