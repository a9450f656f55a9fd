/*  kvp_regstate_priv.h - the layout of the registry's state, shared by
    its two halves: the records' rules (kvp_regstate.c) and snapshots
    (kvp_regsnap.c). Internal to those two files.
*/
#ifndef KVP_REGSTATE_PRIV_H_INCLUDED
#define KVP_REGSTATE_PRIV_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_regstate.h"

#define KVP_REGSTATE_NONE UINT32_MAX    /* no such worker id */

typedef struct {
    char *name;                     /* freed with the state */
    char *token;                    /* or NULL */
    bool retired;
} kvp_regworker_t;

typedef struct {
    uint64_t epoch;                 /* 0 until placed */
    uint32_t ids [KVP_DECISION_REPLICAS_MAX];   /* copies, replica order */
    uint8_t count;                  /* 0 = never placed */
    uint8_t leader;                 /* index in ids */
    uint8_t isr;                    /* bit i: ids [i] is in sync */
} kvp_regslot_t;

struct _kvp_regstate_t {
    uint32_t nparts;                /* N; 0 before CREATE */
    uint8_t replicas;               /* R */
    uint8_t min_insync;             /* M */
    kvp_regslot_t *parts;           /* [nparts] */
    kvp_regworker_t *workers;       /* by id */
    uint32_t *sorted;               /* ids in name order */
    const char **names;             /* names in name order */
    size_t count;                   /* workers known */
    size_t size;                    /* room in the three arrays */
    char *spare_name;               /* prepared for commit: a new name, */
    char *spare_token;              /* a new token, */
    kvp_regslot_t *spare_parts;     /* CREATE's partitions */
};

/*  Is copy `index` of `p` in sync? False for -1. */
static inline bool
kvp_regslot_in_sync (const kvp_regslot_t *p, int index)
{
    return index >= 0 && (p->isr >> index) & 1;
}

/*  The index of `name` in name order, or where it would go (*found
    false). */
size_t
    kvp_regstate_search (const kvp_regstate_t *self, const char *name,
                         bool *found);

/*  Room for one more worker in every array; KVP_STORE_EIO when out of
    memory. */
int
    kvp_regstate_grow (kvp_regstate_t *self);

/*  Add worker `name` (taken over; room made) at `at` in name order, with
    no token; returns its id. */
uint32_t
    kvp_regstate_insert (kvp_regstate_t *self, size_t at, char *name);

/*  Apply a well-formed CREATE to an empty state; KVP_STORE_EIO when out
    of memory. */
int
    kvp_regstate_create (kvp_regstate_t *self, const kvp_decision_t *create);

#endif
