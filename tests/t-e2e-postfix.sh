#!/bin/sh
# t-e2e-postfix: end to end with Debian's real Postfix (3.7 on Debian 12)
# as the sending MTA, inside a private network namespace.
#
# Five receivers (tests/peers/tls_receiver.py) on 127.0.0.11-15:25 serve
# a good, an expired, a self-signed and a wrong-name certificate, and no
# STARTTLS at all; our unbound on 127.0.0.53 serves the MX, A and TLSRPT
# records of the 20 domains LEVEL.KIND.test (LEVEL may, encrypt, verify,
# secure: Postfix's smtp_tls_policy_maps level for that domain; KIND the
# receiver, MX mx.KIND.test).  Postfix (unpacked from its .deb by
# tests/peers/postfix.sh) submits 20 messages with 45 recipients and logs
# to its own maillog_file; tlsrpt-milter follows that log (log_file) and
# is Postfix's milter (milter_socket).
#
# Part 1 checks what Postfix logged and what the receivers saw (no
# daemon needed), then, per domain, the RFC 8460 session counts and
# failure result types of "tlsrpt-report preview" and the milter's
# message counts.  Part 2 runs "tlsrpt-report run" for the finished day:
# its report mails go through Postfix to tlsrpt@reports.test (MX
# mx.good.test, a domain with a TLSRPT record itself); the sessions that
# deliver them must not be counted (RFC 8460 5.3), an ordinary message
# to reports.test afterwards must be.
#
# Needs root and network namespaces (else skipped), unbound, openssl,
# /usr/bin/python3, sqlite3, dpkg and apt-get (the Postfix .deb is cached
# in tests/mta-cache/).  TLSRPT_KEEP_TEST_DIR=1 keeps the test directory.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/postfix.sh"

KINDS="good expired selfsigned wronghost notls"
LEVELS="may encrypt verify secure"

e2e_require "network namespace, Postfix's system user" openssl dpkg apt-get
e2e_require_built

e2e_stop_mta() { e2e_stop_postfix; }
e2e_dump() {
	e2e_dump_postfix
	for k in $KINDS; do
		[ -f "$T/rcv/$k/receiver.log" ] && sed "s/^/$k: /" "$T/rcv/$k/receiver.log" | tail -n 5
	done
}
e2e_begin tlsrpt-pf
PF_EXEC=e2e_in

# ---- certificates, DNS, receivers --------------------------------------
e2e_kind_peers 150 e2e_zone_reports

# ---- Postfix -------------------------------------------------------------
postfix_unpack "$T/postfix" || fail "$PF_WHY"
echo "# Postfix $PF_VERSION"
PF_CAFILE="$T/pki/ca.crt"
postfix_setup "$T/pfconf" "$T/spool" || fail "$PF_WHY"
for k in $KINDS; do
	for l in may encrypt verify; do
		echo "$l.$k.test $l" >> "$PF_CONF/tls_policy"
	done
	# verify matches the MX host name; secure by default the next-hop
	# domain, which no test certificate names: name the MX instead
	echo "secure.$k.test secure match=mx.$k.test" >> "$PF_CONF/tls_policy"
done
# one smtp process delivers all 8 notls messages, each over a new
# connection (the receiver counts them)
e2e_postfix_notls "$LEVELS"
postfix_conf "smtpd_milters = unix:$T/milter.sock" "non_smtpd_milters = unix:$T/milter.sock" \
    "milter_default_action = accept" "milter_connect_timeout = 5s" || fail "postconf -e failed"
postfix_start || fail "$PF_WHY"

# ---- tlsrpt-milter ------------------------------------------------------
tl_conf "datagram_socket none" "log_file $PF_LOG" "log_start_at beginning" \
    "log_format postfix" "milter_socket unix:$T/milter.sock" "milter_socket_mode 0666" \
    "organization_name \"tlsrpt-milter e2e test\"" \
    "contact_info mailto:tlsrpt-admin@sender.test" \
    "sendmail_command \"$(postfix_sendmail_command) -oi\""

# Start the daemon (lib.sh's tl_start, and wait for the milter socket).
daemon_start() {
	: > "$T/log"
	$MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
	TL_PID=$!
	tl_wait_for "$T/log" 'notice: started' || return 1
	# Postfix's cleanup (user postfix) connects to the milter socket
	e2e_wait_sockets "$T/milter.sock"
}
daemon_start || { tail -n 20 "$T/log"; fail "tlsrpt-milter did not start"; }
DAY0=$(date -u +%Y-%m-%d)

# ---- the mail -------------------------------------------------------------
# Per KIND four messages; every domain gets exactly two of them.
# Postfix delivers per next hop (the recipient domain), so a message to
# two domains with the same MX is two deliveries over two connections.
NMSG=0
sendmsg() {	# sendmsg SUBJECT RCPT...
	subj=$1; shift
	NMSG=$((NMSG + 1))
	{
		echo "From: <sender@sender.test>"
		echo "To: $(echo "$@" | sed 's/ /, /g')"
		echo "Subject: $subj"
		echo
		echo "test message $NMSG"
	} > "$T/msg.$NMSG"
	postfix_run sendmail -oi -f sender@sender.test "$@" < "$T/msg.$NMSG" ||
	    fail "sendmail $* failed"
}
for k in $KINDS; do
	sendmsg "m1 $k" "a1@may.$k.test" "a1@encrypt.$k.test"
	sendmsg "m2 $k" "b1@verify.$k.test" "b1@secure.$k.test"
	sendmsg "m3 $k" "c1@may.$k.test" "c2@may.$k.test"
	sendmsg "m4 $k" "d1@encrypt.$k.test" "d1@verify.$k.test" "d1@secure.$k.test"
done
NRCPT=45

# Wait (bounded) until every recipient has a status= line: sent, or
# deferred (stays in the queue; nothing is flushed).
pf_wait_deliveries $NRCPT

# ---- what Postfix logged (independent of the daemon) ----------------------
for k in $KINDS; do
	for l in $LEVELS; do
		n=2; [ $l = may ] && n=3	# may has c1 and c2 in one message
		case $k/$l in
		notls/may) want="sent=$n deferred=0" ;;	# in plain text
		notls/*) want="sent=0 deferred=$n" ;;
		good/*|*/may|*/encrypt) want="sent=$n deferred=0" ;;
		*) want="sent=0 deferred=$n" ;;
		esac
		assert_eq "$want" "$(status_of $l.$k.test)" "Postfix: $l.$k.test delivery lines"
	done
done
cnt() { grep -c -- "$1" "$T/smtp.log"; }
assert_eq 4 "$(cnt 'Verified TLS connection established to mx.good.test\[127.0.0.11\]:25: ')" \
    "Postfix: Verified TLS lines for mx.good.test (verify, secure)"
assert_eq 4 "$(cnt 'Trusted TLS connection established to mx.good.test\[127.0.0.11\]:25: ')" \
    "Postfix: Trusted TLS lines for mx.good.test (may, encrypt)"
assert_eq 8 "$(cnt 'Untrusted TLS connection established to mx.expired.test\[127.0.0.12\]:25: ')" \
    "Postfix: Untrusted TLS lines for mx.expired.test (all levels)"
assert_eq 4 "$(cnt ': server certificate verification failed for mx.expired.test\[127.0.0.12\]:25: certificate has expired$')" \
    "Postfix: expired certificate warnings (verify, secure)"
assert_eq 8 "$(cnt 'Untrusted TLS connection established to mx.selfsigned.test\[127.0.0.13\]:25: ')" \
    "Postfix: Untrusted TLS lines for mx.selfsigned.test"
assert_eq 4 "$(cnt ']: certificate verification failed for mx.selfsigned.test\[127.0.0.13\]:25: self-signed certificate$')" \
    "Postfix: self-signed warnings (verify, secure)"
assert_eq 4 "$(cnt 'Trusted TLS connection established to mx.wronghost.test\[127.0.0.14\]:25: ')" \
    "Postfix: Trusted TLS lines for mx.wronghost.test (may, encrypt)"
assert_eq 4 "$(cnt 'Untrusted TLS connection established to mx.wronghost.test\[127.0.0.14\]:25: ')" \
    "Postfix: Untrusted TLS lines for mx.wronghost.test (verify, secure)"
assert_eq 4 "$(cnt ': server certificate verification failed for mx.wronghost.test\[127.0.0.14\]:25: num=62:hostname mismatch$')" \
    "Postfix: hostname mismatch warnings (verify, secure)"
assert_eq 0 "$(cnt 'TLS connection established to mx.notls.test')" "Postfix: no TLS line for mx.notls.test"
assert_eq 6 "$(cnt 'status=deferred (TLS is required, but was not offered by host mx.notls.test\[127.0.0.15\])')" \
    "Postfix: TLS required but not offered (encrypt, verify, secure)"
assert_eq 12 "$(cnt 'status=deferred (Server certificate not verified)')" \
    "Postfix: certificate failures deferred (verify, secure x 3 kinds)"
assert_eq 0 "$(grep -ci 'warning: .*milter' "$PF_LOG")" "Postfix: no milter warning (the milter answered)"
assert_eq 0 "$(cnt 'conn_use=')" "Postfix: no delivery over a cached connection"
assert_eq 0 "$(cnt 'TLS connection reused')" "Postfix: no reused TLS connection"
assert_eq 1 "$(grep 'postfix/smtp\[' "$T/smtp.log" | grep ' to=<[^>]*@[a-z]*\.notls\.test>' |
    sed 's/.*smtp\[\([0-9]*\)\].*/\1/' | sort -u | wc -l)" \
    "Postfix: one smtp process delivered all notls mail (transport notls, maxproc 1)"

# What the receivers saw: one connection per delivery, none cached.
rcv_summary() {	# "conns=N tls=N with_mail=N" for receiver $1
	f="$T/rcv/$1/sessions.log"
	[ -f "$f" ] || { echo "conns=0 tls=0 with_mail=0"; return; }
	echo "conns=$(wc -l < "$f") tls=$(grep -c ' tls=yes ' "$f") with_mail=$(grep -vc ' messages=0 ' "$f")"
}
n=0	# a receiver logs a connection when it closes: wait for the last ones
while [ "$(cat "$T"/rcv/*/sessions.log 2>/dev/null | wc -l)" -lt 40 ] && [ $n -lt 50 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_eq "conns=8 tls=8 with_mail=8" "$(rcv_summary good)" "receiver good"
assert_eq "conns=8 tls=8 with_mail=4" "$(rcv_summary expired)" "receiver expired"
assert_eq "conns=8 tls=8 with_mail=4" "$(rcv_summary selfsigned)" "receiver selfsigned"
assert_eq "conns=8 tls=8 with_mail=4" "$(rcv_summary wronghost)" "receiver wronghost"
assert_eq "conns=8 tls=0 with_mail=2" "$(rcv_summary notls)" "receiver notls"

# ---- what tlsrpt-milter recorded -------------------------------------------
# Wait (bounded) until the store holds EXPECTED sessions (of the domains
# matching the SQL LIKE pattern), or nothing changed for 2 s.
wait_store() {	# wait_store EXPECTED LIKE-PATTERN
	last=-1 same=0 n=0
	while [ $n -lt 150 ]; do
		v=$(e2e_store_total "$2")
		[ "$v" -ge "$1" ] && break
		if [ "$v" = "$last" ]; then same=$((same + 1)); else same=0; last=$v; fi
		[ $same -ge 10 ] && break
		n=$((n + 1)); sleep 0.2
	done
	sleep 0.5	# anything beyond EXPECTED would show up now
}
wait_store 40 '%'
tl_stop
[ "$TL_RC" = 0 ] || fail "daemon exit status $TL_RC after SIGTERM"

# "SUCCESSES FAILURES type,type" of the RFC 8460 report preview of each
# domain, summed over the test's days (e2e.sh's preview; every session of
# the log follower has policy type no-policy-found).
e2e_check_kinds e2e_expect_postfix

# Where the failures happened, as the reports will say it; and the reason
# of a plain-text delivery (rule 6 of milter/postfix_sessions.c).
fdetail() {	# fdetail DOMAIN KEY...: the values of failure-details keys, one line each
	f="$T/preview.$1"; shift
	"$PY" - "$f" "$@" <<'PY'
import json, sys
out = set()
for doc in open(sys.argv[1]).read().split("@@"):
    if doc.strip():
        for p in json.loads(doc)["policies"]:
            for fd in p.get("failure-details", []):
                out.add(" ".join(str(fd.get(k, "(none)")) for k in sys.argv[2:]))
print("\n".join(sorted(out)))
PY
}
want= got=
i=11
for k in $KINDS; do
	for l in $LEVELS; do
		case $(e2e_expect_postfix $k $l) in
		"2 0 -") ;;
		*) want="$want $l.$k.test:mx.$k.test:127.0.0.$i"
		   got="$got $l.$k.test:$(fdetail $l.$k.test receiving-mx-hostname receiving-ip | tr ' \n' ': ' | sed 's/ $//')" ;;
		esac
	done
	i=$((i + 1))
done
assert_eq "$want" "$got" "receiving MX and IP of every failure"
assert_eq "delivered in plain text" "$(fdetail may.notls.test failure-reason-code)" \
    "failure reason of the plain-text deliveries to may.notls.test"

# The milter saw every message: two per domain.
want=$(for k in $KINDS; do for l in $LEVELS; do echo "$l.$k.test|2"; done; done | LC_ALL=C sort)
got=$(tl_sql "select domain, sum(value) from domain_counter where name='messages'
    and domain like '%.test' group by domain order by domain" 2>&1)
assert_eq "$want" "$got" "milter: messages per domain"

# ---- part 2: report mails are not counted (RFC 8460 5.3) -------------------
daemon_start || { tail -n 20 "$T/log"; fail "tlsrpt-milter did not start again"; }
LASTDAY=$(date -u +%Y-%m-%d)
NOW=$(( $(date -u -d "$LASTDAY" +%s) + 86400 + 7200 ))	# 02:00 UTC the next day
TLSRPT_NOW=$NOW e2e_in "$REPORT" -c "$T/tlsrpt.conf" run > "$T/run.out" 2>&1
rc=$?
assert_eq 0 "$rc" "tlsrpt-report run exit status"
NREP=$(tl_sql "select count(*) from delivery where state='sent'")
NDOM=$(tl_sql "select count(distinct domain) from report")
assert_eq 20 "$NDOM" "reports built (one per domain)"
assert_eq "$(tl_sql "select count(*) from report")" "$NREP" "report mails submitted"
[ "$rc" = 0 ] && [ "$NREP" -gt 0 ] || { cat "$T/run.out"; fail "no report was mailed"; }

rep_lines() { grep -c 'postfix/smtp\[[0-9]*\]: [0-9A-F]*: to=<tlsrpt@reports.test>, .*status=sent' "$PF_LOG"; }
n=0
while [ "$(rep_lines)" -lt "$NREP" ]; do
	n=$((n + 1))
	[ $n -gt 300 ] && fail "only $(rep_lines) of $NREP report mails delivered after 30 s"
	sleep 0.1
done
assert_eq "$NREP" "$(grep -l '^tlsrpt@reports.test$' "$T"/rcv/good/mail.*.env | wc -l)" \
    "report mails received by mx.good.test"
n=0
while [ "$(tl_sql "select count(*) from report_mail")" -lt "$NREP" ] && [ $n -lt 50 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_eq "$NREP" "$(tl_sql "select count(*) from report_mail")" \
    "milter: queue ids of the report mails recorded"

# The report of may.good.test as mx.good.test received it.
f=$(grep -l '^TLS-Report-Domain: may.good.test' "$T"/rcv/good/mail.*.eml | head -n 1)
got=$("$PY" - "$f" <<'PY' 2>&1
import email, gzip, json, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
for part in msg.walk():
    if part.get_content_type() == "application/tlsrpt+gzip":
        rep = json.loads(gzip.decompress(part.get_payload(decode=True)))
        s = rep["policies"][0]["summary"]
        print(rep["policies"][0]["policy"]["policy-domain"],
              s["total-successful-session-count"], s["total-failure-session-count"])
PY
)
assert_eq "may.good.test 2 0" "$got" "the delivered report of may.good.test"

# An ordinary message to reports.test is counted.
sendmsg "ordinary" "someone@reports.test"
n=0
while ! grep -q 'to=<someone@reports.test>, .*status=' "$PF_LOG"; do
	n=$((n + 1))
	[ $n -gt 300 ] && fail "the message to someone@reports.test was not delivered within 30 s"
	sleep 0.1
done
assert_grep 'to=<someone@reports.test>, .*status=sent' "$PF_LOG" "Postfix: someone@reports.test delivered"
wait_store 1 reports.test
tl_stop
[ "$TL_RC" = 0 ] || fail "daemon exit status $TL_RC after SIGTERM"
assert_eq "1 0 -" "$(preview reports.test)" \
    "reports.test: $NREP report deliveries not counted, the ordinary message counted"
assert_eq "$((NREP + 1))" "$(tl_sql "select coalesce(sum(value), 0) from domain_counter
    where name='messages' and domain='reports.test'")" "milter: messages to reports.test"
# part 1's domains are unchanged by the restart (the log position was saved)
assert_eq "2 0 -" "$(preview may.good.test)" "may.good.test after the restart"

echo "# took $(($(date +%s) - T0)) s"
tl_done
