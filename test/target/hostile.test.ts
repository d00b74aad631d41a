/**
 * A real target on 127.0.0.1 against hostile raw TCP peers: garbage, oversized and truncated PDUs, random PDUs after
 * a valid login (fast-check), and bad header digests. Oracles: nothing throws in the process, each connection is
 * answered (an immediate NOP-Out ping at the end still gets its NOP-In) or closed, no session is left behind, and a
 * fresh session of our own initiator still writes and reads correctly.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openLun } from '../../src/block/device.js';
import { type EncodeOptions, encodePdu, encodePduBytes } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import type { InitiatorPdu, NopOutPdu, Pdu } from '../../src/pdu/types.js';
import { LoginMachine, type LoginResult } from '../../src/session/login.js';
import type { LocalOffer } from '../../src/session/params.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';
import { pduArbitraries } from '../helpers/arbitraries.js';
import { buildBhs } from '../helpers/pdu-builder.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:hostile';
const PING_ITT = 0x7e5a5a5a;
let target: IscsiTarget;
const processErrors: unknown[] = [];
const onError = (err: unknown) => processErrors.push(err);

beforeAll(async () => {
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  target = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 4 * 1024 * 1024 } }] }],
    loginTimeoutMs: 2000,
    maxTransferLength: 1024 * 1024,
  });
  await target.start();
});

afterAll(async () => {
  await target.stop({ graceMs: 200 });
  process.off('uncaughtException', onError);
  process.off('unhandledRejection', onError);
});

const peers = new Set<RawPeer>();

afterEach(() => {
  for (const p of peers) p.destroy();
  peers.clear();
  expect(processErrors).toEqual([]);
});

/** A raw TCP peer that frames what the target sends. */
class RawPeer {
  readonly socket: Socket;
  readonly #framer = new Framer({ sender: 'target' });
  readonly #pdus: Pdu[] = [];
  #waiter: (() => void) | undefined;
  closed = false;
  received = 0;
  encode: EncodeOptions = {};

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      try {
        this.#framer.push(chunk);
        for (let f = this.#framer.next(); f; f = this.#framer.next()) this.#pdus.push(f.pdu);
      } catch {
        // What we cannot frame still counts as an answer.
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  static async open(): Promise<RawPeer> {
    const port = target.portals[0]!.port;
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const peer = new RawPeer(socket);
    peers.add(peer);
    return peer;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  send(pdu: Pdu): void {
    for (const part of encodePdu(pdu, this.encode)) this.write(part);
  }

  /** Waits until `done()` holds or the connection closes; false on timeout. */
  async until(done: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!done() && !this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }

  /** The next PDU, or undefined when the connection closed or the time ran out. */
  async next(ms = 2000): Promise<Pdu | undefined> {
    await this.until(() => this.#pdus.length > 0, ms);
    return this.#pdus.shift();
  }

  find(pred: (p: Pdu) => boolean): Pdu | undefined {
    return this.#pdus.find(pred);
  }

  /** Logs in with our login machine; digests then apply both ways. */
  async login(offer: Partial<LocalOffer> = {}): Promise<LoginResult> {
    const machine = new LoginMachine({
      initiatorName: 'iqn.2024-01.test:hostile-peer',
      sessionType: 'Normal',
      targetName: IQN,
      isid: 0x800000000000 + Math.floor(Math.random() * 0xffffff),
      cmdSN: 10,
      initiatorTaskTag: 1,
      offer,
    });
    let step = machine.start();
    for (let i = 0; i < 20; i++) {
      if (step.kind !== 'send') break;
      this.send(step.pdu);
      const rsp = await this.next();
      if (!rsp) throw new Error('no login response');
      step = machine.receive(rsp);
    }
    if (step.kind !== 'done') throw new Error(`login ended with ${step.kind}`);
    const { params } = step.result;
    this.encode = { headerDigest: params.headerDigest === 'CRC32C', dataDigest: params.dataDigest === 'CRC32C' };
    this.#framer.configure({ ...this.encode, maxDataSegmentLength: params.maxRecvDataSegmentLength });
    return step.result;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

function ping(cmdSN: number, itt = PING_ITT): NopOutPdu {
  return {
    kind: 'nop-out',
    immediate: true,
    lun: 0n,
    initiatorTaskTag: itt,
    targetTransferTag: 0xffffffff,
    cmdSN,
    expStatSN: 0,
    ahs: [],
    data: Uint8Array.from([1, 2, 3, 4, 5]),
  };
}

/** Waits (bounded) until the target holds no session. */
async function noSessionsLeft(): Promise<void> {
  const deadline = Date.now() + 3000;
  while (target.sessionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(target.sessionCount).toBe(0);
}

/** A fresh session of our own initiator writes and reads back. */
async function stillServes(): Promise<void> {
  await noSessionsLeft();
  const dev = await openLun(target.url(IQN, 0), { commandTimeoutMs: 5000 });
  try {
    const data = randomBytes(64 * 1024 + 512);
    await dev.write(512 * 9, data);
    expect(Buffer.from(await dev.read(512 * 9, data.length)).equals(data)).toBe(true);
  } finally {
    await dev.close();
  }
}

describe('hostile peers against a real target', () => {
  it('drops a connection that sends garbage', async () => {
    const peer = await RawPeer.open();
    peer.write(randomBytes(48).fill(0x3f, 0, 1)); // an opcode no initiator sends
    peer.write(randomBytes(200));
    expect(await peer.until(() => false, 3000)).toBe(true);
    expect(peer.closed).toBe(true);
    await stillServes();
  });

  it('drops a connection announcing a huge DataSegmentLength, before buffering it', async () => {
    const peer = await RawPeer.open();
    peer.write(buildBhs({ opcode: 0x03, immediate: true, byte1: 0x87, dataSegmentLength: 0xffffff }));
    peer.write(new Uint8Array(1000));
    expect(await peer.until(() => false, 3000)).toBe(true);
    expect(peer.closed).toBe(true);
    await stillServes();
  });

  it('survives truncated PDUs followed by a close, during login and after it', async () => {
    const a = await RawPeer.open();
    a.write(buildBhs({ opcode: 0x03, immediate: true, byte1: 0x87, dataSegmentLength: 100 }).subarray(0, 30));
    a.socket.end();
    const b = await RawPeer.open();
    const loggedIn = await b.login();
    const bytes = encodePduBytes(ping(loggedIn.cmdSN));
    b.write(bytes.subarray(0, bytes.length - 3));
    b.socket.end();
    const c = await RawPeer.open();
    c.write(buildBhs({ opcode: 0x03, immediate: true, byte1: 0x87, dataSegmentLength: 100 }));
    c.write(new Uint8Array(40));
    c.destroy();
    await Promise.all([a, b].map((p) => p.until(() => false, 3000)));
    await stillServes();
  });

  it('answers or closes after random PDUs following a valid login (property)', async () => {
    const initiatorKinds = [
      'nop-out',
      'scsi-command',
      'task-management-request',
      'login-request',
      'text-request',
      'data-out',
      'logout-request',
      'snack',
    ] as const;
    const anyInitiatorPdu = fc.oneof(...initiatorKinds.map((k) => pduArbitraries[k] as fc.Arbitrary<InitiatorPdu>));
    // Half of the PDUs get a CmdSN near ExpCmdSN and LUN 0, so they reach the engine instead of being ignored.
    const shaped = fc.record({ pdu: anyInitiatorPdu, near: fc.boolean(), offset: fc.integer({ min: 0, max: 3 }) });
    const started = Date.now();
    let answered = 0;
    let closed = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(shaped, { minLength: 1, maxLength: 4 }), async (items) => {
        const peer = await RawPeer.open();
        try {
          const session = await peer.login();
          for (const { pdu, near, offset } of items) {
            let p: InitiatorPdu = pdu;
            if (near && 'cmdSN' in p) p = { ...p, cmdSN: (session.cmdSN + offset) >>> 0 };
            if (near && 'lun' in p) p = { ...p, lun: 0n };
            if (p.kind === 'scsi-command') p = { ...p, cdb: benign(p.cdb) };
            try {
              peer.send(p);
            } catch {
              // A field the encoder refuses: nothing was written.
            }
          }
          peer.send(ping(session.cmdSN));
          const ok = await peer.until(() => peer.find((p) => p.initiatorTaskTag === PING_ITT) !== undefined, 3000);
          expect(ok).toBe(true);
          if (peer.closed && !peer.find((p) => p.initiatorTaskTag === PING_ITT)) closed++;
          else answered++;
        } finally {
          peer.destroy();
        }
      }),
      { numRuns: 50 },
    );
    expect(answered + closed).toBe(50);
    expect(Date.now() - started).toBeLessThan(15_000);
    await stillServes();
  }, 30_000);

  it('drops a connection whose PDU has a bad header digest once HeaderDigest=CRC32C', async () => {
    const peer = await RawPeer.open();
    const session = await peer.login({ headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] });
    expect(peer.encode).toEqual({ headerDigest: true, dataDigest: true });
    peer.send(ping(session.cmdSN, 0x1111));
    const answer = await peer.next();
    expect(answer).toMatchObject({ kind: 'nop-in', initiatorTaskTag: 0x1111 });
    expect([...answer!.data]).toEqual([1, 2, 3, 4, 5]);
    const parts = encodePdu(ping(session.cmdSN, 0x2222), peer.encode);
    const header = parts[0]!.slice();
    header[header.length - 1]! ^= 0x5a; // the CRC32C after the BHS
    peer.write(header);
    for (const part of parts.slice(1)) peer.write(part);
    expect(await peer.until(() => false, 3000)).toBe(true);
    expect(peer.closed).toBe(true);
    expect(peer.find((p) => p.initiatorTaskTag === 0x2222)).toBeUndefined();
    await stillServes();
  });

  it('rejects a PDU with a bad data digest and keeps the session', async () => {
    const peer = await RawPeer.open();
    const session = await peer.login({ headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] });
    const parts = encodePdu(ping(session.cmdSN, 0x3333), peer.encode);
    const tail = parts.at(-1)!.slice();
    tail[tail.length - 1]! ^= 0xff;
    for (const part of [...parts.slice(0, -1), tail]) peer.write(part);
    const reject = await peer.next();
    expect(reject).toMatchObject({ kind: 'reject', reason: 0x02 });
    peer.send(ping(session.cmdSN, 0x4444));
    expect(await peer.next()).toMatchObject({ kind: 'nop-in', initiatorTaskTag: 0x4444 });
    peer.destroy();
    await stillServes();
  });
});

/**
 * Random CDBs stay random, except opcodes whose effects outlive the session and would make the final check fail
 * for reasons that are not bugs: reservations, START STOP UNIT, FORMAT, SANITIZE, MODE SELECT.
 */
function benign(cdb: Uint8Array): Uint8Array {
  const lasting = new Set([0x04, 0x15, 0x16, 0x17, 0x1b, 0x48, 0x55, 0x56, 0x57, 0x5f]);
  if (!lasting.has(cdb[0]!)) return cdb;
  const out = cdb.slice();
  out[0] = 0x00;
  return out;
}
