/*  kvp_fakeworker.h - a fake worker for tests that drive the real broker.

    A fw_t is a DEALER connected to a cluster's workers endpoint that speaks
    the broker/worker wire (proto/kvp_wire.h) by hand: REGISTER, HEARTBEAT,
    then REQUEST in and REPLY out, so a test decides every message. Waits
    poll with a bound; a wire violation fails the running Check test.
*/
#ifndef KVP_FAKEWORKER_H_INCLUDED
#define KVP_FAKEWORKER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "kvp_guid.h"
#include "kvp_request.h"
#include "kvp_wire.h"
#include "kvp_testkit.h"

typedef struct {
    zsock_t *sock;                  /* DEALER to the broker's workers_ep */
    char id [32];                   /* worker id sent in REGISTER */
    char token [32];                /* data token sent in REGISTER */
    kvp_request_t *request;         /* to echo the rid of requests */
} fw_t;

/*  A REQUEST as the worker sees it (command popped). */
typedef struct {
    zmsg_t *msg;                    /* tag, part, guid, body frames; owned */
    uint64_t tag;                   /* the broker's tag, echoed in REPLY */
    uint32_t part;                  /* partition the broker routed by */
    char guid [KVP_GUID_LEN + 1];   /* routing GUID, "" when none */
} fw_request_t;

/*  A REGISTER body for `id`/`token` at the current wire version, claiming
    `count` partitions from `parts` (borrowed, not copied) of `nparts`
    (0: no opinion). */
kvp_register_t fw_reg (const char *id, const char *token, uint32_t nparts,
                       uint32_t *parts, size_t count);

/*  A fake worker connected to the cluster's workers endpoint; nothing is
    sent yet. Free with fw_destroy (safe twice, nulls the pointer). */
fw_t *fw_new (tk_cluster_t *cluster, const char *id, const char *token);
void fw_destroy (fw_t **self_p);

/*  Send REGISTER (see fw_reg) without waiting for the answer. */
void fw_send_register (fw_t *self, uint32_t nparts, uint32_t *parts,
                       size_t count);
/*  Send one HEARTBEAT. */
void fw_heartbeat (fw_t *self);

/*  The next message other than HEARTBEAT, or NULL after timeout_ms. With
    `beat`, heartbeat while waiting. The caller owns the message. */
zmsg_t *fw_recv (fw_t *self, int timeout_ms, bool beat);
/*  The next message (within 5 s) must be `command`; returns the rest of it
    (command popped), owned by the caller. */
zmsg_t *fw_expect (fw_t *self, const char *command, bool beat);
/*  The partitions of a WELCOME or ASSIGN (command already popped) into
    `out` (at most `max`); the partition count into *nparts if not NULL.
    Returns how many. */
size_t fw_partitions (zmsg_t *msg, uint32_t *out, size_t max,
                      uint32_t *nparts);
/*  REGISTER and expect WELCOME; returns the partitions it lists, in `out`. */
size_t fw_register (fw_t *self, uint32_t nparts, uint32_t *claims,
                    size_t nclaims, uint32_t *out, size_t max);
/*  Expect REFUSE (after a REGISTER) and copy its text into `error`. */
void fw_expect_refuse (fw_t *self, char *error, size_t size);

/*  Expect a REQUEST and check its frame shapes; the caller owns req.msg
    (fw_answer frees it, or zmsg_destroy). */
fw_request_t fw_take_request (fw_t *self, bool beat);
/*  Answer a request with REPLY {rid, rc}, the rid echoed from its body;
    frees req->msg. */
void fw_answer (fw_t *self, fw_request_t *req, unsigned rc);

#endif
