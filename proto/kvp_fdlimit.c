/*  kvp_fdlimit.c - the open-file limit, raised (see kvp_fdlimit.h).
*/
#include "kvp_fdlimit.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

bool
kvp_fdlimit_raise (kvp_fdlimit_t *limit)
{
    struct rlimit rl;
    *limit = (kvp_fdlimit_t) { 0 };
    if (getrlimit (RLIMIT_NOFILE, &rl) != 0) {
        limit->error = errno;
        return false;
    }
    limit->before = limit->soft = (uint64_t) rl.rlim_cur;
    limit->hard = (uint64_t) rl.rlim_max;
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_cur >= rl.rlim_max)
        return true;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &rl) != 0) {
        limit->error = errno;
        return false;
    }
    limit->soft = (uint64_t) rl.rlim_cur;
    return true;
}

size_t
kvp_fdlimit_open (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        count += entry->d_name [0] != '.';
    closedir (dir);
    return count > 0 ? count - 1 : 0;   //  less the one reading it
}

void
kvp_fdlimit_describe (const kvp_fdlimit_t *limit, char *text, size_t size)
{
    if (limit->error)
        snprintf (text, size, "open-file limit %llu, cannot be raised to "
                  "%llu: %s", (unsigned long long) limit->soft,
                  (unsigned long long) limit->hard, strerror (limit->error));
    else
    if (limit->soft != limit->before)
        snprintf (text, size, "open-file limit raised from %llu to %llu",
                  (unsigned long long) limit->before,
                  (unsigned long long) limit->soft);
    else
        snprintf (text, size, "open-file limit %llu%s",
                  (unsigned long long) limit->soft,
                  limit->soft == limit->hard ? " (the hard limit)" : "");
}
