#!/bin/sh
# tlsrpt-report run end to end with real peers on loopback: the daemon
# records sessions for four domains whose TLSRPT records point at a real
# HTTPS server (test CA) and, by mail, at a real SMTP server reached
# through a real sendmail-compatible client (msmtp).  Then:
#  - a domain whose record the MTA did not pass gets it from a real DNS
#    server (unbound) on loopback; one without a record gets a note;
#  - the first run delivers what can be delivered (HTTPS 200, mail) and
#    records the failures in their states (HTTP 500 temporary, redirect
#    permanent);
#  - a second run sends nothing twice;
#  - once the failing endpoint recovers, a run after the back-off delivers
#    it exactly once;
#  - what arrived is byte-identical to the stored report, and the report
#    mail's DKIM signature verifies with an independent verifier (dkimpy,
#    in its RFC 8460 mode).
. "${top_srcdir:-.}/tests/lib.sh"
REPORT="$top_builddir/tlsrpt-report"
PY=/usr/bin/python3
for need in openssl msmtp; do
	command -v $need >/dev/null || { echo "SKIP: $need not installed"; exit 77; }
done
$PY -c 'import aiosmtpd, dkim' 2>/dev/null || { echo "SKIP: Debian's python3-aiosmtpd and python3-dkim are needed"; exit 77; }
. "$top_srcdir/tests/peers/dns_server.sh"

# --- a test CA, a server certificate for localhost, a DKIM key ---------------
cd "$T" || exit 99
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 \
	-subj "/CN=tlsrpt test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
	-days 2 -extfile san.ext 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.key 2>/dev/null
openssl rsa -in dkim.key -pubout -outform DER 2>/dev/null | base64 -w0 > dkim.pub
cd - >/dev/null || exit 99

# --- the peers -------------------------------------------------------------
mkdir "$T/web" "$T/mx"
$PY "$top_srcdir/tests/peers/https_server.py" "$T/web" "$T/srv.pem" "$T/srv.key" &
WEB=$!
$PY "$top_srcdir/tests/peers/smtp_sink.py" "$T/mx" &
MX=$!
trap 'kill $WEB $MX $DNS_PID 2>/dev/null; tl_cleanup' EXIT
tl_wait_for_file() { i=0; while [ ! -s "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done; [ -s "$1" ]; }
tl_wait_for_file "$T/web/port" || { echo "FAIL: HTTPS server did not start"; exit 1; }
tl_wait_for_file "$T/mx/port" || { echo "FAIL: SMTP server did not start"; exit 1; }
WP=$(cat "$T/web/port"); MP=$(cat "$T/mx/port")
mkdir "$T/dns"
cat > "$T/dns/zone" <<ZONE
  local-zone: "example." static
  local-data: '_smtp._tls.e.example. TXT "v=TLSRPTv1; rua=https://127.0.0.1:$WP/ok-e"'
  local-data: '_smtp._tls.ready.example. TXT "v=TLSRPTv1; rua=mailto:r@ready.example"'
ZONE
dns_start "$T/dns" "$T/dns/zone" ready.example || { echo "SKIP: cannot start unbound (Debian package unbound)"; exit 77; }

# --- record sessions -----------------------------------------------------------
tl_conf 'organization_name "Test Sender"' 'contact_info "mailto:tlsrpt@sender.example"' \
	"https_allow_private yes" "https_ca_file $T/ca.pem" \
	"sendmail_command \"/usr/bin/msmtp --host=127.0.0.1 --port=$MP\"" \
	"dkim_key_file $T/dkim.key" "dkim_selector tlsrpt1" \
	"retry_interval 1m" "give_up_after 1h" "resolver 127.0.0.1:$DNS_PORT"
tl_start
for d in a b c; do
	case $d in
	a) rua="https://127.0.0.1:$WP/ok,mailto:tlsrpt@a.example" ;;
	b) rua="https://127.0.0.1:$WP/flaky" ;;
	c) rua="https://127.0.0.1:$WP/redirect" ;;
	esac
	printf '{"dpv":"1","d":"%s.example","pr":"v=TLSRPTv1; rua=%s","policies":[{"policy-type":9,"t":0,"f":0}]}\n' "$d" "$rua"
done > "$T/dg.jsonl"
# no "pr": the record must come from the DNS (e has one, f has none)
for d in e f; do
	printf '{"dpv":"1","d":"%s.example","policies":[{"policy-type":9,"t":0,"f":0}]}\n' "$d"
done >> "$T/dg.jsonl"
tl_send -l "$T/dg.jsonl"
tl_stop

NOW=$(( $(date -u +%s) / 86400 * 86400 + 86400 + 7200 ))	# tomorrow 02:00 UTC
run() { TLSRPT_NOW=$1 $REPORT -c "$T/tlsrpt.conf" run > "$T/run.out" 2> "$T/run.err"; echo $?; }
state() { tl_sql "select d.state || ' ' || d.attempts from delivery d join report r on r.id = d.report where r.domain = '$1.example' and d.destination like '$2%'"; }

# --- first run -----------------------------------------------------------------
assert_eq 0 "$(run $NOW)" "first run exits 0"
assert_eq "3 sent, 1 failed (will retry), 1 failed permanently, 0 given up" "$(tail -n 1 "$T/run.out")" "first run summary"
assert_grep "^looked up 2 TLSRPT records: 1 found, 1 without, 0 to retry$" "$T/run.out" "records looked up in the DNS"
assert_eq "sent 1" "$(state e https)" "e.example: destination from the DNS, sent"
assert_eq "v=TLSRPTv1; rua=https://127.0.0.1:$WP/ok-e" "$(tl_sql "select record from report where domain = 'e.example'")" "e.example: the looked-up record is kept"
assert_eq "|NXDOMAIN" "$(tl_sql "select record || '|' || note from report where domain = 'f.example'")" "f.example: no record, noted, not looked up again"
assert_eq 0 "$(tl_sql "select count(*) from delivery d join report r on r.id = d.report where r.domain = 'f.example'")" "f.example: no delivery"
assert_eq "sent 1" "$(state a https)" "a.example https: sent"
assert_eq "sent 1" "$(state a mailto)" "a.example mailto: sent"
assert_eq "failed-temporary 1" "$(state b https)" "b.example: HTTP 500 is temporary"
assert_eq "$((NOW + 60))" "$(tl_sql "select next_try from delivery d join report r on r.id = d.report where r.domain = 'b.example'")" "b.example: next try after retry_interval"
assert_eq "failed-permanent 1" "$(state c https)" "c.example: a redirect is permanent"
assert_eq "HTTP 302 (redirects are not followed)" "$(tl_sql "select last_error from delivery d join report r on r.id = d.report where r.domain = 'c.example'")" "c.example: error says why"
assert_eq "/flaky
/ok
/ok-e
/redirect" "$(sort "$T/web/hits")" "each endpoint hit once"
assert_eq 1 "$(grep -c '^/ok$' "$T/web/hits")" "the redirect target was never requested by the client"

# the POSTed body is the stored gzip, with the right media type
tl_sql "select writefile('$T/a.gz', gzip) from report where domain = 'a.example'" >/dev/null
assert_eq "$(od -An -tx1 "$T/a.gz" | tr -d ' \n')" "$(od -An -tx1 "$T/web/ok.1" | tr -d ' \n')" "POSTed body == stored gzip"
assert_eq "application/tlsrpt+gzip" "$(cat "$T/web/ok.1.type")" "Content-Type of the POST"

# --- second run: nothing twice -------------------------------------------------
assert_eq 0 "$(run $NOW)" "second run exits 0"
assert_eq "0 sent, 0 failed (will retry), 0 failed permanently, 0 given up" "$(tail -n 1 "$T/run.out")" "second run sends nothing"
assert_eq 4 "$(wc -l < "$T/web/hits")" "no new HTTPS requests"
assert_eq 1 "$(tl_sql "select count(*) from report where domain = 'f.example' and record = ''")" "f.example not looked up again"
assert_eq 1 "$(ls "$T/mx" | grep -c '\.eml$')" "one mail only"

# --- the endpoint recovers -----------------------------------------------------
touch "$T/web/flaky.up"
assert_eq 0 "$(run $((NOW + 30)))" "run before the next try"
assert_eq "0 sent, 0 failed (will retry), 0 failed permanently, 0 given up" "$(tail -n 1 "$T/run.out")" "not due yet: nothing tried"
assert_eq 0 "$(run $((NOW + 61)))" "run after the back-off"
assert_eq "1 sent, 0 failed (will retry), 0 failed permanently, 0 given up" "$(tail -n 1 "$T/run.out")" "the recovered endpoint gets its report"
assert_eq "sent 2" "$(state b https)" "b.example: sent on the second attempt"
assert_eq 1 "$(ls "$T/web" | grep -c '^flaky\.[0-9]*$')" "delivered exactly once"
assert_eq 0 "$(run $((NOW + 3600)))" "a later run"
assert_eq 5 "$(wc -l < "$T/web/hits")" "and nothing more is sent"

# --- two runs never overlap ---------------------------------------------------------
if command -v flock >/dev/null; then
	flock "$T/store.db.run-lock" sleep 3 &
	HOLDER=$!
	sleep 0.3
	TLSRPT_NOW=$NOW $REPORT -c "$T/tlsrpt.conf" run > "$T/run.out" 2> "$T/run.err"; rc=$?
	assert_eq 75 "$rc" "a run while another holds the lock exits EX_TEMPFAIL"
	assert_eq "tlsrpt-report: another run is in progress ($T/store.db.run-lock is locked)" "$(cat "$T/run.err")" "and says why"
	kill $HOLDER 2>/dev/null; wait $HOLDER 2>/dev/null
fi

# --- the mail --------------------------------------------------------------------
tl_sql "select json from report where domain = 'a.example'" > "$T/a.json"
printf '%s' "$(cat "$T/a.json")" > "$T/a.json.exact"
assert_eq "noreply-tlsrpt@sender.example
tlsrpt@a.example" "$(cat "$T/mx/mail.1.env")" "envelope sender and recipient"
$PY - "$T/mx/mail.1.eml" "$T/a.json.exact" "$(cat "$T/dkim.pub")" "$NOW" > "$T/mail.check" 2>&1 <<'PYEOF'
import email, email.policy, gzip, sys, time, dkim
raw = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()
pub = sys.argv[3]
# the run signed at its TLSRPT_NOW (tomorrow 02:00): dkimpy refuses a t=
# more than 10 h after its own clock, so it verifies at the run's time
run_now = int(sys.argv[4])
time.time = lambda: run_now
msg = email.message_from_bytes(raw, policy=email.policy.default)
print("subject", msg["Subject"])
print("domain", msg["TLS-Report-Domain"], "submitter", msg["TLS-Report-Submitter"], "tls-required", msg["TLS-Required"])
print("type", msg.get_content_type(), msg.get_param("report-type"))
parts = [p for p in msg.walk() if not p.is_multipart()]
att = parts[-1]
print("attachment", att.get_content_type(), att.get_filename())
print("json-equal", gzip.decompress(att.get_payload(decode=True)) == want)
# dkimpy: plain mode wants a key record without s=tlsrpt, its strict
# RFC 8460 mode one with it (R36: a selector of its own)
def dns_for(service):
    def dns(name, timeout=5):
        if name == b"tlsrpt1._domainkey.sender.example.":
            return ("v=DKIM1; k=rsa;%s p=%s" % (service, pub)).encode()
        return None
    return dns
print("dkim", dkim.verify(raw, dnsfunc=dns_for("")))
d = dkim.DKIM(raw, tlsrpt="strict")
print("dkim-tlsrpt-strict", d.verify(dnsfunc=dns_for(" s=tlsrpt;")))
tampered = raw.replace(b"TLS-Report-Domain: a.example", b"TLS-Report-Domain: b.example", 1)
print("dkim-tampered", dkim.DKIM(tampered, tlsrpt="strict").verify(dnsfunc=dns_for(" s=tlsrpt;")))
PYEOF
DAY=$(date -u +%Y.%m.%d)
START=$(( $(date -u +%s) / 86400 * 86400 ))
assert_eq "subject Report Domain: a.example Submitter: sender.example Report-ID: <${DAY}T00.00.00Z+a.example@sender.example>
domain a.example submitter sender.example tls-required No
type multipart/report tlsrpt
attachment application/tlsrpt+gzip sender.example!a.example!$START!$((START + 86399))!001.json.gz
json-equal True
dkim True
dkim-tlsrpt-strict True
dkim-tampered False" "$(cat "$T/mail.check")" "report mail: headers, attachment == stored JSON, DKIM verifies (also in dkimpy's strict TLSRPT mode)"
tl_done
