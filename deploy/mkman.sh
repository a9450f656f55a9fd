#!/bin/sh
# Write the man page (roff, section 1) of a kvpbus program to stdout, made
# from its --help text, which each program prints from its option table:
#   deploy/mkman.sh bin/kvp-broker VERSION > kvp-broker.1
# The usage line becomes SYNOPSIS; the text before the first "name:"
# heading, DESCRIPTION; "options:" entries ("  --name METAVAR  help",
# continued on more indented lines), OPTIONS; "commands:", COMMANDS
# (as written); the text after a section's blank line, NOTES.
set -eu
prog=$1
version=$2
name=$(basename "$prog")

case $name in
    kvp-broker) summary="route KVP/1 requests to the workers of a kvpbus cluster" ;;
    kvp-worker) summary="serve a kvpbus broker's partitions from a write-ahead log and LMDB" ;;
    kvpctl)     summary="command-line client of a kvpbus cluster" ;;
    kvpbench)   summary="load a kvpbus cluster and measure it" ;;
    kvp-guest)  summary="keep a Hyper-V guest's .kvp_pool_0 equal to its items in kvpbus" ;;
    *)          echo "mkman.sh: no summary for $name" >&2; exit 1 ;;
esac
others=""
for p in kvp-broker kvp-worker kvpctl kvpbench kvp-guest; do
    [ "$p" = "$name" ] || others="$others $p"
done

# roff escapes first (a backslash, then every hyphen as a minus), so that
# the structure below works on escaped text; names come in the
# environment, which awk does not unescape as it does -v values.
esc() { printf '%s' "$1" | sed -e 's/\\/\\e/g' -e 's/-/\\-/g'; }
MAN_NAME=$(esc "$name") MAN_SUMMARY=$(esc "$summary") MAN_OTHERS=$(esc "$others") \
MAN_HELP_OF="$name" MAN_VERSION=$version
export MAN_NAME MAN_SUMMARY MAN_OTHERS MAN_HELP_OF MAN_VERSION
"$prog" --help | sed -e 's/\\/\\e/g' -e 's/-/\\-/g' | awk '
# A heading is written with the first line under it, so an empty section
# is never written; in COMMANDS the lines are kept as they are (.nf).
function heading(title, nofill) {
    if (verbatim) { print ".fi"; verbatim = 0 }
    pending = title
    pending_nf = nofill
    para = 0
}
# A request (".TP"), under the pending heading.
function request(text) {
    if (pending != "") {
        print ".SH " pending
        if (pending_nf) { print ".nf"; verbatim = 1 }
        pending = ""
    }
    print text
}
# A line of text: one that starts as a request would is escaped.
function line(text,    c) {
    c = substr(text, 1, 1)
    if (c == "." || c == "\047")
        text = "\\&" text
    request(text)
}
# Text of a paragraph: a blank line starts the next one.
function prose(text) {
    if (text == "") { para = 0; return }
    sub(/^ +/, "", text)
    if (!para) { request(".PP"); para = 1 }
    line(text)
}
# "  -c, --conns CONNS   help": bold options, italic metavars, the help.
function option(text,    n, t, i, tag, word, comma, is_opt, prev_opt, rest) {
    n = split(text, t, " ")
    tag = ""
    prev_opt = 0
    for (i = 1; i <= n; i++) {
        is_opt = t[i] ~ /^\\-/
        if (!is_opt && !(prev_opt && t[i] ~ /^([A-Z][A-Z0-9_:]*|[a-z0-9]+(\|[a-z0-9]+)+)$/))
            break
        word = t[i]
        comma = ""
        if (substr(word, length(word)) == ",") {
            word = substr(word, 1, length(word) - 1)
            comma = ","
        }
        tag = tag (tag == "" ? "" : " ") (is_opt ? "\\fB" : "\\fI") word "\\fR" comma
        prev_opt = is_opt
    }
    rest = ""
    for (; i <= n; i++)
        rest = rest (rest == "" ? "" : " ") t[i]
    request(".TP")
    request(tag)
    if (rest != "")
        line(rest)
}
NR == 1 {
    print ".\\\" Made from `" ENVIRON["MAN_HELP_OF"] " --help` by deploy/mkman.sh."
    print ".TH " toupper(ENVIRON["MAN_NAME"]) " 1 \"\" \"kvpbus " ENVIRON["MAN_VERSION"] "\" \"kvpbus manual\""
    print ".SH NAME"
    print ENVIRON["MAN_NAME"] " \\- " ENVIRON["MAN_SUMMARY"]
    print ".SH SYNOPSIS"
    text = $0
    sub(/^usage: */, "", text)
    n = split(text, w, " ")
    print ".B " w[1]
    sub(/^[^ ]+ */, "", text)
    if (text != "") line(text)
    section = "description"
    heading("DESCRIPTION", 0)
    next
}
/^[A-Za-z][A-Za-z ]*:$/ {
    section = tolower($0)
    sub(/:$/, "", section)
    heading(toupper(section), section != "options")
    next
}
section == "description" || section == "notes" { prose($0); next }
$0 == "" { heading("NOTES", 0); section = "notes"; next }
verbatim || pending_nf { sub(/^  /, ""); line($0); next }
/^  +\\-/ { option($0); next }
{ text = $0; sub(/^ +/, "", text); line(text) }
END {
    if (verbatim) print ".fi"
    print ".SH SEE ALSO"
    n = split(ENVIRON["MAN_OTHERS"], o, " ")
    for (i = 1; i <= n; i++)
        print ".BR " o[i] " (1)" (i < n ? "," : "")
}'
