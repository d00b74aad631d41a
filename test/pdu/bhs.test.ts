/**
 * BHS field readers: u64 (the LUN field) against a reference built byte by byte, with the precomputed single-level
 * peripheral LUNs and every other pattern with or without a zero low word.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PERIPHERAL_LUNS, u64 } from '../../src/pdu/bhs.js';
import { lunFromNumber } from '../../src/pdu/lun.js';

const reference = (b: Uint8Array, at: number): bigint => {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(b[at + i]!);
  return v;
};

describe('u64', () => {
  it('matches a byte-by-byte reference for any 8 bytes at any offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 16 }), fc.nat(8), (b, o) => {
        const at = Math.min(o, b.length - 8);
        return u64(b, at) === reference(b, at);
      }),
      { numRuns: 500 },
    );
  });

  it('matches it when the low word is zero (the precomputed path), whatever the high word', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (hi) => {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setUint32(0, hi);
        return u64(b, 0) === reference(b, 0);
      }),
      { numRuns: 500 },
    );
    const b = new Uint8Array(8);
    b[1] = 0xff;
    b[2] = 0x01; // not a peripheral LUN: byte 2 set
    expect(u64(b, 0)).toBe(0x00ff010000000000n);
  });

  it('has the peripheral LUN table equal to lunFromNumber for 0-255', () => {
    expect(PERIPHERAL_LUNS).toHaveLength(256);
    for (let n = 0; n < 256; n++) expect(PERIPHERAL_LUNS[n]).toBe(lunFromNumber(n));
  });
});
