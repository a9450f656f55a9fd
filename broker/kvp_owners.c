/*  kvp_owners.c - partition ownership and the assignment policy.
*/
#include "kvp_owners.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One known worker. Records live as long as the table: partitions point
//  at them.
typedef struct {
    char name [KVP_WORKER_ID_MAX + 1];
    uint32_t count;                 //  partitions it owns
    void *session;                  //  the caller's session; NULL = down
    size_t index;                   //  its place in the sorted array
} s_worker_t;

struct _kvp_owners_t {
    kvp_registry_t *registry;       //  borrowed
    uint32_t nparts;                //  N
    s_worker_t **owner;             //  [N]: owner record or NULL
    s_worker_t **workers;           //  known workers, sorted by name
    size_t nworkers;                //  entries in workers
    size_t capacity;                //  room in workers
};

//  Index of `name` in the sorted array, or where it would go (*found
//  false).
static size_t
s_search (kvp_owners_t *self, const char *name, bool *found)
{
    size_t lo = 0, hi = self->nworkers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp (self->workers [mid]->name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static s_worker_t *
s_find (kvp_owners_t *self, const char *name)
{
    bool found;
    size_t i = s_search (self, name, &found);
    return found ? self->workers [i] : NULL;
}

//  The record for `name`, made if new. NULL when out of memory.
static s_worker_t *
s_ensure (kvp_owners_t *self, const char *name)
{
    bool found;
    size_t i = s_search (self, name, &found);
    if (found)
        return self->workers [i];
    if (self->nworkers == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 8;
        s_worker_t **grown = realloc (self->workers,
                                      capacity * sizeof *grown);
        if (!grown)
            return NULL;
        self->workers = grown;
        self->capacity = capacity;
    }
    s_worker_t *worker = calloc (1, sizeof *worker);
    if (!worker)
        return NULL;
    snprintf (worker->name, sizeof worker->name, "%s", name);
    memmove (self->workers + i + 1, self->workers + i,
             (self->nworkers - i) * sizeof *self->workers);
    self->workers [i] = worker;
    self->nworkers++;
    for (size_t j = i; j < self->nworkers; j++)
        self->workers [j]->index = j;
    return worker;
}

//  Load the known workers and every partition's owner.
static bool
s_load (kvp_owners_t *self)
{
    size_t count;
    const char **names = kvp_registry_workers (self->registry, &count);
    for (size_t i = 0; i < count; i++)
        if (!s_ensure (self, names [i]))
            return false;
    for (uint32_t part = 0; part < self->nparts; part++) {
        const char *name = kvp_registry_owner (self->registry, part);
        if (!name)
            continue;
        s_worker_t *worker = s_ensure (self, name);
        if (!worker)
            return false;
        self->owner [part] = worker;
        worker->count++;
    }
    return true;
}

kvp_owners_t *
kvp_owners_new (kvp_registry_t *registry)
{
    assert (registry);
    kvp_owners_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->registry = registry;
    self->nparts = kvp_registry_partitions (registry);
    self->owner = calloc (self->nparts ? self->nparts : 1,
                          sizeof *self->owner);
    if (!self->owner || !s_load (self))
        kvp_owners_destroy (&self);
    return self;
}

void
kvp_owners_destroy (kvp_owners_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_owners_t *self = *self_p;
    *self_p = NULL;
    for (size_t i = 0; i < self->nworkers; i++)
        free (self->workers [i]);
    free (self->workers);
    free (self->owner);
    free (self);
}

uint32_t
kvp_owners_partitions (kvp_owners_t *self)
{
    return self->nparts;
}

void *
kvp_owners_route (kvp_owners_t *self, uint32_t part, const char **owner)
{
    assert (part < self->nparts);
    s_worker_t *worker = self->owner [part];
    *owner = worker ? worker->name : NULL;
    return worker ? worker->session : NULL;
}

void *
kvp_owners_session (kvp_owners_t *self, const char *name)
{
    s_worker_t *worker = s_find (self, name);
    return worker ? worker->session : NULL;
}

//  Does the cluster keep more than one copy of each partition?
static bool
s_copies (kvp_owners_t *self)
{
    return kvp_regstate_replicas (kvp_registry_state (self->registry)) > 1;
}

//  The first claimed partition that this worker may not have, if any.
static bool
s_check_claims (kvp_owners_t *self, const kvp_register_t *reg,
                char *error, size_t size)
{
    for (size_t i = 0; i < reg->partition_count; i++) {
        uint32_t part = reg->partitions [i];
        if (part >= self->nparts) {
            snprintf (error, size, "fatal: partition %u is out of range "
                      "(the cluster has %u)", part, self->nparts);
            return false;
        }
        s_worker_t *owner = self->owner [part];
        //  With copies, followers hold partitions others lead; what a
        //  worker holds without a copy is never served (no role).
        if (owner && strcmp (owner->name, reg->id) != 0 && !s_copies (self)) {
            snprintf (error, size, "fatal: partition %u belongs to %s",
                      part, owner->name);
            return false;
        }
    }
    return true;
}

bool
kvp_owners_check (kvp_owners_t *self, const kvp_register_t *reg,
                  char *error, size_t size)
{
    if (reg->version != KVP_WIRE_VERSION) {
        snprintf (error, size, "fatal: protocol version %u is not supported",
                  reg->version);
        return false;
    }
    if (reg->nparts != 0 && reg->nparts != self->nparts) {
        snprintf (error, size, "fatal: partition count mismatch");
        return false;
    }
    const char *token = kvp_registry_token (self->registry, reg->id);
    if (token && strcmp (token, reg->token) != 0) {
        snprintf (error, size,
                  "fatal: worker id %s is bound to another data directory",
                  reg->id);
        return false;
    }
    return s_check_claims (self, reg, error, size);
}

//  Record `part` as owned by `worker`, registry first.
static int
s_give (kvp_owners_t *self, uint32_t part, s_worker_t *worker)
{
    int rc = kvp_registry_assign (self->registry, part, worker->name);
    if (rc == 0) {
        self->owner [part] = worker;
        worker->count++;
    }
    return rc;
}

int
kvp_owners_adopt (kvp_owners_t *self, const kvp_register_t *reg)
{
    int rc = 0;
    if (!kvp_registry_token (self->registry, reg->id))
        rc = kvp_registry_set_token (self->registry, reg->id, reg->token);
    s_worker_t *worker = rc == 0 ? s_ensure (self, reg->id) : NULL;
    if (rc == 0 && !worker)
        rc = KVP_STORE_EIO;         //  out of memory
    //  Rebuilding from claims is for one copy: with more, a claim says
    //  nothing about which copy is whole.
    for (size_t i = 0; rc == 0 && !s_copies (self)
                       && i < reg->partition_count; i++) {
        uint32_t part = reg->partitions [i];
        assert (part < self->nparts);       //  kvp_owners_check ran
        if (!self->owner [part])
            rc = s_give (self, part, worker);
    }
    return rc;
}

bool
kvp_owners_attach (kvp_owners_t *self, const char *name, void *session)
{
    s_worker_t *worker = s_find (self, name);
    if (worker)
        worker->session = session;
    return worker != NULL;
}

void
kvp_owners_retire (kvp_owners_t *self, const char *name, void *session)
{
    s_worker_t *worker = s_find (self, name);
    if (worker && worker->session == session)
        worker->session = NULL;
}

static s_worker_t *
s_choose (kvp_owners_t *self)
{
    const kvp_regstate_t *state = kvp_registry_state (self->registry);
    s_worker_t *best = NULL;
    //  The array is in name order, so the first of equals wins the tie.
    //  A retired worker gets no new partition (the registry would refuse
    //  the ASSIGN).
    for (size_t i = 0; i < self->nworkers; i++) {
        s_worker_t *worker = self->workers [i];
        if (worker->session && (!best || worker->count < best->count)
        &&  !kvp_regstate_retired (state, worker->name))
            best = worker;
    }
    return best;
}

const char *
kvp_owners_choose (kvp_owners_t *self)
{
    s_worker_t *best = s_choose (self);
    return best ? best->name : NULL;
}

void *
kvp_owners_assign (kvp_owners_t *self, uint32_t part, const char **owner,
                   int *rc)
{
    assert (part < self->nparts && !self->owner [part]);
    *owner = NULL;
    *rc = 0;
    s_worker_t *best = s_choose (self);
    if (!best)
        return NULL;
    *rc = s_give (self, part, best);
    if (*rc != 0)
        return NULL;
    *owner = best->name;
    return best->session;
}

uint32_t
kvp_owners_count (kvp_owners_t *self, const char *name)
{
    s_worker_t *worker = s_find (self, name);
    return worker ? worker->count : 0;
}

size_t
kvp_owners_list (kvp_owners_t *self, const char *name, uint32_t *parts)
{
    s_worker_t *worker = s_find (self, name);
    size_t count = 0;
    for (uint32_t part = 0; worker && part < self->nparts; part++)
        if (self->owner [part] == worker)
            parts [count++] = part;
    return count;
}

size_t
kvp_owners_layout (kvp_owners_t *self, uint32_t *parts, size_t *offsets)
{
    size_t nworkers = self->nworkers;
    //  Group starts from the counts; the unowned come last.
    size_t at = 0;
    for (size_t i = 0; i < nworkers; i++) {
        offsets [i] = at;
        at += self->workers [i]->count;
    }
    offsets [nworkers] = at;
    //  One ascending pass fills each group in order; offsets advance as
    //  cursors and are put back afterwards.
    for (uint32_t part = 0; part < self->nparts; part++) {
        s_worker_t *worker = self->owner [part];
        size_t group = worker ? worker->index : nworkers;
        parts [offsets [group]++] = part;
    }
    for (size_t i = nworkers; i > 0; i--)
        offsets [i] = offsets [i - 1];
    offsets [0] = 0;
    return nworkers;
}

size_t
kvp_owners_workers (kvp_owners_t *self)
{
    return self->nworkers;
}

const char *
kvp_owners_worker (kvp_owners_t *self, size_t index, bool *alive)
{
    assert (index < self->nworkers);
    if (alive)
        *alive = self->workers [index]->session != NULL;
    return self->workers [index]->name;
}

bool
kvp_owners_refresh (kvp_owners_t *self, uint32_t part)
{
    assert (part < self->nparts);
    const char *name = kvp_registry_owner (self->registry, part);
    s_worker_t *worker = name ? s_ensure (self, name) : NULL;
    if (name && !worker)
        return false;
    s_worker_t *before = self->owner [part];
    if (before != worker) {
        if (before)
            before->count--;
        if (worker)
            worker->count++;
        self->owner [part] = worker;
    }
    return true;
}
