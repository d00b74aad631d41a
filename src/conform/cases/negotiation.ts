/**
 * Text negotiation cases during login (RFC 7143 §6.2, §13).
 * @module
 */
import type { TextPair } from '../../pdu/text.js';
import type { LoginResponsePdu } from '../../pdu/types.js';
import {
  exchangeLogin,
  fail,
  identity,
  loginRequest,
  notApplicable,
  operationalLogin,
  pairsOf,
  pass,
  pduOf,
  statusOf,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

/** The operational stage of a fresh login with `extra` keys; not applicable when authentication is configured. */
async function negotiate(ctx: CaseContext, extra: readonly TextPair[]): Promise<Received[] | Verdict> {
  if (ctx.target.chap) return notApplicable('hand-made operational logins need a target without authentication');
  const probe = await ctx.open();
  return operationalLogin(probe, ctx, ctx.newIsid(), [...identity(ctx), ...extra]);
}

const responses = (events: readonly Received[]): LoginResponsePdu[] =>
  events.map((e) => pduOf(e, 'login-response')).filter((p): p is LoginResponsePdu => p !== undefined);

/** Every value the target sent for `key` across the responses. */
const answers = (events: readonly Received[], key: string): string[] =>
  responses(events).flatMap((r) =>
    pairsOf(r)
      .filter(([k]) => k === key)
      .map(([, v]) => v),
  );

/**
 * An illegal value must not be taken: the target answers `key=Reject` or refuses the login (status class 2).
 * Reaching the Full Feature Phase without either is a failure.
 */
async function illegalValue(ctx: CaseContext, key: string, value: string): Promise<Verdict> {
  const events = await negotiate(ctx, [[key, value]]);
  if (!Array.isArray(events)) return events;
  const last = events.at(-1)!;
  const rsp = pduOf(last, 'login-response');
  if (!rsp) return fail('no Login Response', last);
  if (rsp.statusClass === 2) return pass(`refused with 0x${statusOf(rsp).toString(16).padStart(4, '0')}`);
  if (answers(events, key).includes('Reject')) return pass(`${key}=Reject`);
  return fail(`${key}=${value} was accepted without Reject or refusal`, ...responses(events));
}

/** A protocol error in the text that RFC 7143 §6.2 says the target must answer with a login reject. */
function expectInitiatorError(events: readonly Received[], what: string): Verdict {
  const last = events.at(-1)!;
  const rsp = pduOf(last, 'login-response');
  if (!rsp) return fail(`no Login Response to ${what}`, last);
  return rsp.statusClass === 2 ? pass() : fail(`${what} was not refused with an initiator error`, ...responses(events));
}

/** Negotiation cases. */
export const negotiationCases: readonly ConformCase[] = [
  {
    id: 'negotiation.mrdsl-too-small',
    area: 'negotiation',
    section: '13.12',
    strength: 'MUST',
    description:
      'MaxRecvDataSegmentLength ranges over 512..2^24-1; 100 is not a legal value (§6.2): Reject or a refused login.',
    run: (ctx) => illegalValue(ctx, 'MaxRecvDataSegmentLength', '100'),
  },
  {
    id: 'negotiation.mrdsl-too-large',
    area: 'negotiation',
    section: '13.12',
    strength: 'MUST',
    description: 'MaxRecvDataSegmentLength=16777216 (2^24) is out of range: Reject or a refused login.',
    run: (ctx) => illegalValue(ctx, 'MaxRecvDataSegmentLength', String(2 ** 24)),
  },
  {
    id: 'negotiation.max-burst-not-a-number',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description: 'MaxBurstLength=abc is not a numerical value: Reject or a refused login.',
    run: (ctx) => illegalValue(ctx, 'MaxBurstLength', 'abc'),
  },
  {
    id: 'negotiation.boolean-illegal',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description: 'InitialR2T=Maybe is not a boolean value (Yes/No): Reject or a refused login.',
    run: (ctx) => illegalValue(ctx, 'InitialR2T', 'Maybe'),
  },
  {
    id: 'negotiation.unknown-key',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description: '"the answer for a key not understood MUST be key=NotUnderstood" (X-com.example.Unknown=1).',
    async run(ctx) {
      const events = await negotiate(ctx, [['X-com.example.Unknown', '1']]);
      if (!Array.isArray(events)) return events;
      const got = answers(events, 'X-com.example.Unknown');
      if (got.includes('NotUnderstood')) return pass();
      return fail(`answer ${got.length ? got.join(',') : '(none)'} instead of NotUnderstood`, ...responses(events));
    },
  },
  {
    id: 'negotiation.duplicate-key',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description:
      '"An attempt to renegotiate/redeclare parameters not specifically allowed MUST be detected by the initiator ' +
      'and target. If such an attempt is detected by the target, the target MUST respond with Login reject ' +
      '(initiator error)": MaxBurstLength twice in one request.',
    async run(ctx) {
      const events = await negotiate(ctx, [
        ['MaxBurstLength', '262144'],
        ['MaxBurstLength', '65536'],
      ]);
      return Array.isArray(events) ? expectInitiatorError(events, 'a duplicate key') : events;
    },
  },
  {
    id: 'negotiation.redeclared-later',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description:
      'The declarative MaxRecvDataSegmentLength sent again in a later Login Request of the same login is a ' +
      'redeclaration: Login reject (initiator error).',
    async run(ctx) {
      if (ctx.target.chap) return notApplicable('hand-made operational logins need a target without authentication');
      const probe = await ctx.open();
      const isid = ctx.newIsid();
      const mrdsl: TextPair = ['MaxRecvDataSegmentLength', '8192'];
      const first = await exchangeLogin(
        probe,
        ctx,
        loginRequest(isid, [...identity(ctx), mrdsl], { transit: false, nextStage: 0 }),
      );
      const rsp = pduOf(first, 'login-response');
      if (rsp?.statusClass !== 0) return fail('the first request was not accepted', first);
      const second = await exchangeLogin(
        probe,
        ctx,
        loginRequest(isid, [mrdsl], { expStatSN: (rsp.statSN + 1) >>> 0 }),
      );
      return expectInitiatorError([second], 'a redeclared key');
    },
  },
  {
    id: 'negotiation.numeric-min',
    area: 'negotiation',
    section: '13.13',
    strength: 'MUST',
    description:
      '"For numerical negotiations, the responding party MUST respond with the required key"; MaxBurstLength and ' +
      'FirstBurstLength are negotiated with Minimum: the answers are at most our 4096/2048.',
    async run(ctx) {
      const events = await negotiate(ctx, [
        ['InitialR2T', 'Yes'],
        ['MaxBurstLength', '4096'],
        ['FirstBurstLength', '2048'],
      ]);
      if (!Array.isArray(events)) return events;
      for (const [key, limit] of [
        ['MaxBurstLength', 4096],
        ['FirstBurstLength', 2048],
      ] as const) {
        const got = answers(events, key);
        if (got.length !== 1) return fail(`${got.length} answers for ${key}`, ...responses(events));
        const n = Number(got[0]);
        if (!(n >= 512 && n <= limit)) return fail(`${key}=${got[0]} is not the minimum`, ...responses(events));
      }
      return pass();
    },
  },
  {
    id: 'negotiation.list-answer',
    area: 'negotiation',
    section: '6.2',
    strength: 'MUST',
    description:
      'List negotiation: the answer to HeaderDigest=CRC32C,None is a single value from the offered list (or Reject).',
    async run(ctx) {
      const events = await negotiate(ctx, [['HeaderDigest', 'CRC32C,None']]);
      if (!Array.isArray(events)) return events;
      const got = answers(events, 'HeaderDigest');
      if (got.length === 1 && ['CRC32C', 'None', 'Reject'].includes(got[0]!)) return pass(`HeaderDigest=${got[0]}`);
      return fail(`HeaderDigest answered ${got.join(' | ') || '(none)'}`, ...responses(events));
    },
  },
  {
    id: 'negotiation.irrelevant-in-discovery',
    area: 'negotiation',
    section: '6.2',
    strength: 'MAY',
    description:
      'A key irrelevant to a Discovery session (ImmediateData) may be answered Irrelevant; any answer but a refusal ' +
      'of the login passes.',
    async run(ctx) {
      if (ctx.target.chap) return notApplicable('hand-made operational logins need a target without authentication');
      const probe = await ctx.open();
      const events = await operationalLogin(probe, ctx, ctx.newIsid(), [
        ...identity(ctx, 'Discovery'),
        ['ImmediateData', 'Yes'],
      ]);
      const last = pduOf(events.at(-1)!, 'login-response');
      if (last?.statusClass !== 0) return fail('the discovery login was refused', ...events);
      return pass(`ImmediateData=${answers(events, 'ImmediateData').join(',') || '(no answer)'}`);
    },
  },
];
