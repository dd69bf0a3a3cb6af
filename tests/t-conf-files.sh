#!/bin/sh
# Configuration and the files it names are regular files only, in both
# programs (tlsrpt.conf(5), FILES): a FIFO, a directory or a device is
# refused at once with a clear message, never read (a FIFO would block).
# 1. tlsrpt-milter -n, tlsrpt-milter -f and tlsrpt-report with a FIFO, a
#    directory and /dev/null as the configuration: exit 78 at once.
# 2. A reload (SIGHUP) after the configuration was replaced by a FIFO:
#    reload_failed, the daemon goes on and stops cleanly.
# 3. dkim_key_file and log_file a FIFO: exit 78; store_path a FIFO:
#    exit 73, in both programs.
. "${top_srcdir:-.}/tests/lib.sh"
REPORT="$top_builddir/tlsrpt-report"
[ -n "${TLSRPT_VALGRIND:-}" ] &&
	REPORT="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $REPORT"
mkfifo "$T/fifo.conf" "$T/fifo"
mkdir "$T/dir"

# run WHAT COMMAND...: at most 20 s (a blocked read would be killed: 124); "RC|first stderr line"
run() {
	_what=$1
	shift
	timeout 20 "$@" > /dev/null 2> "$T/err"
	echo "$?|$(grep -v '^==' "$T/err" | head -n 1)"
}

for conf in "$T/fifo.conf:a FIFO" "$T/dir:a directory" "/dev/null:a character device"; do
	path=${conf%%:*}
	kind=${conf#*:}
	msg="$path: is $kind, not a regular file: the configuration must be a regular file"
	assert_eq "78|tlsrpt-milter: $msg" "$(run check $MILTER -n -c "$path")" "tlsrpt-milter -n: $kind refused"
	assert_eq "78|tlsrpt-milter: $msg" "$(run start $MILTER -f -c "$path")" "tlsrpt-milter -f: $kind refused"
	assert_eq "78|tlsrpt-report: $msg" "$(run report $REPORT -c "$path" list)" "tlsrpt-report: $kind refused"
done

# ---- 2. a reload that meets a FIFO
tl_conf
tl_start
mv "$T/tlsrpt.conf" "$T/good.conf"
mkfifo "$T/tlsrpt.conf"
kill -HUP "$TL_PID"
tl_wait_for "$T/log" "reload_failed" || fail "no reload_failed"
assert_grep "err: reload_failed error=\"$T/tlsrpt.conf: is a FIFO, not a regular file: the configuration must be a regular file\" (configuration unchanged)" \
    "$T/log" "reload: a FIFO is refused, nothing changes"
tl_send "$top_srcdir/tests/datagrams/success.json"
tl_stop
assert_eq 0 "$TL_RC" "reload: the daemon went on and stopped cleanly"
assert_eq 1 "$(tl_counter datagram.accepted)" "reload: it still served"
rm -f "$T/tlsrpt.conf"
mv "$T/good.conf" "$T/tlsrpt.conf"

# ---- 3. files named by keys
REQ="organization_name Example
contact_info tlsrpt@example.org"
tl_conf "$REQ" "dkim_key_file $T/fifo"
assert_eq "78|tlsrpt-report: $T/tlsrpt.conf: dkim_key_file $T/fifo is a FIFO, not a regular file" \
    "$(run report $REPORT -c "$T/tlsrpt.conf" list)" "dkim_key_file: a FIFO refused"
tl_conf "log_file $T/fifo"
assert_eq "78|tlsrpt-milter: $T/tlsrpt.conf: log_file $T/fifo is a FIFO, not a regular file (a mail log written to a pipe: give it on standard input, log_file -)" \
    "$(run check $MILTER -n -c "$T/tlsrpt.conf")" "log_file: a FIFO refused"
tl_conf "$REQ" "store_path $T/fifo"
timeout 20 $MILTER -f -c "$T/tlsrpt.conf" 2> "$T/err"
assert_eq 73 "$?" "store_path: a FIFO refused by the daemon"
assert_grep "err: startup_failed error=\"store $T/fifo is a FIFO; store_path must name a regular file (or none yet, to create one)\"" \
    "$T/err" "store_path: the daemon says why"
assert_eq "73|tlsrpt-report: store $T/fifo is a FIFO; store_path must name a regular file (or none yet, to create one)" \
    "$(run report $REPORT -c "$T/tlsrpt.conf" list)" "store_path: a FIFO refused by the reporter"
tl_done
