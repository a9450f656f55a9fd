/*  kvp_owners.h - partition ownership: who owns each partition, who is
    alive, and the assignment policy, over the persistent registry
    (store/kvp_registry.h).

    Ownership is sticky (spec section 1). A partition is assigned lazily,
    on its first request, to the live worker owning the fewest partitions
    (ties broken by name, bytewise; never a retired one), and the registry
    records it (synced) before the caller routes anything to it. An owned
    partition is never reassigned: while its owner is down the caller
    answers 32777.

    Liveness is a pointer per worker name: the caller's session object
    while the worker is registered, NULL while it is down. After a restart
    every known worker is down until it registers again.

    Routing a request costs one array read (partition -> owner record);
    names are compared only when workers register. No sockets.
*/
#ifndef KVP_OWNERS_H_INCLUDED
#define KVP_OWNERS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_registry.h"
#include "kvp_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_owners_t kvp_owners_t;

/*  Build the table from `registry` (borrowed: it must outlive the table).
    Every worker starts down. Returns NULL when out of memory. */
kvp_owners_t *
    kvp_owners_new (kvp_registry_t *registry);

/*  Destroy and null the pointer; safe on NULL. */
void
    kvp_owners_destroy (kvp_owners_t **self_p);

/*  N, the number of partitions. */
uint32_t
    kvp_owners_partitions (kvp_owners_t *self);

/*  The owner of `part` (< N): returns its session (NULL if it is down or
    there is no owner) and sets *owner to its name (NULL if unowned). The
    name is valid while the table lives. */
void *
    kvp_owners_route (kvp_owners_t *self, uint32_t part, const char **owner);

/*  The session of worker `name`, or NULL if it is down or unknown. */
void *
    kvp_owners_session (kvp_owners_t *self, const char *name);

/*  Check a REGISTER against the registry: the protocol version, N, the
    worker's data-directory token and the partitions it claims. Returns
    true if it may register; else false with a "fatal: ..." reason in
    `error` (`size` bytes). Does not look at live sessions. */
bool
    kvp_owners_check (kvp_owners_t *self, const kvp_register_t *reg,
                      char *error, size_t size);

/*  Record a checked REGISTER in the registry: the worker's token if it is
    new, and the claimed partitions nobody owns (this rebuilds a lost
    registry). Does not change liveness (kvp_owners_attach does). Returns 0
    or a store code (what was written before the failure stays). */
int
    kvp_owners_adopt (kvp_owners_t *self, const kvp_register_t *reg);

/*  Mark worker `name` (adopted before) alive with `session`. Returns false
    if the name is unknown. */
bool
    kvp_owners_attach (kvp_owners_t *self, const char *name, void *session);

/*  Mark worker `name` down if `session` is its current session (a stale
    session cannot retire a newer one); its partitions stay its own. Safe
    for an unknown name. */
void
    kvp_owners_retire (kvp_owners_t *self, const char *name, void *session);

/*  The policy alone: the name of the live worker, not retired, with the
    fewest partitions, ties by name; NULL if there is none. */
const char *
    kvp_owners_choose (kvp_owners_t *self);

/*  Assign the unowned partition `part` to the worker kvp_owners_choose
    picks, recorded in the registry (synced). Returns that worker's session
    and sets *owner to its name; returns NULL with *rc = 0 if no worker is
    alive, or with *rc = a store code if the registry write failed (nothing
    changed then). */
void *
    kvp_owners_assign (kvp_owners_t *self, uint32_t part,
                       const char **owner, int *rc);

/*  Follow the registry's owner (leader) of `part` after a decision that
    may have changed it (PLACE, LEADER). False when out of memory. */
bool
    kvp_owners_refresh (kvp_owners_t *self, uint32_t part);

/*  How many partitions worker `name` owns (0 if unknown). */
uint32_t
    kvp_owners_count (kvp_owners_t *self, const char *name);

/*  The partitions worker `name` owns, ascending, into `parts` (room for N
    entries). Returns how many. */
size_t
    kvp_owners_list (kvp_owners_t *self, const char *name, uint32_t *parts);

/*  Every known worker, for ClusterStatus, in one pass over the
    partitions. Returns the number of workers W. `parts` (room for N) gets
    the partitions grouped by owner, workers in name order, ascending
    within a group, then the unowned ones; `offsets` (room for
    kvp_owners_workers + 1) gets where each group starts, offsets[W] being
    where the unowned start (they run to N). */
size_t
    kvp_owners_layout (kvp_owners_t *self, uint32_t *parts, size_t *offsets);

/*  Number of known workers, and the i-th in name order (its name and
    whether it is alive). */
size_t
    kvp_owners_workers (kvp_owners_t *self);
const char *
    kvp_owners_worker (kvp_owners_t *self, size_t index, bool *alive);

#ifdef __cplusplus
}
#endif
#endif
