/*  kvp_conns.c - a bound socket's connections from its monitor (see
    kvp_conns.h).
*/
#include "kvp_conns.h"
#include "kvp_log.h"
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#define S_BATCH     256             //  monitor events read per call
#define S_LOG_MS    1000            //  one log line a second at most
#define S_EVENTS    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED \
                   | ZMQ_EVENT_ACCEPT_FAILED)

struct _kvp_conns_t {
    zsock_t *pair;                  //  reads the monitor's events
    void *watched;                  //  the socket watched (libzmq handle)
    kvp_conns_budget_t *budget;
    char role [32];                 //  for log lines
    char logid [64];
    char local [256];               //  its endpoint's address: port or path
    bool tcp;                       //  local is a port, not an ipc path
    uint64_t refused;
    uint64_t failed;
    kvp_log_limit_t limit;          //  one line a second
};

//  A warning, at most one a second (the others counted into the next).
static void
s_log (kvp_conns_t *self, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_log (kvp_conns_t *self, const char *format, ...)
{
    uint64_t held;
    if (!kvp_log_limit (&self->limit, S_LOG_MS, &held))
        return;
    char text [256];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    if (held)
        zsys_warning ("%s: %s: %s (and %llu more since the last line)",
                      self->logid, self->role, text,
                      (unsigned long long) held);
    else
        zsys_warning ("%s: %s: %s", self->logid, self->role, text);
}

//  The watched socket's port (tcp://HOST:PORT) or path (ipc://PATH).
static void
s_local (kvp_conns_t *self, zsock_t *sock)
{
    const char *endpoint = zsock_endpoint (sock);
    endpoint = endpoint ? endpoint : "";
    self->tcp = strncmp (endpoint, "tcp://", 6) == 0;
    const char *colon = strrchr (endpoint, ':');
    if (self->tcp && colon)
        snprintf (self->local, sizeof self->local, "%s", colon + 1);
    else
    if (strncmp (endpoint, "ipc://", 6) == 0)
        snprintf (self->local, sizeof self->local, "%s", endpoint + 6);
}

//  Is `fd` a connection accepted by the watched socket? (The monitor's
//  event may come after the connection closed and its number was
//  given to another.)
static bool
s_ours (kvp_conns_t *self, int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname (fd, (struct sockaddr *) &addr, &len) != 0)
        return false;
    char local [256] = "";
    if (addr.ss_family == AF_INET)
        snprintf (local, sizeof local, "%u",
                  ntohs (((struct sockaddr_in *) &addr)->sin_port));
    else
    if (addr.ss_family == AF_INET6)
        snprintf (local, sizeof local, "%u",
                  ntohs (((struct sockaddr_in6 *) &addr)->sin6_port));
    else
    if (addr.ss_family == AF_UNIX)
        snprintf (local, sizeof local, "%s",
                  ((struct sockaddr_un *) &addr)->sun_path);
    return *self->local && streq (local, self->local)
        && self->tcp == (addr.ss_family != AF_UNIX);
}

static void
s_accepted (kvp_conns_t *self, int fd)
{
    kvp_conns_budget_t *budget = self->budget;
    int64_t open = atomic_fetch_add (&budget->open, 1) + 1;
    if (!budget->cap || open <= budget->cap || !s_ours (self, fd))
        return;
    //  Not closed: the descriptor is libzmq's, which closes it on seeing
    //  the connection end (a disconnection then counts it out)
    shutdown (fd, SHUT_RDWR);
    self->refused++;
    s_log (self, "refused a connection: %lld open, the most the open-file "
           "limit leaves for them (--clients-max %lld)", (long long) open,
           (long long) budget->cap);
}

static void
s_event (kvp_conns_t *self, uint16_t event, uint32_t value)
{
    if (event == ZMQ_EVENT_ACCEPTED)
        s_accepted (self, (int) value);
    else
    if (event == ZMQ_EVENT_DISCONNECTED) {
        atomic_fetch_sub (&self->budget->open, 1);
        atomic_fetch_add (&self->budget->closed, 1);
    }
    else
    if (event == ZMQ_EVENT_ACCEPT_FAILED) {
        self->failed++;
        s_log (self, "cannot accept a connection: %s",
               strerror ((int) value));
    }
}

//  One event: [event u16, value u32][endpoint]. False when none waits.
static bool
s_read_one (kvp_conns_t *self)
{
    void *pair = zsock_resolve (self->pair);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, pair, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&frame);
        return false;
    }
    if (zmq_msg_size (&frame) == 6) {
        uint16_t event;
        uint32_t value;
        memcpy (&event, zmq_msg_data (&frame), sizeof event);
        memcpy (&value, (uint8_t *) zmq_msg_data (&frame) + 2, sizeof value);
        s_event (self, event, value);
    }
    //  The endpoint frame (or any other) after it, discarded
    while (zmq_msg_more (&frame) && zmq_msg_recv (&frame, pair, 0) != -1)
        ;
    zmq_msg_close (&frame);
    return true;
}

void
kvp_conns_ready (kvp_conns_t *self)
{
    for (int count = 0; count < S_BATCH && s_read_one (self); count++)
        ;
}

kvp_conns_t *
kvp_conns_new (zsock_t *sock, const char *role, kvp_conns_budget_t *budget,
               const char *logid)
{
    kvp_conns_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->budget = budget;
    self->watched = zsock_resolve (sock);
    snprintf (self->role, sizeof self->role, "%s", role);
    snprintf (self->logid, sizeof self->logid, "%s", logid);
    s_local (self, sock);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://kvp-conns-%p",
              (void *) self);
    self->pair = zsock_new (ZMQ_PAIR);
    if (!self->pair
    ||  zmq_socket_monitor (self->watched, endpoint, S_EVENTS) != 0
    ||  zsock_connect (self->pair, "%s", endpoint) != 0) {
        kvp_conns_destroy (&self);
        return NULL;
    }
    return self;
}

void
kvp_conns_destroy (kvp_conns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_conns_t *self = *self_p;
    if (self->pair)
        zmq_socket_monitor (self->watched, NULL, 0);
    zsock_destroy (&self->pair);
    free (self);
    *self_p = NULL;
}

void *
kvp_conns_handle (kvp_conns_t *self)
{
    return zsock_resolve (self->pair);
}

uint64_t
kvp_conns_refused (kvp_conns_t *self)
{
    return self->refused;
}

uint64_t
kvp_conns_failed (kvp_conns_t *self)
{
    return self->failed;
}
