/*  kvp_conns.h - the peer connections of one bound socket, from its
    ZeroMQ monitor: how many are open, the accepts that failed, and a cap
    on them shared by several sockets (of several threads).

    Why a cap: libzmq accepts every connection its listener is offered,
    and when the process is out of file descriptors the accept fails and
    is tried again at once, for as long as the connection waits: a busy
    loop, and no descriptor left for anything else, the workers' socket
    included. So the broker keeps the connections of clients and
    subscribers under a cap below its open-file limit: a connection
    accepted past the cap is shut down at once (libzmq sees it close and
    gives its descriptor back), and the descriptors left over are the
    workers'. A client refused so connects again later, as ZeroMQ does;
    it is served once others have gone.

    Every refusal and failed accept is logged, at most one line a second
    per socket (with the count of those not shown). Each kvp_conns_t is
    read by one thread (kvp_conns_ready); the budget it shares is atomic.
*/
#ifndef KVP_CONNS_H_INCLUDED
#define KVP_CONNS_H_INCLUDED

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Connections open on the sockets that share it, and their cap. */
typedef struct {
    _Atomic int64_t open;       /* accepted and not yet disconnected */
    int64_t cap;                /* at most this many open; 0: no cap */
    _Atomic uint64_t closed;    /* disconnected, ever: peers gone */
} kvp_conns_budget_t;

typedef struct _kvp_conns_t kvp_conns_t;

/*  Watch `sock` (bound; borrowed, must outlive the watch) under `budget`
    (borrowed; shared, may be used by other threads' watches). `role`
    names the socket in log lines, after `logid` (both copied). NULL when
    the monitor cannot be made. */
kvp_conns_t *
    kvp_conns_new (zsock_t *sock, const char *role,
                   kvp_conns_budget_t *budget, const char *logid);

/*  Stop watching and free; null the pointer. Safe on NULL. */
void
    kvp_conns_destroy (kvp_conns_t **self_p);

/*  The monitor's socket (a libzmq handle) to poll for input. */
void *
    kvp_conns_handle (kvp_conns_t *self);

/*  Read the monitor's events waiting (at most a batch): count accepts
    and disconnections, shut down what is over the cap, log refusals and
    failed accepts. Never blocks. */
void
    kvp_conns_ready (kvp_conns_t *self);

/*  Connections this socket refused (over the cap), and accepts that
    failed, since it was made. */
uint64_t
    kvp_conns_refused (kvp_conns_t *self);
uint64_t
    kvp_conns_failed (kvp_conns_t *self);

#ifdef __cplusplus
}
#endif
#endif
