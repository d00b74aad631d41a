/**
 * Task Management through the session against the scripted fake target: the request fields (immediate, CmdSN not
 * taken, RefCmdSN, Referenced Task Tag, LUN, function codes), the response codes, and the rules on the affected
 * commands (§10.6): aborted ones reject with TaskAbortedError once the TMF response arrived, responses that came
 * before it are valid, PDUs after it are dropped, and the ITT is free again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, ProtocolError } from '../../src/errors.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { lunFromNumber } from '../../src/pdu/lun.js';
import type { TaskManagementRequestPdu } from '../../src/pdu/types.js';
import type { SessionEvent } from '../../src/session/events.js';
import { TaskAbortedError, TmfFunction, TmfResponse, tmfRequest } from '../../src/session/tmf.js';
import {
  EMPTY,
  type FakeTarget,
  FIRST_CMDSN,
  type Harness,
  READ_10,
  type SetupOptions,
  setupSession,
  TUR,
  until,
  WRITE_10,
} from '../helpers/fake-target.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
const setup = (options: SetupOptions = {}): Promise<Harness> => setupSession(cleanups, {}, options);

function tmfResponse(target: FakeTarget, req: TaskManagementRequestPdu, response: number): void {
  target.send({
    kind: 'task-management-response',
    response,
    initiatorTaskTag: req.initiatorTaskTag,
    ahs: [],
    data: EMPTY,
    ...target.seq(true),
  });
}

const unexpected = (events: SessionEvent[]) => events.filter((e) => e.event === 'unexpected-pdu');

describe('tmfRequest', () => {
  it('fills RTT and RefCmdSN only for ABORT TASK, and leaves the LUN out of target resets', () => {
    const f = { lun: 5n, itt: 9, referencedTaskTag: 3, refCmdSN: 77, cmdSN: 80, expStatSN: 2 };
    expect(tmfRequest({ ...f, fn: TmfFunction.AbortTask })).toMatchObject({
      immediate: true,
      function: 1,
      lun: 5n,
      referencedTaskTag: 3,
      refCmdSN: 77,
      expDataSN: 0,
    });
    expect(tmfRequest({ ...f, fn: TmfFunction.LogicalUnitReset })).toMatchObject({
      function: 5,
      lun: 5n,
      referencedTaskTag: 0xffffffff,
      refCmdSN: 0,
    });
    expect(tmfRequest({ ...f, fn: TmfFunction.TargetColdReset })).toMatchObject({ function: 7, lun: 0n });
    // It encodes (the encoder checks the fields RFC 7143 constrains).
    expect(Buffer.concat(encodePdu(tmfRequest({ ...f, fn: TmfFunction.AbortTaskSet }))).length).toBe(48);
  });
});

describe('Session: task management', () => {
  it('ABORT TASK: immediate, current CmdSN not taken, RTT/RefCmdSN/LUN of the task; the task rejects after', async () => {
    const { target, session, events } = await setup();
    const a = session.execute({ lun: 3, cdb: READ_10, read: { length: 4096 } });
    const b = session.execute({ lun: 3, cdb: TUR });
    const cmdA = await target.next('scsi-command');
    const cmdB = await target.next('scsi-command');
    const aborting = session.abortTask(a);
    const req = await target.next('task-management-request');
    expect(req).toMatchObject({
      immediate: true,
      function: 1,
      lun: lunFromNumber(3),
      referencedTaskTag: cmdA.initiatorTaskTag,
      refCmdSN: FIRST_CMDSN,
      cmdSN: FIRST_CMDSN + 2, // the next CmdSN, carried …
      expStatSN: 500,
    });
    expect(req.initiatorTaskTag).not.toBe(cmdA.initiatorTaskTag);
    expect(session.window.cmdSN).toBe(FIRST_CMDSN + 2); // … not taken
    let settled = false;
    a.catch(() => {}).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(settled).toBe(false); // only the TMF response ends the task
    tmfResponse(target, req, 0);
    expect(await aborting).toBe(TmfResponse.FunctionComplete);
    const err = await a.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskAbortedError);
    expect(err).toMatchObject({ code: 'ERR_ISCSI_ABORTED', tmfFunction: 1 });
    // A PDU for the aborted task after the TMF response is dropped; the other command is untouched.
    target.response(cmdA);
    target.response(cmdB);
    expect((await b).status).toBe(0);
    expect(session.inFlight).toBe(0);
    expect(unexpected(events)).toEqual([
      { event: 'unexpected-pdu', kind: 'scsi-response', itt: cmdA.initiatorTaskTag },
    ]);
    expect(events).toContainEqual(expect.objectContaining({ event: 'tmf', function: 1, response: 0, aborted: 1 }));
    // The next command gets the CmdSN the TMF did not take.
    const c = session.execute({ lun: 0, cdb: TUR });
    const cmdC = await target.next('scsi-command');
    expect(cmdC.cmdSN).toBe(FIRST_CMDSN + 2);
    target.response(cmdC);
    await c;
  });

  it('delivers a response that arrives before the TMF response (§10.6), and keeps answering R2Ts meanwhile', async () => {
    const { target, session } = await setup();
    const w = session.execute({ lun: 1, cdb: WRITE_10, write: new Uint8Array(1024) });
    const cmd = await target.next('scsi-command');
    const aborting = session.abortTask(cmd.initiatorTaskTag);
    const req = await target.next('task-management-request');
    target.r2t(cmd, { r2tSN: 0, bufferOffset: 0, desiredDataTransferLength: 1024 });
    expect(await target.next('data-out')).toMatchObject({ final: true, bufferOffset: 0 });
    target.response(cmd);
    expect((await w).status).toBe(0);
    tmfResponse(target, req, 1); // the task had completed: it does not exist any more
    expect(await aborting).toBe(TmfResponse.TaskDoesNotExist);
  });

  it('keeps the task when the target refuses the abort, and answers locally when there is nothing to send', async () => {
    const { target, session } = await setup({ queueDepth: 1 });
    const a = session.execute({ lun: 0, cdb: TUR });
    const queued = session.execute({ lun: 0, cdb: TUR });
    const cmdA = await target.next('scsi-command');
    // A command still queued is removed without asking the target.
    expect(await session.abortTask(queued)).toBe(0);
    await expect(queued).rejects.toBeInstanceOf(TaskAbortedError);
    // Unknown commands: "task does not exist", nothing sent.
    expect(await session.abortTask(Promise.resolve({ response: 0, status: 0, bytesIn: 0, bytesOut: 0 }))).toBe(1);
    expect(await session.abortTask(0x1234)).toBe(1);
    expect(await target.quiet(30)).toBe(true);
    const aborting = session.abortTask(a);
    tmfResponse(target, await target.next('task-management-request'), TmfResponse.Rejected);
    expect(await aborting).toBe(255);
    target.response(cmdA);
    expect((await a).status).toBe(0);
  });

  it('ABORT TASK SET and LUN RESET abort the commands on that LUN only; warm and cold resets all of them', async () => {
    const { target, session, events } = await setup();
    const onTwo = [session.execute({ lun: 2, cdb: TUR }), session.execute({ lun: 2, cdb: TUR })];
    const onFour = session.execute({ lun: 4, cdb: TUR });
    for (let i = 0; i < 3; i++) await target.next('scsi-command');
    const set = session.abortTaskSet(2);
    const req = await target.next('task-management-request');
    expect(req).toMatchObject({ function: 2, lun: lunFromNumber(2), referencedTaskTag: 0xffffffff, refCmdSN: 0 });
    tmfResponse(target, req, 0);
    expect(await set).toBe(0);
    for (const p of onTwo) await expect(p).rejects.toBeInstanceOf(TaskAbortedError);
    expect(session.inFlight).toBe(1);

    const reset = session.lunReset(4);
    const r2 = await target.next('task-management-request');
    expect(r2).toMatchObject({ function: 5, lun: lunFromNumber(4), immediate: true, cmdSN: (FIRST_CMDSN + 3) >>> 0 });
    tmfResponse(target, r2, TmfResponse.LunDoesNotExist);
    expect(await reset).toBe(2);
    expect(session.inFlight).toBe(1); // not cleared by a failed reset

    const warm = session.targetWarmReset();
    const r3 = await target.next('task-management-request');
    expect(r3).toMatchObject({ function: 6, lun: 0n, referencedTaskTag: 0xffffffff });
    tmfResponse(target, r3, TmfResponse.NotSupported);
    expect(await warm).toBe(5);
    const cold = session.targetColdReset();
    const r4 = await target.next('task-management-request');
    expect(r4).toMatchObject({ function: 7 });
    tmfResponse(target, r4, 0);
    expect(await cold).toBe(0);
    await expect(onFour).rejects.toBeInstanceOf(TaskAbortedError);
    expect(session.inFlight).toBe(0);
    const tmf = events.flatMap((e) => (e.event === 'tmf' ? [[e.function, e.response, e.aborted]] : []));
    expect(tmf).toEqual([
      [2, 0, 2],
      [5, 2, 0],
      [6, 5, 0],
      [7, 0, 1],
    ]);
  });

  it('rejects the TMF on a Reject, on timeout, and on connection loss', async () => {
    const { target, session } = await setup({ tmfTimeoutMs: 80 });
    const a = session.execute({ lun: 0, cdb: TUR });
    await target.next('scsi-command');
    const rejected = session.lunReset(0);
    const req = await target.next('task-management-request');
    target.send({
      kind: 'reject',
      reason: 0x05,
      dataSN: 0,
      initiatorTaskTag: 0xffffffff,
      ahs: [],
      data: Buffer.concat(encodePdu(req)).subarray(0, 48),
      ...target.seq(false),
    });
    await expect(rejected).rejects.toBeInstanceOf(ProtocolError);
    const silent = session.lunReset(0);
    await target.next('task-management-request');
    await expect(silent).rejects.toMatchObject({ code: 'ERR_ISCSI_TIMEOUT' });
    const lost = session.lunReset(0);
    await target.next('task-management-request');
    target.socket.destroy();
    await expect(lost).rejects.toBeInstanceOf(ConnectionError);
    await expect(a).rejects.toBeInstanceOf(ConnectionError);
    await expect(session.targetWarmReset()).rejects.toBeInstanceOf(ConnectionError);
    await expect(session.lunReset(-1)).rejects.toThrow(/LUN/);
  });

  it('with abortOnCancel, a timed-out command is aborted at the target and its ITT released after', async () => {
    const { target, session, events } = await setup({ abortOnCancel: true });
    const p = session.execute({ lun: 6, cdb: TUR, timeoutMs: 40 });
    const cmd = await target.next('scsi-command');
    await expect(p).rejects.toMatchObject({ code: 'ERR_ISCSI_TIMEOUT' });
    const req = await target.next('task-management-request');
    expect(req).toMatchObject({
      function: 1,
      referencedTaskTag: cmd.initiatorTaskTag,
      refCmdSN: cmd.cmdSN,
      lun: lunFromNumber(6),
    });
    target.response(cmd); // before the TMF response: recognised as the forgotten task's, dropped silently
    tmfResponse(target, req, 0);
    await until(() => events.some((e) => e.event === 'tmf'));
    expect(unexpected(events)).toEqual([]);
    // An abort through the signal does the same; a command never sent needs no TMF.
    const ac = new AbortController();
    const q = session.execute({ lun: 6, cdb: TUR, signal: ac.signal });
    const cmdQ = await target.next('scsi-command');
    ac.abort();
    await expect(q).rejects.toMatchObject({ code: 'ERR_ISCSI_ABORTED' });
    expect(await target.next('task-management-request')).toMatchObject({
      referencedTaskTag: cmdQ.initiatorTaskTag,
    });
  });
});
