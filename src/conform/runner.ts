/**
 * The conformance runner: runs cases one after another, each with a fresh connection and its own time limit,
 * collects the verdicts, and keeps the pcap of every failing case.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { PcapTrace } from '../pdu/pcap-write.js';
import { Probe } from './probe.js';
import type {
  CaseContext,
  ConformCase,
  ConformTarget,
  ConformTimeouts,
  Strength,
  Verdict,
  VerdictStatus,
} from './types.js';

/** Options of {@link runConformance}. */
export interface RunOptions {
  /** Only cases of these areas (default all). */
  readonly areas?: readonly string[];
  /** Time limit of one case in ms (default 5000). */
  readonly caseTimeoutMs?: number;
  readonly timeouts?: Partial<ConformTimeouts>;
  /** Called after each case (progress output). */
  readonly onResult?: (result: CaseResult) => void;
  readonly signal?: AbortSignal;
}

/** The result of one case. */
export interface CaseResult {
  readonly id: string;
  readonly area: string;
  readonly section: string;
  readonly strength: Strength;
  readonly description: string;
  readonly verdict: Verdict;
  readonly durationMs: number;
  /** The case's pcap (every connection it opened), kept for failing cases only. */
  readonly pcap?: Uint8Array;
}

/** Counts of one area (or all). */
export type Totals = Record<VerdictStatus, number>;

/** A whole run. */
export interface ConformReport {
  /** `host:port target-name`. */
  readonly target: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly results: readonly CaseResult[];
}

/** Counts per verdict status. */
export function totals(results: readonly CaseResult[]): Totals {
  const t: Totals = { pass: 0, fail: 0, 'not-applicable': 0, skipped: 0 };
  for (const r of results) t[r.verdict.status]++;
  return t;
}

/** Results grouped by area, in first-seen order. */
export function byArea(results: readonly CaseResult[]): Map<string, CaseResult[]> {
  const m = new Map<string, CaseResult[]>();
  for (const r of results) {
    const list = m.get(r.area) ?? [];
    list.push(r);
    m.set(r.area, list);
  }
  return m;
}

/** A random ISID of type 2 (random, §11.12.5): the top two bits 10, the rest random. */
function randomIsid(): number {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0x3f) | 0x80;
  return b.readUIntBE(0, 6);
}

/** Runs `cases` against `target` sequentially. Throws only on a duplicate case id. */
export async function runConformance(
  target: ConformTarget,
  cases: readonly ConformCase[],
  options: RunOptions = {},
): Promise<ConformReport> {
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new Error(`conformance case ${c.id} is listed twice`);
    ids.add(c.id);
  }
  const timeouts: ConformTimeouts = { replyMs: 2000, silenceMs: 300, ...options.timeouts };
  const caseTimeoutMs = options.caseTimeoutMs ?? 5000;
  const selected = options.areas ? cases.filter((c) => options.areas!.includes(c.area)) : cases;
  const started = Date.now();
  const results: CaseResult[] = [];
  for (const c of selected) {
    if (options.signal?.aborted) break;
    const result = await runOne(target, c, timeouts, caseTimeoutMs);
    results.push(result);
    options.onResult?.(result);
  }
  return {
    target: `${target.portal.host}:${target.portal.port} ${target.targetName}`,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    results,
  };
}

async function runOne(
  target: ConformTarget,
  c: ConformCase,
  timeouts: ConformTimeouts,
  limitMs: number,
): Promise<CaseResult> {
  const chunks: Uint8Array[] = [];
  const trace = new PcapTrace((chunk) => chunks.push(chunk));
  const probes: Probe[] = [];
  const abort = new AbortController();
  const ctx: CaseContext = {
    target,
    timeouts,
    signal: abort.signal,
    async open() {
      const probe = await Probe.open({ portal: target.portal, connectTimeoutMs: timeouts.replyMs, trace });
      probes.push(probe);
      return probe;
    },
    newIsid: randomIsid,
  };
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve({
        status: 'fail',
        message: `no verdict within ${limitMs} ms`,
        evidence: probes.flatMap((p) => p.log).slice(-6),
      });
    }, limitMs);
  });
  let verdict: Verdict;
  try {
    verdict = await Promise.race([c.run(ctx), timeout]);
  } catch (err) {
    verdict = {
      status: 'fail',
      message: `the case failed with an error: ${err instanceof Error ? err.message : String(err)}`,
      evidence: probes.flatMap((p) => p.log).slice(-6),
    };
  } finally {
    clearTimeout(timer);
    for (const p of probes) p.close();
  }
  const base = {
    id: c.id,
    area: c.area,
    section: c.section,
    strength: c.strength,
    description: c.description,
    verdict,
    durationMs: Date.now() - start,
  };
  return verdict.status === 'fail' ? { ...base, pcap: Buffer.concat(chunks) } : base;
}
