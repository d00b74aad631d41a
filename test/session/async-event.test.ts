/**
 * Asynchronous Messages (§11.9) through the session against the scripted fake target: the SCSI event's sense
 * decoded into the log event, a logout request honoured after the outstanding commands, drop connection / drop all
 * failing what is outstanding with a ConnectionError naming the reason, renegotiation and vendor events logged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError } from '../../src/errors.js';
import { lunFromNumber } from '../../src/pdu/lun.js';
import type { AsyncMessagePdu } from '../../src/pdu/types.js';
import { readAsyncMessage } from '../../src/session/async-event.js';
import {
  EMPTY,
  type FakeTarget,
  type Harness,
  type SetupOptions,
  setupSession,
  TUR,
  until,
} from '../helpers/fake-target.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
const setup = (options: SetupOptions = {}): Promise<Harness> =>
  setupSession(cleanups, {}, { keepaliveMs: 0, ...options });

type AsyncFields = Partial<Omit<AsyncMessagePdu, 'kind'>> & { asyncEvent: number };

function asyncPdu(o: AsyncFields): AsyncMessagePdu {
  return {
    kind: 'async-message',
    lun: 0n,
    asyncVCode: 0,
    parameter1: 0,
    parameter2: 0,
    parameter3: 0,
    initiatorTaskTag: 0xffffffff,
    ahs: [],
    data: EMPTY,
    statSN: 0,
    expCmdSN: 0,
    maxCmdSN: 0,
    ...o,
  };
}

function sendAsync(target: FakeTarget, o: AsyncFields): void {
  target.send({ ...asyncPdu(o), ...target.seq(true) });
}

/** UNIT ATTENTION, REPORTED LUNS DATA HAS CHANGED (0x3f/0x0e), fixed format, behind its 2-byte SenseLength. */
const UA_FIXED = Uint8Array.of(0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x3f, 0x0e, 0, 0, 0, 0);
const segment = (sense: Uint8Array) => Uint8Array.of(0, sense.length, ...sense);

describe('readAsyncMessage', () => {
  it('decodes fixed and descriptor sense, and reports malformed sense instead of throwing', () => {
    const fixed = readAsyncMessage(asyncPdu({ asyncEvent: 0, lun: lunFromNumber(2), data: segment(UA_FIXED) }));
    expect(fixed.event).toMatchObject({ name: 'scsi-event', lun: '2', senseKey: 6, asc: 0x3f, ascq: 0x0e });
    expect(fixed.action).toEqual({ kind: 'log' });
    const descriptor = Uint8Array.of(0x72, 0x06, 0x2a, 0x09, 0, 0, 0, 0);
    expect(readAsyncMessage(asyncPdu({ asyncEvent: 0, data: segment(descriptor) })).event).toMatchObject({
      senseKey: 6,
      asc: 0x2a,
      ascq: 0x09,
    });
    const bad = readAsyncMessage(asyncPdu({ asyncEvent: 0, data: segment(Uint8Array.of(0x10, 0, 0, 0, 0, 0, 0, 0)) }));
    expect(bad.event.senseError).toMatch(/RESPONSE CODE/);
    expect(bad.event.senseKey).toBeUndefined();
    expect(readAsyncMessage(asyncPdu({ asyncEvent: 9 })).event.name).toBe('reserved');
  });
});

describe('Session: asynchronous messages', () => {
  it('logs a SCSI async event with its sense key / ASC / ASCQ', async () => {
    const { target, session, events } = await setup();
    sendAsync(target, { asyncEvent: 0, lun: lunFromNumber(1), data: segment(UA_FIXED) });
    await until(() => events.some((e) => e.event === 'async-message'));
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'async-message', asyncEvent: 0, lun: '1', senseKey: 6, asc: 0x3f, ascq: 0x0e }),
    );
    expect(session.expStatSN).toBe(501);
    expect(session.closed).toBe(false);
  });

  it('logout request: logs out once the outstanding command is done', async () => {
    const { target, session, events } = await setup();
    const p = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    sendAsync(target, { asyncEvent: 1, parameter3: 5 });
    await until(() => events.some((e) => e.event === 'async-message'));
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'async-message', name: 'logout-request', parameter3: 5 }),
    );
    await expect(session.execute({ lun: 0, cdb: TUR })).rejects.toThrow(/logging out/);
    expect(await target.quiet()).toBe(true); // the command is still outstanding
    target.response(cmd);
    expect((await p).status).toBe(0);
    const req = await target.next('logout-request');
    expect(req).toMatchObject({ reasonCode: 0, immediate: true });
    target.send({
      kind: 'logout-response',
      response: 0,
      time2Wait: 2,
      time2Retain: 20,
      initiatorTaskTag: req.initiatorTaskTag,
      ahs: [],
      data: EMPTY,
      ...target.seq(true),
    });
    await session.logout(); // the same logout
    expect(session.closed).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ event: 'logout', time2Wait: 2, time2Retain: 20 }));
  });

  for (const [asyncEvent, what] of [
    [2, 'the connection'],
    [3, 'all connections'],
  ] as const) {
    it(`drop ${what} (event ${asyncEvent}): outstanding commands fail with a ConnectionError naming it`, async () => {
      const { target, session, events } = await setup({ queueDepth: 1 });
      const sent = session.execute({ lun: 0, cdb: TUR });
      const queued = session.execute({ lun: 0, cdb: TUR });
      await target.next('scsi-command');
      sendAsync(target, { asyncEvent, parameter1: 0, parameter2: 2, parameter3: 20 });
      const reason = `the target drops ${what} (Time2Wait 2 s, Time2Retain 20 s)`;
      for (const p of [sent, queued]) {
        const err = await p.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConnectionError);
        expect((err as Error).message).toBe(reason);
      }
      expect(session.closed).toBe(true);
      expect(events).toContainEqual(
        expect.objectContaining({ event: 'async-message', asyncEvent, parameter2: 2, parameter3: 20 }),
      );
      expect(events).toContainEqual({ event: 'session-closed', code: 'ERR_ISCSI_CONNECTION', message: reason });
    });
  }

  it('renegotiation request and vendor-specific events are logged, and the session carries on', async () => {
    const { target, session, events } = await setup();
    sendAsync(target, { asyncEvent: 4, parameter3: 30 });
    sendAsync(target, { asyncEvent: 255, asyncVCode: 0x42, parameter1: 7 });
    await until(() => events.filter((e) => e.event === 'async-message').length === 2);
    const logged = events.filter((e) => e.event === 'async-message');
    expect(logged).toEqual([
      expect.objectContaining({ asyncEvent: 4, name: 'renegotiation-request', parameter3: 30 }),
      expect.objectContaining({ asyncEvent: 255, name: 'vendor-specific', asyncVCode: 0x42, parameter1: 7 }),
    ]);
    const p = session.execute({ lun: 0, cdb: TUR });
    const cmd = await target.next('scsi-command');
    expect(cmd.expStatSN).toBe(502);
    target.response(cmd);
    expect((await p).status).toBe(0);
  });
});
