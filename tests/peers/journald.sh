# A private systemd-journald for the tests (sourced after e2e.sh).
#
#   journald_start DIR
#	runs Debian's systemd-journald in a journal namespace of its own
#	("tlsrpt-test") and a private mount namespace whose /run is DIR/run
#	and /var/log DIR/log, so that neither the host's journal nor its
#	sockets are touched.  Sets JD_PID (added to E2E_PIDS), JD_SYSLOG
#	(its /dev/log socket: a MTA whose /dev/log is this logs into it,
#	as under systemd) and JD_FILES (the directory of its journal files,
#	persistent storage).  Returns 1 with JD_WHY when it does not start
#	within 5 s.
#   journald_stop
#	stops it (SIGTERM, bounded wait).
#   journald_for_mta
#	journald_start $T/jd (skips when it cannot) and SM_LOGSOCK its
#	syslog socket, so that an MTA run under sendmail_in_logns
#	(sendmail.sh) logs into it; skips when that cannot be arranged.
#   journald_mail
#	the journal's facility-mail messages, one a line.
#   journald_dump
#	its last 60 facility-mail entries, for a test's e2e_dump.
#
# tlsrpt-milter following that journal (log_file journal:$JD_FILES) over
# two runs with mail logged in between:
#   journald_follow_start
#	configures and starts the daemon as the sample does (log_start_at
#	end, log_format auto); asserts that it starts at the head, the
#	journal holding no mail entry yet.
#   journald_wait_read
#	waits (15 s, else fails) until the daemon has read every
#	facility-mail entry (its log.lines counter).
#   journald_follow_stop first|second
#	journald_wait_read, then stops the daemon and asserts a clean stop;
#	after the first run JD_READ is what it read.
#   journald_follow_resume
#	asserts that the journal got entries since the first run, starts
#	the daemon again, asserts that it resumed at the saved cursor and
#	waits until it has read them.
#   journald_follow_checks
#	asserts that every mail entry was read once over the runs, without
#	a parse miss, and that journald dropped nothing.

JD_PID= JD_SYSLOG= JD_FILES= JD_WHY= JD_READ=

journald_start() {	# journald_start DIR
	_jd=
	for _p in /usr/lib/systemd/systemd-journald /lib/systemd/systemd-journald; do
		[ -x "$_p" ] && _jd=$_p && break
	done
	[ -n "$_jd" ] || { JD_WHY="systemd-journald not installed (Debian package systemd)"; return 1; }
	_mid=$(cat /etc/machine-id 2>/dev/null)
	[ -n "$_mid" ] || { JD_WHY="no /etc/machine-id"; return 1; }
	mkdir -p "$1/run" "$1/log/journal" || { JD_WHY="cannot create $1"; return 1; }
	unshare -m --propagation private /bin/sh -c '
		mount --bind "$1" /run && mount --bind "$2" /var/log || exit 71
		exec "$3" tlsrpt-test' jd "$1/run" "$1/log" "$_jd" > "$1/journald.out" 2>&1 &
	JD_PID=$!
	E2E_PIDS="$E2E_PIDS $JD_PID"
	JD_SYSLOG="$1/run/systemd/journal.tlsrpt-test/dev-log"
	JD_FILES="$1/log/journal/$_mid.tlsrpt-test"
	_i=0
	while [ ! -S "$JD_SYSLOG" ] || [ ! -f "$JD_FILES/system.journal" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ] || ! kill -0 "$JD_PID" 2>/dev/null; then
			JD_WHY="systemd-journald did not start: $(cat "$1/journald.out")"
			return 1
		fi
		sleep 0.05
	done
	return 0
}

journald_stop() {
	[ -n "$JD_PID" ] || return 0
	kill "$JD_PID" 2>/dev/null
	_i=0
	while kill -0 "$JD_PID" 2>/dev/null && [ $_i -lt 100 ]; do _i=$((_i + 1)); sleep 0.05; done
	wait "$JD_PID" 2>/dev/null
	JD_PID=
}

journald_for_mta() {
	journald_start "$T/jd" || skip "$JD_WHY"
	echo "# journald $JD_PID, files in $JD_FILES"
	SM_LOGSOCK=$JD_SYSLOG
	sendmail_in_logns /bin/sh -c '[ -S /dev/log ]' ||
	    skip "cannot give the MTA a private /dev/log (unshare -m / mount)"
}

journald_mail() {
	journalctl -q -D "$JD_FILES" SYSLOG_FACILITY=2 -o cat 2>/dev/null
}

journald_dump() {
	[ -n "$JD_FILES" ] || return 0
	echo "---- journal (facility mail) ----"
	journalctl -q -D "$JD_FILES" SYSLOG_FACILITY=2 -o short-iso | tail -n 60
}

journald_follow_start() {
	tl_conf "datagram_socket none" "log_file journal:$JD_FILES" \
	    "organization_name \"tlsrpt-milter e2e test\"" "contact_info mailto:tlsrpt-admin@sender.test"
	tl_start
	assert_grep "log_started file=journal:$JD_FILES at=head (no saved position; log_start_at=end: $(
	    )the journal holds no mail entry yet)" "$T/log" "no mail entry yet: from the head, said so"
}

journald_wait_read() {
	_n=0
	while :; do
		_want=$(journald_mail | wc -l)
		[ "$(tl_counter log.lines)" = "$_want" ] && return 0
		_n=$((_n + 1))
		[ $_n -gt 150 ] && fail "log.lines $(tl_counter log.lines), the journal has $_want mail entries"
		sleep 0.1
	done
}

journald_follow_stop() {	# journald_follow_stop first|second
	journald_wait_read
	tl_stop
	assert_eq 0 "$TL_RC" "$1 run: clean stop"
	if [ "$1" = first ]; then
		JD_READ=$(tl_counter log.lines)
		echo "# first run read $JD_READ mail entries"
	fi
}

journald_follow_resume() {
	assert_eq yes "$([ "$(journald_mail | wc -l)" -gt "$JD_READ" ] && echo yes)" \
	    "the journal got entries while the daemon was stopped"
	tl_start
	assert_grep "log_resumed file=journal:$JD_FILES cursor_time=" "$T/log" "resumed at the saved cursor"
	journald_wait_read
}

journald_follow_checks() {
	assert_eq "$(journald_mail | wc -l)" "$(tl_counter log.lines)" "every mail entry read once over two runs"
	assert_eq 0 "$(tl_counter log.parse_misses)" "no parse misses"
	assert_eq 0 "$(journalctl -q -D "$JD_FILES" -o cat | grep -c 'Suppressed')" "journald dropped nothing"
}
