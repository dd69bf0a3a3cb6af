#!/bin/sh
# sd_notify without systemd: NOTIFY_SOCKET names a unix datagram socket
# that tests/sd_peer.py reads.  READY=1 arrives once, after the
# datagram and socketmap sockets exist (and a datagram sent right after
# it is stored); SIGHUP gives RELOADING=1 then READY=1; SIGTERM
# STOPPING=1; STATUS= says what was stored and dropped.  Without
# NOTIFY_SOCKET nothing changes (every other test).  A socket passed
# for milter_socket (libmilter cannot take one) refuses the start.
. "${top_srcdir:-.}/tests/lib.sh"
tl_require_sd_peer
NPID=
cleanup_peer() { [ -n "$NPID" ] && kill "$NPID" 2>/dev/null; }
trap 'cleanup_peer; tl_cleanup' EXIT

# notifications so far, without the time stamps
notes() { sed 's/^[0-9]* //' "$T/notify.log"; }
wait_note() { tl_wait_for "$T/notify.log" "$1"; }	# wait_note PATTERN: at most ~10 s

tl_notify_peer "$T/dg.sock" "$T/smap.sock"
tl_conf "socketmap_socket unix:$T/smap.sock"
export NOTIFY_SOCKET="$T/notify.sock"
tl_start
unset NOTIFY_SOCKET
wait_note 'READY=1' || { TL_FAILED=1; echo "FAIL - no READY=1"; }
assert_eq "READY=1 paths=present" "$(notes | grep READY)" "READY=1 once, after every socket exists"
tl_send "$top_srcdir/tests/datagrams/success.json"
wait_note 'STATUS=' || true
assert_grep '^[0-9]* STATUS=serving; stored 0 session results, dropped 0$' "$T/notify.log" \
    "STATUS= at start"
kill -HUP "$TL_PID"
wait_note 'RELOADING=1' || true
n=0; while [ "$(grep -c 'READY=1' "$T/notify.log")" -lt 2 ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
assert_eq "RELOADING=1 READY=1" "$(notes | grep -E 'RELOADING|READY' | sed -n '2,3p' | sed 's/|MONOTONIC_USEC=[0-9]*//; s/ paths=present//' | tr '\n' ' ' | sed 's/ $//')" \
    "SIGHUP: RELOADING=1, then READY=1"
assert_grep 'RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*' "$T/notify.log" "RELOADING=1 with MONOTONIC_USEC"
tl_stop
assert_eq 0 "$TL_RC" "clean stop"
assert_eq "STOPPING=1" "$(notes | tail -n 1)" "SIGTERM: STOPPING=1 is the last word"
assert_eq 1 "$(tl_counter datagram.accepted)" "the datagram sent after READY=1 was stored"

# no NOTIFY_SOCKET, or a WATCHDOG_USEC for another process: no notes, no pings
: > "$T/notify.log"
tl_conf
export WATCHDOG_USEC=1000000 WATCHDOG_PID=1
tl_start
unset WATCHDOG_USEC WATCHDOG_PID
assert_grep 'notice: started' "$T/log" "starts without NOTIFY_SOCKET"
tl_stop
assert_eq "0 0" "$(wc -l < "$T/notify.log" | tr -d ' ') $(grep -c watchdog_enabled "$T/log")" \
    "nothing sent, no watchdog for WATCHDOG_PID of another process"

# a socket for milter_socket: systemd would hold it with nobody accepting
tl_conf "milter_socket unix:$T/milter.sock"
"$PY" "$PEER" activate "$T/act.pid" milter_socket=stream:"$T/held.sock" -- \
    "$top_builddir/tlsrpt-milter" -f -c "$T/tlsrpt.conf" 2>"$T/log" &
APID=$!
n=0; while ! grep -q 'startup_failed' "$T/log" && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
kill "$APID" 2>/dev/null; wait "$APID" 2>/dev/null
assert_grep 'startup_failed error="systemd passed a socket named .milter_socket. that no input takes (libmilter binds milter_socket itself and cannot take a descriptor)' \
    "$T/log" "a passed milter_socket refuses the start, saying why"
tl_done
