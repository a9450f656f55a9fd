/*  kvp_zap.h - the broker's ZAP handler (ZeroMQ RFC 27): who may connect
    to a secured endpoint, and as whom (spec section 11).

    A thread bound to inproc://zeromq.zap.01 answers every CURVE handshake
    of the process's secured sockets. The ZAP domain says which folder
    decides: KVP_CURVE_CLIENTS looks the client's key up in --clients-allow,
    KVP_CURVE_WORKERS in --workers-allow. A key found is let in with ZAP
    User-Id = the certificate's name and, for clients, the metadata
    property "role"; every message from that connection then carries both
    (zframe_meta). Any other key, mechanism or domain is refused in the
    handshake, and the refusal is logged (at most a line a second, with a
    count of those not shown).

    CZMQ's zauth keeps one certificate store for every domain; two folders
    with different rights need a handler that reads the domain, hence this
    one.

    The folders are read again when they change (checked every 500 ms),
    fully every 4 s (a certificate edited in place), and at once on
    kvp_zap_reload (SIGHUP), so a removed key is shut out of new
    connections within 5 s. Uses czmq, kvp_allow.
*/
#ifndef KVP_ZAP_H_INCLUDED
#define KVP_ZAP_H_INCLUDED

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The metadata property that carries a client's role. */
#define KVP_ZAP_ROLE    "role"

typedef struct _kvp_zap_t kvp_zap_t;

/*  Read both folders and start answering. Returns NULL with the reason in
    `error` when a folder cannot be read or the handler cannot bind (one
    handler per process). `logid` must outlive the handler. */
kvp_zap_t *
    kvp_zap_new (const char *clients_dir, const char *workers_dir,
                 const char *logid, char *error, size_t size);

/*  Stop the thread; null the pointer; safe on NULL. */
void
    kvp_zap_destroy (kvp_zap_t **self_p);

/*  Read both folders again now. */
void
    kvp_zap_reload (kvp_zap_t *self);

#ifdef __cplusplus
}
#endif
#endif
