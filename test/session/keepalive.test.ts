/**
 * NOP-Out pings and the idle keepalive against the scripted fake target, with short real timers: the ping's fields
 * (§11.18), its round trip, a ping after idleness only, and a dead connection when the NOP-In does not come.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, TimeoutError } from '../../src/errors.js';
import type { NopOutPdu } from '../../src/pdu/types.js';
import {
  EMPTY,
  type FakeTarget,
  FIRST_CMDSN,
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
const setup = (options: SetupOptions = {}): Promise<Harness> => setupSession(cleanups, {}, options);

/** The NOP-In answering a ping: ITT echoed, TTT 0xffffffff, StatSN advanced (§11.19). */
function pong(target: FakeTarget, ping: NopOutPdu): void {
  target.send({
    kind: 'nop-in',
    lun: 0n,
    initiatorTaskTag: ping.initiatorTaskTag,
    targetTransferTag: 0xffffffff,
    ahs: [],
    data: EMPTY,
    ...target.seq(true),
  });
}

describe('Session: ping and keepalive', () => {
  it('ping(): an immediate NOP-Out with a fresh ITT and TTT 0xffffffff; resolves with the round trip', async () => {
    const { target, session, events } = await setup({ keepaliveMs: 0 });
    const p = session.ping();
    const out = await target.next('nop-out');
    expect(out).toMatchObject({
      immediate: true,
      targetTransferTag: 0xffffffff,
      cmdSN: FIRST_CMDSN,
      expStatSN: 500,
      lun: 0n,
    });
    expect(out.initiatorTaskTag).not.toBe(0xffffffff);
    pong(target, out);
    const ms = await p;
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1000);
    expect(session.expStatSN).toBe(501);
    expect(session.window.cmdSN).toBe(FIRST_CMDSN); // not taken
    expect(events).toContainEqual(expect.objectContaining({ event: 'ping', ms }));
    expect(events.filter((e) => e.event === 'unexpected-pdu')).toEqual([]);
    // Without an answer: a TimeoutError, and the session stays open.
    await expect(session.ping(40)).rejects.toBeInstanceOf(TimeoutError);
    await expect(session.ping(-1)).rejects.toThrow(/timeout -1 out of range/);
    expect(session.closed).toBe(false);
  });

  it('pings after keepaliveMs without a PDU from the target, and not while PDUs keep coming', async () => {
    const { target, session } = await setup({ keepaliveMs: 250, keepaliveTimeoutMs: 500 });
    // Traffic every 30 ms or so for about 200 ms: no ping.
    for (let i = 0; i < 6; i++) {
      const p = session.execute({ lun: 0, cdb: TUR });
      target.response(await target.next('scsi-command'));
      await p;
      await new Promise((r) => setTimeout(r, 30));
    }
    // Silence: a ping comes about 250 ms later, answered; then another after the next idle period.
    const started = Date.now();
    const first = await target.next('nop-out', 1000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(first.targetTransferTag).toBe(0xffffffff);
    pong(target, first);
    const second = await target.next('nop-out', 1000);
    expect(second.initiatorTaskTag).not.toBe(first.initiatorTaskTag);
    pong(target, second);
    expect(session.closed).toBe(false);
  });

  it('declares the connection dead when the ping is not answered in time', async () => {
    const { target, session, events } = await setup({ keepaliveMs: 60, keepaliveTimeoutMs: 80 });
    const outstanding = session.execute({ lun: 0, cdb: TUR });
    await target.next('scsi-command');
    await target.next('nop-out', 1000); // never answered
    const err = await outstanding.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/no NOP-In answer to a keepalive ping within 80 ms/);
    expect(session.closed).toBe(true);
    await until(() => events.some((e) => e.event === 'session-closed'));
    expect(events).toContainEqual(
      expect.objectContaining({ event: 'session-closed', code: 'ERR_ISCSI_CONNECTION', message: expect.any(String) }),
    );
    await expect(session.ping()).rejects.toBeInstanceOf(ConnectionError);
  });
});
