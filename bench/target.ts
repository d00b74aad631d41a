/**
 * `npm run bench:target`: the embedded target against tgtd, both driven by the same independent initiators in
 * the same run. Our target runs in its own Node process (bench/target-server.ts) with a 1 GiB memory LUN; a
 * private tgtd serves a 1 GiB file LUN in a temp dir, written and read once first so it is page-cached. Rows:
 *
 * - libiscsi `iscsi-perf`: 4 KiB random read QD32 (`-m 32 -b 8 -r`), 256 KiB sequential read QD8 (`-m 8 -b 512`);
 * - `qemu-img bench -w -t none` (QEMU's libiscsi driver): 4 KiB write QD32, 256 KiB write QD8, IOPS = count / s.
 *
 * Each timed run lasts 5 s (BENCH_TIME_MS × 5; the qemu-img count is calibrated on tgtd to last about that);
 * BENCH_TARGET_REPEAT=n runs each row n times per side, alternating who goes first, and prints the medians.
 * BENCH_TARGET_PROF=<dir> runs the target process under `node --cpu-prof` and leaves the .cpuprofile there.
 * Every child is bounded in time and stopped by its PID at the end.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTool, freePort, waitExit } from '../test/helpers/peers.js';
import { startTgtd, type Tgtd } from '../test/helpers/tgtd.js';
import { benchSeconds, GiB, runIscsiPerf, runQemuWrite, warmFile } from './block-peers.js';

const SECONDS = benchSeconds();
const IQN_OURS = 'iqn.2026-11.bench.iscsi-ts:disk';
const IQN_TGTD = 'iqn.2026-11.bench.tgtd:disk';
const START_TIMEOUT_MS = 30_000;
/** Runs per row and side (BENCH_TARGET_REPEAT, default 1); the table shows the median. */
const REPEAT = Math.max(1, Math.min(9, Math.floor(Number(process.env.BENCH_TARGET_REPEAT ?? 1)) || 1));

/** Median of the values, or undefined when there are none. */
function median(values: readonly number[]): number | undefined {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

interface Row {
  readonly name: string;
  readonly tool: 'iscsi-perf' | 'qemu-img';
  readonly blocks: number;
  readonly qd: number;
  readonly random: boolean;
}

interface Result {
  readonly row: Row;
  readonly ours: number | undefined;
  readonly tgtd: number | undefined;
}

const ROWS: readonly Row[] = [
  { name: '4 KiB random read QD32', tool: 'iscsi-perf', blocks: 8, qd: 32, random: true },
  { name: '256 KiB seq read QD8', tool: 'iscsi-perf', blocks: 512, qd: 8, random: false },
  { name: '4 KiB seq write QD32', tool: 'qemu-img', blocks: 8, qd: 32, random: false },
  { name: '256 KiB seq write QD8', tool: 'qemu-img', blocks: 512, qd: 8, random: false },
];

/** Our target in a child process: resolves with its URL once it prints it. */
interface TargetProcess {
  readonly url: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

async function startOurs(port: number, profDir: string | undefined): Promise<TargetProcess> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'target-server.js');
  const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const child = spawn(process.execPath, [...nodeArgs, script, String(port), String(GiB), IQN_OURS], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_TARGET_MAX_S: String(120 + SECONDS * 40 * REPEAT) },
  });
  const pid = child.pid;
  const onExit = (): void => {
    if (pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitExit(child, 2000);
      }
    }
    process.off('exit', onExit);
  };
  try {
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error('target-server did not print its URL in time')),
        START_TIMEOUT_MS,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const m = /^URL (\S+)$/m.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`target-server exited (${code ?? signal}) before listening`));
      });
    });
    return { url, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The qemu-img request count for a row: about SECONDS on tgtd, measured with a short calibration run. */
async function calibrateCount(qemuImg: string, url: string, row: Row): Promise<number> {
  const bytes = row.blocks * 512;
  const probe = Math.max(200, Math.floor(GiB / bytes / 8));
  const r = await runQemuWrite(qemuImg, url, { count: probe, qd: row.qd, bytes, cacheNone: true }, 60_000);
  const iops = r.iops ?? probe;
  return Math.max(probe, Math.round(iops * SECONDS));
}

function fmtIops(iops: number | undefined, bytes: number): string {
  if (iops === undefined) return `${'failed'.padStart(8)} ${''.padStart(10)}`;
  return `${Math.round(iops).toString().padStart(8)} ${`${((iops * bytes) / 1e6).toFixed(0)} MB/s`.padStart(10)}`;
}

function printTable(results: readonly Result[]): void {
  console.log(`\n${'row'.padEnd(24)} ${'iscsi-ts target'.padStart(19)}   ${'tgtd'.padStart(19)}   ours/tgtd`);
  for (const { row, ours, tgtd } of results) {
    const bytes = row.blocks * 512;
    const ratio = ours !== undefined && tgtd ? `${(ours / tgtd).toFixed(2)}x` : 'n/a';
    console.log(`${row.name.padEnd(24)} ${fmtIops(ours, bytes)}   ${fmtIops(tgtd, bytes)}   ${ratio.padStart(9)}`);
  }
  const ratios = results.flatMap((r) => (r.ours !== undefined && r.tgtd ? [r.ours / r.tgtd] : []));
  const min = Math.min(...ratios);
  const verdict = min >= 1.5 ? 'goal met (>= 1.5x)' : min >= 1 ? 'bar met (>= 1.0x), goal 1.5x not yet' : 'bar NOT met';
  if (ratios.length > 0) console.log(`lowest ratio ${min.toFixed(2)}x: ${verdict}`);
}

const iscsiPerf = findTool('iscsi-perf');
const qemuImg = findTool('qemu-img');
if (!findTool('tgtd') || !iscsiPerf) {
  console.log('\n## Embedded target vs tgtd: skipped (needs tgtd from tgt and iscsi-perf from libiscsi-bin)');
} else {
  const profDir = process.env.BENCH_TARGET_PROF ? resolve(process.env.BENCH_TARGET_PROF) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  let ours: TargetProcess | undefined;
  let tgtd: Tgtd | undefined;
  try {
    ours = await startOurs(await freePort(), profDir);
    tgtd = await startTgtd({ targets: [{ iqn: IQN_TGTD, luns: [{ sizeBytes: GiB }] }] });
    const warmS = warmFile(join(tgtd.dir, 't1-lun1.img'));
    const urls = { ours: ours.url, tgtd: tgtd.url(0, 1) };
    console.log(
      `\n## Embedded target vs tgtd (${SECONDS} s per run, median of ${REPEAT}, loopback, node ${process.version})`,
    );
    console.log(`iscsi-ts target: separate node process (pid ${ours.child.pid}), 1 GiB memory LUN filled with data`);
    console.log(`tgtd: 1 GiB file LUN in a temp dir, page-cached (written + read once, ${warmS.toFixed(1)} s)`);
    console.log('reads: libiscsi iscsi-perf; writes: qemu-img bench -w -t none (IOPS = count / seconds)');
    console.log('MB/s = 10^6 bytes/s');
    // Warm-up: 1 s of 4 KiB random reads on each (JIT for ours; tgtd's threads and the page cache).
    for (const url of [urls.ours, urls.tgtd]) {
      await runIscsiPerf(iscsiPerf, url, { qd: 32, blocks: 8, random: true, seconds: 1 });
    }
    const results: Result[] = [];
    for (const row of ROWS) {
      let measureOn: ((url: string) => Promise<number | undefined>) | undefined;
      if (row.tool === 'iscsi-perf') {
        const o = { qd: row.qd, blocks: row.blocks, random: row.random, seconds: SECONDS };
        measureOn = async (url) => {
          const r = await runIscsiPerf(iscsiPerf, url, o);
          if (r.error) console.log(`${url}: ${r.error}`);
          return r.iops;
        };
      } else if (!qemuImg) {
        console.log(`${row.name}: skipped (qemu-img not installed)`);
      } else {
        const count = await calibrateCount(qemuImg, urls.tgtd, row);
        const o = { count, qd: row.qd, bytes: row.blocks * 512, cacheNone: true };
        console.log(`${row.name}: ${count} requests per run`);
        measureOn = async (url) => {
          const r = await runQemuWrite(qemuImg, url, o, SECONDS * 20_000 + 30_000);
          if (r.error) console.log(`${url}: ${r.error}`);
          return r.iops;
        };
      }
      if (!measureOn) continue;
      const mine: number[] = [];
      const theirs: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        // Alternate who goes first, so a drift in the machine's load does not favour one side.
        const order = i % 2 === 0 ? (['ours', 'tgtd'] as const) : (['tgtd', 'ours'] as const);
        for (const side of order) {
          const iops = await measureOn(urls[side]);
          if (iops !== undefined) (side === 'ours' ? mine : theirs).push(iops);
        }
      }
      results.push({ row, ours: median(mine), tgtd: median(theirs) });
    }
    printTable(results);
  } finally {
    await ours?.stop();
    await tgtd?.stop();
  }
  if (profDir) console.log(`CPU profile of the target process: ${profDir}/*.cpuprofile`);
}
