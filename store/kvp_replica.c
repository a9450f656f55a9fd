/*  kvp_replica.c - one partition's data between stores (kvp_replica.h). */
#include <stdlib.h>
#include <string.h>
#include "kvp_replica.h"
#include "kvp_lmdb.h"

#define S_PART          2           //  the partition, first in most keys
#define S_ENTRY_HEAD    8           //  a PUT's op table key_len value_len

//  The shortest and longest key and the shortest value a table's records
//  have (kvp_store.c, kvp_itemtab.h, kvp_joblog.h): what apply lets in
typedef struct {
    size_t key_min, key_max, val_min;
} s_shape_t;

static const s_shape_t s_shapes [KVP_TABLE_COUNT] = {
    [KVP_TABLE_META]    = { 2, 2, 20 },     //  partition: epoch seq sent
    [KVP_TABLE_SYSTEMS] = { 18, 18, 11 },   //  part guid: created ... name
    [KVP_TABLE_ITEMS]   = { 19, KVP_CHANGE_KEY_MAX, 2 },
    [KVP_TABLE_LOG]     = { 10, 10, 8 },    //  part seq: lsn
    [KVP_TABLE_LOGBODY] = { 8, 8, 35 },     //  lsn: part seq time guid ...
    [KVP_TABLE_KEYS]    = { 19, 18 + KVP_JOBLOG_KEY_MAX, 24 }
};

//  --- A batch's changes to one partition ---------------------------------

typedef struct {
    uint32_t part;
    kvp_change_t *out;
} s_filter_t;

static int
s_filter_one (void *arg, kvp_change_op_t op, kvp_change_table_t table,
              const void *key, size_t key_len, const void *val,
              size_t val_len)
{
    s_filter_t *filter = (s_filter_t *) arg;
    if (kvp_change_part (op, table, key, key_len, val, val_len)
        != (int) filter->part)
        return KVP_STORE_OK;
    return kvp_change_add (filter->out, op, table, key, key_len, val,
                           val_len)? KVP_STORE_EIO: KVP_STORE_OK;
}

int
kvp_replica_filter (const void *data, size_t size, uint32_t part,
                    kvp_change_t *out)
{
    kvp_change_t empty = { NULL, 0, 0, 0, 0 };
    kvp_change_truncate (out, &empty);
    s_filter_t filter = { part, out };
    int rc = kvp_change_each (data, size, s_filter_one, &filter);
    if (rc != KVP_STORE_OK)
        kvp_change_truncate (out, &empty);
    return rc;
}

//  --- Applying -----------------------------------------------------------

//  The check pass: every change is `part`'s and has its table's shape; a
//  job's index record waits in `job`/`lsn` for its body
typedef struct {
    uint32_t part;
    bool pending;                   //  an index record without its body yet
    uint8_t job [10];               //  its key: part + seq
    uint8_t lsn [8];                //  the body it names
} s_check_t;

static bool
s_shaped (kvp_change_op_t op, kvp_change_table_t table, size_t key_len,
          size_t val_len)
{
    const s_shape_t *shape = &s_shapes [table];
    if (op == KVP_CHANGE_CLEAR)
        return key_len >= S_PART && key_len <= shape->key_max
            && key_len <= KVP_OVERLAY_PREFIX_MAX;
    return key_len >= shape->key_min && key_len <= shape->key_max
        && (op != KVP_CHANGE_PUT || val_len >= shape->val_min);
}

//  A body must come right after the index record that names it, and be
//  that job's body
static int
s_check_body (s_check_t *check, const void *key, const void *val,
              size_t val_len)
{
    uint32_t part;
    uint64_t seq;
    if (!check->pending || memcmp (key, check->lsn, 8) != 0
    ||  kvp_joblog_body_check (val, val_len, &part, &seq) != KVP_STORE_OK
    ||  memcmp (val, check->job, 10) != 0)
        return KVP_STORE_CORRUPT;
    check->pending = false;
    return KVP_STORE_OK;
}

static int
s_check_one (void *arg, kvp_change_op_t op, kvp_change_table_t table,
             const void *key, size_t key_len, const void *val,
             size_t val_len)
{
    s_check_t *check = (s_check_t *) arg;
    if (kvp_change_part (op, table, key, key_len, val, val_len)
        != (int) check->part
    ||  !s_shaped (op, table, key_len, val_len))
        return KVP_STORE_CORRUPT;
    if (table == KVP_TABLE_LOGBODY)
        return s_check_body (check, key, val, val_len);
    if (check->pending)
        return KVP_STORE_CORRUPT;       //  an index record without body
    if (table == KVP_TABLE_LOG && op == KVP_CHANGE_PUT) {
        memcpy (check->job, key, 10);
        memcpy (check->lsn, val, 8);
        check->pending = true;
    }
    return KVP_STORE_OK;
}

//  The apply pass: jobs by their bodies, the rest as they came
typedef struct {
    kvp_view_t *view;
    kvp_joblog_t *log;
} s_apply_t;

static int
s_apply_one (void *arg, kvp_change_op_t op, kvp_change_table_t table,
             const void *key, size_t key_len, const void *val,
             size_t val_len)
{
    s_apply_t *apply = (s_apply_t *) arg;
    MDB_val k = { key_len, (void *) key }, v = { val_len, (void *) val };
    if (table == KVP_TABLE_LOG && op == KVP_CHANGE_PUT)
        return KVP_STORE_OK;            //  written with its body, next
    if (table == KVP_TABLE_LOGBODY)
        return kvp_joblog_adopt (apply->log, apply->view, val, val_len);
    if (table == KVP_TABLE_LOG)
        return kvp_joblog_drop (apply->log, apply->view, key, key_len);
    if (op == KVP_CHANGE_PUT)
        return kvp_view_put (apply->view, table, &k, &v, false);
    if (op == KVP_CHANGE_CLEAR)
        return kvp_view_clear (apply->view, table, key, key_len);
    int rc = kvp_view_del (apply->view, table, &k);
    return rc == KVP_STORE_NOTFOUND? KVP_STORE_OK: rc;
}

int
kvp_replica_apply (kvp_view_t *view, kvp_joblog_t *log, uint32_t part,
                   const void *data, size_t size)
{
    s_check_t check = { part, false, { 0 }, { 0 } };
    int rc = kvp_change_each (data, size, s_check_one, &check);
    if (rc == KVP_STORE_OK && check.pending)
        rc = KVP_STORE_CORRUPT;         //  the last job lacks its body
    if (rc != KVP_STORE_OK)
        return rc;
    kvp_view_mark_t mark;
    kvp_view_mark (view, &mark);
    s_apply_t apply = { view, log };
    rc = kvp_change_each (data, size, s_apply_one, &apply);
    if (rc != KVP_STORE_OK)
        kvp_view_undo (view, &mark);
    return rc;
}

//  --- Dropping -----------------------------------------------------------

int
kvp_replica_drop (kvp_view_t *view, kvp_joblog_t *log, uint32_t part)
{
    static const kvp_change_table_t tables [] = {
        KVP_TABLE_SYSTEMS, KVP_TABLE_ITEMS, KVP_TABLE_KEYS
    };
    uint8_t prefix [S_PART];
    kvp_lmdb_put_u16 (prefix, (uint16_t) part);
    MDB_val key = { S_PART, prefix };
    int rc = kvp_view_del (view, KVP_TABLE_META, &key);
    if (rc == KVP_STORE_NOTFOUND)
        rc = KVP_STORE_OK;
    for (size_t i = 0; i < sizeof tables / sizeof *tables && rc == 0; i++)
        rc = kvp_view_clear (view, tables [i], prefix, S_PART);
    return rc? rc: kvp_joblog_drop (log, view, prefix, S_PART);
}

//  --- Copying ------------------------------------------------------------

typedef struct {
    kvp_change_t record;            //  the chunk being filled
    size_t chunk;                   //  its bytes at most, when it can be
    size_t handed;                  //  chunks handed on
    kvp_change_table_t table;       //  the table being walked
    kvp_store_chunk_fn *fn;
    void *arg;
} s_copy_t;

static int
s_copy_flush (s_copy_t *copy)
{
    kvp_change_t empty = { NULL, 0, 0, 0, 0 };
    int rc = copy->fn (copy->arg, copy->record.data, copy->record.size);
    kvp_change_truncate (&copy->record, &empty);
    copy->handed++;
    return rc;
}

//  Hand the chunk on first if `bytes` more would take it past its size
static int
s_copy_room (s_copy_t *copy, size_t bytes)
{
    if (copy->record.size && copy->record.size + bytes > copy->chunk)
        return s_copy_flush (copy);
    return KVP_STORE_OK;
}

static int
s_copy_put (s_copy_t *copy, kvp_change_table_t table, const MDB_val *key,
            const MDB_val *val)
{
    return kvp_change_add (&copy->record, KVP_CHANGE_PUT, table, key->mv_data,
                           key->mv_size, val->mv_data, val->mv_size)
         ? KVP_STORE_EIO: KVP_STORE_OK;
}

static int
s_copy_row (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_copy_t *copy = (s_copy_t *) arg;
    int rc = s_copy_room (copy, S_ENTRY_HEAD + key->mv_size + val->mv_size);
    return rc? rc: s_copy_put (copy, copy->table, key, val);
}

//  A job's index record and its body, always in the same chunk
static int
s_copy_job (void *arg, const MDB_val *job, const MDB_val *lsn,
            const MDB_val *body)
{
    s_copy_t *copy = (s_copy_t *) arg;
    int rc = s_copy_room (copy, 2 * S_ENTRY_HEAD + job->mv_size
                              + 2 * lsn->mv_size + body->mv_size);
    if (rc == KVP_STORE_OK)
        rc = s_copy_put (copy, KVP_TABLE_LOG, job, lsn);
    return rc? rc: s_copy_put (copy, KVP_TABLE_LOGBODY, lsn, body);
}

static int
s_copy_tables (s_copy_t *copy, kvp_view_t *view, kvp_joblog_t *log,
               uint32_t part)
{
    static const kvp_change_table_t tables [] = {
        KVP_TABLE_SYSTEMS, KVP_TABLE_ITEMS, KVP_TABLE_KEYS
    };
    uint8_t prefix [S_PART];
    kvp_lmdb_put_u16 (prefix, (uint16_t) part);
    MDB_val key = { S_PART, prefix }, val;
    int rc = kvp_view_get (view, KVP_TABLE_META, &key, &val);
    if (rc == KVP_STORE_OK) {
        copy->table = KVP_TABLE_META;
        rc = s_copy_row (copy, &key, &val);
    }
    else
    if (rc == KVP_STORE_NOTFOUND)
        rc = KVP_STORE_OK;
    for (size_t i = 0; i < sizeof tables / sizeof *tables && rc == 0; i++) {
        copy->table = tables [i];
        rc = kvp_view_walk (view, tables [i], &key, S_PART, s_copy_row, copy);
    }
    return rc? rc: kvp_joblog_bodies (log, view, part, s_copy_job, copy);
}

int
kvp_replica_copy (kvp_view_t *view, kvp_joblog_t *log, uint32_t part,
                  size_t chunk, kvp_store_chunk_fn *fn, void *arg)
{
    if (!fn)
        return KVP_STORE_EINVAL;
    s_copy_t copy = { { NULL, 0, 0, 0, 0 }, chunk, 0, KVP_TABLE_META, fn,
                      arg };
    int rc = s_copy_tables (&copy, view, log, part);
    if (rc == KVP_STORE_OK && (copy.record.size || copy.handed == 0))
        rc = s_copy_flush (&copy);
    kvp_change_fini (&copy.record);
    return rc;
}
