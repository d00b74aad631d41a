/**
 * The kernel-session supervisor in a real kernel: inside a QEMU guest running Debian's kernel, tgtd exports a 32 MiB
 * random file with mutual CHAP (MD5) and `iscsi-ts attach` hands the session to iscsi_tcp and supervises it. The
 * guest script (kernel-supervisor.guest.sh) kills tgtd with SIGKILL twice and starts it again; each time the
 * supervisor reconnects the same kernel session (STOP_CONN(RECOVER), a userspace login with the kernel's CmdSN,
 * BIND_CONN + SET_PARAM + START_CONN) and the same /dev/sdX reads the backing file's sha256 again, a write reads
 * back, and a read started while the target was down completes after the recovery. SIGTERM with --logout-on-exit
 * removes the disk and the session. It prints a marker per passed step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeRun, describeVm, markers, prepareVm, REPO_ROOT, runInVm, type VmRunResult } from '../helpers/vm.js';

/**
 * Hard limit for the VM run: node starts a few times (5-10 s each when other VMs share the host under TCG), tgtd is
 * configured three times, the whole LUN is read four times (~2 s each) and each recovery waits DefaultTime2Wait (2 s)
 * plus the restart of tgtd; a failed recovery ends after its 30 s recovery timeout.
 */
const VM_TIMEOUT_MS = 600_000;
const IQN = 'iqn.2026-11.test:supervisor';
const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'kernel-supervisor.guest.sh');

/** The JSON lines `attach --json` printed (the guest echoes its whole output at the end). */
function attachEvents(output: string): Record<string, unknown>[] {
  const seen = new Set<string>();
  const events: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{"time":') || seen.has(line)) continue;
    seen.add(line);
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the console: not an event
    }
  }
  return events;
}

describeVm('kernel-session supervisor (iscsi-ts attach) recovers from tgtd restarts (QEMU)', () => {
  let run: VmRunResult;

  beforeAll(async () => {
    const setup = await prepareVm();
    run = await runInVm(
      {
        command: `bash ${SCRIPT}`,
        stageCheckout: true,
        timeoutMs: VM_TIMEOUT_MS,
        env: {
          IQN,
          INITIATOR_IQN: 'iqn.2026-11.test:supervisor-initiator',
          CHAP_USER: 'supervisor-in',
          CHAP_SECRET: 'initiator-secret-0123',
          CHAP_TARGET_USER: 'supervisor-out',
          CHAP_TARGET_SECRET: 'target-secret-456789',
        },
      },
      setup,
    );
    if (process.env.ISCSI_TS_VM_OUTPUT) writeFileSync(process.env.ISCSI_TS_VM_OUTPUT, run.output);
  }, VM_TIMEOUT_MS + 600_000);

  it('runs every step of the guest script', () => {
    expect(run.rc, describeRun(run)).toBe(0);
    expect(markers(run.output), describeRun(run)).toEqual([
      'setup',
      'attached',
      'disk',
      'read-sha256',
      'kill-1',
      'recovered-1',
      'read-after-recovery-1',
      'write-after-recovery-1',
      'kill-2',
      'recovered-2',
      'held-read-2',
      'write-after-recovery-2',
      'logout-on-exit',
      'done',
    ]);
  });

  it('reads the backing file sha256 through the same /dev/sdX before, after and across recoveries', () => {
    const sums = [
      ...run.output.matchAll(
        /^sha256 lun ([0-9a-f]{64}) (?:device|device after recovery 1|held read) ([0-9a-f]{64})$/gm,
      ),
    ];
    expect(sums).toHaveLength(3);
    for (const [, lun, device] of sums) expect(device).toBe(lun);
  });

  it('reports each failure and recovery: TCP_CONN_CLOSE, attempts with growing CmdSN, success', () => {
    const events = attachEvents(run.output);
    const errors = events.filter((e) => e.event === 'kernel-conn-error');
    expect(errors.length).toBe(2);
    for (const e of errors) expect(e).toMatchObject({ error: 1020, name: 'TcpConnClose', cid: 0 });
    const recoveries = events.filter((e) => e.event === 'kernel-recovery');
    const successes = recoveries.filter((e) => e.phase === 'success');
    expect(successes).toHaveLength(2);
    expect(recoveries.some((e) => e.phase === 'gave-up')).toBe(false);
    // Every attempt logs in with the kernel's CmdSN; the second recovery's is past the first's (I/O in between).
    const attempts = recoveries.filter((e) => e.phase === 'attempt').map((e) => e.cmdSN as number);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    const advanced = (attempts.at(-1)! - attempts[0]!) >>> 0; // serial arithmetic (RFC 1982): CmdSN wraps
    expect(advanced).toBeGreaterThan(0);
    expect(advanced).toBeLessThan(2 ** 31);
    // Each recovery finished within the 30 s recovery timeout, after DefaultTime2Wait (2 s with tgtd).
    for (const s of successes) {
      expect(s.ms as number).toBeGreaterThanOrEqual(2000);
      expect(s.ms as number).toBeLessThan(30_000);
    }
    console.log(
      `[kernel-supervisor] recoveries: ${successes.map((s) => `${s.ms} ms (attempt ${s.attempt}, TSIH ${s.tsih})`).join(', ')}; ` +
        `login CmdSNs ${attempts.join(', ')}; run ${Math.round(run.wallMs / 1000)} s`,
    );
  });

  it('logs the session out on SIGTERM with --logout-on-exit and exits 0', () => {
    expect(run.output).toMatch(/^attach exit 0$/m);
    const logout = attachEvents(run.output).find((e) => e.event === 'logout');
    expect(logout).toMatchObject({ logoutResponse: 0 });
  });
}, ['tgtd', 'tgtadm']);
