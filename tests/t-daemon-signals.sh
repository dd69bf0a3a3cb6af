#!/bin/sh
# Process life cycle: configuration check, version, start-up errors,
# SIGUSR1 counters, SIGHUP reload (good and bad), daemon mode with a pid
# file, a second instance refused, stale and foreign socket paths, and
# (as root) the privilege drop and the socket's owner, group and mode.
. "${top_srcdir:-.}/tests/lib.sh"
D="$top_srcdir/tests/datagrams"

# -n and -V
tl_conf
assert_eq "$T/tlsrpt.conf: configuration OK" "$($MILTER -n -c "$T/tlsrpt.conf")" "-n accepts a good file"
$MILTER -V > "$T/version"
assert_grep "^tlsrpt-milter [0-9]" "$T/version" "-V prints the version"
echo "flush_interval soon" >> "$T/tlsrpt.conf"
$MILTER -n -c "$T/tlsrpt.conf" 2> "$T/err"; rc=$?
assert_eq 78 "$rc" "bad value: exit EX_CONFIG"
assert_eq "tlsrpt-milter: $T/tlsrpt.conf:7: duplicate key flush_interval (first set at line 5)" "$(cat "$T/err")" "file:line message"
$MILTER -Z > /dev/null 2>&1; assert_eq 64 "$?" "unknown option: exit EX_USAGE"

# a regular file where the socket should be is refused, a stale socket replaced
tl_conf
echo precious > "$T/dg.sock"
$MILTER -f -c "$T/tlsrpt.conf" 2> "$T/err"; rc=$?
assert_eq 73 "$rc" "non-socket at the socket path: EX_CANTCREAT"
assert_grep "exists and is not a socket" "$T/err" "says why"
assert_eq precious "$(cat "$T/dg.sock")" "the file was left alone"
rm -f "$T/dg.sock"

# foreground: USR1, HUP good and bad, commits while running
tl_start
tl_send -n 4 "$D/success.json"
i=0; while [ "$(tl_counter datagram.accepted)" != 4 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
assert_eq 4 "$(tl_sql "select sum(successes) from policy_day")" "committed within the flush interval, without a stop"
kill -USR1 "$TL_PID"
tl_wait_for "$T/log" "counters event=usr1"
assert_grep "counters event=usr1 received=4 accepted=4 stored=4" "$T/log" "SIGUSR1 logs counters"
tl_conf "log_level debug" "flush_interval 300ms"
kill -HUP "$TL_PID"
tl_wait_for "$T/log" "reloaded"
assert_grep "reloaded config=$T/tlsrpt.conf log_level=debug flush_interval_ms=300" "$T/log" "SIGHUP reload applies new values"
echo "no_such_key 1" >> "$T/tlsrpt.conf"
kill -HUP "$TL_PID"
tl_wait_for "$T/log" "reload_failed"
assert_grep "reload_failed error=.$T/tlsrpt.conf:7: unknown key .no_such_key" "$T/log" "bad reload refused with file:line"
tl_conf "datagram_socket $T/other.sock"
kill -HUP "$TL_PID"
tl_wait_for "$T/log" "reload_needs_restart key=datagram_socket"
assert_grep "reload_needs_restart key=datagram_socket" "$T/log" "restart-only key flagged"
tl_send "$D/success.json"
assert_eq 0 "$(kill -0 "$TL_PID"; echo $?)" "still running after a failed reload"
tl_stop
assert_eq 5 "$(tl_sql "select sum(successes) from policy_day")" "everything committed"

# daemon mode: pid file, refusal of a second instance, clean stop
tl_conf "pid_file $T/milter.pid"
$MILTER -c "$T/tlsrpt.conf"; rc=$?
assert_eq 0 "$rc" "daemon mode: parent exits 0 once started"
pid=$(cat "$T/milter.pid" 2>/dev/null)
assert_eq 0 "$(kill -0 "$pid" 2>/dev/null; echo $?)" "pid file names the running daemon"
$MILTER -c "$T/tlsrpt.conf" 2> "$T/err"; rc=$?
assert_eq 69 "$rc" "second instance refused with EX_UNAVAILABLE"
assert_grep "already running as pid $pid" "$T/err" "second instance says why"
tl_send -n 2 "$D/success.json"
kill -TERM "$pid"
i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
assert_eq 1 "$(kill -0 "$pid" 2>/dev/null; echo $?)" "daemon stopped on SIGTERM"
assert_eq no "$([ -e "$T/milter.pid" ] && echo yes || echo no)" "pid file removed"
# the socket file stays: a sender meets "connection refused" (hooks go on),
# not a missing file; the next start removes it
assert_eq yes "$([ -S "$T/dg.sock" ] && echo yes || echo no)" "socket file kept at stop"
assert_eq ConnectionRefusedError "$(/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.connect(sys.argv[1]); print("connected")
except OSError as e:
    print(type(e).__name__)' "$T/dg.sock")" "the kept socket refuses"
assert_eq 7 "$(tl_sql "select sum(successes) from policy_day")" "daemon-mode datagrams committed"

# start-up failure in daemon mode is reported by the waiting parent
tl_conf "store_path $T/missing-dir/store.db"
$MILTER -c "$T/tlsrpt.conf" 2> "$T/err"; rc=$?
assert_eq 69 "$rc" "daemon start-up failure seen by the parent"
assert_grep "cannot open store $T/missing-dir/store.db" "$T/err" "and explained on stderr"

# as root: privileges dropped, socket owner/group/mode applied
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
	chmod 0777 "$T"
	grp=$(id -gn nobody)
	rm -f "$T"/store.db*
	tl_conf "run_as_user nobody" "datagram_socket_mode 0620" "datagram_socket_group $grp"
	tl_start
	assert_eq "$(id -u nobody)" "$(awk '/^Uid:/ {print $2}' /proc/$TL_PID/status)" "runs as nobody after binding"
	assert_eq "$(id -u nobody)" "$(awk '/^Uid:/ {print $3}' /proc/$TL_PID/status)" "saved uid is nobody too"
	assert_eq "srw--w---- nobody $grp" "$(stat -c '%A %U %G' "$T/dg.sock")" "socket mode, owner and group"
	assert_grep "privileges_dropped user=nobody" "$T/log" "drop logged"
	tl_send "$D/success.json"
	tl_stop
	assert_eq "nobody" "$(stat -c %U "$T/store.db")" "store created by the unprivileged user"
	assert_eq 1 "$(tl_sql "select sum(successes) from policy_day")" "and written by it"
	# a store the unprivileged user cannot write is refused at start, not at first commit
	chown root "$T/store.db"; chmod 0644 "$T/store.db"
	$MILTER -f -c "$T/tlsrpt.conf" 2> "$T/err"; rc=$?
	assert_eq 73 "$rc" "read-only store refused at start"
	assert_grep "is read-only for this user" "$T/err" "and explained"
else
	echo "# not root: privilege drop not tested here"
fi
tl_done
