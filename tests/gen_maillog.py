#!/usr/bin/python3
# Writes a Postfix 3.7 style mail log with a known outcome, for the log
# follower's tests and benchmark.
#   gen_maillog.py --sessions N [--seed S] [--noise K] [--start EPOCH] LOG EXPECT
# LOG gets the lines (classic syslog stamps in UTC: run the daemon with
# TZ=UTC); EXPECT gets one line per recipient domain, "domain successes
# failures result-type...", sorted, as the correlator must count them:
# one result per (TLS session, recipient domain).  Sessions of up to 8
# smtp processes interleave; each process starts its next session only
# after the previous one ended, like a real smtp(8).  K unrelated lines
# (smtpd, qmgr, cleanup) follow every session, so the line count is
# realistic.  Line shapes are those of ../shared/spec/postfix-3.7-tls-log.md.
import argparse
import random
import time

ap = argparse.ArgumentParser()
ap.add_argument("--sessions", type=int, required=True)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--noise", type=int, default=4)
ap.add_argument("--start", type=int, default=1795000000)
ap.add_argument("log")
ap.add_argument("expect")
a = ap.parse_args()
rnd = random.Random(a.seed)

CIPHER = (": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
          "server-signature RSA-PSS (2048 bits) server-digest SHA256")
KINDS = ["good", "good", "good", "expired", "selfsigned", "notls", "multi"]
expect = {}


def count(domain, ok, rtype=None):
    e = expect.setdefault(domain, [0, 0, set()])
    if ok:
        e[0] += 1
    else:
        e[1] += 1
        e[2].add(rtype)


def stamp(t):
    return time.strftime("%b %e %H:%M:%S", time.gmtime(t))


qn = [0]


def qid():
    qn[0] += 1
    return "4G%07X" % qn[0]


def delivery(q, rcpt, mx, ip, dsn, status):
    return ("%s: to=<%s>, relay=%s[%s]:25, delay=0.21, delays=0.05/0.01/0.1/0.05, dsn=%s, "
            "status=%s" % (q, rcpt, mx, ip, dsn, status))


def session(kind, n):
    """The message lines of one session and what it counts."""
    d = "d%d.%s.test" % (n % 50, kind)
    mx, ip = "mx.%s.test" % kind, "192.0.2.%d" % (10 + KINDS.index(kind))
    if kind == "good" or kind == "multi":
        out = ["Verified TLS connection established to %s[%s]:25%s" % (mx, ip, CIPHER)]
        doms = [d] if kind == "good" else [d, "other%d.multi.test" % (n % 7)]
        for dom in doms:
            for _ in range(rnd.randint(1, 3)):	# several messages: one count per domain
                out.append(delivery(qid(), "u%d@%s" % (rnd.randint(1, 99), dom), mx, ip,
                                    "2.0.0", "sent (250 2.0.0 Ok: queued as 4Xyz)"))
            count(dom, True)
        return out
    if kind == "expired":
        out = ["server certificate verification failed for %s[%s]:25: num=10:certificate "
               "has expired" % (mx, ip),
               "Untrusted TLS connection established to %s[%s]:25%s" % (mx, ip, CIPHER),
               delivery(qid(), "u@%s" % d, mx, ip, "4.7.5",
                        "deferred (Server certificate not verified)")]
        count(d, False, "certificate-expired")
        return out
    if kind == "selfsigned":
        out = ["server certificate verification failed for %s[%s]:25: num=18:self-signed "
               "certificate" % (mx, ip),
               "Untrusted TLS connection established to %s[%s]:25%s" % (mx, ip, CIPHER),
               delivery(qid(), "u@%s" % d, mx, ip, "4.7.5",
                        "deferred (Server certificate not verified)")]
        count(d, False, "certificate-not-trusted")
        return out
    out = [delivery(qid(), "u@%s" % d, mx, ip, "4.7.4",
                    "deferred (TLS is required, but was not offered by host %s[%s])" % (mx, ip))]
    count(d, False, "starttls-not-supported")
    return out


NOISE = [
    "postfix/qmgr[900]: 4G00001: from=<sender@example.org>, size=1234, nrcpt=1 (queue active)",
    "postfix/smtpd[901]: connect from localhost[127.0.0.1]",
    "postfix/cleanup[902]: 4G00002: message-id=<x@example.org>",
    "postfix/smtpd[901]: disconnect from localhost[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1",
    "postfix/qmgr[900]: 4G00001: removed",
    "kernel: [12345.678] eth0: link up",
]

t = a.start
procs = {}		# pid -> remaining lines of its current session
pending = list(range(a.sessions))
with open(a.log, "w") as f:
    while pending or procs:
        while pending and len(procs) < 8:
            n = pending.pop(0)
            pid = 3000 + n % 9973
            while pid in procs:
                pid += 1
            procs[pid] = session(KINDS[n % len(KINDS)], n)
        pid = rnd.choice(sorted(procs))
        f.write("%s mail postfix/smtp[%d]: %s\n" % (stamp(t), pid, procs[pid].pop(0)))
        if not procs[pid]:
            del procs[pid]
            for _ in range(a.noise):
                f.write("%s mail %s\n" % (stamp(t), rnd.choice(NOISE)))
        t += rnd.choice([0, 0, 0, 1])
with open(a.expect, "w") as f:
    for dom in sorted(expect):
        s, fl, types = expect[dom]
        f.write("%s %d %d %s\n" % (dom, s, fl, " ".join(sorted(types))))
