import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { formatIsid, isidFields, makeIsid } from '../../src/pdu/isid.js';
import { decodeLun, formatLun, lunFromNumber, lunToNumber, wellKnownLun } from '../../src/pdu/lun.js';
import { serialAdd, serialDiff, serialGt, serialInWindow, serialLt, serialLte } from '../../src/pdu/serial.js';

describe('LUN (SAM first-level addressing)', () => {
  it('encodes peripheral and flat LUNs as Linux int_to_scsilun does, larger ones as extended flat space', () => {
    expect(formatLun(lunFromNumber(0))).toBe('0000000000000000');
    expect(formatLun(lunFromNumber(1))).toBe('0001000000000000');
    expect(formatLun(lunFromNumber(255))).toBe('00ff000000000000');
    expect(formatLun(lunFromNumber(256))).toBe('4100000000000000');
    expect(formatLun(lunFromNumber(16383))).toBe('7fff000000000000');
    expect(formatLun(lunFromNumber(16384))).toBe('d200400000000000');
    expect(() => lunFromNumber(-1)).toThrowError(InvalidArgumentError);
    expect(() => lunFromNumber(2 ** 24)).toThrowError(InvalidArgumentError);
  });

  it('decodes every address method', () => {
    expect(decodeLun(0x0305000000000000n)).toEqual({ method: 'peripheral', bus: 3, lun: 5 });
    expect(decodeLun(0x8a25000000000000n)).toEqual({ method: 'logical-unit', target: 10, bus: 1, lun: 5 });
    expect(decodeLun(wellKnownLun(1))).toEqual({ method: 'well-known', lun: 1 });
    expect(formatLun(wellKnownLun(1))).toBe('c101000000000000');
    expect(decodeLun(0xe200000000000000n)).toMatchObject({ method: 'extended', length: 2, extendedMethod: 2 });
    expect(lunToNumber(0x0305000000000000n)).toBeUndefined();
  });

  it('lunToNumber inverts lunFromNumber', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 24 - 1 }), (n) => lunToNumber(lunFromNumber(n)) === n));
  });
});

describe('ISID (RFC 7143 §11.12.5)', () => {
  it('splits the tshark example 00023d000001 into T, A, B, C, D', () => {
    expect(isidFields(0x00023d000001)).toEqual({ t: 0, a: 0, b: 0x023d, c: 0, d: 1 });
    expect(isidFields(0x80123456abcd)).toEqual({ t: 2, a: 0, b: 0x1234, c: 0x56, d: 0xabcd });
    expect(formatIsid(0x00023d000001)).toBe('00023d000001');
  });

  it('round trips every field combination', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (isid) => makeIsid(isidFields(isid)) === isid),
      { numRuns: 2000 },
    );
    expect(() => makeIsid({ t: 4, a: 0, b: 0, c: 0, d: 0 })).toThrowError(InvalidArgumentError);
  });
});

describe('RFC 1982 serial arithmetic (RFC 7143 §4.2.2.1)', () => {
  it('wraps at 2**32', () => {
    expect(serialAdd(0xffffffff, 1)).toBe(0);
    expect(serialAdd(0, -1)).toBe(0xffffffff);
    expect(serialLt(0xffffffff, 0)).toBe(true);
    expect(serialGt(0, 0xffffffff)).toBe(true);
    expect(serialDiff(0xfffffffe, 1)).toBe(3);
    expect(serialInWindow(1, 0xfffffff0, 5)).toBe(true);
    expect(serialInWindow(6, 0xfffffff0, 5)).toBe(false);
  });

  it('numbers 2**31 apart are incomparable', () => {
    expect(serialLt(0, 0x80000000)).toBe(false);
    expect(serialGt(0, 0x80000000)).toBe(false);
  });

  it('a < a + n for 0 < n < 2**31, and the order is antisymmetric', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
        const b = serialAdd(a, n);
        return serialLt(a, b) && !serialLt(b, a) && serialLte(a, b) && serialDiff(a, b) === n;
      }),
    );
  });
});
