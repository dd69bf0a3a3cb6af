#!/bin/sh
# t-stalled-dns: no name server can hang tlsrpt-report or the daemon.
#
# Real peers in a network (and mount) namespace of the test's own: unbound
# serves the zone on 127.0.0.1, and tests/peers/stalled_dns.py on
# 127.0.0.53:53 forwards to it, except for the names it stalls:
#   *.stall.test, mta-sts.hoststall.test  UDP answered with TC set, then
#                                         the TCP query is never answered
#   *.quiet.test                          no answer at all
# /etc/resolv.conf (bind-mounted in the namespace) names 127.0.0.53, so
# both programs find it as an operator's system would, through c-ares'
# reading of resolv.conf; the daemon is also given it as "resolver".
#
#  (a) tlsrpt-report run with five reports whose TLSRPT records must come
#      from the DNS: a.test (mailto) and b.test (https: to a host name in
#      the DNS) are submitted; c.test's https: host is stalled, so that
#      delivery is temporary; stall.test's and quiet.test's records
#      stall, so they stay to be looked up at the next run.  Each run
#      ends within the bound asserted (dns_timeout 2s: discovery and the
#      host lookups take at most 2 s each).  Once the name server
#      answers again, the next run finds both records.  Then the
#      sendmail command hangs: it is killed after sendmail_timeout (2s,
#      its whole process group), that delivery is retried later and the
#      other report mail of the run is deferred, not tried; a run with a
#      working command sends both.
#  (b) tlsrpt-report policy DOMAIN --fetch (sts_fetch_timeout 2s) for a
#      domain whose _mta-sts TXT stalls over TCP, one whose name server
#      is silent, one whose policy host's address stalls: each is a
#      temporary (or fetch) failure within 2 s + 0.7 s; good.test's
#      policy is fetched.
#  (c) the daemon's policy map (sts_fetch_timeout 4s): with the three
#      stalled domains asked first, good.test's policy is fetched and
#      answered while they are still being fetched (four fetch threads),
#      and a stalled domain asked again during its fetch is fetched once.
#
# TLSRPT_VALGRIND=1 runs the programs under valgrind, with looser time
# bounds.  Skips (77) where namespaces, unbound, openssl or python3 are
# missing.  Exit codes follow automake: 0 pass, 1 fail, 77 skip.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
OWN_NETNS_MOUNTS=yes
. "$top_srcdir/tests/peers/own_netns.sh"
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/peers/pki.sh"
. "$top_srcdir/tests/peers/dns_server.sh"

export TZ=UTC LC_ALL=C
PY=/usr/bin/python3
REPORT=$(tl_valgrind "$top_builddir/tlsrpt-report")
SLACK=1500	# ms allowed beyond a deadline: process start, TLS, SQLite
[ -n "${TLSRPT_VALGRIND:-}" ] && SLACK=15000
WEB_PID=
STS_PID=
cleanup() {
	for f in "$T"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	tl_peers_cleanup "stalled_dns:$T/stall.log:30 unbound:$T/unbound.log:10" \
	    $WEB_PID $STS_PID $STALL_PID $DNS_PID
}
trap cleanup EXIT
trap 'exit 1' INT TERM
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
within() {	# within MS MAX WHAT: MS < MAX
	assert_eq yes "$([ "$1" -lt "$2" ] && echo yes || echo "no: $1 ms")" "$3 (less than $2 ms)"
}

# ---- the peers -------------------------------------------------------------------

P=$T/pki W=$T/www
mkdir "$P" "$W" "$T/web" "$T/mail"
if ! pki_make "$P" || ! pki_host "$P" sts mta-sts.good.test mta-sts.hoststall.test ||
    ! pki_host "$P" web reports.b.test reports.stall.test; then
	tail -n 20 "$P/pki.log"; fail "could not make the test PKI"
fi
$PY "$top_srcdir/tests/peers/https_server.py" "$T/web" "$P/web.crt" "$P/web.key" \
    2> "$T/web.log" &
WEB_PID=$!
printf '127.0.0.11 mta-sts.good.test %s/sts.crt %s/sts.key policy\n' "$P" "$P" > "$T/spec"
printf 'version: STSv1\nmode: enforce\nmx: mx1.good.test\nmax_age: 86400\n' \
    > "$W/mta-sts.good.test.policy"
$PY "$top_srcdir/tests/peers/sts_server.py" "$W" "$T/spec" > "$T/sts.log" 2>&1 &
STS_PID=$!
i=0
while [ ! -s "$T/web/port" ] || [ ! -f "$W/ready" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "the HTTPS servers did not start"
	sleep 0.05
done
WP=$(cat "$T/web/port")

cat > "$T/zone" <<ZONE
  local-zone: "test." static
  local-data: '_smtp._tls.ready.test. TXT "v=TLSRPTv1; rua=mailto:r@ready.test"'
  local-data: '_smtp._tls.a.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@a.test"'
  local-data: '_smtp._tls.b.test. TXT "v=TLSRPTv1; rua=https://reports.b.test:$WP/ok-b"'
  local-data: 'reports.b.test. A 127.0.0.1'
  local-data: '_smtp._tls.c.test. TXT "v=TLSRPTv1; rua=https://reports.stall.test:$WP/ok-c"'
  local-data: 'reports.stall.test. A 127.0.0.1'
  local-data: '_smtp._tls.stall.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@stall.test"'
  local-data: '_smtp._tls.quiet.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@quiet.test"'
  local-data: '_mta-sts.good.test. TXT "v=STSv1; id=g1"'
  local-data: 'mta-sts.good.test. A 127.0.0.11'
  local-data: '_mta-sts.stall.test. TXT "v=STSv1; id=s1"'
  local-data: '_mta-sts.quiet.test. TXT "v=STSv1; id=q1"'
  local-data: '_mta-sts.hoststall.test. TXT "v=STSv1; id=h1"'
  local-data: 'mta-sts.hoststall.test. A 127.0.0.12'
ZONE
dns_start "$T" "$T/zone" ready.test || fail "could not start unbound"
STALL_RULES="tc:stall.test silent:quiet.test tc:mta-sts.hoststall.test"
# shellcheck disable=SC2086
stall_start "$T" 127.0.0.53 53 127.0.0.1 "$DNS_PORT" $STALL_RULES ||
    { cat "$T/stall.err"; fail "the stalling name server did not start"; }
echo "nameserver 127.0.0.53" > "$T/resolv.conf"
mount --bind "$T/resolv.conf" /etc/resolv.conf || fail "cannot bind-mount /etc/resolv.conf"
echo "# unbound on 127.0.0.1:$DNS_PORT, stalling forwarder on 127.0.0.53:53, HTTPS on :$WP"

# A sendmail command that keeps each message, and one that hangs (with a
# child of its own, to show that the whole process group is killed).
cat > "$T/sendmail-ok" <<EOF
#!/bin/sh
n=\$(ls "$T/mail" | wc -l)
cat > "$T/mail/\$n.eml"
echo "\$*" > "$T/mail/\$n.args"
EOF
cat > "$T/sendmail-hang" <<EOF
#!/bin/sh
echo \$\$ > "$T/hang-sh.pid"
sleep 600 &
echo \$! > "$T/hang-sleep.pid"
wait
EOF
chmod +x "$T/sendmail-ok" "$T/sendmail-hang"

reporter_conf() {	# reporter_conf SENDMAIL
	tl_conf 'organization_name "Test Sender"' 'contact_info "mailto:tlsrpt@sender.test"' \
	    "https_allow_private yes" "https_ca_file $P/ca.crt" "sendmail_command $T/$1" \
	    "dns_timeout 2s" "sendmail_timeout 2s" "sts_fetch_timeout 2s" \
	    "retry_interval 1m" "give_up_after 1h"
}

# ---- (a) tlsrpt-report run ----------------------------------------------------------

tl_conf
tl_start
for d in a b c stall quiet; do
	printf '{"dpv":"1","d":"%s.test","policies":[{"policy-type":9,"t":0,"f":0}]}\n' "$d"
done > "$T/dg.jsonl"
tl_send -l "$T/dg.jsonl"
tl_stop

NOW=$(( $(date -u +%s) / 86400 * 86400 + 86400 + 7200 ))	# tomorrow 02:00 UTC
run() {	# run TIME: elapsed ms in $EL, exit status in $RC
	t0=$(now_ms)
	TLSRPT_NOW=$1 $REPORT -c "$T/tlsrpt.conf" run > "$T/run.out" 2> "$T/run.err"
	RC=$?
	EL=$(($(now_ms) - t0))
}
state() {	# state DOMAIN: "STATE ATTEMPTS ERROR" of its delivery
	tl_sql "select d.state || ' ' || d.attempts || ' ' || coalesce(d.last_error, '-')
	    from delivery d join report r on r.id = d.report where r.domain = '$1.test'"
}
deliveries() { tl_sql "select count(*) from delivery d join report r on r.id = d.report where r.domain = '$1.test'"; }

reporter_conf sendmail-ok
run $NOW
assert_eq 0 "$RC" "run 1: exit status"
assert_eq "" "$(cat "$T/run.err")" "run 1: nothing on stderr"
assert_grep "^looked up 5 TLSRPT records: 3 found, 0 without, 2 to retry$" "$T/run.out" \
    "run 1: a, b and c found; stall.test and quiet.test to retry"
assert_eq "2 sent, 1 failed (will retry), 0 failed permanently, 0 given up" \
    "$(tail -n 1 "$T/run.out")" "run 1: summary"
assert_eq "sent 1 -" "$(state a)" "a.test: mailed"
assert_eq "sent 1 -" "$(state b)" "b.test: posted to a host name from the DNS"
assert_eq "failed-temporary 1 could not resolve host reports.stall.test: timed out after" \
    "$(state c | sed 's/ [0-9]* ms$//')" "c.test: its https: host stalls, temporary"
assert_eq "0|0" "$(deliveries stall)|$(deliveries quiet)" "stall.test, quiet.test: no destination yet"
assert_eq "1|1" "$(ls "$T/web" | grep -c '^ok-b\.[0-9]*$')|$(ls "$T/mail" | grep -c '\.eml$')" \
    "run 1: one POST, one mail"
assert_grep "^tcp _smtp._tls.stall.test 16 stalled$" "$T/stall.log" \
    "run 1: the TCP retry for _smtp._tls.stall.test reached the stalled server"
assert_grep "^tcp reports.stall.test 1 stalled$" "$T/stall.log" \
    "run 1: the TCP retry for reports.stall.test reached the stalled server"
# discovery (2 s for quiet.test) and the host lookups (stall: < 2 s) in turn
within "$EL" $((2000 + 2000 + SLACK)) "run 1 ended within the two DNS phases"
assert_eq yes "$([ "$EL" -ge 2000 ] && echo yes || echo "no: $EL ms")" \
    "run 1 waited for the silent name server (2000 ms or more)"
echo "# run 1 with stalled name servers: $EL ms"

run $((NOW + 30))
assert_eq 0 "$RC" "run 2: exit status"
assert_grep "^looked up 2 TLSRPT records: 0 found, 0 without, 2 to retry$" "$T/run.out" \
    "run 2: the stalled records are looked up again"
assert_eq "0 sent, 0 failed (will retry), 0 failed permanently, 0 given up" \
    "$(tail -n 1 "$T/run.out")" "run 2: nothing due"
within "$EL" $((2000 + SLACK)) "run 2 ended within one DNS phase"
echo "# run 2: $EL ms"

# ---- (b) tlsrpt-report policy DOMAIN --fetch ----------------------------------------

fetch() {	# fetch DOMAIN: status|error in $GOT, elapsed ms in $EL
	t0=$(now_ms)
	TLSRPT_NOW=$NOW $REPORT -c "$T/tlsrpt.conf" policy "$1" --fetch > "$T/policy.out" 2>&1
	RC=$?
	EL=$(($(now_ms) - t0))
	GOT="$RC|$(sed -n 's/^status: *//p' "$T/policy.out")|$(sed -n 's/^error: *//p' "$T/policy.out" |
	    sed 's/ [0-9]* ms$//')"
}
fetch stall.test
assert_eq "0|temporary|_mta-sts.stall.test: timed out after" "$GOT" \
    "policy stall.test --fetch: temporary (TCP answer stalled)"
within "$EL" $((2000 + SLACK)) "policy stall.test --fetch ended within sts_fetch_timeout"
echo "# policy --fetch, TXT stalled over TCP: $EL ms"
fetch quiet.test
assert_eq "0|temporary|_mta-sts.quiet.test: timed out after" "$GOT" \
    "policy quiet.test --fetch: temporary (no answer)"
within "$EL" $((2000 + SLACK)) "policy quiet.test --fetch ended within sts_fetch_timeout"
echo "# policy --fetch, silent name server: $EL ms"
fetch hoststall.test
assert_eq "0|fetch-error|policy host mta-sts.hoststall.test: timed out after" "$GOT" \
    "policy hoststall.test --fetch: the policy host's address stalls, fetch-error"
within "$EL" $((2000 + SLACK)) "policy hoststall.test --fetch ended within sts_fetch_timeout"
echo "# policy --fetch, policy host stalled: $EL ms"
fetch good.test
assert_eq "0|ok|-" "$GOT" "policy good.test --fetch: ok beside the stalled ones"

# ---- (c) the daemon's policy map ------------------------------------------------------

cp "$T/stall.log" "$T/stall.log.before-c"
tl_conf "store_path $T/pm.db" "policy_map_socket unix:$T/pm.sock" "policy_map_socket_mode 0666" \
    "resolver 127.0.0.53:53" "https_ca_file $P/ca.crt" "https_allow_private yes" \
    "sts_fetch_timeout 4s" "log_level debug"
tl_start
assert_grep "fetch_threads=4" "$T/log" "the policy map has four fetch threads"
lookup() {	# lookup KEY...: one answer per line
	"$PY" "$top_srcdir/tests/netstring_client.py" ask "$T/pm.sock" postfix "$@"
}
t0=$(now_ms)
got=$(lookup quiet.test stall.test hoststall.test good.test | paste -sd '|')
t_first=$(($(now_ms) - t0))
assert_eq "NOTFOUND |NOTFOUND |NOTFOUND |NOTFOUND " "$got" \
    "map: four domains not cached, answered NOTFOUND at once"
within "$t_first" "$SLACK" "map: the first answers did not wait for any fetch"
# good.test's policy arrives while the stalled ones are still being fetched
i=0
while [ "$(lookup good.test)" != "OK secure match=mx1.good.test servername=hostname" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && break
	lookup quiet.test > /dev/null	# asked again during its fetch: not fetched twice
	sleep 0.05
done
t_good=$(($(now_ms) - t0))
assert_eq "OK secure match=mx1.good.test servername=hostname" "$(lookup good.test)" \
    "map: good.test enforced"
within "$t_good" $((1000 + SLACK)) "map: good.test answered while the stalled fetches go on"
tl_wait_for "$T/log" "sts_policy domain=quiet.test " || true
tl_wait_for "$T/log" "sts_policy domain=hoststall.test " || true
t_quiet=$(($(now_ms) - t0))
assert_grep "sts_policy domain=quiet.test result=temporary" "$T/log" \
    "daemon: quiet.test fetched, temporary"
assert_grep "sts_policy domain=stall.test result=temporary" "$T/log" \
    "daemon: stall.test fetched, temporary"
assert_grep "sts_policy domain=hoststall.test result=fetch-error" "$T/log" \
    "daemon: hoststall.test fetched, fetch-error"
within "$t_quiet" $((4000 + SLACK)) "daemon: the stalled fetches ended within sts_fetch_timeout"
assert_eq "good.test quiet.test" \
    "$(sed -n 's/.*sts_policy domain=\(good.test\|quiet.test\) .*/\1/p' "$T/log" | paste -sd ' ')" \
    "daemon: good.test's fetch finished before quiet.test's"
assert_eq 1 "$(grep -c 'sts_policy domain=quiet.test ' "$T/log")" \
    "daemon: quiet.test fetched once although asked again during its fetch"
assert_eq 2 "$(diff "$T/stall.log.before-c" "$T/stall.log" | grep -c '^> udp _mta-sts.quiet.test 16 dropped$')" \
    "daemon: one fetch of quiet.test, c-ares' two tries"
tl_stop
assert_eq 0 "$TL_RC" "daemon: clean stop"
echo "# daemon: good.test enforced after $t_good ms; stalled fetches done after $t_quiet ms"

# ---- (a) continued: the name server answers again; a hung sendmail -----------------

kill "$STALL_PID"; wait "$STALL_PID" 2>/dev/null; STALL_PID=
stall_start "$T" 127.0.0.53 53 127.0.0.1 "$DNS_PORT" || fail "the forwarder did not restart"
reporter_conf sendmail-hang
run $((NOW + 61))
assert_eq 0 "$RC" "run 3: exit status"
assert_grep "^looked up 2 TLSRPT records: 2 found, 0 without, 0 to retry$" "$T/run.out" \
    "run 3: the records that stalled are found now"
assert_grep "^1 report mails deferred to the next run: the sendmail command timed out$" \
    "$T/run.out" "run 3: after the hung sendmail, the other mail is deferred"
assert_eq "1 sent, 1 failed (will retry), 0 failed permanently, 0 given up" \
    "$(tail -n 1 "$T/run.out")" "run 3: summary"
assert_eq "sent 2 -" "$(state c)" "c.test: its https: host resolves now, sent on the retry"
assert_eq "failed-temporary 1 sendmail killed after 2 s|pending 0 -" \
    "$(printf '%s\n%s\n' "$(state stall)" "$(state quiet)" | sort | paste -sd '|')" \
    "run 3: one mail killed with the command (to retry), the other not tried"
assert_eq 1 "$(grep -c ' deferred .*not tried: the sendmail command timed out earlier in this run$' "$T/run.out")" \
    "run 3: the deferred mail is listed"
alive() {	# alive PID: "gone" once it has ended (a zombie not yet reaped counts as ended)
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	case $st in ""|Z|X) echo gone ;; *) echo "running ($st)" ;; esac
}
for f in hang-sh hang-sleep; do
	assert_eq gone "$(alive "$(cat "$T/$f.pid" 2>/dev/null || echo 0)")" \
	    "run 3: the hung command's process group was killed ($f)"
done
within "$EL" $((2000 + SLACK)) "run 3 ended one sendmail_timeout after the hang"
assert_eq yes "$([ "$EL" -ge 2000 ] && echo yes || echo "no: $EL ms")" \
    "run 3 waited the 2 s sendmail_timeout once"
echo "# run 3 with a hung sendmail command: $EL ms"

reporter_conf sendmail-ok
run $((NOW + 200))
assert_eq "2 sent, 0 failed (will retry), 0 failed permanently, 0 given up" \
    "$(tail -n 1 "$T/run.out")" "run 4: both mails sent once the command works"
assert_eq "sent|sent" "$(printf '%s\n%s\n' "$(state stall)" "$(state quiet)" | cut -d' ' -f1 | paste -sd '|')" \
    "run 4: stall.test and quiet.test delivered"
assert_eq 3 "$(ls "$T/mail" | grep -c '\.eml$')" "three report mails in all, none twice"
assert_eq "1|1" "$(ls "$T/web" | grep -c '^ok-b\.[0-9]*$')|$(ls "$T/web" | grep -c '^ok-c\.[0-9]*$')" \
    "one POST each for b.test and c.test"

tl_done
