/**
 * Minimal benchmark harness: runs a function in batches until a time budget is spent and
 * reports operations per second. Every bench prints its figures next to a reference measured
 * in the same run, so ratios stay meaningful on any machine.
 */
import { performance } from 'node:perf_hooks';

export interface Measurement {
  readonly name: string;
  /** Operations per second. */
  readonly opsPerSec: number;
  /** Bytes per second, when `bytesPerOp` was given. */
  readonly bytesPerSec?: number;
}

export interface MeasureOptions {
  /** Bytes processed by one call, for throughput figures. */
  readonly bytesPerOp?: number;
  /** Calls per timed batch (default 1000). */
  readonly batch?: number;
  /** Time budget in milliseconds (default 1000; BENCH_TIME_MS overrides). */
  readonly timeMs?: number;
}

/** Runs `fn` repeatedly (after a warm-up) and returns its rate. */
export function measure(name: string, fn: () => unknown, options: MeasureOptions = {}): Measurement {
  const batch = options.batch ?? 1000;
  const budget = options.timeMs ?? Number(process.env.BENCH_TIME_MS ?? 1000);
  let sink: unknown;
  const warmEnd = performance.now() + Math.min(200, budget / 4);
  while (performance.now() < warmEnd) for (let i = 0; i < batch; i++) sink = fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < budget) {
    for (let i = 0; i < batch; i++) sink = fn();
    ops += batch;
    now = performance.now();
  }
  keep(sink);
  const opsPerSec = (ops * 1000) / (now - start);
  return options.bytesPerOp === undefined
    ? { name, opsPerSec }
    : { name, opsPerSec, bytesPerSec: opsPerSec * options.bytesPerOp };
}

let kept: unknown;
function keep(value: unknown): void {
  kept = value;
}

/** Prints measurements as a table, with each row's ratio to `reference` (by name) when given. */
export function report(title: string, rows: readonly Measurement[], reference?: string): void {
  const ref = rows.find((r) => r.name === reference);
  console.log(`\n## ${title}`);
  for (const r of rows) {
    const rate = r.bytesPerSec === undefined ? `${fmt(r.opsPerSec)} ops/s` : `${(r.bytesPerSec / 1e9).toFixed(3)} GB/s`;
    const ratio = ref && ref !== r ? `  ${(r.opsPerSec / ref.opsPerSec).toFixed(2)}x ${ref.name}` : '';
    console.log(`${r.name.padEnd(44)} ${rate.padStart(16)}${ratio}`);
  }
  if (kept === Symbol.for('never')) console.log('');
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}
