#!/bin/sh
# Independent check of our DKIM signatures (R21, R36): sign a report-like
# mail with tests/dkim_sign using an RSA 2048 and an Ed25519 key made by
# the openssl command, then verify it with Debian's dkimpy (python3-dkim),
# in plain DKIM mode and in its strict RFC 8460 mode, with the key record
# served by a dnsfunc instead of DNS.  Each check prints "name True|False"
# and the whole list must equal the expected one.
# Exit codes follow automake: 0 pass, 1 fail, 77 skip, 99 hard error.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
SIGN="$top_builddir/tests/dkim_sign"
# Debian's interpreter: a python3 earlier on PATH may lack Debian's modules.
PY=/usr/bin/python3

[ -x "$SIGN" ] || { echo "ERROR: $SIGN not built"; exit 99; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl command not installed"; exit 77; }
$PY -c 'import dkim' 2>/dev/null || { echo "SKIP: $PY cannot import dkim (Debian package python3-dkim)"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-dkim.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/rsa.pem" 2>/dev/null &&
openssl pkey -in "$T/rsa.pem" -pubout -outform DER -out "$T/rsa.der" &&
openssl genpkey -algorithm ED25519 -out "$T/ed25519.pem" &&
openssl pkey -in "$T/ed25519.pem" -pubout -outform DER -out "$T/ed25519.der" ||
	{ echo "ERROR: openssl could not make the keys"; exit 99; }

# A report mail as tlsrpt-report sends it (R20): CRLF, multipart/report.
crlf() { sed 's/$/\r/'; }
crlf > "$T/message" <<'EOF'
From: TLS reports <tlsrpt-noreply@example.com>
To: <tlsrpt@example.net>
Subject: Report Domain: example.net Submitter: example.com
 Report-ID: <2024.09.03T00.00.00Z+example.net@example.com>
Date: Wed, 04 Sep 2024 00:10:00 +0000
Message-ID: <2024.09.03T00.00.00Z+example.net@example.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type="tlsrpt";
	boundary="=_tlsrpt_boundary"
TLS-Report-Domain: example.net
TLS-Report-Submitter: example.com
TLS-Required: No

This is a multipart message in MIME format.

--=_tlsrpt_boundary
Content-Type: text/plain; charset=us-ascii

This is an aggregate TLS report from example.com.   
  It covers   2024-09-03.

--=_tlsrpt_boundary
Content-Type: application/tlsrpt+gzip
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
	filename="example.com!example.net!1725321600!1725407999!1.json.gz"

H4sIAAAAAAAAA6tWyi9KT8zLrEosyczP081LzE1VslJKrUjMLchJ1UvOz1WqBQDSm4IWIwAAAA==

--=_tlsrpt_boundary--


EOF

for k in rsa ed25519; do
	"$SIGN" "$T/$k.pem" example.com tlsrpt 1725408600 < "$T/message" > "$T/signed.$k" ||
		{ echo "FAIL: dkim_sign $k"; exit 1; }
done

# ed25519 verification needs PyNaCl; without it only RSA is checked.
KEYS="rsa ed25519"
$PY -c 'import nacl.signing' 2>/dev/null || KEYS=rsa

$PY - "$T" $KEYS > "$T/got" 2> "$T/py.err" <<'EOF'
import sys
import dkim
from dkim.util import parse_tag_value

tmp, keys = sys.argv[1], sys.argv[2:]
NAME = b"tlsrpt._domainkey.example.com."

def record(kind, service):
    der = open("%s/%s.der" % (tmp, kind), "rb").read()
    # RSA: the SubjectPublicKeyInfo; Ed25519: the raw 32-byte key (RFC 8463).
    p = der[-32:] if kind == "ed25519" else der
    rec = b"v=DKIM1; k=" + kind.encode() + b"; "
    if service:
        rec += b"s=" + service.encode() + b"; "
    import base64
    return rec + b"p=" + base64.b64encode(p)

def verify(msg, kind, service, tlsrpt):
    def dnsfunc(name, timeout=5):
        if name != NAME:
            raise Exception("unexpected lookup %r" % name)
        return record(kind, service)
    return dkim.verify(msg, dnsfunc=dnsfunc, tlsrpt=tlsrpt)

def signature_tags(msg):
    lines = msg.split(b"\r\n")
    assert lines[0].startswith(b"DKIM-Signature:")
    field = lines[0]
    for line in lines[1:]:
        if not line[:1] in (b" ", b"\t"):
            break
        field += line
    return parse_tag_value(field.split(b":", 1)[1])

for kind in keys:
    msg = open("%s/signed.%s" % (tmp, kind), "rb").read()
    tags = signature_tags(msg)
    signed = [h.strip().lower() for h in tags[b"h"].split(b":")]
    alg = b"ed25519-sha256" if kind == "ed25519" else b"rsa-sha256"
    def show(name, ok):
        print("%s %s %s" % (kind, name, ok))

    show("tags", tags[b"a"] == alg and tags[b"c"] == b"relaxed/relaxed"
         and tags[b"d"] == b"example.com" and tags[b"s"] == b"tlsrpt"
         and tags[b"t"] == b"1725408600" and b"l" not in tags)
    show("signs-tls-report-headers", b"tls-report-domain" in signed
         and b"tls-report-submitter" in signed)
    show("plain", verify(msg, kind, None, False))
    show("tlsrpt", verify(msg, kind, "tlsrpt", True))
    show("tlsrpt-strict", verify(msg, kind, "tlsrpt", "strict"))
    show("tlsrpt-strict-star", verify(msg, kind, "*", "strict"))
    show("tlsrpt-strict-email", verify(msg, kind, "email", "strict"))
    show("unsigned-header-added",
         verify(b"Received: from x by y; Wed, 04 Sep 2024 00:10:01 +0000\r\n" + msg,
                kind, "tlsrpt", "strict"))
    show("body-changed",
         verify(msg.replace(b"1.json.gz", b"2.json.gz"), kind, "tlsrpt", "strict"))
    show("body-appended",
         verify(msg + b"more\r\n", kind, "tlsrpt", "strict"))
    show("subject-changed",
         verify(msg.replace(b"Subject: Report", b"Subject: report"), kind, "tlsrpt", "strict"))
    show("report-domain-changed",
         verify(msg.replace(b"TLS-Report-Domain: example.net", b"TLS-Report-Domain: example.org"),
                kind, "tlsrpt", "strict"))
    show("whitespace-changed",
         verify(msg.replace(b"\r\n Report-ID:", b"\r\n\t  Report-ID:")
                .replace(b"Content-Type: multipart", b"Content-Type:\t multipart")
                .replace(b"covers   2024", b"covers 2024"),
                kind, "tlsrpt", "strict"))
EOF
rc=$?
[ $rc -eq 0 ] || { echo "ERROR: the python check failed ($rc)"; cat "$T/py.err"; exit 99; }

: > "$T/want"
for k in $KEYS; do
	cat >> "$T/want" <<EOF
$k tags True
$k signs-tls-report-headers True
$k plain True
$k tlsrpt True
$k tlsrpt-strict True
$k tlsrpt-strict-star False
$k tlsrpt-strict-email False
$k unsigned-header-added True
$k body-changed False
$k body-appended False
$k subject-changed False
$k report-domain-changed False
$k whitespace-changed True
EOF
done

if ! diff -u "$T/want" "$T/got"; then
	echo "FAIL: dkimpy results differ from the expected ones (- expected, + got)"
	echo "---- signed message (rsa) ----"; head -n 12 "$T/signed.rsa"
	exit 1
fi
echo "PASS: $(wc -l < "$T/got") dkimpy checks ($KEYS)"
if [ "$KEYS" = rsa ]; then
	echo "SKIP: ed25519 not verified: $PY cannot import nacl (Debian package python3-nacl)"
	exit 77
fi
exit 0
