#!/bin/sh
# Run every test of tlsrpt-milter on a Debian 12 machine, from a clean tree.
#
#   1. installs the Debian packages the build and the tests need (apt-get)
#   2. a -Wall -Wextra -Werror build: make check, make distcheck,
#      make install DESTDIR=... with a check of what got installed
#   3. an ASan + UBSan build (--enable-sanitizers): make check
#   4. the normal build again with valgrind: unit tests under valgrind and
#      the daemon under valgrind in the integration tests
#
# Ends with one line "N passed, N failed, N skipped" summed over all suites
# and exits non-zero if anything failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 99
JOBS=$(nproc 2>/dev/null || echo 2)

sh contrib/debian-deps.sh --test || { echo "cannot install the Debian packages"; exit 99; }

passed=0 failed=0 skipped=0
# add the automake counts of one test-suite.log
count_suite() {   # label logfile
	if [ ! -f "$2" ]; then
		echo "== $1: no test-suite.log (the build failed)"
		failed=$((failed + 1))
		return
	fi
	p=$(sed -n 's/^# PASS: *//p' "$2"); f=$(sed -n 's/^# FAIL: *//p' "$2")
	e=$(sed -n 's/^# ERROR: *//p' "$2"); x=$(sed -n 's/^# XPASS: *//p' "$2")
	s=$(sed -n 's/^# SKIP: *//p' "$2")
	passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0} + ${x:-0}))
	skipped=$((skipped + ${s:-0}))
	echo "== $1: pass ${p:-0}, fail ${f:-0}, error ${e:-0}, skip ${s:-0}"
	grep -E '^(FAIL|ERROR|XPASS):' "$2" | sed 's/^/   /'
}
# one pass/fail step that is not an automake suite
step() {   # label command...
	label=$1; shift
	if "$@" > "$top/build-logs/$label.log" 2>&1; then
		passed=$((passed + 1)); echo "== $label: pass"
	else
		failed=$((failed + 1)); echo "== $label: FAIL (last lines of build-logs/$label.log:)"
		tail -n 30 "$top/build-logs/$label.log" | sed 's/^/   /'
	fi
}

rm -rf build build-asan build-logs
mkdir -p build-logs
# the end-to-end tests download Debian's postfix and sendmail once for all builds
TLSRPT_MTA_CACHE="$top/mta-cache"
export TLSRPT_MTA_CACHE
step autogen ./autogen.sh

mkdir build && cd build || exit 99
step configure ../configure --enable-werror --prefix=/usr --sysconfdir=/etc \
	--localstatedir=/var --runstatedir=/run
step build make -j"$JOBS"
make -j"$JOBS" check > ../build-logs/check.log 2>&1
count_suite "make check (-Werror build)" test-suite.log

check_install() {
	d=$(mktemp -d) && make install DESTDIR="$d" >/dev/null &&
	for f in usr/sbin/tlsrpt-milter usr/bin/tlsrpt-report usr/share/man/man5/tlsrpt.conf.5 \
	    usr/share/man/man8/tlsrpt-milter.8 usr/share/man/man8/tlsrpt-report.8 \
	    usr/share/doc/tlsrpt-milter/examples/tlsrpt.conf; do
		[ -s "$d/$f" ] || { echo "missing after install: $f"; exit 1; }
	done &&
	grep -q '/etc/tlsrpt/tlsrpt.conf' "$d/usr/share/man/man8/tlsrpt-milter.8" &&
	"$d/usr/sbin/tlsrpt-milter" -n -c "$d/usr/share/doc/tlsrpt-milter/examples/tlsrpt.conf" &&
	rm -rf "$d"
}
step install check_install
step distcheck make -j"$JOBS" distcheck

cd "$top" && mkdir build-asan && cd build-asan || exit 99
step configure-asan ../configure --enable-sanitizers
step build-asan make -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	make -j"$JOBS" check > ../build-logs/check-asan.log 2>&1
count_suite "make check (ASan+UBSan build)" test-suite.log

cd "$top/build" || exit 99
rm -f test-suite.log
make check TLSRPT_VALGRIND=1 \
	LOG_COMPILER="valgrind" \
	AM_LOG_FLAGS="-q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
	> ../build-logs/check-valgrind.log 2>&1
count_suite "make check (valgrind)" test-suite.log

echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
