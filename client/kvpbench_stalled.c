/*  kvpbench_stalled.c - --stalled-subscribers N: N subscribers to every
    job that never read, for the whole run, each with as little room to
    receive as the kernel allows, so that their queues fill in the broker
    at once. They show what stalled subscribers cost everyone else: run
    the same load with and without them (deploy/bench.sh does) and
    compare the latencies.
*/

#include "kvpbench.h"

struct _bench_stalled_t {
    zsock_t **subs;
    int count;
};

bench_stalled_t *
bench_stalled_new (const char *events, int count)
{
    bench_stalled_t *self = calloc (1, sizeof *self);
    if (!self || !(self->subs = calloc ((size_t) count, sizeof *self->subs))) {
        free (self);
        return NULL;
    }
    for (; self->count < count; self->count++) {
        zsock_t *sub = zsock_new (ZMQ_SUB);
        if (!sub)
            break;
        zsock_set_rcvhwm (sub, 1);
        zsock_set_rcvbuf (sub, 4096);
        zsock_set_linger (sub, 0);
        zsock_set_subscribe (sub, "job/");
        if (zsock_connect (sub, "%s", events) != 0) {
            zsock_destroy (&sub);
            break;
        }
        self->subs [self->count] = sub;
    }
    if (self->count < count) {
        fprintf (stderr, "kvpbench: only %d of %d stalled subscribers\n",
                 self->count, count);
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
    for (int i = 0; i < self->count; i++)
        zsock_destroy (&self->subs [i]);
    free (self->subs);
    free (self);
    *self_p = NULL;
}
