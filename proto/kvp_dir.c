/*  kvp_dir.c - folders the programs make for their data and keys.
*/
#include "kvp_dir.h"
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define S_MODE  0700

int
kvp_dir_make (const char *dir)
{
    char path [PATH_MAX];
    if (strlen (dir) >= sizeof path)
        return ENAMETOOLONG;
    strcpy (path, dir);
    for (char *slash = strchr (path + 1, '/'); slash;
         slash = strchr (slash + 1, '/')) {
        *slash = 0;
        if (mkdir (path, S_MODE) != 0 && errno != EEXIST)
            return errno;
        *slash = '/';
    }
    return mkdir (path, S_MODE) != 0 && errno != EEXIST? errno: 0;
}
