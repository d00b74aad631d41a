/**
 * Data transfer cases (RFC 7143 §11.7, §11.8, §13.14). Writes put back the bytes just read from the LUN, so a
 * target that behaves leaves the LUN unchanged.
 * @module
 */
import type { DataOutPdu, Pdu } from '../../pdu/types.js';
import {
  awaitSession,
  type ConformSession,
  fail,
  isVerdict,
  login,
  lunOf,
  NO_TAG,
  notApplicable,
  pass,
  pduOf,
  scsiCommand,
  settleUnitAttention,
  skipped,
} from '../kit.js';
import type { Received } from '../probe.js';
import type { CaseContext, ConformCase, Verdict } from '../types.js';

const be32 = (n: number) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];

/** READ CAPACITY(10) → block length, then READ(10) of `blocks` blocks from LBA 0. */
async function readStart(ctx: CaseContext, s: ConformSession, blocks: number): Promise<Uint8Array | Verdict> {
  if (!(await settleUnitAttention(ctx, s))) return skipped('TEST UNIT READY does not complete with GOOD');
  const cap = scsiCommand(s, lunOf(ctx), [0x25], { read: true, edtl: 8 });
  const capData = await readData(ctx, s, cap);
  if (!capData || capData.length < 8) return skipped('READ CAPACITY(10) failed');
  const blockSize = Buffer.from(capData).readUInt32BE(4);
  const length = blockSize * blocks;
  const read = scsiCommand(s, lunOf(ctx), [0x28, 0, 0, 0, 0, 0, 0, 0, blocks, 0], { read: true, edtl: length });
  const data = await readData(ctx, s, read);
  return data && data.length === length ? data : skipped('READ(10) failed');
}

async function readData(ctx: CaseContext, s: ConformSession, cmd: Pdu): Promise<Uint8Array | undefined> {
  s.probe.send(cmd);
  const parts: Uint8Array[] = [];
  for (;;) {
    const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
    if (ev.kind !== 'pdu') return undefined;
    const p = ev.pdu;
    if (p.kind === 'data-in') parts.push(Uint8Array.from(p.data));
    if ((p.kind === 'data-in' && p.statusPresent) || p.kind === 'scsi-response') {
      const ok = p.kind === 'data-in' ? p.status === 0 : p.status === 0 && p.response === 0;
      return ok ? Buffer.concat(parts) : undefined;
    }
  }
}

const write10 = (blocks: number) => [0x2a, 0, ...be32(0), 0, 0, blocks, 0];

function dataOut(
  s: ConformSession,
  itt: number,
  ttt: number,
  data: Uint8Array,
  offset: number,
  dataSN = 0,
): DataOutPdu {
  return {
    kind: 'data-out',
    final: true,
    lun: 0n,
    targetTransferTag: ttt,
    expStatSN: s.expStatSN,
    dataSN,
    bufferOffset: offset,
    initiatorTaskTag: itt,
    ahs: [],
    data,
  };
}

/** A target detected the error when it rejects the PDU, ends the command with other than GOOD, or drops the connection. */
function detected(ev: Received, what: string, ...sent: Pdu[]): Verdict {
  const rej = pduOf(ev, 'reject');
  if (rej) return pass(`Reject reason 0x${rej.reason.toString(16)}`);
  const rsp = pduOf(ev, 'scsi-response');
  if (rsp && (rsp.response !== 0 || rsp.status !== 0)) return pass(`status 0x${rsp.status.toString(16)}`);
  if (ev.kind === 'closed') return pass('connection closed');
  if (rsp) return fail(`${what} completed with GOOD`, ...sent, rsp);
  return fail(`${what}: neither rejected nor completed`, ...sent, ev);
}

/** A solicited write of one block: command, then the first R2T. */
async function solicited(ctx: CaseContext) {
  const s = await login(ctx);
  if (isVerdict(s)) return s;
  const block = await readStart(ctx, s, 1);
  if (!(block instanceof Uint8Array)) return block;
  const cmd = scsiCommand(s, lunOf(ctx), write10(1), { write: true, edtl: block.length });
  s.probe.send(cmd);
  const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
  const r2t = pduOf(ev, 'r2t');
  if (!r2t) return fail('no R2T for a write without unsolicited data', cmd, ev);
  return { s, block, cmd, r2t };
}

const isWriteEnd = (itt: number) => (p: Pdu) => p.kind === 'reject' || p.initiatorTaskTag === itt;

/** Data transfer cases. */
export const dataCases: readonly ConformCase[] = [
  {
    id: 'data.r2t-fields',
    area: 'data',
    section: '11.8',
    strength: 'MUST',
    description:
      'The first R2T of a write has R2TSN 0, a TTT other than 0xffffffff, BufferOffset 0 and a ' +
      'DesiredDataTransferLength that is not 0 and not above MaxBurstLength; the write then completes with GOOD.',
    async run(ctx) {
      const w = await solicited(ctx);
      if ('status' in w) return w;
      const { s, block, cmd, r2t } = w;
      const len = r2t.desiredDataTransferLength;
      if (r2t.r2tSN !== 0 || r2t.targetTransferTag === NO_TAG || r2t.bufferOffset !== 0) return fail('R2T fields', r2t);
      if (len === 0 || len > s.params.maxBurstLength || len > block.length) return fail('R2T length', r2t);
      s.probe.send(dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, block.subarray(0, len), 0));
      const ev = await awaitSession(s, ctx.timeouts.replyMs, isWriteEnd(cmd.initiatorTaskTag));
      const rsp = pduOf(ev, 'scsi-response');
      if (len < block.length) return pass('the R2T asked for part of the block; rest not sent');
      return rsp && rsp.status === 0 ? pass() : fail('the write did not complete with GOOD', ev);
    },
  },
  {
    id: 'data.wrong-offset',
    area: 'data',
    section: '11.7.5',
    strength: 'SHOULD',
    description:
      'A Data-Out whose BufferOffset lies outside what the R2T asked for breaks §11.8 ("the initiator MUST send ' +
      'data only for the range requested"); the target should reject it or fail the command.',
    async run(ctx) {
      const w = await solicited(ctx);
      if ('status' in w) return w;
      const { s, block, cmd, r2t } = w;
      const bad = dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, block, block.length * 8);
      s.probe.send(bad);
      return detected(
        await awaitSession(s, ctx.timeouts.replyMs, isWriteEnd(cmd.initiatorTaskTag)),
        'a misplaced Data-Out',
        bad,
      );
    },
  },
  {
    id: 'data.wrong-datasn',
    area: 'data',
    section: '11.7.4',
    strength: 'SHOULD',
    description:
      'DataSN of the first Data-Out of an R2T sequence is 0; one with DataSN 5 is a sequence error the target ' +
      'should reject or fail the command with.',
    async run(ctx) {
      const w = await solicited(ctx);
      if ('status' in w) return w;
      const { s, block, cmd, r2t } = w;
      const len = Math.min(r2t.desiredDataTransferLength, block.length);
      const bad = dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, block.subarray(0, len), 0, 5);
      s.probe.send(bad);
      return detected(
        await awaitSession(s, ctx.timeouts.replyMs, isWriteEnd(cmd.initiatorTaskTag)),
        'a Data-Out with DataSN 5',
        bad,
      );
    },
  },
  {
    id: 'data.unsolicited-beyond-first-burst',
    area: 'data',
    section: '13.14',
    strength: 'SHOULD',
    description:
      '"FirstBurstLength is the maximum amount in bytes of unsolicited data an iSCSI initiator may send"; ' +
      'unsolicited data beyond it should be rejected or fail the command.',
    async run(ctx) {
      const s = await login(ctx, { offer: { initialR2T: false, immediateData: true, firstBurstLength: 512 } });
      if (isVerdict(s)) return s;
      const data = await readStart(ctx, s, 2);
      if (!(data instanceof Uint8Array)) return data;
      const fbl = s.params.firstBurstLength;
      if (data.length <= fbl) return notApplicable(`FirstBurstLength ${fbl} covers two blocks`);
      const immediate = s.params.immediateData ? Math.min(fbl, s.params.maxXmitDataSegmentLength) : 0;
      const cmd = scsiCommand(s, lunOf(ctx), write10(2), {
        write: true,
        edtl: data.length,
        final: false,
        data: data.subarray(0, immediate),
      });
      const rest = data.subarray(immediate, Math.min(data.length, immediate + s.params.maxXmitDataSegmentLength));
      const extra = dataOut(s, cmd.initiatorTaskTag, NO_TAG, rest, immediate);
      s.probe.send(cmd);
      s.probe.send(extra);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind !== 'r2t' && isWriteEnd(cmd.initiatorTaskTag)(p),
      );
      return detected(ev, `${immediate + rest.length} unsolicited bytes with FirstBurstLength ${fbl}`, cmd, extra);
    },
  },
];
