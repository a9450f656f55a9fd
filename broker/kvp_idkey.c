/*  kvp_idkey.c - routing identities as zhashx keys.
*/
#include "kvp_idkey.h"
#include "kvp_guid.h"

bool
kvp_idkey_set (uint8_t key [KVP_IDKEY_MAX], const void *id, size_t len)
{
    if (len == 0 || len >= KVP_IDKEY_MAX)
        return false;
    key [0] = (uint8_t) len;
    memcpy (key + 1, id, len);
    return true;
}

static size_t
s_hash (const void *key)
{
    const uint8_t *id = key;
    return kvp_fnv1a32 (id + 1, id [0]);
}

static int
s_compare (const void *a, const void *b)
{
    const uint8_t *x = a, *y = b;
    if (x [0] != y [0])
        return x [0] < y [0] ? -1 : 1;
    return memcmp (x + 1, y + 1, x [0]);
}

static void *
s_dup (const void *key)
{
    const uint8_t *id = key;
    uint8_t *copy = malloc (1 + id [0]);
    if (copy)
        memcpy (copy, id, 1 + id [0]);
    return copy;
}

static void
s_free (void **key_p)
{
    free (*key_p);
    *key_p = NULL;
}

void
kvp_idkey_table (zhashx_t *table)
{
    zhashx_set_key_hasher (table, s_hash);
    zhashx_set_key_comparator (table, s_compare);
    zhashx_set_key_duplicator (table, s_dup);
    zhashx_set_key_destructor (table, s_free);
}
