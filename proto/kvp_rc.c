/*  kvp_rc.c - KVP/1 return codes and their names. */
#include <string.h>
#include "kvp_rc.h"

/*  One row per code; the names are the short CamelCase forms of the
    Hyper-V descriptions, used in logs and by kvpctl. */
static const struct {
    unsigned rc;
    const char *name;
} s_names [] = {
    { KVP_RC_OK,             "Completed" },
    { KVP_RC_JOB_STARTED,    "JobStarted" },
    { KVP_RC_FAILED,         "Failed" },
    { KVP_RC_ACCESS_DENIED,  "AccessDenied" },
    { KVP_RC_NOT_SUPPORTED,  "NotSupported" },
    { KVP_RC_STATUS_UNKNOWN, "StatusUnknown" },
    { KVP_RC_TIMEOUT,        "Timeout" },
    { KVP_RC_INVALID_PARAM,  "InvalidParameter" },
    { KVP_RC_IN_USE,         "SystemInUse" },
    { KVP_RC_INVALID_STATE,  "InvalidState" },
    { KVP_RC_INCORRECT_TYPE, "IncorrectDataType" },
    { KVP_RC_NOT_AVAILABLE,  "SystemNotAvailable" },
    { KVP_RC_OUT_OF_MEMORY,  "OutOfMemory" }
};
#define S_NAME_COUNT (sizeof (s_names) / sizeof (s_names [0]))

const char *
kvp_rc_name (unsigned rc)
{
    for (size_t i = 0; i < S_NAME_COUNT; i++)
        if (s_names [i].rc == rc)
            return s_names [i].name;
    return "Unknown";
}

int
kvp_rc_from_name (const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < S_NAME_COUNT; i++)
        if (strcmp (s_names [i].name, name) == 0)
            return (int) s_names [i].rc;
    return -1;
}
