#!/bin/sh
# t-conf-sample: the option table (conf_options[] in conf/conf.c), the
# annotated sample conf/tlsrpt.conf and man/tlsrpt.conf.5.in agree.
#
#  - the sample parses: tlsrpt-milter -n prints "<file>: configuration OK";
#  - every key of the table is set in the sample, to its built-in default
#    (keys without a default, such as organization_name and contact_info,
#    to some non-empty value), and the sample sets no other key;
#  - every key has an entry in tlsrpt.conf(5) that states its default,
#    and the man page lists no key the table does not have;
#  - an unknown key and a repeated key are reported with the right line.
#
# The sample is written for the usual layout (/etc, /var/lib, /run).  When
# the build was configured otherwise (make distcheck, a /usr/local build),
# the sample's /var/lib/tlsrpt and /run/tlsrpt are compared as the build's
# state and run directories, taken from the built-in defaults.
#
# Exit status as automake expects: 0 pass, 1 fail, 99 hard error.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
MILTER=$top_builddir/tlsrpt-milter
KEYS=$top_builddir/tests/conf_keys
SAMPLE=$top_srcdir/conf/tlsrpt.conf
MAN=$top_srcdir/man/tlsrpt.conf.5.in
TAB=$(printf '\t')

for f in "$MILTER" "$KEYS"; do
	[ -x "$f" ] || { echo "ERROR: $f is not built (run make check)"; exit 99; }
done
for f in "$SAMPLE" "$MAN"; do
	[ -r "$f" ] || { echo "ERROR: $f is missing"; exit 99; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-conf.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT

failed=0
checks=0
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
check() {
	checks=$((checks + 1))
}

# ---- the option table -------------------------------------------------
if ! "$KEYS" > "$T/table" || [ ! -s "$T/table" ]; then
	echo "ERROR: $KEYS printed no option table"
	exit 99
fi
default_of() {	# key -> its built-in default as printed, "-" for none
	awk -F "$TAB" -v k="$1" '$1 == k { print $2; exit }' "$T/table"
}
statedir=$(default_of store_path); statedir=${statedir%/*}
rundir=$(default_of datagram_socket); rundir=${rundir%/*}

# the layout the sample is written for, or the build's own
map_sample_dirs=no
if ! grep -q '^localstatedir = /var$' "$top_builddir/Makefile" 2>/dev/null ||
    ! grep -q '^runstatedir = /run$' "$top_builddir/Makefile" 2>/dev/null; then
	map_sample_dirs=yes
	echo "note: build is not configured for /var and /run; comparing the sample's"
	echo "      /var/lib/tlsrpt as $statedir and /run/tlsrpt as $rundir"
fi
as_built() {	# a value from the sample, with its directories as built
	v=$1
	if [ $map_sample_dirs = yes ]; then
		case $v in
		/var/lib/tlsrpt/*) v=$statedir/${v#/var/lib/tlsrpt/} ;;
		/run/tlsrpt/*) v=$rundir/${v#/run/tlsrpt/} ;;
		esac
	fi
	printf '%s\n' "$v"
}

# ---- 1. the sample parses ---------------------------------------------
check
out=$("$MILTER" -n -c "$SAMPLE" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ "$out" != "$SAMPLE: configuration OK" ]; then
	fail "tlsrpt-milter -n -c $SAMPLE: exit $rc, output:"
	printf '      %s\n' "$out"
fi

# ---- 2. the sample's settings -----------------------------------------
# One line per setting: line number, key in lower case, value, read by the
# parser's rules (quotes with \" and \\, "#" after white space).
awk '
{
	line = $0
	sub(/\r$/, "", line)
	sub(/^[ \t]+/, "", line)
	if (line == "" || substr(line, 1, 1) == "#")
		next
	key = line
	sub(/[ \t].*$/, "", key)
	rest = substr(line, length(key) + 1)
	sub(/^[ \t]+/, "", rest)
	if (substr(rest, 1, 1) == "\"") {
		v = ""; closed = 0
		for (i = 2; i <= length(rest); i++) {
			c = substr(rest, i, 1)
			n = substr(rest, i + 1, 1)
			if (c == "\\" && (n == "\"" || n == "\\")) { v = v n; i++; continue }
			if (c == "\"") { closed = 1; break }
			v = v c
		}
		if (!closed)
			v = "<unterminated quote>"
	} else {
		v = rest
		if (match(v, /[ \t]#/))
			v = substr(v, 1, RSTART - 1)
		sub(/[ \t]+$/, "", v)
	}
	printf "%d\t%s\t%s\n", NR, tolower(key), v
}' "$SAMPLE" > "$T/settings"

while IFS="$TAB" read -r key def; do
	check
	n=$(awk -F "$TAB" -v k="$key" '$2 == k' "$T/settings" | wc -l)
	if [ "$n" -eq 0 ]; then
		fail "sample: key $key is not set (write it with its default: ${def:-\"\"})"
		continue
	fi
	if [ "$n" -gt 1 ]; then
		fail "sample: key $key is set $n times"
		continue
	fi
	lineno=$(awk -F "$TAB" -v k="$key" '$2 == k { print $1 }' "$T/settings")
	value=$(awk -F "$TAB" -v k="$key" '$2 == k { print $3 }' "$T/settings")
	if [ "$def" = "-" ]; then
		# no built-in default (organization_name, contact_info): a placeholder
		[ -n "$value" ] ||
		    fail "sample line $lineno: $key has no default and needs a placeholder value"
		continue
	fi
	got=$(as_built "$value")
	[ "$got" = "$def" ] ||
	    fail "sample line $lineno: $key is \"$value\" but its built-in default is \"$def\""
done < "$T/table"

# no key in the sample that the table does not have
while IFS="$TAB" read -r lineno key value; do
	check
	awk -F "$TAB" -v k="$key" '$1 == k { found = 1 } END { exit !found }' "$T/table" ||
	    fail "sample line $lineno: key $key is not in the option table"
done < "$T/settings"

# ---- 3. tlsrpt.conf(5) ------------------------------------------------
# The entries of section KEYS: ".TP", ".B key", then text up to the next
# .TP, .SS or .SH, written out as "key<TAB>text" with font escapes and
# "\-" undone.
awk '
function flush() {
	if (key != "")
		printf "%s\t%s\n", key, text
	key = ""; text = ""
}
/^\.SH/ { flush(); inkeys = ($0 ~ /^\.SH "?KEYS"?$/); next }
!inkeys { next }
/^\.(TP|SS)/ { flush(); after_tp = ($0 ~ /^\.TP/); next }
after_tp && /^\.B [a-z_0-9]+$/ { key = substr($0, 4); after_tp = 0; next }
{
	after_tp = 0
	if (key == "")
		next
	line = $0
	gsub(/\\f[BIRP]/, "", line)
	gsub(/\\-/, "-", line)
	gsub(/\\&/, "", line)
	text = text " " line
}
END { flush() }' "$MAN" > "$T/man"

check
[ -s "$T/man" ] || fail "$MAN: no key entries (\".TP\" + \".B key\") found under .SH KEYS"

while IFS="$TAB" read -r key def; do
	check
	entry=$(awk -F "$TAB" -v k="$key" '$1 == k { print $2; exit }' "$T/man")
	if [ -z "$entry" ]; then
		fail "$MAN: no entry for key $key under KEYS"
		continue
	fi
	case $def in
	-)	want="No default" ;;
	"")	want="Default: empty" ;;
	"$statedir"/*) want="Default: @PKGSTATEDIR@/${def#"$statedir"/}" ;;
	"$rundir"/*) want="Default: @PKGRUNDIR@/${def#"$rundir"/}" ;;
	*)	want="Default: $def" ;;
	esac
	# the default, followed by punctuation or the end, not by more digits
	printf '%s\n' "$entry" | awk -v w="$want" '
	    { s = $0 " "; i = index(s, w); if (i == 0) exit 1
	      c = substr(s, i + length(w), 1); exit !(c ~ /[ .,;]/) }' ||
	    fail "$MAN: entry $key does not say \"$want\""
done < "$T/table"

while IFS="$TAB" read -r key _; do
	check
	awk -F "$TAB" -v k="$key" '$1 == k { found = 1 } END { exit !found }' "$T/table" ||
	    fail "$MAN: documents key $key, which is not in the option table"
done < "$T/man"

# ---- 4. errors name the right line ------------------------------------
# an unknown key in place of the flush_records setting
check
line=$(awk -F "$TAB" '$2 == "flush_records" { print $1 }' "$T/settings")
if [ -z "$line" ]; then
	fail "sample has no flush_records line to replace"
else
	awk -v n="$line" 'NR == n { print "no_such_key 1"; next } { print }' "$SAMPLE" \
	    > "$T/unknown.conf"
	out=$("$MILTER" -n -c "$T/unknown.conf" 2>&1)
	rc=$?
	want="tlsrpt-milter: $T/unknown.conf:$line: unknown key \"no_such_key\""
	if [ $rc -ne 78 ] || [ "$out" != "$want" ]; then
		fail "unknown key: expected exit 78 and"
		printf '      %s\n' "$want" "got exit $rc and" "$out"
	fi
fi

# a key set again at the end, in other case: a duplicate of the first
check
line=$(awk -F "$TAB" '$2 == "log_level" { print $1 }' "$T/settings")
total=$(wc -l < "$SAMPLE")
{ cat "$SAMPLE"; echo "Log_Level debug"; } > "$T/dup.conf"
out=$("$MILTER" -n -c "$T/dup.conf" 2>&1)
rc=$?
want="tlsrpt-milter: $T/dup.conf:$((total + 1)): duplicate key log_level (first set at line $line)"
if [ $rc -ne 78 ] || [ "$out" != "$want" ]; then
	fail "duplicate key: expected exit 78 and"
	printf '      %s\n' "$want" "got exit $rc and" "$out"
fi

echo "$checks checks, $failed failed"
[ "$failed" -eq 0 ] || exit 1
exit 0
