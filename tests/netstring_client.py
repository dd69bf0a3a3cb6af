#!/usr/bin/python3
"""Netstring clients of the socketmap and policy map sockets, for the tests
and the benchmarks.

netstring_client.py ask SOCKET NAME KEY...
    One connection, the requests "NAME KEY" in turn (the socketmap
    protocol; the policy map is asked as Postfix asks it, NAME postfix);
    prints each answer (the netstring's body), one a line.  Exits with
    "connection closed" when the daemon closes the connection before an
    answer.

netstring_client.py lookups SOCKET N [REQUEST]
netstring_client.py lookups SOCKET SECONDSs [REQUEST]
    Lookups on a new connection each, as Sendmail's delivery processes
    make them: N of them one after the other, or for SECONDS seconds one
    every 20 ms.  REQUEST defaults to a socketmap session of
    mx.test.test.  Prints "ok=N failed=N slowest_ms=N
    served_again_after_ms=N last=ANSWER" (served_again_after_ms: the
    longest time between two answers; last: the last answer, or the
    error of the last lookup).

netstring_client.py until SOCKET SECONDS [REQUEST]
    Lookups on a new connection each, one after the other as fast as
    they go, until a connection is refused (the daemon stopped
    accepting) or SECONDS pass.  Prints "ok=N failed=N end=REASON":
    ok the lookups answered, failed those connected but not answered.

Every wait is bounded: 10 s for each connection and answer.
"""
import socket
import sys
import time

TIMEOUT = 10
DEFAULT_REQUEST = "tlsrpt srv= mx.test.test addr= 10.2.2.2 verify= OK ver= TLSv1.3"


def netstring(req):
    data = req.encode()
    return b"%d:%s," % (len(data), data)


def ask(path, name, keys):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    f = s.makefile("rb")
    for key in keys:
        s.sendall(netstring(name + " " + key))
        n = b""
        while not n.endswith(b":"):
            c = f.read(1)
            if not c:
                sys.exit("connection closed")
            n += c
        body = f.read(int(n[:-1]))
        f.read(1)
        print(body.decode())


def lookup_once(path, req):
    """One lookup on a new connection: the answer, or OSError."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(TIMEOUT)
        s.connect(path)
        s.sendall(netstring(req))
        data = b""
        while not data.endswith(b","):
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("EOF")
            data += chunk
        return data.decode()
    finally:
        s.close()


def lookups(path, amount, req):
    if amount.endswith("s"):
        secs, count, every = float(amount[:-1]), None, 0.02
    else:
        secs, count, every = None, int(amount), 0
    ok = failed = 0
    slowest = 0.0
    last = "-"
    answered = []
    t0 = time.monotonic()
    while (count is None and time.monotonic() - t0 < secs) or (count is not None and ok + failed < count):
        t = time.monotonic()
        try:
            last = lookup_once(path, req)
            ok += 1
            answered.append(time.monotonic())
        except OSError as e:
            failed += 1
            last = type(e).__name__
        slowest = max(slowest, time.monotonic() - t)
        if every:
            time.sleep(max(0, every - (time.monotonic() - t)))
    gap = max((b - a for a, b in zip(answered, answered[1:])), default=0)
    print("ok=%d failed=%d slowest_ms=%d served_again_after_ms=%d last=%s"
          % (ok, failed, int(slowest * 1000), round(gap * 1000), last))


def until_refused(path, secs, req):
    ok = failed = 0
    end = "time_up"
    t0 = time.monotonic()
    while time.monotonic() - t0 < secs:
        try:
            lookup_once(path, req)
            ok += 1
        except (ConnectionRefusedError, FileNotFoundError) as e:
            end = type(e).__name__
            break
        except OSError:
            failed += 1
    print("ok=%d failed=%d end=%s" % (ok, failed, end))


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "ask":
        ask(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "until":
        until_refused(sys.argv[2], float(sys.argv[3]),
                      sys.argv[4] if len(sys.argv) == 5 else DEFAULT_REQUEST)
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "lookups":
        lookups(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else DEFAULT_REQUEST)
    else:
        sys.exit(__doc__)


main()
