import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IscsiError } from '../../src/errors.js';
import { decodePdu, decodePduLenient } from '../../src/pdu/decode.js';
import { encodePdu, encodePduBytes } from '../../src/pdu/encode.js';
import { anyPdu, pduArbitraries } from '../helpers/arbitraries.js';

const digestModes = [
  { headerDigest: false, dataDigest: false },
  { headerDigest: true, dataDigest: false },
  { headerDigest: false, dataDigest: true },
  { headerDigest: true, dataDigest: true },
];

describe('PDU round trips (RFC 7143 §11)', () => {
  for (const [kind, arb] of Object.entries(pduArbitraries)) {
    it(`decode(encode(pdu)) is pdu and encode(decode(bytes)) is bytes: ${kind}`, () => {
      fc.assert(
        fc.property(arb, fc.constantFrom(...digestModes), (pdu, digests) => {
          const bytes = encodePduBytes(pdu, digests);
          const decoded = decodePdu(bytes, digests);
          expect(decoded).toEqual(pdu);
          expect(encodePduBytes(decoded, digests)).toEqual(bytes);
        }),
        { numRuns: 150 },
      );
    });
  }

  it('the wire length is 48 + AHS + digests + padded data, and the buffers are 4-byte aligned', () => {
    fc.assert(
      fc.property(anyPdu, fc.constantFrom(...digestModes), (pdu, digests) => {
        const parts = encodePdu(pdu, digests);
        expect(parts[1] === undefined || parts[1] === pdu.data).toBe(true);
        const total = parts.reduce((n, p) => n + p.length, 0);
        expect(total % 4).toBe(0);
        const ahs = parts[0]![4]! * 4;
        const padded = Math.ceil(pdu.data.length / 4) * 4;
        const expected =
          48 + ahs + (digests.headerDigest ? 4 : 0) + padded + (digests.dataDigest && pdu.data.length ? 4 : 0);
        expect(total).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

describe('lenient decoding keeps every bit', () => {
  it('any 48-byte BHS with a known opcode re-encodes byte for byte, reserved bits included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 48, maxLength: 48 }), anyPdu, (random, pdu) => {
        const bhs = new Uint8Array(random);
        const valid = encodePduBytes({ ...pdu, ahs: [], data: new Uint8Array(0) });
        bhs[0] = (bhs[0]! & 0xc0) | (valid[0]! & 0x3f);
        bhs.fill(0, 4, 8); // no AHS, no data: the rest of the BHS is arbitrary
        const { pdu: decoded, violations } = decodePduLenient(bhs);
        expect(decoded).toBeDefined();
        expect(encodePduBytes(decoded!)).toEqual(bhs);
        if (decoded!.deviations) expect(violations.length).toBeGreaterThan(0);
        for (const v of violations) expect(v).toBeInstanceOf(IscsiError);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('malformed input gives typed errors only', () => {
  const check = (bytes: Uint8Array, options = {}) => {
    try {
      decodePdu(bytes, options);
    } catch (err) {
      expect(err).toBeInstanceOf(IscsiError);
      expect((err as IscsiError).code).toMatch(/^ERR_ISCSI_/);
    }
    const lenient = decodePduLenient(bytes, options);
    for (const v of lenient.violations) expect(v).toBeInstanceOf(IscsiError);
  };

  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.constantFrom(...digestModes), (b, d) => check(b, d)),
      { numRuns: 3000 },
    );
  });

  it('truncations of valid PDUs', () => {
    fc.assert(
      fc.property(anyPdu, fc.nat(), (pdu, cut) => {
        const bytes = encodePduBytes(pdu);
        const at = cut % bytes.length;
        expect(() => decodePdu(bytes.subarray(0, at))).toThrowError(IscsiError);
        check(bytes.subarray(0, at));
      }),
      { numRuns: 1000 },
    );
  });

  it('bit flips in valid PDUs, with and without digests', () => {
    fc.assert(
      fc.property(
        anyPdu,
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.constantFrom(...digestModes),
        (pdu, at, bit, d) => {
          const bytes = encodePduBytes(pdu, d);
          bytes[at % bytes.length]! ^= 1 << bit;
          check(bytes, d);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('huge lengths are refused without allocating them', () => {
    fc.assert(
      fc.property(anyPdu, fc.integer({ min: 0x10000, max: 0xffffff }), (pdu, dsl) => {
        const bytes = encodePduBytes({ ...pdu, data: new Uint8Array(0) } as typeof pdu);
        bytes[5] = dsl >> 16;
        bytes[6] = dsl >> 8;
        bytes[7] = dsl;
        expect(() => decodePdu(bytes)).toThrowError(/needs \d+ bytes/);
      }),
      { numRuns: 200 },
    );
  });

  it('digest mismatches are detected for any single-bit error', () => {
    fc.assert(
      fc.property(anyPdu, fc.nat(), fc.integer({ min: 0, max: 7 }), (pdu, at, bit) => {
        const d = { headerDigest: true, dataDigest: true };
        const bytes = encodePduBytes(pdu, d);
        const headerEnd = 48 + bytes[4]! * 4 + 4;
        const i = at % bytes.length;
        // Only flips inside the digested regions (not the length fields, which move the digest).
        if (i >= 4 && i < 8) return;
        bytes[i]! ^= 1 << bit;
        const result = decodePduLenient(bytes, d);
        expect(result.violations.some((v) => v.code === 'ERR_ISCSI_DIGEST')).toBe(i < headerEnd || pdu.data.length > 0);
      }),
      { numRuns: 2000 },
    );
  });
});
