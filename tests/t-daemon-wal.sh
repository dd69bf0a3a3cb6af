#!/bin/sh
# The store's WAL is bounded (tlsrpt-milter(8), The store's files): a
# reader holding a read transaction makes it grow only while it reads,
# and it is cut back once the reader lets go.  The daemon writes 3,000
# sessions a second over 5,000 domains; a reader (the sqlite3 shell)
# holds a read transaction until the WAL is past 12 MiB (three times
# STORE_WAL_LIMIT_BYTES, 4 MiB; at most 40 s), then lets go.
# - while held: store_wal_held logged once the WAL is past 8 MiB;
# - after: store_wal_truncated within 3 s, the WAL then at most 4 MiB,
#   and for the 3 s of load that follow at most 8 MiB (SQLite's own
#   checkpoint every 1,000 pages, journal_size_limit 4 MiB);
# - every session sent is stored (the sender goes on until the stop).
. "${top_srcdir:-.}/tests/lib.sh"
MIB=1048576

awk 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"dpv\":\"1\",\"d\":\"w%d.example\",\"pr\":\"v=TLSRPTv1; rua=mailto:tlsrpt@w%d.example\",\"policies\":[{\"policy-type\":2,\"policy-domain\":\"w%d.example\",\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: mail.w%d.example\",\"max_age: 604800\"],\"mx-host\":[\"mail.w%d.example\"],\"failure-details\":[{\"c\":205,\"s\":\"192.0.2.10\",\"n\":\"mail.w%d.example\",\"h\":\"250 mail.w%d.example\",\"r\":\"198.51.100.%d\",\"f\":\"self-signed_certificate\"}],\"t\":1,\"f\":1}]}\n", i, i, i, i, i, i, i, i % 200 }' \
	> "$T/w.jsonl"

wal() { stat -c %s "$T/store.db-wal" 2>/dev/null || echo 0; }

tl_conf "flush_interval 100ms"
tl_start
"$DGSEND" -s "$T/dg.sock" -u 90 -r 3000 -l "$T/w.jsonl" > "$T/sent" &
SENDER=$!
sleep 1
( echo "BEGIN; SELECT count(*) FROM policy_day;"
  i=0; while [ ! -e "$T/release" ] && [ $i -lt 900 ]; do sleep 0.05; i=$((i + 1)); done
  echo "COMMIT;" ) | sqlite3 "$T/store.db" > /dev/null &
READER=$!
start=$(date +%s)
peak=0
while :; do
	w=$(wal)
	[ "$w" -gt "$peak" ] && peak=$w
	[ "$peak" -gt $((12 * MIB)) ] && break
	[ $(($(date +%s) - start)) -ge 40 ] && break
	sleep 0.2
done
held=$(($(date +%s) - start))
touch "$T/release"
wait $READER
released=$(date +%s)
if [ "$peak" -le $((8 * MIB)) ]; then
	[ -n "${TLSRPT_VALGRIND:-}" ] && { echo "SKIP: under valgrind the daemon writes too slowly to grow the WAL"; exit 77; }
	fail "the WAL reached only $peak bytes in $held s under a reader: too little load to test"
fi
echo "reader held ${held}s: WAL peak $peak bytes"
tl_wait_for "$T/log" "store_wal_truncated" || fail "no store_wal_truncated within 10 s"
after=$(wal)
echo "WAL after the reader let go: $after bytes ($(($(date +%s) - released)) s after)"
max=0
i=0
while [ $i -lt 15 ]; do
	w=$(wal)
	[ "$w" -gt "$max" ] && max=$w
	sleep 0.2
	i=$((i + 1))
done
echo "WAL during the next 3 s of load: at most $max bytes"
# the sender goes on until the stop refuses it: what it sent is what the kernel took
tl_stop
wait $SENDER
sent=$(sed 's/sent=\([0-9]*\) .*/\1/' "$T/sent")
assert_eq 0 "$TL_RC" "clean exit"
assert_grep "notice: store_wal_held bytes=[0-9]* (a reader holds an old snapshot of the store" "$T/log" \
    "the reader holding the WAL is logged"
assert_grep "info: store_wal_truncated peak_bytes=[0-9]* bytes=0 (the readers let go)" "$T/log" \
    "the WAL is cut back once the reader lets go"
[ "$after" -le $((4 * MIB)) ]; assert_eq 0 $? "WAL right after: $after <= 4 MiB"
[ "$max" -le $((8 * MIB)) ]; assert_eq 0 $? "WAL under the load that follows: $max <= 8 MiB"
assert_grep "end=refused" "$T/sent" "the sender went on until the stop"
assert_eq "$sent" "$(tl_sql "select sum(failures) from policy_day")" "every session sent is stored ($sent)"
tl_done
