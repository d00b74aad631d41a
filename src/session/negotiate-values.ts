/**
 * The value side of negotiation, for {@link Negotiator}: parsing offers and answers of the keys in `keys.ts`,
 * the result functions of RFC 7143 §6.2.1 (lists) and §6.2.2 (Boolean AND/OR, numerical Minimum/Maximum), and
 * the check that an outcome is acceptable to one side.
 * @module
 */

import { NegotiationError, ProtocolError } from '../errors.js';
import {
  formatBoolean,
  formatNumber,
  parseBigNumber,
  parseBinary,
  parseBoolean,
  parseList,
  preview,
} from '../pdu/text-values.js';
import type { BooleanKeyDefinition, KeyDefinition, ListKeyDefinition, NumberKeyDefinition } from './keys.js';
import type { LocalOffer } from './params.js';

/** A key the negotiator negotiates (not declares): list, Boolean, Minimum or Maximum. */
export type NegotiableKey = ListKeyDefinition | BooleanKeyDefinition | NumberKeyDefinition;

/** One side's position on a key: a list in order of preference (or the supported set), a Boolean, a number. */
export type Offer = readonly string[] | boolean | number;

/** The outcome of a key: one list value, a Boolean or a number. */
export type Outcome = string | boolean | number;

/** {@link parseOffer}'s answer for a well-formed number outside the key's range. */
export const OUT_OF_RANGE: unique symbol = Symbol('out of range');

/** Whether `key` is negotiated with a result function (rather than declared or obsolete). */
export function isNegotiable(key: KeyDefinition): key is NegotiableKey {
  return (key.type === 'list' || key.type === 'boolean' || key.type === 'number') && key.result !== 'declarative';
}

/** Whether `key` is newer than RFC 3720 (TaskReporting, iSCSIProtocolLevel): offered only when asked for. */
export function isOptionalKey(key: NegotiableKey): boolean {
  return 'optional' in key && key.optional === true;
}

/** A {@link NegotiationError} about `key`, whose name is shown quoted and shortened (it came from the peer). */
export function negotiationError(key: string, message: string): NegotiationError {
  return new NegotiationError(`${preview(key)}: ${message}`, key);
}

/** This side's position on `key`, read from the local values. */
export function localOffer(key: NegotiableKey, local: LocalOffer): Offer {
  // `field` is set on every negotiable row of the table.
  return local[key.field as keyof LocalOffer];
}

/** The RFC default of `key`; every negotiable key has one. */
export function defaultOutcome(key: NegotiableKey): Outcome {
  return key.default as Outcome;
}

/**
 * Parses the peer's offer of `key`. A list loses the values this implementation does not know (§6.2.1: "it MUST
 * ignore it"). A well-formed number outside the key's range gives {@link OUT_OF_RANGE}, which the caller answers
 * with Reject (§6.2.2). Throws {@link NegotiationError} for a value of the wrong type.
 */
export function parseOffer(key: NegotiableKey, raw: string): Offer | typeof OUT_OF_RANGE {
  return guard(key.name, () => {
    if (key.type === 'boolean') return parseBoolean(raw);
    if (key.type === 'number') {
      const n = parseBigNumber(raw);
      return n < BigInt(key.min) || n > BigInt(key.max) ? OUT_OF_RANGE : Number(n);
    }
    const items = parseList(raw);
    // RFC 7143 §13.23: whenever TaskReporting is negotiated, at least RFC3720 MUST be offered.
    if (key.name === 'TaskReporting' && !items.includes('RFC3720')) {
      throw negotiationError(key.name, 'an offer of TaskReporting must include RFC3720 (RFC 7143 §13.23)');
    }
    return items.filter((item) => key.values.includes(item));
  });
}

/**
 * The responder's selection for the peer's `offer` given its own `local` position, or `undefined` when nothing
 * offered can be accepted (the answer is then Reject). Lists: the first offered value that the responder supports
 * (§6.2.1). Booleans: AND / OR of the two values (§6.2.2). Numbers: the smaller (Minimum) or larger (Maximum).
 */
export function select(key: NegotiableKey, offer: Offer, local: Offer): Outcome | undefined {
  switch (key.result) {
    case 'list':
      return (offer as readonly string[]).find((item) => (local as readonly string[]).includes(item));
    case 'and':
      return (offer as boolean) && (local as boolean);
    case 'or':
      return (offer as boolean) || (local as boolean);
    case 'min':
      return Math.min(offer as number, local as number);
    case 'max':
      return Math.max(offer as number, local as number);
    default:
      return undefined;
  }
}

/**
 * Whether `outcome` is acceptable to a side whose position is `position`: the §13 preamble's check of a
 * responder's selection ("Minimum": not above the offer; "Maximum": not below; AND: No when No was offered;
 * OR: Yes when Yes was offered; a list: one of the offered values). A responder applies the same test to its own
 * limits, e.g. before it lets a Reject leave the default in force.
 */
export function acceptable(key: NegotiableKey, position: Offer, outcome: Outcome): boolean {
  switch (key.result) {
    case 'list':
      return (position as readonly string[]).includes(outcome as string);
    case 'and':
      return (position as boolean) || outcome === false;
    case 'or':
      return !(position as boolean) || outcome === true;
    case 'min':
      return (outcome as number) <= (position as number);
    case 'max':
      return (outcome as number) >= (position as number);
    default:
      return false;
  }
}

/**
 * Whether RFC 7143 §6.2.2 makes the answer to this offer optional, because the offer alone decides the outcome:
 * AND with No, OR with Yes.
 */
export function answerOptional(key: NegotiableKey, offered: Offer): boolean {
  return (key.result === 'and' && offered === false) || (key.result === 'or' && offered === true);
}

/**
 * Parses the peer's answer to our offer `offered` and checks it against the result function. Throws
 * {@link NegotiationError} when the answer is malformed, out of range, or not a selection the rules allow
 * (§6.2.1: "The selection of a value not proposed MUST be handled ... as a protocol error"; §6.2.2).
 */
export function parseAnswer(key: NegotiableKey, offered: Offer, raw: string): Outcome {
  const outcome = guard(key.name, (): Outcome => {
    if (key.type === 'boolean') return parseBoolean(raw);
    if (key.type === 'number') {
      const n = parseBigNumber(raw);
      if (n < BigInt(key.min) || n > BigInt(key.max)) {
        throw negotiationError(key.name, `answer ${preview(raw)} is outside ${key.min}..${key.max}`);
      }
      return Number(n);
    }
    const items = parseList(raw);
    if (items.length !== 1) throw negotiationError(key.name, `answer ${preview(raw)} is a list, not one value`);
    return raw;
  });
  if (!acceptable(key, offered, outcome)) {
    throw negotiationError(
      key.name,
      `answer ${preview(raw)} is not a valid ${key.result} selection for the offer ${preview(formatOffer(key, offered))}`,
    );
  }
  return outcome;
}

/** The wire form of an offer: a list joined with commas, Yes/No, or a decimal number. */
export function formatOffer(key: NegotiableKey, offer: Offer): string {
  if (key.type === 'list') return (offer as readonly string[]).join(',');
  return formatOutcome(offer as boolean | number);
}

/** The wire form of an outcome. */
export function formatOutcome(outcome: Outcome): string {
  if (typeof outcome === 'boolean') return formatBoolean(outcome);
  if (typeof outcome === 'number') return formatNumber(outcome);
  return outcome;
}

/**
 * Parses a declared number: MaxRecvDataSegmentLength (decimal or hex) or TargetPortalGroupTag, a 16-bit
 * binary-value that may also come as a base64-constant (RFC 7143 §13.9, §6.1). Declarations cannot be
 * refused, so a value outside the key's range throws {@link NegotiationError}.
 */
export function parseDeclaredNumber(key: NumberKeyDefinition, raw: string): number {
  return guard(key.name, () => {
    let n: bigint;
    if (/^0[bB]/.test(raw)) {
      n = 0n;
      for (const byte of parseBinary(raw, 8)) n = (n << 8n) | BigInt(byte);
    } else {
      n = parseBigNumber(raw);
    }
    if (n < BigInt(key.min) || n > BigInt(key.max)) {
      throw negotiationError(key.name, `declared value ${preview(raw)} is outside ${key.min}..${key.max}`);
    }
    return Number(n);
  });
}

// Runs a parse and turns the codec's ProtocolError (ERR_ISCSI_TEXT_VALUE) into a NegotiationError naming the key.
function guard<T>(key: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ProtocolError) throw negotiationError(key, error.message);
    throw error;
  }
}
