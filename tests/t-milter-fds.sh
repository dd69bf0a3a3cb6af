#!/bin/sh
# The milter's processes hold no socket of the daemon's other inputs.
#
# libmilter runs in a child of a supervisor forked from the daemon; both
# used to inherit the datagram, socketmap and policy map sockets.  With the
# daemon killed and its milter processes still alive (or hung), a socket
# they held kept queueing connections that nobody answered: an MTA waited
# out its map time-out (Sendmail: deferred; Postfix: 100 s) instead of
# meeting "connection refused" and going on.  Here the daemon serves all
# three plus the milter; its supervisor and child are frozen (SIGSTOP),
# the daemon is killed (SIGKILL), and each socket must then refuse at once
# while the milter socket, theirs, still accepts into its backlog.
. "${top_srcdir:-.}/tests/lib.sh"
PY=/usr/bin/python3

tl_conf "datagram_socket $T/dg.sock" "socketmap_socket unix:$T/smap.sock" \
    "policy_map_socket unix:$T/pmap.sock" "milter_socket unix:$T/milter.sock"
tl_start
tl_wait_for "$T/log" "milter_child_started" || { echo "FAIL: no milter child"; exit 1; }

kids() {	# the daemon's descendants
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"; kids "$c"
	done
}
MILTER_PIDS=$(kids "$TL_PID")
assert_eq 2 "$(echo $MILTER_PIDS | wc -w)" "a supervisor and a libmilter child"

# what each milter process holds: sockets in listening state, by path
for p in $MILTER_PIDS; do
	for fd in /proc/"$p"/fd/*; do
		readlink "$fd"
	done | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | while read -r ino; do
		awk -v ino="$ino" '$7 == ino && $6 == "01" { print $8 }' /proc/net/unix
	done
done | sort -u > "$T/held"
assert_eq "$T/milter.sock" "$(cat "$T/held")" "the milter processes listen on the milter socket only"

# never leave them frozen, whatever fails below
trap 'for p in $MILTER_PIDS; do kill -CONT "$p"; kill -KILL "$p"; done 2>/dev/null; tl_cleanup' EXIT
for p in $MILTER_PIDS; do kill -STOP "$p"; done
kill -KILL "$TL_PID"; wait "$TL_PID" 2>/dev/null; TL_PID=

probe() {	# probe TYPE PATH: what a connect meets, within 2 s
	$PY - "$1" "$2" <<'PYEOF'
import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "dgram" else socket.SOCK_STREAM
s = socket.socket(socket.AF_UNIX, kind)
s.settimeout(2)
try:
    s.connect(sys.argv[2])
    if kind == socket.SOCK_DGRAM:
        print("connected")
    else:
        s.sendall(b"7:x a.test,")
        print("answered" if s.recv(100) else "closed")
except socket.timeout:
    print("no answer within 2 s")
except OSError as e:
    print(type(e).__name__)
PYEOF
}
assert_eq ConnectionRefusedError "$(probe dgram "$T/dg.sock")" "datagram socket refuses"
assert_eq ConnectionRefusedError "$(probe stream "$T/smap.sock")" "socketmap socket refuses"
assert_eq ConnectionRefusedError "$(probe stream "$T/pmap.sock")" "policy map socket refuses"
assert_eq "no answer within 2 s" "$(probe stream "$T/milter.sock")" \
    "the milter socket still queues (its frozen processes hold it)"

for p in $MILTER_PIDS; do kill -CONT "$p"; done
# the supervisor notices the daemon is gone and ends with its child (bounded)
n=0
for p in $MILTER_PIDS; do
	while kill -0 "$p" 2>/dev/null && [ $n -lt 100 ]; do n=$((n + 1)); sleep 0.05; done
done
assert_eq "" "$(for p in $MILTER_PIDS; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" \
    "the milter processes end after the daemon"
tl_done
