/*  kvp_overlay.h - the writes the write-ahead log holds and LMDB does not
    yet: an ordered in-memory map over the store's tables, read before LMDB.

    Every write of a batch lands here (and in the batch's log record) at
    once; a background checkpoint later applies the same records to LMDB
    and commits them there. Until then the overlay answers for the keys it
    holds: a value, or a tombstone saying the key is gone, and for whole
    ranges (kvp_overlay_clear) a range tombstone hiding every LMDB key under
    a prefix. Keys are (table, bytes) and sort by table, then bytewise.

    Each entry carries the stamp (the log sequence number of the batch) of
    its last change. Once LMDB holds everything up to stamp S, and the
    reader's LMDB snapshot is at least that new, kvp_overlay_evict (S)
    drops what is older: those entries now say exactly what LMDB says.

    Undo: kvp_overlay_mark returns a position; kvp_overlay_undo (mark)
    takes back every change made since, in reverse, so a request's nested
    transaction or a refused batch leaves no trace. kvp_overlay_settle
    forgets the undo history (the batch is in the log). Evicting with undo
    history pending is a programming error.

    Pointers handed out stay valid until the next write, undo or evict.
    One thread. Leaf module.
*/
#ifndef KVP_OVERLAY_H_INCLUDED
#define KVP_OVERLAY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_OVERLAY_PREFIX_MAX  32  /* longest prefix kvp_overlay_clear
                                       takes */

typedef struct _kvp_overlay_t kvp_overlay_t;
typedef struct _kvp_overlay_node_t kvp_overlay_node_t;

typedef enum {
    KVP_OVERLAY_MISS,       /* not here: ask LMDB (unless hidden) */
    KVP_OVERLAY_VALUE,      /* here, with a value */
    KVP_OVERLAY_GONE        /* here, deleted */
} kvp_overlay_find_t;

/*  A new, empty overlay; NULL when out of memory. */
kvp_overlay_t *
    kvp_overlay_new (void);

/*  Free everything; safe on NULL, nulls the pointer. */
void
    kvp_overlay_destroy (kvp_overlay_t **self_p);

/*  Look a key up. On VALUE, *val and *val_len (not NULL) get the value. */
kvp_overlay_find_t
    kvp_overlay_get (kvp_overlay_t *self, uint8_t table, const void *key,
                     size_t key_len, const void **val, size_t *val_len);

/*  Is an LMDB key under a range tombstone (so gone, unless the overlay
    holds it)? */
bool
    kvp_overlay_hidden (kvp_overlay_t *self, uint8_t table, const void *key,
                        size_t key_len);

/*  Set a key to a value (copied), or to a tombstone (val NULL). Returns 0,
    or -1 out of memory (nothing changed). */
int
    kvp_overlay_put (kvp_overlay_t *self, uint8_t table, const void *key,
                     size_t key_len, const void *val, size_t val_len,
                     uint64_t stamp);

/*  Delete every key under `prefix` (1..KVP_OVERLAY_PREFIX_MAX bytes):
    entries here become tombstones and a range tombstone hides LMDB's. 0
    or -1 (out of memory; what was done is in the undo history). */
int
    kvp_overlay_clear (kvp_overlay_t *self, uint8_t table,
                       const void *prefix, size_t prefix_len, uint64_t stamp);

/*  Undo history. */
size_t
    kvp_overlay_mark (kvp_overlay_t *self);
void
    kvp_overlay_undo (kvp_overlay_t *self, size_t mark);
void
    kvp_overlay_settle (kvp_overlay_t *self);

/*  Drop every entry and range tombstone whose stamp is <= upto. */
void
    kvp_overlay_evict (kvp_overlay_t *self, uint64_t upto);

/*  Ordered walk: the first entry of `table` whose key is >= key (NULL
    when none), then the next one (NULL past the table's end). */
const kvp_overlay_node_t *
    kvp_overlay_seek (kvp_overlay_t *self, uint8_t table, const void *key,
                      size_t key_len);
const kvp_overlay_node_t *
    kvp_overlay_next (const kvp_overlay_node_t *node);

/*  The last entry of `table` (tombstones included), or NULL. */
const kvp_overlay_node_t *
    kvp_overlay_last (kvp_overlay_t *self, uint8_t table);

/*  An entry's key (without the table), and its value: NULL for a
    tombstone. */
const uint8_t *
    kvp_overlay_key (const kvp_overlay_node_t *node, size_t *key_len);
const uint8_t *
    kvp_overlay_value (const kvp_overlay_node_t *node, size_t *val_len);

/*  Order two keys as LMDB's default comparison does: bytewise, a key that
    is a prefix of the other first. <0, 0 or >0. */
int
    kvp_overlay_keycmp (const void *a, size_t a_len, const void *b,
                        size_t b_len);

/*  Entries held, and the bytes of their keys and values. */
size_t
    kvp_overlay_count (kvp_overlay_t *self);
size_t
    kvp_overlay_bytes (kvp_overlay_t *self);

#ifdef __cplusplus
}
#endif
#endif
