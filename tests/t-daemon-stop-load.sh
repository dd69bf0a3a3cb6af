#!/bin/sh
# SIGTERM under full load loses nothing the kernel accepted (tlsrpt-milter(8),
# SIGNALS): the daemon shuts its sockets down for reading first, so that a
# sender from then on is refused (EPIPE, ECONNREFUSED), then reads what is
# queued and commits.  Each sender counts what the kernel took from it.
# 1. Datagrams: four senders (three non-blocking as libtlsrpt, one
#    blocking) send until refused; the daemon is stopped at a random
#    moment.  In every trial: sent == received == accepted == stored
#    sessions, exactly.  Odd trials run the daemon with the kernel's
#    queue length of this host (10 by default), even ones, where a
#    network namespace can be made, with net.unix.max_dgram_qlen 512, so
#    that more is queued at the stop.
# 2. The Sendmail socketmap: six clients look up until refused; every
#    answered lookup is a stored request, exactly.
# 3. The Postfix policy map: every answered lookup was counted.
. "${top_srcdir:-.}/tests/lib.sh"
NC="$top_srcdir/tests/netstring_client.py"
PY=/usr/bin/python3
TRIALS=${TLSRPT_STOP_TRIALS:-6}
MIN_LOAD=1000	# datagrams a trial must have sent to count as under load
EARLIEST=0.3
if [ -n "${TLSRPT_VALGRIND:-}" ]; then
	# valgrind's daemon reads slowly and needs a while before it reads at all
	TRIALS=${TLSRPT_STOP_TRIALS:-2}
	MIN_LOAD=20
	EARLIEST=1.5
fi
SEED=${TLSRPT_STOP_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
echo "seed $SEED (TLSRPT_STOP_SEED=$SEED repeats these stop moments)"
# the stop moments, 0.3 (valgrind: 1.5) to 1.2 s later after the senders start
awk -v seed="$SEED" -v n="$TRIALS" -v e="$EARLIEST" 'BEGIN { srand(seed); for (i = 0; i < n; i++)
	printf "%.2f\n", e + rand() * 1.2 }' > "$T/moments"

# 300 datagrams of one session each over 97 domains: a third successes
awk 'BEGIN { for (i = 0; i < 300; i++) if (i % 3 == 0)
	printf "{\"dpv\":\"1\",\"d\":\"d%d.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", i % 97
	else
	printf "{\"dpv\":\"1\",\"d\":\"d%d.example\",\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":201,\"r\":\"192.0.2.%d\"}],\"t\":1,\"f\":1}]}\n", i % 97, i % 7 }' \
	> "$T/mix.jsonl"

NETNS=no
unshare -n true 2>/dev/null && NETNS=yes
[ $NETNS = no ] && echo "note: no network namespace (not root?): every trial uses this host's queue length"

# start the daemon; with "qlen N" in a namespace of its own where the kernel queues N datagrams
start_daemon() {
	: > "$T/log"
	if [ "$1" = qlen ]; then
		unshare -n sh -c "echo $2 > /proc/sys/net/unix/max_dgram_qlen && exec $MILTER -f -c $T/tlsrpt.conf" 2>>"$T/log" &
	else
		$MILTER -f -c "$T/tlsrpt.conf" 2>>"$T/log" &
	fi
	TL_PID=$!
	tl_wait_for "$T/log" "notice: started" || fail "daemon did not start"
}

sum_field() {	# sum_field NAME FILE...: the sum of NAME=N over the files
	_name=$1
	shift
	cat "$@" | tr ' ' '\n' | awk -F= -v k="$_name" '$1 == k { s += $2 } END { print s + 0 }'
}

# ---- 1. datagrams
tl_conf "flush_interval 200ms"
trial=0
while read -r moment; do
	trial=$((trial + 1))
	rm -f "$T"/store.db* "$T"/sent.*
	qlen=$(cat /proc/sys/net/unix/max_dgram_qlen)
	if [ $NETNS = yes ] && [ $((trial % 2)) = 0 ]; then
		start_daemon qlen 512
		qlen=512
	else
		start_daemon
	fi
	for k in 1 2 3; do
		"$DGSEND" -s "$T/dg.sock" -u 30 -d -l "$T/mix.jsonl" > "$T/sent.$k" &
	done
	"$DGSEND" -s "$T/dg.sock" -u 30 -l "$T/mix.jsonl" > "$T/sent.4" &
	sleep "$moment"
	tl_stop
	wait
	sent=$(sum_field sent "$T"/sent.*)
	echo "trial $trial: qlen $qlen, stop after ${moment}s: $(cat "$T"/sent.* | tr '\n' ' ')"
	assert_eq 0 "$TL_RC" "trial $trial: clean exit"
	assert_eq 0 "$(grep -c 'end=time_up' "$T"/sent.*  | awk -F: '{ s += $2 } END { print s }')" \
	    "trial $trial: every sender was refused at the stop"
	[ "$sent" -ge "$MIN_LOAD" ] || fail "trial $trial: only $sent datagrams sent: no load"
	assert_eq "$sent" "$(tl_counter datagram.received)" "trial $trial: received == sent ($sent)"
	assert_eq "$sent" "$(tl_counter datagram.accepted)" "trial $trial: accepted == sent"
	assert_eq "$sent" "$(tl_sql "select sum(successes) + sum(failures) from policy_day")" \
	    "trial $trial: stored sessions == sent"
	assert_eq "$sent" "$(tl_sql "select (select sum(sessions) from failure_day) +
	    (select sum(successes) from policy_day)")" "trial $trial: failure details + successes == sent"
	assert_grep "counters event=stop received=$sent accepted=$sent stored=$sent " "$T/log" \
	    "trial $trial: the stop's counters say so"
done < "$T/moments"

# ---- 2. the socketmap, and 3. the policy map
if [ ! -x "$PY" ]; then
	echo "SKIP part: /usr/bin/python3 not installed (Debian package python3): socketmap and policy map not tested"
	tl_done
fi
rm -f "$T"/store.db*
tl_conf "datagram_socket none" "socketmap_socket unix:$T/smap.sock" \
    "policy_map_socket unix:$T/pm.sock" "resolver 127.0.0.1:9" "sts_fetch_timeout 1s"
moment=$(sed -n 1p "$T/moments")
start_daemon
for k in 1 2 3 4 5 6; do
	"$PY" "$NC" until "$T/smap.sock" 30 > "$T/out-smap.$k" &
done
for k in 1 2 3; do
	"$PY" "$NC" until "$T/pm.sock" 30 "postfix d$k.example.test" > "$T/out-pm.$k" &
done
sleep "$moment"
sleep 0.5	# python's start
tl_stop
wait
answered=$(sum_field ok "$T"/out-smap.*)
pm_answered=$(sum_field ok "$T"/out-pm.*)
echo "socketmap: $(cat "$T"/out-smap.* | tr '\n' ' ')"
echo "policy map: $(cat "$T"/out-pm.* | tr '\n' ' ')"
assert_eq 0 "$TL_RC" "socketmap and policy map: clean exit"
[ "$answered" -ge "$MIN_LOAD" ] || fail "only $answered socketmap lookups: no load"
assert_eq 6 "$(grep -c 'end=ConnectionRefusedError' "$T"/out-smap.* | awk -F: '{ s += $2 } END { print s }')" \
    "every socketmap client was refused at the stop"
assert_eq 0 "$(sum_field failed "$T"/out-smap.*)" "every socketmap client that got in was answered"
assert_eq "$answered" "$(tl_counter socketmap.requests)" "stored socketmap requests == answered ($answered)"
assert_eq "$answered" "$(tl_counter socketmap.unreported)" "one session result per answered lookup"
assert_eq 3 "$(grep -c 'end=ConnectionRefusedError' "$T"/out-pm.* | awk -F: '{ s += $2 } END { print s }')" \
    "every policy map client was refused at the stop"
assert_eq 0 "$(sum_field failed "$T"/out-pm.*)" "every policy map client that got in was answered"
assert_grep "policymap_stopped requests=$pm_answered " "$T/log" "policy map requests == answered ($pm_answered)"
tl_done
