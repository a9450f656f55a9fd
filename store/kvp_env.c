/*  kvp_env.c - the store's LMDB environment, its map and its transaction
    stack (see kvp_env.h).
*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_env.h"
#include "kvp_store.h"
#include "kvp_lmdb.h"

#define S_DEPTH_MAX     5           //  the batch and up to 4 nested ops

struct _kvp_env_t {
    char *dir;                      //  for log lines
    MDB_env *mdb;
    MDB_txn *txn [S_DEPTH_MAX];     //  [0] the batch, then nested ops
    int depth;                      //  transactions open in txn []
    int failed;                     //  FULL or EIO once a write failed
    MDB_txn *rtxn;                  //  read transaction, reset when idle
    size_t map_size;                //  current map size
    size_t map_max;                 //  0 = no limit
};

//  --- Opening and closing ------------------------------------------------

//  Open the environment; self->map_size holds the size wanted
static int
s_open (kvp_env_t *self, bool nosync, unsigned maxdbs)
{
    int rc = kvp_lmdb_env_open (self->dir, self->map_size, maxdbs,
                                nosync? MDB_NOSYNC: 0, &self->mdb);
    if (rc != KVP_STORE_OK)
        return rc;
    if (mdb_env_get_maxkeysize (self->mdb) < KVP_LMDB_KEY_MAX) {
        zsys_error ("store %s: LMDB keys limited to %d bytes",
                    self->dir, mdb_env_get_maxkeysize (self->mdb));
        return KVP_STORE_EIO;
    }
    MDB_envinfo info;
    mdb_env_info (self->mdb, &info);
    self->map_size = info.me_mapsize;   //  LMDB may raise it to fit data
    return KVP_STORE_OK;
}

kvp_env_t *
kvp_env_new (const char *dir, size_t map_size, size_t map_max, bool nosync,
             unsigned maxdbs, int *rc)
{
    int status = KVP_STORE_EIO;         //  out of memory until opened
    kvp_env_t *self = (kvp_env_t *) calloc (1, sizeof (*self));
    if (self && (self->dir = strdup (dir))) {
        if (map_max && map_size > map_max)
            map_size = map_max;
        self->map_size = kvp_lmdb_page_round (map_size);
        self->map_max = map_max;
        status = s_open (self, nosync, maxdbs);
    }
    if (status != KVP_STORE_OK)
        kvp_env_destroy (&self);
    *rc = status;
    return self;
}

void
kvp_env_destroy (kvp_env_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_env_t *self = *self_p;
    kvp_env_abort (self);
    if (self->rtxn)
        mdb_txn_abort (self->rtxn);
    if (self->mdb)
        mdb_env_close (self->mdb);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

MDB_env *
kvp_env_handle (kvp_env_t *self)
{
    return self->mdb;
}

int
kvp_env_depth (kvp_env_t *self)
{
    return self->depth;
}

//  --- The batch and its ops ----------------------------------------------

int
kvp_env_begin (kvp_env_t *self)
{
    if (!self || self->depth)
        return KVP_STORE_EINVAL;
    int rc = mdb_txn_begin (self->mdb, NULL, 0, &self->txn [0]);
    if (rc == MDB_MAP_RESIZED) {
        //  Another process grew the map: adopt its size and retry
        MDB_envinfo info;
        mdb_env_set_mapsize (self->mdb, 0);
        mdb_env_info (self->mdb, &info);
        self->map_size = info.me_mapsize;
        rc = mdb_txn_begin (self->mdb, NULL, 0, &self->txn [0]);
    }
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "begin");
    self->depth = 1;
    self->failed = 0;
    return KVP_STORE_OK;
}

void
kvp_env_abort (kvp_env_t *self)
{
    if (!self)
        return;
    //  Innermost first, though aborting a parent would abort its children
    while (self->depth > 0) {
        self->depth--;
        mdb_txn_abort (self->txn [self->depth]);
        self->txn [self->depth] = NULL;
    }
    self->failed = 0;
}

int
kvp_env_commit (kvp_env_t *self)
{
    if (!self || self->depth == 0)
        return KVP_STORE_EINVAL;
    int rc = self->failed;
    if (self->depth > 1) {
        zsys_error ("store %s: commit with %d op(s) open; batch aborted",
                    self->dir, self->depth - 1);
        rc = KVP_STORE_EINVAL;
    }
    if (rc) {
        kvp_env_abort (self);
        return rc;
    }
    //  mdb_txn_commit frees the transaction whether or not it succeeds
    rc = kvp_lmdb_commit (self->mdb, self->txn [0], "commit");
    self->txn [0] = NULL;
    self->depth = 0;
    return rc;
}

int
kvp_env_op_begin (kvp_env_t *self)
{
    MDB_txn *parent;
    int rc = kvp_env_txn (self, &parent);
    if (rc == KVP_STORE_OK && self->depth == S_DEPTH_MAX)
        rc = KVP_STORE_EINVAL;
    if (rc != KVP_STORE_OK)
        return rc;
    rc = mdb_txn_begin (self->mdb, parent, 0, &self->txn [self->depth]);
    if (rc != MDB_SUCCESS)
        return kvp_env_written (self, kvp_lmdb_rc (rc, "op begin"));
    self->depth++;
    return KVP_STORE_OK;
}

int
kvp_env_op_end (kvp_env_t *self, bool keep)
{
    if (!self || self->depth < 2)
        return KVP_STORE_EINVAL;
    MDB_txn *txn = self->txn [--self->depth];
    self->txn [self->depth] = NULL;
    if (self->failed || !keep) {
        mdb_txn_abort (txn);
        return self->failed;
    }
    //  Merging into the parent can overflow its dirty list (TXN_FULL)
    return kvp_env_written (self, kvp_lmdb_rc (mdb_txn_commit (txn),
                                               "op end"));
}

int
kvp_env_grow (kvp_env_t *self)
{
    if (!self || self->depth)
        return KVP_STORE_EINVAL;
    size_t size = kvp_lmdb_page_round (self->map_size * 2);
    if (self->map_max && size > self->map_max)
        size = self->map_max;
    if (size <= self->map_size)
        return KVP_STORE_FULL;
    int rc = mdb_env_set_mapsize (self->mdb, size);
    if (rc != MDB_SUCCESS) {
        zsys_warning ("store %s: cannot grow the map to %zu bytes: %s",
                      self->dir, size, mdb_strerror (rc));
        //  LMDB unmapped the old map: map it again at the old size
        mdb_env_set_mapsize (self->mdb, self->map_size);
        return KVP_STORE_FULL;
    }
    zsys_notice ("store %s: map grown from %zu to %zu bytes", self->dir,
                 self->map_size, size);
    self->map_size = size;
    return KVP_STORE_OK;
}

//  --- Handing out transactions -------------------------------------------

int
kvp_env_txn (kvp_env_t *self, MDB_txn **txn)
{
    if (!self || self->depth == 0)
        return KVP_STORE_EINVAL;
    if (self->failed)
        return self->failed;
    *txn = self->txn [self->depth - 1];
    return KVP_STORE_OK;
}

int
kvp_env_written (kvp_env_t *self, int rc)
{
    if (rc == KVP_STORE_FULL || rc == KVP_STORE_EIO)
        self->failed = rc;
    return rc;
}

int
kvp_env_read_begin (kvp_env_t *self, MDB_txn **txn)
{
    int rc = self->rtxn? mdb_txn_renew (self->rtxn)
                       : mdb_txn_begin (self->mdb, NULL, MDB_RDONLY,
                                        &self->rtxn);
    *txn = self->rtxn;
    return kvp_lmdb_rc (rc, "begin read");
}

void
kvp_env_read_end (kvp_env_t *self)
{
    mdb_txn_reset (self->rtxn);
}
