#!/bin/bash
# Guest side of test/vm/kernel-supervisor.test.ts (runs as root inside the QEMU guest, see test/helpers/vm.ts).
#
# tgtd on 127.0.0.1:3260 exports a 32 MiB random file as LUN 1 with mutual CHAP (MD5). `iscsi-ts attach --json
# --recovery-timeout 30 --logout-on-exit` runs in the background: it logs in, hands the session to iscsi_tcp and
# supervises it. Then: the whole LUN read through /dev/sdX has the file's sha256; tgtd is killed with SIGKILL and
# started again with the same configuration; the supervisor reconnects the same kernel session (its output says so)
# and the same /dev/sdX reads the right sha256 again, and a write through it reads back; a second kill and restart,
# this time with a read of the whole disk started while the target is down (held by the kernel, finished after the
# recovery), checks that recovering twice works (the CmdSN carried over two recoveries); SIGTERM then makes attach log
# the session out: disk, session and tgtd's I_T nexus are gone.
# Every step that passed prints "MARK <step>"; any failure prints "FAIL …" and exits 1. Inputs (environment):
# ISCSI_TS_CHECKOUT, IQN, INITIATOR_IQN, CHAP_USER, CHAP_SECRET, CHAP_TARGET_USER, CHAP_TARGET_SECRET.

set -u
umask 077
. "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"
CLI="$ISCSI_TS_CHECKOUT/dist/cli/main.js"
WORK=/tmp/kernel-supervisor
mkdir -p "$WORK"
TGTD_PID=
ATTACH_PID=
LUN_FILE=$WORK/lun.img
LOG=$WORK/attach.log

cleanup() {
  alive "$ATTACH_PID" && kill -9 "$ATTACH_PID" 2>/dev/null
  remove_kernel_sessions
  stop_tgtd "$TGTD_PID"
}

fail() {
  echo "FAIL $*"
  echo "---- attach output"
  [ -f "$LOG" ] && cat "$LOG"
  echo "---- dmesg"
  dmesg | tail -40
  [ -f "$WORK/tgtd.log" ] && tail -20 "$WORK/tgtd.log"
  cleanup
  exit 1
}

count() { grep -c -- "$1" "$LOG" 2>/dev/null || true; }
at_least() { [ "$(count "$1")" -ge "$2" ]; }
state_is() { [ "$(cat "/sys/class/iscsi_session/session$SID/state" 2>/dev/null)" = "$1" ]; }

# start_tgtd: tgtd and its configuration. The ACL goes last: until then every login is refused, so a reconnecting
# initiator never meets a half-configured target (no LUN, or no CHAP account yet).
start_tgtd() {
  tgtd -f --iscsi "portal=127.0.0.1:3260" >>"$WORK/tgtd.log" 2>&1 &
  TGTD_PID=$!
  wait_for 30 tgtadm_ --op show --mode sys >/dev/null 2>&1 || fail "tgtd does not answer"
  tgtadm_ --op new --mode target --tid 1 -T "$IQN" || fail "tgtadm target"
  tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN_FILE" || fail "tgtadm lun"
  tgtadm_ --op new --mode account --user "$CHAP_USER" --password "$CHAP_SECRET" || fail "tgtadm account"
  tgtadm_ --op bind --mode account --tid 1 --user "$CHAP_USER" || fail "tgtadm bind account"
  tgtadm_ --op new --mode account --user "$CHAP_TARGET_USER" --password "$CHAP_TARGET_SECRET" || fail "tgtadm account out"
  tgtadm_ --op bind --mode account --tid 1 --user "$CHAP_TARGET_USER" --outgoing || fail "tgtadm bind outgoing"
  tgtadm_ --op bind --mode target --tid 1 -I ALL || fail "tgtadm acl"
}

# kill_tgtd N: SIGKILL tgtd and wait for the supervisor to report the N-th connection error.
kill_tgtd() {
  kill -9 "$TGTD_PID" || fail "kill tgtd"
  wait "$TGTD_PID" 2>/dev/null
  TGTD_PID=
  echo "killed tgtd at uptime $(cut -d' ' -f1 /proc/uptime)"
  wait_for 20 at_least '"event":"kernel-conn-error"' "$1" || fail "no connection error reported after kill $1"
  grep '"event":"kernel-conn-error"' "$LOG" | tail -1
  wait_for 10 state_is FAILED || fail "session not FAILED after kill $1"
}

# recovered N: wait for the N-th successful recovery, then the session is LOGGED_IN and the same disk is there.
recovered() {
  wait_for 60 at_least '"phase":"success"' "$1" || fail "no recovery $1 reported"
  grep '"event":"kernel-recovery"' "$LOG" | tail -6
  wait_for 10 state_is LOGGED_IN || fail "session not LOGGED_IN after recovery $1"
  [ -b "/dev/$DISK" ] || fail "/dev/$DISK gone after recovery $1"
  [ "$(ls /sys/class/iscsi_session/session"$SID"/device/target*/*/block 2>/dev/null)" = "$DISK" ] ||
    fail "session $SID has another disk after recovery $1"
  [ "$(cat /sys/block/"$DISK"/device/state)" = running ] || fail "/dev/$DISK is not running after recovery $1"
  echo "connection after recovery $1: exp_statsn $(cat /sys/class/iscsi_connection/connection"$SID":0/exp_statsn)" \
    "local_port $(cat /sys/class/iscsi_connection/connection"$SID":0/local_port)"
}

# ---- set-up
dd if=/dev/urandom of="$LUN_FILE" bs=1M count=32 iflag=fullblock status=none || fail "backing file"
LUN_SHA=$(sha <"$LUN_FILE")
start_tgtd
printf 'user=%s\nsecret=%s\ntarget_user=%s\ntarget_secret=%s\n' \
  "$CHAP_USER" "$CHAP_SECRET" "$CHAP_TARGET_USER" "$CHAP_TARGET_SECRET" >"$WORK/chap"
chmod 600 "$WORK/chap"
mark setup

# ---- attach in the background
node "$CLI" attach --json --recovery-timeout 30 --logout-on-exit --chap-file "$WORK/chap" \
  --initiator-name "$INITIATOR_IQN" "iscsi://127.0.0.1:3260/$IQN/1" >"$LOG" 2>&1 &
ATTACH_PID=$!
wait_for 90 at_least '"event":"attached"' 1 || fail "attach did not report the session"
head -3 "$LOG"
SID=$(sed -n 's/.*"event":"attached","sid":\([0-9]*\),.*/\1/p' "$LOG" | head -1)
DISK=$(sed -n 's/.*"event":"attached".*"disks":\[{"name":"\(sd[a-z]*\)".*/\1/p' "$LOG" | head -1)
[ -n "$SID" ] && [ -e "/sys/class/iscsi_session/session$SID" ] || fail "no sysfs session '$SID'"
state_is LOGGED_IN || fail "session not LOGGED_IN"
alive "$ATTACH_PID" || fail "attach exited"
mark attached

[ -n "$DISK" ] && [ -b "/dev/$DISK" ] || fail "no block device in the output"
[ "$(cat "/sys/block/$DISK/size")" = 65536 ] || fail "/dev/$DISK is not 32 MiB"
echo "disk /dev/$DISK session $SID recovery_tmo $(cat /sys/class/iscsi_session/session"$SID"/recovery_tmo)"
[ "$(cat /sys/class/iscsi_session/session"$SID"/recovery_tmo)" = 30 ] || fail "recovery_tmo is not 30"
mark disk

got=$(dd if="/dev/$DISK" bs=1M iflag=direct status=none | sha)
echo "sha256 lun $LUN_SHA device $got"
[ "$got" = "$LUN_SHA" ] || fail "the device differs from the backing file"
mark read-sha256

# ---- first failure: tgtd killed, started again; the supervisor rebinds the same kernel session
dmesg -C
kill_tgtd 1
mark kill-1
start_tgtd
echo "tgtd configured again at uptime $(cut -d' ' -f1 /proc/uptime)"
recovered 1
alive "$ATTACH_PID" || fail "attach exited during recovery 1"
mark recovered-1

got=$(dd if="/dev/$DISK" bs=1M iflag=direct status=none | sha)
echo "sha256 lun $LUN_SHA device after recovery 1 $got"
[ "$got" = "$LUN_SHA" ] || fail "the device differs from the backing file after recovery 1"
mark read-after-recovery-1

dd if=/dev/urandom of="$WORK/w.bin" bs=1M count=1 iflag=fullblock status=none
dd if="$WORK/w.bin" of="/dev/$DISK" bs=1M seek=4 oflag=direct conv=fsync status=none || fail "write after recovery 1"
want=$(sha <"$WORK/w.bin")
got=$(dd if="/dev/$DISK" bs=1M skip=4 count=1 iflag=direct status=none | sha)
[ "$got" = "$want" ] || fail "the write after recovery 1 does not read back"
got=$(dd if="$LUN_FILE" bs=1M skip=4 count=1 status=none | sha)
[ "$got" = "$want" ] || fail "the write after recovery 1 is not in the backing file"
LUN_SHA=$(sha <"$LUN_FILE")
echo "write after recovery 1: sha256 $want read back"
mark write-after-recovery-1

# ---- second failure, with a whole-disk read started while the target is down: the kernel holds it
dmesg -C
kill_tgtd 2
mark kill-2
(dd if="/dev/$DISK" bs=1M iflag=direct status=none | sha >"$WORK/held.sha"; echo "held read rc ${PIPESTATUS[0]}") &
HELD_PID=$!
sleep 1
start_tgtd
echo "tgtd configured again at uptime $(cut -d' ' -f1 /proc/uptime)"
recovered 2
alive "$ATTACH_PID" || fail "attach exited during recovery 2"
mark recovered-2

wait_for 60 bash -c "! kill -0 $HELD_PID 2>/dev/null" || fail "the held read did not finish"
wait "$HELD_PID"
got=$(cat "$WORK/held.sha")
echo "sha256 lun $LUN_SHA held read $got"
[ "$got" = "$LUN_SHA" ] || fail "the read held over recovery 2 differs from the backing file"
mark held-read-2

dd if=/dev/urandom of="$WORK/w2.bin" bs=1M count=2 iflag=fullblock status=none
dd if="$WORK/w2.bin" of="/dev/$DISK" bs=1M seek=10 oflag=direct conv=fsync status=none || fail "write after recovery 2"
want=$(sha <"$WORK/w2.bin")
got=$(dd if="/dev/$DISK" bs=1M skip=10 count=2 iflag=direct status=none | sha)
[ "$got" = "$want" ] || fail "the write after recovery 2 does not read back"
got=$(dd if="$LUN_FILE" bs=1M skip=10 count=2 status=none | sha)
[ "$got" = "$want" ] || fail "the write after recovery 2 is not in the backing file"
echo "write after recovery 2: sha256 $want read back"
dmesg | grep -E 'connection|session|sd[a-z]' | head -20
mark write-after-recovery-2

# ---- SIGTERM: attach logs the session out (--logout-on-exit) and exits 0
kill -TERM "$ATTACH_PID"
wait_for 30 bash -c "! kill -0 $ATTACH_PID 2>/dev/null" || fail "attach did not exit after SIGTERM"
wait "$ATTACH_PID"
rc=$?
ATTACH_PID=
echo "attach exit $rc"
echo "---- attach output"
cat "$LOG"
echo "----"
[ "$rc" -eq 0 ] || fail "attach exit $rc"
grep -q '"event":"logout","sid":'"$SID"',"logoutResponse":0' "$LOG" || fail "no Logout Response 0 reported"
[ -e "/sys/class/iscsi_session/session$SID" ] && fail "session $SID still in sysfs"
[ -e "/sys/block/$DISK" ] && fail "/dev/$DISK still there"
no_sessions || fail "a kernel session is left"
wait_for 5 no_nexus || fail "tgtd still has an I_T nexus"
mark logout-on-exit

cleanup
mark done
