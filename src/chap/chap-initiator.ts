/**
 * The initiator's side of iSCSI CHAP (RFC 7143 §12.1.3, RFC 1994), sans-IO:
 *
 * 1. {@link ChapInitiator.offer} → `CHAP_A=<A1,A2,…>`
 * 2. {@link ChapInitiator.respond} with the target's `CHAP_A`, `CHAP_I`, `CHAP_C` → `CHAP_N`, `CHAP_R`, and for
 *    mutual CHAP also our `CHAP_I`, `CHAP_C`
 * 3. mutual CHAP only: {@link ChapInitiator.verify} with the target's `CHAP_N`, `CHAP_R`.
 *
 * Errors: {@link AuthError} (side `'target'` when the target misbehaved or failed to authenticate, `'initiator'`
 * when our own configuration is at fault), {@link ProtocolError} for malformed or repeated keys,
 * {@link NegotiationError} for a `CHAP_*` key that does not belong to the step, {@link InvalidArgumentError} for
 * bad options or calls out of order. No message contains a secret, a challenge or a response.
 * @module
 */
import { AuthError, type InvalidArgumentError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { formatBinary, isReservedValue, parseNumber, preview } from '../pdu/text-values.js';
import type { ChapAlgorithmNumber } from './algorithms.js';
import { CHAP_ALGORITHMS, ChapAlgorithm, chapAlgorithmName, chapDigestLength, chapResponse } from './algorithms.js';
import type { RandomSource } from './chap-common.js';
import {
  bytesEqual,
  CHAP_MIN_SECRET_BYTES,
  ChallengeLog,
  checkAlgorithms,
  checkCredentials,
  checkMinChallengeLength,
  checkMinSecretLength,
  checkSecretLength,
  checkUserName,
  defaultRandom,
  defaultWarning,
  drawChallenge,
  drawIdentifier,
  misuse,
  parseChapBinary,
  parseIdentifier,
  readChapKeys,
  required,
  showUser,
} from './chap-common.js';
import type { ChapCredentials } from './secret.js';

/** Options of a {@link ChapInitiator}. */
export interface ChapInitiatorOptions {
  /** Our user name (CHAP_N) and secret. */
  readonly credentials: ChapCredentials;
  /** The target's expected user name and secret: given, the initiator asks for mutual CHAP. */
  readonly targetCredentials?: ChapCredentials;
  /**
   * `CHAP_A` numbers to offer, in order of preference (default `[8, 7, 6, 5]`: strongest first, MD5 last).
   * RFC 7143 §12.1.3 says initiators MUST offer 5 (MD5); leaving it out draws a warning.
   * The tgt target reads 7 as SHA-1, unlike LIO, open-iscsi and libiscsi (SHA-256): against tgt offer `[5]` or
   * `[8, 6, 5]`, which it answers with 5.
   */
  readonly algorithms?: readonly number[];
  /** Shortest acceptable secret in bytes (default 12: RFC 7143 §9.2.1's 96 bits). */
  readonly minSecretLength?: number;
  /** Refuse (AuthError at construction) instead of warning about secrets shorter than `minSecretLength`. */
  readonly refuseShortSecrets?: boolean;
  /**
   * Shortest target challenge (CHAP_C) accepted, in bytes (default 1: RFC 1994 §4.1 allows any non-empty
   * challenge and RFC 7143 sets no minimum). Raise it to refuse targets with weak challenges.
   */
  readonly minChallengeLength?: number;
  /**
   * Challenges this initiator has sent, shared across connections to catch a target reflecting one of them
   * (RFC 7143 §9.2.1). Default: a log private to this instance.
   */
  readonly challengeLog?: ChallengeLog;
  /** Random bytes for CHAP_I and CHAP_C (default `crypto.randomBytes`); tests inject their own. */
  readonly random?: RandomSource;
  /** Receives configuration warnings (never containing a secret). Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void;
}

/** What the initiator expects back from the target in mutual CHAP. */
interface PendingTargetCheck {
  readonly algorithm: ChapAlgorithmNumber;
  readonly id: number;
  readonly challenge: Uint8Array;
}

/** The initiator's half of a CHAP exchange; one instance per login. */
export class ChapInitiator {
  readonly #credentials: ChapCredentials;
  readonly #target: ChapCredentials | undefined;
  readonly #algorithms: readonly ChapAlgorithmNumber[];
  readonly #minChallengeLength: number;
  readonly #log: ChallengeLog;
  readonly #random: RandomSource;
  #chosen: ChapAlgorithmNumber | undefined;
  #pending: PendingTargetCheck | undefined;
  #state: 'start' | 'responded' | 'verified' | 'failed' = 'start';

  constructor(options: ChapInitiatorOptions) {
    const { credentials, targetCredentials } = options;
    checkCredentials(credentials, 'credentials');
    if (targetCredentials !== undefined) checkCredentials(targetCredentials, 'targetCredentials');
    checkUserName(credentials.user, 'the initiator CHAP user name');
    if (targetCredentials !== undefined) {
      checkUserName(targetCredentials.user, 'the target CHAP user name');
      // RFC 7143 §9.2.1: a secret used to authenticate the initiator MUST NOT also authenticate a target.
      if (targetCredentials.secret.equals(credentials.secret)) {
        throw new AuthError(
          'the initiator and target CHAP secrets are identical; RFC 7143 §9.2.1 requires different secrets for ' +
            'the two directions',
          'initiator',
        );
      }
    }
    const warn = options.onWarning ?? defaultWarning;
    const policy = {
      minSecretLength: checkMinSecretLength(options.minSecretLength ?? CHAP_MIN_SECRET_BYTES),
      refuse: options.refuseShortSecrets === true,
      warn,
      side: 'initiator' as const,
    };
    checkSecretLength(credentials, 'initiator', policy);
    if (targetCredentials !== undefined) checkSecretLength(targetCredentials, 'target', policy);
    this.#algorithms = checkAlgorithms(options.algorithms ?? CHAP_ALGORITHMS);
    if (!this.#algorithms.includes(ChapAlgorithm.MD5)) {
      warn('the CHAP_A offer leaves out 5 (MD5), which RFC 7143 §12.1.3 requires initiators to offer');
    }
    this.#credentials = credentials;
    this.#target = targetCredentials;
    this.#minChallengeLength = checkMinChallengeLength(options.minChallengeLength ?? 1);
    this.#log = options.challengeLog ?? new ChallengeLog();
    this.#random = options.random ?? defaultRandom;
  }

  /** The algorithm the target chose, once {@link ChapInitiator.respond} has accepted it. */
  get chosenAlgorithm(): ChapAlgorithmNumber | undefined {
    return this.#chosen;
  }

  /** Whether this initiator asks the target to authenticate itself (mutual CHAP). */
  get mutual(): boolean {
    return this.#target !== undefined;
  }

  /** Whether the exchange is complete: responded (one-way) or the target verified (mutual). */
  get done(): boolean {
    return this.#state === 'verified' || (this.#state === 'responded' && this.#target === undefined);
  }

  /** The first CHAP step: `[['CHAP_A', '8,7,6,5']]` (RFC 7143 §12.1.3: algorithms in order of preference). */
  offer(): TextPair[] {
    return [['CHAP_A', this.#algorithms.join(',')]];
  }

  /**
   * Answers the target's challenge (RFC 7143 §12.1.3). `pairs` must hold the target's CHAP_A (one value from our
   * offer), CHAP_I (0..255) and CHAP_C (0x hex or 0b base64, 1..1024 bytes); other non-CHAP keys are ignored.
   * Returns CHAP_N and CHAP_R (lower-case hex), plus CHAP_I and CHAP_C for mutual CHAP.
   */
  respond(pairs: readonly TextPair[]): TextPair[] {
    if (this.#state !== 'start') throw this.#misuse('respond');
    // One attempt per login: any failure below leaves the instance failed.
    this.#state = 'failed';
    const keys = readChapKeys(pairs, ['CHAP_A', 'CHAP_I', 'CHAP_C'], 'target');
    const step = 'CHAP challenge';
    const algorithm = this.#acceptAlgorithm(required(keys, 'CHAP_A', 'target', step));
    const id = parseIdentifier(required(keys, 'CHAP_I', 'target', step), 'target');
    const challenge = parseChapBinary('CHAP_C', required(keys, 'CHAP_C', 'target', step), 'target');
    if (challenge.length < this.#minChallengeLength) {
      throw new AuthError(
        `the target's CHAP challenge has ${challenge.length} bytes, fewer than the ${this.#minChallengeLength} required`,
        'target',
      );
    }
    // RFC 7143 §9.2.1: a target that sends back a challenge we issued (on this or another connection) is
    // trying to obtain our response to it.
    if (this.#log.has(challenge)) {
      throw new AuthError(
        'the target sent a CHAP challenge that this initiator issued itself (reflection, RFC 7143 §9.2.1)',
        'target',
      );
    }
    this.#chosen = algorithm;
    const response = chapResponse(algorithm, id, this.#credentials.secret, challenge);
    const out: TextPair[] = [
      ['CHAP_N', this.#credentials.user],
      ['CHAP_R', formatBinary(response, 'hex')],
    ];
    if (this.#target !== undefined) {
      // RFC 7143 §12.1.3 leaves the challenge length open and RFC 1994 §4.1 makes it independent of the hash;
      // like LIO we use the digest length, a fresh CSPRNG value never equal to the target's own challenge.
      const ourId = drawIdentifier(this.#random);
      const ourChallenge = drawChallenge(this.#random, chapDigestLength(algorithm), this.#log, challenge);
      this.#pending = { algorithm, id: ourId, challenge: ourChallenge };
      out.push(['CHAP_I', String(ourId)], ['CHAP_C', formatBinary(ourChallenge, 'hex')]);
    }
    this.#state = 'responded';
    return out;
  }

  /**
   * Checks the target's answer in mutual CHAP: CHAP_N must be the expected target user and CHAP_R the response to
   * our challenge under the target secret (compared in constant time). In one-way CHAP the target must not send
   * CHAP_N/CHAP_R and this only checks that. Throws {@link AuthError} with side `'target'` when the target fails.
   */
  verify(pairs: readonly TextPair[]): void {
    if (this.#state !== 'responded') throw this.#misuse('verify');
    this.#state = 'failed';
    const target = this.#target;
    const pending = this.#pending;
    if (target === undefined || pending === undefined) {
      readChapKeys(pairs, [], 'target');
      this.#state = 'verified';
      return;
    }
    const keys = readChapKeys(pairs, ['CHAP_N', 'CHAP_R'], 'target');
    const step = 'mutual CHAP answer';
    const name = required(keys, 'CHAP_N', 'target', step);
    const received = parseChapBinary('CHAP_R', required(keys, 'CHAP_R', 'target', step), 'target');
    if (name !== target.user) {
      throw new AuthError(
        `the target's CHAP_N ${showUser(name)} is not the expected target user ${showUser(target.user)}`,
        'target',
      );
    }
    const { algorithm, id, challenge } = pending;
    const digestLength = chapDigestLength(algorithm);
    if (received.length !== digestLength) {
      // tgt numbers SHA-1 as 7: a 20-byte answer to CHAP_A=7 is that mismatch, not a wrong secret.
      const hint =
        algorithm === ChapAlgorithm.SHA256 && received.length === 20
          ? '; a 20-byte answer to CHAP_A=7 means the target takes 7 for SHA-1 (as tgt does): offer 5 or 8,6,5 to it'
          : '';
      throw new AuthError(
        `the target's CHAP_R has ${received.length} bytes, but ${chapAlgorithmName(algorithm)} responses have ` +
          `${digestLength}${hint}`,
        'target',
      );
    }
    // RFC 7143 §9.2.1: an answer computed with our own secret means one secret serves both directions.
    if (bytesEqual(received, chapResponse(algorithm, id, this.#credentials.secret, challenge))) {
      throw new AuthError(
        "the target's CHAP response was computed with the initiator's own secret (RFC 7143 §9.2.1 forbids one " +
          'secret for both directions)',
        'target',
      );
    }
    if (!bytesEqual(received, chapResponse(algorithm, id, target.secret, challenge))) {
      throw new AuthError("the target's CHAP response did not verify: wrong target secret?", 'target');
    }
    this.#pending = undefined;
    this.#state = 'verified';
  }

  /** Reads the target's CHAP_A answer: exactly one number, and one we offered (RFC 7143 §12.1.3). */
  #acceptAlgorithm(value: string): ChapAlgorithmNumber {
    if (isReservedValue(value)) {
      throw new AuthError(
        `the target answered CHAP_A=${value}: none of ${this.#algorithms.join(',')} is acceptable`,
        'target',
      );
    }
    if (value.includes(',')) {
      throw new AuthError('the target answered CHAP_A with a list; it must choose one algorithm', 'target');
    }
    let n: number;
    try {
      n = parseNumber(value, { min: 0, max: 255 });
    } catch {
      throw new AuthError(`the target's CHAP_A ${preview(value, 16)} is not an algorithm number`, 'target');
    }
    const offered = this.#algorithms.find((a) => a === n);
    if (offered === undefined) {
      throw new AuthError(
        `the target chose CHAP algorithm ${n}, which was not offered (offer: ${this.#algorithms.join(',')})`,
        'target',
      );
    }
    return offered;
  }

  #misuse(method: string): InvalidArgumentError {
    return misuse('ChapInitiator', 'respond', method, this.#state);
  }

  toString(): string {
    return `[ChapInitiator ${this.#state}]`;
  }

  toJSON(): string {
    return this.toString();
  }
}
