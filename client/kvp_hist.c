/*  kvp_hist.c - log-linear latency histogram. See kvp_hist.h. */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_hist.h"

#define SUB         (1u << KVP_HIST_BITS)           /* buckets per octave */
#define NBUCKETS    ((64 - KVP_HIST_BITS + 1) * SUB)

struct _kvp_hist_t {
    uint64_t count;                 /* values recorded */
    uint64_t min;                   /* smallest, valid when count > 0 */
    uint64_t max;                   /* largest */
    double sum;                     /* for the mean */
    uint64_t buckets [NBUCKETS];    /* counts per bucket */
};

/*  The bucket of `value`: exact below 2 * SUB, then SUB buckets for each
    power of two, each 2^shift wide. */
static size_t
s_index (uint64_t value)
{
    if (value < SUB)
        return (size_t) value;
    unsigned msb = 63 - (unsigned) __builtin_clzll (value);
    unsigned shift = msb - KVP_HIST_BITS;
    return (size_t) shift * SUB + (size_t) (value >> shift);
}

/*  The highest value that falls into bucket `index`. */
static uint64_t
s_highest (size_t index)
{
    if (index < SUB)
        return index;
    unsigned shift = (unsigned) (index / SUB) - 1;
    uint64_t sub = index - (uint64_t) shift * SUB;
    return (sub << shift) + ((UINT64_C (1) << shift) - 1);
}

kvp_hist_t *
kvp_hist_new (void)
{
    kvp_hist_t *self = (kvp_hist_t *) calloc (1, sizeof (kvp_hist_t));
    return self;
}

void
kvp_hist_destroy (kvp_hist_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
kvp_hist_record_n (kvp_hist_t *self, uint64_t value, uint64_t count)
{
    if (count == 0)
        return;
    if (self->count == 0 || value < self->min)
        self->min = value;
    if (self->count == 0 || value > self->max)
        self->max = value;
    self->count += count;
    self->sum += (double) value * (double) count;
    self->buckets [s_index (value)] += count;
}

void
kvp_hist_record (kvp_hist_t *self, uint64_t value)
{
    kvp_hist_record_n (self, value, 1);
}

void
kvp_hist_reset (kvp_hist_t *self)
{
    //  Only the buckets between min and max can be non-zero.
    if (self->count)
        memset (self->buckets + s_index (self->min), 0,
                (s_index (self->max) - s_index (self->min) + 1)
                * sizeof (uint64_t));
    self->count = self->min = self->max = 0;
    self->sum = 0;
}

void
kvp_hist_merge (kvp_hist_t *self, const kvp_hist_t *other)
{
    if (other->count == 0)
        return;
    size_t last = s_index (other->max);
    for (size_t i = s_index (other->min); i <= last; i++)
        self->buckets [i] += other->buckets [i];
    if (self->count == 0 || other->min < self->min)
        self->min = other->min;
    if (self->count == 0 || other->max > self->max)
        self->max = other->max;
    self->count += other->count;
    self->sum += other->sum;
}

uint64_t
kvp_hist_count (const kvp_hist_t *self)
{
    return self->count;
}

uint64_t
kvp_hist_min (const kvp_hist_t *self)
{
    return self->min;
}

uint64_t
kvp_hist_max (const kvp_hist_t *self)
{
    return self->max;
}

double
kvp_hist_mean (const kvp_hist_t *self)
{
    return self->count ? self->sum / (double) self->count : 0;
}

uint64_t
kvp_hist_percentile (const kvp_hist_t *self, double percentile)
{
    if (self->count == 0)
        return 0;
    if (!(percentile > 0))          //  also catches NaN
        return self->min;
    if (percentile >= 100)
        return self->max;
    //  The small slack keeps 99.9 % of 1000 at rank 999, not 1000, when
    //  the decimal percentile is not exact in binary.
    double want = ceil (percentile * (double) self->count / 100.0 - 1e-9);
    uint64_t rank = want < 1 ? 1 : (uint64_t) want;
    uint64_t seen = 0;
    size_t last = s_index (self->max);
    for (size_t i = s_index (self->min); i <= last; i++) {
        seen += self->buckets [i];
        if (seen >= rank) {
            uint64_t value = s_highest (i);
            return value < self->max ? value : self->max;
        }
    }
    return self->max;               //  not reached: counts add up
}
