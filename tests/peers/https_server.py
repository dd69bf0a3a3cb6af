#!/usr/bin/python3
# A real HTTPS endpoint on loopback for the submission tests.
#   https_server.py DIR CERT KEY
# Listens on 127.0.0.1, an ephemeral port written to DIR/port.  POST:
#   /ok        stores the body as DIR/ok.N (and its Content-Type as
#              DIR/ok.N.type), answers 200; /ok-NAME the same as ok-NAME.N
#   /flaky     500 until DIR/flaky.up exists, then like /ok (as flaky.N)
#   /redirect  302 to /ok (a client must not follow it)
# Every request appends its path to DIR/hits.  Stops after 300 s at most.
import http.server, os, ssl, sys, threading

DIR, CERT, KEY = sys.argv[1], sys.argv[2], sys.argv[3]


def store(prefix, body, ctype):
    n = len([f for f in os.listdir(DIR) if f.startswith(prefix + ".") and not f.endswith(".type")])
    with open(os.path.join(DIR, "%s.%d" % (prefix, n + 1)), "wb") as f:
        f.write(body)
    with open(os.path.join(DIR, "%s.%d.type" % (prefix, n + 1)), "w") as f:
        f.write(ctype or "")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with open(os.path.join(DIR, "hits"), "a") as f:
            f.write(self.path + "\n")
        ctype = self.headers.get("Content-Type")
        if self.path == "/ok" or (self.path.startswith("/ok-") and self.path[4:].isalnum()):
            store(self.path[1:], body, ctype)
            self.answer(200)
        elif self.path == "/flaky":
            if os.path.exists(os.path.join(DIR, "flaky.up")):
                store("flaky", body, ctype)
                self.answer(200)
            else:
                self.answer(500)
        elif self.path == "/redirect":
            self.answer(302, [("Location", "/ok")])
        else:
            self.answer(404)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
threading.Timer(300, server.shutdown).start()
server.serve_forever()
