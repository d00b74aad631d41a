/**
 * The embedded target against the iscsi-ts initiator: every InitialR2T/ImmediateData combination with digests on
 * and off and small bursts and segments, each CHAP algorithm one-way and mutual, IPv6, ACLs, redirects, session
 * reinstatement, task management and the graceful stop (Async logout request).
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openLun } from '../../src/block/device.js';
import { ChapAlgorithm } from '../../src/chap/algorithms.js';
import { Secret } from '../../src/chap/secret.js';
import { LoginError } from '../../src/errors.js';
import { buildRead16Cdb, buildWrite16Cdb } from '../../src/scsi/cdb/read-write.js';
import { login } from '../../src/session/initiator.js';
import { Session } from '../../src/session/session.js';
import type { TargetServerConfig } from '../../src/target/config.js';
import type { TargetEvent } from '../../src/target/events.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:target';
const INITIATOR = 'iqn.2026-11.test.iscsi-ts:initiator';
let running: IscsiTarget[] = [];

afterEach(async () => {
  await Promise.all(running.map((t) => t.stop({ graceMs: 100 })));
  running = [];
});

async function start(config: Partial<TargetServerConfig> = {}): Promise<IscsiTarget> {
  const t = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 8 * 1024 * 1024 } }] }],
    ...config,
  });
  running.push(t);
  await t.start();
  return t;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('data transfer under every negotiation', () => {
  const combos = [
    { initialR2T: true, immediateData: false },
    { initialR2T: true, immediateData: true },
    { initialR2T: false, immediateData: false },
    { initialR2T: false, immediateData: true },
  ];
  for (const digest of ['None', 'CRC32C'] as const) {
    for (const c of combos) {
      it(`InitialR2T=${c.initialR2T} ImmediateData=${c.immediateData} digests ${digest}`, async () => {
        // Small limits so one command needs several bursts, R2Ts and segments.
        const small = {
          maxRecvDataSegmentLength: 4096,
          maxBurstLength: 16384,
          firstBurstLength: 8192,
          maxOutstandingR2T: 2,
        };
        const t = await start({ offer: { ...c, ...small, headerDigest: [digest], dataDigest: [digest] } });
        const dev = await openLun(t.url(IQN, 0), {
          loginOptions: { offer: { ...c, ...small, headerDigest: [digest], dataDigest: [digest] } },
        });
        try {
          const p = dev.session.params;
          expect([p.initialR2T, p.immediateData, p.headerDigest, p.dataDigest]).toEqual([
            c.initialR2T,
            c.immediateData,
            digest,
            digest,
          ]);
          for (const size of [512, 8192 + 512, 16384 * 3 + 1024, 300 * 1024]) {
            const data = randomBytes(size);
            await dev.write(4096, data);
            expect(sha(await dev.read(4096, size))).toBe(sha(data));
          }
        } finally {
          await dev.close();
        }
      });
    }
  }

  it('keeps many commands in flight and reports residuals', async () => {
    const t = await start({ commandWindow: 8 });
    const dev = await openLun(t.url(IQN, 0), { queueDepth: 32 });
    try {
      const writes = Array.from({ length: 64 }, (_, i) => dev.write(i * 4096, new Uint8Array(4096).fill(i)));
      await Promise.all(writes);
      const reads = await Promise.all(Array.from({ length: 64 }, (_, i) => dev.read(i * 4096, 4096)));
      for (const [i, r] of reads.entries()) expect(r.every((b) => b === i)).toBe(true);
      // READ(16) of 2 blocks with an EDTL of 3 blocks: 1 block of underflow.
      const r = await dev.session.execute({
        lun: 0,
        cdb: buildRead16Cdb({ lba: 0, blocks: 2, blockSize: 512 }).cdb,
        read: { length: 1536 },
      });
      expect(r.status).toBe(0);
      expect(r.residualUnderflow).toBe(512);
      expect(r.data?.length).toBe(1024);
    } finally {
      await dev.close();
    }
  });
});

describe('CHAP', () => {
  const user = { user: 'alice', secret: Secret.from('alice-secret-0123') };
  const tgt = { user: 'target-1', secret: Secret.from('target-secret-4567') };
  for (const algorithm of [ChapAlgorithm.MD5, ChapAlgorithm.SHA1, ChapAlgorithm.SHA256, ChapAlgorithm.SHA3_256]) {
    it(`CHAP_A=${algorithm}, mutual, chosen from the initiator's offer`, async () => {
      const events: TargetEvent[] = [];
      const t = await start({
        auth: {
          lookup: (n) => (n === 'alice' ? user.secret : undefined),
          targetCredentials: tgt,
          algorithms: [algorithm],
        },
      });
      t.on('event', (e) => events.push(e));
      const dev = await openLun(t.url(IQN, 0), {
        loginOptions: { chap: { credentials: user, targetCredentials: tgt } },
      });
      await dev.close();
      const ev = events.find((e) => e.event === 'login');
      expect(ev).toMatchObject({ chapAlgorithm: algorithm, mutual: true, initiator: expect.any(String) });
    });
  }

  it('refuses a wrong secret, a missing CHAP and an initiator outside the ACL', async () => {
    const t = await start({
      auth: { lookup: (n) => (n === 'alice' ? user.secret : undefined) },
      targets: [{ name: IQN, allow: [INITIATOR], luns: [{ storage: { type: 'memory', size: 1 << 20 } }] }],
    });
    const wrong = { credentials: { user: 'alice', secret: Secret.from('not-the-secret-99') } };
    await expect(
      openLun(t.url(IQN, 0), { loginOptions: { chap: wrong, initiatorName: INITIATOR } }),
    ).rejects.toMatchObject({ status: 0x0201 });
    await expect(openLun(t.url(IQN, 0), { loginOptions: { initiatorName: INITIATOR } })).rejects.toBeInstanceOf(
      LoginError,
    );
    await expect(openLun(t.url(IQN, 0), { loginOptions: { chap: { credentials: user } } })).rejects.toMatchObject({
      status: 0x0202,
    });
    const ok = await openLun(t.url(IQN, 0), {
      loginOptions: { chap: { credentials: user }, initiatorName: INITIATOR },
    });
    await ok.close();
  });
});

describe('portals, sessions and shutdown', () => {
  it('serves IPv6 and redirects on demand', async () => {
    const real = await start({ portals: ['[::1]:0'] });
    const dev6 = await openLun(real.url(IQN, 0));
    await dev6.close();
    const redirector = await start({
      targets: [
        {
          name: IQN,
          redirect: { targetAddress: `[::1]:${real.portals[0]!.port},1` },
          luns: [{ storage: { type: 'memory', size: 1 << 20 } }],
        },
      ],
    });
    const dev = await openLun(redirector.url(IQN, 0));
    expect(dev.size).toBe(8 * 1024 * 1024);
    await dev.close();
  });

  it('reinstates a session logged in again with the same ISID, and counts sessions', async () => {
    const t = await start();
    const events: TargetEvent[] = [];
    t.on('event', (e) => events.push(e));
    const isid = 0x800000000001;
    const first = await login({
      portal: { host: '127.0.0.1', port: t.portals[0]!.port, family: 4 },
      targetName: IQN,
      isid,
    });
    expect(t.sessionCount).toBe(1);
    const second = await login({
      portal: { host: '127.0.0.1', port: t.portals[0]!.port, family: 4 },
      targetName: IQN,
      isid,
    });
    expect(events.filter((e) => e.event === 'login').map((e) => (e as { reinstated: boolean }).reinstated)).toEqual([
      false,
      true,
    ]);
    expect(t.sessionCount).toBe(1);
    expect(second.tsih).not.toBe(first.tsih);
    first.connection.close();
    second.connection.close();
  });

  it('refuses logins beyond maxSessions with 0x0302', async () => {
    const t = await start({ maxSessions: 1 });
    const a = await openLun(t.url(IQN, 0));
    await expect(openLun(t.url(IQN, 0))).rejects.toMatchObject({ status: 0x0302 });
    await a.close();
  });

  it('closes connections beyond maxConnections at once, and logs each command as an event', async () => {
    const t = await start({ maxConnections: 1 });
    const events: TargetEvent[] = [];
    t.on('event', (e) => events.push(e));
    const dev = await openLun(t.url(IQN, 0));
    const extra = connect({ host: '127.0.0.1', port: t.portals[0]!.port });
    const closed = await new Promise<boolean>((resolve) => {
      extra.on('close', () => resolve(true));
      extra.on('error', () => {});
      setTimeout(() => resolve(false), 3000).unref();
    });
    expect(closed).toBe(true);
    await dev.write(0, new Uint8Array(4096).fill(1));
    await dev.close();
    const commands = events.filter((e) => e.event === 'command');
    // READ CAPACITY(16) from openLun, then WRITE(16) of 4096 bytes.
    expect(commands.map((c) => (c as { op: number }).op)).toEqual(expect.arrayContaining([0x9e, 0x8a]));
    expect(commands.find((c) => (c as { op: number }).op === 0x8a)).toMatchObject({ status: 0, bytesOut: 4096 });
  });

  it('aborts a task and resets the LUN for the initiator', async () => {
    const t = await start();
    const loggedIn = await login({
      portal: { host: '127.0.0.1', port: t.portals[0]!.port, family: 4 },
      targetName: IQN,
    });
    const session = new Session(loggedIn);
    const w = buildWrite16Cdb({ lba: 0, blocks: 8, blockSize: 512 });
    await session.execute({ lun: 0, cdb: w.cdb, write: new Uint8Array(4096) }).catch(() => undefined);
    expect(await session.lunReset(0)).toBeGreaterThanOrEqual(0);
    // After the reset the LUN reports it once (UNIT ATTENTION), then works.
    const r = await session.execute({
      lun: 0,
      cdb: buildRead16Cdb({ lba: 0, blocks: 1, blockSize: 512 }).cdb,
      read: { length: 512 },
    });
    expect(r.status).toBe(2);
    const again = await session.execute({
      lun: 0,
      cdb: buildRead16Cdb({ lba: 0, blocks: 1, blockSize: 512 }).cdb,
      read: { length: 512 },
    });
    expect(again.status).toBe(0);
    await session.logout();
  });

  it('asks initiators to log out when stopping, and they do', async () => {
    const t = await start();
    const events: TargetEvent[] = [];
    t.on('event', (e) => events.push(e));
    const dev = await openLun(t.url(IQN, 0));
    await t.stop({ graceMs: 3000 });
    const stop = events.find((e) => e.event === 'stop');
    expect(stop).toEqual({ event: 'stop', sessions: 1, loggedOut: 1 });
    expect(events.some((e) => e.event === 'logout')).toBe(true);
    await dev.close();
  });
});
