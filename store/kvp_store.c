/*  kvp_store.c - a worker's data: one LMDB environment, its partitions.

    Record layouts (all integers big-endian; see kvp_store.h for the keys):

      meta      part(2)             -> epoch(4) seq(8) sent(8)
                "\xff\xff" + name   -> value bytes (no NUL)
                A partition record's key is exactly 2 bytes, a global
                value's key longer (names are not empty), so partition
                0xffff and the global values never collide. The global
                value "format" names the layout, S_FORMAT; a store that
                has another, or a "log" but no "logbody" (the first
                layout, with the jobs in "log"), is refused.
      systems   part(2) guid(16)    -> created_ms(8) exchange(1)
                                       name_len(2) name
      items     see kvp_itemtab.h
      log, logbody, keys
                see kvp_joblog.h

    A record shorter than its layout says is KVP_STORE_CORRUPT; longer
    records are accepted (room for fields added later).

    The environment, the batch and its nested ops live in kvp_env: every
    record function here takes its transaction from there.
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <czmq.h>
#include "kvp_store.h"
#include "kvp_env.h"
#include "kvp_itemtab.h"
#include "kvp_joblog.h"
#include "kvp_lmdb.h"

#define S_DBS_MAX       8           //  named databases: 6 used, room for more
#define S_MAP_DEFAULT   ((size_t) 64 << 20)
#define S_PART_MAX      0xffffu     //  partitions are 2 key bytes
#define S_PART_REC      20          //  epoch(4) seq(8) sent(8)
#define S_SYSTEM_HEAD   11          //  created_ms(8) exchange(1) name_len(2)
#define S_META_MAX      (KVP_LMDB_KEY_MAX - 2)
#define S_FORMAT        "2"         //  the layout this code reads and writes

struct _kvp_store_t {
    kvp_env_t *env;                 //  the environment and transactions
    bool full;                      //  FULL returned, no reclaim since
    bool freed;                     //  this batch deleted records
    MDB_dbi meta, systems, items_dbi, log_dbi, body_dbi, keys_dbi;
    kvp_itemtab_t *items;           //  the items table over items_dbi
    kvp_joblog_t *log;              //  the log and keys tables
};

const char *
kvp_store_strerror (int rc)
{
    switch (rc) {
        case KVP_STORE_OK:       return "success";
        case KVP_STORE_NOTFOUND: return "no such record";
        case KVP_STORE_EXISTS:   return "record already exists";
        case KVP_STORE_FULL:     return "store full (map or disk)";
        case KVP_STORE_EINVAL:   return "invalid argument or no transaction";
        case KVP_STORE_CORRUPT:  return "record does not decode";
        case KVP_STORE_MISMATCH: return "directory made with other settings";
        case KVP_STORE_EIO:      return "storage failure";
        default:                 return "unknown store error";
    }
}

//  --- Opening and closing ------------------------------------------------

//  Build a global value's key "\xff\xff" + name; 0 if the name is unfit
static size_t
s_meta_key (uint8_t *key, const char *name)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len > S_META_MAX)
        return 0;
    key [0] = key [1] = 0xff;
    memcpy (key + 2, name, len);
    return len + 2;
}

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
s_format_check (kvp_store_t *self, const char *dir, MDB_txn *txn)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_meta_key (bytes, "format"), bytes }, val;
    int rc = mdb_get (txn, self->meta, &key, &val);
    if (rc == MDB_NOTFOUND) {
        val = (MDB_val) { strlen (S_FORMAT), (void *) S_FORMAT };
        return kvp_lmdb_rc (mdb_put (txn, self->meta, &key, &val, 0),
                            "format put");
    }
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "format get");
    if (val.mv_size == strlen (S_FORMAT)
    &&  memcmp (val.mv_data, S_FORMAT, val.mv_size) == 0)
        return KVP_STORE_OK;
    zsys_error ("store %s: format %.*s, not " S_FORMAT, dir,
                (int) (val.mv_size > 16? 16: val.mv_size),
                (const char *) val.mv_data);
    return KVP_STORE_MISMATCH;
}

//  Open (creating if missing) the named databases, checking the layout,
//  in one transaction
static int
s_open_dbis (kvp_store_t *self, const char *dir)
{
    const char *names [] = { "meta", "systems", "items", "log", "logbody",
                             "keys" };
    MDB_dbi *dbis [] = { &self->meta, &self->systems, &self->items_dbi,
                         &self->log_dbi, &self->body_dbi, &self->keys_dbi };
    MDB_env *env = kvp_env_handle (self->env);
    MDB_txn *txn = NULL;
    int rc = kvp_lmdb_rc (mdb_txn_begin (env, NULL, 0, &txn), "open begin");
    if (rc == KVP_STORE_OK)
        rc = s_layout_check (dir, txn);
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_dbis_create (txn, names, dbis, 6);
    if (rc == KVP_STORE_OK)
        rc = s_format_check (self, dir, txn);
    if (rc == KVP_STORE_OK)
        return kvp_lmdb_commit (env, txn, "open databases");
    if (txn)
        mdb_txn_abort (txn);
    return rc;
}

kvp_store_t *
kvp_store_new (const char *dir, const kvp_store_config_t *config, int *rc)
{
    kvp_store_config_t defaults = { 0, 0, false };
    if (!config)
        config = &defaults;
    //  So that RLIMIT_FSIZE makes writes fail with EFBIG (-> FULL) instead
    //  of killing the process
    signal (SIGXFSZ, SIG_IGN);
    if (!dir || !*dir) {
        if (rc)
            *rc = KVP_STORE_EINVAL;
        return NULL;
    }
    int status = KVP_STORE_EIO;         //  out of memory until opened
    kvp_store_t *self = (kvp_store_t *) calloc (1, sizeof (*self));
    if (self) {
        size_t size = config->map_size? config->map_size: S_MAP_DEFAULT;
        self->env = kvp_env_new (dir, size, config->map_max, config->nosync,
                                 S_DBS_MAX, &status);
    }
    if (status == KVP_STORE_OK)
        status = s_open_dbis (self, dir);
    if (status == KVP_STORE_OK
    && (!(self->items = kvp_itemtab_new (self->items_dbi))
    ||  !(self->log = kvp_joblog_new (self->log_dbi, self->body_dbi,
                                      self->keys_dbi))))
        status = KVP_STORE_EIO;         //  out of memory
    if (status != KVP_STORE_OK) {
        zsys_error ("store %s: cannot open: %s", dir,
                    kvp_store_strerror (status));
        kvp_store_destroy (&self);
    }
    if (rc)
        *rc = status;
    return self;
}

void
kvp_store_destroy (kvp_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_store_t *self = *self_p;
    kvp_env_destroy (&self->env);       //  aborts an open batch first
    kvp_itemtab_destroy (&self->items);
    kvp_joblog_destroy (&self->log);
    free (self);
    *self_p = NULL;
}

//  --- Transactions (kvp_env) ---------------------------------------------

//  The transaction reads and writes of a batch use: the innermost one.
//  EINVAL outside a batch; the batch's failure once it has failed.
static int
s_txn (kvp_store_t *self, MDB_txn **txn)
{
    return self? kvp_env_txn (self->env, txn): KVP_STORE_EINVAL;
}

//  Note a write's outcome (FULL and EIO fail the batch) and return it
//  Remember that the store ran out of space (see s_reclaim).
static int
s_note (kvp_store_t *self, int rc)
{
    if (rc == KVP_STORE_FULL)
        self->full = true;
    return rc;
}

static int
s_written (kvp_store_t *self, int rc)
{
    return s_note (self, kvp_env_written (self->env, rc));
}

//  True when a batch is open: the calls that run their own transaction
//  are refused then
static bool
s_in_batch (kvp_store_t *self)
{
    return kvp_env_depth (self->env) > 0;
}

int
kvp_store_begin (kvp_store_t *self)
{
    if (!self)
        return KVP_STORE_EINVAL;
    self->freed = false;
    return kvp_env_begin (self->env);
}

void
kvp_store_abort (kvp_store_t *self)
{
    if (self) {
        kvp_env_abort (self->env);
        self->freed = false;
    }
}

//  LMDB reuses the pages a commit frees only after one more commit (the
//  last two snapshots must stay intact). In a full store nothing else may
//  commit, so the space a deletion freed would stay out of reach and the
//  writes waiting for it would keep failing: after a commit that freed
//  space in a full store, commit once more, a small write of our own.
static void
s_reclaim (kvp_store_t *self)
{
    bool due = self->full && self->freed;
    self->freed = false;
    if (!due)
        return;
    int rc = kvp_store_meta_put (self, "reclaim", "1");
    if (rc)
        zsys_warning ("store full: cannot reclaim freed space: %s",
                      kvp_store_strerror (rc));
    else
        self->full = false;
}

int
kvp_store_commit (kvp_store_t *self)
{
    if (!self)
        return KVP_STORE_EINVAL;
    int rc = s_note (self, kvp_env_commit (self->env));
    if (rc == KVP_STORE_OK)
        s_reclaim (self);
    self->freed = false;
    return rc;
}

int
kvp_store_op_begin (kvp_store_t *self)
{
    return self? kvp_env_op_begin (self->env): KVP_STORE_EINVAL;
}

int
kvp_store_op_end (kvp_store_t *self, bool keep)
{
    return self? s_note (self, kvp_env_op_end (self->env, keep))
               : KVP_STORE_EINVAL;
}

int
kvp_store_grow (kvp_store_t *self)
{
    if (!self)
        return KVP_STORE_EINVAL;
    int rc = s_note (self, kvp_env_grow (self->env));
    if (rc == KVP_STORE_OK)
        self->full = false;         //  room again without a reclaim
    return rc;
}

//  --- Global values ------------------------------------------------------

int
kvp_store_meta_get (kvp_store_t *self, const char *name, char *value,
                    size_t size)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_meta_key (bytes, name), bytes }, val;
    MDB_txn *txn = NULL;
    if (!self || s_in_batch (self) || key.mv_size == 0 || (!value && size))
        return KVP_STORE_EINVAL;
    int rc = kvp_env_read_begin (self->env, &txn);
    if (rc != KVP_STORE_OK)
        return rc;
    rc = kvp_lmdb_rc (mdb_get (txn, self->meta, &key, &val), "meta get");
    if (rc == KVP_STORE_OK && size) {
        size_t copy = val.mv_size < size - 1? val.mv_size: size - 1;
        memcpy (value, val.mv_data, copy);
        value [copy] = '\0';
    }
    if (rc == KVP_STORE_OK)
        rc = val.mv_size > INT32_MAX? INT32_MAX: (int) val.mv_size;
    kvp_env_read_end (self->env);
    return rc;
}

int
kvp_store_meta_put (kvp_store_t *self, const char *name, const char *value)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_meta_key (bytes, name), bytes };
    MDB_val val = { value? strlen (value): 0, (void *) value };
    MDB_txn *txn = NULL;
    if (!self || s_in_batch (self) || key.mv_size == 0 || !value)
        return KVP_STORE_EINVAL;
    MDB_env *env = kvp_env_handle (self->env);
    int rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "meta begin");
    rc = mdb_put (txn, self->meta, &key, &val, 0);
    if (rc == MDB_SUCCESS)
        return kvp_lmdb_commit (env, txn, "meta commit");
    mdb_txn_abort (txn);
    return kvp_lmdb_rc (rc, "meta put");
}

//  --- Partitions ---------------------------------------------------------

static int
s_part_read (kvp_store_t *self, MDB_txn *txn, uint32_t part,
             kvp_partition_t *info)
{
    uint8_t bytes [2];
    kvp_lmdb_put_u16 (bytes, (uint16_t) part);
    MDB_val key = { 2, bytes }, val;
    int rc = kvp_lmdb_rc (mdb_get (txn, self->meta, &key, &val), "part get");
    if (rc == KVP_STORE_OK && val.mv_size < S_PART_REC)
        rc = KVP_STORE_CORRUPT;
    if (rc == KVP_STORE_OK) {
        const uint8_t *p = (const uint8_t *) val.mv_data;
        info->epoch = kvp_lmdb_get_u32 (p);
        info->seq = kvp_lmdb_get_u64 (p + 4);
        info->sent = kvp_lmdb_get_u64 (p + 12);
    }
    return rc;
}

static int
s_part_write (kvp_store_t *self, MDB_txn *txn, uint32_t part,
              const kvp_partition_t *info)
{
    uint8_t kbytes [2], vbytes [S_PART_REC];
    kvp_lmdb_put_u16 (kbytes, (uint16_t) part);
    kvp_lmdb_put_u32 (vbytes, info->epoch);
    kvp_lmdb_put_u64 (vbytes + 4, info->seq);
    kvp_lmdb_put_u64 (vbytes + 12, info->sent);
    MDB_val key = { 2, kbytes }, val = { S_PART_REC, vbytes };
    int rc = mdb_put (txn, self->meta, &key, &val, 0);
    return s_written (self, kvp_lmdb_rc (rc, "part put"));
}

//  Gather the 2-byte meta keys (partition records) into a new array
static int
s_part_list (kvp_store_t *self, MDB_txn *txn, uint32_t **list,
             size_t *count)
{
    MDB_cursor *cursor = NULL;
    MDB_val key, val;
    size_t size = 0;
    int rc = mdb_cursor_open (txn, self->meta, &cursor);
    if (rc == MDB_SUCCESS)
        rc = mdb_cursor_get (cursor, &key, &val, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = mdb_cursor_get (cursor, &key, &val,
                                                   MDB_NEXT)) {
        if (key.mv_size != 2)
            continue;                   //  a global value
        if (*count == size) {
            size = size? size * 2: 64;
            uint32_t *more = (uint32_t *) realloc (*list, size * 4);
            if (!more)
                break;
            *list = more;
        }
        (*list) [(*count)++] = kvp_lmdb_get_u16 ((uint8_t *) key.mv_data);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    if (rc == MDB_SUCCESS)
        return KVP_STORE_EIO;           //  out of memory
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "part list");
}

int
kvp_store_partitions (kvp_store_t *self, uint32_t **list, size_t *count)
{
    MDB_txn *txn = NULL;
    if (!self || s_in_batch (self) || !list || !count)
        return KVP_STORE_EINVAL;
    *list = NULL;
    *count = 0;
    int rc = kvp_env_read_begin (self->env, &txn);
    if (rc == KVP_STORE_OK) {
        rc = s_part_list (self, txn, list, count);
        kvp_env_read_end (self->env);
    }
    if (rc != KVP_STORE_OK) {
        free (*list);
        *list = NULL;
        *count = 0;
    }
    return rc;
}

int
kvp_store_partition_get (kvp_store_t *self, uint32_t part,
                         kvp_partition_t *info)
{
    MDB_txn *txn = NULL;
    if (!self || part > S_PART_MAX || !info)
        return KVP_STORE_EINVAL;
    if (s_in_batch (self)) {
        int rc = s_txn (self, &txn);
        return rc? rc: s_part_read (self, txn, part, info);
    }
    int rc = kvp_env_read_begin (self->env, &txn);
    if (rc == KVP_STORE_OK) {
        rc = s_part_read (self, txn, part, info);
        kvp_env_read_end (self->env);
    }
    return rc;
}

int
kvp_store_partition_sent (kvp_store_t *self, uint32_t part, uint64_t sent)
{
    MDB_txn *txn = NULL;
    kvp_partition_t info;
    int rc = s_txn (self, &txn);
    if (rc == KVP_STORE_OK && part > S_PART_MAX)
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, txn, part, &info);
    if (rc == KVP_STORE_OK && sent > info.seq)
        rc = KVP_STORE_EINVAL;          //  cannot have sent the future
    if (rc != KVP_STORE_OK || info.sent == sent)
        return rc;
    info.sent = sent;
    return s_part_write (self, txn, part, &info);
}

//  --- Systems ------------------------------------------------------------

//  part(2) + guid(16): a system's key, and the prefix of its items and keys
static void
s_prefix (uint8_t *prefix, uint32_t part, const uint8_t *guid)
{
    kvp_lmdb_put_u16 (prefix, (uint16_t) part);
    memcpy (prefix + 2, guid, 16);
}

//  The transaction for a call naming a system, and (when `prefix` is not
//  NULL) the system's key prefix, part + guid; EINVAL on bad arguments
static int
s_system_txn (kvp_store_t *self, uint32_t part, const uint8_t *guid,
              MDB_txn **txn, uint8_t *prefix)
{
    int rc = s_txn (self, txn);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || !guid))
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK && prefix)
        s_prefix (prefix, part, guid);
    return rc;
}

int
kvp_store_system_get (kvp_store_t *self, uint32_t part,
                      const uint8_t guid [16], kvp_system_t *sys)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix }, val;
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK || !sys)
        return rc? rc: KVP_STORE_EINVAL;
    rc = kvp_lmdb_rc (mdb_get (txn, self->systems, &key, &val), "sys get");
    if (rc != KVP_STORE_OK)
        return rc;
    const uint8_t *p = (const uint8_t *) val.mv_data;
    size_t name_len = val.mv_size < S_SYSTEM_HEAD? SIZE_MAX
                                                 : kvp_lmdb_get_u16 (p + 9);
    if (name_len > KVP_STORE_ELEMENT_MAX
    ||  val.mv_size - S_SYSTEM_HEAD < name_len)
        return KVP_STORE_CORRUPT;
    sys->created_ms = kvp_lmdb_get_u64 (p);
    sys->exchange = p [8] != 0;
    sys->name_len = name_len;
    memcpy (sys->name, p + S_SYSTEM_HEAD, name_len);
    sys->name [name_len] = '\0';
    return KVP_STORE_OK;
}

int
kvp_store_system_put (kvp_store_t *self, uint32_t part,
                      const uint8_t guid [16], const kvp_system_t *sys,
                      bool create)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc == KVP_STORE_OK && (!sys || sys->name_len > KVP_STORE_ELEMENT_MAX))
        rc = KVP_STORE_EINVAL;
    if (rc != KVP_STORE_OK)
        return rc;
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix };
    MDB_val val = { S_SYSTEM_HEAD + sys->name_len, NULL };
    rc = mdb_put (txn, self->systems, &key, &val,
                  MDB_RESERVE | (create? MDB_NOOVERWRITE: 0));
    if (rc != MDB_SUCCESS)
        return s_written (self, kvp_lmdb_rc (rc, "sys put"));
    uint8_t *p = (uint8_t *) val.mv_data;
    kvp_lmdb_put_u64 (p, sys->created_ms);
    p [8] = sys->exchange? 1: 0;
    kvp_lmdb_put_u16 (p + 9, (uint16_t) sys->name_len);
    memcpy (p + S_SYSTEM_HEAD, sys->name, sys->name_len);
    return KVP_STORE_OK;
}

int
kvp_store_system_delete (kvp_store_t *self, uint32_t part,
                         const uint8_t guid [16])
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix };
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    rc = kvp_lmdb_rc (mdb_del (txn, self->systems, &key, NULL), "sys del");
    //  The log stays: its jobs remain queryable after the system is gone
    if (rc == KVP_STORE_OK)
        rc = kvp_itemtab_clear (self->items, txn, prefix);
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_keys_clear (self->log, txn, prefix);
    self->freed |= rc == KVP_STORE_OK;
    return s_written (self, rc);
}

//  --- Items --------------------------------------------------------------

int
kvp_store_item_get (kvp_store_t *self, uint32_t part,
                    const uint8_t guid [16], uint32_t source,
                    const char *name, size_t name_len,
                    const char **data, size_t *data_len)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    return kvp_itemtab_get (self->items, txn, prefix, source, name, name_len,
                            data, data_len);
}

int
kvp_store_item_put (kvp_store_t *self, uint32_t part,
                    const uint8_t guid [16], uint32_t source,
                    const char *name, size_t name_len,
                    const char *data, size_t data_len, bool create)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    return s_written (self, kvp_itemtab_put (self->items, txn, prefix, source,
                                             name, name_len, data, data_len,
                                             create));
}

int
kvp_store_item_delete (kvp_store_t *self, uint32_t part,
                       const uint8_t guid [16], uint32_t source,
                       const char *name, size_t name_len)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    rc = s_written (self, kvp_itemtab_delete (self->items, txn, prefix,
                                              source, name, name_len));
    self->freed |= rc == KVP_STORE_OK;
    return rc;
}

int
kvp_store_items_each (kvp_store_t *self, uint32_t part,
                      const uint8_t guid [16], uint32_t source,
                      kvp_store_item_fn *fn, void *arg)
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    return kvp_itemtab_each (self->items, txn, prefix, source, fn, arg);
}

//  --- The log ------------------------------------------------------------

int
kvp_store_log_next (kvp_store_t *self, uint32_t part, uint32_t *epoch,
                    uint64_t *seq)
{
    MDB_txn *txn = NULL;
    kvp_partition_t info = { 0, 0, 0 };
    int rc = s_txn (self, &txn);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || !epoch || !seq))
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, txn, part, &info);
    if (rc == KVP_STORE_NOTFOUND) {
        //  A new partition here: a fresh epoch keeps its job ids apart
        //  from any earlier life of the partition. Written in the batch,
        //  so an aborted batch forgets it.
        while (rc == KVP_STORE_NOTFOUND && info.epoch == 0)
            if (getrandom (&info.epoch, sizeof (info.epoch), 0)
                != (ssize_t) sizeof (info.epoch))
                rc = kvp_lmdb_rc (errno, "getrandom");
        if (rc == KVP_STORE_NOTFOUND)
            rc = s_part_write (self, txn, part, &info);
    }
    if (rc == KVP_STORE_OK) {
        *epoch = info.epoch;
        *seq = info.seq + 1;
    }
    return rc;
}

int
kvp_store_log_put (kvp_store_t *self, uint32_t part, uint64_t seq,
                   uint64_t time_ms, const uint8_t guid [16],
                   const char *key, size_t key_len,
                   const uint8_t digest [16],
                   const void *event, size_t event_len)
{
    MDB_txn *txn = NULL;
    kvp_partition_t info;
    kvp_joblog_entry_t entry = { time_ms, guid, key, key? key_len: 0,
                                 key? digest: NULL, event, event_len };
    int rc = s_system_txn (self, part, guid, &txn, NULL);
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, txn, part, &info);
    if (rc == KVP_STORE_NOTFOUND
    || (rc == KVP_STORE_OK && seq != info.seq + 1))
        rc = KVP_STORE_EINVAL;          //  not the seq log_next gave
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_put (self->log, txn, part, seq, &entry);
    if (rc == KVP_STORE_OK) {
        info.seq = seq;
        rc = s_part_write (self, txn, part, &info);
    }
    return s_written (self, rc);
}

int
kvp_store_log_get (kvp_store_t *self, uint32_t part, uint64_t seq,
                   const void **event, size_t *event_len)
{
    MDB_txn *txn = NULL;
    kvp_joblog_entry_t entry;
    int rc = s_txn (self, &txn);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || !event || !event_len))
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_get (self->log, txn, part, seq, &entry);
    if (rc == KVP_STORE_OK) {
        *event = entry.event;
        *event_len = entry.event_len;
    }
    return rc;
}

int
kvp_store_log_each (kvp_store_t *self, uint32_t part, uint64_t from,
                    kvp_store_log_fn *fn, void *arg)
{
    MDB_txn *txn = NULL;
    int rc = s_txn (self, &txn);
    if (rc == KVP_STORE_OK && part > S_PART_MAX)
        rc = KVP_STORE_EINVAL;
    return rc? rc: kvp_joblog_each (self->log, txn, part, from, fn, arg);
}

int
kvp_store_key_get (kvp_store_t *self, uint32_t part,
                   const uint8_t guid [16], const char *key,
                   size_t key_len, uint64_t *seq, uint8_t digest [16])
{
    MDB_txn *txn = NULL;
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_txn (self, part, guid, &txn, prefix);
    if (rc != KVP_STORE_OK)
        return rc;
    return kvp_joblog_key_get (self->log, txn, prefix, key, key_len, seq,
                               digest);
}

//  --- Retention ----------------------------------------------------------

int
kvp_store_purge (kvp_store_t *self, uint64_t before_ms, size_t max,
                 size_t *purged)
{
    MDB_txn *txn = NULL;
    size_t count = 0;
    if (!self || s_in_batch (self))
        return KVP_STORE_EINVAL;
    MDB_env *env = kvp_env_handle (self->env);
    int rc = kvp_lmdb_rc (mdb_txn_begin (env, NULL, 0, &txn),
                          "purge begin");
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_purge (self->log, txn, before_ms, max, &count);
    if (rc == KVP_STORE_OK)
        rc = s_note (self, kvp_lmdb_commit (env, txn, "purge commit"));
    else
    if (txn)
        mdb_txn_abort (txn);
    if (purged)
        *purged = rc == KVP_STORE_OK? count: 0;
    self->freed = rc == KVP_STORE_OK && count > 0;
    if (self->freed)
        s_reclaim (self);
    return rc;
}
