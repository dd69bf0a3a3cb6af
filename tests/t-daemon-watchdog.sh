#!/bin/sh
# The systemd watchdog without systemd: WATCHDOG_USEC=2s, NOTIFY_SOCKET
# read by tests/sd_peer.py.
# 1. WATCHDOG=1 every ~1 s (half the interval);
# 2. a store locked by another process (BEGIN EXCLUSIVE held 4 s) does
#    not stop them: the writer gives up each try after
#    store_busy_timeout and goes on, which is progress;
# 3. a store on a frozen file system (fsfreeze on a loop-mounted ext4:
#    every write blocks, as on a hung disk) wedges the writer inside its
#    commit: the pings stop store_busy_timeout + 10 s after it began
#    ("watchdog_withheld thread=writer"), so systemd would restart the
#    daemon WatchdogSec later; thawed, they resume and nothing is lost.
# Needs root, a loop device, mkfs.ext4 and fsfreeze, else skipped.
. "${top_srcdir:-.}/tests/lib.sh"
tl_require_sd_peer
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (loop mount, fsfreeze)"; exit 77; }
# valgrind runs one thread at a time: a thread blocked in a page fault on
# the frozen store stalls them all, so the timings measure valgrind
[ -z "${TLSRPT_VALGRIND:-}" ] ||
	{ echo "SKIP: measures the timing of one stuck thread; under valgrind it stalls every thread"; exit 77; }
for c in mkfs.ext4 fsfreeze mount umount; do
	command -v $c >/dev/null 2>&1 || { echo "SKIP: $c not installed (Debian packages e2fsprogs, util-linux)"; exit 77; }
done
NPID= MNT="$T/mnt" FROZEN=
cleanup_wd() {
	[ -n "$FROZEN" ] && fsfreeze -u "$MNT" 2>/dev/null
	[ -n "$TL_PID" ] && kill -KILL "$TL_PID" 2>/dev/null && wait "$TL_PID" 2>/dev/null
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null
}
trap 'cleanup_wd; tl_cleanup' EXIT

mkdir -p "$MNT"
truncate -s 32M "$T/fs.img"
mkfs.ext4 -q -F "$T/fs.img" >/dev/null 2>&1 && mount -o loop "$T/fs.img" "$MNT" 2>/dev/null ||
	{ echo "SKIP: cannot loop-mount an ext4 image here"; exit 77; }
STORE="$MNT/store.db"
sql() { sqlite3 -batch -noheader "$STORE" "$1"; }
now_ms() { "$PY" -c 'import time; print(int(time.monotonic() * 1000))'; }
pings() { grep -c 'WATCHDOG=1' "$T/notify.log"; }

tl_notify_peer
tl_conf "store_path $STORE"
export NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=2000000
tl_start
unset NOTIFY_SOCKET WATCHDOG_USEC
assert_grep 'watchdog_enabled interval_ms=2000 ping_ms=1000' "$T/log" "watchdog enabled from WATCHDOG_USEC"

# 1. the rhythm: the notify peer's clock, first ping at READY
sleep 4.2
got=$(awk '/WATCHDOG=1/ { if (prev != "") { d = $1 - prev; if (d < 800 || d > 1500) bad++ }; n++; prev = $1 }
    END { printf "%s %d", (n >= 4 && n <= 6) ? "ok" : "n=" n, bad }' "$T/notify.log")
assert_eq "ok 0" "$got" "4 to 6 pings in 4.2 s, each 0.8 to 1.5 s after the one before"

# 2. a lock held by another process: the writer retries, the pings go on
"$PY" -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(4)
c.execute("ROLLBACK")
' "$STORE" > "$T/lock.out" &
LOCK=$!
n=0; while ! grep -q locked "$T/lock.out" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
before=$(pings)
tl_send "$top_srcdir/tests/datagrams/success.json"
wait "$LOCK"
after=$(pings)
assert_eq yes "$([ $((after - before)) -ge 3 ] && echo yes || echo "no: $((after - before)) pings")" \
    "a store locked for 4 s: still pinged (3 or more)"
assert_grep 'store_commit_deferred reason=busy' "$T/log" "the locked store was retried"
assert_eq 0 "$(grep -c watchdog_withheld "$T/log")" "not withheld for a lock"

# 3. a frozen file system: the writer blocks inside its commit
sleep 1
fsfreeze -f "$MNT" && FROZEN=1
t0=$(now_ms)
tl_send "$top_srcdir/tests/datagrams/success.json"
n=0; while ! grep -q 'watchdog_withheld' "$T/log" && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
t1=$(now_ms)
assert_grep 'watchdog_withheld thread=writer reason=stuck overdue_ms=[0-9]*' "$T/log" \
    "the stuck writer is named"
took=$((t1 - t0))
assert_eq yes "$([ $took -ge 11000 ] && [ $took -le 16000 ] && echo yes || echo "no: $took ms")" \
    "pings withheld 11 to 16 s after the writer stuck (store_busy_timeout 2 s + 10 s)"
before=$(pings)
sleep 3
assert_eq "$before" "$(pings)" "no ping for 3 s while the writer is stuck"
fsfreeze -u "$MNT" && FROZEN=
n=0; while [ "$(pings)" -le "$before" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
assert_eq yes "$([ "$(pings)" -gt "$before" ] && echo yes || echo no)" "pings resume within 5 s of the thaw"
assert_grep 'watchdog_resumed' "$T/log" "and the resumption is logged"
tl_stop
assert_eq 0 "$TL_RC" "clean stop"
assert_eq 2 "$(sql "select coalesce(sum(value),0) from input_counter where name='datagram.accepted'")" \
    "both datagrams stored, the one sent while frozen too"
assert_eq "STOPPING=1" "$(tail -n 1 "$T/notify.log" | sed 's/^[0-9]* //')" "STOPPING=1 at the end"
umount "$MNT"
tl_done
