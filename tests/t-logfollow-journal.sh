#!/bin/sh
# The log follower on the systemd journal (log_file journal:DIR): real
# journal files, written by systemd-journal-remote from the journal
# export format (tests/maillog2export.py turns syslog lines into entries
# as journald stores them: SYSLOG_FACILITY=2, SYSLOG_IDENTIFIER,
# SYSLOG_PID, MESSAGE), with entries of another facility in between that
# must not be read.  A generated Postfix log with a known outcome is read
# whole, across restarts at many points (mid-session, entries appended
# while running and while stopped), from the tail of a journal that
# already holds other sessions, after its saved entry was vacuumed or
# copied into another file (another cursor), and with an unusable cursor; real Sendmail 8.17 captures (the
# tlsrpt.mc hook lines and STARTTLS lines) give the exact per-domain
# counts of "tlsrpt-report preview", across restarts too.  Every time:
# nothing lost, nothing twice.  No journald is needed.
. "${top_srcdir:-.}/tests/lib.sh"
PY=/usr/bin/python3
REPORT="$top_builddir/tlsrpt-report"
[ -x $PY ] || { echo "SKIP: /usr/bin/python3 missing"; exit 77; }
JR=
for p in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
	[ -x "$p" ] && JR=$p && break
done
[ -n "$JR" ] || { echo "SKIP: systemd-journal-remote missing (Debian package systemd-journal-remote)"; exit 77; }
grep -q '^#define HAVE_LIBSYSTEMD 1' "$top_builddir/config.h" ||
	{ echo "SKIP: built without libsystemd"; exit 77; }
export TZ=UTC
J=$T/journal
CORPUS="$top_srcdir/tests/fuzz-corpus-maillog"

tl_gen_maillog
YEAR=$(date -u -d @1795000000 +%Y)	# gen_maillog.py's default start

# add_entries SRC FIRST COUNT FILE: lines FIRST.. of SRC as entries of $J/FILE.journal
add_entries() {
	$PY "$top_srcdir/tests/maillog2export.py" --year "${YEAR_OF:-$YEAR}" --noise 5 \
	    --first "$2" --count "$3" < "$1" > "$T/chunk.export" || { echo "FAIL: export"; exit 1; }
	"$JR" -o "$J/$4.journal" - < "$T/chunk.export" 2>>"$T/jr.log" ||
	    { echo "FAIL: systemd-journal-remote"; cat "$T/jr.log"; exit 1; }
}

# wait (bounded) until the committed log.lines counter is $1
wait_lines() {
	i=0
	while [ "$(tl_counter log.lines 2>/dev/null)" != "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { echo "FAIL: log.lines $(tl_counter log.lines), not $1"; TL_FAILED=1; return 1; }
		sleep 0.05
	done
}

# wait (bounded) until a position is saved (the first checkpoint)
wait_saved() {
	i=0
	while ! tl_sql "select value from state where name = 'log:journal:$J'" 2>/dev/null |
	    grep -q '^tlsrpt-journal 1 '; do
		i=$((i + 1))
		[ $i -gt 300 ] && { echo "FAIL: no position saved"; TL_FAILED=1; return 1; }
		sleep 0.05
	done
}

start_follow() {	# start_follow [log_start_at]
	tl_conf "datagram_socket none" "log_file journal:$J" "log_start_at ${1:-beginning}" \
	    "log_format ${FORMAT:-postfix}" 'organization_name "Journal Test"' \
	    "contact_info mailto:tlsrpt@sender.test"
	tl_start
}

reset() {
	rm -f "$T/store.db" "$T/store.db-wal" "$T/store.db-shm"
	rm -rf "$J"
	mkdir "$J"
}

# ---- 1. the whole journal at once; the other facility's entries are not read
reset
add_entries "$T/all.log" 1 "$TOTAL" mail
start_follow
wait_lines "$TOTAL"
tl_stop
assert_eq 0 "$TL_RC" "clean stop"
tl_check_counts "whole journal"
assert_eq 0 "$(tl_counter log.parse_misses)" "no parse misses"
assert_grep "log_started file=journal:$J at=head" "$T/log" "start at the head logged"
assert_grep "log_stopped file=journal:$J entries=$TOTAL " "$T/log" "stop logged with the entries read"
assert_eq "$((TOTAL + TOTAL / 5))" "$(journalctl -D "$J" -q | wc -l)" \
    "the journal holds the other facility's entries too"

# ---- 2. restarts at 7 points, mid-session; appended while stopped and while running
reset
prev=0
n=0
for cut in 1 $((TOTAL / 7)) $((TOTAL / 3)) $((TOTAL / 2)) $((TOTAL * 2 / 3 + 1)) \
    $((TOTAL - 5)) "$TOTAL"; do
	n=$((n + 1))
	if [ $((n % 2)) = 1 ]; then	# while stopped
		add_entries "$T/all.log" $((prev + 1)) $((cut - prev)) mail
		start_follow
	else				# while running
		start_follow
		wait_saved
		add_entries "$T/all.log" $((prev + 1)) $((cut - prev)) mail
	fi
	prev=$cut
	wait_lines "$cut" || break
	tl_stop
	cat "$T/log" >> "$T/runs.log"
done
tl_check_counts "7 restarts"
assert_eq 6 "$(grep -c "log_resumed file=journal:$J cursor_time=" "$T/runs.log")" \
    "6 starts resumed at the saved cursor"
assert_eq "$TOTAL" "$(tl_counter log.lines)" "every entry read once over 7 runs"

# ---- 3. no saved position: the tail; what comes while stopped is read at the next start
reset
YEAR_OF=$((YEAR - 1)) add_entries "$T/all.log" 1 "$TOTAL" older	# would be counted twice
start_follow end
assert_grep "log_started file=journal:$J at=tail" "$T/log" "no position: the tail, said so"
wait_saved
tl_stop
assert_eq 0 "$(tl_counter log.lines)" "nothing of the tail read"
add_entries "$T/all.log" 1 "$((TOTAL / 2))" mail
start_follow end
wait_lines "$((TOTAL / 2))"
add_entries "$T/all.log" "$((TOTAL / 2 + 1))" "$((TOTAL - TOTAL / 2))" mail
wait_lines "$TOTAL"
tl_stop
tl_check_counts "tail start, entries logged while stopped"
assert_grep "log_resumed file=journal:$J cursor_time=" "$T/log" "second start resumed"

# ---- 4. the saved entry vacuumed while stopped: warned, on from the next entry
reset
third=$((TOTAL / 3))
add_entries "$T/all.log" 1 "$third" old
start_follow
wait_lines "$third"
tl_stop
add_entries "$T/all.log" "$((third + 1))" "$((TOTAL - third))" new
rm -f "$J/old.journal"	# what journald --vacuum-* does to an archived file
start_follow
wait_lines "$TOTAL"
tl_stop
assert_grep "warning: log_position_lost file=journal:$J cursor_time=" "$T/log" "lost cursor warned"
tl_check_counts "saved entry vacuumed, every later entry still there"

# ---- 4b. the saved entry copied into another file (journald moving /run/log/journal
# to /var/log/journal): another cursor, the same entry; not read again
reset
add_entries "$T/all.log" 1 "$third" runtime
start_follow
wait_lines "$third"
tl_stop
add_entries "$T/all.log" "$third" "$((TOTAL - third + 1))" persistent
rm -f "$J/runtime.journal"
start_follow
wait_lines "$TOTAL"
tl_stop
assert_grep "log_resumed file=journal:$J cursor_time=" "$T/log" "the copy is the saved entry"
assert_eq 0 "$(grep -c log_position_lost "$T/log")" "no position lost"
tl_check_counts "saved entry copied to another file"

# ---- 5. a saved cursor sd-journal does not take: warned, per log_start_at (end)
tl_sql "update state set value = 'tlsrpt-journal 1 no-such-cursor 1 - 1' where name = 'log:journal:$J'"
start_follow end
assert_grep "log_state_unreadable file=journal:$J" "$T/log" "unusable cursor warned"
assert_grep "log_started file=journal:$J at=tail" "$T/log" "then from the tail"
i=0
while tl_sql "select value from state where name = 'log:journal:$J'" | grep -q no-such-cursor; do
	i=$((i + 1)); [ $i -gt 100 ] && break; sleep 0.05
done
tl_stop
tl_check_counts "after the unusable cursor"
assert_eq "$TOTAL" "$(tl_counter log.lines)" "nothing read twice"

# ---- 6. a stop while waiting for entries is prompt
if [ -z "${TLSRPT_VALGRIND:-}" ]; then
	start_follow
	sleep 0.5
	t0=$(date +%s%N)
	tl_stop
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "# stop while idle took $ms ms"
	assert_eq yes "$([ "$ms" -lt 1500 ] && echo yes || echo "no ($ms ms)")" "idle stop within 1.5 s"
fi

# ---- 7. real Sendmail 8.17 lines: the tlsrpt.mc hook and STARTTLS, restarts in between
preview() {	# preview DOMAIN DAY: "SUCCESSES FAILURES"
	"$REPORT" -c "$T/tlsrpt.conf" --json preview "$1" --day "$2" > "$T/preview.json" 2>&1 ||
	    { echo "preview $1: $(cat "$T/preview.json")"; return; }
	$PY -c 'import json, sys
p = json.load(open(sys.argv[1]))["policies"]
print(sum(x["summary"]["total-successful-session-count"] for x in p),
      sum(x["summary"]["total-failure-session-count"] for x in p))' "$T/preview.json"
}
FORMAT=auto
reset
HOOK="$CORPUS/real-sendmail-hook-8.17.txt"
HN=$(wc -l < "$HOOK")
YEAR_OF=2026 add_entries "$HOOK" 1 150 mail
start_follow
wait_lines 150
tl_stop
YEAR_OF=2026 add_entries "$HOOK" 151 150 mail
start_follow
wait_lines 300
tl_stop
YEAR_OF=2026 add_entries "$HOOK" 301 "$((HN - 300))" mail
start_follow
wait_lines "$HN"
tl_stop
for d in bd.test odb.test odi.test q.test qr.test run.test; do
	assert_eq "3 0" "$(preview $d 2026-12-07)" "hook lines, 2 restarts: $d"
done
assert_eq 36 "$(tl_counter log.sendmail_hook_lines)" "hook lines: each read once"
assert_eq 0 "$(tl_counter log.parse_misses)" "hook lines: no parse misses"

reset
YEAR_OF=2026 add_entries "$CORPUS/real-sendmail-8.17.txt" 1 20 mail
start_follow
wait_lines 20
tl_stop
assert_eq "1 0" "$(preview may.good.test 2026-11-23)" "STARTTLS lines: may.good.test"
for d in may.expired.test may.notls.test verify.expired.test verify.notls.test; do
	assert_eq "0 1" "$(preview $d 2026-11-23)" "STARTTLS lines: $d"
done

tl_done
