#!/bin/sh
# t-dns-discovery: RFC 8460 section 3 discovery (R1, R5, R6, R33) through
# common/dns_txt.c against a real DNS server on loopback: our own unbound
# process serving local data, never the live internet (STYLE 18).
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
LOOKUP="$top_builddir/tests/dns_lookup"
FAILED=0
CHECKS=0

PATH="$PATH:/usr/sbin:/sbin"
if ! command -v unbound >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y unbound >/dev/null 2>&1
	fi
	command -v unbound >/dev/null 2>&1 ||
		{ echo "SKIP: unbound not installed (Debian package unbound)"; exit 77; }
fi
[ -x "$LOOKUP" ] || { echo "FAIL: $LOOKUP not built"; exit 1; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-dns.XXXXXX")
UB_PID=
SILENT_PID=
STALL_PID=
cleanup() {
	for pid in $UB_PID $SILENT_PID $STALL_PID; do
		kill "$pid" 2>/dev/null
	done
	if [ "$FAILED" -ne 0 ] && [ -f "$T/unbound.log" ]; then
		echo "---- unbound log ----"; tail -n 20 "$T/unbound.log"
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# fail.test is delegated (stub) to this same server, which will not
# recurse for a non-recursive query: unbound answers SERVFAIL at once.
# 17 character-strings of 255 bytes: a record over 4096 bytes, an
# answer too big for UDP (libresolv retries over TCP).
LONG=$(i=0; while [ $i -lt 17 ]; do printf '"%0255d" ' 0; i=$((i + 1)); done)
cat > "$T/zone" <<CONF
  local-zone: "test." static
  local-data: '_smtp._tls.good.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1/tlsrpt"'
  local-data: '_smtp._tls.split.test. TXT "v=TLSRPTv1; rua=mailto:a@" "split.test"'
  local-data: '_smtp._tls.two.test. TXT "v=TLSRPTv1; rua=mailto:a@two.test"'
  local-data: '_smtp._tls.two.test. TXT "v=TLSRPTv1; rua=mailto:b@two.test"'
  local-data: '_smtp._tls.spf.test. TXT "v=spf1 -all"'
  local-data: '_smtp._tls.spf.test. TXT "v=TLSRPTv1;rua=mailto:r@spf.test"'
  local-data: '_smtp._tls.bad.test. TXT "v=TLSRPTv2; rua=mailto:r@bad.test"'
  local-data: '_smtp._tls.notxt.test. A 192.0.2.1'
  local-data: '_smtp._tls.alias.test. CNAME _smtp._tls.good.test.'
  local-data: '_smtp._tls.nul.test. TXT "v=TLSRPTv1; rua=mailto:a@nul.test\\000x"'
  local-data: '_smtp._tls.long.test. TXT "v=TLSRPTv1; rua=mailto:a@long.test; x=" $LONG'
  local-data: '_smtp._tls.long.test. TXT "v=spf1 -all"'
  local-data: 'host.test. A 192.0.2.10'
  local-data: 'host.test. AAAA 2001:db8::10'
  local-data: 'half.test. A 192.0.2.11'
  local-data: 'half.test. AAAA 2001:db8::11'
  local-data: 'hostalias.test. CNAME host.test.'
  local-data: '_mta-sts.good.test. TXT "v=STSv1; " "id=1"'
  local-zone: "refused.test." always_refuse
  local-zone: "fail.test." transparent
stub-zone:
  name: "fail.test."
  stub-addr: 127.0.0.1@@PORT@
CONF
. "${top_srcdir:-.}/tests/peers/dns_server.sh"

check() {	# check NAME EXPECTED GOT
	CHECKS=$((CHECKS + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $CHECKS - $1"
	else
		echo "not ok $CHECKS - $1"
		echo "  expected: $2"
		echo "  got:      $3"
		FAILED=$((FAILED + 1))
	fi
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

if ! dns_start "$T" "$T/zone" good.test; then
	echo "SKIP: could not start unbound on loopback"
	tail -n 5 "$T/unbound.log" 2>/dev/null
	exit 77
fi
UB_PID=$DNS_PID PORT=$DNS_PORT
echo "# unbound pid $UB_PID on 127.0.0.1:$PORT"
R="127.0.0.1:$PORT"

"$LOOKUP" --resolver "$R" --timeout-ms 3000 --parallel 3 good.test split.test two.test \
    spf.test bad.test none.test notxt.test fail.test refused.test alias.test nul.test \
    long.test > "$T/out" 2> "$T/err"
check "driver exit status" 0 $?
check "driver stderr" "" "$(cat "$T/err")"
cat > "$T/expected" <<'EXP'
good.test found v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1/tlsrpt
split.test found v=TLSRPTv1; rua=mailto:a@split.test
two.test multiple 2 TLSRPT records (RFC 8460 requires exactly one)
spf.test found v=TLSRPTv1;rua=mailto:r@spf.test
bad.test none no record starting with "v=TLSRPTv1;" among 1 TXT records at _smtp._tls.bad.test
none.test none NXDOMAIN
notxt.test none no TXT record at _smtp._tls.notxt.test
fail.test temporary SERVFAIL
refused.test temporary REFUSED
alias.test found v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1/tlsrpt
nul.test none TLSRPT record at _smtp._tls.nul.test contains a NUL byte
long.test none TLSRPT record at _smtp._tls.long.test is longer than 4096 bytes
EXP
n=0
while IFS= read -r want; do
	n=$((n + 1))
	check "line $n (${want%% *})" "$want" "$(sed -n "${n}p" "$T/out")"
done < "$T/expected"
check "one line per domain" "$(wc -l < "$T/expected")" "$(wc -l < "$T/out")"

# Many lookups on few threads: every answer lands on its own domain.
set --
for k in 1 2 3 4 5 6 7 8; do set -- "$@" good.test two.test none.test; done
"$LOOKUP" --resolver "$R" --timeout-ms 3000 --parallel 4 "$@" > "$T/many"
check "24 lookups on 4 threads: found" 8 "$(grep -c '^good.test found ' "$T/many")"
check "24 lookups on 4 threads: multiple" 8 "$(grep -c '^two.test multiple ' "$T/many")"
check "24 lookups on 4 threads: none" 8 "$(grep -c '^none.test none NXDOMAIN$' "$T/many")"

# Bad domain names are refused before any query.
got=$("$LOOKUP" --resolver "$R" 'bad_name.test' 'a..test')
check "invalid domain names" 'bad_name.test none invalid domain name "bad_name.test"
a..test none invalid domain name "a..test"' "$got"

# A bad resolver setting is an error, not a lookup result.
"$LOOKUP" --resolver "1.2.3.4:99999" good.test > /dev/null 2> "$T/err"
check "bad resolver port exit status" 2 $?
check "bad resolver port message" 'dns_lookup: bad resolver "1.2.3.4:99999": port must be 1-65535' \
    "$(cat "$T/err")"

# The generic lookups: TXT records, addresses (A before AAAA, CNAME
# chased, an IP address as it is, /etc/hosts before the DNS).
got=$("$LOOKUP" --resolver "$R" --txt _mta-sts.good.test _mta-sts.none.test _mta-sts.good.test.)
check "dns_query_txt" '_mta-sts.good.test found v=STSv1; id=1
_mta-sts.none.test none NXDOMAIN
_mta-sts.good.test. found v=STSv1; id=1' "$got"
got=$("$LOOKUP" --resolver "$R" --addr host.test hostalias.test 192.0.2.5 2001:db8::5 \
    notxt.test none.test 'bad_name!' HOST.test.)
check "dns_query_addr_all" 'host.test found 192.0.2.10 2001:db8::10
hostalias.test found 192.0.2.10 2001:db8::10
192.0.2.5 found 192.0.2.5
2001:db8::5 found 2001:db8::5
notxt.test none no A record at notxt.test
none.test none NXDOMAIN
bad_name! none invalid domain name "bad_name!"
HOST.test. found 192.0.2.10 2001:db8::10' "$got"
# /etc/hosts comes before the DNS (a hosts file of our own, in a mount
# namespace of this command only)
printf '192.0.2.77 fromfile.test\n2001:db8::77 fromfile.test\n192.0.2.78 host.test\n' > "$T/hosts"
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
	got=$(unshare -m /bin/sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh \
	    "$T/hosts" "$LOOKUP" --resolver "$R" --addr fromfile.test host.test)
	check "/etc/hosts before the DNS" 'fromfile.test found 192.0.2.77 2001:db8::77
host.test found 192.0.2.78' "$got"
else
	echo "# not root or no mount namespace: the /etc/hosts case is not run"
fi

# A name server that stalls: it answers UDP with the TC bit set and then
# never answers the TCP query (stall.test), or never answers at all
# (quiet.test), or stalls only AAAA (half.test); it forwards every other
# query to unbound.  Each stalled lookup is a time-out within its own
# deadline, the TCP retry included, and holds up no other lookup.
. "${top_srcdir:-.}/tests/peers/dns_server.sh"
if stall_start "$T" 127.0.0.1 0 127.0.0.1 "$PORT" tc:stall.test silent:quiet.test tc:half.test/28
then
	S="127.0.0.1:$STALL_PORT"
	t0=$(now_ms)
	"$LOOKUP" --resolver "$S" --timeout-ms 2000 --parallel 8 good.test stall.test quiet.test \
	    two.test none.test > "$T/stall.out"
	el=$(($(now_ms) - t0))
	check "stalled: good.test found" "good.test found v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1/tlsrpt" \
	    "$(sed -n 1p "$T/stall.out")"
	check "stalled: two.test multiple" "two.test multiple 2 TLSRPT records (RFC 8460 requires exactly one)" \
	    "$(sed -n 4p "$T/stall.out")"
	check "stalled: none.test NXDOMAIN" "none.test none NXDOMAIN" "$(sed -n 5p "$T/stall.out")"
	# c-ares gives up on a TCP connection that does not answer after one
	# try (timeout / 3); a silent UDP server after its two tries
	st=$(sed -n 's/^stall.test temporary timed out after \([0-9]*\) ms$/\1/p' "$T/stall.out")
	check "stalled TCP answer: time-out after 600-2100 ms" yes \
	    "$([ -n "$st" ] && [ "$st" -ge 600 ] && [ "$st" -le 2100 ] && echo yes || echo "no: $(sed -n 2p "$T/stall.out")")"
	qt=$(sed -n 's/^quiet.test temporary timed out after \([0-9]*\) ms$/\1/p' "$T/stall.out")
	check "silent UDP: time-out after 1900-2100 ms" yes \
	    "$([ -n "$qt" ] && [ "$qt" -ge 1900 ] && [ "$qt" -le 2100 ] && echo yes || echo "no: $(sed -n 3p "$T/stall.out")")"
	check "five lookups with two stalled ended within 2000 ms + 600" yes \
	    "$([ $el -lt 2600 ] && echo yes || echo "no ($el ms)")"
	echo "# stalled: TCP stall reported after ${st:-?} ms, silent UDP after ${qt:-?} ms, whole call $el ms"
	check "the TCP retry reached the stalled server" 1 \
	    "$(grep -c '^tcp _smtp._tls.stall.test 16 stalled$' "$T/stall.log")"
	t0=$(now_ms)
	got=$("$LOOKUP" --resolver "$S" --timeout-ms 1500 --addr half.test host.test stall.test)
	el=$(($(now_ms) - t0))
	check "AAAA stalled: the A records are the answer" "half.test found 192.0.2.11" \
	    "$(echo "$got" | sed -n 1p)"
	check "address lookups beside the stall" "host.test found 192.0.2.10 2001:db8::10" \
	    "$(echo "$got" | sed -n 2p)"
	check "A and AAAA both stalled: temporary" "stall.test temporary timed out after" \
	    "$(echo "$got" | sed -n 3p | sed 's/ [0-9]* ms$//')"
	check "address lookups ended within 1500 ms + 600" yes \
	    "$([ $el -lt 2100 ] && echo yes || echo "no ($el ms)")"
	kill "$STALL_PID"; wait "$STALL_PID" 2>/dev/null; STALL_PID=
else
	echo "not ok - the stalling name server did not start"; cat "$T/stall.err"
	FAILED=$((FAILED + 1))
fi

# The resolver setting "[V6]:PORT": the same forwarder on ::1 (no rules)
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	if stall_start "$T" ::1 0 127.0.0.1 "$PORT"; then
		got=$("$LOOKUP" --resolver "[::1]:$STALL_PORT" --timeout-ms 3000 good.test none.test)
		check "resolver [::1]:PORT" "good.test found v=TLSRPTv1; rua=mailto:tlsrpt@good.test,https://report.good.test/v1/tlsrpt
none.test none NXDOMAIN" "$got"
		kill "$STALL_PID"; wait "$STALL_PID" 2>/dev/null; STALL_PID=
	else
		echo "not ok - the forwarder did not start on ::1"; cat "$T/stall.err"
		FAILED=$((FAILED + 1))
	fi
else
	echo "# no IPv6 loopback: the [::1]:PORT resolver case is not run"
fi

# R33: a closed port is temporary, and answers well within the time-out.
kill "$UB_PID"; wait "$UB_PID" 2>/dev/null; UB_PID=
t0=$(now_ms)
got=$("$LOOKUP" --resolver "$R" --timeout-ms 2000 good.test)
t1=$(now_ms)
check "closed port is temporary" "good.test temporary no answer: connection refused by the resolver" "$got"
check "closed port answered within the 2000 ms time-out" yes \
    "$([ $((t1 - t0)) -lt 2000 ] && echo yes || echo "no ($((t1 - t0)) ms)")"

# R33: a server that never answers is a time-out after timeout_ms.
if command -v python3 >/dev/null 2>&1 && python3 -c 'import socket' 2>/dev/null; then
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1]); sys.stdout.flush()
time.sleep(30)' > "$T/silent.port" &
	SILENT_PID=$!
	i=0
	while [ ! -s "$T/silent.port" ] && [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
	SP=$(cat "$T/silent.port")
	t0=$(now_ms)
	got=$("$LOOKUP" --resolver "127.0.0.1:$SP" --timeout-ms 1000 good.test)
	t1=$(now_ms)
	# c-ares' two tries (333 + 666 ms) or our deadline, whichever comes first
	check "silent server is a time-out" "good.test temporary timed out after" \
	    "$(echo "$got" | sed 's/ [0-9]* ms$//')"
	check "the time-out's reason says 999-1100 ms" yes "$(ms=${got##*after }; ms=${ms% ms}
	    [ "$ms" -ge 999 ] && [ "$ms" -le 1100 ] && echo yes || echo "no: $got")"
	el=$((t1 - t0))
	check "time-out took 900-1900 ms" yes \
	    "$([ $el -ge 900 ] && [ $el -lt 1900 ] && echo yes || echo "no ($el ms)")"
else
	echo "# python3 missing: silent-server time-out case not run"
fi

echo "# $CHECKS checks, $FAILED failed"
[ "$FAILED" -eq 0 ] || exit 1
exit 0
