#!/bin/sh
# submit_https against real HTTPS servers on loopback (tests/https_post):
#  - a server with a certificate from our test CA answers /ok (200, and
#    keeps the body and headers), /fail (500), /busy (429), /nope (404),
#    /redirect (302 to /ok), /slow (5 s), /big (200 with 1 MB);
#  - a second server's certificate comes from another CA (untrusted);
#  - all destinations are posted in one run, concurrently, and each gets
#    exactly its own result; the slow one does not hold up the others;
#  - without --allow-private a loopback target gets no connection at all;
#  - host names come from our own resolver (unbound, and a name server
#    that stalls some names): a stalled or unknown host is a temporary
#    failure within the DNS time-out, and the other posts go ahead;
#  - the address filter, address by address.
# Nothing leaves 127.0.0.1.  Exit 0 pass, 1 fail, 77 skip, 99 hard error.
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
HP="$top_builddir/tests/https_post"
PY=/usr/bin/python3
SERVERS=
DNS_PID=
STALL_PID=

command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl command not installed"; exit 77; }
[ -x "$PY" ] || { echo "SKIP: $PY (Debian's python3) not installed"; exit 77; }
[ -x "$HP" ] || { echo "ERROR: $HP not built"; exit 99; }
T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-https.XXXXXX") || exit 99
cleanup() {
	for pid in $SERVERS $DNS_PID $STALL_PID; do
		kill "$pid" 2>/dev/null
	done
	if [ "$TL_FAILED" -ne 0 ]; then
		for f in "$T"/srv-*.log; do
			[ -s "$f" ] && { echo "---- $(basename "$f") ----"; tail -n 20 "$f"; }
		done
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# TLSRPT_VALGRIND=1 runs the driver under valgrind (errors and definite
# leaks fail), with time limits that allow for its slowness.
TMO=3000 MAXS=3 SIDE_TMO=2500
if [ -n "${TLSRPT_VALGRIND:-}" ]; then
	HP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $HP"
	TMO=30000 MAXS=30 SIDE_TMO=4500
fi

. "$top_srcdir/tests/assert.sh"

# The result line of URL in FILE, with "URL " cut off.
result_of() {   # file url
	awk -v u="$2" '$1 == u { sub(/^[^ ]+ /, ""); print; exit }' "$1"
}

hits() {   # server-dir path: how many requests the server saw for the path
	if [ -f "$1/hits" ]; then grep -c -x -- "$2" "$1/hits"; else echo 0; fi
}

wait_for_file() {   # at most 10 s
	i=0
	while [ ! -s "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$1" ]
}

# --- two CAs, a server certificate from each --------------------------------
cd "$T" || exit 99
printf 'subjectAltName=DNS:localhost,DNS:reports.good.test,IP:127.0.0.1\n' > san.ext
for ca in good evil; do
	openssl req -x509 -newkey rsa:2048 -nodes -keyout $ca-ca.key -out $ca-ca.pem \
		-days 2 -subj "/CN=tlsrpt $ca test CA" 2>/dev/null &&
	openssl req -newkey rsa:2048 -nodes -keyout $ca-srv.key -out $ca-srv.csr \
		-subj "/CN=localhost" 2>/dev/null &&
	openssl x509 -req -in $ca-srv.csr -CA $ca-ca.pem -CAkey $ca-ca.key -CAcreateserial \
		-out $ca-srv.pem -days 2 -extfile san.ext 2>/dev/null ||
	{ echo "ERROR: openssl could not make the $ca certificates"; exit 99; }
done

# a gzipped blob over 1 MB, where curl would otherwise send "Expect: 100-continue"
head -c 1200000 /dev/urandom | gzip -c > body.gz
cd - >/dev/null || exit 99

# --- the servers ----------------------------------------------------------
cat > "$T/server.py" <<'EOF'
# server.py DIR CERT KEY: HTTPS on 127.0.0.1, port written to DIR/port.
# Every POST appends its path to DIR/hits; /ok keeps DIR/ok.body and
# DIR/ok.headers.  Exits after 120 s whatever happens.
import http.server, os, ssl, sys, threading, time

DIR, CERT, KEY = sys.argv[1:4]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass    # the client may hang up (/big)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock, open(os.path.join(DIR, "hits"), "a") as f:
            f.write(self.path + "\n")
        if self.path == "/ok":
            with lock:
                with open(os.path.join(DIR, "ok.body"), "wb") as f:
                    f.write(body)
                with open(os.path.join(DIR, "ok.headers"), "w") as f:
                    f.write(str(self.headers))
            self.answer(200, b"thanks\n")
        elif self.path == "/fail":
            self.answer(500, b"oops\n")
        elif self.path == "/busy":
            self.answer(429)
        elif self.path == "/redirect":
            self.answer(302, headers=[("Location", "/ok")])
        elif self.path == "/slow":
            time.sleep(5)
            self.answer(200)
        elif self.path == "/big":
            self.answer(200, b"x" * (1 << 20))
        else:
            self.answer(404)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # failed handshakes (the untrusted server) are expected


server = Server(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
# the handshake happens in the request's thread, not in accept()
server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                do_handshake_on_connect=False)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
threading.Timer(120, lambda: os._exit(0)).start()
server.serve_forever()
EOF
for ca in good evil; do
	mkdir "$T/$ca"
	$PY "$T/server.py" "$T/$ca" "$T/$ca-srv.pem" "$T/$ca-srv.key" 2>"$T/srv-$ca.log" &
	SERVERS="$SERVERS $!"
done
for ca in good evil; do
	wait_for_file "$T/$ca/port" || { echo "ERROR: the $ca HTTPS server did not start"; TL_FAILED=1; exit 99; }
done
P=$(cat "$T/good/port")
E=$(cat "$T/evil/port")
# a port nobody listens on: bind, note, close
CLOSED=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# --- the address filter ------------------------------------------------------
$HP --check-address 127.0.0.1 10.1.2.3 172.16.0.1 192.168.1.1 169.254.1.1 100.64.0.1 \
	::1 fe80::1 fc00::1 ::ffff:127.0.0.1 64:ff9b::a01:203 8.8.8.8 2a00:1450::1 \
	0.0.0.0 172.31.255.255 172.32.0.1 100.127.255.255 100.128.0.1 192.0.2.1 \
	198.19.0.1 198.20.0.1 224.0.0.1 255.255.255.255 :: ff02::1 2001:db8::1 100::1 \
	100:0:0:1::1 ::ffff:8.8.8.8 64:ff9b::808:808 > "$T/addr.out" 2>&1
cat > "$T/addr.expected" <<'EOF'
127.0.0.1 private
10.1.2.3 private
172.16.0.1 private
192.168.1.1 private
169.254.1.1 private
100.64.0.1 private
::1 private
fe80::1 private
fc00::1 private
::ffff:127.0.0.1 private
64:ff9b::a01:203 private
8.8.8.8 public
2a00:1450::1 public
0.0.0.0 private
172.31.255.255 private
172.32.0.1 public
100.127.255.255 private
100.128.0.1 public
192.0.2.1 private
198.19.0.1 private
198.20.0.1 public
224.0.0.1 private
255.255.255.255 private
:: private
ff02::1 private
2001:db8::1 private
100::1 private
100:0:0:1::1 public
::ffff:8.8.8.8 public
64:ff9b::808:808 public
EOF
assert_eq "$(cat "$T/addr.expected")" "$(cat "$T/addr.out")" "address filter: 30 addresses classified"

# --- one concurrent run against everything ---------------------------------
G="https://127.0.0.1:$P"
START=$(date +%s)
$HP --allow-private --ca "$T/good-ca.pem" --timeout-ms $TMO --max-response 65536 \
	"$T/body.gz" "$G/ok" "$G/fail" "$G/busy" "$G/nope" "$G/redirect" "$G/big" \
	"https://localhost:$E/ok" "http://127.0.0.1:$P/ok" "https://127.0.0.1:$CLOSED/ok" \
	> "$T/run1.out" 2>&1
RC=$?
ELAPSED=$(($(date +%s) - START))
assert_eq 0 "$RC" "run 1: the driver exits 0"
assert_eq 9 "$(wc -l < "$T/run1.out" | tr -d ' ')" "run 1: one line per URL"
assert_eq "delivered 200" "$(result_of "$T/run1.out" "$G/ok")" "/ok is delivered with 200"
assert_eq "temporary 500 HTTP 500" "$(result_of "$T/run1.out" "$G/fail")" "/fail is temporary"
assert_eq "temporary 429 HTTP 429" "$(result_of "$T/run1.out" "$G/busy")" "/busy (429) is temporary"
assert_eq "permanent 404 HTTP 404" "$(result_of "$T/run1.out" "$G/nope")" "/nope (404) is permanent"
assert_eq "permanent 302 HTTP 302 (redirects are not followed)" \
	"$(result_of "$T/run1.out" "$G/redirect")" "/redirect is permanent, not followed"
assert_eq "temporary 200 response larger than 65536 bytes" \
	"$(result_of "$T/run1.out" "$G/big")" "/big is cut off at the size cap"
r=$(result_of "$T/run1.out" "https://localhost:$E/ok")
case $r in
"temporary 0 SSL certificate problem: "*) ok=yes ;;
*) ok="no: $r" ;;
esac
assert_eq yes "$ok" "the untrusted server is a temporary certificate error"
assert_eq "permanent 0 not an https: URL" \
	"$(result_of "$T/run1.out" "http://127.0.0.1:$P/ok")" "an http: URL is permanent"
r=$(result_of "$T/run1.out" "https://127.0.0.1:$CLOSED/ok")
case $r in
"temporary 0 Failed to connect to 127.0.0.1 port $CLOSED"*) ok=yes ;;
*) ok="no: $r" ;;
esac
assert_eq yes "$ok" "a closed port is a temporary connection error"
assert_eq yes "$([ "$ELAPSED" -le $MAXS ] && echo yes || echo "no: $ELAPSED s")" \
	"run 1 took at most $MAXS s"

# what the server received
assert_eq 1 "$(hits "$T/good" /ok)" "/ok was posted to exactly once (the redirect was not followed)"
assert_eq 1 "$(hits "$T/good" /redirect)" "/redirect was asked once"
assert_eq 0 "$(hits "$T/evil" /ok)" "the untrusted server never saw the request"
if cmp -s "$T/body.gz" "$T/good/ok.body"; then same=yes; else same=no; fi
assert_eq yes "$same" "the body arrived byte for byte"
hdr() { sed -n "s/^$1: //Ip" "$T/good/ok.headers" | tr -d '\r'; }
assert_eq "application/tlsrpt+gzip" "$(hdr Content-Type)" "Content-Type"
assert_eq "$(wc -c < "$T/body.gz" | tr -d ' ')" "$(hdr Content-Length)" "Content-Length"
case $(hdr User-Agent) in
tlsrpt-milter/[0-9]*) ua=yes ;;
*) ua="no: $(hdr User-Agent)" ;;
esac
assert_eq yes "$ua" "User-Agent is tlsrpt-milter/VERSION"
assert_eq "" "$(hdr Expect)" "no Expect: 100-continue"

# --- the time limit: /slow (5 s) against 1 s, /ok alongside -------------------
START=$(date +%s)
$HP --allow-private --ca "$T/good-ca.pem" --timeout-ms 1000 "$T/body.gz" "$G/slow" \
	> "$T/run2.out" 2>&1
ELAPSED=$(($(date +%s) - START))
r=$(result_of "$T/run2.out" "$G/slow")
case $r in
"temporary 0 Operation timed out after "*) ok=yes ;;
*) ok="no: $r" ;;
esac
assert_eq yes "$ok" "/slow with 1 s is a temporary time-out"
assert_eq yes "$([ "$ELAPSED" -le $MAXS ] && echo yes || echo "no: $ELAPSED s")" \
	"the time-out took at most $MAXS s"

# a slow destination does not hold up another one
$HP --allow-private --ca "$T/good-ca.pem" --timeout-ms $SIDE_TMO "$T/body.gz" "$G/slow" "$G/ok" \
	> "$T/run3.out" 2>&1
assert_eq "delivered 200" "$(result_of "$T/run3.out" "$G/ok")" "/ok next to /slow is delivered"
case $(result_of "$T/run3.out" "$G/slow") in
"temporary 0 Operation timed out"*) ok=yes ;;
*) ok="no: $(result_of "$T/run3.out" "$G/slow")" ;;
esac
assert_eq yes "$ok" "/slow next to /ok times out"

# --- no connection to loopback without --allow-private ----------------------
before=$(cat "$T/good/hits" | wc -l)
$HP --ca "$T/good-ca.pem" --timeout-ms $TMO "$T/body.gz" "$G/ok" "https://localhost:$P/ok" \
	> "$T/run4.out" 2>&1
assert_eq "permanent 0 refused to connect to non-public address 127.0.0.1" \
	"$(result_of "$T/run4.out" "$G/ok")" "127.0.0.1 is refused without --allow-private"
case $(result_of "$T/run4.out" "https://localhost:$P/ok") in
"permanent 0 refused to connect to non-public address "*) ok=yes ;;
*) ok="no: $(result_of "$T/run4.out" "https://localhost:$P/ok")" ;;
esac
assert_eq yes "$ok" "localhost is refused without --allow-private"
sleep 0.2
assert_eq "$before" "$(cat "$T/good/hits" | wc -l)" "the server saw no request from the refused run"

# --- host names through our resolver, one of them stalled -------------------
# reports.stall.test: the UDP answer has TC set and the TCP query is never
# answered; reports.quiet.test: no answer at all.  curl never resolves a
# name itself (its resolver thread cannot be bounded): the names are
# looked up first, each within --dns-timeout-ms.
. "$top_srcdir/tests/peers/dns_server.sh"
mkdir "$T/dns"
cat > "$T/dns/zone" <<'EOF'
  local-zone: "test." static
  local-data: 'reports.good.test. A 127.0.0.1'
  local-data: '_smtp._tls.ready.test. TXT "v=TLSRPTv1; rua=mailto:a@ready.test"'
EOF
if ! PATH="$PATH:/usr/sbin:/sbin" command -v unbound >/dev/null 2>&1; then
	echo "# unbound is not installed (Debian package unbound): the resolver cases are not run"
elif ! dns_start "$T/dns" "$T/dns/zone" ready.test; then
	echo "FAIL - unbound did not start"; tail -n 5 "$T/dns/unbound.log"; TL_FAILED=1
elif ! stall_start "$T/dns" 127.0.0.1 0 127.0.0.1 "$DNS_PORT" tc:stall.test silent:quiet.test; then
	echo "FAIL - the stalling name server did not start"; cat "$T/dns/stall.err"; TL_FAILED=1
else
	before=$(hits "$T/good" /ok)
	START=$(date +%s%N)
	$HP --allow-private --ca "$T/good-ca.pem" --timeout-ms $TMO --dns-timeout-ms 1500 \
	    --resolver "127.0.0.1:$STALL_PORT" "$T/body.gz" "https://reports.good.test:$P/ok" \
	    "https://reports.stall.test:$P/ok" "https://reports.quiet.test:$P/ok" \
	    "https://nxhost.test:$P/ok" > "$T/run5.out" 2>&1
	ELAPSED=$(( ($(date +%s%N) - START) / 1000000 ))
	assert_eq "delivered 200" "$(result_of "$T/run5.out" "https://reports.good.test:$P/ok")" \
	    "a host name from the DNS: delivered"
	assert_eq $((before + 1)) "$(hits "$T/good" /ok)" "and the server got it"
	for h in stall quiet; do
		assert_eq "temporary 0 could not resolve host reports.$h.test: timed out after" \
		    "$(result_of "$T/run5.out" "https://reports.$h.test:$P/ok" | sed 's/ [0-9]* ms$//')" \
		    "reports.$h.test (stalled DNS): temporary, a DNS time-out"
	done
	assert_eq "temporary 0 could not resolve host nxhost.test: NXDOMAIN" \
	    "$(result_of "$T/run5.out" "https://nxhost.test:$P/ok")" "an unknown host: temporary"
	assert_eq 1 "$(grep -c '^tcp reports.stall.test 1 stalled$' "$T/dns/stall.log")" \
	    "the TCP retry of the A query reached the stalled server"
	max=$((1500 + 1500)); [ -n "${TLSRPT_VALGRIND:-}" ] && max=$((1500 + 10000))
	assert_eq yes "$([ $ELAPSED -lt $max ] && echo yes || echo "no: $ELAPSED ms")" \
	    "four posts, two hosts stalled, 1500 ms DNS time-out: done in less than $max ms"
	echo "# stalled DNS next to a delivered post: $ELAPSED ms"
fi

tl_done
