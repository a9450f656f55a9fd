/*  kvp_registry.c - the broker's memory: N, partition owners, worker tokens.

    Databases of the registry's LMDB environment:

      config   "nparts"       -> N (4 bytes, big-endian)
      owners   part(2, BE)    -> worker name (bytes, no NUL)
      tokens   worker name    -> token (bytes, no NUL)

    In memory: the workers sorted by name (each with its token, or NULL if
    it only owns partitions), a parallel array of their names for
    kvp_registry_workers, and per partition a pointer to its owner's name.
    Name strings live until the registry is destroyed, so owner pointers
    stay valid however the arrays move.
*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_registry.h"
#include "kvp_lmdb.h"

#define S_MAP_SIZE     ((size_t) 1 << 20)  //  grows when it fills
#define S_GROW_TRIES   8
#define S_PARTS_MAX    65536u              //  partitions are 2 key bytes
#define S_NAME_MAX     KVP_LMDB_KEY_MAX    //  a worker name is a key

typedef struct {
    char *name;                     //  worker name
    char *token;                    //  data-directory token, or NULL
} s_worker_t;

struct _kvp_registry_t {
    char *dir;                      //  for log lines
    MDB_env *env;
    MDB_dbi config, owners, tokens;
    uint32_t nparts;                //  N
    const char **owner;             //  [nparts]: a worker's name or NULL
    s_worker_t *workers;            //  sorted by name
    const char **names;             //  [count]: workers' names, sorted
    size_t count;                   //  workers known
    size_t size;                    //  workers and names allocated
};

//  --- Workers in memory --------------------------------------------------

//  Binary search: the index of `name`, or where it would go (*found false)
static size_t
s_search (kvp_registry_t *self, const char *name, bool *found)
{
    size_t low = 0, high = self->count;
    *found = false;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int cmp = strcmp (self->workers [mid].name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

//  Make room for one more worker, so that inserting later cannot fail
static int
s_reserve (kvp_registry_t *self)
{
    if (self->count < self->size)
        return KVP_STORE_OK;
    size_t size = self->size? self->size * 2: 16;
    s_worker_t *workers = (s_worker_t *) realloc (self->workers,
                                                  size * sizeof (s_worker_t));
    if (workers)
        self->workers = workers;
    const char **names = workers? (const char **) realloc (self->names,
                                               size * sizeof (char *)): NULL;
    if (names)
        self->names = names;
    if (!names)
        return KVP_STORE_EIO;           //  out of memory
    self->size = size;
    return KVP_STORE_OK;
}

//  Insert a worker at `at` (room reserved); takes ownership of name and
//  token. Returns the name.
static const char *
s_insert (kvp_registry_t *self, size_t at, char *name, char *token)
{
    size_t tail = self->count - at;
    memmove (self->workers + at + 1, self->workers + at,
             tail * sizeof (s_worker_t));
    memmove (self->names + at + 1, self->names + at, tail * sizeof (char *));
    self->workers [at].name = name;
    self->workers [at].token = token;
    self->names [at] = name;
    self->count++;
    return name;
}

//  The worker called `name`, added (without token) if new; NULL when out
//  of memory. Used at load, where nothing is written.
static s_worker_t *
s_worker (kvp_registry_t *self, const char *name)
{
    bool found;
    size_t at = s_search (self, name, &found);
    if (!found) {
        char *copy = s_reserve (self) == KVP_STORE_OK? strdup (name): NULL;
        if (!copy)
            return NULL;
        s_insert (self, at, copy, NULL);
    }
    return &self->workers [at];
}

//  --- Disk ---------------------------------------------------------------

//  Put one record in its own synced transaction, growing the map and
//  retrying when it is full
static int
s_write (kvp_registry_t *self, MDB_dbi dbi, const void *key, size_t key_len,
         const char *value)
{
    int rc = KVP_STORE_FULL;
    for (int tries = 0; rc == KVP_STORE_FULL && tries < S_GROW_TRIES;
         tries++) {
        MDB_envinfo info;
        if (tries) {
            mdb_env_info (self->env, &info);
            if (mdb_env_set_mapsize (self->env, info.me_mapsize * 2))
                break;
        }
        MDB_txn *txn = NULL;
        MDB_val mkey = { key_len, (void *) key };
        MDB_val val = { strlen (value), (void *) value };
        rc = mdb_txn_begin (self->env, NULL, 0, &txn);
        if (rc == MDB_SUCCESS)
            rc = mdb_put (txn, dbi, &mkey, &val, 0);
        if (rc == MDB_SUCCESS)
            rc = kvp_lmdb_commit (self->env, txn, "registry write");
        else {
            if (txn)
                mdb_txn_abort (txn);
            rc = kvp_lmdb_rc (rc, "registry write");
        }
    }
    return rc;
}

//  Read N, or store it when the directory is new. nparts 0 adopts the
//  stored N.
static int
s_load_nparts (kvp_registry_t *self, MDB_txn *txn, uint32_t nparts)
{
    MDB_val key = { 6, (void *) "nparts" }, val;
    int rc = mdb_get (txn, self->config, &key, &val);
    if (rc == MDB_SUCCESS && val.mv_size != 4)
        return KVP_STORE_CORRUPT;
    if (rc == MDB_SUCCESS) {
        uint32_t stored = kvp_lmdb_get_u32 ((const uint8_t *) val.mv_data);
        if (stored == 0 || stored > S_PARTS_MAX)
            return KVP_STORE_CORRUPT;
        if (nparts && nparts != stored)
            return KVP_STORE_MISMATCH;
        self->nparts = stored;
        return KVP_STORE_OK;
    }
    if (rc != MDB_NOTFOUND || nparts == 0)
        return kvp_lmdb_rc (rc, "registry nparts");
    uint8_t bytes [4];
    kvp_lmdb_put_u32 (bytes, nparts);
    val.mv_size = 4;
    val.mv_data = bytes;
    self->nparts = nparts;
    return kvp_lmdb_rc (mdb_put (txn, self->config, &key, &val, 0),
                        "registry nparts");
}

//  Load the workers and their tokens
static int
s_load_tokens (kvp_registry_t *self, MDB_cursor *cursor)
{
    MDB_val key, val;
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get (cursor, &key, &val,
                                                   MDB_NEXT)) {
        char *name = strndup ((const char *) key.mv_data, key.mv_size);
        s_worker_t *worker = name? s_worker (self, name): NULL;
        free (name);
        if (!worker)
            return KVP_STORE_EIO;       //  out of memory
        free (worker->token);
        worker->token = strndup ((const char *) val.mv_data, val.mv_size);
        if (!worker->token)
            return KVP_STORE_EIO;
    }
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "tokens");
}

//  Load the partition owners
static int
s_load_owners (kvp_registry_t *self, MDB_cursor *cursor)
{
    MDB_val key, val;
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get (cursor, &key, &val,
                                                   MDB_NEXT)) {
        uint32_t part = key.mv_size == 2
                      ? kvp_lmdb_get_u16 ((const uint8_t *) key.mv_data)
                      : UINT32_MAX;
        if (part >= self->nparts || val.mv_size == 0)
            return KVP_STORE_CORRUPT;
        char *name = strndup ((const char *) val.mv_data, val.mv_size);
        s_worker_t *worker = name? s_worker (self, name): NULL;
        free (name);
        if (!worker)
            return KVP_STORE_EIO;       //  out of memory
        self->owner [part] = worker->name;
    }
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "owners");
}

//  Run a loader over one database with its own cursor
static int
s_load_table (MDB_txn *txn, MDB_dbi dbi, kvp_registry_t *self,
              int (*load) (kvp_registry_t *, MDB_cursor *))
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "registry cursor");
    rc = load (self, cursor);
    mdb_cursor_close (cursor);
    return rc;
}

//  Read (or, for a new directory, write) everything into memory
static int
s_load (kvp_registry_t *self, uint32_t nparts)
{
    MDB_txn *txn = NULL;
    int rc = kvp_lmdb_rc (mdb_txn_begin (self->env, NULL, 0, &txn),
                          "registry begin");
    if (rc == KVP_STORE_OK)
        rc = s_load_nparts (self, txn, nparts);
    if (rc == KVP_STORE_OK) {
        self->owner = (const char **) calloc (self->nparts, sizeof (char *));
        rc = self->owner? KVP_STORE_OK: KVP_STORE_EIO;
    }
    if (rc == KVP_STORE_OK)
        rc = s_load_table (txn, self->tokens, self, s_load_tokens);
    if (rc == KVP_STORE_OK)
        rc = s_load_table (txn, self->owners, self, s_load_owners);
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (self->env, txn, "registry commit");
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

//  --- Public API ---------------------------------------------------------

kvp_registry_t *
kvp_registry_new (const char *dir, uint32_t nparts, int *rc)
{
    const char *names [] = { "config", "owners", "tokens" };
    int status = KVP_STORE_EINVAL;
    kvp_registry_t *self = NULL;
    if (dir && *dir && nparts <= S_PARTS_MAX) {
        status = KVP_STORE_EIO;         //  out of memory until opened
        self = (kvp_registry_t *) calloc (1, sizeof (kvp_registry_t));
    }
    if (self && (self->dir = strdup (dir))) {
        MDB_dbi *dbis [] = { &self->config, &self->owners, &self->tokens };
        status = kvp_lmdb_env_open (dir, S_MAP_SIZE, 4, 0, &self->env);
        if (status == KVP_STORE_OK)
            status = kvp_lmdb_dbis_open (self->env, names, dbis, 3);
        if (status == KVP_STORE_OK)
            status = s_load (self, nparts);
    }
    if (status != KVP_STORE_OK) {
        zsys_error ("registry %s: cannot open: %s", dir? dir: "(null)",
                    kvp_store_strerror (status));
        kvp_registry_destroy (&self);
    }
    if (rc)
        *rc = status;
    return self;
}

void
kvp_registry_destroy (kvp_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_registry_t *self = *self_p;
    if (self->env)
        mdb_env_close (self->env);
    for (size_t i = 0; i < self->count; i++) {
        free (self->workers [i].name);
        free (self->workers [i].token);
    }
    free (self->workers);
    free (self->names);
    free (self->owner);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

uint32_t
kvp_registry_partitions (kvp_registry_t *self)
{
    return self? self->nparts: 0;
}

const char *
kvp_registry_owner (kvp_registry_t *self, uint32_t part)
{
    return self && part < self->nparts? self->owner [part]: NULL;
}

//  A worker name must be a non-empty LMDB key
static bool
s_name_ok (const char *name)
{
    return name && *name && strlen (name) <= S_NAME_MAX;
}

int
kvp_registry_assign (kvp_registry_t *self, uint32_t part,
                     const char *worker)
{
    if (!self || part >= self->nparts || !s_name_ok (worker))
        return KVP_STORE_EINVAL;
    if (self->owner [part] && streq (self->owner [part], worker))
        return KVP_STORE_OK;            //  nothing changes
    bool found;
    size_t at = s_search (self, worker, &found);
    char *name = NULL;
    if (!found && (s_reserve (self) || !(name = strdup (worker))))
        return KVP_STORE_EIO;           //  out of memory
    uint8_t key [2];
    kvp_lmdb_put_u16 (key, (uint16_t) part);
    int rc = s_write (self, self->owners, key, 2, worker);
    if (rc != KVP_STORE_OK) {
        free (name);
        return rc;
    }
    self->owner [part] = found? self->workers [at].name
                              : s_insert (self, at, name, NULL);
    return KVP_STORE_OK;
}

const char *
kvp_registry_token (kvp_registry_t *self, const char *worker)
{
    bool found = false;
    size_t at = self && worker? s_search (self, worker, &found): 0;
    return found? self->workers [at].token: NULL;
}

int
kvp_registry_set_token (kvp_registry_t *self, const char *worker,
                        const char *token)
{
    if (!self || !s_name_ok (worker) || !token)
        return KVP_STORE_EINVAL;
    bool found;
    size_t at = s_search (self, worker, &found);
    char *name = NULL;
    char *copy = strdup (token);
    if (!copy || (!found && (s_reserve (self) || !(name = strdup (worker))))) {
        free (copy);
        return KVP_STORE_EIO;           //  out of memory
    }
    int rc = s_write (self, self->tokens, worker, strlen (worker), token);
    if (rc != KVP_STORE_OK) {
        free (copy);
        free (name);
        return rc;
    }
    if (!found)
        s_insert (self, at, name, NULL);
    free (self->workers [at].token);
    self->workers [at].token = copy;
    return KVP_STORE_OK;
}

const char **
kvp_registry_workers (kvp_registry_t *self, size_t *count)
{
    if (count)
        *count = self? self->count: 0;
    return self? self->names: NULL;
}
