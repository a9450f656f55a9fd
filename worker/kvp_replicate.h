/*  kvp_replicate.h - a worker's part in replication (spec section 12,
    proto/KVP1.md "Replication"): the roles the broker gives, the leader's
    REPL after each commit and its copies, the follower's apply and ACK,
    and the replies a leader holds until COMMIT.

    The worker's loop hands every replication message to
    kvp_replicate_message while it reads a pass's messages; followers'
    records are applied afterwards, in one store batch of their own
    (kvp_replicate_apply), and acknowledged once it is synced. As leader,
    each commit's changes go out as one REPL per partition from the
    batch's commit hook (kvp_replicate_harvest), between the record's
    append and its sync, so the followers' work overlaps the leader's
    fsync; each reply then goes out at once or is held
    (kvp_replicate_answer).

    A follower that starts a copy records it (meta "copy.<part>") before
    dropping its old data, and clears the record with the last piece: a
    copy cut short by a crash is known at the next start and asked for
    again, never taken for a whole one.

    Roles outlive a registration: a broker that restarted gives the same
    epochs again, and a follower of an unchanged epoch still holds a prefix
    of its leader's stream. After each ROLE a worker reports where it
    stands (ACK of its position), so the broker learns the leader's
    position and which followers are caught up.

    Uses store and the role table; sends through the caller's function.
*/
#ifndef KVP_REPLICATE_H_INCLUDED
#define KVP_REPLICATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <czmq.h>
#include "kvp_roles.h"
#include "kvp_slot.h"
#include "kvp_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Send `count` frames to the broker; false if it could not. */
typedef bool (kvp_replicate_send_fn) (void *arg, const void **data,
                                      const size_t *sizes, int count);

/*  Publish the events of `part` not yet marked sent (a new leader's
    tail, once committed). */
typedef void (kvp_replicate_tail_fn) (void *arg, uint32_t part);

typedef struct _kvp_replicate_t kvp_replicate_t;

/*  Over `store` (borrowed). `send` reaches the broker, `release` sends a
    held reply and publishes its event; both get `arg`. */
kvp_replicate_t *
    kvp_replicate_new (kvp_store_t *store, const char *id,
                       kvp_replicate_send_fn *send,
                       kvp_roles_release_fn *release,
                       kvp_replicate_tail_fn *tail, void *arg);

/*  Has this store ever been given a role (meta "replicated")? Then its
    unsent events are published by each partition's leader once
    committed, never at start: a copy may hold a tail that is dropped. */
bool
    kvp_replicate_marked (kvp_store_t *store);

void
    kvp_replicate_destroy (kvp_replicate_t **self_p);

/*  The role table (to route requests: led, followed, writable). */
kvp_roles_t *
    kvp_replicate_roles (kvp_replicate_t *self);

/*  Is this command (frame 0) one of ours? Then take the message: ROLE,
    COMMIT and COPY act now, REPL and CHUNK wait for kvp_replicate_apply.
    Malformed messages are logged and dropped. */
bool
    kvp_replicate_message (kvp_replicate_t *self, zmsg_t **msg_p);

/*  The batch's commit hook (between the record's append and its sync):
    what slots [from, to) changed in the partitions we lead goes out at
    once, one REPL per partition (before the record is synced). */
void
    kvp_replicate_harvest (void *arg, kvp_slot_t *slots, size_t from,
                           size_t to);

/*  Hold the slot's reply (true) when its partition waits for a COMMIT;
    false: send it now. */
bool
    kvp_replicate_answer (kvp_replicate_t *self, kvp_slot_t *slot);

/*  The batch's fold hooks (kvp_batch_on_fold): the REPLs of this pass
    (unless a copy is among them) are applied inside the requests' first
    attempt, so one fsync serves both; unfold puts the positions back when
    that attempt did not commit, and the REPLs are then applied on their
    own. */
int
    kvp_replicate_fold (void *arg, bool *wrote);
void
    kvp_replicate_unfold (void *arg);

/*  After the pass's batch: ACK what the fold committed, or apply what
    followers received (one synced batch of their own), then ACK or
    RESYNC each partition it touched. */
void
    kvp_replicate_apply (kvp_replicate_t *self);

#ifdef __cplusplus
}
#endif
#endif
