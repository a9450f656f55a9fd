/*  kvp_dir.h - folders the programs make for their data and keys.

    Every folder made here is mode 0700 (spec section 11: data folders are
    the cluster's own); folders that already exist are left as they are.
*/
#ifndef KVP_DIR_H_INCLUDED
#define KVP_DIR_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

/*  mkdir -p `dir`, each folder made 0700. Returns 0 or an errno value. */
int
    kvp_dir_make (const char *dir);

#ifdef __cplusplus
}
#endif
#endif
