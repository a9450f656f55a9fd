/*  kvp_broker.c - the broker's lifecycle and reactor: sockets, the poll
    loop, deadlines and the drain at stop. The two sides live in
    kvp_clients.c and kvp_workers.c, the helpers they share in kvp_bio.c.
*/
#include "kvp_broker_priv.h"
#include "kvp_clients.h"
#include "kvp_workers.h"
#include "kvp_replicas.h"
#include "kvp_bio.h"
#include "kvp_dir.h"
#include "kvp_notify.h"
#include "kvp_idkey.h"
#include "kvp_fdlimit.h"
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#define S_CLIENT_SNDHWM 64          //  replies ZeroMQ queues per client
                                    //  (more wait in self->peers, in bytes)
#define S_CLIENT_RCVHWM 256         //  requests it reads ahead per client
#define S_WORKER_SLACK  1024        //  a worker's queue: --queue-limit
                                    //  requests and this many commands
#define S_LINGER_MS     2000        //  flush the last replies at exit
#define S_METRICS_MS    500         //  metrics snapshot period
#define S_FD_RESERVE    64          //  descriptors no client may take
                                    //  (workers, files, the metrics)

//  --- construction --------------------------------------------------------

//  SIGHUP: read the key folders again (kvp_broker_run passes it on).
static volatile sig_atomic_t s_hangup;

static void
s_on_hangup (int signum)
{
    s_hangup = 1;
}

//  A ROUTER bound to `endpoint` (secured in the ZAP `domain` when CURVE is
//  on) queueing `sndhwm` messages to a peer and reading `rcvhwm` ahead, or
//  NULL (reason logged). Mandatory routing: a send to a full or gone peer
//  fails (EAGAIN, EHOSTUNREACH) rather than vanish, and never waits.
static zsock_t *
s_router (kvp_broker_t *self, const char *role, const char *endpoint,
          const char *domain, int sndhwm, int rcvhwm)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (!sock)
        return NULL;
    kvp_curve_server (self->curve, sock, domain);
    zsock_set_maxmsgsize (sock, (int) self->config.max_msg);
    zsock_set_sndhwm (sock, sndhwm);
    zsock_set_rcvhwm (sock, rcvhwm);
    zsock_set_router_mandatory (sock, 1);
    zsock_set_sndtimeo (sock, 0);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        zsys_error ("%s: cannot bind the %s endpoint %s: %s", self->logid,
                    role, endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

//  Why the registry refused our N, R and M: " (it was made with ...)",
//  read by opening it with the shape it holds, into `text`.
static void
s_registry_shape (kvp_broker_t *self, char *text, size_t size)
{
    const kvp_bconfig_t *config = &self->config;
    int rc = 0;
    kvp_registry_t *registry = kvp_registry_new_replicated (config->data,
                                                            0, 0, 0, &rc);
    if (!registry) {
        snprintf (text, size, " (it was made with another --partitions, "
                  "--replicas or --min-insync)");
        return;
    }
    const kvp_regstate_t *state = kvp_registry_state (registry);
    snprintf (text, size, " (it was made with --partitions %u --replicas %u "
              "--min-insync %u, not --partitions %llu --replicas %llu "
              "--min-insync %llu)", kvp_registry_partitions (registry),
              kvp_regstate_replicas (state), kvp_regstate_min_insync (state),
              (unsigned long long) config->partitions,
              (unsigned long long) config->replicas,
              (unsigned long long) config->min_insync);
    kvp_registry_destroy (&registry);
}

static bool
s_open_registry (kvp_broker_t *self, int *exit_code)
{
    int rc = 0;
    //  The registry makes its own folder; the parents are ours to make.
    int err = kvp_dir_make (self->config.data);
    if (err) {
        zsys_error ("%s: cannot create %s: %s", self->logid,
                    self->config.data, strerror (err));
        return false;
    }
    const kvp_bconfig_t *config = &self->config;
    self->registry = kvp_registry_new_replicated (
        config->data, (uint32_t) config->partitions,
        (unsigned) config->replicas, (unsigned) config->min_insync, &rc);
    if (!self->registry) {
        *exit_code = rc == KVP_STORE_MISMATCH ? 2 : 1;
        char made [160] = "";
        if (rc == KVP_STORE_MISMATCH)
            s_registry_shape (self, made, sizeof made);
        zsys_error ("%s: cannot open the registry in %s: %s%s", self->logid,
                    config->data, kvp_store_strerror (rc), made);
        return false;
    }
    self->nparts = kvp_registry_partitions (self->registry);
    self->owners = kvp_owners_new (self->registry);
    return self->owners != NULL && kvp_replicas_init (self);
}

static bool
s_open_sockets (kvp_broker_t *self)
{
    const kvp_bconfig_t *config = &self->config;
    self->clients = s_router (self, "clients", config->clients,
                              KVP_CURVE_CLIENTS, S_CLIENT_SNDHWM,
                              S_CLIENT_RCVHWM);
    self->workers = self->clients
                  ? s_router (self, "workers", config->workers,
                              KVP_CURVE_WORKERS,
                              (int) config->queue_limit + S_WORKER_SLACK,
                              (int) config->queue_limit + S_WORKER_SLACK)
                  : NULL;
    if (!self->workers)
        return false;
    zsock_set_linger (self->clients, S_LINGER_MS);
    self->clients_h = zsock_resolve (self->clients);
    self->workers_h = zsock_resolve (self->workers);
    self->clients_conns = kvp_conns_new (self->clients, "clients",
                                         &self->budget, self->logid);
    self->workers_conns = kvp_conns_new (self->workers, "workers",
                                         &self->workers_budget, self->logid);
    if (!self->clients_conns || !self->workers_conns) {
        zsys_error ("%s: cannot monitor the sockets", self->logid);
        return false;
    }
    char error [256];
    self->events = kvp_proxy_new (config->events_in, config->events,
                                  (int64_t) config->max_msg,
                                  (int) config->events_hwm, self->curve,
                                  &self->budget,
                                  self->logid, error, sizeof error);
    if (!self->events)
        zsys_error ("%s: %s", self->logid, error);
    return self->events != NULL;
}

//  Raise the open-file limit to the hard limit, and keep clients and
//  subscribers S_FD_RESERVE descriptors under it (or at --clients-max).
static void
s_limit_clients (kvp_broker_t *self)
{
    kvp_fdlimit_t limit;
    kvp_fdlimit_raise (&limit);
    char text [160];
    kvp_fdlimit_describe (&limit, text, sizeof text);
    int64_t cap = (int64_t) self->config.clients_max;
    if (!cap) {
        cap = (int64_t) limit.soft - (int64_t) kvp_fdlimit_open ()
            - S_FD_RESERVE;
        cap = cap > 1 ? cap : 1;
    }
    self->budget.cap = cap;
    zsys_notice ("%s: %s; at most %lld client and subscriber connections",
                 self->logid, text, (long long) cap);
}

static bool
s_make_tables (kvp_broker_t *self)
{
    self->inflight = kvp_inflight_new ();
    self->peers = kvp_peers_new (self->config.client_inflight,
                                 self->config.client_queue,
                                 kvp_bio_send_client, self);
    self->request = kvp_request_new ();
    self->sessions = zhashx_new ();
    self->scratch = calloc (self->nparts, sizeof *self->scratch);
    self->trim = kvp_trim_new ();
    if (!self->inflight || !self->peers || !self->request || !self->sessions
    ||  !self->scratch || !self->trim)
        return false;
    kvp_idkey_table (self->sessions);
    zhashx_set_destructor (self->sessions,
                           (zhashx_destructor_fn *) kvp_session_destroy);
    msgpack_sbuffer_init (&self->buf);
    return true;
}

//  Protected mode (spec section 11): without CURVE, only loopback binds
//  unless --insecure.
static bool
s_check_protected (kvp_broker_t *self)
{
    const kvp_bconfig_t *config = &self->config;
    const char *endpoints [] = { config->clients, config->workers,
                                 config->events_in, config->events };
    for (size_t i = 0; i < sizeof endpoints / sizeof *endpoints; i++)
        if (!kvp_curve_is_loopback (endpoints [i]) && !config->insecure) {
            zsys_error ("%s: refusing to bind %s without --curve-secret "
                        "(protected mode): give the broker keys, or "
                        "--insecure to serve anyone who can reach it",
                        self->logid, endpoints [i]);
            return false;
        }
    return true;
}

//  --curve-secret: the broker's keys and the ZAP handler, before any
//  socket binds (a secured socket without its handler would let anyone
//  in). Every failure here is the configuration's: exit 2.
static bool
s_open_security (kvp_broker_t *self)
{
    const kvp_bconfig_t *config = &self->config;
    char error [512];
    if (!config->curve_secret) {
        if (config->clients_allow || config->workers_allow) {
            zsys_error ("%s: --clients-allow and --workers-allow need "
                        "--curve-secret", self->logid);
            return false;
        }
        return s_check_protected (self);
    }
    if (!config->clients_allow || !config->workers_allow) {
        zsys_error ("%s: --curve-secret needs --clients-allow and "
                    "--workers-allow", self->logid);
        return false;
    }
    self->curve = kvp_curve_load (config->curve_secret, NULL, error,
                                  sizeof error);
    if (self->curve)
        self->zap = kvp_zap_new (config->clients_allow, config->workers_allow,
                                 self->logid, error, sizeof error);
    if (!self->zap) {
        zsys_error ("%s: %s", self->logid, error);
        return false;
    }
    signal (SIGHUP, s_on_hangup);
    return true;
}

//  --metrics: the endpoint, if asked for.
static bool
s_open_metrics (kvp_broker_t *self)
{
    char error [256];
    if (!self->config.metrics)
        return true;
    self->metrics = kvp_bmetrics_new (self->config.metrics, error,
                                      sizeof error);
    if (!self->metrics) {
        zsys_error ("%s: %s", self->logid, error);
        return false;
    }
    zsys_notice ("%s: metrics at http://%s/metrics", self->logid,
                 self->config.metrics);
    return true;
}

kvp_broker_t *
kvp_broker_new (const kvp_bconfig_t *config, int *exit_code)
{
    *exit_code = 1;
    kvp_broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = *config;
    snprintf (self->logid, sizeof self->logid, "kvp-broker[%d]",
              (int) getpid ());
    self->silence_ms = (int64_t) (config->liveness * config->heartbeat_ms);
    if (!s_open_security (self)) {
        *exit_code = 2;
        kvp_broker_destroy (&self);
        return NULL;
    }
    s_limit_clients (self);
    if (!s_open_registry (self, exit_code)
    ||  !s_make_tables (self)
    ||  !s_open_sockets (self)
    ||  !s_open_metrics (self)) {
        kvp_broker_destroy (&self);
        return NULL;
    }
    zsys_notice ("%s: clients %s, workers %s, events-in %s, events %s; "
                 "%u partitions, registry %s; %llu copies each, %llu in "
                 "sync", self->logid, config->clients, config->workers,
                 config->events_in, config->events, self->nparts,
                 config->data, (unsigned long long) config->replicas,
                 (unsigned long long) config->min_insync);
    *exit_code = 0;
    return self;
}

void
kvp_broker_destroy (kvp_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_broker_t *self = *self_p;
    *self_p = NULL;
    kvp_bmetrics_destroy (&self->metrics);
    kvp_trim_destroy (&self->trim);
    kvp_proxy_destroy (&self->events);
    //  Entries still in flight hold client frames; the table frees them.
    kvp_inflight_destroy (&self->inflight);
    kvp_peers_destroy (&self->peers);
    kvp_broker_workers_clear (self);
    zhashx_destroy (&self->sessions);
    kvp_conns_destroy (&self->clients_conns);
    kvp_conns_destroy (&self->workers_conns);
    zsock_destroy (&self->clients);
    zsock_destroy (&self->workers);
    kvp_zap_destroy (&self->zap);
    kvp_curve_destroy (&self->curve);
    kvp_replicas_destroy (self);
    kvp_owners_destroy (&self->owners);
    kvp_registry_destroy (&self->registry);
    kvp_request_destroy (&self->request);
    msgpack_sbuffer_destroy (&self->buf);
    free (self->reg.partitions);
    free (self->scratch);
    free (self->offsets);
    free (self);
}

//  --- the reactor ---------------------------------------------------------

//  Answer 32772 to every request past its deadline.
static void
s_expire_deadlines (kvp_broker_t *self)
{
    kvp_flight_t *entry;
    while ((entry = kvp_inflight_expire (self->inflight, self->now))) {
        self->timeouts++;
        kvp_bio_reply (self, &entry->client, &entry->rid, KVP_RC_TIMEOUT,
                       "no answer from worker %s within %llu ms",
                       kvp_session_name (entry->worker),
                       (unsigned long long) self->config.deadline_ms);
        kvp_broker_flight_done (self, entry);
        kvp_inflight_release (self->inflight, &entry);
    }
}

//  Milliseconds until the next timer (heartbeat tick or deadline).
static long
s_timeout (kvp_broker_t *self)
{
    int64_t next = self->heartbeat_at;
    int64_t deadline = kvp_inflight_next_deadline (self->inflight);
    if (deadline >= 0 && deadline < next)
        next = deadline;
    if (self->metrics && self->metrics_at < next)
        next = self->metrics_at;
    if (kvp_notify_due () < next)
        next = kvp_notify_due ();
    int64_t retry = kvp_peers_next (self->peers);
    if (retry >= 0 && retry < next)
        next = retry;
    return next > self->now ? (long) (next - self->now) : 0;
}

//  The metrics snapshot: the counters, and each worker as it is now.
static void
s_publish_metrics (kvp_broker_t *self)
{
    kvp_bmetrics_begin (self->metrics);
    size_t count = kvp_owners_workers (self->owners);
    for (size_t i = 0; i < count; i++) {
        bool alive;
        const char *name = kvp_owners_worker (self->owners, i, &alive);
        kvp_session_t *session = kvp_owners_session (self->owners, name);
        kvp_bmetrics_worker (self->metrics, name, alive,
                             session ? kvp_session_inflight (session) : 0,
                             kvp_owners_count (self->owners, name));
    }
    kvp_bmetrics_totals_t totals = { .timeouts = self->timeouts,
        .lost = self->lost, .partitions = self->nparts };
    totals.events = kvp_proxy_forwarded (self->events);
    kvp_replicas_totals (self, &totals);
    kvp_bmetrics_publish (self->metrics, &totals);
    self->metrics_at = self->now + S_METRICS_MS;
}

//  Peers gone since the last look: the memory they held goes back to the
//  system (kvp_trim)
static void
s_trim (kvp_broker_t *self)
{
    uint64_t gone = atomic_load (&self->budget.closed)
                  + kvp_peers_gone (self->peers);
    if (gone != self->trimmed)
        kvp_trim_ask (self->trim);
    self->trimmed = gone;
}

static void
s_timers (kvp_broker_t *self)
{
    kvp_notify_alive (self->now);
    if (self->metrics && self->now >= self->metrics_at)
        s_publish_metrics (self);
    if (self->now >= self->heartbeat_at) {
        kvp_broker_workers_tick (self);
        self->heartbeat_at = self->now + (int64_t) self->config.heartbeat_ms;
    }
    s_expire_deadlines (self);
    //  Replies that waited for their clients, then what those clients
    //  sent meanwhile (not while stopping: no more requests then)
    kvp_peers_pump (self->peers, self->now,
                    self->draining ? 0 : KVP_BIO_BATCH,
                    kvp_broker_clients_serve, self);
    s_trim (self);
}

//  On the first interrupt: stop reading clients, keep serving workers.
static void
s_check_interrupt (kvp_broker_t *self)
{
    if (s_hangup && self->zap) {
        s_hangup = 0;
        zsys_notice ("%s: SIGHUP: reading the key folders again",
                     self->logid);
        kvp_zap_reload (self->zap);
    }
    if (zsys_interrupted && !self->draining) {
        self->draining = true;
        kvp_notify_stopping ();
        self->drain_until = self->now + (int64_t) self->config.deadline_ms
                          + S_LINGER_MS;
        zsys_notice ("%s: stopping; %zu requests in flight", self->logid,
                     kvp_inflight_size (self->inflight));
    }
}

//  Stopped: nothing in flight, and no reply waiting for a client (or no
//  more time for them).
static bool
s_drained (kvp_broker_t *self)
{
    return self->draining && kvp_inflight_size (self->inflight) == 0
        && (kvp_peers_replies (self->peers) == 0
            || self->now >= self->drain_until);
}

int
kvp_broker_run (kvp_broker_t *self)
{
    self->now = zclock_mono ();
    self->heartbeat_at = self->now;
    kvp_notify_ready ("routing %u partitions; clients %s", self->nparts,
                      self->config.clients);
    //  Workers first: their replies free in-flight room for clients.
    //  Workers first: their replies free in-flight room for clients. The
    //  clients' socket last: no more of it while stopping.
    zmq_pollitem_t items [] = {
        { self->workers_h, 0, ZMQ_POLLIN, 0 },
        { kvp_conns_handle (self->workers_conns), 0, ZMQ_POLLIN, 0 },
        { kvp_conns_handle (self->clients_conns), 0, ZMQ_POLLIN, 0 },
        { self->clients_h, 0, ZMQ_POLLIN, 0 },
    };
    while (true) {
        s_check_interrupt (self);
        if (s_drained (self))
            break;
        int nitems = self->draining ? 3 : 4;
        int rc = zmq_poll (items, nitems, s_timeout (self));
        if (rc == -1 && errno != EINTR)
            break;                  //  the context is gone
        self->now = zclock_mono ();
        if (rc > 0 && (items [0].revents & ZMQ_POLLIN))
            kvp_broker_workers_ready (self);
        if (rc > 0 && (items [1].revents & ZMQ_POLLIN))
            kvp_conns_ready (self->workers_conns);
        if (rc > 0 && (items [2].revents & ZMQ_POLLIN))
            kvp_conns_ready (self->clients_conns);
        if (rc > 0 && nitems > 3 && (items [3].revents & ZMQ_POLLIN))
            kvp_broker_clients_ready (self);
        s_timers (self);
    }
    zsys_notice ("%s: stopped; %llu routed (%llu on the light scan), "
                 "%llu answered, %llu timed out, %llu lost with their worker",
                 self->logid, (unsigned long long) self->routed,
                 (unsigned long long) self->light,
                 (unsigned long long) self->answered,
                 (unsigned long long) self->timeouts,
                 (unsigned long long) self->lost);
    return 0;
}
