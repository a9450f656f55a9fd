/*  kvp_identity.c - the worker's name and token in its data directory.
*/
#include "kvp_identity.h"

#include <czmq.h>
#include <sys/random.h>

//  Write `bytes` random bytes as lower-case hex into `out` (2 * bytes + 1).
static void
s_random_hex (char *out, size_t bytes)
{
    uint8_t raw [32];
    assert (bytes <= sizeof raw);
    if (getrandom (raw, bytes, 0) != (ssize_t) bytes) {
        //  No entropy source: still unique enough to tell folders apart.
        uint64_t mix = (uint64_t) zclock_usecs () ^ ((uint64_t) getpid () << 32);
        for (size_t i = 0; i < bytes; i++, mix = mix * 6364136223846793005ULL + 1)
            raw [i] = (uint8_t) (mix >> 56);
    }
    for (size_t i = 0; i < bytes; i++)
        sprintf (out + 2 * i, "%02x", raw [i]);
}

//  Read meta `name` or, when absent, write `made` as its value.
static int
s_get_or_put (kvp_store_t *store, const char *name, char *value,
              size_t size, const char *made)
{
    int rc = kvp_store_meta_get (store, name, value, size);
    if (rc >= 0)
        return KVP_STORE_OK;
    if (rc != KVP_STORE_NOTFOUND)
        return rc;
    snprintf (value, size, "%s", made);
    return kvp_store_meta_put (store, name, value);
}

int
kvp_identity_load (kvp_identity_t *self, kvp_store_t *store,
                   const char *want_id, char *error, size_t size)
{
    memset (self, 0, sizeof *self);
    char made [KVP_WORKER_ID_MAX + 1] = "w-";
    if (want_id)
        snprintf (made, sizeof made, "%s", want_id);
    else
        s_random_hex (made + 2, 4);
    int rc = s_get_or_put (store, "id", self->id, sizeof self->id, made);
    if (rc == KVP_STORE_OK && want_id && strcmp (self->id, want_id) != 0) {
        snprintf (error, size, "the data directory belongs to worker \"%s\", "
                  "not \"%s\"", self->id, want_id);
        return KVP_IDENTITY_CONFLICT;
    }
    char token [33];
    s_random_hex (token, 16);
    if (rc == KVP_STORE_OK)
        rc = s_get_or_put (store, "token", self->token, sizeof self->token,
                           token);
    char nparts [16];
    if (rc == KVP_STORE_OK) {
        rc = kvp_store_meta_get (store, "nparts", nparts, sizeof nparts);
        if (rc >= 0)
            self->nparts = (uint32_t) strtoul (nparts, NULL, 10);
        rc = rc == KVP_STORE_NOTFOUND || rc >= 0 ? KVP_STORE_OK : rc;
    }
    if (rc != KVP_STORE_OK)
        snprintf (error, size, "cannot read the worker's identity: %s",
                  kvp_store_strerror (rc));
    return rc;
}

int
kvp_identity_set_nparts (kvp_identity_t *self, kvp_store_t *store,
                         uint32_t nparts)
{
    if (self->nparts == nparts)
        return KVP_STORE_OK;
    char text [16];
    snprintf (text, sizeof text, "%u", nparts);
    int rc = kvp_store_meta_put (store, "nparts", text);
    if (rc == KVP_STORE_OK)
        self->nparts = nparts;
    return rc;
}
