/*  test_rc.c - return code names, both ways. */
#include <check.h>
#include "kvp_testkit.h"
#include <stdlib.h>
#include "kvp_rc.h"

START_TEST (test_names)
{
    static const struct { unsigned rc; const char *name; } table [] = {
        { 0, "Completed" }, { 4096, "JobStarted" }, { 32768, "Failed" },
        { 32769, "AccessDenied" }, { 32770, "NotSupported" },
        { 32771, "StatusUnknown" }, { 32772, "Timeout" },
        { 32773, "InvalidParameter" }, { 32774, "SystemInUse" },
        { 32775, "InvalidState" }, { 32776, "IncorrectDataType" },
        { 32777, "SystemNotAvailable" }, { 32778, "OutOfMemory" },
    };
    for (size_t i = 0; i < sizeof (table) / sizeof (table [0]); i++) {
        ck_assert_str_eq (kvp_rc_name (table [i].rc), table [i].name);
        ck_assert_int_eq (kvp_rc_from_name (table [i].name),
                          (int) table [i].rc);
    }
    ck_assert_str_eq (kvp_rc_name (1), "Unknown");
    ck_assert_str_eq (kvp_rc_name (32779), "Unknown");
    ck_assert_int_eq (kvp_rc_from_name ("Unknown"), -1);
    ck_assert_int_eq (kvp_rc_from_name ("failed"), -1);
    ck_assert_int_eq (kvp_rc_from_name (NULL), -1);
}
END_TEST

int
main (void)
{
    Suite *suite = suite_create ("rc");
    TCase *tc = tcase_create ("rc");
    tcase_add_test (tc, test_names);
    suite_add_tcase (suite, tc);
    return tk_run_suite (suite);
}
