#!/bin/sh
# t-e2e-sendmail-log: Debian's real Sendmail (8.17) logs through syslog(3);
# its real lines are captured and tlsrpt-milter's log follower (log_format
# sendmail) turns them into exact per-domain session counts.
#
# The frame is t-e2e-sendmail.sh's: a private network namespace, unbound
# on 127.0.0.53, the receivers good, expired, selfsigned, wronghost and
# notls (tests/peers/tls_receiver.py) on 127.0.0.11-15:25, domains
# LEVEL.KIND.test (may: opportunistic; verify: "TLS_Rcpt:verify.KIND.test
# VERIFY" in the access map).  Sendmail runs with -L sm-mta (as Debian
# starts it) at LogLevel 14, without milter or socketmap, inside a private
# mount namespace (unshare -m, inside the network namespace) whose /dev is
# a small private copy: null, zero, random and urandom bound from the real
# /dev, and /dev/log a symlink to the socket of tests/peers/syslog_sink.py,
# which writes each message as a classic syslog line
# "Mmm dd hh:mm:ss sender sm-mta[pid]: ...".  The host's /dev is never
# touched.  TZ=UTC, and confTIME_ZONE USE_TZ so that Sendmail keeps it.
#
# Mail: a first message to a1@may.good.test alone (so that the log holds
# a STARTTLS=client relay line before any plain-text delivery: rule 7 of
# milter/sendmail_log.c), then per KIND m1 to a1@may and a1@verify (one
# transaction, one connection), m2 to b1@may and b2@may, m3 to c1@verify.
# Once every recipient has a stat= line (bounded), Sendmail and the sink
# stop; tlsrpt-milter reads the captured file from the beginning (no
# socket input at all), and once its committed offset equals the file's
# size it stops and each domain's "tlsrpt-report preview" is checked.
#
# Needs what t-e2e-sendmail.sh needs, and unshare -m / mount.
# TLSRPT_KEEP_TEST_DIR=1 keeps the test directory (the captured log is
# $T/maillog).  Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/sendmail.sh"

export TZ=UTC
KINDS="good expired selfsigned wronghost notls"
LEVELS="may verify"
JSON="$top_builddir/tests/json_shape"

e2e_require "network namespace, Sendmail" openssl dpkg dpkg-deb apt-get unshare mount
sendmail_need_packages
e2e_require_built
[ -x "$JSON" ] || fail "tests/json_shape not built"

SINK_PID=
LOG="$T/maillog"
e2e_stop_mta() { e2e_stop_sendmail; }
e2e_dump() {
	[ -f "$LOG" ] && { echo "---- captured log ----"; cat "$LOG"; }
	[ -f "$LOG.raw" ] && { echo "---- not syslog-shaped ----"; cat "$LOG.raw"; }
	[ -f "$LOG.err" ] && cat "$LOG.err"
	[ -f "$T/log" ] && grep -i 'sendmail\|log_' "$T/log" | tail -n 40
}
e2e_begin tlsrpt-sml

# ---- certificates, DNS, receivers --------------------------------------
e2e_kind_peers 60

# ---- the syslog sink ----------------------------------------------------
# SM_EXEC: in the network namespace, in a private mount namespace whose
# /dev/log is the sink's socket (tests/peers/sendmail.sh).
sendmail_log_sink "$T/syslog.sock" "$LOG" 50 || { cat "$LOG.err"; fail "the syslog sink did not start"; }
SINK_PID=$SM_SINK_PID
sm_in_logns() { sendmail_in_logns "$@"; }

# a check that the arrangement works at all (the host /dev is unchanged)
sm_in_logns /bin/sh -c '[ -L /dev/log ] || [ -S /dev/log ]' ||
    skip "cannot give Sendmail a private /dev/log (unshare -m / mount)"
[ -e /dev/log ] && [ ! -S /dev/log ] && fail "the host's /dev/log is no socket"

# ---- Sendmail -------------------------------------------------------------
sendmail_unpack "$T/sendmail" || fail "$SM_WHY"
echo "# Sendmail $SM_VERSION"
echo "define(\`confTIME_ZONE', \`USE_TZ')dnl" > "$T/mcbody"
sendmail_verify_kinds "$T/sm" $KINDS
SM_CAFILE="$T/pki/ca.crt" SM_EXEC="sm_in_logns" SM_LABEL=sm-mta
sendmail_setup "$T/sm" "$T/mcbody" || fail "$SM_WHY"
grep -q '^O LogLevel=14' "$SM_CF" || fail "LogLevel 14 is not in sendmail.cf"
sendmail_start || fail "$SM_WHY"
echo "# Sendmail started after $(($(date +%s) - T0)) s"


captured() { cat "$LOG" 2>/dev/null; }

DAY0=$(date -u +%Y-%m-%d)
echo "a1@may.good.test m0" | sendmail_submit
sendmail_wait_stat captured a1@may.good.test
# shellcheck disable=SC2086
sendmail_kind_mail $KINDS | sendmail_submit
# shellcheck disable=SC2046,SC2086
sendmail_wait_stat captured a1@may.good.test $(sendmail_kind_rcpts $KINDS)
sleep 0.5	# lines after the last delivery line (none expected) would come now
echo "# every recipient logged after $(($(date +%s) - T0)) s"
sendmail_stop || fail "Sendmail did not stop"
SM_CF=
kill "$SINK_PID"
wait "$SINK_PID"
SINK_PID=
cat "$LOG.err"
[ -s "$LOG.raw" ] && { cat "$LOG.raw"; fail "messages of another shape reached the sink"; }
assert_eq 0 "$(grep -cv '^[A-Z][a-z][a-z] [ 0-9][0-9] [0-9:]\{8\} sender [a-z-]*\[[0-9]*\]: ' "$LOG")" \
    "every captured line is a classic syslog line"
assert_eq 0 "$(grep -vc ' sm-mta\[' "$LOG")" "every captured line is tagged sm-mta"
assert_grep 'STARTTLS=client, relay=mx.good.test., version=TLSv1\.[23], verify=OK, cipher=' "$LOG" \
    "a real STARTTLS=client relay line"
assert_grep 'STARTTLS=client, cert-subject=' "$LOG" "a real cert-subject line"
assert_grep 'to=<a1@may.good.test>, .* stat=Sent' "$LOG" "a real delivery line"

# ---- tlsrpt-milter reads the captured log ----------------------------------
tl_conf "datagram_socket none" "log_file $LOG" "log_format sendmail" \
    "log_start_at beginning" "log_level debug" \
    "organization_name \"tlsrpt-milter e2e test\"" "contact_info mailto:tlsrpt-admin@sender.test"
tl_start
SIZE=$(wc -c < "$LOG")
n=0
while [ "$(tl_sql "select value from state where name = 'log:$LOG'" 2>/dev/null |
    head -1 | cut -d' ' -f5)" != "$SIZE" ]; do
	n=$((n + 1))
	[ $n -gt 200 ] && fail "the committed offset did not reach $SIZE within 10 s"
	sleep 0.05
done
tl_stop
assert_eq 0 "$TL_RC" "daemon exit status after SIGTERM"
assert_eq "$(wc -l < "$LOG")" "$(tl_counter log.lines)" "log.lines: every captured line read"
assert_eq 0 "$(tl_counter log.parse_misses)" "log.parse_misses"
assert_eq 0 "$(tl_counter log.long_lines)" "log.long_lines"
assert_eq 0 "$(tl_counter log.unstamped_lines)" "log.unstamped_lines"
assert_grep "log_stopped file=$LOG offset=$(wc -c < "$LOG") open_sessions=[0-9]* emitted_success=9 emitted_failure=12 " \
	"$T/log" "log_stopped: the Sendmail correlator's own totals (9 successful, 12 failed)"

E2E_POLICY_TYPE=no-policy-found
# "SUCCESSES FAILURES type" as sendmail_log.c's rules make them of the
# lines LogLevel 14 gives: two sessions per domain (m1 and m2, or m1 and
# m3; the may.good.test m0 makes three there).
expect() {	# expect KIND LEVEL
	case $1 in
	good) [ "$2" = may ] && echo "3 0 -" || echo "2 0 -" ;;
	expired) echo "0 2 certificate-expired" ;;
	selfsigned) echo "0 2 certificate-not-trusted" ;;
	# no AltName lines below LogLevel 15 (rule 2): the name is not seen
	wronghost) echo "2 0 -" ;;
	notls) echo "0 2 starttls-not-supported" ;;
	esac
}
e2e_check_kinds expect
# one report each, checked field by field
for d in may.expired.test verify.notls.test; do
	e2e_in "$REPORT" -c "$T/tlsrpt.conf" --json preview $d --day "$DAY0" > "$T/one.$d" 2>&1 ||
	    { cat "$T/one.$d"; fail "preview $d"; }
done
assert_eq "mx.expired.test" "$("$JSON" --get 'policies[0].failure-details[0].receiving-mx-hostname' "$T/one.may.expired.test")" \
    "may.expired.test: the failure names the MX"
assert_eq "127.0.0.12" "$("$JSON" --get 'policies[0].failure-details[0].receiving-ip' "$T/one.may.expired.test")" \
    "may.expired.test: and its address"
assert_eq 2 "$("$JSON" --get 'policies[0].failure-details[0].failed-session-count' "$T/one.may.expired.test")" \
    "may.expired.test: failed-session-count"
assert_eq starttls-not-supported "$("$JSON" --get 'policies[0].failure-details[0].result-type' "$T/one.verify.notls.test")" \
    "verify.notls.test: result type"
assert_eq 0 "$(tl_sql "select count(*) from policy_day where domain not like '%.test'")" \
    "no other domains"

echo "# done after $(($(date +%s) - T0)) s"
tl_done
