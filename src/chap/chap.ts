/**
 * The CHAP module of iscsi-ts (RFC 1994, RFC 7143 §12.1.3), sans-IO: {@link ChapInitiator} for the initiator's
 * login, {@link ChapResponder} for a target, the response function and algorithm table, and the opaque
 * {@link Secret}. Import CHAP from here; the other files of `src/chap/` are its parts.
 * @module
 */
export type { ChapAlgorithmNumber } from './algorithms.js';
export {
  CHAP_ALGORITHMS,
  ChapAlgorithm,
  chapAlgorithmName,
  chapDigestLength,
  chapResponse,
  isChapAlgorithm,
} from './algorithms.js';
export type { RandomSource } from './chap-common.js';
export { CHAP_MIN_SECRET_BYTES, ChallengeLog } from './chap-common.js';
export type { ChapInitiatorOptions } from './chap-initiator.js';
export { ChapInitiator } from './chap-initiator.js';
export type { ChapResponderOptions } from './chap-responder.js';
export { ChapResponder } from './chap-responder.js';
export type { ChapCredentials } from './secret.js';
export { Secret } from './secret.js';
