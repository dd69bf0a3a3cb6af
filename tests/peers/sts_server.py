#!/usr/bin/python3
# MTA-STS policy endpoints (RFC 8461 3.3) on loopback for t-sts-fetch.sh.
#   sts_server.py DIR SPEC [PORT]
# SPEC has one line per endpoint, "ADDRESS HOST CERT KEY BEHAVIOUR": an
# HTTPS server on ADDRESS:PORT (443 by default) with that certificate,
# answering GET /.well-known/mta-sts.txt as BEHAVIOUR says, unless the
# file DIR/HOST.behaviour exists: then its content (read per request):
#   policy     200, text/plain; charset=utf-8, the body DIR/HOST.policy
#   html       200, text/html, the same body
#   notype     200 without Content-Type, the same body
#   oversize   200, text/plain, a body of 70000 bytes
#   redirect   301 to https://mta-sts.good.test/.well-known/mta-sts.txt
#   slow       waits 10 s, then as policy
#   NNN        that HTTP status, empty text/plain body
# Other paths get 404.  Every request appends "HOST PATH" to DIR/hits.
# DIR/ready appears once every endpoint listens.  Stops after 600 s (valgrind
# runs of the tests are slow; the tests kill it when they end).
import http.server, os, ssl, sys, threading, time

DIR, SPEC = sys.argv[1], sys.argv[2]
PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 443
POLICY_PATH = "/.well-known/mta-sts.txt"


def behaviour(host, default):
    try:
        with open(os.path.join(DIR, host + ".behaviour")) as f:
            return f.read().strip() or default
    except FileNotFoundError:
        return default


def policy(host):
    with open(os.path.join(DIR, host + ".policy"), "rb") as f:
        return f.read()


def make_handler(host, default):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, code, body=b"", ctype="text/plain", headers=()):
            self.send_response(code)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with open(os.path.join(DIR, "hits"), "a") as f:
                f.write("%s %s\n" % (host, self.path))
            b = behaviour(host, default)
            if self.path != POLICY_PATH:
                self.send(404)
            elif b == "policy":
                self.send(200, policy(host), "text/plain; charset=utf-8")
            elif b == "html":
                self.send(200, policy(host), "text/html")
            elif b == "notype":
                self.send(200, policy(host), None)
            elif b == "oversize":
                self.send(200, b"version: STSv1\nx: " + b"y" * 69980 + b"\n")
            elif b == "redirect":
                self.send(301, b"", "text/plain",
                          [("Location", "https://mta-sts.good.test" + POLICY_PATH)])
            elif b == "slow":
                time.sleep(10)
                try:
                    self.send(200, policy(host), "text/plain")
                except (OSError, ssl.SSLError):
                    pass    # the client gave up long ago, as it should
            elif b.isdigit():
                self.send(int(b))
            else:
                self.send(500)

    return Handler


servers = []
with open(SPEC) as spec:
    for line in spec:
        if not line.strip() or line.startswith("#"):
            continue
        addr, host, cert, key, default = line.split()
        server = http.server.ThreadingHTTPServer((addr, PORT), make_handler(host, default))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        servers.append(server)
for server in servers:
    threading.Thread(target=server.serve_forever, daemon=True).start()
with open(os.path.join(DIR, "ready"), "w") as f:
    f.write("%d\n" % len(servers))
time.sleep(600)
