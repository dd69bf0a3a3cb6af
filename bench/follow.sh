# The log follower benchmarks' frame (bench/logbench.sh,
# bench/journalbench.sh); sourced after they have set B (the build
# directory) and S (the source directory).
#
#   follow_begin NAME SESSIONS
#	makes T (removed at exit, the daemon killed then), sets TZ=UTC and
#	generates $T/mail.log, a Postfix log of SESSIONS sessions
#	(tests/gen_maillog.py, seed 3), with their expected counts in
#	$T/expect; LINES is its number of lines.
#   follow_conf LOG_FILE
#	writes $T/tlsrpt.conf: the store in $T, no datagram socket, the
#	daemon following LOG_FILE from the beginning as a Postfix log.
#   follow_run NAME DONE
#	starts the daemon and times it until the command DONE succeeds
#	(polled every 50 ms; after 300 s "NAME: did not finish", exit 1);
#	sets T0 and T1 (the start and the end, seconds since the epoch) and
#	RSS (the daemon's peak, kB), then stops it.

follow_begin() {	# follow_begin NAME SESSIONS
	T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-$1.XXXXXX")
	PID=
	trap 'kill $PID 2>/dev/null; rm -rf "$T"' EXIT
	export TZ=UTC
	/usr/bin/python3 "$S/tests/gen_maillog.py" --sessions "$2" --seed 3 "$T/mail.log" "$T/expect"
	LINES=$(wc -l < "$T/mail.log")
}

follow_conf() {	# follow_conf LOG_FILE
	cat > "$T/tlsrpt.conf" <<EOC
store_path $T/store.db
datagram_socket none
pid_file none
run_as_user $(id -un)
log_file $1
log_start_at beginning
log_format postfix
log_level notice
EOC
}

follow_run() {	# follow_run NAME DONE
	T0=$(date +%s.%N)
	"$B/tlsrpt-milter" -f -c "$T/tlsrpt.conf" 2>"$T/log" &
	PID=$!
	_i=0
	until $2; do
		_i=$((_i + 1))
		[ $_i -gt 6000 ] && { echo "$1: did not finish in 300 s"; exit 1; }
		sleep 0.05
	done
	T1=$(date +%s.%N)
	RSS=$(awk '/VmHWM/ {print $2}' "/proc/$PID/status")
	kill -TERM "$PID"
	wait "$PID"
	PID=
}
