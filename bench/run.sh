#!/bin/sh
# Benchmark of the datagram input: offered rate vs. stored rate, loss, RSS.
# Usage: bench/run.sh BUILDDIR   (make bench runs it)
#
# The sender (bench/dgbench) sends the way libtlsrpt does, non-blocking, so
# a full socket queue is a lost datagram, from 16 sockets in turn as 16
# smtp processes would (a single socket would hit its own send buffer).  Each scenario gets a fresh daemon
# and store; "stored" is read from the store after a clean stop.
#
# The kernel queues at most net.unix.max_dgram_qlen datagrams per socket:
# 10 is the kernel default (this is what a container without systemd has),
# 512 is what systemd's sysctl.d/50-default.conf sets on a Debian host.
# When run as root the scenarios run in private network namespaces (the
# setting is per namespace), once with each value; otherwise in the current
# namespace with whatever it has.
set -eu
B=${1:-.}
SECS=${BENCH_SECONDS:-5}
T=$(mktemp -d /tmp/tlsrpt-bench.XXXXXX)
trap 'kill $(cat "$T/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$T"' EXIT
me=$(id -un)

scenario() {   # name rate threads
	name=$1 rate=$2 threads=$3
	rm -f "$T"/s.db* "$T/s.sock"
	cat > "$T/c.conf" <<CONF
store_path $T/s.db
datagram_socket $T/s.sock
pid_file none
run_as_user $me
datagram_threads $threads
log_level notice
CONF
	"$B/tlsrpt-milter" -c "$T/c.conf" -f 2>"$T/log" &
	echo $! > "$T/pid"
	i=0; while ! grep -q started "$T/log" && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
	start=$(date +%s.%N)
	out=$("$B/bench/dgbench" -s "$T/s.sock" -r "$rate" -t "$SECS" -D 1000)
	rss=$(awk '/VmHWM/ {print $2}' "/proc/$(cat "$T/pid")/status")
	kill -TERM "$(cat "$T/pid")"; wait "$(cat "$T/pid")" || true
	end=$(date +%s.%N)
	stored=$(sqlite3 "$T/s.db" "select coalesce(sum(value),0) from input_counter where name='datagram.accepted'")
	sent=$(echo "$out" | sed 's/.* sent=\([0-9]*\).*/\1/')
	lost=$(echo "$out" | sed 's/.* lost=\([0-9]*\).*/\1/')
	offered=$(echo "$out" | sed 's/.*offered_rate=\([0-9]*\).*/\1/')
	qlen=$(cat /proc/sys/net/unix/max_dgram_qlen)
	printf '%-14s qlen=%-4s threads=%s offered=%7s/s sent=%8s lost_in_kernel=%7s stored=%8s stored_rate=%6.0f/s peak_rss=%6sKB\n' \
		"$name" "$qlen" "$threads" "$offered" "$sent" "$lost" "$stored" \
		"$(echo "$stored $start $end" | awk '{print $1 / ($3 - $2)}')" "$rss"
}

all_scenarios() {
	for th in 2 1; do
		scenario "paced-30000/s" 30000 "$th"
		scenario "full-speed" 0 "$th"
	done
}

echo "tlsrpt-milter datagram benchmark: ${SECS}s per run, $(nproc) cores, 1000 domains, 4 datagram shapes"
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && [ -z "${TLSRPT_BENCH_INNER:-}" ]; then
	for q in 10 512; do
		TLSRPT_BENCH_INNER=1 BENCH_SECONDS=$SECS unshare -n sh -c \
			"echo $q > /proc/sys/net/unix/max_dgram_qlen && sh '$0' '$B'" | grep -v '^tlsrpt-milter datagram'
	done
else
	all_scenarios
fi
