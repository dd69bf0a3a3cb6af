#!/bin/sh
# t-e2e-sendmail: end to end with Debian's real Sendmail (8.17 on Debian
# 12) as the sending MTA, inside a private network namespace, reporting
# through the socketmap hook of contrib/sendmail/tlsrpt-socketmap.mc (the
# alternative to the syslog hook of tlsrpt.mc, see t-e2e-failsafe-sendmail.sh).
#
# Five receivers (tests/peers/tls_receiver.py) on 127.0.0.11-15:25 serve
# a good, an expired, a self-signed and a wrong-name certificate, and no
# STARTTLS at all, a sixth on 127.0.0.16 a certificate whose only DNS
# name is *.wild.test (domain may.wild.test, MX mx.wild.test); our unbound on 127.0.0.53 serves the MX, A and TLSRPT
# records of the 10 domains LEVEL.KIND.test (LEVEL may: no access entry;
# verify: "TLS_Rcpt:verify.KIND.test VERIFY" in the access map; KIND the
# receiver, MX mx.KIND.test).  Sendmail (unpacked from its .debs by
# tests/peers/sendmail.sh, .cf built with m4) runs as a daemon on
# 127.0.0.2:25 with tlsrpt-socketmap.mc included verbatim and tlsrpt-milter as its
# milter; the test submits mail over SMTP and Sendmail delivers each
# message in a process of its own.
#
# Part 0: a raw client on the socket: split reads, malformed netstrings,
# the connection limit, a session held open until the daemon stops.
# Part 1: per KIND three messages, m1 to a1@may and a1@verify (one
# transaction: Sendmail sends both over one connection, their MX being
# the same), m2 to b1@may and b2@may, m3 to c1@verify; m4 to two
# recipients of may.wild.test.  Checks what the
# receivers saw, then per domain the RFC 8460 session counts and result
# types of "tlsrpt-report preview" (one result per TLS session and
# recipient domain: two per domain) and the socketmap counters.
# Part 2: a report mail (header TLS-Report-Domain, seen by the milter) to
# tlsrpt@reports.test is not counted (RFC 8460 5.3), an ordinary message
# to reports.test afterwards is.
# Part 3: with the daemon stopped, Sendmail still delivers (the map's
# answer is ignored), also at the verify level.
#
# Needs root and network namespaces (else skipped), unbound, openssl, m4,
# libwrap0 (the unpacked sendmail links it), /usr/bin/python3, sqlite3,
# dpkg and apt-get (the .debs are cached in tests/mta-cache/).
# TLSRPT_KEEP_TEST_DIR=1 keeps the test directory.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/sendmail.sh"

KINDS="good expired selfsigned wronghost notls"
LEVELS="may verify"

e2e_require "network namespace, Sendmail" openssl dpkg dpkg-deb apt-get unshare
sendmail_need_packages
e2e_require_built

HOLD_PID=
e2e_stop_mta() { e2e_stop_sendmail; }
e2e_dump() {
	for k in $KINDS; do
		[ -f "$T/rcv/$k/sessions.log" ] && sed "s/^/$k: /" "$T/rcv/$k/sessions.log"
		[ -f "$T/rcv/$k/receiver.log" ] && sed "s/^/$k: /" "$T/rcv/$k/receiver.log" | tail -n 5
	done
	[ -f "$T/log" ] && grep 'socketmap' "$T/log" | tail -n 40
}
e2e_begin tlsrpt-sm

# ---- certificates, DNS, receivers --------------------------------------
e2e_pki
# one more: a wildcard DNS name only, and a common name that is no host
# name (xtext "Wildcard+20Test" in the request)
openssl req -new -newkey rsa:2048 -nodes -subj "/CN=Wildcard Test" \
    -keyout "$T/pki/wild.key" -out "$T/pki/wild.csr" >>"$T/pki/pki.log" 2>&1 &&
printf 'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:*.wild.test\n' > "$T/pki/wild.ext" &&
openssl x509 -req -in "$T/pki/wild.csr" -CA "$T/pki/ca.crt" -CAkey "$T/pki/ca.key" \
    -CAcreateserial -sha256 -days 30 -extfile "$T/pki/wild.ext" -out "$T/pki/wild.crt" \
    >>"$T/pki/pki.log" 2>&1 || { cat "$T/pki/pki.log"; fail "could not make the wildcard certificate"; }
{
	e2e_zone_head
	# shellcheck disable=SC2086
	e2e_zone_kinds "$LEVELS" $KINDS
	echo "  local-data: 'mx.wild.test. A 127.0.0.16'"
	echo "  local-data: 'may.wild.test. MX 10 mx.wild.test.'"
	e2e_zone_reports
} > "$T/zone"
e2e_dns may.good.test

# shellcheck disable=SC2086
e2e_receivers 110 $KINDS wild
for k in $KINDS wild; do
	e2e_wait_ready receiver "$T/rcv/$k"
done

# ---- tlsrpt-milter ------------------------------------------------------
tl_conf "datagram_socket none" "socketmap_socket unix:$T/smap.sock" \
    "milter_socket unix:$T/milter.sock" "log_level debug" \
    "organization_name \"tlsrpt-milter e2e test\"" \
    "contact_info mailto:tlsrpt-admin@sender.test"
tl_start
e2e_wait_sockets "$T/smap.sock" "$T/milter.sock" || fail "the daemon's sockets did not appear"
DAY0=$(date -u +%Y-%m-%d)

# ---- part 0: the socket with a raw client ----------------------------------
# Split reads (one byte per write), a request without key, malformed
# netstrings (answered PERM, then closed), the connection limits (8 per
# client process: beyond them its longest-idle ones give way; the rest is
# t-daemon-connlimits.sh), and a session held open
# until the daemon stops (it is emitted then, for its $h domain).
cat > "$T/raw.py" <<'PY'
import os, resource, socket, sys, time
path, phase = sys.argv[1], sys.argv[2]

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def ns(text):
    b = text.encode()
    return b"%d:%s," % (len(b), b)

def answer(s):
    s.settimeout(5)
    data = b""
    while not data.endswith(b","):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()

def eof(s):
    s.settimeout(5)
    return s.recv(1) == b""

REQ = ("tlsrpt srv= mx.raw.test addr= 10.9.9.9 verify= OK ver= TLSv1.3 qid= RAW1 "
       "cn= mx.raw.test cni= Lab+20Test+20CA san= yes host= raw.test.rcpt= u@raw.test")
if phase == "protocol":
    s = conn()
    for b in ns(REQ):
        s.send(bytes([b]))
        time.sleep(0.001)
    print("split", answer(s))
    s.send(ns("hello"))
    print("nokey", answer(s))
    s.close()
    for name, bad in (("colon", b"12x"), ("oversize", b"9999:"), ("comma", b"3:abc;")):
        s = conn()
        s.send(bad)
        print(name, answer(s), "eof" if eof(s) else "open")
        s.close()
elif phase == "limit":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    socks = [conn() for _ in range(1030)]
    time.sleep(1)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
    print("open=%d closed=%d" % (len(socks) - closed, closed))
    for s in socks:
        s.close()
elif phase == "hold":
    s = conn()
    s.send(ns("tlsrpt srv= mx.held.test addr= 10.9.9.10 verify= SOFTWARE ver= qid= HELD1 "
              "cn= cni= san= no host= held.test.rcpt="))
    print("held", answer(s), flush=True)
    s.settimeout(None)
    print("closed by the daemon" if s.recv(1) == b"" else "data", flush=True)
PY
closed_conns() {
	grep -c 'socketmap_connection_closed' "$T/log"
}
wait_closed() {	# wait_closed N: the daemon closed N connections
	n=0
	while [ "$(closed_conns)" -lt "$1" ]; do
		n=$((n + 1))
		[ $n -gt 100 ] && fail "the daemon closed $(closed_conns) of $1 connections"
		sleep 0.05
	done
}
"$PY" "$T/raw.py" "$T/smap.sock" protocol > "$T/raw.protocol" 2>&1 || { cat "$T/raw.protocol"; fail "raw client"; }
assert_eq "split 10:OK success,
nokey 8:NOTFOUND,
colon 33:PERM missing ':' after the length, eof
oversize 35:PERM request longer than 4096 bytes, eof
comma 34:PERM missing ',' after the request, eof" "$(cat "$T/raw.protocol")" "raw client: answers"
wait_closed 4
"$PY" "$T/raw.py" "$T/smap.sock" limit > "$T/raw.limit" 2>&1 || { cat "$T/raw.limit"; fail "raw client"; }
assert_eq "open=8 closed=1022" "$(cat "$T/raw.limit")" "raw client: 8 connections of one process at most"
wait_closed 1034
assert_grep 'socketmap_connection_evicted id=[0-9]* reason=peer_limit limit=8 ' "$T/log" \
    "the connections that gave way are logged"
"$PY" "$T/raw.py" "$T/smap.sock" hold > "$T/raw.hold" 2>&1 &
HOLD_PID=$!
E2E_PIDS="$E2E_PIDS $HOLD_PID"
n=0
while ! grep -q '^held' "$T/raw.hold"; do
	n=$((n + 1))
	[ $n -gt 100 ] && fail "raw client: no answer to the held request"
	sleep 0.05
done
assert_eq "held 21:OK validation-failure," "$(head -n 1 "$T/raw.hold")" "raw client: held session answered"

# ---- Sendmail -------------------------------------------------------------
sendmail_unpack "$T/sendmail" || fail "$SM_WHY"
echo "# Sendmail $SM_VERSION"
echo "INPUT_MAIL_FILTER(\`tlsrpt', \`S=local:$T/milter.sock, F=, T=C:1s;S:1s;R:1s;E:1s')dnl" \
    > "$T/mcbody"
# as README.md says: after the MAILER lines
{
	echo "define(\`TLSRPT_SOCKET', \`local:$T/smap.sock')dnl"
	cat "$top_srcdir/contrib/sendmail/tlsrpt-socketmap.mc"
} > "$T/mctail"
sendmail_verify_kinds "$T/sm" $KINDS
SM_CAFILE="$T/pki/ca.crt" SM_EXEC="e2e_in"
sendmail_setup "$T/sm" "$T/mcbody" "$T/mctail" || fail "$SM_WHY"
grep -q '^Ktlsrpt socket -f -d1 -T<TMPF> local:' "$SM_CF" || fail "tlsrpt-socketmap.mc did not make it into sendmail.cf"
sendmail_start || fail "$SM_WHY"
echo "# Sendmail started after $(($(date +%s) - T0)) s"

# The receivers log a line per connection when it closes: wait (bounded).
rcv_lines() {
	cat "$T"/rcv/*/sessions.log 2>/dev/null | wc -l
}
wait_receivers() {	# wait_receivers TOTAL_CONNECTIONS
	n=0
	while [ "$(rcv_lines)" -lt "$1" ]; do
		n=$((n + 1))
		[ $n -gt 300 ] && fail "receivers saw $(rcv_lines) of $1 connections after 30 s"
		sleep 0.1
	done
}

# ---- part 1: the mail -----------------------------------------------------
# shellcheck disable=SC2086
sendmail_kind_mail $KINDS | sendmail_submit
echo "w1@may.wild.test,w2@may.wild.test m4-wild" | sendmail_submit
echo "# submitted after $(($(date +%s) - T0)) s"
wait_receivers 16
echo "# 16 messages delivered or deferred after $(($(date +%s) - T0)) s"

# What the receivers saw (independent of the daemon).
rcv_summary() {	# "conns=N tls=N with_mail=N rcpts=N" for receiver $1
	f="$T/rcv/$1/sessions.log"
	echo "conns=$(wc -l < "$f") tls=$(grep -c ' tls=yes ' "$f") with_mail=$(grep -vc ' messages=0 ' "$f")" \
	    "rcpts=$(sed -n 's/.* rcpts=//p' "$f" | tr ',' '\n' | grep -c @)"
}
assert_eq "conns=3 tls=3 with_mail=3 rcpts=5" "$(rcv_summary good)" "receiver good: all delivered"
assert_eq "conns=3 tls=3 with_mail=2 rcpts=3" "$(rcv_summary expired)" \
    "receiver expired: verify recipients refused by tls_rcpt"
assert_eq "conns=3 tls=3 with_mail=2 rcpts=3" "$(rcv_summary selfsigned)" \
    "receiver selfsigned: verify recipients refused by tls_rcpt"
assert_eq "conns=3 tls=3 with_mail=3 rcpts=5" "$(rcv_summary wronghost)" \
    "receiver wronghost: delivered (Sendmail does not check the name)"
assert_eq "conns=3 tls=0 with_mail=2 rcpts=3" "$(rcv_summary notls)" \
    "receiver notls: plain text at may, refused at verify"
assert_eq "conns=1 tls=1 with_mail=1 rcpts=2" "$(rcv_summary wild)" "receiver wild"
for k in good wronghost; do
	assert_grep "rcpts=a1@verify.$k.test,a1@may.$k.test\$" "$T/rcv/$k/sessions.log" \
	    "m1 to $k: both domains over one connection"
done

# ---- what tlsrpt-milter recorded -------------------------------------------
e2e_wait_store 22

# "SUCCESSES FAILURES type,type" of the RFC 8460 report preview of a
# domain (every policy no-policy-found), summed over the test's days;
# "-" when there are no failures.  Two sessions each (m1 and m2, or m1
# and m3).
E2E_POLICY_TYPE=no-policy-found
e2e_check_kinds e2e_expect_sendmail
# the failure details name the receiving MX and address
assert_eq "mx.wronghost.test 127.0.0.14" \
    "$(tl_sql "select distinct f.mx_name || ' ' || f.receiving_ip from failure_day f
        join policy_day p on p.id = f.policy_id where p.domain = 'may.wronghost.test'" 2>/dev/null)" \
    "failure details of may.wronghost.test"
assert_eq "1 0 -" "$(preview may.wild.test)" \
    "sessions of may.wild.test (the wildcard DNS name matches, the common name does not)"
assert_eq "1 0 -" "$(preview raw.test)" "raw.test: the request sent one byte at a time"
# part 0: 3 requests, 1 session; part 1: 8 requests per kind, 2 sessions
# per domain, and 3 requests, 1 session for wild
assert_eq 46 "$(tl_counter socketmap.requests)" "socketmap.requests"
assert_eq 22 "$(tl_counter socketmap.sessions)" "socketmap.sessions"
assert_eq 3 "$(tl_counter socketmap.protocol_errors)" "socketmap.protocol_errors"
assert_eq 1 "$(tl_counter socketmap.bad_requests)" "socketmap.bad_requests"
assert_eq 0 "$(tl_counter socketmap.unreported)" "socketmap.unreported"
assert_eq 0 "$(tl_counter socketmap.connections_refused)" "socketmap.connections_refused"
assert_eq 1022 "$(tl_counter socketmap.connections_evicted)" "socketmap.connections_evicted"
assert_eq 0 "$(grep -c 'socketmap_key_folded' "$T/log")" "keys keep their case (-f)"

# ---- part 2: our own report mail is not counted ----------------------------
echo "tlsrpt@reports.test report TLS-Report-Domain: may.good.test" | sendmail_submit
wait_receivers 17
echo "u@reports.test ordinary" | sendmail_submit
wait_receivers 18
e2e_wait_store 23
assert_eq "1 0 -" "$(preview reports.test)" "reports.test: the report mail is not counted, the next one is"
assert_eq 1 "$(tl_counter milter.report_mails)" "milter.report_mails"
assert_eq 1 "$(tl_counter socketmap.report_mails_skipped)" "socketmap.report_mails_skipped"
assert_eq 50 "$(tl_counter socketmap.requests)" "socketmap.requests after part 2"

# stopping closes the held connection and emits its session
tl_stop
assert_eq 0 "$TL_RC" "daemon exit status after SIGTERM"
n=0
while kill -0 "$HOLD_PID" 2>/dev/null && [ $n -lt 50 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_eq "closed by the daemon" "$(sed -n 2p "$T/raw.hold")" "raw client: the daemon closed the held connection"
assert_eq "0 1 validation-failure" "$(preview held.test)" "held.test: emitted at stop, for its host"
assert_grep 'socketmap_stopped requests=50 sessions=24 successes=7 failures=17 unreported=0 report_mails_skipped=1 bad_requests=1 protocol_errors=3 connections_refused=0 connections_evicted=1022' \
    "$T/log" "the daemon's closing socketmap line"

# ---- part 3: the daemon is down, mail still flows --------------------------
echo "d1@may.good.test,d1@verify.good.test down" | sendmail_submit
wait_receivers 19
assert_grep 'rcpts=d1@verify.good.test,d1@may.good.test$' "$T/rcv/good/sessions.log" \
    "delivered with the daemon down (may and verify)"
# the stopped daemon kept its socket file: Sendmail met "connection
# refused" (a missing file would defer command-line deliveries)
[ -S "$T/smap.sock" ] || fail "the socket file was not kept at stop"

echo "# done after $(($(date +%s) - T0)) s"
tl_done
