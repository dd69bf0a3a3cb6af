#!/bin/sh
# t-sts-report: from MTA-STS discovery to the report.  Every kind of
# policy-fetch outcome is served for real (unbound for the _mta-sts TXT
# and mta-sts.<domain> A records, tests/peers/sts_server.py for HTTPS
# with a test CA, as in t-sts-fetch.sh), fetched into the store with
# "tlsrpt-report policy D --fetch", and the cache rows are checked.
# Then tlsrpt-milter follows a Postfix log (log_file) with one verified
# TLS session per domain, with policy_map_socket set so that it loads
# the cache and its decorator files each session under the cached
# policy or failure (milter/policymap_input.h), and "tlsrpt-report
# preview D --json" must show, for every domain, the exact policy block
# (RFC 8460 4.3; checklist R11, R29, S5), the summary and the
# failure-details result types:
#
#   domain          served                      row status       report
#   enforce.test    mode enforce, 2 mx patterns ok               sts, 1 ok + 1
#                                                                validation-failure (MX
#                                                                outside the patterns)
#   testing.test    mode testing, LF lines      ok               sts, 1 ok
#   modenone.test   mode none                   ok (mode none)   no-policy-found, 1 ok
#   malformed.test  "mode: enforcing"           invalid          sts-policy-invalid
#   big.test        70000-byte body             invalid          sts-policy-invalid
#   html.test       text/html                   invalid          sts-policy-invalid
#   notype.test     no Content-Type             invalid          sts-policy-invalid
#   redirect.test   301                         fetch-error      sts-policy-fetch-error
#   missing.test    404                         fetch-error      sts-policy-fetch-error
#   wronghost.test  certificate for other.name  webpki-invalid   sts-webpki-invalid
#   untrusted.test  self-signed certificate     webpki-invalid   sts-webpki-invalid
#   expired.test    expired certificate         webpki-invalid   sts-webpki-invalid
#   nosts.test      no _mta-sts record          none             no-policy-found, 1 ok
#
# The rows are fetched at the real time (the daemon judges freshness by
# its clock), so no background refetch is due while the test runs (next
# fetch after a failure: 5 min; of none: 1 h); the test also checks
# that the rows are byte-for-byte unchanged afterwards and that the
# daemon fetched nothing (counter sts.fetches).
#
# Runs in a network namespace of its own (port 443 on many loopback
# addresses); skips (77) where that or unbound/openssl/python3 is
# missing.  TLSRPT_VALGRIND=1 runs the daemon and tlsrpt-report under
# valgrind.  Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/peers/own_netns.sh"

# lib.sh: $T, the daemon helpers (tl_conf, tl_start, tl_stop, tl_sql),
# TLSRPT_VALGRIND for the daemon
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/peers/pki.sh"
. "$top_srcdir/tests/peers/dns_server.sh"

export TZ=UTC LC_ALL=C
PY=/usr/bin/python3
SHAPE="$top_builddir/tests/json_shape"
REPORT=$(tl_valgrind "$top_builddir/tlsrpt-report")
LOG=$T/mail.log
T_START=$(date +%s)
SRV_PID=
DNS_PID=
trap 'tl_peers_cleanup "unbound:$T/unbound.log:10 server:$T/server.log:20" $SRV_PID $DNS_PID' EXIT
trap 'exit 1' INT TERM

# case domain, policy host address, behaviour (sts_server.py), certificate
CASES="enforce:11:policy:sts testing:12:policy:sts modenone:13:policy:sts
malformed:14:policy:sts big:15:oversize:sts html:16:html:sts notype:17:notype:sts
redirect:18:redirect:sts missing:19:404:sts wronghost:20:policy:wronghost
untrusted:21:policy:selfsigned expired:22:policy:expired"
DOMAINS="enforce testing modenone malformed big html notype redirect missing wronghost
untrusted expired nosts"

# ---- PKI, DNS, HTTPS ------------------------------------------------------------

P=$T/pki W=$T/www
mkdir "$P" "$W"
hosts=
for c in $CASES; do
	d=${c%%:*}
	case $c in *:sts) hosts="$hosts mta-sts.$d.test" ;; esac
done
# shellcheck disable=SC2086
if ! pki_make "$P" || ! pki_host "$P" sts $hosts; then
	tail -n 20 "$P/pki.log"; fail "could not make the test PKI"
fi

{
	echo '  local-zone: "test." static'
	echo "  local-data: '_smtp._tls.ready.test. TXT \"v=TLSRPTv1; rua=mailto:a@ready.test\"'"
	for c in $CASES; do
		d=${c%%:*} rest=${c#*:}
		echo "  local-data: '_mta-sts.$d.test. TXT \"v=STSv1; id=${d}1;\"'"
		echo "  local-data: 'mta-sts.$d.test. A 127.0.0.${rest%%:*}'"
	done
} > "$T/zone"

: > "$T/spec"
for c in $CASES; do
	d=${c%%:*} rest=${c#*:}
	ip=${rest%%:*} rest=${rest#*:}
	echo "127.0.0.$ip mta-sts.$d.test $P/${rest#*:}.crt $P/${rest#*:}.key ${rest%%:*}" >> "$T/spec"
done
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.enforce.test\r\nmx: *.mx.enforce.test\r\nmax_age: 86400\r\n' \
    > "$W/mta-sts.enforce.test.policy"
printf 'version: STSv1\nmode: testing\nmx: *.testing.test\nmax_age: 604800\n' \
    > "$W/mta-sts.testing.test.policy"
printf 'version: STSv1\nmode: none\nmx: mx.modenone.test\nmax_age: 86400\n' \
    > "$W/mta-sts.modenone.test.policy"
printf 'version: STSv1\nmode: enforcing\nmx: mx.malformed.test\nmax_age: 86400\n' \
    > "$W/mta-sts.malformed.test.policy"
for d in html notype wronghost untrusted expired; do
	printf 'version: STSv1\nmode: enforce\nmx: mx.%s.test\nmax_age: 86400\n' $d \
	    > "$W/mta-sts.$d.test.policy"
done

$PY "$top_srcdir/tests/peers/sts_server.py" "$W" "$T/spec" > "$T/server.log" 2>&1 &
SRV_PID=$!
i=0
while [ ! -f "$W/ready" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$SRV_PID" 2>/dev/null; then
		cat "$T/server.log"; fail "the HTTPS servers did not start"
	fi
	sleep 0.05
done
DNS_LISTEN=127.0.0.1:53 dns_start "$T" "$T/zone" ready.test ||
	{ tail -n 5 "$T/unbound.log"; fail "could not start unbound"; }

# ---- fetch every case into the store ------------------------------------------------

STS_CONF="https_ca_file $P/ca.crt
https_allow_private yes
resolver 127.0.0.1:53
sts_fetch_timeout 10s"
# (one line per argument: tl_conf takes "key value" lines)
conf() {
	old_ifs=$IFS
	IFS='
'
	# shellcheck disable=SC2086
	tl_conf "datagram_socket none" "log_file $LOG" "log_start_at beginning" \
	    "log_format postfix" "policy_map_socket unix:$T/policy.sock" \
	    "organization_name Test Sender" "contact_info mailto:tlsrpt@sender.test" $STS_CONF
	IFS=$old_ifs
}
conf

# fetch DOMAIN STATUS ERROR: fetch now (real time), check what it shows (rows: below)
fetch() {
	$REPORT -c "$T/tlsrpt.conf" policy "$1" --fetch > "$T/out" 2> "$T/err"
	rc=$?
	assert_eq "0|$2|$3" "$rc|$(sed -n 's/^status: *//p' "$T/out")|$(sed -n 's/^error: *//p' "$T/out")" \
	    "fetch $1: exit status, status, error"
	[ $rc = 0 ] || cat "$T/err"
}
fetch enforce.test ok -
fetch testing.test ok -
fetch modenone.test ok -
fetch malformed.test invalid 'line 2: mode "enforcing" is not enforce, testing or none'
fetch big.test invalid 'policy larger than 65536 bytes'
fetch html.test invalid 'content type "text/html" is not text/plain'
fetch notype.test invalid 'no content type (text/plain required)'
fetch redirect.test fetch-error 'HTTP 301 (redirects are not followed)'
fetch missing.test fetch-error 'HTTP 404'
fetch wronghost.test webpki-invalid \
    "SSL: no alternative certificate subject name matches target host name 'mta-sts.wronghost.test'"
fetch untrusted.test webpki-invalid 'SSL certificate problem: self-signed certificate'
fetch expired.test webpki-invalid 'SSL certificate problem: certificate has expired'
fetch nosts.test none '_mta-sts.nosts.test: NXDOMAIN'
assert_eq 0 "$(grep -c '^mta-sts.good.test' "$W/hits" 2>/dev/null)" "the redirect was not followed"
# sts_server.py stops by itself after 600 s: fetches after that fail to connect
kill -0 "$SRV_PID" 2>/dev/null ||
	{ echo "FAIL: the HTTPS servers ended (600 s lifetime) before the fetches did: machine too slow"; TL_FAILED=1; }

# what the cache holds: status|mode|mx|max_age|policy (policy lines joined by '/')
row() {
	tl_sql "select status || '|' || mode || '|' || mx || '|' || max_age || '|' ||
	    replace(policy, char(10), '/') from sts_policy where domain = '$1'"
}
assert_eq 'ok|enforce|["mx1.enforce.test","*.mx.enforce.test"]|86400|version: STSv1/mode: enforce/mx: mx1.enforce.test/mx: *.mx.enforce.test/max_age: 86400' \
    "$(row enforce.test)" "cache: enforce.test holds its enforce policy (CRLF lines)"
assert_eq 'ok|testing|["*.testing.test"]|604800|version: STSv1/mode: testing/mx: *.testing.test/max_age: 604800' \
    "$(row testing.test)" "cache: testing.test holds its testing policy"
assert_eq 'ok|none|["mx.modenone.test"]|86400|version: STSv1/mode: none/mx: mx.modenone.test/max_age: 86400' \
    "$(row modenone.test)" "cache: modenone.test holds its mode-none policy"
# failures: the status, no policy (mode, mx, max_age, policy, expires empty)
for sd in malformed:invalid big:invalid html:invalid notype:invalid redirect:fetch-error \
    missing:fetch-error wronghost:webpki-invalid untrusted:webpki-invalid \
    expired:webpki-invalid nosts:none; do
	assert_eq "${sd#*:}||[]|0||0" "$(tl_sql "select status || '|' || mode || '|' || mx || '|' ||
	    max_age || '|' || coalesce(policy, '') || '|' || expires from sts_policy
	    where domain = '${sd%%:*}.test'")" "cache: ${sd%%:*}.test is ${sd#*:}, without a policy"
done
assert_eq 13 "$(tl_sql "select count(*) from sts_policy")" "cache: one row per case domain"
ROWS_BEFORE=$(tl_sql "select * from sts_policy order by domain")

# ---- the Postfix log ------------------------------------------------------------

# one verified TLS session per line "DOMAIN MX IP"; all at the same (real) minute
NOW=$(($(date +%s) - 5))
STAMP=$(date -u -d "@$NOW" '+%b %e %H:%M:%S')
DAY=$(date -u -d "@$NOW" +%Y-%m-%d)
CIPHER=": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256"
n=0
: > "$LOG"
while read -r d mx ip; do
	n=$((n + 1))
	pid=$((3000 + n))
	qid=$(printf '4G%07X' $n)
	{
		echo "$STAMP mail postfix/qmgr[900]: $qid: from=<sender@sender.test>, size=1234, nrcpt=1 (queue active)"
		echo "$STAMP mail postfix/smtp[$pid]: Verified TLS connection established to ${mx}[$ip]:25$CIPHER"
		echo "$STAMP mail postfix/smtp[$pid]: $qid: to=<u$n@$d>, relay=${mx}[$ip]:25, delay=0.21, delays=0.05/0.01/0.1/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4Xyz)"
		echo "$STAMP mail postfix/qmgr[900]: $qid: removed"
	} >> "$LOG"
done <<SESSIONS
enforce.test a.mx.enforce.test 192.0.2.11
enforce.test mx.other.test 192.0.2.99
testing.test mx.testing.test 192.0.2.12
modenone.test mx.modenone.test 192.0.2.13
malformed.test mx.malformed.test 192.0.2.14
big.test mx.big.test 192.0.2.15
html.test mx.html.test 192.0.2.16
notype.test mx.notype.test 192.0.2.17
redirect.test mx.redirect.test 192.0.2.18
missing.test mx.missing.test 192.0.2.19
wronghost.test mx.wronghost.test 192.0.2.20
untrusted.test mx.untrusted.test 192.0.2.21
expired.test mx.expired.test 192.0.2.22
nosts.test mx.nosts.test 192.0.2.23
SESSIONS

# ---- the daemon reads it ----------------------------------------------------------

# (tl_start, with a longer bound under valgrind: a loaded machine needs it)
WAIT_TICKS=200
[ -n "${TLSRPT_VALGRIND:-}" ] && WAIT_TICKS=1200
: > "$T/log"
$MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
TL_PID=$!
i=0
while ! grep -q 'notice: started' "$T/log"; do
	i=$((i + 1))
	{ [ $i -gt $WAIT_TICKS ] || ! kill -0 "$TL_PID" 2>/dev/null; } && fail "the daemon did not start"
	sleep 0.05
done
assert_grep 'policy_map_socket=unix:' "$T/log" "the daemon serves the policy map (and loads the cache)"
SIZE=$(wc -c < "$LOG")
i=0
while [ "$(tl_sql "select value from state where name = 'log:$LOG'" 2>/dev/null |
    head -1 | cut -d' ' -f5)" != "$SIZE" ]; do
	i=$((i + 1))
	[ $i -gt $WAIT_TICKS ] && { echo "FAIL: offset $SIZE not reached"; TL_FAILED=1; break; }
	sleep 0.05
done
tl_stop
assert_eq 0 "$TL_RC" "the daemon stopped cleanly"

counter() {
	tl_sql "select coalesce(sum(value), 0) from input_counter where name = '$1'"
}
assert_eq "$(wc -l < "$LOG")|0|0" \
    "$(counter log.lines)|$(counter log.parse_misses)|$(counter sts.fetches)" \
    "every line read, no parse miss, no fetch by the daemon"
assert_eq "12|1" "$(counter sts.decorated)|$(counter sts.mx_mismatch)" \
    "decorated: 2 enforce + 1 testing + 9 failure sessions; one MX mismatch"
assert_eq "$ROWS_BEFORE" "$(tl_sql "select * from sts_policy order by domain")" \
    "the cache rows are unchanged by the daemon"

# ---- the reports ----------------------------------------------------------------

# get FILE PATH: the value, or "(absent)"
get() {
	"$SHAPE" --get "$2" "$1" 2>/dev/null || echo "(absent)"
}
# report DOMAIN: the preview of the log's day, as TLSRPT_NOW pins it, in $T/r.DOMAIN
report() {
	TLSRPT_NOW=$NOW $REPORT -c "$T/tlsrpt.conf" --json preview "$1" > "$T/r.$1" 2> "$T/err"
	rc=$?
	assert_eq 0 "$rc" "$1: preview exit status $(cat "$T/err")"
}
# policy DOMAIN: one line of the policy block and summary
policy() {
	f=$T/r.$1
	echo "$(get "$f" 'policies[0].policy.policy-type')|$(get "$f" 'policies[0].policy.policy-domain')|$(get "$f" 'policies[0].policy.policy-string')|$(get "$f" 'policies[0].policy.mx-host')|$(get "$f" 'policies[0].summary.total-successful-session-count')|$(get "$f" 'policies[0].summary.total-failure-session-count')"
}
# details DOMAIN: one line per failure detail
details() {
	f=$T/r.$1
	k=0
	while "$SHAPE" --get "policies[0].failure-details[$k]" "$f" >/dev/null 2>&1; do
		p="policies[0].failure-details[$k]"
		echo "$(get "$f" "$p.result-type")|$(get "$f" "$p.receiving-mx-hostname")|$(get "$f" "$p.receiving-ip")|$(get "$f" "$p.failed-session-count")|$(get "$f" "$p.failure-reason-code")"
		k=$((k + 1))
	done
}

for d in $DOMAINS; do
	report "$d.test"
	assert_eq "$DAY" "$(get "$T/r.$d.test" date-range.start-datetime | cut -c1-10)" \
	    "$d.test: the report is of the log's day"
	assert_eq "(absent)" "$(get "$T/r.$d.test" 'policies[1]')" "$d.test: one policy block"
done

# ok policies
assert_eq 'sts|enforce.test|["version: STSv1","mode: enforce","mx: mx1.enforce.test","mx: *.mx.enforce.test","max_age: 86400"]|["mx1.enforce.test","*.mx.enforce.test"]|1|1' \
    "$(policy enforce.test)" "enforce.test: policy block and summary"
assert_eq 'validation-failure|mx.other.test|192.0.2.99|1|mx not in MTA-STS policy' \
    "$(details enforce.test)" "enforce.test: the MX outside the policy is a validation-failure"
assert_eq 'sts|testing.test|["version: STSv1","mode: testing","mx: *.testing.test","max_age: 604800"]|["*.testing.test"]|1|0' \
    "$(policy testing.test)" "testing.test: policy block and summary"
assert_eq '' "$(details testing.test)" "testing.test: no failure details"

# no policy: mode none and no _mta-sts record
for d in modenone nosts; do
	assert_eq "no-policy-found|$d.test|(absent)|(absent)|1|0" "$(policy $d.test)" \
	    "$d.test: no-policy-found, no policy-string or mx-host"
	assert_eq '' "$(details $d.test)" "$d.test: no failure details"
done

# failures: sts with neither policy-string nor mx-host, the session failed
# with the result type of the stored status and its error as reason
fails() {	# DOMAIN IP RESULT-TYPE REASON
	assert_eq "sts|$1|(absent)|(absent)|0|1" "$(policy "$1")" \
	    "$1: sts policy block without policy-string and mx-host, one failed session"
	assert_eq "$3|mx.$1|$2|1|$4" "$(details "$1")" "$1: $3"
}
fails malformed.test 192.0.2.14 sts-policy-invalid 'line 2: mode "enforcing" is not enforce, testing or none'
fails big.test 192.0.2.15 sts-policy-invalid 'policy larger than 65536 bytes'
fails html.test 192.0.2.16 sts-policy-invalid 'content type "text/html" is not text/plain'
fails notype.test 192.0.2.17 sts-policy-invalid 'no content type (text/plain required)'
fails redirect.test 192.0.2.18 sts-policy-fetch-error 'HTTP 301 (redirects are not followed)'
fails missing.test 192.0.2.19 sts-policy-fetch-error 'HTTP 404'
fails wronghost.test 192.0.2.20 sts-webpki-invalid \
    "SSL: no alternative certificate subject name matches target host name 'mta-sts.wronghost.test'"
fails untrusted.test 192.0.2.21 sts-webpki-invalid 'SSL certificate problem: self-signed certificate'
fails expired.test 192.0.2.22 sts-webpki-invalid 'SSL certificate problem: certificate has expired'

# R28: nothing null or empty in any report
for d in $DOMAINS; do
	assert_eq "" "$("$SHAPE" --empty "$T/r.$d.test")" "$d.test: no null, empty string or empty array"
done

echo "# took $(($(date +%s) - T_START)) s"
tl_done
