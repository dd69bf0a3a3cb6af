#!/bin/sh
# t-sts-fetch: MTA-STS discovery (RFC 8461 3.1-3.3) and the cache rules
# (5.1) through common/mta_sts.c and "tlsrpt-report policy DOMAIN
# --fetch / --refresh", against a real unbound (_mta-sts TXT and
# mta-sts.<domain> A records) and real HTTPS servers with a test CA
# (tests/peers/sts_server.py), one per 127.0.0.x address on port 443.
#
# Port 443 on many loopback addresses: the test runs itself in a network
# namespace of its own (unshare -n as root, unshare -rn otherwise), whose
# only interface is lo.  Nothing can collide with the host's services,
# and nothing leaves loopback.  Skips (77) where namespaces are not
# allowed or unbound/openssl/python3 are missing.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/peers/own_netns.sh"

. "$top_srcdir/tests/assert.sh"
. "$top_srcdir/tests/peers/pki.sh"
. "$top_srcdir/tests/peers/dns_server.sh"

REPORT="$top_builddir/tlsrpt-report"
T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-sts.XXXXXX")
# TLSRPT_VALGRIND=1 runs tlsrpt-report under valgrind; a memory error or
# a definite leak makes it exit 99, which the exit status checks catch.
if [ -n "${TLSRPT_VALGRIND:-}" ]; then
	REPORT="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$T/valgrind.%p.log $REPORT"
fi
SRV_PID=
DNS_PID=
cleanup() {
	for pid in $SRV_PID $DNS_PID; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$TL_FAILED" -ne 0 ]; then
		cat "$T"/valgrind.*.log 2>/dev/null
		echo "---- unbound log ----"; tail -n 10 "$T/unbound.log" 2>/dev/null
		echo "---- server log ----"; tail -n 20 "$T/server.log" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir "$T/pki" "$T/www"
if ! pki_make "$T/pki" || ! pki_host "$T/pki" sts mta-sts.good.test mta-sts.malformed.test \
    mta-sts.big.test mta-sts.html.test mta-sts.notype.test mta-sts.redirect.test \
    mta-sts.missing.test mta-sts.slow.test mta-sts.closed.test mta-sts.split.test; then
	echo "FAIL: could not make the test PKI"; tail -n 20 "$T/pki/pki.log"; exit 1
fi

# ---- the DNS ----------------------------------------------------------------

# write_zone GOOD_ID: the zone, with good.test's TXT id as given.
write_zone() {
	cat > "$T/zone" <<CONF
  local-zone: "test." static
  local-data: '_smtp._tls.ready.test. TXT "v=TLSRPTv1; rua=mailto:a@ready.test"'
  local-data: '_mta-sts.good.test. TXT "v=STSv1; id=$1;"'
  local-data: 'mta-sts.good.test. A 127.0.0.11'
  local-data: '_mta-sts.malformed.test. TXT "v=STSv1; id=m1"'
  local-data: 'mta-sts.malformed.test. A 127.0.0.12'
  local-data: '_mta-sts.big.test. TXT "v=STSv1; id=b1"'
  local-data: 'mta-sts.big.test. A 127.0.0.13'
  local-data: '_mta-sts.html.test. TXT "v=STSv1; id=h1"'
  local-data: 'mta-sts.html.test. A 127.0.0.14'
  local-data: '_mta-sts.notype.test. TXT "v=STSv1; id=n1"'
  local-data: 'mta-sts.notype.test. A 127.0.0.22'
  local-data: '_mta-sts.redirect.test. TXT "v=STSv1; id=r1"'
  local-data: 'mta-sts.redirect.test. A 127.0.0.15'
  local-data: '_mta-sts.missing.test. TXT "v=STSv1; id=x1"'
  local-data: 'mta-sts.missing.test. A 127.0.0.16'
  local-data: '_mta-sts.slow.test. TXT "v=STSv1; id=s1"'
  local-data: 'mta-sts.slow.test. A 127.0.0.17'
  local-data: '_mta-sts.wronghost.test. TXT "v=STSv1; id=w1"'
  local-data: 'mta-sts.wronghost.test. A 127.0.0.18'
  local-data: '_mta-sts.untrusted.test. TXT "v=STSv1; id=u1"'
  local-data: 'mta-sts.untrusted.test. A 127.0.0.19'
  local-data: '_mta-sts.expired.test. TXT "v=STSv1; id=e1"'
  local-data: 'mta-sts.expired.test. A 127.0.0.20'
  local-data: '_mta-sts.closed.test. TXT "v=STSv1; id=c1"'
  local-data: 'mta-sts.closed.test. A 127.0.0.21'
  local-data: '_mta-sts.split.test. TXT "v=STSv1; " "id=split1"'
  local-data: 'mta-sts.split.test. A 127.0.0.23'
  local-data: '_mta-sts.nohost.test. TXT "v=STSv1; id=1"'
  local-data: '_mta-sts.two.test. TXT "v=STSv1; id=a"'
  local-data: '_mta-sts.two.test. TXT "v=STSv1; id=b"'
  local-data: '_mta-sts.badid.test. TXT "v=STSv1; id=not-valid"'
  local-data: '_mta-sts.spf.test. TXT "v=spf1 -all"'
  local-zone: "fail.test." transparent
stub-zone:
  name: "fail.test."
  stub-addr: 127.0.0.1@@PORT@
CONF
}

# (Re)start unbound on 127.0.0.1:53 with good.test's id $1.
dns_restart() {
	if [ -n "$DNS_PID" ]; then
		kill "$DNS_PID"; wait "$DNS_PID" 2>/dev/null; DNS_PID=
	fi
	write_zone "$1"
	if ! DNS_LISTEN=127.0.0.1:53 dns_start "$T" "$T/zone" ready.test; then
		echo "FAIL: could not start unbound"; tail -n 5 "$T/unbound.log"; TL_FAILED=1; exit 1
	fi
}

# ---- the HTTPS servers --------------------------------------------------------

P=$T/pki
cat > "$T/spec" <<SPEC
127.0.0.11 mta-sts.good.test $P/sts.crt $P/sts.key policy
127.0.0.12 mta-sts.malformed.test $P/sts.crt $P/sts.key policy
127.0.0.13 mta-sts.big.test $P/sts.crt $P/sts.key oversize
127.0.0.14 mta-sts.html.test $P/sts.crt $P/sts.key html
127.0.0.22 mta-sts.notype.test $P/sts.crt $P/sts.key notype
127.0.0.15 mta-sts.redirect.test $P/sts.crt $P/sts.key redirect
127.0.0.16 mta-sts.missing.test $P/sts.crt $P/sts.key 404
127.0.0.17 mta-sts.slow.test $P/sts.crt $P/sts.key slow
127.0.0.18 mta-sts.wronghost.test $P/wronghost.crt $P/wronghost.key policy
127.0.0.19 mta-sts.untrusted.test $P/selfsigned.crt $P/selfsigned.key policy
127.0.0.20 mta-sts.expired.test $P/expired.crt $P/expired.key policy
127.0.0.23 mta-sts.split.test $P/sts.crt $P/sts.key policy
SPEC
W=$T/www
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.good.test\r\nmx: *.mx.good.test\r\nmax_age: 86400\r\n' \
    > "$W/mta-sts.good.test.policy"
printf 'version: STSv1\nmode: enforcing\nmx: mx.malformed.test\nmax_age: 86400\n' \
    > "$W/mta-sts.malformed.test.policy"
for h in html notype slow wronghost untrusted expired split; do
	cp "$W/mta-sts.good.test.policy" "$W/mta-sts.$h.test.policy"
done

/usr/bin/python3 "$top_srcdir/tests/peers/sts_server.py" "$W" "$T/spec" > "$T/server.log" 2>&1 &
SRV_PID=$!
i=0
while [ ! -f "$W/ready" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$SRV_PID" 2>/dev/null; then
		echo "FAIL: the HTTPS servers did not start"; cat "$T/server.log"; exit 1
	fi
	sleep 0.05
done
dns_restart id1

# ---- helpers ------------------------------------------------------------------

cat > "$T/tlsrpt.conf" <<CONF
store_path $T/store.db
organization_name Test Sender
contact_info mailto:tlsrpt@sender.test
resolver 127.0.0.1:53
https_ca_file $P/ca.crt
https_allow_private yes
sts_fetch_timeout 2s
CONF
sed -e "s|$T/store.db|$T/private.db|" -e 's/https_allow_private yes/https_allow_private no/' \
    "$T/tlsrpt.conf" > "$T/private.conf"

T0=1767225600		# 2026-01-01T00:00:00Z
NOW=$T0

# run [CONF] ARGS...: tlsrpt-report policy at $NOW; output in $T/out, $T/err, $T/rc
run() {
	conf=$T/tlsrpt.conf
	case $1 in *.conf) conf=$1; shift ;; esac
	TLSRPT_NOW=$NOW $REPORT -c "$conf" policy "$@" > "$T/out" 2> "$T/err"
	echo $? > "$T/rc"
}

field() {
	sed -n "s/^$1: *//p" "$T/out"
}

sql() {
	sqlite3 -batch -noheader "${2:-$T/store.db}" "$1"
}

hits() {
	grep -c "^mta-sts.$1 " "$W/hits" 2>/dev/null || true
}

assert_prefix() {	# prefix actual what
	TL_CHECKS=$((TL_CHECKS + 1))
	case $2 in
	"$1"*) echo "ok - $3" ;;
	*) echo "FAIL - $3"; echo "  expected: $1..."; echo "  got:      $2"; TL_FAILED=1 ;;
	esac
}

# fetch DOMAIN STATUS ERROR [prefix] [CONF]
fetch() {
	db=$T/store.db
	if [ -n "${5:-}" ]; then run "$5" "$1" --fetch; db=$T/private.db; else run "$1" --fetch; fi
	assert_eq 0 "$(cat "$T/rc")" "$1: exit status"
	assert_eq "$2" "$(field status)" "$1: status"
	if [ "${4:-}" = prefix ]; then
		assert_prefix "$3" "$(field error)" "$1: error"
	else
		assert_eq "$3" "$(field error)" "$1: error"
	fi
	assert_eq "$2|$(field error | sed 's/^-$//')" \
	    "$(sql "select status || '|' || error from sts_policy where domain = '$1'" "$db")" \
	    "$1: stored row"
}

# ---- one fetch per kind of outcome ------------------------------------------------

run unknown.test
assert_eq 66 "$(cat "$T/rc")" "no cached row: exit status 66"
assert_eq "tlsrpt-report: no cached MTA-STS policy for unknown.test (policy unknown.test --fetch looks it up now)" \
    "$(cat "$T/err")" "no cached row: message"

fetch malformed.test invalid 'line 2: mode "enforcing" is not enforce, testing or none'
fetch big.test invalid 'policy larger than 65536 bytes'
fetch html.test invalid 'content type "text/html" is not text/plain'
fetch notype.test invalid 'no content type (text/plain required)'
fetch redirect.test fetch-error 'HTTP 301 (redirects are not followed)'
assert_eq 0 "$(grep -c '^mta-sts.good.test' "$W/hits")" "the redirect was not followed"
fetch missing.test fetch-error 'HTTP 404'
fetch wronghost.test webpki-invalid \
    "SSL: no alternative certificate subject name matches target host name 'mta-sts.wronghost.test'"
fetch untrusted.test webpki-invalid 'SSL certificate problem: self-signed certificate'
fetch expired.test webpki-invalid 'SSL certificate problem: certificate has expired'
fetch closed.test fetch-error 'Failed to connect to mta-sts.closed.test port 443' prefix
fetch nohost.test fetch-error 'policy host mta-sts.nohost.test: NXDOMAIN'
fetch nosts.test none '_mta-sts.nosts.test: NXDOMAIN'
fetch two.test none '_mta-sts.two.test: 2 v=STSv1 records (RFC 8461 requires exactly one)'
fetch badid.test none \
    '_mta-sts.badid.test: invalid v=STSv1 record: bad character in field "id=not-valid"'
fetch spf.test none '_mta-sts.spf.test: no record starting with "v=STSv1" among 1 TXT records'
fetch fail.test temporary '_mta-sts.fail.test: SERVFAIL'
fetch split.test ok '-'
assert_eq split1 "$(field id)" "split.test: TXT strings joined into the id"
fetch good.test fetch-error 'refused to connect to non-public address 127.0.0.11' '' "$T/private.conf"

t0=$(date +%s%N)
fetch slow.test fetch-error 'Operation timed out after' prefix
el=$(( ($(date +%s%N) - t0) / 1000000 ))
max=3500
[ -n "${TLSRPT_VALGRIND:-}" ] && max=20000
assert_eq yes "$([ $el -ge 1500 ] && [ $el -lt $max ] && echo yes || echo "no ($el ms)")" \
    "slow.test: gave up after the 2 s sts_fetch_timeout"

# ---- the cache of one domain over time ---------------------------------------

# 1. first fetch
fetch good.test ok '-'
assert_eq "id1|enforce|86400|mx1.good.test *.mx.good.test" \
    "$(field id)|$(field mode)|$(field max_age)|$(field mx)" "good.test: id, mode, max_age, mx"
assert_eq "2026-01-01T00:00:00Z|2026-01-02T00:00:00Z|2026-01-01T00:00:00Z|2026-01-01T19:12:00Z" \
    "$(field fetched)|$(field expires)|$(field checked)|$(field next_try)" "good.test: times"
assert_eq "policy:
  version: STSv1
  mode: enforce
  mx: mx1.good.test
  mx: *.mx.good.test
  max_age: 86400" "$(sed -n '/^policy:/,$p' "$T/out")" "good.test: the policy lines"
assert_eq '["mx1.good.test","*.mx.good.test"]|enforce|86400' \
    "$(sql "select mx || '|' || mode || '|' || max_age from sts_policy where domain = 'good.test'")" \
    "good.test: stored mx, mode, max_age"
assert_eq 1 "$(hits good.test)" "good.test: one request"

TLSRPT_NOW=$NOW $REPORT -c "$T/tlsrpt.conf" --json policy good.test > "$T/json"
assert_eq "ok id1 enforce 86400 ['mx1.good.test', '*.mx.good.test'] 2026-01-02T00:00:00Z None 5" \
    "$(/usr/bin/python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["status"], d["id"], d["mode"], d["max_age"], d["mx"], d["expires"], d["error"], len(d["policy"]))' \
    "$T/json")" "good.test: --json"

# 2. id unchanged: the policy is not fetched again
printf 'version: STSv1\nmode: testing\nmx: mx2.good.test\nmax_age: 172800\n' > "$W/mta-sts.good.test.policy"
NOW=$((T0 + 3600))
run good.test --refresh
assert_eq "0|ok|id1|enforce|2026-01-01T00:00:00Z|2026-01-01T01:00:00Z|2026-01-01T19:12:00Z|-" \
    "$(cat "$T/rc")|$(field status)|$(field id)|$(field mode)|$(field fetched)|$(field checked)|$(field next_try)|$(field error)" \
    "id unchanged: the cached policy stays, only checked moves"
assert_eq 1 "$(hits good.test)" "id unchanged: no request"

# 3. id changed: the new policy replaces the old one
dns_restart id2
NOW=$((T0 + 7200))
run good.test --refresh
assert_eq "ok|id2|testing|172800|mx2.good.test|2026-01-01T02:00:00Z|2026-01-03T02:00:00Z" \
    "$(field status)|$(field id)|$(field mode)|$(field max_age)|$(field mx)|$(field fetched)|$(field expires)" \
    "id changed: new policy"
assert_eq 2 "$(hits good.test)" "id changed: one more request"

# 4. a failed refresh keeps the policy, records the error, backs off
dns_restart id3
echo 500 > "$W/mta-sts.good.test.behaviour"
NOW=$((T0 + 10800))
run good.test --refresh
assert_eq "ok|id2|testing|2026-01-01T02:00:00Z|2026-01-01T03:00:00Z|2026-01-01T03:05:00Z|HTTP 500" \
    "$(field status)|$(field id)|$(field mode)|$(field fetched)|$(field checked)|$(field next_try)|$(field error)" \
    "failed refresh: the policy stays, retry in 5 min"
assert_eq 3 "$(hits good.test)" "failed refresh: it was tried"
NOW=$((T0 + 11100))
run good.test --fetch
assert_eq "ok|testing|2026-01-01T03:15:00Z|HTTP 500" \
    "$(field status)|$(field mode)|$(field next_try)|$(field error)" \
    "second failure: the policy stays, retry in 10 min"
assert_eq "ok|testing|HTTP 500" \
    "$(sql "select status || '|' || mode || '|' || error from sts_policy where domain = 'good.test'")" \
    "second failure: stored row"

# 5. expiry: without a successful refresh the policy is gone
NOW=$((T0 + 7200 + 172800))
run good.test --refresh
assert_eq "fetch-error|-|-|-|HTTP 500" \
    "$(field status)|$(field mode)|$(field fetched)|$(field policy)|$(field error)" \
    "expired and failing: no policy"
assert_eq "fetch-error||[]||0" \
    "$(sql "select status || '|' || mode || '|' || mx || '|' || policy || '|' || expires from sts_policy where domain = 'good.test'")" \
    "expired and failing: stored row"

# 6. recovery
rm "$W/mta-sts.good.test.behaviour"
NOW=$((NOW + 300))
run good.test --refresh
assert_eq "ok|id3|testing|-" "$(field status)|$(field id)|$(field mode)|$(field error)" \
    "recovered: policy of id3"

tl_done
