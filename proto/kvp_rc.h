/*  kvp_rc.h - KVP/1 return codes and their names.

    The wire carries these numbers in every reply's `rc` (spec section 5).
    Leaf module: no dependencies.
*/
#ifndef KVP_RC_H_INCLUDED
#define KVP_RC_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    KVP_RC_OK              = 0,       /* Completed with No Error */
    KVP_RC_JOB_STARTED     = 4096,    /* Method Parameters Checked - Job Started */
    KVP_RC_FAILED          = 32768,   /* Failed (key exists / missing; id exists) */
    KVP_RC_ACCESS_DENIED   = 32769,   /* Access Denied */
    KVP_RC_NOT_SUPPORTED   = 32770,   /* unknown op */
    KVP_RC_STATUS_UNKNOWN  = 32771,   /* worker went away with the request in flight */
    KVP_RC_TIMEOUT         = 32772,   /* worker did not answer in time */
    KVP_RC_INVALID_PARAM   = 32773,   /* malformed message or invalid field */
    KVP_RC_IN_USE          = 32774,   /* owning worker over its queue limit */
    KVP_RC_INVALID_STATE   = 32775,   /* DataExchangeEnabled is false */
    KVP_RC_INCORRECT_TYPE  = 32776,   /* field of the wrong msgpack type */
    KVP_RC_NOT_AVAILABLE   = 32777,   /* no live worker owns the partition */
    KVP_RC_OUT_OF_MEMORY   = 32778    /* the store cannot grow */
} kvp_rc_t;

/*  Return the symbolic name of a return code ("InvalidParameter", ...), or
    "Unknown" for a number that is not a KVP/1 code. Never NULL; static. */
const char *
    kvp_rc_name (unsigned rc);

/*  Return the return code whose name is `name` (as kvp_rc_name spells it),
    or -1 if none. */
int
    kvp_rc_from_name (const char *name);

#ifdef __cplusplus
}
#endif
#endif
