#!/bin/sh
# Benchmark of HTTPS report submission: tlsrpt-report run posting 10,000
# reports to a local HTTPS sink.
# Usage: sh bench/submit.sh BUILDDIR SRCDIR   (make bench runs it)
#        SUBMIT_REPORTS=N to change the number of reports (default 10000)
#
# Steps: a throw-away CA and a server certificate for 127.0.0.1 (openssl,
# RSA 2048 like the tests); a fast HTTPS sink on 127.0.0.1 (the Python
# asyncio server below, run with /usr/bin/python3: it reads each body,
# counts the POSTs and answers 200 with keep-alive); bench/submitbench
# fills a store with one day (2026-01-15) of sessions for N domains whose
# TLSRPT record is "v=TLSRPTv1; rua=https://127.0.0.1:PORT/ok"; then
# "tlsrpt-report build" and the timed "tlsrpt-report run", both with
# TLSRPT_NOW=1768528800 (2026-01-16T02:00:00Z).  Prints one result line:
#   submitted=N seconds=X reports_per_second=Y sink_requests=Z peak_rss_kb=W
# Loopback only.  Exits non-zero only when the fill, the build or the run
# failed; a missing tool skips the benchmark.
set -u
B=${1:-.}	# SRCDIR ($2) is accepted for make bench; the sink is part of this script
N=${SUBMIT_REPORTS:-10000}
NOW=1768528800		# 2026-01-16T02:00:00Z: the day 2026-01-15 is over, 2 h later
PY=/usr/bin/python3
REPORT="$B/tlsrpt-report"
SINK=

command -v openssl >/dev/null 2>&1 || { echo "submission benchmark: skipped (openssl not installed)"; exit 0; }
[ -x "$PY" ] || { echo "submission benchmark: skipped ($PY not installed)"; exit 0; }
if [ ! -x "$B/bench/submitbench" ] || [ ! -x "$REPORT" ]; then
	echo "submission benchmark: $B/bench/submitbench or $REPORT not built" >&2
	exit 1
fi

T=$(mktemp -d /tmp/tlsrpt-submitbench.XXXXXX) || exit 1
stop_sink() {	# TERM, up to 5 s to write its count and exit, then KILL
	[ -n "$SINK" ] || return 0
	kill -TERM "$SINK" 2>/dev/null
	i=0
	while kill -0 "$SINK" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$SINK" 2>/dev/null
	wait "$SINK" 2>/dev/null
	SINK=
}
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	stop_sink
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# bounded waits
TIMEOUT=
command -v timeout >/dev/null 2>&1 && TIMEOUT="timeout 900"
wait_for_file() {	# path, tenths of a second
	i=0
	while [ ! -s "$1" ] && [ $i -lt "$2" ]; do sleep 0.1; i=$((i + 1)); done
	[ -s "$1" ]
}

# --- a test CA and a server certificate for 127.0.0.1 -----------------------
(
	cd "$T" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
		-subj "/CN=tlsrpt submitbench CA" &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=127.0.0.1" &&
	printf 'subjectAltName=IP:127.0.0.1\n' > san.ext &&
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
		-days 2 -extfile san.ext
) > "$T/openssl.log" 2>&1 || { echo "submission benchmark: cannot make certificates" >&2; cat "$T/openssl.log" >&2; exit 1; }

# --- the sink ----------------------------------------------------------------
cat > "$T/sink.py" <<'PYEOF'
# HTTPS sink: sink.py DIR CERT KEY.  Listens on 127.0.0.1, an ephemeral port
# written to DIR/port.  Every request is read in full; POST /ok answers 200,
# anything else 404, all with Content-Length: 0 and keep-alive.  On SIGTERM
# (or after 900 s) writes "POSTS BODY_BYTES CONNECTIONS" to DIR/count and exits.
import asyncio, os, signal, ssl, sys

DIR, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]
posts = body_bytes = conns = 0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
NOTFOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


async def handle(reader, writer):
    global posts, body_bytes, conns
    conns += 1
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ")
            length, close = 0, False
            for line in lines[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v)
                elif k == b"connection" and v.strip().lower() == b"close":
                    close = True
            if length:
                await reader.readexactly(length)
            if parts[0] == b"POST" and len(parts) > 1 and parts[1] == b"/ok":
                posts += 1
                body_bytes += length
                writer.write(OK)
            else:
                writer.write(NOTFOUND)
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
            ssl.SSLError, ValueError, OSError):
        pass
    finally:
        writer.close()


def finish(stop):
    tmp = os.path.join(DIR, "count.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (posts, body_bytes, conns))
    os.rename(tmp, os.path.join(DIR, "count"))
    stop.set_result(None) if not stop.done() else None


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx, backlog=512)
    port = server.sockets[0].getsockname()[1]
    with open(os.path.join(DIR, "port.tmp"), "w") as f:
        f.write(str(port))
    os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, finish, stop)
    loop.call_later(900, finish, stop)
    await stop
    server.close()


asyncio.run(main())
PYEOF
mkdir "$T/sink" "$T/run"
"$PY" "$T/sink.py" "$T/sink" "$T/srv.pem" "$T/srv.key" 2> "$T/sink.err" &
SINK=$!
wait_for_file "$T/sink/port" 100 || { echo "submission benchmark: the sink did not start" >&2; cat "$T/sink.err" >&2; exit 1; }
PORT=$(cat "$T/sink/port")
cp "$T/ca.pem" "$T/run/ca.pem"

echo "tlsrpt-report run benchmark: $N reports, one https destination each, sink on 127.0.0.1:$PORT, $(nproc) cores"

# --- fill and build ------------------------------------------------------------
"$B/bench/submitbench" "$T/run" "$PORT" "$N" || { echo "submission benchmark: fill failed" >&2; exit 1; }
TLSRPT_NOW=$NOW $TIMEOUT "$REPORT" -c "$T/run/tlsrpt.conf" build > "$T/build.out" 2> "$T/build.err" ||
	{ echo "submission benchmark: build failed" >&2; tail -n 5 "$T/build.err" >&2; exit 1; }
echo "build: $(tail -n 1 "$T/build.out")"

# --- the timed run -------------------------------------------------------------
RSS_FILE="$T/rss"
TIMECMD=
if [ -x /usr/bin/time ] && /usr/bin/time -f %M -o "$RSS_FILE" true 2>/dev/null; then
	TIMECMD="/usr/bin/time -f %M -o $RSS_FILE"
fi
echo "command: TLSRPT_NOW=$NOW tlsrpt-report -c DIR/tlsrpt.conf run"
start=$(date +%s.%N)
# shellcheck disable=SC2086 # $TIMEOUT and $TIMECMD are words on purpose
TLSRPT_NOW=$NOW $TIMEOUT $TIMECMD "$REPORT" -c "$T/run/tlsrpt.conf" run > "$T/run.out" 2> "$T/run.err"
rc=$?
end=$(date +%s.%N)
summary=$(tail -n 1 "$T/run.out")
echo "run: $summary"

# --- the sink's count ------------------------------------------------------------
stop_sink
read -r requests body_bytes connections < "$T/sink/count" 2>/dev/null ||
	{ requests=unknown body_bytes=unknown connections=unknown; }
echo "sink: $requests POSTs, $body_bytes body bytes, $connections TLS connections"

sent=$(printf '%s\n' "$summary" | sed -n 's/^\([0-9]*\) sent,.*/\1/p')
rss=$(tail -n 1 "$RSS_FILE" 2>/dev/null)
case $rss in ''|*[!0-9]*) rss=unknown ;; esac
secs=$(echo "$start $end" | awk '{printf "%.2f", $2 - $1}')
rate=$(echo "${sent:-0} $start $end" | awk '{d = $3 - $2; printf "%.0f", (d > 0 ? $1 / d : 0)}')
echo "submitted=${sent:-0} seconds=$secs reports_per_second=$rate sink_requests=$requests peak_rss_kb=$rss"

if [ $rc -ne 0 ]; then
	echo "submission benchmark: tlsrpt-report run failed (exit $rc)" >&2
	tail -n 5 "$T/run.err" >&2
	exit 1
fi
[ "$summary" = "$N sent, 0 failed (will retry), 0 failed permanently, 0 given up" ] ||
	echo "note: expected \"$N sent\" from the run"
[ "$requests" = "$N" ] || echo "note: expected the sink to count $N POSTs"
exit 0
