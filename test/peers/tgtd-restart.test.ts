/**
 * tgtd crashes under a write stream: the daemon is SIGKILLed (by PID) while several MiB of writes are in flight.
 * Right after the kill, every write reported done so far is checked in the backing file itself (tgtd answers a
 * WRITE only after its pwrite, so an acknowledged write is in the page cache even though the process is gone).
 *
 * - RecoverableSession (openSession), tgtd restarted on the same port and control socket with the same backing
 *   file: the session is reinstated and every write completes; the whole stream reads back (over a fresh session
 *   and from the file) with the right sha256.
 * - RecoverableSession, no restart: pending writes reject with the recovery ConnectionError in bounded time.
 * - openLun (a plain Session, no recovery): device writes reject with ConnectionError at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { type BlockDevice, openLun } from '../../src/block/device.js';
import { ConnectionError } from '../../src/errors.js';
import { buildWrite16Cdb } from '../../src/scsi/cdb/read-write.js';
import { openSession, type RecoverableSession } from '../../src/session/recovery.js';
import type { ScsiRequest, ScsiResult } from '../../src/session/task.js';
import { describePeers, findTool, processIs, sleep, tail, waitExit } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 512;
const IQN = 'iqn.2024-01.test.iscsi-ts:restart';
const LUN_BYTES = 32 * MiB;
const CHECK_CONDITION = 2;
const UNIT_ATTENTION = 6;
const STREAM_BYTES = 12 * MiB;
const WRITE_BYTES = 256 * KiB;
const WORKERS = 8;
/** Writes reported done before the kill: 3 MiB, so the kill lands in the middle of the 12 MiB stream. */
const KILL_AFTER = (3 * MiB) / WRITE_BYTES;

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** One write of the stream and what the initiator reported for it. */
interface WriteRecord {
  readonly offset: number;
  readonly data: Uint8Array;
  done: boolean;
  error: unknown;
}

/** The stream: `STREAM_BYTES` of random data cut into `WRITE_BYTES` writes. */
function makeStream(): { data: Buffer; records: WriteRecord[] } {
  const data = randomBytes(STREAM_BYTES);
  const records = Array.from({ length: STREAM_BYTES / WRITE_BYTES }, (_, i) => ({
    offset: i * WRITE_BYTES,
    data: data.subarray(i * WRITE_BYTES, (i + 1) * WRITE_BYTES),
    done: false,
    error: undefined as unknown,
  }));
  return { data, records };
}

/**
 * Runs the writes with `WORKERS` in flight; `write` is called for each record in order. After `KILL_AFTER` writes
 * are done `onKillPoint` runs synchronously (the other workers' writes are still in flight). Never throws.
 */
async function runStream(
  records: WriteRecord[],
  write: (rec: WriteRecord) => Promise<void>,
  onKillPoint: () => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < records.length) {
      const rec = records[next++]!;
      try {
        await write(rec);
        rec.done = true;
        if (++done === KILL_AFTER) onKillPoint();
      } catch (err) {
        rec.error = err;
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

/** Executes, repeating on UNIT ATTENTION (a restarted tgtd reports power-on), and throws unless GOOD. */
async function io(session: RecoverableSession, request: ScsiRequest): Promise<ScsiResult> {
  for (let i = 0; i < 4; i++) {
    const r = await session.execute(request);
    if (r.status === CHECK_CONDITION && r.sense && (r.sense[2]! & 0x0f) === UNIT_ATTENTION) continue;
    if (r.response !== 0 || r.status !== 0)
      throw new Error(`command failed: response ${r.response} status ${r.status}`);
    return r;
  }
  throw new Error('the LUN stays in UNIT ATTENTION');
}

const writeRequest = (rec: WriteRecord): ScsiRequest => ({
  lun: 1,
  cdb: buildWrite16Cdb({ lba: rec.offset / BLOCK, blocks: rec.data.length / BLOCK, blockSize: BLOCK }).cdb,
  write: rec.data,
});

/** `length` bytes of `path` at `offset`, read directly from the file. */
function readFile(path: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    let got = 0;
    while (got < length) {
      const n = readSync(fd, out, got, length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Every write reported done is in the backing file; returns how many were done. */
function checkDoneInFile(path: string, records: readonly WriteRecord[]): number {
  let done = 0;
  for (const rec of records) {
    if (!rec.done) continue;
    done++;
    expect(sha256(readFile(path, rec.offset, rec.data.length)), `write at ${rec.offset} reported done`).toBe(
      sha256(rec.data),
    );
  }
  return done;
}

/** SIGKILL tgtd by PID (after checking the PID is still tgtd) and wait until it is gone. */
async function killTgtd(pid: number): Promise<void> {
  expect(processIs(pid, 'tgtd')).toBe(true);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200 && processIs(pid, 'tgtd'); i++) await sleep(10);
  expect(processIs(pid, 'tgtd')).toBe(false);
}

/** A tgtd restarted by {@link restartTgtd}. */
interface Restarted {
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts tgtd again on the port and control number of `first` (killed), with the same target and backing file.
 * The portal listing proves the port was bound again.
 */
async function restartTgtd(first: Tgtd, backing: string): Promise<Restarted> {
  const tgtdPath = findTool('tgtd');
  if (tgtdPath === undefined) throw new Error('tgtd not found');
  const logPath = join(first.dir, 'tgtd-restart.log');
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(tgtdPath, ['-f', '-C', String(first.control), '--iscsi', `portal=127.0.0.1:${first.port}`], {
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('tgtd could not be spawned');
  const onProcessExit = (): void => {
    if (processIs(pid, 'tgtd')) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', onProcessExit);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        await first.tgtadm(['--mode', 'target', '--op', 'delete', '--force', '--tid', '1']);
        await first.tgtadm(['--op', 'delete', '--mode', 'system']);
        await waitExit(child, 5000);
      }
      if (child.exitCode === null && child.signalCode === null && processIs(pid, 'tgtd')) {
        child.kill('SIGKILL');
        await waitExit(child, 2000);
      }
      process.off('exit', onProcessExit);
      rmSync(`/var/run/tgtd/socket.${first.control}`, { force: true });
      rmSync(`/var/run/tgtd/socket.${first.control}.lock`, { force: true });
    })();
    return stopping;
  };
  const log = (): string => tail(existsSync(logPath) ? readFileText(logPath) : '');
  try {
    let ready = false;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if ((await first.tgtadm(['--mode', 'target', '--op', 'show'])).code === 0) {
        ready = true;
        break;
      }
      await sleep(100);
    }
    if (!ready) throw new Error(`restarted tgtd did not answer; log:\n${log()}`);
    const portals = (await first.tgtadm(['--mode', 'portal', '--op', 'show'])).stdout;
    if (!portals.includes(`Portal: 127.0.0.1:${first.port},`)) {
      throw new Error(`restarted tgtd did not bind port ${first.port}:\n${portals}\nlog:\n${log()}`);
    }
    const steps = [
      ['--mode', 'target', '--op', 'new', '--tid', '1', '--targetname', IQN],
      ['--mode', 'logicalunit', '--op', 'new', '--tid', '1', '--lun', '1', '--backing-store', backing],
      ['--mode', 'target', '--op', 'bind', '--tid', '1', '--initiator-address', 'ALL'],
    ];
    for (const args of steps) {
      const r = await first.tgtadm(args);
      if (r.code !== 0) throw new Error(`tgtadm ${args.join(' ')} failed: ${r.stderr}\nlog:\n${log()}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid, stop };
}

function readFileText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * KiB);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

describePeers(['tgtd', 'tgtadm'], 'tgtd killed (SIGKILL) in the middle of a write stream', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(): Promise<{ tgtd: Tgtd; backing: string }> {
    const tgtd = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: LUN_BYTES }] }] });
    cleanups.push(() => tgtd.stop());
    const backing = join(tgtd.dir, 't1-lun1.img'); // startTgtd's naming: t<target>-lun<lun>.img
    expect(existsSync(backing)).toBe(true);
    return { tgtd, backing };
  }

  async function session(tgtd: Tgtd, maxAttempts: number): Promise<RecoverableSession> {
    const s = await openSession(
      { portal: `127.0.0.1:${tgtd.port}`, targetName: IQN, connectTimeoutMs: 1000, stepTimeoutMs: 2000 },
      {
        keepaliveMs: 0,
        commandTimeoutMs: 20_000,
        reconnect: { maxAttempts, initialDelayMs: 100, maxDelayMs: 400 },
      },
    );
    cleanups.push(() => s.close());
    await io(s, { lun: 1, cdb: new Uint8Array(6) }); // TEST UNIT READY takes the power-on UNIT ATTENTION
    return s;
  }

  it('restarted on the same port with the same backing file: every write completes, sha256 matches', async () => {
    const { tgtd, backing } = await setup();
    const s = await session(tgtd, 12);
    const { data, records } = makeStream();
    let killed: Promise<void> | undefined;
    let doneAtKill = -1;
    let inFlightAtKill = -1;
    const stream = runStream(
      records,
      async (rec) => {
        await io(s, writeRequest(rec));
      },
      () => {
        doneAtKill = records.filter((r) => r.done).length;
        inFlightAtKill = s.pending;
        killed = killTgtd(tgtd.pid);
      },
    );
    for (let i = 0; i < 500 && killed === undefined; i++) await sleep(10);
    expect(killed).toBeDefined();
    await killed;
    // tgtd is gone: what was reported done is in the file, and nothing more can be reported done until it is back.
    expect(doneAtKill).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(inFlightAtKill).toBeGreaterThan(0);
    const doneWhileDown = checkDoneInFile(backing, records);
    expect(doneWhileDown).toBeLessThan(records.length);
    await sleep(300); // a few refused reconnection attempts
    expect(s.closed).toBe(false);
    const restarted = await restartTgtd(tgtd, backing);
    cleanups.push(() => restarted.stop());
    const started = performance.now();
    await stream;
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(records.filter((r) => !r.done).map((r) => r.error)).toEqual([]);
    expect(s.reconnects).toBeGreaterThanOrEqual(1);
    expect(s.tsih).toBeGreaterThan(0);
    // The whole stream is on the LUN: read back over a fresh session of the restarted tgtd, and from the file.
    const dev: BlockDevice = await openLun(`iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`, { commandTimeoutMs: 10_000 });
    cleanups.push(() => dev.close());
    expect(sha256(await dev.read(0, STREAM_BYTES))).toBe(sha256(data));
    expect(sha256(readFile(backing, 0, STREAM_BYTES))).toBe(sha256(data));
    await s.logout();
  }, 40_000);

  it('not restarted: pending writes reject with the recovery ConnectionError within a bounded time', async () => {
    const { tgtd, backing } = await setup();
    const s = await session(tgtd, 3);
    const { records } = makeStream();
    let killedAt = 0;
    let killed: Promise<void> | undefined;
    await runStream(
      records,
      async (rec) => {
        await io(s, writeRequest(rec));
      },
      () => {
        killedAt = performance.now();
        killed = killTgtd(tgtd.pid);
      },
    );
    await killed;
    // Backoff 100 + 200 + 400 ms and three refused logins.
    expect(performance.now() - killedAt).toBeLessThan(5000);
    const failed = records.filter((r) => !r.done);
    expect(failed.length).toBeGreaterThan(0);
    for (const rec of failed) {
      expect(rec.error).toBeInstanceOf(ConnectionError);
      expect((rec.error as Error).message).toMatch(/recovery failed after 3 attempts|closed/);
    }
    expect(s.closed).toBe(true);
    expect(checkDoneInFile(backing, records)).toBeGreaterThanOrEqual(KILL_AFTER);
  }, 30_000);

  it('openLun without recovery: device writes reject with ConnectionError, done writes are in the file', async () => {
    const { tgtd, backing } = await setup();
    const dev = await openLun(`iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`, {
      commandTimeoutMs: 10_000,
      maxTransferBytes: 64 * KiB,
    });
    cleanups.push(() => dev.close());
    const { records } = makeStream();
    let killedAt = 0;
    let killed: Promise<void> | undefined;
    await runStream(
      records,
      (rec) => dev.write(rec.offset, rec.data),
      () => {
        killedAt = performance.now();
        killed = killTgtd(tgtd.pid);
      },
    );
    await killed;
    expect(performance.now() - killedAt).toBeLessThan(3000);
    const failed = records.filter((r) => !r.done);
    expect(failed.length).toBeGreaterThan(0);
    for (const rec of failed) expect(rec.error).toBeInstanceOf(ConnectionError);
    expect(dev.session.closed).toBe(true);
    expect(checkDoneInFile(backing, records)).toBeGreaterThanOrEqual(KILL_AFTER);
  }, 30_000);
});
