import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import {
  type Crc32cFunction,
  crc32c,
  crc32cBackend,
  crc32cIov,
  crc32cNative,
  crc32cPure,
  NATIVE_MIN_BYTES,
  readDigest,
  writeDigest,
} from '../../src/pdu/crc32c.js';

/** Whether the optional native package can be loaded here at all (independently of the module under test). */
const nativeInstalled = (() => {
  try {
    createRequire(import.meta.url)('@node-rs/crc32');
    return true;
  } catch {
    return false;
  }
})();

function hex(bytes: string): Uint8Array {
  return Uint8Array.from(bytes.split(/\s+/).filter(Boolean), (b) => Number.parseInt(b, 16));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bit-at-a-time CRC32C straight from the definition, as an independent oracle for the table-driven code. */
function crc32cBitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/**
 * RFC 3720 Appendix B.4 CRC examples. `wire` is the CRC exactly as the RFC prints it (bytes in transmission
 * order); `value` is the same CRC as a number, as every CRC32C implementation returns it.
 */
const RFC3720_VECTORS: readonly { name: string; data: Uint8Array; wire: Uint8Array; value: number }[] = [
  { name: '32 bytes of zeroes', data: new Uint8Array(32), wire: hex('aa 36 91 8a'), value: 0x8a9136aa },
  { name: '32 bytes of ones', data: new Uint8Array(32).fill(0xff), wire: hex('43 ab a8 62'), value: 0x62a8ab43 },
  {
    name: '32 bytes of incrementing 00..1f',
    data: Uint8Array.from({ length: 32 }, (_, i) => i),
    wire: hex('4e 79 dd 46'),
    value: 0x46dd794e,
  },
  {
    name: '32 bytes of decrementing 1f..00',
    data: Uint8Array.from({ length: 32 }, (_, i) => 31 - i),
    wire: hex('5c db 3f 11'),
    value: 0x113fdb5c,
  },
  {
    name: 'an iSCSI SCSI Read (10) Command PDU',
    data: hex(`
      01 c0 00 00  00 00 00 00  00 00 00 00  00 00 00 00
      14 00 00 00  00 00 04 00  00 00 00 14  00 00 00 18
      28 00 00 00  00 00 00 00  02 00 00 00  00 00 00 00`),
    wire: hex('56 3a 96 d9'),
    value: 0xd9963a56,
  },
];

const CHECK_STRING = new TextEncoder().encode('123456789');
const CHECK_VALUE = 0xe3069283;

const backends: readonly [string, Crc32cFunction | undefined][] = [
  ['pure', crc32cPure],
  ['native', crc32cNative],
  ['default', crc32c],
];

/**
 * fast-check options: `numRuns` cases, and a time cap so that shrinking a failure on kilobyte-sized inputs
 * (which can take minutes) ends with the best counterexample found so far instead of stalling the suite.
 */
function runs(numRuns: number): fc.Parameters<unknown> {
  return { numRuns, plugins: [fc.interruptAfterTimeLimit(10_000)] };
}

/**
 * Byte arrays whose lengths cover the whole range: fast-check's default size bias would keep them to a few
 * bytes, never reaching the word path (256+ bytes) or the native threshold.
 */
function arbBytes(maxLength: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength, size: 'max' }));
}

/** A byte array viewed at a random (often odd) offset inside a larger buffer, so views are exercised. */
const arbView = fc.tuple(arbBytes(2048), fc.nat(7), fc.nat(7)).map(([bytes, before, after]) => {
  const backing = new Uint8Array(before + bytes.length + after).fill(0xa5);
  backing.set(bytes, before);
  return backing.subarray(before, before + bytes.length);
});

describe('crc32c back ends', () => {
  it('load the native accelerator when @node-rs/crc32 is installed', () => {
    expect(crc32cBackend).toBe(nativeInstalled ? 'native' : 'pure');
    expect(crc32cNative === undefined).toBe(!nativeInstalled);
  });

  for (const [name, fn] of backends) {
    describe(name, () => {
      const run = name === 'native' ? it.skipIf(fn === undefined) : it;
      const f = fn ?? crc32cPure;

      run('matches the CRC-32/ISCSI check value for "123456789"', () => {
        expect(f(CHECK_STRING)).toBe(CHECK_VALUE);
      });

      for (const v of RFC3720_VECTORS) {
        run(`matches RFC 3720 B.4: ${v.name}`, () => {
          const crc = f(v.data);
          expect(crc).toBe(v.value);
          const wire = new Uint8Array(4);
          writeDigest(wire, 0, crc);
          expect(wire).toEqual(v.wire);
        });
      }

      run('returns 0 for empty input and passes `previous` through unchanged', () => {
        expect(f(new Uint8Array(0))).toBe(0);
        expect(f(new Uint8Array(0), CHECK_VALUE)).toBe(CHECK_VALUE);
      });

      run('returns unsigned values and accepts the signed form of `previous`', () => {
        const tail = CHECK_STRING.subarray(3);
        const signed = CHECK_VALUE | 0; // high bit set: the signed form is negative
        expect(signed).toBeLessThan(0);
        const fromUnsigned = f(tail, CHECK_VALUE);
        expect(f(tail, signed)).toBe(fromUnsigned);
        expect(fromUnsigned).toBe(crc32cBitwise(concat([CHECK_STRING, tail])));
        expect(f(new Uint8Array(32))).toBe(0x8a9136aa); // above 2^31: must come back unsigned
      });

      run('agrees with a bitwise oracle at every length around the 16-byte and view thresholds', () => {
        const backing = Uint8Array.from({ length: 700 }, (_, i) => (i * 157 + 11) & 0xff);
        for (const offset of [0, 1, 2, 3]) {
          for (const len of [1, 3, 4, 15, 16, 17, 31, 32, 33, 47, 48, 255, 256, 257, 271, 272, 273, 511, 512, 690]) {
            const view = backing.subarray(offset, offset + len);
            expect(f(view)).toBe(crc32cBitwise(view));
          }
        }
      });
    });
  }
});

describe('crc32c properties', () => {
  it('pure agrees with the bitwise oracle on random views', () => {
    fc.assert(
      fc.property(arbView, (view) => {
        expect(crc32cPure(view)).toBe(crc32cBitwise(view));
      }),
      runs(200),
    );
  });

  it.skipIf(crc32cNative === undefined)('pure equals native on random views (odd byteOffset included)', () => {
    const native = crc32cNative!;
    fc.assert(
      fc.property(arbView, fc.integer({ min: 0, max: 0xffffffff }), (view, previous) => {
        expect(crc32cPure(view, previous)).toBe(native(view, previous));
        expect(crc32c(view, previous)).toBe(native(view, previous));
      }),
      runs(300),
    );
  });

  it('pure equals native on large buffers (word path, unrolled loop tail)', () => {
    const big = Uint8Array.from({ length: 70_003 }, (_, i) => (i * 2654435761) >>> 24);
    for (const [start, end] of [
      [0, 65_536],
      [1, 65_537],
      [3, 70_000],
      [2, 70_003],
    ] as const) {
      const view = big.subarray(start, end);
      const expected = crc32cBitwise(view);
      expect(crc32cPure(view)).toBe(expected);
      expect(crc32c(view)).toBe(expected);
      if (crc32cNative !== undefined) expect(crc32cNative(view)).toBe(expected);
    }
  });

  for (const [name, fn] of backends) {
    it.skipIf(fn === undefined)(`${name}: chaining over arbitrary splits equals one shot`, () => {
      const f = fn!;
      fc.assert(
        fc.property(arbBytes(1500), fc.array(fc.nat(1500), { maxLength: 6, size: 'max' }), (bytes, cuts) => {
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          let crc = 0;
          let from = 0;
          for (const at of [...points, bytes.length]) {
            crc = f(bytes.subarray(from, at), crc);
            from = at;
          }
          expect(crc).toBe(f(bytes));
        }),
        runs(200),
      );
    });
  }

  it('crc32cIov equals the CRC of the concatenation', () => {
    fc.assert(
      fc.property(fc.array(arbView, { maxLength: 6, size: 'max' }), (parts) => {
        const whole = concat(parts);
        expect(crc32cIov(parts)).toBe(crc32c(whole));
        expect(crc32cIov(parts)).toBe(crc32cPure(whole));
      }),
      runs(150),
    );
  });

  it('crc32cIov continues from `previous` and handles no parts', () => {
    expect(crc32cIov([])).toBe(0);
    expect(crc32cIov([], CHECK_VALUE)).toBe(CHECK_VALUE);
    expect(crc32cIov([CHECK_STRING.subarray(5)], crc32c(CHECK_STRING.subarray(0, 5)))).toBe(CHECK_VALUE);
  });

  it('the default path chains through pieces above and below the native threshold', () => {
    const data = Uint8Array.from({ length: 3 * NATIVE_MIN_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
    const expected = crc32cBitwise(data);
    for (const cut of [1, 100, NATIVE_MIN_BYTES, 2 * NATIVE_MIN_BYTES - 1]) {
      expect(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut)))).toBe(expected);
      expect(crc32cPure(data.subarray(cut), crc32cPure(data.subarray(0, cut)))).toBe(expected);
    }
  });

  it('the default path gives the same results on both sides of the native threshold', () => {
    const data = Uint8Array.from({ length: NATIVE_MIN_BYTES + 1 }, (_, i) => i * 7);
    for (const len of [NATIVE_MIN_BYTES - 1, NATIVE_MIN_BYTES, NATIVE_MIN_BYTES + 1]) {
      expect(crc32c(data.subarray(0, len))).toBe(crc32cBitwise(data.subarray(0, len)));
    }
  });

  it('a digest over data + zero padding equals the digest of the padded segment (RFC 7143 §13.1)', () => {
    const data = hex('6b 65 79 3d 76 61 6c 00 41'); // 9 bytes: pads to 12
    const pad = new Uint8Array((4 - (data.length % 4)) % 4);
    expect(crc32cIov([data, pad])).toBe(crc32c(concat([data, pad])));
    expect(crc32c(pad, crc32c(data))).toBe(crc32cPure(concat([data, pad])));
  });
});

describe('writeDigest / readDigest', () => {
  it('put the least significant byte first on the wire (RFC 3720 B.4)', () => {
    const buf = new Uint8Array(6);
    writeDigest(buf, 1, 0x8a9136aa);
    expect(buf).toEqual(hex('00 aa 36 91 8a 00'));
    expect(readDigest(buf, 1)).toBe(0x8a9136aa);
  });

  it('read back every RFC 3720 B.4 example digest as printed', () => {
    for (const v of RFC3720_VECTORS) {
      expect(readDigest(v.wire, 0)).toBe(crc32c(v.data));
    }
  });

  it('round-trip any 32-bit value, signed or unsigned, as an unsigned number', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0xffffffff }), fc.nat(4), (value, offset) => {
        const buf = new Uint8Array(offset + 4);
        writeDigest(buf, offset, value);
        expect(readDigest(buf, offset)).toBe(value >>> 0);
      }),
      runs(200),
    );
  });

  it('verify a PDU digest appended after the bytes it covers', () => {
    const pdu = new Uint8Array(52);
    pdu.set(RFC3720_VECTORS[4]!.data, 0);
    writeDigest(pdu, 48, crc32c(pdu.subarray(0, 48)));
    expect(pdu.subarray(48)).toEqual(hex('56 3a 96 d9'));
    expect(readDigest(pdu, 48)).toBe(crc32c(pdu.subarray(0, 48)));
  });

  it('reject offsets that do not leave four bytes in the buffer', () => {
    const buf = new Uint8Array(8);
    for (const bad of [-1, 5, 8, 1.5, Number.NaN]) {
      expect(() => writeDigest(buf, bad, 0)).toThrow(InvalidArgumentError);
      expect(() => readDigest(buf, bad)).toThrow(InvalidArgumentError);
    }
    expect(() => readDigest(new Uint8Array(3), 0)).toThrow(InvalidArgumentError);
    expect(buf).toEqual(new Uint8Array(8));
    expect(() => writeDigest(buf, 4, 1)).not.toThrow();
  });
});
