/*  kvp_allow.c - the keys one folder lets in.
*/
#include "kvp_allow.h"
#include "kvp_curve.h"
#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define S_SECRET_SUFFIX "_secret"
#define S_Z85_LEN       40

typedef struct {
    kvp_allow_peer_t peer;
    char *name;                 /* owned; peer.name points here */
} s_entry_t;

struct _kvp_allow_t {
    char *dir;
    bool roles;                 /* certificates must carry a role */
    const char *logid;
    zhashx_t *keys;             /* Z85 public key -> s_entry_t */
    struct timespec mtime;      /* the folder's, at the last reading */
};

static void
s_entry_free (void **item_p)
{
    s_entry_t *entry = *item_p;
    if (entry) {
        free (entry->name);
        free (entry);
    }
    *item_p = NULL;
}

static bool
s_is_secret (const char *file)
{
    size_t len = strlen (file), suffix = strlen (S_SECRET_SUFFIX);
    return len >= suffix && streq (file + len - suffix, S_SECRET_SUFFIX);
}

//  One certificate into `keys`; false (logged) when it lets nobody in.
static bool
s_add (kvp_allow_t *self, zhashx_t *keys, const char *path)
{
    zconfig_t *root = kvp_curve_read (path);
    const char *key = root ? zconfig_get (root, "/curve/public-key", "")
                           : "";
    const char *name = root ? zconfig_get (root, "/metadata/name", "") : "";
    const char *role = root ? zconfig_get (root, "/metadata/role", "") : "";
    int role_value = kvp_role_lookup (role);
    const char *fault = NULL;
    uint8_t check [32];
    if (!root)
        fault = "not a certificate";
    else
    if (strlen (key) != S_Z85_LEN || !zmq_z85_decode (check, key))
        fault = "no curve public-key";
    else
    if (!*name)
        fault = "no metadata name";
    else
    if (self->roles && role_value < 0)
        fault = "no known metadata role (reader, writer or admin)";
    if (fault)
        zsys_warning ("%s: %s: %s; it lets nobody in", self->logid, path,
                      fault);
    else {
        s_entry_t *entry = calloc (1, sizeof *entry);
        if (entry && (entry->name = strdup (name))) {
            entry->peer.name = entry->name;
            entry->peer.role = role_value < 0 ? KVP_ROLE_READER
                                              : (kvp_role_t) role_value;
            zhashx_update (keys, key, entry);
        }
        else
            free (entry);
    }
    zconfig_destroy (&root);
    return fault == NULL;
}

//  Read the folder into a new table; NULL (errno set) if it cannot be read.
static zhashx_t *
s_read (kvp_allow_t *self)
{
    DIR *dir = opendir (self->dir);
    if (!dir)
        return NULL;
    zhashx_t *keys = zhashx_new ();
    zhashx_set_destructor (keys, s_entry_free);
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.' || s_is_secret (entry->d_name))
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", self->dir, entry->d_name);
        struct stat st;
        if (stat (path, &st) == 0 && S_ISREG (st.st_mode))
            s_add (self, keys, path);
    }
    closedir (dir);
    return keys;
}

static bool
s_mtime (const char *dir, struct timespec *mtime)
{
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
        return false;
    *mtime = st.st_mtim;
    return true;
}

kvp_allow_t *
kvp_allow_new (const char *dir, bool roles, const char *logid, char *error,
               size_t size)
{
    kvp_allow_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = strdup (dir);
    self->roles = roles;
    self->logid = logid;
    errno = 0;
    if (!s_mtime (dir, &self->mtime) || !(self->keys = s_read (self))) {
        snprintf (error, size, "%s: %s", dir,
                  errno ? strerror (errno) : "not a folder");
        kvp_allow_destroy (&self);
    }
    return self;
}

void
kvp_allow_destroy (kvp_allow_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_allow_t *self = *self_p;
    zhashx_destroy (&self->keys);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

bool
kvp_allow_refresh (kvp_allow_t *self, bool force)
{
    struct timespec mtime;
    if (!s_mtime (self->dir, &mtime))
        return false;               //  keep the last good reading
    if (!force && mtime.tv_sec == self->mtime.tv_sec
    &&  mtime.tv_nsec == self->mtime.tv_nsec)
        return false;
    zhashx_t *keys = s_read (self);
    if (!keys)
        return false;
    zhashx_destroy (&self->keys);
    self->keys = keys;
    self->mtime = mtime;
    return true;
}

const kvp_allow_peer_t *
kvp_allow_lookup (kvp_allow_t *self, const char *key)
{
    s_entry_t *entry = zhashx_lookup (self->keys, key);
    return entry ? &entry->peer : NULL;
}

size_t
kvp_allow_size (kvp_allow_t *self)
{
    return zhashx_size (self->keys);
}
