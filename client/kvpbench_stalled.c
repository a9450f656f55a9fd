/*  kvpbench_stalled.c - --stalled-subscribers N: N subscribers to every
    job that never read, for the whole run, each with as little room to
    receive as the kernel allows, so that their queues fill in the broker
    at once. They show what stalled subscribers cost everyone else: run
    the same load with and without them (deploy/bench.sh does) and
    compare the latencies.

    They live in a child process of their own, with a ZeroMQ context of
    its own, so that the load generator's I/O thread and CPU are the same
    with and without them: what changes is the broker's side alone.
*/

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "kvpbench.h"

#define READY_WAIT_MS   10000   /* for the child to have its sockets */

struct _bench_stalled_t {
    pid_t child;
};

//  One stalled subscriber in `ctx`, or NULL.
static void *
s_subscriber (void *ctx, const char *events)
{
    void *sub = zmq_socket (ctx, ZMQ_SUB);
    int one = 1, small = 4096, zero = 0;
    if (sub
    && (zmq_setsockopt (sub, ZMQ_RCVHWM, &one, sizeof one)
    ||  zmq_setsockopt (sub, ZMQ_RCVBUF, &small, sizeof small)
    ||  zmq_setsockopt (sub, ZMQ_LINGER, &zero, sizeof zero)
    ||  zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "job/", 4)
    ||  zmq_connect (sub, events))) {
        zmq_close (sub);
        sub = NULL;
    }
    return sub;
}

//  The child: its own context (never the parent's, which a fork copies
//  in a state of no use), the sockets, a byte to say how many, then
//  nothing until it is killed (or its parent ends).
static void
s_child (int ready, const char *events, int count)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    void *ctx = zmq_ctx_new ();
    if (ctx)
        zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, count + 16);
    int made = 0;
    while (ctx && made < count && s_subscriber (ctx, events))
        made++;
    ssize_t sent = write (ready, &made, sizeof made);
    close (ready);
    if (sent != (ssize_t) sizeof made || made < count)
        _exit (1);
    while (true)
        pause ();
}

//  How many sockets the child made, or -1 when it says nothing in time.
static int
s_wait_ready (int ready)
{
    zmq_pollitem_t item = { NULL, ready, ZMQ_POLLIN, 0 };
    int made = -1;
    if (zmq_poll (&item, 1, READY_WAIT_MS) == 1
    &&  read (ready, &made, sizeof made) != (ssize_t) sizeof made)
        made = -1;
    return made;
}

bench_stalled_t *
bench_stalled_new (const char *events, int count)
{
    bench_stalled_t *self = calloc (1, sizeof *self);
    int fds [2];
    if (!self || pipe (fds) != 0) {
        free (self);
        return NULL;
    }
    self->child = fork ();
    if (self->child == 0) {
        close (fds [0]);
        s_child (fds [1], events, count);
    }
    close (fds [1]);
    int made = self->child > 0 ? s_wait_ready (fds [0]) : -1;
    close (fds [0]);
    if (made < count) {
        fprintf (stderr, "kvpbench: only %d of %d stalled subscribers\n",
                 made < 0 ? 0 : made, count);
        bench_stalled_destroy (&self);
    }
    return self;
}

void
bench_stalled_destroy (bench_stalled_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_stalled_t *self = *self_p;
    if (self->child > 0) {
        kill (self->child, SIGKILL);
        waitpid (self->child, NULL, 0);
    }
    free (self);
    *self_p = NULL;
}
