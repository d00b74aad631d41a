/**
 * Pieces shared by the two sides of the iSCSI CHAP exchange (RFC 7143 §12.1.3): reading the `CHAP_*` keys of a
 * login step, fresh identifiers and challenges, the record of issued challenges used against reflection
 * (RFC 7143 §9.2.1), constant-time comparison and the secret-length policy.
 *
 * The exchange itself lives in `ChapInitiator` (`chap-initiator.ts`) and `ChapResponder`
 * (`chap-responder.ts`). Both are sans-IO: they take and return key=value pairs and never touch a socket.
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuthSide } from '../errors.js';
import { AuthError, ErrorCode, InvalidArgumentError, NegotiationError, ProtocolError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { CHAP_BINARY_MAX_BYTES } from '../pdu/text.js';
import { parseBinary, parseNumber, preview } from '../pdu/text-values.js';
import type { ChapAlgorithmNumber } from './algorithms.js';
import { isChapAlgorithm } from './algorithms.js';
import type { ChapCredentials } from './secret.js';
import { Secret } from './secret.js';

/** A source of random bytes: `n` → `n` bytes. The default is `crypto.randomBytes` (a CSPRNG). */
export type RandomSource = (n: number) => Uint8Array;

/** Default shortest secret in bytes: RFC 7143 §9.2.1 asks for 96 bits unless IPsec protects the connection. */
export const CHAP_MIN_SECRET_BYTES = 12;

/** How often a challenge is drawn again when it collides with one to avoid, before the random source is blamed. */
const CHALLENGE_ATTEMPTS = 4;

/** Default bound of a {@link ChallengeLog}. */
const CHALLENGE_LOG_MAX_ENTRIES = 4096;

/** The default {@link RandomSource}. */
export function defaultRandom(n: number): Uint8Array {
  return randomBytes(n);
}

/**
 * The challenges one side has issued, so that a challenge coming back from a peer can be recognised as a
 * reflection (RFC 7143 §9.2.1: a rogue peer replays our challenge on another connection to obtain our response).
 * Share one log between the connections of a session (or of a whole initiator) by passing it to every
 * `ChapInitiator` or `ChapResponder`. It is bounded: past `maxEntries` the oldest entries are dropped.
 * The challenges are kept privately and never printed.
 */
export class ChallengeLog {
  readonly #seen = new Set<string>();
  readonly #maxEntries: number;

  /** @param maxEntries - entries kept before the oldest are dropped (default 4096) */
  constructor(maxEntries = CHALLENGE_LOG_MAX_ENTRIES) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new InvalidArgumentError('ChallengeLog maxEntries must be a positive integer');
    }
    this.#maxEntries = maxEntries;
  }

  /** Number of challenges recorded. */
  get size(): number {
    return this.#seen.size;
  }

  /** Records a challenge this side sent. */
  add(challenge: Uint8Array): void {
    this.#seen.add(key(challenge));
    if (this.#seen.size > this.#maxEntries) {
      const oldest = this.#seen.values().next();
      if (oldest.done !== true) this.#seen.delete(oldest.value);
    }
  }

  /** Whether this side sent `challenge`. */
  has(challenge: Uint8Array): boolean {
    return this.#seen.has(key(challenge));
  }

  toString(): string {
    return `[ChallengeLog ${this.#seen.size} entries]`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function key(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** Draws `n` bytes and checks the source kept its contract. */
export function draw(random: RandomSource, n: number): Uint8Array {
  const bytes = random(n);
  if (!(bytes instanceof Uint8Array) || bytes.length !== n) {
    throw new InvalidArgumentError(`the random source returned something other than ${n} bytes`);
  }
  return bytes;
}

/** A random CHAP Identifier, 0..255 (RFC 1994 §4.1: one octet). */
export function drawIdentifier(random: RandomSource): number {
  return draw(random, 1)[0]!;
}

/**
 * A fresh random challenge of `length` bytes that is neither in `log` nor equal to `avoid` (the peer's
 * challenge: RFC 7143 §9.2.1 forbids answering a challenge with the same challenge). With a CSPRNG a collision
 * is practically impossible; repeated collisions mean a broken random source.
 */
export function drawChallenge(
  random: RandomSource,
  length: number,
  log: ChallengeLog,
  avoid: Uint8Array | undefined,
): Uint8Array {
  for (let attempt = 0; attempt < CHALLENGE_ATTEMPTS; attempt++) {
    const challenge = Uint8Array.from(draw(random, length));
    if (log.has(challenge) || (avoid !== undefined && bytesEqual(challenge, avoid))) continue;
    log.add(challenge);
    return challenge;
  }
  throw new InvalidArgumentError(
    `the random source repeated a CHAP challenge ${CHALLENGE_ATTEMPTS} times in a row; it is not a CSPRNG`,
  );
}

/** Constant-time equality of two byte strings (`crypto.timingSafeEqual`); unequal lengths are simply unequal. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Only the content is secret: digest lengths are public, so the early return leaks nothing.
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * Picks the `CHAP_*` keys of one login step out of `pairs` (other keys, such as operational ones, are left to the
 * caller). A `CHAP_*` key outside `allowed` is a {@link NegotiationError}; a repeated one a {@link ProtocolError}
 * (RFC 7143 §6.3: a key is sent once per negotiation).
 * @param pairs - the key=value pairs of the received Login PDU sequence
 * @param allowed - the `CHAP_*` keys this step may carry
 * @param from - who sent the pairs, for messages
 */
export function readChapKeys(
  pairs: readonly TextPair[],
  allowed: readonly string[],
  from: AuthSide,
): Map<string, string> {
  const found = new Map<string, string>();
  for (const [k, v] of pairs) {
    if (!k.startsWith('CHAP_')) continue;
    if (!allowed.includes(k)) {
      throw new NegotiationError(`the ${from} sent ${k}, which this CHAP step does not allow`, k);
    }
    if (found.has(k)) {
      throw new ProtocolError(ErrorCode.TextDuplicate, `the ${from} sent ${k} twice in one CHAP step`, { got: k });
    }
    found.set(k, v);
  }
  return found;
}

/** The value of a key every valid message of this step carries; a missing one fails the authentication. */
export function required(keys: ReadonlyMap<string, string>, k: string, from: AuthSide, step: string): string {
  const value = keys.get(k);
  if (value === undefined) throw new AuthError(`the ${from} left ${k} out of its ${step}`, from);
  return value;
}

/** Parses CHAP_I (RFC 7143 §12.1.3: a number; RFC 1994 §4.1: one octet), decimal or 0x hex. */
export function parseIdentifier(value: string, from: AuthSide): number {
  return withKey('CHAP_I', from, () => parseNumber(value, { min: 0, max: 255 }));
}

/**
 * Parses CHAP_C or CHAP_R: a binary-value in 0x hex or 0b base64, at most 1024 decoded bytes (RFC 7143 §12.1.3).
 * The length is checked before decoding, and messages never show the value.
 */
export function parseChapBinary(k: 'CHAP_C' | 'CHAP_R', value: string, from: AuthSide): Uint8Array {
  const bytes = withKey(k, from, () => parseBinary(value, CHAP_BINARY_MAX_BYTES));
  // Defensive: the binary-value grammar already needs one digit, and RFC 1994 §4.1 needs at least one byte.
  if (bytes.length === 0) {
    throw new ProtocolError(ErrorCode.TextValue, `${k} from the ${from} is empty`, { got: 0 });
  }
  return bytes;
}

/** Runs a text-value parser and names the key and the sender in its error. */
function withKey<T>(k: string, from: AuthSide, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ProtocolError) {
      throw new ProtocolError(e.code, `${k} from the ${from}: ${e.message}`, {
        got: e.got,
        limit: e.limit,
      });
    }
    throw e;
  }
}

/** Checks that `credentials` is a user name with a {@link Secret} (for callers without type checking). */
export function checkCredentials(credentials: ChapCredentials | undefined, what: string): void {
  if (typeof credentials !== 'object' || credentials === null || !(credentials.secret instanceof Secret)) {
    throw new InvalidArgumentError(`${what} must be { user, secret } with secret made by Secret.from()`);
  }
}

/** Checks a CHAP_N value or a configured user name: RFC 1994 §4.1 names have one or more octets. */
export function checkUserName(user: string, what: string): void {
  if (typeof user !== 'string' || user.length === 0) throw new InvalidArgumentError(`${what} is empty`);
  if (user.includes('\0')) throw new InvalidArgumentError(`${what} contains a NUL character`);
  if (Buffer.byteLength(user, 'utf8') > 255) {
    throw new InvalidArgumentError(`${what} is longer than 255 bytes (RFC 7143 §6.1)`);
  }
}

/** A short, escaped rendering of a (non-secret) user name for messages. */
export function showUser(user: string): string {
  return preview(user, 64);
}

/** How a side reacts to a secret below the length policy. */
export interface SecretPolicy {
  readonly minSecretLength: number;
  readonly refuse: boolean;
  readonly warn: (message: string) => void;
  readonly side: AuthSide;
}

/**
 * Applies the secret-length policy (RFC 7143 §9.2.1: a side SHOULD NOT send a CHAP response with a secret under
 * 96 bits unless IPsec protects the connection). The message names the user and the length, never the secret.
 */
export function checkSecretLength(credentials: ChapCredentials, role: string, policy: SecretPolicy): void {
  const length = credentials.secret.length;
  if (length >= policy.minSecretLength) return;
  const message =
    `the ${role} CHAP secret of user ${showUser(credentials.user)} has ${length} bytes, fewer than ` +
    `${policy.minSecretLength} (RFC 7143 §9.2.1 wants at least 96 random bits unless IPsec protects the connection)`;
  if (policy.refuse) throw new AuthError(message, policy.side);
  policy.warn(message);
}

/** The default warning sink: a Node.js process warning, so a weak configuration is visible without a logger. */
export function defaultWarning(message: string): void {
  process.emitWarning(message, { type: 'IscsiTsWarning', code: 'ISCSI_TS_CHAP' });
}

/** Validates a `minChallengeLength` option: 1..1024 bytes. */
export function checkMinChallengeLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > CHAP_BINARY_MAX_BYTES) {
    throw new InvalidArgumentError(`minChallengeLength must be an integer in 1..${CHAP_BINARY_MAX_BYTES}`);
  }
  return n;
}

/** Validates a `minSecretLength` option: a non-negative integer. */
export function checkMinSecretLength(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('minSecretLength must be an integer ≥ 0');
  return n;
}

/** Validates an `algorithms` option: a non-empty list of implemented `CHAP_A` numbers without repeats. */
export function checkAlgorithms(list: readonly number[]): readonly ChapAlgorithmNumber[] {
  if (list.length === 0) throw new InvalidArgumentError('the CHAP algorithm list is empty');
  const out: ChapAlgorithmNumber[] = [];
  for (const a of list) {
    if (!isChapAlgorithm(a)) throw new InvalidArgumentError(`CHAP algorithm ${String(a)} is not one of 5, 6, 7, 8`);
    if (out.includes(a)) throw new InvalidArgumentError(`CHAP algorithm ${a} is listed twice`);
    out.push(a);
  }
  return out;
}

/** The error for a CHAP object used out of order (a programming error, not a peer's). */
export function misuse(owner: string, firstStep: string, method: string, state: string): InvalidArgumentError {
  if (state === 'failed') return new InvalidArgumentError(`${owner}.${method}() after the exchange failed`);
  if (state === 'start') return new InvalidArgumentError(`${owner}.${method}() before ${firstStep}()`);
  return new InvalidArgumentError(`${owner}.${method}() was already called`);
}
