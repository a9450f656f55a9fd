/*  kvp_env.c - the store's LMDB environment (see kvp_env.h). */
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_env.h"
#include "kvp_store.h"
#include "kvp_lmdb.h"

struct _kvp_env_t {
    char *dir;                      //  for log lines
    MDB_env *mdb;
    MDB_txn *rtxn;                  //  read transaction, reset when idle
    bool reading;                   //  rtxn is live
};

kvp_env_t *
kvp_env_new (const char *dir, size_t map_size, unsigned maxdbs, int *rc)
{
    int status = KVP_STORE_EIO;         //  out of memory until opened
    kvp_env_t *self = (kvp_env_t *) calloc (1, sizeof (*self));
    if (self && (self->dir = strdup (dir)))
        status = kvp_lmdb_env_open (self->dir, map_size, maxdbs, 0,
                                    &self->mdb);
    if (status == KVP_STORE_OK
    &&  mdb_env_get_maxkeysize (self->mdb) < KVP_LMDB_KEY_MAX) {
        zsys_error ("store %s: LMDB keys limited to %d bytes",
                    self->dir, mdb_env_get_maxkeysize (self->mdb));
        status = KVP_STORE_EIO;
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
kvp_env_read_begin (kvp_env_t *self, MDB_txn **txn)
{
    if (self->reading)
        kvp_env_read_end (self);
    int rc = self->rtxn? mdb_txn_renew (self->rtxn)
                       : mdb_txn_begin (self->mdb, NULL, MDB_RDONLY,
                                        &self->rtxn);
    self->reading = rc == MDB_SUCCESS;
    *txn = self->reading? self->rtxn: NULL;
    return kvp_lmdb_rc (rc, "begin read");
}

void
kvp_env_read_end (kvp_env_t *self)
{
    if (self->reading)
        mdb_txn_reset (self->rtxn);
    self->reading = false;
}
