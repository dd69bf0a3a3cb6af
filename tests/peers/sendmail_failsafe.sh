# Delivery paths of a real Sendmail against the states of tlsrpt-milter,
# for tests/t-e2e-failsafe-sendmail.sh and bench/sendmail-failsafe.sh;
# sourced after e2e.sh and sendmail.sh.
#
# Paths (FS_PATHS), each with a receiver of its own, so that all of them
# run at once and each message is told apart by where it arrives:
#   bd      SMTP to the "sendmail -bd" daemon, which delivers in a child
#   odi     sendmail -odi (delivers in the foreground process)
#   odb     sendmail -odb (delivers in a forked child)
#   q       sendmail -odq into queue q, then sendmail -q
#   qr      sendmail -odq into queue qr, then sendmail -qRqr.test
#   run     sendmail -odq into queue run, delivered by the queue-runner
#           children of "sendmail -q1s" (a daemon forking a child per run)
# Path P sends to u@P.test (MX mx.P.test on 127.0.0.11 ...) or, with
# fs_send's SLOW argument, to u@P-slow.test (127.0.0.21 ...), whose
# receiver answers MAIL 3 s late (to restart the daemon in the middle of
# a delivery).  Every receiver serves the certificate $T/pki/fs.crt (by
# the test CA, naming every mx.P.test and mx.P-slow.test: each session is
# a success) and logs each connection's duration (tls_receiver.py
# --timing).
#
#   fs_setup MCBODY MCTAIL [CONF-LINE...]
#	DNS, receivers, syslog sink ($T/maillog), tlsrpt-milter ($T/tlsrpt.conf
#	from lib.sh's defaults, the socketmap and milter sockets $T/smap.sock
#	and $T/milter.sock, and the lines given), Sendmail ($T/sm: MCBODY and
#	MCTAIL as in sendmail_setup) with its -bd daemon and the queue runner.
#	Fails the test when something does not start.
#   fs_state STATE
#	puts tlsrpt-milter into STATE: healthy (running; started again if
#	need be), stopped (SIGTERM, waited for), killed (SIGKILL to the main
#	process; its milter processes end by themselves), hung (SIGSTOP to
#	every process of the daemon), hung-main (SIGSTOP to the main process
#	only), nosocket (running, its socket files removed), refused (its
#	socket files left by a killed daemon: connect() is refused).
#   fs_send TAG [SLOW]
#	sends one message with subject TAG along every path at once and
#	returns; the submitters' own times go to $T/submit.P (seconds).
#   fs_wait TAG SECONDS
#	waits until every path's receiver has the message TAG, at most
#	SECONDS; then FS_RESULT holds one line per path:
#	"P delivered|missing secs=S submit=S queued=N", S the receiving
#	session's duration (- when missing), N the messages still in P's
#	queue (a deferred one stays there).
#   fs_flush
#	removes what is left in the queues (deferred messages of a cell).
#   fs_cell STATE SECONDS
#	one cell: the daemon healthy again, the queues emptied, then STATE
#	and one message (subject STATE) along every path, fs_wait STATE
#	SECONDS.  STATE restart: the messages go to the slow receivers, and
#	once all of them wait for the answer to MAIL (their sessions are
#	open, the hook has logged their tls_server lines; 10 s at most) the
#	daemon stops and starts again.
#   fs_pids
#	the daemon's processes: its main process and its descendants.

FS_PATHS="bd odi odb q qr run"
FS_RESULT=

_fs_addr() {	# _fs_addr PATH [SLOW] -> 127.0.0.N
	_n=11
	for _p in $FS_PATHS; do
		[ "$_p" = "$1" ] && break
		_n=$((_n + 1))
	done
	[ -n "${2:-}" ] && _n=$((_n + 10))
	echo "127.0.0.$_n"
}

fs_setup() {	# fs_setup MCBODY MCTAIL [CONF-LINE...]
	_body=$1 _tail=$2
	shift 2
	e2e_pki
	_names=
	for _p in $FS_PATHS; do
		_names="$_names mx.$_p.test mx.$_p-slow.test"
	done
	# shellcheck disable=SC2086
	pki_host "$T/pki" fs $_names || { cat "$T/pki/pki.log"; fail "could not make the certificate"; }
	{
		e2e_zone_head
		for _p in $FS_PATHS; do
			echo "  local-data: 'mx.$_p.test. A $(_fs_addr $_p)'"
			echo "  local-data: '$_p.test. MX 10 mx.$_p.test.'"
			echo "  local-data: '_smtp._tls.$_p.test. TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"'"
			echo "  local-data: 'mx.$_p-slow.test. A $(_fs_addr $_p slow)'"
			echo "  local-data: '$_p-slow.test. MX 10 mx.$_p-slow.test.'"
		done
	} > "$T/zone"
	e2e_dns bd.test
	for _p in $FS_PATHS; do
		e2e_receiver "$T/rcv/$_p" "$(_fs_addr $_p):25" "mx.$_p.test" 600 \
		    --cert "$T/pki/fs.crt" --key "$T/pki/fs.key" --timing
		e2e_receiver "$T/rcv/$_p-slow" "$(_fs_addr $_p slow):25" "mx.$_p-slow.test" 600 \
		    --cert "$T/pki/fs.crt" --key "$T/pki/fs.key" --timing --mail-pause 3
	done
	for _p in $FS_PATHS; do
		e2e_wait_ready receiver "$T/rcv/$_p" "$T/rcv/$_p-slow"
	done
	sendmail_log_sink "$T/syslog.sock" "$T/maillog" 600 ||
	    { cat "$T/maillog.err"; fail "the syslog sink did not start"; }

	tl_conf "datagram_socket none" "socketmap_socket unix:$T/smap.sock" \
	    "milter_socket unix:$T/milter.sock" "$@"
	tl_start
	_fs_wait_served || fail "the daemon's sockets did not appear"
	FS_DAEMON_UP=yes

	sendmail_unpack "$T/sendmail" || fail "$SM_WHY"
	echo "# Sendmail $SM_VERSION"
	mkdir -p "$T/sm"
	SM_CAFILE="$T/pki/ca.crt" SM_EXEC=sendmail_in_logns SM_LABEL=sm-mta
	sendmail_setup "$T/sm" "$_body" "$_tail" || fail "$SM_WHY"
	for _q in q qr run; do
		mkdir -p "$T/sm/mq-$_q" && chmod 700 "$T/sm/mq-$_q"
	done
	sendmail_start || fail "$SM_WHY"
	sendmail_run -L sm-mta -O QueueDirectory="$T/sm/mq-run" -O PidFile="$T/sm/run.pid" \
	    -q1s > "$T/sm/run.log" 2>&1 || fail "the queue runner did not start: $(cat "$T/sm/run.log")"
	printf 'From: <sender@sender.test>\nSubject: %%s\n\ntest message\n' > "$T/msg.fmt"
}

# The sockets, and the libmilter child that answers on the milter socket:
# Sendmail gives a milter 1 s (the T= of the snippet) and then goes on
# without it, so a submission made before the child runs is not counted.
_fs_wait_served() {
	e2e_wait_sockets "$T/smap.sock" "$T/milter.sock" &&
	    tl_wait_for "$T/log" "milter_child_started"
}

fs_pids() {
	_fs_tree() {
		echo "$1"
		for _c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
			_fs_tree "$_c"
		done
	}
	[ -n "${TL_PID:-}" ] && _fs_tree "$TL_PID"
}

fs_state() {	# fs_state STATE
	case $1 in
	healthy)
		if [ "$FS_DAEMON_UP" = hung ]; then
			for _pid in $(fs_pids); do kill -CONT "$_pid" 2>/dev/null; done
			FS_DAEMON_UP=yes
		fi
		if [ "$FS_DAEMON_UP" != yes ]; then
			[ "$FS_DAEMON_UP" = nosocket ] && tl_stop
			rm -f "$T/smap.sock" "$T/milter.sock"
			cat "$T/log" >> "$T/log.before"
			tl_start
			_fs_wait_served || fail "the daemon's sockets did not appear after a restart"
			FS_DAEMON_UP=yes
		fi
		;;
	stopped)
		tl_stop
		FS_DAEMON_UP=no
		;;
	killed|refused)
		_pids=$(fs_pids)
		kill -KILL "$TL_PID"
		wait "$TL_PID" 2>/dev/null
		TL_PID=
		# its milter supervisor and child notice and end (bounded)
		_i=0
		for _pid in $_pids; do
			while kill -0 "$_pid" 2>/dev/null && [ $_i -lt 100 ]; do
				_i=$((_i + 1)); sleep 0.05
			done
		done
		FS_DAEMON_UP=no
		;;
	hung)
		for _pid in $(fs_pids); do kill -STOP "$_pid"; done
		FS_DAEMON_UP=hung
		;;
	hung-main)
		kill -STOP "$TL_PID"
		FS_DAEMON_UP=hung
		;;
	nosocket)
		rm -f "$T/smap.sock" "$T/milter.sock"
		FS_DAEMON_UP=nosocket	# healthy restarts it
		;;
	esac
}

_fs_submit() {	# _fs_submit PATH DOMAIN TAG
	_t0=$(date +%s.%N)
	case $1 in
	bd)
		e2e_in "$PY" -c '
import smtplib, sys
s = smtplib.SMTP("127.0.0.2", 25, "sender.test", timeout=60)
s.sendmail("sender@sender.test", [sys.argv[1]],
    "From: <sender@sender.test>\r\nSubject: %s\r\n\r\ntest message\r\n" % sys.argv[2])
s.quit()
' "u@$2" "$3" ;;
	odi|odb)
		printf "$(cat "$T/msg.fmt")" "$3" |
		    sendmail_run -L sm-mta -$1 -f sender@sender.test "u@$2" ;;
	q|qr|run)
		printf "$(cat "$T/msg.fmt")" "$3" |
		    sendmail_run -L sm-mta -odq -O QueueDirectory="$T/sm/mq-$1" \
		    -f sender@sender.test "u@$2" &&
		case $1 in
		q) sendmail_run -L sm-mta -O QueueDirectory="$T/sm/mq-q" -q ;;
		qr) sendmail_run -L sm-mta -O QueueDirectory="$T/sm/mq-qr" -qR"$2" ;;
		esac ;;
	esac > "$T/submit.$1.out" 2>&1
	_rc=$?
	echo "$_t0 $(date +%s.%N)" | awk '{printf "%.3f\n", $2 - $1}' > "$T/submit.$1"
	[ $_rc = 0 ] || echo "# submission along $1 failed ($_rc): $(head -c 300 "$T/submit.$1.out")"
}

fs_send() {	# fs_send TAG [SLOW]
	FS_SLOW=${2:+-slow}
	FS_SUBMITTERS=
	for _p in $FS_PATHS; do
		rm -f "$T/submit.$_p"
		_fs_submit $_p "$_p$FS_SLOW.test" "$1" &
		FS_SUBMITTERS="$FS_SUBMITTERS $!"
	done
}

_fs_received() {	# _fs_received PATH TAG: the message is there, its connection logged
	_d="$T/rcv/$1$FS_SLOW"
	grep -q "^Subject: $2[[:space:]]*\$" "$_d"/mail.*.eml 2>/dev/null || return 1
	[ "$(grep -c ' messages=[1-9]' "$_d/sessions.log" 2>/dev/null)" -ge \
	    "$(ls "$_d" | grep -c '^mail\..*\.eml$')" ]
}

fs_wait() {	# fs_wait TAG SECONDS
	_end=$(($(date +%s) + $2))
	while :; do
		_all=yes
		for _p in $FS_PATHS; do
			_fs_received $_p "$1" >/dev/null || _all=no
		done
		[ $_all = yes ] && break
		[ "$(date +%s)" -ge $_end ] && break
		sleep 0.1
	done
	for _pid in $FS_SUBMITTERS; do
		wait "$_pid"	# bounded by Sendmail's own time-outs
	done
	FS_RESULT=
	for _p in $FS_PATHS; do
		_d="$T/rcv/$_p$FS_SLOW"
		if _fs_received $_p "$1" >/dev/null; then
			_st=delivered
			# the last connection that carried a message
			_secs=$(grep ' messages=[1-9]' "$_d/sessions.log" | tail -n 1 | sed 's/.* secs=\([0-9.]*\) .*/\1/')
		else
			_st=missing _secs=-
		fi
		case $_p in
		q|qr|run) _qd="$T/sm/mq-$_p" ;;
		*) _qd="$T/sm/mqueue" ;;
		esac
		_queued=$(ls "$_qd" | grep -c '^qf')
		FS_RESULT="$FS_RESULT$_p $_st secs=$_secs submit=$(cat "$T/submit.$_p" 2>/dev/null) queued=$_queued
"
	done
}

fs_flush() {
	rm -f "$T"/sm/mqueue/[qdx]f* "$T"/sm/mq-*/[qdx]f*
}

fs_cell() {	# fs_cell STATE SECONDS
	fs_state healthy
	fs_flush
	if [ "$1" = restart ]; then
		rm -f "$T"/rcv/*-slow/mail-paused.*
		fs_send "$1" slow
		_i=0
		while [ "$(ls "$T"/rcv/*-slow/mail-paused.* 2>/dev/null | wc -l)" -lt 6 ] && [ $_i -lt 100 ]; do
			_i=$((_i + 1)); sleep 0.1
		done
		fs_state stopped
		fs_state healthy
	else
		fs_state "$1"
		fs_send "$1"
	fi
	fs_wait "$1" "$2"
}
