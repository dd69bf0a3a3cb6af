#!/usr/bin/python3
"""A DNS server that stalls some names and forwards the others (tests only).

    stalled_dns.py ADDR PORT UPSTREAM_ADDR UPSTREAM_PORT LOG RULE...

Listens on ADDR:PORT (IPv4, or IPv6 when ADDR has a colon), UDP and TCP.  Each RULE is MODE:SUFFIX[/QTYPE]; a
query whose name is SUFFIX or ends in ".SUFFIX" (case-insensitive), of
type QTYPE (a number) when given, gets MODE:

    tc      UDP: an empty answer with the TC bit set, which sends a
            resolver to TCP; TCP: the connection is accepted and the
            query read, but no answer is ever sent (the socket stays
            open until the client closes it).
    silent  UDP: no answer at all; TCP: as for tc.

Every other query is forwarded to UPSTREAM (UDP to UDP, TCP to TCP) and
its answer relayed.  One line per query goes to LOG, flushed at once:
"udp|tcp NAME TYPE stalled|truncated|dropped|forwarded".  PORT 0 picks a
free port; LOG + ".ready" gets the port once both sockets listen.  Runs
until killed.
"""
import socket
import struct
import sys
import threading

ADDR, PORT, UP_ADDR, UP_PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
RULES = [r.split(":", 1) for r in sys.argv[6:]]
log_lock = threading.Lock()
log_file = open(LOG, "a")
held = []       # TCP connections that are never answered: kept referenced


def log(line):
    with log_lock:
        log_file.write(line + "\n")
        log_file.flush()


def question(msg):
    """(name, type) of the first question, or (None, 0) when unreadable."""
    labels, i = [], 12
    try:
        while True:
            n = msg[i]
            if n == 0:
                break
            if n & 0xC0:
                return None, 0
            labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = struct.unpack("!H", msg[i + 1:i + 3])[0]
    except (IndexError, struct.error):
        return None, 0
    return ".".join(labels).lower(), qtype


def mode_of(name, qtype):
    for mode, pattern in RULES:
        suffix, _, want = pattern.partition("/")
        s = suffix.lower().rstrip(".")
        if want and int(want) != qtype:
            continue
        if name is not None and (name == s or name.endswith("." + s)):
            return mode
    return None


def truncated_answer(msg):
    """The query turned into an empty answer: QR, TC and RA set, no records."""
    flags = struct.unpack("!H", msg[2:4])[0]
    flags |= 0x8000 | 0x0200 | 0x0080
    end = 12
    while msg[end] != 0:
        end += 1 + msg[end]
    end += 5                    # the root label, QTYPE, QCLASS
    return msg[0:2] + struct.pack("!HHHHH", flags, 1, 0, 0, 0) + msg[12:end]


def forward_udp(sock, msg, peer, name, qtype):
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.settimeout(5)
    try:
        up.sendto(msg, (UP_ADDR, UP_PORT))
        answer, _ = up.recvfrom(65535)
        sock.sendto(answer, peer)
        log("udp %s %d forwarded" % (name, qtype))
    except OSError as e:
        log("udp %s %d upstream-error %s" % (name, qtype, e))
    finally:
        up.close()


def serve_udp(sock):
    while True:
        msg, peer = sock.recvfrom(65535)
        name, qtype = question(msg)
        mode = mode_of(name, qtype)
        if mode == "tc":
            sock.sendto(truncated_answer(msg), peer)
            log("udp %s %d truncated" % (name, qtype))
        elif mode == "silent":
            log("udp %s %d dropped" % (name, qtype))
        else:
            threading.Thread(target=forward_udp, args=(sock, msg, peer, name, qtype),
                             daemon=True).start()


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            return None
        data += part
    return data


def serve_tcp_conn(conn):
    with conn:
        while True:
            head = read_exact(conn, 2)
            if head is None:
                return
            msg = read_exact(conn, struct.unpack("!H", head)[0])
            if msg is None:
                return
            name, qtype = question(msg)
            if mode_of(name, qtype) is not None:
                log("tcp %s %d stalled" % (name, qtype))
                held.append(conn)
                while conn.recv(4096):  # never answer; wait for the client to go
                    pass
                return
            up = socket.create_connection((UP_ADDR, UP_PORT), timeout=5)
            with up:
                up.sendall(head + msg)
                ahead = read_exact(up, 2)
                answer = read_exact(up, struct.unpack("!H", ahead)[0]) if ahead else None
            if answer is None:
                return
            conn.sendall(struct.pack("!H", len(answer)) + answer)
            log("tcp %s %d forwarded" % (name, qtype))


def serve_tcp(lsock):
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()


def bind_both(addr, port):
    """UDP and TCP sockets on one port; port 0: a free one (bounded tries)."""
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    for _ in range(20):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.bind((addr, port))
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            tcp.bind((addr, udp.getsockname()[1]))
            return udp, tcp
        except OSError:
            udp.close()
            tcp.close()
            if port != 0:
                raise
    raise OSError("no free port for both UDP and TCP")


udp, tcp = bind_both(ADDR, PORT)
tcp.listen(64)
threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
with open(LOG + ".ready", "w") as ready:
    ready.write("%d\n" % udp.getsockname()[1])
serve_udp(udp)
