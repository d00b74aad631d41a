/**
 * CHAP cases (RFC 7143 §12.1.3, §9.2.1). They need the credentials in the target description; without them they
 * are not applicable.
 * @module
 */
import type { TextPair } from '../../pdu/text.js';
import type { LoginResponsePdu } from '../../pdu/types.js';
import {
  chapAnswer,
  exchangeLogin,
  fail,
  identity,
  keyValue,
  loginRequest,
  notApplicable,
  pass,
  pduOf,
  skipped,
  statusOf,
} from '../kit.js';
import type { Probe } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

interface Challenge {
  readonly probe: Probe;
  readonly isid: number;
  readonly rsp: LoginResponsePdu;
  readonly algorithm: number;
  readonly id: string;
  readonly challenge: string;
}

/** Security stage up to the target's challenge, offering `algorithms` (a CHAP_A value list). */
async function challenge(ctx: CaseContext, algorithms: string): Promise<Challenge | Verdict> {
  if (!ctx.target.chap) return notApplicable('no CHAP credentials given');
  const probe = await ctx.open();
  const isid = ctx.newIsid();
  const first = await exchangeLogin(
    probe,
    ctx,
    loginRequest(isid, [...identity(ctx), ['AuthMethod', 'CHAP']], { currentStage: 0, nextStage: 1 }),
  );
  const r1 = pduOf(first, 'login-response');
  if (r1?.statusClass !== 0 || keyValue(r1, 'AuthMethod') !== 'CHAP')
    return skipped('the target did not choose AuthMethod=CHAP');
  const second = await exchangeLogin(
    probe,
    ctx,
    loginRequest(isid, [['CHAP_A', algorithms]], {
      currentStage: 0,
      nextStage: 0,
      transit: false,
      expStatSN: (r1.statSN + 1) >>> 0,
    }),
  );
  const rsp = pduOf(second, 'login-response');
  if (!rsp) return fail('no answer to CHAP_A', second);
  const a = keyValue(rsp, 'CHAP_A');
  const id = keyValue(rsp, 'CHAP_I');
  const c = keyValue(rsp, 'CHAP_C');
  if (rsp.statusClass !== 0 || a === undefined || id === undefined || c === undefined) {
    return notApplicable(
      `CHAP_A=${algorithms} not accepted (CHAP_A=${a ?? '-'}, status 0x${statusOf(rsp).toString(16)})`,
    );
  }
  return { probe, isid, rsp, algorithm: Number(a), id, challenge: c };
}

/** Sends CHAP_N/CHAP_R (and `extra`) with T=1 → NSG 1 and returns the answer. */
async function respond(ctx: CaseContext, ch: Challenge, chapR: string, extra: readonly TextPair[] = []) {
  return exchangeLogin(
    ch.probe,
    ctx,
    loginRequest(ch.isid, [['CHAP_N', ctx.target.chap!.credentials.user], ['CHAP_R', chapR], ...extra], {
      currentStage: 0,
      nextStage: 1,
      expStatSN: (ch.rsp.statSN + 1) >>> 0,
    }),
  );
}

function algorithmCase(algorithm: number, name: string, strength: 'MUST' | 'MAY'): ConformCase {
  return {
    id: `chap.algorithm-${algorithm}`,
    area: 'chap',
    section: '12.1.3',
    strength,
    description:
      `CHAP_A=${algorithm} (${name}) offered alone is chosen and a correct CHAP_R passes authentication` +
      (algorithm === 5 ? ' (MD5 is mandatory to implement).' : '; a target without it answers Reject (n/a).'),
    async run(ctx) {
      const ch = await challenge(ctx, String(algorithm));
      // MD5 is the one algorithm every target must support (§12.1.3): refusing it is a failure, not n/a, once
      // CHAP credentials were given.
      if ('status' in ch)
        return algorithm === 5 && ctx.target.chap && ch.status === 'not-applicable' ? fail(ch.reason) : ch;
      if (ch.algorithm !== algorithm) return fail(`the target chose CHAP_A=${ch.algorithm}, not offered`, ch.rsp);
      const event = await respond(ctx, ch, chapAnswer(ctx, algorithm, ch.id, ch.challenge));
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no answer to CHAP_R', event);
      return rsp.statusClass === 0 ? pass() : fail('a correct CHAP_R was refused', rsp);
    },
  };
}

function refusedCase(
  id: string,
  description: string,
  chapR: (ctx: CaseContext, ch: Challenge) => string,
  expected: readonly number[],
): ConformCase {
  return {
    id,
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description,
    async run(ctx) {
      const ch = await challenge(ctx, '5');
      if ('status' in ch) return ch;
      const event = await respond(ctx, ch, chapR(ctx, ch));
      const rsp = pduOf(event, 'login-response');
      if (!rsp)
        return event.kind === 'closed'
          ? fail('connection closed without a Login Response', event)
          : fail('no answer', event);
      const status = statusOf(rsp);
      return expected.includes(status) ? pass() : fail(`status 0x${status.toString(16).padStart(4, '0')}`, rsp);
    },
  };
}

/** CHAP cases. */
export const chapCases: readonly ConformCase[] = [
  algorithmCase(5, 'MD5', 'MUST'),
  algorithmCase(6, 'SHA-1', 'MAY'),
  algorithmCase(7, 'SHA-256', 'MAY'),
  algorithmCase(8, 'SHA3-256', 'MAY'),
  refusedCase(
    'chap.wrong-secret',
    'A wrong CHAP_R (the right one with its first byte changed, as a wrong secret gives) fails authentication: 0x0201 "Authentication failure".',
    (_ctx, ch) => {
      const good = chapAnswer(_ctx, 5, ch.id, ch.challenge);
      return `0x${good.slice(2, 4) === 'ff' ? '00' : 'ff'}${good.slice(4)}`;
    },
    [0x0201],
  ),
  refusedCase(
    'chap.oversized-response',
    'A CHAP_R of 1024 bytes (not an MD5 digest) is not a valid response: the login is refused with 0x0201.',
    () => `0x${'ab'.repeat(1024)}`,
    [0x0201, 0x0200],
  ),
  refusedCase(
    'chap.malformed-response',
    'CHAP_R=0xZZ is not a binary value: the login is refused (0x0201 or 0x0200).',
    () => '0xZZ',
    [0x0201, 0x0200],
  ),
  {
    id: 'chap.reflected-challenge',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      '"Originators MUST NOT reuse the CHAP challenge sent by the Responder for the other direction of a ' +
      'bidirectional authentication. Responders MUST check for this condition and close the iSCSI TCP connection."',
    async run(ctx) {
      if (!ctx.target.chap?.targetCredentials) return notApplicable('mutual CHAP credentials not given');
      const ch = await challenge(ctx, '5');
      if ('status' in ch) return ch;
      const event = await respond(ctx, ch, chapAnswer(ctx, 5, ch.id, ch.challenge), [
        ['CHAP_I', String((Number(ch.id) + 1) & 0xff)],
        ['CHAP_C', ch.challenge],
      ]);
      const rsp = pduOf(event, 'login-response');
      if (rsp && rsp.statusClass === 0) return fail('the reflected challenge was answered', rsp);
      return (await ch.probe.waitClosed(ctx.timeouts.replyMs))
        ? pass()
        : fail('the connection stayed open after a reflected challenge', event);
    },
  },
];
