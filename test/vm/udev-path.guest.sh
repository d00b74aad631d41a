#!/bin/bash
# Guest side of test/vm/udev-path.test.ts (runs as root inside the QEMU guest, see test/helpers/vm.ts).
#
# Starts systemd-udevd (the guest has no udev of its own), our embedded target (`iscsi-ts serve --config`) on
# 127.0.0.1:3260 and [::1]:3261 with two targets (LUNs 0 and 1; LUNs 0 and 300), logs the Linux kernel initiator
# (open-iscsi) in to the first over IPv4 and to the second over IPv6, and for every disk of the sessions records
# what udev says (`udevadm test-builtin path_id`, the by-path links, `udevadm info --export-db`) next to what
# iscsi-ts computes (`iscsi-ts disks --json`, with and without the udev database). It also captures the sysfs
# entries our readers walk into a fixture tree rooted like /sys (attribute contents copied, symlinks recreated as
# the kernel's relative links, CHAP password files never copied) and packs it as sysfs-captured.tar.gz.
# Every step that passed prints "MARK <step>"; any failure prints "FAIL …" and exits 1.
# Inputs (environment): ISCSI_TS_CHECKOUT, ISCSI_VM_SCRATCH, TARGET4, TARGET6, INITIATOR_IQN.

set -u
. "$(dirname "${BASH_SOURCE[0]}")/guest-lib.sh"
umask 022
CLI="$ISCSI_TS_CHECKOUT/dist/cli/main.js"
S=$ISCSI_VM_SCRATCH
WORK=/tmp/udev-path
FIX=$WORK/fixture
mkdir -p "$WORK" "$FIX"
SERVE_PID=
ISCSID_PID=
UDEVD_PID=

cleanup() {
  iscsiadm -m node --logoutall=all >/dev/null 2>&1
  stop_pid "$SERVE_PID"
  stop_pid "$ISCSID_PID"
  stop_pid "$UDEVD_PID"
}

fail() {
  echo "FAIL $*"
  [ -f "$WORK/serve.log" ] && tail -20 "$WORK/serve.log"
  cleanup
  exit 1
}

serve_ready() {
  [ "$(grep -c '^iscsi://' "$WORK/serve.log")" -ge 4 ] && return 0
  alive "$SERVE_PID" || fail "the target exited: $(tail -5 "$WORK/serve.log")"
  return 1
}

iscsid_answers() {
  iscsiadm -m session >/dev/null 2>&1
  [ $? -eq 21 ] # "no active sessions": iscsid is up and answering
}

udevd_answers() { udevadm control --ping >/dev/null 2>&1; }

# Prints the disks (sdX) of the session logged in to target $1 over portal address $2.
session_disks() {
  local s c
  for s in /sys/class/iscsi_session/session*; do
    [ "$(cat "$s/targetname" 2>/dev/null)" = "$1" ] || continue
    c=$(basename "$s")
    c=/sys/class/iscsi_connection/connection${c#session}:0
    [ "$(cat "$c/persistent_address" 2>/dev/null)" = "$2" ] || continue
    for d in "$s"/device/target*/*:*/block/*; do
      [ -e "$d" ] && basename "$d"
    done
  done
}

two_disks() { [ "$(session_disks "$1" "$2" | wc -l)" -eq 2 ]; }

# Every disk has its by-path link (udevd processed the add events).
links_made() {
  local d
  for d in $DISKS; do
    [ -n "$(find /dev/disk/by-path -maxdepth 1 -lname "*/$d" 2>/dev/null)" ] || return 1
  done
}

# --- sysfs capture ----------------------------------------------------------------------------------------------
# cap_files DIR [NAME…]: copy the readable regular files of /sys DIR (all of depth 1, or only NAMEs) into the
# fixture; never a password file (CHAP secrets), never uevent or write-only attributes. Bash builtins only: a fork
# costs tens of milliseconds in a TCG guest, and there are ~150 files.
cap_files() {
  local dir=$1 f base v
  shift
  mkdir -p "$FIX$dir"
  local names=("$@")
  if [ ${#names[@]} -eq 0 ]; then
    for f in "$dir"/*; do names+=("${f##*/}"); done
  fi
  for base in "${names[@]}"; do
    case $base in password* | uevent) continue ;; esac
    f=$dir/$base
    [ -f "$f" ] && [ ! -L "$f" ] && [ -r "$f" ] || continue
    v=
    IFS= read -r -d '' v <"$f" 2>/dev/null
    [ -n "$v" ] && printf '%s' "$v" >"$FIX$f"
  done
}

# cap_link LINK: recreate a sysfs symlink with the kernel's own (relative) target.
cap_link() {
  mkdir -p "$(dirname "$FIX$1")"
  ln -sfn "$(readlink "$1")" "$FIX$1"
}

capture_sysfs() {
  local d real sdir sid h hdir t
  for d in $DISKS; do
    cap_link "/sys/block/$d"
    real=$(readlink -f "/sys/block/$d")
    cap_files "$real" size dev ro removable
    cap_files "$(dirname "$(dirname "$real")")" vendor model rev type state scsi_level
  done
  for sdir in /sys/class/iscsi_session/session*; do
    sid=$(basename "$sdir")
    sid=${sid#session}
    cap_link "/sys/class/iscsi_session/session$sid"
    cap_files "$(readlink -f "$sdir")"
    for c in /sys/class/iscsi_connection/connection"$sid":*; do
      cap_link "/sys/class/iscsi_connection/$(basename "$c")"
      cap_files "$(readlink -f "$c")"
    done
  done
  for h in /sys/class/iscsi_host/host*; do
    hdir=$(basename "$h")
    cap_link "/sys/class/iscsi_host/$hdir"
    cap_files "$(readlink -f "$h")"
    cap_link "/sys/class/scsi_host/$hdir"
    cap_files "$(readlink -f "/sys/class/scsi_host/$hdir")" proc_name state unique_id host_busy can_queue
  done
  for t in /sys/class/iscsi_transport/*; do
    cap_link "/sys/class/iscsi_transport/$(basename "$t")"
    cap_files "$(readlink -f "$t")" caps handle
  done
  # Never a secret in the fixture, whatever the loops above matched.
  find "$FIX" -name 'password*' -exec rm -f {} +
  (cd "$FIX" && tar -czf "$S/sysfs-captured.tar.gz" --owner=0 --group=0 --numeric-owner sys) ||
    fail "packing the sysfs capture"
}

# --- set-up -----------------------------------------------------------------------------------------------------
for m in scsi_transport_iscsi libiscsi libiscsi_tcp iscsi_tcp sd_mod; do
  modprobe "$m" || fail "modprobe $m"
done
mark modules

# udevd first, so it sees the disks' add events. `udevadm settle` refuses to run in the chroot: poll instead.
mkdir -p /run/udev
/lib/systemd/systemd-udevd --daemon >"$WORK/udevd.log" 2>&1 || fail "systemd-udevd: $(tail -5 "$WORK/udevd.log")"
UDEVD_PID=$(pgrep -o -x systemd-udevd)
wait_for 30 udevd_answers || fail "udevd does not answer"
mark udevd

mkdir -p /run/lock/iscsi
rm -f /etc/iscsi/initiatorname.iscsi
echo "InitiatorName=$INITIATOR_IQN" >/etc/iscsi/initiatorname.iscsi
setsid iscsid -f >"$WORK/iscsid.log" 2>&1 &
ISCSID_PID=$!
wait_for 30 iscsid_answers || fail "iscsid does not answer"
mark iscsid

cat >"$WORK/target.json" <<EOF
{
  "portals": ["127.0.0.1:3260", "[::1]:3261"],
  "targets": [
    { "name": "$TARGET4", "luns": ["mem:8M", "mem:8M"] },
    { "name": "$TARGET6", "luns": [{ "spec": "mem:8M", "lun": 0 }, { "spec": "mem:4M", "lun": 300 }] }
  ]
}
EOF
node "$CLI" serve --config "$WORK/target.json" >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
wait_for 90 serve_ready || fail "the target did not start"
cat "$WORK/serve.log"
mark serve

# --- logins -----------------------------------------------------------------------------------------------------
login() {
  local target=$1 portal=$2 out
  out=$(timeout 60 iscsiadm -m discovery -t st -p "$portal" 2>&1) || fail "discovery on $portal: $out"
  echo "$out"
  out=$(timeout 60 iscsiadm -m node -T "$target" -p "$portal" --login 2>&1) || fail "login $target $portal: $out"
  echo "$out"
}
login "$TARGET4" 127.0.0.1:3260
wait_for 30 two_disks "$TARGET4" 127.0.0.1 || fail "no two disks for $TARGET4 over IPv4"
mark login-ipv4
login "$TARGET6" '[::1]:3261'
wait_for 30 two_disks "$TARGET6" ::1 || fail "no two disks for $TARGET6 over IPv6"
mark login-ipv6

DISKS="$(session_disks "$TARGET4" 127.0.0.1) $(session_disks "$TARGET6" ::1)"
DISKS=$(echo $DISKS)
echo "disks $DISKS"
wait_for 60 links_made || echo "by-path links missing after 60 s"
ls -l /dev/disk/by-path/ 2>&1
mark udev-links

# --- udev's view and ours ---------------------------------------------------------------------------------------
: >"$S/path-id.txt"
for d in $DISKS; do
  out=$(udevadm test-builtin path_id "/sys/block/$d" 2>/dev/null)
  echo "path_id $d: $out"
  echo "$d $(echo "$out" | sed -n 's/^ID_PATH=//p' | head -1)" >>"$S/path-id.txt"
  echo "$d-tag $(echo "$out" | sed -n 's/^ID_PATH_TAG=//p' | head -1)" >>"$S/path-id.txt"
  echo "$d-size $(cat "/sys/block/$d/size")" >>"$S/path-id.txt"
  echo "$d-hctl $(basename "$(dirname "$(dirname "$(readlink -f "/sys/block/$d")")")")" >>"$S/path-id.txt"
done
cat "$S/path-id.txt"
[ "$(grep -c '^sd[a-z]* ip-' "$S/path-id.txt")" -eq 4 ] || fail "path_id gave no iSCSI ID_PATH for some disk"
mark path-id

find /dev/disk/by-path -maxdepth 1 -type l -printf '%f %l\n' | sort >"$S/by-path.txt"
udevadm info --export-db >"$S/udev-db.txt" 2>&1 || fail "udevadm info --export-db"
mark export-db

node "$CLI" disks --json >"$S/disks-sysfs.json" 2>&1 || fail "disks --json: $(cat "$S/disks-sysfs.json")"
node "$CLI" disks --json --udev-db "$S/udev-db.txt" >"$S/disks-udev.json" 2>&1 ||
  fail "disks --udev-db: $(cat "$S/disks-udev.json")"
node "$CLI" disks --json --sys-root /sys --udev-db "$S/udev-db.txt" >"$S/disks-both.json" 2>&1 ||
  fail "disks --sys-root --udev-db: $(cat "$S/disks-both.json")"
mark cli-disks

iscsiadm -m session -P 3 >"$S/iscsiadm-session.txt" 2>&1
capture_sysfs
mark capture

out=$(timeout 60 iscsiadm -m node --logoutall=all 2>&1) || fail "logout: $out"
echo "$out"
wait_for 10 iscsid_answers || fail "sessions still there after logout"
mark logout

stop_pid "$SERVE_PID"
stop_pid "$ISCSID_PID"
stop_pid "$UDEVD_PID"
uname -r >"$S/uname.txt"
mark done
