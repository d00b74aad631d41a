/**
 * The login-first hand-off in a real kernel: inside a QEMU guest running Debian's kernel, tgtd exports a 32 MiB
 * random file with mutual CHAP (MD5) and `iscsi-ts login --kernel` logs in in userspace and hands the session to
 * iscsi_tcp. The guest script (kernel-handoff.guest.sh) checks the whole LUN's sha256 through /dev/sdX, writes through
 * the kernel and reads through a userspace session and the other way round, compares `iscsi-ts sessions --json` with
 * sysfs, logs out with `iscsi-ts logout` (disk and session gone), repeats over IPv6 and in iscsid's bind-first order
 * (ending with the stop path), and checks that no modprobe, a wrong CHAP secret and no CAP_SYS_ADMIN are typed errors
 * that leave no kernel session. It prints a marker per passed step.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { IbftChapType, IbftOrigin, type IbftTableSpec } from '../../src/ibft/index.js';
import { writeIbft } from '../../src/ibft/write-acpi.js';
import { describeRun, describeVm, markers, prepareVm, REPO_ROOT, runInVm, type VmRunResult } from '../helpers/vm.js';

/**
 * Hard limit for the VM run: the guest starts node ~25 times (a second or two each on an idle 2-core host under TCG,
 * 5-10 s when other VMs share the host); a full run took ~240 s for two cases on a loaded host.
 */
const VM_TIMEOUT_MS = 720_000;
const IQN = 'iqn.2026-11.test:handoff';
const SCRIPT = join(REPO_ROOT, 'test', 'vm', 'kernel-handoff.guest.sh');
const INITIATOR_IQN = 'iqn.2026-11.test:handoff-initiator';
const CHAP = {
  CHAP_USER: 'handoff-in',
  CHAP_SECRET: 'initiator-secret-0123',
  CHAP_TARGET_USER: 'handoff-out',
  CHAP_TARGET_SECRET: 'target-secret-456789',
};
const enc = new TextEncoder();
const target = { valid: true, radiusChap: false, radiusReverseChap: false, reservedFlags: 0, nicIndex: 0 } as const;

/**
 * The firmware an installer boots with, handed to the guest kernel as an ACPI table: the boot-selected target is
 * tgtd's LUN 1 with mutual CHAP from a NIC at 127.0.0.1; the second target has nothing listening (a failure that
 * must not stop the first).
 */
const FIRMWARE: IbftTableSpec = {
  signature: 'iBFT',
  oemId: 'ISCSTS',
  oemTableId: 'HANDOFF',
  controlFlags: 0,
  initiator: { valid: true, bootSelected: true, reservedFlags: 0, name: INITIATOR_IQN },
  nics: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      global: true,
      reservedFlags: 0,
      ip: '127.0.0.1',
      prefixLength: 8,
      origin: IbftOrigin.Manual,
      vlan: 0,
      mac: '52:54:00:12:34:56',
      pciBdf: 0x0018,
    },
  ],
  targets: [
    {
      ...target,
      index: 0,
      bootSelected: true,
      ip: '127.0.0.1',
      port: 3260,
      lun: 0x0001_0000_0000_0000n,
      chapType: IbftChapType.Mutual,
      name: IQN,
      chapName: CHAP.CHAP_USER,
      chapSecret: enc.encode(CHAP.CHAP_SECRET),
      reverseChapName: CHAP.CHAP_TARGET_USER,
      reverseChapSecret: enc.encode(CHAP.CHAP_TARGET_SECRET),
    },
    {
      ...target,
      index: 1,
      bootSelected: false,
      ip: '127.0.0.1',
      port: 3999,
      lun: 0n,
      chapType: IbftChapType.None,
      name: `${IQN}-absent`,
    },
  ],
};
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
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-handoff-'));
    try {
      const tablePath = join(dir, 'ibft.bin');
      writeFileSync(tablePath, writeIbft(FIRMWARE));
      run = await runInVm(
        {
          command: `bash ${SCRIPT}`,
          stageCheckout: true,
          timeoutMs: VM_TIMEOUT_MS,
          extraQemuArgs: ['-acpitable', `file=${tablePath}`],
          env: { IQN, INITIATOR_IQN, ...CHAP },
        },
        setup,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
      ...STEPS.slice(0, -1).map((s) => `v4 ${s}`),
      'v4 netns-refused',
      'v4 logout',
      'firmware handoff',
      'firmware read-sha256',
      'firmware logout',
      ...STEPS.map((s) => `v6 ${s}`),
      ...STEPS.map((s) => `bind-first ${s}`),
      'done',
    ]);
  });

  it('reads the whole LUN through /dev/sdX with the backing file sha256', () => {
    const sums = [...run.output.matchAll(/^sha256 lun ([0-9a-f]{64}) device ([0-9a-f]{64})$/gm)];
    expect(sums).toHaveLength(4);
    for (const [, lun, device] of sums) expect(device).toBe(lun);
  });

  it('sends MAX_XMIT_DLENGTH 8192 (tgtd declares no MaxRecvDataSegmentLength)', () => {
    expect(run.output).toMatch(/max_recv \d+ max_xmit 8192/);
  });

  it('refuses a wrong CHAP secret with a typed error', () => {
    expect(run.output).toMatch(/\(ERR_ISCSI_[A-Z_]+\)/);
  });

  it('logs out through the kernel (Logout Response 0) or stops the session, and removes the disk', () => {
    expect(run.output.match(/logged out \(response 0\); removed \/dev\/sd[a-z]+/g)).toHaveLength(3);
    expect(run.output.match(/: stopped; removed \/dev\/sd[a-z]+/g)).toHaveLength(1);
  });

  it('says that kernel iSCSI works only in the initial network namespace', () => {
    expect(run.output).toMatch(/only in the initial network namespace \(ERR_ISCSI_KERNEL\)/);
  });

  it('names the missing capability and the missing module loader', () => {
    expect(run.output).toMatch(/needs CAP_SYS_ADMIN \(ERR_ISCSI_KERNEL\)/);
    expect(run.output).toMatch(/modprobe is not installed: load iscsi_tcp another way \(ERR_ISCSI_KERNEL\)/);
  });
}, ['tgtd', 'tgtadm']);
