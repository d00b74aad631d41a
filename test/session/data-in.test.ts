import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { DataInBuffer, parseResponseData } from '../../src/session/data-in.js';

/** Splits [0, total) at the given cut points into segments. */
function segments(total: number, cuts: number[]): [number, number][] {
  const points = [...new Set([0, ...cuts.map((c) => c % total), total])].sort((a, b) => a - b);
  return points.slice(1).map((end, i) => [points[i]!, end]);
}

describe('DataInBuffer (RFC 7143 §11.7, §13.18)', () => {
  it('with DataPDUInOrder=No, places segments arriving in any order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4096 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.nat(),
        (total, cuts, seed) => {
          const source = Uint8Array.from({ length: total }, (_, i) => (i * 7 + 3) & 0xff);
          const parts = segments(total, cuts);
          // A deterministic shuffle from the seed.
          const order = parts.map((p, i) => ({ p, k: (i * 2654435761 + seed) >>> 0 })).sort((a, b) => a.k - b.k);
          const buf = new DataInBuffer(new Uint8Array(total), false);
          for (const { p } of order) {
            expect(buf.contiguous).toBeLessThanOrEqual(total);
            buf.place(p[0], source.subarray(p[0], p[1]));
          }
          expect([buf.bytes, buf.contiguous]).toEqual([total, total]);
          expect(buf.buffer).toEqual(source);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with DataPDUInOrder=Yes, refuses a segment that does not continue the previous one', () => {
    const buf = new DataInBuffer(new Uint8Array(100), true);
    buf.place(0, new Uint8Array(10));
    expect(() => buf.place(20, new Uint8Array(10))).toThrow(ProtocolError);
    buf.place(10, new Uint8Array(90));
    expect(buf.contiguous).toBe(100);
  });

  it('refuses data beyond the expected length and never writes outside the buffer', () => {
    const backing = new Uint8Array(32).fill(0xaa);
    const buf = new DataInBuffer(backing.subarray(0, 16), false);
    expect(() => buf.place(8, new Uint8Array(9))).toThrow(/overflows the 16-byte read/);
    expect(() => buf.place(0xffffffff, new Uint8Array(1))).toThrow(ProtocolError);
    expect(backing.every((b) => b === 0xaa)).toBe(true);
  });

  it('refuses overlapping segments, including one that spans a hole and the next range', () => {
    const buf = new DataInBuffer(new Uint8Array(40), false);
    buf.place(0, new Uint8Array(10));
    buf.place(20, new Uint8Array(10));
    expect(() => buf.place(10, new Uint8Array(15))).toThrow(/overlaps/);
    expect(() => buf.place(5, new Uint8Array(2))).toThrow(/overlaps/);
    expect(() => buf.place(25, new Uint8Array(10))).toThrow(/overlaps/);
    buf.place(10, new Uint8Array(10)); // fills the hole exactly: the ranges merge
    expect(buf.contiguous).toBe(30);
  });
});

describe('DataInBuffer.slot (where the framer may place a segment)', () => {
  it('gives the view place() would fill, and undefined wherever place() would throw', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(fc.tuple(fc.nat(40), fc.nat(20)), { maxLength: 10 }), (inOrder, attempts) => {
        const buf = new DataInBuffer(new Uint8Array(48), inOrder);
        for (const [offset, length] of attempts) {
          const slot = buf.slot(offset, length);
          const before = [buf.bytes, buf.contiguous];
          let threw = false;
          try {
            buf.place(offset, new Uint8Array(length).fill(offset + 1));
          } catch (err) {
            expect(err).toBeInstanceOf(ProtocolError);
            threw = true;
          }
          if (length === 0) expect(slot).toBeUndefined();
          else if (threw) {
            expect(slot).toBeUndefined();
            expect([buf.bytes, buf.contiguous]).toEqual(before);
          } else {
            expect(slot).toBeDefined();
            expect(slot!.byteOffset).toBe(offset);
            expect(slot!.length).toBe(length);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a segment already in place without copying, with the same checks', () => {
    const backing = new Uint8Array(64);
    const buf = new DataInBuffer(backing.subarray(8, 40), true);
    const slot = buf.slot(0, 16)!;
    slot.fill(7); // what the framer does
    buf.place(0, slot);
    expect([buf.bytes, buf.contiguous]).toEqual([16, 16]);
    expect(backing.subarray(8, 24).every((b) => b === 7)).toBe(true);
    // The same bytes again: an overlap, refused as for any other segment.
    expect(() => buf.place(0, slot)).toThrow(/expected 16/);
    // A view of the same buffer at another offset is copied, not taken as placed.
    buf.place(16, backing.subarray(8, 24));
    expect(backing.subarray(24, 40).every((b) => b === 7)).toBe(true);
    expect(buf.contiguous).toBe(32);
  });
});

describe('parseResponseData (§11.4.7)', () => {
  it('splits SenseLength, sense data and response data', () => {
    const r = parseResponseData(Uint8Array.of(0, 3, 0x70, 0, 6, 0xee));
    expect(r.sense).toEqual(Uint8Array.of(0x70, 0, 6));
    expect(r.responseData).toEqual(Uint8Array.of(0xee));
    expect(parseResponseData(new Uint8Array(0))).toEqual({ sense: undefined, responseData: undefined });
  });
  it('copies the sense data even out of a Buffer (whose slice would be a view)', () => {
    const segment = Buffer.from([0, 2, 0x70, 0x05, 9]);
    const { sense, responseData } = parseResponseData(segment);
    segment.fill(0);
    expect(Array.from(sense!)).toEqual([0x70, 0x05]);
    expect(Array.from(responseData!)).toEqual([9]);
  });

  it('refuses a SenseLength beyond the segment', () => {
    expect(() => parseResponseData(Uint8Array.of(0, 9, 1, 2))).toThrow(ProtocolError);
    expect(() => parseResponseData(Uint8Array.of(0))).toThrow(ProtocolError);
  });
});
