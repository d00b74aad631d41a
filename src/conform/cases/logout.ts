/**
 * Logout cases (RFC 7143 §11.14, §11.15): the response codes, the Logout Response's sequence numbers, logout of
 * the only connection, logout with a task outstanding and a new login right after a logout.
 * @module
 */
import type { LogoutRequestPdu, LogoutResponsePdu, Pdu } from '../../pdu/types.js';
import {
  awaitSession,
  blockLengthOf,
  type ConformSession,
  fail,
  isVerdict,
  login,
  lunOf,
  notApplicable,
  pass,
  pduOf,
  scsiCommand,
  skipped,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

function logout(s: ConformSession, reasonCode: number, cid = 0): LogoutRequestPdu {
  return {
    kind: 'logout-request',
    immediate: true,
    reasonCode,
    cid,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    initiatorTaskTag: s.itt++,
    ahs: [],
    data: new Uint8Array(0),
  };
}

async function runLogout(ctx: CaseContext, reason: number, cid: number, expected: number): Promise<Verdict> {
  const s = await login(ctx);
  if (isVerdict(s)) return s;
  if (reason === 2 && s.params.errorRecoveryLevel >= 2) return notApplicable('ErrorRecoveryLevel 2 was negotiated');
  const req = logout(s, reason, cid);
  s.probe.send(req);
  const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === req.initiatorTaskTag);
  const rsp = pduOf(ev, 'logout-response');
  if (!rsp) return fail('no Logout Response', req, ev);
  return rsp.response === expected ? pass() : fail(`Logout Response ${rsp.response}, expected ${expected}`, req, rsp);
}

/** Everything the target sends until it closes the connection or `ms` pass in silence. */
async function drain(s: ConformSession, ms: number): Promise<Received[]> {
  const events: Received[] = [];
  for (let i = 0; i < 4096; i++) {
    const ev = await awaitSession(s, ms, () => true);
    events.push(ev);
    if (ev.kind !== 'pdu') break;
  }
  return events;
}

/**
 * Sends an immediate close-session Logout while `task` is outstanding and checks the answer: a Logout Response
 * with response 0, and no PDU of the task after it.
 */
async function logoutWith(ctx: CaseContext, s: ConformSession, task: Pdu & { initiatorTaskTag: number }) {
  const req = logout(s, 0);
  s.probe.send(req);
  const events = await drain(s, ctx.timeouts.replyMs);
  const at = events.findIndex((e) => pduOf(e, 'logout-response')?.initiatorTaskTag === req.initiatorTaskTag);
  if (at < 0) return fail('no Logout Response while a task was outstanding', task, req, ...events.slice(-3));
  const rsp = pduOf(events[at]!, 'logout-response')!;
  if (rsp.response !== 0) return fail(`Logout Response ${rsp.response}, expected 0`, task, req, rsp);
  const late = events.slice(at + 1).find((e) => e.kind === 'pdu' && e.pdu.initiatorTaskTag === task.initiatorTaskTag);
  if (late) return fail('a PDU of the task came after the Logout Response', task, req, rsp, late);
  const before = events
    .slice(0, at)
    .filter((e) => e.kind === 'pdu' && e.pdu.initiatorTaskTag === task.initiatorTaskTag).length;
  return pass(`${before} PDU(s) of the task before the Logout Response`);
}

const logoutDuringIo = (rw: 'read' | 'write'): string =>
  `"When receiving a Logout Request with the reason code 'close the connection' or 'close the session', the ` +
  `target MUST terminate all pending commands": an immediate close-session Logout sent while a ${rw.toUpperCase()} ` +
  `is outstanding${rw === 'write' ? ' (its R2T unanswered)' : ''} gets Logout Response 0, and nothing of the ` +
  `${rw} comes after that response.`;

/** Logout cases. */
export const logoutCases: readonly ConformCase[] = [
  {
    id: 'logout.close-session',
    area: 'logout',
    section: '11.15.1',
    strength: 'MUST',
    description: 'Logout with reason 0 (close the session) is answered with response 0 "closed successfully".',
    run: (ctx) => runLogout(ctx, 0, 0, 0),
  },
  {
    id: 'logout.connection-closed',
    area: 'logout',
    section: '11.14',
    strength: 'SHOULD',
    description: 'After a successful Logout Response the connection is closed; the target closes it within 2 s.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const req = logout(s, 0);
      s.probe.send(req);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === req.initiatorTaskTag);
      if (!pduOf(ev, 'logout-response')) return fail('no Logout Response', req, ev);
      return (await s.probe.waitClosed(ctx.timeouts.replyMs)) ? pass() : fail('connection still open after logout', ev);
    },
  },
  {
    id: 'logout.unknown-cid',
    area: 'logout',
    section: '11.15.1',
    strength: 'MUST',
    description:
      'Logout reason 1 (close a connection) for a CID that does not exist is answered with 1 "CID not found".',
    run: (ctx) => runLogout(ctx, 1, 0x4242, 1),
  },
  {
    id: 'logout.recovery-unsupported',
    area: 'logout',
    section: '11.15.1',
    strength: 'MUST',
    description:
      'At ErrorRecoveryLevel < 2, Logout reason 2 (remove the connection for recovery) is answered with 2 ' +
      '"connection recovery is not supported".',
    run: (ctx) => runLogout(ctx, 2, 0, 2),
  },
  {
    id: 'logout.last-connection',
    area: 'logout',
    section: '11.15.1',
    strength: 'MUST',
    description:
      'Logout reason 1 (close the connection) naming the CID of the only connection of the session is answered ' +
      'with 0 "connection or session closed successfully", and the connection is then closed.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      // The login machine logs in with CID 0 unless told otherwise.
      const req = logout(s, 1, 0);
      s.probe.send(req);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === req.initiatorTaskTag);
      const rsp = pduOf(ev, 'logout-response');
      if (!rsp) return fail('no Logout Response', req, ev);
      if (rsp.response !== 0) return fail(`Logout Response ${rsp.response}, expected 0`, req, rsp);
      return (await s.probe.waitClosed(ctx.timeouts.replyMs))
        ? pass()
        : fail('the connection stayed open after its logout', req, rsp);
    },
  },
  {
    id: 'logout.response-sequence',
    area: 'logout',
    section: '11.15',
    strength: 'MUST',
    description:
      'The Logout Response to an immediate Logout carries the next StatSN (§4.2.2.2) and ExpCmdSN equal to the ' +
      "Logout's CmdSN (an immediate command does not advance it); Time2Wait and Time2Retain, to be ignored for " +
      'response 0 below ErrorRecoveryLevel 2 (§11.15.2, §11.15.3), are reported in the note.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const statSN = s.expStatSN;
      const req = logout(s, 0);
      s.probe.send(req);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === req.initiatorTaskTag);
      const rsp = pduOf(ev, 'logout-response');
      if (!rsp) return fail('no Logout Response', req, ev);
      if (rsp.statSN !== statSN) return fail(`StatSN ${rsp.statSN}, expected ${statSN}`, req, rsp);
      if (rsp.expCmdSN !== req.cmdSN) return fail(`ExpCmdSN ${rsp.expCmdSN}, expected ${req.cmdSN}`, req, rsp);
      return pass(`Time2Wait ${rsp.time2Wait}, Time2Retain ${rsp.time2Retain}`);
    },
  },
  {
    id: 'logout.relogin',
    area: 'logout',
    section: '11.15.2',
    strength: 'SHOULD',
    description:
      'Below ErrorRecoveryLevel 2, Time2Wait of a close-session Logout Response (response 0) "is to be ignored": ' +
      'a new session with the same ISID logs in at once on a new connection, without waiting.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      if (s.params.errorRecoveryLevel >= 2) return notApplicable('ErrorRecoveryLevel 2 was negotiated');
      const req = logout(s, 0);
      s.probe.send(req);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === req.initiatorTaskTag);
      const rsp: LogoutResponsePdu | undefined = pduOf(ev, 'logout-response');
      if (rsp?.response !== 0) return skipped('the close-session Logout did not succeed');
      await s.probe.waitClosed(ctx.timeouts.silenceMs);
      const again = await login(ctx, { isid: s.result.isid });
      if (isVerdict(again)) {
        const why = again.status === 'skipped' || again.status === 'not-applicable' ? again.reason : again.status;
        return fail(`no new login right after the logout (Time2Wait ${rsp.time2Wait}): ${why}`, rsp);
      }
      return pass(`Time2Wait ${rsp.time2Wait}`);
    },
  },
  {
    id: 'logout.during-write',
    area: 'logout',
    section: '11.14',
    strength: 'MUST',
    description: logoutDuringIo('write'),
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const blockSize = await blockLengthOf(ctx, s);
      if (blockSize === undefined) return skipped('READ CAPACITY(10) failed');
      const cmd = scsiCommand(s, lunOf(ctx), [0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0], { write: true, edtl: blockSize });
      s.probe.send(cmd);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
      if (!pduOf(ev, 'r2t')) return skipped('no R2T for the write');
      return logoutWith(ctx, s, cmd);
    },
  },
  {
    id: 'logout.during-read',
    area: 'logout',
    section: '11.14',
    strength: 'MUST',
    description: logoutDuringIo('read'),
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const blockSize = await blockLengthOf(ctx, s);
      if (blockSize === undefined) return skipped('READ CAPACITY(10) failed');
      // About 1 MiB, so the Data-In is still flowing when the Logout arrives.
      const blocks = Math.max(1, Math.min(0xffff, Math.floor((1024 * 1024) / blockSize)));
      const cmd = scsiCommand(s, lunOf(ctx), [0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0], {
        read: true,
        edtl: blocks * blockSize,
      });
      s.probe.send(cmd);
      return logoutWith(ctx, s, cmd);
    },
  },
];
