/*  kvp_merge.c - each partition's events in seq order, once. See
    kvp_merge.h.

    Per partition: `next`, the first seq not yet queued, and `held`, the
    events that came ahead of it, sorted by seq (they mostly come in
    order, so an insert is mostly an append). One queue, in the order
    items became ready, holds what the caller pops; the queue and the
    held lists own copies of the event bytes.
*/
#include <stdlib.h>
#include <string.h>
#include "kvp_merge.h"

#define S_HELD_MAX_DEFAULT  (64u * 1024 * 1024)

typedef struct {
    uint64_t seq;
    int flags;                  /* KVP_MERGE_REPLAYED, KVP_MERGE_HIDDEN */
    void *body;                 /* owned; NULL when hidden */
    size_t len;
} s_event_t;

//  A growable array whose live entries are [head, size).
typedef struct {
    s_event_t *at;
    size_t head, size, max;
} s_list_t;

typedef struct {
    bool known;                 /* the position is known */
    bool start;                 /* KVP_MERGE_START: the first gone skips */
    bool queued_any;            /* something was queued for it */
    uint64_t next;              /* first seq not yet queued */
    uint64_t position;          /* last seq popped */
    s_list_t held;              /* ahead of next, sorted by seq */
} s_part_t;

typedef struct {
    kvp_merge_kind_t kind;
    uint32_t part;
    uint64_t seq, count;
    int flags;
    void *body;                 /* owned until popped */
    size_t len;
} s_item_t;

struct _kvp_merge_t {
    s_part_t **parts;           /* KVP_MERGE_PARTS, NULL when untracked */
    s_item_t *queue;            /* ready items, [qhead, qsize) */
    size_t qhead, qsize, qmax;
    void *popped;               /* the body the last pop handed out */
    size_t held_max;            /* bound on held bytes */
    kvp_merge_stats_t stats;
};

kvp_merge_t *
kvp_merge_new (size_t held_max)
{
    kvp_merge_t *self = (kvp_merge_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->parts = (s_part_t **) calloc (KVP_MERGE_PARTS, sizeof (s_part_t *));
    if (!self->parts) {
        free (self);
        return NULL;
    }
    self->held_max = held_max? held_max: S_HELD_MAX_DEFAULT;
    return self;
}

void
kvp_merge_destroy (kvp_merge_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_merge_t *self = *self_p;
    for (size_t p = 0; p < KVP_MERGE_PARTS; p++) {
        s_part_t *part = self->parts [p];
        for (size_t i = part? part->held.head: 0; part && i < part->held.size;
             i++)
            free (part->held.at [i].body);
        if (part)
            free (part->held.at);
        free (part);
    }
    for (size_t i = self->qhead; i < self->qsize; i++)
        free (self->queue [i].body);
    free (self->queue);
    free (self->popped);
    free (self->parts);
    free (self);
    *self_p = NULL;
}

static s_part_t *
s_part (kvp_merge_t *self, uint32_t part)
{
    return part < KVP_MERGE_PARTS? self->parts [part]: NULL;
}

//  --- the queue ------------------------------------------------------------

//  Room for one more item at the end; false when out of memory.
static bool
s_queue_room (kvp_merge_t *self)
{
    if (self->qhead == self->qsize)
        self->qhead = self->qsize = 0;
    if (self->qsize < self->qmax)
        return true;
    if (self->qhead > 0) {
        memmove (self->queue, self->queue + self->qhead,
                 (self->qsize - self->qhead) * sizeof (s_item_t));
        self->qsize -= self->qhead;
        self->qhead = 0;
        return true;
    }
    size_t max = self->qmax? self->qmax * 2: 256;
    s_item_t *grown = (s_item_t *) realloc (self->queue, max * sizeof *grown);
    if (!grown)
        return false;
    self->queue = grown;
    self->qmax = max;
    return true;
}

//  Queue `event` (its body is taken over) as seq p->next of `part`.
static void
s_queue_event (kvp_merge_t *self, s_part_t *p, uint32_t part,
               s_event_t *event)
{
    if (!s_queue_room (self)) {
        free (event->body);         //  out of memory: a gap, read again
        return;
    }
    self->queue [self->qsize++] = (s_item_t) { KVP_MERGE_EVENT, part,
        event->seq, 1, event->flags, event->body, event->len };
    p->next = event->seq + 1;
    p->queued_any = true;
}

static void
s_queue_lost (kvp_merge_t *self, s_part_t *p, uint32_t part, uint64_t from,
              uint64_t count)
{
    if (s_queue_room (self))
        self->queue [self->qsize++] = (s_item_t) { KVP_MERGE_LOST, part,
            from, count, 0, NULL, 0 };
    self->stats.lost += count;
    p->queued_any = true;
}

//  --- held events ------------------------------------------------------------

static s_event_t *
s_held_head (s_part_t *p)
{
    return p->held.head < p->held.size? &p->held.at [p->held.head]: NULL;
}

//  Take the first held event off the list (its body goes with it).
static s_event_t
s_held_take (kvp_merge_t *self, s_part_t *p)
{
    s_event_t event = p->held.at [p->held.head++];
    self->stats.held_bytes -= event.len;
    if (p->held.head == p->held.size)
        p->held.head = p->held.size = 0;
    return event;
}

//  Where seq goes among the held events (binary search).
static size_t
s_held_find (const s_list_t *list, uint64_t seq)
{
    size_t lo = list->head, hi = list->size;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->at [mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool
s_held_room (s_list_t *list)
{
    if (list->size < list->max)
        return true;
    if (list->head > 0) {
        memmove (list->at, list->at + list->head,
                 (list->size - list->head) * sizeof (s_event_t));
        list->size -= list->head;
        list->head = 0;
        return true;
    }
    size_t max = list->max? list->max * 2: 64;
    s_event_t *grown = (s_event_t *) realloc (list->at, max * sizeof *grown);
    if (!grown)
        return false;
    list->at = grown;
    list->max = max;
    return true;
}

//  Hold `event` (body taken over) in seq order; false if it is held
//  already or there is no room (the body is then the caller's still).
static kvp_merge_rc_t
s_hold (kvp_merge_t *self, s_part_t *p, const s_event_t *event)
{
    s_list_t *list = &p->held;
    size_t at = s_held_find (list, event->seq);
    if (at < list->size && list->at [at].seq == event->seq)
        return KVP_MERGE_REPEAT;
    if (self->stats.held_bytes + event->len > self->held_max
    ||  !s_held_room (list))
        return KVP_MERGE_SHED;
    at = s_held_find (list, event->seq);        //  the room may have moved it
    memmove (list->at + at + 1, list->at + at,
             (list->size - at) * sizeof (s_event_t));
    list->at [at] = *event;
    list->size++;
    self->stats.held_bytes += event->len;
    return KVP_MERGE_HELD;
}

//  Queue the held events that are now next; drop the held repeats.
static void
s_drain (kvp_merge_t *self, s_part_t *p, uint32_t part)
{
    s_event_t *head;
    while ((head = s_held_head (p)) && head->seq <= p->next) {
        s_event_t event = s_held_take (self, p);
        if (event.seq == p->next)
            s_queue_event (self, p, part, &event);
        else {
            free (event.body);
            self->stats.repeats++;
        }
    }
}

//  --- tracking ---------------------------------------------------------------

int
kvp_merge_track (kvp_merge_t *self, uint32_t part, kvp_merge_from_t from,
                 uint64_t last)
{
    if (part >= KVP_MERGE_PARTS || self->parts [part])
        return -1;
    s_part_t *p = (s_part_t *) calloc (1, sizeof *p);
    if (!p)
        return -1;
    p->known = from != KVP_MERGE_NOW;
    p->start = from == KVP_MERGE_START;
    p->position = from == KVP_MERGE_AT? last: 0;
    p->next = p->position + 1;
    self->parts [part] = p;
    return 0;
}

void
kvp_merge_known (kvp_merge_t *self, uint32_t part, uint64_t last)
{
    s_part_t *p = s_part (self, part);
    if (!p || p->known)
        return;
    p->known = true;
    p->position = last;
    p->next = last + 1;
    s_event_t *head;
    while ((head = s_held_head (p)) && head->seq <= last) {
        s_event_t event = s_held_take (self, p);
        free (event.body);
        self->stats.skipped++;
    }
    s_drain (self, p, part);
}

bool
kvp_merge_tracked (kvp_merge_t *self, uint32_t part)
{
    return s_part (self, part) != NULL;
}

bool
kvp_merge_is_known (kvp_merge_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p && p->known;
}

//  --- events -----------------------------------------------------------------

//  A copy of `len` bytes (never NULL for a non-hidden event).
static void *
s_copy (const void *body, size_t len)
{
    void *copy = malloc (len? len: 1);
    if (copy && len)
        memcpy (copy, body, len);
    return copy;
}

kvp_merge_rc_t
kvp_merge_offer (kvp_merge_t *self, uint32_t part, uint64_t seq,
                 const void *body, size_t len, int flags)
{
    s_part_t *p = s_part (self, part);
    if (!p)
        return KVP_MERGE_IGNORED;
    if (p->known && seq < p->next) {
        self->stats.repeats++;
        return KVP_MERGE_REPEAT;
    }
    bool hidden = flags & KVP_MERGE_HIDDEN;
    s_event_t event = { seq, flags, hidden? NULL: s_copy (body, len),
                        hidden? 0: len };
    if (!hidden && !event.body)
        return KVP_MERGE_SHED;              //  out of memory: read again
    if (p->known && seq == p->next) {
        s_queue_event (self, p, part, &event);
        s_drain (self, p, part);
        return KVP_MERGE_QUEUED;
    }
    kvp_merge_rc_t rc = s_hold (self, p, &event);
    if (rc != KVP_MERGE_HELD)
        free (event.body);
    if (rc == KVP_MERGE_REPEAT)
        self->stats.repeats++;
    if (rc == KVP_MERGE_SHED)
        self->stats.shed++;
    return rc;
}

void
kvp_merge_gone (kvp_merge_t *self, uint32_t part, uint64_t first)
{
    s_part_t *p = s_part (self, part);
    if (!p || !p->known)
        return;
    bool skip = p->start && !p->queued_any;
    while (p->next < first) {
        s_event_t *head = s_held_head (p);
        if (head && head->seq == p->next) {
            s_event_t event = s_held_take (self, p);
            s_queue_event (self, p, part, &event);
            continue;
        }
        uint64_t to = head && head->seq < first? head->seq: first;
        if (skip)
            self->stats.skipped += to - p->next;
        else
            s_queue_lost (self, p, part, p->next, to - p->next);
        p->next = to;
    }
    s_drain (self, p, part);
}

uint64_t
kvp_merge_next (kvp_merge_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p && p->known? p->next: 0;
}

bool
kvp_merge_gap (kvp_merge_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p && p->known && s_held_head (p) != NULL;
}

bool
kvp_merge_pop (kvp_merge_t *self, kvp_merge_item_t *item)
{
    free (self->popped);
    self->popped = NULL;
    while (self->qhead < self->qsize) {
        s_item_t *it = &self->queue [self->qhead++];
        s_part_t *p = self->parts [it->part];
        p->position = it->seq + it->count - 1;
        if (it->flags & KVP_MERGE_HIDDEN) {
            self->stats.skipped++;
            continue;
        }
        self->popped = it->body;
        *item = (kvp_merge_item_t) { it->kind, it->part, it->seq, it->count,
            (it->flags & KVP_MERGE_REPLAYED) != 0, it->body, it->len };
        if (it->kind == KVP_MERGE_EVENT) {
            self->stats.delivered++;
            self->stats.replayed += item->replayed;
        }
        return true;
    }
    return false;
}

bool
kvp_merge_position (kvp_merge_t *self, uint32_t part, uint64_t *last)
{
    s_part_t *p = s_part (self, part);
    if (!p || !p->known)
        return false;
    *last = p->position;
    return true;
}

void
kvp_merge_stats (kvp_merge_t *self, kvp_merge_stats_t *stats)
{
    *stats = self->stats;
}
