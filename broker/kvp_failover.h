/*  kvp_failover.h - the replication states of one partition as the
    broker sees them, and the table of what it does on each event (spec
    section 12). Pure: the table says which decisions to propose and what
    to tell whom; the caller carries them out, and records the decisions
    in the registry (store/kvp_registry.h) before anything acts on them.

    The states, from the registry's view of the partition and liveness:

      UNASSIGNED  no copy yet
      PLACING     a PLACE proposed, not yet committed
      SYNCED      the leader is live and every copy wanted is in sync:
                  reads and writes
      DEGRADED    the leader is live, M <= in-sync < R (a copy is missing,
                  down or catching up): reads and writes
      UNDER_MIN   the leader is live, in-sync < M: reads; the leader
                  answers a new write 32777 (a write whose key names a job
                  is still answered with it)
      PROMOTING   the leader is down, a LEADER proposed for an in-sync
                  follower, not yet committed
      OFFLINE     the leader is down and no in-sync follower is live:
                  32777, until a member of the last in-sync set returns

    The table. A guard is a fact the caller passes (kvp_failover_facts_t);
    of the rows of one state and event, the first whose guard holds
    applies. "settle" is the state kvp_failover_classify gives from the
    facts, read once the decision committed. Any other pair: no change,
    no action.

      state        event          guard      next        actions
      UNASSIGNED   REQUEST        live       PLACING     p h
      UNASSIGNED   REQUEST        -          UNASSIGNED  u
      PLACING      REQUEST        -          PLACING     h
      PLACING      COMMITTED      -          settle      t r
      PLACING      REFUSED        -          UNASSIGNED  u
      led          REQUEST        -          (same)      r
      led          COMMITTED      -          settle      t
      led          FOLLOWER_LOST  -          (same)      s
      led          FOLLOWER_BACK  -          (same)      c
      led          CAUGHT_UP      -          (same)      e
      led          LEADER_LOST    candidate  PROMOTING   l f
      led          LEADER_LOST    -          OFFLINE     f
      led          EXPIRED        spare      (same)      m
      PROMOTING    REQUEST        -          PROMOTING   h
      PROMOTING    COMMITTED      -          settle      t r
      PROMOTING    REFUSED        candidate  PROMOTING   l
      PROMOTING    REFUSED        -          OFFLINE     u
      OFFLINE      REQUEST        -          OFFLINE     u
      OFFLINE      COMMITTED      -          settle      t
      OFFLINE      LEADER_LOST    candidate  PROMOTING   l
      OFFLINE      FOLLOWER_BACK  candidate  PROMOTING   l
      OFFLINE      LEADER_BACK    -          settle      t
      OFFLINE      EXPIRED        spare      OFFLINE     m

    where "led" is each of SYNCED, DEGRADED and UNDER_MIN (CAUGHT_UP and
    EXPIRED do not happen in SYNCED, where every copy is in sync).

    The actions, by letter, in the order given. The five proposals each
    name one decision record; at most one is in flight per partition, and
    its outcome comes back as COMMITTED or REFUSED:

      p  propose PLACE: copies on live workers (other zones first), the
         first leads
      l  propose LEADER: a live in-sync follower (or the member that
         returned), epoch + 1
      s  propose SHRINK of the follower that was lost; until it commits
         the leader still waits for that follower, so no write is
         acknowledged without it
      e  propose EXPAND of the follower that caught up
      m  propose MOVE of the expired copy to a spare live worker
      t  tell the copies the partition's epoch, leader and in-sync set
      c  tell the returning copy to drop what it holds past the
         acknowledged position and follow the leader
      f  answer the requests in flight at the deposed leader 32771
      h  hold the request until the proposal's outcome
      r  route the request (and those held) to the leader
      u  answer the request (and those held) 32777

    No sockets, no clock, no registry: the tests walk the table.
*/
#ifndef KVP_FAILOVER_H_INCLUDED
#define KVP_FAILOVER_H_INCLUDED

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KVP_FAILOVER_UNASSIGNED,
    KVP_FAILOVER_PLACING,
    KVP_FAILOVER_SYNCED,
    KVP_FAILOVER_DEGRADED,
    KVP_FAILOVER_UNDER_MIN,
    KVP_FAILOVER_PROMOTING,
    KVP_FAILOVER_OFFLINE,
    KVP_FAILOVER_STATES
} kvp_failover_state_t;

typedef enum {
    KVP_FAILOVER_REQUEST,       /* a request for the partition */
    KVP_FAILOVER_COMMITTED,     /* the proposed decision is in the registry */
    KVP_FAILOVER_REFUSED,       /* the registry refused it, or failed */
    KVP_FAILOVER_FOLLOWER_LOST, /* an in-sync follower fell silent or behind
                                   past the bound, or was retired */
    KVP_FAILOVER_FOLLOWER_BACK, /* a follower registered again */
    KVP_FAILOVER_CAUGHT_UP,     /* a follower out of sync holds the leader's
                                   position */
    KVP_FAILOVER_LEADER_LOST,   /* the leader was declared down (or still is,
                                   at a liveness check) */
    KVP_FAILOVER_LEADER_BACK,   /* the leader registered again */
    KVP_FAILOVER_EXPIRED,       /* a copy out of sync stayed down past
                                   --replace-after, or was retired */
    KVP_FAILOVER_EVENTS
} kvp_failover_event_t;

/*  What the caller knows when the event happens (for COMMITTED: with the
    decision applied). */
typedef struct {
    bool placed;                /* the registry gives the partition copies */
    bool leader_live;           /* its leader is registered */
    unsigned in_sync;           /* in-sync set, the leader included */
    unsigned replicas;          /* R, the copies wanted */
    unsigned min_insync;        /* M */
    unsigned candidates;        /* live in-sync followers */
    unsigned live;              /* live workers not retired */
    unsigned spare;             /* of those, the ones holding no copy */
} kvp_failover_facts_t;

/*  The table: the state after `event` in `state` given `facts`, and in
    *actions (if not NULL) the action letters, a static string ("" for
    none). */
kvp_failover_state_t
    kvp_failover_next (kvp_failover_state_t state, kvp_failover_event_t event,
                       const kvp_failover_facts_t *facts,
                       const char **actions);

/*  The settled state the facts describe: UNASSIGNED, OFFLINE (leader
    down), UNDER_MIN, DEGRADED or SYNCED; never PLACING or PROMOTING,
    which only a proposal enters. What a broker computes for each
    partition at start. */
kvp_failover_state_t
    kvp_failover_classify (const kvp_failover_facts_t *facts);

/*  Does the partition take new writes (SYNCED, DEGRADED)? Reads
    (those and UNDER_MIN)? */
bool
    kvp_failover_writable (kvp_failover_state_t state);
bool
    kvp_failover_readable (kvp_failover_state_t state);

/*  Names for logs ("synced", "leader-lost", ...); "?" if out of range. */
const char *
    kvp_failover_state_name (kvp_failover_state_t state);
const char *
    kvp_failover_event_name (kvp_failover_event_t event);

#ifdef __cplusplus
}
#endif
#endif
