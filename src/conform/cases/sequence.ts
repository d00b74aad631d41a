/**
 * Command numbering cases (RFC 7143 §4.2.2).
 * @module
 */
import { awaitSession, fail, isVerdict, login, nopOut, pass, pduOf, ping, serialOk } from '../kit.js';
import type { ConformCase } from '../types.js';

/** Sequence number cases. */
export const sequenceCases: readonly ConformCase[] = [
  {
    id: 'sequence.cmdsn-outside-window',
    area: 'sequence',
    section: '4.2.2.1',
    strength: 'MUST',
    description:
      '"an iSCSI target MUST silently ignore any non-immediate command outside of this range": a NOP-Out with ' +
      'CmdSN = MaxCmdSN + 100 gets no answer, and an immediate ping afterwards still does.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const stray = { ...nopOut(s), immediate: false, cmdSN: (s.maxCmdSN + 100) >>> 0 };
      s.probe.send(stray);
      const ev = await awaitSession(s, ctx.timeouts.silenceMs, (p) => p.initiatorTaskTag === stray.initiatorTaskTag);
      if (ev.kind === 'pdu') return fail('a command outside the window was answered', stray, ev);
      if (ev.kind !== 'timeout') return fail('the target dropped the connection', stray, ev);
      const pong = await ping(s, ctx.timeouts.replyMs);
      return pduOf(pong, 'nop-in') ? pass() : fail('no answer to a ping after the ignored command', pong);
    },
  },
  {
    id: 'sequence.immediate-keeps-expcmdsn',
    area: 'sequence',
    section: '4.2.2.1',
    strength: 'MUST',
    description:
      'An immediate command does not take a CmdSN ("the CmdSN is not advanced after a command marked for ' +
      'immediate delivery"): the NOP-In answering an immediate ping carries the same ExpCmdSN as before.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const before = s.expCmdSN;
      const ev = await ping(s, ctx.timeouts.replyMs);
      const nop = pduOf(ev, 'nop-in');
      if (!nop) return fail('no answer to an immediate ping', ev);
      return nop.expCmdSN === before ? pass() : fail(`ExpCmdSN moved from ${before} to ${nop.expCmdSN}`, nop);
    },
  },
  {
    id: 'sequence.nonimmediate-advances',
    area: 'sequence',
    section: '4.2.2.1',
    strength: 'MUST',
    description: 'A non-immediate NOP-Out with CmdSN = ExpCmdSN is delivered: its NOP-In has ExpCmdSN = CmdSN + 1.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const pdu = nopOut(s, { immediate: false });
      s.probe.send(pdu);
      const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === pdu.initiatorTaskTag);
      const nop = pduOf(ev, 'nop-in');
      if (!nop) return fail('no answer to a non-immediate NOP-Out', pdu, ev);
      return nop.expCmdSN === (pdu.cmdSN + 1) >>> 0
        ? pass()
        : fail('ExpCmdSN did not advance past the NOP-Out', pdu, nop);
    },
  },
  {
    id: 'sequence.statsn-increments',
    area: 'sequence',
    section: '4.2.2.2',
    strength: 'MUST',
    description:
      'StatSN increases by one per response on the connection: the NOP-In answers to two pings carry the StatSN ' +
      'after the final Login Response, then the next one.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const expected = s.expStatSN;
      const a = pduOf(await ping(s, ctx.timeouts.replyMs), 'nop-in');
      const b = pduOf(await ping(s, ctx.timeouts.replyMs), 'nop-in');
      if (!a || !b) return fail('a ping was not answered', ...s.probe.log.slice(-4));
      if (a.statSN !== expected || !serialOk(b.statSN, a.statSN + 1)) {
        return fail(`StatSN ${a.statSN}, ${b.statSN}; expected ${expected}, ${(expected + 1) >>> 0}`, a, b);
      }
      return pass();
    },
  },
];
