/*  test_hist.c - the log-linear latency histogram: percentiles of known
    distributions within the stated precision (1/128 relative). */
#include <check.h>
#include "kvp_testkit.h"
#include <math.h>
#include <stdlib.h>
#include "kvp_hist.h"

#define PRECISION   (1.0 / (1 << KVP_HIST_BITS))

/*  The reported value v' for a true value v: v <= v' <= v (1 + 1/128). */
static void
s_assert_close (uint64_t got, double want)
{
    ck_assert_msg ((double) got >= want - 1e-9
                   && (double) got <= want * (1 + PRECISION) + 1e-9,
                   "got %llu, want %.1f (+%.2f%%)", (unsigned long long) got,
                   want, PRECISION * 100);
}

START_TEST (test_empty)
{
    kvp_hist_t *hist = kvp_hist_new ();
    ck_assert_ptr_nonnull (hist);
    ck_assert_uint_eq (kvp_hist_count (hist), 0);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 50), 0);
    ck_assert_uint_eq (kvp_hist_max (hist), 0);
    ck_assert (kvp_hist_mean (hist) == 0);
    kvp_hist_destroy (&hist);
    kvp_hist_destroy (&hist);
    ck_assert_ptr_null (hist);
}
END_TEST

START_TEST (test_small_values_exact)
{
    //  Below 2^(bits+1) every value has its own bucket.
    kvp_hist_t *hist = kvp_hist_new ();
    for (uint64_t v = 1; v <= 100; v++)
        kvp_hist_record (hist, v);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 50), 50);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 90), 90);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 99), 99);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 99.9), 100);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 0), 1);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 100), 100);
    ck_assert_uint_eq (kvp_hist_min (hist), 1);
    ck_assert_uint_eq (kvp_hist_max (hist), 100);
    ck_assert (fabs (kvp_hist_mean (hist) - 50.5) < 1e-9);
    kvp_hist_destroy (&hist);
}
END_TEST

START_TEST (test_uniform)
{
    //  1..1,000,000 once each: percentile p is p * 10,000.
    kvp_hist_t *hist = kvp_hist_new ();
    for (uint64_t v = 1; v <= 1000000; v++)
        kvp_hist_record (hist, v);
    ck_assert_uint_eq (kvp_hist_count (hist), 1000000);
    double ps [] = { 1, 10, 50, 90, 99, 99.9, 99.99 };
    for (size_t i = 0; i < sizeof ps / sizeof ps [0]; i++)
        s_assert_close (kvp_hist_percentile (hist, ps [i]), ps [i] * 10000);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 100), 1000000);
    kvp_hist_destroy (&hist);
}
END_TEST

static int
s_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

START_TEST (test_exponential)
{
    //  A long-tailed distribution, checked against the exact sorted
    //  nearest-rank percentiles.
    enum { N = 200000 };
    uint64_t *values = malloc (N * sizeof (uint64_t));
    kvp_hist_t *hist = kvp_hist_new ();
    srand (42);
    for (int i = 0; i < N; i++) {
        double u = (rand () + 1.0) / ((double) RAND_MAX + 2.0);
        values [i] = (uint64_t) (-log (u) * 2000.0) + 50;
        kvp_hist_record (hist, values [i]);
    }
    qsort (values, N, sizeof (uint64_t), s_cmp);
    double ps [] = { 50, 90, 99, 99.9 };
    for (size_t i = 0; i < sizeof ps / sizeof ps [0]; i++) {
        size_t rank = (size_t) ceil (ps [i] / 100 * N);
        s_assert_close (kvp_hist_percentile (hist, ps [i]),
                        (double) values [rank - 1]);
    }
    ck_assert_uint_eq (kvp_hist_max (hist), values [N - 1]);
    ck_assert_uint_eq (kvp_hist_min (hist), values [0]);
    free (values);
    kvp_hist_destroy (&hist);
}
END_TEST

START_TEST (test_huge_values)
{
    kvp_hist_t *hist = kvp_hist_new ();
    kvp_hist_record (hist, UINT64_MAX);
    kvp_hist_record (hist, UINT64_C (1) << 40);
    kvp_hist_record (hist, 0);
    ck_assert_uint_eq (kvp_hist_percentile (hist, 100), UINT64_MAX);
    s_assert_close (kvp_hist_percentile (hist, 60), (double) (UINT64_C (1) << 40));
    ck_assert_uint_eq (kvp_hist_percentile (hist, 30), 0);
    kvp_hist_destroy (&hist);
}
END_TEST

START_TEST (test_merge_reset)
{
    kvp_hist_t *a = kvp_hist_new (), *b = kvp_hist_new ();
    for (uint64_t v = 1; v <= 1000; v++)
        kvp_hist_record (v % 2 ? a : b, v * 1000);
    kvp_hist_merge (a, b);
    ck_assert_uint_eq (kvp_hist_count (a), 1000);
    ck_assert_uint_eq (kvp_hist_min (a), 1000);
    ck_assert_uint_eq (kvp_hist_max (a), 1000000);
    s_assert_close (kvp_hist_percentile (a, 50), 500000);
    kvp_hist_record_n (b, 7, 0);
    ck_assert_uint_eq (kvp_hist_count (b), 500);
    kvp_hist_reset (a);
    ck_assert_uint_eq (kvp_hist_count (a), 0);
    ck_assert_uint_eq (kvp_hist_percentile (a, 50), 0);
    //  After a reset, old buckets are really empty.
    kvp_hist_record_n (a, 3, 10);
    ck_assert_uint_eq (kvp_hist_percentile (a, 99.9), 3);
    ck_assert_uint_eq (kvp_hist_percentile (a, 1), 3);
    kvp_hist_destroy (&a);
    kvp_hist_destroy (&b);
}
END_TEST

static Suite *
s_suite (void)
{
    Suite *suite = suite_create ("hist");
    TCase *tc = tcase_create ("percentiles");
    tcase_add_test (tc, test_empty);
    tcase_add_test (tc, test_small_values_exact);
    tcase_add_test (tc, test_uniform);
    tcase_add_test (tc, test_exponential);
    tcase_add_test (tc, test_huge_values);
    tcase_add_test (tc, test_merge_reset);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
