#!/usr/bin/python3
# Turns syslog-shaped mail log lines into journal entries in the journal
# export format (what systemd-journal-remote reads on standard input), the
# way journald stores a message received on /dev/log: SYSLOG_FACILITY=2,
# SYSLOG_IDENTIFIER and SYSLOG_PID from the tag, MESSAGE the rest.
#   maillog2export.py [--year Y] [--noise N] [--first K] [--count C] < LOG > EXPORT
# Lines: classic "Mmm dd hh:mm:ss host tag[pid]: message" (UTC, in year
# Y) or ISO "YYYY-MM-DDThh:mm:ss[.f]+00:00 host tag[pid]: message".
# Entries get unique, increasing time stamps (a line's second plus a
# microsecond count), one boot id, and a monotonic time derived from the
# real time, so entries written by several runs (appends) stay in order.
# --first K --count C: only lines K.. (1-based) K+C-1.  --noise N: after
# every N-th line's entry, one entry of another facility (daemon), which
# the daemon must not read.
import argparse
import calendar
import re
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--year", type=int, default=time.gmtime().tm_year)
ap.add_argument("--noise", type=int, default=0)
ap.add_argument("--first", type=int, default=1)
ap.add_argument("--count", type=int, default=-1)
a = ap.parse_args()

BOOT = "5e0f0a1b2c3d4e5f60718293a4b5c6d7"
MONTHS = {m: i for i, m in enumerate(
    "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
CLASSIC = re.compile(r"^([A-Z][a-z]{2}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) (.*)$")
ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:Z|[+-]00:?00) (\S+) (.*)$")
TAG = re.compile(r"^([^\[\]: ]+)\[(\d+)\]: (.*)$", re.S)

out = sys.stdout.buffer


def field(name, value):
    if isinstance(value, str):
        value = value.encode()
    if b"\n" in value:
        out.write(name.encode() + b"\n" + len(value).to_bytes(8, "little") + value + b"\n")
    else:
        out.write(name.encode() + b"=" + value + b"\n")


def entry(usec, fields):
    field("__REALTIME_TIMESTAMP", str(usec))
    field("__MONOTONIC_TIMESTAMP", str(usec - 1600000000 * 1000000))
    field("_BOOT_ID", BOOT)
    for k, v in fields:
        field(k, v)
    out.write(b"\n")


last = 0
for n, raw in enumerate(sys.stdin.buffer, 1):
    if a.count >= 0 and n >= a.first + a.count:
        break
    line = raw.rstrip(b"\n").decode("utf-8", "surrogateescape")
    m = CLASSIC.match(line)
    if m:
        sec = calendar.timegm((a.year, MONTHS[m.group(1)], int(m.group(2)),
                               int(m.group(3)), int(m.group(4)), int(m.group(5))))
        host, rest = m.group(6), m.group(7)
    else:
        m = ISO.match(line)
        if not m:
            sys.exit("line %d: no time stamp: %s" % (n, line[:80]))
        sec = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)))
        host, rest = m.group(7), m.group(8)
    usec = max(sec * 1000000, last + 2)	# the same for a line whatever --first says
    last = usec
    if n < a.first:
        continue
    fields = [("SYSLOG_FACILITY", "2"), ("PRIORITY", "6"), ("_TRANSPORT", "syslog"),
              ("_HOSTNAME", host)]
    t = TAG.match(rest)
    if t:
        fields += [("SYSLOG_IDENTIFIER", t.group(1)), ("SYSLOG_PID", t.group(2)),
                   ("_PID", t.group(2)), ("_COMM", t.group(1).split("/")[-1]),
                   ("MESSAGE", t.group(3).encode("utf-8", "surrogateescape"))]
    else:
        fields += [("MESSAGE", rest.encode("utf-8", "surrogateescape"))]
    entry(usec, fields)
    if a.noise and n % a.noise == 0:
        entry(usec + 1, [("SYSLOG_FACILITY", "3"), ("PRIORITY", "6"), ("_TRANSPORT", "journal"),
                     ("SYSLOG_IDENTIFIER", "systemd"), ("_PID", "1"), ("_COMM", "systemd"),
                     ("_HOSTNAME", host), ("MESSAGE", "Started session %d of user root." % n)])
