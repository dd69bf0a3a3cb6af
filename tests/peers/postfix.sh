# Debian's real Postfix, unpacked into a private prefix and run with a
# private configuration, for the end-to-end tests; sourced.
#
#   postfix_unpack DIR
#	unpacks Debian's postfix .deb into DIR (dpkg -x; nothing is
#	installed).  The .deb is fetched once with "apt-get download postfix"
#	(after one "apt-get update" if that fails) into
#	$TLSRPT_MTA_CACHE (default $top_builddir/tests/mta-cache/) and reused from there.  Sets PF_ROOT
#	and PF_VERSION; returns 1 with the reason in PF_WHY.
#   postfix_setup CONFDIR SPOOLDIR
#	writes CONFDIR/main.cf and master.cf (every service unchrooted) for
#	an instance whose queue, data directory and log file
#	(PF_LOG=SPOOLDIR/maillog, written by postlogd) are below SPOOLDIR,
#	that listens on and sends from 127.0.0.2 only, with
#	smtp_tls_loglevel = 1, smtp_tls_CAfile = $PF_CAFILE (when set) and
#	smtp_tls_policy_maps = texthash:CONFDIR/tls_policy (an empty file:
#	write "domain level [attributes]" lines into it before the start).
#	Creates the system user and group postfix and the group postdrop
#	when missing.  SPOOLDIR and every directory above it must be
#	searchable by the postfix user.  Sets PF_CONF, PF_SPOOL, PF_LOG.
#   postfix_conf NAME=VALUE...   changes main.cf (postconf -e)
#   postfix_start / postfix_stop
#	start and stop the instance (bounded: at most 30 s for the postfix
#	command, then 10 s for the master to appear or go); both return 1
#	on failure, with the reason in PF_WHY for postfix_start.
#   postfix_run PROGRAM ARG...
#	runs one of the unpacked commands in $PF_ROOT/usr/sbin (sendmail,
#	postqueue, postconf, ...) with this instance's configuration
#	(MAIL_CONFIG), under PF_EXEC (sendmail, too, insists that
#	inet_interfaces names a local address).
#   postfix_sendmail_command
#	prints a command line that submits a message to this instance, for
#	programs that run a sendmail-compatible command without a shell
#	(e.g. tlsrpt-report's sendmail_command).  Run such a program under
#	PF_EXEC too.
#
# PF_EXEC, when set, prefixes the commands that start the mail system
# (e.g. "e2e_in" from netns.sh to run Postfix in a network namespace).
# The Debian binaries find their own libraries through a RUNPATH of
# /usr/lib/postfix; here LD_LIBRARY_PATH points at the unpacked ones, and
# main.cf's import_environment and export_environment pass it on to
# every Postfix process.

PF_ROOT= PF_CONF= PF_SPOOL= PF_LOG= PF_WHY= PF_VERSION=

postfix_unpack() {
	_cache="${TLSRPT_MTA_CACHE:-$top_builddir/tests/mta-cache}"
	mkdir -p "$_cache" || { PF_WHY="cannot create $_cache"; return 1; }
	_deb=$(ls "$_cache"/postfix_*.deb 2>/dev/null | tail -n 1)
	if [ -z "$_deb" ]; then
		rm -rf "$_cache/dl.$$"
		mkdir -p "$_cache/dl.$$"
		# the _apt user may not write here; apt then downloads as root
		( cd "$_cache/dl.$$" &&
		    { timeout 120 apt-get download postfix ||
		      { timeout 300 apt-get update -qq && timeout 120 apt-get download postfix; }; } ) \
		    > "$_cache/download.log" 2>&1
		mv "$_cache/dl.$$"/postfix_*.deb "$_cache/" 2>/dev/null
		rm -rf "$_cache/dl.$$"
		_deb=$(ls "$_cache"/postfix_*.deb 2>/dev/null | tail -n 1)
		if [ -z "$_deb" ]; then
			PF_WHY="apt-get download postfix failed: $(tail -n 2 "$_cache/download.log" | tr '\n' ' ')"
			return 1
		fi
	fi
	mkdir -p "$1"
	dpkg -x "$_deb" "$1" || { PF_WHY="dpkg -x $_deb failed"; return 1; }
	PF_ROOT=$(cd "$1" && pwd)
	PF_VERSION=$(dpkg-deb -f "$_deb" Version)
	# the meta directory holds the list of maps built as plug-ins
	cp "$PF_ROOT/usr/share/postfix/dynamicmaps.cf" "$PF_ROOT/etc/postfix/" 2>/dev/null
	if ! env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" "$PF_ROOT/usr/sbin/postconf" -d mail_version \
	    > "$PF_ROOT/mail_version" 2>&1; then
		PF_WHY="the unpacked postconf does not run: $(cat "$PF_ROOT/mail_version")"
		return 1
	fi
	return 0
}

postfix_run() {
	_p=$1; shift
	${PF_EXEC:-} env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" MAIL_CONFIG="$PF_CONF" \
	    "$PF_ROOT/usr/sbin/$_p" "$@"
}

postfix_sendmail_command() {
	echo "/usr/bin/env LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix $PF_ROOT/usr/sbin/sendmail -C $PF_CONF"
}

postfix_conf() {
	env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" "$PF_ROOT/usr/sbin/postconf" -c "$PF_CONF" -e "$@"
}

_pf_users() {
	PATH="$PATH:/usr/sbin:/sbin"
	getent group postfix >/dev/null || groupadd --system postfix || return 1
	getent passwd postfix >/dev/null ||
	    useradd --system -g postfix -d /nonexistent -s /usr/sbin/nologin postfix || return 1
	getent group postdrop >/dev/null || groupadd --system postdrop || return 1
	return 0
}

postfix_setup() {
	PF_CONF=$1 PF_SPOOL=$2
	PF_LOG="$PF_SPOOL/maillog"
	_pf_users || { PF_WHY="cannot create the postfix user and groups"; return 1; }
	# postdrop and postqueue stay without their set-gid bit (postfix-script
	# warns about it): the loader ignores LD_LIBRARY_PATH in set-gid
	# programs, and submitting as root needs no privilege
	mkdir -p "$PF_CONF" "$PF_SPOOL/data" "$PF_SPOOL/queue"
	chmod 755 "$PF_SPOOL" "$PF_SPOOL/queue"
	chown postfix:postfix "$PF_SPOOL/data"
	chmod 700 "$PF_SPOOL/data"
	: > "$PF_CONF/tls_policy"
	cat > "$PF_CONF/main.cf" <<CF
# private instance for the tests: everything below $PF_SPOOL
compatibility_level = 3.6
config_directory = $PF_CONF
queue_directory = $PF_SPOOL/queue
data_directory = $PF_SPOOL/data
daemon_directory = $PF_ROOT/usr/lib/postfix/sbin
command_directory = $PF_ROOT/usr/sbin
shlib_directory = $PF_ROOT/usr/lib/postfix
meta_directory = $PF_ROOT/etc/postfix
sendmail_path = $PF_ROOT/usr/sbin/sendmail
newaliases_path = $PF_ROOT/usr/bin/newaliases
mailq_path = $PF_ROOT/usr/bin/mailq
manpage_directory = $PF_ROOT/usr/share/man
html_directory = no
readme_directory = no
sample_directory = $PF_ROOT/usr/share/postfix
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME LD_LIBRARY_PATH=$PF_ROOT/usr/lib/postfix
export_environment = TZ MAIL_CONFIG LANG LD_LIBRARY_PATH
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_SPOOL
myhostname = sender.test
mydomain = test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.2
inet_protocols = ipv4
smtp_bind_address = 127.0.0.2
mynetworks = 127.0.0.0/8
relayhost =
smtp_connect_timeout = 5s
smtp_helo_timeout = 10s
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tls_CAfile = ${PF_CAFILE:-}
smtp_tls_policy_maps = texthash:$PF_CONF/tls_policy
smtp_tls_session_cache_database =
smtpd_tls_security_level = none
CF
	cat > "$PF_CONF/master.cf" <<'CF'
# service type  private unpriv  chroot  wakeup  maxproc command
smtp      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
	return 0
}

# postfix status exits 0 while the master runs
_pf_running() {
	${PF_EXEC:-} env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" \
	    "$PF_ROOT/usr/lib/postfix/sbin/master" -c "$PF_CONF" -t 2>/dev/null && return 1
	return 0
}

postfix_start() {
	${PF_EXEC:-} timeout 30 env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" \
	    "$PF_ROOT/usr/sbin/postfix" -c "$PF_CONF" start > "$PF_SPOOL/start.log" 2>&1 || {
		PF_WHY="postfix start failed: $(tail -n 3 "$PF_SPOOL/start.log" | tr '\n' ' ')"
		return 1
	}
	_i=0
	while ! _pf_running; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && { PF_WHY="the Postfix master is not running 10 s after start"; return 1; }
		sleep 0.1
	done
	return 0
}

postfix_stop() {
	[ -n "$PF_CONF" ] && [ -f "$PF_CONF/main.cf" ] || return 0
	_pf_running || return 0
	# postfix-script waits up to 5 s, then kills the master's process group
	${PF_EXEC:-} timeout 30 env LD_LIBRARY_PATH="$PF_ROOT/usr/lib/postfix" \
	    "$PF_ROOT/usr/sbin/postfix" -c "$PF_CONF" stop > "$PF_SPOOL/stop.log" 2>&1
	_i=0
	while _pf_running; do
		_i=$((_i + 1))
		[ $_i -gt 100 ] && return 1
		sleep 0.1
	done
	return 0
}
