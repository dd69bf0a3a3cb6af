#!/bin/sh
# Install the Debian 12 packages tlsrpt-milter needs, only those missing.
#   contrib/debian-deps.sh          to build and run
#   contrib/debian-deps.sh --test   also what the tests need
set -u
PACKAGES="build-essential autoconf automake libtool pkg-config libmilter-dev
libjansson-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libc-ares-dev
libsystemd-dev sqlite3"
[ "${1:-}" = --test ] && PACKAGES="$PACKAGES libcmocka-dev valgrind util-linux iproute2 python3 python3-dkim python3-aiosmtpd openssl msmtp curl unbound miltertest m4 libwrap0"
# t-e2e-postfix.sh unpacks Debian's postfix .deb (apt-get download, dpkg -x)
# without installing it: the shared libraries its programs link against
[ "${1:-}" = --test ] && PACKAGES="$PACKAGES libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3"
# t-logfollow-journal.sh writes journal files with systemd-journal-remote
[ "${1:-}" = --test ] && PACKAGES="$PACKAGES systemd-journal-remote"

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing Debian packages:$missing"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq || exit 1
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null || exit 1
