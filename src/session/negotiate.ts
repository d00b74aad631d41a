/**
 * Login and Text key negotiation (RFC 7143 §6.2, §6.3, §13) as a pure, sans-IO state machine, used by the
 * initiator and the target alike. It reads the key table of `keys.ts` and never touches a socket: the login
 * machine feeds it the pairs of each Login or Text PDU and sends what it returns.
 *
 * Reserved answers (§6.2), as handled here:
 * - `Reject` to one of our offers leaves the key at its current value (the default). If that value is not
 *   acceptable under our offer (e.g. we offered only CRC32C), the negotiation fails, as §6.2 allows.
 * - `Irrelevant` leaves the current value too; at {@link Negotiator.result} time it must be acceptable unless the
 *   key really is irrelevant (any key of a discovery session, or FirstBurstLength with InitialR2T=Yes and
 *   ImmediateData=No).
 * - `NotUnderstood` fails for every RFC 7143 key (§6.2: they "MUST NOT be answered with NotUnderstood"), except
 *   TaskReporting and iSCSIProtocolLevel, which RFC 3720 peers do not know: those keep the default.
 * - Proposing any of the three is a protocol error; unknown keys, including X- and X# extension keys, are
 *   answered NotUnderstood.
 *
 * Answers that §6.2.2 makes optional (a Boolean AND key offered No, an OR key offered Yes) are left out, and so are
 * answers to IFMarker=No and OFMarker=No (§13.25 otherwise asks for Reject): the offer alone decides the outcome,
 * and a target such as tgtd puts these offers in its final Login Response, after which nothing can be answered.
 * @module
 */

import { InvalidArgumentError } from '../errors.js';
import type { TextPair } from '../pdu/text.js';
import { isValidKeyName } from '../pdu/text.js';
import { isReservedValue, preview, ReservedValue } from '../pdu/text-values.js';
import { isAuthenticationKey, KEYS, type KeyDefinition, keyDefinition } from './keys.js';
import { validateLocalOffer, validateOfferKeys } from './negotiate-local.js';
import { checkParameters, type NegotiationRole, type NegotiationStage, placementError } from './negotiate-rules.js';
import {
  acceptable,
  answerOptional,
  defaultOutcome,
  formatOffer,
  formatOutcome,
  isNegotiable,
  isOptionalKey,
  localOffer,
  type NegotiableKey,
  negotiationError,
  type Offer,
  OUT_OF_RANGE,
  type Outcome,
  parseAnswer,
  parseDeclaredNumber,
  parseOffer,
  select,
} from './negotiate-values.js';
import {
  DEFAULT_LOCAL_OFFER,
  DEFAULT_PARAMETERS,
  type LocalOffer,
  type NegotiatedParameters,
  type SessionType,
} from './params.js';

export type { NegotiationRole, NegotiationStage } from './negotiate-rules.js';
export type { LocalOffer, NegotiatedParameters } from './params.js';

/** Options of a {@link Negotiator}. */
export interface NegotiatorOptions {
  /** Our side. */
  readonly role: NegotiationRole;
  /** The session being logged in; keys irrelevant to discovery sessions are neither offered nor negotiated. */
  readonly sessionType: SessionType;
  /** Our values; anything left out comes from {@link DEFAULT_LOCAL_OFFER}. */
  readonly local?: Partial<LocalOffer>;
  /** Whether this is the session's leading connection (default true); LO keys are refused otherwise. */
  readonly leadingConnection?: boolean;
  /** The stage {@link Negotiator.receive} assumes when not told (default `'operational'`). */
  readonly stage?: NegotiationStage;
  /** Offer only these keys (default: every key this role offers; see {@link Negotiator.offers}). */
  readonly offerKeys?: readonly string[];
  /** Values in force before this negotiation (a Full Feature Phase renegotiation); default: the RFC defaults. */
  readonly base?: NegotiatedParameters;
}

// How a negotiable key ended: with a value, or kept at its current value after a reserved answer.
type Settled =
  | { readonly kind: 'value'; readonly value: Outcome }
  | { readonly kind: 'kept'; readonly reason: 'Reject' | 'Irrelevant' | 'NotUnderstood'; readonly offered?: Offer };

interface PeerDeclarations {
  maxRecvDataSegmentLength?: number;
  targetAlias?: string;
  targetPortalGroupTag?: number;
  initiatorAlias?: string;
}

/**
 * One negotiation sequence: a login (security and operational stages) or one Text negotiation. Call
 * {@link Negotiator.offers} for what to propose, {@link Negotiator.receive} with every pair the peer sends (it
 * returns the answers to send back), and {@link Negotiator.result} once {@link Negotiator.pending} is empty.
 * Every protocol violation throws {@link NegotiationError} naming the key; after one, the negotiator refuses
 * further use.
 */
export class Negotiator {
  /** Our side. */
  readonly role: NegotiationRole;
  /** The session type being negotiated. */
  readonly sessionType: SessionType;
  readonly #local: LocalOffer;
  readonly #explicit: ReadonlySet<string>;
  readonly #leading: boolean;
  readonly #stage: NegotiationStage;
  readonly #offerKeys: ReadonlySet<string> | undefined;
  readonly #base: NegotiatedParameters;
  readonly #offered = new Map<string, Offer>();
  readonly #settled = new Map<string, Settled>();
  readonly #received = new Set<string>();
  readonly #sent = new Set<string>();
  readonly #peer: PeerDeclarations = {};
  #declaredRecv = false;
  #failed = false;

  constructor(options: NegotiatorOptions) {
    if (options.role !== 'initiator' && options.role !== 'target') {
      throw new InvalidArgumentError(`role must be initiator or target, got ${String(options.role)}`);
    }
    if (options.sessionType !== 'Normal' && options.sessionType !== 'Discovery') {
      throw new InvalidArgumentError(`sessionType must be Normal or Discovery, got ${String(options.sessionType)}`);
    }
    this.role = options.role;
    this.sessionType = options.sessionType;
    this.#local = validateLocalOffer({ ...DEFAULT_LOCAL_OFFER, ...options.local });
    this.#explicit = new Set(Object.keys(options.local ?? {}));
    this.#leading = options.leadingConnection ?? true;
    this.#stage = options.stage ?? 'operational';
    this.#base = options.base ?? DEFAULT_PARAMETERS;
    this.#offerKeys = options.offerKeys && validateOfferKeys(options.offerKeys);
  }

  /**
   * The keys we propose now, in table order, and marks them as sent. Skips keys already offered, answered or
   * received, keys our role may not send, keys not allowed in the default stage or on a non-leading connection,
   * and keys irrelevant to a discovery session. An initiator offers every operational key (TaskReporting and
   * iSCSIProtocolLevel only when set in `local`); a target offers only keys whose default it cannot live with.
   * Both declare MaxRecvDataSegmentLength (§13.12).
   */
  offers(): TextPair[] {
    this.#usable();
    const out: TextPair[] = [];
    for (const key of KEYS) {
      const name = key.name;
      if (key.handler !== 'negotiator' || this.#sent.has(name)) continue;
      if (this.#offerKeys && !this.#offerKeys.has(name)) continue;
      if (placementError(key, this.role, this.#stage, this.#leading)) continue;
      if (this.sessionType === 'Discovery' && key.irrelevantInDiscovery) continue;
      // A declaration is ours to make whatever the peer declared (§13.12); a negotiated key is settled once.
      if (name === 'MaxRecvDataSegmentLength') {
        this.#sent.add(name);
        this.#declaredRecv = true;
        out.push([name, formatOutcome(this.#local.maxRecvDataSegmentLength)]);
        continue;
      }
      if (!isNegotiable(key) || this.#received.has(name)) continue;
      if (isOptionalKey(key) && !this.#explicit.has(key.field ?? '')) continue;
      const offer = this.#fitted(key, localOffer(key, this.#local));
      if (this.role === 'target' && acceptable(key, offer, this.#current(key))) continue;
      this.#sent.add(name);
      this.#offered.set(name, offer);
      out.push([name, formatOffer(key, offer)]);
    }
    return out;
  }

  /**
   * Processes the pairs of one PDU (or reassembled segment) from the peer, in order, and returns the answers to
   * send back: selections for the peer's offers, `Irrelevant` for keys a discovery session does not use, `Reject`
   * for the obsolete marker keys (§13.25) and for offers nothing can satisfy, `NotUnderstood` for unknown keys.
   * Answers to our offers are checked against their result function; declarations are recorded. Identity and
   * authentication keys (InitiatorName, TargetName, SessionType, AuthMethod, CHAP_*, …) are only checked for
   * sender and stage: the login machine handles them. `stage` defaults to the constructor's.
   * @throws NegotiationError for a duplicate key (§6.3), a key in the wrong stage, from the wrong side or on a
   *   non-leading connection, a reserved value used as an offer, a malformed value, or an unacceptable answer.
   */
  receive(pairs: readonly TextPair[], stage: NegotiationStage = this.#stage): TextPair[] {
    this.#usable();
    const out: TextPair[] = [];
    try {
      for (const [key, value] of pairs) this.#receiveOne(key, value, stage, out);
    } catch (error) {
      this.#failed = true;
      throw error;
    }
    return out;
  }

  /**
   * Our offers still waiting for an answer. Offers whose answer is optional (§6.2.2: AND with No, OR with Yes)
   * are not listed: they already decide the outcome.
   */
  pending(): string[] {
    const names: string[] = [];
    for (const [name, offered] of this.#offered) {
      const key = keyDefinition(name) as NegotiableKey;
      if (!answerOptional(key, offered)) names.push(name);
    }
    return names;
  }

  /**
   * The negotiated parameters, frozen. Keys never negotiated keep their current value (the §13 default unless
   * `base` was given). An offer left unanswered counts as not negotiated, unless §6.2.2 makes its answer optional.
   * Enforces the cross-key rule of §13.14 (FirstBurstLength not above MaxBurstLength) and every key's range.
   * @throws NegotiationError when an unanswered, rejected or irrelevant offer leaves a value our offer does not
   *   allow, or a rule above is broken.
   */
  result(): NegotiatedParameters {
    this.#usable();
    const values: Record<string, unknown> = { ...this.#base, sessionType: this.sessionType };
    const toCheck: [NegotiableKey, Offer][] = [];
    for (const key of KEYS) {
      if (!isNegotiable(key) || key.field === undefined) continue;
      const current = this.#current(key);
      const settled = this.#settled.get(key.name);
      const offered = this.#offered.get(key.name);
      let value: Outcome = current;
      if (settled?.kind === 'value') {
        value = settled.value;
      } else if (offered !== undefined) {
        if (answerOptional(key, offered)) value = offered as boolean;
        else if (!acceptable(key, offered, current)) {
          throw negotiationError(key.name, `was never answered and ${formatOutcome(current)} is not acceptable`);
        }
      } else if (settled?.kind === 'kept' && settled.reason === 'Irrelevant' && settled.offered !== undefined) {
        toCheck.push([key, settled.offered]);
      }
      values[key.field] = value;
    }
    const params = values as unknown as NegotiatedParameters;
    // RFC 7143 §13.14: FirstBurstLength is irrelevant when InitialR2T=Yes and ImmediateData=No.
    const noUnsolicited = params.initialR2T && !params.immediateData;
    for (const [key, offered] of toCheck) {
      // A discovery session carries no SCSI tasks, so nothing but the digests and segment lengths matters there;
      // some targets answer the timers and ErrorRecoveryLevel Irrelevant too.
      const irrelevant = this.sessionType === 'Discovery' || (key.name === 'FirstBurstLength' && noUnsolicited);
      if (!irrelevant && !acceptable(key, offered, this.#current(key))) {
        throw negotiationError(key.name, 'was answered Irrelevant, but it matters and the default is not acceptable');
      }
    }
    values.maxRecvDataSegmentLength = this.#declaredRecv
      ? this.#local.maxRecvDataSegmentLength
      : this.#base.maxRecvDataSegmentLength;
    values.maxXmitDataSegmentLength = this.#peer.maxRecvDataSegmentLength ?? this.#base.maxXmitDataSegmentLength;
    if (this.#peer.targetAlias !== undefined) values.targetAlias = this.#peer.targetAlias;
    if (this.#peer.targetPortalGroupTag !== undefined) values.targetPortalGroupTag = this.#peer.targetPortalGroupTag;
    if (this.#peer.initiatorAlias !== undefined) values.initiatorAlias = this.#peer.initiatorAlias;
    checkParameters(params);
    return Object.freeze(params);
  }

  /**
   * A target's FirstBurstLength offer, lowered to the MaxBurstLength agreed so far (offered by the initiator, or
   * answered lower than the target offered): §13.14 says FirstBurstLength MUST NOT exceed MaxBurstLength, and the
   * default FirstBurstLength (65536) above a small MaxBurstLength would otherwise fail the login.
   */
  #fitted(key: NegotiableKey, offer: Offer): Offer {
    if (this.role !== 'target' || key.name !== 'FirstBurstLength' || typeof offer !== 'number') return offer;
    const settled = this.#settled.get('MaxBurstLength');
    const maxBurst = settled?.kind === 'value' ? settled.value : undefined;
    return typeof maxBurst === 'number' ? Math.min(offer, maxBurst) : offer;
  }

  #usable(): void {
    if (this.#failed) throw negotiationError('', 'the negotiation has already failed');
  }

  // The value in force before this negotiation touched the key.
  #current(key: NegotiableKey): Outcome {
    return key.field === undefined ? defaultOutcome(key) : (this.#base[key.field] as Outcome);
  }

  #receiveOne(name: string, value: string, stage: NegotiationStage, out: TextPair[]): void {
    const key = keyDefinition(name);
    // iSCSIProtocolLevel (RFC 7144) is the one table key that is not a §6.1 standard-label (lower-case first letter).
    if (!key && !isValidKeyName(name)) throw negotiationError(name, 'is not a key name (RFC 7143 §6.1)');
    // RFC 7143 §6.3: a key is declared or negotiated once; SendTargets responses repeat these two (§13.3).
    const repeatable = stage === 'full-feature' && (name === 'TargetName' || name === 'TargetAddress');
    if (this.#received.has(name) && !repeatable) {
      throw negotiationError(name, 'was sent twice in one negotiation (RFC 7143 §6.3)');
    }
    this.#received.add(name);
    const peer: NegotiationRole = this.role === 'initiator' ? 'target' : 'initiator';
    if (!key) {
      // RFC 7143 §12: authentication keys belong to the security stage (and to the login machine).
      if (isAuthenticationKey(name)) {
        if (stage !== 'security') throw negotiationError(name, `is an authentication key, sent in the ${stage} stage`);
        return;
      }
      if (isReservedValue(value)) throw negotiationError(name, `${value} is an answer, not an offer (RFC 7143 §6.2)`);
      // RFC 7143 §6.2: an unknown key (X- and X# extension keys included) is answered NotUnderstood.
      this.#sent.add(name);
      out.push([name, ReservedValue.NotUnderstood]);
      return;
    }
    const misplaced = placementError(key, peer, stage, this.#leading);
    if (misplaced) throw misplaced;
    if (key.handler !== 'negotiator') {
      // RFC 7143 §13.21: the session type is fixed before the negotiator exists; a different one is an error.
      if (name === 'SessionType' && value !== this.sessionType) {
        throw negotiationError(name, `${preview(value)} does not match this ${this.sessionType} session`);
      }
      return;
    }
    if (key.type === 'obsolete') {
      if (isReservedValue(value)) throw negotiationError(name, `${value} is an answer, not an offer (RFC 7143 §6.2)`);
      // RFC 7143 §13.25: answer the obsolete marker keys with Reject. Except IFMarker=No and OFMarker=No: they were
      // AND keys (RFC 3720), so the offer alone settles "no markers" and §6.2.2 makes the answer optional. tgtd
      // sends both in its final Login Response (T=1), where no answer could follow anyway.
      if ((name === 'IFMarker' || name === 'OFMarker') && value === 'No') return;
      this.#sent.add(name);
      out.push([name, ReservedValue.Reject]);
      return;
    }
    if (!isNegotiable(key)) {
      this.#declare(key, value);
      return;
    }
    const offered = this.#offered.get(name);
    if (offered !== undefined) {
      this.#answered(key, offered, value);
      return;
    }
    const answer = this.#answer(key, value);
    if (answer !== undefined) out.push([name, answer]);
  }

  #declare(key: KeyDefinition, value: string): void {
    if (isReservedValue(value)) {
      throw negotiationError(key.name, `is declarative and cannot carry ${value} (RFC 7143 §6.2)`);
    }
    if (key.type === 'number') {
      const n = parseDeclaredNumber(key, value);
      if (key.name === 'MaxRecvDataSegmentLength') this.#peer.maxRecvDataSegmentLength = n;
      else this.#peer.targetPortalGroupTag = n;
    } else if (key.name === 'TargetAlias') {
      this.#peer.targetAlias = value;
    } else if (key.name === 'InitiatorAlias') {
      this.#peer.initiatorAlias = value;
    }
  }

  // The peer's answer to one of our offers.
  #answered(key: NegotiableKey, offered: Offer, value: string): void {
    this.#offered.delete(key.name);
    if (value === ReservedValue.Reject) {
      // RFC 7143 §6.2: after Reject the key keeps its current value; if that is unacceptable we may end it.
      const current = this.#current(key);
      if (!acceptable(key, offered, current)) {
        throw negotiationError(key.name, `was rejected and ${formatOutcome(current)} is not acceptable to us`);
      }
      this.#settled.set(key.name, { kind: 'kept', reason: 'Reject', offered });
    } else if (value === ReservedValue.Irrelevant) {
      this.#settled.set(key.name, { kind: 'kept', reason: 'Irrelevant', offered });
    } else if (value === ReservedValue.NotUnderstood) {
      if (!isOptionalKey(key)) {
        throw negotiationError(key.name, 'must not be answered NotUnderstood (RFC 7143 §6.2)');
      }
      this.#settled.set(key.name, { kind: 'kept', reason: 'NotUnderstood', offered });
    } else {
      this.#settled.set(key.name, { kind: 'value', value: parseAnswer(key, offered, value) });
    }
  }

  // Our answer to the peer's offer, or undefined when §6.2.2 lets us leave it out.
  #answer(key: NegotiableKey, value: string): string | undefined {
    if (isReservedValue(value)) throw negotiationError(key.name, `${value} is an answer, not an offer (RFC 7143 §6.2)`);
    this.#sent.add(key.name);
    // "Irrelevant when: SessionType=Discovery" (RFC 7143 §13).
    if (this.sessionType === 'Discovery' && key.irrelevantInDiscovery) {
      this.#settled.set(key.name, { kind: 'kept', reason: 'Irrelevant' });
      return ReservedValue.Irrelevant;
    }
    const offer = parseOffer(key, value);
    const local = localOffer(key, this.#local);
    const chosen = offer === OUT_OF_RANGE ? undefined : select(key, offer, local);
    if (chosen === undefined) {
      // RFC 7143 §6.2.1, §6.2.2: nothing acceptable (or out of range) is answered Reject, which keeps the
      // current value; we must be able to live with it ourselves.
      if (!acceptable(key, local, this.#current(key))) {
        throw negotiationError(
          key.name,
          `offer ${preview(value)} cannot be accepted and the default is not acceptable`,
        );
      }
      this.#settled.set(key.name, { kind: 'kept', reason: 'Reject' });
      return ReservedValue.Reject;
    }
    this.#settled.set(key.name, { kind: 'value', value: chosen });
    // RFC 7143 §6.2.2: "AND" offered No and "OR" offered Yes decide the outcome alone; the answer is OPTIONAL and
    // left out, so a target may carry such offers in its final Login Response.
    if (answerOptional(key, offer as Offer)) return undefined;
    return formatOutcome(chosen);
  }
}
