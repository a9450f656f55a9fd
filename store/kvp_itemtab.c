/*  kvp_itemtab.c - the store's items table (layout in kvp_itemtab.h). */
#include <stdlib.h>
#include <string.h>
#include <czmq.h>
#include "kvp_itemtab.h"
#include "kvp_fnv.h"
#include "kvp_lmdb.h"

//  An item as a walk gathers it: pointers into LMDB memory
typedef struct {
    uint32_t source;
    const char *name;
    size_t name_len;
    const char *data;
    size_t data_len;
} s_entry_t;

struct _kvp_itemtab_t {
    s_entry_t *list;            //  reused by every walk
    size_t size;                //  entries allocated in list
    uint8_t *value;             //  reused to build a value
    size_t value_size;          //  bytes allocated in value
};

//  A value holds name_len(2) + name + data; LMDB sizes are size_t, but keep
//  far from any overflow in 2 + name_len + data_len
#define S_DATA_MAX  ((size_t) UINT32_MAX)

kvp_itemtab_t *
kvp_itemtab_new (void)
{
    return (kvp_itemtab_t *) calloc (1, sizeof (kvp_itemtab_t));
}

void
kvp_itemtab_destroy (kvp_itemtab_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->list);
        free ((*self_p)->value);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Check the arguments naming an item; build its key into `key` (at least
//  KVP_LMDB_KEY_MAX bytes). Returns the key length or 0 if invalid.
static size_t
s_key (uint8_t *key, const uint8_t *prefix, uint32_t source,
       const char *name, size_t name_len)
{
    if (source > KVP_ITEMTAB_SOURCE_MAX || !name || name_len == 0
    ||  name_len > UINT16_MAX)
        return 0;
    memcpy (key, prefix, KVP_ITEMTAB_PREFIX);
    key [KVP_ITEMTAB_PREFIX] = (uint8_t) source;
    uint8_t *tail = key + KVP_ITEMTAB_PREFIX + 1;
    if (name_len <= KVP_ITEMTAB_INLINE_MAX) {
        memcpy (tail, name, name_len);
        return KVP_ITEMTAB_PREFIX + 1 + name_len;
    }
    memcpy (tail, name, KVP_ITEMTAB_HEAD);
    kvp_fnv_128 (name, name_len, tail + KVP_ITEMTAB_HEAD);
    return KVP_LMDB_KEY_MAX;
}

//  Decode a value into entry's name and data; CORRUPT if it is too short
//  for the name length it claims.
static int
s_decode (const MDB_val *val, s_entry_t *entry)
{
    const uint8_t *bytes = (const uint8_t *) val->mv_data;
    if (val->mv_size < 2)
        return KVP_STORE_CORRUPT;
    entry->name_len = kvp_lmdb_get_u16 (bytes);
    if (entry->name_len == 0 || val->mv_size - 2 < entry->name_len)
        return KVP_STORE_CORRUPT;
    entry->name = (const char *) bytes + 2;
    entry->data = entry->name + entry->name_len;
    entry->data_len = val->mv_size - 2 - entry->name_len;
    return KVP_STORE_OK;
}

//  Decode a stored value and tell whether it is the item called `name`:
//  OK if so, NOTFOUND if it is another item with the same key (a long-name
//  hash collision), CORRUPT if it does not decode.
static int
s_match (const MDB_val *val, const char *name, size_t name_len,
         s_entry_t *entry)
{
    int rc = s_decode (val, entry);
    if (rc == KVP_STORE_OK
    && (entry->name_len != name_len || memcmp (entry->name, name, name_len)))
        rc = KVP_STORE_NOTFOUND;
    return rc;
}

//  Look an item up by key and name; val gets the stored value.
static int
s_find (kvp_itemtab_t *self, kvp_view_t *view, MDB_val *key, const char *name,
        size_t name_len, MDB_val *val, s_entry_t *entry)
{
    int rc = kvp_view_get (view, KVP_TABLE_ITEMS, key, val);
    return rc? rc: s_match (val, name, name_len, entry);
}

int
kvp_itemtab_get (kvp_itemtab_t *self, kvp_view_t *view,
                 const uint8_t prefix [KVP_ITEMTAB_PREFIX], uint32_t source,
                 const char *name, size_t name_len, const char **data,
                 size_t *data_len)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_key (bytes, prefix, source, name, name_len), bytes };
    MDB_val val;
    s_entry_t entry = { 0, NULL, 0, NULL, 0 };
    if (key.mv_size == 0 || !data || !data_len)
        return KVP_STORE_EINVAL;
    int rc = s_find (self, view, &key, name, name_len, &val, &entry);
    if (rc == KVP_STORE_OK) {
        *data = entry.data;
        *data_len = entry.data_len;
    }
    return rc;
}

//  What a put finds where it would write: OK when the key is free (or, for
//  a plain put, holds this very item), EXISTS when create meets this item,
//  EIO when another item holds the key (a collision we refuse to clobber).
static int
s_put_check (kvp_itemtab_t *self, kvp_view_t *view, MDB_val *key,
             const char *name, size_t name_len, bool create)
{
    MDB_val val;
    s_entry_t entry = { 0, NULL, 0, NULL, 0 };
    int rc = kvp_view_get (view, KVP_TABLE_ITEMS, key, &val);
    if (rc == KVP_STORE_NOTFOUND)
        return KVP_STORE_OK;            //  the key is free
    if (rc != KVP_STORE_OK)
        return rc;
    rc = s_match (&val, name, name_len, &entry);
    if (rc == KVP_STORE_OK)
        return create? KVP_STORE_EXISTS: KVP_STORE_OK;
    if (rc == KVP_STORE_NOTFOUND) {
        zsys_error ("store: two item names share one key (hash collision)");
        rc = KVP_STORE_EIO;
    }
    return rc;
}

//  The value buffer holds at least `size` bytes
static int
s_value_room (kvp_itemtab_t *self, size_t size)
{
    if (size <= self->value_size)
        return 0;
    uint8_t *value = (uint8_t *) realloc (self->value, size);
    if (!value)
        return -1;
    self->value = value;
    self->value_size = size;
    return 0;
}

int
kvp_itemtab_put (kvp_itemtab_t *self, kvp_view_t *view,
                 const uint8_t prefix [KVP_ITEMTAB_PREFIX], uint32_t source,
                 const char *name, size_t name_len, const char *data,
                 size_t data_len, bool create)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_key (bytes, prefix, source, name, name_len), bytes };
    if (key.mv_size == 0 || (data_len && !data) || data_len > S_DATA_MAX)
        return KVP_STORE_EINVAL;
    //  A whole name in the key needs no look first unless create asks
    //  for one, and LMDB's MDB_NOOVERWRITE gives that in the same descent
    if (name_len > KVP_ITEMTAB_INLINE_MAX) {
        int rc = s_put_check (self, view, &key, name, name_len, create);
        if (rc != KVP_STORE_OK)
            return rc;
    }
    MDB_val val = { 2 + name_len + data_len, NULL };
    if (s_value_room (self, val.mv_size))
        return KVP_STORE_EIO;           //  out of memory
    uint8_t *out = self->value;
    kvp_lmdb_put_u16 (out, (uint16_t) name_len);
    memcpy (out + 2, name, name_len);
    if (data_len)
        memcpy (out + 2 + name_len, data, data_len);
    val.mv_data = out;
    return kvp_view_put (view, KVP_TABLE_ITEMS, &key, &val, create);
}

int
kvp_itemtab_delete (kvp_itemtab_t *self, kvp_view_t *view,
                    const uint8_t prefix [KVP_ITEMTAB_PREFIX], uint32_t source,
                    const char *name, size_t name_len)
{
    uint8_t bytes [KVP_LMDB_KEY_MAX];
    MDB_val key = { s_key (bytes, prefix, source, name, name_len), bytes };
    MDB_val val;
    s_entry_t entry = { 0, NULL, 0, NULL, 0 };
    if (key.mv_size == 0)
        return KVP_STORE_EINVAL;
    int rc = s_find (self, view, &key, name, name_len, &val, &entry);
    return rc? rc: kvp_view_del (view, KVP_TABLE_ITEMS, &key);
}

int
kvp_itemtab_clear (kvp_itemtab_t *self, kvp_view_t *view,
                   const uint8_t prefix [KVP_ITEMTAB_PREFIX])
{
    return kvp_view_clear (view, KVP_TABLE_ITEMS, prefix, KVP_ITEMTAB_PREFIX);
}

//  Order by Source, then Name bytewise, the shorter name first on a tie
static int
s_order (uint64_t source_a, const char *name_a, size_t len_a,
         uint64_t source_b, const char *name_b, size_t len_b)
{
    if (source_a != source_b)
        return source_a < source_b? -1: 1;
    size_t common = len_a < len_b? len_a: len_b;
    int cmp = common? memcmp (name_a, name_b, common): 0;
    if (cmp == 0 && len_a != len_b)
        cmp = len_a < len_b? -1: 1;
    return cmp;
}

static int
s_compare (const void *a, const void *b)
{
    const s_entry_t *x = (const s_entry_t *) a;
    const s_entry_t *y = (const s_entry_t *) b;
    return s_order (x->source, x->name, x->name_len,
                    y->source, y->name, y->name_len);
}

//  Append one entry to the reusable list, growing it by doubling
static int
s_append (kvp_itemtab_t *self, size_t count, const s_entry_t *entry)
{
    if (count == self->size) {
        size_t size = self->size? self->size * 2: 64;
        s_entry_t *list = (s_entry_t *) realloc (self->list,
                                                 size * sizeof (s_entry_t));
        if (!list)
            return KVP_STORE_EIO;       //  out of memory
        self->list = list;
        self->size = size;
    }
    self->list [count] = *entry;
    return KVP_STORE_OK;
}

//  Key bytes that the names of one run share: a name of KVP_ITEMTAB_HEAD
//  bytes or more has a key at least this long
#define S_RUN_KEY   (KVP_ITEMTAB_PREFIX + 1 + KVP_ITEMTAB_HEAD)

//  A walk: items in key order, a run of long keys gathered in self->list
typedef struct {
    kvp_itemtab_t *self;
    const kvp_store_after_t *after;     //  NULL: every item
    kvp_store_item_fn *fn;
    void *arg;
    size_t run;                 //  entries of the run in self->list
    const uint8_t *head;        //  the run's first key (LMDB or overlay
                                //  memory: valid for the walk)
} s_walk_t;

//  Hand one item on, unless it is not after the walk's position
static int
s_emit (s_walk_t *walk, const s_entry_t *entry)
{
    const kvp_store_after_t *after = walk->after;
    if (after && s_order (entry->source, entry->name, entry->name_len,
                          after->source, after->name, after->name_len) <= 0)
        return 0;
    return walk->fn (walk->arg, entry->source, entry->name, entry->name_len,
                     entry->data, entry->data_len);
}

//  Sort the run and hand it on
static int
s_flush (s_walk_t *walk)
{
    s_entry_t *list = walk->self->list;
    size_t count = walk->run;
    walk->run = 0;
    if (count > 1)
        qsort (list, count, sizeof (s_entry_t), s_compare);
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++)
        rc = s_emit (walk, &list [i]);
    return rc;
}

//  view_walk callback: one key of the table
static int
s_walk_one (void *arg, const MDB_val *key, const MDB_val *val)
{
    s_walk_t *walk = (s_walk_t *) arg;
    s_entry_t entry;
    int rc = key->mv_size > KVP_ITEMTAB_PREFIX? s_decode (val, &entry)
                                              : KVP_STORE_CORRUPT;
    if (rc != KVP_STORE_OK)
        return rc;
    entry.source = ((const uint8_t *) key->mv_data) [KVP_ITEMTAB_PREFIX];
    bool runs = key->mv_size >= S_RUN_KEY;
    if (runs && walk->run && memcmp (key->mv_data, walk->head, S_RUN_KEY) == 0)
        return s_append (walk->self, walk->run++, &entry);
    if ((rc = s_flush (walk)) != 0)
        return rc;
    if (!runs)
        return s_emit (walk, &entry);
    walk->head = (const uint8_t *) key->mv_data;
    return s_append (walk->self, walk->run++, &entry);
}

//  Where a walk of the system `prefix` starts: into `start` (at least
//  S_RUN_KEY bytes), its length and *prefix_len, the key bytes every item
//  of the walk shares. Returns 0 when no item can follow `after`.
static size_t
s_start (uint8_t *start, const uint8_t *prefix, uint32_t source,
         const kvp_store_after_t *after, size_t *prefix_len)
{
    bool all = source == UINT32_MAX;
    memcpy (start, prefix, KVP_ITEMTAB_PREFIX);
    *prefix_len = KVP_ITEMTAB_PREFIX + (all? 0: 1);
    if (!all)
        start [KVP_ITEMTAB_PREFIX] = (uint8_t) source;
    if (!after || (!all && after->source < source))
        return *prefix_len;
    if (after->source > (all? KVP_ITEMTAB_SOURCE_MAX: source))
        return 0;
    start [KVP_ITEMTAB_PREFIX] = (uint8_t) after->source;
    //  The least key of a name after it: keys hold a name's first
    //  KVP_ITEMTAB_HEAD bytes as they are
    size_t head = after->name_len < KVP_ITEMTAB_HEAD? after->name_len
                                                     : KVP_ITEMTAB_HEAD;
    if (head)
        memcpy (start + KVP_ITEMTAB_PREFIX + 1, after->name, head);
    return KVP_ITEMTAB_PREFIX + 1 + head;
}

int
kvp_itemtab_each (kvp_itemtab_t *self, kvp_view_t *view,
                  const uint8_t prefix [KVP_ITEMTAB_PREFIX], uint32_t source,
                  const kvp_store_after_t *after, kvp_store_item_fn *fn,
                  void *arg)
{
    if (!fn || (source != UINT32_MAX && source > KVP_ITEMTAB_SOURCE_MAX)
    ||  (after && after->name_len && !after->name))
        return KVP_STORE_EINVAL;
    uint8_t start [S_RUN_KEY];
    size_t prefix_len;
    MDB_val key = { s_start (start, prefix, source, after, &prefix_len),
                    start };
    if (key.mv_size == 0)
        return KVP_STORE_OK;            //  nothing sorts after it
    s_walk_t walk = { self, after, fn, arg, 0, NULL };
    int rc = kvp_view_walk (view, KVP_TABLE_ITEMS, &key, prefix_len,
                            s_walk_one, &walk);
    return rc? rc: s_flush (&walk);
}
