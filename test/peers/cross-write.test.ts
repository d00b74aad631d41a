/**
 * Cross-initiator data check against a private tgtd with a file-backed LUN: what iscsi-ts writes (openLun) reads
 * back identically through libiscsi (QEMU's iscsi block driver: `qemu-io read -P` pattern checks and
 * `qemu-img convert` of the region to a local file, compared by sha256), and what libiscsi writes (`qemu-io write
 * -P`, `qemu-io write -s`, `qemu-img convert` of a local file into the region) reads back identically with
 * iscsi-ts. Sizes from 512 B to 5 MiB at offsets that are neither aligned to each other nor to the bursts, on two
 * targets: tgtd's defaults (MaxBurstLength 256 KiB, FirstBurstLength 64 KiB, InitialR2T=Yes) and one set through
 * tgtadm to small bursts with unsolicited data (MaxBurstLength 16 KiB, FirstBurstLength 4 KiB, InitialR2T=No,
 * MaxRecvDataSegmentLength 4 KiB), so that every transfer spans several R2T bursts and Data-Out PDUs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BlockDevice, openLun } from '../../src/block/device.js';
import { describePeers, type RunResult, run } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TOOL_TIMEOUT_MS = 20_000;
const LUN_BYTES = 32 * MiB;
const DEFAULT_IQN = 'iqn.2024-01.test.iscsi-ts:cross-default';
const SMALL_IQN = 'iqn.2024-01.test.iscsi-ts:cross-small-burst';
const SMALL_BURST = {
  MaxBurstLength: '16384',
  FirstBurstLength: '4096',
  InitialR2T: 'No',
  ImmediateData: 'Yes',
  MaxRecvDataSegmentLength: '4096',
};

/** Transfer sizes: one block up to 5 MiB, none a multiple of 4 KiB beyond the first block. */
const SIZES = [512, 4 * KiB + 512, 16 * KiB + 3 * 512, 64 * KiB + 512, MiB + 3 * 512, 5 * MiB + 5 * 512] as const;

/** Disjoint regions for the sizes, starting at `start`, with odd 512-byte gaps (offsets off every burst boundary). */
function regions(start: number): { offset: number; length: number }[] {
  let at = start;
  return SIZES.map((length, i) => {
    const r = { offset: at, length };
    at += length + (2 * i + 3) * 512;
    return r;
  });
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** qemu-io exits 0 even for some failed commands; a clean run has exit 0 and no failure text. */
function expectClean(r: RunResult): void {
  expect(r.timedOut, r.stderr).toBe(false);
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/verification failed|failed|error/iu);
}

describePeers(
  ['tgtd', 'tgtadm', 'qemu-io', 'qemu-img'],
  'iscsi-ts and libiscsi (qemu) write and read tgtd LUNs',
  () => {
    let tgtd: Tgtd;
    let dir = '';
    const devices: BlockDevice[] = [];

    beforeAll(async () => {
      tgtd = await startTgtd({
        targets: [
          { iqn: DEFAULT_IQN, luns: [{ sizeBytes: LUN_BYTES }] },
          { iqn: SMALL_IQN, luns: [{ sizeBytes: LUN_BYTES }], params: SMALL_BURST },
        ],
      });
      dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-cross-'));
    }, 20_000);
    afterAll(async () => {
      for (const d of devices) await d.close();
      await tgtd?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 20_000);

    /** `driver=raw,offset=…,size=…` over QEMU's iscsi driver: a window of the LUN as an image. */
    const imageOpts = (targetIndex: number, offset: number, length: number): string => {
      const iqn = targetIndex === 0 ? DEFAULT_IQN : SMALL_IQN;
      return [
        'driver=raw',
        `offset=${offset}`,
        `size=${length}`,
        'file.driver=iscsi',
        'file.transport=tcp',
        `file.portal=127.0.0.1:${tgtd.port}`,
        `file.target=${iqn}`,
        'file.lun=1',
      ].join(',');
    };

    const qemuIo = (targetIndex: number, commands: string[]): Promise<RunResult> =>
      run('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), tgtd.url(targetIndex, 1)], {
        timeoutMs: TOOL_TIMEOUT_MS,
      });

    /** The region as libiscsi reads it: qemu-img convert to a local file. */
    async function readWithQemuImg(targetIndex: number, offset: number, length: number): Promise<Buffer> {
      const out = join(dir, `read-${targetIndex}-${offset}.raw`);
      const r = await run(
        'qemu-img',
        ['convert', '-O', 'raw', '--image-opts', imageOpts(targetIndex, offset, length), out],
        {
          timeoutMs: TOOL_TIMEOUT_MS,
        },
      );
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(out);
    }

    /** Writes `data` into the region with libiscsi: qemu-img convert of a local file. */
    async function writeWithQemuImg(targetIndex: number, offset: number, data: Uint8Array): Promise<void> {
      const src = join(dir, `write-${targetIndex}-${offset}.raw`);
      writeFileSync(src, data);
      const target = imageOpts(targetIndex, offset, data.length);
      const r = await run('qemu-img', ['convert', '-n', '-f', 'raw', '--target-image-opts', src, target], {
        timeoutMs: TOOL_TIMEOUT_MS,
      });
      expect(r.code, r.stderr).toBe(0);
    }

    async function device(targetIndex: number): Promise<BlockDevice> {
      const dev = await openLun(tgtd.url(targetIndex, 1), { commandTimeoutMs: 15_000 });
      devices.push(dev);
      return dev;
    }

    it("the small-burst target negotiates what tgtadm set, the default one tgtd's defaults", async () => {
      const small = await device(1);
      expect(small.session.params.maxBurstLength).toBe(16_384);
      expect(small.session.params.firstBurstLength).toBe(4096);
      expect(small.session.params.initialR2T).toBe(false);
      expect(small.session.params.immediateData).toBe(true);
      // With the key set, tgtd declares MaxRecvDataSegmentLength (it declares none by default: 8192 applies).
      expect(small.session.params.maxXmitDataSegmentLength).toBe(4096);
      const plain = await device(0);
      expect(plain.session.params.maxBurstLength).toBe(262_144);
      expect(plain.session.params.initialR2T).toBe(true);
      expect(plain.session.params.maxXmitDataSegmentLength).toBe(8192);
      expect(plain.size).toBe(LUN_BYTES);
    });

    for (const [targetIndex, label] of [
      [0, 'default bursts'],
      [1, 'MaxBurstLength 16 KiB, FirstBurstLength 4 KiB, InitialR2T=No, 4 KiB Data-Out PDUs'],
    ] as const) {
      it(`${label}: iscsi-ts writes, libiscsi reads back the same bytes`, async () => {
        const dev = await device(targetIndex);
        const areas = regions(512);
        const payloads = areas.map((a) => randomBytes(a.length));
        await Promise.all(areas.map((a, i) => dev.write(a.offset, payloads[i]!)));
        for (const [i, a] of areas.entries()) {
          const back = await readWithQemuImg(targetIndex, a.offset, a.length);
          expect(back.length).toBe(a.length);
          expect(sha256(back), `size ${a.length} at ${a.offset}`).toBe(sha256(payloads[i]!));
        }
        // Constant patterns checked by qemu-io itself (read -P), with a wrong pattern as the negative control.
        const patterned = regions(16 * MiB);
        for (const [i, a] of patterned.entries()) {
          await dev.write(a.offset, new Uint8Array(a.length).fill(0x30 + i));
        }
        const checks = patterned.map((a, i) => `read -P 0x${(0x30 + i).toString(16)} ${a.offset} ${a.length}`);
        expectClean(await qemuIo(targetIndex, checks));
        const wrong = await qemuIo(targetIndex, [`read -P 0x7f ${patterned[2]!.offset} ${patterned[2]!.length}`]);
        expect(`${wrong.stdout}${wrong.stderr}`).toMatch(/Pattern verification failed/);
      }, 40_000);

      it(`${label}: libiscsi writes (qemu-io -P / -s, qemu-img convert), iscsi-ts reads back the same bytes`, async () => {
        const dev = await device(targetIndex);
        // qemu-img convert from local random files.
        const areas = regions(8 * MiB);
        const payloads = areas.map((a) => randomBytes(a.length));
        for (const [i, a] of areas.entries()) await writeWithQemuImg(targetIndex, a.offset, payloads[i]!);
        for (const [i, a] of areas.entries()) {
          expect(sha256(await dev.read(a.offset, a.length)), `size ${a.length} at ${a.offset}`).toBe(
            sha256(payloads[i]!),
          );
        }
        // qemu-io write -P (constant bytes) and write -s (a file's bytes), in one qemu-io run.
        const patterned = regions(24 * MiB);
        const small = patterned.slice(0, 4);
        const fileData = randomBytes(small[3]!.length);
        const fileSrc = join(dir, `qemu-io-src-${targetIndex}.raw`);
        writeFileSync(fileSrc, fileData);
        const writes = patterned.map((a, i) =>
          i === 3
            ? `write -s ${fileSrc} ${a.offset} ${a.length}`
            : `write -P 0x${(0xa0 + i).toString(16)} ${a.offset} ${a.length}`,
        );
        expectClean(await qemuIo(targetIndex, writes));
        for (const [i, a] of patterned.entries()) {
          const back = await dev.read(a.offset, a.length);
          if (i === 3) expect(sha256(back)).toBe(sha256(fileData));
          else
            expect(
              back.every((b) => b === 0xa0 + i),
              `pattern at ${a.offset} (${a.length} bytes)`,
            ).toBe(true);
        }
        // The gaps between the regions were never written: each region's neighbour bytes are still zero.
        const gap = patterned[1]!.offset + patterned[1]!.length;
        expect((await dev.read(gap, 512)).every((b) => b === 0)).toBe(true);
      }, 40_000);
    }
  },
);
