/*  kvp_curve.h - CURVE keys for the cluster's sockets (spec section 11).

    A key is a CZMQ certificate in its ZPL text form: a public file with
    `curve public-key` (Z85) and a `metadata` section (`name`, `role`), and
    beside it `<public file>_secret`, which also holds `curve secret-key`.

    A kvp_curve_t holds one process's own certificate (loaded from its
    secret file) and, for a client of the broker, the broker's public key.
    Every function taking a kvp_curve_t accepts NULL for "security off", so
    callers pass what they were given without testing it:

        kvp_curve_t *curve = kvp_curve_load (secret, broker_public,
                                             error, sizeof error);
        zsock_t *sock = zsock_new (ZMQ_DEALER);
        kvp_curve_client (curve, sock);     //  before zsock_connect
        zsock_connect (sock, "%s", endpoint);

    A secret file with any permission bit for group or others is refused
    (as ssh refuses such keys): the caller exits 2 with the reason.

    Also: the ZAP domains of the two kinds of endpoint, protected mode's
    loopback test, and keygen. Uses czmq (zcert, zconfig) and libzmq.
*/
#ifndef KVP_CURVE_H_INCLUDED
#define KVP_CURVE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  ZAP domains: the clients and events endpoints let client keys in, the
    workers and events-in endpoints worker keys. */
#define KVP_CURVE_CLIENTS   "kvp-clients"
#define KVP_CURVE_WORKERS   "kvp-workers"

/*  The environment variables the client programs read when no flag is
    given. */
#define KVP_CURVE_ENV_SECRET    "KVP_CURVE_SECRET"
#define KVP_CURVE_ENV_BROKER    "KVP_BROKER_PUBLIC"

typedef struct _kvp_curve_t kvp_curve_t;

/*  Load our certificate from `secret_file` and, when `server_public` is
    not NULL, the public key of the server we connect to. Returns NULL with
    the reason in `error` (`size` bytes) when a file is missing, unreadable,
    not a certificate, without a secret key, or open to group or others. */
kvp_curve_t *
    kvp_curve_load (const char *secret_file, const char *server_public,
                    char *error, size_t size);

/*  The client programs' keys: the flags when given, else the environment
    variables above. Sets *curve to NULL when neither names a secret file
    (security off). Returns false with the reason in `error` when a file is
    bad, or only one of the two is given. */
bool
    kvp_curve_for_client (const char *secret_flag, const char *public_flag,
                          kvp_curve_t **curve, char *error, size_t size);

/*  Free the keys (the secret is zeroed) and null the pointer; safe on
    NULL. */
void
    kvp_curve_destroy (kvp_curve_t **self_p);

/*  Set up `sock`, before it connects, as a CURVE client of the server
    whose public key was loaded. No-op when self is NULL. */
void
    kvp_curve_client (const kvp_curve_t *self, zsock_t *sock);

/*  Set up `sock`, before it binds, as a CURVE server whose peers ZAP
    authenticates in `domain`. No-op when self is NULL. */
void
    kvp_curve_server (const kvp_curve_t *self, zsock_t *sock,
                      const char *domain);

/*  A certificate file's ZPL tree, or NULL when the file cannot be read, is
    over 64 KiB or is not ZPL. (CZMQ's zconfig_load leaks on a file it
    cannot parse; this reads the text first.) Destroy with zconfig_destroy. */
zconfig_t *
    kvp_curve_read (const char *path);

/*  Our certificate's metadata `name` ("" when none). */
const char *
    kvp_curve_name (const kvp_curve_t *self);

/*  Our public key in Z85 (40 characters). */
const char *
    kvp_curve_public (const kvp_curve_t *self);

/*  Whether a bind endpoint stays on this host: anything but tcp://, or a
    tcp:// host in 127.0.0.0/8, [::1] or localhost (protected mode). */
bool
    kvp_curve_is_loopback (const char *endpoint);

/*  Write a new certificate pair DIR/NAME and DIR/NAME_secret (mode 0600)
    with metadata name NAME and, when not NULL, role ROLE. Refuses to
    replace existing files. Writes the public file's path into `path`.
    Returns false with the reason in `error`. */
bool
    kvp_curve_keygen (const char *dir, const char *name, const char *role,
                      char *path, size_t path_size, char *error,
                      size_t size);

#ifdef __cplusplus
}
#endif
#endif
