/*  kvp_env.h - the store's LMDB environment: opened once with its whole
    map, and the owner's reusable read transaction.

    LMDB is written only by the checkpoint thread (kvp_ckpt) and, before
    it starts, by opening and recovery; the owner's thread reads through
    one read transaction, renewed for each batch so that it sees the last
    checkpoint. The map is fixed at open: growing it would need every
    transaction of the process closed, the checkpoint's included, and a
    map is address space, not disk.

    Return values are store codes (kvp_store.h). Internal to store/.
*/
#ifndef KVP_ENV_H_INCLUDED
#define KVP_ENV_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <lmdb.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_env_t kvp_env_t;

/*  Open (creating if missing) the environment in `dir` with a map of
    `map_size` bytes (rounded up to whole pages; LMDB may raise it to fit
    existing data) and room for `maxdbs` named databases. Commits are
    always synced. Refuses an LMDB built with keys shorter than
    KVP_LMDB_KEY_MAX (EIO). Returns NULL on failure; *rc gets the store
    code either way. `dir` is copied. */
kvp_env_t *
    kvp_env_new (const char *dir, size_t map_size, unsigned maxdbs, int *rc);

/*  Release the read transaction, close the environment, null the pointer;
    safe on NULL. */
void
    kvp_env_destroy (kvp_env_t **self_p);

/*  The LMDB environment (borrowed). */
MDB_env *
    kvp_env_handle (kvp_env_t *self);

/*  Begin (or renew) the read transaction; *txn gets it. */
int
    kvp_env_read_begin (kvp_env_t *self, MDB_txn **txn);

/*  Reset the read transaction (its snapshot is released). */
void
    kvp_env_read_end (kvp_env_t *self);

#ifdef __cplusplus
}
#endif
#endif
