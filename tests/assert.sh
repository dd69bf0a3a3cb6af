# Assertions for the shell tests (sourced).  Each prints "ok - WHAT" or
# "FAIL - WHAT" with the expected and actual values, counts in TL_CHECKS
# and sets TL_FAILED=1 on a failure; tl_done prints the count and exits.
TL_FAILED=${TL_FAILED:-0}
TL_CHECKS=${TL_CHECKS:-0}

assert_eq() {   # expected actual what
	TL_CHECKS=$((TL_CHECKS + 1))
	if [ "$1" = "$2" ]; then
		echo "ok - $3"
	else
		echo "FAIL - $3"
		echo "  expected: $1"
		echo "  got:      $2"
		TL_FAILED=1
	fi
}

assert_grep() {   # pattern file what
	TL_CHECKS=$((TL_CHECKS + 1))
	if grep -q -- "$1" "$2"; then
		echo "ok - $3"
	else
		echo "FAIL - $3 (no line matching '$1' in $(basename "$2"))"
		TL_FAILED=1
	fi
}

tl_done() {
	echo "$TL_CHECKS checks"
	exit "$TL_FAILED"
}
