#!/bin/sh
# Journal follower throughput: how many journal entries per second
# tlsrpt-milter reads (log_file journal:DIR), parses, correlates and
# commits, end to end (journal files to store).
#   sh bench/journalbench.sh BUILDDIR SRCDIR [SESSIONS]
# Generates the Postfix log of bench/logbench.sh (SESSIONS sessions,
# default 30000), writes it as journal entries of facility mail with
# systemd-journal-remote (tests/maillog2export.py, one entry of another
# facility per 5 lines, as a busy host's journal has), starts the daemon
# on it with log_start_at beginning and times the run from start until
# the committed log.lines counter reaches the number of mail entries.
# Prints entries, seconds, entries/s, the daemon's peak RSS, and checks
# that every entry was counted and every domain's counts are exact.
set -u
B=$1 S=$2 N=${3:-30000}
JR=/lib/systemd/systemd-journal-remote
[ -x $JR ] || JR=/usr/lib/systemd/systemd-journal-remote
[ -x $JR ] || { echo "journalbench: systemd-journal-remote missing (Debian package systemd-journal-remote)"; exit 1; }
. "$S/bench/follow.sh"
follow_begin journalbench "$N"
mkdir "$T/j"
/usr/bin/python3 "$S/tests/maillog2export.py" --year "$(date -u -d @1795000000 +%Y)" --noise 5 \
    < "$T/mail.log" | "$JR" -o "$T/j/mail.journal" - 2>/dev/null
follow_conf "journal:$T/j"
cat "$T/j/mail.journal" > /dev/null	# the page cache, not the disk
all_read() {	# the committed log.lines counter is every mail entry
	[ "$(sqlite3 "$T/store.db" "select coalesce(sum(value),0) from input_counter
	    where name='log.lines'" 2>/dev/null)" = "$LINES" ]
}
follow_run journalbench all_read
sqlite3 -batch -noheader "$T/store.db" "select domain, sum(successes), sum(failures) from policy_day
    group by domain order by domain" | tr '|' ' ' > "$T/got"
awk '{print $1, $2, $3}' "$T/expect" > "$T/want"
exact=no; cmp -s "$T/got" "$T/want" && exact=yes
awk -v l="$LINES" -v a="$T0" -v b="$T1" -v r="$RSS" -v e="$exact" 'BEGIN {
	d = b - a
	printf "journal follower: %d mail entries (and %d others) in %.2f s = %.0f entries/s, peak RSS %.1f MB, counts exact: %s\n",
	    l, int(l / 5), d, l / d, r / 1024, e
	exit (e == "yes" ? 0 : 1)
}'
