#!/bin/sh
# The log follower: a generated Postfix log with a known outcome is read
# whole, across restarts at many points (mid-session included), across
# rename and copytruncate rotations (running and stopped), and from
# standard input; every time the store must hold exactly the expected
# successes and failures per domain - nothing lost, nothing twice.
. "${top_srcdir:-.}/tests/lib.sh"
PY=/usr/bin/python3
[ -x $PY ] || { echo "SKIP: /usr/bin/python3 missing"; exit 77; }
export TZ=UTC
LOG=$T/mail.log

tl_gen_maillog

# the saved offset (first line of the checkpoint) once the daemon read to byte $1
wait_offset() {
	i=0
	while [ "$(tl_sql "select value from state where name = 'log:$LOG'" 2>/dev/null |
	    head -1 | cut -d' ' -f5)" != "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { echo "FAIL: offset $1 not reached"; TL_FAILED=1; return 1; }
		sleep 0.05
	done
}

start_follow() {
	tl_conf "datagram_socket none" "log_file $LOG" "log_start_at beginning" "log_format postfix"
	tl_start
}

reset_store() {
	rm -f "$T/store.db" "$T/store.db-wal" "$T/store.db-shm"
}

# ---- 1. the whole file at once
cp "$T/all.log" "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
assert_eq 0 "$TL_RC" "clean stop"
tl_check_counts "whole file"
assert_eq "$TOTAL" "$(tl_counter log.lines)" "every line counted"
assert_eq 0 "$(tl_counter log.parse_misses)" "no parse misses"
assert_grep "log_stopped file=$LOG offset=" "$T/log" "stop logged with the position"

# ---- 2. restarts at 7 points, each in the middle of sessions
reset_store
: > "$LOG"
prev=0
for cut in 1 $((TOTAL / 7)) $((TOTAL / 3)) $((TOTAL / 2)) $((TOTAL * 2 / 3 + 1)) \
    $((TOTAL - 5)) "$TOTAL"; do
	sed -n "$((prev + 1)),${cut}p" "$T/all.log" >> "$LOG"
	prev=$cut
	start_follow
	wait_offset "$(wc -c < "$LOG")" || break
	tl_stop
done
tl_check_counts "7 restarts"
assert_grep "log_resumed file=$LOG offset=" "$T/log" "resumed at the saved offset"

# ---- 3. rename rotation while running, then copytruncate while running
reset_store
third=$((TOTAL / 3))
sed -n "1,${third}p" "$T/all.log" > "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
mv "$LOG" "$LOG.1"
sed -n "$((third + 1)),$((third * 2))p" "$T/all.log" > "$LOG"
wait_offset "$(wc -c < "$LOG")"
assert_grep "log_rotated file=$LOG how=rename" "$T/log" "rename rotation followed"
cp "$LOG" "$LOG.1"
: > "$LOG"
sleep 0.5
sed -n "$((third * 2 + 1)),\$p" "$T/all.log" >> "$LOG"
wait_offset "$(wc -c < "$LOG")"
tl_stop
assert_grep "log_rotated file=$LOG how=copytruncate" "$T/log" "copytruncate followed"
tl_check_counts "rotations while running"

# ---- 4. rotation while stopped: the rest of <log>.1 first, then the new file
reset_store
rm -f "$LOG.1"
sed -n "1,${third}p" "$T/all.log" > "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
sed -n "$((third + 1)),$((third * 2))p" "$T/all.log" >> "$LOG"
mv "$LOG" "$LOG.1"
sed -n "$((third * 2 + 1)),\$p" "$T/all.log" > "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
assert_grep "log_resumed file=$LOG.1 offset=" "$T/log" "resumed in the rotated file"
tl_check_counts "rotation while stopped"

# ---- 5. position lost (rotated away while stopped): warned, new file read whole
reset_store
rm -f "$LOG.1"
sed -n "1,${third}p" "$T/all.log" > "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
rm -f "$LOG"
sed -n "$((third + 1)),\$p" "$T/all.log" > "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
assert_grep "log_position_lost file=$LOG" "$T/log" "lost position warned"
tl_check_counts "lost position, all lines still there"

# ---- 6. standard input: the daemon stops by itself at its end
reset_store
tl_conf "datagram_socket none" "log_file -" "log_format postfix"
: > "$T/log"
$MILTER -f -c "$T/tlsrpt.conf" < "$T/all.log" 2>>"$T/log" &
TL_PID=$!
i=0
while kill -0 "$TL_PID" 2>/dev/null && [ $i -lt 300 ]; do i=$((i + 1)); sleep 0.05; done
kill -0 "$TL_PID" 2>/dev/null && { kill "$TL_PID"; echo "FAIL: did not stop at end of input"; TL_FAILED=1; }
wait "$TL_PID"; rc=$?
TL_PID=
assert_eq 0 "$rc" "stdin: clean exit"
assert_grep "log_input_ended" "$T/log" "stdin: end logged"
tl_check_counts "standard input"

# without -f the daemon's standard input is /dev/null: refused at start
$MILTER -c "$T/tlsrpt.conf" < "$T/all.log" 2>"$T/err"; rc=$?
assert_eq 78 "$rc" "stdin without -f: EX_CONFIG"
assert_grep "log_file - (standard input) needs -f" "$T/err" "stdin without -f: says why"

# ---- 6b. standard input that stays open (journalctl -f): SIGTERM still stops it
reset_store
mkfifo "$T/in"
: > "$T/log"
$MILTER -f -c "$T/tlsrpt.conf" < "$T/in" 2>>"$T/log" &
TL_PID=$!
exec 3>"$T/in"
cat "$T/all.log" >&3
i=0
while [ "$(tl_counter log.lines 2>/dev/null)" != "$TOTAL" ] && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.05
done
assert_eq "$TOTAL" "$(tl_counter log.lines)" "open stdin: every line read"
tl_stop
exec 3>&-
assert_eq 0 "$TL_RC" "open stdin: clean exit on SIGTERM"
tl_check_counts "open standard input"

# ---- 7. malformed smtp lines are parse misses; nothing else changes
reset_store
cp "$T/all.log" "$LOG"
printf '%s\n' \
    "Nov 18 12:00:00 mail postfix/smtp[5]: 4G9ABCDEF1: to=<x@y.test>, relay=mx[1.2.3.4]:25, status=" \
    "Nov 18 12:00:00 mail postfix/smtp[5]: Verified TLS connection established to " \
    "Nov 18 12:00:00 mail postfix/smtp[5]: server certificate verification failed for " \
    >> "$LOG"
head -c 3000000 /dev/zero | tr '\0' 'x' >> "$LOG"
printf '\n' >> "$LOG"
start_follow
wait_offset "$(wc -c < "$LOG")"
tl_stop
tl_check_counts "garbage at the end"
assert_eq 3 "$(tl_counter log.parse_misses)" "3 parse misses counted"
assert_eq 1 "$(tl_counter log.long_lines)" "the 3 MB line counted as too long"

# ---- 8. the store locked and pending_limit reached: the follower waits, then goes on
reset_store
rm -f "$LOG.1"
: > "$LOG"
tl_conf "datagram_socket none" "log_file $LOG" "log_start_at beginning" "log_format postfix" \
    "pending_limit 1000" "store_busy_timeout 100ms" "flush_interval 100ms"
tl_start
touch "$T/hold"
( echo "BEGIN IMMEDIATE;"; echo "INSERT INTO input_counter VALUES ('2000-01-01', 'lock.held', 1);"
  i=0; while [ -e "$T/hold" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
  echo "COMMIT;" ) | sqlite3 "$T/store.db" &
LOCKER=$!
sleep 0.3
# one verified session each for domains d$1..d$2
sessions() {
	awk -v from="$1" -v to="$2" 'BEGIN { for (i = from; i <= to; i++) {
	printf "Nov 18 12:00:00 mail postfix/smtp[%d]: Verified TLS connection established to " \
	    "mx.d%d.test[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)\n", \
	    10000 + i, i
	printf "Nov 18 12:00:00 mail postfix/smtp[%d]: 4B%05d: to=<u@d%d.test>, " \
	    "relay=mx.d%d.test[192.0.2.1]:25, delay=0.2, delays=0/0/0.1/0.1, dsn=2.0.0, " \
	    "status=sent (250 2.0.0 Ok)\n", 10000 + i, i, i, i } }' >> "$LOG"
}
# more distinct counters than pending_limit wait in memory; then more lines come
sessions 1 1200
tl_wait_for "$T/log" "store_commit_deferred reason=busy pending_sessions=1200" ||
	{ echo "FAIL: first part not pending"; TL_FAILED=1; }
sessions 1201 1300
tl_wait_for "$T/log" "log_follow_paused" || { echo "FAIL: no pause logged"; TL_FAILED=1; }
assert_grep "log_follow_paused file=$LOG" "$T/log" "paused at pending_limit"
rm -f "$T/hold"
wait "$LOCKER"
wait_offset "$(wc -c < "$LOG")"
tl_stop
assert_grep "log_follow_resumed file=$LOG" "$T/log" "resumed once the store was back"
assert_eq "1300 1300 0" "$(tl_sql "select count(*), sum(successes), sum(failures) from policy_day" |
    tr '|' ' ')" "every session counted once after the pause"
assert_eq 1 "$(tl_counter lock.held)" "the other writer's row is there too"

tl_done
