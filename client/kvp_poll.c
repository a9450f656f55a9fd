/*  kvp_poll.c - waiting for and reading whole messages. See kvp_poll.h. */

#include <errno.h>
#include "kvp_poll.h"

int64_t
kvp_poll_deadline (int timeout_ms)
{
    return timeout_ms < 0 ? KVP_POLL_FOREVER : zclock_mono () + timeout_ms;
}

int
kvp_poll_in (zsock_t *sock, int64_t deadline)
{
    long timeout = -1;
    if (deadline != KVP_POLL_FOREVER) {
        int64_t left = deadline - zclock_mono ();
        timeout = left > 0 ? (long) left : 0;
    }
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
    int rc = zmq_poll (&item, 1, timeout);
    if (rc < 0)
        return -1;
    return (item.revents & ZMQ_POLLIN) ? 1 : 0;
}

int
kvp_poll_recv (zsock_t *sock, zmq_msg_t *frames, int max)
{
    void *handle = zsock_resolve (sock);
    int count = 0;
    int more = 1;
    while (more) {
        zmq_msg_t spare;
        zmq_msg_t *frame = count < max ? &frames [count] : &spare;
        zmq_msg_init (frame);
        //  Only the first frame may be missing; the rest of a message
        //  arrives with it (ZeroMQ delivers messages atomically).
        if (zmq_msg_recv (frame, handle, count ? 0 : ZMQ_DONTWAIT) < 0) {
            int error = errno;
            zmq_msg_close (frame);
            kvp_poll_close (frames, count, max);
            return count == 0 && error == EAGAIN ? 0 : -1;
        }
        more = zmq_msg_more (frame);
        if (frame == &spare)
            zmq_msg_close (&spare);
        count++;
    }
    return count;
}

void
kvp_poll_close (zmq_msg_t *frames, int count, int max)
{
    for (int i = 0; i < count && i < max; i++)
        zmq_msg_close (&frames [i]);
}
