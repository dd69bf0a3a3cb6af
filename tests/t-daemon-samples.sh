#!/bin/sh
# The real datagrams captured from libtlsrpt (shared/spec/datagrams): the
# counts they imply, per policy, with "Example.COM." counted as example.com.
. "${top_srcdir:-.}/tests/lib.sh"
S="${TLSRPT_SHARED_DIR:-$top_srcdir/../shared}/spec/datagrams"
if [ ! -f "$S/dg01.json" ]; then
	echo "SKIP: captured datagrams not found in $S (set TLSRPT_SHARED_DIR)"
	exit 77
fi

tl_conf
tl_start
tl_send -n 2 "$S"/dg0*.json
tl_stop

assert_eq 10 "$(tl_counter datagram.accepted)" "all ten datagrams accepted"
assert_eq "company-y.example|1|company-y.example|2|0
company-y.example|2|company-y.example|0|2
example.com|1|mx1.example.com|2|0
example.com|9|example.com|2|0
example.net|2|example.net|0|2
example.org|9|example.org|0|2" \
	"$(tl_sql "select domain, policy_type, policy_domain, successes, failures from policy_day order by domain, policy_type")" \
	"sessions per domain and policy"
assert_eq "company-y.example|302|2
company-y.example|303|2
example.net|205|2
example.org|201|2" \
	"$(tl_sql "select p.domain, f.result_type, f.sessions from failure_day f join policy_day p on p.id=f.policy_id order by p.domain, f.result_type")" \
	"failed sessions per failure detail"
assert_eq 0 "$(tl_sql "select count(*) from policy_day where domain='Example.COM.' or domain='Example.COM'")" "no un-normalised domain"
# dg05's additional information survives escaping exactly (tab, newline, \u0001, UTF-8)
expected=$(printf 'quote" backslash\\ tab\t nl\n ctl\001 utf8 \303\244')
assert_eq "$expected" "$(tl_sql "select additional from failure_day where result_type=302")" "escaped additional-information stored exactly"
assert_eq "self-signed_certificate|250-mail.example.net<CR>
250-PIPELINING<CR>
250 STARTTLS" "$(tl_sql "select reason, replace(helo, char(13), '<CR>') from failure_day where result_type=205")" "failure reason and multi-line HELO with CR LF"
assert_eq "v=TLSRPTv1; rua=mailto:tlsrpt@example.net,https://reports.example.net/tlsrpt" \
	"$(tl_sql "select record from tlsrpt_record where domain='example.net'")" "record text"
tl_done
