/*  kvp_lmdb.h - helpers shared by the store's LMDB tables: return-code
    translation, big-endian integer fields, prefix deletion.

    Every integer the store writes to disk is big-endian, so the files are
    the same on every platform and integer keys sort in numeric order.
    Internal to store/; leaf module over LMDB.
*/
#ifndef KVP_LMDB_H_INCLUDED
#define KVP_LMDB_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <lmdb.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  LMDB's longest key in its default build; the store's keys are laid out
    for it and kvp_store_new refuses a library built with less. */
#define KVP_LMDB_KEY_MAX 511

/*  Translate an LMDB or errno code to a store code (kvp_store.h):
    0 -> OK; MDB_NOTFOUND -> NOTFOUND; MDB_KEYEXIST -> EXISTS;
    MDB_MAP_FULL, MDB_TXN_FULL, ENOSPC, EFBIG, EDQUOT -> FULL;
    MDB_INVALID, MDB_CORRUPTED, MDB_PAGE_NOTFOUND -> CORRUPT;
    anything else -> EIO. CORRUPT and EIO are logged with `what` (a short
    description of the failed call) and LMDB's text for the code. */
int
    kvp_lmdb_rc (int rc, const char *what);

/*  Commit top-level transaction `txn` of `env` (the transaction is freed
    either way) and translate the outcome like kvp_lmdb_rc. LMDB reports a
    short write as EIO, and short writes are what a full disk or a file
    size limit (RLIMIT_FSIZE) produce: when the file has reached the limit
    or the disk has (almost) no room left, EIO becomes FULL. */
int
    kvp_lmdb_commit (MDB_env *env, MDB_txn *txn, const char *what);

/*  Create `dir` if missing (mkdir -p, mode 0755) and open an LMDB
    environment in it: map of `map_size` bytes (rounded up to whole pages;
    LMDB raises it to what an existing file's data needs), room for `maxdbs`
    named databases, mdb_env_open `flags`. Never MDB_WRITEMAP, so a stray
    write in the process cannot reach the file. The folder and the one
    that holds it are fsynced, so the files' names survive a power loss. Returns a store code and,
    on success, the environment in *env (else *env is NULL). */
int
    kvp_lmdb_env_open (const char *dir, size_t map_size, unsigned maxdbs,
                       unsigned flags, MDB_env **env);

/*  Bytes the data file of `env` may still grow by: what the file size
    limit (RLIMIT_FSIZE) and the disk leave; UINT64_MAX when neither
    says. */
uint64_t
    kvp_lmdb_room (MDB_env *env);

/*  fsync the folder `dir`, so the names made in it are durable. Returns a
    store code. */
int
    kvp_lmdb_sync_dir (const char *dir);

/*  Open (creating if missing) the `count` named databases `names` of
    `env` in one write transaction, storing each handle in *dbis [i].
    Returns a store code. */
int
    kvp_lmdb_dbis_open (MDB_env *env, const char *const *names,
                        MDB_dbi *const *dbis, size_t count);

/*  Open (creating if missing) the `count` named databases `names` in
    write transaction `txn`, storing each handle in *dbis [i]. Returns a
    store code. */
int
    kvp_lmdb_dbis_create (MDB_txn *txn, const char *const *names,
                          MDB_dbi *const *dbis, size_t count);

/*  Does the named database `name` exist in `txn`? OK if so (the handle
    stays open, as LMDB keeps it), NOTFOUND if not, else a store code. */
int
    kvp_lmdb_dbi_exists (MDB_txn *txn, const char *name);

/*  `size` rounded up to whole OS pages, as LMDB wants map sizes. */
size_t
    kvp_lmdb_page_round (size_t size);

/*  Delete every record of `dbi` whose key starts with the `size` bytes at
    `prefix`, in write transaction `txn`. Sets *deleted (if not NULL) to
    the number deleted. Returns a store code. */
int
    kvp_lmdb_del_prefix (MDB_txn *txn, MDB_dbi dbi, const void *prefix,
                         size_t size, size_t *deleted);

/*  True when `key` starts with the `size` bytes at `prefix`. */
static inline int
kvp_lmdb_has_prefix (const MDB_val *key, const void *prefix, size_t size)
{
    return key->mv_size >= size && memcmp (key->mv_data, prefix, size) == 0;
}

/*  Big-endian fields: put writes `value` at `p`, get reads it back. */
static inline void
kvp_lmdb_put_u16 (uint8_t *p, uint16_t value)
{
    p [0] = (uint8_t) (value >> 8);
    p [1] = (uint8_t) value;
}

static inline uint16_t
kvp_lmdb_get_u16 (const uint8_t *p)
{
    return (uint16_t) ((p [0] << 8) | p [1]);
}

static inline void
kvp_lmdb_put_u32 (uint8_t *p, uint32_t value)
{
    kvp_lmdb_put_u16 (p, (uint16_t) (value >> 16));
    kvp_lmdb_put_u16 (p + 2, (uint16_t) value);
}

static inline uint32_t
kvp_lmdb_get_u32 (const uint8_t *p)
{
    return ((uint32_t) kvp_lmdb_get_u16 (p) << 16) | kvp_lmdb_get_u16 (p + 2);
}

static inline void
kvp_lmdb_put_u64 (uint8_t *p, uint64_t value)
{
    kvp_lmdb_put_u32 (p, (uint32_t) (value >> 32));
    kvp_lmdb_put_u32 (p + 4, (uint32_t) value);
}

static inline uint64_t
kvp_lmdb_get_u64 (const uint8_t *p)
{
    return ((uint64_t) kvp_lmdb_get_u32 (p) << 32) | kvp_lmdb_get_u32 (p + 4);
}

#ifdef __cplusplus
}
#endif
#endif
