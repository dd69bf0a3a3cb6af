#!/bin/sh
# The milter input end to end: the real daemon with milter_socket, and
# miltertest (Debian package miltertest, from OpenDKIM) playing the MTA
# with Lua scripts.  Every reply of the milter must be continue or accept
# and it must never ask to change mail.  Checked from the store after a
# clean stop: per-domain message counts exactly as sent (several messages
# per connection, duplicates, recipients without a domain, an aborted
# transaction), our report mails with their queue ids ({i} at end of
# message as Postfix sends it, at MAIL as Sendmail does), a SIGKILLed
# milter child respawned (its removed socket file recreated) and counting
# again, and floods from concurrent connections (one with the daemon
# frozen by SIGSTOP) all counted or counted as dropped, never a hang.
. "${top_srcdir:-.}/tests/lib.sh"

if ! command -v miltertest >/dev/null 2>&1; then
	echo "SKIP: miltertest not installed (Debian package miltertest)"
	exit 77
fi

SOCK="unix:$T/milter.sock"
FLOOD_PROCS=4
FLOOD_EACH=500	# messages per process, 50 per connection
FROZEN_EACH=4000	# with the daemon stopped: more than the pair holds

# The MTA side, shared by every script: each step must succeed and be
# answered with continue or accept.
cat > "$T/lib.lua" <<'EOF'
mt.set_timeout(30)
-- miltertest 2.11 exits 1 on a Lua error without saying why: say it
function main(body)
	local ok, err = pcall(body)
	if not ok then
		mt.echo("ERROR: " .. tostring(err))
		os.exit(1)
	end
end
function must(err, what)
	if err ~= nil then error(what .. ": " .. tostring(err)) end
end
function replied(conn, what)
	local r = mt.getreply(conn)
	if r ~= SMFIR_CONTINUE and r ~= SMFIR_ACCEPT then
		error(what .. ": reply " .. string.char(r) .. ", expected continue or accept")
	end
end
function open()
	local conn = mt.connect(SOCK, 40, 0.25)
	if conn == nil then error("cannot connect to " .. SOCK) end
	must(mt.negotiate(conn, nil, nil, nil), "negotiate")
	for _, a in ipairs({SMFIF_ADDHDRS, SMFIF_CHGHDRS, SMFIF_CHGBODY, SMFIF_ADDRCPT,
	    SMFIF_DELRCPT, SMFIF_QUARANTINE, SMFIF_CHGFROM}) do
		if mt.test_action(conn, a) then error("the milter asks to modify mail") end
	end
	if not mt.test_action(conn, SMFIF_SETSYMLIST) then error("no macro list requested") end
	return conn
end
-- One transaction; qid_mail is {i} at MAIL (Sendmail), qid_eom at end of message (Postfix).
function message(conn, rcpts, headers, qid_mail, qid_eom)
	if qid_mail then must(mt.macro(conn, SMFIC_MAIL, "i", qid_mail), "macro") end
	must(mt.mailfrom(conn, "<sender@origin.test>"), "mailfrom")
	replied(conn, "mailfrom")
	for _, r in ipairs(rcpts) do
		must(mt.rcptto(conn, r), "rcptto " .. r)
		replied(conn, "rcptto " .. r)
	end
	for _, h in ipairs(headers or {}) do
		must(mt.header(conn, h[1], h[2]), "header " .. h[1])
		replied(conn, "header " .. h[1])
	end
	must(mt.eoh(conn), "eoh")
	replied(conn, "eoh")
	if qid_eom then must(mt.macro(conn, string.byte("E"), "i", qid_eom), "macro") end
	must(mt.eom(conn), "eom")
	replied(conn, "eom")
	-- (MT_SMTPREPLY makes miltertest 2.11 exit; a reply would not be continue anyway)
	for _, op in ipairs({MT_HDRADD, MT_HDRCHANGE, MT_HDRDELETE, MT_HDRINSERT, MT_BODYCHANGE,
	    MT_QUARANTINE}) do
		if mt.eom_check(conn, op) then error("the milter changed the message") end
	end
end
EOF

# run NAME: lib.lua plus $T/NAME.lua through miltertest; extra -D args follow
run() {
	name=$1
	shift
	cat "$T/lib.lua" "$T/$name.lua" > "$T/run-$name.lua"
	if ! timeout 120 miltertest -D SOCK="$SOCK" "$@" -s "$T/run-$name.lua" > "$T/$name.out" 2>&1; then
		echo "FAIL - miltertest $name:"; cat "$T/$name.out"
		TL_FAILED=1
	fi
}

# Five messages on one connection, three on connections of their own.
cat > "$T/counts.lua" <<'EOF'
main(function()
	local conn = open()
	for i = 1, 5 do
		message(conn, {"<x@a.test>", "<y@A.TEST>", "<z@b.test>"})
	end
	mt.disconnect(conn)
	for i = 1, 3 do
		conn = open()
		message(conn, {"<w@a.test>"})
		mt.disconnect(conn)
	end
end)
EOF

# Recipients without a countable domain, then an aborted transaction.
cat > "$T/forms.lua" <<'EOF'
main(function()
	local conn = open()
	message(conn, {"<postmaster>", "<u@[192.0.2.1]>", "<@relay.test:u@c.test>", '<"j d"@d.test>'})
	must(mt.mailfrom(conn, "<sender@origin.test>"), "mailfrom")
	replied(conn, "mailfrom")
	must(mt.rcptto(conn, "<u@aborted.test>"), "rcptto")
	replied(conn, "rcptto")
	must(mt.abort(conn), "abort")
	message(conn, {"<u@e.test>"})
	mt.disconnect(conn)
end)
EOF

# Our own report mails, submitted locally (loopback): the queue id as
# Postfix and as Sendmail send it.  The same header in mail from another
# host (miltertest's default client 12.34.56.78) is not believed.
cat > "$T/reports.lua" <<'EOF'
main(function()
	local conn = open()
	must(mt.conninfo(conn, "localhost", "127.0.0.1"), "conninfo")
	message(conn, {"<rua@a.test>"}, {{"Subject", "Report Domain: a.test"},
	    {"TLS-Report-Domain", "a.test"}}, nil, "RPTQ1")
	message(conn, {"<rua@b.test>"}, {{"tls-report-domain", " B.test"}}, "RPTQ2", nil)
	mt.disconnect(conn)
	conn = open()
	message(conn, {"<victim@c.test>"}, {{"TLS-Report-Domain", "c.test"}}, "FORGED1", nil)
	mt.disconnect(conn)
end)
EOF

cat > "$T/after.lua" <<'EOF'
main(function()
	local conn = open()
	message(conn, {"<u@after-kill.test>"})
	mt.disconnect(conn)
end)
EOF

cat > "$T/flood.lua" <<'EOF'
main(function()
	for c = 1, tonumber(EACH) / 50 do
		local conn = open()
		for i = 1, 50 do
			message(conn, {"<u@" .. DOMAIN .. ">"}, {{"Subject", "flood"}}, nil,
			    "F" .. ID .. "x" .. c .. "x" .. i)
		end
		mt.disconnect(conn)
	end
end)
EOF

# flood DOMAIN EACH: FLOOD_PROCS concurrent miltertest runs of EACH messages
flood() {
	cat "$T/lib.lua" "$T/flood.lua" > "$T/run-flood.lua"
	start=$(date +%s%N)
	pids=
	n=1
	while [ $n -le $FLOOD_PROCS ]; do
		timeout 120 miltertest -D SOCK="$SOCK" -D ID=$n -D EACH="$2" -D DOMAIN="$1" \
			-s "$T/run-flood.lua" > "$T/flood-$n.out" 2>&1 &
		pids="$pids $!"
		n=$((n + 1))
	done
	n=1
	for p in $pids; do
		if ! wait "$p"; then
			echo "FAIL - miltertest flood $1 $n:"; cat "$T/flood-$n.out"; TL_FAILED=1
		fi
		n=$((n + 1))
	done
	end=$(date +%s%N)
	echo "# flood $1: $((FLOOD_PROCS * $2)) messages from $FLOOD_PROCS concurrent clients" \
		"in $(((end - start) / 1000000)) ms"
}

tl_conf "milter_socket $SOCK" "datagram_socket none"
tl_start
assert_grep "milter_child_started pid=" "$T/log" "the milter child started"
assert_eq 660 "$(stat -c %a "$T/milter.sock")" "milter socket mode from milter_socket_mode"

run counts
run forms
run reports

# SIGKILL the child: the supervisor logs it and starts another one (the
# first restart waits until 10 s after the previous start).  The socket
# file goes too (as libmilter removes it when its child is stopped as
# non-root): the supervisor binds a new one in its place.
child=$(grep -o 'milter_child_started pid=[0-9]*' "$T/log" | head -n 1 | cut -d= -f2)
supervisor=$(awk '{print $4}' "/proc/$child/stat")
rm "$T/milter.sock"
kill -KILL "$child"
i=0
while [ "$(grep -c 'milter_child_started pid=' "$T/log")" -lt 2 ]; do
	i=$((i + 1))
	if [ $i -gt 300 ]; then echo "FAIL - no new milter child within 15 s"; TL_FAILED=1; break; fi
	sleep 0.05
done
assert_grep "milter_child_died pid=$child signal=KILL" "$T/log" "the child's death is logged"
assert_grep "milter_socket_recreated path=$T/milter.sock" "$T/log" \
	"the removed socket file is recreated"
assert_eq 660 "$(stat -c %a "$T/milter.sock" 2>&1)" "recreated socket mode"
run after

flood flood.test $FLOOD_EACH

# The daemon frozen (SIGSTOP): the milter still answers at once, the
# pair fills, the rest is dropped and counted; the child reports the
# drops once the daemon reads again (at most DROP_FLUSH_MS later).
kill -STOP "$TL_PID"
flood frozen.test $FROZEN_EACH
kill -CONT "$TL_PID"
i=0
while :; do
	frozen=$(tl_sql "select coalesce(sum(value),0) from domain_counter where domain='frozen.test'")
	dropped=$(tl_counter milter.records_dropped)
	[ $((frozen + dropped)) -ge $((FLOOD_PROCS * FROZEN_EACH)) ] && break
	i=$((i + 1))
	if [ $i -gt 200 ]; then
		echo "FAIL - frozen flood not accounted for within 10 s"; TL_FAILED=1; break
	fi
	sleep 0.05
done

child2=$(grep -o 'milter_child_started pid=[0-9]*' "$T/log" | tail -n 1 | cut -d= -f2)
tl_stop
assert_eq 0 "$TL_RC" "daemon exit status after SIGTERM"
for p in "$supervisor" "$child2"; do
	if kill -0 "$p" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$p/stat")" != Z ]; then
		echo "FAIL - milter process $p still running after the daemon stopped"; TL_FAILED=1
	fi
done
assert_eq no "$( [ -e "$T/milter.sock" ] && echo yes || echo no)" "socket file removed at stop"

assert_eq "a.test|9
after-kill.test|1
b.test|6
c.test|2
d.test|1
e.test|1" "$(tl_sql "select domain, sum(value) from domain_counter where name='messages'
	and domain not in ('flood.test', 'frozen.test') group by domain order by domain")" \
	"messages per recipient domain"
assert_eq "RPTQ1|a.test
RPTQ2|b.test" "$(tl_sql "select queue_id, domain from report_mail order by queue_id")" \
	"report mails with their queue ids"
assert_grep "milter_report_mail queue_id=RPTQ1 domain=a.test" "$T/log" "report mail logged"
assert_grep "milter_report_header_ignored queue_id=[^ ]* client=12.34.56.78" "$T/log" \
	"TLS-Report-Domain in mail from another host: ignored and logged"
assert_eq 2 "$(tl_counter milter.report_mails)" "milter.report_mails"
assert_eq 2 "$(tl_counter milter.recipients_no_domain)" "recipients without a domain"
assert_eq 1 "$(tl_counter milter.child_died)" "milter.child_died"
assert_eq 0 "$(tl_counter milter.records_invalid)" "no invalid records"

flood=$(tl_sql "select coalesce(sum(value),0) from domain_counter where domain='flood.test'")
frozen=$(tl_sql "select coalesce(sum(value),0) from domain_counter where domain='frozen.test'")
dropped=$(tl_counter milter.records_dropped)
echo "# flood: counted=$flood; frozen daemon: counted=$frozen dropped=$dropped"
assert_eq $((FLOOD_PROCS * (FLOOD_EACH + FROZEN_EACH))) $((flood + frozen + dropped)) \
	"floods: every message counted or counted as dropped"
assert_eq yes "$([ "$dropped" -gt 0 ] && echo yes || echo no)" \
	"a frozen daemon makes the child drop, not wait"
assert_eq $((14 + flood + frozen)) "$(tl_counter milter.messages)" "milter.messages"
tl_done
