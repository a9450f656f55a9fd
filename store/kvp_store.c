/*  kvp_store.c - a worker's data: the write-ahead log, the overlay of what
    LMDB does not hold yet, and LMDB with its checkpoint thread.

    Record layouts (all integers big-endian; see kvp_store.h for the keys):

      meta      part(2)             -> epoch(4) seq(8) sent(8)
                "\xff\xff" + name   -> value bytes (no NUL)
                A partition record's key is exactly 2 bytes, a global
                value's key longer (names are not empty), so partition
                0xffff and the global values never collide. The global
                value "format" names the layout (kvp_recover); a store that
                has another, or a "log" but no "logbody" (the first
                layout, with the jobs in "log"), is refused.
                "wal.applied" is the last log record LMDB holds (kvp_ckpt).
      systems   part(2) guid(16)    -> created_ms(8) exchange(1)
                                       name_len(2) name
      items     see kvp_itemtab.h
      log, logbody, keys
                see kvp_joblog.h

    A record shorter than its layout says is KVP_STORE_CORRUPT; longer
    records are accepted (room for fields added later).

    Every write goes through the view (kvp_view): into the overlay and the
    batch's change record. kvp_store_commit appends that record to the
    log, syncs it, and hands it to the checkpoint; nothing else commits.
*/
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <czmq.h>
#include "kvp_store.h"
#include "kvp_ckpt.h"
#include "kvp_env.h"
#include "kvp_itemtab.h"
#include "kvp_joblog.h"
#include "kvp_lmdb.h"
#include "kvp_recover.h"
#include "kvp_replica.h"
#include "kvp_view.h"
#include "kvp_wal.h"

#define S_DBS_MAX       8           //  named databases: 6 used, room for more
#define S_MAP_DEFAULT   ((size_t) 16 << 30)
#define S_BACKLOG_MAX   ((size_t) 256 << 20)
#define S_ROOM_WAIT_MS  2000        //  for a checkpoint, when near full
#define S_PART_MAX      0xffffu     //  partitions are 2 key bytes
#define S_PART_REC      20          //  epoch(4) seq(8) sent(8)
#define S_SYSTEM_HEAD   11          //  created_ms(8) exchange(1) name_len(2)
#define S_META_MAX      (KVP_LMDB_KEY_MAX - 2)
#define S_DEPTH_MAX     5           //  the batch and up to 4 nested ops

struct _kvp_store_t {
    char *dir;
    kvp_env_t *env;                 //  LMDB and the read transaction
    MDB_dbi dbis [KVP_TABLE_COUNT];
    kvp_view_t *view;               //  overlay + snapshot + change record
    kvp_itemtab_t *items;           //  the items table
    kvp_joblog_t *log;              //  the log and keys tables
    kvp_wal_t *wal;                 //  the write-ahead log
    kvp_ckpt_t *ckpt;               //  the checkpoint thread
    uint64_t next;                  //  lsn the next record gets
    uint64_t evicted;               //  the overlay holds nothing older
    int depth;                      //  0, or the batch and its open ops
    kvp_view_mark_t marks [S_DEPTH_MAX];
    int failed;                     //  a write failed: the batch must go
    int broken;                     //  the log failed: no more writes
    size_t backlog_max;
    uint64_t purged;                //  checkpoint's purge count seen
    kvp_change_t last;              //  the last committed batch's record
    bool last_ok;                   //  ... and no batch begun since
    kvp_store_logged_fn *logged;    //  between a record's append and sync
    void *logged_arg;
    bool logging;                   //  inside that call
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
        case KVP_STORE_BUSY:     return "checkpoints behind: try again";
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

//  LMDB could not take the log's records (a full disk): the overlay holds
//  them and the checkpoint applies them once there is room. Until then
//  reads are served and writes get 32778.
static int
s_restore (kvp_store_t *self, kvp_recover_t *recover)
{
    zsys_warning ("store %s: no room to replay %zu log records into LMDB; "
                  "kept in memory until there is", self->dir, recover->count);
    int rc = KVP_STORE_OK;
    for (kvp_recover_record_t *kept = recover->kept;
         kept && rc == KVP_STORE_OK; kept = kept->next) {
        size_t changes = 0;
        rc = kvp_view_restore (self->view, kept->lsn, kept->data, kept->size,
                               &changes);
        if (rc == KVP_STORE_OK
        &&  kvp_ckpt_push (self->ckpt, kept->lsn, kept->data, kept->size,
                           changes))
            rc = KVP_STORE_EIO;     //  out of memory (the data is freed)
        kept->data = NULL;          //  the checkpoint's now, or freed
    }
    return rc;
}

//  Open LMDB and the log, recover, start the checkpoint
static int
s_open (kvp_store_t *self, const kvp_store_config_t *config)
{
    size_t map = config->map_max? config->map_max
               : config->map_size? config->map_size: S_MAP_DEFAULT;
    int rc = KVP_STORE_EIO;
    self->env = kvp_env_new (self->dir, map, S_DBS_MAX, &rc);
    char *wal_dir = rc? NULL: zsys_sprintf ("%s/wal", self->dir);
    kvp_wal_config_t wal_config = { config->wal_segment, config->nosync };
    if (wal_dir)
        self->wal = kvp_wal_open (wal_dir, &wal_config, &rc);
    zstr_free (&wal_dir);
    if (!self->wal)
        return rc? rc: KVP_STORE_EIO;
    //  The log's folder is a name in ours (unless nothing may be synced)
    if (!config->nosync && (rc = kvp_lmdb_sync_dir (self->dir)) != 0)
        return rc;
    MDB_env *env = kvp_env_handle (self->env);
    kvp_recover_t recover;
    rc = kvp_recover (env, self->wal, self->dir, self->dbis, &recover);
    if (rc == KVP_STORE_OK)
        rc = kvp_wal_release (self->wal, recover.applied);
    self->next = recover.last + 1;
    self->evicted = recover.applied;
    kvp_ckpt_config_t ckpt_config = { config->checkpoint_ms,
        config->checkpoint_ops, config->checkpoint_log,
        kvp_wal_segment_size (self->wal) };
    if (rc == KVP_STORE_OK
    && (!(self->view = kvp_view_new (self->dbis))
    ||  !(self->items = kvp_itemtab_new ())
    ||  !(self->log = kvp_joblog_new (self->dbis [KVP_TABLE_LOG],
                                      self->dbis [KVP_TABLE_LOGBODY],
                                      self->dbis [KVP_TABLE_KEYS]))
    ||  !(self->ckpt = kvp_ckpt_new (env, self->dbis, self->log,
                                     recover.applied, &ckpt_config))))
        rc = KVP_STORE_EIO;             //  out of memory
    if (rc == KVP_STORE_OK && recover.kept)
        rc = s_restore (self, &recover);
    kvp_recover_free (&recover);
    return rc;
}

kvp_store_t *
kvp_store_new (const char *dir, const kvp_store_config_t *config, int *rc)
{
    kvp_store_config_t defaults = { 0 };
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
    if (self && (self->dir = strdup (dir))) {
        self->backlog_max = config->backlog_max? config->backlog_max
                                               : S_BACKLOG_MAX;
        status = s_open (self, config);
    }
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
    kvp_store_abort (self);
    //  The checkpoint's last commit first; the next open releases the log
    //  segments it covers
    kvp_ckpt_destroy (&self->ckpt);
    kvp_wal_destroy (&self->wal);
    kvp_view_destroy (&self->view);
    kvp_env_destroy (&self->env);
    kvp_itemtab_destroy (&self->items);
    kvp_joblog_destroy (&self->log);
    kvp_change_fini (&self->last);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

//  --- Batches ------------------------------------------------------------

//  What the checkpoint applied since we last looked leaves the overlay,
//  and its log segments go. Only between batches (no undo pending).
static void
s_catch_up (kvp_store_t *self)
{
    uint64_t applied = kvp_ckpt_applied (self->ckpt);
    if (applied <= self->evicted)
        return;
    kvp_overlay_evict (kvp_view_overlay (self->view), applied);
    self->evicted = applied;
    int rc = kvp_wal_release (self->wal, applied);
    if (rc)
        zsys_warning ("store %s: cannot delete old log segments: %s",
                      self->dir, kvp_store_strerror (rc));
}

//  Bind the view to a fresh snapshot (at least as new as the eviction)
static int
s_bind (kvp_store_t *self)
{
    MDB_txn *txn = NULL;
    s_catch_up (self);
    int rc = kvp_env_read_begin (self->env, &txn);
    kvp_view_bind (self->view, txn, self->next);
    return rc;
}

static void
s_unbind (kvp_store_t *self)
{
    kvp_view_bind (self->view, NULL, self->next);
    kvp_env_read_end (self->env);
}

int
kvp_store_begin (kvp_store_t *self)
{
    if (!self || self->depth)
        return KVP_STORE_EINVAL;
    int rc = s_bind (self);
    if (rc != KVP_STORE_OK) {
        s_unbind (self);
        return rc;
    }
    kvp_view_mark (self->view, &self->marks [0]);
    self->last_ok = false;
    self->depth = 1;
    self->failed = 0;
    return KVP_STORE_OK;
}

void
kvp_store_abort (kvp_store_t *self)
{
    if (!self || !self->depth)
        return;
    kvp_view_undo (self->view, &self->marks [0]);
    kvp_overlay_settle (kvp_view_overlay (self->view));
    self->depth = 0;
    self->failed = 0;
    s_unbind (self);
}

//  Would LMDB hold the record once applied, with what is queued before it?
static bool
s_fits (kvp_store_t *self, const kvp_change_t *record)
{
    return kvp_ckpt_fits (self->ckpt, record->puts, record->count);
}

//  May a record join the log? BUSY when the checkpoints are too far
//  behind, FULL when LMDB may not have room for it once applied (after
//  waiting for a pending checkpoint, whose deletes may have made room, or
//  for one that makes the last one's frees reusable),
//  EIO when checkpoints fail for another reason or the log itself failed.
//  A record that only deletes is let in while checkpoints work: it makes
//  room, and LMDB's copy-on-write for it fits in the checkpoint's reserve.
static int
s_admit (kvp_store_t *self, const kvp_change_t *record)
{
    if (self->broken)
        return self->broken;
    int status = kvp_ckpt_status (self->ckpt);
    size_t backlog = kvp_ckpt_backlog (self->ckpt);
    if (status == KVP_STORE_OK && backlog + record->size > self->backlog_max)
        return KVP_STORE_BUSY;
    if (status == KVP_STORE_OK && record->puts == 0)
        return KVP_STORE_OK;
    if (status == KVP_STORE_OK && s_fits (self, record))
        return KVP_STORE_OK;
    //  Once applied, the log's records give their segments' disk back
    status = kvp_ckpt_flush (self->ckpt, S_ROOM_WAIT_MS);
    kvp_wal_release (self->wal, kvp_ckpt_applied (self->ckpt));
    if (status == KVP_STORE_OK && s_fits (self, record))
        return KVP_STORE_OK;
    return status == KVP_STORE_OK || status == KVP_STORE_FULL
         ? KVP_STORE_FULL: KVP_STORE_EIO;
}

//  Append the batch's record to the log, sync it, queue it for the
//  checkpoint. A failed sync leaves the log's state unknown: the store
//  then refuses every write until it is opened again.
static int
s_log_record (kvp_store_t *self, const kvp_change_t *changes)
{
    uint64_t lsn = 0;
    int rc = s_admit (self, changes);
    if (rc == KVP_STORE_OK)
        rc = kvp_wal_append (self->wal, changes->data, changes->size, &lsn);
    if (rc == KVP_STORE_OK && lsn != self->next)
        rc = KVP_STORE_EIO;
    if (rc == KVP_STORE_OK && self->logged) {
        self->logging = true;
        self->logged (self->logged_arg);
        self->logging = false;
    }
    if (rc == KVP_STORE_OK && (rc = kvp_wal_sync (self->wal)) != 0)
        zsys_error ("store %s: the log cannot be synced: refusing writes "
                    "until restarted", self->dir);
    if (rc == KVP_STORE_EIO)
        self->broken = rc;
    if (rc != KVP_STORE_OK)
        return rc;
    void *copy = malloc (changes->size);
    if (copy)
        memcpy (copy, changes->data, changes->size);
    if (!copy || kvp_ckpt_push (self->ckpt, lsn, copy, changes->size,
                                changes->count)) {
        //  Durable in the log but not queued: only a restart can apply it
        zsys_error ("store %s: out of memory queueing a checkpoint",
                    self->dir);
        self->broken = KVP_STORE_EIO;
    }
    self->next++;
    return KVP_STORE_OK;
}

int
kvp_store_commit (kvp_store_t *self)
{
    if (!self || self->depth == 0)
        return KVP_STORE_EINVAL;
    int rc = self->failed;
    if (self->depth > 1) {
        zsys_error ("store %s: commit with %d op(s) open; batch aborted",
                    self->dir, self->depth - 1);
        rc = KVP_STORE_EINVAL;
    }
    kvp_change_t *changes = kvp_view_changes (self->view);
    if (rc == KVP_STORE_OK && changes->count)
        rc = s_log_record (self, changes);
    if (rc != KVP_STORE_OK) {
        kvp_store_abort (self);
        return rc;
    }
    kvp_overlay_settle (kvp_view_overlay (self->view));
    //  The record stays readable for kvp_store_changes; the next batch
    //  fills the previous one's buffer
    kvp_change_t empty = { NULL, 0, 0, 0, 0 }, last = self->last;
    self->last = *changes;
    self->last_ok = true;
    *changes = last;
    kvp_change_truncate (changes, &empty);
    self->depth = 0;
    s_unbind (self);
    return KVP_STORE_OK;
}

int
kvp_store_op_begin (kvp_store_t *self)
{
    if (!self || self->depth == 0 || self->depth == S_DEPTH_MAX)
        return KVP_STORE_EINVAL;
    if (self->failed)
        return self->failed;
    kvp_view_mark (self->view, &self->marks [self->depth++]);
    return KVP_STORE_OK;
}

int
kvp_store_op_end (kvp_store_t *self, bool keep)
{
    if (!self || self->depth < 2)
        return KVP_STORE_EINVAL;
    self->depth--;
    if (!keep || self->failed)
        kvp_view_undo (self->view, &self->marks [self->depth]);
    return self->failed;
}

int
kvp_store_checkpoint (kvp_store_t *self, int timeout_ms)
{
    if (!self || self->depth)
        return KVP_STORE_EINVAL;
    int rc = kvp_ckpt_flush (self->ckpt, timeout_ms);
    s_catch_up (self);
    return rc;
}

void
kvp_store_stats (kvp_store_t *self, kvp_store_stats_t *stats)
{
    kvp_wal_stats_t wal;
    kvp_ckpt_stats_t ckpt;
    kvp_wal_stats (self->wal, &wal);
    kvp_ckpt_stats (self->ckpt, &ckpt);
    kvp_overlay_t *overlay = kvp_view_overlay (self->view);
    *stats = (kvp_store_stats_t) {
        .log_bytes = wal.bytes + wal.spare_bytes,
        .log_segments = wal.segments,
        .log_syncs = wal.syncs,
        .log_sync_us = wal.sync_us,
        .checkpoints = ckpt.checkpoints,
        .checkpoint_us = ckpt.us_total,
        .checkpoint_us_max = ckpt.us_max,
        .backlog = kvp_ckpt_backlog (self->ckpt),
        .overlay_entries = kvp_overlay_count (overlay),
        .overlay_bytes = kvp_overlay_bytes (overlay),
        .room_pages = ckpt.room
    };
}

//  --- Reads and writes through the view ------------------------------------

//  The view for a call that needs one: the batch's, or (reads outside a
//  batch, when `own` may be set) a snapshot of its own, which s_done
//  releases. EINVAL outside a batch otherwise.
static int
s_view (kvp_store_t *self, bool reads_alone, bool *own)
{
    *own = false;
    if (!self)
        return KVP_STORE_EINVAL;
    if (self->depth)
        return self->failed;
    if (!reads_alone)
        return KVP_STORE_EINVAL;
    *own = true;
    int rc = s_bind (self);
    if (rc)
        s_unbind (self);
    return rc;
}

static void
s_done (kvp_store_t *self, bool own)
{
    if (own)
        s_unbind (self);
}

//  A write's outcome: out of memory (EIO) fails the batch
static int
s_written (kvp_store_t *self, int rc)
{
    if (rc == KVP_STORE_EIO || rc == KVP_STORE_FULL)
        self->failed = rc;
    return rc;
}

//  True when a batch is open: the calls that run their own batch are
//  refused then
static bool
s_in_batch (kvp_store_t *self)
{
    return self->depth > 0;
}

//  --- Global values ------------------------------------------------------

int
kvp_store_meta_get (kvp_store_t *self, const char *name, char *value,
                    size_t size)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_meta_key (bytes, name), bytes }, val;
    bool own;
    if (!self || s_in_batch (self) || key.mv_size == 0 || (!value && size))
        return KVP_STORE_EINVAL;
    int rc = s_view (self, true, &own);
    if (rc == KVP_STORE_OK)
        rc = kvp_view_get (self->view, KVP_TABLE_META, &key, &val);
    if (rc == KVP_STORE_OK && size) {
        size_t copy = val.mv_size < size - 1? val.mv_size: size - 1;
        memcpy (value, val.mv_data, copy);
        value [copy] = '\0';
    }
    if (rc == KVP_STORE_OK)
        rc = val.mv_size > INT32_MAX? INT32_MAX: (int) val.mv_size;
    s_done (self, own);
    return rc;
}

int
kvp_store_meta_put (kvp_store_t *self, const char *name, const char *value)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_meta_key (bytes, name), bytes };
    MDB_val val = { value? strlen (value): 0, (void *) value };
    if (!self || s_in_batch (self) || key.mv_size == 0 || !value)
        return KVP_STORE_EINVAL;
    //  A batch of its own: through the log like every other write
    int rc = kvp_store_begin (self);
    if (rc == KVP_STORE_OK)
        rc = kvp_view_put (self->view, KVP_TABLE_META, &key, &val, false);
    if (rc == KVP_STORE_OK)
        return kvp_store_commit (self);
    kvp_store_abort (self);
    return rc;
}

//  --- Partitions ---------------------------------------------------------

static int
s_part_read (kvp_store_t *self, uint32_t part, kvp_partition_t *info)
{
    uint8_t bytes [2];
    kvp_lmdb_put_u16 (bytes, (uint16_t) part);
    MDB_val key = { 2, bytes }, val;
    int rc = kvp_view_get (self->view, KVP_TABLE_META, &key, &val);
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
s_part_write (kvp_store_t *self, uint32_t part, const kvp_partition_t *info)
{
    uint8_t kbytes [2], vbytes [S_PART_REC];
    kvp_lmdb_put_u16 (kbytes, (uint16_t) part);
    kvp_lmdb_put_u32 (vbytes, info->epoch);
    kvp_lmdb_put_u64 (vbytes + 4, info->seq);
    kvp_lmdb_put_u64 (vbytes + 12, info->sent);
    MDB_val key = { 2, kbytes }, val = { S_PART_REC, vbytes };
    return s_written (self, kvp_view_put (self->view, KVP_TABLE_META, &key,
                                          &val, false));
}

//  Gather the 2-byte meta keys (partition records) into a growing array
typedef struct {
    uint32_t *list;
    size_t count, size;
} s_parts_t;

static int
s_part_one (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_parts_t *parts = (s_parts_t *) arg;
    if (key->mv_size != 2)
        return KVP_STORE_OK;            //  a global value
    if (parts->count == parts->size) {
        size_t size = parts->size? parts->size * 2: 64;
        uint32_t *more = (uint32_t *) realloc (parts->list, size * 4);
        if (!more)
            return KVP_STORE_EIO;       //  out of memory
        parts->list = more;
        parts->size = size;
    }
    parts->list [parts->count++] = kvp_lmdb_get_u16 ((uint8_t *) key->mv_data);
    return KVP_STORE_OK;
}

int
kvp_store_partitions (kvp_store_t *self, uint32_t **list, size_t *count)
{
    bool own;
    if (!self || s_in_batch (self) || !list || !count)
        return KVP_STORE_EINVAL;
    s_parts_t parts = { NULL, 0, 0 };
    int rc = s_view (self, true, &own);
    if (rc == KVP_STORE_OK) {
        //  Every key of meta: partitions (2 bytes) sort before the rest
        uint8_t first = 0;
        MDB_val start = { 1, &first };
        rc = kvp_view_walk (self->view, KVP_TABLE_META, &start, 0,
                            s_part_one, &parts);
    }
    s_done (self, own);
    if (rc != KVP_STORE_OK) {
        free (parts.list);
        parts.list = NULL;
        parts.count = 0;
    }
    *list = parts.list;
    *count = parts.count;
    return rc;
}

int
kvp_store_partition_get (kvp_store_t *self, uint32_t part,
                         kvp_partition_t *info)
{
    bool own;
    if (!self || part > S_PART_MAX || !info)
        return KVP_STORE_EINVAL;
    int rc = s_view (self, true, &own);
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, part, info);
    s_done (self, own);
    return rc;
}

int
kvp_store_partition_sent (kvp_store_t *self, uint32_t part, uint64_t sent)
{
    kvp_partition_t info;
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && part > S_PART_MAX)
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, part, &info);
    if (rc == KVP_STORE_OK && sent > info.seq)
        rc = KVP_STORE_EINVAL;          //  cannot have sent the future
    if (rc != KVP_STORE_OK || info.sent == sent)
        return rc;
    info.sent = sent;
    return s_part_write (self, part, &info);
}

//  --- Systems ------------------------------------------------------------

//  part(2) + guid(16): a system's key, and the prefix of its items and keys
static void
s_prefix (uint8_t *prefix, uint32_t part, const uint8_t *guid)
{
    kvp_lmdb_put_u16 (prefix, (uint16_t) part);
    memcpy (prefix + 2, guid, 16);
}

//  Check a call naming a system (in a batch, valid part and guid) and
//  build the system's key prefix, part + guid, when `prefix` is not NULL
static int
s_system_check (kvp_store_t *self, uint32_t part, const uint8_t *guid,
                uint8_t *prefix)
{
    bool own;
    int rc = s_view (self, false, &own);
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
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix }, val;
    int rc = s_system_check (self, part, guid, prefix);
    if (rc != KVP_STORE_OK || !sys)
        return rc? rc: KVP_STORE_EINVAL;
    rc = kvp_view_get (self->view, KVP_TABLE_SYSTEMS, &key, &val);
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
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    uint8_t bytes [S_SYSTEM_HEAD + KVP_STORE_ELEMENT_MAX];
    int rc = s_system_check (self, part, guid, prefix);
    if (rc == KVP_STORE_OK && (!sys || sys->name_len > KVP_STORE_ELEMENT_MAX))
        rc = KVP_STORE_EINVAL;
    if (rc != KVP_STORE_OK)
        return rc;
    kvp_lmdb_put_u64 (bytes, sys->created_ms);
    bytes [8] = sys->exchange? 1: 0;
    kvp_lmdb_put_u16 (bytes + 9, (uint16_t) sys->name_len);
    memcpy (bytes + S_SYSTEM_HEAD, sys->name, sys->name_len);
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix };
    MDB_val val = { S_SYSTEM_HEAD + sys->name_len, bytes };
    return s_written (self, kvp_view_put (self->view, KVP_TABLE_SYSTEMS, &key,
                                          &val, create));
}

int
kvp_store_system_delete (kvp_store_t *self, uint32_t part,
                         const uint8_t guid [16])
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    MDB_val key = { KVP_ITEMTAB_PREFIX, prefix };
    int rc = s_system_check (self, part, guid, prefix);
    if (rc == KVP_STORE_OK)
        rc = kvp_view_del (self->view, KVP_TABLE_SYSTEMS, &key);
    //  The log stays: its jobs remain queryable after the system is gone
    if (rc == KVP_STORE_OK)
        rc = kvp_itemtab_clear (self->items, self->view, prefix);
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_keys_clear (self->log, self->view, prefix);
    return s_written (self, rc);
}

//  --- Items --------------------------------------------------------------

int
kvp_store_item_get (kvp_store_t *self, uint32_t part,
                    const uint8_t guid [16], uint32_t source,
                    const char *name, size_t name_len,
                    const char **data, size_t *data_len)
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_check (self, part, guid, prefix);
    return rc? rc: kvp_itemtab_get (self->items, self->view, prefix, source,
                                    name, name_len, data, data_len);
}

int
kvp_store_item_put (kvp_store_t *self, uint32_t part,
                    const uint8_t guid [16], uint32_t source,
                    const char *name, size_t name_len,
                    const char *data, size_t data_len, bool create)
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_check (self, part, guid, prefix);
    return rc? rc: s_written (self, kvp_itemtab_put (self->items, self->view,
                                                     prefix, source, name,
                                                     name_len, data,
                                                     data_len, create));
}

int
kvp_store_item_delete (kvp_store_t *self, uint32_t part,
                       const uint8_t guid [16], uint32_t source,
                       const char *name, size_t name_len)
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_check (self, part, guid, prefix);
    return rc? rc: s_written (self, kvp_itemtab_delete (self->items,
                                                        self->view, prefix,
                                                        source, name,
                                                        name_len));
}

int
kvp_store_items_each (kvp_store_t *self, uint32_t part,
                      const uint8_t guid [16], uint32_t source,
                      const kvp_store_after_t *after,
                      kvp_store_item_fn *fn, void *arg)
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_check (self, part, guid, prefix);
    return rc? rc: kvp_itemtab_each (self->items, self->view, prefix, source,
                                     after, fn, arg);
}

//  --- The log ------------------------------------------------------------

int
kvp_store_log_next (kvp_store_t *self, uint32_t part, uint32_t *epoch,
                    uint64_t *seq)
{
    kvp_partition_t info = { 0, 0, 0 };
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || !epoch || !seq))
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, part, &info);
    if (rc == KVP_STORE_NOTFOUND) {
        //  A new partition here: a fresh epoch keeps its job ids apart
        //  from any earlier life of the partition. Written in the batch,
        //  so an aborted batch forgets it; the log keeps the number
        //  drawn, so a replay gives the same epoch.
        while (rc == KVP_STORE_NOTFOUND && info.epoch == 0)
            if (getrandom (&info.epoch, sizeof (info.epoch), 0)
                != (ssize_t) sizeof (info.epoch))
                rc = kvp_lmdb_rc (errno, "getrandom");
        if (rc == KVP_STORE_NOTFOUND)
            rc = s_part_write (self, part, &info);
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
    kvp_partition_t info;
    kvp_joblog_entry_t entry = { time_ms, guid, key, key? key_len: 0,
                                 key? digest: NULL, event, event_len };
    int rc = s_system_check (self, part, guid, NULL);
    if (rc == KVP_STORE_OK)
        rc = s_part_read (self, part, &info);
    if (rc == KVP_STORE_NOTFOUND
    || (rc == KVP_STORE_OK && seq != info.seq + 1))
        rc = KVP_STORE_EINVAL;          //  not the seq log_next gave
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_put (self->log, self->view, part, seq, &entry);
    if (rc == KVP_STORE_OK) {
        info.seq = seq;
        rc = s_part_write (self, part, &info);
    }
    return s_written (self, rc);
}

int
kvp_store_log_get (kvp_store_t *self, uint32_t part, uint64_t seq,
                   const void **event, size_t *event_len)
{
    kvp_joblog_entry_t entry;
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || !event || !event_len))
        rc = KVP_STORE_EINVAL;
    if (rc == KVP_STORE_OK)
        rc = kvp_joblog_get (self->log, self->view, part, seq, &entry);
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
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && part > S_PART_MAX)
        rc = KVP_STORE_EINVAL;
    return rc? rc: kvp_joblog_each (self->log, self->view, part, from, fn,
                                    arg);
}

int
kvp_store_key_get (kvp_store_t *self, uint32_t part,
                   const uint8_t guid [16], const char *key,
                   size_t key_len, uint64_t *seq, uint8_t digest [16])
{
    uint8_t prefix [KVP_ITEMTAB_PREFIX];
    int rc = s_system_check (self, part, guid, prefix);
    return rc? rc: kvp_joblog_key_get (self->log, self->view, prefix, key,
                                       key_len, seq, digest);
}

//  --- Retention ----------------------------------------------------------

int
kvp_store_purge (kvp_store_t *self, uint64_t before_ms, size_t max,
                 size_t *purged)
{
    if (!self || s_in_batch (self))
        return KVP_STORE_EINVAL;
    kvp_ckpt_stats_t stats;
    kvp_ckpt_stats (self->ckpt, &stats);
    if (max)
        kvp_ckpt_purge (self->ckpt, before_ms, max);
    if (purged)
        *purged = (size_t) (stats.purged - self->purged);
    self->purged = stats.purged;
    return KVP_STORE_OK;
}

//  --- Copies of a partition (kvp_replica) ----------------------------------

int
kvp_store_changes (kvp_store_t *self, uint32_t part, kvp_change_t *out)
{
    if (self && self->logging && out && part <= S_PART_MAX) {
        const kvp_change_t *record = kvp_view_changes (self->view);
        return kvp_replica_filter (record->data, record->size, part, out);
    }
    if (!self || !out || part > S_PART_MAX || s_in_batch (self)
    ||  !self->last_ok)
        return KVP_STORE_EINVAL;
    return kvp_replica_filter (self->last.data, self->last.size, part, out);
}

void
kvp_store_on_logged (kvp_store_t *self, kvp_store_logged_fn *fn, void *arg)
{
    self->logged = fn;
    self->logged_arg = arg;
}

int
kvp_store_apply (kvp_store_t *self, uint32_t part, const void *data,
                 size_t size)
{
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && (part > S_PART_MAX || (!data && size)))
        rc = KVP_STORE_EINVAL;
    return rc? rc: s_written (self, kvp_replica_apply (self->view, self->log,
                                                       part, data, size));
}

int
kvp_store_drop (kvp_store_t *self, uint32_t part)
{
    bool own;
    int rc = s_view (self, false, &own);
    if (rc == KVP_STORE_OK && part > S_PART_MAX)
        rc = KVP_STORE_EINVAL;
    return rc? rc: s_written (self, kvp_replica_drop (self->view, self->log,
                                                      part));
}

int
kvp_store_copy (kvp_store_t *self, uint32_t part, size_t chunk,
                kvp_store_chunk_fn *fn, void *arg)
{
    bool own;
    if (!self || s_in_batch (self) || part > S_PART_MAX || !fn)
        return KVP_STORE_EINVAL;
    int rc = s_view (self, true, &own);
    if (rc == KVP_STORE_OK)
        rc = kvp_replica_copy (self->view, self->log, part, chunk, fn, arg);
    s_done (self, own);
    return rc;
}
