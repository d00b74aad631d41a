/**
 * QEMU's libiscsi block driver (qemu-io / qemu-img 7.2 from qemu-utils + qemu-block-extra) against the embedded
 * target: pattern writes and read-verification at several sizes and offsets not aligned to the 256 KiB burst,
 * cross-checked with the iscsi-ts initiator in both directions, and CHAP. QEMU's driver takes an initiator
 * user and password (URL `user%password@` or `user=`/`password=` options) but has no target credentials: it
 * ignores `target_user`/`target_password`, so it cannot do mutual CHAP; against a target configured for mutual
 * CHAP it logs in one-way (mutual CHAP is the initiator's choice).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLun } from '../../src/block/device.js';
import { ChapAlgorithm } from '../../src/chap/algorithms.js';
import { Secret } from '../../src/chap/secret.js';
import type { TargetEvent } from '../../src/target/events.js';
import { createTarget, type IscsiTarget, type ListeningPortal } from '../../src/target/target.js';
import { describePeers, type RunResult, run } from '../helpers/peers.js';

const TOOL_TIMEOUT_MS = 30_000;
const IQN = 'iqn.2026-01.test.iscsi-ts:qemu-noauth';
const IQN_CHAP = 'iqn.2026-01.test.iscsi-ts:qemu-mutual';
const LUN_BYTES = 16 * 1024 * 1024;
const KiB = 1024;
const MiB = 1024 * 1024;
const INITIATOR = { user: 'qemu-user', secret: 'qemu-initiator-sec' };
const TARGET = { user: 'its-target', secret: 'target-secret-0017' };

/** Disjoint regions: one block to several MiB, at offsets off the 256 KiB burst (MaxBurstLength) boundaries. */
const REGIONS: readonly { offset: number; length: number; pattern: number }[] = [
  { offset: 0, length: 512, pattern: 0x11 },
  { offset: 512, length: 4 * KiB, pattern: 0x22 },
  { offset: 11 * 512, length: 64 * KiB + 512, pattern: 0x33 },
  { offset: 256 * KiB - 512, length: 256 * KiB + 1024, pattern: 0x44 },
  { offset: MiB + 3 * 512, length: MiB, pattern: 0x5a },
  { offset: 4 * MiB + 512, length: 3 * MiB + 5 * 512, pattern: 0x66 },
];

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const hostOf = (p: ListeningPortal): string => (p.host.includes(':') ? `[${p.host}]` : p.host);
const hex = (n: number): string => `0x${n.toString(16)}`;

function qemuIo(args: readonly string[]): Promise<RunResult> {
  return run('qemu-io', args, { timeoutMs: TOOL_TIMEOUT_MS });
}

/** qemu-io exits 0 even for some failed commands; a clean run has exit 0 and no failure text. */
function expectClean(r: RunResult): void {
  expect(r.timedOut, r.stderr).toBe(false);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/verification failed|failed|error/iu);
}

describePeers(['qemu-io', 'qemu-img'], 'qemu-io (QEMU libiscsi driver) against the embedded target', () => {
  let target: IscsiTarget | undefined;
  const events: TargetEvent[] = [];
  let dir = '';
  const url = (iqn: string, family: '127.0.0.1' | '::1', userinfo = ''): string => {
    const p = target!.portals.find((x) => x.host === family)!;
    return `iscsi://${userinfo}${hostOf(p)}:${p.port}/${iqn}/0`;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-qemu-'));
    target = createTarget({
      portals: ['127.0.0.1:0', '[::1]:0'],
      targets: [
        { name: IQN, luns: [{ storage: { type: 'memory', size: LUN_BYTES } }] },
        {
          name: IQN_CHAP,
          luns: [{ storage: { type: 'memory', size: LUN_BYTES } }],
          auth: {
            lookup: (user) => (user === INITIATOR.user ? Secret.from(INITIATOR.secret) : undefined),
            // libiscsi 1.19 (under QEMU) offers only CHAP_A=5.
            algorithms: [ChapAlgorithm.SHA256, ChapAlgorithm.MD5],
            targetCredentials: { user: TARGET.user, secret: Secret.from(TARGET.secret) },
          },
        },
      ],
    });
    target.on('event', (e) => events.push(e));
    await target.start();
  });

  afterAll(async () => {
    await target?.stop({ graceMs: 200 });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes patterns over IPv4 and verifies them over IPv6 in a new session', async () => {
    const writes = REGIONS.flatMap((r) => ['-c', `write -P ${hex(r.pattern)} ${r.offset} ${r.length}`]);
    expectClean(await qemuIo(['-f', 'raw', ...writes, url(IQN, '127.0.0.1')]));
    const reads = REGIONS.flatMap((r) => ['-c', `read -P ${hex(r.pattern)} ${r.offset} ${r.length}`]);
    const r = await qemuIo(['-f', 'raw', ...reads, url(IQN, '::1')]);
    expectClean(r);
    expect(r.stdout.match(/^read \d+\/\d+ bytes at offset/gmu)).toHaveLength(REGIONS.length);
  });

  it('a wrong pattern is caught (the verification is real)', async () => {
    const r = await qemuIo(['-f', 'raw', '-c', 'read -P 0x99 0 512', url(IQN, '127.0.0.1')]);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toContain('Pattern verification failed at offset 0, 512 bytes');
  });

  it('data written by qemu-io reads back identically through the iscsi-ts initiator', async () => {
    const offset = 9 * MiB + 3 * 512;
    const data = randomBytes(2 * MiB + 7 * 512);
    const file = join(dir, 'random.bin');
    writeFileSync(file, data);
    expectClean(await qemuIo(['-f', 'raw', '-c', `write -s ${file} ${offset} ${data.length}`, url(IQN, '::1')]));
    const dev = await openLun(url(IQN, '127.0.0.1'));
    try {
      expect(sha(await dev.read(offset, data.length))).toBe(sha(data));
      for (const r of REGIONS)
        expect(sha(await dev.read(r.offset, r.length))).toBe(sha(Buffer.alloc(r.length, r.pattern)));
    } finally {
      await dev.close();
    }
  });

  it('data written by the iscsi-ts initiator reads back with qemu-io and qemu-img', async () => {
    const patterns = [
      { offset: 12 * MiB + 512, length: 512 * KiB + 512, pattern: 0xa5 },
      { offset: 13 * MiB - 512, length: 1536, pattern: 0x3c },
    ];
    const random = { offset: 14 * MiB + 5 * 512, data: randomBytes(MiB + 512) };
    const dev = await openLun(url(IQN, '::1'));
    try {
      for (const p of patterns) await dev.write(p.offset, Buffer.alloc(p.length, p.pattern));
      await dev.write(random.offset, random.data);
      await dev.flush();
    } finally {
      await dev.close();
    }
    const reads = patterns.flatMap((p) => ['-c', `read -P ${hex(p.pattern)} ${p.offset} ${p.length}`]);
    expectClean(await qemuIo(['-f', 'raw', ...reads, url(IQN, '127.0.0.1')]));
    // The whole LUN through qemu-img: every region (qemu-io's and ours) where it was written.
    const copy = join(dir, 'lun.raw');
    const conv = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', url(IQN, '127.0.0.1'), copy], {
      timeoutMs: TOOL_TIMEOUT_MS,
    });
    expect(conv.code, conv.stderr).toBe(0);
    const image = readFileSync(copy);
    expect(image.length).toBe(LUN_BYTES);
    const at = (o: number, n: number) => image.subarray(o, o + n);
    expect(sha(at(random.offset, random.data.length))).toBe(sha(random.data));
    for (const p of [...patterns, ...REGIONS])
      expect(sha(at(p.offset, p.length))).toBe(sha(Buffer.alloc(p.length, p.pattern)));
  });

  describe('CHAP', () => {
    const loginsTo = (iqn: string) =>
      events.filter((e): e is Extract<TargetEvent, { event: 'login' }> => e.event === 'login' && e.target === iqn);

    it('logs in with one-way MD5 CHAP (URL credentials) and moves data', async () => {
      const before = loginsTo(IQN_CHAP).length;
      const u = url(IQN_CHAP, '127.0.0.1', `${INITIATOR.user}%${INITIATOR.secret}@`);
      expectClean(await qemuIo(['-f', 'raw', '-c', 'write -P 0x7e 4096 1M', '-c', 'read -P 0x7e 4096 1M', u]));
      const logins = loginsTo(IQN_CHAP).slice(before);
      expect(logins.length).toBeGreaterThan(0);
      for (const l of logins) {
        expect(l.chapAlgorithm).toBe(ChapAlgorithm.MD5);
        expect(l.mutual).toBe(false);
      }
    });

    it('logs in with -image-opts user= and password= over IPv6', async () => {
      const p = target!.portals.find((x) => x.host === '::1')!;
      const opts = [
        'driver=iscsi',
        'transport=tcp',
        `portal=[::1]:${p.port}`,
        `target=${IQN_CHAP}`,
        'lun=0',
        `user=${INITIATOR.user}`,
        `password=${INITIATOR.secret}`,
      ].join(',');
      expectClean(await qemuIo(['--image-opts', '-c', 'read -P 0x7e 4096 1M', opts]));
    });

    it('cannot do mutual CHAP: target_user/target_password are ignored, the login stays one-way', async () => {
      const before = loginsTo(IQN_CHAP).length;
      const base = url(IQN_CHAP, '127.0.0.1', `${INITIATOR.user}%${INITIATOR.secret}@`);
      // A wrong target secret would make a mutual-CHAP initiator refuse the target; QEMU logs in regardless.
      const u = `${base}?target_user=${TARGET.user}&target_password=wrong-target-secret`;
      expectClean(await qemuIo(['-f', 'raw', '-c', 'read -P 0x7e 4096 4k', u]));
      const logins = loginsTo(IQN_CHAP).slice(before);
      expect(logins.length).toBeGreaterThan(0);
      expect(logins.every((l) => !l.mutual)).toBe(true);
    });

    it('a wrong initiator secret is refused with Authentication failure', async () => {
      const u = url(IQN_CHAP, '::1', `${INITIATOR.user}%wrong-secret-00000@`);
      const r = await qemuIo(['-f', 'raw', '-c', 'read 0 4k', u]);
      expect(r.timedOut).toBe(false);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('Authentication failure(513)');
    });
  });
});
