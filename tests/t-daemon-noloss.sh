#!/bin/sh
# Nothing accepted is lost:
# 1. N datagrams sent as fast as possible (blocking sends, so none is lost
#    in the kernel), SIGTERM right after the last: exactly N counted.
# 2. The store is held locked by another writer (as the reporter may) for
#    longer than store_busy_timeout while datagrams arrive: the daemon keeps
#    them in memory, says so, and commits them all once the lock is gone.
. "${top_srcdir:-.}/tests/lib.sh"
D="$top_srcdir/tests/datagrams"
N=${TLSRPT_NOLOSS_N:-50000}
[ -n "${TLSRPT_VALGRIND:-}" ] && N=${TLSRPT_NOLOSS_N:-5000}

awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
	printf "{\"dpv\":\"1\",\"d\":\"d%d.example\",\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":201,\"r\":\"192.0.2.%d\"}],\"t\":1,\"f\":1}]}\n", i % 97, i % 7 }' > "$T/burst.jsonl"

tl_conf "flush_interval 1s"
tl_start
tl_send -l "$T/burst.jsonl"
tl_stop
assert_eq 0 "$TL_RC" "clean exit"
assert_eq "$N" "$(tl_counter datagram.received)" "received == sent"
assert_eq "$N" "$(tl_counter datagram.accepted)" "accepted == sent"
assert_eq "$N" "$(tl_sql "select sum(failures) from policy_day")" "failed sessions == sent"
assert_eq "$N" "$(tl_sql "select sum(sessions) from failure_day")" "failure details == sent"
assert_eq 97 "$(tl_sql "select count(*) from policy_day")" "97 domains"

# 2: a busy store
rm -f "$T"/store.db*
tl_conf "store_busy_timeout 100ms" "flush_interval 100ms"
tl_start
tl_send "$D/success.json"
i=0; while [ "$(tl_counter datagram.accepted)" != 1 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
assert_eq 1 "$(tl_counter datagram.accepted)" "first datagram committed while running"
# hold the write lock, the way another writer would, until $T/hold goes (at most 30 s)
touch "$T/hold"
( echo "BEGIN IMMEDIATE;"; echo "INSERT INTO input_counter VALUES ('2000-01-01', 'lock.held', 1);"
  i=0; while [ -e "$T/hold" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  echo "COMMIT;" ) | sqlite3 "$T/store.db" &
LOCKER=$!
sleep 0.3
tl_send -n 500 "$D/success.json"
tl_send -l "$T/burst.jsonl"
tl_wait_for "$T/log" "store_commit_deferred reason=busy"
assert_eq 1 "$(tl_sql "select sum(successes) from policy_day")" "nothing new visible while the lock is held"
rm -f "$T/hold"
wait $LOCKER
tl_stop
assert_grep "store_commit_deferred reason=busy" "$T/log" "deferral logged"
assert_eq 501 "$(tl_sql "select sum(successes) from policy_day where domain='ok.example'")" "all successes committed after the lock"
assert_eq "$N" "$(tl_sql "select sum(failures) from policy_day")" "all failures committed after the lock"
assert_eq "$((N + 501))" "$(tl_counter datagram.accepted)" "accepted counter matches"
assert_eq 1 "$(tl_counter lock.held)" "the other writer's row is there too"
tl_done
