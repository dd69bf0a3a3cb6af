# A real DNS server (unbound) on loopback for the tests; sourced.
#
#   dns_start DIR DATA READY
#
# writes DIR/unbound.conf: a non-recursive server on 127.0.0.1 at a free
# high port, followed by the lines of file DATA (unbound syntax: local-zone,
# local-data, stub-zone ..., where @PORT@ stands for the chosen port);
# starts "unbound -d" and waits until the TLSRPT record of domain READY
# answers through tests/dns_lookup.  Sets DNS_PID and DNS_PORT; returns 1
# when unbound cannot be started (the caller skips).  Every wait is
# bounded: at most 5 ports, 5 s each.  The caller kills $DNS_PID.
#
# Optional, for the end-to-end tests:
#   DNS_LISTEN=ADDR:PORT  listen there (one try) instead of 127.0.0.1 at
#                         a random high port, e.g. 127.0.0.53:53
#   DNS_EXEC="CMD..."     prefix for the unbound and dns_lookup commands,
#                         e.g. "ip netns exec NS" (a command that execs
#                         its argument, so that DNS_PID is unbound's pid)

dns_start() {
	_dir=$1 _data=$2 _ready=$3
	PATH="$PATH:/usr/sbin:/sbin"
	command -v unbound >/dev/null 2>&1 || return 1
	_addr=127.0.0.1 _tries=5
	if [ -n "${DNS_LISTEN:-}" ]; then
		_addr=${DNS_LISTEN%:*} _tries=1
	fi
	_try=0
	while [ $_try -lt $_tries ]; do
		_try=$((_try + 1))
		DNS_PORT=$(( ( $$ * 7 + _try * 1013 + $(date +%N | sed 's/^0*//;s/^$/0/') % 997 ) % 30000 + 20000 ))
		[ -n "${DNS_LISTEN:-}" ] && DNS_PORT=${DNS_LISTEN##*:}
		{
			cat <<CONF
server:
  interface: $_addr
  port: $DNS_PORT
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$_dir"
  pidfile: "$_dir/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  module-config: "iterator"
  auto-trust-anchor-file: ""
  do-not-query-localhost: no
CONF
			sed "s/@PORT@/$DNS_PORT/g" "$_data"
		} > "$_dir/unbound.conf"
		${DNS_EXEC:-} unbound -d -c "$_dir/unbound.conf" > "$_dir/unbound.log" 2>&1 &
		DNS_PID=$!
		_i=0
		while [ $_i -lt 50 ]; do
			kill -0 "$DNS_PID" 2>/dev/null || break
			if ${DNS_EXEC:-} "$top_builddir/tests/dns_lookup" --resolver "$_addr:$DNS_PORT" \
			    --timeout-ms 1000 "$_ready" 2>/dev/null | grep -q ' found '; then
				return 0
			fi
			_i=$((_i + 1))
			sleep 0.1
		done
		kill "$DNS_PID" 2>/dev/null
		wait "$DNS_PID" 2>/dev/null
		DNS_PID=
	done
	return 1
}

# A name server that stalls some names and forwards the rest (tests/peers/stalled_dns.py):
#
#   stall_start DIR ADDR PORT UPSTREAM_ADDR UPSTREAM_PORT MODE:SUFFIX...
#
# PORT 0 picks a free one.  Logs one line per query to DIR/stall.log.
# Sets STALL_PID and STALL_PORT; returns 1 when it did not start within
# 5 s.  The caller kills $STALL_PID.
stall_start() {
	_sdir=$1 _saddr=$2 _sport=$3 _up=$4 _upport=$5
	shift 5
	rm -f "$_sdir/stall.log.ready"
	${DNS_EXEC:-} /usr/bin/python3 "$top_srcdir/tests/peers/stalled_dns.py" "$_saddr" "$_sport" \
	    "$_up" "$_upport" "$_sdir/stall.log" "$@" 2> "$_sdir/stall.err" &
	STALL_PID=$!
	_i=0
	while [ ! -s "$_sdir/stall.log.ready" ]; do
		_i=$((_i + 1))
		if [ $_i -gt 100 ] || ! kill -0 "$STALL_PID" 2>/dev/null; then
			kill "$STALL_PID" 2>/dev/null
			STALL_PID=
			return 1
		fi
		sleep 0.05
	done
	STALL_PORT=$(cat "$_sdir/stall.log.ready")
	return 0
}
