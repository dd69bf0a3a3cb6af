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

JD_PID= JD_SYSLOG= JD_FILES= JD_WHY=

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
