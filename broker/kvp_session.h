/*  kvp_session.h - one worker connection as the broker sees it, and the
    small state machine that drives it.

    A session is keyed by the routing identity of the worker's DEALER. It
    starts UNREGISTERED, becomes READY when a REGISTER is accepted, and
    EXPIRED when the worker falls silent, says BYE or is refused. An
    expired worker that speaks again is told to register (it becomes READY
    again with a fresh REGISTER).

        state         event      next          actions
        UNREGISTERED  REGISTER   READY         adopt, welcome
        UNREGISTERED  REFUSED    UNREGISTERED  refuse
        UNREGISTERED  MESSAGE    UNREGISTERED  reject
        READY         REGISTER   READY         fail, retire, adopt, welcome
        READY         REFUSED    EXPIRED       fail, retire, refuse
        READY         MESSAGE    READY         refresh
        READY         BYE        EXPIRED       fail, retire
        READY         SILENT     EXPIRED       fail, retire
        EXPIRED       REGISTER   READY         adopt, welcome
        EXPIRED       REFUSED    EXPIRED       refuse
        EXPIRED       MESSAGE    EXPIRED       reject
        (any other pair: no change, no action)

    The actions are the caller's (kvp_session_actions_t): this module only
    knows the table, so it is tested without sockets. No sockets here.
*/
#ifndef KVP_SESSION_H_INCLUDED
#define KVP_SESSION_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "kvp_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_SESSION_IDENTITY_MAX 255    /* ZeroMQ routing ids, bytes */

typedef enum {
    KVP_SESSION_UNREGISTERED,
    KVP_SESSION_READY,
    KVP_SESSION_EXPIRED,
    KVP_SESSION_STATES
} kvp_session_state_t;

typedef enum {
    KVP_SESSION_REGISTER,       /* an accepted REGISTER */
    KVP_SESSION_REFUSED,        /* a REGISTER that was refused */
    KVP_SESSION_MESSAGE,        /* HEARTBEAT or REPLY */
    KVP_SESSION_BYE,            /* BYE */
    KVP_SESSION_SILENT,         /* liveness ran out, or it is unreachable */
    KVP_SESSION_EVENTS
} kvp_session_event_t;

typedef struct _kvp_session_t kvp_session_t;

/*  One action: gets the session and the caller's context. */
typedef void (kvp_session_fn) (kvp_session_t *session, void *ctx);

/*  The caller's actions; any may be NULL (skipped). */
typedef struct {
    kvp_session_fn *adopt;      /* take the REGISTER: name, partitions, alive */
    kvp_session_fn *welcome;    /* send WELCOME */
    kvp_session_fn *refuse;     /* send REFUSE with the reason */
    kvp_session_fn *reject;     /* send REFUSE "unknown worker, register first" */
    kvp_session_fn *fail;       /* answer its requests in flight with 32771 */
    kvp_session_fn *retire;     /* mark its worker name down */
    kvp_session_fn *refresh;    /* it is alive: push back its expiry */
} kvp_session_actions_t;

/*  Create an UNREGISTERED session for the routing identity `identity`
    (`len` bytes, 1..255). Returns NULL on a bad length or out of memory. */
kvp_session_t *
    kvp_session_new (const void *identity, size_t len);

/*  Destroy and null the pointer; safe on NULL. */
void
    kvp_session_destroy (kvp_session_t **self_p);

/*  Run `event`: the table's actions in order, then the new state (actions
    see the old state). Returns the new state. */
kvp_session_state_t
    kvp_session_execute (kvp_session_t *self, kvp_session_event_t event,
                         const kvp_session_actions_t *actions, void *ctx);

/*  The table alone: the next state for (state, event), and its actions as
    a string of letters in order (a adopt, w welcome, r refuse, j reject,
    f fail, t retire, h refresh; "" for none). For tests and logs. */
kvp_session_state_t
    kvp_session_next (kvp_session_state_t state, kvp_session_event_t event,
                      const char **actions);

/*  Names of states and events, for logs. */
const char *
    kvp_session_state_name (kvp_session_state_t state);
const char *
    kvp_session_event_name (kvp_session_event_t event);

/*  The routing identity (bytes and length). */
const uint8_t *
    kvp_session_identity (kvp_session_t *self, size_t *len);

kvp_session_state_t
    kvp_session_state (kvp_session_t *self);

/*  The worker name from the accepted REGISTER ("" before). */
const char *
    kvp_session_name (kvp_session_t *self);
void
    kvp_session_set_name (kvp_session_t *self, const char *name);

/*  The worker's zone from its REGISTER ("" for none). */
const char *
    kvp_session_zone (kvp_session_t *self);
void
    kvp_session_set_zone (kvp_session_t *self, const char *zone);

/*  Monotonic ms after which a READY session is silent (or a non-ready
    one may be forgotten). */
int64_t
    kvp_session_expires (kvp_session_t *self);
void
    kvp_session_set_expires (kvp_session_t *self, int64_t when);

/*  Requests in flight to this worker and the bytes of their bodies: read,
    and add a request of `bytes` (delta +1) or take it away (delta -1). */
size_t
    kvp_session_inflight (kvp_session_t *self);
size_t
    kvp_session_inflight_bytes (kvp_session_t *self);
void
    kvp_session_inflight_add (kvp_session_t *self, int delta, size_t bytes);

/*  Monotonic ms of the last REFUSE sent to it (to rate-limit them). */
int64_t
    kvp_session_refused_at (kvp_session_t *self);
void
    kvp_session_set_refused_at (kvp_session_t *self, int64_t when);

#ifdef __cplusplus
}
#endif
#endif
