/**
 * Full Feature Phase cases: digests (RFC 7143 §7.8), NOP (§11.18, §11.19) and task management (§11.5, §11.6).
 * Each area exports its own array; logout is in `logout.ts`, asynchronous messages in `async.ts`.
 * @module
 */
import type { TaskManagementRequestPdu } from '../../pdu/types.js';
import {
  awaitSession,
  type ConformSession,
  fail,
  isVerdict,
  login,
  lunOf,
  NO_TAG,
  nopOut,
  notApplicable,
  pass,
  pduOf,
  ping,
} from '../kit.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

const PING_DATA = new TextEncoder().encode('iscsi-ts conform');

async function digestSession(ctx: CaseContext, which: 'header' | 'data'): Promise<ConformSession | Verdict> {
  const offer =
    which === 'header' ? { headerDigest: ['CRC32C', 'None'] as const } : { dataDigest: ['CRC32C', 'None'] as const };
  const s = await login(ctx, { offer });
  if (isVerdict(s)) return s;
  const on = which === 'header' ? s.params.headerDigest : s.params.dataDigest;
  return on === 'CRC32C'
    ? s
    : notApplicable(`the target chose ${which === 'header' ? 'HeaderDigest' : 'DataDigest'}=None`);
}

/** Digest cases. */
export const digestCases: readonly ConformCase[] = [
  {
    id: 'digest.bad-header',
    area: 'digest',
    section: '7.8',
    strength: 'MUST',
    description:
      '"When a target receives an iSCSI PDU with a header digest error, it MUST either discard the header and all ' +
      'data up to the beginning of a later PDU or close the connection": a ping with a bad header digest is not ' +
      'answered.',
    async run(ctx) {
      const s = await digestSession(ctx, 'header');
      if (isVerdict(s)) return s;
      const pdu = nopOut(s);
      s.probe.sendCorrupt(pdu, 'header');
      const ev = await awaitSession(s, ctx.timeouts.silenceMs * 2, (p) => p.initiatorTaskTag === pdu.initiatorTaskTag);
      if (pduOf(ev, 'nop-in')) return fail('a PDU with a bad header digest was answered', pdu, ev);
      return pass(ev.kind === 'closed' ? 'connection closed' : 'discarded');
    },
  },
  {
    id: 'digest.bad-data',
    area: 'digest',
    section: '7.8',
    strength: 'MUST',
    description:
      '"When a target receives any iSCSI PDU with a payload digest error, it MUST answer with a Reject PDU with a ' +
      'reason code of Data-Digest-Error and discard the PDU" (reason 0x02).',
    async run(ctx) {
      const s = await digestSession(ctx, 'data');
      if (isVerdict(s)) return s;
      const pdu = nopOut(s, { data: PING_DATA });
      s.probe.sendCorrupt(pdu, 'data');
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind === 'reject' || p.initiatorTaskTag === pdu.initiatorTaskTag,
      );
      const rej = pduOf(ev, 'reject');
      if (rej?.reason === 0x02) return pass();
      return fail('no Reject with reason 0x02 (Data-Digest-Error)', pdu, ev);
    },
  },
];

/** NOP cases. */
export const nopCases: readonly ConformCase[] = [
  {
    id: 'nop.ping-echo',
    area: 'nop',
    section: '11.19',
    strength: 'MUST',
    description:
      'A NOP-Out with a valid ITT is answered by a NOP-In with the same ITT, TTT 0xffffffff and the ping data ' +
      'returned (§11.18: "the ping data ... MUST be returned in the NOP-In").',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const pdu = nopOut(s, { data: PING_DATA });
      s.probe.send(pdu);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind === 'nop-in' && p.initiatorTaskTag !== NO_TAG,
      );
      const nop = pduOf(ev, 'nop-in');
      if (!nop) return fail('no NOP-In', pdu, ev);
      if (nop.initiatorTaskTag !== pdu.initiatorTaskTag) return fail('ITT not echoed', pdu, nop);
      if (nop.targetTransferTag !== NO_TAG) return fail('TTT is not 0xffffffff', nop);
      if (Buffer.compare(Buffer.from(nop.data), Buffer.from(PING_DATA)) !== 0)
        return fail('ping data not echoed', pdu, nop);
      return pass();
    },
  },
  {
    id: 'nop.reserved-itt-no-answer',
    area: 'nop',
    section: '11.18',
    strength: 'SHOULD',
    description:
      'A NOP-Out with ITT 0xffffffff (and I=1) asks for no answer; the target sends no NOP-In for it, and later ' +
      'pings are answered.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const pdu = nopOut(s, { itt: NO_TAG });
      s.probe.send(pdu);
      const ev = await awaitSession(
        s,
        ctx.timeouts.silenceMs,
        (p) => p.kind === 'nop-in' && p.targetTransferTag === NO_TAG,
      );
      if (ev.kind === 'pdu') return fail('a NOP-Out with ITT 0xffffffff was answered', pdu, ev);
      const pong = await ping(s, ctx.timeouts.replyMs);
      return pduOf(pong, 'nop-in') ? pass() : fail('a later ping was not answered', pong);
    },
  },
];

function tmf(s: ConformSession, ctx: CaseContext, fn: number, ref = NO_TAG): TaskManagementRequestPdu {
  return {
    kind: 'task-management-request',
    immediate: true,
    function: fn,
    lun: BigInt(lunOf(ctx)) << 48n,
    referencedTaskTag: ref,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    refCmdSN: s.cmdSN,
    expDataSN: 0,
    initiatorTaskTag: s.itt++,
    ahs: [],
    data: new Uint8Array(0),
  };
}

async function runTmf(
  ctx: CaseContext,
  fn: number,
  ref: number,
  ok: readonly number[],
  what: string,
): Promise<Verdict> {
  const s = await login(ctx);
  if (isVerdict(s)) return s;
  const req = tmf(s, ctx, fn, ref);
  s.probe.send(req);
  const ev = await awaitSession(
    s,
    ctx.timeouts.replyMs,
    (p) => p.kind === 'reject' || p.initiatorTaskTag === req.initiatorTaskTag,
  );
  const rsp = pduOf(ev, 'task-management-response');
  if (rsp && ok.includes(rsp.response)) return pass(`response ${rsp.response}`);
  return fail(`${what}: expected response ${ok.join(' or ')}`, req, ev);
}

/** Task management cases. */
export const tmfCases: readonly ConformCase[] = [
  {
    id: 'tmf.abort-unknown-task',
    area: 'tmf',
    section: '11.6.1',
    strength: 'MUST',
    description:
      'ABORT TASK for a task tag that names no task is answered with 0 "Function complete" or 1 "Task does not ' +
      'exist", per the RefCmdSN rules of §11.6.1.',
    run: (ctx) => runTmf(ctx, 1, 0x0badcafe, [0, 1], 'ABORT TASK of an unknown task'),
  },
  {
    id: 'tmf.lun-reset',
    area: 'tmf',
    section: '11.6.1',
    strength: 'MUST',
    description: 'LOGICAL UNIT RESET of the LUN under test is answered with 0 "Function complete".',
    run: (ctx) => runTmf(ctx, 5, NO_TAG, [0], 'LOGICAL UNIT RESET'),
  },
  {
    id: 'tmf.undefined-function',
    area: 'tmf',
    section: '11.6.1',
    strength: 'SHOULD',
    description:
      'A function code the RFC does not define (0x7f) is answered with 5 "Task management function not supported" or 255 "Function rejected".',
    run: (ctx) => runTmf(ctx, 0x7f, NO_TAG, [5, 255], 'function 0x7f'),
  },
];
