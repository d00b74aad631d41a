import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ProtocolError } from '../../src/errors.js';
import {
  decodeText,
  decodeTextLenient,
  encodeText,
  splitText,
  type TextPair,
  TextReassembler,
} from '../../src/pdu/text.js';
import { formatBinary, formatNumber, parseBigNumber, parseBinary } from '../../src/pdu/text-values.js';

const keyArb = fc.oneof(
  { weight: 5, arbitrary: fc.stringMatching(/^[A-Z][A-Za-z0-9.+@_-]{0,62}$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^X#[A-Za-z0-9.+@_-]{1,61}$/) },
);

// Any Unicode scalar value but NUL; 63 characters of at most 4 bytes stay within 255 bytes.
const charArb = fc.oneof(
  fc.constantFrom('a', 'Z', '0', ',', '=', '~', '[', ']', ':', ' ', '\uFEFF'),
  fc
    .integer({ min: 1, max: 0x10ffff })
    .filter((c) => c < 0xd800 || c > 0xdfff)
    .map((c) => String.fromCodePoint(c)),
);
const textValueArb = fc.string({ unit: charArb, maxLength: 63 });
const binaryValueArb = fc
  .tuple(fc.uint8Array({ minLength: 1, maxLength: 255 }), fc.constantFrom('hex' as const, 'base64' as const))
  .map(([bytes, encoding]) => formatBinary(bytes, encoding));
const valueArb = fc.oneof({ weight: 4, arbitrary: textValueArb }, { weight: 1, arbitrary: binaryValueArb });

const pairsArb: fc.Arbitrary<TextPair[]> = fc.uniqueArray(fc.tuple(keyArb, valueArb), {
  selector: (pair) => pair[0],
  maxLength: 20,
});

// Bytes biased toward the delimiters and toward UTF-8 lead/continuation bytes.
const interestingByteArb = fc.constantFrom(
  0x00,
  0x3d,
  0x41,
  0x61,
  0x2c,
  0x23,
  0x58,
  0xc3,
  0xa9,
  0xff,
  0x80,
  0xed,
  0xa0,
);
// Encoded pairs (keys may repeat, values may be long), then a few bytes overwritten and maybe a cut.
const mutatedArb = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom('A', 'B', 'TargetAddress', 'X#Z'),
        fc.oneof(fc.string({ maxLength: 20 }), fc.string({ minLength: 250, maxLength: 260 })),
      ),
      {
        maxLength: 6,
      },
    ),
    fc.oneof(fc.constant([]), fc.array(fc.tuple(fc.nat(), interestingByteArb), { minLength: 1, maxLength: 2 })),
    fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
  )
  .map(([pairs, edits, cut]) => {
    const text = pairs.map(([k, v]) => `${k}=${v.replaceAll('\0', '')}\0`).join('');
    const bytes = new TextEncoder().encode(text);
    for (const [at, b] of edits) if (bytes.length > 0) bytes[at % bytes.length] = b;
    return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
  });
const noisyBytesArb = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.array(interestingByteArb, { maxLength: 300 }).map((a) => Uint8Array.from(a)) },
  { weight: 3, arbitrary: mutatedArb },
);

/** Cut points 0 < c1 < c2 < … < length. */
function cutsArb(length: number): fc.Arbitrary<number[]> {
  if (length < 2) return fc.constant([]);
  return fc
    .uniqueArray(fc.integer({ min: 1, max: length - 1 }), { maxLength: Math.min(12, length - 1) })
    .map((cuts) => cuts.sort((a, b) => a - b));
}

function pieces(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const bounds = [0, ...cuts, data.length];
  return bounds.slice(1).map((end, i) => data.subarray(bounds[i], end));
}

function reassemble(r: TextReassembler, parts: readonly Uint8Array[]): TextPair[] | undefined {
  let result: TextPair[] | undefined;
  parts.forEach((part, i) => {
    result = r.push(part, i < parts.length - 1);
    if (i < parts.length - 1) expect(result).toBeUndefined();
  });
  return result;
}

describe('text codec properties (RFC 7143 §6.1)', () => {
  it('decodeText(encodeText(pairs)) gives the pairs back, in order', () => {
    fc.assert(
      fc.property(pairsArb, (pairs) => {
        const bytes = encodeText(pairs);
        expect(decodeText(bytes)).toEqual(pairs);
        const lenient = decodeTextLenient(bytes);
        expect(lenient.violations).toEqual([]);
        expect(lenient.pairs).toEqual(pairs);
      }),
      { numRuns: 300 },
    );
  });

  it('any bytes decode to pairs or throw a ProtocolError; the lenient decoder agrees and never throws', () => {
    fc.assert(
      fc.property(noisyBytesArb, (data) => {
        const lenient = decodeTextLenient(data);
        let strict: TextPair[] | undefined;
        try {
          strict = decodeText(data);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
          const code = (error as ProtocolError).code;
          expect([ErrorCode.TextSyntax, ErrorCode.TextLimit, ErrorCode.TextDuplicate]).toContain(code);
          expect(lenient.violations[0]?.code).toBe(code);
          return;
        }
        expect(lenient.violations).toEqual([]);
        expect(lenient.pairs).toEqual(strict);
        // Whatever decodes cleanly encodes back to the same bytes.
        expect(Buffer.from(encodeText(strict)).equals(Buffer.from(data))).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('TextReassembler over any split of a valid segment gives the one-shot pairs (§11.10, §11.12)', () => {
    const arb = pairsArb
      .map((pairs) => encodeText(pairs))
      .chain((data) => fc.tuple(fc.constant(data), cutsArb(data.length)));
    fc.assert(
      fc.property(arb, ([data, cuts]) => {
        const r = new TextReassembler();
        expect(reassemble(r, pieces(data, cuts))).toEqual(decodeText(data));
        expect(r.pendingBytes).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('TextReassembler never holds more than maxBytes and overflows exactly when the total would pass it', () => {
    const arb = fc.tuple(
      fc.integer({ min: 0, max: 200 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 80 }), fc.boolean()), { maxLength: 15 }),
    );
    fc.assert(
      fc.property(arb, ([maxBytes, pushes]) => {
        const r = new TextReassembler({ maxBytes, allowDuplicates: true });
        for (const [size, continued] of pushes) {
          const before = r.pendingBytes;
          // A pair "A=…\0" of exactly `size` bytes when size >= 3, else raw bytes.
          const data = size >= 3 ? new TextEncoder().encode(`A=${'v'.repeat(size - 3)}\0`) : new Uint8Array(size);
          if (before + size > maxBytes) {
            expect(() => r.pushBytes(data, continued)).toThrow(
              expect.objectContaining({ code: ErrorCode.TextOverflow }),
            );
            expect(r.pendingBytes).toBe(0);
          } else {
            const out = r.pushBytes(data, continued);
            expect(out === undefined).toBe(continued);
            if (out) expect(out.length).toBe(before + size);
          }
          expect(r.pendingBytes).toBeLessThanOrEqual(maxBytes);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('splitText pieces fit maxSegment, join back to the segment and reassemble to the same pairs', () => {
    fc.assert(
      fc.property(pairsArb, fc.integer({ min: 1, max: 600 }), (pairs, maxSegment) => {
        const data = encodeText(pairs);
        const parts = splitText(data, maxSegment);
        expect(parts.length).toBe(Math.max(1, Math.ceil(data.length / maxSegment)));
        for (const part of parts) expect(part.length).toBeLessThanOrEqual(maxSegment);
        expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
        expect(reassemble(new TextReassembler(), parts)).toEqual(pairs);
      }),
      { numRuns: 300 },
    );
  });
});

describe('value type properties (RFC 7143 §6.1)', () => {
  it('binary-values round-trip through hex and base64, with any hex case and with or without padding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 1100 }), (bytes) => {
        const hex = formatBinary(bytes, 'hex');
        const b64 = formatBinary(bytes, 'base64');
        expect(hex).toMatch(/^0x[0-9a-f]+$/);
        expect(parseBinary(hex)).toEqual(bytes);
        expect(parseBinary(hex.toUpperCase())).toEqual(bytes);
        expect(parseBinary(b64)).toEqual(bytes);
        expect(parseBinary(b64.replace(/=+$/, ''))).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('numerical-values round-trip through decimal and hex up to 2^64-1', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        expect(parseBigNumber(formatNumber(n))).toBe(n);
        expect(parseBigNumber(`0x${n.toString(16)}`)).toBe(n);
      }),
      { numRuns: 300 },
    );
  });
});
