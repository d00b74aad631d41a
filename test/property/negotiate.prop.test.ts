import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NegotiationError } from '../../src/errors.js';
import { encodeText, type TextPair } from '../../src/pdu/text.js';
import { KEYS } from '../../src/session/keys.js';
import { type NegotiationStage, Negotiator } from '../../src/session/negotiate.js';
import {
  DEFAULT_LOCAL_OFFER,
  type LocalOffer,
  type NegotiatedParameters,
  type SessionType,
} from '../../src/session/params.js';

type Kind = 'list' | 'and' | 'or' | 'min' | 'max';
type Field = keyof LocalOffer & keyof NegotiatedParameters;
type Value = string | boolean | number;

// The expectation's own copy of RFC 7143 §13 (result function, default, "Irrelevant when: SessionType=Discovery"),
// written out here rather than read from keys.ts.
const SPEC: readonly {
  name: string;
  field: Field;
  kind: Kind;
  def: Value;
  discovery: boolean;
  optional?: boolean;
}[] = [
  { name: 'HeaderDigest', field: 'headerDigest', kind: 'list', def: 'None', discovery: false },
  { name: 'DataDigest', field: 'dataDigest', kind: 'list', def: 'None', discovery: false },
  { name: 'MaxConnections', field: 'maxConnections', kind: 'min', def: 1, discovery: true },
  { name: 'InitialR2T', field: 'initialR2T', kind: 'or', def: true, discovery: true },
  { name: 'ImmediateData', field: 'immediateData', kind: 'and', def: true, discovery: true },
  { name: 'MaxBurstLength', field: 'maxBurstLength', kind: 'min', def: 262144, discovery: true },
  { name: 'FirstBurstLength', field: 'firstBurstLength', kind: 'min', def: 65536, discovery: true },
  { name: 'DefaultTime2Wait', field: 'defaultTime2Wait', kind: 'max', def: 2, discovery: false },
  { name: 'DefaultTime2Retain', field: 'defaultTime2Retain', kind: 'min', def: 20, discovery: false },
  { name: 'MaxOutstandingR2T', field: 'maxOutstandingR2T', kind: 'min', def: 1, discovery: true },
  { name: 'DataPDUInOrder', field: 'dataPDUInOrder', kind: 'or', def: true, discovery: true },
  { name: 'DataSequenceInOrder', field: 'dataSequenceInOrder', kind: 'or', def: true, discovery: true },
  { name: 'ErrorRecoveryLevel', field: 'errorRecoveryLevel', kind: 'min', def: 0, discovery: false },
  { name: 'TaskReporting', field: 'taskReporting', kind: 'list', def: 'RFC3720', discovery: true, optional: true },
  { name: 'iSCSIProtocolLevel', field: 'iscsiProtocolLevel', kind: 'min', def: 1, discovery: true, optional: true },
];
const FAIL = Symbol('fail');

// The offerer's position against the responder's: first common list value, AND, OR, smaller, larger.
function combine(kind: Kind, offerer: unknown, responder: unknown): Value | typeof FAIL {
  switch (kind) {
    case 'list':
      return (offerer as string[]).find((v) => (responder as string[]).includes(v)) ?? FAIL;
    case 'and':
      return (offerer as boolean) && (responder as boolean);
    case 'or':
      return (offerer as boolean) || (responder as boolean);
    case 'min':
      return Math.min(offerer as number, responder as number);
    case 'max':
      return Math.max(offerer as number, responder as number);
  }
}

// Whether a side holding `position` needs to offer the key because the default would break it.
function defaultBreaks(kind: Kind, position: unknown, def: Value): boolean {
  switch (kind) {
    case 'list':
      return !(position as string[]).includes(def as string);
    case 'and':
      return position === false && def === true;
    case 'or':
      return position === true && def === false;
    case 'min':
      return (def as number) > (position as number);
    case 'max':
      return (def as number) < (position as number);
  }
}

interface Side {
  readonly local: Partial<LocalOffer>;
  readonly offerKeys?: readonly string[];
}

/** What both sides must end with, seen from the initiator, or FAIL when some side must refuse. */
function expectation(i: Side, t: Side, sessionType: SessionType): Record<string, Value> | typeof FAIL {
  const il: LocalOffer = { ...DEFAULT_LOCAL_OFFER, ...i.local };
  const tl: LocalOffer = { ...DEFAULT_LOCAL_OFFER, ...t.local };
  const out: Record<string, Value> = {};
  for (const spec of SPEC) {
    let value: Value | typeof FAIL = spec.def;
    if (!(sessionType === 'Discovery' && spec.discovery)) {
      const initiatorOffers =
        (i.offerKeys === undefined || i.offerKeys.includes(spec.name)) && (!spec.optional || spec.field in i.local);
      // A target offers a FirstBurstLength no larger than the MaxBurstLength agreed before (§13.14): in the same
      // round when the initiator offered it, in the next one when the target did.
      const position =
        spec.name === 'FirstBurstLength' ? Math.min(tl.firstBurstLength, out.maxBurstLength as number) : tl[spec.field];
      const targetOffers = (!spec.optional || spec.field in t.local) && defaultBreaks(spec.kind, position, spec.def);
      if (initiatorOffers) value = combine(spec.kind, il[spec.field], tl[spec.field]);
      else if (targetOffers) value = combine(spec.kind, position, il[spec.field]);
    }
    if (value === FAIL) return FAIL;
    out[spec.field] = value;
  }
  // RFC 7143 §13.14.
  const unsolicited = !(out.initialR2T === true && out.immediateData === false);
  if (sessionType === 'Normal' && unsolicited && (out.firstBurstLength as number) > (out.maxBurstLength as number)) {
    return FAIL;
  }
  const declares = i.offerKeys === undefined || i.offerKeys.includes('MaxRecvDataSegmentLength');
  out.maxRecvDataSegmentLength = declares ? il.maxRecvDataSegmentLength : 8192;
  out.maxXmitDataSegmentLength = tl.maxRecvDataSegmentLength;
  return out;
}

/** Plays a login's operational stage between the two until nothing is left to say (bounded). */
function negotiate(i: Negotiator, t: Negotiator): [NegotiatedParameters, NegotiatedParameters] {
  let toTarget = i.offers();
  for (let round = 0; round < 4; round++) {
    const toInitiator = [...t.receive(toTarget), ...t.offers()];
    toTarget = [...i.receive(toInitiator), ...i.offers()];
    if (toTarget.length === 0) break;
  }
  expect(i.pending()).toEqual([]);
  expect(t.pending()).toEqual([]);
  return [i.result(), t.result()];
}

const digestsArb = fc.constantFrom<('CRC32C' | 'None')[]>(['None'], ['CRC32C'], ['None', 'CRC32C'], ['CRC32C', 'None']);
const lengthArb = fc.oneof(
  fc.constantFrom(512, 8192, 65536, 262144, 2 ** 24 - 1),
  fc.integer({ min: 512, max: 2 ** 24 - 1 }),
);
const fullLocalArb = fc.record({
  headerDigest: digestsArb,
  dataDigest: digestsArb,
  maxConnections: fc.integer({ min: 1, max: 65535 }),
  initialR2T: fc.boolean(),
  immediateData: fc.boolean(),
  maxRecvDataSegmentLength: lengthArb,
  maxBurstLength: lengthArb,
  firstBurstLength: lengthArb,
  defaultTime2Wait: fc.integer({ min: 0, max: 3600 }),
  defaultTime2Retain: fc.integer({ min: 0, max: 3600 }),
  maxOutstandingR2T: fc.integer({ min: 1, max: 65535 }),
  dataPDUInOrder: fc.boolean(),
  dataSequenceInOrder: fc.boolean(),
  errorRecoveryLevel: fc.integer({ min: 0, max: 2 }),
  taskReporting: fc.constantFrom<LocalOffer['taskReporting'][]>(
    ['RFC3720'],
    ['FastAbort', 'RFC3720'],
    ['ResponseFence', 'RFC3720', 'FastAbort'],
  ),
  iscsiProtocolLevel: fc.integer({ min: 0, max: 31 }),
});
// A random subset of fields, made valid: FirstBurstLength never above MaxBurstLength (§13.14).
const localArb: fc.Arbitrary<Partial<LocalOffer>> = fc
  .tuple(fullLocalArb, fc.subarray(Object.keys(DEFAULT_LOCAL_OFFER) as (keyof LocalOffer)[]))
  .map(([full, fields]) => {
    const local: Record<string, unknown> = {};
    for (const field of fields) local[field] = full[field];
    const merged = { ...DEFAULT_LOCAL_OFFER, ...local } as LocalOffer;
    if (merged.firstBurstLength > merged.maxBurstLength) local.firstBurstLength = merged.maxBurstLength;
    return local as Partial<LocalOffer>;
  });
const offerable = SPEC.map((s) => s.name).concat('MaxRecvDataSegmentLength');
const offerKeysArb = fc.option(fc.subarray(offerable), { nil: undefined });

describe('negotiation between an initiator and a target Negotiator', () => {
  it('both sides converge on the independently computed min/max/AND/OR/first-common-value result', () => {
    fc.assert(
      fc.property(
        localArb,
        localArb,
        offerKeysArb,
        fc.constantFrom<SessionType>('Normal', 'Discovery'),
        (iLocal, tLocal, offerKeys, sessionType) => {
          const i = new Negotiator({
            role: 'initiator',
            sessionType,
            local: iLocal,
            ...(offerKeys ? { offerKeys } : {}),
          });
          const t = new Negotiator({ role: 'target', sessionType, local: tLocal });
          const expected = expectation(
            { local: iLocal, ...(offerKeys ? { offerKeys } : {}) },
            { local: tLocal },
            sessionType,
          );
          if (expected === FAIL) {
            expect(() => negotiate(i, t)).toThrow(NegotiationError);
            return;
          }
          const [ri, rt] = negotiate(i, t);
          expect(Object.isFrozen(ri) && Object.isFrozen(rt)).toBe(true);
          for (const spec of SPEC) {
            expect(ri[spec.field], spec.name).toBe(expected[spec.field]);
            expect(rt[spec.field], spec.name).toBe(expected[spec.field]);
          }
          expect([ri.maxRecvDataSegmentLength, ri.maxXmitDataSegmentLength]).toEqual([
            expected.maxRecvDataSegmentLength,
            expected.maxXmitDataSegmentLength,
          ]);
          expect([rt.maxXmitDataSegmentLength, rt.maxRecvDataSegmentLength]).toEqual([
            expected.maxRecvDataSegmentLength,
            expected.maxXmitDataSegmentLength,
          ]);
        },
      ),
      { numRuns: 400 },
    );
  });
});

const keyArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KEYS.map((k) => k.name)) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('X-com.example.k', 'X#NodeArchitecture', 'CHAP_A', 'CHAP_R', 'FutureKey', 'x', ''),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
);
const valueArb = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'Yes',
      'No',
      'None',
      'CRC32C',
      'CRC32C,None',
      'None,CRC32C,X-md5',
      'Reject',
      'Irrelevant',
      'NotUnderstood',
      '0',
      '1',
      '2',
      '3',
      '511',
      '512',
      '8192',
      '65536',
      '262144',
      '3600',
      '3601',
      '16777215',
      '16777216',
      '0x1000',
      '0bAQI=',
      '0b',
      '007',
      '',
      ',',
      'RFC3720',
      'FastAbort,RFC3720',
      'Normal',
      'Discovery',
      '2048~8192',
      '99999999999999999999999',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.bigInt({ min: -1n, max: 1n << 70n }).map(String) },
);
const pairsArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 24 });

describe('arbitrary and malformed input', () => {
  it('receive() and result() either work or throw NegotiationError, and answers are encodable pairs', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'initiator' | 'target'>('initiator', 'target'),
        fc.constantFrom<SessionType>('Normal', 'Discovery'),
        fc.constantFrom<NegotiationStage>('security', 'operational', 'full-feature'),
        fc.boolean(),
        fc.boolean(),
        localArb,
        pairsArb,
        pairsArb,
        (role, sessionType, stage, leadingConnection, offerFirst, local, first, second) => {
          const n = new Negotiator({ role, sessionType, local, leadingConnection, stage });
          const received = new Set([...first, ...second].map(([k]) => k));
          try {
            if (offerFirst) n.offers();
            for (const pairs of [first, second]) {
              const answers = n.receive(pairs);
              for (const [key, value] of answers) {
                expect(received.has(key)).toBe(true);
                expect(value.length).toBeGreaterThan(0);
              }
              // iSCSIProtocolLevel is not a §6.1 standard-label, which encodeText enforces.
              expect(() => encodeText(answers.filter(([k]) => k !== 'iSCSIProtocolLevel'))).not.toThrow();
            }
            const r = n.result();
            expect(Object.isFrozen(r)).toBe(true);
          } catch (error) {
            if (!(error instanceof NegotiationError)) throw error;
            expect(typeof error.key).toBe('string');
          }
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('answers never repeat a key the peer sent (each key is answered at most once, §6.3)', () => {
    fc.assert(
      fc.property(pairsArb, (pairs) => {
        const t = new Negotiator({ role: 'target', sessionType: 'Normal' });
        let answers: TextPair[] = [];
        try {
          answers = t.receive(pairs);
        } catch (error) {
          expect(error).toBeInstanceOf(NegotiationError);
          return;
        }
        const names = answers.map(([k]) => k);
        expect(new Set(names).size).toBe(names.length);
        expect(new Set(pairs.map(([k]) => k)).size).toBe(pairs.length);
      }),
      { numRuns: 500 },
    );
  });
});
