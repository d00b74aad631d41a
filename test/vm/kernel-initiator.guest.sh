#!/bin/bash
# Guest side of test/vm/kernel-initiator.test.ts (runs as root inside the QEMU guest, see test/helpers/vm.ts).
#
# Starts our embedded target (`iscsi-ts serve`) on 127.0.0.1:3260, logs the Linux kernel initiator (open-iscsi:
# iscsid + iscsi_tcp) in to it, writes 4 MiB of random data to the disk with O_DIRECT, reads it back and compares
# checksums, then logs out and stops everything. Twice: without authentication, then with mutual CHAP (discovery and
# normal session), including one login with a wrong secret that must be refused.
# Every step that passed prints "MARK <case> <step>"; the host checks the list. Any failure prints "FAIL …" and
# exits 1. Inputs (environment): ISCSI_TS_CHECKOUT (staged checkout), IQN, INITIATOR_IQN, CHAP_USER, CHAP_SECRET,
# CHAP_TARGET_USER, CHAP_TARGET_SECRET.

set -u
umask 077
. "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"
CLI="$ISCSI_TS_CHECKOUT/dist/cli/main.js"
PORTAL=127.0.0.1:3260
WORK=/tmp/kernel-initiator
mkdir -p "$WORK"
SERVE_PID=
ISCSID_PID=

cleanup() {
  iscsiadm -m node --logoutall=all >/dev/null 2>&1
  stop_pid "$SERVE_PID"
  stop_pid "$ISCSID_PID"
}

fail() {
  echo "FAIL $*"
  [ -n "$SERVE_PID" ] && [ -f "$WORK/serve.log" ] && tail -20 "$WORK/serve.log"
  cleanup
  exit 1
}

# The target printed its URL; gives up at once when the process died.
serve_ready() {
  grep -q '^iscsi://' "$WORK/serve.log" && return 0
  alive "$SERVE_PID" || grep -q '^iscsi://' "$WORK/serve.log" || fail "the target exited: $(tail -5 "$WORK/serve.log")"
  return 1
}

iscsid_answers() {
  iscsiadm -m session >/dev/null 2>&1
  [ $? -eq 21 ] # "no active sessions": iscsid is up and answering
}

no_session() { iscsid_answers; }

# Sets DISK to the block device (sdX) of the session logged in to $IQN, found through sysfs (no udev here).
find_disk() {
  local s d
  for s in /sys/class/iscsi_session/session*; do
    [ "$(cat "$s/targetname" 2>/dev/null)" = "$IQN" ] || continue
    for d in "$s"/device/target*/*:*/block/*; do
      if [ -e "$d" ]; then
        DISK=$(basename "$d")
        return 0
      fi
    done
  done
  return 1
}

# set_auth MODE RECORD-ARGS…: the four CHAP settings of a node (node.session) or discovery (discovery.sendtargets).
set_auth() {
  local prefix=$1 secret=$2
  shift 2
  iscsiadm "$@" -o update -n "$prefix.auth.authmethod" -v CHAP >/dev/null &&
    iscsiadm "$@" -o update -n "$prefix.auth.username" -v "$CHAP_USER" >/dev/null &&
    iscsiadm "$@" -o update -n "$prefix.auth.password" -v "$secret" >/dev/null &&
    iscsiadm "$@" -o update -n "$prefix.auth.username_in" -v "$CHAP_TARGET_USER" >/dev/null &&
    iscsiadm "$@" -o update -n "$prefix.auth.password_in" -v "$CHAP_TARGET_SECRET" >/dev/null
}

# run_case NAME [CHAP-FILE]
run_case() {
  local name=$1 chap=${2:-} out rc
  local node=(-m node -T "$IQN" -p "$PORTAL")
  local args=(serve -p "$PORTAL" -t "$IQN" -l mem:32M)
  dmesg -C # this case's kernel messages only
  [ -n "$chap" ] && args+=(--chap-file "$chap")
  node "$CLI" "${args[@]}" >"$WORK/serve.log" 2>&1 &
  SERVE_PID=$!
  wait_for 90 serve_ready || fail "$name: the target did not start"
  mark "$name serve"

  if [ -n "$chap" ]; then
    iscsiadm -m discoverydb -t st -p "$PORTAL" -o new >/dev/null || fail "$name: discoverydb new"
    set_auth discovery.sendtargets "$CHAP_SECRET" -m discoverydb -t st -p "$PORTAL" || fail "$name: discovery CHAP"
    out=$(timeout 60 iscsiadm -m discoverydb -t st -p "$PORTAL" --discover 2>&1) || fail "$name: discovery: $out"
  else
    out=$(timeout 60 iscsiadm -m discovery -t st -p "$PORTAL" 2>&1) || fail "$name: discovery: $out"
  fi
  echo "$out"
  echo "$out" | grep -q "^$PORTAL,[0-9]* $IQN\$" || fail "$name: $IQN not discovered"
  mark "$name discovery"

  if [ -n "$chap" ]; then
    # A wrong initiator secret must be refused (iscsiadm: 24 = login authentication failure).
    set_auth node.session "$CHAP_SECRET" "${node[@]}" || fail "$name: node CHAP"
    iscsiadm "${node[@]}" -o update -n node.session.auth.password -v "wrong-$CHAP_SECRET" || fail "$name: node CHAP"
    out=$(timeout 60 iscsiadm "${node[@]}" --login 2>&1)
    rc=$?
    echo "$out"
    [ "$rc" -eq 24 ] || fail "$name: login with a wrong secret gave $rc, expected 24"
    wait_for 10 no_session || fail "$name: a session survived the refused login"
    mark "$name wrong-secret-refused"
    iscsiadm "${node[@]}" -o update -n node.session.auth.password -v "$CHAP_SECRET" || fail "$name: node CHAP"
  fi
  out=$(timeout 60 iscsiadm "${node[@]}" --login 2>&1) || fail "$name: login: $out"
  echo "$out"
  mark "$name login"

  DISK=
  wait_for 30 find_disk || fail "$name: no block device for the session"
  echo "disk /dev/$DISK $(cat "/sys/block/$DISK/size") sectors"
  [ "$(cat "/sys/block/$DISK/size")" = 65536 ] || fail "$name: /dev/$DISK is not 32 MiB"
  mark "$name disk"

  dd if=/dev/urandom of="$WORK/data" bs=1M count=4 iflag=fullblock status=none || fail "$name: random data"
  dd if="$WORK/data" of="/dev/$DISK" bs=1M count=4 oflag=direct conv=fsync status=none || fail "$name: write"
  mark "$name write"
  dd if="/dev/$DISK" of="$WORK/back" bs=1M count=4 iflag=direct status=none || fail "$name: read"
  local want got
  want=$(sha256sum <"$WORK/data" | cut -d' ' -f1)
  got=$(sha256sum <"$WORK/back" | cut -d' ' -f1)
  echo "sha256 written $want read $got"
  [ -n "$want" ] && [ "$want" = "$got" ] || fail "$name: read-back differs"
  mark "$name read-verify"

  out=$(dmesg | grep -E 'ISCSI-TS|\['"$DISK"'\]')
  echo "$out"
  echo "$out" | grep -q 'Direct-Access *ISCSI-TS' || fail "$name: the kernel log does not show our disk"
  mark "$name kernel-log"

  out=$(timeout 60 iscsiadm "${node[@]}" --logout 2>&1) || fail "$name: logout: $out"
  echo "$out"
  wait_for 10 no_session || fail "$name: session still there after logout"
  [ -e "/sys/block/$DISK" ] && fail "$name: /dev/$DISK still there after logout"
  mark "$name logout"

  iscsiadm -m node -o delete >/dev/null 2>&1
  iscsiadm -m discoverydb -t st -p "$PORTAL" -o delete >/dev/null 2>&1
  stop_pid "$SERVE_PID"
  alive "$SERVE_PID" && fail "$name: the target did not stop"
  wait "$SERVE_PID" 2>/dev/null
  SERVE_PID=
  mark "$name stopped"
}

for m in scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp sd_mod; do
  modprobe "$m" || fail "modprobe $m"
done
mark setup modules

# open-iscsi's lock directory (made by the package's tmpfiles/service set-up on a booted system).
mkdir -p /run/lock/iscsi
# The host's initiatorname.iscsi may be unreadable (mode 600, other uid): write a fresh one in the overlay.
rm -f /etc/iscsi/initiatorname.iscsi
echo "InitiatorName=$INITIATOR_IQN" >/etc/iscsi/initiatorname.iscsi
# iscsid signals its whole process group on SIGTERM: give it its own session (setsid execs it, same PID).
setsid iscsid -f >"$WORK/iscsid.log" 2>&1 &
ISCSID_PID=$!
wait_for 30 iscsid_answers || fail "iscsid does not answer"
mark setup iscsid

run_case plain

printf 'user=%s\nsecret=%s\ntarget_user=%s\ntarget_secret=%s\n' \
  "$CHAP_USER" "$CHAP_SECRET" "$CHAP_TARGET_USER" "$CHAP_TARGET_SECRET" >"$WORK/chap"
chmod 600 "$WORK/chap"
run_case chap "$WORK/chap"

stop_pid "$ISCSID_PID"
mark setup done
