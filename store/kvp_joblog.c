/*  kvp_joblog.c - the store's log and keys tables (layout in kvp_joblog.h). */
#include <stdlib.h>
#include <string.h>
#include "kvp_joblog.h"
#include "kvp_lmdb.h"

#define S_LOG_KEY       10          //  part(2) seq(8)
#define S_LOG_HEAD      25          //  time_ms(8) guid(16) key_len(1)
#define S_DIGEST        16
#define S_PREFIX        18          //  part(2) guid(16)
#define S_KEYS_VALUE    24          //  seq(8) digest(16)
#define S_PART_LAST     0xffffu

struct _kvp_joblog_t {
    MDB_dbi log;                    //  part + seq -> job
    MDB_dbi keys;                   //  part + guid + key -> seq + digest
};

kvp_joblog_t *
kvp_joblog_new (MDB_dbi log, MDB_dbi keys)
{
    kvp_joblog_t *self = (kvp_joblog_t *) calloc (1, sizeof (kvp_joblog_t));
    if (self) {
        self->log = log;
        self->keys = keys;
    }
    return self;
}

void
kvp_joblog_destroy (kvp_joblog_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_log_key (uint8_t *key, uint32_t part, uint64_t seq)
{
    kvp_lmdb_put_u16 (key, (uint16_t) part);
    kvp_lmdb_put_u64 (key + 2, seq);
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

//  Decode a log value; CORRUPT if it is shorter than its fields say
static int
s_decode (const MDB_val *val, kvp_joblog_entry_t *entry)
{
    const uint8_t *p = (const uint8_t *) val->mv_data;
    if (val->mv_size < S_LOG_HEAD)
        return KVP_STORE_CORRUPT;
    entry->time_ms = kvp_lmdb_get_u64 (p);
    entry->guid = p + 8;
    entry->key_len = p [24];
    size_t head = S_LOG_HEAD + entry->key_len
                + (entry->key_len? S_DIGEST: 0);
    if (val->mv_size < head)
        return KVP_STORE_CORRUPT;
    entry->key = entry->key_len? (const char *) p + S_LOG_HEAD: NULL;
    entry->digest = entry->key_len? p + S_LOG_HEAD + entry->key_len: NULL;
    entry->event = p + head;
    entry->event_len = val->mv_size - head;
    return KVP_STORE_OK;
}

//  Fill a reserved log value with the entry's fields
static void
s_encode (uint8_t *p, const kvp_joblog_entry_t *entry)
{
    kvp_lmdb_put_u64 (p, entry->time_ms);
    memcpy (p + 8, entry->guid, 16);
    p [24] = (uint8_t) entry->key_len;
    p += S_LOG_HEAD;
    if (entry->key_len) {
        memcpy (p, entry->key, entry->key_len);
        memcpy (p + entry->key_len, entry->digest, S_DIGEST);
        p += entry->key_len + S_DIGEST;
    }
    if (entry->event_len)
        memcpy (p, entry->event, entry->event_len);
}

//  keys [part + guid + key] = seq + digest
static int
s_key_put (kvp_joblog_t *self, MDB_txn *txn, uint32_t part,
           const kvp_joblog_entry_t *entry, uint64_t seq)
{
    uint8_t kbytes [S_PREFIX + KVP_JOBLOG_KEY_MAX], vbytes [S_KEYS_VALUE];
    MDB_val key = { s_keys_key (kbytes, part, entry->guid, entry->key,
                                entry->key_len), kbytes };
    MDB_val val = { S_KEYS_VALUE, vbytes };
    kvp_lmdb_put_u64 (vbytes, seq);
    memcpy (vbytes + 8, entry->digest, S_DIGEST);
    return kvp_lmdb_rc (mdb_put (txn, self->keys, &key, &val, 0), "key put");
}

int
kvp_joblog_put (kvp_joblog_t *self, MDB_txn *txn, uint32_t part, uint64_t seq,
                const kvp_joblog_entry_t *entry)
{
    if (!entry || !entry->guid || entry->key_len > KVP_JOBLOG_KEY_MAX
    ||  (entry->key_len && (!entry->key || !entry->digest))
    ||  (entry->event_len && !entry->event))
        return KVP_STORE_EINVAL;
    uint8_t kbytes [S_LOG_KEY];
    s_log_key (kbytes, part, seq);
    MDB_val key = { S_LOG_KEY, kbytes };
    MDB_val val = { S_LOG_HEAD + entry->event_len
                    + (entry->key_len? entry->key_len + S_DIGEST: 0), NULL };
    //  MDB_RESERVE: the value is built in place, no buffer to allocate
    int rc = mdb_put (txn, self->log, &key, &val,
                      MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "log put");
    s_encode ((uint8_t *) val.mv_data, entry);
    return entry->key_len? s_key_put (self, txn, part, entry, seq)
                         : KVP_STORE_OK;
}

int
kvp_joblog_get (kvp_joblog_t *self, MDB_txn *txn, uint32_t part, uint64_t seq,
                kvp_joblog_entry_t *entry)
{
    uint8_t kbytes [S_LOG_KEY];
    s_log_key (kbytes, part, seq);
    MDB_val key = { S_LOG_KEY, kbytes }, val;
    int rc = kvp_lmdb_rc (mdb_get (txn, self->log, &key, &val), "log get");
    return rc? rc: s_decode (&val, entry);
}

//  Walk part's log from `from` with an open cursor
static int
s_walk (MDB_cursor *cursor, uint32_t part, uint64_t from,
        kvp_store_log_fn *fn, void *arg)
{
    uint8_t kbytes [S_LOG_KEY];
    s_log_key (kbytes, part, from);
    MDB_val key = { S_LOG_KEY, kbytes }, val;
    int rc = mdb_cursor_get (cursor, &key, &val, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && kvp_lmdb_has_prefix (&key, kbytes, 2)) {
        kvp_joblog_entry_t entry;
        if (key.mv_size != S_LOG_KEY || s_decode (&val, &entry))
            return KVP_STORE_CORRUPT;
        uint64_t seq = kvp_lmdb_get_u64 ((const uint8_t *) key.mv_data + 2);
        int stop = fn (arg, part, seq, entry.event, entry.event_len);
        if (stop)
            return stop;
        rc = mdb_cursor_get (cursor, &key, &val, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND? KVP_STORE_OK: kvp_lmdb_rc (rc, "log walk");
}

int
kvp_joblog_each (kvp_joblog_t *self, MDB_txn *txn, uint32_t part,
                 uint64_t from, kvp_store_log_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    if (!fn)
        return KVP_STORE_EINVAL;
    int rc = mdb_cursor_open (txn, self->log, &cursor);
    if (rc != MDB_SUCCESS)
        return kvp_lmdb_rc (rc, "log cursor");
    rc = s_walk (cursor, part, from, fn, arg);
    mdb_cursor_close (cursor);
    return rc;
}

int
kvp_joblog_key_get (kvp_joblog_t *self, MDB_txn *txn, const uint8_t *prefix,
                    const char *key, size_t key_len, uint64_t *seq,
                    uint8_t digest [16])
{
    if (!key || key_len == 0 || key_len > KVP_JOBLOG_KEY_MAX)
        return KVP_STORE_EINVAL;
    uint8_t kbytes [S_PREFIX + KVP_JOBLOG_KEY_MAX];
    memcpy (kbytes, prefix, S_PREFIX);
    memcpy (kbytes + S_PREFIX, key, key_len);
    MDB_val mkey = { S_PREFIX + key_len, kbytes }, val;
    int rc = kvp_lmdb_rc (mdb_get (txn, self->keys, &mkey, &val), "key get");
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
kvp_joblog_keys_clear (kvp_joblog_t *self, MDB_txn *txn, const uint8_t *prefix)
{
    return kvp_lmdb_del_prefix (txn, self->keys, prefix, S_PREFIX, NULL);
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

//  Purge the job under the cursor if it is older than before_ms (*gone
//  then true). Sets `next` to the log key to seek next: the following job,
//  or the next partition when this one holds nothing older; NOTFOUND when
//  there is no next partition.
static int
s_purge_one (kvp_joblog_t *self, MDB_txn *txn, MDB_cursor *cursor,
             const MDB_val *key, const MDB_val *val, uint64_t before_ms,
             uint8_t *next, bool *gone)
{
    kvp_joblog_entry_t entry;
    if (key->mv_size != S_LOG_KEY || s_decode (val, &entry))
        return KVP_STORE_CORRUPT;
    uint32_t part = kvp_lmdb_get_u16 ((const uint8_t *) key->mv_data);
    uint64_t seq = kvp_lmdb_get_u64 ((const uint8_t *) key->mv_data + 2);
    *gone = entry.time_ms < before_ms;
    if (!*gone) {
        s_log_key (next, part + 1, 0);
        return part == S_PART_LAST? KVP_STORE_NOTFOUND: KVP_STORE_OK;
    }
    int rc = entry.key_len? s_purge_key (self, txn, part, &entry, seq)
                          : KVP_STORE_OK;
    if (rc == KVP_STORE_OK)
        rc = kvp_lmdb_rc (mdb_cursor_del (cursor, 0), "purge del");
    s_log_key (next, part, seq + 1);
    return rc;
}

int
kvp_joblog_purge (kvp_joblog_t *self, MDB_txn *txn, uint64_t before_ms,
                  size_t max, size_t *purged)
{
    MDB_cursor *cursor = NULL;
    uint8_t next [S_LOG_KEY] = { 0 };
    size_t count = 0;
    int rc = kvp_lmdb_rc (mdb_cursor_open (txn, self->log, &cursor),
                          "purge cursor");
    while (rc == KVP_STORE_OK && count < max) {
        //  Seek afresh each time: after a delete, or to the next partition
        MDB_val key = { S_LOG_KEY, next }, val;
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
