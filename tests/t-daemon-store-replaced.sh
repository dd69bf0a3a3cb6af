#!/bin/sh
# The store's files deleted or replaced while the daemon runs under load
# (tlsrpt-milter(8), THE STORE): the writer checks the path before and
# after every commit, logs store_reopened and writes to the store at the
# path, never into a deleted file.  Sender A sends domains a*.example for
# 3 s, blocking (so it knows exactly what it sent); 0.8 s in, the files go;
# then sender B sends B datagrams of domains b*.example.
# 1. store.db, -wal and -shm deleted: every session of B is in the new
#    store, and the new store's counters match its sessions exactly.
# 2. store.db replaced (mv) by another SQLite file: the same, in that
#    file, whose own table is kept; the old -wal and -shm are removed.
# 3. Only -wal and -shm deleted: the database is still the store, and
#    the commits in the deleted -wal are copied into it first: all of A
#    and B are there, exactly.
# 4. The same with the policy map on: its own store connection holds the
#    old -shm too, so whichever of the two notices first waits
#    (store_reopen_failed; the writer keeps its results in memory) until
#    the other lets go (the policy map checks at least every second):
#    both reopen, again all of A and B, and the store is sound.
. "${top_srcdir:-.}/tests/lib.sh"
B=${TLSRPT_REPLACED_B:-20000}
[ -n "${TLSRPT_VALGRIND:-}" ] && B=${TLSRPT_REPLACED_B:-2000}

for set in a b; do
	awk -v s="$set" 'BEGIN { for (i = 0; i < 200; i++) if (i % 2)
		printf "{\"dpv\":\"1\",\"d\":\"%s%d.example\",\"policies\":[{\"policy-type\":9,\"t\":0,\"f\":0}]}\n", s, i % 37
		else
		printf "{\"dpv\":\"1\",\"d\":\"%s%d.example\",\"policies\":[{\"policy-type\":9,\"failure-details\":[{\"c\":201,\"r\":\"192.0.2.%d\"}],\"t\":1,\"f\":1}]}\n", s, i % 37, i % 5 }' \
		> "$T/$set.jsonl"
done
# B datagrams: the b file over and over
awk -v n="$B" 'NR == FNR { l[NR] = $0; c = NR; next } END { for (i = 0; i < n; i++) print l[i % c + 1] }' \
	"$T/b.jsonl" /dev/null > "$T/bn.jsonl"

sessions() {	# sessions LIKE: the stored sessions of the domains LIKE
	tl_sql "select coalesce(sum(successes) + sum(failures), 0) from policy_day where domain like '$1'"
}

# run CASE: start, load, do CASE to the files, send B, stop
run() {
	rm -f "$T"/store.db* "$T"/other.db*
	tl_start
	"$DGSEND" -s "$T/dg.sock" -u 3 -l "$T/a.jsonl" > "$T/sent.a" &
	APID=$!
	sleep 0.8
	case $1 in
	deleted) rm -f "$T/store.db" "$T/store.db-wal" "$T/store.db-shm" ;;
	replaced)
		sqlite3 "$T/other.db" "create table operator_note (t text); insert into operator_note values ('mine')"
		mv "$T/other.db" "$T/store.db" ;;
	wal) rm -f "$T/store.db-wal" "$T/store.db-shm" ;;
	esac
	tl_send -l "$T/bn.jsonl"
	wait $APID
	A=$(sed 's/sent=\([0-9]*\) .*/\1/' "$T/sent.a")
	tl_wait_for "$T/log" "err: store_reopened" || fail "$1: no store_reopened line"
	# the daemon holds no deleted file of the store
	HELD=$(ls -l /proc/"$TL_PID"/fd 2>/dev/null | grep -c 'store\.db.*(deleted)')
	tl_stop
	echo "$1: A sent $A, B sent $B"
	grep -o 'store_reopen[a-z_]* reason=[a-z_]*\( when=[a-z_]*\)\?' "$T/log" | sed 's/^/  /'
}

# ---- 1. deleted
tl_conf "flush_interval 100ms"
run deleted
assert_eq 0 "$TL_RC" "deleted: clean exit"
assert_grep "err: store_reopened reason=deleted when=[a-z_]* pending_sessions=[0-9]* (the store's files were deleted or replaced while the daemon ran; it now writes to the store at the path: what was committed to the old files is gone with them, the results in memory go to the new store)" \
    "$T/log" "deleted: logged"
assert_eq 0 "$HELD" "deleted: no deleted store file held"
assert_eq "$B" "$(sessions 'b%')" "deleted: every session sent after the deletion is in the new store"
assert_eq "$(tl_counter datagram.accepted)" "$(sessions '%')" "deleted: the new store's counters match its sessions"
assert_grep "counters event=stop received=$((A + B)) accepted=$((A + B)) stored=$((A + B)) .* store_reopens=1 " "$T/log" \
    "deleted: the daemon stored all it received, one reopen"

# ---- 2. replaced
run replaced
assert_eq 0 "$TL_RC" "replaced: clean exit"
assert_grep "err: store_reopened reason=replaced when=" "$T/log" "replaced: logged"
assert_eq 0 "$HELD" "replaced: no deleted store file held"
assert_eq mine "$(tl_sql "select t from operator_note")" "replaced: written into the file now at the path"
assert_eq "$B" "$(sessions 'b%')" "replaced: every session sent after the replacement is there"
assert_eq "$(tl_counter datagram.accepted)" "$(sessions '%')" "replaced: its counters match its sessions"

# ---- 3. -wal and -shm deleted
run wal
assert_eq 0 "$TL_RC" "wal: clean exit"
assert_grep "err: store_reopened reason=wal_deleted when=[a-z_]* pending_sessions=[0-9]* saved=yes (the store's files were deleted or replaced while the daemon ran; it now writes to the store at the path, into which its earlier commits were copied first)" \
    "$T/log" "wal: logged, earlier commits saved"
assert_eq 0 "$HELD" "wal: no deleted store file held"
assert_eq "$B" "$(sessions 'b%')" "wal: every session of B"
assert_eq "$A" "$(sessions 'a%')" "wal: every session of A, also those committed to the deleted -wal"
assert_eq "$((A + B))" "$(tl_counter datagram.accepted)" "wal: counters of A and B"
assert_eq ok "$(tl_sql "pragma integrity_check")" "wal: the store is sound"

# ---- 4. -wal and -shm deleted, the policy map's connection too
tl_conf "flush_interval 100ms" "policy_map_socket unix:$T/pm.sock" "resolver 127.0.0.1:9"
run wal
assert_eq 0 "$TL_RC" "wal, policy map: clean exit"
# whichever connection finds it first waits for the other (whose check comes within 1 s),
# unless both let go at about the same time
grep -q "store_reopen_failed reason=wal_deleted .*another connection of this process still holds its deleted -shm file" \
    "$T/log" && echo "  (one connection waited for the other)"
assert_grep "err: sts_store_reopened reason=\(wal_deleted\|not_open\) " "$T/log" "wal, policy map: the policy map reopens"
assert_grep "err: store_reopened reason=\(wal_deleted\|not_open\) .* saved=yes" "$T/log" \
    "wal, policy map: the writer reopens, its commits saved"
assert_eq 0 "$HELD" "wal, policy map: no deleted store file held"
assert_eq "$B" "$(sessions 'b%')" "wal, policy map: every session of B"
assert_eq "$A" "$(sessions 'a%')" "wal, policy map: every session of A"
assert_eq "$((A + B))" "$(tl_counter datagram.accepted)" "wal, policy map: counters of A and B"
assert_eq ok "$(tl_sql "pragma integrity_check")" "wal, policy map: the store is sound"
tl_done
