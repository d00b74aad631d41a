/**
 * Login phase cases (RFC 7143 §6.3, §11.12, §11.13).
 * @module
 */
import type { TextPair } from '../../pdu/text.js';
import {
  exchangeLogin,
  fail,
  identity,
  isVerdict,
  type LoginFields,
  login,
  loginRequest,
  nopOut,
  notApplicable,
  pass,
  pduOf,
  statusOf,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

const hex4 = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

/** A hand-made first Login Request needs a target without authentication (else the answer is about CHAP). */
function needsNoAuth(ctx: CaseContext): Verdict | undefined {
  return ctx.target.chap
    ? notApplicable('the hand-made login skips authentication; credentials were given')
    : undefined;
}

/** Sends one hand-made Login Request on a fresh connection and returns the answer. */
async function oneLogin(ctx: CaseContext, pairs: readonly TextPair[], fields: LoginFields = {}): Promise<Received> {
  const probe = await ctx.open();
  return exchangeLogin(probe, ctx, loginRequest(ctx.newIsid(), pairs, fields));
}

/** Expects a refusal with one of `details` (status class 2). */
function expectRefusal(event: Received, details: readonly number[], what: string): Verdict {
  const rsp = pduOf(event, 'login-response');
  if (!rsp) return fail(`no Login Response to ${what}`, event);
  const status = statusOf(rsp);
  if (details.includes(status)) return pass();
  return fail(`${what}: status ${hex4(status)}, expected ${details.map(hex4).join(' or ')}`, rsp);
}

/** Login cases. */
export const loginCases: readonly ConformCase[] = [
  {
    id: 'login.basic',
    area: 'login',
    section: '11.13',
    strength: 'MUST',
    description:
      'A plain login reaches the Full Feature Phase; the final Login Response echoes the ISID and ITT, has T=1 ' +
      'NSG=3 and a non-zero TSIH (§11.13: "the TSIH ... MUST be set by the target in the final response").',
    async run(ctx) {
      const probe = await ctx.open();
      const isid = ctx.newIsid();
      const s = await login(ctx, { probe, isid });
      if (isVerdict(s)) return fail(`login failed: ${s.status === 'skipped' ? s.reason : s.status}`, ...probe.log);
      const last = [...probe.log].reverse().find((e) => e.summary.startsWith('login-response'));
      if (s.result.tsih === 0) return fail('final Login Response has TSIH 0', last);
      if (s.result.isid !== isid) return fail('ISID not echoed', last);
      return pass();
    },
  },
  {
    id: 'login.t-and-c',
    area: 'login',
    section: '11.12.2',
    strength: 'MUST',
    description:
      '"A Login Request with the C bit set to 1 MUST have the T bit set to 0." A request with both set is an ' +
      'initiator error: the login is refused (0x020b Invalid during login, or 0x0200).',
    async run(ctx) {
      const na = needsNoAuth(ctx);
      if (na) return na;
      return expectRefusal(await oneLogin(ctx, identity(ctx), { continue: true }), [0x020b, 0x0200], 'T=1 C=1');
    },
  },
  {
    id: 'login.t0-answered-t0',
    area: 'login',
    section: '11.13.3',
    strength: 'MUST',
    description: '"If the Status-Class is 0, the T bit MUST NOT be set to 1 if the T bit in the request was set to 0."',
    async run(ctx) {
      const na = needsNoAuth(ctx);
      if (na) return na;
      const event = await oneLogin(ctx, identity(ctx), { transit: false, nextStage: 0 });
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no Login Response', event);
      if (rsp.statusClass !== 0) return pass(`refused with ${hex4(statusOf(rsp))}`);
      return rsp.transit ? fail('T=1 in the answer to a T=0 request', rsp) : pass();
    },
  },
  {
    id: 'login.reserved-csg',
    area: 'login',
    section: '11.12.3',
    strength: 'SHOULD',
    description:
      'CSG 2 is reserved ("All other values are reserved"); a target cannot negotiate in it and should refuse the ' +
      'login with an initiator error (0x020b or 0x0200).',
    async run(ctx) {
      const na = needsNoAuth(ctx);
      if (na) return na;
      return expectRefusal(await oneLogin(ctx, identity(ctx), { currentStage: 2 }), [0x020b, 0x0200], 'CSG=2');
    },
  },
  {
    id: 'login.reserved-nsg',
    area: 'login',
    section: '11.12.3',
    strength: 'SHOULD',
    description: 'NSG 2 with T=1 is a reserved stage; the login should be refused with an initiator error.',
    async run(ctx) {
      const na = needsNoAuth(ctx);
      if (na) return na;
      return expectRefusal(await oneLogin(ctx, identity(ctx), { nextStage: 2 }), [0x020b, 0x0200], 'NSG=2');
    },
  },
  {
    id: 'login.unsupported-version',
    area: 'login',
    section: '11.13.3',
    strength: 'MUST',
    description:
      '"If the target does not support a version within the range specified by the initiator, the target rejects ' +
      'the login" (0x0205 Unsupported version); range 0x7f..0x7f.',
    async run(ctx) {
      return expectRefusal(
        await oneLogin(ctx, identity(ctx), { versionMin: 0x7f, versionMax: 0x7f }),
        [0x0205],
        'version 0x7f',
      );
    },
  },
  {
    id: 'login.version-active',
    area: 'login',
    section: '11.13.3',
    strength: 'MUST',
    description: 'Version-active is the highest version both support: 0x00 for a request with range 0..0.',
    async run(ctx) {
      const event = await oneLogin(ctx, identity(ctx), ctx.target.chap ? { currentStage: 0, nextStage: 1 } : {});
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no Login Response', event);
      if (rsp.statusClass === 0 && rsp.versionActive !== 0) return fail('Version-active is not 0', rsp);
      return pass();
    },
  },
  {
    id: 'login.missing-initiator-name',
    area: 'login',
    section: '11.13.5',
    strength: 'MUST',
    description:
      'The first Login Request MUST carry InitiatorName (§6.3); without it the target answers 0x0207 ' +
      '"Missing parameter (e.g., iSCSI Initiator Name and/or Target Name)".',
    async run(ctx) {
      const pairs = identity(ctx).filter(([k]) => k !== 'InitiatorName');
      return expectRefusal(await oneLogin(ctx, pairs), [0x0207], 'no InitiatorName');
    },
  },
  {
    id: 'login.missing-target-name',
    area: 'login',
    section: '11.13.5',
    strength: 'MUST',
    description: 'A Normal session without TargetName is refused with 0x0207 "Missing parameter".',
    async run(ctx) {
      const pairs = identity(ctx).filter(([k]) => k !== 'TargetName');
      return expectRefusal(await oneLogin(ctx, pairs), [0x0207], 'no TargetName');
    },
  },
  {
    id: 'login.unknown-session-type',
    area: 'login',
    section: '13.21',
    strength: 'SHOULD',
    description:
      'SessionType is "Discovery" or "Normal"; an unknown type should be refused (0x0209 Session type not ' +
      'supported, or 0x0200).',
    async run(ctx) {
      const pairs = identity(ctx).map(([k, v]): TextPair => (k === 'SessionType' ? [k, 'Bogus'] : [k, v]));
      return expectRefusal(await oneLogin(ctx, pairs), [0x0209, 0x0200], 'SessionType=Bogus');
    },
  },
  {
    id: 'login.unknown-target',
    area: 'login',
    section: '11.13.5',
    strength: 'MUST',
    description: 'A TargetName the target does not serve is refused with 0x0203 "Not found" (or 0x0204 removed).',
    async run(ctx) {
      const pairs = identity(ctx).map(([k, v]): TextPair => (k === 'TargetName' ? [k, `${v}.no-such`] : [k, v]));
      return expectRefusal(await oneLogin(ctx, pairs), [0x0203, 0x0204], 'an unknown TargetName');
    },
  },
  {
    id: 'login.refusal-closes',
    area: 'login',
    section: '11.13.5',
    strength: 'MUST',
    description: '"If the Status-Class is not 0, the initiator and target MUST close the TCP connection."',
    async run(ctx) {
      const probe = await ctx.open();
      const pairs = identity(ctx).filter(([k]) => k !== 'InitiatorName');
      const event = await exchangeLogin(probe, ctx, loginRequest(ctx.newIsid(), pairs));
      const rsp = pduOf(event, 'login-response');
      if (!rsp || rsp.statusClass === 0) return fail('the login was not refused', event);
      return (await probe.waitClosed(ctx.timeouts.replyMs))
        ? pass()
        : fail(`connection still open ${ctx.timeouts.replyMs} ms after a refusal`, rsp);
    },
  },
  {
    id: 'login.unknown-tsih',
    area: 'login',
    section: '11.13.5',
    strength: 'MUST',
    description: 'A login with a non-zero TSIH that names no session is refused with 0x020a "Session does not exist".',
    async run(ctx) {
      return expectRefusal(
        await oneLogin(ctx, identity(ctx), {
          tsih: 0x7ab1,
          ...(ctx.target.chap ? { currentStage: 0, nextStage: 1 } : {}),
        }),
        [0x020a],
        'TSIH 0x7ab1',
      );
    },
  },
  {
    id: 'login.reinstatement',
    area: 'login',
    section: '6.3.5',
    strength: 'MUST',
    description:
      'Session reinstatement: a new login with the ISID of a live session and TSIH 0 succeeds, and the old ' +
      'session is closed ("the target MUST ... terminate the old session" before the new one is used).',
    async run(ctx) {
      const isid = ctx.newIsid();
      const first = await login(ctx, { isid });
      if (isVerdict(first)) return first;
      const second = await login(ctx, { isid });
      if (isVerdict(second)) return fail(`reinstating login failed: ${'reason' in second ? second.reason : ''}`);
      const probe = first.probe;
      if (probe.closed) return pass();
      const pdu = nopOut(first);
      probe.send(pdu);
      const event = await probe.next(ctx.timeouts.replyMs);
      if (event.kind === 'closed' || event.kind === 'timeout') return pass();
      const nop = pduOf(event, 'nop-in');
      if (nop && nop.initiatorTaskTag === pdu.initiatorTaskTag)
        return fail('the old session still answers after reinstatement', pdu, nop);
      return pass();
    },
  },
];
