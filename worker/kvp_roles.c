/*  kvp_roles.c - per-partition roles and held replies (see kvp_roles.h).
*/
#include "kvp_roles.h"
#include <stdlib.h>
#include <string.h>

#define S_PARTS 65536

//  One held reply: the fixed part, then reply, topic and event bytes.
typedef struct s_entry_t {
    struct s_entry_t *next;
    uint64_t need;              //  released once committed >= need
    bool job;                   //  made a job: waits for M in sync too
    uint8_t tag [8];
    size_t reply_size, topic_len, event_size;
    uint64_t seq;
    int op;
    int64_t received_us;
    uint8_t data [];
} s_entry_t;

typedef struct {
    kvp_copy_role_t kind;
    uint64_t epoch;
    bool writable;
    uint64_t position;
    uint64_t committed;
    uint64_t start;             //  position when it began to lead
    bool tail;                  //  events up to start still to publish
    bool resync;
    uint32_t chunk;
    s_entry_t *head, *tail_entry;   //  held, oldest first
} s_part_t;

struct _kvp_roles_t {
    s_part_t *parts [S_PARTS];  //  made on first role
    size_t held;
};

kvp_roles_t *
kvp_roles_new (void)
{
    return (kvp_roles_t *) calloc (1, sizeof (kvp_roles_t));
}

static void
s_drop_held (kvp_roles_t *self, s_part_t *part)
{
    while (part->head) {
        s_entry_t *entry = part->head;
        part->head = entry->next;
        free (entry);
        self->held--;
    }
    part->tail_entry = NULL;
}

void
kvp_roles_clear (kvp_roles_t *self)
{
    for (size_t i = 0; i < S_PARTS; i++)
        if (self->parts [i]) {
            s_drop_held (self, self->parts [i]);
            free (self->parts [i]);
            self->parts [i] = NULL;
        }
}

void
kvp_roles_destroy (kvp_roles_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_roles_clear (*self_p);
    free (*self_p);
    *self_p = NULL;
}

static s_part_t *
s_part (kvp_roles_t *self, uint32_t part)
{
    return part < S_PARTS ? self->parts [part] : NULL;
}

bool
kvp_roles_set (kvp_roles_t *self, uint32_t part, kvp_copy_role_t kind,
              uint64_t epoch, bool writable, uint64_t position)
{
    if (part >= S_PARTS)
        return false;
    s_part_t *p = self->parts [part];
    if (p && epoch < p->epoch)
        return false;
    if (p && epoch == p->epoch && kind == p->kind) {
        p->writable = writable;
        return true;
    }
    if (!p && !(p = self->parts [part] = calloc (1, sizeof *p)))
        return false;
    s_drop_held (self, p);
    p->kind = kind;
    p->epoch = epoch;
    p->writable = writable;
    p->position = position;
    //  A new leader knows nothing committed in its epoch until the broker
    //  says so: what it holds past the last acknowledged job may not be on
    //  the others yet.
    p->committed = kind == KVP_COPY_LEADER ? 0 : position;
    p->start = position;
    p->tail = kind == KVP_COPY_LEADER && position > 0;
    p->resync = false;
    p->chunk = 0;
    return true;
}

kvp_copy_role_t
kvp_roles_kind (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p ? p->kind : KVP_COPY_NONE;
}

uint64_t
kvp_roles_epoch (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p ? p->epoch : 0;
}

uint64_t
kvp_roles_position (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p ? p->position : 0;
}

bool
kvp_roles_writable (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return !p || p->kind != KVP_COPY_LEADER || p->writable;
}

void
kvp_roles_advance (kvp_roles_t *self, uint32_t part, uint64_t seq)
{
    s_part_t *p = s_part (self, part);
    if (p)
        p->position = seq;
}

bool
kvp_roles_waits (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p && p->kind == KVP_COPY_LEADER
        && (p->committed < p->position || p->head);
}

bool
kvp_roles_hold (kvp_roles_t *self, const kvp_held_t *held)
{
    s_part_t *p = s_part (self, held->part);
    if (!p)
        return false;
    size_t topic_len = held->topic ? held->topic_len : 0;
    size_t event_size = held->topic ? held->event_size : 0;
    s_entry_t *entry = malloc (sizeof *entry + held->reply_size + topic_len
                               + event_size);
    if (!entry)
        return false;
    entry->next = NULL;
    entry->need = p->position;
    entry->job = held->seq > 0;
    memcpy (entry->tag, held->tag, 8);
    entry->reply_size = held->reply_size;
    entry->topic_len = topic_len;
    entry->event_size = event_size;
    entry->seq = held->seq;
    entry->op = held->op;
    entry->received_us = held->received_us;
    memcpy (entry->data, held->reply, held->reply_size);
    if (topic_len)
        memcpy (entry->data + held->reply_size, held->topic, topic_len);
    if (event_size)
        memcpy (entry->data + held->reply_size + topic_len, held->event,
                event_size);
    if (p->tail_entry)
        p->tail_entry->next = entry;
    else
        p->head = entry;
    p->tail_entry = entry;
    self->held++;
    return true;
}

//  Hand `entry` (unlinked) to fn and free it.
static void
s_release (kvp_roles_t *self, uint32_t part, s_entry_t *entry,
           kvp_roles_release_fn *fn, void *arg)
{
    kvp_held_t held = {
        .part = part, .tag = entry->tag,
        .reply = entry->data, .reply_size = entry->reply_size,
        .topic = entry->topic_len
               ? (const char *) entry->data + entry->reply_size : NULL,
        .topic_len = entry->topic_len,
        .event = entry->data + entry->reply_size + entry->topic_len,
        .event_size = entry->event_size, .seq = entry->seq,
        .op = entry->op, .received_us = entry->received_us
    };
    fn (arg, &held);
    free (entry);
    self->held--;
}

size_t
kvp_roles_commit (kvp_roles_t *self, uint32_t part, uint64_t epoch,
                  uint64_t seq, kvp_roles_release_fn *fn, void *arg)
{
    s_part_t *p = s_part (self, part);
    if (!p || p->kind != KVP_COPY_LEADER || p->epoch != epoch)
        return 0;
    if (seq > p->committed)
        p->committed = seq;
    //  In order, except that a job's reply waits while fewer than M are
    //  in sync and the replies after it that made no job need not.
    size_t count = 0;
    s_entry_t **link = &p->head, *last = NULL;
    while (*link) {
        s_entry_t *entry = *link;
        if (entry->need > p->committed)
            break;
        if (entry->job && !p->writable) {
            last = entry;
            link = &entry->next;
            continue;
        }
        *link = entry->next;
        s_release (self, part, entry, fn, arg);
        count++;
    }
    if (!*link)
        p->tail_entry = last;
    return count;
}

bool
kvp_roles_tail_due (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    if (!p || p->kind != KVP_COPY_LEADER || !p->tail || !p->writable
    ||  p->committed < p->start)
        return false;
    p->tail = false;
    return true;
}

size_t
kvp_roles_held (kvp_roles_t *self)
{
    return self->held;
}

bool
kvp_roles_resyncing (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p && p->resync;
}

void
kvp_roles_set_resync (kvp_roles_t *self, uint32_t part, bool on)
{
    s_part_t *p = s_part (self, part);
    if (p)
        p->resync = on;
}

uint32_t
kvp_roles_chunk (kvp_roles_t *self, uint32_t part)
{
    s_part_t *p = s_part (self, part);
    return p ? p->chunk : 0;
}

void
kvp_roles_set_chunk (kvp_roles_t *self, uint32_t part, uint32_t next)
{
    s_part_t *p = s_part (self, part);
    if (p)
        p->chunk = next;
}
