# The common frame of the end-to-end tests (t-e2e-postfix.sh,
# t-e2e-sts.sh, t-e2e-sendmail.sh); sourced after the test has set
# top_builddir and top_srcdir.  Sources tests/lib.sh, netns.sh, pki.sh
# and dns_server.sh; the test sources its MTA (postfix.sh, sendmail.sh).
#
# Variables: PY (/usr/bin/python3), REPORT (tlsrpt-report), T0 (the
# start), E2E_PIDS (the test's servers: killed and waited for at exit),
# DNS_PID (unbound, from dns_start), DAY0 (set by the test: the UTC day
# its mail began).
#
#   skip WHY
#	prints SKIP: WHY and exits 77 (fail WHY: lib.sh).
#   need_package COMMAND-TEST PACKAGE
#	a missing Debian package: installs it (as the deps script would)
#	when the shell command COMMAND-TEST fails, else skips.
#   e2e_require ROOT-WHY COMMAND...
#	skips unless root ("needs root (ROOT-WHY)"), the commands, PY and
#	unbound (installed when missing) are there.
#   e2e_require_timings
#	skips a test that measures delivery timings under valgrind
#	(TLSRPT_VALGRIND) and in a sanitizer build (tlsrpt-milter -V says
#	"build: sanitizers"): timings mean nothing there.
#   e2e_require_built
#	fails unless tlsrpt-report and tests/dns_lookup are built.
#   e2e_begin NAME
#	installs the cleanup (trap EXIT), makes $T searchable for the MTA's
#	users and creates the network namespace (netns.sh; skips when it
#	cannot).  At exit the cleanup runs the test's e2e_stop_mta, kills
#	and waits for E2E_PIDS and DNS_PID, kills what is left in the
#	namespace and removes it, runs the test's e2e_dump when the test
#	failed, keeps $T in $T.kept when TLSRPT_KEEP_TEST_DIR=1, then
#	tl_cleanup.  e2e_stop_mta and e2e_dump default to nothing.
#   e2e_stop_postfix
#	an e2e_stop_mta for the Postfix tests.
#   e2e_dump_postfix
#	for an e2e_dump of the Postfix tests: the last 60 smtp, milter,
#	warning and error lines of $T/spool/maillog.
#   e2e_postfix_notls LEVELS
#	the domains LEVEL.notls.test go through the transport notls: one
#	smtp process and no connection caching, so that it delivers their
#	messages one after the other, each over a new connection, with no
#	TLS line in between to separate the sessions (after postfix_setup).
#   e2e_pki
#	makes $T/pki (pki.sh's test PKI) and $T/dns, or fails.
#   e2e_zone_head
#	prints the zone's first lines: the static zone test. and sender.test.
#   e2e_zone_kinds LEVELS KIND...
#	prints the A record of mx.KIND.test (127.0.0.11, .12, ... in order)
#	and for each LEVEL the MX and TLSRPT records of LEVEL.KIND.test.
#   e2e_zone_reports
#	prints the MX (mx.good.test) and TLSRPT records of reports.test.
#   e2e_dns READY
#	starts unbound on 127.0.0.53:53 in the namespace with the zone
#	$T/zone (dns_server.sh), or fails.
#   e2e_receiver DIR LISTEN NAME LIFETIME TLS-ARG...
#	starts tests/peers/tls_receiver.py in the namespace, in DIR (made
#	here), ready file DIR/ready, errors in DIR/stderr.
#   e2e_policy_host LIFETIME HOST...
#	the MTA-STS policy host: a certificate of $T/pki for the HOSTs
#	(pki_host, name sts), and tests/peers/sts_policy_server.py on
#	127.0.0.20:443 in the namespace serving the files of $T/sts (made
#	here), ready file $T/sts/ready, errors in $T/sts/stderr; fails
#	when the certificate cannot be made.
#   e2e_receivers LIFETIME KIND...
#	e2e_receiver $T/rcv/KIND on 127.0.0.11:25, .12, ... named
#	mx.KIND.test with the certificate KIND of $T/pki (none, and no
#	STARTTLS, for KIND notls).
#   e2e_kind_peers LIFETIME [MORE-ZONE]
#	the peers of the tests over $KINDS and $LEVELS: e2e_pki; the zone of
#	e2e_zone_head, e2e_zone_kinds and what the command MORE-ZONE
#	prints; unbound (e2e_dns may.good.test); e2e_receivers LIFETIME
#	$KINDS, waited for until each is ready.
#   e2e_wait_ready WHAT DIR...
#	waits (10 s each) for DIR/ready; fails "WHAT BASENAME did not start".
#   e2e_wait_sockets SOCKET...
#	waits (5 s) for the sockets to appear; returns 1 if they do not.
#   pf_wait_deliveries N
#	waits (30 s, else fails) until Postfix logged N status= lines of
#	its smtp client, then copies its smtp lines to $T/smtp.log.
#   status_of DOMAIN
#	"sent=N deferred=M": the status lines of $T/smtp.log for DOMAIN.
#   e2e_store_total [LIKE-PATTERN]
#	the sessions in the store (of the domains matching the pattern).
#   e2e_wait_store EXPECTED [LIKE-PATTERN]
#	waits (10 s) until the store holds EXPECTED sessions, then 0.5 s more.
#   e2e_days
#	the UTC days this test has run on (one, or two around midnight).
#   e2e_preview_json DOMAIN
#	"tlsrpt-report --json preview DOMAIN" of each of e2e_days into
#	$T/preview.DOMAIN, each followed by a line "@@" (a day without
#	sessions is left out); on an error prints it and returns 1.
#   e2e_preview_counts FILE [POLICY-TYPE]
#	"SUCCESSES FAILURES type,type" of such a file, summed ("-" when
#	there are no failures); with POLICY-TYPE, every policy must be one.
#   preview DOMAIN
#	"SUCCESSES FAILURES type,type" of e2e_preview_json DOMAIN (by
#	e2e_preview_counts; every policy of type E2E_POLICY_TYPE when that
#	is set).  The default; a test may define its own.
#   e2e_check_sessions DOMAIN WANT
#	asserts that the test's preview DOMAIN prints WANT; if not, shows
#	the start of $T/preview.DOMAIN.
#   e2e_check_kinds EXPECT
#	e2e_check_sessions LEVEL.KIND.test for each KIND of $KINDS and
#	LEVEL of $LEVELS, wanting what "EXPECT KIND LEVEL" prints.
#   e2e_expect_postfix KIND LEVEL / e2e_expect_sendmail KIND
#	"SUCCESSES FAILURES type,type" of a domain LEVEL.KIND.test that got
#	two deliveries from Postfix (smtp_tls_policy_maps level LEVEL) or
#	from Sendmail (hooked by a socket map or tlsrpt.mc) to the receiver
#	KIND of e2e_receivers.

. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/peers/netns.sh"
. "$top_srcdir/tests/peers/pki.sh"
. "$top_srcdir/tests/peers/dns_server.sh"

PY=/usr/bin/python3
REPORT="$top_builddir/tlsrpt-report"
PATH="$PATH:/usr/sbin:/sbin"
T0=$(date +%s)
E2E_PIDS= DNS_PID=

skip() { echo "SKIP: $*"; exit 77; }

need_package() {	# need_package COMMAND-TEST PACKAGE
	eval "$1" && return 0
	DEBIAN_FRONTEND=noninteractive apt-get install -y "$2" >/dev/null 2>&1
	eval "$1" || skip "$2 not installed (Debian package $2)"
}

e2e_require() {	# e2e_require ROOT-WHY COMMAND...
	[ "$(id -u)" = 0 ] || skip "needs root ($1)"
	shift
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || skip "$_c not installed"
	done
	[ -x "$PY" ] || skip "/usr/bin/python3 not installed (Debian package python3)"
	need_package "command -v unbound >/dev/null 2>&1" unbound
}

e2e_require_timings() {
	[ -n "${TLSRPT_VALGRIND:-}" ] && skip "delivery timings under valgrind mean nothing"
	"$top_builddir/tlsrpt-milter" -V 2>/dev/null | grep -q 'build: sanitizers' &&
	    skip "delivery timings in a sanitizer build mean nothing"
	return 0
}

e2e_require_built() {
	[ -x "$REPORT" ] && [ -x "$top_builddir/tests/dns_lookup" ] || fail "tlsrpt-report or tests/dns_lookup not built"
}

e2e_stop_mta() { :; }
e2e_dump() { :; }

e2e_stop_postfix() {
	if [ -n "$PF_CONF" ]; then
		postfix_stop || echo "# postfix stop timed out"
	fi
}

e2e_dump_postfix() {
	[ -f "$T/spool/maillog" ] || return 0
	echo "---- Postfix log (smtp, milter and error lines) ----"
	grep -E 'postfix/smtp\[|milter|warning|error|fatal' "$T/spool/maillog" | tail -n 60
}

e2e_postfix_notls() {	# e2e_postfix_notls LEVELS
	for _l in $1; do
		echo "$_l.notls.test notls:"
	done > "$PF_CONF/transport"
	cat >> "$PF_CONF/master.cf" <<'CF'
notls     unix  -       -       n       -       1       smtp
  -o smtp_connection_cache_on_demand=no
CF
	postfix_conf "transport_maps = texthash:$PF_CONF/transport" || fail "postconf -e failed"
}

e2e_cleanup() {
	e2e_stop_mta
	for _pid in $E2E_PIDS $DNS_PID; do
		kill "$_pid" 2>/dev/null
	done
	for _pid in $E2E_PIDS $DNS_PID; do
		wait "$_pid" 2>/dev/null
	done
	e2e_netns_kill		# MTA children that outlived their master
	e2e_netns_cleanup
	if [ "$TL_FAILED" -ne 0 ]; then
		e2e_dump
	fi
	if [ "${TLSRPT_KEEP_TEST_DIR:-}" = 1 ]; then
		cp -a "$T" "$T.kept" && echo "# test directory kept in $T.kept"
	fi
	tl_cleanup
}

e2e_begin() {	# e2e_begin NAME
	trap e2e_cleanup EXIT
	trap 'exit 1' INT TERM
	chmod 755 "$T"		# the MTA's processes run as its users
	e2e_netns_setup "$1" || skip "$E2E_NETNS_WHY"
	echo "# network namespace $E2E_NS"
}

e2e_pki() {
	mkdir -p "$T/pki" "$T/dns"
	pki_make "$T/pki" || { cat "$T/pki/pki.log"; fail "could not make the test PKI"; }
}

e2e_zone_head() {
	echo '  local-zone: "test." static'
	echo "  local-data: 'sender.test. A 127.0.0.2'"
}

e2e_zone_kinds() {	# e2e_zone_kinds LEVELS KIND...
	_levels=$1
	shift
	_i=11
	for _k in "$@"; do
		echo "  local-data: 'mx.$_k.test. A 127.0.0.$_i'"
		for _l in $_levels; do
			echo "  local-data: '$_l.$_k.test. MX 10 mx.$_k.test.'"
			echo "  local-data: '_smtp._tls.$_l.$_k.test. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"'"
		done
		_i=$((_i + 1))
	done
}

e2e_zone_reports() {
	echo "  local-data: 'reports.test. MX 10 mx.good.test.'"
	echo "  local-data: '_smtp._tls.reports.test. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"'"
}

e2e_dns() {	# e2e_dns READY
	DNS_LISTEN=127.0.0.53:53 DNS_EXEC="ip netns exec $E2E_NS" \
	    dns_start "$T/dns" "$T/zone" "$1" ||
		{ tail -n 5 "$T/dns/unbound.log"; fail "unbound did not start on 127.0.0.53:53 in the namespace"; }
}

e2e_receiver() {	# e2e_receiver DIR LISTEN NAME LIFETIME TLS-ARG...
	_d=$1 _listen=$2 _name=$3 _life=$4
	shift 4
	mkdir -p "$_d"
	ip netns exec "$E2E_NS" "$PY" "$top_srcdir/tests/peers/tls_receiver.py" \
	    --listen "$_listen" "$@" --dir "$_d" --ready "$_d/ready" \
	    --lifetime "$_life" --name "$_name" 2>"$_d/stderr" &
	E2E_PIDS="$E2E_PIDS $!"
}

e2e_policy_host() {	# e2e_policy_host LIFETIME HOST...
	_life=$1
	shift
	pki_host "$T/pki" sts "$@" ||
	    { cat "$T/pki/pki.log"; fail "could not make the policy host certificate"; }
	mkdir -p "$T/sts"
	ip netns exec "$E2E_NS" "$PY" "$top_srcdir/tests/peers/sts_policy_server.py" \
	    --listen 127.0.0.20:443 --cert "$T/pki/sts.crt" --key "$T/pki/sts.key" \
	    --dir "$T/sts" --ready "$T/sts/ready" --lifetime "$_life" 2>"$T/sts/stderr" &
	E2E_PIDS="$E2E_PIDS $!"
}

e2e_receivers() {	# e2e_receivers LIFETIME KIND...
	_life=$1
	shift
	_i=11
	for _k in "$@"; do
		if [ "$_k" = notls ]; then
			e2e_receiver "$T/rcv/$_k" "127.0.0.$_i:25" "mx.$_k.test" "$_life" --no-starttls
		else
			e2e_receiver "$T/rcv/$_k" "127.0.0.$_i:25" "mx.$_k.test" "$_life" \
			    --cert "$T/pki/$_k.crt" --key "$T/pki/$_k.key"
		fi
		_i=$((_i + 1))
	done
}

e2e_kind_peers() {	# e2e_kind_peers LIFETIME [MORE-ZONE]
	e2e_pki
	{
		e2e_zone_head
		# shellcheck disable=SC2086
		e2e_zone_kinds "$LEVELS" $KINDS
		[ -z "${2:-}" ] || "$2"
	} > "$T/zone"
	e2e_dns may.good.test
	# shellcheck disable=SC2086
	e2e_receivers "$1" $KINDS
	for _k in $KINDS; do
		e2e_wait_ready receiver "$T/rcv/$_k"
	done
}

e2e_wait_ready() {	# e2e_wait_ready WHAT DIR...
	_what=$1
	shift
	for _d in "$@"; do
		_n=0
		while [ ! -f "$_d/ready" ]; do
			_n=$((_n + 1))
			[ $_n -gt 100 ] && { cat "$_d/stderr"; fail "$_what ${_d##*/} did not start"; }
			sleep 0.1
		done
	done
}

e2e_wait_sockets() {	# e2e_wait_sockets SOCKET...
	_n=0
	while :; do
		_all=yes
		for _s in "$@"; do
			[ -S "$_s" ] || _all=no
		done
		[ $_all = yes ] && return 0
		_n=$((_n + 1))
		[ $_n -gt 100 ] && return 1
		sleep 0.05
	done
}

_pf_delivery_lines() {
	grep -c 'postfix/smtp\[[0-9]*\]: [0-9A-F]*: to=<.*status=' "$PF_LOG"
}

pf_wait_deliveries() {	# pf_wait_deliveries N
	_n=0
	while [ "$(_pf_delivery_lines)" -lt "$1" ]; do
		_n=$((_n + 1))
		[ $_n -gt 300 ] && fail "only $(_pf_delivery_lines) of $1 recipients have a status line after 30 s"
		sleep 0.1
	done
	echo "# all $1 recipients delivered or deferred after $(($(date +%s) - T0)) s"
	grep 'postfix/smtp\[' "$PF_LOG" > "$T/smtp.log"
}

status_of() {	# "sent=N deferred=M" for domain $1
	_s=$(grep -c "to=<[^>]*@$1>, .* status=sent " "$T/smtp.log")
	_df=$(grep -c "to=<[^>]*@$1>, .* status=deferred " "$T/smtp.log")
	echo "sent=$_s deferred=$_df"
}

e2e_store_total() {	# e2e_store_total [LIKE-PATTERN]
	tl_sql "select coalesce(sum(successes + failures), 0) from policy_day${1:+
	    where domain like '$1'}" 2>/dev/null || echo 0
}

e2e_wait_store() {	# e2e_wait_store EXPECTED [LIKE-PATTERN]
	_n=0
	while [ "$(e2e_store_total "${2:-}")" -lt "$1" ] && [ $_n -lt 100 ]; do
		_n=$((_n + 1)); sleep 0.1
	done
	sleep 0.5	# anything beyond EXPECTED would show up now
}

e2e_days() {
	_d1=$(date -u +%Y-%m-%d)
	if [ "$_d1" = "$DAY0" ]; then echo "$DAY0"; else echo "$DAY0 $_d1"; fi
}

e2e_preview_json() {	# e2e_preview_json DOMAIN
	: > "$T/preview.$1"
	for _day in $(e2e_days); do
		e2e_in "$REPORT" -c "$T/tlsrpt.conf" --json preview "$1" --day "$_day" \
		    >> "$T/preview.$1" 2>"$T/preview.err"
		_rc=$?
		[ $_rc = 66 ] && continue	# EX_NOINPUT: no sessions that day
		[ $_rc = 0 ] || { echo "preview exit $_rc: $(cat "$T/preview.err")"; return 1; }
		echo "@@" >> "$T/preview.$1"
	done
	return 0
}

preview() {	# preview DOMAIN
	e2e_preview_json "$1" || return
	e2e_preview_counts "$T/preview.$1" ${E2E_POLICY_TYPE:+"$E2E_POLICY_TYPE"}
}

e2e_check_sessions() {	# e2e_check_sessions DOMAIN WANT
	_got=$(preview "$1")
	assert_eq "$2" "$_got" "sessions of $1 (successes failures types)"
	[ "$2" = "$_got" ] || sed 's/^/    /' "$T/preview.$1" | head -n 40
}

e2e_check_kinds() {	# e2e_check_kinds EXPECT
	for _k in $KINDS; do
		for _l in $LEVELS; do
			e2e_check_sessions "$_l.$_k.test" "$("$1" "$_k" "$_l")"
		done
	done
}

# Postfix: a verified level fails on a certificate it cannot verify; may
# and encrypt take any certificate; the notls receiver offers no STARTTLS.
e2e_expect_postfix() {	# e2e_expect_postfix KIND LEVEL
	case $1/$2 in
	good/*) echo "2 0 -" ;;
	notls/*) echo "0 2 starttls-not-supported" ;;
	*/may|*/encrypt) echo "2 0 -" ;;
	expired/*) echo "0 2 certificate-expired" ;;
	selfsigned/*) echo "0 2 certificate-not-trusted" ;;
	wronghost/*) echo "0 2 certificate-host-mismatch" ;;
	esac
}

# Sendmail: the hook's verify= result for every level alike.
e2e_expect_sendmail() {	# e2e_expect_sendmail KIND
	case $1 in
	good) echo "2 0 -" ;;
	expired) echo "0 2 validation-failure" ;;
	selfsigned) echo "0 2 certificate-not-trusted" ;;
	wronghost) echo "0 2 certificate-host-mismatch" ;;
	notls) echo "0 2 starttls-not-supported" ;;
	esac
}

e2e_preview_counts() {	# e2e_preview_counts FILE [POLICY-TYPE]
	"$PY" - "$@" <<'PY'
import json, sys
ok = fail = 0
types = set()
for doc in open(sys.argv[1]).read().split("@@"):
    if not doc.strip():
        continue
    for p in json.loads(doc)["policies"]:
        if len(sys.argv) > 2:
            assert p["policy"]["policy-type"] == sys.argv[2], p["policy"]
        ok += p["summary"]["total-successful-session-count"]
        fail += p["summary"]["total-failure-session-count"]
        for fd in p.get("failure-details", []):
            types.add(fd["result-type"])
print(ok, fail, ",".join(sorted(types)) or "-")
PY
}
