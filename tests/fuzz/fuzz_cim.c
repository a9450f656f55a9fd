/*  fuzz_cim.c - libFuzzer target for kvp_cim_parse.

    Checks that a parse either fails with 32773/32776 and a reason, or
    hands out UTF-8 Name/Data within the parser's bounds; and that spans
    from an earlier parse survive a later one (storage never moves).
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_cim.h"
#include "kvp_rc.h"
#include "kvp_utf8.h"

#define CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static kvp_cim_t *cim;
    if (!cim)
        cim = kvp_cim_new ();
    kvp_cim_reset (cim);
    const char *name, *value, *name2, *value2;
    size_t name_len, value_len, name2_len, value2_len;
    uint64_t source, source2;
    int rc = kvp_cim_parse (cim, (const char *) data, size, &name, &name_len,
                            &value, &value_len, &source);
    if (rc != 0) {
        CHECK (rc == KVP_RC_INVALID_PARAM || rc == KVP_RC_INCORRECT_TYPE);
        const char *error = kvp_cim_error (cim);
        CHECK (error [0] && kvp_utf8_valid (error, strlen (error)));
        return 0;
    }
    CHECK (kvp_utf8_valid (name, name_len) && kvp_utf8_valid (value, value_len));
    CHECK (name_len <= 65536 && value_len <= 65536);
    //  Parse the same text again: the first spans must be untouched
    char *copy = malloc (name_len + value_len + 1);
    memcpy (copy, name, name_len);
    memcpy (copy + name_len, value, value_len);
    rc = kvp_cim_parse (cim, (const char *) data, size, &name2, &name2_len,
                        &value2, &value2_len, &source2);
    CHECK (rc == 0 && source2 == source && name2_len == name_len
        && value2_len == value_len);
    CHECK (memcmp (copy, name, name_len) == 0);
    CHECK (memcmp (copy + name_len, value, value_len) == 0);
    free (copy);
    return 0;
}
