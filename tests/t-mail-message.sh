#!/bin/sh
# The report mail through a real SMTP server (RFC 8460 section 5.3;
# checklist R17-R20, R22, R26-R27): tests/mail_build builds the message
# from a gzipped JSON report, curl (or Python's smtplib) submits it to an
# aiosmtpd sink on loopback, and Python's email package parses what the
# sink received: exact Subject and TLS-Report-* fields, TLS-Required,
# multipart/report with report-type=tlsrpt, the two parts, the
# attachment's type and file name, and a payload that gunzips to the
# identical JSON bytes.
#
# Needs Debian's /usr/bin/python3 with python3-aiosmtpd (not the python3
# first on PATH, which may lack Debian's modules); skipped otherwise.

. "${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}/tests/lib.sh"

PY=/usr/bin/python3
MAIL_BUILD="$top_builddir/tests/mail_build"
if ! [ -x "$PY" ] || ! "$PY" -c 'import aiosmtpd.controller' 2>/dev/null; then
	echo "SKIP: /usr/bin/python3 with aiosmtpd needed (Debian package python3-aiosmtpd)"
	exit 77
fi
command -v gzip >/dev/null 2>&1 || { echo "SKIP: gzip command not installed"; exit 77; }

SINK_PID=
mm_cleanup() {
	if [ -n "$SINK_PID" ] && kill -0 "$SINK_PID" 2>/dev/null; then
		kill -TERM "$SINK_PID" 2>/dev/null
		i=0
		while kill -0 "$SINK_PID" 2>/dev/null && [ $i -lt 50 ]; do
			i=$((i + 1)); sleep 0.1
		done
		kill -KILL "$SINK_PID" 2>/dev/null
	fi
	if [ "$TL_FAILED" -ne 0 ] && [ -f "$T/sink.log" ]; then
		echo "---- sink log ----"; tail -n 20 "$T/sink.log"
	fi
	tl_cleanup
}
trap mm_cleanup EXIT
trap 'exit 99' HUP INT TERM PIPE	# so the EXIT trap runs on a signal too

# ---- the SMTP sink: saves each message as msgN.eml, its envelope as msgN.env
mkdir "$T/sink"
cat > "$T/sink.py" <<'EOF'
import os, socket, sys, time
from aiosmtpd.controller import Controller

out = sys.argv[1]

class Saver:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Saver.n += 1
        base = os.path.join(out, "msg%d" % Saver.n)
        with open(base + ".env", "w") as f:
            f.write(envelope.mail_from + "\n" + "\n".join(envelope.rcpt_tos) + "\n")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 saved"

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
c = Controller(Saver(), hostname="127.0.0.1", port=port)
c.start()
with open(os.path.join(out, "port.tmp"), "w") as f:
    f.write("%d\n" % port)
os.rename(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
time.sleep(120)        # never outlive a hung test run
c.stop()
EOF
"$PY" "$T/sink.py" "$T/sink" > "$T/sink.log" 2>&1 &
SINK_PID=$!
i=0
while ! [ -s "$T/sink/port" ]; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 "$SINK_PID" 2>/dev/null; then
		echo "FAIL: SMTP sink did not start within 10 s"; TL_FAILED=1; exit 1
	fi
	sleep 0.1
done
PORT=$(cat "$T/sink/port")

# ---- a real report, gzipped
FROM=tlsrpt-noreply@sender.example
RCPT=tls-reports@example.com
DOMAIN=example.com
SUBMITTER=sender.example
REPORT_ID=2024.09.03T00.00.00Z+example.com@sender.example
FILE_NAME='sender.example!example.com!1725321600!1725407999!001.json.gz'
printf '%s' '{"organization-name":"Sender Example","date-range":{"start-datetime":"2024-09-03T00:00:00Z","end-datetime":"2024-09-03T23:59:59Z"},"contact-info":"tlsrpt-noreply@sender.example","report-id":"2024.09.03T00.00.00Z+example.com@sender.example","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx.example.com","max_age: 86400"],"policy-domain":"example.com","mx-host":["mx.example.com"]},"summary":{"total-successful-session-count":12,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.25","receiving-mx-hostname":"mx.example.com","receiving-ip":"198.51.100.7","failed-session-count":1}]}]}' > "$T/report.json"
gzip -n -c "$T/report.json" > "$T/report.json.gz"

if ! "$MAIL_BUILD" "$FROM" "$RCPT" "$DOMAIN" "$SUBMITTER" "$REPORT_ID" 1725321600 1725422000 \
    "Sender Example" < "$T/report.json.gz" > "$T/message" 2> "$T/build.err"; then
	echo "FAIL: mail_build: $(cat "$T/build.err")"; TL_FAILED=1; exit 1
fi

# ---- submit it over SMTP
if command -v curl >/dev/null 2>&1; then
	CLIENT=curl
	curl -sS --max-time 20 --mail-from "$FROM" --mail-rcpt "$RCPT" \
	    --upload-file "$T/message" "smtp://127.0.0.1:$PORT/tlsrpt.test" > "$T/client.log" 2>&1
	RC=$?
else
	CLIENT=smtplib
	"$PY" - "$PORT" "$FROM" "$RCPT" "$T/message" > "$T/client.log" 2>&1 <<'EOF'
import smtplib, sys
port, mail_from, rcpt, path = sys.argv[1:5]
with smtplib.SMTP("127.0.0.1", int(port), timeout=20) as s:
    s.sendmail(mail_from, [rcpt], open(path, "rb").read())
EOF
	RC=$?
fi
assert_eq 0 "$RC" "submission with $CLIENT accepted $(cat "$T/client.log")"
i=0
while ! [ -f "$T/sink/msg1.eml" ] && [ $i -lt 100 ]; do
	i=$((i + 1)); sleep 0.1
done
if ! [ -f "$T/sink/msg1.eml" ]; then
	echo "FAIL: the sink received no message within 10 s"; TL_FAILED=1; exit 1
fi
assert_eq "$(printf '%s\n%s' "$FROM" "$RCPT")" "$(cat "$T/sink/msg1.env")" "envelope sender and recipient"
TL_CHECKS=$((TL_CHECKS + 1))
if cmp -s "$T/message" "$T/sink/msg1.eml"; then
	echo "ok - received message is byte-identical to the built one"
else
	echo "FAIL - received message differs from the built one"; TL_FAILED=1
fi

# ---- parse what arrived
"$PY" - "$T/sink/msg1.eml" "$T/payload.json" > "$T/parsed" 2> "$T/parse.err" <<'EOF'
import email, email.policy, gzip, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
print("subject=%s" % msg["Subject"])
print("from=%s" % msg["From"])
print("to=%s" % msg["To"])
print("date=%s" % msg["Date"])
print("tls-report-domain=%s" % msg["TLS-Report-Domain"])
print("tls-report-submitter=%s" % msg["TLS-Report-Submitter"])
print("tls-required=%s" % msg["TLS-Required"])
print("mime-version=%s" % msg["MIME-Version"])
print("type=%s" % msg.get_content_type())
print("report-type=%s" % msg.get_param("report-type"))
parts = list(msg.iter_parts())
print("parts=%d" % len(parts))
print("part1=%s charset=%s" % (parts[0].get_content_type(), parts[0].get_content_charset()))
print("text=%s" % parts[0].get_content().splitlines()[0])
att = parts[-1]
print("part2=%s" % att.get_content_type())
print("disposition=%s" % att.get_content_disposition())
print("filename=%s" % att.get_filename())
print("name=%s" % att.get_param("name"))
print("encoding=%s" % att["Content-Transfer-Encoding"])
defects = list(msg.defects) + [d for p in parts for d in p.defects]
print("defects=%d" % len(defects))
open(sys.argv[2], "wb").write(gzip.decompress(att.get_payload(decode=True)))
EOF
assert_eq 0 "$?" "the received message parses $(cat "$T/parse.err")"
get() { sed -n "s/^$1=//p" "$T/parsed"; }
assert_eq "Report Domain: example.com Submitter: sender.example Report-ID: <$REPORT_ID>" "$(get subject)" "R20 Subject"
assert_eq "Sender Example <$FROM>" "$(get from)" "From with display name"
assert_eq "$RCPT" "$(get to)" "To"
assert_eq "Wed, 04 Sep 2024 03:53:20 +0000" "$(get date)" "Date in UTC"
assert_eq "$DOMAIN" "$(get tls-report-domain)" "R20 TLS-Report-Domain"
assert_eq "$SUBMITTER" "$(get tls-report-submitter)" "R20 TLS-Report-Submitter"
assert_eq "No" "$(get tls-required)" "R22 TLS-Required: No"
assert_eq "1.0" "$(get mime-version)" "MIME-Version"
assert_eq "multipart/report" "$(get type)" "R19 multipart/report"
assert_eq "tlsrpt" "$(get report-type)" "R19 report-type=tlsrpt"
assert_eq "2" "$(get parts)" "two parts"
assert_eq "text/plain charset=us-ascii" "$(get part1)" "first part is the human text"
assert_eq "This is an aggregate TLS report from sender.example for example.com, 2024-09-03." "$(get text)" "human text"
assert_eq "application/tlsrpt+gzip" "$(get part2)" "R18 attachment type"
assert_eq "attachment" "$(get disposition)" "attachment disposition"
assert_eq "$FILE_NAME" "$(get filename)" "R17 file name (Content-Disposition)"
assert_eq "$FILE_NAME" "$(get name)" "R17 file name (Content-Type name)"
assert_eq "base64" "$(get encoding)" "base64 transfer encoding"
assert_eq "0" "$(get defects)" "no MIME defects"
TL_CHECKS=$((TL_CHECKS + 1))
if cmp -s "$T/report.json" "$T/payload.json"; then
	echo "ok - the attachment gunzips to the identical JSON bytes"
else
	echo "FAIL - the attachment does not gunzip to the report JSON"; TL_FAILED=1
fi

# ---- header injection is refused by the builder, not passed to SMTP
if "$MAIL_BUILD" "$FROM" "$(printf 'a@b.example\r\nBcc: x@y.example')" "$DOMAIN" "$SUBMITTER" \
    "$REPORT_ID" 1725321600 1725422000 < "$T/report.json.gz" > "$T/bad" 2> "$T/bad.err"; then
	RC=0
else
	RC=$?
fi
assert_eq "1|mail_build: to: contains a control character" "$RC|$(cat "$T/bad.err")" "injected To refused"

tl_done
