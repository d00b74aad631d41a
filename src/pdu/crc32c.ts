/**
 * CRC32C (Castagnoli), the checksum behind iSCSI header and data digests (RFC 7143 §13.1, RFC 3385).
 *
 * Parameters (the "CRC-32/ISCSI" model): polynomial 0x1EDC6F41, reflected input and output, initial value
 * 0xFFFFFFFF, final XOR 0xFFFFFFFF; the check value of the ASCII string `123456789` is 0xE3069283.
 *
 * Two back ends compute the same function:
 * - a pure-TypeScript slicing-by-16 implementation ({@link crc32cPure}), always present;
 * - the optional native package `@node-rs/crc32` ({@link crc32cNative}), loaded synchronously at module load when
 *   installed and only if it passes a self-test.
 *
 * {@link crc32c} uses the native back end for inputs of {@link NATIVE_MIN_BYTES} bytes and more, where it is
 * several times faster, and the pure one for shorter inputs (such as a 48-byte BHS), where the cost of crossing
 * into native code exceeds the work itself.
 *
 * Every function takes an optional `previous` CRC so a digest can be computed over several pieces:
 * `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`.
 * @module
 */
import { createRequire } from 'node:module';
import { InvalidArgumentError } from '../errors.js';

/** Signature shared by every CRC32C back end. */
export type Crc32cFunction = (data: Uint8Array, previous?: number) => number;

/** Castagnoli polynomial 0x1EDC6F41, bit-reversed for the reflected (LSB-first) algorithm. */
const POLY_REFLECTED = 0x82f63b78;

/**
 * Inputs at least this long go to the native back end in {@link crc32c}. Measured on Node 20 / x86-64:
 * below ~256 bytes the N-API call overhead makes `@node-rs/crc32` slower than the pure path.
 */
export const NATIVE_MIN_BYTES = 256;

/**
 * Below this length the pure path reads bytes one by one instead of creating an aligned `Int32Array` view,
 * whose allocation would dominate for short inputs. Must be at least 3 so the alignment prefix fits.
 */
const WORD_VIEW_MIN_BYTES = 256;

/**
 * Slicing-by-16 lookup tables, one flat array: entry `k * 256 + b` is the CRC register contribution of byte `b`
 * followed by `k` zero bytes. Built once at load; never written afterwards.
 */
const TABLE: Int32Array = buildTable();

/**
 * The pure path reads 32-bit words through an `Int32Array` view, which yields the platform byte order. The
 * reflected algorithm consumes bytes LSB first, so words must be little-endian; on a big-endian host the word
 * path is disabled and bytes are assembled by hand.
 */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function buildTable(): Int32Array {
  const t = new Int32Array(16 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REFLECTED : c >>> 1;
    t[b] = c;
  }
  for (let k = 1; k < 16; k++) {
    for (let b = 0; b < 256; b++) {
      const prev = t[(k - 1) * 256 + b]!;
      t[k * 256 + b] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
}

/**
 * Folds `d[i..end)` into the (non-inverted) register `c`, 16 bytes per step; `end - i` must be a multiple of 16.
 * Bytes are assembled by hand, so any alignment and host byte order works.
 */
function foldBytes16(d: Uint8Array, c: number, i: number, end: number): number {
  const t = TABLE;
  for (; i < end; i += 16) {
    const a = c ^ (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24));
    c =
      t[0xf00 | (a & 0xff)]! ^
      t[0xe00 | ((a >>> 8) & 0xff)]! ^
      t[0xd00 | ((a >>> 16) & 0xff)]! ^
      t[0xc00 | (a >>> 24)]! ^
      t[0xb00 | d[i + 4]!]! ^
      t[0xa00 | d[i + 5]!]! ^
      t[0x900 | d[i + 6]!]! ^
      t[0x800 | d[i + 7]!]! ^
      t[0x700 | d[i + 8]!]! ^
      t[0x600 | d[i + 9]!]! ^
      t[0x500 | d[i + 10]!]! ^
      t[0x400 | d[i + 11]!]! ^
      t[0x300 | d[i + 12]!]! ^
      t[0x200 | d[i + 13]!]! ^
      t[0x100 | d[i + 14]!]! ^
      t[d[i + 15]!]!;
  }
  return c;
}

/**
 * Folds little-endian words into the register `c`, 16 bytes per step; `w.length` must be a multiple of 4.
 * The main loop is unrolled to 32 bytes per iteration, which measured ~10% faster than 16 on Node 20.
 */
function foldWords16(w: Int32Array, c: number): number {
  const n = w.length;
  let j = 0;
  for (const n8 = n & ~7; j < n8; j += 8) {
    c = step16(c ^ w[j]!, w[j + 1]!, w[j + 2]!, w[j + 3]!);
    c = step16(c ^ w[j + 4]!, w[j + 5]!, w[j + 6]!, w[j + 7]!);
  }
  if (j < n) c = step16(c ^ w[j]!, w[j + 1]!, w[j + 2]!, w[j + 3]!);
  return c;
}

/** One slicing-by-16 step over four little-endian words (the first already XORed with the register). */
function step16(a: number, b: number, e: number, f: number): number {
  const t = TABLE;
  return (
    t[0xf00 | (a & 0xff)]! ^
    t[0xe00 | ((a >>> 8) & 0xff)]! ^
    t[0xd00 | ((a >>> 16) & 0xff)]! ^
    t[0xc00 | (a >>> 24)]! ^
    t[0xb00 | (b & 0xff)]! ^
    t[0xa00 | ((b >>> 8) & 0xff)]! ^
    t[0x900 | ((b >>> 16) & 0xff)]! ^
    t[0x800 | (b >>> 24)]! ^
    t[0x700 | (e & 0xff)]! ^
    t[0x600 | ((e >>> 8) & 0xff)]! ^
    t[0x500 | ((e >>> 16) & 0xff)]! ^
    t[0x400 | (e >>> 24)]! ^
    t[0x300 | (f & 0xff)]! ^
    t[0x200 | ((f >>> 8) & 0xff)]! ^
    t[0x100 | ((f >>> 16) & 0xff)]! ^
    t[f >>> 24]!
  );
}

/**
 * CRC32C of `data` computed in pure TypeScript (slicing-by-16), independent of any native package.
 *
 * @param data - Bytes to checksum; any view (offset and length are honoured, nothing is copied).
 * @param previous - CRC32C returned for the bytes that precede `data` (default 0, i.e. start of message).
 *   Taken modulo 2^32, so signed and unsigned forms of the same 32-bit value are equivalent.
 * @returns The CRC32C of the preceding bytes followed by `data`, as an unsigned 32-bit integer.
 */
export function crc32cPure(data: Uint8Array, previous = 0): number {
  const t = TABLE;
  const n = data.length;
  // The stored CRC is the register after the final XOR; undo it to resume (RFC 3385 / CRC-32/ISCSI model).
  let c = ~previous;
  let i = 0;
  if (n >= WORD_VIEW_MIN_BYTES && LITTLE_ENDIAN_HOST) {
    // Advance byte by byte to a 4-byte boundary of the underlying buffer, then read whole words.
    const head = (4 - data.byteOffset) & 3;
    for (; i < head; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    const words = ((n - i) >>> 4) << 2;
    c = foldWords16(new Int32Array(data.buffer, data.byteOffset + i, words), c);
    i += words << 2;
  } else {
    const end = n - (n & 15);
    c = foldBytes16(data, c, 0, end);
    i = end;
  }
  for (; i < n; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** The part of `@node-rs/crc32` this module uses. */
interface NodeRsCrc32 {
  crc32c(input: Uint8Array, initialState?: number): number;
}

/** ASCII `123456789` at an odd byte offset, so the self-test also checks that views are honoured. */
function checkInput(): Uint8Array {
  const backing = new Uint8Array(12);
  backing.set([0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39], 1);
  return backing.subarray(1, 10);
}

/** CRC-32/ISCSI check value: CRC32C of ASCII `123456789`. */
const CHECK_VALUE = 0xe3069283;

/**
 * Loads `@node-rs/crc32` synchronously if installed. It is accepted only if it agrees with the standard
 * convention: same check value, and `initialState` = the previous result (so chaining matches ours), on a
 * plain `Uint8Array` sub-view (its N-API binding takes any `Uint8Array`, honouring offset and length).
 */
function loadNative(): Crc32cFunction | undefined {
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)('@node-rs/crc32');
  } catch {
    return undefined; // optional dependency not installed or no prebuilt binary for this platform
  }
  if (typeof mod !== 'object' || mod === null) return undefined;
  const fn = (mod as Partial<NodeRsCrc32>).crc32c;
  if (typeof fn !== 'function') return undefined;
  const native: Crc32cFunction = (data, previous = 0) => fn(data, previous >>> 0) >>> 0;
  try {
    const input = checkInput();
    if (native(input) !== CHECK_VALUE) return undefined;
    if (native(input.subarray(4), native(input.subarray(0, 4))) !== CHECK_VALUE) return undefined;
  } catch {
    return undefined;
  }
  return native;
}

/**
 * CRC32C through `@node-rs/crc32` when that optional package is installed and passed its load-time self-test;
 * `undefined` otherwise. Same semantics as {@link crc32cPure}.
 */
export const crc32cNative: Crc32cFunction | undefined = loadNative();

/** Which back end {@link crc32c} uses for inputs of {@link NATIVE_MIN_BYTES} bytes or more. */
export const crc32cBackend: 'native' | 'pure' = crc32cNative === undefined ? 'pure' : 'native';

/**
 * CRC32C of `data`, continuing from `previous`: the default path (native for long inputs when available,
 * pure TypeScript otherwise). Both paths give identical results.
 *
 * @param data - Bytes to checksum; any view (offset and length are honoured, nothing is copied).
 * @param previous - CRC32C returned for the bytes that precede `data` (default 0, i.e. start of message),
 *   so `crc32c(b, crc32c(a)) === crc32c(concat(a, b))`. Taken modulo 2^32.
 * @returns Unsigned 32-bit CRC32C.
 */
export function crc32c(data: Uint8Array, previous = 0): number {
  if (crc32cNative !== undefined && data.length >= NATIVE_MIN_BYTES) return crc32cNative(data, previous);
  return crc32cPure(data, previous);
}

/**
 * CRC32C of the concatenation of `parts` (for example a data segment followed by its pad bytes), without
 * copying them together.
 *
 * @param parts - Pieces in message order; empty pieces are allowed.
 * @param previous - CRC32C of bytes preceding the first part (default 0).
 * @returns Unsigned 32-bit CRC32C.
 */
export function crc32cIov(parts: readonly Uint8Array[], previous = 0): number {
  let crc = previous >>> 0;
  for (const part of parts) crc = crc32c(part, crc);
  return crc;
}

/** Length in bytes of an iSCSI header or data digest. */
const DIGEST_BYTES = 4;

function checkDigestRange(buffer: Uint8Array, offset: number, what: string): void {
  if (!Number.isInteger(offset) || offset < 0 || offset > buffer.length - DIGEST_BYTES) {
    throw new InvalidArgumentError(
      `${what}: digest offset ${String(offset)} is outside a buffer of ${buffer.length} bytes`,
    );
  }
}

/**
 * Stores a CRC32C digest in iSCSI wire order.
 *
 * Byte order: the CRC is transmitted least significant byte first. RFC 3720 Appendix B.4 (repeated in RFC 7143
 * Appendix A.4) lists the digest of 32 zero bytes as the byte stream `aa 36 91 8a`, and that CRC
 * value is 0x8A9136AA; Linux's crc32c shash likewise emits `cpu_to_le32(~crc)`. This is the reverse of the
 * big-endian order used for every other multi-byte iSCSI field.
 *
 * @param target - Buffer to write into.
 * @param offset - Index of the digest's first byte; `offset + 4` must not exceed `target.length`.
 * @param crc - The CRC32C value (signed or unsigned 32-bit form).
 * @throws {@link InvalidArgumentError} if the four bytes do not fit.
 */
export function writeDigest(target: Uint8Array, offset: number, crc: number): void {
  checkDigestRange(target, offset, 'writeDigest');
  target[offset] = crc & 0xff;
  target[offset + 1] = (crc >>> 8) & 0xff;
  target[offset + 2] = (crc >>> 16) & 0xff;
  target[offset + 3] = (crc >>> 24) & 0xff;
}

/**
 * Reads a CRC32C digest stored in iSCSI wire order (least significant byte first; see {@link writeDigest}).
 *
 * @param source - Buffer holding the digest.
 * @param offset - Index of the digest's first byte; `offset + 4` must not exceed `source.length`.
 * @returns The CRC32C value as an unsigned 32-bit integer, comparable with {@link crc32c} results.
 * @throws {@link InvalidArgumentError} if the four bytes are not all inside `source`.
 */
export function readDigest(source: Uint8Array, offset: number): number {
  checkDigestRange(source, offset, 'readDigest');
  return (
    (source[offset]! | (source[offset + 1]! << 8) | (source[offset + 2]! << 16) | (source[offset + 3]! << 24)) >>> 0
  );
}
