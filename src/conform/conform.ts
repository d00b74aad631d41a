/**
 * The conformance runner of iscsi-ts: the case model, the probe, the built-in cases, the runner and its
 * reporters. Import conformance testing from here.
 * @module
 */
export { builtinCases } from './cases/index.js';
export { describePdu } from './describe.js';
export { toJunitXml } from './junit.js';
export type { ProbeOptions, Received } from './probe.js';
export { Probe } from './probe.js';
export { formatSummary, toJson } from './report.js';
export type { CaseResult, ConformReport, RunOptions, Totals } from './runner.js';
export { runConformance, totals } from './runner.js';
export type {
  CaseContext,
  ConformCase,
  ConformChap,
  ConformTarget,
  ConformTimeouts,
  Evidence,
  Strength,
  Verdict,
  VerdictStatus,
} from './types.js';
