/*  kvp_recover.c - a store's opening: tables, layout, the log replayed
    (see kvp_recover.h).
*/
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_recover.h"
#include "kvp_ckpt.h"
#include "kvp_lmdb.h"
#include "kvp_store.h"

#define S_FORMAT        "2"         //  the layout this code reads and writes
#define S_FORMAT_KEY    "\xff\xff" "format"     //  its name in meta

//  One opening: where, and what the replay found
typedef struct {
    MDB_env *env;
    kvp_wal_t *wal;
    const char *dir;
    MDB_dbi *dbis;
    MDB_txn *txn;                   //  the replay's transaction
    int full;                       //  LMDB found no room: stop applying
    kvp_recover_t *out;
    kvp_recover_record_t **tail;    //  where the next copy goes
} s_open_t;

//  Refuse the first layout before anything is created: it kept the jobs
//  themselves in "log" and had no "logbody"
static int
s_layout_check (const char *dir, MDB_txn *txn)
{
    int rc = kvp_lmdb_dbi_exists (txn, "logbody");
    if (rc == KVP_STORE_NOTFOUND) {
        rc = kvp_lmdb_dbi_exists (txn, "log");
        if (rc == KVP_STORE_OK) {
            zsys_error ("store %s: made with an older log layout", dir);
            return KVP_STORE_MISMATCH;
        }
    }
    return rc == KVP_STORE_NOTFOUND? KVP_STORE_OK: rc;
}

//  The layout's name in meta: written when missing (a new store), else it
//  must be ours
static int
s_format_check (s_open_t *open, MDB_txn *txn)
{
    MDB_dbi meta = open->dbis [KVP_TABLE_META];
    MDB_val key = { strlen (S_FORMAT_KEY), (void *) S_FORMAT_KEY }, val;
    int rc = mdb_get (txn, meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        val = (MDB_val) { strlen (S_FORMAT), (void *) S_FORMAT };
        return kvp_lmdb_rc (mdb_put (txn, meta, &key, &val, 0),
                            "format put");
    }
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "format get");
    if (val.mv_size == strlen (S_FORMAT)
    &&  memcmp (val.mv_data, S_FORMAT, val.mv_size) == 0)
        return KVP_STORE_OK;
    zsys_error ("store %s: format %.*s, not " S_FORMAT, open->dir,
                (int) (val.mv_size > 16? 16: val.mv_size),
                (const char *) val.mv_data);
    return KVP_STORE_MISMATCH;
}

//  In one write transaction: open (creating if missing) the named
//  databases, check the layout, read what LMDB holds of the log
static int
s_tables (s_open_t *open, MDB_txn *txn)
{
    const char *names [] = { "meta", "systems", "items", "log", "logbody",
                             "keys" };
    MDB_dbi *dbis [KVP_TABLE_COUNT];
    for (int i = 0; i < KVP_TABLE_COUNT; i++)
        dbis [i] = &open->dbis [i];
    int rc = s_layout_check (open->dir, txn);
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_dbis_create (txn, names, dbis, KVP_TABLE_COUNT);
    if (rc == KVP_STORE_OK)
        rc = s_format_check (open, txn);
    if (rc == KVP_STORE_OK)
        rc = kvp_ckpt_read (txn, open->dbis [KVP_TABLE_META],
                            &open->out->applied);
    return rc;
}

//  Keep a copy of a record (whether LMDB takes them is known only at the
//  commit). False when out of memory.
static bool
s_keep (s_open_t *open, uint64_t lsn, const void *data, size_t size)
{
    kvp_recover_record_t *kept = malloc (sizeof *kept);
    void *copy = kept? malloc (size? size: 1): NULL;
    if (!copy) {
        free (kept);
        return false;
    }
    memcpy (copy, data, size);
    *kept = (kvp_recover_record_t) { NULL, lsn, copy, size };
    *open->tail = kept;
    open->tail = &kept->next;
    return true;
}

//  Replay one log record into the transaction, and keep a copy
static int
s_replay_one (void *arg, uint64_t lsn, const void *data, size_t size)
{
    s_open_t *open = (s_open_t *) arg;
    int rc = open->full? KVP_STORE_OK
           : kvp_ckpt_apply (open->txn, open->dbis, data, size);
    if (rc == KVP_STORE_FULL)
        open->full = rc;
    else
    if (rc == KVP_STORE_CORRUPT)
        zsys_error ("store %s: log record %llu does not decode",
                    open->dir, (unsigned long long) lsn);
    if (rc == KVP_STORE_CORRUPT)
        return rc;
    if (!s_keep (open, lsn, data, size))
        return KVP_STORE_EIO;       //  out of memory
    open->out->last = lsn;
    open->out->count++;
    return KVP_STORE_OK;
}

//  In another: apply every log record the last checkpoint lacks. FULL
//  when LMDB has no room for them.
static int
s_replay (s_open_t *open, MDB_txn *txn)
{
    kvp_recover_t *out = open->out;
    int64_t start = zclock_usecs ();
    open->txn = txn;
    out->last = out->applied;
    int rc = kvp_wal_replay (open->wal, out->applied, s_replay_one, open);
    rc = rc? rc: open->full;
    if (rc == KVP_STORE_OK && out->count)
        rc = kvp_ckpt_mark (txn, open->dbis [KVP_TABLE_META], out->last);
    if (rc == KVP_STORE_OK && out->count)
        zsys_notice ("store %s: replayed %zu log records (%llu..%llu) in "
                     "%lld us", open->dir, out->count,
                     (unsigned long long) (out->applied + 1),
                     (unsigned long long) out->last,
                     (long long) (zclock_usecs () - start));
    return rc;
}

//  One write transaction of `fn`, committed: fn's code, or the commit's
//  (FULL when LMDB had no room).
static int
s_txn (s_open_t *open, int (*fn) (s_open_t *, MDB_txn *))
{
    MDB_txn *txn = NULL;
    int rc = kvp_lmdb_rc (mdb_txn_begin (open->env, NULL, 0, &txn),
                          "open begin");
    if (rc == KVP_STORE_OK)
        rc = fn (open, txn);
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (open->env, txn, "open commit");
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

int
kvp_recover (MDB_env *env, kvp_wal_t *wal, const char *dir, MDB_dbi *dbis,
             kvp_recover_t *recover)
{
    *recover = (kvp_recover_t) { 0 };
    s_open_t open = { env, wal, dir, dbis, NULL, 0, recover,
                      &recover->kept };
    int rc = s_txn (&open, s_tables);
    if (rc == KVP_STORE_OK)
        rc = s_txn (&open, s_replay);
    if (rc == KVP_STORE_FULL && recover->count)
        return KVP_STORE_OK;        //  kept: LMDB stays at its checkpoint
    kvp_recover_free (recover);     //  LMDB holds them all, or failed
    if (rc == KVP_STORE_OK)
        recover->applied = recover->last;
    return rc;
}

void
kvp_recover_free (kvp_recover_t *recover)
{
    while (recover->kept) {
        kvp_recover_record_t *kept = recover->kept;
        recover->kept = kept->next;
        free (kept->data);
        free (kept);
    }
}
