/**
 * Faults between the initiator and a real target: every connection goes through the fault proxy
 * (test/helpers/fault-proxy.ts) to a private tgtd, and the proxy resets, stalls, truncates or slows the stream in
 * the middle of concurrent writes. For each fault a RecoverableSession (openSession) either completes every write
 * after reconnecting — checked by reading the region back over a separate, direct session and comparing sha256 —
 * or rejects with a typed error (ConnectionError / TimeoutError) in bounded time; and a write it reported done is
 * always on the LUN. A plain Session (and openLun's device) gets a typed error. A first block checks the proxy
 * itself against a local echo server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BlockDevice, openLun } from '../../src/block/device.js';
import { ConnectionError, IscsiError, TimeoutError } from '../../src/errors.js';
import { buildRead16Cdb, buildWrite16Cdb } from '../../src/scsi/cdb/read-write.js';
import { login } from '../../src/session/initiator.js';
import { openSession, type RecoverableSession, type RecoverableSessionOptions } from '../../src/session/recovery.js';
import { Session } from '../../src/session/session.js';
import type { ScsiRequest, ScsiResult } from '../../src/session/task.js';
import { type FaultProxy, type FaultStep, startFaultProxy } from '../helpers/fault-proxy.js';
import { describePeers, sleep } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512;
const IQN = 'iqn.2024-01.test.iscsi-ts:fault-recovery';
const LUN_BYTES = 64 * MiB;
const CHECK_CONDITION = 2;
const UNIT_ATTENTION = 6;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------------------------
// The proxy itself, against a local sink/echo server: byte-exact faults, bounded timers.

describe('fault proxy (local echo server)', () => {
  let echo: Server;
  let echoPort = 0;
  const proxies: FaultProxy[] = [];
  const sockets: Socket[] = [];
  /** What each connection of the echo server received, and the error code it ended with. */
  const seen: { bytes: Buffer[]; error?: string }[] = [];
  const echoed = (i: number): Buffer => Buffer.concat(seen[i]?.bytes ?? []);

  beforeAll(async () => {
    echo = createServer((s) => {
      const record: { bytes: Buffer[]; error?: string } = { bytes: [] };
      seen.push(record);
      s.on('error', (e: NodeJS.ErrnoException) => {
        record.error = e.code;
      });
      s.on('data', (c: Buffer) => record.bytes.push(c));
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoPort = (echo.address() as { port: number }).port;
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const p of proxies.splice(0)) await p.close();
    seen.length = 0;
  });
  afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

  async function proxyWith(plan: FaultStep[] = [], delayMs = 0): Promise<FaultProxy> {
    const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: echoPort }, plan, delayMs });
    proxies.push(proxy);
    return proxy;
  }

  /** Connects, sends `data` in `pieces` writes, and collects what comes back until the socket closes or `ms`. */
  async function roundTrip(proxy: FaultProxy, data: Buffer, pieces: number, ms: number) {
    const socket = new Socket();
    sockets.push(socket);
    const got: Buffer[] = [];
    let error: NodeJS.ErrnoException | undefined;
    let ended = false;
    socket.on('data', (c: Buffer) => got.push(c));
    socket.on('end', () => {
      ended = true;
    });
    socket.on('error', (e) => {
      error = e;
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // A refused connection may be reset before 'connect' is emitted: then only 'close' comes.
    await Promise.race([new Promise<void>((resolve) => socket.connect(proxy.port, '127.0.0.1', resolve)), closed]);
    const step = Math.ceil(data.length / pieces);
    for (let at = 0; at < data.length && !socket.destroyed; at += step) socket.write(data.subarray(at, at + step));
    await Promise.race([closed, sleep(ms)]);
    return { got: Buffer.concat(got), error, ended, socket };
  }

  it('forwards both ways untouched without faults', async () => {
    const proxy = await proxyWith();
    const data = randomBytes(300 * KiB);
    const r = await roundTrip(proxy, data, 7, 300);
    expect(r.got.equals(data)).toBe(true);
    expect(proxy.forwarded('up')).toBe(data.length);
    expect(proxy.forwarded('down')).toBe(data.length);
  });

  it('a plan step drops the connection after exactly N bytes, whatever the chunking', async () => {
    for (const pieces of [1, 3, 50]) {
      const proxy = await proxyWith([{ direction: 'up', at: 10_001, action: { kind: 'drop' } }]);
      const data = randomBytes(64 * KiB);
      const r = await roundTrip(proxy, data, pieces, 2000);
      // The echo server got exactly the first 10 001 bytes, then FIN (no RST); we got FIN too.
      await sleep(50);
      expect(echoed(0).equals(data.subarray(0, 10_001))).toBe(true);
      expect(seen[0]?.error).toBeUndefined();
      expect(r.got.equals(data.subarray(0, r.got.length))).toBe(true);
      expect(r.got.length).toBeLessThanOrEqual(10_001);
      expect(r.ended).toBe(true);
      expect(r.error).toBeUndefined();
      expect(proxy.connections[0]?.forwarded('up')).toBe(10_001);
      expect(proxy.fired).toEqual([{ connection: 0, direction: 'up', at: 10_001, kind: 'drop' }]);
      await proxy.close();
      seen.length = 0;
    }
  });

  it('reset sends RST both ways; a plan reset cuts at its byte count; refuse resets new connections', async () => {
    const proxy = await proxyWith([{ connection: 1, direction: 'up', at: 1000, action: { kind: 'reset' } }]);
    // By method, while nothing is on its way to the client (so its kernel reports the RST, not an EOF).
    const socket = new Socket();
    sockets.push(socket);
    let clientError: string | undefined;
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clientError = e.code;
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.connect(proxy.port, '127.0.0.1', resolve));
    await proxy.waitForConnections(1, 1000);
    proxy.stall('down');
    socket.write('x'.repeat(100));
    for (let i = 0; i < 200 && proxy.forwarded('up') < 100; i++) await sleep(5);
    expect(proxy.forwarded('up')).toBe(100);
    await sleep(20);
    proxy.reset();
    await Promise.race([closed, sleep(2000)]);
    expect(clientError).toBe('ECONNRESET');
    await sleep(50);
    expect(seen[0]?.error).toBe('ECONNRESET');

    // By plan on connection 1: the echo server gets exactly 1000 bytes, then RST.
    const data = randomBytes(8 * KiB);
    const r = await roundTrip(proxy, data, 5, 2000);
    await sleep(50);
    expect(echoed(1).equals(data.subarray(0, 1000))).toBe(true);
    expect(seen[1]?.error).toBe('ECONNRESET');
    expect(r.got.length).toBeLessThanOrEqual(1000);
    expect(r.socket.destroyed).toBe(true);

    proxy.refuse(true);
    const r2 = await roundTrip(proxy, randomBytes(10), 1, 2000);
    expect(r2.error?.code).toBe('ECONNRESET');
    expect(seen).toHaveLength(2); // the refused connection never reached the echo server
    expect(proxy.fired.map((f) => [f.kind, f.connection])).toEqual([
      ['stall', 0],
      ['reset', 0],
      ['reset', 1],
      ['refuse', 2],
    ]);
    expect(proxy.accepted).toBe(3);
  });

  it('stall holds a direction for N ms, truncateNext cuts the next chunk, delay slows every chunk', async () => {
    const proxy = await proxyWith();
    const socket = new Socket();
    sockets.push(socket);
    const got: Buffer[] = [];
    socket.on('data', (c: Buffer) => got.push(c));
    await new Promise<void>((resolve) => socket.connect(proxy.port, '127.0.0.1', resolve));
    await proxy.waitForConnections(1, 1000);
    proxy.stall('down', 300);
    const started = performance.now();
    socket.write('hello');
    while (got.length === 0 && performance.now() - started < 2000) await sleep(10);
    expect(Buffer.concat(got).toString()).toBe('hello');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);

    proxy.setDelay(150);
    const t2 = performance.now();
    socket.write('slow');
    while (Buffer.concat(got).length < 9 && performance.now() - t2 < 2000) await sleep(5);
    // Delayed on the way up and again on the way down.
    expect(performance.now() - t2).toBeGreaterThanOrEqual(280);
    proxy.setDelay(0);

    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    proxy.truncateNext('up', 3);
    socket.write('abcdefgh');
    await Promise.race([closed, sleep(2000)]);
    await sleep(50);
    // The echo server got 'abc' of the cut chunk, then FIN; its echo of them found the connection gone.
    expect(echoed(0).toString()).toBe('helloslowabc');
    expect(Buffer.concat(got).toString()).toBe('helloslow');
    expect(socket.destroyed).toBe(true);
    expect(proxy.fired.map((f) => [f.kind, f.direction, f.at])).toEqual([
      ['stall', 'down', 0],
      ['truncate', 'up', 12],
    ]);
  });

  it('close() ends held connections and pending timers at once', async () => {
    const proxy = await proxyWith([], 10_000);
    const socket = new Socket();
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.connect(proxy.port, '127.0.0.1', resolve));
    socket.write('held for 10 s');
    proxy.stall('both', 60_000);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await expect(proxy.waitForFault('reset', 50)).rejects.toThrow(/timed out after 50 ms/);
    const waiting = proxy.waitForConnections(2, 60_000).then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    const started = performance.now();
    await proxy.close();
    await closed;
    expect(await waiting).toMatch(/fault proxy closed while waiting for 2 connections/);
    expect(performance.now() - started).toBeLessThan(500);
    expect(proxy.open).toHaveLength(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Through the proxy to a private tgtd.

/** One write of a batch and what the initiator reported for it. */
interface WriteRecord {
  readonly offset: number;
  readonly data: Uint8Array;
  done: boolean;
  error: unknown;
}

/** Executes, repeating on UNIT ATTENTION, and throws unless the command completed with GOOD. */
async function io(execute: (r: ScsiRequest) => Promise<ScsiResult>, request: ScsiRequest): Promise<ScsiResult> {
  for (let i = 0; i < 4; i++) {
    const r = await execute(request);
    if (r.status === CHECK_CONDITION && r.sense && (r.sense[2]! & 0x0f) === UNIT_ATTENTION) continue;
    if (r.response !== 0 || r.status !== 0)
      throw new Error(`command failed: response ${r.response} status ${r.status}`);
    return r;
  }
  throw new Error('the LUN stays in UNIT ATTENTION');
}

const writeRequest = (offset: number, data: Uint8Array): ScsiRequest => ({
  lun: 1,
  cdb: buildWrite16Cdb({ lba: offset / BLOCK, blocks: data.length / BLOCK, blockSize: BLOCK }).cdb,
  write: data,
});

/**
 * Issues `count` writes of `size` random bytes at `base`, `base + size`, … all at once, and records which were
 * reported done. Never throws; bounded by the session's command timeout.
 */
async function writeBatch(
  execute: (r: ScsiRequest) => Promise<ScsiResult>,
  base: number,
  count: number,
  size: number,
): Promise<WriteRecord[]> {
  const records: WriteRecord[] = Array.from({ length: count }, (_, i) => ({
    offset: base + i * size,
    data: randomBytes(size),
    done: false,
    error: undefined,
  }));
  await Promise.all(
    records.map(async (rec) => {
      try {
        await io(execute, writeRequest(rec.offset, rec.data));
        rec.done = true;
      } catch (err) {
        rec.error = err;
      }
    }),
  );
  return records;
}

describePeers(['tgtd', 'tgtadm'], 'faults between initiator and tgtd (fault proxy)', () => {
  let tgtd: Tgtd;
  /** A direct device (no proxy) to read back what reached the LUN. */
  let direct: BlockDevice;
  const cleanups: (() => Promise<void> | void)[] = [];
  /** Each test writes its own region of the LUN. */
  let nextRegion = 0;
  const region = (): number => nextRegion++ * 4 * MiB;

  beforeAll(async () => {
    tgtd = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: LUN_BYTES }] }] });
    direct = await openLun(tgtd.url(), { commandTimeoutMs: 10_000 });
  }, 20_000);
  afterAll(async () => {
    await direct?.close();
    await tgtd?.stop();
  }, 20_000);
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function proxy(plan: FaultStep[] = []): Promise<FaultProxy> {
    const p = await startFaultProxy({ target: { host: '127.0.0.1', port: tgtd.port }, plan });
    cleanups.push(() => p.close());
    return p;
  }

  const loginVia = (p: FaultProxy) => ({
    portal: p.portal,
    targetName: IQN,
    connectTimeoutMs: 1000,
    stepTimeoutMs: 1000,
  });

  async function recoverable(p: FaultProxy, options: RecoverableSessionOptions = {}): Promise<RecoverableSession> {
    const session = await openSession(loginVia(p), {
      keepaliveMs: 0,
      commandTimeoutMs: 10_000,
      reconnect: { maxAttempts: 5, initialDelayMs: 50, maxDelayMs: 400 },
      ...options,
    });
    cleanups.push(() => session.close());
    await io((r) => session.execute(r), { lun: 1, cdb: new Uint8Array(6) }); // takes the power-on UNIT ATTENTION
    return session;
  }

  /** Every write reported done is on the LUN (read back directly); returns how many were done. */
  async function checkDone(records: readonly WriteRecord[]): Promise<number> {
    let done = 0;
    for (const rec of records) {
      if (!rec.done) continue;
      done++;
      const back = await direct.read(rec.offset, rec.data.length);
      expect(sha256(back), `write at ${rec.offset} was reported done`).toBe(sha256(rec.data));
    }
    return done;
  }

  /** Every write done, and the whole region reads back (directly) with the expected sha256. */
  async function checkAllDone(records: readonly WriteRecord[]): Promise<void> {
    const failed = records.filter((r) => !r.done).map((r) => r.error);
    expect(failed).toEqual([]);
    const first = records[0]!;
    const all = Buffer.concat(records.map((r) => r.data));
    expect(sha256(await direct.read(first.offset, all.length))).toBe(sha256(all));
    await checkDone(records);
  }

  /** Every failure is one of the typed errors allowed. */
  function expectTyped(records: readonly WriteRecord[], ...types: (typeof ConnectionError | typeof TimeoutError)[]) {
    for (const rec of records) {
      if (rec.done) continue;
      expect(
        types.some((t) => rec.error instanceof t),
        String(rec.error),
      ).toBe(true);
    }
  }

  it('reset (RST) mid-write: the session is reinstated and every write completes', async () => {
    const p = await proxy();
    const session = await recoverable(p);
    // 16 × 128 KiB in flight; RST both sides once 700 KiB more went to the target — in the middle of the writes.
    p.resetAfter('up', 700 * KiB);
    const base = region();
    const records = await writeBatch((r) => session.execute(r), base, 16, 128 * KiB);
    expect(p.fired.map((f) => f.kind)).toEqual(['reset']);
    expect(p.fired[0]?.at).toBeGreaterThan(0);
    expect(session.reconnects).toBeGreaterThanOrEqual(1);
    expect(p.accepted).toBeGreaterThanOrEqual(2);
    await checkAllDone(records);
    // The reinstated session reads the data back too.
    const r = await io((q) => session.execute(q), {
      lun: 1,
      cdb: buildRead16Cdb({ lba: base / BLOCK, blocks: 8, blockSize: BLOCK }).cdb,
      read: { length: 4096 },
    });
    expect(Buffer.from(r.data!).equals(Buffer.from(records[0]!.data.subarray(0, 4096)))).toBe(true);
    await session.logout();
  }, 20_000);

  it('reset by a byte-count plan on the target side (responses lost): writes the target did are re-issued', async () => {
    // Connection 0: RST as soon as 3 more SCSI Responses (48 bytes each) than the login took came back.
    const p = await proxy();
    const session = await recoverable(p);
    const login = p.connections[0]!.forwarded('down');
    p.addStep({ connection: 0, direction: 'down', at: login + 3 * 48 + 20, action: { kind: 'reset' } });
    const records = await writeBatch((r) => session.execute(r), region(), 12, 8 * KiB);
    expect(p.fired.map((f) => f.kind)).toEqual(['reset']);
    expect(session.reconnects).toBe(1);
    await checkAllDone(records);
    await session.logout();
  }, 20_000);

  it('stall beyond the command timeout, keepalive off: writes reject with TimeoutError in bounded time', async () => {
    const p = await proxy();
    const session = await recoverable(p, { commandTimeoutMs: 1500 });
    p.stall('both'); // until released: never, in this test
    const started = performance.now();
    const records = await writeBatch((r) => session.execute(r), region(), 8, 64 * KiB);
    const ms = performance.now() - started;
    expect(records.every((r) => !r.done)).toBe(true);
    expectTyped(records, TimeoutError);
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(4000);
    expect(session.reconnects).toBe(0);
    expect(await checkDone(records)).toBe(0);
  }, 20_000);

  it('stall with keepalive on: the dead connection is detected, the session reinstated, every write done', async () => {
    const p = await proxy();
    const session = await recoverable(p, { keepaliveMs: 300, keepaliveTimeoutMs: 300, commandTimeoutMs: 15_000 });
    // Stall the way up after 200 KiB more went up (keepalive pings included): some writes may be done, the rest
    // and every NOP-Out are stuck, so the ping goes unanswered.
    p.open[0]!.after('up', 200 * KiB, { kind: 'stall' });
    const started = performance.now();
    const records = await writeBatch((r) => session.execute(r), region(), 16, 64 * KiB);
    expect(p.fired.some((f) => f.kind === 'stall')).toBe(true);
    expect(session.reconnects).toBeGreaterThanOrEqual(1);
    expect(performance.now() - started).toBeLessThan(8000);
    await checkAllDone(records);
    await session.logout();
  }, 20_000);

  it('truncate mid-PDU towards the target (20 bytes of a BHS): reconnect, every write done', async () => {
    const p = await proxy();
    const session = await recoverable(p);
    // The connection is idle, so the next upstream chunk starts with the first write's SCSI Command PDU.
    p.truncateNext('up', 20);
    const records = await writeBatch((r) => session.execute(r), region(), 8, 96 * KiB);
    expect(p.fired.map((f) => [f.kind, f.direction])).toEqual([['truncate', 'up']]);
    expect(session.reconnects).toBe(1);
    await checkAllDone(records);
    await session.logout();
  }, 20_000);

  it('truncate mid-PDU towards the initiator: a response cut in half is never taken as done', async () => {
    const p = await proxy();
    const session = await recoverable(p);
    p.truncateNext('down', 30);
    const records = await writeBatch((r) => session.execute(r), region(), 8, 32 * KiB);
    expect(p.fired.map((f) => [f.kind, f.direction])).toEqual([['truncate', 'down']]);
    expect(session.reconnects).toBe(1);
    await checkAllDone(records);
    await session.logout();
  }, 20_000);

  it('slow link (25 ms per chunk each way): writes complete without reconnecting', async () => {
    const p = await proxy();
    const session = await recoverable(p);
    p.setDelay(25);
    const started = performance.now();
    const records = await writeBatch((r) => session.execute(r), region(), 8, 256 * KiB);
    const ms = performance.now() - started;
    expect(session.reconnects).toBe(0);
    // At least one round trip through the delayed link: 2 × 25 ms.
    expect(ms).toBeGreaterThanOrEqual(50);
    await checkAllDone(records);
    await session.logout();
  }, 20_000);

  it('link slower than the command timeout: TimeoutError, never a false success', async () => {
    const p = await proxy();
    const session = await recoverable(p, { commandTimeoutMs: 400 });
    p.setDelay(300);
    const records = await writeBatch((r) => session.execute(r), region(), 4, 64 * KiB);
    // A response takes at least 300 ms up and 300 ms down: none can beat the 400 ms timeout.
    expect(records.every((r) => !r.done)).toBe(true);
    expectTyped(records, TimeoutError);
    // Let the held chunks reach the target or die with the connection before reading back.
    session.close();
    await sleep(700);
    await checkDone(records);
  }, 20_000);

  it('every reconnection refused: pending writes reject with the recovery ConnectionError', async () => {
    const p = await proxy();
    const session = await recoverable(p, { reconnect: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 } });
    p.refuse(true);
    p.resetAfter('up', 100 * KiB);
    const started = performance.now();
    const records = await writeBatch((r) => session.execute(r), region(), 8, 64 * KiB);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(records.some((r) => !r.done)).toBe(true);
    expectTyped(records, ConnectionError);
    for (const rec of records.filter((r) => !r.done)) {
      expect((rec.error as Error).message).toMatch(/recovery failed after 3 attempts/);
    }
    expect(p.fired.filter((f) => f.kind === 'refuse')).toHaveLength(3);
    expect(session.closed).toBe(true);
    await checkDone(records);
  }, 20_000);

  it('a plain Session: reset mid-write rejects with ConnectionError; stall rejects with TimeoutError', async () => {
    const p = await proxy();
    const session = new Session(await login(loginVia(p)), { keepaliveMs: 0, commandTimeoutMs: 5000 });
    cleanups.push(() => session.close());
    await io((r) => session.execute(r), { lun: 1, cdb: new Uint8Array(6) });
    p.resetAfter('up', 300 * KiB);
    const records = await writeBatch((r) => session.execute(r), region(), 16, 64 * KiB);
    expect(records.some((r) => !r.done)).toBe(true);
    expectTyped(records, ConnectionError);
    expect(session.closed).toBe(true);
    await checkDone(records);

    const p2 = await proxy();
    const s2 = new Session(await login(loginVia(p2)), { keepaliveMs: 0, commandTimeoutMs: 800 });
    cleanups.push(() => s2.close());
    await io((r) => s2.execute(r), { lun: 1, cdb: new Uint8Array(6) });
    p2.stall('down');
    const started = performance.now();
    const stalled = await writeBatch((r) => s2.execute(r), region(), 4, 64 * KiB);
    expect(performance.now() - started).toBeLessThan(3000);
    expect(stalled.every((r) => !r.done)).toBe(true);
    expectTyped(stalled, TimeoutError);
    s2.close();
    await checkDone(stalled);
  }, 20_000);

  it('openLun through the proxy: reset mid-write rejects device.write with ConnectionError', async () => {
    const p = await proxy();
    const url = `iscsi://${p.portal}/${IQN}/1`;
    const dev = await openLun(url, { commandTimeoutMs: 5000, maxTransferBytes: 128 * KiB, queueDepth: 4 });
    cleanups.push(() => dev.close());
    const base = region();
    const data = randomBytes(2 * MiB);
    p.resetAfter('up', MiB);
    const err = await dev.write(base, data).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(IscsiError);
    expect(p.fired.map((f) => f.kind)).toEqual(['reset']);
    // Each 512-byte block of the (fresh, zero) region holds either nothing or the data meant for it, and no more
    // data reached the LUN than the 1 MiB that went up before the reset.
    const back = await direct.read(base, data.length);
    let written = 0;
    for (let at = 0; at < data.length; at += BLOCK) {
      const block = back.subarray(at, at + BLOCK);
      if (Buffer.from(block).equals(data.subarray(at, at + BLOCK))) written += BLOCK;
      else expect(block.every((b) => b === 0)).toBe(true);
    }
    expect(written).toBeLessThanOrEqual(MiB);
  }, 20_000);
});
