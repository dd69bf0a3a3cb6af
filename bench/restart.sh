#!/bin/sh
# kill -9 and restart of tlsrpt-milter under steady load, with and without
# socket activation: datagrams lost, socketmap lookups failed, and how long
# until lookups are served again.
# Usage: bench/restart.sh BUILDDIR        (run from the source tree)
#
# Load: bench/dgbench sends BENCH_RATE datagrams a second (default 200 and
# 2000, one run each) non-blocking as libtlsrpt does; a client makes a
# socketmap lookup every 20 ms on a new connection (as a new Sendmail
# delivery process would), waiting at most 10 s for each answer.  After
# 3 s the daemon gets SIGKILL and starts again RESTART_MS later (default
# 1000: RestartSec=1s of contrib/systemd/tlsrpt-milter.service):
#   bound      the daemon binds its own sockets; the "restart" is the
#              script starting it again;
#   activated  tests/sd_peer.py holds the sockets and restarts the daemon,
#              as systemd does with the tlsrpt-milter-*.socket units.
# "stored" is read from the store after a clean stop at 8 s.  Datagrams
# lost = sent - stored + lost at send (the kernel refused them); a crash
# also loses what was read but not yet committed (up to flush_interval).
# As root the runs are in a private network namespace with
# net.unix.max_dgram_qlen=512 (what systemd sets on a host).
set -eu
B=${1:-.}
S=$(cd "$(dirname "$0")/.." && pwd)
RESTART_MS=${RESTART_MS:-1000}
if [ "$(id -u)" = 0 ] && [ -z "${TLSRPT_BENCH_INNER:-}" ] && command -v unshare >/dev/null; then
	exec unshare -n env TLSRPT_BENCH_INNER=1 sh -c \
	    'ip link set lo up 2>/dev/null; sysctl -q -w net.unix.max_dgram_qlen=512; exec sh "$0" "$@"' \
	    "$0" "$@"
fi
T=$(mktemp -d /tmp/tlsrpt-restart.XXXXXX)
trap 'for p in $(cat "$T"/*.pid 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
me=$(id -un)

conf() {
	cat > "$T/c.conf" <<CONF
store_path $T/s.db
datagram_socket $T/dg.sock
socketmap_socket unix:$T/smap.sock
pid_file none
run_as_user $me
log_level notice
CONF
}

wait_started() {	# wait_started N: N "started" lines in the log
	i=0
	while [ "$(cat "$T/log" 2>/dev/null | grep -c 'notice: started')" -lt "$1" ] && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i + 1))
	done
}

run() {	# run MODE RATE
	mode=$1 rate=$2
	rm -f "$T"/s.db* "$T"/*.sock "$T/log" "$T"/*.pid
	conf
	if [ "$mode" = activated ]; then
		RESTART_MS=$RESTART_MS python3 "$S/tests/sd_peer.py" activate "$T/daemon.pid" \
		    datagram_socket=dgram:"$T/dg.sock" socketmap_socket=stream:"$T/smap.sock" -- \
		    "$B/tlsrpt-milter" -f -c "$T/c.conf" 2>>"$T/log" &
		echo $! > "$T/launcher.pid"
	else
		"$B/tlsrpt-milter" -f -c "$T/c.conf" 2>>"$T/log" &
		echo $! > "$T/daemon.pid"
	fi
	wait_started 1
	"$B/bench/dgbench" -s "$T/dg.sock" -r "$rate" -t 8 -D 100 > "$T/dg.out" &
	dg=$!
	# the outage: served_again_after_ms, the longest time without an answer
	python3 "$S/tests/netstring_client.py" lookups "$T/smap.sock" 8s > "$T/lk.out" &
	lk=$!
	sleep 3
	kill -KILL "$(cat "$T/daemon.pid")"
	if [ "$mode" = bound ]; then
		sleep "$(echo "$RESTART_MS" | awk '{print $1 / 1000}')"
		"$B/tlsrpt-milter" -f -c "$T/c.conf" 2>>"$T/log" &
		echo $! > "$T/daemon.pid"
	fi
	wait "$dg" "$lk"
	if [ "$mode" = activated ]; then
		kill -TERM "$(cat "$T/launcher.pid")"; wait "$(cat "$T/launcher.pid")" || true
	else
		kill -TERM "$(cat "$T/daemon.pid")"; wait "$(cat "$T/daemon.pid")" || true
	fi
	sent=$(sed 's/.* sent=\([0-9]*\).*/\1/' "$T/dg.out")
	lost=$(sed 's/.* lost=\([0-9]*\).*/\1/' "$T/dg.out")
	stored=$(sqlite3 "$T/s.db" "select coalesce(sum(value),0) from input_counter where name='datagram.accepted'")
	printf '%-9s rate=%5s/s qlen=%s datagrams: offered=%s lost_at_send=%s lost_in_daemon=%s | %s\n' \
	    "$mode" "$rate" "$(cat /proc/sys/net/unix/max_dgram_qlen)" "$((sent + lost))" "$lost" \
	    "$((sent - stored))" "lookups: $(sed 's/ last=.*//' "$T/lk.out")"
}

echo "tlsrpt-milter: kill -9 at 3 s, restart after ${RESTART_MS} ms, 8 s per run, $(nproc) cores"
for rate in ${BENCH_RATE:-200 2000}; do
	run bound "$rate"
	run activated "$rate"
done
