/**
 * The target's side of iSCSI CHAP (RFC 7143 §12.1.3, RFC 1994), sans-IO:
 *
 * 1. {@link ChapResponder.challenge} with the initiator's `CHAP_A` list → `CHAP_A`, `CHAP_I`, `CHAP_C`
 * 2. {@link ChapResponder.check} with the initiator's `CHAP_N`, `CHAP_R` (and `CHAP_I`, `CHAP_C` when the
 *    initiator asks for mutual CHAP) → `[]`, or the target's `CHAP_N`, `CHAP_R`.
 *
 * Errors: {@link AuthError} with side `'initiator'` when the initiator fails to authenticate or misbehaves, side
 * `'target'` when the target's own configuration is at fault; {@link ProtocolError} / {@link NegotiationError} for
 * malformed, repeated or misplaced keys. A login machine answers all of them with a Login reject (RFC 7143
 * §12.1.3: "Authentication Failure" when the initiator fails to authenticate). No message contains a secret, a
 * challenge or a response.
 * @module
 */
import { AuthError, InvalidArgumentError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { formatBinary, parseList, parseNumber, preview } from '../pdu/text-values.js';
import type { ChapAlgorithmNumber } from './algorithms.js';
import { CHAP_ALGORITHMS, chapAlgorithmName, chapDigestLength, chapResponse } from './algorithms.js';
import type { RandomSource, SecretPolicy } from './chap-common.js';
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
  draw,
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
import { Secret } from './secret.js';

/** Options of a {@link ChapResponder}. */
export interface ChapResponderOptions {
  /** The secret of an initiator user name (CHAP_N), or `undefined` for an unknown user. */
  readonly lookup: (user: string) => Secret | undefined;
  /**
   * The `CHAP_A` numbers this target accepts (default all four: 8, 7, 6, 5). The choice follows the initiator's
   * order (RFC 7143 §6.2: the first offered value the responder supports), so only membership matters here.
   */
  readonly algorithms?: readonly number[];
  /** The target's own user name and secret, needed to answer an initiator that asks for mutual CHAP. */
  readonly targetCredentials?: ChapCredentials;
  /** Random bytes for CHAP_I and CHAP_C (default `crypto.randomBytes`); tests inject their own. */
  readonly random?: RandomSource;
  /**
   * Shortest initiator challenge (mutual CHAP) accepted, in bytes (default 1: RFC 1994 §4.1 allows any
   * non-empty challenge and RFC 7143 sets no minimum).
   */
  readonly minChallengeLength?: number;
  /** Shortest acceptable secret in bytes (default 12: RFC 7143 §9.2.1's 96 bits). */
  readonly minSecretLength?: number;
  /** Refuse (AuthError) instead of warning about secrets shorter than `minSecretLength`. */
  readonly refuseShortSecrets?: boolean;
  /** Challenges this target has sent, shared across connections to catch reflections (RFC 7143 §9.2.1). */
  readonly challengeLog?: ChallengeLog;
  /** Receives configuration warnings (never containing a secret). Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void;
}

/** The challenge this target sent, kept until the initiator answers it. */
interface SentChallenge {
  readonly algorithm: ChapAlgorithmNumber;
  readonly id: number;
  readonly challenge: Uint8Array;
}

/** The target's half of a CHAP exchange; one instance per login. */
export class ChapResponder {
  readonly #lookup: (user: string) => Secret | undefined;
  readonly #algorithms: readonly ChapAlgorithmNumber[];
  readonly #target: ChapCredentials | undefined;
  readonly #random: RandomSource;
  readonly #minChallengeLength: number;
  readonly #log: ChallengeLog;
  readonly #initiatorPolicy: SecretPolicy;
  #sent: SentChallenge | undefined;
  #user: string | undefined;
  #mutual = false;
  #state: 'start' | 'challenged' | 'checked' | 'failed' = 'start';

  constructor(options: ChapResponderOptions) {
    if (typeof options.lookup !== 'function') throw new InvalidArgumentError('ChapResponder needs a lookup function');
    const warn = options.onWarning ?? defaultWarning;
    const minSecretLength = checkMinSecretLength(options.minSecretLength ?? CHAP_MIN_SECRET_BYTES);
    const refuse = options.refuseShortSecrets === true;
    this.#initiatorPolicy = { minSecretLength, refuse, warn, side: 'initiator' };
    if (options.targetCredentials !== undefined) {
      checkCredentials(options.targetCredentials, 'targetCredentials');
      checkUserName(options.targetCredentials.user, 'the target CHAP user name');
      checkSecretLength(options.targetCredentials, 'target', { minSecretLength, refuse, warn, side: 'target' });
    }
    this.#lookup = options.lookup;
    this.#algorithms = checkAlgorithms(options.algorithms ?? CHAP_ALGORITHMS);
    this.#target = options.targetCredentials;
    this.#random = options.random ?? defaultRandom;
    this.#minChallengeLength = checkMinChallengeLength(options.minChallengeLength ?? 1);
    this.#log = options.challengeLog ?? new ChallengeLog();
  }

  /** The algorithm chosen by {@link ChapResponder.challenge}. */
  get chosenAlgorithm(): ChapAlgorithmNumber | undefined {
    return this.#sent?.algorithm;
  }

  /** The initiator's user name, once {@link ChapResponder.check} has authenticated it. */
  get user(): string | undefined {
    return this.#user;
  }

  /** Whether the initiator asked for (and got) mutual CHAP; meaningful after {@link ChapResponder.check}. */
  get mutual(): boolean {
    return this.#mutual;
  }

  /** Whether {@link ChapResponder.check} has authenticated the initiator. */
  get done(): boolean {
    return this.#state === 'checked';
  }

  /**
   * Answers the initiator's `CHAP_A` offer (RFC 7143 §12.1.3): picks the first offered algorithm this target
   * supports (RFC 7143 §6.2), and returns it with a random CHAP_I and a fresh random CHAP_C whose length is the
   * digest length (RFC 7143 sets none; RFC 1994 §4.1 makes it independent of the hash; LIO does the same).
   * Offered values that are not numbers are skipped. No acceptable algorithm → {@link AuthError}.
   * @param offer - the value of the initiator's CHAP_A key
   */
  challenge(offer: string): TextPair[] {
    if (this.#state !== 'start') throw this.#misuse('challenge');
    this.#state = 'failed';
    const algorithm = this.#select(offer);
    const id = drawIdentifier(this.#random);
    const challenge = drawChallenge(this.#random, chapDigestLength(algorithm), this.#log, undefined);
    this.#sent = { algorithm, id, challenge };
    this.#state = 'challenged';
    return [
      ['CHAP_A', String(algorithm)],
      ['CHAP_I', String(id)],
      ['CHAP_C', formatBinary(challenge, 'hex')],
    ];
  }

  /**
   * Checks the initiator's CHAP_N and CHAP_R (constant-time compare). When the initiator also sent CHAP_I and
   * CHAP_C (mutual CHAP), refuses a reflected challenge and returns the target's CHAP_N and CHAP_R; otherwise
   * returns `[]`. Non-CHAP keys in `pairs` are ignored.
   */
  check(pairs: readonly TextPair[]): TextPair[] {
    const sent = this.#sent;
    if (this.#state !== 'challenged' || sent === undefined) throw this.#misuse('check');
    // One attempt per login: any failure below leaves the instance failed.
    this.#state = 'failed';
    const keys = readChapKeys(pairs, ['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C'], 'initiator');
    const step = 'CHAP response';
    const name = required(keys, 'CHAP_N', 'initiator', step);
    const received = parseChapBinary('CHAP_R', required(keys, 'CHAP_R', 'initiator', step), 'initiator');
    const theirIdText = keys.get('CHAP_I');
    const theirChallengeText = keys.get('CHAP_C');
    if ((theirIdText === undefined) !== (theirChallengeText === undefined)) {
      throw new AuthError('the initiator sent only one of CHAP_I and CHAP_C; mutual CHAP needs both', 'initiator');
    }
    const mutual =
      theirIdText !== undefined && theirChallengeText !== undefined
        ? {
            id: parseIdentifier(theirIdText, 'initiator'),
            challenge: parseChapBinary('CHAP_C', theirChallengeText, 'initiator'),
          }
        : undefined;
    this.#authenticate(name, received, sent);
    if (mutual === undefined) return this.#succeed(name, false, []);

    const target = this.#target;
    if (target === undefined) {
      throw new AuthError('the initiator asked for mutual CHAP, but no target credentials are configured', 'target');
    }
    if (mutual.challenge.length < this.#minChallengeLength) {
      throw new AuthError(
        `the initiator's CHAP challenge has ${mutual.challenge.length} bytes, fewer than the ` +
          `${this.#minChallengeLength} required`,
        'initiator',
      );
    }
    // RFC 7143 §9.2.1: the originator must not reuse the responder's challenge for the other direction, and the
    // responder must check for it. The log also catches challenges this target sent on other connections.
    if (bytesEqual(mutual.challenge, sent.challenge) || this.#log.has(mutual.challenge)) {
      throw new AuthError(
        "the initiator sent back the target's own CHAP challenge (reflection, RFC 7143 §9.2.1)",
        'initiator',
      );
    }
    const response = chapResponse(sent.algorithm, mutual.id, target.secret, mutual.challenge);
    return this.#succeed(name, true, [
      ['CHAP_N', target.user],
      ['CHAP_R', formatBinary(response, 'hex')],
    ]);
  }

  #succeed(user: string, mutual: boolean, answer: TextPair[]): TextPair[] {
    this.#user = user;
    this.#mutual = mutual;
    this.#state = 'checked';
    return answer;
  }

  /** Verifies the initiator's response to our challenge; throws {@link AuthError} on any failure. */
  #authenticate(name: string, received: Uint8Array, sent: SentChallenge): void {
    const { algorithm, id, challenge } = sent;
    const secret = name.length > 0 ? this.#lookup(name) : undefined;
    if (secret === undefined) {
      // Spend the same work as for a known user, so that timing does not reveal which names exist.
      bytesEqual(received, chapResponse(algorithm, id, Secret.from(draw(this.#random, 16)), challenge));
      throw new AuthError(`unknown CHAP user ${showUser(name)}`, 'initiator');
    }
    const target = this.#target;
    // RFC 7143 §9.2.1: a secret that authenticates an initiator MUST NOT also authenticate a target.
    if (target !== undefined && secret.equals(target.secret)) {
      throw new AuthError(
        `the CHAP secret of user ${showUser(name)} equals the target's own secret; RFC 7143 §9.2.1 requires ` +
          'different secrets for the two directions',
        'target',
      );
    }
    checkSecretLength({ user: name, secret }, 'initiator', this.#initiatorPolicy);
    const digestLength = chapDigestLength(algorithm);
    if (received.length !== digestLength) {
      throw new AuthError(
        `the CHAP_R of user ${showUser(name)} has ${received.length} bytes, but ${chapAlgorithmName(algorithm)} ` +
          `responses have ${digestLength}`,
        'initiator',
      );
    }
    // RFC 7143 §9.2.1: a response equal to the one this side would compute with its own secret is a failure.
    if (target !== undefined && bytesEqual(received, chapResponse(algorithm, id, target.secret, challenge))) {
      throw new AuthError(
        `the CHAP response of user ${showUser(name)} was computed with the target's own secret (RFC 7143 §9.2.1)`,
        'initiator',
      );
    }
    if (!bytesEqual(received, chapResponse(algorithm, id, secret, challenge))) {
      throw new AuthError(`the CHAP response of user ${showUser(name)} did not verify: wrong secret?`, 'initiator');
    }
  }

  /** The first algorithm of the offer that this target supports (RFC 7143 §6.2, §12.1.3). */
  #select(offer: string): ChapAlgorithmNumber {
    for (const item of parseList(offer)) {
      let n: number;
      try {
        n = parseNumber(item, { min: 0, max: 255 });
      } catch {
        continue;
      }
      const supported = this.#algorithms.find((a) => a === n);
      if (supported !== undefined) return supported;
    }
    throw new AuthError(
      `none of the offered CHAP algorithms ${preview(offer, 64)} is accepted (accepted: ${this.#algorithms.join(',')})`,
      'initiator',
    );
  }

  #misuse(method: string): InvalidArgumentError {
    return misuse('ChapResponder', 'challenge', method, this.#state);
  }

  toString(): string {
    return `[ChapResponder ${this.#state}]`;
  }

  toJSON(): string {
    return this.toString();
  }
}
