#!/bin/sh
# Sendmail's delivery paths against the states of tlsrpt-milter: what a
# hook costs when the daemon is healthy, stopped, killed, hung or
# restarting.  Needs root (a private network namespace) and what
# tests/t-e2e-sendmail.sh needs.
#
#   sh bench/sendmail-failsafe.sh BUILDDIR SRCDIR MC|none [MILTER-T|none] [STATE...]
#
# MC: a .mc fragment put after the MAILER lines (e.g.
# contrib/sendmail/tlsrpt.mc; TLSRPT_SOCKET is defined before it), or
# none.  MILTER-T: the T= of the INPUT_MAIL_FILTER line (default
# C:1s;S:1s;R:1s;E:1s), or none for no milter.  STATES: default all of
# healthy stopped killed hung hung-main nosocket restart.  For each state
# one message goes along every path of tests/peers/sendmail_failsafe.sh
# at once; printed per path: delivered or missing after 20 s, the
# receiving session's duration (where a hook's time-outs show), the
# submitting command's duration (where a milter's show), and the
# messages left in the path's queue (deferred).  Before every state the
# daemon is made healthy again and the queues are emptied.
top_builddir=$(cd "$1" && pwd)
top_srcdir=$(cd "$2" && pwd)
MC=$3
MILTER_T=${4:-C:1s;S:1s;R:1s;E:1s}
shift 2; shift; [ $# -gt 0 ] && shift
STATES=${*:-healthy stopped killed hung hung-main nosocket restart}
. "$top_srcdir/tests/peers/e2e.sh"
. "$top_srcdir/tests/peers/sendmail.sh"
. "$top_srcdir/tests/peers/sendmail_failsafe.sh"

e2e_require "network namespace, Sendmail" openssl dpkg dpkg-deb apt-get unshare mount
e2e_stop_mta() {
	[ -n "$SM_CF" ] && sendmail_stop
	[ -f "$T/sm/run.pid" ] && kill "$(head -n 1 "$T/sm/run.pid")" 2>/dev/null
}
e2e_begin tlsrpt-fsb

: > "$T/mcbody"
[ "$MILTER_T" = none ] ||
    echo "INPUT_MAIL_FILTER(\`tlsrpt', \`S=local:$T/milter.sock, F=, T=$MILTER_T')dnl" > "$T/mcbody"
: > "$T/mctail"
if [ "$MC" != none ]; then
	{
		echo "define(\`TLSRPT_SOCKET', \`local:$T/smap.sock')dnl"
		cat "$MC"
	} > "$T/mctail"
fi
fs_setup "$T/mcbody" "$T/mctail" "log_file $T/maillog" "log_format sendmail" "log_start_at beginning"
grep '^K' "$SM_CF" | sed 's/^/# /'
grep '^Xtlsrpt' "$SM_CF" | sed 's/^/# /'

for st in $STATES; do
	fs_cell "$st" 20
	printf '%s' "$FS_RESULT" | sed "s/^/$st /"
done
fs_state healthy
sleep 2	# the follower reads what was logged last
echo "# daemon counters: socketmap.requests=$(tl_counter socketmap.requests)" \
    "socketmap.sessions=$(tl_counter socketmap.sessions)" \
    "log.sendmail_hook_lines=$(tl_counter log.sendmail_hook_lines)" \
    "milter.messages=$(tl_counter milter.messages) sessions in the store: $(e2e_store_total)"
tl_sql "select domain, successes, failures from policy_day order by domain" | sed 's/^/# /' 
grep -c 'tlsrpt' "$T/maillog" | sed 's/^/# log lines with tlsrpt: /'
grep -i 'defer\|tlsrpt\|milter' "$T/maillog" | grep -v 'STARTTLS' | head -n 40 | sed 's/^/# /'
TL_FAILED=0
