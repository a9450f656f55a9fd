/*  kvp_cim.c - Msvm_KvpExchangeDataItem from a CIM-XML embedded instance.

    Why expat rather than libxml2: it is small, it parses as a stream of
    callbacks (no tree to allocate), it has no network or external-entity
    loading of its own, and a DOCTYPE handler lets us refuse any document
    type declaration outright, so no entity beyond the five predefined
    ones and character references can ever be expanded.

    Element and attribute names are matched exactly (case-sensitive, as
    CIM-XML spells them: INSTANCE, PROPERTY, VALUE, CLASSNAME, NAME, TYPE).
    The class and property names inside attribute values are CIM
    identifiers, which CIM compares without regard to case.

    Decoded Name and Data text goes into one buffer that is allocated once
    and never moves, so the spans handed out stay valid across parses
    until kvp_cim_reset. A failed parse gives back what it took.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdarg.h>
#include <stdbool.h>
#include <limits.h>
#include <expat.h>
#include "kvp_cim.h"
#include "kvp_rc.h"
#include "kvp_utf8.h"

#define S_CLASS         "Msvm_KvpExchangeDataItem"
#define S_STORE_SIZE    (1024 * 1024 + 64 * 1024)   /* >= one request body */
#define S_VALUE_MAX     (64 * 1024)     /* one decoded value, bytes */
#define S_DEPTH_MAX     16              /* element nesting */
#define S_NUMBER_MAX    24              /* Source text, bytes */

typedef enum { S_NAME, S_DATA, S_SOURCE, S_PROPS } s_prop_t;

static const char *s_prop_names [S_PROPS] = { "Name", "Data", "Source" };

/*  The unsigned CIM types Source may have, and their ranges. */
static const struct {
    const char *type;
    uint64_t max;
} s_uint_types [] = {
    { "uint8",  UINT8_MAX },
    { "uint16", UINT16_MAX },
    { "uint32", UINT32_MAX },
    { "uint64", UINT64_MAX }
};
#define S_UINT_TYPES (sizeof (s_uint_types) / sizeof (s_uint_types [0]))

typedef struct {
    bool seen;                  /* the PROPERTY element was given */
    bool has_value;             /* it held a VALUE (else it is null) */
    size_t offset;              /* Name/Data: text start in the store */
    size_t len;                 /* Name/Data: text length */
} s_slot_t;

struct _kvp_cim_t {
    XML_Parser parser;          /* reused via XML_ParserReset */
    char *store;                /* S_STORE_SIZE bytes, never moves */
    size_t used;                /* bytes of store holding kept text */
    size_t mark;                /* used when this parse began */
    int rc;                     /* fault of this parse, 0 if none yet */
    char error [192];           /* its reason */
    unsigned depth;             /* open elements */
    int prop;                   /* property being read, or -1 */
    bool in_value;              /* inside that property's VALUE */
    uint64_t source_max;        /* range of Source's TYPE */
    char number [S_NUMBER_MAX]; /* Source's text */
    size_t number_len;
    s_slot_t slots [S_PROPS];
};

/*  Record the first fault and stop the parser. Expat may still deliver a
    callback or two after XML_StopParser; handlers check self->rc. */
static void
s_fail (kvp_cim_t *self, int rc, const char *format, ...)
{
    if (self->rc)
        return;
    self->rc = rc;
    va_list args;
    va_start (args, format);
    vsnprintf (self->error, sizeof (self->error), format, args);
    va_end (args);
    XML_StopParser (self->parser, XML_FALSE);
}

/*  An attribute's value, or NULL. */
static const char *
s_attr (const XML_Char **atts, const char *name)
{
    for (size_t i = 0; atts [i]; i += 2)
        if (strcmp (atts [i], name) == 0)
            return atts [i + 1];
    return NULL;
}

static int
s_prop_lookup (const char *name)
{
    for (int i = 0; i < S_PROPS; i++)
        if (strcasecmp (name, s_prop_names [i]) == 0)
            return i;
    return -1;
}

/*  A printable, bounded copy of an attribute value for an error text. */
static const char *
s_quote (char *buf, size_t size, const char *value)
{
    kvp_utf8_quote (buf, size, value, strlen (value), 48);
    return buf;
}

static void
s_start_instance (kvp_cim_t *self, const XML_Char *name,
                  const XML_Char **atts)
{
    char quoted [64];
    if (strcmp (name, "INSTANCE") != 0) {
        s_fail (self, KVP_RC_INVALID_PARAM, "root element is %s, "
                "expected INSTANCE", s_quote (quoted, sizeof quoted, name));
        return;
    }
    const char *cls = s_attr (atts, "CLASSNAME");
    if (!cls)
        s_fail (self, KVP_RC_INVALID_PARAM, "INSTANCE has no CLASSNAME");
    else
    if (strcasecmp (cls, S_CLASS) != 0)
        s_fail (self, KVP_RC_INCORRECT_TYPE, "INSTANCE of class \"%s\", "
                "expected " S_CLASS, s_quote (quoted, sizeof quoted, cls));
}

/*  Check a tracked property's TYPE; sets source_max for Source. */
static void
s_check_type (kvp_cim_t *self, int prop, const char *type)
{
    char quoted [64];
    const char *pname = s_prop_names [prop];
    if (!type) {
        s_fail (self, KVP_RC_INVALID_PARAM, "property %s has no TYPE", pname);
        return;
    }
    if (prop != S_SOURCE) {
        if (strcmp (type, "string") != 0)
            s_fail (self, KVP_RC_INCORRECT_TYPE, "property %s has TYPE "
                    "\"%s\", expected string", pname,
                    s_quote (quoted, sizeof quoted, type));
        return;
    }
    for (size_t i = 0; i < S_UINT_TYPES; i++)
        if (strcmp (type, s_uint_types [i].type) == 0) {
            self->source_max = s_uint_types [i].max;
            return;
        }
    s_fail (self, KVP_RC_INCORRECT_TYPE, "property Source has TYPE \"%s\", "
            "expected uint8 to uint64", s_quote (quoted, sizeof quoted, type));
}

/*  An element directly inside INSTANCE: PROPERTY for our three; the array
    and reference forms of them are the wrong type; the rest (QUALIFIER,
    other properties) is ignored. */
static void
s_start_property (kvp_cim_t *self, const XML_Char *name,
                  const XML_Char **atts)
{
    bool scalar = strcmp (name, "PROPERTY") == 0;
    bool other = strcmp (name, "PROPERTY.ARRAY") == 0
              || strcmp (name, "PROPERTY.REFERENCE") == 0;
    if (!scalar && !other)
        return;
    const char *pname = s_attr (atts, "NAME");
    if (!pname) {
        s_fail (self, KVP_RC_INVALID_PARAM, "%s has no NAME", name);
        return;
    }
    int prop = s_prop_lookup (pname);
    if (prop < 0)
        return;
    if (other) {
        s_fail (self, KVP_RC_INCORRECT_TYPE, "property %s is a %s, expected "
                "a single value", s_prop_names [prop], name);
        return;
    }
    if (self->slots [prop].seen) {
        s_fail (self, KVP_RC_INVALID_PARAM, "property %s given twice",
                s_prop_names [prop]);
        return;
    }
    self->slots [prop].seen = true;
    s_check_type (self, prop, s_attr (atts, "TYPE"));
    self->prop = prop;
}

static void
s_start_value (kvp_cim_t *self, const XML_Char *name)
{
    if (strcmp (name, "VALUE") != 0)
        return;                 //  QUALIFIER and such inside PROPERTY
    s_slot_t *slot = &self->slots [self->prop];
    if (slot->has_value) {
        s_fail (self, KVP_RC_INVALID_PARAM, "property %s has two VALUEs",
                s_prop_names [self->prop]);
        return;
    }
    slot->has_value = true;
    slot->offset = self->used;
    slot->len = 0;
    self->in_value = true;
}

static void XMLCALL
s_on_start (void *user, const XML_Char *name, const XML_Char **atts)
{
    kvp_cim_t *self = (kvp_cim_t *) user;
    if (self->rc)
        return;
    if (++self->depth > S_DEPTH_MAX)
        s_fail (self, KVP_RC_INVALID_PARAM, "XML nests deeper than %d",
                S_DEPTH_MAX);
    else
    if (self->in_value)
        s_fail (self, KVP_RC_INVALID_PARAM, "VALUE of property %s holds "
                "an element", s_prop_names [self->prop]);
    else
    if (self->depth == 1)
        s_start_instance (self, name, atts);
    else
    if (self->depth == 2)
        s_start_property (self, name, atts);
    else
    if (self->depth == 3 && self->prop >= 0)
        s_start_value (self, name);
}

static void XMLCALL
s_on_end (void *user, const XML_Char *name)
{
    kvp_cim_t *self = (kvp_cim_t *) user;
    if (self->rc)
        return;
    if (self->depth == 3 && self->in_value)
        self->in_value = false;
    else
    if (self->depth == 2)
        self->prop = -1;
    self->depth--;
}

/*  Text of a VALUE, which expat may hand over in several pieces. */
static void XMLCALL
s_on_text (void *user, const XML_Char *text, int len)
{
    kvp_cim_t *self = (kvp_cim_t *) user;
    if (self->rc || !self->in_value || len <= 0)
        return;
    size_t add = (size_t) len;
    if (self->prop == S_SOURCE) {
        if (self->number_len + add > S_NUMBER_MAX) {
            s_fail (self, KVP_RC_INVALID_PARAM, "property Source is not "
                    "a number in the range of its TYPE");
            return;
        }
        memcpy (self->number + self->number_len, text, add);
        self->number_len += add;
        return;
    }
    s_slot_t *slot = &self->slots [self->prop];
    if (slot->len + add > S_VALUE_MAX)
        s_fail (self, KVP_RC_INVALID_PARAM, "property %s is longer than "
                "%d bytes", s_prop_names [self->prop], S_VALUE_MAX);
    else
    if (self->used + add > S_STORE_SIZE)
        s_fail (self, KVP_RC_INVALID_PARAM, "too much item text in one "
                "request");
    else {
        memcpy (self->store + self->used, text, add);
        self->used += add;
        slot->len += add;
    }
}

static void XMLCALL
s_on_doctype (void *user, const XML_Char *name, const XML_Char *sysid,
              const XML_Char *pubid, int has_internal_subset)
{
    s_fail ((kvp_cim_t *) user, KVP_RC_INVALID_PARAM,
            "DOCTYPE is not allowed");
}

/*  Never reached without a DOCTYPE; refused all the same. */
static void XMLCALL
s_on_entity (void *user, const XML_Char *name, int is_parameter,
             const XML_Char *value, int value_len, const XML_Char *base,
             const XML_Char *sysid, const XML_Char *pubid,
             const XML_Char *notation)
{
    s_fail ((kvp_cim_t *) user, KVP_RC_INVALID_PARAM,
            "entity declarations are not allowed");
}

kvp_cim_t *
kvp_cim_new (void)
{
    kvp_cim_t *self = (kvp_cim_t *) calloc (1, sizeof (kvp_cim_t));
    if (!self)
        return NULL;
    //  One allocation up front; pages are only touched as text arrives
    self->store = (char *) malloc (S_STORE_SIZE);
    self->parser = XML_ParserCreate ("UTF-8");
    if (!self->store || !self->parser) {
        kvp_cim_destroy (&self);
        return NULL;
    }
    return self;
}

void
kvp_cim_destroy (kvp_cim_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kvp_cim_t *self = *self_p;
    if (self->parser)
        XML_ParserFree (self->parser);
    free (self->store);
    free (self);
    *self_p = NULL;
}

void
kvp_cim_reset (kvp_cim_t *self)
{
    if (self)
        self->used = 0;
}

const char *
kvp_cim_error (kvp_cim_t *self)
{
    return self && self->rc? self->error: "";
}

/*  Prepare the parser and the per-parse state. XML_ParserReset clears
    every handler, so they are set again each time. */
static void
s_begin (kvp_cim_t *self)
{
    XML_ParserReset (self->parser, "UTF-8");
    XML_SetUserData (self->parser, self);
    XML_SetElementHandler (self->parser, s_on_start, s_on_end);
    XML_SetCharacterDataHandler (self->parser, s_on_text);
    XML_SetStartDoctypeDeclHandler (self->parser, s_on_doctype);
    XML_SetEntityDeclHandler (self->parser, s_on_entity);
    XML_SetParamEntityParsing (self->parser, XML_PARAM_ENTITY_PARSING_NEVER);
    self->rc = 0;
    self->error [0] = 0;
    self->depth = 0;
    self->prop = -1;
    self->in_value = false;
    self->source_max = 0;
    self->number_len = 0;
    self->mark = self->used;
    memset (self->slots, 0, sizeof (self->slots));
}

/*  Source's text as a decimal number within its TYPE's range. */
static bool
s_source_value (kvp_cim_t *self, uint64_t *source)
{
    uint64_t value = 0;
    if (self->number_len == 0)
        return false;
    for (size_t i = 0; i < self->number_len; i++) {
        char c = self->number [i];
        if (c < '0' || c > '9')
            return false;
        uint64_t digit = (uint64_t) (c - '0');
        if (value > (self->source_max - digit) / 10)
            return false;
        value = value * 10 + digit;
    }
    *source = value;
    return true;
}

/*  After a clean parse: the required properties and Source's value. */
static void
s_finish (kvp_cim_t *self, uint64_t *source)
{
    static const s_prop_t required [] = { S_NAME, S_SOURCE };
    for (size_t i = 0; i < 2; i++) {
        const s_slot_t *slot = &self->slots [required [i]];
        if (!slot->seen || !slot->has_value) {
            s_fail (self, KVP_RC_INVALID_PARAM, "property %s is %s",
                    s_prop_names [required [i]],
                    slot->seen? "null": "missing");
            return;
        }
    }
    if (!s_source_value (self, source))
        s_fail (self, KVP_RC_INVALID_PARAM, "property Source is not a "
                "number in the range of its TYPE");
}

int
kvp_cim_parse (kvp_cim_t *self, const char *xml, size_t len,
               const char **name, size_t *name_len,
               const char **data, size_t *data_len, uint64_t *source)
{
    if (!self)
        return KVP_RC_INVALID_PARAM;
    s_begin (self);
    if (!xml) {
        xml = "";               //  an empty str may come with no pointer
        len = 0;
    }
    if (len > INT_MAX)
        s_fail (self, KVP_RC_INVALID_PARAM, "XML text too long");
    else
    if (XML_Parse (self->parser, xml, (int) len, XML_TRUE)
            != XML_STATUS_OK && !self->rc) {
        enum XML_Error code = XML_GetErrorCode (self->parser);
        s_fail (self, KVP_RC_INVALID_PARAM, "broken XML at line %lu "
                "column %lu: %s",
                (unsigned long) XML_GetCurrentLineNumber (self->parser),
                (unsigned long) XML_GetCurrentColumnNumber (self->parser),
                XML_ErrorString (code));
    }
    uint64_t value = 0;
    if (!self->rc)
        s_finish (self, &value);
    if (self->rc) {
        self->used = self->mark;        //  give back this parse's text
        return self->rc;
    }
    const s_slot_t *n = &self->slots [S_NAME], *d = &self->slots [S_DATA];
    *name = self->store + n->offset;
    *name_len = n->len;
    //  A null or absent Data is the empty string
    *data = d->has_value? self->store + d->offset: "";
    *data_len = d->has_value? d->len: 0;
    *source = value;
    return 0;
}
