#!/usr/bin/python3
"""The service manager's side of tlsrpt-milter's systemd integration, for
tests without systemd as PID 1.

sd_peer.py notify SOCKET LOG [CHECK_PATH...]
    Bind the unix datagram socket SOCKET (what NOTIFY_SOCKET names) and
    append every notification to LOG, one line each:
    "<ms since start> <fields, newlines as |>".  For READY=1 it adds
    " paths=present" when every CHECK_PATH exists at that moment, else
    " paths=missing".  Ends after 300 s or on SIGTERM.

sd_peer.py activate PIDFILE NAME=KIND:PATH... -- PROGRAM ARGS...
    Do what systemd does for a .socket unit with Restart=always: bind
    each socket (KIND stream: a listening unix stream socket; dgram: a
    unix datagram socket), start PROGRAM with them as descriptors 3...
    and LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (FileDescriptorName=
    NAME), write its pid to PIDFILE, and start it again RESTART_MS
    (environment, default 100) after it ends, holding the sockets all
    the while.  On SIGTERM: SIGTERM to the program, wait for it, end.
    Ends after 300 s.
"""
import os
import signal
import socket
import sys
import time

LIFETIME = 300


def notify(path, log, checks):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(1)
    t0 = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(log, "a", buffering=1) as out:
        while time.monotonic() - t0 < LIFETIME:
            try:
                msg = s.recv(4096).decode(errors="replace")
            except socket.timeout:
                continue
            line = "%d %s" % ((time.monotonic() - t0) * 1000, msg.strip().replace("\n", "|"))
            if "READY=1" in msg.split("\n"):
                ok = all(os.path.exists(p) for p in checks)
                line += " paths=" + ("present" if ok else "missing")
            out.write(line + "\n")


def bind(kind, path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    if kind == "stream":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(128)
    elif kind == "dgram":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
    else:
        sys.exit("unknown socket kind " + kind)
    return s


def start(argv, socks, names):
    pid = os.fork()
    if pid:
        return pid
    # high first, so that moving them to 3... never overwrites one
    high = [os.dup2(s.fileno(), 100 + i) for i, s in enumerate(socks)]
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)
        os.set_inheritable(3 + i, True)
    for fd in high:
        os.close(fd)
    os.environ["LISTEN_FDS"] = str(len(socks))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ["LISTEN_FDNAMES"] = ":".join(names)
    os.execvp(argv[0], argv)


def activate(pidfile, specs, argv):
    restart_ms = int(os.environ.get("RESTART_MS", "100"))
    socks, names = [], []
    for spec in specs:
        name, rest = spec.split("=", 1)
        kind, path = rest.split(":", 1)
        socks.append(bind(kind, path))
        names.append(name)
    stopping = []
    child = [0]

    def on_term(*_):
        stopping.append(1)
        if child[0]:
            os.kill(child[0], signal.SIGTERM)
    signal.signal(signal.SIGTERM, on_term)
    t0 = time.monotonic()
    while not stopping and time.monotonic() - t0 < LIFETIME:
        child[0] = start(argv, socks, names)
        with open(pidfile + ".tmp", "w") as f:
            f.write("%d\n" % child[0])
        os.rename(pidfile + ".tmp", pidfile)
        while True:
            try:
                os.waitpid(child[0], 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break
        child[0] = 0
        if not stopping:
            time.sleep(restart_ms / 1000)


if len(sys.argv) >= 4 and sys.argv[1] == "notify":
    notify(sys.argv[2], sys.argv[3], sys.argv[4:])
elif len(sys.argv) >= 5 and sys.argv[1] == "activate" and "--" in sys.argv:
    cut = sys.argv.index("--")
    activate(sys.argv[2], sys.argv[3:cut], sys.argv[cut + 1:])
else:
    sys.exit(__doc__)
