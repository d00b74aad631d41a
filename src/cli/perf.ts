/**
 * `iscsi-ts perf <url>`: a load generator with the options of libiscsi's `iscsi-perf` (`-m` requests in flight,
 * default 32; `-b` blocks per request, default 8; `-t` seconds, default 0 = until interrupted; `-r` random
 * offsets, else sequential), plus `--write` for WRITE(16) instead of READ(16). It drives a {@link Session}
 * directly: exactly `queueDepth` commands stay in flight, each worker reusing one preallocated buffer and CDB.
 *
 * Differences from iscsi-perf: MB/s here is 10^6 bytes per second (iscsi-perf's "MB/s" is MiB/s); a sequential
 * run wraps to LBA 0 before a request would cross the end of the LUN (iscsi-perf shortens the last one); random
 * offsets are uniform over the LBAs where a whole request fits.
 * @module
 */
import { randomFillSync } from 'node:crypto';
import {
  buildRead16Cdb,
  buildWrite16Cdb,
  DEFAULT_UNIT_ATTENTION_RETRIES,
  InvalidArgumentError,
  isUnitAttention,
  login,
  parseIscsiUrl,
  readCapacity,
  resultError,
  Session,
} from '../index.js';
import { common, ExitCode, type Io, report, type SessionCliOptions } from './session-commands.js';

/** Parameters of one {@link measurePerf} run (iscsi-perf's meaning). */
export interface PerfOptions {
  /** Requests kept in flight (`-m`, default 32). The session's own queue depth must be at least this. */
  readonly queueDepth?: number;
  /** Logical blocks per request (`-b`, default 8). */
  readonly blocksPerRequest?: number;
  /** Run time in seconds (`-t`); 0 (default) runs until `signal` aborts. */
  readonly seconds?: number;
  /** Random offsets (`-r`); sequential otherwise. */
  readonly random?: boolean;
  /** WRITE(16) instead of READ(16). Destructive: overwrites the LUN's data with a pseudo-random pattern. */
  readonly write?: boolean;
  /** Ends the run early (Ctrl-C); the figures cover the time until then. */
  readonly signal?: AbortSignal;
}

/** The figures of a run; the JSON output of `iscsi-ts perf --json`. */
export interface PerfResult {
  /** Completed requests per second. */
  readonly iops: number;
  /** Megabytes (10^6 bytes) per second moved by completed requests. */
  readonly mbps: number;
  /** Measured wall time in seconds. */
  readonly seconds: number;
  /** Completed requests. */
  readonly requests: number;
  /** Logical block length of the LUN in bytes. */
  readonly blockSize: number;
  readonly blocksPerRequest: number;
  readonly queueDepth: number;
  readonly random: boolean;
  readonly write: boolean;
  /** Per-request latency (from `execute` to its result), milliseconds. */
  readonly latencyMs: { readonly p50: number; readonly p99: number };
}

/** Options of `iscsi-ts perf`. */
export interface PerfCliOptions extends SessionCliOptions {
  /** `-m`: requests in flight. */
  readonly max?: number;
  /** `-b`: blocks per request. */
  readonly blocks?: number;
  /** `-t`: seconds; 0 runs until interrupted. */
  readonly time?: number;
  /** `-r`: random offsets. */
  readonly random?: boolean;
  /** `--write`: WRITE(16), destructive. */
  readonly write?: boolean;
}

/** UNIT ATTENTION conditions tolerated (each reported once, e.g. POWER ON / RESET after login: SAM-5 §5.14). */
const DEFAULT_QUEUE_DEPTH = 32;
const DEFAULT_BLOCKS = 8;

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} ${value} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The p-quantile of sorted values (nearest rank). */
function quantile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

/**
 * Runs the load on LUN `lun` of an open session and returns its figures. READ CAPACITY(16) first (retried on
 * UNIT ATTENTION, which the first command of a new I_T nexus commonly gets), then `queueDepth` workers each loop:
 * pick an LBA, patch it into the worker's CDB, execute, check the status.
 * @throws {InvalidArgumentError} for out-of-range options (before anything is sent); {@link ScsiError} when a
 * command fails with anything but a (bounded number of) UNIT ATTENTION; what `Session.execute` rejects with.
 */
export async function measurePerf(
  session: Session,
  lun: number | bigint,
  options: PerfOptions = {},
): Promise<PerfResult> {
  const queueDepth = checkInt('queue depth (-m)', options.queueDepth ?? DEFAULT_QUEUE_DEPTH, 1, 4096);
  const blocks = checkInt('blocks per request (-b)', options.blocksPerRequest ?? DEFAULT_BLOCKS, 1, 0xffffffff);
  const seconds = options.seconds ?? 0;
  if (!Number.isFinite(seconds) || seconds < 0) throw new InvalidArgumentError(`seconds (-t) ${seconds} must be ≥ 0`);
  if (seconds === 0 && !options.signal) throw new InvalidArgumentError('a run without -t needs a signal to end it');
  const random = options.random ?? false;
  const write = options.write ?? false;

  const cap = await readCapacity(session, lun);
  const blockSize = cap.blockLength;
  const lunBlocks = cap.blocks;
  if (BigInt(blocks) > lunBlocks) {
    throw new InvalidArgumentError(`${blocks} blocks per request exceed the LUN (${lunBlocks} blocks)`);
  }
  const bytes = blocks * blockSize;
  // LBAs where a whole request fits; as a number (a LUN of 2**53 blocks is far beyond anything measured here).
  const slots = Number(lunBlocks - BigInt(blocks)) + 1;

  let next = 0;
  const nextLba = (): number => {
    if (random) return Math.floor(Math.random() * slots);
    if (next >= slots) next = 0;
    const lba = next;
    next += blocks;
    return lba;
  };

  const latencies: number[] = [];
  let uaLeft = DEFAULT_UNIT_ATTENTION_RETRIES;
  let failure: unknown;
  const started = performance.now();
  const deadline = seconds > 0 ? started + seconds * 1000 : Number.POSITIVE_INFINITY;
  const running = (): boolean =>
    failure === undefined && !options.signal?.aborted && performance.now() < deadline && !session.closed;

  const worker = async (): Promise<void> => {
    const command = (write ? buildWrite16Cdb : buildRead16Cdb)({ lba: 0, blocks, blockSize });
    const cdb = command.cdb;
    const view = new DataView(cdb.buffer, cdb.byteOffset, cdb.byteLength);
    const buffer = new Uint8Array(bytes);
    if (write) randomFillSync(buffer);
    const request = write ? { lun, cdb, write: buffer } : { lun, cdb, read: { into: buffer } };
    while (running()) {
      const lba = nextLba();
      // SBC-3 §5.13: LOGICAL BLOCK ADDRESS is bytes 2-9 of READ(16)/WRITE(16), big-endian.
      view.setUint32(2, Math.floor(lba / 2 ** 32));
      view.setUint32(6, lba >>> 0);
      let result: Awaited<ReturnType<Session['execute']>>;
      const t0 = performance.now();
      try {
        result = await session.execute(request);
      } catch (err) {
        failure ??= err;
        return;
      }
      const error = resultError(result, cdb);
      if (error) {
        // A pending condition (reset, capacity change) is reported once to the next command: retry it.
        if (isUnitAttention(error) && uaLeft-- > 0) continue;
        failure ??= error;
        return;
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: queueDepth }, worker));
  if (failure !== undefined) throw failure;
  const elapsed = (performance.now() - started) / 1000;
  const requests = latencies.length;
  const sorted = Float64Array.from(latencies).sort();
  return {
    iops: requests / elapsed,
    mbps: (requests * bytes) / elapsed / 1e6,
    seconds: elapsed,
    requests,
    blockSize,
    blocksPerRequest: blocks,
    queueDepth,
    random,
    write,
    latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) },
  };
}

/**
 * `iscsi-ts perf <url>`: logs in, runs {@link measurePerf} with a session whose queue depth is `-m`, logs out and
 * prints `iops`, `mbps` (10^6 bytes/s) and latency percentiles, or the {@link PerfResult} as JSON.
 */
export async function runPerf(url: string, o: PerfCliOptions, io: Io, signal?: AbortSignal): Promise<number> {
  try {
    const queueDepth = checkInt('queue depth (-m)', o.max ?? DEFAULT_QUEUE_DEPTH, 1, 4096);
    const blocks = checkInt('blocks per request (-b)', o.blocks ?? DEFAULT_BLOCKS, 1, 0xffffffff);
    const seconds = o.time ?? 0;
    if (!Number.isFinite(seconds) || seconds < 0) throw new InvalidArgumentError(`-t ${seconds} must be ≥ 0`);
    if (seconds === 0 && !signal) throw new InvalidArgumentError('a run without -t needs a signal to end it');
    const u = parseIscsiUrl(url);
    if (u.targetName === undefined || u.lun === undefined) {
      throw new InvalidArgumentError('the URL must name a target and a LUN: iscsi://host/<iqn>/<lun>');
    }
    const { options, close } = await common(url, o, io);
    let result: PerfResult;
    try {
      const session = new Session(await login(options), {
        queueDepth,
        ...(options.logger ? { logger: options.logger } : {}),
      });
      try {
        if (!o.json) {
          io.err(
            `${o.random ? 'random' : 'sequential'} ${o.write ? 'WRITE(16)' : 'READ(16)'}, ${queueDepth} in flight, ` +
              `${blocks} blocks per request, ${seconds > 0 ? `${seconds} s` : 'until interrupted'}`,
          );
        }
        result = await measurePerf(session, u.lun, {
          queueDepth,
          blocksPerRequest: blocks,
          seconds,
          random: o.random ?? false,
          write: o.write ?? false,
          ...(signal ? { signal } : {}),
        });
      } finally {
        await session.logout().catch(() => session.close());
      }
    } finally {
      close();
    }
    if (o.json) io.out(JSON.stringify(result, null, 2));
    else {
      io.out(`iops: ${Math.round(result.iops)}`);
      io.out(`mbps: ${result.mbps.toFixed(1)} (MB/s, 10^6 bytes)`);
      io.out(`latency: p50 ${result.latencyMs.p50.toFixed(3)} ms, p99 ${result.latencyMs.p99.toFixed(3)} ms`);
      io.out(
        `requests: ${result.requests} in ${result.seconds.toFixed(2)} s of ${result.blocksPerRequest} × ${result.blockSize} bytes`,
      );
    }
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  }
}
