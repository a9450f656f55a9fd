/*  kvp_fdlimit.h - the process's open-file limit. A server keeps one
    descriptor per peer connection, so broker and worker raise their soft
    limit to the hard one at start; the broker then keeps client
    connections below it (kvp_conns). No sockets.
*/
#ifndef KVP_FDLIMIT_H_INCLUDED
#define KVP_FDLIMIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t before;            /* the soft limit found */
    uint64_t soft;              /* the soft limit now */
    uint64_t hard;              /* the hard limit */
    int error;                  /* errno of a failed get or set, or 0 */
} kvp_fdlimit_t;

/*  Raise RLIMIT_NOFILE's soft limit to its hard limit (an unlimited hard
    limit leaves it as it is) and say what it was and is in *limit.
    Returns false when the limit cannot be read or set (limit->error
    says why; the soft limit is then what it was). */
bool
    kvp_fdlimit_raise (kvp_fdlimit_t *limit);

/*  The descriptors this process has open (from /proc/self/fd), 0 when
    that cannot be read. */
size_t
    kvp_fdlimit_open (void);

/*  One line for the log, "open-file limit raised from 1024 to 524288" or
    "open-file limit 524288 (the hard limit)" and such, into `text`
    (`size` bytes). */
void
    kvp_fdlimit_describe (const kvp_fdlimit_t *limit, char *text,
                          size_t size);

#ifdef __cplusplus
}
#endif
#endif
