/**
 * The session's use of the framer's placement hook: Data-In that reach the socket in pieces go straight into the
 * command's read buffer, refused ones take the ordinary path and fail as before, and a command given up while
 * its Data-In is being placed never sees its buffer written again.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError, TimeoutError } from '../../src/errors.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { Framer, type PlacementHook } from '../../src/pdu/framer.js';
import type { DataInPdu, ScsiCommandPdu } from '../../src/pdu/types.js';
import { bytes, type FakeTarget, type Harness, READ_10, setupSession, TUR } from '../helpers/fake-target.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.restoreAllMocks();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Counts the destinations the session's hook grants. */
function countGrants(): { granted: number } {
  const counter = { granted: 0 };
  const original = Framer.prototype.setPlacement;
  vi.spyOn(Framer.prototype, 'setPlacement').mockImplementation(function (this: Framer, hook) {
    const counting: PlacementHook | undefined =
      hook &&
      ((h) => {
        const d = hook(h);
        if (d) counter.granted++;
        return d;
      });
    original.call(this, counting);
  });
  return counter;
}

/** Sends a Data-In in two writes with a pause between, so it reaches the session as two socket chunks. */
async function dataInInPieces(
  target: FakeTarget,
  cmd: ScsiCommandPdu,
  o: Partial<DataInPdu> & { bufferOffset: number; data: Uint8Array; dataSN: number },
  cut: number,
): Promise<void> {
  const s = !!o.statusPresent;
  const pdu: DataInPdu = {
    kind: 'data-in',
    final: s,
    acknowledge: false,
    residualOverflow: false,
    residualUnderflow: false,
    statusPresent: false,
    status: 0,
    lun: 0n,
    initiatorTaskTag: cmd.initiatorTaskTag,
    targetTransferTag: 0xffffffff,
    residualCount: 0,
    ahs: [],
    ...target.seq(s),
    ...(s ? {} : { statSN: 0 }),
    ...o,
  };
  const wire = Buffer.concat(encodePdu(pdu));
  target.socket.write(wire.subarray(0, cut));
  await sleep(30);
  target.socket.write(wire.subarray(cut));
}

const setup = (): Promise<Harness> => setupSession(cleanups, {}, {});

describe('Session: Data-In placement', () => {
  it('places Data-In that arrive in pieces straight into the caller buffer', async () => {
    const grants = countGrants();
    const { target, session } = await setup();
    const into = new Uint8Array(6000);
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { into } });
    const cmd = await target.next('scsi-command');
    const data = bytes(6000, 3);
    await dataInInPieces(target, cmd, { dataSN: 0, bufferOffset: 0, data: data.subarray(0, 4000) }, 1000);
    await dataInInPieces(
      target,
      cmd,
      { dataSN: 1, bufferOffset: 4000, data: data.subarray(4000), statusPresent: true },
      30,
    );
    const r = await pending;
    expect(grants.granted).toBe(2);
    expect(r).toMatchObject({ status: 0, bytesIn: 6000 });
    expect(r.data!.buffer).toBe(into.buffer);
    expect(into).toEqual(data);
  });

  it('refuses to place a Data-In with the wrong DataSN or beyond the read; the command fails as before', async () => {
    const grants = countGrants();
    const { target, session } = await setup();
    const into = new Uint8Array(3000).fill(0xaa);
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { into } });
    const cmd = await target.next('scsi-command');
    await dataInInPieces(target, cmd, { dataSN: 1, bufferOffset: 0, data: bytes(2000) }, 100);
    await expect(pending).rejects.toThrow(/DataSN 1, expected 0/);

    const second = new Uint8Array(3000).fill(0xaa);
    const next = session.execute({ lun: 0, cdb: READ_10, read: { into: second } });
    const cmd2 = await target.next('scsi-command');
    await dataInInPieces(target, cmd2, { dataSN: 0, bufferOffset: 2000, data: bytes(1001) }, 100);
    await expect(next).rejects.toThrow(ProtocolError);
    expect(grants.granted).toBe(0);
    expect(into.every((b) => b === 0xaa)).toBe(true);
    expect(second.every((b) => b === 0xaa)).toBe(true);
  });

  it('stops writing into the buffer of a command given up while its Data-In is arriving', async () => {
    const abandon = vi.spyOn(Framer.prototype, 'abandonPlacement');
    const { target, session } = await setup();
    const into = new Uint8Array(4000);
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { into }, timeoutMs: 150 });
    const cmd = await target.next('scsi-command');
    const pdu = encodePdu({
      kind: 'data-in',
      final: true,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      statusPresent: true,
      status: 0,
      lun: 0n,
      initiatorTaskTag: cmd.initiatorTaskTag,
      targetTransferTag: 0xffffffff,
      residualCount: 0,
      dataSN: 0,
      bufferOffset: 0,
      ahs: [],
      data: bytes(4000, 9),
      ...target.seq(true),
    });
    const wire = Buffer.concat(pdu);
    target.socket.write(wire.subarray(0, 48 + 1500));
    await expect(pending).rejects.toThrow(TimeoutError);
    expect(abandon).toHaveBeenCalled();
    expect(into.subarray(0, 1500)).toEqual(bytes(4000, 9).subarray(0, 1500)); // placed before the timeout
    into.fill(0x55); // the caller reuses its buffer
    target.socket.write(wire.subarray(48 + 1500));
    // The rest of the PDU is read and dropped (its ITT is stale); the session goes on.
    const tur = session.execute({ lun: 0, cdb: TUR });
    const turCmd = await target.next('scsi-command');
    target.response(turCmd);
    expect(await tur).toMatchObject({ status: 0 });
    expect(into.every((b) => b === 0x55)).toBe(true);
  });
});

describe('Session: reads through the reusable socket buffer', () => {
  it('reassembles a burst of Data-In straddling socket reads, and keeps sense data after later reads', async () => {
    const { target, session } = await setup();
    const total = 97 * 5003; // segments that do not line up with the 64 KiB reads
    const pending = session.execute({ lun: 0, cdb: READ_10, read: { length: total } });
    const cmd = await target.next('scsi-command');
    const data = bytes(total, 11);
    for (let i = 0, at = 0; at < total; i++, at += 5003) {
      target.dataIn(cmd, { dataSN: i, bufferOffset: at, data: data.subarray(at, at + 5003) });
    }
    target.response(cmd);
    const r = await pending;
    expect(r.bytesIn).toBe(total);
    expect(Buffer.compare(Buffer.from(r.data!), Buffer.from(data))).toBe(0);

    const failing = session.execute({ lun: 0, cdb: TUR });
    const tur = await target.next('scsi-command');
    const sense = Uint8Array.of(0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0);
    const segment = new Uint8Array(2 + sense.length);
    segment[1] = sense.length;
    segment.set(sense, 2);
    target.response(tur, { status: 2, data: segment });
    const checked = await failing;
    // More traffic through the same read buffer.
    const again = session.execute({ lun: 0, cdb: READ_10, read: { length: 70000 } });
    const cmd2 = await target.next('scsi-command');
    for (let i = 0; i < 10; i++) {
      const last = i === 9;
      target.dataIn(cmd2, {
        dataSN: i,
        bufferOffset: i * 7000,
        data: new Uint8Array(7000).fill(0xff),
        statusPresent: last,
      });
    }
    await again;
    expect(Array.from(checked.sense!)).toEqual(Array.from(sense));
  });
});
