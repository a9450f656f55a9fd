/*  kvp_roles.h - what a worker is to each partition of a replicated
    cluster (spec section 12): its leader or a follower, at which epoch,
    how far it holds the partition, and, as leader, the replies and events
    it holds back until the in-sync set holds their job.

    The broker gives roles (ROLE); a partition with no role here is the
    worker's alone (a cluster of one copy: today's ownership, never held
    back). As leader, `position` is the last job sent to the followers
    (REPL) and `committed` the last one the broker said the in-sync set
    holds (COMMIT); a reply made after the batch that took the partition
    to `position` goes out once committed reaches it, reads included
    (they may have seen a job not yet committed), except that a reply of
    a job also waits while the in-sync set holds fewer than M (not
    writable) and the replies after it that made no job go on. A new
    leader starts with nothing committed, since what it holds past the
    last acknowledged job may not be on the others yet; once the broker
    commits its starting position (and M are in sync) the events of that
    tail are due (kvp_roles_tail_due). As follower, `position`
    is the last job applied here, and a follower that could not continue
    (a gap, or a tail the leader never had) waits for a copy.

    A role given again at a newer epoch replaces the old one; a leader
    that becomes a follower drops what it held (the broker answers those
    clients 32771: they retry with their key). No sockets, no store.
*/
#ifndef KVP_ROLES_H_INCLUDED
#define KVP_ROLES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KVP_COPY_NONE,              /* no role: one copy, or not ours */
    KVP_COPY_LEADER,
    KVP_COPY_FOLLOWER
} kvp_copy_role_t;

typedef struct _kvp_roles_t kvp_roles_t;

/*  A reply held back, as handed out when it may go. Borrowed pointers,
    valid during the call. */
typedef struct {
    uint32_t part;
    const uint8_t *tag;         /* 8 bytes */
    const void *reply;
    size_t reply_size;
    const char *topic;          /* the event's topic; NULL when no event */
    size_t topic_len;
    const void *event;
    size_t event_size;
    uint64_t seq;               /* the job's seq; 0 when none */
    int op;                     /* the request's op (for the metrics) */
    int64_t received_us;        /* when it came, monotonic us */
} kvp_held_t;

typedef void (kvp_roles_release_fn) (void *arg, const kvp_held_t *held);

/*  A table with no roles. NULL when out of memory. */
kvp_roles_t *
    kvp_roles_new (void);

/*  Destroy (dropping what is held) and null the pointer; safe on NULL. */
void
    kvp_roles_destroy (kvp_roles_t **self_p);

/*  Take the role the broker gave for `part` at `epoch`; `position` is the
    last job the store holds for it. Returns false (nothing changed) for
    an epoch older than the one known, or part >= 65536. Same epoch:
    only `writable` changes. As leader, committed starts at position
    (nothing committed yet: see above). */
bool
    kvp_roles_set (kvp_roles_t *self, uint32_t part, kvp_copy_role_t kind,
                  uint64_t epoch, bool writable, uint64_t position);

/*  Forget every role (the broker was lost: roles come again with the
    next registration). What leaders held is dropped. */
void
    kvp_roles_clear (kvp_roles_t *self);

kvp_copy_role_t
    kvp_roles_kind (kvp_roles_t *self, uint32_t part);
uint64_t
    kvp_roles_epoch (kvp_roles_t *self, uint32_t part);
uint64_t
    kvp_roles_position (kvp_roles_t *self, uint32_t part);

/*  As leader: may new jobs be made (the in-sync set holds M)? True for a
    partition with no role. */
bool
    kvp_roles_writable (kvp_roles_t *self, uint32_t part);

/*  Set `position` (leader: REPL sent up to seq; follower: applied). */
void
    kvp_roles_advance (kvp_roles_t *self, uint32_t part, uint64_t seq);

/*  As leader: must a reply about `part` made now wait (committed below
    position)? */
bool
    kvp_roles_waits (kvp_roles_t *self, uint32_t part);

/*  Hold a reply (and its event) until committed reaches the current
    position. Copies everything. False when out of memory. */
bool
    kvp_roles_hold (kvp_roles_t *self, const kvp_held_t *held);

/*  COMMIT: the in-sync set holds `part` up to `seq` at `epoch`. Hands
    every held reply that may now go to fn, in the order held. Ignored
    (0) unless we lead `part` at `epoch`. Returns how many went. */
size_t
    kvp_roles_commit (kvp_roles_t *self, uint32_t part, uint64_t epoch,
                     uint64_t seq, kvp_roles_release_fn *fn, void *arg);

/*  As leader: are the events up to the position it began leading from
    now committed, and not yet published? True once (it clears). */
bool
    kvp_roles_tail_due (kvp_roles_t *self, uint32_t part);

/*  Replies held, over every partition. */
size_t
    kvp_roles_held (kvp_roles_t *self);

/*  As follower: waiting for a copy (a REPL could not be applied)? */
bool
    kvp_roles_resyncing (kvp_roles_t *self, uint32_t part);
void
    kvp_roles_set_resync (kvp_roles_t *self, uint32_t part, bool on);

/*  As follower: the next piece of a copy expected (0: none begun). */
uint32_t
    kvp_roles_chunk (kvp_roles_t *self, uint32_t part);
void
    kvp_roles_set_chunk (kvp_roles_t *self, uint32_t part, uint32_t next);

#ifdef __cplusplus
}
#endif
#endif
