#!/bin/sh
# Log follower throughput: how many mail log lines per second tlsrpt-milter
# reads, parses, correlates and commits, end to end (file to store).
#   sh bench/logbench.sh BUILDDIR SRCDIR [SESSIONS]
# Generates a Postfix log of SESSIONS sessions (default 150000; about 7
# lines each with the unrelated lines a busy server logs in between),
# starts the daemon on it with log_start_at beginning, and times the run
# from start until the committed position reaches the end of the file.
# Prints lines, seconds, lines/s, the daemon's peak RSS, and checks that
# every line was counted.  Compare with the target: 200,000 lines/s.
set -u
B=$1 S=$2 N=${3:-150000}
. "$S/bench/follow.sh"
follow_begin logbench "$N"
SIZE=$(wc -c < "$T/mail.log")
follow_conf "$T/mail.log"
# warm the page cache so the disk is not what is measured
cat "$T/mail.log" > /dev/null
at_end() {	# the committed position is the end of the file
	[ "$(sqlite3 "$T/store.db" "select value from state where name='log:$T/mail.log'" 2>/dev/null |
	    head -1 | cut -d' ' -f5)" = "$SIZE" ]
}
follow_run logbench at_end
counted=$(sqlite3 "$T/store.db" "select sum(value) from input_counter where name='log.lines'")
awk -v l="$LINES" -v s="$SIZE" -v a="$T0" -v b="$T1" -v r="$RSS" -v c="$counted" 'BEGIN {
	d = b - a
	printf "log follower: %d lines (%.0f MB) in %.2f s = %.0f lines/s (target 200000: %s), peak RSS %.1f MB, lines counted %d\n",
	    l, s / 1048576, d, l / d, (l / d >= 200000 ? "met" : "NOT met"), r / 1024, c
	exit (c == l ? 0 : 1)
}'
