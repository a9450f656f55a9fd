/*  kvp_identity.h - who this worker is, kept in its data directory.

    The store's meta values "id" (the worker's name), "token" (random hex,
    made once with the directory: the broker uses it to tell this folder
    from a wiped or copied one) and "nparts" (the N of the cluster, written
    when the first WELCOME arrives). A restart on the same directory is
    the same worker.
*/
#ifndef KVP_IDENTITY_H_INCLUDED
#define KVP_IDENTITY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_store.h"
#include "kvp_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  kvp_identity_load's refusal: the directory belongs to another worker. */
#define KVP_IDENTITY_CONFLICT   1

typedef struct {
    char id [KVP_WORKER_ID_MAX + 1];    /* worker name */
    char token [KVP_TOKEN_MAX + 1];     /* the directory's token */
    uint32_t nparts;                    /* N, 0 until the first WELCOME */
} kvp_identity_t;

/*  Read the identity from `store`, making what is missing: the id is
    `want_id`, or (when NULL) "w-" and 8 random hex digits; the token is
    32 random hex digits. Returns 0; KVP_IDENTITY_CONFLICT when the
    directory holds an id other than `want_id` (reason in `error`); or a
    store code (reason in `error`). Not inside a batch. */
int
    kvp_identity_load (kvp_identity_t *self, kvp_store_t *store,
                       const char *want_id, char *error, size_t size);

/*  Record N (synced) if it is not recorded yet. Returns 0 or a store
    code. Not inside a batch. */
int
    kvp_identity_set_nparts (kvp_identity_t *self, kvp_store_t *store,
                             uint32_t nparts);

#ifdef __cplusplus
}
#endif
#endif
