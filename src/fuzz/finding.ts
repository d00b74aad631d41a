/**
 * A finding on disk: JSON with the phase, the seeds and every step's bytes in hex (enough to replay it without
 * the generator), next to a pcap of the minimised case.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import {
  type FindingKind,
  FUZZ_PHASES,
  type FuzzCase,
  type FuzzPhase,
  type FuzzStep,
  type SessionMarks,
} from './types.js';

/** The `format` of a saved finding. */
export const FINDING_FORMAT = 'iscsi-ts-fuzz-finding/1';

/** A finding of a fuzz run. */
export interface FuzzFinding {
  readonly kind: FindingKind;
  readonly message: string;
  /** The run's seed and the iteration that found it. */
  readonly seed: number;
  readonly iteration: number;
  /** The minimised case (the original when it was not confirmed). */
  readonly case: FuzzCase;
  /** Steps before minimisation. */
  readonly originalSteps: number;
  /** Checks (whole sessions) the minimisation took. */
  readonly minimiseChecks: number;
  /**
   * The original case triggered it again, in one of three sessions (for a crash or a target that no longer took
   * logins, each on a freshly restarted target). An unconfirmed finding is real misbehaviour whose cause may lie before its case (a heap damaged
   * earlier, a timer), or the target could not be restarted to check: it is kept unminimised and does not count
   * toward `maxFindings`.
   */
  readonly confirmed: boolean;
  /** The minimised case triggered it again, in one of three sessions (the one whose pcap is kept). */
  readonly reproduced: boolean;
  /** pcap of that session. */
  readonly pcap?: Uint8Array;
}

interface StepJson {
  hex: string;
  note: string;
  chunks?: number[];
  delayMs?: number;
  desync?: boolean;
  headerDigest?: boolean;
}

/** The JSON of a finding; `replay` is the command line that runs it again. */
export function findingToJson(f: FuzzFinding, replay: string, target: string): string {
  const steps: StepJson[] = f.case.steps.map((s) => ({
    hex: Buffer.from(s.bytes).toString('hex'),
    note: s.note,
    ...(s.chunks ? { chunks: [...s.chunks] } : {}),
    ...(s.delayMs ? { delayMs: s.delayMs } : {}),
    ...(s.desync ? { desync: true } : {}),
    ...(s.headerDigest ? { headerDigest: true } : {}),
  }));
  const doc = {
    format: FINDING_FORMAT,
    kind: f.kind,
    message: f.message,
    target,
    phase: f.case.phase,
    digests: f.case.digests,
    seed: f.seed,
    iteration: f.iteration,
    caseSeed: f.case.seed,
    ...(f.case.marks ? { marks: f.case.marks } : {}),
    originalSteps: f.originalSteps,
    confirmed: f.confirmed,
    reproduced: f.reproduced,
    steps,
    replay,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** What a saved finding holds. */
export interface SavedFinding {
  readonly kind: FindingKind;
  readonly message: string;
  readonly seed: number;
  readonly iteration: number;
  readonly case: FuzzCase;
}

const KINDS: readonly FindingKind[] = ['refused', 'hang', 'invalid-pdu', 'unknown-itt', 'bad-datasn', 'login-broken'];

function bad(what: string): never {
  throw new InvalidArgumentError(`not a fuzz finding: ${what}`);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Parses a saved finding (validated: hex steps, a known phase and kind). */
export function findingFromJson(text: string): SavedFinding {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return bad('invalid JSON');
  }
  if (doc.format !== FINDING_FORMAT) bad(`format is not ${FINDING_FORMAT}`);
  const phase = doc.phase as FuzzPhase;
  if (!FUZZ_PHASES.includes(phase)) bad('unknown phase');
  const kind = doc.kind as FindingKind;
  if (!KINDS.includes(kind)) bad('unknown kind');
  if (!Array.isArray(doc.steps)) bad('no steps');
  const steps = (doc.steps as StepJson[]).map((s): FuzzStep => {
    if (typeof s.hex !== 'string' || !/^(?:[0-9a-f]{2})*$/i.test(s.hex)) bad('a step is not hex');
    const bytes = Uint8Array.from(Buffer.from(s.hex, 'hex'));
    if (s.chunks !== undefined && (!Array.isArray(s.chunks) || s.chunks.reduce((a, b) => a + b, 0) !== bytes.length)) {
      bad('chunks do not add up to the step');
    }
    return {
      bytes,
      note: typeof s.note === 'string' ? s.note : '',
      ...(s.chunks ? { chunks: s.chunks } : {}),
      ...(isInt(s.delayMs) ? { delayMs: Math.min(s.delayMs, 1000) } : {}),
      ...(s.desync ? { desync: true } : {}),
      ...(s.headerDigest ? { headerDigest: true } : {}),
    };
  });
  const m = doc.marks as Partial<SessionMarks> | undefined;
  const marks =
    m && isInt(m.cmdSN) && isInt(m.expStatSN)
      ? { cmdSN: m.cmdSN, expStatSN: m.expStatSN, ...(isInt(m.ttt) ? { ttt: m.ttt } : {}) }
      : undefined;
  return {
    kind,
    message: typeof doc.message === 'string' ? doc.message : '',
    seed: isInt(doc.seed) ? doc.seed : 0,
    iteration: isInt(doc.iteration) ? doc.iteration : 0,
    case: {
      phase,
      digests: doc.digests === true,
      seed: isInt(doc.caseSeed) ? doc.caseSeed : 0,
      steps,
      ...(marks ? { marks } : {}),
    },
  };
}
