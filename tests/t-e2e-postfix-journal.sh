#!/bin/sh
# t-e2e-postfix-journal: Debian's real Postfix (3.7) logging through
# syslog(3) into a real systemd-journald (no rsyslog: Debian 12's
# default), under a syslog_name of its own (postfix-out, as a second
# instance would have), and tlsrpt-milter following that journal
# natively (log_file journal:DIR, log_start_at end, log_format auto)
# while Postfix delivers, with a restart in the middle and mail delivered
# while it is stopped.
#
# The frame is t-e2e-postfix.sh's: a private network namespace, unbound,
# the receivers good, expired, selfsigned, wronghost and notls; domains
# LEVEL.KIND.test with the smtp_tls_policy_maps levels may and verify,
# and the single-process notls transport.  journald runs in a journal
# namespace and a private mount namespace (tests/peers/journald.sh), and
# every Postfix process in a private mount namespace whose /dev/log is
# journald's syslog socket (maillog_file empty: Postfix logs to syslog).
#
# Mail, per KIND: m1 to a1@may, m2 to b1@verify, m3 to c1@may and
# c2@may, m4 to d1@verify: two deliveries per domain.  The kinds good,
# expired and selfsigned go while the daemon runs; it stops once it has
# read them; wronghost and notls go while it is stopped; it starts again
# and goes on from its saved cursor.  Every facility-mail entry must be
# read once (log.lines) and each domain's "tlsrpt-report preview" must
# hold t-e2e-postfix.sh's counts.
#
# The daemon reads the journal files' directory (journal:DIR) rather than
# the system journal (journal:), which differs only in how sd-journal
# opens it.  Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/postfix.sh"
. "$top_srcdir/tests/peers/sendmail.sh"	# sendmail_in_logns: any MTA's private /dev/log
. "$top_srcdir/tests/peers/journald.sh"

export TZ=UTC
KINDS="good expired selfsigned wronghost notls"
LEVELS="may verify"

e2e_require "network namespace, Postfix's system user" openssl dpkg apt-get unshare mount journalctl
e2e_require_built
grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"

e2e_stop_mta() {
	e2e_stop_postfix
	journald_stop
}
e2e_dump() {
	journald_dump
	[ -f "$T/log" ] && grep 'log_' "$T/log" | tail -n 20
}
e2e_begin tlsrpt-pfj

# ---- certificates, DNS, receivers --------------------------------------
e2e_kind_peers 120

# ---- journald, and Postfix logging into it ---------------------------------
journald_for_mta
PF_EXEC=sendmail_in_logns

postfix_unpack "$T/postfix" || fail "$PF_WHY"
echo "# Postfix $PF_VERSION"
PF_CAFILE="$T/pki/ca.crt"
postfix_setup "$T/pfconf" "$T/spool" || fail "$PF_WHY"
for k in $KINDS; do
	echo "may.$k.test may" >> "$PF_CONF/tls_policy"
	echo "verify.$k.test verify" >> "$PF_CONF/tls_policy"
done
e2e_postfix_notls "$LEVELS"
postfix_conf "maillog_file =" "syslog_name = postfix-out" || fail "postconf -e failed"

# ---- tlsrpt-milter on the journal, as the sample configures it, before
# Postfix (as the shipped unit orders them)
journald_follow_start
postfix_start || fail "$PF_WHY"

NMSG=0
sendmsg() {	# sendmsg SUBJECT RCPT...
	subj=$1; shift
	NMSG=$((NMSG + 1))
	printf 'From: <sender@sender.test>\nTo: %s\nSubject: %s\n\ntest message %s\n' \
	    "$(echo "$@" | sed 's/ /, /g')" "$subj" "$NMSG" > "$T/msg.$NMSG"
	postfix_run sendmail -oi -f sender@sender.test "$@" < "$T/msg.$NMSG" ||
	    fail "sendmail $* failed"
}
mail_of() {	# mail_of KIND...
	for k in "$@"; do
		sendmsg "m1 $k" "a1@may.$k.test"
		sendmsg "m2 $k" "b1@verify.$k.test"
		sendmsg "m3 $k" "c1@may.$k.test" "c2@may.$k.test"
		sendmsg "m4 $k" "d1@verify.$k.test"
	done
}
wait_status() {	# wait_status N: N status= lines of the smtp client (30 s)
	n=0
	while [ "$(journalctl -q -D "$JD_FILES" SYSLOG_IDENTIFIER=postfix-out/smtp -o cat 2>/dev/null |
	    grep -c ': to=<.*status=')" -lt "$1" ]; do
		n=$((n + 1))
		[ $n -gt 300 ] && fail "fewer than $1 status lines in the journal after 30 s"
		sleep 0.1
	done
}

# ---- while the daemon runs ---------------------------------------------------
DAY0=$(date -u +%Y-%m-%d)
mail_of good expired selfsigned
wait_status 15
sleep 0.5
journald_follow_stop first

# ---- while it is stopped -----------------------------------------------------
mail_of wronghost notls
wait_status 25
sleep 0.5

# ---- started again -------------------------------------------------------------
journald_follow_resume
journald_follow_stop second
journald_follow_checks
assert_eq "0 yes" "$(journalctl -q -D "$JD_FILES" SYSLOG_IDENTIFIER=postfix/smtp -o cat | wc -l) $(
    [ "$(journalctl -q -D "$JD_FILES" SYSLOG_IDENTIFIER=postfix-out/smtp -o cat | wc -l)" -gt 25 ] &&
    echo yes)" "Postfix logged as postfix-out/smtp, under its syslog_name"

e2e_check_kinds e2e_expect_postfix	# t-e2e-postfix.sh's counts
assert_eq 0 "$(tl_sql "select count(*) from policy_day where domain not like '%.test'")" \
    "no other domains"

echo "# done after $(($(date +%s) - T0)) s"
tl_done
