/*  kvp_registry.h - what the broker must remember across restarts: the
    number of partitions N, which worker owns each partition, and each
    worker's data-directory token.

    A small LMDB environment in the broker's --data directory, loaded into
    memory at open; every change is one synced commit (changes are rare: at
    most one per partition and one per worker). The table can be rebuilt
    from workers' registrations if the directory is lost (proto/KVP1.md).

    Leaf module over LMDB; no sockets.
*/
#ifndef KVP_REGISTRY_H_INCLUDED
#define KVP_REGISTRY_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_registry_t kvp_registry_t;

/*  Open or create the registry in `dir` (created if missing) for
    `nparts` partitions (1..65536). Returns NULL with *rc =
    KVP_STORE_MISMATCH if the directory was made with another N, or another
    store code on failure. nparts 0 opens with the N the directory holds
    (KVP_STORE_NOTFOUND if it holds none). */
kvp_registry_t *
    kvp_registry_new (const char *dir, uint32_t nparts, int *rc);

/*  Close and null the pointer; safe on NULL. */
void
    kvp_registry_destroy (kvp_registry_t **self_p);

/*  N. */
uint32_t
    kvp_registry_partitions (kvp_registry_t *self);

/*  The owner of `part` (a worker name), or NULL if never assigned. The
    string is the registry's; valid until the next change. */
const char *
    kvp_registry_owner (kvp_registry_t *self, uint32_t part);

/*  Record `worker` as the owner of `part` (synced). */
int
    kvp_registry_assign (kvp_registry_t *self, uint32_t part,
                         const char *worker);

/*  A worker's data-directory token, or NULL if the worker is unknown. */
const char *
    kvp_registry_token (kvp_registry_t *self, const char *worker);

/*  Remember a worker and its token (synced). */
int
    kvp_registry_set_token (kvp_registry_t *self, const char *worker,
                            const char *token);

/*  The known workers' names (those with a token or a partition), in
    name order (strcmp); `count` set. The array and strings are the
    registry's, valid until the next change. */
const char **
    kvp_registry_workers (kvp_registry_t *self, size_t *count);

#ifdef __cplusplus
}
#endif
#endif
