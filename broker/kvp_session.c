/*  kvp_session.c - a worker session and its state table.
*/
#include "kvp_session.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _kvp_session_t {
    uint8_t identity [KVP_SESSION_IDENTITY_MAX];    //  routing id
    size_t identity_len;                            //  bytes of identity
    kvp_session_state_t state;
    char name [KVP_WORKER_ID_MAX + 1];              //  from REGISTER
    char zone [KVP_ZONE_MAX + 1];                   //  from REGISTER
    int64_t expires;                //  monotonic ms: silent after this
    size_t inflight;                //  requests sent, not yet answered
    size_t inflight_bytes;          //  their bodies
    int64_t refused_at;             //  last REFUSE, monotonic ms
};

//  One transition: the next state and up to four actions, by letter (see
//  kvp_session_next in the header).
typedef struct {
    kvp_session_state_t next;
    const char *actions;
} s_transition_t;

#define S_U KVP_SESSION_UNREGISTERED
#define S_R KVP_SESSION_READY
#define S_E KVP_SESSION_EXPIRED

//  [state][event]: REGISTER, REFUSED, MESSAGE, BYE, SILENT.
static const s_transition_t
s_table [KVP_SESSION_STATES][KVP_SESSION_EVENTS] = {
    [S_U] = { { S_R, "aw" }, { S_U, "r" }, { S_U, "j" },
              { S_U, "" }, { S_U, "" } },
    [S_R] = { { S_R, "ftaw" }, { S_E, "ftr" }, { S_R, "h" },
              { S_E, "ft" }, { S_E, "ft" } },
    [S_E] = { { S_R, "aw" }, { S_E, "r" }, { S_E, "j" },
              { S_E, "" }, { S_E, "" } },
};

kvp_session_t *
kvp_session_new (const void *identity, size_t len)
{
    if (!identity || len == 0 || len > KVP_SESSION_IDENTITY_MAX)
        return NULL;
    kvp_session_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    memcpy (self->identity, identity, len);
    self->identity_len = len;
    self->state = KVP_SESSION_UNREGISTERED;
    return self;
}

void
kvp_session_destroy (kvp_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

kvp_session_state_t
kvp_session_next (kvp_session_state_t state, kvp_session_event_t event,
                  const char **actions)
{
    assert (state < KVP_SESSION_STATES && event < KVP_SESSION_EVENTS);
    const s_transition_t *t = &s_table [state][event];
    if (actions)
        *actions = t->actions;
    return t->next;
}

//  The caller's function for action letter `code`.
static kvp_session_fn *
s_action (const kvp_session_actions_t *actions, char code)
{
    switch (code) {
        case 'a': return actions->adopt;
        case 'w': return actions->welcome;
        case 'r': return actions->refuse;
        case 'j': return actions->reject;
        case 'f': return actions->fail;
        case 't': return actions->retire;
        case 'h': return actions->refresh;
        default:  assert (false); return NULL;
    }
}

kvp_session_state_t
kvp_session_execute (kvp_session_t *self, kvp_session_event_t event,
                     const kvp_session_actions_t *actions, void *ctx)
{
    const char *codes;
    kvp_session_state_t next = kvp_session_next (self->state, event, &codes);
    for (; *codes; codes++) {
        kvp_session_fn *fn = actions ? s_action (actions, *codes) : NULL;
        if (fn)
            fn (self, ctx);
    }
    self->state = next;
    return next;
}

const char *
kvp_session_state_name (kvp_session_state_t state)
{
    static const char *names [] = { "unregistered", "ready", "expired" };
    return state < KVP_SESSION_STATES ? names [state] : "?";
}

const char *
kvp_session_event_name (kvp_session_event_t event)
{
    static const char *names [] = {
        "register", "refused", "message", "bye", "silent"
    };
    return event < KVP_SESSION_EVENTS ? names [event] : "?";
}

const uint8_t *
kvp_session_identity (kvp_session_t *self, size_t *len)
{
    *len = self->identity_len;
    return self->identity;
}

kvp_session_state_t
kvp_session_state (kvp_session_t *self)
{
    return self->state;
}

const char *
kvp_session_name (kvp_session_t *self)
{
    return self->name;
}

void
kvp_session_set_name (kvp_session_t *self, const char *name)
{
    snprintf (self->name, sizeof self->name, "%s", name);
}

const char *
kvp_session_zone (kvp_session_t *self)
{
    return self->zone;
}

void
kvp_session_set_zone (kvp_session_t *self, const char *zone)
{
    snprintf (self->zone, sizeof self->zone, "%s", zone);
}

int64_t
kvp_session_expires (kvp_session_t *self)
{
    return self->expires;
}

void
kvp_session_set_expires (kvp_session_t *self, int64_t when)
{
    self->expires = when;
}

size_t
kvp_session_inflight (kvp_session_t *self)
{
    return self->inflight;
}

size_t
kvp_session_inflight_bytes (kvp_session_t *self)
{
    return self->inflight_bytes;
}

void
kvp_session_inflight_add (kvp_session_t *self, int delta, size_t bytes)
{
    assert (delta >= 0 || self->inflight >= (size_t) -delta);
    assert (delta >= 0 || self->inflight_bytes >= bytes);
    self->inflight += delta;
    if (delta >= 0)
        self->inflight_bytes += bytes;
    else
        self->inflight_bytes -= bytes;
}

int64_t
kvp_session_refused_at (kvp_session_t *self)
{
    return self->refused_at;
}

void
kvp_session_set_refused_at (kvp_session_t *self, int64_t when)
{
    self->refused_at = when;
}
