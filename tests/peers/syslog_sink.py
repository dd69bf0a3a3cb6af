#!/usr/bin/python3
"""syslog_sink: a minimal syslog daemon for the tests: a unix datagram
socket (what glibc's syslog(3) writes to as /dev/log) whose messages are
written, one a line, as classic syslog file lines.

    syslog_sink.py --socket PATH --out FILE [--host NAME] [--lifetime S]
                   [--ready FILE] [--raw FILE]

A message "<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT" (glibc's form; the
time stamp is the one the sender wrote, in its local time) becomes the
line "Mmm dd hh:mm:ss HOST TAG[PID]: TEXT" of FILE (HOST default
"sender"), flushed at once.  A trailing newline or NUL goes; newlines
inside a message become spaces, so one message is one line.  Messages of
another shape are only counted and, with --raw FILE, written there
(Python repr, one a line), so that a test can see what did not fit.  The socket is made mode 0666 (the
MTA's processes may run as other users) and removed at exit.  READY is
created once the socket listens.  Exits after --lifetime seconds (default
60) or at SIGTERM/SIGINT, printing "syslog_sink: N lines, M other" to
standard error.
"""
import argparse
import os
import re
import signal
import socket
import sys
import time

LINE = re.compile(rb"^<(\d{1,3})>([A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d) "
                  rb"([^\s\[\]:]+)\[(\d+)\]: ?(.*)$", re.S)

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--host", default="sender")
    ap.add_argument("--lifetime", type=float, default=60.0)
    ap.add_argument("--ready")
    ap.add_argument("--raw")
    a = ap.parse_args()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(a.socket)
    os.chmod(a.socket, 0o666)
    s.settimeout(0.2)
    out = open(a.out, "ab")
    raw = open(a.raw, "ab") if a.raw else None
    if a.ready:
        open(a.ready, "w").close()
    host = a.host.encode()
    lines = other = 0
    end = time.monotonic() + a.lifetime
    try:
        while not stop and time.monotonic() < end:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            except InterruptedError:
                continue
            data = data.rstrip(b"\n\0")
            m = LINE.match(data)
            if not m:
                other += 1
                if raw:
                    raw.write(repr(data).encode() + b"\n")
                    raw.flush()
                continue
            text = m.group(5).replace(b"\r", b" ").replace(b"\n", b" ")
            out.write(m.group(2) + b" " + host + b" " + m.group(3) + b"[" + m.group(4)
                      + b"]: " + text + b"\n")
            out.flush()
            lines += 1
    finally:
        s.close()
        try:
            os.unlink(a.socket)
        except OSError:
            pass
        out.close()
        if raw:
            raw.close()
        print("syslog_sink: %d lines, %d other" % (lines, other), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
