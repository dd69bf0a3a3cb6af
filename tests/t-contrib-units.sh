#!/bin/sh
# t-contrib-units: the shipped systemd units (contrib/systemd/).
#
#  - tlsrpt-report.service runs the MTA's sendmail command as _tlsrpt.
#    Both MTAs' commands need their set-group-id bit: Postfix's postdrop
#    (group postdrop) writes the maildrop queue, Debian's Sendmail
#    (group smmsp) its client queue.  The kernel ignores that bit under
#    no_new_privs, and postdrop then retries "Permission denied" until
#    sendmail_timeout kills it: no report mail ever leaves.  So the unit
#    must set neither NoNewPrivileges= nor any option that implies it
#    for a service with User= (systemd.exec(5), NoNewPrivileges=).
#  - every unit passes "systemd-analyze verify" (when installed), apart
#    from the programs not being installed at their paths here.
#
# Exit status as automake expects: 0 pass, 1 fail.

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/assert.sh"
UNITS="$top_srcdir/contrib/systemd"

# the options of systemd.exec(5) that imply NoNewPrivileges=yes for a
# service that does not run as root
nnp=$(grep -E '^[[:space:]]*(NoNewPrivileges=(yes|true|on|1)|SystemCallFilter=|SystemCallArchitectures=|RestrictAddressFamilies=|RestrictNamespaces=|PrivateDevices=(yes|true|on|1)|ProtectKernelTunables=(yes|true|on|1)|ProtectKernelModules=(yes|true|on|1)|ProtectKernelLogs=(yes|true|on|1)|ProtectClock=(yes|true|on|1)|MemoryDenyWriteExecute=(yes|true|on|1)|RestrictRealtime=(yes|true|on|1)|RestrictSUIDSGID=(yes|true|on|1)|LockPersonality=(yes|true|on|1)|DynamicUser=(yes|true|on|1))' \
    "$UNITS/tlsrpt-report.service")
assert_eq "" "$nnp" "tlsrpt-report.service: nothing that sets no_new_privs (the sendmail command is set-group-id)"
assert_eq "User=_tlsrpt" "$(grep '^User=' "$UNITS/tlsrpt-report.service")" \
    "tlsrpt-report.service: runs as _tlsrpt, so the set-group-id bit matters"

if command -v systemd-analyze >/dev/null 2>&1; then
	d=$(mktemp -d "${TMPDIR:-/tmp}/tlsrpt-units.XXXXXX")
	cp "$UNITS"/*.service "$UNITS"/*.socket "$UNITS"/*.timer "$d/"
	for u in "$d"/*; do
		# the programs are not installed here: that message only is expected
		out=$(cd "$d" && systemd-analyze verify --man=no "./${u##*/}" 2>&1 |
		    grep -v 'is not executable: No such file or directory$' | grep .)
		assert_eq "" "$out" "systemd-analyze verify ${u##*/}"
	done
	rm -rf "$d"
else
	echo "# systemd-analyze not installed (Debian package systemd): units not verified"
fi
tl_done
