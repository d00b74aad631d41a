/**
 * The session engine against a real target: a private tgtd with one 64 MiB file LUN per configuration. Data written
 * with WRITE(16) reads back with READ(16) and is found in the backing file (sha256 of the region), for several sizes
 * unaligned to bursts, under each InitialR2T × ImmediateData combination, with small bursts and several
 * outstanding R2Ts, with CRC32C digests; plus 32 concurrent reads, NOP-In answers and logout with commands in flight.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeCapture } from '../../src/pdu/trace-decode.js';
import type { DataOutPdu, Pdu, ScsiCommandPdu } from '../../src/pdu/types.js';
import type { Logger, SessionEvent } from '../../src/session/events.js';
import { type LoggedIn, type LoginOptions, login } from '../../src/session/initiator.js';
import type { NegotiatedParameters } from '../../src/session/params.js';
import { Session } from '../../src/session/session.js';
import type { ScsiResult } from '../../src/session/task.js';
import { describePeers, sleep } from '../helpers/peers.js';
import { startTgtd, type TargetSpec, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const LUN_BYTES = 64 * MiB;
const BLOCK = 512;
const GOOD = 0;
const CHECK_CONDITION = 2;

interface Variant {
  readonly name: string;
  readonly params: Record<string, string>;
  readonly offer?: LoginOptions['offer'];
  /** What the negotiation must give (checked, so each variant really exercises what it says). */
  readonly expect: Partial<NegotiatedParameters>;
}

const VARIANTS: readonly Variant[] = [
  {
    name: 'InitialR2T=Yes ImmediateData=Yes (tgtd defaults)',
    params: {},
    expect: { initialR2T: true, immediateData: true, firstBurstLength: 65536, maxBurstLength: 262144 },
  },
  {
    name: 'InitialR2T=No ImmediateData=Yes, 3 outstanding R2Ts',
    params: {
      InitialR2T: 'No',
      ImmediateData: 'Yes',
      FirstBurstLength: '65536',
      MaxBurstLength: '131072',
      MaxOutstandingR2T: '3',
    },
    offer: { maxOutstandingR2T: 3 },
    expect: {
      initialR2T: false,
      immediateData: true,
      firstBurstLength: 65536,
      maxBurstLength: 131072,
      maxOutstandingR2T: 3,
    },
  },
  {
    name: 'InitialR2T=Yes ImmediateData=No, small bursts',
    params: { InitialR2T: 'Yes', ImmediateData: 'No', FirstBurstLength: '16384', MaxBurstLength: '65536' },
    expect: { initialR2T: true, immediateData: false, firstBurstLength: 16384, maxBurstLength: 65536 },
  },
  {
    name: 'InitialR2T=No ImmediateData=No, bursts unaligned to the sizes',
    params: {
      InitialR2T: 'No',
      ImmediateData: 'No',
      FirstBurstLength: '20480',
      MaxBurstLength: '99840',
      MaxRecvDataSegmentLength: '12800',
    },
    expect: {
      initialR2T: false,
      immediateData: false,
      firstBurstLength: 20480,
      maxBurstLength: 99840,
      maxXmitDataSegmentLength: 12800, // tgtd declares MaxRecvDataSegmentLength only when it is set
    },
  },
  {
    name: 'CRC32C header and data digests, InitialR2T=No',
    params: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C', InitialR2T: 'No', ImmediateData: 'Yes' },
    offer: { headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C', 'None'] },
    expect: { initialR2T: false, immediateData: true, firstBurstLength: 65536, maxBurstLength: 262144 },
  },
];
const NOP_TARGET = VARIANTS.length;
const PLAIN_TARGET = VARIANTS.length + 1;
const iqn = (i: number) => `iqn.2024-01.test.iscsi-ts:session.t${i}`;

/** Sizes from one block to over 1 MiB, none a multiple of any burst length above, at LBAs of their own. */
const WRITES: readonly { lba: number; bytes: number }[] = [
  { lba: 0, bytes: 512 },
  { lba: 9, bytes: 4096 },
  { lba: 2047, bytes: 65536 },
  { lba: 4099, bytes: MiB + 512 },
  { lba: 9001, bytes: 300 * 1024 + 512 },
  { lba: 131071, bytes: 512 }, // the last block of the LUN
];

function cdb16(op: number, lba: number, blocks: number): Uint8Array {
  const cdb = new Uint8Array(16);
  const view = new DataView(cdb.buffer);
  cdb[0] = op;
  view.setBigUint64(2, BigInt(lba));
  view.setUint32(10, blocks);
  return cdb;
}
const read16 = (lba: number, blocks: number) => cdb16(0x88, lba, blocks);
const write16 = (lba: number, blocks: number) => cdb16(0x8a, lba, blocks);
const TEST_UNIT_READY = new Uint8Array(6);

/** Sense key and ASC of fixed (0x70/0x71) or descriptor (0x72/0x73) sense data. */
function senseKey(sense: Uint8Array | undefined): { key: number; asc: number } | undefined {
  if (!sense || sense.length < 3) return undefined;
  const code = sense[0]! & 0x7f;
  if (code === 0x72 || code === 0x73) return { key: sense[1]! & 0x0f, asc: sense[2]! };
  return { key: sense[2]! & 0x0f, asc: sense[12] ?? 0 };
}

/** The first command of a session meets tgtd's UNIT ATTENTION (power on/reset, ASC 0x29): retry it. */
async function firstCommand(session: Session): Promise<number> {
  const first = await session.execute({ lun: 1, cdb: TEST_UNIT_READY });
  if (first.status !== CHECK_CONDITION) {
    expect(first.status).toBe(GOOD);
    return 1;
  }
  expect(senseKey(first.sense)).toEqual({ key: 6, asc: 0x29 });
  const again = await session.execute({ lun: 1, cdb: TEST_UNIT_READY });
  expect(again.status).toBe(GOOD);
  return 2;
}

function expectGood(r: ScsiResult): void {
  expect(r.response).toBe(0);
  expect(r.status, `sense ${JSON.stringify(senseKey(r.sense))}`).toBe(GOOD);
}

/**
 * The PDUs of the write of `length` bytes, checked against RFC 7143 as derived here (not by the code under test):
 * immediate data up to min(FirstBurstLength, MaxRecvDataSegmentLength) when ImmediateData=Yes, unsolicited Data-Out
 * up to FirstBurstLength when InitialR2T=No (§13.10, §13.11, §13.14); then one Data-Out sequence per R2T: its TTT,
 * DataSN from 0, contiguous BufferOffsets, F on the last PDU only, segments within the target's limit (§11.7, §11.8).
 */
function checkWriteOnWire(pdus: readonly Pdu[], params: NegotiatedParameters, length: number): void {
  const command = pdus.find(
    (p): p is ScsiCommandPdu => p.kind === 'scsi-command' && p.write && p.expectedDataTransferLength === length,
  );
  expect(command).toBeDefined();
  const itt = command!.initiatorTaskTag;
  const first = Math.min(length, params.firstBurstLength);
  const immediate = params.immediateData ? Math.min(first, params.maxXmitDataSegmentLength) : 0;
  const unsolicitedEnd = params.initialR2T ? immediate : first;
  expect(command!.data.length).toBe(immediate);
  expect(command!.final).toBe(unsolicitedEnd === immediate);
  // tgtd gives every R2T of a command the same TTT: Data-Outs belong to the oldest open sequence with their TTT.
  type Sequence = { ttt: number; offset: number; length: number; pdus: DataOutPdu[] };
  const sequences: Sequence[] = [{ ttt: 0xffffffff, offset: immediate, length: unsolicitedEnd - immediate, pdus: [] }];
  for (const p of pdus) {
    if (p.initiatorTaskTag !== itt) continue;
    if (p.kind === 'r2t') {
      expect(p.desiredDataTransferLength).toBeLessThanOrEqual(params.maxBurstLength);
      sequences.push({
        ttt: p.targetTransferTag,
        offset: p.bufferOffset,
        length: p.desiredDataTransferLength,
        pdus: [],
      });
    } else if (p.kind === 'data-out') {
      const open = sequences.find((q) => q.ttt === p.targetTransferTag && !q.pdus.at(-1)?.final);
      expect(open).toBeDefined();
      open!.pdus.push(p);
    }
  }
  let covered = 0;
  for (const seq of sequences) {
    let offset = seq.offset;
    seq.pdus.forEach((d, i) => {
      expect(d).toMatchObject({ dataSN: i, bufferOffset: offset, final: i === seq.pdus.length - 1 });
      expect(d.data.length).toBeGreaterThan(0);
      expect(d.data.length).toBeLessThanOrEqual(params.maxXmitDataSegmentLength);
      offset += d.data.length;
    });
    expect(offset).toBe(seq.offset + seq.length);
    covered += seq.length;
  }
  expect(immediate + covered).toBe(length);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function fileRegion(path: string, offset: number, length: number): Uint8Array {
  const out = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    expect(readSync(fd, out, 0, length, offset)).toBe(length);
  } finally {
    closeSync(fd);
  }
  return out;
}

function collectingLogger(events: SessionEvent[]): Logger {
  const push = (obj: object) => events.push(obj as SessionEvent);
  return { debug: push, info: push, warn: push, error: push };
}

describePeers(['tgtd', 'tgtadm'], 'session engine against tgtd', () => {
  let tgtd: Tgtd | undefined;
  const portal = () => `127.0.0.1:${tgtd!.port}`;
  const lunFile = (target: number) => join(tgtd!.dir, `t${target + 1}-lun1.img`);
  const open = async (target: number, options: Partial<LoginOptions> = {}): Promise<LoggedIn> =>
    login({ portal: portal(), targetName: iqn(target), ...options });

  beforeAll(async () => {
    const targets: TargetSpec[] = VARIANTS.map((v, i) => ({
      iqn: iqn(i),
      luns: [{ sizeBytes: LUN_BYTES }],
      params: v.params,
    }));
    targets.push({ iqn: iqn(NOP_TARGET), luns: [{ sizeBytes: MiB }], params: { nop_interval: '1', nop_count: '2' } });
    targets.push({ iqn: iqn(PLAIN_TARGET), luns: [{ sizeBytes: LUN_BYTES }] });
    tgtd = await startTgtd({ targets });
  }, 30_000);

  afterAll(async () => {
    await tgtd?.stop();
  });

  VARIANTS.forEach((variant, target) => {
    it(`writes and reads back every size: ${variant.name}`, async () => {
      const trace: Uint8Array[] = [];
      const loggedIn = await open(target, {
        ...(variant.offer ? { offer: variant.offer } : {}),
        trace: (chunk) => trace.push(Uint8Array.from(chunk)),
      });
      expect(loggedIn.params).toMatchObject(variant.expect);
      if (variant.params.HeaderDigest) {
        expect(loggedIn.params).toMatchObject({ headerDigest: 'CRC32C', dataDigest: 'CRC32C' });
      }
      const events: SessionEvent[] = [];
      const session = new Session(loggedIn, { logger: collectingLogger(events) });
      const first = await firstCommand(session);
      const written: { lba: number; data: Uint8Array }[] = [];
      for (const { lba, bytes } of WRITES) {
        const data = randomBytes(bytes);
        expectGood(await session.execute({ lun: 1, cdb: write16(lba, bytes / BLOCK), write: data }));
        written.push({ lba, data });
      }
      for (const { lba, data } of written) {
        const r = await session.execute({
          lun: 1,
          cdb: read16(lba, data.length / BLOCK),
          read: { length: data.length },
        });
        expectGood(r);
        expect(r.residualUnderflow).toBeUndefined();
        expect(Buffer.from(r.data!).equals(data)).toBe(true);
        // The bytes went through tgtd into its backing file.
        expect(sha256(fileRegion(lunFile(target), lba * BLOCK, data.length))).toBe(sha256(data));
      }
      // Into a caller's buffer, larger than the data asked for: the CDB decides, the rest is residual.
      const into = Buffer.alloc(8192, 0xee);
      const r = await session.execute({ lun: 1, cdb: read16(9, 8), read: { into } });
      expectGood(r);
      expect(r.data!.buffer).toBe(into.buffer);
      expect(Buffer.from(r.data!).equals(written[1]!.data)).toBe(true);
      const done = events.filter((e) => e.event === 'command');
      expect(done.length).toBe(first + 2 * WRITES.length + 1);
      expect(events.filter((e) => e.event === 'command-failed' || e.event === 'unexpected-pdu')).toEqual([]);
      await session.logout();
      expect(session.closed).toBe(true);
      const pdus = decodeCapture(Buffer.concat(trace), { port: tgtd!.port }).pdus;
      expect(pdus.every((p) => p.violations.length === 0)).toBe(true);
      const wire = pdus.flatMap((p) => (p.pdu ? [p.pdu] : []));
      for (const { bytes } of WRITES) checkWriteOnWire(wire, loggedIn.params, bytes);
    });
  });

  it('keeps 32 reads in flight, and queues beyond the CmdSN window of tgtd', async () => {
    const events: SessionEvent[] = [];
    const session = new Session(await open(PLAIN_TARGET), { queueDepth: 512, logger: collectingLogger(events) });
    await firstCommand(session);
    const pattern = randomBytes(2 * MiB);
    expectGood(await session.execute({ lun: 1, cdb: write16(0, pattern.length / BLOCK), write: pattern }));
    const room = () => ((session.window.maxCmdSN - session.window.cmdSN) >>> 0) + 1;
    expect(room()).toBeGreaterThanOrEqual(32); // tgtd: MaxCmdSN = ExpCmdSN + 128 once in the Full Feature Phase
    const readAll = async (count: number, size: number) => {
      const windowBefore = room();
      const reads = Array.from({ length: count }, (_, i) =>
        session.execute({ lun: 1, cdb: read16((i * size) / BLOCK, size / BLOCK), read: { length: size } }),
      );
      // Everything the window allows goes at once; the rest waits for MaxCmdSN to advance.
      expect(session.inFlight).toBe(Math.min(count, windowBefore));
      expect(session.queued).toBe(count - session.inFlight);
      const results = await Promise.all(reads);
      results.forEach((r, i) => {
        expectGood(r);
        expect(Buffer.from(r.data!).equals(pattern.subarray(i * size, (i + 1) * size))).toBe(true);
      });
    };
    await readAll(32, 64 * 1024);
    await readAll(400, 4096); // more than tgtd's window of 128
    const cmdSNs = events.flatMap((e) => (e.event === 'command' ? [e.cmdSN] : []));
    expect(new Set(cmdSNs).size).toBe(cmdSNs.length); // non-immediate commands never share a CmdSN
    await session.logout();
  });

  it('logs out only after the commands in flight completed', async () => {
    const session = new Session(await open(PLAIN_TARGET), { queueDepth: 4 });
    await firstCommand(session);
    const reads = Array.from({ length: 12 }, (_, i) =>
      session.execute({ lun: 1, cdb: read16(i * 256, 256), read: { length: 256 * BLOCK } }),
    );
    const loggingOut = session.logout();
    await expect(session.execute({ lun: 1, cdb: TEST_UNIT_READY })).rejects.toMatchObject({
      code: 'ERR_ISCSI_CONNECTION',
    });
    for (const r of await Promise.all(reads)) expectGood(r);
    await loggingOut;
    expect(session.closed).toBe(true);
  });

  it('answers tgtd NOP-Ins (nop_interval 1) and stays logged in, where a silent initiator is dropped', async () => {
    const trace: Uint8Array[] = [];
    const events: SessionEvent[] = [];
    const loggedIn = await open(NOP_TARGET, { trace: (chunk) => trace.push(Uint8Array.from(chunk)) });
    const session = new Session(loggedIn, { logger: collectingLogger(events) });
    const silent = await open(NOP_TARGET); // nobody answers its NOP-Ins
    // nop_count 2: tgtd drops a connection after two unanswered pings (about 3 s); allow for a loaded machine.
    const started = Date.now();
    while ((Date.now() - started < 3500 || !silent.connection.failure) && Date.now() - started < 8000) await sleep(100);
    expect(silent.connection.failure?.code).toBe('ERR_ISCSI_CONNECTION');
    expect(session.closed).toBe(false);
    silent.connection.close();
    await firstCommand(session);
    await session.logout();
    const pings = events.filter((e) => e.event === 'nop-in');
    expect(pings.length).toBeGreaterThanOrEqual(2); // tgtd's first ping comes 1-2 s after login
    for (const p of pings) expect(p).toMatchObject({ answered: true });
    const pdus = decodeCapture(Buffer.concat(trace), { port: tgtd!.port }).pdus.flatMap((t) => (t.pdu ? [t.pdu] : []));
    const nopIns = pdus.filter((p) => p.kind === 'nop-in');
    const nopOuts = pdus.filter((p) => p.kind === 'nop-out');
    expect(nopOuts.length).toBe(nopIns.length);
    nopOuts.forEach((out, i) => {
      expect(out).toMatchObject({
        initiatorTaskTag: 0xffffffff,
        immediate: true,
        targetTransferTag: nopIns[i]!.kind === 'nop-in' ? nopIns[i]!.targetTransferTag : -1,
      });
    });
  });

  it('moves 64 MiB sequentially at queue depth 8 with 256 KiB commands (informal throughput)', async () => {
    const session = new Session(await open(PLAIN_TARGET), { queueDepth: 8 });
    await firstCommand(session);
    const chunk = 256 * 1024;
    const count = LUN_BYTES / chunk;
    const data = randomBytes(LUN_BYTES);
    const run = async (op: (i: number) => Promise<ScsiResult>) => {
      const started = performance.now();
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < count; i = next++) expectGood(await op(i));
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      return LUN_BYTES / MiB / ((performance.now() - started) / 1000);
    };
    const writeMBs = await run((i) =>
      session.execute({
        lun: 1,
        cdb: write16((i * chunk) / BLOCK, chunk / BLOCK),
        write: data.subarray(i * chunk, (i + 1) * chunk),
      }),
    );
    const back = Buffer.alloc(LUN_BYTES);
    const readMBs = await run((i) =>
      session.execute({
        lun: 1,
        cdb: read16((i * chunk) / BLOCK, chunk / BLOCK),
        read: { into: back.subarray(i * chunk, (i + 1) * chunk) },
      }),
    );
    expect(back.equals(data)).toBe(true);
    console.info(`[iscsi-ts] 64 MiB QD8 256 KiB: write ${writeMBs.toFixed(0)} MiB/s, read ${readMBs.toFixed(0)} MiB/s`);
    await session.logout();
  });
});
