/**
 * The Linux kernel initiator logs in to our target and reads/writes a disk: inside a QEMU guest running Debian's
 * kernel, `iscsi-ts serve` (this checkout's dist/) exports a 32 MiB memory LUN on 127.0.0.1:3260 and open-iscsi
 * (iscsid + iscsi_tcp) discovers it, logs in, writes 4 MiB of random data with O_DIRECT, reads it back with the
 * same checksum and logs out — once without authentication and once with mutual CHAP (including a refused login
 * with a wrong secret). The guest script (kernel-initiator.guest.sh) prints a marker per passed step.
 */
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { describeRun, describeVm, markers, prepareVm, REPO_ROOT, runInVm, type VmRunResult } from '../helpers/vm.js';

/** Hard limit for the VM run: ~30 s on an idle 2-core host under TCG, several times that on a busy one. */
const VM_TIMEOUT_MS = 240_000;
const IQN = 'iqn.2026-11.test:vm';
const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'kernel-initiator.guest.sh');

/** The steps of one case, in order, as the guest script marks them. */
function caseSteps(name: string, chap: boolean): string[] {
  const steps = ['serve', 'discovery', ...(chap ? ['wrong-secret-refused'] : []), 'login', 'disk', 'write'];
  return [...steps, 'read-verify', 'kernel-log', 'logout', 'stopped'].map((s) => `${name} ${s}`);
}

describeVm('Linux kernel initiator against our target (QEMU)', () => {
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
          INITIATOR_IQN: 'iqn.2026-11.test:vm-initiator',
          CHAP_USER: 'vm-initiator',
          CHAP_SECRET: 'initiator-secret-0123',
          CHAP_TARGET_USER: 'vm-target',
          CHAP_TARGET_SECRET: 'target-secret-456789',
        },
      },
      setup,
    );
  }, VM_TIMEOUT_MS + 600_000);

  it('runs every step of the guest script', () => {
    expect(run.rc, describeRun(run)).toBe(0);
    expect(markers(run.output), describeRun(run)).toEqual([
      'setup modules',
      'setup iscsid',
      ...caseSteps('plain', false),
      ...caseSteps('chap', true),
      'setup done',
    ]);
  });

  it('discovers our target and logs in over iscsi_tcp', () => {
    expect(run.output).toMatch(new RegExp(`^127\\.0\\.0\\.1:3260,1 ${IQN.replaceAll('.', '\\.')}$`, 'm'));
    expect(run.output).toMatch(
      /Login to \[iface: default, target: iqn\.2026-11\.test:vm, portal: 127\.0\.0\.1,3260\] successful/,
    );
  });

  it('shows the disk to the kernel: vendor ISCSI-TS, 32 MiB, data read back unchanged', () => {
    expect(run.output).toMatch(/Direct-Access\s+ISCSI-TS/);
    expect(run.output).toMatch(/\[sd[a-z]+\] 65536 512-byte logical blocks/);
    const sums = [...run.output.matchAll(/^sha256 written ([0-9a-f]{64}) read ([0-9a-f]{64})$/gm)];
    expect(sums).toHaveLength(2);
    for (const [, written, read] of sums) expect(read).toBe(written);
  });

  it('refuses a wrong CHAP secret and accepts the right one (mutual CHAP)', () => {
    expect(run.output).toMatch(/authorization failure|auth(entication)? fail/i);
    expect(markers(run.output)).toContain('chap login');
  });
}, ['iscsid', 'iscsiadm']);
