/**
 * The stateful target fuzzer behind `iscsi-ts fuzz`: public entry points.
 * @module
 */

export { FINDING_FORMAT, type FuzzFinding, findingFromJson, findingToJson, type SavedFinding } from './finding.js';
export {
  type FuzzOptions,
  type FuzzProgress,
  type FuzzReport,
  type FuzzStop,
  fuzz,
  isLoopbackHost,
  replayCase,
} from './fuzzer.js';
export { type Budget, ddmin, minimiseStep } from './minimise.js';
export { iterationSeed, Rng } from './rng.js';
export {
  DEFAULT_FUZZ_TIMEOUTS,
  type FindingKind,
  FUZZ_PHASES,
  type FuzzCase,
  type FuzzPhase,
  type FuzzStep,
  type FuzzTarget,
  type FuzzTimeouts,
  type Observation,
  type SessionMarks,
} from './types.js';
