#!/bin/sh
# PID 1 of the throw-away test VM (busybox sh in the initramfs that test/helpers/vm.ts builds).
#
# Shows the guest the host's root file system read-only over 9p with a RAM overlay on top, runs the one command
# the host wrote to <scratch>/.vm/cmd.sh in a chroot of that overlay, stores its output and exit status in the
# scratch share and powers off. Kernel command line words read here (the kernel ignores them):
#   vm.moddir=<host dir of the extracted lib/modules>   vm.scratch=<host path of the scratch share>
# Exit status written to .vm/rc: the command's own, or 126 when the set-up here failed.

PATH=/bin:/sbin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

STATE=/scratch/.vm

# Any set-up failure: report 126 (when the scratch share is there) and power off; rebooting ends QEMU (-no-reboot).
fail() {
  echo "vm-init: $*"
  if [ -d "$STATE" ]; then
    echo 126 >"$STATE/rc"
    sync
  fi
  reboot -f
  sleep 10
}

MODDIR=
SCRATCH=
for word in $(cat /proc/cmdline); do
  case "$word" in
    vm.moddir=*) MODDIR=${word#vm.moddir=} ;;
    vm.scratch=*) SCRATCH=${word#vm.scratch=} ;;
  esac
done

# The packed modules, dependencies first (the host wrote the order).
while read -r mod; do
  [ -n "$mod" ] || continue
  insmod "/modules/$mod" || fail "insmod $mod failed"
done </modules/order

mkdir -p /hostroot /scratch /rw /newroot /lib/modules
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=524288 hostroot /hostroot ||
  fail 'cannot mount the host root'
mount -t 9p -o trans=virtio,version=9p2000.L,cache=mmap,msize=524288 scratch /scratch || fail 'cannot mount scratch'
[ -d "$STATE" ] || fail "no $STATE in the scratch share"

# Copy-on-write root: writes land in guest RAM and vanish at power-off.
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/hostroot,upperdir=/rw/upper,workdir=/rw/work /newroot ||
  fail 'cannot mount the overlay root'

# The extracted kernel's modules, for modprobe in the chroot and for the kernel's own module requests (those run
# /sbin/modprobe in this initramfs root, not in the chroot).
if [ -n "$MODDIR" ] && [ -d "/hostroot$MODDIR" ]; then
  mount --bind "/hostroot$MODDIR" /lib/modules || fail 'cannot bind the modules'
  mkdir -p /newroot/lib/modules
  mount --bind "/hostroot$MODDIR" /newroot/lib/modules || fail 'cannot bind the modules in the new root'
fi
echo /sbin/modprobe >/proc/sys/kernel/modprobe

# Module tools from busybox when the host has no kmod. -L as well as -e: absolute symlinks of the host root do not
# resolve from out here.
mkdir -p /newroot/usr/local/sbin
cp /bin/busybox /newroot/usr/local/sbin/vm-busybox
for tool in modprobe insmod rmmod lsmod modinfo depmod; do
  found=
  for dir in /sbin /usr/sbin /bin /usr/bin; do
    if [ -e "/newroot$dir/$tool" ] || [ -L "/newroot$dir/$tool" ]; then found=1; fi
  done
  [ -n "$found" ] || ln -s vm-busybox "/newroot/usr/local/sbin/$tool"
done

mount -t proc proc /newroot/proc || fail 'cannot mount proc'
mount -t sysfs sysfs /newroot/sys || fail 'cannot mount sysfs'
mount -t devtmpfs devtmpfs /newroot/dev || fail 'cannot mount devtmpfs'
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
# /tmp is NOT a fresh tmpfs: the checkout under test may live there (CI clones into mktemp -d), and the host's
# /tmp must show through the overlay. Guest writes to /tmp still land in the RAM overlay and vanish at power-off.
chmod 1777 /newroot/tmp 2>/dev/null || true
mount -t tmpfs -o mode=755 tmpfs /newroot/run
mkdir -p /newroot/run/lock
chmod 1777 /newroot/run/lock
ln -sf /proc/self/fd /newroot/dev/fd
ln -sf /proc/self/fd/0 /newroot/dev/stdin
ln -sf /proc/self/fd/1 /newroot/dev/stdout
ln -sf /proc/self/fd/2 /newroot/dev/stderr

# The scratch share at /scratch and at its host path, so host paths work in the guest.
mkdir -p /newroot/scratch
mount --bind /scratch /newroot/scratch
if [ -n "$SCRATCH" ] && [ "$SCRATCH" != /scratch ]; then
  mkdir -p "/newroot$SCRATCH" && mount --bind /scratch "/newroot$SCRATCH"
fi

ip link set lo up
hostname iscsi-ts-vm
cat /proc/uptime >"$STATE/start-uptime"

if [ -f "$STATE/cmd.sh" ]; then
  chroot /newroot /bin/bash /scratch/.vm/cmd.sh </dev/null >"$STATE/output" 2>&1
  echo $? >"$STATE/rc"
else
  echo 127 >"$STATE/rc"
fi
cat /proc/uptime >"$STATE/end-uptime"
sync
reboot -f
sleep 10
