/*  test_cim.c - Msvm_KvpExchangeDataItem as CIM-XML: the PowerShell shape,
    every fault and its code, and storage that outlives a parse. */
#include <check.h>
#include "kvp_testkit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kvp_cim.h"

#define HEAD    "<INSTANCE CLASSNAME=\"Msvm_KvpExchangeDataItem\">"
#define TAIL    "</INSTANCE>"
#define PROP(name, type, value) "<PROPERTY NAME=\"" name "\" TYPE=\"" type \
                                "\"><VALUE>" value "</VALUE></PROPERTY>"
#define NULLPROP(name, type) "<PROPERTY NAME=\"" name "\" TYPE=\"" type \
                             "\"></PROPERTY>"
#define NAME(v)     PROP ("Name", "string", v)
#define DATA(v)     PROP ("Data", "string", v)
#define SOURCE(v)   PROP ("Source", "uint16", v)

/*  What PowerShell's $item.PSBase.GetText(1) gives. */
#define POWERSHELL HEAD \
    "<PROPERTY NAME=\"Caption\" PROPAGATED=\"true\" TYPE=\"string\"></PROPERTY>" \
    "<PROPERTY NAME=\"Data\" TYPE=\"string\"><VALUE>10.0.0.5</VALUE></PROPERTY>" \
    "<PROPERTY NAME=\"Description\" PROPAGATED=\"true\" TYPE=\"string\"></PROPERTY>" \
    "<PROPERTY NAME=\"ElementName\" PROPAGATED=\"true\" TYPE=\"string\"></PROPERTY>" \
    "<PROPERTY NAME=\"InstanceID\" PROPAGATED=\"true\" TYPE=\"string\"></PROPERTY>" \
    "<PROPERTY NAME=\"Name\" TYPE=\"string\"><VALUE>ip</VALUE></PROPERTY>" \
    "<PROPERTY NAME=\"Source\" TYPE=\"uint16\"><VALUE>0</VALUE></PROPERTY>" TAIL

typedef struct {
    const char *what;
    const char *xml;
    int rc;
    const char *name;           /* expected on success */
    const char *data;
    uint64_t source;
    const char *error;          /* expected in the error text, or NULL */
} s_case_t;

static const s_case_t s_cases [] = {
    { "PowerShell GetText(1)", POWERSHELL, 0, "ip", "10.0.0.5", 0, NULL },
    { "with XML declaration", "<?xml version=\"1.0\" encoding=\"utf-16\"?>"
      HEAD NAME ("n") DATA ("d") SOURCE ("4") TAIL, 0, "n", "d", 4, NULL },
    { "any order", HEAD SOURCE ("4") DATA ("d") NAME ("n") TAIL, 0, "n", "d",
      4, NULL },
    { "whitespace between elements", HEAD "\n  " NAME ("n") "\n  " DATA ("d")
      "\n  " SOURCE ("0") "\n" TAIL "\n", 0, "n", "d", 0, NULL },
    { "entities decoded", HEAD NAME ("a&lt;b&gt;&amp;&quot;&apos;")
      DATA ("&#65;&#x263A;") SOURCE ("0") TAIL, 0, "a<b>&\"'", "A\xe2\x98\xba",
      0, NULL },
    { "CDATA", HEAD NAME ("<![CDATA[x<y]]>") DATA ("a<![CDATA[&amp;]]>b")
      SOURCE ("0") TAIL, 0, "x<y", "a&amp;b", 0, NULL },
    { "null Data is empty", HEAD NAME ("n") NULLPROP ("Data", "string")
      SOURCE ("0") TAIL, 0, "n", "", 0, NULL },
    { "missing Data is empty", HEAD NAME ("n") SOURCE ("0") TAIL, 0, "n", "",
      0, NULL },
    { "empty VALUE", HEAD NAME ("n") DATA ("") SOURCE ("0") TAIL, 0, "n", "",
      0, NULL },
    { "self-closing VALUE", HEAD NAME ("n") "<PROPERTY NAME=\"Data\" "
      "TYPE=\"string\"><VALUE/></PROPERTY>" SOURCE ("0") TAIL, 0, "n", "", 0,
      NULL },
    { "QUALIFIER ignored", HEAD "<QUALIFIER NAME=\"Name\" TYPE=\"string\">"
      "<VALUE>q</VALUE></QUALIFIER>" NAME ("n") SOURCE ("0") TAIL, 0, "n", "",
      0, NULL },
    { "property names any case", HEAD PROP ("NAME", "string", "n")
      PROP ("data", "string", "d") PROP ("source", "uint8", "4") TAIL, 0, "n",
      "d", 4, NULL },
    { "class name any case", "<INSTANCE CLASSNAME=\"msvm_kvpexchangedataitem\">"
      NAME ("n") SOURCE ("0") TAIL, 0, "n", "", 0, NULL },
    { "multibyte text", HEAD NAME ("caf\xc3\xa9") DATA ("\xf0\x9f\x98\x80")
      SOURCE ("0") TAIL, 0, "caf\xc3\xa9", "\xf0\x9f\x98\x80", 0, NULL },
    { "uint8 255", HEAD NAME ("n") PROP ("Source", "uint8", "255") TAIL, 0,
      "n", "", 255, NULL },
    { "uint8 256", HEAD NAME ("n") PROP ("Source", "uint8", "256") TAIL,
      32773, NULL, NULL, 0, "Source" },
    { "uint16 65535", HEAD NAME ("n") PROP ("Source", "uint16", "65535") TAIL,
      0, "n", "", 65535, NULL },
    { "uint16 65536", HEAD NAME ("n") PROP ("Source", "uint16", "65536") TAIL,
      32773, NULL, NULL, 0, NULL },
    { "uint32 max", HEAD NAME ("n") PROP ("Source", "uint32", "4294967295")
      TAIL, 0, "n", "", 4294967295u, NULL },
    { "uint32 over", HEAD NAME ("n") PROP ("Source", "uint32", "4294967296")
      TAIL, 32773, NULL, NULL, 0, NULL },
    { "uint64 max", HEAD NAME ("n") PROP ("Source", "uint64",
      "18446744073709551615") TAIL, 0, "n", "", UINT64_MAX, NULL },
    { "uint64 over", HEAD NAME ("n") PROP ("Source", "uint64",
      "18446744073709551616") TAIL, 32773, NULL, NULL, 0, NULL },
    { "leading zeros", HEAD NAME ("n") SOURCE ("0004") TAIL, 0, "n", "", 4,
      NULL },
    { "Source negative", HEAD NAME ("n") SOURCE ("-1") TAIL, 32773, NULL,
      NULL, 0, "Source" },
    { "Source with spaces", HEAD NAME ("n") SOURCE (" 4") TAIL, 32773, NULL,
      NULL, 0, NULL },
    { "Source hex", HEAD NAME ("n") SOURCE ("0x4") TAIL, 32773, NULL, NULL, 0,
      NULL },
    { "Source empty", HEAD NAME ("n") SOURCE ("") TAIL, 32773, NULL, NULL, 0,
      NULL },
    { "Source long", HEAD NAME ("n") SOURCE ("000000000000000000000000000004")
      TAIL, 32773, NULL, NULL, 0, NULL },
    //  wrong class or type: 32776
    { "other class", "<INSTANCE CLASSNAME=\"Msvm_ComputerSystem\">"
      NAME ("n") SOURCE ("0") TAIL, 32776, NULL, NULL, 0, "Msvm_ComputerSystem" },
    { "Name TYPE uint16", HEAD PROP ("Name", "uint16", "1") SOURCE ("0") TAIL,
      32776, NULL, NULL, 0, "Name" },
    { "Data TYPE boolean", HEAD NAME ("n") PROP ("Data", "boolean", "true")
      SOURCE ("0") TAIL, 32776, NULL, NULL, 0, "Data" },
    { "Source TYPE string", HEAD NAME ("n") PROP ("Source", "string", "0")
      TAIL, 32776, NULL, NULL, 0, "Source" },
    { "Source TYPE sint32", HEAD NAME ("n") PROP ("Source", "sint32", "0")
      TAIL, 32776, NULL, NULL, 0, NULL },
    { "TYPE case matters", HEAD PROP ("Name", "String", "n") SOURCE ("0") TAIL,
      32776, NULL, NULL, 0, NULL },
    { "Name as an array", HEAD "<PROPERTY.ARRAY NAME=\"Name\" TYPE=\"string\">"
      "</PROPERTY.ARRAY>" SOURCE ("0") TAIL, 32776, NULL, NULL, 0, "Name" },
    //  malformed: 32773
    { "missing Name", HEAD DATA ("d") SOURCE ("0") TAIL, 32773, NULL, NULL, 0,
      "Name is missing" },
    { "null Name", HEAD NULLPROP ("Name", "string") SOURCE ("0") TAIL, 32773,
      NULL, NULL, 0, "Name is null" },
    { "missing Source", HEAD NAME ("n") DATA ("d") TAIL, 32773, NULL, NULL, 0,
      "Source is missing" },
    { "null Source", HEAD NAME ("n") NULLPROP ("Source", "uint16") TAIL, 32773,
      NULL, NULL, 0, "Source is null" },
    { "Name twice", HEAD NAME ("n") NAME ("m") SOURCE ("0") TAIL, 32773, NULL,
      NULL, 0, "twice" },
    { "Data twice", HEAD NAME ("n") DATA ("a") DATA ("b") SOURCE ("0") TAIL,
      32773, NULL, NULL, 0, "twice" },
    { "Source twice", HEAD NAME ("n") SOURCE ("0") SOURCE ("4") TAIL, 32773,
      NULL, NULL, 0, "twice" },
    { "two VALUEs", HEAD NAME ("n") "<PROPERTY NAME=\"Data\" TYPE=\"string\">"
      "<VALUE>a</VALUE><VALUE>b</VALUE></PROPERTY>" SOURCE ("0") TAIL, 32773,
      NULL, NULL, 0, "VALUE" },
    { "element in VALUE", HEAD NAME ("a<b>c</b>") SOURCE ("0") TAIL, 32773,
      NULL, NULL, 0, "element" },
    { "no TYPE", HEAD "<PROPERTY NAME=\"Name\"><VALUE>n</VALUE></PROPERTY>"
      SOURCE ("0") TAIL, 32773, NULL, NULL, 0, "TYPE" },
    { "no NAME", HEAD "<PROPERTY TYPE=\"string\"><VALUE>n</VALUE></PROPERTY>"
      NAME ("n") SOURCE ("0") TAIL, 32773, NULL, NULL, 0, "NAME" },
    { "no CLASSNAME", "<INSTANCE>" NAME ("n") SOURCE ("0") TAIL, 32773, NULL,
      NULL, 0, "CLASSNAME" },
    { "root not INSTANCE", "<VALUE.OBJECT>" HEAD NAME ("n") SOURCE ("0") TAIL
      "</VALUE.OBJECT>", 32773, NULL, NULL, 0, "INSTANCE" },
    { "element names case-sensitive", "<instance CLASSNAME="
      "\"Msvm_KvpExchangeDataItem\">" NAME ("n") SOURCE ("0") "</instance>",
      32773, NULL, NULL, 0, NULL },
    { "DOCTYPE", "<!DOCTYPE INSTANCE>" HEAD NAME ("n") SOURCE ("0") TAIL,
      32773, NULL, NULL, 0, "DOCTYPE" },
    { "DOCTYPE with entity", "<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\">"
      "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>" HEAD NAME ("&b;")
      SOURCE ("0") TAIL, 32773, NULL, NULL, 0, "DOCTYPE" },
    { "external entity", "<!DOCTYPE x SYSTEM \"file:///etc/passwd\">" HEAD
      NAME ("n") SOURCE ("0") TAIL, 32773, NULL, NULL, 0, "DOCTYPE" },
    { "undefined entity", HEAD NAME ("&nope;") SOURCE ("0") TAIL, 32773, NULL,
      NULL, 0, "XML" },
    { "NUL char reference", HEAD NAME ("a&#0;") SOURCE ("0") TAIL, 32773,
      NULL, NULL, 0, NULL },
    { "broken XML", HEAD NAME ("n") SOURCE ("0"), 32773, NULL, NULL, 0,
      "broken XML" },
    { "mismatched tag", HEAD NAME ("n") SOURCE ("0") "</INSTANCES>", 32773,
      NULL, NULL, 0, NULL },
    { "empty", "", 32773, NULL, NULL, 0, NULL },
    { "not XML", "ip=10.0.0.5", 32773, NULL, NULL, 0, NULL },
    { "invalid UTF-8", HEAD NAME ("a\xff") SOURCE ("0") TAIL, 32773, NULL,
      NULL, 0, NULL },
    { "two roots", HEAD NAME ("n") SOURCE ("0") TAIL HEAD TAIL, 32773, NULL,
      NULL, 0, NULL },
};

static kvp_cim_t *cim;

static void
s_setup (void)
{
    cim = kvp_cim_new ();
    ck_assert_ptr_nonnull (cim);
}

static void
s_teardown (void)
{
    kvp_cim_destroy (&cim);
    ck_assert_ptr_null (cim);
    kvp_cim_destroy (&cim);
}

START_TEST (test_case)
{
    const s_case_t *c = &s_cases [_i];
    const char *name = NULL, *data = NULL;
    size_t name_len = 0, data_len = 0;
    uint64_t source = 99;
    int rc = kvp_cim_parse (cim, c->xml, strlen (c->xml), &name, &name_len,
                            &data, &data_len, &source);
    ck_assert_msg (rc == c->rc, "%s: rc %d, expected %d (%s)", c->what, rc,
                   c->rc, kvp_cim_error (cim));
    if (c->error)
        ck_assert_msg (strstr (kvp_cim_error (cim), c->error),
                       "%s: error \"%s\" lacks \"%s\"", c->what,
                       kvp_cim_error (cim), c->error);
    if (rc != 0) {
        ck_assert_msg (strlen (kvp_cim_error (cim)) > 0, "%s: no error",
                       c->what);
        return;
    }
    ck_assert_uint_eq (name_len, strlen (c->name));
    ck_assert_int_eq (memcmp (name, c->name, name_len), 0);
    ck_assert_uint_eq (data_len, strlen (c->data));
    ck_assert_ptr_nonnull (data);
    ck_assert_int_eq (memcmp (data, c->data, data_len), 0);
    ck_assert_uint_eq (source, c->source);
}
END_TEST

/*  Build an item with a value of `len` bytes of 'x'. */
static char *
s_big_item (size_t len)
{
    char *xml = malloc (len + 512);
    int head = sprintf (xml, HEAD "<PROPERTY NAME=\"Data\" TYPE=\"string\">"
                        "<VALUE>");
    memset (xml + head, 'x', len);
    strcpy (xml + head + len, "</VALUE></PROPERTY>" NAME ("n") SOURCE ("4")
            TAIL);
    return xml;
}

START_TEST (test_storage)
{
    //  Spans from earlier parses stay valid until reset
    const char *names [3], *data;
    size_t lens [3], data_len;
    uint64_t source;
    const char *xml [3] = {
        HEAD NAME ("first") SOURCE ("0") TAIL,
        HEAD NAME ("second") DATA ("two") SOURCE ("4") TAIL,
        HEAD NAME ("third") SOURCE ("0") TAIL,
    };
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq (kvp_cim_parse (cim, xml [i], strlen (xml [i]),
                                         &names [i], &lens [i], &data,
                                         &data_len, &source), 0);
        //  A failed parse in between gives nothing back and breaks nothing
        const char *bad = HEAD NAME ("zzzzzzzzzzzzzz") TAIL;
        const char *n2, *d2;
        size_t l2, dl2;
        ck_assert_int_eq (kvp_cim_parse (cim, bad, strlen (bad), &n2, &l2, &d2,
                                         &dl2, &source), 32773);
    }
    ck_assert_int_eq (memcmp (names [0], "first", lens [0]), 0);
    ck_assert_int_eq (memcmp (names [1], "second", lens [1]), 0);
    ck_assert_int_eq (memcmp (names [2], "third", lens [2]), 0);
    ck_assert_ptr_eq (names [1] + lens [1], names [2] - 3);   //  "two" between
    const char *first = names [0];
    kvp_cim_reset (cim);
    ck_assert_int_eq (kvp_cim_parse (cim, xml [2], strlen (xml [2]), &names [0],
                                     &lens [0], &data, &data_len, &source), 0);
    ck_assert_ptr_eq (names [0], first);        //  storage reused

    //  Large values are fine up to the bound, refused past it
    char *big = s_big_item (60000);
    ck_assert_int_eq (kvp_cim_parse (cim, big, strlen (big), &names [0],
                                     &lens [0], &data, &data_len, &source), 0);
    ck_assert_uint_eq (data_len, 60000);
    free (big);
    big = s_big_item (70000);
    ck_assert_int_eq (kvp_cim_parse (cim, big, strlen (big), &names [0],
                                     &lens [0], &data, &data_len, &source),
                      32773);
    free (big);

    //  Storage is bounded: many big parses without reset end in 32773
    big = s_big_item (60000);
    int rc = 0, parses = 0;
    for (; parses < 40 && rc == 0; parses++)
        rc = kvp_cim_parse (cim, big, strlen (big), &names [0], &lens [0],
                            &data, &data_len, &source);
    ck_assert_int_eq (rc, 32773);
    ck_assert_int_gt (parses, 16);
    kvp_cim_reset (cim);
    ck_assert_int_eq (kvp_cim_parse (cim, big, strlen (big), &names [0],
                                     &lens [0], &data, &data_len, &source), 0);
    free (big);
}
END_TEST

START_TEST (test_deep_and_odd)
{
    const char *name, *data;
    size_t name_len, data_len;
    uint64_t source;
    //  Deep nesting inside an ignored property is bounded
    char xml [4096] = HEAD "<QUALIFIER NAME=\"x\">";
    for (int i = 0; i < 100; i++)
        strcat (xml, "<a>");
    ck_assert_int_eq (kvp_cim_parse (cim, xml, strlen (xml), &name, &name_len,
                                     &data, &data_len, &source), 32773);
    ck_assert_ptr_nonnull (strstr (kvp_cim_error (cim), "deep"));
    //  Bytes after a NUL are not C-string-cut: length rules
    const char nul [] = HEAD NAME ("n") SOURCE ("0") TAIL "\0junk";
    ck_assert_int_eq (kvp_cim_parse (cim, nul, sizeof nul - 1, &name,
                                     &name_len, &data, &data_len, &source),
                      32773);
    ck_assert_int_eq (kvp_cim_parse (cim, nul, sizeof nul - 6, &name,
                                     &name_len, &data, &data_len, &source), 0);
    ck_assert_int_eq (kvp_cim_parse (cim, NULL, 0, &name, &name_len, &data,
                                     &data_len, &source), 32773);
    //  Text arriving in many callbacks (entities split it) is joined
    const char *split = HEAD NAME ("a&amp;b&amp;c&#10;d") SOURCE ("0") TAIL;
    ck_assert_int_eq (kvp_cim_parse (cim, split, strlen (split), &name,
                                     &name_len, &data, &data_len, &source), 0);
    ck_assert_uint_eq (name_len, 7);
    ck_assert_int_eq (memcmp (name, "a&b&c\nd", 7), 0);
}
END_TEST

Suite *
s_suite (void)
{
    Suite *suite = suite_create ("cim");
    TCase *tc = tcase_create ("cases");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_loop_test (tc, test_case, 0,
                         (int) (sizeof (s_cases) / sizeof (s_cases [0])));
    suite_add_tcase (suite, tc);
    tc = tcase_create ("parser");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_storage);
    tcase_add_test (tc, test_deep_and_odd);
    suite_add_tcase (suite, tc);
    return suite;
}

int
main (void)
{
    return tk_run_suite (s_suite ());
}
