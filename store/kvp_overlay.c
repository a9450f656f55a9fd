/*  kvp_overlay.c - the writes LMDB does not hold yet (see kvp_overlay.h).

    A skip list ordered by (table byte, key bytes), so ranges can be walked
    in LMDB's order, plus a list of the entries in the order they last
    changed, so eviction takes the oldest first without a search. Range
    tombstones are few (one per system deleted since the last checkpoint)
    and kept in a plain array.
*/
#include <stdlib.h>
#include <string.h>
#include <assert.h>
#include "kvp_overlay.h"

#define S_LEVELS        20          //  enough for 2^40 entries at p = 1/4
#define S_PREFIX_MAX    KVP_OVERLAY_PREFIX_MAX
#define S_KEY_MAX       (1 + 511)   //  table byte + LMDB key

struct _kvp_overlay_node_t {
    uint8_t *val;                   //  value (NULL when empty or gone)
    size_t val_len;
    bool gone;                      //  a tombstone
    uint64_t stamp;                 //  batch of the last change
    kvp_overlay_node_t *older;      //  change order
    kvp_overlay_node_t *newer;
    size_t key_len;                 //  bytes in key, the table's included
    uint8_t *key;                   //  table byte + key (in the same block)
    int levels;
    kvp_overlay_node_t *next [];    //  one per level
};

typedef enum { S_INSERTED, S_CHANGED, S_RANGED } s_kind_t;

typedef struct {
    s_kind_t kind;
    kvp_overlay_node_t *node;       //  S_INSERTED, S_CHANGED
    uint8_t *val;                   //  S_CHANGED: the value before (owned)
    size_t val_len;
    bool gone;
    uint64_t stamp;
} s_undo_t;

typedef struct {
    uint8_t key [1 + S_PREFIX_MAX]; //  table byte + prefix
    size_t len;
    uint64_t stamp;
} s_range_t;

struct _kvp_overlay_t {
    kvp_overlay_node_t *head;       //  S_LEVELS links, no key
    int levels;                     //  in use
    uint64_t rand;                  //  xorshift state for node levels
    kvp_overlay_node_t *oldest;     //  change order
    kvp_overlay_node_t *newest;
    size_t count, bytes;
    s_undo_t *undo;                 //  history since the last settle
    size_t undo_count, undo_cap;
    s_range_t *ranges;
    size_t range_count, range_cap;
};

//  --- Keys ---------------------------------------------------------------

//  table + key into buf; the length, or 0 when the key is unfit
static size_t
s_full_key (uint8_t *buf, uint8_t table, const void *key, size_t key_len)
{
    if (key_len + 1 > S_KEY_MAX || (!key && key_len))
        return 0;
    buf [0] = table;
    if (key_len)
        memcpy (buf + 1, key, key_len);
    return key_len + 1;
}

int
kvp_overlay_keycmp (const void *a, size_t a_len, const void *b, size_t b_len)
{
    int cmp = memcmp (a, b, a_len < b_len? a_len: b_len);
    if (cmp == 0 && a_len != b_len)
        cmp = a_len < b_len? -1: 1;
    return cmp;
}

//  --- The skip list ------------------------------------------------------

kvp_overlay_t *
kvp_overlay_new (void)
{
    kvp_overlay_t *self = (kvp_overlay_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->head = (kvp_overlay_node_t *) calloc (1, sizeof (kvp_overlay_node_t)
                    + S_LEVELS * sizeof (kvp_overlay_node_t *));
    if (!self->head) {
        free (self);
        return NULL;
    }
    self->head->levels = S_LEVELS;
    self->levels = 1;
    self->rand = 0x9e3779b97f4a7c15ull;
    return self;
}

static void
s_node_free (kvp_overlay_node_t *node)
{
    free (node->val);
    free (node);
}

void
kvp_overlay_destroy (kvp_overlay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_overlay_t *self = *self_p;
    kvp_overlay_settle (self);
    for (kvp_overlay_node_t *node = self->head->next [0], *next; node;
         node = next) {
        next = node->next [0];
        s_node_free (node);
    }
    free (self->head);
    free (self->undo);
    free (self->ranges);
    free (self);
    *self_p = NULL;
}

//  Fill before [] with, at each level, the last node whose key < key;
//  return the first node >= key (NULL when none)
static kvp_overlay_node_t *
s_find (kvp_overlay_t *self, const uint8_t *key, size_t key_len,
        kvp_overlay_node_t **before)
{
    kvp_overlay_node_t *node = self->head;
    for (int level = self->levels - 1; level >= 0; level--) {
        kvp_overlay_node_t *next = node->next [level];
        while (next && kvp_overlay_keycmp (next->key, next->key_len, key,
                                           key_len) < 0) {
            node = next;
            next = node->next [level];
        }
        if (before)
            before [level] = node;
    }
    return node->next [0];
}

static kvp_overlay_node_t *
s_lookup (kvp_overlay_t *self, const uint8_t *key, size_t key_len)
{
    kvp_overlay_node_t *node = s_find (self, key, key_len, NULL);
    return node && node->key_len == key_len
        && memcmp (node->key, key, key_len) == 0? node: NULL;
}

static int
s_random_levels (kvp_overlay_t *self)
{
    self->rand ^= self->rand << 13;
    self->rand ^= self->rand >> 7;
    self->rand ^= self->rand << 17;
    uint64_t bits = self->rand;
    int levels = 1;
    while (levels < S_LEVELS && (bits & 3) == 0) {
        levels++;
        bits >>= 2;
    }
    return levels;
}

//  Change order: append at the newest end / take out
static void
s_order_append (kvp_overlay_t *self, kvp_overlay_node_t *node)
{
    node->older = self->newest;
    node->newer = NULL;
    if (self->newest)
        self->newest->newer = node;
    else
        self->oldest = node;
    self->newest = node;
}

static void
s_order_remove (kvp_overlay_t *self, kvp_overlay_node_t *node)
{
    if (node->older)
        node->older->newer = node->newer;
    else
        self->oldest = node->newer;
    if (node->newer)
        node->newer->older = node->older;
    else
        self->newest = node->older;
}

//  Insert a new node for key (not present); NULL when out of memory
static kvp_overlay_node_t *
s_insert (kvp_overlay_t *self, const uint8_t *key, size_t key_len)
{
    kvp_overlay_node_t *before [S_LEVELS];
    s_find (self, key, key_len, before);
    int levels = s_random_levels (self);
    size_t links = (size_t) levels * sizeof (kvp_overlay_node_t *);
    kvp_overlay_node_t *node = (kvp_overlay_node_t *) calloc (1,
                                   sizeof *node + links + key_len);
    if (!node)
        return NULL;
    node->levels = levels;
    node->key = (uint8_t *) node->next + links;
    node->key_len = key_len;
    memcpy (node->key, key, key_len);
    for (int level = self->levels; level < levels; level++)
        before [level] = self->head;
    if (levels > self->levels)
        self->levels = levels;
    for (int level = 0; level < levels; level++) {
        node->next [level] = before [level]->next [level];
        before [level]->next [level] = node;
    }
    s_order_append (self, node);
    self->count++;
    self->bytes += key_len;
    return node;
}

//  Unlink and free a node
static void
s_remove (kvp_overlay_t *self, kvp_overlay_node_t *node)
{
    kvp_overlay_node_t *before [S_LEVELS];
    s_find (self, node->key, node->key_len, before);
    for (int level = 0; level < node->levels; level++)
        if (before [level]->next [level] == node)
            before [level]->next [level] = node->next [level];
    s_order_remove (self, node);
    self->count--;
    self->bytes -= node->key_len + node->val_len;
    s_node_free (node);
}

//  --- Undo history -------------------------------------------------------

static s_undo_t *
s_undo_push (kvp_overlay_t *self, s_kind_t kind)
{
    if (self->undo_count == self->undo_cap) {
        size_t cap = self->undo_cap? self->undo_cap * 2: 256;
        s_undo_t *undo = (s_undo_t *) realloc (self->undo, cap * sizeof *undo);
        if (!undo)
            return NULL;
        self->undo = undo;
        self->undo_cap = cap;
    }
    s_undo_t *entry = &self->undo [self->undo_count++];
    memset (entry, 0, sizeof *entry);
    entry->kind = kind;
    return entry;
}

size_t
kvp_overlay_mark (kvp_overlay_t *self)
{
    return self->undo_count;
}

static void
s_undo_one (kvp_overlay_t *self, s_undo_t *entry)
{
    kvp_overlay_node_t *node = entry->node;
    if (entry->kind == S_INSERTED)
        s_remove (self, node);
    else
    if (entry->kind == S_CHANGED) {
        self->bytes += entry->val_len - node->val_len;
        free (node->val);
        node->val = entry->val;
        node->val_len = entry->val_len;
        node->gone = entry->gone;
        //  Its place in change order stays at the newest end: eviction
        //  then takes it a little later than it could, never too early
        node->stamp = entry->stamp;
    }
    else
        self->range_count--;
}

void
kvp_overlay_undo (kvp_overlay_t *self, size_t mark)
{
    while (self->undo_count > mark)
        s_undo_one (self, &self->undo [--self->undo_count]);
}

void
kvp_overlay_settle (kvp_overlay_t *self)
{
    for (size_t i = 0; i < self->undo_count; i++)
        if (self->undo [i].kind == S_CHANGED)
            free (self->undo [i].val);
    self->undo_count = 0;
}

//  --- Reads and writes ---------------------------------------------------

kvp_overlay_find_t
kvp_overlay_get (kvp_overlay_t *self, uint8_t table, const void *key,
                 size_t key_len, const void **val, size_t *val_len)
{
    uint8_t full [S_KEY_MAX];
    size_t len = s_full_key (full, table, key, key_len);
    kvp_overlay_node_t *node = len? s_lookup (self, full, len): NULL;
    if (!node)
        return KVP_OVERLAY_MISS;
    if (node->gone)
        return KVP_OVERLAY_GONE;
    *val = node->val;
    *val_len = node->val_len;
    return KVP_OVERLAY_VALUE;
}

bool
kvp_overlay_hidden (kvp_overlay_t *self, uint8_t table, const void *key,
                    size_t key_len)
{
    uint8_t full [S_KEY_MAX];
    size_t len = s_full_key (full, table, key, key_len);
    for (size_t i = 0; len && i < self->range_count; i++) {
        const s_range_t *range = &self->ranges [i];
        if (len >= range->len && memcmp (full, range->key, range->len) == 0)
            return true;
    }
    return false;
}

//  Give node a new value (copied; NULL = tombstone), keeping the old one
//  in the undo history
static int
s_set (kvp_overlay_t *self, kvp_overlay_node_t *node, bool inserted,
       const void *val, size_t val_len, uint64_t stamp)
{
    uint8_t *copy = NULL;
    if (val && val_len && !(copy = (uint8_t *) malloc (val_len)))
        return -1;
    s_undo_t *entry = s_undo_push (self, inserted? S_INSERTED: S_CHANGED);
    if (!entry) {
        free (copy);
        return -1;
    }
    entry->node = node;
    if (!inserted) {
        entry->val = node->val;
        entry->val_len = node->val_len;
        entry->gone = node->gone;
        entry->stamp = node->stamp;
        s_order_remove (self, node);
        s_order_append (self, node);
        self->bytes -= node->val_len;
    }
    if (copy)
        memcpy (copy, val, val_len);
    node->val = copy;
    node->val_len = copy? val_len: 0;
    node->gone = val == NULL;
    node->stamp = stamp;
    self->bytes += node->val_len;
    return 0;
}

int
kvp_overlay_put (kvp_overlay_t *self, uint8_t table, const void *key,
                 size_t key_len, const void *val, size_t val_len,
                 uint64_t stamp)
{
    uint8_t full [S_KEY_MAX];
    size_t len = s_full_key (full, table, key, key_len);
    if (!len)
        return -1;
    kvp_overlay_node_t *node = s_lookup (self, full, len);
    bool inserted = node == NULL;
    if (inserted && !(node = s_insert (self, full, len)))
        return -1;
    if (val == NULL && val_len == 0 && !inserted && node->gone
    &&  node->stamp == stamp)
        return 0;                   //  already gone in this batch
    static const uint8_t empty = 0;
    if (!val && val_len)
        val = &empty;               //  never: a NULL value means gone
    int rc = s_set (self, node, inserted, val, val_len, stamp);
    if (rc && inserted)
        s_remove (self, node);
    return rc;
}

int
kvp_overlay_clear (kvp_overlay_t *self, uint8_t table, const void *prefix,
                   size_t prefix_len, uint64_t stamp)
{
    if (prefix_len == 0 || prefix_len > S_PREFIX_MAX || !prefix)
        return -1;
    if (self->range_count == self->range_cap) {
        size_t cap = self->range_cap? self->range_cap * 2: 16;
        s_range_t *ranges = (s_range_t *) realloc (self->ranges,
                                                   cap * sizeof *ranges);
        if (!ranges)
            return -1;
        self->ranges = ranges;
        self->range_cap = cap;
    }
    if (!s_undo_push (self, S_RANGED))
        return -1;
    s_range_t *range = &self->ranges [self->range_count++];
    range->len = s_full_key (range->key, table, prefix, prefix_len);
    range->stamp = stamp;
    //  And what the overlay itself holds under the prefix
    kvp_overlay_node_t *node = s_find (self, range->key, range->len, NULL);
    for (; node && node->key_len >= range->len
         && memcmp (node->key, range->key, range->len) == 0;
         node = node->next [0])
        if (!node->gone && s_set (self, node, false, NULL, 0, stamp))
            return -1;
    return 0;
}

void
kvp_overlay_evict (kvp_overlay_t *self, uint64_t upto)
{
    assert (self->undo_count == 0);
    while (self->oldest && self->oldest->stamp <= upto)
        s_remove (self, self->oldest);
    size_t kept = 0;
    for (size_t i = 0; i < self->range_count; i++)
        if (self->ranges [i].stamp > upto)
            self->ranges [kept++] = self->ranges [i];
    self->range_count = kept;
}

//  --- Walks --------------------------------------------------------------

const kvp_overlay_node_t *
kvp_overlay_seek (kvp_overlay_t *self, uint8_t table, const void *key,
                  size_t key_len)
{
    uint8_t full [S_KEY_MAX];
    size_t len = s_full_key (full, table, key, key_len);
    kvp_overlay_node_t *node = len? s_find (self, full, len, NULL): NULL;
    return node && node->key [0] == table? node: NULL;
}

const kvp_overlay_node_t *
kvp_overlay_next (const kvp_overlay_node_t *node)
{
    const kvp_overlay_node_t *next = node? node->next [0]: NULL;
    return next && next->key [0] == node->key [0]? next: NULL;
}

const kvp_overlay_node_t *
kvp_overlay_last (kvp_overlay_t *self, uint8_t table)
{
    //  The last node before the first key of the next table
    uint8_t bound = (uint8_t) (table + 1);
    kvp_overlay_node_t *before [S_LEVELS];
    if (table == 0xff)
        return NULL;                //  tables are small numbers
    s_find (self, &bound, 1, before);
    kvp_overlay_node_t *node = before [0];
    return node != self->head && node->key [0] == table? node: NULL;
}

const uint8_t *
kvp_overlay_key (const kvp_overlay_node_t *node, size_t *key_len)
{
    *key_len = node->key_len - 1;
    return node->key + 1;
}

const uint8_t *
kvp_overlay_value (const kvp_overlay_node_t *node, size_t *val_len)
{
    *val_len = node->val_len;
    if (node->gone)
        return NULL;
    static const uint8_t empty = 0;
    return node->val? node->val: &empty;
}

size_t
kvp_overlay_count (kvp_overlay_t *self)
{
    return self->count;
}

size_t
kvp_overlay_bytes (kvp_overlay_t *self)
{
    return self->bytes;
}
