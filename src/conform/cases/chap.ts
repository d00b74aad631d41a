/**
 * CHAP cases (RFC 7143 §12.1.3, §9.2.1, RFC 1994): algorithm lists, the encodings of CHAP_R (§6.1), malformed
 * or missing keys, and mutual CHAP. They need the credentials in the target description; without them they are
 * not applicable (the mutual ones also need the target's credentials).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chapResponse } from '../../chap/chap.js';
import type { TextPair } from '../../pdu/text.js';
import { formatBinary, parseBinary } from '../../pdu/text-values.js';
import type { LoginResponsePdu } from '../../pdu/types.js';
import {
  chapAnswer,
  exchangeLogin,
  fail,
  identity,
  isVerdict,
  keyValue,
  login,
  loginRequest,
  notApplicable,
  pass,
  pduOf,
  skipped,
  statusOf,
} from '../kit.js';
import type { Probe, Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

interface Challenge {
  readonly probe: Probe;
  readonly isid: number;
  readonly rsp: LoginResponsePdu;
  readonly algorithm: number;
  readonly id: string;
  readonly challenge: string;
}

/** The first two login requests of a CHAP login: AuthMethod=CHAP, then CHAP_A=`algorithms`. */
interface Offered {
  readonly probe: Probe;
  readonly isid: number;
  /** The answer to CHAP_A (a Login Response, a close, a timeout). */
  readonly event: Received;
}

/** Security stage up to the target's answer to CHAP_A=`algorithms` (a value list, sent as given). */
async function offerAlgorithms(ctx: CaseContext, algorithms: string): Promise<Offered | Verdict> {
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
  const event = await exchangeLogin(
    probe,
    ctx,
    loginRequest(isid, [['CHAP_A', algorithms]], {
      currentStage: 0,
      nextStage: 0,
      transit: false,
      expStatSN: (r1.statSN + 1) >>> 0,
    }),
  );
  return { probe, isid, event };
}

/** Security stage up to the target's challenge, offering `algorithms` (a CHAP_A value list). */
async function challenge(ctx: CaseContext, algorithms: string): Promise<Challenge | Verdict> {
  const offered = await offerAlgorithms(ctx, algorithms);
  if ('status' in offered) return offered;
  const { probe, isid, event } = offered;
  const rsp = pduOf(event, 'login-response');
  if (!rsp) return fail('no answer to CHAP_A', event);
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

/** Sends the security-stage `pairs` answering the challenge (T=1 → NSG 1) and returns the answer. */
async function respondWith(ctx: CaseContext, ch: Challenge, pairs: readonly TextPair[]) {
  return exchangeLogin(
    ch.probe,
    ctx,
    loginRequest(ch.isid, pairs, { currentStage: 0, nextStage: 1, expStatSN: (ch.rsp.statSN + 1) >>> 0 }),
  );
}

/** The correct CHAP_R bytes for the challenge, computed with our secret. */
function goodResponse(ctx: CaseContext, ch: Challenge): Uint8Array {
  return parseBinary(chapAnswer(ctx, ch.algorithm, ch.id, ch.challenge));
}

/** Whether the target accepts CHAP_A=`algorithm` offered alone (it answers with that CHAP_A and a challenge). */
async function supports(ctx: CaseContext, algorithm: number): Promise<boolean> {
  const ch = await challenge(ctx, String(algorithm));
  return !('status' in ch) && ch.algorithm === algorithm;
}

/**
 * The answer to a CHAP_A list must be a value of the list (RFC 7143 §12.1.3: "A is one of A1,A2... that were
 * proposed by the initiator"), and the first one the target supports (§6.2.1: "the first value that it supports
 * ... selected from the originator list"). `supported` is what the target accepted when offered alone.
 */
async function checkList(ctx: CaseContext, list: readonly number[], supported: ReadonlySet<number>) {
  const expected = list.find((a) => supported.has(a));
  const ch = await challenge(ctx, list.join(','));
  if ('status' in ch) {
    if (ch.status === 'not-applicable' && expected !== undefined) return fail(`CHAP_A=${list.join(',')}: ${ch.reason}`);
    return ch;
  }
  if (!list.includes(ch.algorithm)) return fail(`CHAP_A=${list.join(',')}: the target chose ${ch.algorithm}`, ch.rsp);
  if (ch.algorithm !== expected) {
    return fail(
      `CHAP_A=${list.join(',')}: the target chose ${ch.algorithm}, not ${expected}, the first it accepts alone`,
      ch.rsp,
    );
  }
  return undefined;
}

/** A Login reject with Status-Class 2 or a closed connection: the target refused what it was sent. */
function refusedOrClosed(event: Received, what: string): Verdict {
  const rsp = pduOf(event, 'login-response');
  if (rsp?.statusClass === 2) return pass(`status 0x${statusOf(rsp).toString(16).padStart(4, '0')}`);
  if (event.kind === 'closed') return pass('connection closed');
  if (rsp) return fail(`${what}: status 0x${statusOf(rsp).toString(16).padStart(4, '0')}`, rsp);
  return fail(`${what}: no answer`, event);
}

/** Mutual CHAP: the correct CHAP_N/CHAP_R with our CHAP_I and CHAP_C (`challengeText`). */
async function mutual(ctx: CaseContext, id: string, challengeText: string) {
  if (!ctx.target.chap?.targetCredentials) return notApplicable('mutual CHAP credentials not given');
  const ch = await challenge(ctx, '5');
  if ('status' in ch) return ch;
  const event = await respondWith(ctx, ch, [
    ['CHAP_N', ctx.target.chap.credentials.user],
    ['CHAP_R', chapAnswer(ctx, ch.algorithm, ch.id, ch.challenge)],
    ['CHAP_I', id],
    ['CHAP_C', challengeText],
  ]);
  return { ch, event };
}

/**
 * Checks the target's mutual CHAP answer (`algorithm`, our identifier `id` and challenge `ours`) against the target
 * secret; `'refused'` when the target answered 0x0201 Authentication failure instead.
 */
function checkTargetResponse(
  ctx: CaseContext,
  event: Received,
  algorithm: number,
  id: number,
  ours: Uint8Array,
): Verdict | 'refused' {
  const rsp = pduOf(event, 'login-response');
  if (!rsp) return fail('no answer to a mutual CHAP response', event);
  if (statusOf(rsp) === 0x0201) return 'refused';
  if (rsp.statusClass !== 0) return fail(`status 0x${statusOf(rsp).toString(16).padStart(4, '0')}`, rsp);
  const target = ctx.target.chap!.targetCredentials!;
  const r = keyValue(rsp, 'CHAP_R');
  if (keyValue(rsp, 'CHAP_N') === undefined || r === undefined) return fail('no CHAP_N / CHAP_R in the answer', rsp);
  let got: Uint8Array;
  try {
    got = parseBinary(r);
  } catch {
    return fail('the target CHAP_R is not a binary value', rsp);
  }
  const want = chapResponse(algorithm, id, target.secret, ours);
  return Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0
    ? pass()
    : fail('the target CHAP_R does not verify with the target secret', rsp);
}

/** A mutual CHAP answer with an out-of-range or malformed CHAP_I must not be answered with a CHAP_R. */
function identifierCase(value: string, what: string): ConformCase {
  return {
    id: `chap.identifier-${what}`,
    area: 'chap',
    section: '12.1.3',
    strength: 'SHOULD',
    description:
      `CHAP_I=${value} in a mutual CHAP answer is not an identifier (RFC 1994 §4.1: one octet, 0..255): the ` +
      'target refuses the login (Status-Class 2) or closes the connection rather than answering with a CHAP_R.',
    async run(ctx) {
      const m = await mutual(ctx, value, formatBinary(randomBytes(16), 'hex'));
      if ('status' in m) return m;
      return refusedOrClosed(m.event, `CHAP_I=${value}`);
    },
  };
}

/** A CHAP_R variant that must fail authentication. */
function badResponseCase(
  id: string,
  description: string,
  chapR: (good: Uint8Array) => string,
  expected: readonly number[] = [0x0201],
): ConformCase {
  return refusedCase(id, description, (ctx, ch) => chapR(goodResponse(ctx, ch)), expected);
}

/** A correct CHAP_R in another encoding of RFC 7143 §6.1 must pass authentication. */
function encodingCase(id: string, description: string, encode: (good: Uint8Array) => string): ConformCase {
  return {
    id,
    area: 'chap',
    section: '6.1',
    strength: 'MUST',
    description,
    async run(ctx) {
      const ch = await challenge(ctx, '5');
      if ('status' in ch) return ch;
      const event = await respond(ctx, ch, encode(goodResponse(ctx, ch)));
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no answer to CHAP_R', event);
      return rsp.statusClass === 0 ? pass() : fail('a correct CHAP_R was refused', rsp);
    },
  };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const reasonOf = (v: Verdict): string => ('reason' in v ? v.reason : 'message' in v ? v.message : v.status);

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
  {
    id: 'chap.algorithm-unknown-first',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'CHAP_A=99,5: 99 is no CHAP algorithm, so the target answers CHAP_A=5 ("A is one of A1,A2... that were ' +
      'proposed by the initiator"; §6.2.1: the first value it supports).',
    async run(ctx) {
      if (!ctx.target.chap) return notApplicable('no CHAP credentials given');
      const ch = await challenge(ctx, '99,5');
      if ('status' in ch) return ch.status === 'not-applicable' ? fail(ch.reason) : ch;
      return ch.algorithm === 5 ? pass() : fail(`the target chose CHAP_A=${ch.algorithm}`, ch.rsp);
    },
  },
  {
    id: 'chap.algorithm-list-order',
    area: 'chap',
    section: '6.2.1',
    strength: 'MUST',
    description:
      'For CHAP_A lists (7,5 / 5,6,7 / 6,7,5 / 8,7,6,5) the target answers with the first value of the list it ' +
      'supports ("the first value that it supports ... selected from the originator list"), its support of each ' +
      'algorithm being learnt by offering it alone.',
    async run(ctx) {
      if (!ctx.target.chap) return notApplicable('no CHAP credentials given');
      const supported = new Set<number>();
      for (const a of [5, 6, 7, 8]) if (await supports(ctx, a)) supported.add(a);
      if (supported.size < 2) return notApplicable(`the target accepts only CHAP_A=${[...supported].join(',')}`);
      for (const list of [
        [7, 5],
        [5, 6, 7],
        [6, 7, 5],
        [8, 7, 6, 5],
      ]) {
        const verdict = await checkList(ctx, list, supported);
        if (verdict) return verdict;
      }
      return pass(`supported alone: ${[...supported].join(',')}`);
    },
  },
  {
    id: 'chap.algorithm-none-supported',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'CHAP_A=99,100 names no algorithm: "the target MUST answer with a Login reject with the Authentication ' +
      'Failure status or reply with CHAP_A=A where A is one of A1,A2..."; it cannot choose, so 0x0201 (or, as ' +
      'list negotiation allows, CHAP_A=Reject) and never a challenge.',
    async run(ctx) {
      const offered = await offerAlgorithms(ctx, '99,100');
      if ('status' in offered) return offered;
      const rsp = pduOf(offered.event, 'login-response');
      if (!rsp) return fail('no answer to CHAP_A', offered.event);
      if (statusOf(rsp) === 0x0201) return pass();
      const a = keyValue(rsp, 'CHAP_A');
      if (rsp.statusClass === 0 && a === 'Reject' && keyValue(rsp, 'CHAP_C') === undefined)
        return pass('CHAP_A=Reject');
      return fail(`status 0x${statusOf(rsp).toString(16).padStart(4, '0')}, CHAP_A=${a ?? '-'}`, rsp);
    },
  },
  encodingCase(
    'chap.response-base64',
    'A correct CHAP_R given as a base64-constant (0b...) passes: CHAP_R is a binary-value, which RFC 7143 §6.1 ' +
      'allows in hex or base64.',
    (good) => formatBinary(good, 'base64'),
  ),
  encodingCase(
    'chap.response-hex-uppercase',
    'A correct CHAP_R as "0X" followed by upper-case hex digits passes (RFC 7143 §6.1: "0x" or "0X", digits ' +
      'a-f or A-F).',
    (good) => `0X${hex(good).toUpperCase()}`,
  ),
  badResponseCase(
    'chap.response-truncated',
    'The correct MD5 CHAP_R cut to 15 bytes fails authentication (0x0201, or 0x0200 for a response not of the ' +
      'digest length): a response shorter than the digest must not be compared as a prefix.',
    (good) => `0x${hex(good.subarray(0, 15))}`,
    [0x0201, 0x0200],
  ),
  badResponseCase(
    'chap.response-extended',
    'The correct MD5 CHAP_R with one byte appended (17 bytes) fails authentication: 0x0201, or 0x0200 for a ' +
      'response not of the digest length (as chap.oversized-response).',
    (good) => `0x${hex(good)}00`,
    [0x0201, 0x0200],
  ),
  badResponseCase(
    'chap.response-odd-hex',
    'The correct CHAP_R without its last hex digit (31 digits: RFC 7143 §6.1 reads it as 16 bytes with an ' +
      'implied leading 0, a different value) fails authentication (0x0201, or 0x0200 if odd digits are refused).',
    (good) => `0x${hex(good).slice(0, -1)}`,
    [0x0201, 0x0200],
  ),
  badResponseCase(
    'chap.response-bad-base64',
    'CHAP_R=0b!!!!, not base64, fails authentication (0x0201 or 0x0200).',
    () => '0b!!!!',
    [0x0201, 0x0200],
  ),
  badResponseCase(
    'chap.response-wrong-algorithm-length',
    'A 32-byte CHAP_R (a SHA-256 length) answering an MD5 challenge fails authentication (0x0201, or 0x0200 ' +
      'for a response not of the digest length).',
    (good) => `0x${hex(good)}${hex(good)}`,
    [0x0201, 0x0200],
  ),
  {
    id: 'chap.missing-name',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'The initiator "MUST continue with CHAP_N=<N> CHAP_R=<R>": a correct CHAP_R without CHAP_N is refused with ' +
      '0x0201 Authentication failure, or as a malformed request with 0x0200 Initiator error or 0x0207 Missing ' +
      'parameter; never accepted.',
    async run(ctx) {
      const ch = await challenge(ctx, '5');
      if ('status' in ch) return ch;
      const event = await respondWith(ctx, ch, [['CHAP_R', chapAnswer(ctx, 5, ch.id, ch.challenge)]]);
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no answer', event);
      const status = statusOf(rsp);
      return [0x0201, 0x0200, 0x0207].includes(status)
        ? pass(`status 0x${status.toString(16).padStart(4, '0')}`)
        : fail(`status 0x${status.toString(16).padStart(4, '0')}`, rsp);
    },
  },
  {
    id: 'chap.unknown-user',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'CHAP_N of a user the target does not know, with a response computed with our secret, fails ' +
      'authentication (0x0201).',
    async run(ctx) {
      const ch = await challenge(ctx, '5');
      if ('status' in ch) return ch;
      const event = await respondWith(ctx, ch, [
        ['CHAP_N', `${ctx.target.chap!.credentials.user}-unknown-${randomBytes(4).toString('hex')}`],
        ['CHAP_R', chapAnswer(ctx, 5, ch.id, ch.challenge)],
      ]);
      const rsp = pduOf(event, 'login-response');
      if (!rsp) return fail('no answer', event);
      return statusOf(rsp) === 0x0201 ? pass() : fail(`status 0x${statusOf(rsp).toString(16)}`, rsp);
    },
  },
  {
    id: 'chap.mutual',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'Mutual CHAP: after a correct CHAP_N/CHAP_R with CHAP_I/CHAP_C, the target "MUST either answer with a ' +
      'Login reject with Authentication Failure or reply with CHAP_N=<N> CHAP_R=<R>"; with target credentials ' +
      'configured its CHAP_R verifies with the target secret.',
    async run(ctx) {
      const ours = randomBytes(16);
      const m = await mutual(ctx, '77', formatBinary(ours, 'hex'));
      if ('status' in m) return m;
      const v = checkTargetResponse(ctx, m.event, m.ch.algorithm, 77, ours);
      return v === 'refused' ? fail('mutual CHAP refused with target credentials configured', m.event) : v;
    },
  },
  {
    id: 'chap.mutual-max-challenge',
    area: 'chap',
    section: '12.1.3',
    strength: 'MUST',
    description:
      'A mutual CHAP_C of 1024 bytes (the largest binary length RFC 7143 §12.1.3 allows for CHAP_C) is answered ' +
      'with a CHAP_R that verifies, or refused with 0x0201.',
    async run(ctx) {
      const ours = randomBytes(1024);
      const m = await mutual(ctx, '9', formatBinary(ours, 'hex'));
      if ('status' in m) return m;
      const v = checkTargetResponse(ctx, m.event, m.ch.algorithm, 9, ours);
      return v === 'refused' ? pass('refused with 0x0201') : v;
    },
  },
  {
    id: 'chap.mutual-oversized-challenge',
    area: 'chap',
    section: '12.1.3',
    strength: 'SHOULD',
    description:
      'A mutual CHAP_C of 4096 bytes (over the 1024-byte limit of §12.1.3) is refused (Status-Class 2) or the ' +
      'connection closed, and the target still accepts a new login afterwards.',
    async run(ctx) {
      const m = await mutual(ctx, '9', formatBinary(randomBytes(4096), 'base64'));
      if ('status' in m) return m;
      const verdict = refusedOrClosed(m.event, 'a 4096-byte CHAP_C');
      if (verdict.status !== 'pass') return verdict;
      const again = await login(ctx);
      return isVerdict(again) ? fail(`no login after the oversized challenge: ${reasonOf(again)}`) : verdict;
    },
  },
  identifierCase('256', 'over-255'),
  identifierCase('-1', 'negative'),
  identifierCase('seven', 'non-numeric'),
];
