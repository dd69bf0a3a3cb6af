#!/bin/sh
# Replays every seed of tests/fuzz-corpus (datagrams),
# tests/fuzz-corpus-maillog (mail logs, saved correlator state) and
# tests/fuzz-corpus-dns (DNS answers, TLSRPT and MTA-STS records) through
# their fuzz targets' checks (tests/fuzz_replay*, no libFuzzer needed)
# and asserts that all of them ran: a crash, a sanitizer report or a
# broken invariant fails.
# Exit codes follow automake: 0 pass, 1 fail, 99 hard error.

: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
replay() {	# REPLAY CORPUS
	REPLAY=$1
	CORPUS=$2

	if [ ! -x "$REPLAY" ]; then
		echo "ERROR: $REPLAY not built (make check builds it)"
		exit 99
	fi
	if [ ! -d "$CORPUS" ]; then
		echo "ERROR: no corpus directory $CORPUS"
		exit 99
	fi

	want=$(find "$CORPUS" -mindepth 1 -maxdepth 1 -type f | wc -l | tr -d ' ')
	if [ "$want" -eq 0 ]; then
		echo "FAIL: $CORPUS holds no seed files"
		exit 1
	fi

	out=$("$REPLAY" "$CORPUS" 2>&1)
	rc=$?
	printf '%s\n' "$out"
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: fuzz_replay exited with status $rc"
		exit 1
	fi
	if [ "$(printf '%s\n' "$out" | tail -n 1)" != "replayed $want inputs" ]; then
		echo "FAIL: expected a last line \"replayed $want inputs\""
		exit 1
	fi
	echo "PASS: $want corpus inputs of $(basename "$CORPUS") replayed"
}

replay "$top_builddir/tests/fuzz_replay" "$top_srcdir/tests/fuzz-corpus"
replay "$top_builddir/tests/fuzz_replay_maillog" "$top_srcdir/tests/fuzz-corpus-maillog"
replay "$top_builddir/tests/fuzz_replay_dns" "$top_srcdir/tests/fuzz-corpus-dns"
exit 0
