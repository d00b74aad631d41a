/**
 * The framer's placement path (Framer.setPlacement): Data-In data segments written straight into a destination
 * chosen from the header, and the same PDUs, checks and errors as the ordinary path.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestError, InvalidArgumentError, ProtocolError } from '../../src/errors.js';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { type FramedPdu, Framer, type PlacementHook } from '../../src/pdu/framer.js';
import type { DataInPdu, Pdu } from '../../src/pdu/types.js';
import { DataInBuffer } from '../../src/session/data-in.js';
import { anyPdu } from '../helpers/arbitraries.js';

const big = { maxDataSegmentLength: 0xffffff };

function dataIn(o: Partial<DataInPdu> & { data: Uint8Array }): DataInPdu {
  return {
    kind: 'data-in',
    final: false,
    acknowledge: false,
    residualOverflow: false,
    residualUnderflow: false,
    statusPresent: false,
    status: 0,
    lun: 0n,
    initiatorTaskTag: 7,
    targetTransferTag: 0xffffffff,
    statSN: 0,
    expCmdSN: 1,
    maxCmdSN: 9,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    ahs: [],
    ...o,
  };
}

const pattern = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** Bytes 40-43 of a Data-In BHS: BufferOffset. */
const bufferOffset = (h: Uint8Array) => ((h[40]! << 24) | (h[41]! << 16) | (h[42]! << 8) | h[43]!) >>> 0;
const dslOf = (h: Uint8Array) => (h[5]! << 16) | (h[6]! << 8) | h[7]!;

/** A hook placing every Data-In at its BufferOffset in `backing`, recording the headers it saw. */
function recordingHook(backing: Uint8Array): { hook: PlacementHook; seen: number[] } {
  const seen: number[] = [];
  const hook: PlacementHook = (h) => {
    seen.push(bufferOffset(h));
    return backing.subarray(bufferOffset(h), bufferOffset(h) + dslOf(h));
  };
  return { hook, seen };
}

function frameAll(framer: Framer, chunks: readonly Uint8Array[]): FramedPdu[] {
  const out: FramedPdu[] = [];
  for (const c of chunks) {
    framer.push(c);
    for (let f = framer.next(); f; f = framer.next()) out.push(f);
  }
  return out;
}

/** A plain Uint8Array view, so Buffers and Uint8Arrays compare by content. */
const u8 = (b: Uint8Array) => new Uint8Array(b.buffer, b.byteOffset, b.length);

const sameView = (a: Uint8Array, b: Uint8Array) => a.buffer === b.buffer && a.byteOffset === b.byteOffset;

describe('Framer placement', () => {
  for (const [headerDigest, dataDigest] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`places a Data-In split at every byte (header digest ${headerDigest}, data digest ${dataDigest})`, () => {
      const pdu = dataIn({ bufferOffset: 5, data: pattern(13) }); // 3 bytes of padding
      const wire = encodePduBytes(pdu, { headerDigest, dataDigest });
      for (let cut = 1; cut < wire.length; cut++) {
        const backing = new Uint8Array(32).fill(0xee);
        const { hook, seen } = recordingHook(backing);
        const framer = new Framer({ headerDigest, dataDigest });
        framer.setPlacement(hook);
        const got = frameAll(framer, [wire.subarray(0, cut), wire.subarray(cut)]);
        expect(got).toHaveLength(1);
        const f = got[0]!;
        expect(f.placed).toBe(true);
        expect(seen).toEqual([5]); // asked once, once the header was complete
        expect(sameView(f.pdu.data, backing.subarray(5))).toBe(true);
        expect(f.pdu).toEqual(pdu);
        expect(u8(f.wire)).toEqual(u8(wire));
        // Only the data segment was written: padding and digests are not.
        expect(Array.from(backing.subarray(0, 5))).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
        expect(backing.subarray(5, 18)).toEqual(pattern(13));
        expect(backing.subarray(18).every((b) => b === 0xee)).toBe(true);
        expect(framer.bufferedBytes).toBe(0);
      }
    });
  }

  it('counts the bytes of a PDU being placed as buffered until it is handed out', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(100) }), { dataDigest: true });
    const framer = new Framer({ dataDigest: true });
    framer.setPlacement(recordingHook(new Uint8Array(100)).hook);
    for (let at = 0; at < wire.length - 1; at++) {
      framer.push(wire.subarray(at, at + 1));
      expect(framer.next()).toBeUndefined();
      expect(framer.bufferedBytes).toBe(at + 1);
    }
    framer.push(wire.subarray(wire.length - 1));
    expect(framer.next()?.placed).toBe(true);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('hands out a PDU inside one chunk as a view, without asking the hook', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(64) }));
    const { hook, seen } = recordingHook(new Uint8Array(64));
    const framer = new Framer();
    framer.setPlacement(hook);
    const [f] = frameAll(framer, [wire]);
    expect(seen).toEqual([]);
    expect(f!.placed).toBeUndefined();
    expect(sameView(f!.pdu.data, wire.subarray(48))).toBe(true);
  });

  it('never offers other PDUs, nor a Data-In without data', () => {
    const nop: Pdu = {
      kind: 'nop-in',
      lun: 0n,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffffffff,
      statSN: 1,
      expCmdSN: 2,
      maxCmdSN: 3,
      ahs: [],
      data: pattern(40),
    };
    const stream = [
      encodePduBytes(nop),
      encodePduBytes(dataIn({ data: new Uint8Array(0), final: true, statusPresent: true })),
    ];
    const framer = new Framer();
    const { hook, seen } = recordingHook(new Uint8Array(64));
    framer.setPlacement(hook);
    const all = Buffer.concat(stream);
    const got = frameAll(
      framer,
      Array.from({ length: all.length }, (_, i) => all.subarray(i, i + 1)),
    );
    expect(got.map((f) => f.pdu.kind)).toEqual(['nop-in', 'data-in']);
    expect(seen).toEqual([]);
  });

  it('does not ask the hook when the header digest is wrong, and fails as without a hook (RFC 7143 §7.8)', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(20) }), { headerDigest: true });
    wire[49]! ^= 1; // the header digest
    const { hook, seen } = recordingHook(new Uint8Array(20));
    const framer = new Framer({ headerDigest: true });
    framer.setPlacement(hook);
    framer.push(wire.subarray(0, 60));
    expect(framer.next()).toBeUndefined();
    framer.push(wire.subarray(60));
    expect(() => framer.next()).toThrow(DigestError);
    expect(seen).toEqual([]);
    expect(() => framer.next()).toThrow(DigestError); // failed for good
  });

  it('reports a bad data digest with the ITT and stays in step (§7.8)', () => {
    const bad = encodePduBytes(dataIn({ data: pattern(30), initiatorTaskTag: 0x1234 }), { dataDigest: true });
    bad[bad.length - 1]! ^= 0x80;
    const good = encodePduBytes(dataIn({ data: pattern(30, 9), bufferOffset: 30, dataSN: 1 }), { dataDigest: true });
    const backing = new Uint8Array(60);
    const framer = new Framer({ dataDigest: true });
    framer.setPlacement(recordingHook(backing).hook);
    framer.push(bad.subarray(0, 50));
    expect(framer.next()).toBeUndefined();
    framer.push(bad.subarray(50));
    let err: unknown;
    try {
      framer.next();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DigestError);
    expect(err).toMatchObject({ which: 'data', itt: 0x1234 });
    const [f] = frameAll(framer, [good.subarray(0, 70), good.subarray(70)]);
    expect(f!.placed).toBe(true);
    expect(backing.subarray(30)).toEqual(pattern(30, 9));
  });

  it('refuses non-zero padding and stays in step', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(5) }));
    wire[48 + 6] = 1;
    const framer = new Framer();
    framer.setPlacement(recordingHook(new Uint8Array(5)).hook);
    framer.push(wire.subarray(0, 50));
    framer.next();
    framer.push(wire.subarray(50));
    expect(() => framer.next()).toThrow(/padding/);
    expect(frameAll(framer, [encodePduBytes(dataIn({ data: pattern(4) }))])).toHaveLength(1);
  });

  it('takes the ordinary path when the hook returns undefined, asking it once per PDU', () => {
    const pdu = dataIn({ data: pattern(50) });
    const wire = encodePduBytes(pdu, { headerDigest: true, dataDigest: true });
    let calls = 0;
    const framer = new Framer({ headerDigest: true, dataDigest: true });
    framer.setPlacement(() => {
      calls++;
      return undefined;
    });
    const got = frameAll(
      framer,
      Array.from({ length: wire.length }, (_, i) => wire.subarray(i, i + 1)),
    );
    expect(calls).toBe(1);
    expect(got[0]!.placed).toBeUndefined();
    expect(got[0]!.pdu).toEqual(pdu);
    // The next PDU is offered again.
    frameAll(framer, [wire.subarray(0, 60), wire.subarray(60)]);
    expect(calls).toBe(2);
  });

  it('with DataInBuffer.slot as the hook, refuses out-of-bounds and overlapping data before writing', () => {
    const backing = new Uint8Array(40).fill(0xaa);
    const buffer = new DataInBuffer(backing.subarray(0, 16), false);
    const framer = new Framer();
    framer.setPlacement((h) => buffer.slot(bufferOffset(h), dslOf(h)));
    const feed = (pdu: DataInPdu) => {
      const wire = encodePduBytes(pdu);
      return frameAll(framer, [wire.subarray(0, 50), wire.subarray(50)]);
    };
    // Beyond the 16-byte read: not placed, so the session's place() reports it; nothing written.
    const [over] = feed(dataIn({ bufferOffset: 8, data: pattern(9) }));
    expect(over!.placed).toBeUndefined();
    expect(() => buffer.place(8, over!.pdu.data)).toThrow(/overflows/);
    expect(backing.every((b) => b === 0xaa)).toBe(true);
    // In bounds: placed, then accepted by place() without a copy.
    const [first] = feed(dataIn({ bufferOffset: 4, data: pattern(8) }));
    expect(first!.placed).toBe(true);
    buffer.place(4, first!.pdu.data);
    expect(backing.subarray(4, 12)).toEqual(pattern(8));
    // Overlapping what was placed: refused, and the placed bytes stay.
    const [overlap] = feed(dataIn({ bufferOffset: 10, data: pattern(4, 77) }));
    expect(overlap!.placed).toBeUndefined();
    expect(() => buffer.place(10, overlap!.pdu.data)).toThrow(/overlaps/);
    expect(backing.subarray(4, 12)).toEqual(pattern(8));
  });

  it('stops writing into the destination once the placement is abandoned', () => {
    const pdu = dataIn({ data: pattern(64) });
    const wire = encodePduBytes(pdu, { dataDigest: true });
    const backing = new Uint8Array(64);
    const framer = new Framer({ dataDigest: true });
    framer.setPlacement(recordingHook(backing).hook);
    framer.push(wire.subarray(0, 48 + 20));
    expect(framer.next()).toBeUndefined();
    expect(backing.subarray(0, 20)).toEqual(pattern(64).subarray(0, 20));
    framer.abandonPlacement();
    backing.fill(0x55); // the caller reuses its buffer
    framer.push(wire.subarray(48 + 20));
    const f = framer.next()!;
    expect(f.placed).toBe(false);
    expect(backing.every((b) => b === 0x55)).toBe(true);
    expect(f.pdu).toEqual(pdu); // the whole segment, in a buffer of its own
    expect(u8(f.wire)).toEqual(u8(wire));
    framer.abandonPlacement(); // nothing in progress: no effect
  });

  it('refuses a destination of the wrong size and nextLenient during a placement', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(30) }));
    const framer = new Framer();
    framer.setPlacement(() => new Uint8Array(29));
    framer.push(wire.subarray(0, 50));
    expect(() => framer.next()).toThrow(InvalidArgumentError);
    const other = new Framer();
    other.setPlacement(() => new Uint8Array(30));
    other.push(wire.subarray(0, 50));
    expect(other.next()).toBeUndefined();
    expect(() => other.nextLenient()).toThrow(InvalidArgumentError);
  });

  it('checks the PDU fields when it is complete, as the ordinary path does', () => {
    const wire = encodePduBytes(dataIn({ data: pattern(30) }));
    wire[2] = 0x01; // reserved byte of the Data-In BHS
    const framer = new Framer();
    framer.setPlacement(() => new Uint8Array(30));
    framer.push(wire.subarray(0, 50));
    framer.next();
    framer.push(wire.subarray(50));
    expect(() => framer.next()).toThrow(ProtocolError);
  });

  it('detach copies what is still queued, so the caller can reuse its read buffer (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            anyPdu,
            fc.uint8Array({ maxLength: 200 }).map((data) => dataIn({ data })),
          ),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        fc.integer({ min: 1, max: 300 }),
        fc.boolean(),
        (pdus, readSize, hook) => {
          const stream = Buffer.concat(pdus.map((p) => encodePduBytes(p)));
          const reused = new Uint8Array(readSize);
          const framer = new Framer(big);
          if (hook) framer.setPlacement((h) => new Uint8Array(dslOf(h)));
          const got: Pdu[] = [];
          for (let at = 0; at < stream.length; at += readSize) {
            const n = Math.min(readSize, stream.length - at);
            reused.set(stream.subarray(at, at + n));
            framer.push(reused.subarray(0, n));
            // PDUs handed out may view the read buffer: compare them before the next read.
            for (let f = framer.next(); f; f = framer.next()) got.push(structuredClone(f.pdu));
            framer.detach();
            reused.fill(0xcc);
          }
          expect(got).toEqual(pdus.map((p) => structuredClone(p)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('frames the same PDUs with and without the hook, for any chunking (property)', () => {
    const anyDataIn = fc
      .record({ data: fc.uint8Array({ maxLength: 300 }), dataSN: fc.nat(5), statusPresent: fc.boolean() })
      .map(({ data, dataSN, statusPresent }) =>
        dataIn({ data, dataSN, final: statusPresent, statusPresent, bufferOffset: 0 }),
      );
    let placedTotal = 0;
    fc.assert(
      fc.property(
        fc.array(fc.oneof(anyPdu, anyDataIn, anyDataIn), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 16 }),
        fc.boolean(),
        fc.boolean(),
        (pdus, cuts, headerDigest, dataDigest) => {
          const stream = Buffer.concat(pdus.map((p) => encodePduBytes(p, { headerDigest, dataDigest })));
          const points = [...new Set(cuts.map((c) => c % stream.length)), stream.length].sort((a, b) => a - b);
          const chunks = points.map((p, i) => stream.subarray(i === 0 ? 0 : points[i - 1]!, p));
          const options = { ...big, headerDigest, dataDigest };
          const plain = frameAll(new Framer(options), chunks);
          const placing = new Framer(options);
          const destinations: Uint8Array[] = [];
          placing.setPlacement((h) => {
            const d = new Uint8Array(dslOf(h) + 8).subarray(4, 4 + dslOf(h));
            destinations.push(d);
            return d;
          });
          const placed = frameAll(placing, chunks);
          expect(placed.map((f) => f.pdu)).toEqual(plain.map((f) => f.pdu));
          expect(placed.map((f) => u8(f.wire))).toEqual(plain.map((f) => u8(f.wire)));
          const used = placed.filter((f) => f.placed).map((f) => f.pdu.data);
          expect(used).toHaveLength(destinations.length);
          expect(used.every((d, i) => sameView(d, destinations[i]!))).toBe(true);
          expect(placing.bufferedBytes).toBe(0);
          placedTotal += used.length;
        },
      ),
      { numRuns: 300 },
    );
    expect(placedTotal).toBeGreaterThan(50); // the placement path was exercised, not only the ordinary one
  });
});
