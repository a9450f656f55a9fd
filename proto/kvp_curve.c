/*  kvp_curve.c - CURVE keys for the cluster's sockets.
*/
#include "kvp_curve.h"
#include "kvp_dir.h"
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define S_Z85_LEN   40          //  a 32-byte key in Z85
#define S_CERT_MAX  65536       //  bytes a certificate file may hold

struct _kvp_curve_t {
    zcert_t *cert;              /* ours, with its secret key */
    char server [S_Z85_LEN + 1];    /* the server's public key, or "" */
};

//  --- loading --------------------------------------------------------------

//  False, with the reason, when `file` is open to group or others.
static bool
s_private (const char *file, char *error, size_t size)
{
    struct stat st;
    if (stat (file, &st) != 0) {
        snprintf (error, size, "%s: %s", file, strerror (errno));
        return false;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf (error, size, "%s: a secret key readable by group or others "
                  "(mode %04o); chmod 600 it", file,
                  (unsigned) (st.st_mode & 07777));
        return false;
    }
    return true;
}

//  The Z85 key at `path` in the ZPL file `root`, or NULL.
static const char *
s_key (zconfig_t *root, const char *path)
{
    const char *text = zconfig_get (root, path, NULL);
    return text && strlen (text) == S_Z85_LEN ? text : NULL;
}

zconfig_t *
kvp_curve_read (const char *path)
{
    FILE *in = fopen (path, "r");
    if (!in)
        return NULL;
    char *text = malloc (S_CERT_MAX + 1);
    size_t len = text ? fread (text, 1, S_CERT_MAX + 1, in) : 0;
    fclose (in);
    zconfig_t *root = NULL;
    if (text && len <= S_CERT_MAX) {
        text [len] = 0;
        root = zconfig_str_load (text);
    }
    free (text);
    return root;
}

static zconfig_t *
s_read (const char *file, char *error, size_t size)
{
    if (access (file, R_OK) != 0) {
        snprintf (error, size, "%s: %s", file, strerror (errno));
        return NULL;
    }
    zconfig_t *root = kvp_curve_read (file);
    if (!root)
        snprintf (error, size, "%s: not a certificate (ZPL, at most %d "
                  "bytes)", file, S_CERT_MAX);
    return root;
}

//  Our certificate, from its secret file.
static zcert_t *
s_load_secret (const char *file, char *error, size_t size)
{
    if (!s_private (file, error, size))
        return NULL;
    zconfig_t *root = s_read (file, error, size);
    if (!root)
        return NULL;
    const char *public_txt = s_key (root, "/curve/public-key");
    const char *secret_txt = s_key (root, "/curve/secret-key");
    zcert_t *cert = NULL;
    uint8_t public_key [32], secret_key [32];
    if (!public_txt || !secret_txt
    ||  !zmq_z85_decode (public_key, public_txt)
    ||  !zmq_z85_decode (secret_key, secret_txt))
        snprintf (error, size, "%s: no curve public-key and secret-key "
                  "(40 characters of Z85 each)", file);
    else
        cert = zcert_new_from (public_key, secret_key);
    memset (secret_key, 0, sizeof secret_key);
    zconfig_t *meta = cert ? zconfig_locate (root, "/metadata") : NULL;
    for (meta = meta ? zconfig_child (meta) : NULL; meta;
         meta = zconfig_next (meta))
        zcert_set_meta (cert, zconfig_name (meta), "%s",
                        zconfig_value (meta) ? zconfig_value (meta) : "");
    zconfig_destroy (&root);
    return cert;
}

static bool
s_load_public (const char *file, char *key, char *error, size_t size)
{
    zconfig_t *root = s_read (file, error, size);
    if (!root)
        return false;
    const char *text = s_key (root, "/curve/public-key");
    uint8_t check [32];
    bool ok = text && zmq_z85_decode (check, text);
    if (ok)
        memcpy (key, text, S_Z85_LEN + 1);
    else
        snprintf (error, size, "%s: no curve public-key (40 characters of "
                  "Z85)", file);
    zconfig_destroy (&root);
    return ok;
}

kvp_curve_t *
kvp_curve_load (const char *secret_file, const char *server_public,
                char *error, size_t size)
{
    kvp_curve_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (error, size, "out of memory");
        return NULL;
    }
    self->cert = s_load_secret (secret_file, error, size);
    if (!self->cert
    ||  (server_public
         && !s_load_public (server_public, self->server, error, size)))
        kvp_curve_destroy (&self);
    return self;
}

static const char *
s_flag_or_env (const char *flag, const char *name)
{
    if (flag)
        return flag;
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

bool
kvp_curve_for_client (const char *secret_flag, const char *public_flag,
                      kvp_curve_t **curve, char *error, size_t size)
{
    *curve = NULL;
    const char *secret = s_flag_or_env (secret_flag, KVP_CURVE_ENV_SECRET);
    const char *server = s_flag_or_env (public_flag, KVP_CURVE_ENV_BROKER);
    if (!secret && !server)
        return true;
    if (!secret || !server) {
        snprintf (error, size, "security needs both --curve-secret (or %s) "
                  "and --broker-public (or %s)", KVP_CURVE_ENV_SECRET,
                  KVP_CURVE_ENV_BROKER);
        return false;
    }
    *curve = kvp_curve_load (secret, server, error, size);
    return *curve != NULL;
}

void
kvp_curve_destroy (kvp_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_curve_t *self = *self_p;
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

//  --- sockets --------------------------------------------------------------

void
kvp_curve_client (const kvp_curve_t *self, zsock_t *sock)
{
    if (!self)
        return;
    zcert_apply (self->cert, sock);
    zsock_set_curve_serverkey (sock, self->server);
}

void
kvp_curve_server (const kvp_curve_t *self, zsock_t *sock, const char *domain)
{
    if (!self)
        return;
    zsock_set_zap_domain (sock, domain);
    zcert_apply (self->cert, sock);
    zsock_set_curve_server (sock, 1);
}

const char *
kvp_curve_name (const kvp_curve_t *self)
{
    const char *name = self ? zcert_meta (self->cert, "name") : NULL;
    return name ? name : "";
}

const char *
kvp_curve_public (const kvp_curve_t *self)
{
    return zcert_public_txt (self->cert);
}

//  --- protected mode -------------------------------------------------------

bool
kvp_curve_is_loopback (const char *endpoint)
{
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return true;                //  ipc://, inproc://: this host only
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    size_t len = colon ? (size_t) (colon - host) : strlen (host);
    if (len == 9 && memcmp (host, "localhost", 9) == 0)
        return true;
    if (len == 5 && memcmp (host, "[::1]", 5) == 0)
        return true;
    //  127.0.0.0/8, written as a dotted quad
    unsigned a, b, c, d;
    char tail;
    char text [64];
    if (len >= sizeof text)
        return false;
    memcpy (text, host, len);
    text [len] = 0;
    return sscanf (text, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4
        && a == 127 && b < 256 && c < 256 && d < 256;
}

//  --- keygen ---------------------------------------------------------------

bool
kvp_curve_keygen (const char *dir, const char *name, const char *role,
                  char *path, size_t path_size, char *error, size_t size)
{
    char secret [4096];
    snprintf (path, path_size, "%s/%s", dir, name);
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (!*name || strchr (name, '/')) {
        snprintf (error, size, "name: \"%s\" must be non-empty, without /",
                  name);
        return false;
    }
    if (access (path, F_OK) == 0 || access (secret, F_OK) == 0) {
        snprintf (error, size, "%s: already exists; not replaced", path);
        return false;
    }
    int err = kvp_dir_make (dir);   //  0700, as the data folders
    if (err) {
        snprintf (error, size, "%s: %s", dir, strerror (err));
        return false;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        snprintf (error, size, "cannot make a key pair");
        return false;
    }
    zcert_set_meta (cert, "name", "%s", name);
    if (role)
        zcert_set_meta (cert, "role", "%s", role);
    mode_t mask = umask (077);      //  the secret is never open to others
    int rc = zcert_save (cert, path);
    umask (mask);
    zcert_destroy (&cert);
    if (rc != 0 || chmod (secret, 0600) != 0 || chmod (path, 0644) != 0) {
        snprintf (error, size, "%s: cannot write: %s", path,
                  strerror (errno));
        return false;
    }
    return true;
}
