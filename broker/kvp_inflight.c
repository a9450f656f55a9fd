/*  kvp_inflight.c - requests in flight: open addressing by tag plus a FIFO
    list by send time, over a pool of entries.
*/
#include "kvp_inflight.h"

#define S_RID_INLINE    48          //  rid strings up to this stay inline
#define S_SLOTS_MIN     1024        //  initial slots; always a power of 2

typedef struct s_entry {
    kvp_flight_t pub;               //  the caller's view; must come first
    struct s_entry *prev;           //  FIFO: older neighbour
    struct s_entry *next;           //  FIFO: newer neighbour; pool link
    char *rid_heap;                 //  rid str too long for rid_inline
    char rid_inline [S_RID_INLINE];
} s_entry_t;

struct _kvp_inflight_t {
    s_entry_t **slots;              //  open addressing by tag
    size_t mask;                    //  slots - 1
    size_t size;                    //  entries in the table
    s_entry_t *head;                //  oldest entry (first to expire)
    s_entry_t *tail;                //  newest entry
    s_entry_t *pool;                //  released entries for reuse
    uint64_t next_tag;              //  tag of the next add
};

kvp_inflight_t *
kvp_inflight_new (void)
{
    kvp_inflight_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = calloc (S_SLOTS_MIN, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->mask = S_SLOTS_MIN - 1;
    self->next_tag = 1;
    return self;
}

static void
s_entry_free (s_entry_t *entry)
{
    zframe_destroy (&entry->pub.client);
    free (entry->rid_heap);
    free (entry);
}

void
kvp_inflight_destroy (kvp_inflight_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_inflight_t *self = *self_p;
    *self_p = NULL;
    for (s_entry_t *e = self->head, *next; e; e = next) {
        next = e->next;
        s_entry_free (e);
    }
    for (s_entry_t *e = self->pool, *next; e; e = next) {
        next = e->next;
        s_entry_free (e);
    }
    free (self->slots);
    free (self);
}

//  Slot index holding `tag`, or -1.
static ssize_t
s_find (kvp_inflight_t *self, uint64_t tag)
{
    size_t i = tag & self->mask;
    while (self->slots [i]) {
        if (self->slots [i]->pub.tag == tag)
            return (ssize_t) i;
        i = (i + 1) & self->mask;
    }
    return -1;
}

static void
s_place (kvp_inflight_t *self, s_entry_t *entry)
{
    size_t i = entry->pub.tag & self->mask;
    while (self->slots [i])
        i = (i + 1) & self->mask;
    self->slots [i] = entry;
}

//  Empty slot i and shift later entries of its probe run back, so lookups
//  never need tombstones.
static void
s_unslot (kvp_inflight_t *self, size_t i)
{
    self->slots [i] = NULL;
    size_t j = i;
    while (true) {
        j = (j + 1) & self->mask;
        s_entry_t *e = self->slots [j];
        if (!e)
            return;
        size_t home = e->pub.tag & self->mask;
        //  e may move to i only if its home is not in (i, j] cyclically.
        bool stays = i <= j ? (home > i && home <= j)
                            : (home > i || home <= j);
        if (!stays) {
            self->slots [i] = e;
            self->slots [j] = NULL;
            i = j;
        }
    }
}

//  Double the slots when more than half are used (keeps probes short).
static bool
s_grow (kvp_inflight_t *self)
{
    size_t slots = (self->mask + 1) * 2;
    s_entry_t **fresh = calloc (slots, sizeof *fresh);
    if (!fresh)
        return false;
    free (self->slots);
    self->slots = fresh;
    self->mask = slots - 1;
    for (s_entry_t *e = self->head; e; e = e->next)
        s_place (self, e);
    return true;
}

//  Copy the rid into the entry's own storage.
static bool
s_copy_rid (s_entry_t *entry, const kvp_rid_t *rid)
{
    entry->pub.rid = rid ? *rid : (kvp_rid_t) { .type = KVP_RID_NONE };
    if (!rid || rid->type != KVP_RID_STR)
        return true;
    char *store = entry->rid_inline;
    if (rid->len > S_RID_INLINE) {
        entry->rid_heap = malloc (rid->len);
        if (!entry->rid_heap)
            return false;
        store = entry->rid_heap;
    }
    if (rid->len)
        memcpy (store, rid->str, rid->len);
    entry->pub.rid.str = store;
    return true;
}

static s_entry_t *
s_entry_get (kvp_inflight_t *self)
{
    s_entry_t *entry = self->pool;
    if (entry)
        self->pool = entry->next;
    else
        entry = malloc (sizeof *entry);
    if (entry) {
        entry->prev = entry->next = NULL;
        entry->rid_heap = NULL;
        entry->pub = (kvp_flight_t) { .client = NULL };
    }
    return entry;
}

static void
s_entry_put (kvp_inflight_t *self, s_entry_t *entry)
{
    zframe_destroy (&entry->pub.client);
    free (entry->rid_heap);         //  only long rids: rare
    entry->rid_heap = NULL;
    entry->next = self->pool;
    self->pool = entry;
}

kvp_flight_t *
kvp_inflight_add (kvp_inflight_t *self, zframe_t **client_p,
                  const kvp_rid_t *rid, void *worker, int64_t deadline)
{
    assert (self && client_p);
    assert (!self->tail || self->tail->pub.deadline <= deadline);
    if ((self->size + 1) * 2 > self->mask + 1 && !s_grow (self))
        return NULL;
    s_entry_t *entry = s_entry_get (self);
    if (!entry)
        return NULL;
    if (!s_copy_rid (entry, rid)) {
        s_entry_put (self, entry);
        return NULL;
    }
    entry->pub.tag = self->next_tag++;
    entry->pub.worker = worker;
    entry->pub.deadline = deadline;
    entry->pub.client = *client_p;
    *client_p = NULL;
    s_place (self, entry);
    entry->prev = self->tail;
    if (self->tail)
        self->tail->next = entry;
    else
        self->head = entry;
    self->tail = entry;
    self->size++;
    return &entry->pub;
}

kvp_flight_t *
kvp_inflight_lookup (kvp_inflight_t *self, uint64_t tag)
{
    ssize_t i = s_find (self, tag);
    return i < 0 ? NULL : &self->slots [i]->pub;
}

//  Take `entry` (found at slot i) out of both structures.
static void
s_unlink (kvp_inflight_t *self, s_entry_t *entry, size_t i)
{
    s_unslot (self, i);
    if (entry->prev)
        entry->prev->next = entry->next;
    else
        self->head = entry->next;
    if (entry->next)
        entry->next->prev = entry->prev;
    else
        self->tail = entry->prev;
    entry->prev = entry->next = NULL;
    self->size--;
}

kvp_flight_t *
kvp_inflight_take (kvp_inflight_t *self, uint64_t tag)
{
    ssize_t i = s_find (self, tag);
    if (i < 0)
        return NULL;
    s_entry_t *entry = self->slots [i];
    s_unlink (self, entry, (size_t) i);
    return &entry->pub;
}

kvp_flight_t *
kvp_inflight_expire (kvp_inflight_t *self, int64_t now)
{
    if (!self->head || self->head->pub.deadline > now)
        return NULL;
    return kvp_inflight_take (self, self->head->pub.tag);
}

int64_t
kvp_inflight_next_deadline (kvp_inflight_t *self)
{
    return self->head ? self->head->pub.deadline : -1;
}

size_t
kvp_inflight_drain (kvp_inflight_t *self, void *worker, kvp_flight_fn *fn,
                    void *arg)
{
    size_t count = 0;
    s_entry_t *entry = self->head;
    while (entry) {
        s_entry_t *next = entry->next;
        if (!worker || entry->pub.worker == worker) {
            kvp_flight_t *taken = kvp_inflight_take (self, entry->pub.tag);
            if (fn)
                fn (taken, arg);
            kvp_inflight_release (self, &taken);
            count++;
        }
        entry = next;
    }
    return count;
}

void
kvp_inflight_release (kvp_inflight_t *self, kvp_flight_t **entry_p)
{
    if (!entry_p || !*entry_p)
        return;
    //  pub is the first member, so the view and the entry share an address.
    s_entry_put (self, (s_entry_t *) *entry_p);
    *entry_p = NULL;
}

size_t
kvp_inflight_size (kvp_inflight_t *self)
{
    return self->size;
}
