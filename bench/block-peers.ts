/**
 * Shared pieces of the block I/O benchmarks (`bench:io`, `bench:target`) that drive real peers: warming a tgtd
 * backing file, running libiscsi's `iscsi-perf` and `qemu-img bench` against an `iscsi://` URL with bounded time,
 * and parsing what they print.
 * @module
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { run } from '../test/helpers/peers.js';

/** 2^30 bytes: the LUN size of both block benchmarks. */
export const GiB = 1024 ** 3;

/** Chunk used to fill and read back a backing file. */
const CHUNK = 8 * 1024 * 1024;

/** Whole seconds per timed run: 5 × BENCH_TIME_MS / 1000 (default 5 s; iscsi-perf takes whole seconds). */
export function benchSeconds(): number {
  return Math.max(1, Math.round((5 * Number(process.env.BENCH_TIME_MS ?? 1000)) / 1000));
}

/** iscsi-perf's last `iops average N` (it redraws one line with `\r`). */
export function parseIscsiPerf(stdout: string): number | undefined {
  const matches = [...stdout.replace(/\r/g, '\n').matchAll(/iops average (\d+)/g)];
  const last = matches.at(-1)?.[1];
  return last === undefined ? undefined : Number(last);
}

/** Seconds from `qemu-img bench`'s `Run completed in <s> seconds.` line. */
export function parseQemuBench(stdout: string): number | undefined {
  const s = Number(/Run completed in ([\d.]+) seconds/.exec(stdout)?.[1]);
  return Number.isFinite(s) && s > 0 ? s : undefined;
}

/** A byte pattern that is neither zero nor compressible to nothing (one multiplicative hash per word). */
export function patternChunk(bytes = CHUNK): Buffer {
  const buf = Buffer.alloc(bytes);
  for (let i = 0; i + 4 <= bytes; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  return buf;
}

/**
 * Fills a backing file with non-zero data and reads it back once, so that a file-backed target then serves from
 * the page cache. Returns the seconds it took.
 */
export function warmFile(path: string, size = GiB): number {
  const t = performance.now();
  const buf = patternChunk();
  const fd = openSync(path, 'r+');
  try {
    for (let off = 0; off < size; off += CHUNK) writeSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
    for (let off = 0; off < size; off += CHUNK) readSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
  } finally {
    closeSync(fd);
  }
  return (performance.now() - t) / 1000;
}

/** One `iscsi-perf` run: `-m qd -b blocks -t seconds [-r] url`. */
export interface IscsiPerfRun {
  /** Average IOPS, or undefined when the run failed. */
  readonly iops: number | undefined;
  /** Why it failed (exit code and stderr head); empty on success. */
  readonly error: string;
}

/** Runs libiscsi's iscsi-perf for `seconds` (killed 15 s after that) and parses its average IOPS. */
export async function runIscsiPerf(
  tool: string,
  url: string,
  o: { readonly qd: number; readonly blocks: number; readonly random: boolean; readonly seconds: number },
): Promise<IscsiPerfRun> {
  const args = ['-t', String(o.seconds), '-m', String(o.qd), '-b', String(o.blocks), ...(o.random ? ['-r'] : [])];
  const r = await run(tool, [...args, url], { timeoutMs: o.seconds * 1000 + 15_000 });
  const iops = parseIscsiPerf(r.stdout);
  return { iops, error: iops === undefined ? `iscsi-perf failed (${r.code}): ${r.stderr.trim().slice(0, 200)}` : '' };
}

/**
 * Runs `qemu-img bench -w` (QEMU's libiscsi driver, sequential writes from offset 0) with `count` requests of
 * `bytes` at depth `qd`, and returns IOPS = count / the seconds it prints. `cacheNone` adds `-t none` (no host
 * page cache in qemu's block layer). Killed after `timeoutMs`.
 */
export async function runQemuWrite(
  tool: string,
  url: string,
  o: { readonly count: number; readonly qd: number; readonly bytes: number; readonly cacheNone?: boolean },
  timeoutMs = 120_000,
): Promise<IscsiPerfRun> {
  const args = ['bench', '-w', ...(o.cacheNone ? ['-t', 'none'] : []), '-f', 'raw'];
  args.push('-c', String(o.count), '-d', String(o.qd), '-s', String(o.bytes), url);
  const r = await run(tool, args, { timeoutMs });
  const s = parseQemuBench(r.stdout);
  return {
    iops: s === undefined ? undefined : o.count / s,
    error: s === undefined ? `qemu-img failed (${r.code}): ${r.stderr.trim().slice(0, 200)}` : '',
  };
}
