/*  kvp_cim.h - parse a Msvm_KvpExchangeDataItem given as a CIM-XML embedded
    instance, the text PowerShell's $item.PSBase.GetText(1) produces:

      <INSTANCE CLASSNAME="Msvm_KvpExchangeDataItem">
        <PROPERTY NAME="Name" TYPE="string"><VALUE>k</VALUE></PROPERTY>
        <PROPERTY NAME="Data" TYPE="string"><VALUE>v</VALUE></PROPERTY>
        <PROPERTY NAME="Source" TYPE="uint16"><VALUE>0</VALUE></PROPERTY>
      </INSTANCE>

    Parsed with expat (a real XML parser: entities, CDATA and attribute
    quoting are the library's business). Expat rather than libxml2 because
    it is small, parses as a stream of callbacks (no tree to build), has no
    network or external-entity loading of its own, and lets us refuse any
    DOCTYPE outright (a doctype handler stops the parser), so nothing but
    the predefined entities and character references is ever expanded.
    Properties come in any order; unknown properties (Caption, ... with
    PROPAGATED="true" and no VALUE) are ignored. A property without <VALUE> is null; a null Data is empty.

    Faults: another CLASSNAME, Name/Data with a TYPE other than "string", or
    Source with a TYPE other than uint8..uint64 -> 32776. Broken XML, a
    DOCTYPE (so no entity expansion tricks), a property given twice, a null
    or missing Name or Source, a Source that is not a decimal number in its
    TYPE's range -> 32773. A Data property that is absent altogether is
    taken as null (empty) too. The CIM identifiers in CLASSNAME and NAME
    are compared without regard to case, as CIM does; element, attribute
    and TYPE names exactly. Each decoded value is at most 64 KiB.

    Leaf module over expat; no sockets, no msgpack.
*/
#ifndef KVP_CIM_H_INCLUDED
#define KVP_CIM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _kvp_cim_t kvp_cim_t;

/*  Create a reusable parser. Returns NULL when out of memory. */
kvp_cim_t *
    kvp_cim_new (void);

/*  Destroy a parser and null the caller's pointer; safe on NULL. */
void
    kvp_cim_destroy (kvp_cim_t **self_p);

/*  Parse `len` bytes of `xml`. Returns 0 on success, else 32773 or 32776
    with kvp_cim_error giving the reason. After a success, Name and Data
    (decoded, not NUL-terminated) are appended to the parser's storage and
    stay valid until kvp_cim_reset or destroy: several items can be parsed
    one after another and all remain valid. */
int
    kvp_cim_parse (kvp_cim_t *self, const char *xml, size_t len,
                   const char **name, size_t *name_len,
                   const char **data, size_t *data_len, uint64_t *source);

/*  Forget the strings of earlier parses (keeps the memory for reuse). */
void
    kvp_cim_reset (kvp_cim_t *self);

/*  The reason for the last failed parse. */
const char *
    kvp_cim_error (kvp_cim_t *self);

#ifdef __cplusplus
}
#endif
#endif
