/*  fuzz_change.c - libFuzzer target for the decoder of the log's change
    records. It must never read out of bounds, must refuse a record whole
    or hand on every change, and what it accepts must encode back to the
    very same bytes (so replay applies exactly what was logged). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_change.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static int
s_copy (void *arg, kvp_change_op_t op, kvp_change_table_t table,
        const void *key, size_t key_len, const void *val, size_t val_len)
{
    kvp_change_t *copy = (kvp_change_t *) arg;
    CHECK (key_len >= 1 && key_len <= KVP_CHANGE_KEY_MAX);
    CHECK (op == KVP_CHANGE_PUT || val_len == 0);
    CHECK (kvp_change_add (copy, op, table, key, key_len, val, val_len) == 0);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    kvp_change_t copy;
    kvp_change_init (&copy);
    int rc = kvp_change_each (data, size, s_copy, &copy);
    if (rc == 0) {
        CHECK (copy.size == size);
        CHECK (size == 0 || memcmp (copy.data, data, size) == 0);
    }
    else
        CHECK (copy.count == 0);        //  refused whole
    kvp_change_fini (&copy);
    return 0;
}
