# Shell functions shared by the guest scripts of test/vm (sourced; runs as root inside the QEMU guest).

# mark STEP: a step passed (the host test asserts on the MARK lines); the uptime line is for reading timings.
mark() {
  echo "MARK $*"
  echo "uptime $(cut -d' ' -f1 /proc/uptime) $*"
}

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# stop_pid PID: stop a process we started, by PID: SIGTERM, then SIGKILL after ~5 s.
stop_pid() {
  local pid=$1 i
  alive "$pid" || return 0
  kill "$pid" 2>/dev/null
  for i in $(seq 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
}

tgtadm_() { timeout 20 tgtadm --lld iscsi "$@"; }

# wait_for SECONDS COMMAND…: poll every 0.1 s until the command succeeds, for at most SECONDS of guest uptime
# (counting iterations would stretch under a slow TCG guest, where every fork takes a while).
wait_for() {
  local deadline
  deadline=$(($(cut -d. -f1 /proc/uptime) + $1))
  shift
  while [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do
    "$@" && return 0
    sleep 0.1
  done
  "$@"
}

sha() { sha256sum | cut -d' ' -f1; }
no_sessions() { ! ls -d /sys/class/iscsi_session/session* >/dev/null 2>&1; }
no_nexus() { ! tgtadm_ --op show --mode target | grep -q 'I_T nexus:'; }

# remove_kernel_sessions: stop and destroy every kernel iSCSI session still there (no Logout Request), with $CLI.
remove_kernel_sessions() {
  local s
  for s in /sys/class/iscsi_session/session*; do
    [ -e "$s" ] && timeout 30 node "$CLI" logout --no-logout "${s##*session}" >/dev/null 2>&1
  done
}

# stop_tgtd PID: delete target 1 and ask tgtd to exit; SIGKILL as the last resort.
stop_tgtd() {
  alive "$1" || return 0
  tgtadm_ --op delete --mode target --tid 1 --force >/dev/null 2>&1
  timeout 10 tgtadm --op delete --mode system >/dev/null 2>&1
  sleep 0.5
  alive "$1" && kill -9 "$1" 2>/dev/null
}
