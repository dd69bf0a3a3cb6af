#!/bin/sh
# The datagram input end to end: the real daemon on a temporary socket,
# generated datagrams (success, every result code, libtlsrpt's internal
# 901 marker, several policies in one datagram, thousands of domains),
# a clean stop, then exact counts read back from the store.
. "${top_srcdir:-.}/tests/lib.sh"
D="$top_srcdir/tests/datagrams"

tl_conf
tl_start

tl_send -n 3 "$D/success.json"
tl_send -l "$D/every-result-code.jsonl"
tl_send "$D/unfinished-marker.json"
tl_send "$D/three-policies.json"
# 5000 domains, alternating a success and a STARTTLS failure
awk 'BEGIN { for (i = 0; i < 5000; i++) {
	if (i % 2) printf "{\"dpv\":\"1\",\"d\":\"D%d.Bulk.Example.\",\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":201,\"n\":\"mx.d%d.bulk.example\"}],\"t\":1,\"f\":1}]}\n", i, i;
	else printf "{\"dpv\":\"1\",\"d\":\"d%d.bulk.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", i } }' > "$T/bulk.jsonl"
tl_send -l "$T/bulk.jsonl"
tl_stop

assert_eq 0 "$TL_RC" "daemon exit status after SIGTERM"
assert_eq 5016 "$(tl_counter datagram.received)" "datagrams received"
assert_eq 5016 "$(tl_counter datagram.accepted)" "datagrams accepted"
assert_eq 0 "$(tl_sql "select count(*) from input_counter where name like 'datagram.rejected.%'")" "nothing rejected"

# success, three times, one row
assert_eq "9|ok.example|3|0" "$(tl_sql "select policy_type, policy_domain, successes, failures from policy_day where domain='ok.example'")" "success counted 3 times in one row"

# every result code: 12 failed sessions (11 codes + the 901 datagram) on one sts policy
assert_eq "0|12" "$(tl_sql "select successes, failures from policy_day where domain='codes.example'")" "every-result-code sessions"
assert_eq "201 202 203 204 205 301 302 303 304 305 306" \
	"$(tl_sql "select group_concat(result_type, ' ') from (select result_type from failure_day f join policy_day p on p.id=f.policy_id where p.domain='codes.example' order by result_type)")" \
	"one failure row per result code, 901 not stored"
assert_eq "11" "$(tl_sql "select sum(sessions) from failure_day f join policy_day p on p.id=f.policy_id where p.domain='codes.example'")" "failed-session counts per detail"
assert_eq "198.51.100.5|reason-205|mx.codes.example|192.0.2.1|" \
	"$(tl_sql "select receiving_ip, reason, mx_name, sending_ip, helo from failure_day where result_type=205")" "failure fields stored, unknown helo empty"
assert_eq '["version: STSv1","mode: enforce","mx: mx.codes.example","max_age: 86400"]|["mx.codes.example"]' \
	"$(tl_sql "select policy_strings, mx_hosts from policy_day where domain='codes.example'")" "policy strings and mx patterns"

# three policies in one datagram: three rows, each one session
assert_eq "1|mx1.multi.example|1|0
2|multi.example|0|1
9|multi.example|1|0" \
	"$(tl_sql "select policy_type, policy_domain, successes, failures from policy_day where domain='multi.example' order by policy_type")" "three policies of one datagram"
assert_eq "202|mx3.multi.example|1
203|mx2.multi.example|1" \
	"$(tl_sql "select result_type, mx_name, sessions from failure_day f join policy_day p on p.id=f.policy_id where p.domain='multi.example' order by result_type")" "two failure details of the sts policy"
assert_eq "v=TLSRPTv1;rua=https://tlsrpt.multi.example/r" "$(tl_sql "select record from tlsrpt_record where domain='multi.example'")" "TLSRPT record kept per domain and day"

# 5000 domains, names normalised (upper case and trailing dot)
assert_eq 5000 "$(tl_sql "select count(distinct domain) from policy_day where domain like '%.bulk.example'")" "5000 distinct bulk domains"
assert_eq "2500|2500" "$(tl_sql "select sum(successes), sum(failures) from policy_day where domain like '%.bulk.example'")" "bulk successes and failures"
assert_eq 0 "$(tl_sql "select count(*) from policy_day where domain <> lower(domain) or domain like '%.'")" "no upper case or trailing dot stored"
assert_eq 2500 "$(tl_sql "select sum(sessions) from failure_day where result_type=201 and mx_name like 'mx.d%.bulk.example'")" "bulk failure details"
assert_eq 1 "$(tl_sql "select count(distinct day) from policy_day")" "one UTC day"
assert_eq "$(date -u +%Y-%m-%d)" "$(tl_sql "select distinct day from policy_day")" "day is today's UTC date"
assert_grep "counters event=stop received=5016 accepted=5016 stored=5016" "$T/log" "stop line logs the counters"
tl_done
