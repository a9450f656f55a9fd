/*  kvp_slot.h - one request on its way through a worker's group commit.

    A slot holds what the request came with (its decoder, target and
    partition, receipt times, the message that owns the body bytes) and what
    executing it produced (the reply body and, for a job, the event body and
    topic). Its buffers are kept across batches so the hot path does not
    allocate once they have grown; a buffer that grew past a bound is given
    back when the slot is released, so the heap stays bounded.

    A plain struct shared by kvp_exec (which fills the results) and
    kvp_batch (which owns the slots).
*/
#ifndef KVP_SLOT_H_INCLUDED
#define KVP_SLOT_H_INCLUDED

#include <czmq.h>
#include <msgpack.h>
#include "kvp_guid.h"
#include "kvp_reply.h"
#include "kvp_request.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KVP_SLOT_FREE,              /* not in use */
    KVP_SLOT_READY,             /* decoded and checked: to be executed */
    KVP_SLOT_ANSWERED           /* reply made without executing (a reject) */
} kvp_slot_state_t;

typedef struct {
    kvp_slot_state_t state;     /* see above */
    /* --- inputs, set before the batch runs ---------------------------- */
    zmsg_t *msg;                /* owns the body bytes; NULL if the caller
                                   keeps them alive; destroyed on release */
    uint8_t tag [8];            /* the broker's tag, returned unchanged */
    kvp_request_t *request;     /* the decoder (owned by the slot) */
    kvp_guid_t target;          /* the system (DefineSystem: the new id) */
    uint32_t part;              /* the partition the request runs in */
    uint64_t received_ms;       /* Unix ms at receipt (TimeSubmitted) */
    int64_t received_us;        /* monotonic us at receipt (ElapsedTime) */
    bool no_jobs;               /* the partition takes no new job (fewer
                                   than M copies in sync): a write that
                                   would make one gets 32777 instead */
    /* --- results ------------------------------------------------------- */
    msgpack_sbuffer reply;      /* reply body */
    msgpack_sbuffer event;      /* event body; empty when no job was made */
    uint64_t seq;               /* the job's seq; 0 when no job was made */
    char topic [KVP_TOPIC_MAX + 1];     /* event topic "job/<guid>" */
    size_t topic_len;           /* bytes of topic */
    char jobid [KVP_JOBID_MAX + 1];     /* the job's InstanceID */
} kvp_slot_t;

/*  Prepare a slot (allocates its decoder). Returns false when out of
    memory; kvp_slot_fini is safe either way. */
bool
    kvp_slot_init (kvp_slot_t *self);

/*  Free everything the slot holds. Safe twice. */
void
    kvp_slot_fini (kvp_slot_t *self);

/*  Forget the results of an execution (before a retry). */
void
    kvp_slot_clear_results (kvp_slot_t *self);

/*  Release the slot after its reply was sent: destroys `msg`, clears the
    results, shrinks oversized buffers, state FREE. */
void
    kvp_slot_release (kvp_slot_t *self);

/*  Answer the slot without executing it: a status reply with `rc` and
    `error` (the request's rid when it has one). State ANSWERED. */
void
    kvp_slot_reject (kvp_slot_t *self, unsigned rc, const char *error);

#ifdef __cplusplus
}
#endif
#endif
