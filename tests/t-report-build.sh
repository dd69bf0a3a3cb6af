#!/bin/sh
# tlsrpt-report end to end: the real daemon records known datagrams (every
# count below is worked out by hand from them), then the real CLI previews,
# builds (not before the day is over plus report_grace_period), rebuilds
# (idempotent: same id, same bytes), leaves a sent report alone, lists,
# shows, reports stats and pending deliveries, purges, and refuses bad
# usage with the sysexits.h codes.  Assertions named "R<n>" check that
# item of ../shared/spec/rfc8460-checklist.md.
. "${top_srcdir:-.}/tests/lib.sh"
REPORT="$top_builddir/tlsrpt-report"
# TLSRPT_VALGRIND=1: the CLI too runs under valgrind; an error makes it exit 99
if [ -n "${TLSRPT_VALGRIND:-}" ]; then
	REPORT="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite $REPORT"
fi
R="$REPORT -c $T/tlsrpt.conf"
SHAPE="$top_builddir/tests/json_shape"

# An epoch second as a UTC day, and a day's first second (sqlite3 is at hand).
day_of() { sqlite3 :memory: "select date($1, 'unixepoch')"; }
start_of() { sqlite3 :memory: "select cast(strftime('%s', '$1') as integer)"; }

# Run the CLI; stdout in $T/out, stderr in $T/err, exit status in RC.
run() {
	"$@" >"$T/out" 2>"$T/err"
	RC=$?
}

# ---- the datagrams -----------------------------------------------------
# a.example: an sts policy with two mx patterns and two rua destinations
STS_A='"policy-type":2,"policy-domain":"a.example","policy-string":["version: STSv1","mode: enforce","mx: mx1.a.example","mx: mx2.a.example","max_age: 86400"],"mx-host":["mx1.a.example","mx2.a.example"]'
PR_A='"pr":"v=TLSRPTv1; rua=mailto:tlsrpt@a.example,https://tlsrpt.a.example/v1"'
echo "{\"dpv\":\"1\",\"d\":\"a.example\",$PR_A,\"policies\":[{$STS_A,\"t\":0,\"f\":0}]}" > "$T/a-ok.json"
echo "{\"dpv\":\"1\",\"d\":\"a.example\",$PR_A,\"policies\":[{$STS_A,\"failure-details\":[{\"c\":205,\"s\":\"192.0.2.1\",\"n\":\"mx1.a.example\",\"h\":\"mx1.a.example\",\"r\":\"198.51.100.1\",\"a\":\"https://sender.example/why\",\"f\":\"X509_V_ERR_CERT_UNTRUSTED\"}],\"t\":1,\"f\":1}]}" > "$T/a-fail.json"
# one failed session with two failure details (R14)
echo "{\"dpv\":\"1\",\"d\":\"a.example\",$PR_A,\"policies\":[{$STS_A,\"failure-details\":[{\"c\":204,\"s\":\"192.0.2.1\",\"n\":\"mx2.a.example\",\"r\":\"198.51.100.2\"},{\"c\":202,\"s\":\"192.0.2.1\",\"n\":\"mx2.a.example\",\"r\":\"198.51.100.2\"}],\"t\":2,\"f\":1}]}" > "$T/a-fail2.json"
# b.example: no policy, one rua
echo '{"dpv":"1","d":"b.example","pr":"v=TLSRPTv1;rua=mailto:reports@b.example","policies":[{"policy-type":9,"t":0,"f":0}]}' > "$T/b-ok.json"
echo '{"dpv":"1","d":"b.example","pr":"v=TLSRPTv1;rua=mailto:reports@b.example","policies":[{"policy-type":9,"failure-details":[{"c":201,"s":"192.0.2.1","n":"mx.b.example","r":"198.51.100.3"}],"t":1,"f":1}]}' > "$T/b-fail.json"
# c.example: the MTA saw no TLSRPT record
echo '{"dpv":"1","d":"c.example","policies":[{"policy-type":9,"t":0,"f":0}]}' > "$T/c-ok.json"
# d.example: DANE, names and addresses in non-canonical spellings (R31)
TLSA_D='"policy-type":1,"policy-domain":"MX.D.Example","policy-string":["3 1 1 ABCD"]'
echo "{\"dpv\":\"1\",\"d\":\"D.Example.\",\"pr\":\"v=TLSRPTv1; rua=mailto:r@d.example\",\"policies\":[{$TLSA_D,\"t\":0,\"f\":0}]}" > "$T/d-ok.json"
echo "{\"dpv\":\"1\",\"d\":\"D.Example.\",\"pr\":\"v=TLSRPTv1; rua=mailto:r@d.example\",\"policies\":[{$TLSA_D,\"failure-details\":[{\"c\":304,\"s\":\"2001:DB8:0:0:0:0:0:25\",\"n\":\"MX.D.Example.\",\"r\":\"::FFFF:198.51.100.4\"}],\"t\":1,\"f\":1}]}" > "$T/d-fail.json"

tl_conf 'organization_name "Build Test Org"' 'contact_info mailto:tlsrpt@sender.example'
tl_start
tl_send -n 3 "$T/a-ok.json"
tl_send -n 2 "$T/a-fail.json"
tl_send "$T/a-fail2.json"
tl_send -n 5 "$T/b-ok.json"
tl_send "$T/b-fail.json" "$T/c-ok.json" "$T/d-ok.json" "$T/d-fail.json"
tl_stop
assert_eq 0 "$TL_RC" "daemon exit status after SIGTERM"
assert_eq 15 "$(tl_counter datagram.accepted)" "15 datagrams accepted"

DAY=$(tl_sql "select group_concat(distinct day) from policy_day")
if [ "$DAY" != "$(date -u +%Y-%m-%d)" ]; then
	echo "SKIP: the datagrams were received on $DAY, not today (crossed UTC midnight?)"
	exit 77
fi
D0=$(start_of "$DAY")
TOMORROW=$((D0 + 86400))
DOTDAY=$(echo "$DAY" | tr - .)
ID_A="${DOTDAY}T00.00.00Z+a.example@sender.example"
ID_B="${DOTDAY}T00.00.00Z+b.example@sender.example"
ID_C="${DOTDAY}T00.00.00Z+c.example@sender.example"
ID_D="${DOTDAY}T00.00.00Z+d.example@sender.example"
HEAD="{\"organization-name\":\"Build Test Org\",\"date-range\":{\"start-datetime\":\"${DAY}T00:00:00Z\",\"end-datetime\":\"${DAY}T23:59:59Z\"},\"contact-info\":\"mailto:tlsrpt@sender.example\",\"report-id\":"
STS_A_JSON='{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: mx1.a.example","mx: mx2.a.example","max_age: 86400"],"policy-domain":"a.example","mx-host":["mx1.a.example","mx2.a.example"]}'
A_DETAILS='"failure-details":[{"result-type":"certificate-host-mismatch","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx2.a.example","receiving-ip":"198.51.100.2","failed-session-count":1},{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx2.a.example","receiving-ip":"198.51.100.2","failed-session-count":1},{"result-type":"validation-failure","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx1.a.example","receiving-mx-helo":"mx1.a.example","receiving-ip":"198.51.100.1","failed-session-count":2,"additional-information":"https://sender.example/why","failure-reason-code":"X509_V_ERR_CERT_UNTRUSTED"}]'
JSON_A="$HEAD\"$ID_A\",\"policies\":[{\"policy\":$STS_A_JSON,\"summary\":{\"total-successful-session-count\":3,\"total-failure-session-count\":3},$A_DETAILS}]}"
JSON_B="$HEAD\"$ID_B\",\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"b.example\"},\"summary\":{\"total-successful-session-count\":5,\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":\"starttls-not-supported\",\"sending-mta-ip\":\"192.0.2.1\",\"receiving-mx-hostname\":\"mx.b.example\",\"receiving-ip\":\"198.51.100.3\",\"failed-session-count\":1}]}]}"
JSON_C="$HEAD\"$ID_C\",\"policies\":[{\"policy\":{\"policy-type\":\"no-policy-found\",\"policy-domain\":\"c.example\"},\"summary\":{\"total-successful-session-count\":1,\"total-failure-session-count\":0}}]}"
JSON_D="$HEAD\"$ID_D\",\"policies\":[{\"policy\":{\"policy-type\":\"tlsa\",\"policy-string\":[\"3 1 1 ABCD\"],\"policy-domain\":\"mx.d.example\"},\"summary\":{\"total-successful-session-count\":1,\"total-failure-session-count\":1},\"failure-details\":[{\"result-type\":\"tlsa-invalid\",\"sending-mta-ip\":\"2001:db8::25\",\"receiving-mx-hostname\":\"mx.d.example\",\"receiving-ip\":\"::ffff:198.51.100.4\",\"failed-session-count\":1}]}]}"

# ---- preview: today, stores nothing -------------------------------------
run $R preview a.example
assert_eq "0|$JSON_A" "$RC|$(cat "$T/out")" "R11 R12 R14 preview a.example: sts policy, exact counts and failure details"
run $R preview b.example
assert_eq "0|$JSON_B" "$RC|$(cat "$T/out")" "R13 preview b.example: no-policy-found, starttls-not-supported"
run $R preview C.EXAMPLE.
assert_eq "0|$JSON_C" "$RC|$(cat "$T/out")" "preview normalises the domain argument"
run $R preview d.example
assert_eq "0|$JSON_D" "$RC|$(cat "$T/out")" "R29 R31 preview d.example: TLSA base domain, canonical IPv6 and names"
run $R preview a.example --day "$DAY" --pretty
assert_eq "0|{" "$RC|$(head -n 1 "$T/out")" "preview --pretty starts an indented document"
assert_eq '  "organization-name": "Build Test Org",' "$(sed -n 2p "$T/out")" "preview --pretty second line"
assert_eq 0 "$(tl_sql "select count(*) from report")" "preview stores no report"

# ---- R8: nothing is built before the day is over plus the grace period ----
run $R build
assert_eq "0|(none)
0 built, 0 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "R8 build now: nothing for today"
run env TLSRPT_NOW=$((TOMORROW + 1800)) $R build
assert_eq "0|(none)
0 built, 0 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "R8 build at tomorrow 00:30: within report_grace_period 1h"
run env TLSRPT_NOW=$((TOMORROW + 3599)) $R build
assert_eq "0|(none)
0 built, 0 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "R8 build at tomorrow 00:59:59: one second before the grace period ends"
run env TLSRPT_NOW=$((TOMORROW + 3599)) $R build --day "$DAY"
assert_eq "65|tlsrpt-report: $DAY is not finished yet (report_grace_period after its end); use preview to see it now" \
	"$RC|$(cat "$T/err")" "R8 build --day at tomorrow 00:59:59 exits 65"
assert_eq 0 "$(tl_sql "select count(*) from report")" "R8 no report stored before the day is finished"

NOW=$((TOMORROW + 3601))
run env TLSRPT_NOW=$NOW $R build
assert_eq "0|report_id                                      day         domain     policies  destinations  status
$ID_A  $DAY  a.example  1         2             built
$ID_B  $DAY  b.example  1         1             built
$ID_C  $DAY  c.example  1         0             no TLSRPT record seen by the MTA
$ID_D  $DAY  d.example  1         1             built
4 built, 0 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "R9 build at tomorrow 01:00:01: one report per domain"
assert_eq "" "$(cat "$T/err")" "build writes nothing to stderr"
assert_eq "4|4" "$(tl_sql "select count(*), count(distinct report_id) from report")" "R9 four reports, four distinct ids"

# R7: one pending delivery per rua of the record the MTA saw
LIST_1="report_id                                      day         domain     destination                  state           attempts  note
$ID_A  $DAY  a.example  https://tlsrpt.a.example/v1  pending         0         -
$ID_A  $DAY  a.example  mailto:tlsrpt@a.example      pending         0         -
$ID_B  $DAY  b.example  mailto:reports@b.example     pending         0         -
$ID_C  $DAY  c.example  -                            no-destination  0         no TLSRPT record seen by the MTA
$ID_D  $DAY  d.example  mailto:r@d.example           pending         0         -"
run $R list
assert_eq "0|$LIST_1" "$RC|$(cat "$T/out")" "R7 list: one row per rua destination, pending"
run $R list --state no-destination
assert_eq "report_id                                      day         domain     destination  state           attempts  note
$ID_C  $DAY  c.example  -            no-destination  0         no TLSRPT record seen by the MTA" "$(cat "$T/out")" "list --state no-destination"
run $R list --domain b.example --day "$DAY"
assert_eq "report_id                                      day         domain     destination               state    attempts  note
$ID_B  $DAY  b.example  mailto:reports@b.example  pending  0         -" "$(cat "$T/out")" "list --domain --day"

for x in A B C D; do
	eval "id=\$ID_$x; want=\$JSON_$x"
	run $R show "$id"
	assert_eq "0|$want" "$RC|$(head -n 1 "$T/out")" "show $id: the JSON the preview showed"
	cp "$T/out" "$T/show1.$x"
done
assert_eq "
deliveries:
destination                  state    attempts  first_attempt  last_attempt  next_try  last_error
https://tlsrpt.a.example/v1  pending  0         -              -             -         -
mailto:tlsrpt@a.example      pending  0         -              -             -         -" "$(sed 1d "$T/show1.A")" "show lists the deliveries"
GZ1_A=$(tl_sql "select hex(gzip) from report where report_id='$ID_A'")
GZ1_B=$(tl_sql "select hex(gzip) from report where report_id='$ID_B'")
assert_eq "$JSON_A" "$(tl_sql "select json from report where report_id='$ID_A'")" "stored JSON of a.example"

# a second build finds nothing new
run env TLSRPT_NOW=$NOW $R build
assert_eq "0|(none)
0 built, 0 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "a second build builds nothing"

# an explicit day rebuilds: same ids, same bytes (idempotent)
run env TLSRPT_NOW=$((NOW + 600)) $R build --day "$DAY"
assert_eq "0|report_id                                      day         domain     policies  destinations  status
$ID_A  $DAY  a.example  1         2             rebuilt
$ID_B  $DAY  b.example  1         1             rebuilt
$ID_C  $DAY  c.example  1         0             rebuilt
$ID_D  $DAY  d.example  1         1             rebuilt
0 built, 4 rebuilt, 0 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "build --day rebuilds every report of the day"
for x in A B C D; do
	eval "id=\$ID_$x"
	$R show "$id" > "$T/show2.$x"
	if cmp -s "$T/show1.$x" "$T/show2.$x"; then same=identical; else same=different; fi
	assert_eq identical "$same" "rebuilt $id is byte-identical (show output)"
done
assert_eq "$GZ1_A" "$(tl_sql "select hex(gzip) from report where report_id='$ID_A'")" "rebuilt gzip of a.example is byte-identical"
run $R list
assert_eq "$LIST_1" "$(cat "$T/out")" "rebuilding keeps the same ids and pending deliveries"

# ---- a report sent to any destination is immutable ---------------------
tl_sql "UPDATE delivery SET state='sent' WHERE destination='https://tlsrpt.a.example/v1'"
tl_start
tl_send "$T/a-ok.json" "$T/b-ok.json"
tl_stop
assert_eq 0 "$TL_RC" "daemon exit status after the second run"
assert_eq "$DAY|4|3" "$(tl_sql "select day, successes, failures from policy_day where domain='a.example'")" "the new session was recorded for the same day"
run env TLSRPT_NOW=$((NOW + 1200)) $R build --day "$DAY"
assert_eq "0|report_id                                      day         domain     policies  destinations  status
$ID_A  $DAY  a.example  1         2             unchanged (already sent)
$ID_B  $DAY  b.example  1         1             rebuilt
$ID_C  $DAY  c.example  1         0             rebuilt
$ID_D  $DAY  d.example  1         1             rebuilt
0 built, 3 rebuilt, 1 unchanged (already sent), 0 failed" "$RC|$(cat "$T/out")" "build --day leaves the sent report alone"
run $R show "$ID_A"
assert_eq "$JSON_A" "$(head -n 1 "$T/out")" "sent report: stored JSON unchanged despite new data"
assert_eq "$GZ1_A" "$(tl_sql "select hex(gzip) from report where report_id='$ID_A'")" "sent report: stored gzip unchanged"
assert_eq "$((NOW + 600))" "$(tl_sql "select built_at from report where report_id='$ID_A'")" "sent report: built_at unchanged"
run $R preview a.example --day "$DAY"
assert_eq '"summary":{"total-successful-session-count":4,"total-failure-session-count":3}' \
	"$(grep -o '"summary":{[^}]*}' "$T/out")" "preview shows the new data that the sent report does not"
JSON_B2=$(echo "$JSON_B" | sed 's/"total-successful-session-count":5/"total-successful-session-count":6/')
run $R show "$ID_B"
assert_eq "$JSON_B2" "$(head -n 1 "$T/out")" "an unsent report is rebuilt with the new data, same id"
if [ "$GZ1_B" != "$(tl_sql "select hex(gzip) from report where report_id='$ID_B'")" ]; then g=changed; else g=same; fi
assert_eq changed "$g" "an unsent report's gzip follows its JSON"

# ---- listings ----------------------------------------------------------
run $R --json list
assert_eq 0 "$RC" "--json list exits 0"
assert_eq "$ID_A|https://tlsrpt.a.example/v1|sent|0" \
	"$("$SHAPE" --get '[0].report_id' "$T/out")|$("$SHAPE" --get '[0].destination' "$T/out")|$("$SHAPE" --get '[0].state' "$T/out")|$("$SHAPE" --get '[0].attempts' "$T/out")" \
	"--json list parses; first row"
assert_grep '"state": "no-destination"' "$T/out" "--json list: the row without destination"
"$SHAPE" --get '[5]' "$T/out" >/dev/null; no_sixth=$?
assert_eq "$ID_D|1" "$("$SHAPE" --get '[4].report_id' "$T/out")|$no_sixth" "--json list: five rows, the last of d.example"

run $R --json show "$ID_D"
assert_eq "0|$JSON_D" "$RC|$("$SHAPE" --get report "$T/out")" "--json show: the report, same JSON value"
assert_eq "mailto:r@d.example|pending" \
	"$("$SHAPE" --get 'deliveries[0].destination' "$T/out")|$("$SHAPE" --get 'deliveries[0].state' "$T/out")" "--json show: its deliveries"

run $R pending
assert_eq "0|report_id                                      day         domain     destination               state    attempts  next_try  last_error
$ID_A  $DAY  a.example  mailto:tlsrpt@a.example   pending  0         -         -
$ID_B  $DAY  b.example  mailto:reports@b.example  pending  0         -         -
$ID_D  $DAY  d.example  mailto:r@d.example        pending  0         -         -" "$RC|$(cat "$T/out")" "pending: exactly the pending deliveries"

SINCE=$(day_of $((NOW - 6 * 86400)))
# the milter's message counts: a.example had mail, z.example had mail but no session
tl_sql "insert into domain_counter values ('$DAY', 'a.example', 'messages', 9),
    ('$DAY', 'z.example', 'messages', 3)"
run env TLSRPT_NOW=$NOW $R stats
assert_eq "0|since $SINCE (UTC)

sessions per UTC day:
day         domains  successful  failed  failed_pct
$DAY  4        12          5       29.41

failed sessions by result type:
day         result_type                sessions
$DAY  validation-failure         2
$DAY  starttls-not-supported     1
$DAY  certificate-host-mismatch  1
$DAY  certificate-expired        1
$DAY  tlsa-invalid               1

domains with the most failed sessions:
domain     failed  successful
a.example  3       4
b.example  1       6
d.example  1       1

input counters (received, accepted, rejected by reason):
day         name               value
$DAY  datagram.accepted  17
$DAY  datagram.received  17

hook coverage: domains the milter saw mail for against domains with recorded sessions:
day         domains  messages  domains_with_messages  domains_with_sessions  messages_no_sessions  sessions_no_messages
$DAY  5        12        2                      4                      1                     3

domains with messages but no recorded session (is the MTA's hook wired? mail still queued?):
domain     messages  first_day   last_day
z.example  3         $DAY  $DAY" "$RC|$(cat "$T/out")" "R13 stats: exact per-day totals, result type names, hook coverage"
run env TLSRPT_NOW=$((NOW + 8 * 86400)) $R stats --days 1
assert_eq "0|(none)" "$RC|$(sed -n 4p "$T/out")" "stats --days 1 a week later: no sessions in the window"

# ---- purge -------------------------------------------------------------
run env TLSRPT_NOW=$((NOW + 400 * 86400)) $R --json purge
# 4 reports + 4 policy rows + 3 records (c.example has none) + 2 counters + 2 message counts
assert_eq "0|{\"before\": \"$(day_of $((NOW + 365 * 86400)))\", \"rows_deleted\": 15}" "$RC|$(cat "$T/out")" "purge deletes everything of the old day"
assert_eq "0|0|0|0|0|0" "$(tl_sql "select (select count(*) from report), (select count(*) from delivery), (select count(*) from policy_day), (select count(*) from failure_day), (select count(*) from tlsrpt_record), (select count(*) from input_counter)")" "purge leaves no rows behind"
run $R list
assert_eq "0|(none)" "$RC|$(cat "$T/out")" "list after purge is empty"
run $R --json list
assert_eq "0|[]" "$RC|$(cat "$T/out")" "--json list after purge is []"
run env TLSRPT_NOW=$((NOW + 400 * 86400)) $R purge
assert_eq "0|purged 0 rows of days before $(day_of $((NOW + 365 * 86400))) (retention_days 35)" "$RC|$(cat "$T/out")" "a second purge deletes nothing"

# ---- exit codes (sysexits.h) ---------------------------------------------
run $REPORT -c "$T/tlsrpt.conf"
assert_eq "64|usage: tlsrpt-report [-c file] [--json] command [options]" "$RC|$(head -n 1 "$T/err")" "no command: EX_USAGE"
run $R frobnicate
assert_eq "64|tlsrpt-report: unknown command frobnicate" "$RC|$(head -n 1 "$T/err")" "unknown command: EX_USAGE"
run $R build --frobnicate
assert_eq "64" "$RC" "unknown build option: EX_USAGE"
run env TLSRPT_NOW=$NOW $R build --day 2026-02-30
assert_eq "64|tlsrpt-report build: bad option or value: 2026-02-30" "$RC|$(cat "$T/err")" "build --day 2026-02-30: EX_USAGE"
run env TLSRPT_NOW=$NOW $R build --day "${DAY}x"
assert_eq "64" "$RC" "build --day with junk: EX_USAGE"
run $R list --day 2026-13-01
assert_eq "64" "$RC" "list --day 2026-13-01: EX_USAGE"
run $R list --state delivered
assert_eq "64" "$RC" "list --state unknown: EX_USAGE"
run $R list extra
assert_eq "64" "$RC" "list with an argument: EX_USAGE"
run $R show
assert_eq "64|usage: tlsrpt-report show REPORT-ID [--pretty]" "$RC|$(cat "$T/err")" "show without id: EX_USAGE"
run $R show "$ID_A"
assert_eq "66|tlsrpt-report: no report with id $ID_A" "$RC|$(cat "$T/err")" "show of a purged report: EX_NOINPUT"
run $R show nosuch@sender.example
assert_eq "66|tlsrpt-report: no report with id nosuch@sender.example" "$RC|$(cat "$T/err")" "show of an unknown id: EX_NOINPUT"
run $R preview
assert_eq "64|usage: tlsrpt-report preview DOMAIN [--day YYYY-MM-DD] [--pretty]" "$RC|$(cat "$T/err")" "preview without domain: EX_USAGE"
run $R preview 'bad domain!'
assert_eq "64|tlsrpt-report: not a domain name: bad domain!" "$RC|$(cat "$T/err")" "preview of a non-domain: EX_USAGE"
run $R preview z.example
assert_eq "66|tlsrpt-report: no sessions recorded for z.example on $(date -u +%Y-%m-%d)" "$RC|$(cat "$T/err")" "preview without data: EX_NOINPUT"
run $R pending extra
assert_eq "64|usage: tlsrpt-report pending" "$RC|$(cat "$T/err")" "pending with an argument: EX_USAGE"
run $R stats --days 0
assert_eq "64|usage: tlsrpt-report stats [--days N]   (N from 1 to 3650)" "$RC|$(cat "$T/err")" "stats --days 0: EX_USAGE"
run $R purge now
assert_eq "64|usage: tlsrpt-report purge" "$RC|$(cat "$T/err")" "purge with an argument: EX_USAGE"
run $R build --day "$(date -u +%Y-%m-%d)"
assert_eq "65|tlsrpt-report: $(date -u +%Y-%m-%d) is not finished yet (report_grace_period after its end); use preview to see it now" \
	"$RC|$(cat "$T/err")" "R8 build --day today without TLSRPT_NOW: EX_DATAERR (not finished)"
run $REPORT -c "$T/nonexistent.conf" list
assert_eq 78 "$RC" "missing configuration file: EX_CONFIG"
tl_done
