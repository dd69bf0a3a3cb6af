#!/usr/bin/python3
# An MTA-STS policy host (RFC 8461 3.3) for the tests.
#   sts_policy_server.py --listen ADDR:PORT --cert CERT --key KEY --dir DIR
#                        [--ready FILE] [--lifetime SECONDS]
# Serves GET /.well-known/mta-sts.txt over HTTPS: the body is the file
# DIR/<Host header without port>.txt, sent as text/plain; a host without
# such a file gets 404, any other path 404.  One certificate for every
# host (give it every mta-sts.<domain> name as a subjectAltName).  Each
# request appends "<host> <path> <status>" to DIR/hits.  Writes FILE
# once listening; stops after --lifetime seconds (default 300).
import argparse
import http.server
import os
import ssl
import threading


def main():
    p = argparse.ArgumentParser(description="MTA-STS policy host for the tests")
    p.add_argument("--listen", required=True, help="ADDR:PORT")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--ready")
    p.add_argument("--lifetime", type=float, default=300)
    a = p.parse_args()
    addr, port = a.listen.rsplit(":", 1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def hit(self, host, status):
            with open(os.path.join(a.dir, "hits"), "a") as f:
                f.write("%s %s %d\n" % (host, self.path, status))

        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            path = os.path.join(a.dir, host + ".txt")
            if (self.path != "/.well-known/mta-sts.txt" or "/" in host or
                    not host or not os.path.isfile(path)):
                self.hit(host, 404)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(path, "rb") as f:
                body = f.read()
            self.hit(host, 200)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer((addr, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("ready\n")
    threading.Timer(a.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
