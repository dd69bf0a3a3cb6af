# A private network namespace for the end-to-end tests; sourced.
#
#   e2e_netns_setup NAME [SENDER_FQDN]
#	creates network namespace E2E_NS (NAME itself if it contains this
#	shell's pid $$, else NAME-$$, so parallel tests never collide) with
#	lo up and 127.0.0.2 as a second address of lo (an MTA's
#	inet_interfaces must name an interface address), and with
#	/etc/netns/E2E_NS/resolv.conf (nameserver 127.0.0.53, the DNS
#	server the test starts inside the namespace) and
#	/etc/netns/E2E_NS/hosts (localhost, and 127.0.0.2 SENDER_FQDN and its
#	first label; SENDER_FQDN defaults to sender.test).  Returns 1, with
#	the reason in E2E_NETNS_WHY, if namespaces cannot be used: the
#	caller prints "SKIP: $E2E_NETNS_WHY" and exits 77.
#   e2e_in CMD [ARG...]
#	runs CMD inside the namespace: "ip netns exec" bind-mounts the two
#	files over /etc/resolv.conf and /etc/hosts for CMD only.
#   e2e_netns_kill
#	kills (SIGKILL) every process still in the namespace, by the pids
#	"ip netns pids" lists: all of them were started by this test.  For
#	the cleanup after the test stopped its servers properly.
#   e2e_netns_cleanup
#	removes the namespace and /etc/netns/E2E_NS (it kills nothing: call
#	e2e_netns_kill first).
#
# Every address of 127.0.0.0/8 is local once lo is up, so servers in the
# namespace bind 127.0.0.2, 127.0.0.11 ... without further setup, and
# nothing in it can reach or be reached from the host's network.

E2E_NS=

e2e_netns_setup() {
	PATH="$PATH:/usr/sbin:/sbin"
	case $1 in
	*"$$"*) E2E_NS=$1 ;;
	*) E2E_NS="$1-$$" ;;
	esac
	_fq=${2:-sender.test}
	E2E_NETNS_WHY=
	if ! command -v ip >/dev/null 2>&1; then
		E2E_NETNS_WHY="the ip command is missing (Debian package iproute2)"
		E2E_NS=; return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		E2E_NETNS_WHY="network namespaces need root"
		E2E_NS=; return 1
	fi
	if ! _err=$(ip netns add "$E2E_NS" 2>&1); then
		E2E_NETNS_WHY="cannot create a network namespace: $_err"
		E2E_NS=; return 1
	fi
	mkdir -p "/etc/netns/$E2E_NS"
	printf 'nameserver 127.0.0.53\noptions timeout:2 attempts:2\n' > "/etc/netns/$E2E_NS/resolv.conf"
	printf '127.0.0.1\tlocalhost\n127.0.0.2\t%s %s\n' "$_fq" "${_fq%%.*}" > "/etc/netns/$E2E_NS/hosts"
	if ! _err=$(ip netns exec "$E2E_NS" ip link set lo up 2>&1) ||
	    ! _err=$(ip netns exec "$E2E_NS" ip addr add 127.0.0.2/8 dev lo 2>&1) ||
	    ! ip netns exec "$E2E_NS" grep -q '127.0.0.53' /etc/resolv.conf 2>/dev/null; then
		E2E_NETNS_WHY="cannot run commands in a network namespace (ip netns exec): $_err"
		e2e_netns_cleanup
		return 1
	fi
	return 0
}

e2e_in() {
	ip netns exec "$E2E_NS" "$@"
}

e2e_netns_kill() {
	[ -n "$E2E_NS" ] || return 0
	for _pid in $(ip netns pids "$E2E_NS" 2>/dev/null); do
		kill -KILL "$_pid" 2>/dev/null
	done
}

e2e_netns_cleanup() {
	[ -n "$E2E_NS" ] || return 0
	ip netns delete "$E2E_NS" 2>/dev/null
	rm -rf "/etc/netns/$E2E_NS"
	E2E_NS=
}
