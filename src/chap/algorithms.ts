/**
 * CHAP hash algorithms (RFC 1994 §4.1, RFC 7143 §12.1.3) and the response computation
 * `Response = H(Identifier || secret || Challenge)`.
 *
 * Algorithm numbers are the values of the IANA "PPP Authentication Algorithms" registry, which `CHAP_A` carries:
 * 5 is CHAP with MD5 (RFC 1994, the only one RFC 7143 §12.1.3 requires); 6 (SHA-1), 7 (SHA-256) and
 * 8 (SHA3-256) were added to that registry by expert review in 2019 for iSCSI, with no RFC of their own, and are
 * what the Linux target (LIO), open-iscsi and libiscsi use. The tgt target uses 7 for SHA-1 instead: offering 7 to
 * it negotiates a different hash than ours (see `ChapInitiatorOptions.algorithms`).
 * @module
 */
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { sha3_256 } from '@noble/hashes/sha3.js';
import { InvalidArgumentError } from '../errors.js';
import type { Secret } from './secret.js';
import { revealSecret } from './secret.js';

/** `CHAP_A` values (IANA PPP Authentication Algorithms) that iscsi-ts implements. */
export const ChapAlgorithm = {
  /** CHAP with MD5 (RFC 1994); RFC 7143 §12.1.3 makes it mandatory to implement and to offer. */
  MD5: 5,
  /** CHAP with SHA-1. */
  SHA1: 6,
  /** CHAP with SHA-256. */
  SHA256: 7,
  /** CHAP with SHA3-256. */
  SHA3_256: 8,
} as const;

/** One of the {@link ChapAlgorithm} numbers. */
export type ChapAlgorithmNumber = (typeof ChapAlgorithm)[keyof typeof ChapAlgorithm];

/** The incremental interface of a `@noble/hashes` hash, as far as CHAP needs it. */
interface HashState {
  update(data: Uint8Array): HashState;
  digest(): Uint8Array;
  destroy(): void;
}

interface AlgorithmInfo {
  readonly name: string;
  readonly digestLength: number;
  readonly create: () => HashState;
}

const ALGORITHMS: ReadonlyMap<number, AlgorithmInfo> = new Map<number, AlgorithmInfo>([
  [ChapAlgorithm.MD5, { name: 'MD5', digestLength: 16, create: () => md5.create() }],
  [ChapAlgorithm.SHA1, { name: 'SHA-1', digestLength: 20, create: () => sha1.create() }],
  [ChapAlgorithm.SHA256, { name: 'SHA-256', digestLength: 32, create: () => sha256.create() }],
  [ChapAlgorithm.SHA3_256, { name: 'SHA3-256', digestLength: 32, create: () => sha3_256.create() }],
]);

/** Every implemented algorithm, strongest first: the default offer of an initiator. */
export const CHAP_ALGORITHMS: readonly ChapAlgorithmNumber[] = [
  ChapAlgorithm.SHA3_256,
  ChapAlgorithm.SHA256,
  ChapAlgorithm.SHA1,
  ChapAlgorithm.MD5,
];

/** Whether `n` is a `CHAP_A` number this module implements. */
export function isChapAlgorithm(n: number): n is ChapAlgorithmNumber {
  return ALGORITHMS.has(n);
}

function info(algorithm: number): AlgorithmInfo {
  const found = ALGORITHMS.get(algorithm);
  if (found === undefined) {
    throw new InvalidArgumentError(`CHAP algorithm ${String(algorithm)} is not one of 5, 6, 7, 8`);
  }
  return found;
}

/** The algorithm's name: `'MD5'`, `'SHA-1'`, `'SHA-256'` or `'SHA3-256'`. Throws for other numbers. */
export function chapAlgorithmName(algorithm: number): string {
  return info(algorithm).name;
}

/** Length in bytes of the algorithm's digest, which is the length of its CHAP_R (16, 20, 32, 32). */
export function chapDigestLength(algorithm: number): number {
  return info(algorithm).digestLength;
}

/**
 * Computes a CHAP response (RFC 1994 §4.1): the hash of the one-octet Identifier, then the secret, then the
 * challenge. The secret is fed to the hash directly, never copied into a joined buffer.
 * @param algorithm - a {@link ChapAlgorithm} number
 * @param id - the CHAP Identifier (CHAP_I), 0..255
 * @param secret - the shared secret of the side that answers
 * @param challenge - the challenge bytes (CHAP_C), at least one (RFC 1994 §4.1: "one or more octets")
 */
export function chapResponse(algorithm: number, id: number, secret: Secret, challenge: Uint8Array): Uint8Array {
  const { create } = info(algorithm);
  if (!Number.isInteger(id) || id < 0 || id > 255) {
    throw new InvalidArgumentError(`CHAP identifier ${String(id)} is not an integer in 0..255`);
  }
  if (challenge.length === 0) throw new InvalidArgumentError('a CHAP challenge needs at least one byte');
  const state = create();
  const digest = state.update(Uint8Array.of(id)).update(revealSecret(secret)).update(challenge).digest();
  state.destroy();
  return digest;
}
