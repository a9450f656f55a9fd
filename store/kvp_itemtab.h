/*  kvp_itemtab.h - the store's items table: one LMDB database of data items
    keyed by system and (Source, Name).

    Key:   part(2) + guid(16) + source(1) + name, when that fits LMDB's 511
           bytes (names up to KVP_ITEMTAB_INLINE_MAX bytes); for longer names
           part(2) + guid(16) + source(1) + the name's first
           KVP_ITEMTAB_HEAD bytes + kvp_fnv_128 (name), exactly 511 bytes.
    Value: name_len(2, BE) + name + data. The full name is always kept, so
           a walk can report it and a lookup can tell two long names with
           the same key apart (a hash collision is treated as another item;
           writing the second one fails with EIO).

    The first 18 key bytes (part + guid) are the system's "prefix", built by
    the caller. Functions run in the caller's LMDB transaction and return
    store codes (kvp_store.h). Internal to store/.
*/
#ifndef KVP_ITEMTAB_H_INCLUDED
#define KVP_ITEMTAB_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <lmdb.h>
#include "kvp_view.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_ITEMTAB_PREFIX      18     /* part(2) + guid(16) */
#define KVP_ITEMTAB_INLINE_MAX  492    /* longest name kept whole in the key */
#define KVP_ITEMTAB_HEAD        476    /* bytes of a longer name in the key */
#define KVP_ITEMTAB_SOURCE_MAX  255    /* Source is one key byte */

typedef struct _kvp_itemtab_t kvp_itemtab_t;

/*  Make the table over the open database `dbi`. NULL if out of memory. */
kvp_itemtab_t *
    kvp_itemtab_new (void);

/*  Free the table (not the database) and null the pointer; safe on NULL. */
void
    kvp_itemtab_destroy (kvp_itemtab_t **self_p);

/*  Read item (source, name) of the system `prefix`: sets *data and
    *data_len to the data in LMDB memory. NOTFOUND if absent; EINVAL for a
    Source over 255 or an empty or over-long (> 65535) name. */
int
    kvp_itemtab_get (kvp_itemtab_t *self, kvp_view_t *view,
                     const uint8_t prefix [KVP_ITEMTAB_PREFIX],
                     uint32_t source, const char *name, size_t name_len,
                     const char **data, size_t *data_len);

/*  Write an item in `view`; with create, EXISTS when it
    is already there (nothing written). FULL or EIO when LMDB fails: the
    transaction must then be aborted. */
int
    kvp_itemtab_put (kvp_itemtab_t *self, kvp_view_t *view,
                     const uint8_t prefix [KVP_ITEMTAB_PREFIX],
                     uint32_t source, const char *name, size_t name_len,
                     const char *data, size_t data_len, bool create);

/*  Delete an item. NOTFOUND if absent. */
int
    kvp_itemtab_delete (kvp_itemtab_t *self, kvp_view_t *view,
                        const uint8_t prefix [KVP_ITEMTAB_PREFIX],
                        uint32_t source, const char *name, size_t name_len);

/*  Delete every item of the system `prefix`. */
int
    kvp_itemtab_clear (kvp_itemtab_t *self, kvp_view_t *view,
                       const uint8_t prefix [KVP_ITEMTAB_PREFIX]);

/*  Call `fn` for each item of the system `prefix` whose Source is `source`
    (all items when UINT32_MAX) that sorts after `after` (all when NULL),
    ordered by Source, then Name bytewise (shorter first on a tie). The
    walk seeks to the key of `after`'s Source and first KVP_ITEMTAB_HEAD
    name bytes, the least key an item after it can have, and goes on in key
    order, which is the items' order except among names of
    KVP_ITEMTAB_HEAD bytes or more that share those bytes (a longer one's
    key ends in a hash): such a run of keys is gathered into an array the
    table keeps for reuse, sorted, then handed on. So `fn` must not write
    to the store nor walk items again. EINVAL for a Source over 255 (other
    than UINT32_MAX). A non-zero return from fn stops the walk and is
    returned. */
int
    kvp_itemtab_each (kvp_itemtab_t *self, kvp_view_t *view,
                      const uint8_t prefix [KVP_ITEMTAB_PREFIX],
                      uint32_t source, const kvp_store_after_t *after,
                      kvp_store_item_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
