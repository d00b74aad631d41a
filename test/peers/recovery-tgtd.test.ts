/**
 * ERL 0 session recovery (src/session/recovery.ts) against a private tgtd: the target drops our connection
 * (`tgtadm --mode conn --op delete`) in the middle of a loop of writes and reads, and every command completes with
 * the right data after the session is reinstated; then tgtd is stopped, and pending commands reject with the
 * recovery error after the bounded attempts, in bounded time.
 */
import { afterEach, expect, it } from 'vitest';
import { ConnectionError } from '../../src/errors.js';
import type { Logger, SessionEvent } from '../../src/session/events.js';
import { openSession, type RecoverableSession } from '../../src/session/recovery.js';
import type { ScsiRequest, ScsiResult } from '../../src/session/task.js';
import { describePeers, sleep } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const BLOCK = 512;
const IQN = 'iqn.2024-01.test.iscsi-ts:recovery';
const GOOD = 0;
const CHECK_CONDITION = 2;
const UNIT_ATTENTION = 6;
const WORKERS = 8;
const ROUNDS = 6;
const CHUNK = 64 * 1024;

function cdb16(op: number, lba: number, bytes: number): Uint8Array {
  const cdb = new Uint8Array(16);
  const view = new DataView(cdb.buffer);
  cdb[0] = op;
  view.setBigUint64(2, BigInt(lba));
  view.setUint32(10, bytes / BLOCK);
  return cdb;
}

const pattern = (worker: number, round: number) =>
  Uint8Array.from({ length: CHUNK }, (_, i) => (i * 7 + worker * 31 + round * 13) & 0xff);

/** Executes, repeating on UNIT ATTENTION (tgtd reports one for a new nexus and after a reset), and expects GOOD. */
async function io(session: RecoverableSession, request: ScsiRequest): Promise<ScsiResult> {
  for (let i = 0; i < 3; i++) {
    const r = await session.execute(request);
    const sense = r.sense;
    if (r.status === CHECK_CONDITION && sense && (sense[2]! & 0x0f) === UNIT_ATTENTION) continue;
    expect(r.response).toBe(0);
    expect(r.status).toBe(GOOD);
    return r;
  }
  throw new Error('the LUN stays in UNIT ATTENTION');
}

function collecting(events: SessionEvent[]): Logger {
  const push = (obj: object) => events.push(obj as SessionEvent);
  return { debug: () => {}, info: push, warn: push, error: push };
}

/** The tgtd session id (I_T nexus) of our session. */
async function sessionId(tgtd: Tgtd): Promise<string> {
  const show = await tgtd.tgtadm(['--mode', 'target', '--op', 'show']);
  const sid = /I_T nexus: (\d+)/.exec(show.stdout)?.[1];
  if (sid === undefined) throw new Error(`no I_T nexus in:\n${show.stdout}`);
  return sid;
}

describePeers(['tgtd', 'tgtadm'], 'ERL 0 session recovery against tgtd', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(maxAttempts: number) {
    const tgtd = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 16 * MiB }] }] });
    cleanups.push(() => tgtd.stop());
    const events: SessionEvent[] = [];
    const session = await openSession(
      { portal: `127.0.0.1:${tgtd.port}`, targetName: IQN, connectTimeoutMs: 1000, stepTimeoutMs: 1000 },
      {
        logger: collecting(events),
        keepaliveMs: 0,
        commandTimeoutMs: 10_000,
        reconnect: { maxAttempts, initialDelayMs: 50, maxDelayMs: 200 },
      },
    );
    cleanups.push(() => session.close());
    await io(session, { lun: 1, cdb: new Uint8Array(6) }); // TEST UNIT READY: takes the power-on UA
    return { tgtd, session, events };
  }

  it('the target drops the connection mid-loop: all writes and reads complete with the right data', async () => {
    const { tgtd, session, events } = await setup(5);
    const sid = await sessionId(tgtd);
    const lba = (worker: number) => worker * (CHUNK / BLOCK) * 4;
    const worker = async (w: number) => {
      for (let round = 0; round < ROUNDS; round++) {
        const data = pattern(w, round);
        await io(session, { lun: 1, cdb: cdb16(0x8a, lba(w), CHUNK), write: data });
        const r = await io(session, { lun: 1, cdb: cdb16(0x88, lba(w), CHUNK), read: { length: CHUNK } });
        expect(Buffer.from(r.data!).equals(Buffer.from(data))).toBe(true);
      }
    };
    const loop = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await sleep(20); // commands in flight
    const kill = await tgtd.tgtadm(['--mode', 'conn', '--op', 'delete', '--tid', '1', '--sid', sid, '--cid', '0']);
    expect(kill.code, kill.stderr).toBe(0);
    await loop;
    expect(session.reconnects).toBeGreaterThanOrEqual(1);
    const success = events.find((e) => e.event === 'reconnect' && e.phase === 'success');
    expect(success).toBeDefined();
    // The drop caught commands in flight: they were issued again on the reinstated session.
    expect((success as { retried?: number }).retried).toBeGreaterThan(0);
    // The last data of every worker is on the LUN, read once more over the reinstated session.
    for (let w = 0; w < WORKERS; w++) {
      const r = await io(session, { lun: 1, cdb: cdb16(0x88, lba(w), CHUNK), read: { length: CHUNK } });
      expect(Buffer.from(r.data!).equals(Buffer.from(pattern(w, ROUNDS - 1)))).toBe(true);
    }
    await session.logout();
    expect(session.closed).toBe(true);
  }, 20_000);

  it('tgtd gone: pending commands reject with the recovery ConnectionError after the bounded attempts', async () => {
    const { tgtd, session, events } = await setup(3);
    const failures: unknown[] = [];
    let completed = 0;
    const worker = async () => {
      for (let i = 0; i < 10_000; i++) {
        try {
          await session.execute({ lun: 1, cdb: cdb16(0x88, i % 64, 4096), read: { length: 4096 } });
          completed++;
        } catch (err) {
          failures.push(err);
          return;
        }
      }
    };
    const loop = Promise.all(Array.from({ length: 4 }, () => worker()));
    await sleep(30);
    const started = performance.now();
    await tgtd.stop();
    await loop;
    const ms = performance.now() - started;
    expect(completed).toBeGreaterThan(0);
    expect(failures.length).toBe(4);
    for (const err of failures) {
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as Error).message).toMatch(/recovery failed after 3 attempts/);
    }
    // tgtd's own shutdown plus backoff 50 + 100 + 200 ms and three refused logins.
    expect(ms).toBeLessThan(8000);
    expect(session.closed).toBe(true);
    expect(events.filter((e) => e.event === 'reconnect' && e.phase === 'gave-up')).toHaveLength(1);
  }, 20_000);
});
