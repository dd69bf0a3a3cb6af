#!/bin/sh
# t-e2e-sendmail-journal: Debian's real Sendmail (8.17) with the default
# hook, contrib/sendmail/tlsrpt.mc verbatim, logging into a real
# systemd-journald (no rsyslog: Debian 12's default), and tlsrpt-milter
# following that journal natively (log_file journal:DIR, log_start_at
# end, log_format auto: the sample's defaults) while Sendmail delivers,
# with a restart in the middle and mail delivered while it is stopped.
#
# The frame is t-e2e-sendmail-log.sh's: a private network namespace,
# unbound on 127.0.0.53, the receivers good, expired, selfsigned,
# wronghost and notls on 127.0.0.11-15:25, domains LEVEL.KIND.test.
# journald runs in a journal namespace and a private mount namespace of
# its own (tests/peers/journald.sh): its sockets and files are in the
# test directory, the host's journal is never touched.  Sendmail runs
# with -L sm-mta in a private mount namespace whose /dev/log is
# journald's syslog socket, as under systemd.
#
# Mail, per KIND: m1 to a1@may and a1@verify (one connection), m2 to b1@may
# and b2@may, m3 to c1@verify.  The kinds good, expired and selfsigned go
# while the daemon runs; the daemon is stopped once it has read them;
# wronghost and notls go while it is stopped; it starts again and reads
# on from its saved cursor.  Then every facility-mail entry of the
# journal must have been read exactly once (log.lines), and each domain's
# "tlsrpt-report preview" must hold the counts of t-e2e-sendmail.sh (the
# same rules through a socket map): two sessions per domain.
#
# The daemon reads the journal files' directory (journal:DIR) rather than
# the system journal (journal:), which differs only in how sd-journal
# opens it; the test cannot use the host's journal.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/sendmail.sh"
. "$top_srcdir/tests/peers/journald.sh"

export TZ=UTC
KINDS="good expired selfsigned wronghost notls"
LEVELS="may verify"

e2e_require "network namespace, Sendmail" openssl dpkg dpkg-deb apt-get unshare mount journalctl
sendmail_need_packages
e2e_require_built
grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" || skip "built without libsystemd"

e2e_stop_mta() {
	e2e_stop_sendmail
	journald_stop
}
e2e_dump() {
	journald_dump
	[ -f "$T/log" ] && grep -i 'sendmail\|log_' "$T/log" | tail -n 40
}
e2e_begin tlsrpt-smj

# ---- certificates, DNS, receivers --------------------------------------
e2e_kind_peers 90

# ---- journald, and Sendmail logging into it --------------------------------
journald_for_mta

sendmail_unpack "$T/sendmail" || fail "$SM_WHY"
echo "# Sendmail $SM_VERSION"
echo "define(\`confTIME_ZONE', \`USE_TZ')dnl" > "$T/mcbody"
cp "$top_srcdir/contrib/sendmail/tlsrpt.mc" "$T/mctail"
sendmail_verify_kinds "$T/sm" $KINDS
SM_CAFILE="$T/pki/ca.crt" SM_EXEC=sendmail_in_logns SM_LABEL=sm-mta
sendmail_setup "$T/sm" "$T/mcbody" "$T/mctail" || fail "$SM_WHY"
grep -q '^Ktlsrpt syslog -S -Linfo$' "$SM_CF" || fail "tlsrpt.mc did not make it into sendmail.cf"

# ---- tlsrpt-milter on the journal, as the sample configures it -------------
journald_follow_start

sendmail_start || fail "$SM_WHY"
echo "# Sendmail started after $(($(date +%s) - T0)) s"

wait_logged() {	# wait_logged KIND...: every recipient has its stat= line (30 s)
	# shellcheck disable=SC2046
	sendmail_wait_stat journald_mail $(sendmail_kind_rcpts "$@")
}

# ---- while the daemon runs ---------------------------------------------------
DAY0=$(date -u +%Y-%m-%d)
sendmail_kind_mail good expired selfsigned | sendmail_submit
wait_logged good expired selfsigned
sleep 0.5	# the hook processes' last lines
journald_follow_stop first

# ---- while it is stopped -----------------------------------------------------
sendmail_kind_mail wronghost notls | sendmail_submit
wait_logged wronghost notls
sleep 0.5

# ---- started again: on from the saved cursor ----------------------------------
journald_follow_resume
sleep 1		# closing what went quiet (log_session_timeout) is not needed: each is complete
journald_follow_stop second
echo "# Sendmail logged $(journald_mail | wc -l) mail entries, $(journald_mail | grep -c 'tlsrpt srv=') hook lines"
journald_follow_checks
assert_eq "$(journald_mail | grep -c 'tlsrpt srv=')" "$(tl_counter log.sendmail_hook_lines)" \
    "every hook line read once"

E2E_POLICY_TYPE=no-policy-found
e2e_check_kinds e2e_expect_sendmail	# t-e2e-sendmail.sh's counts: the same rules
assert_eq 0 "$(tl_sql "select count(*) from policy_day where domain not like '%.test'")" \
    "no other domains"

echo "# done after $(($(date +%s) - T0)) s"
tl_done
