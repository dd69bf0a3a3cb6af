# Debian's real Sendmail, unpacked into a private prefix and run with a
# private configuration, for the end-to-end tests; sourced after e2e.sh.
#
#   sendmail_need_packages
#	installs (need_package) what the unpacked Sendmail needs: m4 and
#	libwrap0; skips when that fails.
#   sendmail_unpack DIR
#	unpacks Debian's sendmail-bin and sendmail-cf .debs into DIR (dpkg
#	-x; nothing is installed).  The .debs are fetched once with
#	"apt-get download" (after one "apt-get update" if that fails) into
#	$TLSRPT_MTA_CACHE (default $top_builddir/tests/mta-cache/) and reused from there.  Sets SM_ROOT,
#	SM_VERSION, SM_BIN (the sendmail binary) and SM_CFDIR (the m4 tree);
#	returns 1 with the reason in SM_WHY (e.g. a missing library).
#   sendmail_setup DIR MCBODY [MCTAIL]
#	makes DIR (mode 0700: Sendmail refuses maps and queues in a
#	directory others may write) with the queue DIR/mqueue, the aliases,
#	the access map DIR/access (hash; write "key<TAB>value" lines into
#	DIR/access.txt first) and DIR/sendmail.cf, built with m4 from
#	DIR/sendmail.mc: a small client/server configuration (OSTYPE linux,
#	access_db, nocanonify, listening on 127.0.0.2:25 and sending from
#	127.0.0.2, LogLevel 14, CACertFile $SM_CAFILE when set,
#	DontBlameSendmail TrustStickyBit for a test directory below /tmp),
#	then the lines of file MCBODY, the local and smtp mailers, and the
#	lines of file MCTAIL.  Sets SM_DIR, SM_CF.
#   sendmail_run ARG...
#	runs the unpacked sendmail with -C $SM_CF under SM_EXEC (e.g.
#	e2e_in from netns.sh) in its own UTS namespace whose host name is
#	SM_HOSTNAME (default sender.test): Sendmail wants a fully qualified
#	host name, or it sleeps and retries at start.
#   sendmail_start / sendmail_stop
#	the daemon (sendmail -bd, no queue runner), bounded: at most ~10 s
#	each; sendmail_start returns 1 (SM_WHY) when it is not listening.
#	With SM_LABEL set (e.g. sm-mta, as Debian starts it) the daemon
#	logs under that syslog tag (-L), else under "sendmail".
#   sendmail_makemap TYPE MAP < INPUT
#	runs the unpacked makemap.
#   sendmail_verify_kinds DIR KIND...
#	writes DIR/access.txt (for sendmail_setup DIR): for each KIND
#	"TLS_Rcpt:verify.KIND.test VERIFY", the verify level of the domains
#	of e2e_zone_kinds.
#   sendmail_submit
#	submits over SMTP to the daemon (127.0.0.2:25, one connection) a
#	message per line of standard input: RCPT[,RCPT...] SUBJECT
#	[HEADER: VALUE]; fails the test when that fails.
#   sendmail_kind_mail KIND...
#	the sendmail_submit lines of the e2e Sendmail tests' mail: per KIND
#	m1 to a1@may and a1@verify (one transaction), m2 to b1@may and
#	b2@may, m3 to c1@verify; two sessions per domain LEVEL.KIND.test.
#   sendmail_kind_rcpts KIND...
#	the recipients of that mail.
#   sendmail_wait_stat LOG-COMMAND RCPT...
#	waits (30 s, else fails) until the log that LOG-COMMAND (run with
#	no argument) prints has a delivery line with stat= for every RCPT.
#   e2e_stop_sendmail
#	an e2e_stop_mta for the Sendmail tests.
#   sendmail_log_sink SOCKET OUT LIFETIME
#	starts tests/peers/syslog_sink.py on SOCKET writing OUT (messages
#	of another shape to OUT.raw, its own to OUT.err) for at most
#	LIFETIME seconds; adds its pid to E2E_PIDS and sets SM_SINK_PID,
#	SM_LOGSOCK; returns 1 when it does not start within 5 s.
#   sendmail_in_logns CMD [ARG...]
#	runs CMD in the network namespace E2E_NS, in a private mount
#	namespace whose /dev/log is SM_LOGSOCK: with a host /dev/log that
#	one is bound over, else a private /dev (a tmpfs, made inside the
#	private namespace only, with null, zero, random and urandom bound
#	from the real /dev) replaces /dev there.  The host's /dev is never
#	touched.  A use: SM_EXEC=sendmail_in_logns.
#
# Sendmail logs only to syslog; without a syslog daemon its lines are
# lost, so tests check what the receivers and the socketmap saw - except
# t-e2e-sendmail-log.sh, which captures them (tests/peers/syslog_sink.py).

SM_ROOT= SM_VERSION= SM_BIN= SM_CFDIR= SM_DIR= SM_CF= SM_WHY=
SM_SINK_PID= SM_LOGSOCK=

_sm_fetch() {	# _sm_fetch PACKAGE -> path of the cached .deb
	_cache="${TLSRPT_MTA_CACHE:-$top_builddir/tests/mta-cache}"
	_deb=$(ls "$_cache/$1"_*.deb 2>/dev/null | tail -n 1)
	if [ -z "$_deb" ]; then
		mkdir -p "$_cache" || return 1
		rm -rf "$_cache/dl.$$"
		mkdir -p "$_cache/dl.$$"
		# the _apt user may not write here; apt then downloads as root
		( cd "$_cache/dl.$$" &&
		    { apt-get download "$1" ||
		      { apt-get update -qq && apt-get download "$1"; }; } ) \
		    > "$_cache/download-$1.log" 2>&1
		mv "$_cache/dl.$$/$1"_*.deb "$_cache/" 2>/dev/null
		rm -rf "$_cache/dl.$$"
		_deb=$(ls "$_cache/$1"_*.deb 2>/dev/null | tail -n 1)
	fi
	[ -n "$_deb" ] && echo "$_deb"
}

sendmail_need_packages() {
	need_package "command -v m4 >/dev/null 2>&1" m4
	need_package "ldconfig -p 2>/dev/null | grep -q 'libwrap\.so\.0'" libwrap0
}

sendmail_unpack() {
	for _p in sendmail-bin sendmail-cf; do
		_d=$(_sm_fetch $_p) || {
			SM_WHY="apt-get download $_p failed: $(tail -n 2 "$_cache/download-$_p.log" 2>/dev/null | tr '\n' ' ')"
			return 1
		}
		mkdir -p "$1"
		dpkg -x "$_d" "$1" || { SM_WHY="dpkg -x $_d failed"; return 1; }
		[ $_p = sendmail-bin ] && SM_VERSION=$(dpkg-deb -f "$_d" Version)
	done
	SM_ROOT=$(cd "$1" && pwd)
	SM_BIN="$SM_ROOT/usr/libexec/sendmail/sendmail"
	SM_CFDIR="$SM_ROOT/usr/share/sendmail/cf"
	# (it then complains that /dev/null is no plain file: only the version
	# counts; a host name without a dot would make it sleep for a minute)
	unshare -u /bin/sh -c 'hostname "$0" && exec "$@"' "${SM_HOSTNAME:-sender.test}" \
	    "$SM_BIN" -d0.1 -bt -C /dev/null < /dev/null > "$SM_ROOT/version.txt" 2>&1
	if ! grep -q '^Version ' "$SM_ROOT/version.txt"; then
		SM_WHY="the unpacked sendmail does not run: $(head -n 2 "$SM_ROOT/version.txt" | tr '\n' ' ')"
		case $SM_WHY in
		*libwrap*) SM_WHY="$SM_WHY (Debian package libwrap0)" ;;
		esac
		return 1
	fi
	return 0
}

sendmail_makemap() {
	"$SM_ROOT/usr/libexec/sendmail/makemap" "$@"
}

sendmail_verify_kinds() {	# sendmail_verify_kinds DIR KIND...
	mkdir -p "$1" || return 1
	_d=$1
	shift
	for _k in "$@"; do
		printf 'TLS_Rcpt:verify.%s.test\tVERIFY\n' "$_k"
	done > "$_d/access.txt"
}

sendmail_setup() {
	SM_DIR=$1
	mkdir -p "$SM_DIR/mqueue" || { SM_WHY="cannot create $SM_DIR"; return 1; }
	chmod 700 "$SM_DIR" "$SM_DIR/mqueue"
	: > "$SM_DIR/aliases"
	[ -f "$SM_DIR/access.txt" ] || : > "$SM_DIR/access.txt"
	: > "$SM_DIR/helpfile"
	cat > "$SM_DIR/sendmail.mc" <<MC
divert(-1)
# private instance for the tests: everything below $SM_DIR
divert(0)dnl
VERSIONID(\`tlsrpt-milter tests')dnl
OSTYPE(\`linux')dnl
define(\`QUEUE_DIR', \`$SM_DIR/mqueue')dnl
define(\`ALIAS_FILE', \`$SM_DIR/aliases')dnl
define(\`STATUS_FILE', \`$SM_DIR/statistics')dnl
define(\`HELP_FILE', \`$SM_DIR/helpfile')dnl
define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl
define(\`confDOMAIN_NAME', \`${SM_HOSTNAME:-sender.test}')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confLOG_LEVEL', \`14')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confTO_CONNECT', \`5s')dnl
define(\`confTO_ICONNECT', \`5s')dnl
define(\`confTO_INITIAL', \`10s')dnl
define(\`confTO_STARTTLS', \`10s')dnl
define(\`confTO_COMMAND', \`10s')dnl
define(\`confTO_DATABLOCK', \`10s')dnl
define(\`confTO_DATAFINAL', \`10s')dnl
define(\`confTO_QUIT', \`5s')dnl
define(\`confCACERT', \`${SM_CAFILE:-}')dnl
define(\`confCACERT_PATH', \`$(dirname "${SM_CAFILE:-/nonexistent/x}")')dnl
define(\`confDELIVERY_MODE', \`background')dnl
define(\`confQUEUE_LA', \`100')dnl
define(\`confREFUSE_LA', \`100')dnl
define(\`confMIN_FREE_BLOCKS', \`10')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`access_db', \`hash -T<TMPF> -o $SM_DIR/access')dnl
DAEMON_OPTIONS(\`Family=inet, Port=25, Addr=127.0.0.2, Name=MTA')dnl
CLIENT_OPTIONS(\`Family=inet, Addr=127.0.0.2')dnl
MC
	cat "$2" >> "$SM_DIR/sendmail.mc"
	cat >> "$SM_DIR/sendmail.mc" <<'MC'
MAILER(`local')dnl
MAILER(`smtp')dnl
MC
	[ -n "${3:-}" ] && cat "$3" >> "$SM_DIR/sendmail.mc"
	m4 -D_CF_DIR_="$SM_CFDIR/" "$SM_CFDIR/m4/cf.m4" "$SM_DIR/sendmail.mc" \
	    > "$SM_DIR/sendmail.cf" 2> "$SM_DIR/m4.log" ||
	    { SM_WHY="m4 failed: $(head -n 3 "$SM_DIR/m4.log" | tr '\n' ' ')"; return 1; }
	if grep -q -i 'error' "$SM_DIR/m4.log"; then
		SM_WHY="m4: $(head -n 3 "$SM_DIR/m4.log" | tr '\n' ' ')"
		return 1
	fi
	SM_CF="$SM_DIR/sendmail.cf"
	sendmail_makemap -C "$SM_CF" hash "$SM_DIR/access" < "$SM_DIR/access.txt" \
	    > "$SM_DIR/makemap.log" 2>&1 ||
	    { SM_WHY="makemap of the access map failed: $(head -n 2 "$SM_DIR/makemap.log")"; return 1; }
	sendmail_makemap -C "$SM_CF" hash "$SM_DIR/aliases" < "$SM_DIR/aliases" \
	    >> "$SM_DIR/makemap.log" 2>&1 ||
	    { SM_WHY="makemap of the aliases failed: $(head -n 2 "$SM_DIR/makemap.log")"; return 1; }
	return 0
}

sendmail_run() {
	${SM_EXEC:-} unshare -u /bin/sh -c 'hostname "$0" && exec "$@"' \
	    "${SM_HOSTNAME:-sender.test}" "$SM_BIN" -C "$SM_CF" "$@"
}

_sm_pid() {
	[ -f "$SM_DIR/sendmail.pid" ] && head -n 1 "$SM_DIR/sendmail.pid"
}

sendmail_start() {
	rm -f "$SM_DIR/sendmail.pid"
	sendmail_run ${SM_LABEL:+-L "$SM_LABEL"} -bd > "$SM_DIR/start.log" 2>&1 ||
	    { SM_WHY="sendmail -bd failed: $(tail -n 3 "$SM_DIR/start.log" | tr '\n' ' ')"; return 1; }
	_i=0
	while ! { _p=$(_sm_pid) && [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null; }; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && { SM_WHY="the Sendmail daemon is not running 10 s after start"; return 1; }
		sleep 0.1
	done
	return 0
}

sendmail_stop() {
	_p=$(_sm_pid) || return 0
	[ -n "$_p" ] || return 0
	kill -TERM "$_p" 2>/dev/null || return 0
	_i=0
	while kill -0 "$_p" 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ]; then
			kill -KILL "$_p" 2>/dev/null
			return 1
		fi
		sleep 0.1
	done
	return 0
}

sendmail_kind_mail() {	# sendmail_kind_mail KIND...
	for _k in "$@"; do
		echo "a1@may.$_k.test,a1@verify.$_k.test m1-$_k"
		echo "b1@may.$_k.test,b2@may.$_k.test m2-$_k"
		echo "c1@verify.$_k.test m3-$_k"
	done
}

sendmail_kind_rcpts() {	# sendmail_kind_rcpts KIND...
	for _k in "$@"; do
		echo "a1@may.$_k.test a1@verify.$_k.test b1@may.$_k.test b2@may.$_k.test c1@verify.$_k.test"
	done
}

sendmail_wait_stat() {	# sendmail_wait_stat LOG-COMMAND RCPT...
	_cmd=$1
	shift
	_n=0
	while :; do
		"$_cmd" > "$T/stat.log"
		_m=0
		for _r in "$@"; do
			grep -F "<$_r>" "$T/stat.log" | grep -q ' stat=' || _m=$((_m + 1))
		done
		[ $_m = 0 ] && return 0
		_n=$((_n + 1))
		[ $_n -gt 300 ] && fail "$_m recipients without a stat= line after 30 s"
		sleep 0.1
	done
}

e2e_stop_sendmail() {
	[ -n "$SM_CF" ] && { sendmail_stop || echo "# sendmail stop timed out"; }
}

sendmail_submit() {
	e2e_in "$PY" -c '
import smtplib, sys
s = smtplib.SMTP("127.0.0.2", 25, "sender.test", timeout=20)
for line in sys.stdin:
    rcpts, subj, hdr = (line.strip().split(" ", 2) + [""])[:3]
    rcpts = rcpts.split(",")
    msg = "From: <sender@sender.test>\r\nTo: %s\r\nSubject: %s\r\n%s\r\ntest message\r\n" % (
        ", ".join(rcpts), subj, hdr + "\r\n" if hdr else "")
    s.sendmail("sender@sender.test", rcpts, msg)
s.quit()
' || fail "SMTP submission to Sendmail failed"
}

sendmail_log_sink() {	# sendmail_log_sink SOCKET OUT LIFETIME
	SM_LOGSOCK=$1
	"$PY" "$top_srcdir/tests/peers/syslog_sink.py" --socket "$1" --out "$2" \
	    --raw "$2.raw" --host sender --lifetime "$3" --ready "$2.ready" 2>"$2.err" &
	SM_SINK_PID=$!
	E2E_PIDS="$E2E_PIDS $SM_SINK_PID"
	_i=0
	while [ ! -f "$2.ready" ]; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && return 1
		sleep 0.05
	done
	return 0
}

sendmail_in_logns() {
	ip netns exec "$E2E_NS" unshare -m --propagation private /bin/sh -c '
		sock=$1 stage=$2; shift 2
		if [ -e /dev/log ] || [ -L /dev/log ]; then
			mount --bind "$sock" /dev/log || exit 71
		else
			d=$(mktemp -d "$stage/dev.XXXXXX") || exit 71
			mount -t tmpfs -o mode=755,size=64k tlsrpt-dev "$d" || exit 71
			for n in null zero random urandom; do
				: > "$d/$n" && mount --bind "/dev/$n" "$d/$n" || exit 71
			done
			ln -s "$sock" "$d/log"
			mount --rbind "$d" /dev || exit 71
			umount -l "$d" 2>/dev/null
		fi
		exec "$@"' sm-in-logns "$SM_LOGSOCK" "$(dirname "$SM_LOGSOCK")" "$@"
}
