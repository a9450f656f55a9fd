/*  kvp_replicas.h - the broker as the replication controller (spec
    section 12; proto/KVP1.md "Replication"), for a cluster of R > 1
    copies of each partition.

    The broker places copies, gives roles (ROLE), forwards each leader's
    REPL and CHUNK to the partition's followers, counts their ACKs and
    tells the leader what the in-sync set holds (COMMIT). Every change of
    the in-sync set or of the leader is a decision record committed in
    the registry before anything acts on it:

      first request       PLACE on up to R live workers, the emptiest
                          first; all in sync (nothing written yet)
      follower down,      SHRINK, then the commit point is counted without
      behind past the     it (a follower behind the leader for longer than
      liveness bound, or  the liveness bound counts as down)
      asking for a copy
      follower caught up  EXPAND (its ACK of this epoch reached the
                          leader's position)
      leader down         LEADER: the live in-sync follower that
                          acknowledged most, epoch + 1; none: the
                          partition waits (32777) for a member of its last
                          in-sync set
      a copy short        MOVE "" -> a live worker holding no copy
      worker retired, or  LEADER away from it if it leads and is live,
      down past           SHRINK if in sync, then MOVE of each copy to a
      --replace-after     live worker holding none (other zones first)
      a new copy, or one  COPY asked of the leader for it (once per
      behind with         epoch until it catches up)
      nothing to replay

    In-memory only (rebuilt from ACKs after a restart): each copy's
    acknowledged position and the leader's. Part of the broker: called by
    kvp_clients.c and kvp_workers.c, calls kvp_bio.c. Not for use outside
    broker/.
*/
#ifndef KVP_REPLICAS_H_INCLUDED
#define KVP_REPLICAS_H_INCLUDED

#include "kvp_broker_priv.h"

/*  Make the state (R > 1 only). False when out of memory. */
bool
    kvp_replicas_init (kvp_broker_t *self);

void
    kvp_replicas_destroy (kvp_broker_t *self);

/*  Is the cluster replicated (R > 1)? */
bool
    kvp_replicas_on (kvp_broker_t *self);

/*  Place the unplaced `part` (PLACE) and give its copies their roles.
    Returns the leader's session (and its name in *leader), or NULL with
    *rc 0 when no worker is alive, a store code when the registry failed. */
kvp_session_t *
    kvp_replicas_place (kvp_broker_t *self, uint32_t part,
                        const char **leader, int *rc);

/*  A worker registered: its roles, and what its return settles (a
    promotion it allows waits until a liveness bound has passed since the
    broker started, so that a leader still reconnecting after a broker
    restart keeps its partitions). */
void
    kvp_replicas_attach (kvp_broker_t *self, kvp_session_t *session);

/*  Worker `name` is down: shrink and promote where it held copies. */
void
    kvp_replicas_detach (kvp_broker_t *self, const char *name);

/*  The worker commands: [identity][command][head][body or id]. `frames`
    as kvp_bio_drain hands them; `total` frames in all. */
void
    kvp_replicas_command (kvp_broker_t *self, kvp_session_t *session,
                          zframe_t **frames, size_t total);

/*  Is this worker command frame one of replication's? */
bool
    kvp_replicas_handles (zframe_t *command);

/*  A RETIRE decision for `worker` committed: move its copies (once a
    spare worker is live; retried by the tick). A no-op with R = 1. */
void
    kvp_replicas_retired (kvp_broker_t *self, const char *worker);

/*  The replication gauges and counters of a metrics snapshot (nothing
    with R = 1). */
void
    kvp_replicas_totals (kvp_broker_t *self, kvp_bmetrics_totals_t *totals);

/*  Periodic: followers behind too long, leaders down since a restart,
    copies short, copies of workers down past --replace-after moved. */
void
    kvp_replicas_tick (kvp_broker_t *self);

#endif
