/**
 * Data transfer cases (RFC 7143 §11.7, §11.8, §13.10-§13.17): the R2Ts a target sends (lengths, numbering,
 * how many at once, what they cover) and how it takes Data-Out that breaks the limits. Writes put back the bytes
 * just read from the LUN, so a target that behaves leaves the LUN unchanged.
 * @module
 */
import type { DataOutPdu, Pdu, R2tPdu } from '../../pdu/types.js';
import { type LocalOffer, MAX_SEGMENT_KEY_VALUE } from '../../session/params.js';
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

/** TEST UNIT READY until GOOD, then READ CAPACITY(10): the block length of the LUN. */
async function blockLength(ctx: CaseContext, s: ConformSession): Promise<number | Verdict> {
  if (!(await settleUnitAttention(ctx, s))) return skipped('TEST UNIT READY does not complete with GOOD');
  const cap = scsiCommand(s, lunOf(ctx), [0x25], { read: true, edtl: 8 });
  const capData = await readData(ctx, s, cap);
  if (!capData || capData.length < 8) return skipped('READ CAPACITY(10) failed');
  return Buffer.from(capData).readUInt32BE(4);
}

/** READ(10) of `blocks` blocks (at most 65535) from LBA 0. */
async function readBlocks(
  ctx: CaseContext,
  s: ConformSession,
  blockSize: number,
  blocks: number,
): Promise<Uint8Array | Verdict> {
  const length = blockSize * blocks;
  const read = scsiCommand(s, lunOf(ctx), [0x28, 0, 0, 0, 0, 0, 0, blocks >> 8, blocks & 0xff, 0], {
    read: true,
    edtl: length,
  });
  const data = await readData(ctx, s, read);
  return data && data.length === length ? data : skipped('READ(10) failed');
}

/** READ CAPACITY(10) → block length, then READ(10) of `blocks` blocks from LBA 0. */
async function readStart(ctx: CaseContext, s: ConformSession, blocks: number): Promise<Uint8Array | Verdict> {
  const blockSize = await blockLength(ctx, s);
  if (typeof blockSize !== 'number') return blockSize;
  return readBlocks(ctx, s, blockSize, blocks);
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

const write10 = (blocks: number) => [0x2a, 0, ...be32(0), 0, blocks >> 8, blocks & 0xff, 0];

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

/** Data-Out PDUs answering one R2T with `data` (the whole write buffer): pieces of at most `maxSegment` bytes. */
function answerR2t(s: ConformSession, itt: number, r2t: R2tPdu, data: Uint8Array): DataOutPdu[] {
  const out: DataOutPdu[] = [];
  const end = Math.min(data.length, r2t.bufferOffset + r2t.desiredDataTransferLength);
  const step = s.params.maxXmitDataSegmentLength;
  for (let offset = r2t.bufferOffset, sn = 0; offset < end; offset += step, sn++) {
    const piece = dataOut(
      s,
      itt,
      r2t.targetTransferTag,
      data.subarray(offset, Math.min(end, offset + step)),
      offset,
      sn,
    );
    out.push({ ...piece, final: offset + step >= end });
  }
  return out;
}

/** What {@link r2tWrite} saw. */
interface R2tRun {
  readonly s: ConformSession;
  readonly edtl: number;
  /** Bytes sent as immediate data. */
  readonly unsolicited: number;
  readonly r2ts: readonly R2tPdu[];
  /** Most R2Ts received and not yet answered at one time. */
  readonly maxOutstanding: number;
  /** The event that ended the write (its SCSI Response, a Reject, a close, a timeout). */
  readonly end: Received;
}

/**
 * A solicited write of about four bursts with MaxBurstLength 1024 and MaxOutstandingR2T 2 offered, answering
 * each R2T in order only after a short pause in which further R2Ts may arrive (so that a target sending more than
 * it may is seen). With `immediate`, the first 512 bytes go as immediate data. The data written is the data read.
 */
async function r2tWrite(ctx: CaseContext, immediate: boolean): Promise<R2tRun | Verdict> {
  const s = await login(ctx, {
    offer: {
      maxBurstLength: 1024,
      firstBurstLength: 512,
      maxOutstandingR2T: 2,
      initialR2T: true,
      immediateData: immediate,
    },
  });
  if (isVerdict(s)) return s;
  const blockSize = await blockLength(ctx, s);
  if (typeof blockSize !== 'number') return blockSize;
  const blocks = Math.max(1, Math.ceil((4 * s.params.maxBurstLength) / blockSize));
  if (blocks > 256) return notApplicable(`MaxBurstLength ${s.params.maxBurstLength} needs over 256 blocks`);
  const data = await readBlocks(ctx, s, blockSize, blocks);
  if (!(data instanceof Uint8Array)) return data;
  const unsolicited =
    immediate && s.params.immediateData
      ? Math.min(512, s.params.firstBurstLength, s.params.maxXmitDataSegmentLength, data.length - 1)
      : 0;
  const cmd = scsiCommand(s, lunOf(ctx), write10(blocks), {
    write: true,
    edtl: data.length,
    data: data.subarray(0, unsolicited),
  });
  s.probe.send(cmd);
  const r2ts: R2tPdu[] = [];
  const open: R2tPdu[] = [];
  let maxOutstanding = 0;
  const pauseMs = Math.min(100, ctx.timeouts.silenceMs);
  for (let i = 0; i < 512; i++) {
    const ev = await awaitSession(
      s,
      open.length > 0 ? pauseMs : ctx.timeouts.replyMs,
      isWriteEnd(cmd.initiatorTaskTag),
    );
    const r2t = pduOf(ev, 'r2t');
    if (r2t) {
      r2ts.push(r2t);
      open.push(r2t);
      maxOutstanding = Math.max(maxOutstanding, open.length);
      continue;
    }
    if (ev.kind === 'timeout' && open.length > 0) {
      for (const pdu of answerR2t(s, cmd.initiatorTaskTag, open.shift()!, data)) s.probe.send(pdu);
      continue;
    }
    return { s, edtl: data.length, unsolicited, r2ts, maxOutstanding, end: ev };
  }
  return skipped('over 512 R2Ts for one write');
}

/** Runs {@link r2tWrite} and applies one rule to what it saw. */
function r2tCase(
  id: string,
  section: string,
  strength: 'MUST' | 'SHOULD',
  description: string,
  immediate: boolean,
  rule: (run: R2tRun) => Verdict,
): ConformCase {
  return {
    id,
    area: 'data',
    section,
    strength,
    description,
    async run(ctx) {
      const run = await r2tWrite(ctx, immediate);
      if ('status' in run) return run;
      if (run.r2ts.length === 0) return fail('no R2T for a write of unsent data', run.end);
      return rule(run);
    },
  };
}

/** The gaps and overlaps of the R2T ranges against [from, to). */
function coverage(r2ts: readonly R2tPdu[], from: number, to: number): string | undefined {
  const ranges = r2ts
    .map((r) => [r.bufferOffset, r.bufferOffset + r.desiredDataTransferLength] as const)
    .sort((a, b) => a[0] - b[0]);
  let next = from;
  for (const [start, end] of ranges) {
    if (start < next) return `an R2T asks again for bytes ${start}..${Math.min(end, next)}`;
    if (start > next) return `no R2T asks for bytes ${next}..${start}`;
    next = end;
  }
  if (next < to) return `no R2T asks for bytes ${next}..${to}`;
  if (next > to) return `R2Ts ask for ${next - to} bytes beyond the Expected Data Transfer Length ${to}`;
  return undefined;
}

/** A session with a solicited write of `blocks` blocks (chosen from the block length) waiting on its first R2T. */
async function firstR2t(
  ctx: CaseContext,
  offer: Partial<LocalOffer>,
  blocksFor: (blockSize: number, s: ConformSession) => number,
) {
  const s = await login(ctx, { offer });
  if (isVerdict(s)) return s;
  const blockSize = await blockLength(ctx, s);
  if (typeof blockSize !== 'number') return blockSize;
  const blocks = blocksFor(blockSize, s);
  if (blocks > 65535) return notApplicable(`${blocks} blocks needed`);
  const data = await readBlocks(ctx, s, blockSize, blocks);
  if (!(data instanceof Uint8Array)) return data;
  const cmd = scsiCommand(s, lunOf(ctx), write10(blocks), { write: true, edtl: data.length });
  s.probe.send(cmd);
  const ev = await awaitSession(s, ctx.timeouts.replyMs, (p) => p.initiatorTaskTag === cmd.initiatorTaskTag);
  const r2t = pduOf(ev, 'r2t');
  if (!r2t) return fail('no R2T for a write without unsolicited data', cmd, ev);
  return { s, data, cmd, r2t };
}

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
  r2tCase(
    'data.r2t-burst-length',
    '13.13',
    'MUST',
    'MaxBurstLength is the "maximum SCSI data payload in bytes in ... a solicited Data-Out sequence": with ' +
      'MaxBurstLength 1024 offered, every R2T of a four-burst write asks for 1..MaxBurstLength bytes.',
    false,
    ({ s, r2ts, end }) => {
      const bad = r2ts.find(
        (r) => r.desiredDataTransferLength === 0 || r.desiredDataTransferLength > s.params.maxBurstLength,
      );
      if (bad)
        return fail(
          `DesiredDataTransferLength ${bad.desiredDataTransferLength}, MaxBurstLength ${s.params.maxBurstLength}`,
          bad,
        );
      return pass(`${r2ts.length} R2Ts${pduOf(end, 'scsi-response')?.status === 0 ? ', GOOD' : ''}`);
    },
  ),
  r2tCase(
    'data.r2t-sn',
    '11.8',
    'MUST',
    'R2TSN numbers the R2Ts of a command from 0, one more each; no R2T carries the Target Transfer Tag ' +
      '0xffffffff ("the value 0xffffffff is reserved and MUST NOT be sent by a target in an R2T"; any other value, ' +
      "reused or not, is the target's business).",
    false,
    ({ r2ts }) => {
      for (const [i, r] of r2ts.entries()) {
        if (r.r2tSN !== i)
          return fail(`R2T number ${i} has R2TSN ${r.r2tSN}`, ...r2ts.slice(Math.max(0, i - 1), i + 1));
        if (r.targetTransferTag === NO_TAG) return fail('an R2T with TTT 0xffffffff', r);
      }
      return pass(`R2TSN 0..${r2ts.length - 1}`);
    },
  ),
  r2tCase(
    'data.r2t-outstanding',
    '13.17',
    'MUST',
    'MaxOutstandingR2T is the "maximum number of outstanding R2Ts per task": with 2 offered, a write of four ' +
      'bursts whose R2Ts are answered one at a time never has more than the negotiated number unanswered.',
    false,
    ({ s, r2ts, maxOutstanding }) =>
      maxOutstanding <= s.params.maxOutstandingR2T
        ? pass(`at most ${maxOutstanding} of ${s.params.maxOutstandingR2T}`)
        : fail(`${maxOutstanding} R2Ts outstanding with MaxOutstandingR2T ${s.params.maxOutstandingR2T}`, ...r2ts),
  ),
  r2tCase(
    'data.r2t-coverage',
    '11.8',
    'SHOULD',
    'After 512 bytes of immediate data, the R2Ts of a write ask for every remaining byte of the Expected Data ' +
      'Transfer Length once, none of the immediate bytes and nothing beyond; the write then ends with GOOD.',
    true,
    ({ r2ts, edtl, unsolicited, end }) => {
      const problem = coverage(r2ts, unsolicited, edtl);
      if (problem) return fail(problem, ...r2ts);
      const rsp = pduOf(end, 'scsi-response');
      if (rsp?.response !== 0 || rsp.status !== 0) return fail('the write did not end with GOOD', end);
      return pass(`${unsolicited} immediate bytes, ${r2ts.length} R2Ts`);
    },
  ),
  {
    id: 'data.burst-overrun',
    area: 'data',
    section: '13.13',
    strength: 'SHOULD',
    description:
      'With MaxBurstLength 512, an R2T sequence answered with the requested bytes (F=0) and then 512 more (F=1) ' +
      'is longer than MaxBurstLength and than the R2T asked for; the target should reject it or fail the command.',
    async run(ctx) {
      const w = await firstR2t(
        ctx,
        { maxBurstLength: 512, firstBurstLength: 512, initialR2T: true, immediateData: false },
        (bs) => Math.ceil(1024 / bs),
      );
      if ('status' in w) return w;
      const { s, data, cmd, r2t } = w;
      const len = r2t.desiredDataTransferLength;
      if (r2t.bufferOffset + len + 512 > data.length) return notApplicable('the first R2T asked for the whole write');
      if (len > s.params.maxXmitDataSegmentLength) return notApplicable('the R2T needs more than one Data-Out');
      const off = r2t.bufferOffset;
      const first: DataOutPdu = {
        ...dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, data.subarray(off, off + len), off),
        final: false,
      };
      const more = data.subarray(off + len, off + len + 512);
      const extra = dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, more, off + len, 1);
      s.probe.send(first);
      s.probe.send(extra);
      return detected(
        await awaitSession(s, ctx.timeouts.replyMs, (p) => p.kind !== 'r2t' && isWriteEnd(cmd.initiatorTaskTag)(p)),
        `${len + 512} bytes in a sequence with MaxBurstLength ${s.params.maxBurstLength}`,
        first,
        extra,
      );
    },
  },
  {
    id: 'data.oversized-segment',
    area: 'data',
    section: '13.12',
    strength: 'SHOULD',
    description:
      'MaxRecvDataSegmentLength declares "the maximum data segment length in bytes it can receive in an iSCSI ' +
      'PDU": a Data-Out 512 bytes longer than the target\'s declared value is a protocol error the target should ' +
      'reject, fail the command for, or drop the connection over.',
    async run(ctx) {
      const w = await firstR2t(
        ctx,
        { maxBurstLength: MAX_SEGMENT_KEY_VALUE, firstBurstLength: 512, initialR2T: true, immediateData: false },
        (bs, s) => Math.ceil((s.params.maxXmitDataSegmentLength + 512) / bs),
      );
      if ('status' in w) return w;
      const { s, data, cmd, r2t } = w;
      const size = s.params.maxXmitDataSegmentLength + 512;
      const big = dataOut(s, cmd.initiatorTaskTag, r2t.targetTransferTag, data.subarray(0, size), 0);
      s.probe.send(big);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind !== 'r2t' && isWriteEnd(cmd.initiatorTaskTag)(p),
      );
      return detected(ev, `a ${size}-byte Data-Out (R2T asked for ${r2t.desiredDataTransferLength})`, big);
    },
  },
  {
    id: 'data.unknown-ttt',
    area: 'data',
    section: '11.7',
    strength: 'SHOULD',
    description:
      "A Data-Out carrying a Target Transfer Tag the target never gave (the R2T's with its top bit flipped) " +
      'answers no R2T; the target should reject it (e.g. 0x09 Invalid PDU field) or fail the command.',
    async run(ctx) {
      const w = await solicited(ctx);
      if ('status' in w) return w;
      const { s, block, cmd, r2t } = w;
      let ttt = (r2t.targetTransferTag ^ 0x80000000) >>> 0;
      if (ttt === NO_TAG) ttt = 0x7ffffffe;
      const len = Math.min(r2t.desiredDataTransferLength, block.length, s.params.maxXmitDataSegmentLength);
      const bad = dataOut(
        s,
        cmd.initiatorTaskTag,
        ttt,
        block.subarray(r2t.bufferOffset, r2t.bufferOffset + len),
        r2t.bufferOffset,
      );
      s.probe.send(bad);
      return detected(
        await awaitSession(s, ctx.timeouts.replyMs, isWriteEnd(cmd.initiatorTaskTag)),
        `a Data-Out with TTT 0x${ttt.toString(16)}`,
        bad,
      );
    },
  },
  {
    id: 'data.immediate-beyond-first-burst',
    area: 'data',
    section: '13.14',
    strength: 'SHOULD',
    description:
      'With ImmediateData=Yes and FirstBurstLength 512, a SCSI Command carrying 1024 bytes of immediate data ' +
      'exceeds FirstBurstLength, "the maximum amount in bytes of unsolicited data"; the target should reject it ' +
      'or fail the command.',
    async run(ctx) {
      const s = await login(ctx, { offer: { immediateData: true, initialR2T: true, firstBurstLength: 512 } });
      if (isVerdict(s)) return s;
      if (!s.params.immediateData) return notApplicable('the target negotiated ImmediateData=No');
      const fbl = s.params.firstBurstLength;
      const size = Math.min(fbl + 512, s.params.maxXmitDataSegmentLength);
      if (size <= fbl) return notApplicable(`MaxRecvDataSegmentLength does not exceed FirstBurstLength ${fbl}`);
      const blockSize = await blockLength(ctx, s);
      if (typeof blockSize !== 'number') return blockSize;
      const blocks = Math.ceil(size / blockSize);
      const data = await readBlocks(ctx, s, blockSize, blocks);
      if (!(data instanceof Uint8Array)) return data;
      const cmd = scsiCommand(s, lunOf(ctx), write10(blocks), {
        write: true,
        edtl: data.length,
        data: data.subarray(0, size),
      });
      s.probe.send(cmd);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind !== 'r2t' && isWriteEnd(cmd.initiatorTaskTag)(p),
      );
      return detected(ev, `${size} bytes of immediate data with FirstBurstLength ${fbl}`, cmd);
    },
  },
  {
    id: 'data.unsolicited-with-initial-r2t',
    area: 'data',
    section: '13.10',
    strength: 'SHOULD',
    description:
      'With InitialR2T=Yes the initiator may send no unsolicited Data-Out: a Data-Out with TTT 0xffffffff after a ' +
      'write command should be rejected or fail the command.',
    async run(ctx) {
      const s = await login(ctx, { offer: { initialR2T: true, immediateData: false } });
      if (isVerdict(s)) return s;
      if (!s.params.initialR2T) return notApplicable('InitialR2T=No was negotiated');
      const block = await readStart(ctx, s, 1);
      if (!(block instanceof Uint8Array)) return block;
      const cmd = scsiCommand(s, lunOf(ctx), write10(1), { write: true, edtl: block.length });
      const len = Math.min(block.length, s.params.maxXmitDataSegmentLength);
      const extra = dataOut(s, cmd.initiatorTaskTag, NO_TAG, block.subarray(0, len), 0);
      s.probe.send(cmd);
      s.probe.send(extra);
      const ev = await awaitSession(
        s,
        ctx.timeouts.replyMs,
        (p) => p.kind !== 'r2t' && isWriteEnd(cmd.initiatorTaskTag)(p),
      );
      return detected(ev, 'an unsolicited Data-Out with InitialR2T=Yes', cmd, extra);
    },
  },
];
