/**
 * The table-driven negotiation cases: the table covers every §13 key, agrees with the key table of the iscsi-ts
 * negotiator (both transcribe RFC 7143 §13), the judges follow the result functions, and the embedded target passes
 * every case but the two SHOULD checks of InitiatorName syntax it does not make.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinCases } from '../../src/conform/cases/index.js';
import {
  answerOptional,
  casesOf,
  type Judgement,
  judgeBursts,
  judgeDiscovery,
  judgeIllegal,
  judgeLegal,
  judgeMisplaced,
  judgeRefused,
  KEY_TABLE,
  type KeyOutcome,
  type KeySpec,
  negotiationKeyCases,
  parseNumeric,
  selectionProblem,
} from '../../src/conform/cases/negotiation-keys.js';
import { runConformance } from '../../src/conform/runner.js';
import { keyDefinition } from '../../src/session/keys.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const spec = (key: string): KeySpec => {
  const s = KEY_TABLE.find((k) => k.key === key);
  if (!s) throw new Error(`no row for ${key}`);
  return s;
};
const answered = (answers: string[], status = 0, first = answers): KeyOutcome => ({ status, answers, first });
const status = (j: Judgement): string => j.status;

describe('the table', () => {
  it('has a row for every login key of RFC 7143 §13 (SendTargets aside), AuthMethod and both extension forms', () => {
    const keys = KEY_TABLE.map((s) => s.key);
    for (const key of [
      'AuthMethod',
      'HeaderDigest',
      'DataDigest',
      'MaxConnections',
      'TargetName',
      'InitiatorName',
      'TargetAlias',
      'InitiatorAlias',
      'TargetAddress',
      'TargetPortalGroupTag',
      'InitialR2T',
      'ImmediateData',
      'MaxRecvDataSegmentLength',
      'MaxBurstLength',
      'FirstBurstLength',
      'DefaultTime2Wait',
      'DefaultTime2Retain',
      'MaxOutstandingR2T',
      'DataPDUInOrder',
      'DataSequenceInOrder',
      'ErrorRecoveryLevel',
      'SessionType',
      'TaskReporting',
      'iSCSIProtocolLevel',
      'IFMarker',
      'OFMarker',
      'IFMarkInt',
      'OFMarkInt',
    ]) {
      expect(keys, key).toContain(key);
    }
    expect(keys.some((k) => k.startsWith('X-'))).toBe(true);
    expect(keys.some((k) => k.startsWith('X#'))).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('gives every negotiated key a legal and an illegal offer, and every target-only key an initiator offer', () => {
    for (const s of KEY_TABLE) {
      const kind = s.rule.kind;
      if (['list', 'and', 'or', 'min', 'max'].includes(kind)) {
        expect(s.legal.length, s.key).toBeGreaterThan(0);
        expect(s.illegal?.length ?? 0, s.key).toBeGreaterThan(0);
      }
      if (kind === 'target-declared') expect(s.fromInitiator, s.key).toBeDefined();
      if (kind === 'initiator-declared') expect(s.legal.length, s.key).toBeGreaterThan(0);
    }
  });

  it('offers legal values that are legal for the rule and illegal ones that are not', () => {
    for (const s of KEY_TABLE) {
      const { rule } = s;
      for (const offer of s.legal) {
        if (typeof offer.value !== 'string') continue;
        if (rule.kind === 'min' || rule.kind === 'max') {
          const n = parseNumeric(offer.value);
          expect(n !== undefined && n >= BigInt(rule.min) && n <= BigInt(rule.max), `${s.key}=${offer.value}`).toBe(
            true,
          );
        }
        if (rule.kind === 'and' || rule.kind === 'or') expect(['Yes', 'No']).toContain(offer.value);
        if (rule.kind === 'list') {
          expect(
            offer.value.split(',').some((v) => rule.values.includes(v)),
            `${s.key}=${offer.value}`,
          ).toBe(true);
        }
      }
      for (const offer of s.illegal ?? []) {
        if (typeof offer.value !== 'string') continue;
        if (rule.kind === 'min' || rule.kind === 'max') {
          const n = parseNumeric(offer.value);
          expect(n === undefined || n < BigInt(rule.min) || n > BigInt(rule.max), `${s.key}=${offer.value}`).toBe(true);
        }
        if (rule.kind === 'and' || rule.kind === 'or') expect(['Yes', 'No']).not.toContain(offer.value);
        if (rule.kind === 'list') {
          expect(
            offer.value.split(',').some((v) => rule.values.includes(v)),
            `${s.key}=${offer.value}`,
          ).toBe(false);
        }
      }
    }
  });

  it('agrees with the key table of the negotiator on sections, result functions and ranges', () => {
    const results: Record<string, string> = {
      list: 'list',
      and: 'and',
      or: 'or',
      min: 'min',
      max: 'max',
      'initiator-declared': 'declarative',
      'target-declared': 'declarative',
      obsolete: 'reject',
    };
    let compared = 0;
    for (const s of KEY_TABLE) {
      const def = keyDefinition(s.key);
      if (!def) continue;
      compared++;
      expect(def.section.startsWith(s.section), s.key).toBe(true);
      expect(def.result, s.key).toBe(results[s.rule.kind]);
      if ((s.rule.kind === 'min' || s.rule.kind === 'max') && def.type === 'number') {
        expect([def.min, def.max], s.key).toEqual([s.rule.min, s.rule.max]);
      }
      if (s.rule.kind === 'list' && def.type === 'list') expect(def.values, s.key).toEqual(s.rule.values);
      if (s.discovery !== undefined) expect(def.irrelevantInDiscovery, s.key).toBe(true);
      if (s.fromInitiator !== undefined) expect(def.senders, s.key).toBe('target');
    }
    expect(compared).toBe(KEY_TABLE.length - 2); // all but the two extension keys
  });

  it('makes cases with unique well-formed ids, all registered among the built-in cases', () => {
    const ids = negotiationKeyCases.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    const builtin = builtinCases.map((c) => c.id);
    expect(new Set(builtin).size).toBe(builtin.length);
    for (const c of negotiationKeyCases) {
      expect(c.id).toMatch(/^negotiation\.[a-z0-9.-]+$/);
      expect(c.area).toBe('negotiation');
      expect(c.section).toMatch(/^\d+(?:\.\d+)*$/);
      expect(c.description.length).toBeGreaterThan(40);
      expect(builtin).toContain(c.id);
    }
    expect(negotiationKeyCases.length).toBe(KEY_TABLE.flatMap(casesOf).length + 5);
  });
});

describe('judges', () => {
  it('parses decimal and hex numerical values only (RFC 7143 §6.1)', () => {
    expect(parseNumeric('0')).toBe(0n);
    expect(parseNumeric('65536')).toBe(65536n);
    expect(parseNumeric('0x4000')).toBe(16384n);
    for (const v of ['', '-1', '007', '1.5', 'abc', '0x', '4096,8192']) expect(parseNumeric(v), v).toBeUndefined();
  });

  it('Minimum: an answer passes exactly when it lies between the key minimum and the offer', () => {
    const s = spec('MaxBurstLength');
    fc.assert(
      fc.property(fc.integer({ min: 512, max: 2 ** 24 - 1 }), fc.integer({ min: 0, max: 2 ** 24 + 10 }), (o, n) => {
        const j = judgeLegal(s, String(o), answered([String(n)]));
        expect(status(j)).toBe(n >= 512 && n <= o ? 'pass' : 'fail');
      }),
      { numRuns: 300 },
    );
  });

  it('Maximum: an answer passes exactly when it lies between the offer and the key maximum', () => {
    const s = spec('DefaultTime2Wait');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3600 }), fc.integer({ min: 0, max: 4000 }), (o, n) => {
        expect(status(judgeLegal(s, String(o), answered([String(n)])))).toBe(n >= o && n <= 3600 ? 'pass' : 'fail');
      }),
      { numRuns: 300 },
    );
  });

  it('AND and OR: the answer is a possible result, and optional only when the offer decides', () => {
    const and = spec('ImmediateData');
    const or = spec('InitialR2T');
    expect(status(judgeLegal(and, 'Yes', answered(['No'])))).toBe('pass');
    expect(status(judgeLegal(and, 'Yes', answered(['Yes'])))).toBe('pass');
    expect(status(judgeLegal(and, 'No', answered(['Yes'])))).toBe('fail');
    expect(status(judgeLegal(and, 'No', answered([])))).toBe('pass');
    expect(status(judgeLegal(and, 'Yes', answered([])))).toBe('fail');
    expect(status(judgeLegal(or, 'Yes', answered(['No'])))).toBe('fail');
    expect(status(judgeLegal(or, 'No', answered(['Yes'])))).toBe('pass');
    expect(status(judgeLegal(or, 'Yes', answered([])))).toBe('pass');
    expect(status(judgeLegal(or, 'No', answered(['Maybe'])))).toBe('fail');
    expect(answerOptional(or.rule, 'Yes')).toBe(true);
    expect(answerOptional(and.rule, 'Yes')).toBe(false);
  });

  it('lists: one offered value, or Reject', () => {
    const s = spec('HeaderDigest');
    expect(status(judgeLegal(s, 'None,CRC32C', answered(['CRC32C'])))).toBe('pass');
    expect(status(judgeLegal(s, 'None,CRC32C', answered(['Reject'])))).toBe('pass');
    expect(status(judgeLegal(s, 'None', answered(['CRC32C'])))).toBe('fail');
    expect(selectionProblem(s.rule, 'None,CRC32C', 'None,CRC32C')).toMatch(/list/);
    expect(status(judgeLegal(s, 'None,CRC32C', answered([])))).toBe('fail');
  });

  it('reserved answers, repeats and refusals of legal offers', () => {
    expect(status(judgeLegal(spec('MaxConnections'), '4', answered(['NotUnderstood'])))).toBe('fail');
    expect(status(judgeLegal(spec('TaskReporting'), 'RFC3720', answered(['NotUnderstood'])))).toBe('not-applicable');
    expect(status(judgeLegal(spec('MaxConnections'), '4', answered(['Irrelevant'])))).toBe('pass');
    expect(status(judgeLegal(spec('MaxConnections'), '4', answered(['Reject'])))).toBe('fail');
    expect(status(judgeLegal(spec('MaxConnections'), '4', answered(['1', '1'])))).toBe('fail');
    expect(status(judgeLegal(spec('MaxConnections'), '4', answered(['1'], 0x0200)))).toBe('fail');
  });

  it('declarations: initiator keys are not answered, target keys are well-formed', () => {
    expect(status(judgeLegal(spec('InitiatorAlias'), 'x', answered([])))).toBe('pass');
    expect(status(judgeLegal(spec('InitiatorAlias'), 'x', answered(['x'])))).toBe('fail');
    const mrdsl = spec('MaxRecvDataSegmentLength');
    expect(status(judgeLegal(mrdsl, '4096', answered(['262144'])))).toBe('pass');
    expect(status(judgeLegal(mrdsl, '4096', answered(['100'])))).toBe('fail');
    const tpgt = spec('TargetPortalGroupTag');
    expect(status(judgeLegal(tpgt, '', answered(['1'])))).toBe('pass');
    expect(status(judgeLegal(tpgt, '', answered(['0bAAE='])))).toBe('pass');
    expect(status(judgeLegal(tpgt, '', answered(['65536'])))).toBe('fail');
    expect(status(judgeLegal(tpgt, '', answered(['1'], 0, [])))).toBe('fail');
    expect(status(judgeLegal(spec('TargetAlias'), '', answered([])))).toBe('pass');
    expect(status(judgeLegal(spec('TargetAlias'), '', answered(['Reject'])))).toBe('fail');
    expect(status(judgeLegal(spec('TargetAddress'), '', answered(['127.0.0.1:3260,1'])))).toBe('pass');
    expect(status(judgeLegal(spec('TargetAddress'), '', answered(['::1:3260'])))).toBe('fail');
  });

  it('obsolete and extension keys', () => {
    expect(status(judgeLegal(spec('IFMarker'), 'Yes', answered(['No'])))).toBe('pass');
    expect(status(judgeLegal(spec('IFMarker'), 'Yes', answered(['NotUnderstood'])))).toBe('fail');
    expect(status(judgeLegal(spec('IFMarkInt'), '2048~8192', answered(['Reject'])))).toBe('pass');
    expect(status(judgeLegal(spec('IFMarkInt'), '2048~8192', answered(['2048'])))).toBe('fail');
    const x = KEY_TABLE.find((s) => s.rule.kind === 'extension')!;
    expect(status(judgeLegal(x, '1', answered(['NotUnderstood'])))).toBe('pass');
    expect(status(judgeLegal(x, '1', answered([])))).toBe('fail');
  });

  it('illegal offers: Reject, an admissible value or a class 2 refusal', () => {
    const s = spec('MaxBurstLength');
    expect(status(judgeIllegal(s, '511', answered(['Reject'])))).toBe('pass');
    expect(status(judgeIllegal(s, '511', answered([], 0x0200)))).toBe('pass');
    expect(status(judgeIllegal(s, '511', answered(['512'])))).toBe('pass');
    expect(status(judgeIllegal(s, '511', answered(['511'])))).toBe('fail');
    expect(status(judgeIllegal(s, '511', answered([])))).toBe('fail');
    expect(status(judgeIllegal(s, '511', answered([], 0x0300)))).toBe('fail');
    expect(status(judgeIllegal(spec('HeaderDigest'), 'MD5', answered(['None'])))).toBe('fail');
    expect(status(judgeIllegal(spec('InitiatorAlias'), 'a', answered([])))).toBe('fail');
  });

  it('discovery, misplaced keys, repeats and burst lengths', () => {
    const s = spec('MaxConnections');
    expect(status(judgeDiscovery(s, '4', answered(['Irrelevant'])))).toBe('pass');
    expect(status(judgeDiscovery(s, '4', answered([])))).toBe('pass');
    expect(status(judgeDiscovery(s, '4', answered(['8'])))).toBe('fail');
    expect(status(judgeDiscovery(s, '4', answered([], 0x0200)))).toBe('fail');
    expect(status(judgeMisplaced('TargetAlias', answered(['Reject'])))).toBe('pass');
    expect(status(judgeMisplaced('TargetPortalGroupTag', answered(['1'])))).toBe('fail');
    expect(status(judgeMisplaced('TargetPortalGroupTag', answered([], 0x0200)))).toBe('pass');
    expect(status(judgeRefused('x', answered([], 0x0200)))).toBe('pass');
    expect(status(judgeRefused('x', answered([])))).toBe('fail');
    expect(status(judgeBursts(0, ['8192'], ['8192']))).toBe('pass');
    expect(status(judgeBursts(0, ['8192'], ['16384']))).toBe('fail');
    expect(status(judgeBursts(0, ['16384'], []))).toBe('fail'); // the default 65536 stays
    expect(status(judgeBursts(0, ['Reject'], ['Reject']))).toBe('pass'); // 65536 <= 262144
    expect(status(judgeBursts(0x0200, [], []))).toBe('pass');
  });
});

describe('against the embedded target', () => {
  const IQN = 'iqn.2026-11.test.iscsi-ts:keys';
  let target: IscsiTarget;

  beforeAll(async () => {
    target = createTarget({
      portals: ['127.0.0.1:0'],
      targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
      loginTimeoutMs: 3000,
    });
    await target.start();
  });

  afterAll(async () => {
    await target?.stop({ graceMs: 100 });
  });

  it('passes every case, within 10 s', async () => {
    const port = target.portals[0]!.port;
    const report = await runConformance(
      { portal: { host: '127.0.0.1', port, family: 4 }, targetName: IQN },
      negotiationKeyCases,
    );
    const notPassed = report.results.filter((r) => r.verdict.status !== 'pass');
    expect(
      notPassed.map((r) => `${r.id} ${r.strength} ${r.verdict.status}`),
      JSON.stringify(notPassed.map((r) => r.verdict)),
    ).toEqual([]);
    expect(report.durationMs).toBeLessThan(10_000);
  }, 20_000);

  it('makes every case not applicable when credentials are given (the hand-made logins do not authenticate)', async () => {
    const port = target.portals[0]!.port;
    const { Secret } = await import('../../src/chap/secret.js');
    const report = await runConformance(
      {
        portal: { host: '127.0.0.1', port, family: 4 },
        targetName: IQN,
        chap: { credentials: { user: 'u', secret: Secret.from('conform-secret-1') } },
      },
      negotiationKeyCases,
    );
    expect(report.results.every((r) => r.verdict.status === 'not-applicable')).toBe(true);
  });
});
