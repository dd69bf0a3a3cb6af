#!/bin/sh
# Hostile datagrams: every kind of malformed input is counted under its
# reason, logged (rate-limited), and neither crashes the daemon nor
# changes the data of the valid datagrams sent around it.  A datagram is
# all-or-nothing: the last malformed line has a valid first policy that
# must not be counted.
. "${top_srcdir:-.}/tests/lib.sh"
D="$top_srcdir/tests/datagrams"

tl_conf
tl_start
tl_send "$D/success.json"
tl_send -l "$D/malformed.jsonl"
printf '{"dpv":"1","d":"x.example\377","policies":[{"policy-type":9,"t":0,"f":0}]}' > "$T/utf8-1"
printf '{"dpv":"1","d":"x.example","pr":"\300\257","policies":[{"policy-type":9,"t":0,"f":0}]}' > "$T/utf8-2"
printf '{"dpv":"1","d":"x.example","pr":"\355\240\200","policies":[{"policy-type":9,"t":0,"f":0}]}' > "$T/utf8-3"
tl_send "$T/utf8-1" "$T/utf8-2" "$T/utf8-3"
# 70,000 bytes: over the default datagram_max_size of 64k
awk 'BEGIN { printf "{\"dpv\":\"1\",\"d\":\"big.example\",\"pr\":\""; for (i = 0; i < 70000; i++) printf "a"; printf "\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}" }' > "$T/oversize"
tl_send "$T/oversize"
# deep nesting
awk 'BEGIN { for (i = 0; i < 5000; i++) printf "["; for (i = 0; i < 5000; i++) printf "]" }' > "$T/deep"
tl_send "$T/deep"
# an empty datagram
: > "$T/empty"; tl_send "$T/empty"
# 100 more of one kind, to see the log limit
yes 'not json at all' | head -n 100 > "$T/many"
tl_send -l "$T/many"
tl_send "$D/success.json"
sleep 0.3
assert_eq 0 "$(kill -0 "$TL_PID" 2>/dev/null; echo $?)" "daemon alive after malformed input"
tl_stop

r() { tl_counter "datagram.rejected.$1"; }
assert_eq 106 "$(r not_json)" "not_json: garbage, array, truncated, NUL in string, deep, empty, 100 repeats"
assert_eq 5 "$(r missing_key)" "missing_key: dpv, d, policies, policy-type, t"
assert_eq 7 "$(r wrong_type)" "wrong_type: dpv, d, policies, policy-type, t, policy-string element, n"
assert_eq 1 "$(r unknown_version)" "unknown_version"
assert_eq 1 "$(r unknown_policy_type)" "unknown_policy_type"
assert_eq 1 "$(r unknown_result_code)" "unknown_result_code"
assert_eq 3 "$(r t_mismatch)" "t_mismatch (both directions, and in a second policy)"
assert_eq 3 "$(r bad_value)" "bad_value: f=2, empty policies, bad domain"
assert_eq 3 "$(r invalid_utf8)" "invalid_utf8: 0xff, overlong, surrogate"
assert_eq 1 "$(r oversize)" "oversize"
assert_eq 133 "$(tl_counter datagram.received)" "received"
assert_eq 2 "$(tl_counter datagram.accepted)" "accepted: only the two valid datagrams"
assert_eq "ok.example|2" "$(tl_sql "select group_concat(domain), sum(successes) from policy_day")" "valid data intact, nothing from malformed datagrams"
n=$(grep -c 'datagram_rejected reason=not_json' "$T/log")
assert_eq 10 "$n" "not_json logging limited to 10 lines a minute"
assert_grep 'datagram_rejected reason=t_mismatch bytes=[0-9]* detail="policies\[0\].t: is 2 but failure-details has 1"' "$T/log" "log names the key and the problem"
assert_grep 'datagram_rejected reason=oversize' "$T/log" "oversize logged"
tl_done
