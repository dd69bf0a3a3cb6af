#!/bin/sh
# Connection limits of the socketmap services (netstring_server.c), on
# the Sendmail socketmap socket: 1,024 slots, at most 8 connections per
# client process, an idle time-out; a full server makes room by closing
# the longest-idle connection, never one with a request under way.
#
# 1. every slot taken by idle connections (one active connection with
#    half a request, then 130 processes x 8 idle ones = 1,041): a new
#    process's lookup is answered, the 18 longest-idle connections were
#    closed for it (17 + 1), the half request is answered when finished;
# 2. one process opens 10: its 2 oldest give way (peer limit 8); with its
#    8 all under way a 9th is refused, and the 8 are answered;
# 3. socketmap_idle_timeout 1s: an idle connection is closed after 1 s
#    (between 0.9 and 3 s here), one that looks up every 0.3 s stays.
# Counters and log lines name each close and its reason.
. "${top_srcdir:-.}/tests/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: /usr/bin/python3 not installed (Debian package python3)"; exit 77; }
CLIENTS="$top_srcdir/tests/conn_clients.py"
OK='10:OK success,'

tl_conf "datagram_socket none" "socketmap_socket unix:$T/smap.sock"
tl_start
got=$("$PY" "$CLIENTS" "$T/smap.sock" fill 130 2>&1)
assert_eq "lookup=$OK active=$OK closed=18" "$got" \
    "1,041 connections: a new lookup is answered, 18 idle ones gave way, the active one did not"
got=$("$PY" "$CLIENTS" "$T/smap.sock" peer 2>&1)
assert_eq "closed_of_10=2 first_two=True
ninth_closed=True
answers=$OK" "$got" "one process: 8 connections at most, its oldest idle ones give way, active ones never"
tl_stop
assert_eq 0 "$TL_RC" "clean stop"
assert_eq 20 "$(tl_counter socketmap.connections_evicted)" "socketmap.connections_evicted: 18 + 2"
assert_eq 1 "$(tl_counter socketmap.connections_refused)" "socketmap.connections_refused: the 9th under way"
assert_eq 10 "$(grep -c 'socketmap_connection_evicted id=[0-9]* reason=too_many_connections limit=1024 requests=0 idle_ms=[0-9]* pid=[0-9]* uid=' "$T/log")" \
    "room-making closes logged with reason, peer and idle time (10 a minute at most)"
assert_eq 0 "$(grep -c 'socketmap_connection_evicted id=[0-9]* reason=peer_limit limit=8 ' "$T/log")" \
    "the peer-limit closes: past the log limit of the same minute"
assert_grep 'socketmap_connection_refused reason=peer_limit limit=8 pid=[0-9]* uid=[0-9]* (no connection was idle)' \
    "$T/log" "the refusal logged"
assert_grep 'socketmap_stopped .* connections_refused=1 connections_evicted=20 connections_idle_closed=0' \
    "$T/log" "the stop line counts them"

tl_conf "datagram_socket none" "socketmap_socket unix:$T/smap.sock" "socketmap_idle_timeout 1s"
tl_start
got=$("$PY" "$CLIENTS" "$T/smap.sock" idle 2>&1)
ms=${got#closed_after_ms=}; ms=${ms%% *}
case $ms in *[!0-9]*|'') ms=0 ;; esac
assert_eq "yes busy_open=yes" "$([ "$ms" -ge 900 ] && [ "$ms" -le 3000 ] && echo yes || echo "no ($ms ms)") ${got##* }" \
    "idle connection closed after the 1 s time-out, the busy one stays open"
tl_stop
assert_eq 1 "$(tl_counter socketmap.connections_idle_closed)" "socketmap.connections_idle_closed"
assert_grep 'socketmap_connection_idle_closed id=1 requests=1 idle_ms=1[0-9][0-9][0-9] pid=' "$T/log" \
    "the idle close logged"
tl_done
