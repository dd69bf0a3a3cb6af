#!/usr/bin/python3
# A receiving SMTP server for the end-to-end tests (Python stdlib only).
#
#   tls_receiver.py --listen IP:PORT (--cert F --key F | --no-starttls)
#                   --dir DIR --ready FILE [--lifetime SECONDS]
#                   [--timing] [--mail-pause SECONDS]
#
# Speaks enough ESMTP for Postfix and Sendmail as clients (EHLO/HELO,
# PIPELINING, 8BITMIME, SIZE, STARTTLS, MAIL, RCPT, DATA, RSET, NOOP,
# QUIT).  STARTTLS is offered only with --cert/--key, and only before
# TLS is on.  Each accepted message is written to DIR/mail.N.eml (the
# message as received, dot-unstuffed) with its envelope in DIR/mail.N.env
# ("MAIL FROM" on line 1, recipients on line 2, "tls=yes|no" on line 3),
# and each connection adds one line to DIR/sessions.log when it ends:
#   conn=N peer=IP tls=yes|no|failed messages=M rcpts=a@x,b@y
# so a test can check what the receiver saw independently of any log of
# the sender.  With --timing the line also has "start=T secs=S" before
# rcpts= (T the epoch second the connection was accepted, S how long it
# lasted, both to the millisecond).  With --mail-pause the answer to
# each MAIL comes SECONDS late; DIR/mail-paused.N (N the connection) is
# created when the pause begins, so that a test can act inside it.
# FILE is written once the socket listens.  The process
# exits after --lifetime seconds (default 120) whatever happens.
import argparse
import os
import socket
import ssl
import sys
import threading
import time

MAX_LINE = 4096
MAX_MESSAGE = 10 * 1024 * 1024


class Conn:
    def __init__(self, server, sock, peer, n):
        self.server = server
        self.sock = sock
        self.peer = peer
        self.n = n
        self.buf = b""
        self.tls = "no"
        self.messages = 0
        self.all_rcpts = []
        self.started = time.time()
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpts = []

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def read_line(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read_data(self):
        lines = []
        size = 0
        while True:
            line = self.read_line()
            if line is None:
                return None
            if line == ".":
                return "\r\n".join(lines) + "\r\n" if lines else ""
            if line.startswith("."):
                line = line[1:]
            size += len(line) + 2
            if size > MAX_MESSAGE:
                raise ValueError("message too big")
            lines.append(line)

    def ehlo(self, arg):
        ext = ["PIPELINING", "SIZE %d" % MAX_MESSAGE, "8BITMIME"]
        if self.server.context is not None and self.tls == "no":
            ext.append("STARTTLS")
        lines = [self.server.name + " hello " + arg] + ext
        for i, l in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.send("250" + sep + l)

    def starttls(self):
        if self.server.context is None or self.tls != "no":
            self.send("502 5.5.1 STARTTLS not available")
            return True
        if self.buf:
            # RFC 3207: nothing may follow STARTTLS in the same packet
            self.send("501 5.5.2 data after STARTTLS")
            self.buf = b""
            return True
        self.send("220 2.0.0 Ready to start TLS")
        try:
            self.sock = self.server.context.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.tls = "failed"
            self.server.log("conn=%d TLS handshake failed: %s" % (self.n, e))
            return False
        self.tls = "yes"
        self.reset()
        return True

    def store(self, content):
        with self.server.lock:
            self.server.count += 1
            k = self.server.count
        base = os.path.join(self.server.dir, "mail.%d" % k)
        with open(base + ".env.tmp", "w") as f:
            f.write("%s\n%s\ntls=%s\n" % (self.mail_from, " ".join(self.rcpts), self.tls))
        with open(base + ".eml.tmp", "w", newline="") as f:
            f.write(content)
        os.rename(base + ".env.tmp", base + ".env")
        os.rename(base + ".eml.tmp", base + ".eml")
        self.messages += 1
        self.all_rcpts.extend(self.rcpts)

    def run(self):
        self.send("220 %s ESMTP test receiver" % self.server.name)
        while True:
            line = self.read_line()
            if line is None:
                return
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self.reset()
                if verb == "EHLO":
                    self.ehlo(arg)
                else:
                    self.send("250 " + self.server.name)
            elif verb == "STARTTLS":
                if not self.starttls():
                    return
            elif verb == "MAIL":
                if not arg.upper().startswith("FROM:"):
                    self.send("501 5.5.4 syntax: MAIL FROM:<address>")
                    continue
                self.reset()
                self.mail_from = arg[5:].strip().split(" ")[0].strip("<>")
                if self.server.mail_pause > 0:
                    open(os.path.join(self.server.dir, "mail-paused.%d" % self.n), "w").close()
                    time.sleep(self.server.mail_pause)
                self.send("250 2.1.0 Ok")
            elif verb == "RCPT":
                if self.mail_from is None:
                    self.send("503 5.5.1 need MAIL first")
                elif not arg.upper().startswith("TO:"):
                    self.send("501 5.5.4 syntax: RCPT TO:<address>")
                else:
                    self.rcpts.append(arg[3:].strip().split(" ")[0].strip("<>"))
                    self.send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not self.rcpts:
                    self.send("503 5.5.1 need RCPT first")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                content = self.read_data()
                if content is None:
                    return
                self.store(content)
                self.send("250 2.0.0 Ok: queued as T%d" % self.server.count)
                self.reset()
            elif verb == "RSET":
                self.reset()
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 command not recognized")

    def close(self):
        timing = ""
        if self.server.timing:
            timing = "start=%.3f secs=%.3f " % (self.started, time.time() - self.started)
        self.server.log("conn=%d peer=%s tls=%s messages=%d %srcpts=%s" % (
            self.n, self.peer, self.tls, self.messages, timing, ",".join(self.all_rcpts) or "-"),
            sessions=True)
        try:
            self.sock.close()
        except OSError:
            pass


class Server:
    def __init__(self, args):
        self.dir = args.dir
        self.name = args.name
        self.timing = args.timing
        self.mail_pause = args.mail_pause
        self.lock = threading.Lock()
        self.count = 0
        self.conns = 0
        self.context = None
        if args.cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.cert, args.key)
            self.context = ctx

    def log(self, text, sessions=False):
        with self.lock:
            name = "sessions.log" if sessions else "receiver.log"
            with open(os.path.join(self.dir, name), "a") as f:
                f.write(text + "\n")

    def serve(self, conn_sock, peer):
        with self.lock:
            self.conns += 1
            n = self.conns
        conn_sock.settimeout(60)
        c = Conn(self, conn_sock, peer[0], n)
        try:
            c.run()
        except (OSError, ValueError, ssl.SSLError) as e:
            self.log("conn=%d ended: %s" % (n, e))
        finally:
            c.close()


def main():
    p = argparse.ArgumentParser(description="SMTP receiver for the tests")
    p.add_argument("--listen", required=True, help="IP:PORT")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--no-starttls", action="store_true")
    p.add_argument("--dir", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--lifetime", type=float, default=120)
    p.add_argument("--name", default="receiver.test", help="name in the greeting")
    p.add_argument("--timing", action="store_true", help="start and duration in sessions.log")
    p.add_argument("--mail-pause", type=float, default=0, help="seconds before answering MAIL")
    args = p.parse_args()
    if args.no_starttls == bool(args.cert) or bool(args.cert) != bool(args.key):
        p.error("give either --cert and --key, or --no-starttls")
    host, _, port = args.listen.rpartition(":")

    # bounded whatever happens, even if a connection thread hangs
    timer = threading.Timer(args.lifetime, lambda: os._exit(0))
    timer.daemon = True
    timer.start()

    server = Server(args)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    with open(args.ready + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(args.ready + ".tmp", args.ready)
    while True:
        s, peer = ls.accept()
        threading.Thread(target=server.serve, args=(s, peer), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
