#!/bin/sh
# t-e2e-failsafe-postfix: the Postfix hooks as shipped in contrib/postfix/
# never defer mail, and never delay it by more than Postfix's smallest
# milter time-out, whatever state tlsrpt-milter is in.  Debian's real
# Postfix (3.7 on Debian 12) in a private network namespace, with smtpd,
# cleanup and smtp chrooted as Debian runs them, and:
#   - the milter as contrib/postfix/main.cf-before-3.10 sets it (the
#     lines are read from there), for mail received by
#     smtpd (smtpd_milters) and mail from the sendmail command (pickup,
#     cleanup: non_smtpd_milters), with the per-milter time-outs of 1 s;
#   - the log follower (log_file);
#   - the MTA-STS policy map as contrib/postfix/main.cf-mta-sts sets it
#     (its line, with the file's path of this test): the daemon writes
#     policy_map_file, Postfix reads it as texthash:.
# One receiver (mx.good.test, tests/peers/tls_receiver.py) takes all mail.
#
# Per state of the daemon, 3 messages to plain.test (no MTA-STS): one
# through sendmail(1), two in one SMTP session to smtpd.  Every message
# must arrive at the receiver, and its delay (arrival at the receiver
# minus submission) minus the median delay of the healthy baseline of
# this run must stay within the cell's bound.  The states:
#   stopped   SIGTERM (the milter socket is removed)
#   killed    SIGKILL of the main process (the supervisor then stops the
#             libmilter child; the socket file stays: connection refused)
#   refused   every process of the daemon SIGKILLed at once
#   missing   the daemon runs, its socket file was removed
#   hungmain  SIGSTOP of the main process only (the libmilter child goes
#             on answering)
#   hungall   SIGSTOP of the main process, the supervisor and the child:
#             connections wait in the listen backlog until Postfix's
#             command_timeout (1 s) - the one cell with a delay, 1 s per
#             sendmail message and per SMTP session
#   restart   SIGTERM and an immediate new start, mail during both
# Measured here (Postfix 3.7.11, 2 shared cores): baseline 0.15-0.25 s per
# message; every cell but hungall adds < 0.1 s; hungall adds 0.95-1.0 s
# to the sendmail message and to the first message of the SMTP session
# (the second waits for the same second, not another one).  Bounds:
# 1.0 s added for every cell but hungall, 0.8 to 2.0 s for hungall.
#
# The policy map file: the daemon discovers the policies of enf.test
# (mode enforce, mx mx.good.test) and mism.test (mode enforce, mx
# mx.elsewhere.test, but its MX is mx.good.test) from the milter's
# recipient domains, writes them, and with the daemon stopped a fresh
# smtp(8) still delivers to enf.test over verified TLS and refuses
# mism.test's MX ("Server certificate not verified": deferred, as
# MTA-STS wants).  Postfix reads a texthash: table once per smtp
# process, so the test reloads Postfix after the file was written.
#
# Skipped under valgrind (TLSRPT_VALGRIND) and in a sanitizer build
# (tlsrpt-milter -V says "build: sanitizers"): timings mean nothing there.
# Needs root and network namespaces (else skipped), unbound, openssl,
# /usr/bin/python3, sqlite3, dpkg and apt-get (the Postfix .deb is cached
# in $TLSRPT_MTA_CACHE or tests/mta-cache/).  TLSRPT_KEEP_TEST_DIR=1
# keeps the test directory.  Exit codes follow automake: 0 pass, 1 fail,
# 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/postfix.sh"
e2e_require_timings

e2e_require "network namespace, Postfix's system user" openssl dpkg apt-get
e2e_require_built

e2e_stop_mta() {
	[ -n "${HUNG:-}" ] && kill -CONT $HUNG 2>/dev/null
	e2e_stop_postfix
}
e2e_dump() {
	e2e_dump_postfix
	[ -f "$T/map" ] && { echo "---- policy map file ----"; cat "$T/map"; }
}
e2e_begin tlsrpt-fs
PF_EXEC=e2e_in

# ---- certificates, DNS, policy host, receiver ---------------------------
e2e_pki
{
	e2e_zone_head
	echo "  local-data: 'mx.good.test. A 127.0.0.11'"
	for d in plain enf mism; do
		echo "  local-data: '$d.test. MX 10 mx.good.test.'"
		echo "  local-data: '_smtp._tls.$d.test. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"'"
	done
	for d in enf mism; do
		echo "  local-data: '_mta-sts.$d.test. TXT \"v=STSv1; id=20250101T000000;\"'"
		echo "  local-data: 'mta-sts.$d.test. A 127.0.0.20'"
	done
} > "$T/zone"
e2e_dns plain.test
e2e_policy_host 240 mta-sts.enf.test mta-sts.mism.test
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.good.test\r\nmax_age: 86400\r\n' \
    > "$T/sts/mta-sts.enf.test.txt"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 86400\r\n' \
    > "$T/sts/mta-sts.mism.test.txt"
e2e_receiver "$T/rcv" 127.0.0.11:25 mx.good.test 240 \
    --cert "$T/pki/good.crt" --key "$T/pki/good.key"
e2e_wait_ready peer "$T/sts" "$T/rcv"

# ---- Postfix, chrooted as on Debian, with the shipped snippets ------------
postfix_unpack "$T/postfix" || fail "$PF_WHY"
echo "# Postfix $PF_VERSION"
PF_CAFILE="$T/pki/ca.crt"
postfix_setup "$T/pfconf" "$T/spool" || fail "$PF_WHY"
Q="$PF_SPOOL/queue"
sed -i -e 's/^\(smtp      inet  n       -       \)n/\1y/' \
    -e 's/^\(cleanup   unix  n       -       \)n/\1y/' \
    -e 's/^\(smtp      unix  -       -       \)n/\1y/' "$PF_CONF/master.cf"
[ "$(grep -c '^\(smtp \|cleanup \).* y ' "$PF_CONF/master.cf")" = 3 ] ||
    fail "master.cf: smtpd, cleanup and smtp not chrooted"
# what Debian's init script copies into the chroot
mkdir -p "$Q/etc" "$Q/run/tlsrpt"
cp /etc/netns/"$E2E_NS"/resolv.conf /etc/netns/"$E2E_NS"/hosts "$Q/etc/"
cp /etc/nsswitch.conf /etc/services "$Q/etc/" 2>/dev/null
: > "$T/map"	# replaced by the daemon's first write
# The snippets' lines, with this instance's paths: the milter socket
# below the queue directory (relative, as in main.cf-before-3.10).
SNIP="$top_srcdir/contrib/postfix"
smtpd_m=$(grep '^smtpd_milters = ' "$SNIP/main.cf-before-3.10")
non_smtpd_m=$(grep '^non_smtpd_milters = ' "$SNIP/main.cf-before-3.10")
policy_m=$(grep '^smtp_tls_policy_maps = ' "$SNIP/main.cf-mta-sts")
assert_eq "smtp_tls_policy_maps = texthash:/var/lib/tlsrpt/mta-sts.policy" "$policy_m" \
    "main.cf-mta-sts: the policy map file is the default"
case $smtpd_m in *"unix:run/tlsrpt/milter.sock, default_action=accept"*"command_timeout=1s"*) ;;
*) fail "main.cf-before-3.10: unexpected smtpd_milters line: $smtpd_m" ;;
esac
postfix_conf "$smtpd_m" "$non_smtpd_m" "$(echo "$policy_m" | sed "s|/var/lib/tlsrpt/mta-sts.policy|$T/map|")" ||
    fail "postconf -e failed"
assert_eq "$(echo "$smtpd_m" | sed 's/^smtpd_milters = //')" \
    "$(postfix_run postconf -h smtpd_milters)" "Postfix took the snippet's smtpd_milters"
postfix_start || fail "$PF_WHY"

# ---- tlsrpt-milter ----------------------------------------------------------
tl_conf "datagram_socket none" "log_file $PF_LOG" "log_start_at beginning" \
    "log_format postfix" "milter_socket unix:$Q/run/tlsrpt/milter.sock" \
    "milter_socket_mode 0666" "policy_map_file $T/map" \
    "https_ca_file $T/pki/ca.crt" "https_allow_private yes" \
    "resolver 127.0.0.53:53" "sts_fetch_timeout 5s"
: > "$T/log"
daemon_start() {
	# "ip netns exec" execs the daemon: TL_PID is its pid
	ip netns exec "$E2E_NS" $MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
	TL_PID=$!
	e2e_wait_sockets "$Q/run/tlsrpt/milter.sock" || fail "no milter socket after the start"
}
# the daemon's processes: main, supervisor, libmilter child
daemon_pids() {
	_s=$(pgrep -P "$TL_PID")
	echo "$TL_PID $_s $(for _p in $_s; do pgrep -P "$_p"; done)" | tr -s ' ' '\n' | grep . | tr '\n' ' '
}
daemon_start

# ---- mail and its timing -----------------------------------------------------
now() { date +%s.%N; }
NMSG=0
send_sm() {	# send_sm TAG RCPT: through sendmail(1)
	printf 'From: <s@sender.test>\nTo: %s\nSubject: %s\n\nfailsafe\n' "$2" "$1" > "$T/m.$1"
	now > "$T/sub.$1"
	postfix_run sendmail -oi -f s@sender.test "$2" < "$T/m.$1" || fail "sendmail $2 failed"
	NMSG=$((NMSG + 1))
}
send_smtp() {	# send_smtp RCPT TAG...: one SMTP session to smtpd, a message per TAG
	_r=$1
	shift
	for _t in "$@"; do now > "$T/sub.$_t"; done
	e2e_in "$PY" - "$_r" "$@" <<'PY' || fail "SMTP session to smtpd failed"
import smtplib, sys
r = sys.argv[1]
s = smtplib.SMTP("127.0.0.2", 25, timeout=30)
s.ehlo("client.test")
for t in sys.argv[2:]:
    s.sendmail("s@sender.test", [r],
               "From: <s@sender.test>\r\nTo: %s\r\nSubject: %s\r\n\r\nfailsafe\r\n" % (r, t))
s.quit()
PY
	NMSG=$((NMSG + $# ))
}
arrived() {	# arrived TAG: the receiver's file of the message, or nothing
	grep -l "^Subject: $1[[:space:]]*$" "$T"/rcv/mail.*.eml 2>/dev/null | head -n 1
}
wait_tags() {	# wait_tags TAG...: all arrived within 20 s, else 1
	_n=0
	for _t in "$@"; do
		while [ -z "$(arrived "$_t")" ]; do
			_n=$((_n + 1))
			[ $_n -gt 200 ] && return 1
			sleep 0.1
		done
	done
	return 0
}
delay() {	# delay TAG: arrival minus submission, seconds
	echo "$(stat -c %.6Y "$(arrived "$1")") $(cat "$T/sub.$1")" | awk '{printf "%.3f", $1 - $2}'
}
# "noent=N refused=N timeout=N other=N": Postfix's milter warnings in
# its log after line $1 (cleanup and smtpd log them before they answer)
milter_warnings() {
	tail -n +"$(($1 + 1))" "$PF_LOG" | grep 'warning: .*[Mm]ilter' > "$T/w"
	_e=$(grep -c 'connect to Milter service unix:run/tlsrpt/milter.sock: No such file or directory$' "$T/w")
	_r=$(grep -c 'connect to Milter service unix:run/tlsrpt/milter.sock: Connection refused$' "$T/w")
	_t=$(grep -c "milter unix:run/tlsrpt/milter.sock: can't read SMFIC_OPTNEG reply packet header: Connection timed out$" "$T/w")
	_h=$(grep -c 'milter unix:run/tlsrpt/milter.sock: read error in initial handshake$' "$T/w")
	echo "noent=$_e refused=$_r timeout=$_t other=$(($(wc -l < "$T/w") - _e - _r - _t - _h))"
}
cell() {	# cell NAME: one sendmail message and one SMTP session of two
	_l0=$(wc -l < "$PF_LOG")
	send_sm "$1-sm" "$1-sm@plain.test"
	send_smtp "$1-smtp@plain.test" "$1-s1" "$1-s2"
	wait_tags "$1-sm" "$1-s1" "$1-s2" || fail "$1: not every message arrived within 20 s"
	echo "$1 $(delay "$1-sm") $(delay "$1-s1") $(delay "$1-s2")" >> "$T/delays"
	milter_warnings "$_l0" > "$T/warn.$1"
}

# ---- prime: the milter's recipient domains make the daemon fetch -------------
cell base1
send_sm prime-enf a@enf.test
send_sm prime-mism a@mism.test
wait_tags prime-enf prime-mism || fail "the priming messages did not arrive"
n=0
while [ "$(grep -c ' secure match=' "$T/map")" -lt 2 ] && [ $n -lt 100 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_eq "enf.test secure match=mx.good.test servername=hostname
mism.test secure match=mx.elsewhere.test servername=hostname" "$(grep -v '^#' "$T/map")" \
    "policy map file: the two enforce policies, found through the milter's domains"
assert_eq 0 "$(find "$T/map" -newermt "-1 second" | wc -l)" \
    "policy map file: its modification time is set back (no texthash cool-down pause)"
assert_eq "644" "$(stat -c %a "$T/map")" "policy map file: mode policy_map_file_mode"
cell base2
cell base3

# ---- the cells ------------------------------------------------------------------
HUNG=
kill -TERM "$TL_PID"; wait "$TL_PID"
[ -e "$Q/run/tlsrpt/milter.sock" ] && fail "the milter socket is still there after SIGTERM"
cell stopped

# the policy map file while the daemon is stopped, read by fresh smtp processes
postfix_run postfix reload >/dev/null 2>&1 || fail "postfix reload failed"
sleep 1
send_sm map-enf b@enf.test
send_sm map-mism b@mism.test
wait_tags map-enf || fail "enf.test: not delivered with the daemon stopped"
n=0
while ! grep -q 'to=<b@mism.test>.*status=deferred' "$PF_LOG" && [ $n -lt 100 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_grep 'to=<b@mism.test>, relay=mx.good.test\[127.0.0.11\]:25, .*status=deferred (Server certificate not verified)' \
    "$PF_LOG" "mism.test: the MX outside its enforce policy refused while the daemon is stopped"
assert_eq "" "$(arrived map-mism)" "mism.test: nothing reached the MX outside the policy"
assert_eq 1 "$(grep -c 'Verified TLS connection established to mx.good.test' "$PF_LOG")" \
    "enf.test: delivered over verified TLS (secure match=mx.good.test from the file)"

daemon_start
kill -KILL "$TL_PID"; wait "$TL_PID" 2>/dev/null
cell killed

daemon_start
kill -KILL $(daemon_pids); wait "$TL_PID" 2>/dev/null
[ -S "$Q/run/tlsrpt/milter.sock" ] || fail "refused: the socket file is gone"
cell refused

daemon_start
rm -f "$Q/run/tlsrpt/milter.sock"
cell missing
kill -TERM "$TL_PID"; wait "$TL_PID"

daemon_start
HUNG=$TL_PID
kill -STOP $HUNG
cell hungmain
kill -CONT $HUNG

HUNG=$(daemon_pids)
kill -STOP $HUNG
cell hungall
kill -CONT $HUNG
HUNG=

kill -TERM "$TL_PID"
send_sm restart-sm restart-sm@plain.test
wait "$TL_PID"
daemon_start
send_smtp restart-smtp@plain.test restart-s1 restart-s2
wait_tags restart-sm restart-s1 restart-s2 || fail "restart: not every message arrived within 20 s"
echo "restart $(delay restart-sm) $(delay restart-s1) $(delay restart-s2)" >> "$T/delays"
cell after

# ---- what arrived, and how late ---------------------------------------------------
n=0
while [ "$(ls "$T"/rcv/mail.*.eml 2>/dev/null | wc -l)" -lt $NMSG ] && [ $n -lt 50 ]; do
	n=$((n + 1)); sleep 0.1
done
assert_eq "$((NMSG - 1))" "$(ls "$T"/rcv/mail.*.eml | wc -l)" \
    "receiver: every message but the one to mism.test arrived"
assert_eq 0 "$(grep -c 'to=<[^>]*@plain.test>.*status=deferred' "$PF_LOG")" \
    "Postfix: no delivery to plain.test deferred"
sed 's/^/# delays (s): /' "$T/delays"
BASE=$(grep '^base' "$T/delays" | tr ' ' '\n' | grep '^[0-9]' | sort -n | sed -n 5p)
echo "# baseline (median of 9): $BASE s"
check_cell() {	# check_cell NAME MIN MAX: every added delay of the cell within [MIN, MAX]
	_got=$(grep "^$1 " "$T/delays" | awk -v b="$BASE" -v lo="$2" -v hi="$3" '{
	    out = "ok"
	    for (i = 2; i <= NF; i++) if ($i - b > hi || $i - b < lo) out = "added " ($i - b) " s"
	    print out }')
	assert_eq ok "$_got" "$1: added delay within [$2, $3] s"
}
for c in stopped killed refused missing hungmain restart after; do
	check_cell $c -1 1.0
done
# the session's second message waits for the same second: only the first two
check_cell hungall -1 2.0
assert_eq ok "$(grep '^hungall ' "$T/delays" | awk -v b="$BASE" '{
    print ($2 - b >= 0.8 && $3 - b >= 0.8) ? "ok" : "no wait: " $2 " " $3 }')" \
    "hungall: the sendmail message and the SMTP session waited for command_timeout"

# What Postfix met, per cell: one failure for the sendmail message and
# one for the SMTP session (its second message skips the milter).  After
# SIGKILL of the main process alone the child may still be answering,
# and a removed socket is made again by the daemon: those two cells
# only must show no time-out.
for c in base1 base2 base3 hungmain after; do
	assert_eq "noent=0 refused=0 timeout=0 other=0" "$(cat "$T/warn.$c")" "$c: the milter answered"
done
assert_eq "noent=2 refused=0 timeout=0 other=0" "$(cat "$T/warn.stopped")" \
    "stopped: no socket, Postfix went on at once"
assert_eq "noent=0 refused=2 timeout=0 other=0" "$(cat "$T/warn.refused")" \
    "refused: connection refused, Postfix went on at once"
assert_eq "noent=0 refused=0 timeout=2 other=0" "$(cat "$T/warn.hungall")" \
    "hungall: one command_timeout for the sendmail message, one for the SMTP session"
for c in killed missing; do
	assert_eq "timeout=0 other=0" "$(sed 's/.* timeout=/timeout=/' "$T/warn.$c")" \
	    "$c: no milter time-out"
done
assert_eq 0 "$(grep -c 'fatal:' "$PF_LOG")" "Postfix: nothing fatal"

tl_conf_stop() { [ -n "${TL_PID:-}" ] && kill -0 "$TL_PID" 2>/dev/null && tl_stop; }
tl_conf_stop
[ "${TL_RC:-0}" = 0 ] || fail "daemon exit status $TL_RC after SIGTERM"
echo "# took $(($(date +%s) - T0)) s"
tl_done
