/*  lfs_log.h - lossyfs's log lines on standard error. lfs_log always
    prints; LFS_DEBUG only with --verbose, and formats nothing otherwise.
*/
#ifndef LFS_LOG_H_INCLUDED
#define LFS_LOG_H_INCLUDED

#include <stdbool.h>

extern bool lfs_verbose;        /* --verbose */

void
    lfs_log (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

#define LFS_DEBUG(...) \
    do { if (lfs_verbose) lfs_log (__VA_ARGS__); } while (0)

#endif
