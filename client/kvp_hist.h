/*  kvp_hist.h - a latency histogram in the style of HdrHistogram.

    Log-linear buckets: values below 2^KVP_HIST_BITS are counted exactly;
    above that, every power-of-two range is split into 2^KVP_HIST_BITS
    equal buckets. So any recorded value is known to within a relative
    error of 2^-KVP_HIST_BITS (1/128, under 0.8 %), the whole 64-bit range
    fits in a fixed table of about 8 k counters (64 KiB), recording is O(1)
    with no allocation, and no sample is stored.

    Percentiles use the nearest-rank definition and report the highest value
    of the bucket that holds the rank, clamped to the largest value
    recorded: a reported percentile v' of a true value v satisfies
    v <= v' <= v + v / 128. Min, max, count and mean are exact.

    Values are unsigned integers in whatever unit the caller uses (kvpbench
    records microseconds). Not thread-safe. No dependencies.
*/
#ifndef KVP_HIST_H_INCLUDED
#define KVP_HIST_H_INCLUDED

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVP_HIST_BITS  7            /* sub-bucket bits: precision 2^-7 */

typedef struct _kvp_hist_t kvp_hist_t;

/*  Create an empty histogram. Returns NULL when out of memory. */
kvp_hist_t *
    kvp_hist_new (void);

/*  Destroy and null the caller's pointer; safe on NULL. */
void
    kvp_hist_destroy (kvp_hist_t **self_p);

/*  Record one value. */
void
    kvp_hist_record (kvp_hist_t *self, uint64_t value);

/*  Record `value` `count` times. */
void
    kvp_hist_record_n (kvp_hist_t *self, uint64_t value, uint64_t count);

/*  Forget every value recorded. */
void
    kvp_hist_reset (kvp_hist_t *self);

/*  Add every value recorded in `other` to `self` (other is unchanged). */
void
    kvp_hist_merge (kvp_hist_t *self, const kvp_hist_t *other);

/*  Number of values recorded. */
uint64_t
    kvp_hist_count (const kvp_hist_t *self);

/*  Smallest / largest value recorded (exact); 0 when empty. */
uint64_t
    kvp_hist_min (const kvp_hist_t *self);
uint64_t
    kvp_hist_max (const kvp_hist_t *self);

/*  Arithmetic mean of the values recorded (exact up to double rounding);
    0 when empty. */
double
    kvp_hist_mean (const kvp_hist_t *self);

/*  The value at `percentile` (0..100; out-of-range values are clamped):
    the smallest bucket whose cumulative count reaches
    ceil(percentile / 100 * count), reported as described above. 0 when
    empty; percentile 0 gives the min, 100 the max. */
uint64_t
    kvp_hist_percentile (const kvp_hist_t *self, double percentile);

#ifdef __cplusplus
}
#endif
#endif
