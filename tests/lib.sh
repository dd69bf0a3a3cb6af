# Shared helpers for the shell integration tests (sourced, not run).
# Every wait is bounded; every assertion prints what it expected and got.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
MILTER="$top_builddir/tlsrpt-milter"
DGSEND="$top_builddir/tests/dgsend"
. "$top_srcdir/tests/assert.sh"

command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 command not installed (Debian package sqlite3)"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-test.XXXXXX")
# tl_valgrind COMMAND: COMMAND, under valgrind when TLSRPT_VALGRIND=1; a
# memory error or a definite leak makes it exit 99 (tl_stop reports that
# of the daemon as a failure), its report in $T/valgrind.PID.log.
tl_valgrind() {
	if [ -n "${TLSRPT_VALGRIND:-}" ]; then
		echo "valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$T/valgrind.%p.log $1"
	else
		echo "$1"
	fi
}
MILTER=$(tl_valgrind "$MILTER")
tl_cleanup() {
	if [ -n "${TL_PID:-}" ] && kill -0 "$TL_PID" 2>/dev/null; then
		kill -KILL "$TL_PID" 2>/dev/null
	fi
	if [ "$TL_FAILED" -ne 0 ] && [ -f "$T/log" ]; then
		echo "---- daemon log ----"; tail -n 40 "$T/log"
	fi
	rm -rf "$T"
}
trap tl_cleanup EXIT

# fail WHY: the test failed and cannot go on (the EXIT trap cleans up).
fail() { echo "FAIL: $*"; TL_FAILED=1; exit 1; }

# The EXIT trap of a test with servers of its own, installed as
#   trap 'tl_peers_cleanup "TITLE:FILE:LINES ..." $PID...' EXIT
# kills and waits for each PID; when the test failed, prints the
# valgrind logs and the last LINES of each FILE; then tl_cleanup.
tl_peers_cleanup() {	# tl_peers_cleanup TAILS PID...
	_tails=$1
	shift
	for _pid in "$@"; do
		kill "$_pid" 2>/dev/null
		wait "$_pid" 2>/dev/null
	done
	if [ "$TL_FAILED" -ne 0 ]; then
		cat "$T"/valgrind.*.log 2>/dev/null
		for _t in $_tails; do
			_f=${_t#*:}
			echo "---- ${_t%%:*} log ----"; tail -n "${_f##*:}" "${_f%:*}" 2>/dev/null
		done
	fi
	tl_cleanup
}

# Write $T/tlsrpt.conf: the test defaults, except keys given as arguments,
# plus the "key value" lines given.
tl_conf() {
	{
		for def in "store_path $T/store.db" "datagram_socket $T/dg.sock" \
		    "pid_file none" "run_as_user $(id -un)" "flush_interval 200ms" \
		    "log_level info"; do
			overridden=no
			for line in "$@"; do
				[ "${line%% *}" = "${def%% *}" ] && overridden=yes
			done
			[ $overridden = no ] && echo "$def"
		done
		for line in "$@"; do echo "$line"; done
	} > "$T/tlsrpt.conf"
}

# Wait until FILE contains PATTERN; at most ~10 s.
tl_wait_for() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 200 ] && return 1
		sleep 0.05
	done
	return 0
}

# Start the daemon in the foreground, logging to $T/log; wait for "started".
tl_start() {
	: > "$T/log"
	$MILTER -f -c "$T/tlsrpt.conf" "$@" 2>>"$T/log" &
	TL_PID=$!
	if ! tl_wait_for "$T/log" "notice: started"; then
		echo "FAIL: daemon did not start"; TL_FAILED=1; exit 1
	fi
}

# Stop with SIGTERM and wait (bounded) for a clean exit; sets TL_RC.
tl_stop() {
	kill -TERM "$TL_PID"
	i=0
	while kill -0 "$TL_PID" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 300 ]; then
			echo "FAIL: daemon did not stop within 15 s of SIGTERM"
			kill -KILL "$TL_PID"; TL_FAILED=1; break
		fi
		sleep 0.05
	done
	wait "$TL_PID"; TL_RC=$?
	TL_PID=
	if [ "$TL_RC" = 99 ] && [ -n "${TLSRPT_VALGRIND:-}" ]; then
		echo "FAIL: valgrind found memory errors in the daemon:"; cat "$T"/valgrind.*.log
		TL_FAILED=1
	fi
}

tl_sql() {
	sqlite3 -batch -noheader "$T/store.db" "$1"
}

# Counter value from the store (0 when absent).
tl_counter() {
	tl_sql "select coalesce(sum(value),0) from input_counter where name='$1'"
}

tl_send() {
	"$DGSEND" -s "$T/dg.sock" "$@" >/dev/null || { echo "FAIL: dgsend $*"; TL_FAILED=1; }
}


# The log follower's tests: a generated Postfix log with a known outcome
# (tests/gen_maillog.py, 700 sessions, seed 7) in $T/all.log, the
# expected per-domain counts in $T/expect; sets TOTAL (lines) and
# DOMAINS.  Needs PY.
tl_gen_maillog() {
	$PY "$top_srcdir/tests/gen_maillog.py" --sessions 700 --seed 7 "$T/all.log" "$T/expect" ||
		{ echo "FAIL: generator"; exit 1; }
	TOTAL=$(wc -l < "$T/all.log")
	DOMAINS=$(wc -l < "$T/expect")
	echo "log: $TOTAL lines, $DOMAINS domains"
}

# What the store says, in the generator's format (result types by code).
tl_domain_counts() {
	tl_sql "select p.domain, sum(p.successes), sum(p.failures),
	    coalesce((select group_concat(t, ' ') from (select distinct
	      case f.result_type when 201 then 'starttls-not-supported'
	        when 202 then 'certificate-host-mismatch' when 203 then 'certificate-not-trusted'
	        when 204 then 'certificate-expired' when 205 then 'validation-failure'
	        else f.result_type end as t
	      from failure_day f join policy_day q on f.policy_id = q.id
	      where q.domain = p.domain order by t)), '')
	    from policy_day p group by p.domain order by p.domain" | tr '|' ' ' | sed 's/ *$//'
}

# Assert that the store holds exactly the counts of $T/expect; $1 names the case.
tl_check_counts() {
	tl_domain_counts > "$T/got"
	sed 's/ *$//' "$T/expect" > "$T/want"
	if cmp -s "$T/got" "$T/want"; then
		assert_eq ok ok "$1: all $DOMAINS domains counted exactly"
	else
		assert_eq "" "$(diff "$T/want" "$T/got" | head -5)" "$1: store matches the expected counts"
	fi
}

# Tests of the systemd interfaces without systemd (tests/sd_peer.py): sets
# PY and PEER; skips without python3 or in a build without libsystemd.
tl_require_sd_peer() {
	PY=/usr/bin/python3
	PEER="$top_srcdir/tests/sd_peer.py"
	[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 not installed (Debian package python3)"; exit 77; }
	"$top_builddir/tlsrpt-milter" -V | grep -q '^systemd: notify' ||
		{ echo "SKIP: built without libsystemd (configure --without-systemd)"; exit 77; }
}

# tl_notify_peer [PATH...]: the NOTIFY_SOCKET peer on $T/notify.sock,
# writing what it gets to $T/notify.log (with READY=1 whether the PATHs
# exist); NPID its pid.  Waits (5 s) for its socket.
tl_notify_peer() {
	"$PY" "$PEER" notify "$T/notify.sock" "$T/notify.log" "$@" &
	NPID=$!
	_n=0
	while [ ! -S "$T/notify.sock" ] && [ $_n -lt 100 ]; do
		sleep 0.05
		_n=$((_n + 1))
	done
}
