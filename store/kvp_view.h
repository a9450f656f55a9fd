/*  kvp_view.h - the store's tables as one worker sees them: the overlay
    of writes LMDB does not hold yet, over an LMDB read snapshot.

    Reads look in the overlay first (a value, or a tombstone), then in the
    snapshot unless a range tombstone hides the key; walks merge both in
    LMDB's key order. Writes go to the overlay and, as the same change, to
    the batch's log record (kvp_change), so what the log replays is exactly
    what was read back. LMDB itself is written only by the checkpoint,
    never through a view.

    The snapshot must be at least as new as the last checkpoint the
    overlay was evicted for (kvp_overlay_evict): the store binds a fresh
    read transaction after each eviction.

    Tables are kvp_change_table_t numbers; keys and values are MDB_val so
    the record code reads the same either way. Pointers handed out point
    into the overlay or into LMDB: valid until the next write or rebind.
    Return values are store codes. Internal to store/; one thread.
*/
#ifndef KVP_VIEW_H_INCLUDED
#define KVP_VIEW_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <lmdb.h>
#include "kvp_change.h"
#include "kvp_overlay.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_view_t kvp_view_t;

/*  A view over the LMDB databases dbis [table] (copied); NULL when out of
    memory. */
kvp_view_t *
    kvp_view_new (const MDB_dbi *dbis);

/*  Free the view, its overlay and its record; safe on NULL. */
void
    kvp_view_destroy (kvp_view_t **self_p);

/*  The overlay and the record of the batch being built (borrowed). */
kvp_overlay_t *
    kvp_view_overlay (kvp_view_t *self);
kvp_change_t *
    kvp_view_changes (kvp_view_t *self);

/*  Put back into the overlay a record the log holds and LMDB lacks (a
    store opened on a disk too full to replay it into LMDB): each of its
    changes, stamped `stamp`; the batch's record is left alone. The count
    of its changes goes into *changes. CORRUPT when it does not decode,
    EIO out of memory (what was put back stays). */
int
    kvp_view_restore (kvp_view_t *self, uint64_t stamp, const void *data,
                      size_t size, size_t *changes);

/*  Read from `txn` (NULL: the overlay alone); writes get `stamp`. */
void
    kvp_view_bind (kvp_view_t *self, MDB_txn *txn, uint64_t stamp);

/*  Read one key. NOTFOUND when absent or deleted. */
int
    kvp_view_get (kvp_view_t *self, kvp_change_table_t table,
                  const MDB_val *key, MDB_val *val);

/*  Write one key (the value is copied). With create, EXISTS when the key
    is there (and nothing is written). EIO when out of memory. */
int
    kvp_view_put (kvp_view_t *self, kvp_change_table_t table,
                  const MDB_val *key, const MDB_val *val, bool create);

/*  Delete one key. NOTFOUND when absent. */
int
    kvp_view_del (kvp_view_t *self, kvp_change_table_t table,
                  const MDB_val *key);

/*  Delete every key under `prefix` (1..32 bytes). */
int
    kvp_view_clear (kvp_view_t *self, kvp_change_table_t table,
                    const void *prefix, size_t prefix_len);

/*  Called for each key of a walk; non-zero stops it and is returned. */
typedef int (kvp_view_fn) (void *arg, const MDB_val *key,
                           const MDB_val *val);

/*  Walk the keys >= *start that share its first prefix_len bytes, in
    order. fn must not write. */
int
    kvp_view_walk (kvp_view_t *self, kvp_change_table_t table,
                   const MDB_val *start, size_t prefix_len, kvp_view_fn *fn,
                   void *arg);

/*  The greatest key ever written to `table` that either side holds
    (overlay tombstones count, so a number is never handed out twice).
    NOTFOUND when the table is empty. */
int
    kvp_view_last (kvp_view_t *self, kvp_change_table_t table, MDB_val *key);

/*  Undo positions: everything written after a mark can be taken back. */
typedef struct {
    size_t undo;                /* overlay history */
    kvp_change_t record;        /* the record's fields then */
} kvp_view_mark_t;

void
    kvp_view_mark (kvp_view_t *self, kvp_view_mark_t *mark);
void
    kvp_view_undo (kvp_view_t *self, const kvp_view_mark_t *mark);

#ifdef __cplusplus
}
#endif
#endif
