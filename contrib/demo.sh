#!/bin/sh
# The main job end to end on embedded defaults, in a temporary directory:
# build tlsrpt-milter, start the collector on a private socket and store,
# feed it real libtlsrpt datagrams (the ones Postfix >= 3.10 sends), stop
# it cleanly and show what was recorded, per UTC day, domain and policy.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh contrib/debian-deps.sh

if [ ! -x build/tlsrpt-milter ] || [ ! -x build/tlsrpt-report ]; then
	echo "== building"
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p build && cd build
	[ -f Makefile ] || ../configure -q
	make -s -j"$(nproc)" tlsrpt-milter tlsrpt-report tests/dgsend
	cd "$top"
fi

work=$(mktemp -d /tmp/tlsrpt-demo.XXXXXX)
cat > "$work/tlsrpt.conf" <<CONF
# demo configuration: everything else is the built-in default
organization_name "Demo Mail Operator"
contact_info "mailto:tlsrpt-admin@sender.example"
store_path $work/tlsrpt.db
datagram_socket $work/tlsrpt.sock
pid_file none
run_as_user $(id -un)
CONF
echo "== starting tlsrpt-milter -f -c $work/tlsrpt.conf"
build/tlsrpt-milter -f -c "$work/tlsrpt.conf" 2> "$work/milter.log" &
pid=$!
i=0; while ! grep -q started "$work/milter.log" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done

shared="${TLSRPT_SHARED_DIR:-$top/../shared}/spec/datagrams"
if [ -f "$shared/dg01.json" ]; then
	set -- "$shared"/dg0*.json
else
	set -- tests/datagrams/*.json
fi
echo "== sending $# captured datagrams, each 3 times, as Postfix's libtlsrpt would"
build/tests/dgsend -s "$work/tlsrpt.sock" -n 3 "$@" >/dev/null
echo "== sending one malformed datagram"
echo 'not json' > "$work/bad"; build/tests/dgsend -s "$work/tlsrpt.sock" "$work/bad" >/dev/null
kill -TERM "$pid"; wait "$pid" || true
echo "== the daemon's log"
cat "$work/milter.log"

q() { sqlite3 -header -column "$work/tlsrpt.db" "$1"; echo; }
echo "== sessions per UTC day, recipient domain and policy"
q "select day, domain, case policy_type when 1 then 'tlsa' when 2 then 'sts' else 'no-policy-found' end as policy,
          policy_domain, successes, failures from policy_day order by day, domain, policy_type"
echo "== failed sessions per failure shape"
q "select p.domain, f.result_type, f.receiving_ip, f.mx_name, f.reason, f.sessions
     from failure_day f join policy_day p on p.id = f.policy_id order by p.domain, f.result_type"
echo "== input counters"
q "select day, name, value from input_counter order by name"
R="build/tlsrpt-report -c $work/tlsrpt.conf"
echo "== tlsrpt-report stats"
$R stats
# example.net is in the captured datagrams; the repository's own set has other names
domain=$(sqlite3 "$work/tlsrpt.db" \
    "select domain from policy_day order by domain = 'example.net' desc, domain limit 1")
echo "== tlsrpt-report preview $domain --pretty (today's report so far; nothing stored)"
$R preview "$domain" --pretty
echo
echo "== tlsrpt-report build: today is not finished, so nothing is built yet"
$R build
tomorrow=$(( $(date -u +%s) / 86400 * 86400 + 86400 + 7200 ))
echo "== TLSRPT_NOW=tomorrow 02:00 UTC tlsrpt-report build (pretending the day is over)"
TLSRPT_NOW=$tomorrow $R build
echo "== tlsrpt-report list: one delivery per rua of each domain's TLSRPT record"
$R list
echo "store: $work/tlsrpt.db (remove $work when done)"
