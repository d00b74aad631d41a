/**
 * The login-first hand-off in a real kernel: inside a QEMU guest running Debian's kernel, tgtd exports a 32 MiB
 * random file with mutual CHAP (MD5) and `iscsi-ts login --kernel` logs in in userspace and hands the session to
 * iscsi_tcp. The guest script (kernel-handoff.guest.sh) checks the whole LUN's sha256 through /dev/sdX, writes through
 * the kernel and reads through a userspace session and the other way round, compares `iscsi-ts sessions --json` with
 * sysfs, logs out with `iscsi-ts logout` (disk and session gone), repeats over IPv6 and in iscsid's bind-first order
 * (ending with the stop path), and checks that no modprobe, a wrong CHAP secret and no CAP_SYS_ADMIN are typed errors
 * that leave no kernel session. It prints a marker per passed step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeRun, describeVm, markers, prepareVm, REPO_ROOT, runInVm, type VmRunResult } from '../helpers/vm.js';

/**
 * Hard limit for the VM run: the guest starts node ~25 times (a second or two each on an idle 2-core host under TCG,
 * 5-10 s when other VMs share the host); a full run took ~240 s for two cases on a loaded host.
 */
const VM_TIMEOUT_MS = 720_000;
const IQN = 'iqn.2026-11.test:handoff';
const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'kernel-handoff.guest.sh');
const STEPS = [
  'handoff',
  'disk',
  'read-sha256',
  'kernel-write-userspace-read',
  'userspace-write-kernel-read',
  'sessions',
  'logout',
];

describeVm('login-first hand-off to the kernel (iscsi_tcp) against tgtd, mutual CHAP (QEMU)', () => {
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
          INITIATOR_IQN: 'iqn.2026-11.test:handoff-initiator',
          CHAP_USER: 'handoff-in',
          CHAP_SECRET: 'initiator-secret-0123',
          CHAP_TARGET_USER: 'handoff-out',
          CHAP_TARGET_SECRET: 'target-secret-456789',
        },
      },
      setup,
    );
    // For a person reading a run: the guest's whole output next to the test log.
    if (process.env.ISCSI_TS_VM_OUTPUT) writeFileSync(process.env.ISCSI_TS_VM_OUTPUT, run.output);
  }, VM_TIMEOUT_MS + 600_000);

  it('runs every step of the guest script', () => {
    expect(run.rc, describeRun(run)).toBe(0);
    expect(markers(run.output), describeRun(run)).toEqual([
      'setup',
      'no-modprobe-refused',
      'wrong-secret-refused',
      'no-cap-sys-admin-refused',
      ...STEPS.map((s) => `v4 ${s}`),
      ...STEPS.map((s) => `v6 ${s}`),
      ...STEPS.map((s) => `bind-first ${s}`),
      'done',
    ]);
  });

  it('reads the whole LUN through /dev/sdX with the backing file sha256', () => {
    const sums = [...run.output.matchAll(/^sha256 lun ([0-9a-f]{64}) device ([0-9a-f]{64})$/gm)];
    expect(sums).toHaveLength(3);
    for (const [, lun, device] of sums) expect(device).toBe(lun);
  });

  it('sends MAX_XMIT_DLENGTH 8192 (tgtd declares no MaxRecvDataSegmentLength)', () => {
    expect(run.output).toMatch(/max_recv \d+ max_xmit 8192/);
  });

  it('refuses a wrong CHAP secret with a typed error', () => {
    expect(run.output).toMatch(/\(ERR_ISCSI_[A-Z_]+\)/);
  });

  it('logs out through the kernel (Logout Response 0) or stops the session, and removes the disk', () => {
    expect(run.output.match(/logged out \(response 0\); removed \/dev\/sd[a-z]+/g)).toHaveLength(2);
    expect(run.output.match(/: stopped; removed \/dev\/sd[a-z]+/g)).toHaveLength(1);
  });

  it('names the missing capability and the missing module loader', () => {
    expect(run.output).toMatch(/needs CAP_SYS_ADMIN \(ERR_ISCSI_KERNEL\)/);
    expect(run.output).toMatch(/modprobe is not installed: load iscsi_tcp another way \(ERR_ISCSI_KERNEL\)/);
  });
}, ['tgtd', 'tgtadm']);
