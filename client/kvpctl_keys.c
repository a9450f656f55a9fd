/*  kvpctl_keys.c - kvpctl keygen: a certificate pair for a secured
    cluster (spec section 11).
*/
#include <string.h>
#include "kvpctl.h"
#include "kvp_op.h"

int
ctl_keygen (ctl_t *ctl)
{
    const char *name = ctl->args [0];
    const char *role = ctl->opt [OPT_ROLE];
    if (role && kvp_role_lookup (role) < 0)
        return ctl_usage_error ("--role: \"%s\" is not reader, writer or "
                                "admin", role);
    char path [4096], error [512];
    if (!kvp_curve_keygen (ctl->opt [OPT_DIR] ? ctl->opt [OPT_DIR] : ".",
                           name, role, path, sizeof path, error,
                           sizeof error)) {
        fprintf (stderr, "kvpctl: keygen: %s\n", error);
        return CTL_FAILED;
    }
    printf ("%s\n%s_secret\n", path, path);
    return CTL_OK;
}
