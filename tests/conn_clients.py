#!/usr/bin/python3
"""Clients that hold socketmap connections open, for t-daemon-connlimits.sh.

conn_clients.py SOCKET SCENARIO prints one line of results per scenario:

fill       one connection with half a request (the oldest, "active"),
           then PROCS processes (argv[3]) with 8 idle connections each
           (every slot of 1,024 and more), then a new process does a
           lookup; then the half request is finished.  Prints
           "lookup=ANSWER active=ANSWER closed=N" (N: idle connections
           the daemon closed).
peer       one process opens 10 connections: prints how many the daemon
           closed; then makes all 8 left active (half a request each),
           opens one more, and prints whether that one was closed at
           once and what the 8 answer once their requests are complete.
idle       one lookup, then waits for the daemon to close the idle
           connection; a second connection looks up every 0.3 s
           meanwhile.  Prints "closed_after_ms=N busy_open=yes|no".

Every wait is bounded (socket timeouts of at most 10 s).
"""
import os
import socket
import sys
import time

PATH, SCENARIO = sys.argv[1], sys.argv[2]
REQ = b"tlsrpt srv= mx.conn.test addr= 10.1.1.1 verify= OK ver= TLSv1.3"
NETSTRING = b"%d:%s," % (len(REQ), REQ)


def connect():
    """A connection; a full listen backlog (EAGAIN) is waited out, 10 s at most."""
    for _ in range(1000):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(PATH)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.01)
    raise OSError("the listen backlog stayed full for 10 s")


def answer(s):
    data = b""
    while not data.endswith(b","):
        chunk = s.recv(4096)
        if not chunk:
            return "EOF"
        data += chunk
    return data.decode()


def lookup(s):
    s.sendall(NETSTRING)
    return answer(s)


def closed(s):
    """True when the daemon has closed s (EOF waiting), without blocking."""
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        s.settimeout(10)


def settle():
    time.sleep(0.5)


def fill(procs):
    active = connect()
    active.sendall(NETSTRING[:10])          # half a request: under way
    settle()
    pipes = []
    for _ in range(procs):
        r, w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(go_w)
            socks = [connect() for _ in range(8)]
            os.write(w, b"u")              # all 8 connected
            os.read(go_r, 1)               # wait for the verdict
            n = sum(closed(s) for s in socks)
            os.write(w, bytes([n]))
            os._exit(0)
        os.close(w)
        os.close(go_r)
        if os.read(r, 1) != b"u":
            print("child failed")
            sys.exit(1)
        pipes.append((pid, r, go_w))
    settle()
    fresh = connect()
    got = lookup(fresh)
    fresh.close()
    active.sendall(NETSTRING[10:])
    act = answer(active)
    settle()
    n = 0
    for pid, r, go_w in pipes:
        os.write(go_w, b"g")
        n += os.read(r, 1)[0]
        os.waitpid(pid, 0)
    print("lookup=%s active=%s closed=%d" % (got, act, n))


def peer():
    socks = []
    for _ in range(10):
        socks.append(connect())
        time.sleep(0.02)                    # an order the daemon sees
    settle()
    gone = [closed(s) for s in socks]
    print("closed_of_10=%d first_two=%s" % (sum(gone), gone[:2] == [True, True]))
    left = [s for s, g in zip(socks, gone) if not g]
    for s in left:
        s.sendall(NETSTRING[:10])
    settle()
    extra = connect()
    settle()
    print("ninth_closed=%s" % closed(extra))
    for s in left:
        s.sendall(NETSTRING[10:])
    answers = set(answer(s) for s in left)
    print("answers=%s" % ",".join(sorted(answers)))


def idle():
    quiet = connect()
    lookup(quiet)
    t0 = time.monotonic()
    busy = connect()
    busy_open = True
    while time.monotonic() - t0 < 8:
        if lookup(busy) == "EOF":
            busy_open = False
        if closed(quiet):
            break
        time.sleep(0.3)
    ms = int((time.monotonic() - t0) * 1000)
    t1 = time.monotonic()
    while time.monotonic() - t1 < 1.5:      # the busy one outlives the time-out
        if lookup(busy) == "EOF":
            busy_open = False
        time.sleep(0.3)
    print("closed_after_ms=%d busy_open=%s" % (ms, "yes" if busy_open else "no"))


if SCENARIO == "fill":
    fill(int(sys.argv[3]))
elif SCENARIO == "peer":
    peer()
elif SCENARIO == "idle":
    idle()
else:
    sys.exit("unknown scenario " + SCENARIO)
