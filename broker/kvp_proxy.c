/*  kvp_proxy.c - the XSUB -> XPUB event proxy as a zactor.
*/
#include "kvp_proxy.h"
#include "kvp_curve.h"
#include <czmq.h>
#include <errno.h>
#include <stdatomic.h>

#define S_BATCH 1024                //  messages per wake-up per direction

//  Counters the proxy thread writes (it alone) and others read.
typedef struct {
    _Atomic uint64_t forwarded;     //  events XPUB took
} s_counts_t;

struct _kvp_proxy_t {
    zactor_t *actor;
    s_counts_t counts;              //  the XSUB -> XPUB direction
};

//  What the actor needs; lives on the creator's stack until the actor has
//  said whether it started.
typedef struct {
    const char *events_in;
    const char *events;
    int64_t max_msg;
    int hwm;                        //  XPUB send high-water mark
    const kvp_curve_t *curve;       //  the broker's keys, or NULL
    kvp_conns_budget_t *budget;     //  subscribers count against it
    char logid [64];
    s_counts_t *counts;             //  in the kvp_proxy_t, which outlives
                                    //  the actor
} s_args_t;

//  Add to a counter that only this thread writes: a plain load and store
//  (no locked instruction), whole to any reader.
static void
s_add (_Atomic uint64_t *counter, uint64_t n)
{
    if (n)
        atomic_store_explicit (counter, atomic_load_explicit (
            counter, memory_order_relaxed) + n, memory_order_relaxed);
}

//  Move up to S_BATCH whole messages from `from` to `to` without copying.
//  A message the peer cannot take is dropped whole. `counts`, when not
//  NULL, counts the messages sent.
static void
s_forward (void *from, void *to, s_counts_t *counts)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    bool dropping = false;
    uint64_t dropped = 0;
    int count = 0;
    while (count < S_BATCH) {
        if (zmq_msg_recv (&msg, from, ZMQ_DONTWAIT) == -1)
            break;
        bool more = zmq_msg_more (&msg);
        if (!dropping
        &&  zmq_msg_send (&msg, to, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) == -1)
            dropping = true;        //  the rest of this message goes too
        if (!more) {
            dropped += dropping;
            dropping = false;
            count++;
        }
    }
    zmq_msg_close (&msg);
    if (counts)
        s_add (&counts->forwarded, (uint64_t) count - dropped);
}

//  A socket bound to `endpoint`, secured in `domain` when the broker is.
static zsock_t *
s_socket (int type, const char *endpoint, int64_t max_msg, int sndhwm,
          const s_args_t *args, const char *domain, char *error, size_t size)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        snprintf (error, size, "cannot create a socket");
        return NULL;
    }
    kvp_curve_server (args->curve, sock, domain);
    zsock_set_sndhwm (sock, sndhwm);
    zsock_set_rcvhwm (sock, KVP_PROXY_HWM);
    zsock_set_linger (sock, 0);
    zsock_set_maxmsgsize (sock, (int) max_msg);
    //  Each subscriber's kernel buffer fixed and small (set before the
    //  bind, it applies to every connection accepted): a stalled one
    //  fills it at once and then costs the I/O thread nothing, instead of
    //  taking megabytes of its writes first
    if (type == ZMQ_XPUB)
        zsock_set_sndbuf (sock, KVP_PROXY_SNDBUF);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        snprintf (error, size, "cannot bind %s: %s", endpoint,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

//  True when the pipe says $TERM (or the context is going away). A
//  signal interrupting the read is not a reason to stop: the broker stops
//  us itself, after its drain.
static bool
s_term (zsock_t *pipe)
{
    char *command = zstr_recv (pipe);
    bool term = command ? streq (command, "$TERM") : zmq_errno () == ETERM;
    zstr_free (&command);
    return term;
}

static void
s_loop (zsock_t *pipe, zsock_t *xsub, zsock_t *xpub, s_counts_t *counts,
        kvp_conns_t *conns)
{
    zpoller_t *poller = zpoller_new (pipe, xsub, xpub, NULL);
    void *watch = conns ? kvp_conns_handle (conns) : NULL;
    if (watch)
        zpoller_add (poller, watch);
    zpoller_set_nonstop (poller, true);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which && which == watch)
            kvp_conns_ready (conns);
        else
        if (which == xsub)
            s_forward (zsock_resolve (xsub), zsock_resolve (xpub), counts);
        else
        if (which == xpub)
            s_forward (zsock_resolve (xpub), zsock_resolve (xsub), NULL);
        else
        if (which == pipe && s_term (pipe))
            break;
        else
        if (!which && zmq_errno () == ETERM)
            break;                  //  the context is going away
    }
    zpoller_destroy (&poller);
}

static void
s_actor (zsock_t *pipe, void *argp)
{
    s_args_t *args = (s_args_t *) argp;
    char error [256] = "";
    zsock_signal (pipe, 0);
    //  XSUB capped like every network-facing socket; XPUB hears only
    //  subscriptions, a topic each
    zsock_t *xsub = s_socket (ZMQ_XSUB, args->events_in, args->max_msg,
                              KVP_PROXY_HWM, args, KVP_CURVE_WORKERS,
                              error, sizeof error);
    zsock_t *xpub = xsub ? s_socket (ZMQ_XPUB, args->events,
                                     KVP_PROXY_TOPIC_MAX, args->hwm,
                                     args, KVP_CURVE_CLIENTS,
                                     error, sizeof error) : NULL;
    if (xpub)
        zsys_info ("%s: events proxy %s -> %s", args->logid,
                   args->events_in, args->events);
    kvp_conns_t *conns = xpub ? kvp_conns_new (xpub, "events",
                                               args->budget, args->logid)
                              : NULL;
    //  After this the creator returns and `args` is gone.
    s_counts_t *counts = args->counts;
    zstr_send (pipe, xpub ? "" : error);
    if (xpub)
        s_loop (pipe, xsub, xpub, counts, conns);
    else
        while (!s_term (pipe))
            ;                       //  the creator sends $TERM next
    kvp_conns_destroy (&conns);
    zsock_destroy (&xsub);
    zsock_destroy (&xpub);
}

kvp_proxy_t *
kvp_proxy_new (const char *events_in, const char *events, int64_t max_msg,
               int hwm, const kvp_curve_t *curve,
               kvp_conns_budget_t *budget, const char *logid,
               char *error, size_t size)
{
    kvp_proxy_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    s_args_t args = { events_in, events, max_msg,
                      hwm > 0 ? hwm : KVP_PROXY_HWM, curve, budget, "",
                      &self->counts };
    snprintf (args.logid, sizeof args.logid, "%s", logid);
    self->actor = zactor_new (s_actor, &args);
    char *reply = self->actor ? zstr_recv (self->actor) : NULL;
    if (!reply || *reply) {
        snprintf (error, size, "%s", reply ? reply : "cannot start");
        kvp_proxy_destroy (&self);
    }
    zstr_free (&reply);
    return self;
}

uint64_t
kvp_proxy_forwarded (kvp_proxy_t *self)
{
    return atomic_load_explicit (&self->counts.forwarded,
                                 memory_order_relaxed);
}

void
kvp_proxy_destroy (kvp_proxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zactor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}
