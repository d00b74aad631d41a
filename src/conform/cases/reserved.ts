/**
 * Reserved fields and unknown opcodes (RFC 7143 §11 introduction, §11.2.1.2, §11.17).
 * @module
 */
import { crc32c, writeDigest } from '../../pdu/crc32c.js';
import {
  awaitSession,
  type ConformSession,
  fail,
  identity,
  isVerdict,
  login,
  lunOf,
  nopOut,
  notApplicable,
  operationalLogin,
  pass,
  pduOf,
  ping,
  scsiCommand,
} from '../kit.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

/** A 48-byte deviation pattern: `value` in every byte of the ranges. */
function deviations(ranges: readonly (readonly [number, number])[], value = 0xff): Uint8Array {
  const d = new Uint8Array(48);
  for (const [from, to] of ranges) d.fill(value, from, to + 1);
  return d;
}

/** A hand-built BHS with `opcode` (I bit set), the session's ITT and sequence numbers. */
function rawBhs(s: ConformSession, opcode: number): { bytes: Uint8Array; itt: number } {
  const itt = s.itt++;
  const header = new Uint8Array(48 + (s.probe.encodeOptions.headerDigest ? 4 : 0));
  const view = new DataView(header.buffer);
  header[0] = 0x40 | opcode;
  header[1] = 0x80;
  view.setUint32(16, itt);
  view.setUint32(20, 0xffffffff);
  view.setUint32(24, s.cmdSN);
  view.setUint32(28, s.expStatSN);
  if (s.probe.encodeOptions.headerDigest) writeDigest(header, 48, crc32c(header.subarray(0, 48)));
  return { bytes: header, itt };
}

async function opcodeCase(ctx: CaseContext, opcode: number, reasons: readonly number[]): Promise<Verdict> {
  const s = await login(ctx);
  if (isVerdict(s)) return s;
  const { bytes } = rawBhs(s, opcode);
  s.probe.sendRaw(bytes, `hand-made BHS with opcode 0x${opcode.toString(16)}`);
  const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.kind === 'reject');
  const rej = pduOf(ev, 'reject');
  if (!rej) return fail(`opcode 0x${opcode.toString(16)} was not rejected`, ...s.probe.log.slice(-1), ev);
  if (!reasons.includes(rej.reason)) return fail(`Reject reason 0x${rej.reason.toString(16)}`, rej);
  // RFC 7143 §11.17: the data segment carries the complete header of the rejected PDU.
  if (Buffer.compare(Buffer.from(rej.data.subarray(0, 48)), Buffer.from(bytes.subarray(0, 48))) !== 0) {
    return fail('the Reject does not carry the rejected header', rej);
  }
  return pass(`reason 0x${rej.reason.toString(16)}`);
}

/** Reserved field and opcode cases. */
export const reservedCases: readonly ConformCase[] = [
  {
    id: 'reserved.nop-out-bits',
    area: 'reserved',
    section: '11',
    strength: 'MUST',
    description:
      '"Any compliant receiver MUST ignore any bit not defined and all reserved fields unless specified ' +
      'otherwise": a NOP-Out ping with reserved bytes 2-3 and 40-47 set is answered as usual.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const pdu = {
        ...nopOut(s),
        deviations: deviations([
          [2, 3],
          [40, 47],
        ]),
      };
      s.probe.send(pdu);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind === 'reject' || p.initiatorTaskTag === pdu.initiatorTaskTag,
      );
      return pduOf(ev, 'nop-in') ? pass() : fail('a ping with reserved bits set was not answered', pdu, ev);
    },
  },
  {
    id: 'reserved.scsi-command-bits',
    area: 'reserved',
    section: '11',
    strength: 'MUST',
    description:
      'A TEST UNIT READY with reserved bytes 2-3 and byte 1 bits 3-4 set gets a SCSI Response, not a Reject.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const d = deviations([[2, 3]]);
      d[1] = 0x18;
      const pdu = { ...scsiCommand(s, lunOf(ctx), [0]), deviations: d };
      s.probe.send(pdu);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind === 'reject' || p.initiatorTaskTag === pdu.initiatorTaskTag,
      );
      return pduOf(ev, 'scsi-response') ? pass() : fail('no SCSI Response', pdu, ev);
    },
  },
  {
    id: 'reserved.login-bits',
    area: 'reserved',
    section: '11',
    strength: 'MUST',
    description: 'A Login Request with reserved bytes 22-23 and 32-47 set logs in as usual.',
    async run(ctx) {
      if (ctx.target.chap) return notApplicable('hand-made operational logins need a target without authentication');
      const probe = await ctx.open();
      const events = await operationalLogin(probe, ctx, ctx.newIsid(), identity(ctx), {
        deviations: deviations([
          [22, 23],
          [32, 47],
        ]),
      });
      const last = pduOf(events.at(-1)!, 'login-response');
      return last && last.statusClass === 0 && last.transit && last.nextStage === 3
        ? pass()
        : fail('the login with reserved bits set did not succeed', ...events);
    },
  },
  {
    id: 'reserved.unknown-opcode',
    area: 'reserved',
    section: '11.17.1',
    strength: 'MUST',
    description:
      'Opcode 0x0a is reserved ("Receipt of reserved code values in defined fields MUST be reported as a ' +
      'protocol error"): Reject with reason 0x04 (protocol error) or 0x05 (command not supported), carrying the ' +
      'rejected header.',
    run: (ctx) => opcodeCase(ctx, 0x0a, [0x04, 0x05]),
  },
  {
    id: 'reserved.target-opcode',
    area: 'reserved',
    section: '11.2.1.2',
    strength: 'SHOULD',
    description:
      'A target opcode (0x20 NOP-In) sent by the initiator should be rejected (0x04 protocol error, 0x05 command ' +
      'not supported or 0x09 invalid PDU field: the opcode is not valid in this direction).',
    run: (ctx) => opcodeCase(ctx, 0x20, [0x04, 0x05, 0x09]),
  },
  {
    id: 'reserved.alive-after-reject',
    area: 'reserved',
    section: '11.17',
    strength: 'SHOULD',
    description: 'After rejecting an unknown opcode the connection stays usable: a ping is answered.',
    async run(ctx) {
      const s = await login(ctx);
      if (isVerdict(s)) return s;
      const { bytes } = rawBhs(s, 0x0b);
      s.probe.sendRaw(bytes, 'hand-made BHS with opcode 0x0b');
      await awaitSession(s, ctx.timeouts.replyMs, (p) => p.kind === 'reject');
      const pong = await ping(s, ctx.timeouts.replyMs);
      return pduOf(pong, 'nop-in') ? pass() : fail('no answer to a ping after the Reject', pong);
    },
  },
];
