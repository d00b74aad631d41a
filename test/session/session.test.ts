/**
 * The session engine against a scripted fake target on a loopback socket: the test plays the target PDU by PDU
 * (its own framer and encoder), so every rule can be checked and every misbehaviour provoked.
 */
import { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConnectionError, ProtocolError, TimeoutError } from '../../src/errors.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { lunFromNumber } from '../../src/pdu/lun.js';
import type { NegotiatedParameters } from '../../src/session/params.js';
import {
  bytes,
  EMPTY,
  FIRST_CMDSN,
  type Harness,
  READ_10,
  type SetupOptions,
  setupSession,
  TUR,
  u8,
  until,
  WRITE_10,
} from '../helpers/fake-target.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const setup = (params: Partial<NegotiatedParameters> = {}, options: SetupOptions = {}): Promise<Harness> =>
  setupSession(cleanups, params, options);

describe('Session: reads', () => {
  it('sends the command with its fields and reassembles Data-In; status in the last Data-In (S bit)', async () => {
    const { target, session, events } = await setup();
    const pending = session.execute({ lun: 3, cdb: READ_10, read: { length: 4096 } });
    const cmd = await target.next('scsi-command');
    expect(cmd).toMatchObject({
      immediate: false,
      final: true,
      read: true,
      write: false,
      attributes: 1, // Simple
      lun: lunFromNumber(3),
      expectedDataTransferLength: 4096,
      cmdSN: FIRST_CMDSN,
      expStatSN: 500,
    });
    expect(cmd.initiatorTaskTag).not.toBe(0xffffffff);
    expect(Array.from(cmd.cdb.subarray(0, 10))).toEqual(Array.from(READ_10));
    const data = bytes(4096);
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 0, data: data.subarray(0, 1000) });
    target.dataIn(cmd, { dataSN: 1, bufferOffset: 1000, data: data.subarray(1000), statusPresent: true });
    const r = await pending;
    expect(r).toMatchObject({ response: 0, status: 0, bytesIn: 4096, bytesOut: 0 });
    expect(u8(r.data)).toEqual(data);
    expect(session.expStatSN).toBe(501); // the StatSN of the S-bit Data-In was 500
    expect(events).toContainEqual(expect.objectContaining({ event: 'command', op: 0x28, lun: '3', bytesIn: 4096 }));
    // The next command acknowledges it.
    session.execute({ lun: 3, cdb: TUR }).catch(() => {}); // settled by the cleanup
    expect(await target.next('scsi-command')).toMatchObject({ expStatSN: 501, cmdSN: FIRST_CMDSN + 1 });
  });

  it('with DataPDUInOrder=No, places Data-In arriving out of order, into the caller buffer', async () => {
    const { target, session } = await setup({ dataPDUInOrder: false });
    const into = new Uint8Array(3000);
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { into } });
    const cmd = await target.next('scsi-command');
    const data = bytes(3000, 5);
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 2000, data: data.subarray(2000) });
    target.dataIn(cmd, { dataSN: 1, bufferOffset: 0, data: data.subarray(0, 1000) });
    target.dataIn(cmd, { dataSN: 2, bufferOffset: 1000, data: data.subarray(1000, 2000) });
    target.response(cmd);
    const r = await pending;
    expect(r.data!.buffer).toBe(into.buffer);
    expect(into).toEqual(data);
  });

  it('reports a residual underflow and returns only the data transferred', async () => {
    const { target, session } = await setup();
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { length: 4096 } });
    const cmd = await target.next('scsi-command');
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 0, data: bytes(512) });
    target.response(cmd, { residualUnderflow: true, residualCount: 3584 });
    const r = await pending;
    expect(r.residualUnderflow).toBe(3584);
    expect(u8(r.data)).toEqual(bytes(512));
  });

  it('returns CHECK CONDITION with its sense data as a result', async () => {
    const { target, session } = await setup();
    const pending = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    const sense = Uint8Array.of(0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0);
    target.response(cmd, { status: 2, data: Uint8Array.of(0, sense.length, ...sense) });
    const r = await pending;
    expect(r).toMatchObject({ status: 2, response: 0 });
    expect(u8(r.sense)).toEqual(sense);
  });

  it('fails the command on Data-In beyond the buffer, and drops its later PDUs', async () => {
    const { target, session, events } = await setup();
    const backing = new Uint8Array(64).fill(0x55);
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { into: backing.subarray(0, 32) } });
    const cmd = await target.next('scsi-command');
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 16, data: bytes(32) });
    const err = await pending.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(backing.every((b) => b === 0x55)).toBe(true);
    target.response(cmd); // late, for a forgotten command: dropped without a warning
    const next = session.execute({ lun: 0, cdb: TUR });
    const cmd2 = await target.next('scsi-command');
    expect(cmd2.initiatorTaskTag).not.toBe(cmd.initiatorTaskTag);
    target.response(cmd2);
    expect((await next).status).toBe(0);
    expect(events.filter((e) => e.event === 'unexpected-pdu')).toEqual([]);
  });

  it('fails the command on a DataSN gap, and on GOOD status with data missing', async () => {
    const { target, session } = await setup();
    const a = session.execute({ lun: 0, cdb: READ_10, read: { length: 100 } });
    const b = session.execute({ lun: 0, cdb: READ_10, read: { length: 100 } });
    const cmdA = await target.next('scsi-command');
    const cmdB = await target.next('scsi-command');
    target.dataIn(cmdA, { dataSN: 1, bufferOffset: 0, data: bytes(100) });
    target.dataIn(cmdB, { dataSN: 0, bufferOffset: 0, data: bytes(50) });
    target.response(cmdB);
    await expect(a).rejects.toThrow(/DataSN 1, expected 0/);
    await expect(b).rejects.toThrow(/50 of 100 bytes/);
  });
});

describe('Session: writes', () => {
  const params = {
    initialR2T: false,
    immediateData: true,
    firstBurstLength: 16384,
    maxBurstLength: 8192,
    maxXmitDataSegmentLength: 4096,
  };

  it('sends immediate data, unsolicited Data-Out up to FirstBurstLength, then answers each R2T', async () => {
    const { target, session } = await setup(params);
    const data = bytes(40_000, 9);
    const pending = session.execute({ lun: 1, cdb: WRITE_10, write: data });
    const cmd = await target.next('scsi-command');
    expect(cmd).toMatchObject({ write: true, read: false, final: false, expectedDataTransferLength: 40_000 });
    expect(u8(cmd.data)).toEqual(data.subarray(0, 4096));
    // Unsolicited: [4096, 16384) in 4 KiB PDUs, TTT 0xffffffff, DataSN from 0, F on the last.
    for (let i = 0; i < 3; i++) {
      const d = await target.next('data-out');
      expect(d).toMatchObject({
        targetTransferTag: 0xffffffff,
        dataSN: i,
        bufferOffset: 4096 * (i + 1),
        final: i === 2,
      });
      expect(u8(d.data)).toEqual(data.subarray(4096 * (i + 1), 4096 * (i + 2)));
    }
    // Two R2Ts outstanding at once (MaxOutstandingR2T is the target's limit); the second is not 4 KiB-aligned.
    target.r2t(cmd, { r2tSN: 0, bufferOffset: 16384, desiredDataTransferLength: 8192 });
    target.r2t(cmd, { r2tSN: 1, bufferOffset: 24576, desiredDataTransferLength: 40_000 - 24576 - 7424 });
    target.r2t(cmd, { r2tSN: 2, bufferOffset: 40_000 - 7424, desiredDataTransferLength: 7424 });
    const seen: { ttt: number; offset: number; len: number; sn: number; final: boolean }[] = [];
    let total = 0;
    while (total < 40_000 - 16384) {
      const d = await target.next('data-out');
      expect(u8(d.data)).toEqual(data.subarray(d.bufferOffset, d.bufferOffset + d.data.length));
      expect(d.data.length).toBeLessThanOrEqual(4096);
      seen.push({ ttt: d.targetTransferTag, offset: d.bufferOffset, len: d.data.length, sn: d.dataSN, final: d.final });
      total += d.data.length;
    }
    expect(seen).toEqual([
      { ttt: 0x7700, offset: 16384, len: 4096, sn: 0, final: false },
      { ttt: 0x7700, offset: 20480, len: 4096, sn: 1, final: true },
      { ttt: 0x7701, offset: 24576, len: 4096, sn: 0, final: false },
      { ttt: 0x7701, offset: 28672, len: 3904, sn: 1, final: true },
      { ttt: 0x7702, offset: 32576, len: 4096, sn: 0, final: false },
      { ttt: 0x7702, offset: 36672, len: 3328, sn: 1, final: true },
    ]);
    target.response(cmd);
    expect(await pending).toMatchObject({ status: 0, bytesOut: 40_000 });
  });

  it('with InitialR2T=Yes and ImmediateData=No, sends nothing before the R2T', async () => {
    const { target, session } = await setup({ ...params, initialR2T: true, immediateData: false });
    const pending = session.execute({ lun: 1, cdb: WRITE_10, write: bytes(6000) });
    const cmd = await target.next('scsi-command');
    expect(cmd).toMatchObject({ final: true });
    expect(cmd.data.length).toBe(0);
    expect(await target.quiet()).toBe(true);
    target.r2t(cmd, { r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 6000 });
    expect(await target.next('data-out')).toMatchObject({ bufferOffset: 0, dataSN: 0, final: false });
    expect(await target.next('data-out')).toMatchObject({ bufferOffset: 4096, dataSN: 1, final: true });
    target.response(cmd);
    expect((await pending).status).toBe(0);
  });

  it('fails the command on an R2T beyond MaxBurstLength or out of R2TSN order', async () => {
    const { target, session } = await setup(params);
    const a = session.execute({ lun: 1, cdb: WRITE_10, write: bytes(30_000) });
    const cmdA = await target.next('scsi-command');
    for (let i = 0; i < 3; i++) await target.next('data-out');
    target.r2t(cmdA, { r2tSN: 0, bufferOffset: 16384, desiredDataTransferLength: 13_616 }); // > MaxBurstLength
    await expect(a).rejects.toThrow(/MaxBurstLength/);
    const b = session.execute({ lun: 1, cdb: WRITE_10, write: bytes(30_000) });
    const cmdB = await target.next('scsi-command');
    for (let i = 0; i < 3; i++) await target.next('data-out');
    target.r2t(cmdB, { r2tSN: 1, bufferOffset: 16384, desiredDataTransferLength: 8192 });
    await expect(b).rejects.toThrow(/R2TSN 1, expected 0/);
  });

  it('sends a bidirectional command with the read length AHS, and a CDB over 16 bytes in an Extended CDB AHS', async () => {
    const { target, session } = await setup(params);
    const cdb = bytes(32, 3);
    const pending = session.execute({ lun: 1, cdb, write: bytes(512), read: { length: 1024 } });
    const cmd = await target.next('scsi-command');
    expect(cmd).toMatchObject({ read: true, write: true, expectedDataTransferLength: 512, final: true });
    expect(u8(cmd.cdb)).toEqual(cdb.subarray(0, 16));
    expect(cmd.ahs.map((a) => (a.type === 'extended-cdb' ? { ...a, cdb: u8(a.cdb) } : a))).toEqual([
      { type: 'extended-cdb', cdb: cdb.subarray(16) },
      { type: 'bidi-read-length', expectedReadDataLength: 1024 },
    ]);
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 0, data: bytes(1024) });
    target.response(cmd, { bidiReadResidualUnderflow: false });
    const r = await pending;
    expect(r).toMatchObject({ bytesIn: 1024, bytesOut: 512 });
  });
});

describe('Session: CmdSN window and queueing', () => {
  it('waits while the window is closed, and sends as MaxCmdSN advances', async () => {
    const { target, session } = await setup({}, { window: 1 });
    const all = [0, 1, 2].map(() => session.execute({ lun: 0, cdb: TUR }));
    const first = await target.next('scsi-command');
    expect(first.cmdSN).toBe(FIRST_CMDSN);
    expect([session.inFlight, session.queued]).toEqual([1, 2]);
    expect(await target.quiet()).toBe(true);
    // Closed: MaxCmdSN = ExpCmdSN - 1 (the response acknowledges the command but opens nothing).
    target.window = 0;
    target.response(first);
    await until(() => session.window.expCmdSN === FIRST_CMDSN + 1);
    expect(await target.quiet()).toBe(true);
    expect(session.window).toEqual({ cmdSN: FIRST_CMDSN + 1, expCmdSN: FIRST_CMDSN + 1, maxCmdSN: FIRST_CMDSN });
    // An immediate command is not held by the window, and does not take a CmdSN.
    const urgent = session.execute({ lun: 0, cdb: TUR, immediate: true });
    const imm = await target.next('scsi-command');
    expect(imm).toMatchObject({ immediate: true, cmdSN: FIRST_CMDSN + 1 });
    target.response(imm);
    await urgent;
    // A NOP-In (no answer asked) opens the window by two: the next two go, wrapping past 2**32.
    target.window = 2;
    target.send({
      kind: 'nop-in',
      lun: 0n,
      initiatorTaskTag: 0xffffffff,
      targetTransferTag: 0xffffffff,
      ahs: [],
      data: EMPTY,
      ...target.seq(false),
    });
    const second = await target.next('scsi-command');
    const third = await target.next('scsi-command');
    expect([second.cmdSN, third.cmdSN]).toEqual([FIRST_CMDSN + 1, 0xffffffff]);
    target.response(second);
    target.response(third);
    for (const r of await Promise.all(all)) expect(r.status).toBe(0);
    expect(session.window.cmdSN).toBe(0);
  });

  it('ignores a window update that is not newer', async () => {
    const { target, session } = await setup({}, { window: 4 });
    const p = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    target.response(cmd, { expCmdSN: FIRST_CMDSN - 5, maxCmdSN: FIRST_CMDSN - 2 });
    await p;
    expect(session.window).toMatchObject({ expCmdSN: FIRST_CMDSN, maxCmdSN: (FIRST_CMDSN + 3) >>> 0 });
  });

  it('keeps at most queueDepth commands in flight, with unique ITTs', async () => {
    const { target, session } = await setup({}, { queueDepth: 2, window: 64 });
    const all = Array.from({ length: 5 }, () => session.execute({ lun: 0, cdb: TUR }));
    const sent = [await target.next('scsi-command'), await target.next('scsi-command')];
    expect(await target.quiet()).toBe(true);
    expect([session.inFlight, session.queued]).toEqual([2, 3]);
    while (sent.length < 5) {
      target.response(sent[sent.length - 2]!);
      sent.push(await target.next('scsi-command'));
    }
    target.response(sent[3]!);
    target.response(sent[4]!);
    await Promise.all(all);
    expect(new Set(sent.map((c) => c.initiatorTaskTag)).size).toBe(5);
  });
});

describe('Session: NOP-In, Reject, timeouts, aborts, failures, logout', () => {
  it('answers a NOP-In that carries a TTT with an immediate NOP-Out, ITT 0xffffffff, TTT and LUN echoed', async () => {
    const { target, session, events } = await setup();
    const nopIn = { kind: 'nop-in', initiatorTaskTag: 0xffffffff, ahs: [], data: EMPTY } as const;
    target.send({ ...nopIn, lun: 0n, targetTransferTag: 0xffffffff, ...target.seq(false) }); // no answer asked
    target.send({ ...nopIn, lun: lunFromNumber(2), targetTransferTag: 42, ...target.seq(false) });
    const out = await target.next('nop-out');
    expect(out).toMatchObject({
      immediate: true,
      initiatorTaskTag: 0xffffffff,
      targetTransferTag: 42,
      lun: lunFromNumber(2),
      cmdSN: session.window.cmdSN,
      expStatSN: 500,
    });
    expect(await target.quiet()).toBe(true);
    expect(events.filter((e) => e.event === 'nop-in').map((e) => e.event === 'nop-in' && e.answered)).toEqual([
      false,
      true,
    ]);
  });

  it('fails a rejected command with ProtocolError and leaves the others alone', async () => {
    const { target, session } = await setup();
    const a = session.execute({ lun: 0, cdb: TUR });
    const b = session.execute({ lun: 0, cdb: TUR });
    const cmdA = await target.next('scsi-command');
    const cmdB = await target.next('scsi-command');
    const header = Buffer.concat(encodePdu(cmdA)).subarray(0, 48);
    target.send({
      kind: 'reject',
      reason: 0x09,
      dataSN: 0,
      initiatorTaskTag: 0xffffffff,
      ahs: [],
      data: header,
      ...target.seq(false),
    });
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/rejected a SCSI Command \(reason 0x09: invalid PDU field\)/);
    target.response(cmdB);
    expect((await b).status).toBe(0);
  });

  it('times out a command, then drops the late answer; a command waiting in the queue times out unsent', async () => {
    const { target, session, events } = await setup({}, { queueDepth: 1 });
    const a = session.execute({ lun: 0, cdb: TUR, timeoutMs: 50 });
    const b = session.execute({ lun: 0, cdb: TUR, timeoutMs: 30 });
    const cmdA = await target.next('scsi-command');
    await expect(b).rejects.toBeInstanceOf(TimeoutError);
    await expect(a).rejects.toBeInstanceOf(TimeoutError);
    expect(await target.quiet(10)).toBe(true); // b was never sent
    target.response(cmdA);
    const c = session.execute({ lun: 0, cdb: TUR });
    const cmdC = await target.next('scsi-command');
    expect(cmdC.cmdSN).toBe(FIRST_CMDSN + 1);
    target.response(cmdC);
    await c;
    expect(events.filter((e) => e.event === 'unexpected-pdu')).toEqual([]);
    expect(events.filter((e) => e.event === 'command-failed').map((e) => 'code' in e && e.code)).toEqual([
      'ERR_ISCSI_TIMEOUT',
      'ERR_ISCSI_TIMEOUT',
    ]);
  });

  it('rejects on abort, before or after sending', async () => {
    const { target, session } = await setup();
    const before = new AbortController();
    before.abort();
    await expect(session.execute({ lun: 0, cdb: TUR, signal: before.signal })).rejects.toMatchObject({
      code: 'ERR_ISCSI_ABORTED',
    });
    const during = new AbortController();
    const p = session.execute({ lun: 0, cdb: TUR, signal: during.signal });
    await target.next('scsi-command');
    during.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ISCSI_ABORTED' });
  });

  it('rejects every queued and outstanding command with ConnectionError when the connection drops', async () => {
    const { target, session } = await setup({}, { queueDepth: 1 });
    const all = [0, 1, 2].map(() => session.execute({ lun: 0, cdb: TUR }));
    await target.next('scsi-command');
    target.socket.destroy();
    for (const p of all) await expect(p).rejects.toBeInstanceOf(ConnectionError);
    expect(session.closed).toBe(true);
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toBeInstanceOf(ConnectionError);
  });

  it('logs out after the outstanding commands complete, refusing new ones meanwhile', async () => {
    const { target, session, events } = await setup();
    const p = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    const out = session.logout();
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toThrow(/logging out/);
    expect(await target.quiet()).toBe(true); // no Logout Request while a command is outstanding
    target.response(cmd);
    await p;
    const req = await target.next('logout-request');
    expect(req).toMatchObject({ immediate: true, reasonCode: 0, cmdSN: FIRST_CMDSN + 1, expStatSN: 501 });
    target.send({
      kind: 'logout-response',
      response: 0,
      time2Wait: 0,
      time2Retain: 0,
      initiatorTaskTag: req.initiatorTaskTag,
      ahs: [],
      data: EMPTY,
      ...target.seq(true),
    });
    await out;
    expect(session.closed).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ event: 'logout' }));
    expect(events.filter((e) => e.event === 'session-closed')).toEqual([]);
  });

  it('refuses malformed commands and options', async () => {
    const { session } = await setup();
    await expect(session.execute({ lun: 0, cdb: new Uint8Array(0) })).rejects.toMatchObject({
      code: 'ERR_ISCSI_INVALID_ARGUMENT',
    });
    await expect(session.execute({ lun: 0, cdb: TUR, attributes: 8 })).rejects.toThrow(/attribute/);
    await expect(session.execute({ lun: -1, cdb: TUR })).rejects.toThrow(/LUN/);
    await expect(session.execute({ lun: 0, cdb: TUR, read: { length: -1 } })).rejects.toThrow(/read length/);
    await expect(session.execute({ lun: 0, cdb: TUR, timeoutMs: Number.NaN })).rejects.toThrow(/timeout/);
  });

  it('answers a NOP-In that arrived before the session took over the connection', async () => {
    const { target } = await setup(
      {},
      {
        beforeSession: async (t) => {
          t.send({
            kind: 'nop-in',
            lun: 0n,
            initiatorTaskTag: 0xffffffff,
            targetTransferTag: 9,
            ahs: [],
            data: EMPTY,
            ...t.seq(false),
          });
          await new Promise((r) => setTimeout(r, 50)); // queued in the connection by now
        },
      },
    );
    expect(await target.next('nop-out')).toMatchObject({ targetTransferTag: 9, initiatorTaskTag: 0xffffffff });
  });

  it('logs asynchronous messages and PDUs for unknown ITTs, acknowledging their StatSN, and carries on', async () => {
    const { target, session, events } = await setup();
    target.send({
      kind: 'async-message',
      lun: 0n,
      asyncEvent: 0,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      initiatorTaskTag: 0xffffffff,
      ahs: [],
      data: EMPTY,
      ...target.seq(true),
    });
    target.response({ initiatorTaskTag: 0x5eed });
    await until(() => session.expStatSN === 502);
    const p = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    expect(cmd.expStatSN).toBe(502); // StatSN 500 (async) and 501 (the stray response) acknowledged
    target.response(cmd);
    await p;
    expect(events).toContainEqual(expect.objectContaining({ event: 'async-message', asyncEvent: 0 }));
    expect(events).toContainEqual({ event: 'unexpected-pdu', kind: 'scsi-response', itt: 0x5eed });
  });

  it("fails a write whose Data-Out was rejected, and drops the target's later answer for it", async () => {
    const { target, session, events } = await setup({ initialR2T: false, maxXmitDataSegmentLength: 1024 });
    const p = session.execute({ lun: 0, cdb: WRITE_10, write: bytes(2048) });
    const cmd = await target.next('scsi-command');
    const dataOut = await target.next('data-out');
    const header = Buffer.concat(encodePdu(dataOut)).subarray(0, 48);
    target.send({
      kind: 'reject',
      reason: 0x02,
      dataSN: 0,
      initiatorTaskTag: 0xffffffff,
      ahs: [],
      data: header,
      ...target.seq(false),
    });
    await expect(p).rejects.toThrow(/Data-Out \(reason 0x02: data digest error\)/);
    target.response(cmd); // the target still held the task: its answer is recognised and dropped
    const q = session.execute({ lun: 0, cdb: TUR });
    target.response(await target.next('scsi-command'));
    await q;
    expect(events.filter((e) => e.event === 'unexpected-pdu')).toEqual([]);
  });

  it('closes the connection when the Logout Response does not come, or refuses', async () => {
    const a = await setup();
    const out = a.session.logout({ timeoutMs: 50 });
    await a.target.next('logout-request');
    await expect(out).rejects.toBeInstanceOf(TimeoutError);
    expect(a.session.closed).toBe(true);
    expect(a.session.logout()).toBe(out); // the same promise

    const b = await setup();
    const refused = b.session.logout();
    const req = await b.target.next('logout-request');
    b.target.send({
      kind: 'logout-response',
      response: 3,
      time2Wait: 0,
      time2Retain: 0,
      initiatorTaskTag: req.initiatorTaskTag,
      ahs: [],
      data: EMPTY,
      ...b.target.seq(true),
    });
    await expect(refused).rejects.toThrow(/logout refused by the target \(response 3\)/);
    expect(b.session.closed).toBe(true);
  });
});

describe('Session: the hot path (one deadline timer, batched writes, result shape)', () => {
  it('fails each command at its own deadline with one timer, also a shorter one issued later', async () => {
    const { target, session } = await setup();
    const started = performance.now();
    const long = session.execute({ lun: 0, cdb: TUR, timeoutMs: 400 });
    const none = session.execute({ lun: 0, cdb: TUR, timeoutMs: 0 });
    const short = session.execute({ lun: 0, cdb: TUR, timeoutMs: 40 });
    const [cmdLong, cmdNone] = [await target.next('scsi-command'), await target.next('scsi-command')];
    await target.next('scsi-command');
    const err = await short.catch((e: unknown) => e);
    const shortMs = performance.now() - started;
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/within 40 ms/);
    expect(shortMs).toBeGreaterThanOrEqual(38);
    expect(shortMs).toBeLessThan(400);
    // The others are still pending and complete normally.
    target.response(cmdLong);
    target.response(cmdNone);
    expect((await long).status).toBe(0);
    expect((await none).status).toBe(0);
    // A command that completed does not time out later; a new one still does.
    await new Promise((r) => setTimeout(r, 50));
    const late = session.execute({ lun: 0, cdb: TUR, timeoutMs: 30 });
    await target.next('scsi-command');
    await expect(late).rejects.toBeInstanceOf(TimeoutError);
    expect(session.closed).toBe(false);
  });

  it('writes the commands issued in one turn with one socket write, in CmdSN order', async () => {
    const { target, session } = await setup();
    const write = vi.spyOn(Socket.prototype, 'write');
    try {
      const pending = Array.from({ length: 5 }, () => session.execute({ lun: 0, cdb: TUR }));
      expect(write).not.toHaveBeenCalled(); // queued until the end of this turn
      const cmds = [];
      for (let i = 0; i < 5; i++) cmds.push(await target.next('scsi-command'));
      expect(cmds.map((c) => c.cmdSN)).toEqual([0, 1, 2, 3, 4].map((i) => (FIRST_CMDSN + i) >>> 0));
      const ours = write.mock.calls.filter((call) => call[0] instanceof Uint8Array && call[0].length === 5 * 48);
      expect(ours).toHaveLength(1);
      for (const c of cmds) target.response(c);
      await Promise.all(pending);
    } finally {
      write.mockRestore();
    }
  });

  it('still sends what was queued when the session is closed in the same turn', async () => {
    const { target, session } = await setup();
    const p = session.execute({ lun: 0, cdb: TUR });
    session.close();
    await expect(p).rejects.toBeInstanceOf(ConnectionError);
    expect(await target.next('scsi-command')).toMatchObject({ cmdSN: FIRST_CMDSN });
  });

  it('leaves out the result fields that do not apply, and returns the caller buffer itself when filled', async () => {
    const { target, session } = await setup();
    const into = new Uint8Array(512);
    const p = session.execute({ lun: 0, cdb: READ_10, read: { into } });
    const cmd = await target.next('scsi-command');
    target.dataIn(cmd, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    const r = await p;
    expect(Object.keys(r).sort()).toEqual(['bytesIn', 'bytesOut', 'data', 'response', 'status']);
    expect(r.data).toBe(into);
    const q = session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } });
    const cmd2 = await target.next('scsi-command');
    target.dataIn(cmd2, { dataSN: 0, bufferOffset: 0, data: bytes(100) });
    target.response(cmd2, { residualUnderflow: true, residualCount: 412 });
    const short = await q;
    expect(short.residualUnderflow).toBe(412);
    expect(short.data).toHaveLength(100);
    expect('residualOverflow' in short).toBe(false);
  });
});
