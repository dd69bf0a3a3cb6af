#!/bin/sh
# Socket activation without systemd: tests/sd_peer.py binds the
# datagram, socketmap and policy map sockets, passes them as systemd
# does (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES = the configuration keys)
# and restarts the daemon 500 ms after it ends, as Restart=always would.
# The daemon serves the inherited sockets; after kill -9, lookups made
# and datagrams sent while it is dead wait in the sockets (backlog,
# kernel queue) and are all answered and stored by the next daemon: no
# lookup fails, no datagram is lost.  The daemon never removes a socket
# it did not make.  The same kill without activation, for comparison:
# the lookup is refused and the datagram lost.  A passed socket that is
# not what the configuration says refuses the start.
. "${top_srcdir:-.}/tests/lib.sh"
tl_require_sd_peer
DG="$top_srcdir/tests/datagrams/success.json"
APID=
cleanup_act() { [ -n "$APID" ] && kill "$APID" 2>/dev/null && wait "$APID" 2>/dev/null; }
trap 'cleanup_act; tl_cleanup' EXIT

# SOCKET N [REQUEST]: N lookups, a new connection each, as Sendmail's
# delivery processes make them (tests/netstring_client.py)
lookups() { "$PY" "$top_srcdir/tests/netstring_client.py" lookups "$@"; }
look() { lookups "$@" | sed 's/ slowest_ms=[0-9]* served_again_after_ms=[0-9]*//'; }
slowest() { lookups "$@" | sed 's/.*slowest_ms=\([0-9]*\).*/\1/'; }

tl_conf "socketmap_socket unix:$T/smap.sock" "policy_map_socket unix:$T/pmap.sock" \
    "resolver 127.0.0.1:9"
# the launcher's first daemon logs to $T/log, later ones append
RESTART_MS=500 "$PY" "$PEER" activate "$T/daemon.pid" datagram_socket=dgram:"$T/dg.sock" \
    socketmap_socket=stream:"$T/smap.sock" policy_map_socket=stream:"$T/pmap.sock" -- \
    $MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
APID=$!
tl_wait_for "$T/log" "notice: started" || { echo "FAIL - the activated daemon did not start"; exit 1; }
assert_eq 3 "$(grep -c 'socket_inherited name=\(datagram_socket\|socketmap_socket\|policy_map_socket\) fd=[345] ' "$T/log")" \
    "the three sockets are inherited, none bound"
assert_eq "ok=3 failed=0 last=10:OK success," "$(look "$T/smap.sock" 3)" "socketmap lookups on the inherited socket"
assert_eq "ok=1 failed=0 last=9:NOTFOUND ," "$(look "$T/pmap.sock" 1 'postfix not_a_domain!')" \
    "policy map lookup on the inherited socket"
tl_send "$DG"
# committed before the kill (a crash loses at most the last flush interval)
n=0; while [ "$(tl_counter datagram.accepted)" != 1 ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done

first=$(cat "$T/daemon.pid")
kill -KILL "$first"
# dead for 500 ms: these wait in the sockets
tl_send -n 5 "$DG"
ms=$(slowest "$T/smap.sock" 1)
assert_eq "ok=4 failed=0 last=10:OK success," "$(look "$T/smap.sock" 4)" \
    "lookups made while the daemon was dead are answered, none fails"
assert_eq yes "$([ "$ms" -ge 300 ] && [ "$ms" -le 10000 ] && echo yes || echo "no: $ms ms")" \
    "the first one waited for the restart in the backlog (0.3 to 10 s)"
n=0; while [ "$(cat "$T/daemon.pid")" = "$first" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
assert_eq 2 "$(grep -c 'notice: started' "$T/log")" "restarted once"
assert_eq 6 "$(grep -c 'socket_inherited' "$T/log")" "the restarted daemon inherits the same three sockets"
kill -TERM "$APID"; wait "$APID"; APID=
assert_eq 6 "$(tl_counter datagram.accepted)" \
    "datagrams: 0 lost (the one before the kill was committed; 5 sent while dead queued in the kernel)"
assert_eq "yes yes yes" "$([ -S "$T/dg.sock" ] && echo yes) $([ -S "$T/smap.sock" ] && echo yes) $([ -S "$T/pmap.sock" ] && echo yes)" \
    "the daemon removes no socket that systemd made"

# the same without activation: the socket file stays, nobody listens
rm -f "$T/dg.sock" "$T/smap.sock" "$T/pmap.sock"
tl_conf "socketmap_socket unix:$T/smap.sock"
tl_start
kill -KILL "$TL_PID"; wait "$TL_PID" 2>/dev/null; TL_PID=
assert_eq "ok=0 failed=1 last=ConnectionRefusedError" "$(look "$T/smap.sock" 1)" \
    "without activation: the lookup is refused while the daemon is dead"
assert_eq 1 "$("$DGSEND" -s "$T/dg.sock" "$DG" >/dev/null 2>&1; echo $?)" \
    "without activation: the datagram cannot be sent"

# a passed socket that is not what the configuration says
tl_conf "socketmap_socket unix:$T/smap.sock"
: > "$T/log"
"$PY" "$PEER" activate "$T/daemon.pid" socketmap_socket=stream:"$T/other.sock" -- \
    $MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
APID=$!
tl_wait_for "$T/log" "startup_failed" || true
kill -TERM "$APID"; wait "$APID"; APID=
assert_grep "startup_failed error=\"systemd passed socketmap_socket, but not as a listening stream unix socket bound to $T/smap.sock" \
    "$T/log" "a passed socket bound elsewhere refuses the start"
tl_done
