/**
 * ERL 0 session recovery (src/session/recovery.ts) against a fake target that logs in for real (the target login
 * machine) and then plays the Full Feature Phase PDU by PDU: connection drops with commands outstanding, a write
 * whose response was lost, bounded attempts, backoff timing, and timeouts while reconnecting.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionError, ErrorCode, TimeoutError } from '../../src/errors.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import type { LoginRequestPdu } from '../../src/pdu/types.js';
import type { Logger, SessionEvent } from '../../src/session/events.js';
import { openSession, type RecoverableSession, type RecoverableSessionOptions } from '../../src/session/recovery.js';
import { TargetLoginMachine } from '../../src/target/login.js';
import { bytes, FakeTarget, READ_10, u8, until, WRITE_10 } from '../helpers/fake-target.js';

const IQN = 'iqn.2024-01.test.iscsi-ts:recovery';
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A logged-in connection of the fake portal: the Login Requests it got, and the target playing it afterwards. */
interface Accepted {
  readonly requests: LoginRequestPdu[];
  readonly target: FakeTarget;
  readonly socket: Socket;
}

/** A portal that logs every connection in (TSIH counting up) and hands it to a FakeTarget. */
async function startPortal(options: { dropAfterLogin?: () => boolean } = {}) {
  const accepted: Accepted[] = [];
  const sockets = new Set<Socket>();
  let tsih = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const framer = new Framer({ sender: 'initiator' });
    const machine = new TargetLoginMachine({ portalGroupTag: 1, targetName: IQN, tsih: () => ++tsih });
    const requests: LoginRequestPdu[] = [];
    const onData = (chunk: Buffer) => {
      framer.push(chunk);
      for (let f = framer.next(); f; f = framer.next()) {
        if (f.pdu.kind === 'login-request') requests.push(f.pdu);
        const step = machine.receive(f.pdu);
        if (step.kind === 'send') {
          socket.write(Buffer.concat(encodePdu(step.pdu)));
          continue;
        }
        socket.write(Buffer.concat(encodePdu(step.response)));
        if (step.kind === 'reject') {
          socket.end();
          return;
        }
        // Full Feature Phase: the FakeTarget frames what follows (nothing is sent before the final response).
        socket.off('data', onData);
        const target = new FakeTarget(socket, 16);
        target.statSN = step.result.statSN;
        target.expCmdSN = step.result.expCmdSN;
        accepted.push({ requests, target, socket });
        if (options.dropAfterLogin?.()) socket.destroy();
        return;
      }
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    server.close();
    for (const s of sockets) s.destroy();
  };
  cleanups.push(stop);
  return { port, accepted, stop };
}

async function open(port: number, options: RecoverableSessionOptions = {}) {
  const events: SessionEvent[] = [];
  const push = (obj: object) => events.push(obj as SessionEvent);
  const logger: Logger = { debug: push, info: push, warn: push, error: push };
  const session: RecoverableSession = await openSession(
    { portal: `127.0.0.1:${port}`, targetName: IQN, connectTimeoutMs: 500, stepTimeoutMs: 500 },
    { logger, keepaliveMs: 0, reconnect: { initialDelayMs: 10, maxDelayMs: 40 }, ...options },
  );
  cleanups.push(() => session.close());
  return { session, events };
}

/** Settlement state of a promise, observable without awaiting it. */
function track<T>(p: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  p.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
}

describe('RecoverableSession: reconnection', () => {
  it('reinstates the session (same ISID, TSIH 0) and re-issues outstanding commands in order', async () => {
    const portal = await startPortal();
    const { session, events } = await open(portal.port);
    await until(() => portal.accepted.length === 1);
    const first = portal.accepted[0]!;
    const data = bytes(4096, 3);
    const a = track(session.execute({ lun: 1, cdb: READ_10, read: { length: 4096 } }));
    const b = track(session.execute({ lun: 1, cdb: WRITE_10, write: data }));
    const c = track(session.execute({ lun: 1, cdb: READ_10, read: { length: 512 } }));
    const oldCmds = [await first.target.next('scsi-command'), await first.target.next('scsi-command')];
    await first.target.next('scsi-command');
    first.socket.destroy(); // the target's side drops: nothing completed
    await until(() => portal.accepted.length === 2);
    const second = portal.accepted[1]!;
    // RFC 7143 §6.3.5: reinstatement is a login with the same ISID and TSIH 0.
    expect(second.requests[0]).toMatchObject({ isid: session.isid, tsih: 0 });
    expect(first.requests[0]!.isid).toBe(session.isid);
    const retried = [
      await second.target.next('scsi-command'),
      await second.target.next('scsi-command'),
      await second.target.next('scsi-command'),
    ];
    // Original order, consecutive CmdSNs of the new session starting at its login's, fresh ITTs.
    expect(retried.map((p) => p.cdb[0])).toEqual([0x28, 0x2a, 0x28]);
    expect(retried.map((p) => p.expectedDataTransferLength)).toEqual([4096, 4096, 512]);
    const cmdSN0 = retried[0]!.cmdSN;
    expect(retried.map((p) => p.cmdSN)).toEqual([cmdSN0, (cmdSN0 + 1) >>> 0, (cmdSN0 + 2) >>> 0]);
    expect(new Set(retried.map((p) => p.initiatorTaskTag)).size).toBe(3);
    expect(a.settled || b.settled || c.settled).toBe(false);
    const readData = bytes(4096, 9);
    second.target.dataIn(retried[0]!, { dataSN: 0, bufferOffset: 0, data: readData, statusPresent: true });
    second.target.response(retried[1]!);
    second.target.dataIn(retried[2]!, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    await until(() => a.settled && b.settled && c.settled);
    expect(u8(a.value?.data)).toEqual(readData);
    expect(b.value).toMatchObject({ status: 0 });
    expect(c.value?.data?.length).toBe(512);
    expect(session.reconnects).toBe(1);
    expect(session.tsih).toBe(2);
    expect(oldCmds.map((p) => p.cdb[0])).toEqual([0x28, 0x2a]); // the same order as first sent
    const reconnects = events.filter((e) => e.event === 'reconnect');
    expect(reconnects.map((e) => e.phase)).toEqual(['attempt', 'success']);
    expect(reconnects[1]).toMatchObject({ attempt: 1, tsih: 2, retried: 3 });
  });

  it('never completes a write from the dead connection: it resolves only after the new SCSI Response', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port);
    await until(() => portal.accepted.length === 1);
    const first = portal.accepted[0]!;
    const data = bytes(2048, 7);
    const w = track(session.execute({ lun: 0, cdb: WRITE_10, write: data }));
    const cmd = await first.target.next('scsi-command');
    expect(u8(cmd.data)).toEqual(data); // immediate data went out on the old connection
    first.socket.destroy(); // its response is lost with the connection
    await until(() => portal.accepted.length === 2);
    const second = portal.accepted[1]!;
    const again = await second.target.next('scsi-command');
    expect(u8(again.data)).toEqual(data);
    expect(await second.target.quiet(80)).toBe(true);
    expect(w.settled).toBe(false); // re-sent, and still waiting for its own response
    second.target.response(again);
    await until(() => w.settled);
    expect(w.value).toMatchObject({ response: 0, status: 0, bytesOut: 2048 });
  });

  it('reconnects when the keepalive declares the connection dead', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port, { keepaliveMs: 50, keepaliveTimeoutMs: 50 });
    await until(() => portal.accepted.length === 1);
    const first = portal.accepted[0]!;
    const r = track(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } }));
    await first.target.next('scsi-command');
    await first.target.next('nop-out'); // never answered: the connection is declared dead
    await until(() => portal.accepted.length === 2);
    const again = await portal.accepted[1]!.target.next('scsi-command');
    portal.accepted[1]!.target.dataIn(again, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    await until(() => r.settled);
    expect(r.value?.data?.length).toBe(512);
  });
});

describe('RecoverableSession: other failures and logout', () => {
  it('reconnects after an Asynchronous Message asking to drop the connection (AsyncEvent 2)', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port);
    await until(() => portal.accepted.length === 1);
    const first = portal.accepted[0]!;
    const r = track(session.execute({ lun: 0, cdb: WRITE_10, write: bytes(512) }));
    await first.target.next('scsi-command');
    first.target.send({
      kind: 'async-message',
      lun: 0n,
      asyncEvent: 2,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      initiatorTaskTag: 0xffffffff,
      ahs: [],
      data: new Uint8Array(0),
      ...first.target.seq(true),
    });
    await until(() => portal.accepted.length === 2);
    const again = await portal.accepted[1]!.target.next('scsi-command');
    expect(r.settled).toBe(false);
    portal.accepted[1]!.target.response(again);
    await until(() => r.settled);
    expect(r.value?.status).toBe(0);
    expect(session.reconnects).toBe(1);
  });

  it('reconnects on the next command after an idle drop; logout waits for commands across a reconnection', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port);
    await until(() => portal.accepted.length === 1);
    portal.accepted[0]!.socket.destroy(); // nothing pending: no reconnection yet
    await until(() => session.session.closed);
    expect(await new Promise((res) => setTimeout(() => res(portal.accepted.length), 80))).toBe(1);
    const r = track(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } }));
    await until(() => portal.accepted.length === 2);
    const second = portal.accepted[1]!;
    const cmd = await second.target.next('scsi-command');
    const loggedOut = track(session.logout());
    await expect(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } })).rejects.toBeInstanceOf(
      ConnectionError,
    );
    second.socket.destroy(); // fails again while draining: reconnects and re-issues
    await until(() => portal.accepted.length === 3);
    const third = portal.accepted[2]!;
    const again = await third.target.next('scsi-command');
    expect(again.expectedDataTransferLength).toBe(cmd.expectedDataTransferLength);
    third.target.dataIn(again, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    const logout = await third.target.next('logout-request');
    third.target.send({
      kind: 'logout-response',
      response: 0,
      time2Wait: 0,
      time2Retain: 0,
      initiatorTaskTag: logout.initiatorTaskTag,
      ahs: [],
      data: new Uint8Array(0),
      ...third.target.seq(true),
    });
    await until(() => loggedOut.settled);
    expect(loggedOut.error).toBeUndefined();
    expect(r.value?.data?.length).toBe(512);
    expect(session.closed).toBe(true);
    expect(session.reconnects).toBe(2);
  });
});

describe('RecoverableSession: DefaultTime2Wait', () => {
  it('with respectTime2Wait, waits the negotiated DefaultTime2Wait before the first attempt (§13.15)', async () => {
    const portal = await startPortal();
    const { session, events } = await open(portal.port, {
      reconnect: { initialDelayMs: 10, maxDelayMs: 40, respectTime2Wait: true },
    });
    const wait = session.params.defaultTime2Wait * 1000;
    expect(wait).toBeGreaterThan(0);
    await until(() => portal.accepted.length === 1);
    const r = track(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } }));
    await portal.accepted[0]!.target.next('scsi-command');
    const dropped = performance.now();
    portal.accepted[0]!.socket.destroy();
    for (let i = 0; i < 40 && portal.accepted.length < 2; i++) await new Promise((res) => setTimeout(res, 100));
    expect(performance.now() - dropped).toBeGreaterThanOrEqual(wait - 50);
    const attempt = events.find((e) => e.event === 'reconnect' && e.phase === 'attempt');
    expect(attempt).toMatchObject({ attempt: 1, delayMs: wait });
    const again = await portal.accepted[1]!.target.next('scsi-command');
    portal.accepted[1]!.target.dataIn(again, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    await until(() => r.settled);
    expect(r.value?.status).toBe(0);
  }, 10_000);
});

describe('RecoverableSession: giving up', () => {
  it('rejects pending commands with a ConnectionError after the bounded attempts, with bounded backoff', async () => {
    const portal = await startPortal();
    const { session, events } = await open(portal.port, {
      reconnect: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 30 },
    });
    await until(() => portal.accepted.length === 1);
    const p = session.execute({ lun: 0, cdb: WRITE_10, write: bytes(512) });
    await portal.accepted[0]!.target.next('scsi-command');
    const started = performance.now();
    portal.stop(); // the target is gone: every login attempt is refused
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - started;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe(ErrorCode.Connection);
    expect((err as Error).message).toMatch(/recovery failed after 3 attempts/);
    // Backoff 20 + 30 + 30 ms, plus three refused connections: well under a second.
    expect(ms).toBeGreaterThanOrEqual(75);
    expect(ms).toBeLessThan(1500);
    expect(session.closed).toBe(true);
    const phases = events.filter((e) => e.event === 'reconnect').map((e) => e.phase);
    expect(phases).toEqual(['attempt', 'failure', 'attempt', 'failure', 'attempt', 'failure', 'gave-up']);
    const delays = events
      .filter((e) => e.event === 'reconnect')
      .filter((e) => e.phase === 'attempt')
      .map((e) => e.delayMs);
    expect(delays).toEqual([20, 30, 30]);
    await expect(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } })).rejects.toBeInstanceOf(
      ConnectionError,
    );
  });

  it('counts attempts across reconnections until a command completes: a target dropping every login ends too', async () => {
    let drop = false;
    const portal = await startPortal({ dropAfterLogin: () => drop });
    const { session, events } = await open(portal.port, { reconnect: { maxAttempts: 3, initialDelayMs: 5 } });
    await until(() => portal.accepted.length === 1);
    const p = session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } });
    await portal.accepted[0]!.target.next('scsi-command');
    drop = true;
    portal.accepted[0]!.socket.destroy();
    await expect(p).rejects.toThrow(/recovery failed after 3 attempts/);
    expect(portal.accepted.length).toBe(4); // the first login and three reinstatements, each dropped at once
    const attempts = events.filter((e) => e.event === 'reconnect').filter((e) => e.phase === 'attempt');
    expect(attempts.map((e) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('a command whose timeout passes while reconnecting rejects with TimeoutError; others keep waiting', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port, {
      reconnect: { maxAttempts: 4, initialDelayMs: 100, maxDelayMs: 100 },
    });
    await until(() => portal.accepted.length === 1);
    const short = session.execute({ lun: 0, cdb: READ_10, read: { length: 512 }, timeoutMs: 60 });
    const controller = new AbortController();
    const aborted = session.execute({ lun: 0, cdb: READ_10, read: { length: 512 }, signal: controller.signal });
    const long = track(session.execute({ lun: 0, cdb: READ_10, read: { length: 512 }, timeoutMs: 5000 }));
    await portal.accepted[0]!.target.next('scsi-command');
    portal.accepted[0]!.socket.destroy();
    await until(() => session.recovering);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: ErrorCode.Aborted });
    await expect(short).rejects.toBeInstanceOf(TimeoutError);
    expect(session.recovering).toBe(true);
    await until(() => portal.accepted.length === 2);
    // Only the command still waiting is re-issued.
    const second = portal.accepted[1]!;
    const again = await second.target.next('scsi-command');
    expect(await second.target.quiet(60)).toBe(true);
    second.target.dataIn(again, { dataSN: 0, bufferOffset: 0, data: bytes(512), statusPresent: true });
    await until(() => long.settled);
    expect(long.value?.data?.length).toBe(512);
  });

  it('close() during a reconnection stops it and rejects pending commands', async () => {
    const portal = await startPortal();
    const { session } = await open(portal.port, { reconnect: { maxAttempts: 5, initialDelayMs: 200 } });
    await until(() => portal.accepted.length === 1);
    const p = session.execute({ lun: 0, cdb: READ_10, read: { length: 512 } });
    await portal.accepted[0]!.target.next('scsi-command');
    portal.accepted[0]!.socket.destroy();
    await until(() => session.recovering);
    session.close();
    await expect(p).rejects.toBeInstanceOf(ConnectionError);
    await new Promise((r) => setTimeout(r, 300));
    expect(portal.accepted.length).toBe(1); // no login after close
  });
});
