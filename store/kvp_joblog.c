/*  kvp_joblog.c - the store's log and keys tables (layout in kvp_joblog.h). */
#include <stdlib.h>
#include <string.h>
#include "kvp_joblog.h"
#include "kvp_lmdb.h"

#define S_JOB           10          //  part(2) seq(8): index key, body head
#define S_LSN           8           //  body key, index value
#define S_BODY_HEAD     35          //  part(2) seq(8) time_ms(8) guid(16)
                                    //  key_len(1)
#define S_DIGEST        16
#define S_PREFIX        18          //  part(2) guid(16)
#define S_KEYS_VALUE    24          //  seq(8) digest(16)
#define S_PART_LAST     0xffffu

struct _kvp_joblog_t {
    MDB_dbi index;                  //  part + seq -> lsn (for purging)
    MDB_dbi body;                   //  lsn -> part + seq + job
    MDB_dbi keys;                   //  part + guid + key -> seq + digest
    uint8_t *scratch;               //  a body being built
    size_t scratch_size;
};

kvp_joblog_t *
kvp_joblog_new (MDB_dbi index, MDB_dbi body, MDB_dbi keys)
{
    kvp_joblog_t *self = (kvp_joblog_t *) calloc (1, sizeof (kvp_joblog_t));
    if (self) {
        self->index = index;
        self->body = body;
        self->keys = keys;
    }
    return self;
}

void
kvp_joblog_destroy (kvp_joblog_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->scratch);
        free (*self_p);
        *self_p = NULL;
    }
}

//  A job's name: part + seq, its index key and the head of its body
static void
s_job (uint8_t *job, uint32_t part, uint64_t seq)
{
    kvp_lmdb_put_u16 (job, (uint16_t) part);
    kvp_lmdb_put_u64 (job + 2, seq);
}

//  Build a key record's key: part + guid + key
static size_t
s_keys_key (uint8_t *out, uint32_t part, const uint8_t *guid,
            const char *key, size_t key_len)
{
    kvp_lmdb_put_u16 (out, (uint16_t) part);
    memcpy (out + 2, guid, 16);
    memcpy (out + S_PREFIX, key, key_len);
    return S_PREFIX + key_len;
}

//  --- Bodies -------------------------------------------------------------

//  Decode a body; CORRUPT if it is shorter than its fields say or is not
//  the body of `job` (the index key that named it)
static int
s_decode (const MDB_val *val, const uint8_t *job, kvp_joblog_entry_t *entry)
{
    const uint8_t *p = (const uint8_t *) val->mv_data;
    if (val->mv_size < S_BODY_HEAD || memcmp (p, job, S_JOB) != 0)
        return KVP_STORE_CORRUPT;
    entry->time_ms = kvp_lmdb_get_u64 (p + S_JOB);
    entry->guid = p + S_JOB + 8;
    entry->key_len = p [S_BODY_HEAD - 1];
    size_t head = S_BODY_HEAD + entry->key_len
                + (entry->key_len? S_DIGEST: 0);
    if (val->mv_size < head)
        return KVP_STORE_CORRUPT;
    entry->key = entry->key_len? (const char *) p + S_BODY_HEAD: NULL;
    entry->digest = entry->key_len? p + S_BODY_HEAD + entry->key_len: NULL;
    entry->event = p + head;
    entry->event_len = val->mv_size - head;
    return KVP_STORE_OK;
}

static size_t
s_body_size (const kvp_joblog_entry_t *entry)
{
    return S_BODY_HEAD + entry->event_len
         + (entry->key_len? entry->key_len + S_DIGEST: 0);
}

//  Fill a reserved body with the job's name and the entry's fields
static void
s_encode (uint8_t *p, const uint8_t *job, const kvp_joblog_entry_t *entry)
{
    memcpy (p, job, S_JOB);
    kvp_lmdb_put_u64 (p + S_JOB, entry->time_ms);
    memcpy (p + S_JOB + 8, entry->guid, 16);
    p [S_BODY_HEAD - 1] = (uint8_t) entry->key_len;
    p += S_BODY_HEAD;
    if (entry->key_len) {
        memcpy (p, entry->key, entry->key_len);
        memcpy (p + entry->key_len, entry->digest, S_DIGEST);
        p += entry->key_len + S_DIGEST;
    }
    if (entry->event_len)
        memcpy (p, entry->event, entry->event_len);
}

//  Read and decode the body that index record `job` -> `lsn` names. An
//  index record that is malformed or names no body is CORRUPT.
static int
s_body_get (kvp_view_t *view, const uint8_t *job, const MDB_val *lsn,
            kvp_joblog_entry_t *entry)
{
    if (lsn->mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    MDB_val key = { S_LSN, lsn->mv_data }, val;
    int rc = kvp_view_get (view, KVP_TABLE_LOGBODY, &key, &val);
    if (rc == KVP_STORE_NOTFOUND)
        return KVP_STORE_CORRUPT;
    return rc? rc: s_decode (&val, job, entry);
}

//  The same in a write transaction, for purging
static int
s_body_read (kvp_joblog_t *self, MDB_txn *txn, const uint8_t *job,
             const MDB_val *lsn, kvp_joblog_entry_t *entry)
{
    if (lsn->mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    MDB_val key = { S_LSN, lsn->mv_data }, val;
    int rc = mdb_get (txn, self->body, &key, &val);
    if (rc == MDB_NOTFOUND)
        return KVP_STORE_CORRUPT;
    rc = kvp_lmdb_rc (rc, "log body get");
    return rc? rc: s_decode (&val, job, entry);
}

//  The lsn the next body gets: one more than the last body the view holds,
//  so that an op or batch that is undone takes its numbers back with its
//  bodies (no counter to restore)
static int
s_lsn_next (kvp_view_t *view, uint64_t *lsn)
{
    MDB_val key;
    int rc = kvp_view_last (view, KVP_TABLE_LOGBODY, &key);
    if (rc == KVP_STORE_NOTFOUND) {
        *lsn = 1;
        return KVP_STORE_OK;
    }
    if (rc != KVP_STORE_OK)
        return rc;
    if (key.mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    *lsn = kvp_lmdb_get_u64 ((const uint8_t *) key.mv_data) + 1;
    return KVP_STORE_OK;
}

//  Append job's body under `lsn`, built in the scratch buffer
static int
s_body_append (kvp_joblog_t *self, kvp_view_t *view, const uint8_t *job,
               uint64_t lsn, const kvp_joblog_entry_t *entry)
{
    uint8_t kbytes [S_LSN];
    kvp_lmdb_put_u64 (kbytes, lsn);
    size_t size = s_body_size (entry);
    if (size > self->scratch_size) {
        uint8_t *scratch = (uint8_t *) realloc (self->scratch, size);
        if (!scratch)
            return KVP_STORE_EIO;       //  out of memory
        self->scratch = scratch;
        self->scratch_size = size;
    }
    s_encode (self->scratch, job, entry);
    MDB_val key = { S_LSN, kbytes }, val = { size, self->scratch };
    return kvp_view_put (view, KVP_TABLE_LOGBODY, &key, &val, false);
}

//  --- Jobs ---------------------------------------------------------------

//  keys [part + guid + key] = seq + digest
static int
s_key_put (kvp_view_t *view, uint32_t part,
           const kvp_joblog_entry_t *entry, uint64_t seq)
{
    uint8_t kbytes [S_PREFIX + KVP_JOBLOG_KEY_MAX], vbytes [S_KEYS_VALUE];
    MDB_val key = { s_keys_key (kbytes, part, entry->guid, entry->key,
                                entry->key_len), kbytes };
    MDB_val val = { S_KEYS_VALUE, vbytes };
    kvp_lmdb_put_u64 (vbytes, seq);
    memcpy (vbytes + 8, entry->digest, S_DIGEST);
    return kvp_view_put (view, KVP_TABLE_KEYS, &key, &val, false);
}

//  index [part + seq] = lsn; EXISTS (nothing written) if the job is there
static int
s_index_put (kvp_view_t *view, const uint8_t *job, uint64_t lsn)
{
    uint8_t vbytes [S_LSN];
    kvp_lmdb_put_u64 (vbytes, lsn);
    MDB_val key = { S_JOB, (void *) job }, val = { S_LSN, vbytes };
    return kvp_view_put (view, KVP_TABLE_LOG, &key, &val, true);
}

int
kvp_joblog_put (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                uint64_t seq, const kvp_joblog_entry_t *entry)
{
    if (!entry || !entry->guid || entry->key_len > KVP_JOBLOG_KEY_MAX
    ||  (entry->key_len && (!entry->key || !entry->digest))
    ||  (entry->event_len && !entry->event))
        return KVP_STORE_EINVAL;
    uint8_t job [S_JOB];
    s_job (job, part, seq);
    uint64_t lsn = 0;
    int rc = s_lsn_next (view, &lsn);
    //  The index first: a job already there is refused before any write
    if (rc == KVP_STORE_OK)
        rc = s_index_put (view, job, lsn);
    if (rc == KVP_STORE_OK)
        rc = s_body_append (self, view, job, lsn, entry);
    if (rc == KVP_STORE_OK && entry->key_len)
        rc = s_key_put (view, part, entry, seq);
    return rc;
}

int
kvp_joblog_get (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                uint64_t seq, kvp_joblog_entry_t *entry)
{
    uint8_t job [S_JOB];
    s_job (job, part, seq);
    MDB_val key = { S_JOB, job }, val;
    int rc = kvp_view_get (view, KVP_TABLE_LOG, &key, &val);
    return rc? rc: s_body_get (view, job, &val, entry);
}

//  A walk of one partition's index: each job's body, handed to fn
typedef struct {
    kvp_view_t *view;
    uint32_t part;
    kvp_store_log_fn *fn;
    void *arg;
} s_walk_t;

static int
s_walk_one (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_walk_t *walk = (s_walk_t *) arg;
    kvp_joblog_entry_t entry;
    const uint8_t *job = (const uint8_t *) key->mv_data;
    int rc = key->mv_size == S_JOB? s_body_get (walk->view, job, val, &entry)
                                  : KVP_STORE_CORRUPT;
    return rc? rc: walk->fn (walk->arg, walk->part, kvp_lmdb_get_u64 (job + 2),
                             entry.event, entry.event_len);
}

int
kvp_joblog_each (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                 uint64_t from, kvp_store_log_fn *fn, void *arg)
{
    if (!fn)
        return KVP_STORE_EINVAL;
    uint8_t start [S_JOB];
    s_job (start, part, from);
    MDB_val key = { S_JOB, start };
    s_walk_t walk = { view, part, fn, arg };
    return kvp_view_walk (view, KVP_TABLE_LOG, &key, 2, s_walk_one, &walk);
}

//  --- Keys ---------------------------------------------------------------

int
kvp_joblog_key_get (kvp_joblog_t *self, kvp_view_t *view, const uint8_t *prefix,
                    const char *key, size_t key_len, uint64_t *seq,
                    uint8_t digest [16])
{
    if (!key || key_len == 0 || key_len > KVP_JOBLOG_KEY_MAX)
        return KVP_STORE_EINVAL;
    uint8_t kbytes [S_PREFIX + KVP_JOBLOG_KEY_MAX];
    memcpy (kbytes, prefix, S_PREFIX);
    memcpy (kbytes + S_PREFIX, key, key_len);
    MDB_val mkey = { S_PREFIX + key_len, kbytes }, val;
    int rc = kvp_view_get (view, KVP_TABLE_KEYS, &mkey, &val);
    if (rc == KVP_STORE_OK && val.mv_size < S_KEYS_VALUE)
        rc = KVP_STORE_CORRUPT;
    if (rc != KVP_STORE_OK)
        return rc;
    if (seq)
        *seq = kvp_lmdb_get_u64 ((const uint8_t *) val.mv_data);
    if (digest)
        memcpy (digest, (const uint8_t *) val.mv_data + 8, S_DIGEST);
    return KVP_STORE_OK;
}

int
kvp_joblog_keys_clear (kvp_joblog_t *self, kvp_view_t *view,
                       const uint8_t *prefix)
{
    return kvp_view_clear (view, KVP_TABLE_KEYS, prefix, S_PREFIX);
}

//  --- Copies of a partition ---------------------------------------------

int
kvp_joblog_body_check (const void *body, size_t size, uint32_t *part,
                       uint64_t *seq)
{
    MDB_val val = { size, (void *) body };
    kvp_joblog_entry_t entry;
    if (!body || size < S_BODY_HEAD)
        return KVP_STORE_CORRUPT;
    //  The body names its own job
    int rc = s_decode (&val, (const uint8_t *) body, &entry);
    if (rc == KVP_STORE_OK) {
        *part = kvp_lmdb_get_u16 ((const uint8_t *) body);
        *seq = kvp_lmdb_get_u64 ((const uint8_t *) body + 2);
    }
    return rc;
}

//  Delete the body an index record names, if it has one
static int
s_body_forget (kvp_view_t *view, const MDB_val *lsn)
{
    if (lsn->mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    uint8_t kbytes [S_LSN];
    memcpy (kbytes, lsn->mv_data, S_LSN);
    MDB_val key = { S_LSN, kbytes };
    int rc = kvp_view_del (view, KVP_TABLE_LOGBODY, &key);
    return rc == KVP_STORE_NOTFOUND? KVP_STORE_OK: rc;
}

int
kvp_joblog_adopt (kvp_joblog_t *self, kvp_view_t *view, const void *body,
                  size_t size)
{
    uint32_t part;
    uint64_t seq, lsn = 0;
    int rc = kvp_joblog_body_check (body, size, &part, &seq);
    if (rc != KVP_STORE_OK)
        return rc;
    uint8_t job [S_JOB], kbytes [S_LSN], vbytes [S_LSN];
    memcpy (job, body, S_JOB);
    MDB_val index = { S_JOB, job }, old;
    rc = kvp_view_get (view, KVP_TABLE_LOG, &index, &old);
    if (rc == KVP_STORE_OK)
        rc = s_body_forget (view, &old);
    else
    if (rc == KVP_STORE_NOTFOUND)
        rc = KVP_STORE_OK;
    if (rc == KVP_STORE_OK)
        rc = s_lsn_next (view, &lsn);
    kvp_lmdb_put_u64 (kbytes, lsn);
    kvp_lmdb_put_u64 (vbytes, lsn);
    MDB_val lsn_key = { S_LSN, kbytes }, lsn_val = { S_LSN, vbytes };
    MDB_val val = { size, (void *) body };
    if (rc == KVP_STORE_OK)
        rc = kvp_view_put (view, KVP_TABLE_LOG, &index, &lsn_val, false);
    if (rc == KVP_STORE_OK)
        rc = kvp_view_put (view, KVP_TABLE_LOGBODY, &lsn_key, &val, false);
    return rc;
}

//  The lsns a walk of the index met, to delete once it is over
typedef struct {
    uint8_t *lsns;                  //  S_LSN bytes each
    size_t count, size;
} s_lsns_t;

static int
s_lsns_add (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_lsns_t *lsns = (s_lsns_t *) arg;
    if (val->mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    if (lsns->count == lsns->size) {
        size_t size = lsns->size? lsns->size * 2: 256;
        uint8_t *more = (uint8_t *) realloc (lsns->lsns, size * S_LSN);
        if (!more)
            return KVP_STORE_EIO;       //  out of memory
        lsns->lsns = more;
        lsns->size = size;
    }
    memcpy (lsns->lsns + lsns->count++ * S_LSN, val->mv_data, S_LSN);
    return KVP_STORE_OK;
}

int
kvp_joblog_drop (kvp_joblog_t *self, kvp_view_t *view, const uint8_t *prefix,
                 size_t prefix_len)
{
    if (!prefix || prefix_len < 2 || prefix_len > S_JOB)
        return KVP_STORE_EINVAL;
    s_lsns_t lsns = { NULL, 0, 0 };
    MDB_val start = { prefix_len, (void *) prefix };
    int rc = kvp_view_walk (view, KVP_TABLE_LOG, &start, prefix_len,
                            s_lsns_add, &lsns);
    for (size_t i = 0; i < lsns.count && rc == KVP_STORE_OK; i++) {
        MDB_val lsn = { S_LSN, lsns.lsns + i * S_LSN };
        rc = s_body_forget (view, &lsn);
    }
    if (rc == KVP_STORE_OK && lsns.count)
        rc = prefix_len == S_JOB
           ? kvp_view_del (view, KVP_TABLE_LOG, &start)
           : kvp_view_clear (view, KVP_TABLE_LOG, prefix, prefix_len);
    free (lsns.lsns);
    return rc;
}

//  A walk of one partition's index handing on the raw records
typedef struct {
    kvp_view_t *view;
    kvp_joblog_raw_fn *fn;
    void *arg;
} s_raw_t;

static int
s_raw_one (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_raw_t *raw = (s_raw_t *) arg;
    kvp_joblog_entry_t entry;
    if (key->mv_size != S_JOB || val->mv_size != S_LSN)
        return KVP_STORE_CORRUPT;
    MDB_val lsn = { S_LSN, val->mv_data }, body;
    int rc = kvp_view_get (raw->view, KVP_TABLE_LOGBODY, &lsn, &body);
    if (rc == KVP_STORE_NOTFOUND)
        rc = KVP_STORE_CORRUPT;
    if (rc == KVP_STORE_OK)
        rc = s_decode (&body, (const uint8_t *) key->mv_data, &entry);
    return rc? rc: raw->fn (raw->arg, key, val, &body);
}

int
kvp_joblog_bodies (kvp_joblog_t *self, kvp_view_t *view, uint32_t part,
                   kvp_joblog_raw_fn *fn, void *arg)
{
    if (!fn)
        return KVP_STORE_EINVAL;
    uint8_t start [S_JOB];
    s_job (start, part, 0);
    MDB_val key = { S_JOB, start };
    s_raw_t raw = { view, fn, arg };
    return kvp_view_walk (view, KVP_TABLE_LOG, &key, 2, s_raw_one, &raw);
}

//  --- Retention ----------------------------------------------------------

//  Delete the key record of a purged job, unless a later job reused the key
static int
s_purge_key (kvp_joblog_t *self, MDB_txn *txn, uint32_t part,
             const kvp_joblog_entry_t *entry, uint64_t seq)
{
    uint8_t kbytes [S_PREFIX + KVP_JOBLOG_KEY_MAX];
    MDB_val key = { s_keys_key (kbytes, part, entry->guid, entry->key,
                                entry->key_len), kbytes }, val;
    int rc = mdb_get (txn, self->keys, &key, &val);
    if (rc == MDB_SUCCESS && val.mv_size >= S_KEYS_VALUE
    &&  kvp_lmdb_get_u64 ((const uint8_t *) val.mv_data) == seq)
        rc = mdb_del (txn, self->keys, &key, NULL);
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "purge key");
}

//  Delete the job under the index cursor, named `job`, whose body is under
//  `lsn` (copied: writes may move what LMDB handed out)
static int
s_purge_job (kvp_joblog_t *self, MDB_txn *txn, MDB_cursor *cursor,
             const uint8_t *job, const kvp_joblog_entry_t *entry,
             const uint8_t *lsn)
{
    uint32_t part = kvp_lmdb_get_u16 (job);
    uint64_t seq = kvp_lmdb_get_u64 (job + 2);
    MDB_val key = { S_LSN, (void *) lsn };
    int rc = entry->key_len? s_purge_key (self, txn, part, entry, seq)
                           : KVP_STORE_OK;
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_rc (mdb_del (txn, self->body, &key, NULL),
                          "purge body");
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_rc (mdb_cursor_del (cursor, 0), "purge index");
    return rc;
}

//  Purge the job under the index cursor if it is older than before_ms
//  (*gone then true). Sets `next` to the index key to seek next: the
//  following job, or the next partition when this one holds nothing older;
//  NOTFOUND when there is no next partition.
static int
s_purge_one (kvp_joblog_t *self, MDB_txn *txn, MDB_cursor *cursor,
             const MDB_val *key, const MDB_val *val, uint64_t before_ms,
             uint8_t *next, bool *gone)
{
    kvp_joblog_entry_t entry;
    uint8_t job [S_JOB], lsn [S_LSN];
    if (key->mv_size != S_JOB)
        return KVP_STORE_CORRUPT;
    memcpy (job, key->mv_data, S_JOB);
    int rc = s_body_read (self, txn, job, val, &entry);
    if (rc != KVP_STORE_OK)
        return rc;
    memcpy (lsn, val->mv_data, S_LSN);
    uint32_t part = kvp_lmdb_get_u16 (job);
    *gone = entry.time_ms < before_ms;
    if (!*gone) {
        s_job (next, part + 1, 0);
        return part == S_PART_LAST? KVP_STORE_NOTFOUND: KVP_STORE_OK;
    }
    s_job (next, part, kvp_lmdb_get_u64 (job + 2) + 1);
    return s_purge_job (self, txn, cursor, job, &entry, lsn);
}

int
kvp_joblog_purge (kvp_joblog_t *self, MDB_txn *txn, uint64_t before_ms,
                  size_t max, size_t *purged)
{
    MDB_cursor *cursor = NULL;
    uint8_t next [S_JOB] = { 0 };
    size_t count = 0;
    int rc = kvp_lmdb_rc (mdb_cursor_open (txn, self->index, &cursor),
                          "purge cursor");
    while (rc == KVP_STORE_OK && count < max) {
        //  Seek afresh each time: after a delete, or to the next partition
        MDB_val key = { S_JOB, next }, val;
        bool gone = false;
        rc = kvp_lmdb_rc (mdb_cursor_get (cursor, &key, &val, MDB_SET_RANGE),
                          "purge walk");
        if (rc == KVP_STORE_OK)
            rc = s_purge_one (self, txn, cursor, &key, &val, before_ms,
                              next, &gone);
        if (rc == KVP_STORE_OK && gone)
            count++;
    }
    if (cursor)
        mdb_cursor_close (cursor);
    if (purged)
        *purged = count;
    return rc == KVP_STORE_NOTFOUND? KVP_STORE_OK: rc;
}
