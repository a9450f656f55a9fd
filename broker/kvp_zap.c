/*  kvp_zap.c - the broker's ZAP handler.
*/
#include "kvp_zap.h"
#include "kvp_allow.h"
#include "kvp_curve.h"
#include "kvp_log.h"
#include <czmq.h>

#define S_ENDPOINT      "inproc://zeromq.zap.01"
#define S_TICK_MS       500         //  folder change check
#define S_FULL_MS       4000        //  full reread
#define S_WARN_MS       1000        //  one refusal line per this

typedef struct {
    kvp_allow_t *clients;
    kvp_allow_t *workers;
    const char *logid;
    zsock_t *handler;           /* REP on S_ENDPOINT */
    int64_t full_at;            /* next full reread */
    kvp_log_limit_t refusals;   /* one line a second */
} s_state_t;

struct _kvp_zap_t {
    zactor_t *actor;
    s_state_t *state;           /* the thread's; ours once it is gone */
};

//  --- one request ----------------------------------------------------------

//  Append a ZMTP property (name length byte, name, 4-byte length, value).
static size_t
s_property (uint8_t *out, const char *name, const char *value)
{
    size_t nlen = strlen (name), vlen = strlen (value);
    out [0] = (uint8_t) nlen;
    memcpy (out + 1, name, nlen);
    uint8_t *at = out + 1 + nlen;
    at [0] = (uint8_t) (vlen >> 24);
    at [1] = (uint8_t) (vlen >> 16);
    at [2] = (uint8_t) (vlen >> 8);
    at [3] = (uint8_t) vlen;
    memcpy (at + 4, value, vlen);
    return 1 + nlen + 4 + vlen;
}

static void
s_refused (s_state_t *self, const char *domain, const char *address,
           const char *key, const char *why)
{
    uint64_t held;
    if (kvp_log_limit (&self->refusals, S_WARN_MS, &held))
        zsys_warning ("%s: refused a connection from %s to %s (key %s): %s "
                      "(%llu more refused since the last such line)",
                      self->logid, address, domain, key, why,
                      (unsigned long long) held);
}

static void
s_reply (zsock_t *handler, zframe_t **id_p, bool ok, const char *user,
         const uint8_t *meta, size_t meta_size)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_append (reply, id_p);
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "not let in");
    zmsg_addstr (reply, ok ? user : "");
    zmsg_addmem (reply, meta, meta_size);
    zmsg_send (&reply, handler);
}

//  The allow list of a domain, or NULL.
static kvp_allow_t *
s_list (s_state_t *self, const char *domain)
{
    if (streq (domain, KVP_CURVE_CLIENTS))
        return self->clients;
    if (streq (domain, KVP_CURVE_WORKERS))
        return self->workers;
    return NULL;
}

//  [version][request id][domain][address][identity][mechanism][key]
static void
s_handle (s_state_t *self, zmsg_t *request)
{
    char *version = zmsg_popstr (request);
    zframe_t *id = zmsg_pop (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *identity = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credential = zmsg_pop (request);
    char key [41] = "";
    if (credential && zframe_size (credential) == 32)
        zmq_z85_encode (key, zframe_data (credential), 32);
    kvp_allow_t *list = domain ? s_list (self, domain) : NULL;
    const kvp_allow_peer_t *peer = NULL;
    const char *why = NULL;
    if (!version || !streq (version, "1.0") || !id)
        why = "malformed ZAP request";
    else
    if (!list || !mechanism || !streq (mechanism, "CURVE") || !*key)
        why = "not a CURVE client of a kvpbus endpoint";
    else
    if (!(peer = kvp_allow_lookup (list, key)))
        why = list == self->clients ? "not in --clients-allow"
                                    : "not in --workers-allow";
    uint8_t meta [256];
    size_t meta_size = 0;
    if (!why && list == self->clients)
        meta_size = s_property (meta, KVP_ZAP_ROLE,
                                kvp_role_name (peer->role));
    if (why)
        s_refused (self, domain ? domain : "?", address ? address : "?",
                   *key ? key : "none", why);
    if (id)
        s_reply (self->handler, &id, !why, peer ? peer->name : "", meta,
                 meta_size);
    zstr_free (&version);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&mechanism);
    zframe_destroy (&identity);
    zframe_destroy (&credential);
    zframe_destroy (&id);
}

//  --- the thread -----------------------------------------------------------

static void
s_refresh (s_state_t *self, bool force)
{
    int64_t now = zclock_mono ();
    if (now >= self->full_at) {
        force = true;
        self->full_at = now + S_FULL_MS;
    }
    bool clients = kvp_allow_refresh (self->clients, force);
    bool workers = kvp_allow_refresh (self->workers, force);
    if ((clients || workers) && !force)
        zsys_info ("%s: keys read again: %zu clients, %zu workers",
                   self->logid, kvp_allow_size (self->clients),
                   kvp_allow_size (self->workers));
}

static void
s_loop (s_state_t *self, zsock_t *pipe)
{
    zpoller_t *poller = zpoller_new (pipe, self->handler, NULL);
    zpoller_set_nonstop (poller, true);
    while (true) {
        void *which = zpoller_wait (poller, S_TICK_MS);
        if (which == self->handler) {
            zmsg_t *request = zmsg_recv (self->handler);
            if (request)
                s_handle (self, request);
            zmsg_destroy (&request);
        }
        else
        if (which == pipe) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            if (command && streq (command, "RELOAD"))
                s_refresh (self, true);
            zstr_free (&command);
            if (term)
                break;
        }
        else
        if (zpoller_terminated (poller))
            break;
        s_refresh (self, false);
    }
    zpoller_destroy (&poller);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    s_state_t *self = (s_state_t *) args;
    zsock_signal (pipe, 0);         //  zactor_new waits for this
    self->handler = zsock_new (ZMQ_REP);
    bool bound = self->handler
              && zsock_bind (self->handler, S_ENDPOINT) == 0;
    zstr_send (pipe, bound ? "OK" : "FAILED");
    if (bound) {
        self->full_at = zclock_mono () + S_FULL_MS;
        s_loop (self, pipe);
    }
    else {
        char *term = zstr_recv (pipe);  //  the creator's $TERM
        zstr_free (&term);
    }
    zsock_destroy (&self->handler);
}

kvp_zap_t *
kvp_zap_new (const char *clients_dir, const char *workers_dir,
             const char *logid, char *error, size_t size)
{
    kvp_zap_t *self = calloc (1, sizeof *self);
    s_state_t *state = calloc (1, sizeof *state);
    if (!self || !state) {
        free (self);
        free (state);
        snprintf (error, size, "out of memory");
        return NULL;
    }
    state->logid = logid;
    state->clients = kvp_allow_new (clients_dir, true, logid, error, size);
    state->workers = state->clients
                   ? kvp_allow_new (workers_dir, false, logid, error, size)
                   : NULL;
    if (state->workers) {
        zsys_notice ("%s: CURVE on; %zu client keys in %s, %zu worker keys "
                     "in %s", logid, kvp_allow_size (state->clients),
                     clients_dir, kvp_allow_size (state->workers),
                     workers_dir);
        self->actor = zactor_new (s_actor, state);
    }
    //  The actor says whether its handler could bind.
    char *status = self->actor ? zstr_recv (self->actor) : NULL;
    if (self->actor && (!status || !streq (status, "OK"))) {
        snprintf (error, size, "cannot bind the ZAP handler %s", S_ENDPOINT);
        zactor_destroy (&self->actor);
    }
    zstr_free (&status);
    if (!self->actor) {
        kvp_allow_destroy (&state->clients);
        kvp_allow_destroy (&state->workers);
        free (state);
        free (self);
        return NULL;
    }
    self->state = state;
    return self;
}

void
kvp_zap_destroy (kvp_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_zap_t *self = *self_p;
    zactor_destroy (&self->actor);
    kvp_allow_destroy (&self->state->clients);
    kvp_allow_destroy (&self->state->workers);
    free (self->state);
    free (self);
    *self_p = NULL;
}

void
kvp_zap_reload (kvp_zap_t *self)
{
    zstr_send (self->actor, "RELOAD");
}
