/**
 * Negotiation cases for every login key of RFC 7143 §13 (plus AuthMethod, §12.1, and the RFC 7144 keys
 * TaskReporting and iSCSIProtocolLevel), generated from one table. For each key the table gives how a target's
 * answer is judged (its result function), legal offers whose answer must fit that function, illegal offers that
 * must be answered Reject, with an admissible value or with a refused login, and where they apply: an offer in a
 * Discovery session (where the key is irrelevant), an offer of a target-only key by the initiator, an offer in the
 * wrong login stage, and the key twice in one request or again in a later request. A few cross-key cases follow
 * (FirstBurstLength above MaxBurstLength, key name case, key name length).
 *
 * The table is written from the RFC, independently of the key table the iscsi-ts negotiator uses, so that both can
 * be checked against each other (see the tests).
 * @module
 */
import type { TextPair } from '../../pdu/text.js';
import { parseBinary } from '../../pdu/text-values.js';
import { parseTargetAddress } from '../../session/address.js';
import {
  acceptOffers,
  exchangeLogin,
  fail,
  identity,
  keyAnswers,
  loginRequest,
  loginResponses,
  notApplicable,
  operationalLogin,
  pairsOf,
  pass,
  pduOf,
  skipped,
  statusOf,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Strength, Verdict } from '../types.js';

/** How the target's answer to (or declaration of) a key is judged. */
export type KeyRule =
  /** List negotiation (§6.2.1): one value of the offered list, or Reject. */
  | { readonly kind: 'list'; readonly values: readonly string[] }
  /** Boolean AND / OR (§6.2.2). */
  | { readonly kind: 'and' | 'or' }
  /** Numerical Minimum / Maximum within the key's range (§6.2.2). */
  | { readonly kind: 'min' | 'max'; readonly min: number; readonly max: number }
  /**
   * Declared by the initiator, never answered. With `range`, the target declares its own value of the key too
   * (MaxRecvDataSegmentLength), which must stay in the range.
   */
  | { readonly kind: 'initiator-declared'; readonly range?: readonly [number, number] }
  /** Declared by the target; `check` says what is wrong with a declared value. */
  | {
      readonly kind: 'target-declared';
      /** The target must declare it in the first Login Response (TargetPortalGroupTag). */
      readonly required: boolean;
      readonly check: (value: string) => string | undefined;
    }
  /** An obsolete key (§13.25): answered with one of `answers`, never NotUnderstood. */
  | { readonly kind: 'obsolete'; readonly answers: readonly string[] }
  /** An extension key the target does not implement: answered NotUnderstood. */
  | { readonly kind: 'extension' };

/** One value offered in a case. */
export interface KeyOffer {
  /** The last part of the case id. */
  readonly name: string;
  /** The value sent; a function for values that come from the target description (names). */
  readonly value: string | ((ctx: CaseContext) => string);
  /** How a computed value is shown in the description. */
  readonly shown?: string;
  /** Default MUST. */
  readonly strength?: Strength;
  /** What makes the value legal or illegal, for the description. */
  readonly why?: string;
}

/** One row of the table: a key and the cases made for it. */
export interface KeySpec {
  readonly key: string;
  /** The key in case ids: lower case with hyphens. */
  readonly slug: string;
  /** RFC 7143 section ('13' where the number is not certain). */
  readonly section: string;
  readonly rule: KeyRule;
  /** The stage the key belongs to (default operational). */
  readonly stage?: 'security';
  /** Defined by RFC 7144: a target that predates it answers NotUnderstood, which makes the case not applicable. */
  readonly rfc7144?: boolean;
  readonly legal: readonly KeyOffer[];
  readonly illegal?: readonly KeyOffer[];
  /** A legal value offered in a Discovery session, for keys "Irrelevant when: SessionType=Discovery". */
  readonly discovery?: string;
  /** A value sent by the initiator, for keys only the target may send. */
  readonly fromInitiator?: string;
  /** A legal value offered in the other login stage. */
  readonly wrongStage?: string;
  /** A legal value sent twice in one request, and again in a later request. */
  readonly repeat?: string;
}

/** What the target said to one attempt: the final status and every value of the key it sent. */
export interface KeyOutcome {
  /** Status-Class << 8 | Status-Detail of the last Login Response. */
  readonly status: number;
  /** Values of the key across all Login Responses. */
  readonly answers: readonly string[];
  /** Values of the key in the first Login Response. */
  readonly first: readonly string[];
}

/** A verdict before its evidence is attached. */
export type Judgement =
  | { readonly status: 'pass'; readonly note?: string }
  | { readonly status: 'fail'; readonly message: string }
  | { readonly status: 'not-applicable'; readonly reason: string };

const MAX_SEGMENT = 2 ** 24 - 1;
const RESERVED: readonly string[] = ['Reject', 'Irrelevant', 'NotUnderstood'];
const utf8Length = (s: string): number => new TextEncoder().encode(s).length;
const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
const ok = (note?: string): Judgement => (note ? { status: 'pass', note } : { status: 'pass' });
const bad = (message: string): Judgement => ({ status: 'fail', message });

/** A numerical-value: a decimal-constant or a hex-constant (RFC 7143 §6.1), or undefined. */
export function parseNumeric(value: string): bigint | undefined {
  return /^(?:0|[1-9][0-9]*)$/.test(value) || /^0[xX][0-9a-fA-F]+$/.test(value) ? BigInt(value) : undefined;
}

function inRange(value: string, min: number, max: number): boolean {
  const n = parseNumeric(value);
  return n !== undefined && n >= BigInt(min) && n <= BigInt(max);
}

/** The target's TargetPortalGroupTag: a 16-bit binary-value (§13.9), decimal, hex or base64. */
function checkTpgt(value: string): string | undefined {
  if (/^0[bB]/.test(value)) {
    try {
      return parseBinary(value).length <= 2 ? undefined : 'not a 16-bit value';
    } catch {
      return 'not a binary-value';
    }
  }
  return inRange(value, 0, 0xffff) ? undefined : 'not a 16-bit binary-value';
}

/** The target's TargetAlias: an iSCSI-local-name-value of at most 255 bytes (§6.1), not a reserved constant. */
function checkAlias(value: string): string | undefined {
  if (RESERVED.includes(value)) return 'a reserved constant, not an alias';
  return value.length > 0 && utf8Length(value) <= 255 ? undefined : 'not a local name of 1..255 bytes';
}

/** A TargetAddress: `domainname[:port][,portal-group-tag]` (§13.8). */
function checkAddress(value: string): string | undefined {
  try {
    parseTargetAddress(value);
    return undefined;
  } catch {
    return 'not domainname[:port][,portal-group-tag]';
  }
}

const yesNo = (value: string): boolean => value === 'Yes' || value === 'No';

/** Why `answer` is not a selection the result function allows for `offered`, or undefined when it is. */
export function selectionProblem(rule: KeyRule, offered: string, answer: string): string | undefined {
  switch (rule.kind) {
    case 'list':
      if (answer.includes(',')) return 'is a list, not one value (§6.2.1)';
      return offered.split(',').includes(answer) ? undefined : 'is not one of the offered values (§6.2.1)';
    case 'and':
      if (!yesNo(answer)) return 'is not Yes or No';
      return offered === 'No' && answer === 'Yes' ? 'is not a possible AND result of No' : undefined;
    case 'or':
      if (!yesNo(answer)) return 'is not Yes or No';
      return offered === 'Yes' && answer === 'No' ? 'is not a possible OR result of Yes' : undefined;
    case 'min':
    case 'max': {
      const n = parseNumeric(answer);
      if (n === undefined) return 'is not a numerical value';
      if (n < BigInt(rule.min) || n > BigInt(rule.max)) return `is outside ${rule.min}..${rule.max}`;
      const o = parseNumeric(offered);
      if (o !== undefined && rule.kind === 'min' && n > o) return `is above the offer ${offered} (Minimum)`;
      if (o !== undefined && rule.kind === 'max' && n < o) return `is below the offer ${offered} (Maximum)`;
      return undefined;
    }
    default:
      return 'is not a negotiated answer';
  }
}

/** RFC 7143 §6.2.2: an answer is optional when the offer alone decides (AND offered No, OR offered Yes). */
export function answerOptional(rule: KeyRule, offered: string): boolean {
  return (rule.kind === 'and' && offered === 'No') || (rule.kind === 'or' && offered === 'Yes');
}

/** Whether `answer` is a value the key could take at all (§6.2.2: the acceptor "MAY select an admissible value"). */
function admissible(rule: KeyRule, answer: string): boolean {
  if (rule.kind === 'and' || rule.kind === 'or') return yesNo(answer);
  if (rule.kind === 'min' || rule.kind === 'max') return inRange(answer, rule.min, rule.max);
  return false;
}

const negotiated = (rule: KeyRule): boolean =>
  rule.kind === 'list' || rule.kind === 'and' || rule.kind === 'or' || rule.kind === 'min' || rule.kind === 'max';

function notUnderstood(spec: KeySpec): Judgement {
  return spec.rfc7144
    ? { status: 'not-applicable', reason: `${spec.key}=NotUnderstood: the target does not implement RFC 7144` }
    : bad(`${spec.key}=NotUnderstood: §6.2 says the keys of RFC 7143, used as specified, MUST NOT be answered so`);
}

/** Judges the answer to a legal offer (or, for target-declared keys, the target's declaration). */
export function judgeLegal(spec: KeySpec, offered: string, o: KeyOutcome): Judgement {
  const { key, rule } = spec;
  if (o.status !== 0) return bad(`the legal offer ${key}=${offered} was refused with ${hex4(o.status)}`);
  if (o.answers.length > 1) {
    return bad(`${key} came back ${o.answers.length} times (${o.answers.join(' | ')}): a key is sent once (§6.3)`);
  }
  const answer = o.answers[0];
  switch (rule.kind) {
    case 'extension':
      return answer === 'NotUnderstood' ? ok() : bad(`answer ${answer ?? '(none)'} instead of NotUnderstood`);
    case 'obsolete':
      if (answer !== undefined && rule.answers.includes(answer)) return ok(`${key}=${answer}`);
      if (answer === 'NotUnderstood') return bad(`${key}=NotUnderstood, which §13.25 forbids`);
      return bad(`answer ${answer ?? '(none)'} instead of ${rule.answers.join(' or ')}`);
    case 'initiator-declared':
      if (answer === undefined) return ok('not answered');
      if (rule.range && inRange(answer, rule.range[0], rule.range[1])) {
        return ok(`the target declared its own ${key}=${answer}`);
      }
      return bad(
        rule.range
          ? `the target's ${key}=${answer} is not a declaration in ${rule.range[0]}..${rule.range[1]}`
          : `the target sent ${key}=${answer}; only the initiator declares ${key}`,
      );
    case 'target-declared': {
      if (rule.required && o.first.length === 0) return bad(`no ${key} in the first Login Response`);
      if (answer === undefined) return ok('not declared');
      const problem = rule.check(answer);
      return problem ? bad(`${key}=${answer}: ${problem}`) : ok(`${key}=${answer}`);
    }
  }
  if (answer === 'NotUnderstood') return notUnderstood(spec);
  if (answer === 'Irrelevant') return ok(`${key}=Irrelevant`);
  if (answer === undefined) {
    return answerOptional(rule, offered)
      ? ok('no answer: the offer alone decides the outcome (§6.2.2)')
      : bad(`no answer to ${key}=${offered}; the responder MUST answer with the same key (§6.2)`);
  }
  if (answer === 'Reject') {
    return rule.kind === 'list'
      ? ok(`${key}=Reject: no offered value is acceptable to the target`)
      : bad(`${key}=Reject to the admissible offer ${offered}`);
  }
  const problem = selectionProblem(rule, offered, answer);
  return problem ? bad(`${key}=${answer} ${problem}`) : ok(`${key}=${answer}`);
}

/** Judges the reaction to an illegal offer: Reject, an admissible value, or a refusal with an initiator error. */
export function judgeIllegal(spec: KeySpec, offered: string, o: KeyOutcome): Judgement {
  const { key, rule } = spec;
  if (o.status >> 8 === 2) return ok(`refused with ${hex4(o.status)}`);
  if (o.status !== 0) return bad(`status ${hex4(o.status)} instead of an initiator error (class 2)`);
  if (o.answers.includes('Reject')) return ok(`${key}=Reject`);
  if (!negotiated(rule)) return bad(`${key}=${offered} was accepted without Reject or a refusal`);
  if (o.answers.length > 1) return bad(`${key} came back ${o.answers.length} times (${o.answers.join(' | ')})`);
  const answer = o.answers[0];
  if (answer === undefined) return bad(`${key}=${offered} was accepted without an answer, Reject or a refusal`);
  if (answer === 'NotUnderstood') return notUnderstood(spec);
  if (answer === 'Irrelevant') return ok(`${key}=Irrelevant`);
  if (admissible(rule, answer)) return ok(`the target selected the admissible value ${answer} (§6.2.2)`);
  return bad(`${key}=${answer} answers the inadmissible offer ${offered}`);
}

/** Judges an offer in a Discovery session: Irrelevant, a legal answer or none; never a refused login. */
export function judgeDiscovery(spec: KeySpec, offered: string, o: KeyOutcome): Judgement {
  const { key, rule } = spec;
  if (o.status !== 0) return bad(`the Discovery login was refused with ${hex4(o.status)}`);
  if (o.answers.length > 1) return bad(`${key} came back ${o.answers.length} times (${o.answers.join(' | ')})`);
  const answer = o.answers[0];
  if (answer === undefined) return ok(`${key}: no answer`);
  if (answer === 'NotUnderstood') return spec.rfc7144 ? ok(`${key}=NotUnderstood (RFC 7144 key)`) : notUnderstood(spec);
  if (answer === 'Irrelevant' || answer === 'Reject') return ok(`${key}=${answer}`);
  const problem = selectionProblem(rule, offered, answer);
  return problem ? bad(`${key}=${answer} ${problem}`) : ok(`${key}=${answer}`);
}

/** Judges a key sent where it does not belong: a refusal, or an answer Reject, Irrelevant or NotUnderstood. */
export function judgeMisplaced(key: string, o: KeyOutcome): Judgement {
  if (o.status >> 8 === 2) return ok(`refused with ${hex4(o.status)}`);
  if (o.status !== 0) return bad(`status ${hex4(o.status)} instead of an initiator error (class 2)`);
  const reaction = o.answers.find((a) => RESERVED.includes(a));
  if (reaction) return ok(`${key}=${reaction}`);
  const what = o.answers.length > 0 ? `was taken (the target sent ${o.answers.join(' | ')})` : 'was ignored';
  return bad(`${key} ${what}: neither a refused login nor an answer Reject, Irrelevant or NotUnderstood`);
}

/** Judges a protocol error the target must refuse with an initiator error. */
export function judgeRefused(what: string, o: KeyOutcome): Judgement {
  return o.status >> 8 === 2
    ? ok(`refused with ${hex4(o.status)}`)
    : bad(`${what} was not refused with an initiator error (status ${hex4(o.status)})`);
}

/** The table: every key, how it is judged, and what is offered. */
export const KEY_TABLE: readonly KeySpec[] = [
  {
    key: 'AuthMethod',
    slug: 'auth-method',
    section: '12.1',
    rule: { kind: 'list', values: ['KRB5', 'SRP', 'CHAP', 'None'] },
    stage: 'security',
    legal: [{ name: 'legal', value: 'CHAP,None' }],
    illegal: [{ name: 'unknown-value', value: 'Foo', why: 'no method of §12.1' }],
    wrongStage: 'None',
  },
  {
    key: 'HeaderDigest',
    slug: 'header-digest',
    section: '13.1',
    rule: { kind: 'list', values: ['CRC32C', 'None'] },
    legal: [{ name: 'legal', value: 'None,CRC32C' }],
    illegal: [
      { name: 'unknown-value', value: 'MD5', why: 'not a digest of §13.1' },
      { name: 'reserved-value', value: 'Reject', why: 'Reject is an answer, never an offer, §6.2' },
    ],
    repeat: 'None',
  },
  {
    key: 'DataDigest',
    slug: 'data-digest',
    section: '13.1',
    rule: { kind: 'list', values: ['CRC32C', 'None'] },
    legal: [
      { name: 'legal', value: 'CRC32C,None' },
      { name: 'unknown-value-ignored', value: 'MD5,None', why: '§6.2.1: a value not understood is ignored' },
    ],
    illegal: [{ name: 'unknown-value', value: 'CRC64', why: 'not a digest of §13.1' }],
  },
  {
    key: 'MaxConnections',
    slug: 'max-connections',
    section: '13.2',
    rule: { kind: 'min', min: 1, max: 65535 },
    legal: [{ name: 'legal', value: '4' }],
    illegal: [
      { name: 'zero', value: '0', why: 'below 1' },
      { name: 'above-range', value: '65536', why: 'above 65535' },
    ],
    discovery: '4',
  },
  {
    key: 'TargetName',
    slug: 'target-name',
    section: '13.4',
    rule: { kind: 'initiator-declared' },
    legal: [{ name: 'legal', value: (ctx) => ctx.target.targetName, shown: '(the configured target)' }],
    illegal: [
      {
        name: 'malformed',
        value: 'iqn.2026-11.invalid target name',
        why: 'spaces are not allowed in iSCSI names, and no such target exists',
      },
    ],
  },
  {
    key: 'InitiatorName',
    slug: 'initiator-name',
    section: '13.5',
    rule: { kind: 'initiator-declared' },
    legal: [
      {
        name: 'legal',
        value: (ctx) => ctx.target.initiatorName ?? 'iqn.2026-11.io.github.iscsi-ts:conform',
        shown: '(our name)',
      },
    ],
    illegal: [
      { name: 'malformed', value: 'not an iSCSI name', strength: 'SHOULD', why: 'not an iqn., eui. or naa. name' },
      {
        name: 'too-long',
        value: `iqn.2026-11.io.github.iscsi-ts:${'x'.repeat(200)}`,
        shown: 'iqn.2026-11.io.github.iscsi-ts:xxx… (231 bytes)',
        strength: 'SHOULD',
        why: 'an iSCSI name is at most 223 bytes',
      },
    ],
  },
  {
    key: 'TargetAlias',
    slug: 'target-alias',
    section: '13.6',
    rule: { kind: 'target-declared', required: false, check: checkAlias },
    legal: [],
    fromInitiator: 'conform-alias',
  },
  {
    key: 'InitiatorAlias',
    slug: 'initiator-alias',
    section: '13.7',
    rule: { kind: 'initiator-declared' },
    legal: [{ name: 'legal', value: 'iscsi-ts conform' }],
    illegal: [
      {
        name: 'too-long',
        value: 'a'.repeat(256),
        shown: 'aaa… (256 bytes)',
        strength: 'SHOULD',
        why: '§6.1: a simple value is at most 255 bytes',
      },
    ],
    repeat: 'iscsi-ts conform',
  },
  {
    key: 'TargetAddress',
    slug: 'target-address',
    section: '13.8',
    rule: { kind: 'target-declared', required: false, check: checkAddress },
    legal: [],
    fromInitiator: '127.0.0.1:3260,1',
  },
  {
    key: 'TargetPortalGroupTag',
    slug: 'target-portal-group-tag',
    section: '13.9',
    rule: { kind: 'target-declared', required: true, check: checkTpgt },
    legal: [],
    fromInitiator: '1',
  },
  {
    key: 'InitialR2T',
    slug: 'initial-r2t',
    section: '13.10',
    rule: { kind: 'or' },
    legal: [
      { name: 'legal', value: 'No' },
      { name: 'optional-answer', value: 'Yes' },
    ],
    illegal: [{ name: 'lower-case', value: 'yes', why: 'values are case sensitive: Yes or No' }],
    discovery: 'No',
    repeat: 'No',
  },
  {
    key: 'ImmediateData',
    slug: 'immediate-data',
    section: '13.11',
    rule: { kind: 'and' },
    legal: [
      { name: 'legal', value: 'Yes' },
      { name: 'optional-answer', value: 'No' },
    ],
    illegal: [{ name: 'numeric', value: '1', why: 'a boolean-value is Yes or No' }],
    discovery: 'Yes',
    repeat: 'Yes',
  },
  {
    key: 'MaxRecvDataSegmentLength',
    slug: 'max-recv-data-segment-length',
    section: '13.12',
    rule: { kind: 'initiator-declared', range: [512, MAX_SEGMENT] },
    legal: [{ name: 'legal', value: '4096' }],
    illegal: [{ name: 'negative', value: '-4096', why: 'not an unsigned numerical value' }],
  },
  {
    key: 'MaxBurstLength',
    slug: 'max-burst-length',
    section: '13.13',
    rule: { kind: 'min', min: 512, max: MAX_SEGMENT },
    legal: [
      // Not below the default FirstBurstLength (65536): see negotiation.max-burst-below-first-burst.
      { name: 'legal', value: '131072' },
      { name: 'hex-value', value: '0x20000', why: 'a numerical value may be a hex-constant, §6.1' },
    ],
    illegal: [
      { name: 'below-range', value: '511', why: 'below 512' },
      { name: 'above-range', value: String(2 ** 24), why: 'above 2^24-1' },
      { name: 'list', value: '4096,8192', why: 'a single numerical value, not a list' },
    ],
    discovery: '16384',
    wrongStage: '16384',
  },
  {
    key: 'FirstBurstLength',
    slug: 'first-burst-length',
    section: '13.14',
    rule: { kind: 'min', min: 512, max: MAX_SEGMENT },
    legal: [{ name: 'legal', value: '4096' }],
    illegal: [
      { name: 'below-range', value: '511', why: 'below 512' },
      { name: 'negative', value: '-1', why: 'not an unsigned numerical value' },
    ],
    discovery: '4096',
  },
  {
    key: 'DefaultTime2Wait',
    slug: 'default-time2wait',
    section: '13.15',
    rule: { kind: 'max', min: 0, max: 3600 },
    legal: [{ name: 'legal', value: '5' }],
    illegal: [{ name: 'above-range', value: '3601', why: 'above 3600' }],
  },
  {
    key: 'DefaultTime2Retain',
    slug: 'default-time2retain',
    section: '13.16',
    rule: { kind: 'min', min: 0, max: 3600 },
    legal: [{ name: 'legal', value: '10' }],
    illegal: [{ name: 'above-range', value: '3601', why: 'above 3600' }],
    repeat: '10',
  },
  {
    key: 'MaxOutstandingR2T',
    slug: 'max-outstanding-r2t',
    section: '13.17',
    rule: { kind: 'min', min: 1, max: 65535 },
    legal: [{ name: 'legal', value: '4' }],
    illegal: [
      { name: 'zero', value: '0', why: 'below 1' },
      { name: 'list', value: '1,2', why: 'a single numerical value, not a list' },
    ],
    discovery: '4',
    repeat: '1',
  },
  {
    key: 'DataPDUInOrder',
    slug: 'data-pdu-in-order',
    section: '13.18',
    rule: { kind: 'or' },
    legal: [
      { name: 'legal', value: 'No' },
      { name: 'optional-answer', value: 'Yes' },
    ],
    illegal: [{ name: 'list', value: 'Yes,No', why: 'a single boolean-value, not a list' }],
    discovery: 'No',
  },
  {
    key: 'DataSequenceInOrder',
    slug: 'data-sequence-in-order',
    section: '13.19',
    rule: { kind: 'or' },
    legal: [
      { name: 'legal', value: 'No' },
      { name: 'optional-answer', value: 'Yes' },
    ],
    illegal: [{ name: 'reserved-value', value: 'Irrelevant', why: 'Irrelevant is an answer, never an offer, §6.2' }],
    discovery: 'No',
  },
  {
    key: 'ErrorRecoveryLevel',
    slug: 'error-recovery-level',
    section: '13.20',
    rule: { kind: 'min', min: 0, max: 2 },
    legal: [{ name: 'legal', value: '2' }],
    illegal: [
      { name: 'above-range', value: '3', why: 'above 2' },
      { name: 'not-a-number', value: 'none', why: 'not a numerical value' },
    ],
  },
  {
    key: 'SessionType',
    slug: 'session-type',
    section: '13.21',
    rule: { kind: 'initiator-declared' },
    legal: [{ name: 'legal', value: 'Normal' }],
    illegal: [{ name: 'lower-case', value: 'normal', why: 'values are case sensitive: Discovery or Normal' }],
  },
  {
    key: 'X-com.example.conform.Probe',
    slug: 'x-private',
    section: '13.22',
    rule: { kind: 'extension' },
    legal: [{ name: 'legal', value: '1' }],
  },
  {
    key: 'TaskReporting',
    slug: 'task-reporting',
    section: '13.23',
    rule: { kind: 'list', values: ['RFC3720', 'ResponseFence', 'FastAbort'] },
    rfc7144: true,
    legal: [{ name: 'legal', value: 'ResponseFence,RFC3720' }],
    illegal: [{ name: 'unknown-value', value: 'Foo', why: 'no value of §13.23' }],
    discovery: 'RFC3720',
  },
  {
    key: 'iSCSIProtocolLevel',
    slug: 'iscsi-protocol-level',
    section: '13.24',
    rule: { kind: 'min', min: 0, max: 31 },
    rfc7144: true,
    legal: [{ name: 'legal', value: '1' }],
    illegal: [{ name: 'above-range', value: '32', why: 'above 31' }],
  },
  ...(['IFMarker', 'OFMarker'] as const).map(
    (key): KeySpec => ({
      key,
      slug: key.toLowerCase(),
      section: '13.25',
      rule: { kind: 'obsolete', answers: ['Reject', 'No'] },
      legal: [{ name: 'obsolete', value: 'Yes', strength: 'SHOULD' }],
    }),
  ),
  ...(['IFMarkInt', 'OFMarkInt'] as const).map(
    (key): KeySpec => ({
      key,
      slug: key.toLowerCase(),
      section: '13.25',
      rule: { kind: 'obsolete', answers: ['Reject'] },
      legal: [{ name: 'obsolete', value: '2048~8192' }],
    }),
  ),
  {
    key: 'X#ConformProbe',
    slug: 'x-public',
    section: '13',
    rule: { kind: 'extension' },
    legal: [{ name: 'legal', value: '1' }],
  },
];

// ---- running an attempt -------------------------------------------------------------------------------------

type LoginStage = 'security' | 'operational';

/** `base` with `key` set to `value`: replaced where `base` has it (the identity keys), appended otherwise. */
function withPair(base: readonly TextPair[], key: string, value: string): TextPair[] {
  return base.some(([k]) => k === key)
    ? base.map(([k, v]): TextPair => (k === key ? [k, value] : [k, v]))
    : [...base, [key, value]];
}

/**
 * One login attempt with `extra` keys: in the security stage a single request (CSG 0 → 1, with AuthMethod=None
 * unless `extra` has AuthMethod), in the operational stage a whole hand-made operational login. Not applicable
 * when the target description has credentials (the hand-made login does not authenticate).
 */
async function attempt(
  ctx: CaseContext,
  extra: readonly TextPair[],
  stage: LoginStage = 'operational',
  sessionType: 'Normal' | 'Discovery' = 'Normal',
): Promise<Received[] | Verdict> {
  if (ctx.target.chap) return notApplicable('hand-made logins need a target without authentication');
  const base = identity(ctx, sessionType);
  if (stage === 'security' && !extra.some(([k]) => k === 'AuthMethod')) base.push(['AuthMethod', 'None']);
  // One key replaces an identity key of the same name (the name cases); several are appended as they are.
  const only = extra.length === 1 ? extra[0] : undefined;
  const pairs = only ? withPair(base, only[0], only[1]) : [...base, ...extra];
  const probe = await ctx.open();
  const isid = ctx.newIsid();
  if (stage === 'security') {
    return [await exchangeLogin(probe, ctx, loginRequest(isid, pairs, { currentStage: 0, nextStage: 1 }))];
  }
  return operationalLogin(probe, ctx, isid, pairs);
}

/** The outcome of an attempt for `key`, or undefined when the last event is not a Login Response. */
function outcomeOf(events: readonly Received[], key: string): KeyOutcome | undefined {
  const last = events.at(-1);
  const rsp = last && pduOf(last, 'login-response');
  if (!rsp) return undefined;
  const first = loginResponses(events)[0];
  return {
    status: statusOf(rsp),
    answers: keyAnswers(events, key),
    first: first
      ? pairsOf(first)
          .filter(([k]) => k === key)
          .map(([, v]) => v)
      : [],
  };
}

/** A judgement as a verdict, with the Login Responses as evidence of a failure. */
function toVerdict(j: Judgement, events: readonly Received[]): Verdict {
  if (j.status === 'fail') return fail(j.message, ...loginResponses(events));
  return j.status === 'pass' ? pass(j.note) : notApplicable(j.reason);
}

/** Judges the outcome of an attempt for `key` (a verdict given instead of events is passed on). */
function judged(events: Received[] | Verdict, key: string, judge: (o: KeyOutcome) => Judgement): Verdict {
  if (!Array.isArray(events)) return events;
  const o = outcomeOf(events, key);
  if (!o) return fail('no Login Response', ...loginResponses(events), events.at(-1));
  return toVerdict(judge(o), events);
}

const offeredValue = (offer: KeyOffer, ctx: CaseContext): string =>
  typeof offer.value === 'string' ? offer.value : offer.value(ctx);
const shownOf = (offer: KeyOffer): string =>
  offer.shown ?? (typeof offer.value === 'string' ? offer.value : '(computed)');

// ---- descriptions -------------------------------------------------------------------------------------------

/** What a legal answer looks like, for the description. */
function expectation(rule: KeyRule, offered: string): string {
  switch (rule.kind) {
    case 'list':
      return 'the answer is one value of the offered list, or Reject (§6.2.1)';
    case 'and':
    case 'or':
      return answerOptional(rule, offered)
        ? `the offer decides (${rule.kind.toUpperCase()}), so the answer is optional and, if sent, ${offered} (§6.2.2)`
        : `the answer is required and is a possible ${rule.kind.toUpperCase()} result: Yes or No (§6.2.2)`;
    case 'min':
      return `the answer is a number in ${rule.min}..${offered} (Minimum, §6.2.2)`;
    case 'max':
      return `the answer is a number in ${offered}..${rule.max} (Maximum, §6.2.2)`;
    case 'initiator-declared':
      return rule.range
        ? `a declaration, not answered; a declaration of the target's own stays in ${rule.range[0]}..${rule.range[1]}`
        : 'a declaration of the initiator: the target does not answer it, and the login succeeds';
    case 'obsolete':
      return `§13.25: the answer is ${rule.answers.join(' or ')}, never NotUnderstood`;
    case 'extension':
      return 'a key the target does not implement: "the answer for a key not understood MUST be key=NotUnderstood" (§6.2)';
    case 'target-declared':
      return 'declared by the target';
  }
}

// ---- case generators ----------------------------------------------------------------------------------------

const caseId = (spec: KeySpec, suffix: string): string => `negotiation.${spec.slug}.${suffix}`;

function offerCase(spec: KeySpec, offer: KeyOffer, legal: boolean): ConformCase {
  const stage: LoginStage = spec.stage ?? 'operational';
  const shown = shownOf(offer);
  const why = offer.why ? ` (${offer.why})` : '';
  return {
    id: caseId(spec, offer.name),
    area: 'negotiation',
    section: spec.section,
    strength: offer.strength ?? 'MUST',
    description: legal
      ? `${spec.key}=${shown}${why}: ${expectation(spec.rule, shown)}.`
      : `${spec.key}=${shown} is not legal${why}: the target answers Reject` +
        `${negotiated(spec.rule) ? ', selects an admissible value (§6.2.2)' : ''} or refuses the login (class 2).`,
    async run(ctx) {
      const value = offeredValue(offer, ctx);
      const events = await attempt(ctx, [[spec.key, value]], stage);
      return judged(events, spec.key, (o) => (legal ? judgeLegal(spec, value, o) : judgeIllegal(spec, value, o)));
    },
  };
}

function declaredCase(spec: KeySpec): ConformCase {
  const rule = spec.rule;
  const when =
    rule.kind === 'target-declared' && rule.required
      ? 'it MUST be in the first Login Response of a Normal login (§6.3), well-formed and sent once'
      : 'when a Normal login carries it, it is well-formed and sent once';
  return {
    id: caseId(spec, 'declared'),
    area: 'negotiation',
    section: spec.section,
    strength: 'MUST',
    description: `${spec.key} is declared by the target only; ${when}.`,
    async run(ctx) {
      return judged(await attempt(ctx, []), spec.key, (o) => judgeLegal(spec, '', o));
    },
  };
}

function discoveryCase(spec: KeySpec, value: string): ConformCase {
  return {
    id: caseId(spec, 'discovery'),
    area: 'negotiation',
    section: spec.section,
    strength: 'MAY',
    description:
      `${spec.key}=${value} in a Discovery session, where the key is irrelevant: the target may answer Irrelevant ` +
      '(§6.2); any answer legal for the key passes, a refused login fails.',
    async run(ctx) {
      const events = await attempt(ctx, [[spec.key, value]], 'operational', 'Discovery');
      return judged(events, spec.key, (o) => judgeDiscovery(spec, value, o));
    },
  };
}

function misplacedCase(spec: KeySpec, suffix: string, value: string, stage: LoginStage, where: string): ConformCase {
  return {
    id: caseId(spec, suffix),
    area: 'negotiation',
    section: spec.section,
    strength: 'SHOULD',
    description:
      `${spec.key}=${value} ${where}: the target should refuse the login (class 2) or answer Reject, ` +
      'Irrelevant or NotUnderstood, rather than take it.',
    async run(ctx) {
      return judged(await attempt(ctx, [[spec.key, value]], stage), spec.key, (o) => judgeMisplaced(spec.key, o));
    },
  };
}

const RENEGOTIATION =
  '"An attempt to renegotiate/redeclare parameters not specifically allowed MUST be detected by the initiator and ' +
  'target. If such an attempt is detected by the target, the target MUST respond with Login reject (initiator error)"';

function duplicateCase(spec: KeySpec, value: string): ConformCase {
  return {
    id: caseId(spec, 'duplicate'),
    area: 'negotiation',
    section: '6.3',
    strength: 'MUST',
    description: `${spec.key}=${value} twice in one Login Request: ${RENEGOTIATION}.`,
    async run(ctx) {
      const events = await attempt(ctx, [
        [spec.key, value],
        [spec.key, value],
      ]);
      return judged(events, spec.key, (o) => judgeRefused(`${spec.key} twice in one request`, o));
    },
  };
}

function laterCase(spec: KeySpec, value: string): ConformCase {
  return {
    id: caseId(spec, 'repeated-later'),
    area: 'negotiation',
    section: '6.3',
    strength: 'MUST',
    description:
      `${spec.key}=${value} in the first Login Request (T=0) and again in the next one of the same login: ` +
      `${RENEGOTIATION}.`,
    async run(ctx) {
      if (ctx.target.chap) return notApplicable('hand-made logins need a target without authentication');
      const probe = await ctx.open();
      const isid = ctx.newIsid();
      const pairs: TextPair[] = [...identity(ctx), [spec.key, value]];
      const first = await exchangeLogin(probe, ctx, loginRequest(isid, pairs, { transit: false, nextStage: 0 }));
      const rsp = pduOf(first, 'login-response');
      if (rsp?.statusClass !== 0) return skipped('the first Login Request was not accepted');
      // Answer what the target offered, so that only the repeated key is wrong in the second request.
      const answers = acceptOffers(rsp, new Set(pairs.map(([k]) => k)));
      const req = loginRequest(isid, [...answers, [spec.key, value]], { expStatSN: (rsp.statSN + 1) >>> 0 });
      const second = await exchangeLogin(probe, ctx, req);
      return judged([first, second], spec.key, (o) => judgeRefused(`${spec.key} sent again`, o));
    },
  };
}

/** The cases of one table row. */
export function casesOf(spec: KeySpec): ConformCase[] {
  const out: ConformCase[] = [];
  if (spec.rule.kind === 'target-declared') out.push(declaredCase(spec));
  for (const offer of spec.legal) out.push(offerCase(spec, offer, true));
  for (const offer of spec.illegal ?? []) out.push(offerCase(spec, offer, false));
  if (spec.discovery !== undefined) out.push(discoveryCase(spec, spec.discovery));
  if (spec.fromInitiator !== undefined) {
    out.push(misplacedCase(spec, 'from-initiator', spec.fromInitiator, 'operational', 'sent by the initiator'));
  }
  if (spec.wrongStage !== undefined) {
    const [stage, where]: [LoginStage, string] =
      spec.stage === 'security'
        ? ['operational', 'in the operational stage (it belongs to the security stage)']
        : ['security', 'in the security stage (§13 marks the keys allowed there Any-Stage; this one is not)'];
    out.push(misplacedCase(spec, 'wrong-stage', spec.wrongStage, stage, where));
  }
  if (spec.repeat !== undefined) out.push(duplicateCase(spec, spec.repeat), laterCase(spec, spec.repeat));
  return out;
}

// ---- cross-key cases ----------------------------------------------------------------------------------------

const MBL = KEY_TABLE.find((s) => s.key === 'MaxBurstLength')!;
const FBL = KEY_TABLE.find((s) => s.key === 'FirstBurstLength')!;

/** The value in force after an answer: the number, or the default after Reject / no answer; undefined otherwise. */
function effective(answers: readonly string[], fallback: number): number | undefined {
  const a = answers[0];
  if (answers.length > 1) return undefined;
  if (a === undefined || a === 'Reject') return fallback;
  const n = parseNumeric(a);
  return n === undefined ? undefined : Number(n);
}

/**
 * Judges answers to MaxBurstLength=8192 with FirstBurstLength=16384: a refusal, or answers that leave
 * FirstBurstLength not above MaxBurstLength (defaults 262144 and 65536 after Reject).
 */
export function judgeBursts(status: number, mbl: readonly string[], fbl: readonly string[]): Judgement {
  if (status >> 8 === 2) return ok(`refused with ${hex4(status)}`);
  if (status !== 0) return bad(`status ${hex4(status)}`);
  if (fbl.includes('Irrelevant')) return ok('FirstBurstLength=Irrelevant');
  const m = effective(mbl, 262144);
  const f = effective(fbl, 65536);
  if (m === undefined || f === undefined) {
    return bad(`answers MaxBurstLength=${mbl.join(' | ')} FirstBurstLength=${fbl.join(' | ')} do not parse`);
  }
  return f <= m
    ? ok(`FirstBurstLength ${f} <= MaxBurstLength ${m}`)
    : bad(`FirstBurstLength ${f} > MaxBurstLength ${m}`);
}

/**
 * A key name that differs from a §13 key only in letter case: another key, answered NotUnderstood (§6.2). SHOULD,
 * because the case sensitivity of key names is read from the key definitions (§6.1, §13 spell every key exactly)
 * rather than from a sentence of its own.
 */
function caseVariant(variant: string, of: string, value: string): ConformCase {
  return {
    id: `negotiation.key-case.${variant.toLowerCase()}`,
    area: 'negotiation',
    section: '6.2',
    strength: 'SHOULD',
    description:
      `Key names are case sensitive: ${variant}=${value} is not ${of} but a key the target does not know, and ` +
      '"the answer for a key not understood MUST be key=NotUnderstood".',
    async run(ctx) {
      return judged(await attempt(ctx, [[variant, value]]), variant, (o) =>
        o.status === 0 && o.answers.length === 1 && o.answers[0] === 'NotUnderstood'
          ? ok()
          : bad(`status ${hex4(o.status)}, ${variant} answered ${o.answers.join(' | ') || '(none)'}`),
      );
    },
  };
}

const LONG_KEY = `X-com.example.conform.${'k'.repeat(50)}`;

/** A case offering burst lengths whose outcome must keep FirstBurstLength <= MaxBurstLength (§13.14). */
function burstCase(name: string, strength: Strength, offers: readonly TextPair[], what: string): ConformCase {
  return {
    id: `negotiation.${name}`,
    area: 'negotiation',
    section: '13.14',
    strength,
    description:
      `"FirstBurstLength MUST NOT exceed MaxBurstLength": ${what}; the answers (or the target's own offer of ` +
      'FirstBurstLength) keep FirstBurstLength <= MaxBurstLength, or the login is refused.',
    async run(ctx) {
      const events = await attempt(ctx, offers);
      if (!Array.isArray(events)) return events;
      return judged(events, MBL.key, (o) => judgeBursts(o.status, o.answers, keyAnswers(events, FBL.key)));
    },
  };
}

const crossKeyCases: readonly ConformCase[] = [
  burstCase(
    'first-burst-above-max-burst',
    'MUST',
    [
      [MBL.key, '8192'],
      [FBL.key, '16384'],
    ],
    'offered MaxBurstLength=8192 and FirstBurstLength=16384',
  ),
  // Only MaxBurstLength, below the default FirstBurstLength of 65536: either side may offer FirstBurstLength to
  // mend it, so a target that lets the defaults break the rule is at fault only in part (SHOULD).
  burstCase(
    'max-burst-below-first-burst',
    'SHOULD',
    [[MBL.key, '16384']],
    'offered MaxBurstLength=16384 alone, below the default FirstBurstLength 65536',
  ),
  caseVariant('MAXBURSTLENGTH', 'MaxBurstLength', '4096'),
  caseVariant('Initialr2t', 'InitialR2T', 'No'),
  {
    id: 'negotiation.key-name-too-long',
    area: 'negotiation',
    section: '6.1',
    strength: 'SHOULD',
    description:
      `A key name of ${LONG_KEY.length} bytes (key names are at most 63 bytes, §6.1): the target refuses the login ` +
      'or answers NotUnderstood, rather than ignore it.',
    async run(ctx) {
      return judged(await attempt(ctx, [[LONG_KEY, '1']]), LONG_KEY, (o) => {
        if (o.status >> 8 === 2) return ok(`refused with ${hex4(o.status)}`);
        if (o.status === 0 && o.answers.includes('NotUnderstood')) return ok('NotUnderstood');
        return bad(`status ${hex4(o.status)}, answered ${o.answers.join(' | ') || '(none)'}`);
      });
    },
  },
];

/** Every case of this module: the table's, then the cross-key ones. */
export const negotiationKeyCases: readonly ConformCase[] = [...KEY_TABLE.flatMap(casesOf), ...crossKeyCases];
