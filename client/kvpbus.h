/*  kvpbus.h - the kvpbus client library, libkvpbus: what a program that
    speaks KVP/1 to a kvpbus cluster includes.

        #include <kvpbus.h>
        cc app.c $(pkg-config --cflags --libs kvpbus)

    kvp_client.h   requests and replies over one connection (kvp_client_t,
                   kvp_reply_t), and the event subscriber (kvp_sub_t)
    kvp_feed.h     the gap-free subscriber: every job event once, in seq
                   order per partition (kvp_feed_t)
    kvp_merge.h    its ordering logic, without sockets (kvp_merge_t)
    kvp_pager.h    every item of a system, page by page (kvp_pager_t)
    kvp_curve.h    CURVE keys for a secured cluster (kvp_curve_t)

    The API uses CZMQ's zsock_t (a client's socket, for a zpoller) and
    msgpack-c (request bodies are packed with msgpack_packer, replies read
    as msgpack_object): kvpbus.pc requires both, and nothing else.
*/
#ifndef KVPBUS_H_INCLUDED
#define KVPBUS_H_INCLUDED

#include "kvp_client.h"
#include "kvp_feed.h"
#include "kvp_merge.h"
#include "kvp_pager.h"
#include "kvp_curve.h"

#endif
