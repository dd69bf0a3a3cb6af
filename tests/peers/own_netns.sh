# Run the sourcing test in a network namespace of its own (sourced first).
#
#   . "$top_srcdir/tests/peers/own_netns.sh"
#
# Checks the commands such tests need (skips, 77, when one is missing),
# then re-executes the test script under "unshare -n" (-rn when not root)
# so that its servers can bind 127.0.0.x:53/443 without meeting the
# host's, and brings lo up there.  Skips when namespaces are not allowed.
# Sets and exports top_builddir, top_srcdir and PATH.
#
# With OWN_NETNS_MOUNTS=yes set before sourcing, the test also gets a
# mount namespace of its own (unshare -m, private propagation), so that
# it can bind-mount its own /etc/resolv.conf or /etc/hosts; skips when
# that is not allowed.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
PATH="$PATH:/usr/sbin:/sbin"
export top_builddir top_srcdir PATH

for cmd in unbound openssl sqlite3 unshare ip; do
	command -v $cmd >/dev/null 2>&1 || { echo "SKIP: $cmd not installed"; exit 77; }
done
[ -x /usr/bin/python3 ] || { echo "SKIP: /usr/bin/python3 not installed"; exit 77; }

if [ -z "${TLSRPT_STS_NETNS:-}" ]; then
	if [ "$(id -u)" = 0 ]; then NS_OPT=-n; else NS_OPT=-rn; fi
	[ "${OWN_NETNS_MOUNTS:-}" = yes ] && NS_OPT="${NS_OPT}m"
	if ! unshare $NS_OPT true 2>/dev/null; then
		echo "SKIP: cannot create a network namespace (unshare $NS_OPT)"
		exit 77
	fi
	TLSRPT_STS_NETNS=1 exec unshare $NS_OPT -- /bin/sh "$0" "$@"
fi
ip link set lo up || { echo "FAIL: cannot bring lo up in the test's namespace"; exit 1; }
