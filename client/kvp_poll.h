/*  kvp_poll.h - waiting for and reading whole messages, shared by the
    client and the subscriber.

    A receive is "wait until readable or the deadline", then "read one
    whole message without blocking", repeated until a message worth
    keeping arrives or time runs out. Deadlines are absolute times on
    zclock_mono (milliseconds), so retries inside one timeout never
    stretch it. Uses czmq/libzmq.
*/
#ifndef KVP_POLL_H_INCLUDED
#define KVP_POLL_H_INCLUDED

#include <stdint.h>
#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_POLL_FOREVER    (-1)    /* a deadline that never comes */

/*  The deadline `timeout_ms` from now, or KVP_POLL_FOREVER when
    `timeout_ms` is negative. */
int64_t
    kvp_poll_deadline (int timeout_ms);

/*  Wait until `sock` has input or `deadline` passes. Returns 1 when
    readable, 0 at the deadline, -1 when interrupted (EINTR, or the context
    is being terminated). */
int
    kvp_poll_in (zsock_t *sock, int64_t deadline);

/*  Read one whole message from `sock` without blocking. The first `max`
    frames are received into frames[] (initialised here; the caller closes
    the first min(result, max) of them with zmq_msg_close), the rest are
    read and discarded. Returns the number of frames, 0 if no message was
    waiting, -1 on error. */
int
    kvp_poll_recv (zsock_t *sock, zmq_msg_t *frames, int max);

/*  Close the first `count` frames (count may exceed max, as returned by
    kvp_poll_recv). */
void
    kvp_poll_close (zmq_msg_t *frames, int count, int max);

#ifdef __cplusplus
}
#endif
#endif
