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

describe('parseResponseData (§11.4.7)', () => {
  it('splits SenseLength, sense data and response data', () => {
    const r = parseResponseData(Uint8Array.of(0, 3, 0x70, 0, 6, 0xee));
    expect(r.sense).toEqual(Uint8Array.of(0x70, 0, 6));
    expect(r.responseData).toEqual(Uint8Array.of(0xee));
    expect(parseResponseData(new Uint8Array(0))).toEqual({ sense: undefined, responseData: undefined });
  });
  it('refuses a SenseLength beyond the segment', () => {
    expect(() => parseResponseData(Uint8Array.of(0, 9, 1, 2))).toThrow(ProtocolError);
    expect(() => parseResponseData(Uint8Array.of(0))).toThrow(ProtocolError);
  });
});
