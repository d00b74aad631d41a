#!/bin/bash
# Guest side of test/vm/kernel-handoff.test.ts (runs as root inside the QEMU guest, see test/helpers/vm.ts).
#
# tgtd on 127.0.0.1:3260 and [::1]:3260 exports a 32 MiB random file as LUN 1 with mutual CHAP (MD5). iscsi-ts logs
# in in userspace and hands the session to the kernel's iscsi_tcp (`iscsi-ts login --kernel`), then: the LUN read
# through /dev/sdX equals the file (sha256 of all of it); a write through /dev/sdX (O_DIRECT) reads back through a
# userspace iscsi-ts session and a userspace write reads back through /dev/sdX; `iscsi-ts sessions --json` agrees
# with sysfs; `iscsi-ts logout` removes the disk and the session; the same over IPv6; a wrong CHAP secret is a typed
# error with no kernel session left; `login --kernel --firmware` brings up the guest's iBFT (an ACPI table) targets.
# iscsi_tcp is not loaded beforehand: the CLI loads it.
# Every step that passed prints "MARK <step>"; any failure prints "FAIL …" and exits 1. Inputs (environment):
# ISCSI_TS_CHECKOUT, IQN, INITIATOR_IQN, CHAP_USER, CHAP_SECRET, CHAP_TARGET_USER, CHAP_TARGET_SECRET.

set -u
umask 077
. "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"
CLI="$ISCSI_TS_CHECKOUT/dist/cli/main.js"
WORK=/tmp/kernel-handoff
mkdir -p "$WORK"
TGTD_PID=
LUN_FILE=$WORK/lun.img

cleanup() {
  remove_kernel_sessions
  stop_tgtd "$TGTD_PID"
}

fail() {
  echo "FAIL $*"
  dmesg | tail -30
  [ -f "$WORK/tgtd.log" ] && tail -20 "$WORK/tgtd.log"
  cleanup
  exit 1
}

json_field() { sed -n "s/^  \"$1\": \\(.*\\),\$/\\1/p" | head -1 | tr -d '"'; }

# ---- set-up: tgtd with mutual CHAP; iscsi_tcp deliberately not loaded
[ -e /sys/class/iscsi_transport/tcp ] && fail "iscsi_tcp is loaded before the test"
dd if=/dev/urandom of="$LUN_FILE" bs=1M count=32 iflag=fullblock status=none || fail "backing file"
LUN_SHA=$(sha <"$LUN_FILE")
tgtd -f --iscsi "portal=127.0.0.1:3260,portal=[::1]:3260" >"$WORK/tgtd.log" 2>&1 &
TGTD_PID=$!
wait_for 30 tgtadm_ --op show --mode sys >/dev/null 2>&1 || fail "tgtd does not answer"
tgtadm_ --op new --mode target --tid 1 -T "$IQN" || fail "tgtadm target"
tgtadm_ --op new --mode logicalunit --tid 1 --lun 1 -b "$LUN_FILE" || fail "tgtadm lun"
tgtadm_ --op bind --mode target --tid 1 -I ALL || fail "tgtadm acl"
tgtadm_ --op new --mode account --user "$CHAP_USER" --password "$CHAP_SECRET" || fail "tgtadm account"
tgtadm_ --op bind --mode account --tid 1 --user "$CHAP_USER" || fail "tgtadm bind account"
tgtadm_ --op new --mode account --user "$CHAP_TARGET_USER" --password "$CHAP_TARGET_SECRET" || fail "tgtadm account out"
tgtadm_ --op bind --mode account --tid 1 --user "$CHAP_TARGET_USER" --outgoing || fail "tgtadm bind outgoing"
printf 'user=%s\nsecret=%s\ntarget_user=%s\ntarget_secret=%s\n' \
  "$CHAP_USER" "$CHAP_SECRET" "$CHAP_TARGET_USER" "$CHAP_TARGET_SECRET" >"$WORK/chap"
printf 'user=%s\nsecret=%s\ntarget_user=%s\ntarget_secret=%s\n' \
  "$CHAP_USER" "wrong-$CHAP_SECRET" "$CHAP_TARGET_USER" "$CHAP_TARGET_SECRET" >"$WORK/chap-wrong"
chmod 600 "$WORK/chap" "$WORK/chap-wrong"
mark setup

NODE=$(command -v node)
# ---- no modprobe (iscsi_tcp cannot be loaded): typed error, nothing loaded, no kernel session
out=$(timeout 60 env PATH=/nonexistent "$NODE" "$CLI" login --kernel --chap-file "$WORK/chap" "iscsi://127.0.0.1:3260/$IQN/1" 2>&1)
rc=$?
echo "$out"
[ "$rc" -ne 0 ] || fail "no modprobe: login succeeded"
echo "$out" | grep -q 'modprobe is not installed: load iscsi_tcp.*(ERR_ISCSI_KERNEL)' || fail "no modprobe: unclear error"
[ -e /sys/class/iscsi_transport/tcp ] && fail "no modprobe: iscsi_tcp got loaded"
no_sessions || fail "no modprobe: a kernel session exists"
mark no-modprobe-refused

# ---- a wrong CHAP secret: typed error, exit code 4 (auth), no kernel session
out=$(timeout 60 node "$CLI" login --kernel --chap-file "$WORK/chap-wrong" --initiator-name "$INITIATOR_IQN" \
  "iscsi://127.0.0.1:3260/$IQN/1" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 4 ] || fail "wrong secret: exit $rc, expected 4"
echo "$out" | grep -q 'ERR_ISCSI' || fail "wrong secret: no typed error"
no_sessions || fail "wrong secret: a kernel session was left"
mark wrong-secret-refused

# ---- root without CAP_SYS_ADMIN: typed error naming the capability, no kernel session
out=$(timeout 60 setpriv --bounding-set -sys_admin "$NODE" "$CLI" login --kernel --chap-file "$WORK/chap" \
  "iscsi://127.0.0.1:3260/$IQN/1" 2>&1)
rc=$?
echo "$out"
[ "$rc" -ne 0 ] || fail "no CAP_SYS_ADMIN: login succeeded"
echo "$out" | grep -q 'CAP_SYS_ADMIN.*(ERR_ISCSI_KERNEL)' || fail "no CAP_SYS_ADMIN: unclear error"
no_sessions || fail "no CAP_SYS_ADMIN: a kernel session was left"
mark no-cap-sys-admin-refused

# run_case NAME HOST LOGIN-FLAG LOGOUT-FLAG: hand-off, data checks, sessions, logout
run_case() {
  local name=$1 host=$2 login_flag=$3 logout_flag=$4 url out sid disk want got
  url="iscsi://$host:3260/$IQN/1"
  dmesg -C
  out=$(timeout 90 node "$CLI" login --kernel $login_flag --json --chap-file "$WORK/chap" --initiator-name "$INITIATOR_IQN" "$url" 2>&1) ||
    fail "$name: login --kernel: $out"
  echo "$out"
  sid=$(echo "$out" | json_field sid)
  disk=$(echo "$out" | sed -n 's/^ *"name": "\(sd[a-z]*\)",$/\1/p' | head -1)
  [ -n "$sid" ] && [ -e "/sys/class/iscsi_session/session$sid" ] || fail "$name: no sysfs session $sid"
  [ "$(cat "/sys/class/iscsi_session/session$sid/state")" = LOGGED_IN ] || fail "$name: session not LOGGED_IN"
  [ -e /sys/class/iscsi_transport/tcp ] || fail "$name: iscsi_tcp not loaded"
  mark "$name handoff"

  [ -n "$disk" ] && [ -b "/dev/$disk" ] || fail "$name: no block device in the output"
  [ "$(cat "/sys/block/$disk/size")" = 65536 ] || fail "$name: /dev/$disk is not 32 MiB"
  echo "disk /dev/$disk, connection: exp_statsn $(cat /sys/class/iscsi_connection/connection"$sid":0/exp_statsn)" \
    "max_recv $(cat /sys/class/iscsi_connection/connection"$sid":0/max_recv_dlength)" \
    "max_xmit $(cat /sys/class/iscsi_connection/connection"$sid":0/max_xmit_dlength)"
  mark "$name disk"

  got=$(dd if="/dev/$disk" bs=1M iflag=direct status=none | sha)
  echo "sha256 lun $LUN_SHA device $got"
  [ "$got" = "$LUN_SHA" ] || fail "$name: the device differs from the backing file"
  mark "$name read-sha256"

  # kernel write (O_DIRECT, 1 MiB at 4 MiB) -> backing file and a userspace iscsi-ts session see it
  dd if=/dev/urandom of="$WORK/k.bin" bs=1M count=1 iflag=fullblock status=none
  dd if="$WORK/k.bin" of="/dev/$disk" bs=1M seek=4 oflag=direct conv=fsync status=none || fail "$name: kernel write"
  want=$(sha <"$WORK/k.bin")
  got=$(dd if="$LUN_FILE" bs=1M skip=4 count=1 status=none | sha)
  [ "$got" = "$want" ] || fail "$name: the kernel write is not in the backing file"
  LUN_SHA=$(sha <"$LUN_FILE")
  got=$(timeout 120 node "$CLI" cat --chap-file "$WORK/chap" "$url" | sha)
  echo "sha256 after kernel write: file $LUN_SHA userspace $got"
  [ "$got" = "$LUN_SHA" ] || fail "$name: userspace read after the kernel write differs"
  mark "$name kernel-write-userspace-read"

  # userspace write (1 MiB at 0) -> /dev/sdX (O_DIRECT) sees it
  dd if=/dev/urandom of="$WORK/u.bin" bs=1M count=1 iflag=fullblock status=none
  out=$(timeout 120 node "$CLI" dd --chap-file "$WORK/chap" --if "$WORK/u.bin" --of "$url" --bs 1M --count 1 2>&1) ||
    fail "$name: userspace write: $out"
  want=$(sha <"$WORK/u.bin")
  got=$(dd if="/dev/$disk" bs=1M count=1 iflag=direct status=none | sha)
  echo "sha256 userspace wrote $want kernel read $got"
  [ "$got" = "$want" ] || fail "$name: kernel read after the userspace write differs"
  LUN_SHA=$(sha <"$LUN_FILE")
  mark "$name userspace-write-kernel-read"

  # iscsi-ts sessions --json against sysfs
  out=$(timeout 60 node "$CLI" sessions --json) || fail "$name: sessions --json"
  echo "$out" | head -60
  echo "$out" | grep -q "\"sid\": $sid," || fail "$name: sessions: no sid $sid"
  echo "$out" | grep -q "\"targetName\": \"$(cat "/sys/class/iscsi_session/session$sid/targetname")\"" ||
    fail "$name: sessions: target name differs from sysfs"
  echo "$out" | grep -q "\"state\": \"$(cat "/sys/class/iscsi_session/session$sid/state")\"" ||
    fail "$name: sessions: state differs from sysfs"
  echo "$out" | grep -q "\"name\": \"$disk\"" || fail "$name: sessions: disk $disk missing"
  echo "$out" | grep -q "\"localPort\": $(cat "/sys/class/iscsi_connection/connection$sid:0/local_port")," ||
    fail "$name: sessions: local port differs from sysfs"
  if [ "$name" = v4 ]; then timeout 60 node "$CLI" sessions --ifaces || fail "$name: sessions --ifaces"; fi
  mark "$name sessions"

  # outside the initial network namespace the kernel has no NETLINK_ISCSI socket: a typed error, session untouched
  if [ "$name" = v4 ]; then
    out=$(timeout 60 unshare --net "$NODE" "$CLI" logout "$sid" 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -ne 0 ] || fail "$name: logout from another network namespace succeeded"
    echo "$out" | grep -q 'only in the initial network namespace.*(ERR_ISCSI_KERNEL)' || fail "$name: netns: unclear error"
    [ "$(cat "/sys/class/iscsi_session/session$sid/state")" = LOGGED_IN ] || fail "$name: netns: session changed"
    mark "$name netns-refused"
  fi

  if [ "$name" = v6 ]; then which=$IQN; else which=$sid; fi
  out=$(timeout 60 node "$CLI" logout $logout_flag "$which" 2>&1) || fail "$name: logout: $out"
  echo "$out"
  if [ -z "$logout_flag" ]; then
    echo "$out" | grep -q 'logged out (response 0)' || fail "$name: no Logout Response 0"
  else
    echo "$out" | grep -q ': stopped; removed' || fail "$name: not stopped"
  fi
  [ -e "/sys/class/iscsi_session/session$sid" ] && fail "$name: session $sid still in sysfs"
  [ -e "/sys/block/$disk" ] && fail "$name: /dev/$disk still there"
  wait_for 5 no_nexus || fail "$name: tgtd still has an I_T nexus"
  out=$(timeout 60 node "$CLI" sessions) || fail "$name: sessions after logout"
  [ "$out" = 'no kernel iSCSI sessions' ] || fail "$name: sessions after logout: $out"
  dmesg | grep -E 'iSCSI|sd[a-z]' | head -20
  mark "$name logout"
}

# firmware_case: `login --kernel --firmware` brings up the guest's iBFT targets (an ACPI table from the host test) as
# an installer does at boot: the boot target with the table's CHAP and initiator name becomes /dev/sdX; the second
# target has nothing listening, is reported, and sets the exit code (3, network) without stopping the first.
firmware_case() {
  local out rc sid disk got
  [ -e /sys/firmware/acpi/tables/iBFT ] || fail "firmware: no iBFT ACPI table in the guest"
  out=$(timeout 120 node "$CLI" login --kernel --firmware --json 2>&1)
  rc=$?
  echo "$out"
  [ "$rc" -eq 3 ] || fail "firmware: exit $rc, expected 3 (the second target has nothing listening)"
  echo "$out" | grep -q '"ok": false' || fail "firmware: the unreachable target is not reported"
  sid=$(echo "$out" | sed -n 's/^    "sid": \([0-9]*\),$/\1/p' | head -1)
  disk=$(echo "$out" | sed -n 's/^ *"name": "\(sd[a-z]*\)",$/\1/p' | head -1)
  [ -n "$sid" ] && [ -e "/sys/class/iscsi_session/session$sid" ] || fail "firmware: no sysfs session"
  [ "$(cat "/sys/class/iscsi_session/session$sid/initiatorname")" = "$INITIATOR_IQN" ] ||
    fail "firmware: the table's initiator name was not used"
  [ "$(cat "/sys/class/iscsi_session/session$sid/username")" = "$CHAP_USER" ] || fail "firmware: CHAP user not in sysfs"
  [ -n "$disk" ] && [ -b "/dev/$disk" ] || fail "firmware: no block device"
  mark "firmware handoff"
  got=$(dd if="/dev/$disk" bs=1M iflag=direct status=none | sha)
  echo "sha256 lun $LUN_SHA device $got"
  [ "$got" = "$LUN_SHA" ] || fail "firmware: the device differs from the backing file"
  mark "firmware read-sha256"
  out=$(timeout 60 node "$CLI" logout "$sid" 2>&1) || fail "firmware: logout: $out"
  echo "$out"
  no_sessions || fail "firmware: a kernel session is left"
  [ -e "/sys/block/$disk" ] && fail "firmware: /dev/$disk still there"
  wait_for 5 no_nexus || fail "firmware: tgtd still has an I_T nexus"
  mark "firmware logout"
}

run_case v4 127.0.0.1 '' ''
firmware_case
run_case v6 '[::1]' '' ''
run_case bind-first 127.0.0.1 --bind-first --no-logout

cleanup
mark done
