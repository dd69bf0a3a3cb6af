#!/bin/sh
# t-e2e-failsafe-sendmail: the shipped Sendmail hooks never cost a
# delivery, whatever state tlsrpt-milter is in, on every delivery path of
# Debian's real Sendmail 8.17; and each session still counts once.
#
# Hooks as an operator installs them: contrib/sendmail/tlsrpt.mc verbatim
# (its syslog map: Sendmail logs each tls_server and tls_rcpt lookup, the
# daemon's log follower reads them back from the log) and the milter line
# of contrib/sendmail/README.md (F= empty, T=C:1s;S:1s;R:1s;E:1s).
# Sendmail logs at LogLevel 14 through its private /dev/log into
# $T/maillog (tests/peers/syslog_sink.py), so the log holds Sendmail's own
# STARTTLS=client lines beside the hook's.
#
# Paths (tests/peers/sendmail_failsafe.sh): SMTP to the -bd daemon,
# sendmail -odi, -odb, -odq then -q, -odq then -qR, and the children of a
# -q1s queue runner, each to a receiver of its own (all sessions
# verified TLS).  States of the daemon: healthy (the baseline), stopped
# (SIGTERM), killed (SIGKILL: its socket files stay, connect() is
# refused), hung (SIGSTOP to all its processes), hung-main (SIGSTOP to the
# main process only), nosocket (running, socket files removed), restart
# (stopped and started while every path's session is open, between its
# tls_server and tls_rcpt lookups).  Per cell (state), one message along
# every path at once; asserted per path: delivered (the receiver has it),
# nothing left in the queue, the receiving session at most 1 s longer
# than in the healthy cell of the same run (restart: its receivers answer
# MAIL 3 s late, which is subtracted), the submitting command at most
# 1 s longer - except SMTP to the daemon with the milter hung: Sendmail
# waits for the milter's answer R:1s, then goes on without it, so 1.6 s
# there.  Figures of a run on the 2-core test machine: sessions 0.18 s
# in every cell (no added time on any path: the syslog map never waits);
# submission to the daemon 0.11 s, 1.10 s with the milter hung.  Then:
# every session counted exactly once, those logged while the daemon was
# down too (after it came back: the log is the buffer), none of the
# report mail (the milter marked its queue id), and the milter saw only
# the SMTP submissions (Sendmail runs no milter for command-line mail).
#
# Skipped under valgrind and in a sanitizer build (timings).  Needs what
# t-e2e-sendmail-log.sh needs.  TLSRPT_KEEP_TEST_DIR=1 keeps the test
# directory.  Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
e2e_require_timings
. "$top_srcdir/tests/peers/sendmail.sh"
. "$top_srcdir/tests/peers/sendmail_failsafe.sh"

e2e_require "network namespace, Sendmail" openssl dpkg dpkg-deb apt-get unshare mount
sendmail_need_packages
e2e_require_built

export TZ=UTC
e2e_stop_mta() {
	e2e_stop_sendmail
	[ -f "$T/sm/run.pid" ] && kill "$(head -n 1 "$T/sm/run.pid")" 2>/dev/null
	for _pid in $(fs_pids); do kill -CONT "$_pid" 2>/dev/null; done
}
e2e_dump() {
	grep -v 'poststats\|tls_clt_features\|engine=' "$T/maillog" 2>/dev/null | tail -n 60
	tail -n 30 "$T/log.before" 2>/dev/null
}
e2e_begin tlsrpt-fss

echo "define(\`confTIME_ZONE', \`USE_TZ')dnl" > "$T/mcbody"
sed -n 's/^ *\(INPUT_MAIL_FILTER(`tlsrpt'"'"'.*\)$/\1/p' "$top_srcdir/contrib/sendmail/README.md" |
    sed "s|local:/run/tlsrpt/milter.sock|local:$T/milter.sock|" >> "$T/mcbody"
grep -q "^INPUT_MAIL_FILTER(.tlsrpt., .S=local:$T/milter.sock, F=, T=C:1s;S:1s;R:1s;E:1s.)dnl\$" \
    "$T/mcbody" || { cat "$T/mcbody"; fail "no milter line of the expected form in contrib/sendmail/README.md"; }
cp "$top_srcdir/contrib/sendmail/tlsrpt.mc" "$T/mctail"
fs_setup "$T/mcbody" "$T/mctail" "log_file $T/maillog" "log_format sendmail" \
    "log_start_at beginning" "log_level debug"
grep -q '^Ktlsrpt syslog -S -Linfo$' "$SM_CF" || fail "tlsrpt.mc did not make it into sendmail.cf"
DAY0=$(date -u +%Y-%m-%d)
echo "# set up after $(($(date +%s) - T0)) s"

field() {	# field PATH NAME: NAME= of PATH's line of FS_RESULT
	printf '%s' "$FS_RESULT" | sed -n "s/^$1 .* $2=\([^ ]*\).*/\1/p"
}
status() {	# status PATH: "delivered queued=0" or what it was
	printf '%s' "$FS_RESULT" | sed -n "s/^$1 \([a-z]*\) .* \(queued=[0-9]*\)$/\1 \2/p"
}
below() {	# below A B BOUND: "yes" when A - B < BOUND
	awk -v a="$1" -v b="$2" -v bound="$3" 'BEGIN { print (a - b < bound) ? "yes" : "no" }'
}

# ---- the baseline ---------------------------------------------------------
fs_cell healthy 20
printf '%s' "$FS_RESULT" | sed 's/^/# healthy /'
for p in $FS_PATHS; do
	assert_eq "delivered queued=0" "$(status $p)" "healthy $p: delivered"
	eval "base_secs_$p=\$(field $p secs) base_submit_$p=\$(field $p submit)"
done
e2e_wait_store 6

# ---- the states --------------------------------------------------------------
check_cell() {	# check_cell STATE PAUSE
	for p in $FS_PATHS; do
		assert_eq "delivered queued=0" "$(status $p)" "$1 $p: delivered, nothing deferred"
		secs=$(field $p secs) submit=$(field $p submit)
		eval "bs=\$base_secs_$p bsub=\$base_submit_$p"
		assert_eq yes "$(below "$secs" "$bs" "$(awk -v x="$2" 'BEGIN { print 1 + x }')")" \
		    "$1 $p: session $secs s, healthy $bs s (+$2 s pause): under 1 s added"
		bound=1
		[ $p = odi ] && bound=$(awk -v x="$2" 'BEGIN { print 1 + x }')
		[ $p = bd ] && [ "$1" = hung ] && bound=1.6
		assert_eq yes "$(below "$submit" "$bsub" "$bound")" \
		    "$1 $p: submission $submit s, healthy $bsub s: under $bound s added"
	done
}
for st in stopped killed hung hung-main nosocket; do
	fs_cell $st 20
	printf '%s' "$FS_RESULT" | sed "s/^/# $st /"
	check_cell $st 0
	if [ $st = stopped ]; then
		# logged while the daemon is down; counted when it is back
		assert_eq 6 "$(e2e_store_total)" "stopped: nothing counted while the daemon is down"
		fs_state healthy
		e2e_wait_store 12
		assert_eq 12 "$(e2e_store_total)" "stopped: the 6 sessions counted after the restart"
	fi
done
fs_cell restart 20
printf '%s' "$FS_RESULT" | sed 's/^/# restart /'
check_cell restart 3
assert_grep 'notice: started' "$T/log" "restart: the daemon came back"

# ---- our own report mail, and an ordinary one, with the daemon healthy ----
fs_state healthy
printf '%s\n' "tlsrpt@bd.test last TLS-Report-Domain: bd.test" "v@bd.test last" | sendmail_submit
n=0
while [ "$(grep -l '^Subject: last' "$T"/rcv/bd/mail.*.eml 2>/dev/null | wc -l)" -lt 2 ] && [ $n -lt 100 ]; do
	n=$((n + 1)); sleep 0.1
done

# ---- exactly once ---------------------------------------------------------------
# the follower has read the whole log (bounded), then the counts
SIZE=$(wc -c < "$T/maillog")
n=0
while [ "$(tl_sql "select value from state where name = 'log:$T/maillog'" 2>/dev/null |
    head -n 1 | cut -d' ' -f5)" -lt "$SIZE" ] 2>/dev/null; do
	n=$((n + 1))
	[ $n -gt 100 ] && fail "the follower did not reach offset $SIZE within 10 s"
	sleep 0.1
done
sleep 0.5
assert_grep 'STARTTLS=client, relay=mx.bd.test., version=TLSv1.3, verify=OK' "$T/maillog" \
    "the log holds Sendmail's own STARTTLS lines too"
for p in $FS_PATHS; do
	want=6
	[ $p = bd ] && want=7	# the ordinary last message; the report mail is not counted
	assert_eq "$want|0" "$(tl_sql "select sum(successes) || '|' || sum(failures) from policy_day
	    where domain = '$p.test'")" "$p.test: each session counted once, all successes"
	assert_eq "1|0" "$(tl_sql "select sum(successes) || '|' || sum(failures) from policy_day
	    where domain = '$p-slow.test'")" "$p-slow.test: the session cut by the restart, once"
done
assert_eq 1 "$(tl_counter milter.report_mails)" "milter.report_mails"
assert_eq 1 "$(tl_counter log.sendmail_hook_report_mails_skipped)" \
    "log.sendmail_hook_report_mails_skipped"
# SMTP submissions with the milter reachable: healthy, hung-main (its
# child answers), restart (submitted before it) and the last two
assert_eq 5 "$(tl_counter milter.messages)" "milter.messages: only the SMTP submissions"
assert_eq 0 "$(tl_counter log.sendmail_hook_bad)" "log.sendmail_hook_bad"
# two hook lines per message: 7 cells x 6 paths, and the last two
assert_eq 88 "$(tl_counter log.sendmail_hook_lines)" "log.sendmail_hook_lines"
assert_eq 0 "$(tl_counter log.parse_misses)" "log.parse_misses"

echo "# done after $(($(date +%s) - T0)) s"
tl_done
