/**
 * `iscsi-ts perf` against a private tgtd: sequential and random reads, a short write run that must change the
 * backing file, the JSON shape, and argument validation (refused before anything is sent).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PerfResult, runPerf } from '../../src/cli/perf.js';
import type { Io } from '../../src/cli/session-commands.js';
import { describePeers } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const IQN = 'iqn.2024-01.test.iscsi-ts:perf';
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function testIo(): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, env: {}, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

describePeers(['tgtd', 'tgtadm'], 'iscsi-ts perf', () => {
  let tgtd: Tgtd;
  let url: string;
  let backing: string;

  beforeAll(async () => {
    tgtd = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 8 * MiB }] }] });
    url = tgtd.url(0, 1);
    backing = join(tgtd.dir, 't1-lun1.img');
  }, 20_000);

  afterAll(async () => {
    await tgtd?.stop();
  });

  async function perfJson(args: Parameters<typeof runPerf>[1]): Promise<PerfResult> {
    const io = testIo();
    const code = await runPerf(url, { ...args, json: true }, io);
    expect(io.errors).toEqual([]);
    expect(code).toBe(0);
    return JSON.parse(io.lines.join('\n')) as PerfResult;
  }

  it('sequential reads for 1 s: positive IOPS and the documented JSON shape', async () => {
    const r = await perfJson({ time: 1, max: 4, blocks: 8 });
    expect(Object.keys(r).sort()).toEqual(
      [
        'blockSize',
        'blocksPerRequest',
        'iops',
        'latencyMs',
        'mbps',
        'queueDepth',
        'random',
        'requests',
        'seconds',
        'write',
      ].sort(),
    );
    expect(r.iops).toBeGreaterThan(0);
    expect(r.requests).toBeGreaterThan(0);
    expect(r.seconds).toBeGreaterThanOrEqual(1);
    expect(r.seconds).toBeLessThan(3);
    expect(r).toMatchObject({ blockSize: 512, blocksPerRequest: 8, queueDepth: 4, random: false, write: false });
    // MB/s is 10^6 bytes per second of completed requests.
    expect(r.mbps).toBeCloseTo((r.iops * 8 * 512) / 1e6, 6);
    expect(r.latencyMs.p50).toBeGreaterThan(0);
    expect(r.latencyMs.p99).toBeGreaterThanOrEqual(r.latencyMs.p50);
  }, 10_000);

  it('random reads for 1 s at the default queue depth; text output names iops and mbps', async () => {
    const io = testIo();
    expect(await runPerf(url, { time: 1, random: true }, io)).toBe(0);
    const iops = Number(/^iops: (\d+)$/m.exec(io.lines.join('\n'))?.[1]);
    expect(iops).toBeGreaterThan(0);
    expect(io.lines.some((l) => /^mbps: [\d.]+ \(MB\/s, 10\^6 bytes\)$/.test(l))).toBe(true);
    expect(io.errors.join('\n')).toMatch(/random READ\(16\), 32 in flight, 8 blocks per request/);
  }, 10_000);

  it('--write really writes: the backing file changes', async () => {
    const before = sha(readFileSync(backing));
    const r = await perfJson({ time: 0.5, max: 8, blocks: 64, write: true });
    expect(r.write).toBe(true);
    expect(r.requests).toBeGreaterThan(0);
    const after = readFileSync(backing);
    expect(sha(after)).not.toBe(before);
    // The run started at LBA 0 with random data: the first request is no longer zeros.
    expect(after.subarray(0, 64 * 512).some((b) => b !== 0)).toBe(true);
  }, 10_000);

  it('refuses bad arguments with a clear error and a non-zero exit code', async () => {
    const cases: [Parameters<typeof runPerf>[1], RegExp][] = [
      [{ time: 1, max: 0 }, /queue depth/],
      [{ time: 1, blocks: 0 }, /blocks per request/],
      [{ time: -1 }, /-t -1/],
      [{ time: 1, blocks: 8 * 2048 + 1 }, /exceed the LUN/],
      [{}, /needs a signal/],
    ];
    for (const [args, message] of cases) {
      const io = testIo();
      expect(await runPerf(url, args, io)).not.toBe(0);
      expect(io.errors.join('\n')).toMatch(message);
    }
    const io = testIo();
    expect(await runPerf(`iscsi://127.0.0.1:${tgtd.port}`, { time: 1 }, io)).not.toBe(0);
    expect(io.errors.join('\n')).toMatch(/must name a target and a LUN/);
  }, 10_000);
});
