/*  kvp_regstate.c - the registry's state machine: the records' rules
    (see kvp_regstate.h; snapshots are kvp_regsnap.c).

    Workers live in an array by id (the order they became known; ids exist
    only in memory and in snapshots), with two arrays in name order, of
    ids and of names, for lookups and listing. A partition names its
    copies by worker id. Names are freed only with the state, so the
    pointers handed out stay valid however the arrays move.
*/
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_regstate_priv.h"
#include "kvp_store.h"

#define S_NONE      KVP_REGSTATE_NONE

typedef int (s_check_fn) (const kvp_regstate_t *self,
                          const kvp_decision_t *d, char *why, size_t size);
typedef void (s_commit_fn) (kvp_regstate_t *self, const kvp_decision_t *d);

//  --- Workers --------------------------------------------------------------

//  Binary search by name: the index in name order, or where it would go
size_t
kvp_regstate_search (const kvp_regstate_t *self, const char *name,
                     bool *found)
{
    size_t low = 0, high = self->count;
    *found = false;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int cmp = strcmp (self->names [mid], name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

//  The id of `name`, or S_NONE
static uint32_t
s_id (const kvp_regstate_t *self, const char *name)
{
    bool found;
    size_t at = kvp_regstate_search (self, name, &found);
    return found? self->sorted [at]: S_NONE;
}

//  Room for one more worker in every array
int
kvp_regstate_grow (kvp_regstate_t *self)
{
    if (self->count < self->size)
        return KVP_STORE_OK;
    size_t size = self->size? self->size * 2: 16;
    kvp_regworker_t *workers = realloc (self->workers, size * sizeof *workers);
    if (workers)
        self->workers = workers;
    uint32_t *sorted = workers? realloc (self->sorted, size * sizeof *sorted)
                              : NULL;
    if (sorted)
        self->sorted = sorted;
    const char **names = sorted? realloc (self->names, size * sizeof *names)
                               : NULL;
    if (!names)
        return KVP_STORE_EIO;
    self->names = names;
    self->size = size;
    return KVP_STORE_OK;
}

//  Add the worker `name` (owned, room reserved) at `at` in name order;
//  returns its id
uint32_t
kvp_regstate_insert (kvp_regstate_t *self, size_t at, char *name)
{
    uint32_t id = (uint32_t) self->count;
    self->workers [id] = (kvp_regworker_t) { name, NULL, false };
    size_t tail = self->count - at;
    memmove (self->sorted + at + 1, self->sorted + at,
             tail * sizeof (uint32_t));
    memmove (self->names + at + 1, self->names + at, tail * sizeof (char *));
    self->sorted [at] = id;
    self->names [at] = name;
    self->count++;
    return id;
}

//  The id of `name`, made from the prepared spare name if it is new
static uint32_t
s_intern (kvp_regstate_t *self, const char *name)
{
    bool found;
    size_t at = kvp_regstate_search (self, name, &found);
    if (found)
        return self->sorted [at];
    char *owned = self->spare_name;
    self->spare_name = NULL;
    return kvp_regstate_insert (self, at, owned);
}

//  --- Checks -------------------------------------------------------------

static int
s_refuse (char *why, size_t size, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

//  Write the reason (when wanted); returns the refusal code
static int
s_refuse (char *why, size_t size, const char *format, ...)
{
    if (why && size) {
        va_list args;
        va_start (args, format);
        vsnprintf (why, size, format, args);
        va_end (args);
    }
    return KVP_STORE_EINVAL;
}

//  The index of worker `name`'s copy of `p`, or -1
static int
s_holder (const kvp_regstate_t *self, const kvp_regslot_t *p, const char *name)
{
    uint32_t id = s_id (self, name);
    for (int i = 0; id != S_NONE && i < p->count; i++)
        if (p->ids [i] == id)
            return i;
    return -1;
}

static int
s_check_range (const kvp_regstate_t *self, const kvp_decision_t *d,
               char *why, size_t size)
{
    if (d->part >= self->nparts)
        return s_refuse (why, size, "partition %u is out of range (N = %u)",
                         d->part, self->nparts);
    return KVP_STORE_OK;
}

//  A placed partition, at the record's epoch when `current`
static int
s_check_placed (const kvp_regstate_t *self, const kvp_decision_t *d,
                bool current, char *why, size_t size)
{
    int rc = s_check_range (self, d, why, size);
    const kvp_regslot_t *p = rc? NULL: &self->parts [d->part];
    if (p && !p->count)
        return s_refuse (why, size, "partition %u is not placed", d->part);
    if (p && current && d->epoch != p->epoch)
        return s_refuse (why, size, "epoch %llu is not partition %u's "
                         "current epoch %llu", (unsigned long long) d->epoch,
                         d->part, (unsigned long long) p->epoch);
    return rc;
}

//  A worker that may be given a copy: known and not retired
static int
s_check_usable (const kvp_regstate_t *self, const char *name, char *why,
                size_t size)
{
    uint32_t id = s_id (self, name);
    if (id == S_NONE)
        return s_refuse (why, size, "worker %s is unknown", name);
    if (self->workers [id].retired)
        return s_refuse (why, size, "worker %s is retired", name);
    return KVP_STORE_OK;
}

static int
s_check_create (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    if (self->nparts)
        return s_refuse (why, size, "the cluster exists already (N = %u)",
                         self->nparts);
    return KVP_STORE_OK;
}

static int
s_check_worker (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    return KVP_STORE_OK;
}

static int
s_check_assign (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    int rc = s_check_range (self, d, why, size);
    if (rc == 0 && self->parts [d->part].count > 1)
        return s_refuse (why, size, "partition %u has %u copies: ASSIGN "
                         "decides for one", d->part,
                         self->parts [d->part].count);
    uint32_t id = rc? S_NONE: s_id (self, d->worker);
    if (id != S_NONE && self->workers [id].retired)
        return s_refuse (why, size, "worker %s is retired", d->worker);
    return rc;
}

static int
s_check_place (const kvp_regstate_t *self, const kvp_decision_t *d,
               char *why, size_t size)
{
    int rc = s_check_range (self, d, why, size);
    if (rc == 0 && self->parts [d->part].count)
        return s_refuse (why, size, "partition %u is placed already",
                         d->part);
    if (rc == 0 && d->count > self->replicas)
        return s_refuse (why, size, "%zu copies, but R = %u", d->count,
                         self->replicas);
    for (size_t i = 0; rc == 0 && i < d->count; i++)
        rc = s_check_usable (self, d->workers [i], why, size);
    return rc;
}

static int
s_check_leader (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    int rc = s_check_placed (self, d, false, why, size);
    const kvp_regslot_t *p = rc? NULL: &self->parts [d->part];
    if (p && d->epoch <= p->epoch)
        return s_refuse (why, size, "epoch %llu does not grow past "
                         "partition %u's %llu", (unsigned long long) d->epoch,
                         d->part, (unsigned long long) p->epoch);
    int index = p? s_holder (self, p, d->worker): -1;
    if (p && index < 0)
        return s_refuse (why, size, "worker %s holds no copy of "
                         "partition %u", d->worker, d->part);
    if (p && !kvp_regslot_in_sync (p, index))
        return s_refuse (why, size, "worker %s is not in sync on "
                         "partition %u", d->worker, d->part);
    return rc;
}

static int
s_check_shrink (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    int rc = s_check_placed (self, d, true, why, size);
    const kvp_regslot_t *p = rc? NULL: &self->parts [d->part];
    int index = p? s_holder (self, p, d->worker): -1;
    if (p && !kvp_regslot_in_sync (p, index))
        return s_refuse (why, size, "worker %s is not in sync on "
                         "partition %u", d->worker, d->part);
    if (p && index == p->leader)
        return s_refuse (why, size, "worker %s leads partition %u: a "
                         "leader leaves by a promotion", d->worker, d->part);
    return rc;
}

static int
s_check_expand (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    int rc = s_check_placed (self, d, true, why, size);
    const kvp_regslot_t *p = rc? NULL: &self->parts [d->part];
    int index = p? s_holder (self, p, d->worker): -1;
    if (p && index < 0)
        return s_refuse (why, size, "worker %s holds no copy of "
                         "partition %u", d->worker, d->part);
    if (p && kvp_regslot_in_sync (p, index))
        return s_refuse (why, size, "worker %s is in sync on partition %u "
                         "already", d->worker, d->part);
    return rc;
}

//  MOVE's old holder: a copy out of sync (an empty name adds a copy)
static int
s_check_from (const kvp_regstate_t *self, const kvp_decision_t *d,
              const kvp_regslot_t *p, char *why, size_t size)
{
    int index = *d->worker? s_holder (self, p, d->worker): -1;
    if (*d->worker && index < 0)
        return s_refuse (why, size, "worker %s holds no copy of "
                         "partition %u", d->worker, d->part);
    if (kvp_regslot_in_sync (p, index))
        return s_refuse (why, size, "worker %s is in sync on partition %u: "
                         "it leaves the in-sync set first", d->worker,
                         d->part);
    if (!*d->worker && p->count >= self->replicas)
        return s_refuse (why, size, "partition %u has its R = %u copies",
                         d->part, self->replicas);
    return KVP_STORE_OK;
}

static int
s_check_move (const kvp_regstate_t *self, const kvp_decision_t *d,
              char *why, size_t size)
{
    int rc = s_check_placed (self, d, true, why, size);
    const kvp_regslot_t *p = rc? NULL: &self->parts [d->part];
    if (p)
        rc = s_check_from (self, d, p, why, size);
    if (rc == 0 && *d->to)
        rc = s_check_usable (self, d->to, why, size);
    if (rc == 0 && *d->to && s_holder (self, p, d->to) >= 0)
        return s_refuse (why, size, "worker %s holds a copy of partition "
                         "%u already", d->to, d->part);
    return rc;
}

static int
s_check_retire (const kvp_regstate_t *self, const kvp_decision_t *d,
                char *why, size_t size)
{
    uint32_t id = s_id (self, d->worker);
    if (id == S_NONE)
        return s_refuse (why, size, "worker %s is unknown", d->worker);
    if (self->workers [id].retired)
        return s_refuse (why, size, "worker %s is retired already",
                         d->worker);
    return KVP_STORE_OK;
}

//  --- Commits ------------------------------------------------------------

static void
s_commit_create (kvp_regstate_t *self, const kvp_decision_t *d)
{
    self->parts = self->spare_parts;
    self->spare_parts = NULL;
    self->nparts = d->nparts;
    self->replicas = d->replicas;
    self->min_insync = d->min_insync;
}

static void
s_commit_worker (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regworker_t *worker = &self->workers [s_intern (self, d->worker)];
    free (worker->token);
    worker->token = self->spare_token;
    self->spare_token = NULL;
}

static void
s_commit_assign (kvp_regstate_t *self, const kvp_decision_t *d)
{
    uint32_t id = s_intern (self, d->worker);
    kvp_regslot_t *p = &self->parts [d->part];
    if (!p->count || p->ids [p->leader] != id)
        p->epoch++;                 //  a new leader, a new epoch
    p->ids [0] = id;
    p->count = 1;
    p->leader = 0;
    p->isr = 1;
}

static void
s_commit_place (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regslot_t *p = &self->parts [d->part];
    for (size_t i = 0; i < d->count; i++)
        p->ids [i] = s_id (self, d->workers [i]);
    p->count = (uint8_t) d->count;
    p->leader = 0;
    p->isr = (uint8_t) ((1u << d->count) - 1);
    p->epoch++;
}

static void
s_commit_leader (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regslot_t *p = &self->parts [d->part];
    int index = s_holder (self, p, d->worker);
    if (index != p->leader)         //  the deposed leader is out of sync
        p->isr &= (uint8_t) ~(1u << p->leader);
    p->leader = (uint8_t) index;
    p->epoch = d->epoch;
}

static void
s_commit_shrink (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regslot_t *p = &self->parts [d->part];
    p->isr &= (uint8_t) ~(1u << s_holder (self, p, d->worker));
}

static void
s_commit_expand (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regslot_t *p = &self->parts [d->part];
    p->isr |= (uint8_t) (1u << s_holder (self, p, d->worker));
}

//  Take copy `index` (out of sync, so not the leader) out of `p`
static void
s_drop (kvp_regslot_t *p, int index)
{
    memmove (p->ids + index, p->ids + index + 1,
             (size_t) (p->count - index - 1) * sizeof (uint32_t));
    unsigned low = p->isr & ((1u << index) - 1);
    p->isr = (uint8_t) (low | ((unsigned) (p->isr >> (index + 1)) << index));
    if (p->leader > index)
        p->leader--;
    p->count--;
}

static void
s_commit_move (kvp_regstate_t *self, const kvp_decision_t *d)
{
    kvp_regslot_t *p = &self->parts [d->part];
    int index = *d->worker? s_holder (self, p, d->worker): p->count++;
    if (*d->to)
        p->ids [index] = s_id (self, d->to);
    else
        s_drop (p, index);
}

static void
s_commit_retire (kvp_regstate_t *self, const kvp_decision_t *d)
{
    self->workers [s_id (self, d->worker)].retired = true;
}

static const struct {
    s_check_fn *check;
    s_commit_fn *commit;
} s_ops [KVP_DECISION_TYPES] = {
    [KVP_DECISION_CREATE] = { s_check_create, s_commit_create },
    [KVP_DECISION_WORKER] = { s_check_worker, s_commit_worker },
    [KVP_DECISION_ASSIGN] = { s_check_assign, s_commit_assign },
    [KVP_DECISION_PLACE]  = { s_check_place,  s_commit_place },
    [KVP_DECISION_LEADER] = { s_check_leader, s_commit_leader },
    [KVP_DECISION_SHRINK] = { s_check_shrink, s_commit_shrink },
    [KVP_DECISION_EXPAND] = { s_check_expand, s_commit_expand },
    [KVP_DECISION_MOVE]   = { s_check_move,   s_commit_move },
    [KVP_DECISION_RETIRE] = { s_check_retire, s_commit_retire },
};

//  --- Applying -----------------------------------------------------------

kvp_regstate_t *
kvp_regstate_new (void)
{
    return calloc (1, sizeof (kvp_regstate_t));
}

static void
s_spares_free (kvp_regstate_t *self)
{
    free (self->spare_name);
    free (self->spare_token);
    free (self->spare_parts);
    self->spare_name = self->spare_token = NULL;
    self->spare_parts = NULL;
}

void
kvp_regstate_destroy (kvp_regstate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_regstate_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        free (self->workers [i].name);
        free (self->workers [i].token);
    }
    s_spares_free (self);
    free (self->workers);
    free (self->sorted);
    free (self->names);
    free (self->parts);
    free (self);
    *self_p = NULL;
}

int
kvp_regstate_validate (const kvp_regstate_t *self,
                       const kvp_decision_t *record, char *why, size_t size)
{
    char reason [160];
    if (!self || !kvp_decision_valid (record, reason, sizeof reason))
        return s_refuse (why, size, "malformed %s record: %s",
                         record? kvp_decision_type_name (record->type): "no",
                         self? reason: "no state");
    if (!self->nparts && record->type != KVP_DECISION_CREATE)
        return s_refuse (why, size, "no cluster yet: CREATE comes first");
    return s_ops [record->type].check (self, record, why, size);
}

//  The memory a checked record's commit takes: a new worker's name, a
//  token, CREATE's partitions
static int
s_reserve_for (kvp_regstate_t *self, const kvp_decision_t *d)
{
    bool names = d->type == KVP_DECISION_WORKER
              || d->type == KVP_DECISION_ASSIGN;
    if (names && s_id (self, d->worker) == S_NONE
    &&  (kvp_regstate_grow (self) || !(self->spare_name = strdup (d->worker))))
        return KVP_STORE_EIO;
    if (d->type == KVP_DECISION_WORKER
    &&  !(self->spare_token = strdup (d->token)))
        return KVP_STORE_EIO;
    if (d->type == KVP_DECISION_CREATE
    &&  !(self->spare_parts = calloc (d->nparts, sizeof (kvp_regslot_t))))
        return KVP_STORE_EIO;
    return KVP_STORE_OK;
}

int
kvp_regstate_prepare (kvp_regstate_t *self, const kvp_decision_t *record,
                      char *why, size_t size)
{
    int rc = kvp_regstate_validate (self, record, why, size);
    if (rc)
        return rc;
    s_spares_free (self);
    rc = s_reserve_for (self, record);
    if (rc)
        s_refuse (why, size, "out of memory");
    return rc;
}

void
kvp_regstate_commit (kvp_regstate_t *self, const kvp_decision_t *record)
{
    s_ops [record->type].commit (self, record);
}

int
kvp_regstate_apply (kvp_regstate_t *self, const kvp_decision_t *record,
                    char *why, size_t size)
{
    int rc = kvp_regstate_prepare (self, record, why, size);
    if (rc == 0)
        kvp_regstate_commit (self, record);
    return rc;
}

int
kvp_regstate_create (kvp_regstate_t *self, const kvp_decision_t *create)
{
    if (s_reserve_for (self, create))
        return KVP_STORE_EIO;
    s_commit_create (self, create);
    return KVP_STORE_OK;
}

//  --- Reading ------------------------------------------------------------

uint32_t
kvp_regstate_partitions (const kvp_regstate_t *self)
{
    return self->nparts;
}

unsigned
kvp_regstate_replicas (const kvp_regstate_t *self)
{
    return self->replicas;
}

unsigned
kvp_regstate_min_insync (const kvp_regstate_t *self)
{
    return self->min_insync;
}

const char *
kvp_regstate_leader (const kvp_regstate_t *self, uint32_t part)
{
    const kvp_regslot_t *p = part < self->nparts? &self->parts [part]: NULL;
    return p && p->count? self->workers [p->ids [p->leader]].name: NULL;
}

bool
kvp_regstate_partition (const kvp_regstate_t *self, uint32_t part,
                        kvp_regpart_t *out)
{
    if (part >= self->nparts)
        return false;
    const kvp_regslot_t *p = &self->parts [part];
    memset (out, 0, sizeof *out);
    out->epoch = p->epoch;
    out->count = p->count;
    out->leader = p->leader;
    for (int i = 0; i < p->count; i++) {
        out->replicas [i] = self->workers [p->ids [i]].name;
        out->in_sync [i] = kvp_regslot_in_sync (p, i);
    }
    return true;
}

const char **
kvp_regstate_workers (const kvp_regstate_t *self, size_t *count)
{
    *count = self->count;
    return self->names;
}

//  The worker called `name`, or NULL
static const kvp_regworker_t *
s_worker (const kvp_regstate_t *self, const char *name)
{
    uint32_t id = name? s_id (self, name): S_NONE;
    return id == S_NONE? NULL: &self->workers [id];
}

const char *
kvp_regstate_token (const kvp_regstate_t *self, const char *worker)
{
    const kvp_regworker_t *known = s_worker (self, worker);
    return known? known->token: NULL;
}

bool
kvp_regstate_known (const kvp_regstate_t *self, const char *worker)
{
    return s_worker (self, worker) != NULL;
}

bool
kvp_regstate_retired (const kvp_regstate_t *self, const char *worker)
{
    const kvp_regworker_t *known = s_worker (self, worker);
    return known && known->retired;
}

//  --- Equality -----------------------------------------------------------

static bool
s_same_str (const char *a, const char *b)
{
    return a == b || (a && b && strcmp (a, b) == 0);
}

static bool
s_part_equal (const kvp_regstate_t *a, const kvp_regslot_t *pa,
              const kvp_regstate_t *b, const kvp_regslot_t *pb)
{
    if (pa->epoch != pb->epoch || pa->count != pb->count
    ||  pa->leader != pb->leader || pa->isr != pb->isr)
        return false;
    for (int i = 0; i < pa->count; i++)
        if (strcmp (a->workers [pa->ids [i]].name,
                    b->workers [pb->ids [i]].name))
            return false;
    return true;
}

bool
kvp_regstate_equal (const kvp_regstate_t *a, const kvp_regstate_t *b)
{
    if (a->nparts != b->nparts || a->replicas != b->replicas
    ||  a->min_insync != b->min_insync || a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const kvp_regworker_t *wa = &a->workers [a->sorted [i]];
        const kvp_regworker_t *wb = &b->workers [b->sorted [i]];
        if (strcmp (wa->name, wb->name) || wa->retired != wb->retired
        ||  !s_same_str (wa->token, wb->token))
            return false;
    }
    for (uint32_t part = 0; part < a->nparts; part++)
        if (!s_part_equal (a, &a->parts [part], b, &b->parts [part]))
            return false;
    return true;
}
