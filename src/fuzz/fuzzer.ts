/**
 * The fuzz loop: each iteration draws a phase and a case from a seeded generator, runs it, and applies the
 * oracles; the next iteration's fresh connection and login double as the "target still accepts connections and
 * logins" oracle for the case before. A finding is confirmed (its case triggers it again), minimised (ddmin over
 * the PDUs, then over bytes), and run once more with a pcap trace. Bounded by iterations and time; loopback targets only unless allowed.
 * @module
 */
import { ConnectionError, InvalidArgumentError } from '../errors.js';
import { PcapTrace } from '../pdu/pcap-write.js';
import type { Portal } from '../session/address.js';
import { type ExecContext, generate, play, reach, runCase } from './exec.js';
import type { FuzzFinding } from './finding.js';
import { type Budget, ddmin, minimiseStep } from './minimise.js';
import { iterationSeed, Rng } from './rng.js';
import {
  DEFAULT_FUZZ_TIMEOUTS,
  type FindingKind,
  FUZZ_PHASES,
  type FuzzCase,
  type FuzzPhase,
  type FuzzStep,
  type FuzzTarget,
  type FuzzTimeouts,
  type Observation,
} from './types.js';

/** Progress of a run. */
export interface FuzzProgress {
  readonly iterations: number;
  /** Fuzz PDUs sent (mutated steps and pings; login and setup PDUs not counted). */
  readonly pdus: number;
  /** Sessions (connections with a login or partial login). */
  readonly sessions: number;
  readonly elapsedMs: number;
  readonly pdusPerSecond: number;
  readonly sessionsPerSecond: number;
  readonly findings: number;
}

/** Options of {@link fuzz}. */
export interface FuzzOptions {
  readonly target: FuzzTarget;
  /** The run's seed (default: random; always in the report). */
  readonly seed?: number;
  /** Iterations at most (default 1000). */
  readonly iterations?: number;
  /** Stop after this many ms (default: no limit but the iterations). */
  readonly timeMs?: number;
  /** Stop after this many fuzz PDUs (default: no limit). */
  readonly maxPdus?: number;
  /** Stop after this many confirmed findings (default 1); unconfirmed ones are listed but not counted. */
  readonly maxFindings?: number;
  readonly phases?: readonly FuzzPhase[];
  readonly timeouts?: Partial<FuzzTimeouts>;
  /** Sessions the minimisation of one finding may use (default 120). */
  readonly minimiseChecks?: number;
  /**
   * (Re)starts the target, returning its portal when it moved: after a crash or a broken login, and before each
   * session that confirms one, when the target may still be running. Without it a `refused` finding is saved unconfirmed
   * and unminimised, and the run ends.
   */
  readonly restart?: () => Promise<Portal | undefined>;
  readonly onProgress?: (p: FuzzProgress) => void;
  /** Interval of `onProgress` in ms (default 1000). */
  readonly progressMs?: number;
  /** Called when the target misbehaves, before the finding is confirmed and minimised. */
  readonly onFinding?: (kind: FindingKind, message: string, iteration: number) => void;
  /** Fuzz a target that is not on a loopback address (default false). */
  readonly allowRemote?: boolean;
  readonly signal?: AbortSignal;
}

/** Why a run ended. */
export type FuzzStop = 'iterations' | 'time' | 'pdus' | 'findings' | 'target-down' | 'aborted';

/** The outcome of a run. */
export interface FuzzReport extends FuzzProgress {
  readonly seed: number;
  readonly stoppedBy: FuzzStop;
  readonly list: readonly FuzzFinding[];
}

/** Sessions a finding's case gets to trigger it again, before minimising and after. */
const CONFIRM_RUNS = 3;

/** True for 127.0.0.0/8, ::1, their IPv4-mapped forms and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^(?:::ffff:)?127\.\d+\.\d+\.\d+$/.test(h);
}

/** Fuzzes a target; see the module documentation. */
export async function fuzz(o: FuzzOptions): Promise<FuzzReport> {
  if (!o.allowRemote && !isLoopbackHost(o.target.portal.host)) {
    throw new InvalidArgumentError(
      `refusing to fuzz ${o.target.portal.host}: not a loopback address (allow it explicitly to fuzz a test network)`,
    );
  }
  const seed = (o.seed ?? Math.floor(Math.random() * 0x100000000)) >>> 0;
  const iterations = o.iterations ?? 1000;
  const maxFindings = o.maxFindings ?? 1;
  const phases = o.phases && o.phases.length > 0 ? o.phases : FUZZ_PHASES;
  let target = o.target;
  const timeouts = { ...DEFAULT_FUZZ_TIMEOUTS, ...o.timeouts };
  const exec = (): ExecContext => ({ target, timeouts });
  const started = Date.now();
  const list: FuzzFinding[] = [];
  /** Confirmed findings: the ones {@link FuzzOptions.maxFindings} counts. */
  let counted = 0;
  let pdus = 0;
  let sessions = 0;
  let done = 0;
  let lastProgress = started;
  let stoppedBy: FuzzStop = 'iterations';
  const progress = (): FuzzProgress => {
    const elapsedMs = Date.now() - started;
    const s = Math.max(elapsedMs, 1) / 1000;
    return {
      iterations: done,
      pdus,
      sessions,
      elapsedMs,
      pdusPerSecond: pdus / s,
      sessionsPerSecond: sessions / s,
      findings: list.length,
    };
  };

  const restart = async (): Promise<boolean> => {
    if (!o.restart) return false;
    const portal = await o.restart();
    if (portal) target = { ...target, portal };
    return true;
  };

  /**
   * Confirms, minimises and records a finding; false when the target is gone for good. A crash, or a target that no
   * longer takes logins, lasts: the target is restarted after each check that leaves it so, and before each
   * confirming session. Some of these (a heap damaged by an earlier case) depend on what the target went through
   * before, and a case blamed for them would not trigger them on a fresh target.
   */
  const record = async (c: FuzzCase, seen: Observation, iteration: number): Promise<boolean> => {
    o.onFinding?.(seen.kind, seen.message, iteration);
    /** Kinds that leave the target crashed or unable to log in; without a restart a crash is final. */
    const lasts = (kind: FindingKind | undefined): boolean =>
      kind === 'refused' || (kind === 'login-broken' && o.restart !== undefined);
    const lasting = lasts(seen.kind);
    let alive = true;
    let fresh = false;
    const restore = async (kind: FindingKind | undefined): Promise<void> => {
      if (lasts(kind)) fresh = alive = await restart();
    };
    await restore(seen.kind);
    const budget: Budget = { checks: o.minimiseChecks ?? 120 };
    const used = budget.checks;
    /** One session of `steps`; whether it triggered the finding again. */
    const triggers = async (steps: readonly FuzzStep[], trace?: PcapTrace): Promise<boolean> => {
      const r = await runCase({ target, timeouts, ...(trace ? { trace } : {}) }, { ...c, steps }, true);
      fresh = false;
      await restore(r?.kind);
      return r?.kind === seen.kind;
    };
    /** Up to {@link CONFIRM_RUNS} sessions, on a fresh target when the finding lasts; the pcap of one that triggers. */
    const confirm = async (steps: readonly FuzzStep[]): Promise<Uint8Array | undefined> => {
      for (let k = 0; k < CONFIRM_RUNS && alive; k++) {
        if (lasting && !fresh) fresh = alive = await restart();
        const chunks: Uint8Array[] = [];
        const trace = new PcapTrace((chunk) => chunks.push(Uint8Array.from(chunk)));
        if (await triggers(steps, trace)) return Buffer.concat(chunks);
      }
      return undefined;
    };
    let minimal = c;
    const confirmed = alive && (await confirm(c.steps)) !== undefined;
    if (confirmed) {
      const steps = await ddmin(c.steps, (s) => triggers(s), budget);
      // Then the bytes of each PDU left, the last one (usually the offending one) first.
      for (let i = steps.length - 1; i >= 0 && budget.checks > 0; i--) {
        steps[i] = await minimiseStep(
          steps[i]!,
          (bytes) => triggers(steps.map((s, j) => (j === i ? { ...s, bytes } : s))),
          budget,
        );
      }
      minimal = { ...c, steps };
    }
    // The minimised case once more (with a trace for the finding's pcap).
    const pcap = confirmed ? await confirm(minimal.steps) : undefined;
    list.push({
      kind: seen.kind,
      message: seen.message,
      seed,
      iteration,
      case: minimal,
      originalSteps: c.steps.length,
      minimiseChecks: used - budget.checks,
      confirmed,
      reproduced: pcap !== undefined,
      ...(pcap ? { pcap } : {}),
    });
    if (confirmed) counted++;
    return alive;
  };

  let previous: { c: FuzzCase; iteration: number } | undefined;
  /** The target failed a login with no case before it to blame, and was restarted for it. */
  let blameless = false;
  for (let i = 0; i < iterations; i++) {
    if (o.signal?.aborted) {
      stoppedBy = 'aborted';
      break;
    }
    if (o.timeMs !== undefined && Date.now() - started >= o.timeMs) {
      stoppedBy = 'time';
      break;
    }
    if (o.maxPdus !== undefined && pdus >= o.maxPdus) {
      stoppedBy = 'pdus';
      break;
    }
    const caseSeed = iterationSeed(seed, i);
    const rng = new Rng(caseSeed);
    const phase = rng.pick(phases);
    const digests = rng.chance(0.3);
    const reached = await reach(exec(), phase, digests);
    sessions++;
    if (!('probe' in reached)) {
      if (!previous) {
        // No case to blame. At the start the target is unusable; after a finding, the target (just restarted, or
        // the case's own damage) gets one restart before the run gives up on it.
        if (i === 0) throw new ConnectionError(`cannot start fuzzing: ${reached.message}`);
        if (!blameless && (await restart())) {
          blameless = true;
          continue;
        }
        stoppedBy = 'target-down';
        break;
      }
      // The case before left the target unable to accept a connection or a login.
      const alive = await record(previous.c, reached, previous.iteration);
      previous = undefined;
      if (!alive) {
        stoppedBy = 'target-down';
        break;
      }
      if (counted >= maxFindings) {
        stoppedBy = 'findings';
        break;
      }
      continue;
    }
    blameless = false;
    const steps = generate(rng, reached);
    const c: FuzzCase = { phase, digests, seed: caseSeed, steps, marks: reached.marks };
    const seen = await play(exec(), reached, steps);
    pdus += steps.length + 1;
    done = i + 1;
    if (seen) {
      const alive = await record(c, seen, i);
      previous = undefined;
      if (!alive) {
        stoppedBy = 'target-down';
        break;
      }
      if (counted >= maxFindings) {
        stoppedBy = 'findings';
        break;
      }
    } else previous = { c, iteration: i };
    if (o.onProgress && Date.now() - lastProgress >= (o.progressMs ?? 1000)) {
      lastProgress = Date.now();
      o.onProgress(progress());
    }
  }
  return { ...progress(), seed, stoppedBy, list };
}

/** Replays a saved case once (after a fresh-session check); the observation when it triggers anything. */
export async function replayCase(
  target: FuzzTarget,
  c: FuzzCase,
  options: { readonly timeouts?: Partial<FuzzTimeouts>; readonly allowRemote?: boolean } = {},
): Promise<{ readonly observation: Observation | undefined; readonly pcap: Uint8Array }> {
  if (!options.allowRemote && !isLoopbackHost(target.portal.host)) {
    throw new InvalidArgumentError(`refusing to replay against ${target.portal.host}: not a loopback address`);
  }
  const chunks: Uint8Array[] = [];
  const trace = new PcapTrace((chunk) => chunks.push(Uint8Array.from(chunk)));
  const observation = await runCase(
    { target, timeouts: { ...DEFAULT_FUZZ_TIMEOUTS, ...options.timeouts }, trace },
    c,
    true,
  );
  return { observation, pcap: Buffer.concat(chunks) };
}
