/*  kvp_view.c - overlay over an LMDB snapshot (see kvp_view.h). */
#include <stdlib.h>
#include <string.h>
#include "kvp_view.h"
#include "kvp_lmdb.h"
#include "kvp_store.h"

struct _kvp_view_t {
    MDB_dbi dbis [KVP_TABLE_COUNT];
    kvp_overlay_t *overlay;
    kvp_change_t changes;           //  the batch's record
    MDB_txn *txn;                   //  the snapshot; NULL = none
    uint64_t stamp;                 //  what writes are stamped with
};

kvp_view_t *
kvp_view_new (const MDB_dbi *dbis)
{
    kvp_view_t *self = (kvp_view_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    memcpy (self->dbis, dbis, sizeof self->dbis);
    kvp_change_init (&self->changes);
    if (!(self->overlay = kvp_overlay_new ()))
        kvp_view_destroy (&self);
    return self;
}

void
kvp_view_destroy (kvp_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_view_t *self = *self_p;
    kvp_overlay_destroy (&self->overlay);
    kvp_change_fini (&self->changes);
    free (self);
    *self_p = NULL;
}

kvp_overlay_t *
kvp_view_overlay (kvp_view_t *self)
{
    return self->overlay;
}

kvp_change_t *
kvp_view_changes (kvp_view_t *self)
{
    return &self->changes;
}

void
kvp_view_bind (kvp_view_t *self, MDB_txn *txn, uint64_t stamp)
{
    self->txn = txn;
    self->stamp = stamp;
}

//  --- Reads --------------------------------------------------------------

//  From LMDB, unless a range tombstone hides the key
static int
s_lmdb_get (kvp_view_t *self, kvp_change_table_t table, const MDB_val *key,
            MDB_val *val)
{
    if (!self->txn
    ||  kvp_overlay_hidden (self->overlay, table, key->mv_data, key->mv_size))
        return KVP_STORE_NOTFOUND;
    MDB_val copy = *key;
    return kvp_lmdb_rc (mdb_get (self->txn, self->dbis [table], &copy, val),
                        "view get");
}

int
kvp_view_get (kvp_view_t *self, kvp_change_table_t table, const MDB_val *key,
              MDB_val *val)
{
    if (table >= KVP_TABLE_COUNT || !key || !val)
        return KVP_STORE_EINVAL;
    const void *data;
    size_t size;
    switch (kvp_overlay_get (self->overlay, table, key->mv_data, key->mv_size,
                             &data, &size)) {
        case KVP_OVERLAY_VALUE:
            val->mv_data = (void *) data;
            val->mv_size = size;
            return KVP_STORE_OK;
        case KVP_OVERLAY_GONE:
            return KVP_STORE_NOTFOUND;
        default:
            return s_lmdb_get (self, table, key, val);
    }
}

//  --- Writes -------------------------------------------------------------

//  The same change to the overlay and to the record, or to neither
static int
s_write (kvp_view_t *self, kvp_change_op_t op, kvp_change_table_t table,
         const MDB_val *key, const MDB_val *val)
{
    kvp_view_mark_t mark;
    kvp_view_mark (self, &mark);
    int rc = kvp_change_add (&self->changes, op, table, key->mv_data,
                             key->mv_size, val? val->mv_data: NULL,
                             val? val->mv_size: 0);
    if (rc == 0 && op == KVP_CHANGE_CLEAR)
        rc = kvp_overlay_clear (self->overlay, table, key->mv_data,
                                key->mv_size, self->stamp);
    else
    if (rc == 0)
        rc = kvp_overlay_put (self->overlay, table, key->mv_data,
                              key->mv_size, val? val->mv_data: NULL,
                              val? val->mv_size: 0, self->stamp);
    if (rc) {
        kvp_view_undo (self, &mark);
        return KVP_STORE_EIO;           //  out of memory
    }
    return KVP_STORE_OK;
}

typedef struct {
    kvp_overlay_t *overlay;
    uint64_t stamp;
    size_t changes;
} s_restore_t;

static int
s_restore_one (void *arg, kvp_change_op_t op, kvp_change_table_t table,
               const void *key, size_t key_len, const void *val,
               size_t val_len)
{
    s_restore_t *restore = (s_restore_t *) arg;
    restore->changes++;
    int rc = op == KVP_CHANGE_CLEAR
           ? kvp_overlay_clear (restore->overlay, table, key, key_len,
                                restore->stamp)
           : kvp_overlay_put (restore->overlay, table, key, key_len,
                              op == KVP_CHANGE_PUT? val: NULL,
                              op == KVP_CHANGE_PUT? val_len: 0,
                              restore->stamp);
    return rc? KVP_STORE_EIO: KVP_STORE_OK;
}

int
kvp_view_restore (kvp_view_t *self, uint64_t stamp, const void *data,
                  size_t size, size_t *changes)
{
    s_restore_t restore = { self->overlay, stamp, 0 };
    int rc = kvp_change_each (data, size, s_restore_one, &restore);
    kvp_overlay_settle (self->overlay);
    *changes = restore.changes;
    return rc;
}

int
kvp_view_put (kvp_view_t *self, kvp_change_table_t table, const MDB_val *key,
              const MDB_val *val, bool create)
{
    if (table >= KVP_TABLE_COUNT || !key || !val
    ||  key->mv_size == 0 || key->mv_size > KVP_CHANGE_KEY_MAX)
        return KVP_STORE_EINVAL;
    if (create) {
        MDB_val old;
        int rc = kvp_view_get (self, table, key, &old);
        if (rc != KVP_STORE_NOTFOUND)
            return rc == KVP_STORE_OK? KVP_STORE_EXISTS: rc;
    }
    return s_write (self, KVP_CHANGE_PUT, table, key, val);
}

int
kvp_view_del (kvp_view_t *self, kvp_change_table_t table, const MDB_val *key)
{
    MDB_val old;
    int rc = kvp_view_get (self, table, key, &old);
    return rc? rc: s_write (self, KVP_CHANGE_DEL, table, key, NULL);
}

int
kvp_view_clear (kvp_view_t *self, kvp_change_table_t table,
                const void *prefix, size_t prefix_len)
{
    MDB_val key = { prefix_len, (void *) prefix };
    if (table >= KVP_TABLE_COUNT || !prefix || prefix_len == 0)
        return KVP_STORE_EINVAL;
    return s_write (self, KVP_CHANGE_CLEAR, table, &key, NULL);
}

//  --- Walks --------------------------------------------------------------

typedef struct {
    kvp_view_t *view;
    kvp_change_table_t table;
    const MDB_val *start;
    size_t prefix_len;
    MDB_cursor *cursor;             //  LMDB side; NULL when done
    MDB_val lkey, lval;
    const kvp_overlay_node_t *node; //  overlay side; NULL when done
} s_walk_t;

static bool
s_in_range (const s_walk_t *walk, const void *key, size_t size)
{
    return size >= walk->prefix_len
        && memcmp (key, walk->start->mv_data, walk->prefix_len) == 0;
}

//  Move the LMDB side on (op MDB_SET_RANGE the first time, then MDB_NEXT)
//  past keys out of range or hidden by a range tombstone
static int
s_lmdb_step (s_walk_t *walk, MDB_cursor_op op)
{
    if (!walk->cursor)
        return KVP_STORE_OK;
    if (op == MDB_SET_RANGE)
        walk->lkey = *walk->start;
    int rc = mdb_cursor_get (walk->cursor, &walk->lkey, &walk->lval, op);
    while (rc == MDB_SUCCESS
       &&  s_in_range (walk, walk->lkey.mv_data, walk->lkey.mv_size)
       &&  kvp_overlay_hidden (walk->view->overlay, walk->table,
                               walk->lkey.mv_data, walk->lkey.mv_size))
        rc = mdb_cursor_get (walk->cursor, &walk->lkey, &walk->lval, MDB_NEXT);
    if (rc == MDB_SUCCESS
    &&  s_in_range (walk, walk->lkey.mv_data, walk->lkey.mv_size))
        return KVP_STORE_OK;
    mdb_cursor_close (walk->cursor);
    walk->cursor = NULL;
    return rc == MDB_SUCCESS || rc == MDB_NOTFOUND
         ? KVP_STORE_OK: kvp_lmdb_rc (rc, "view walk");
}

static void
s_overlay_check (s_walk_t *walk)
{
    size_t size;
    const uint8_t *key = walk->node? kvp_overlay_key (walk->node, &size): NULL;
    if (key && !s_in_range (walk, key, size))
        walk->node = NULL;
}

//  Which side is next: <0 LMDB, >0 overlay, 0 the same key (overlay wins)
static int
s_pick (const s_walk_t *walk)
{
    if (!walk->node)
        return -1;
    if (!walk->cursor)
        return 1;
    size_t size;
    const uint8_t *key = kvp_overlay_key (walk->node, &size);
    return kvp_overlay_keycmp (walk->lkey.mv_data, walk->lkey.mv_size, key,
                               size);
}

//  Hand the overlay's entry on (unless a tombstone) and step past it
static int
s_overlay_emit (s_walk_t *walk, kvp_view_fn *fn, void *arg)
{
    size_t key_size, val_size;
    const uint8_t *key = kvp_overlay_key (walk->node, &key_size);
    const uint8_t *val = kvp_overlay_value (walk->node, &val_size);
    int rc = 0;
    if (val) {
        MDB_val k = { key_size, (void *) key }, v = { val_size, (void *) val };
        rc = fn (arg, &k, &v);
    }
    walk->node = kvp_overlay_next (walk->node);
    s_overlay_check (walk);
    return rc;
}

int
kvp_view_walk (kvp_view_t *self, kvp_change_table_t table,
               const MDB_val *start, size_t prefix_len, kvp_view_fn *fn,
               void *arg)
{
    if (table >= KVP_TABLE_COUNT || !start || !fn
    ||  prefix_len > start->mv_size)
        return KVP_STORE_EINVAL;
    s_walk_t walk = { self, table, start, prefix_len, NULL, { 0, NULL },
                      { 0, NULL }, NULL };
    int rc = KVP_STORE_OK;
    if (self->txn)
        rc = kvp_lmdb_rc (mdb_cursor_open (self->txn, self->dbis [table],
                                           &walk.cursor), "view cursor");
    if (rc == KVP_STORE_OK)
        rc = s_lmdb_step (&walk, MDB_SET_RANGE);
    walk.node = kvp_overlay_seek (self->overlay, table, start->mv_data,
                                  start->mv_size);
    s_overlay_check (&walk);
    while (rc == KVP_STORE_OK && (walk.cursor || walk.node)) {
        int side = s_pick (&walk);
        if (side < 0) {
            rc = fn (arg, &walk.lkey, &walk.lval);
            if (rc == KVP_STORE_OK)
                rc = s_lmdb_step (&walk, MDB_NEXT);
            continue;
        }
        if (side == 0)
            rc = s_lmdb_step (&walk, MDB_NEXT);
        if (rc == KVP_STORE_OK)
            rc = s_overlay_emit (&walk, fn, arg);
    }
    if (walk.cursor)
        mdb_cursor_close (walk.cursor);
    return rc;
}

int
kvp_view_last (kvp_view_t *self, kvp_change_table_t table, MDB_val *key)
{
    if (table >= KVP_TABLE_COUNT || !key)
        return KVP_STORE_EINVAL;
    MDB_val lkey = { 0, NULL }, lval;
    int rc = MDB_NOTFOUND;
    MDB_cursor *cursor = NULL;
    if (self->txn
    &&  (rc = mdb_cursor_open (self->txn, self->dbis [table], &cursor)) == 0) {
        rc = mdb_cursor_get (cursor, &lkey, &lval, MDB_LAST);
        mdb_cursor_close (cursor);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
        return kvp_lmdb_rc (rc, "view last");
    const kvp_overlay_node_t *node = kvp_overlay_last (self->overlay, table);
    size_t size = 0;
    const uint8_t *okey = node? kvp_overlay_key (node, &size): NULL;
    bool lmdb = rc == MDB_SUCCESS;
    if (okey && (!lmdb || kvp_overlay_keycmp (okey, size, lkey.mv_data,
                                    lkey.mv_size) > 0)) {
        key->mv_data = (void *) okey;
        key->mv_size = size;
        return KVP_STORE_OK;
    }
    if (!lmdb)
        return KVP_STORE_NOTFOUND;
    *key = lkey;
    return KVP_STORE_OK;
}

//  --- Undo ---------------------------------------------------------------

void
kvp_view_mark (kvp_view_t *self, kvp_view_mark_t *mark)
{
    mark->undo = kvp_overlay_mark (self->overlay);
    mark->record = self->changes;
}

void
kvp_view_undo (kvp_view_t *self, const kvp_view_mark_t *mark)
{
    kvp_overlay_undo (self->overlay, mark->undo);
    kvp_change_truncate (&self->changes, &mark->record);
}
