/*  kvp_decgen.h - decision records for the registry's tests: random ones,
    drawn from a state so that most of them apply (the copies it names are
    the partition's, epochs are near the current one), from a pool of
    eight worker names and four tokens, all static strings.

    Deterministic: the same state and seed give the same record, which is
    how a test folds again the records a killed process applied.
*/
#ifndef KVP_DECGEN_H_INCLUDED
#define KVP_DECGEN_H_INCLUDED

#include <stdint.h>
#include "kvp_regstate.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The next number of a splitmix64 stream in *seed. */
uint64_t
    tk_rand (uint64_t *seed);

/*  A random record against `state` (which may refuse it), from *seed. */
void
    tk_decision_random (const kvp_regstate_t *state, uint64_t *seed,
                        kvp_decision_t *out);

/*  A record `state` accepts, the first of a few random ones from `seed`,
    else a WORKER record (always accepted once the cluster exists). */
void
    tk_decision_next (const kvp_regstate_t *state, uint64_t seed,
                      kvp_decision_t *out);

#ifdef __cplusplus
}
#endif
#endif
