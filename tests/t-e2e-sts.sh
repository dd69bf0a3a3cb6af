#!/bin/sh
# t-e2e-sts: MTA-STS end to end with Debian's real Postfix (3.7 on Debian
# 12) using tlsrpt-milter's policy map (policy_map_socket) as its
# smtp_tls_policy_maps, inside a private network namespace.
#
# Our unbound (127.0.0.53) serves eight domains D.sts.test, all but two
# with MX mx.good.test (tests/peers/tls_receiver.py on 127.0.0.11:25 with
# a certificate of the test CA for that name), and for all but one an
# _mta-sts TXT record and mta-sts.D.sts.test on 127.0.0.20, where
# tests/peers/sts_policy_server.py serves the policies over HTTPS (a
# certificate of the test CA naming every mta-sts host):
#   enforce   mode enforce, mx: mx.good.test       -> delivered, sts success
#   mismatch  mode enforce, mx: mx.elsewhere.test  -> Postfix refuses (the
#             certificate names no policy pattern): deferred, sts failure
#             validation-failure "mx not in MTA-STS policy"
#   expired   mode enforce, mx: mx.expired.test, MX mx.expired.test
#             (127.0.0.12, an expired certificate) -> deferred, sts
#             failure certificate-expired
#   notls     mode enforce, mx: mx.elsewhere.test, MX mx.notls.test
#             (127.0.0.13, no STARTTLS) -> deferred, sts failure with two
#             details: starttls-not-supported and the validation-failure
#             of the MX outside the policy
#   testing   mode testing, mx: mx.good.test       -> delivered, sts success
#   testexp   mode testing, mx: mx.expired.test, MX mx.expired.test (an
#             expired certificate) -> delivered (Postfix: "Untrusted"),
#             sts failure certificate-not-trusted
#   testmx    mode testing, mx: *.elsewhere.test   -> delivered (testing),
#             sts failure validation-failure (the MX of a success reaches
#             the decorator from the delivery line's relay)
#   fetcherr  TXT record, but the policy host answers 404 -> delivered,
#             sts failure sts-policy-fetch-error (no policy-string)
#   nopolicy  no _mta-sts record -> delivered, stays no-policy-found
#
# The daemon follows Postfix's log (log_file) and serves the policy map;
# the test primes its cache by asking the map itself (each first lookup
# answers NOTFOUND and queues a fetch), waits for the eight fetches, checks
# the map's answers (and that non-domain keys and a broken netstring get
# NOTFOUND / PERM), then sends two messages per domain and checks
# "tlsrpt-report preview --json": policy type, policy-string, mx-host,
# exact success and failure counts, result types and reason codes, and
# the daemon's sts.* counters.
#
# Needs root and network namespaces (else skipped), unbound, openssl,
# /usr/bin/python3, sqlite3, dpkg and apt-get (the Postfix .deb is cached
# in tests/mta-cache/).  TLSRPT_KEEP_TEST_DIR=1 keeps the test directory.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/postfix.sh"

DOMAINS="enforce mismatch expired notls testing testexp testmx fetcherr nopolicy"

e2e_require "network namespace, Postfix's system user" openssl dpkg apt-get
e2e_require_built

e2e_stop_mta() { e2e_stop_postfix; }
e2e_dump() {
	e2e_dump_postfix
	[ -f "$T/sts/hits" ] && { echo "---- policy host hits ----"; cat "$T/sts/hits"; }
}
e2e_begin tlsrpt-sts
PF_EXEC=e2e_in

# ---- certificates: the test PKI, plus one for every policy host ----------
e2e_pki

# ---- DNS -------------------------------------------------------------------
{
	e2e_zone_head
	echo "  local-data: 'mx.good.test. A 127.0.0.11'"
	echo "  local-data: 'mx.expired.test. A 127.0.0.12'"
	echo "  local-data: 'mx.notls.test. A 127.0.0.13'"
	for d in $DOMAINS; do
		case $d in
		expired|notls) mx=mx.$d.test ;;
		testexp) mx=mx.expired.test ;;
		*) mx=mx.good.test ;;
		esac
		echo "  local-data: '$d.sts.test. MX 10 $mx.'"
		echo "  local-data: '_smtp._tls.$d.sts.test. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"'"
		[ $d = nopolicy ] && continue
		echo "  local-data: '_mta-sts.$d.sts.test. TXT \"v=STSv1; id=20250101T000000;\"'"
		echo "  local-data: 'mta-sts.$d.sts.test. A 127.0.0.20'"
	done
} > "$T/zone"
e2e_dns enforce.sts.test

# ---- the policies and their host ---------------------------------------------
hosts=
for d in $DOMAINS; do hosts="$hosts mta-sts.$d.sts.test"; done
# shellcheck disable=SC2086
e2e_policy_host 240 $hosts
policy() {	# policy DOMAIN MODE PATTERN: the policy text as served
	printf 'version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 86400\r\n' "$2" "$3" \
	    > "$T/sts/mta-sts.$1.sts.test.txt"
}
policy enforce enforce mx.good.test
policy mismatch enforce mx.elsewhere.test
policy expired enforce mx.expired.test
policy notls enforce mx.elsewhere.test
policy testing testing mx.good.test
policy testexp testing mx.expired.test
policy testmx testing '*.elsewhere.test'
# fetcherr and nopolicy have no file: 404

e2e_receiver "$T/rcv" 127.0.0.11:25 mx.good.test 240 \
    --cert "$T/pki/good.crt" --key "$T/pki/good.key"
e2e_receiver "$T/rcvx" 127.0.0.12:25 mx.expired.test 240 \
    --cert "$T/pki/expired.crt" --key "$T/pki/expired.key"
e2e_receiver "$T/rcvn" 127.0.0.13:25 mx.notls.test 240 --no-starttls
e2e_wait_ready peer "$T/sts" "$T/rcv" "$T/rcvx" "$T/rcvn"

# ---- Postfix (not started yet: its log must exist for the daemon) ------------
postfix_unpack "$T/postfix" || fail "$PF_WHY"
echo "# Postfix $PF_VERSION"
PF_CAFILE="$T/pki/ca.crt"
postfix_setup "$T/pfconf" "$T/spool" || fail "$PF_WHY"
postfix_conf "smtp_tls_policy_maps = socketmap:unix:$T/policy.sock:postfix" ||
    fail "postconf -e failed"
postfix_start || fail "$PF_WHY"

# ---- tlsrpt-milter, in the namespace (it fetches policies there) -------------
tl_conf "datagram_socket none" "log_file $PF_LOG" "log_start_at beginning" \
    "log_format postfix" "policy_map_socket unix:$T/policy.sock" \
    "policy_map_socket_mode 0666" "https_ca_file $T/pki/ca.crt" "https_allow_private yes" \
    "resolver 127.0.0.53:53" "sts_fetch_timeout 5s" \
    "organization_name \"tlsrpt-milter e2e test\"" \
    "contact_info mailto:tlsrpt-admin@sender.test"
: > "$T/log"
# "ip netns exec" execs the daemon: TL_PID is its pid
ip netns exec "$E2E_NS" $MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
TL_PID=$!
tl_wait_for "$T/log" 'notice: started' || fail "tlsrpt-milter did not start"
assert_grep 'policy_map_socket=unix:' "$T/log" "the started line names the policy map"

# The map as Postfix speaks it: netstrings "<name> <key>" on one connection.
lookup() {	# lookup KEY... -> one answer per line
	"$PY" "$top_srcdir/tests/netstring_client.py" ask "$T/policy.sock" postfix "$@"
}

# ---- prime the cache: the first lookups queue one fetch per domain ----------
keys=
for d in $DOMAINS; do keys="$keys $d.sts.test"; done
# shellcheck disable=SC2086
got=$(lookup $keys | sort | uniq -c | sed 's/^ *//')
assert_eq "9 NOTFOUND " "$got" "first lookups: NOTFOUND at once (nothing cached yet)"
for d in $DOMAINS; do
	tl_wait_for "$T/log" "sts_policy domain=$d.sts.test " ||
	    fail "no fetch of $d.sts.test within 10 s"
done
for d in $DOMAINS; do
	case $d in
	enforce) want="OK secure match=mx.good.test servername=hostname" ;;
	mismatch|notls) want="OK secure match=mx.elsewhere.test servername=hostname" ;;
	expired) want="OK secure match=mx.expired.test servername=hostname" ;;
	*) want="NOTFOUND " ;;
	esac
	assert_eq "$want" "$(lookup $d.sts.test)" "map answer for $d.sts.test"
done
assert_eq "OK secure match=mx.good.test servername=hostname" "$(lookup ENFORCE.sts.test.)" \
    "map: the key is normalised (case, trailing dot)"
assert_eq "NOTFOUND |NOTFOUND |NOTFOUND |NOTFOUND " \
    "$(lookup '[mx.good.test]:25' .sts.test 127.0.0.11 localhost | paste -sd '|')" \
    "map: next hops, parent domains, addresses and single labels are not policy domains"
got=$("$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"12:postfix a.test;")
data = b""
while True:
    c = s.recv(4096)
    if not c:
        break
    data += c
print(data.decode().split(":", 1)[1].split(" ")[0])
' "$T/policy.sock")
assert_eq "PERM" "$got" "map: a broken netstring gets PERM and the connection is closed"
assert_grep 'sts_policy domain=fetcherr.sts.test result=fetch-error' "$T/log" \
    "fetcherr.sts.test: the fetch failed (HTTP 404)"
assert_grep 'sts_policy domain=nopolicy.sts.test result=none' "$T/log" \
    "nopolicy.sts.test: no _mta-sts record"
assert_eq 7 "$(grep -c ' /.well-known/mta-sts.txt 200$' "$T/sts/hits")" \
    "policy host: seven policies served"
assert_eq "9" "$(tl_sql "select count(*) from sts_policy where domain like '%.sts.test'")" \
    "store: one sts_policy row per domain"

# ---- the mail: two messages per domain, one recipient each ----------------------
NMSG=0
sendmsg() {	# sendmsg RCPT
	NMSG=$((NMSG + 1))
	printf 'From: <sender@sender.test>\nTo: %s\nSubject: sts %d\n\ntest message %d\n' \
	    "$1" $NMSG $NMSG > "$T/msg.$NMSG"
	postfix_run sendmail -oi -f sender@sender.test "$1" < "$T/msg.$NMSG" ||
	    fail "sendmail $1 failed"
}
for d in $DOMAINS; do
	sendmsg "a@$d.sts.test"
	sendmsg "b@$d.sts.test"
done
NRCPT=18
pf_wait_deliveries $NRCPT

for d in $DOMAINS; do
	want="sent=2 deferred=0"
	case $d in mismatch|expired|notls) want="sent=0 deferred=2" ;; esac
	assert_eq "$want" "$(status_of $d.sts.test)" "Postfix: $d.sts.test delivery lines"
done
assert_eq 2 "$(grep -c 'Verified TLS connection established to mx.good.test' "$T/smtp.log")" \
    "Postfix: Verified TLS (secure, from the map) only for enforce.sts.test"
assert_eq 0 "$(grep -c 'warning: .*socketmap\|warning: .*policy.sock' "$PF_LOG")" \
    "Postfix: no warning about the policy map"

# ---- what was recorded --------------------------------------------------------
e2e_wait_store $NRCPT '%.sts.test'
tl_stop
[ "$TL_RC" = 0 ] || fail "daemon exit status $TL_RC after SIGTERM"

DAY0=$(date -u -d "@$T0" +%Y-%m-%d)
# "TYPE SUCCESSES FAILURES" then the policy's policy-string, mx-host and
# the failure details, one per line, summed over the test's days.
preview() {
	e2e_preview_json "$1" || return
	"$PY" - "$T/preview.$1" <<'PY'
import json, sys
out = {}
for doc in open(sys.argv[1]).read().split("@@"):
    if not doc.strip():
        continue
    for p in json.loads(doc)["policies"]:
        pol = p["policy"]
        key = (pol["policy-type"], pol["policy-domain"],
               json.dumps(pol.get("policy-string")), json.dumps(pol.get("mx-host")))
        o = out.setdefault(key, [0, 0, {}])
        o[0] += p["summary"]["total-successful-session-count"]
        o[1] += p["summary"]["total-failure-session-count"]
        for fd in p.get("failure-details", []):
            k = "%s|%s|%s|%s" % (fd["result-type"], fd.get("receiving-mx-hostname", "-"),
                                 fd.get("receiving-ip", "-"), fd.get("failure-reason-code", "-"))
            o[2][k] = o[2].get(k, 0) + fd["failed-session-count"]
for key, (ok, bad, fds) in sorted(out.items()):
    print(key[0], key[1], ok, bad)
    print("  policy-string", key[2])
    print("  mx-host", key[3])
    for k in sorted(fds):
        print("  failure %s x%d" % (k, fds[k]))
PY
}
pstr() {	# the policy-string JSON of a policy served above
	printf '["version: STSv1", "mode: %s", "mx: %s", "max_age: 86400"]' "$1" "$2"
}
nl='
'
for d in $DOMAINS; do
	case $d in
	enforce) want="sts enforce.sts.test 2 0$nl  policy-string $(pstr enforce mx.good.test)$nl  mx-host [\"mx.good.test\"]" ;;
	expired) want="sts expired.sts.test 0 2$nl  policy-string $(pstr enforce mx.expired.test)$nl  mx-host [\"mx.expired.test\"]$nl  failure certificate-expired|mx.expired.test|127.0.0.12|certificate has expired x2" ;;
	notls) want="sts notls.sts.test 0 2$nl  policy-string $(pstr enforce mx.elsewhere.test)$nl  mx-host [\"mx.elsewhere.test\"]$nl  failure starttls-not-supported|mx.notls.test|127.0.0.13|TLS is required, but was not offered by host mx.notls.test[127.0.0.13] x2$nl  failure validation-failure|mx.notls.test|127.0.0.13|mx not in MTA-STS policy x2" ;;
	mismatch) want="sts mismatch.sts.test 0 2$nl  policy-string $(pstr enforce mx.elsewhere.test)$nl  mx-host [\"mx.elsewhere.test\"]$nl  failure validation-failure|mx.good.test|127.0.0.11|mx not in MTA-STS policy x2" ;;
	testing) want="sts testing.sts.test 2 0$nl  policy-string $(pstr testing mx.good.test)$nl  mx-host [\"mx.good.test\"]" ;;
	testexp) want="sts testexp.sts.test 0 2$nl  policy-string $(pstr testing mx.expired.test)$nl  mx-host [\"mx.expired.test\"]$nl  failure certificate-not-trusted|mx.expired.test|127.0.0.12|certificate not verified (Untrusted TLS connection) x2" ;;
	testmx) want="sts testmx.sts.test 0 2$nl  policy-string $(pstr testing '*.elsewhere.test')$nl  mx-host [\"*.elsewhere.test\"]$nl  failure validation-failure|mx.good.test|127.0.0.11|mx not in MTA-STS policy x2" ;;
	fetcherr) want="sts fetcherr.sts.test 0 2$nl  policy-string null$nl  mx-host null$nl  failure sts-policy-fetch-error|mx.good.test|127.0.0.11|HTTP 404 x2" ;;
	nopolicy) want="no-policy-found nopolicy.sts.test 2 0$nl  policy-string null$nl  mx-host null" ;;
	esac
	assert_eq "$want" "$(preview $d.sts.test)" "report of $d.sts.test"
done

assert_eq "9|16|6|1" "$(tl_sql "select
    (select coalesce(sum(value), 0) from input_counter where name = 'sts.fetches'),
    (select coalesce(sum(value), 0) from input_counter where name = 'sts.decorated'),
    (select coalesce(sum(value), 0) from input_counter where name = 'sts.mx_mismatch'),
    (select coalesce(sum(value), 0) from input_counter where name = 'sts.fetch_failures')")" \
    "counters: fetches, decorated sessions, mx mismatches, fetch failures"
assert_eq 1 "$(tl_sql "select coalesce(sum(value), 0) from input_counter
    where name = 'policymap.protocol_errors'")" "counters: one broken netstring"

echo "# took $(($(date +%s) - T0)) s"
tl_done
