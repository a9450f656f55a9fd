/*  kvp_env.h - the store's LMDB environment: its map (size and growth),
    the write batch with its stack of nested ops, and the reusable read
    transaction.

    kvp_store keeps the records; this class keeps the transactions they
    are read and written in, so kvp_store_begin/commit/abort/op_begin/
    op_end/grow are thin calls into it. Transactions: txn [0] is the batch,
    txn [1..] the nested ops, depth counts the open ones. A write that
    fails with FULL or EIO marks the batch failed (kvp_env_written): from
    then on kvp_env_txn hands out no transaction, and only op_end, commit
    and abort do anything, reporting the failure, because LMDB forbids
    reusing a transaction after a failed write.

    Return values are store codes (kvp_store.h). Internal to store/; one
    thread.
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
    `map_size` bytes (capped at `map_max` unless 0, rounded up to whole
    pages; LMDB may raise it to fit existing data), room for `maxdbs`
    named databases, commits not synced when `nosync`. Refuses an LMDB
    built with keys shorter than KVP_LMDB_KEY_MAX (EIO). Returns NULL on
    failure; *rc gets the store code either way. `dir` is copied. */
kvp_env_t *
    kvp_env_new (const char *dir, size_t map_size, size_t map_max,
                 bool nosync, unsigned maxdbs, int *rc);

/*  Abort any open batch, release the read transaction, close the
    environment and null the pointer. Safe on NULL and twice. */
void
    kvp_env_destroy (kvp_env_t **self_p);

/*  The LMDB environment, for opening databases and for the standalone
    transactions that run outside a batch. Owned by `self`. */
MDB_env *
    kvp_env_handle (kvp_env_t *self);

/*  Transactions open: 0 outside a batch, 1 in a batch, more in ops. */
int
    kvp_env_depth (kvp_env_t *self);

/*  Open the batch (EINVAL if one is open). Adopts a map that another
    process grew. */
int
    kvp_env_begin (kvp_env_t *self);

/*  Close every open transaction without writing. Safe on NULL and with
    nothing open. */
void
    kvp_env_abort (kvp_env_t *self);

/*  Commit the batch, or abort it and return the failure when it failed or
    still has ops open (EINVAL, logged). EINVAL outside a batch. */
int
    kvp_env_commit (kvp_env_t *self);

/*  Open a nested op inside the batch or the current op (at most 4 deep:
    EINVAL beyond). Returns the batch's failure once it has failed. */
int
    kvp_env_op_begin (kvp_env_t *self);

/*  Close the innermost op, merging it into its parent when `keep` and
    the batch has not failed, else dropping it. Returns the batch's
    failure (or the merge's); EINVAL when no op is open. */
int
    kvp_env_op_end (kvp_env_t *self, bool keep);

/*  Double the map (up to map_max) outside a batch. FULL when it cannot
    grow any more; EINVAL inside a batch. */
int
    kvp_env_grow (kvp_env_t *self);

/*  The transaction reads and writes of a batch use, the innermost, into
    *txn. EINVAL outside a batch; the batch's failure once it has failed. */
int
    kvp_env_txn (kvp_env_t *self, MDB_txn **txn);

/*  Note the outcome `rc` of a write in the batch and return it: FULL and
    EIO leave the LMDB transaction unusable, so they fail the batch until
    it is aborted. */
int
    kvp_env_written (kvp_env_t *self, int rc);

/*  Start (or restart) the reusable read transaction, for reads outside a
    batch; end it with kvp_env_read_end once the data it gave is no longer
    used. */
int
    kvp_env_read_begin (kvp_env_t *self, MDB_txn **txn);

/*  Release the read transaction's snapshot, keeping its handle. */
void
    kvp_env_read_end (kvp_env_t *self);

#ifdef __cplusplus
}
#endif
#endif
