/**
 * The Login/Text data segment codec: `key=value\0` pairs (RFC 7143 §6.1), continuation across PDUs with the
 * C bit (§6.1, §11.10, §11.12), duplicate detection (§6.3) and redaction of authentication secrets for logs.
 * Value types are parsed by the functions in `text-values.ts`.
 *
 * Limits applied by default:
 * - key names: a standard-label (`[A-Z][A-Za-z0-9.+@_-]*`) or a public extension key `X#…`, at most 63 bytes;
 * - each simple-value, i.e. each comma-separated element (§6.1: "not including the delimiter (comma or zero
 *   byte)"), at most 255 bytes, measured decoded for hex/base64 binary constants; CHAP_C and CHAP_R may hold
 *   up to 1024 decoded bytes (§12.1.3) and the SRP and Kerberos items are bounded only by the segment;
 * - a logical text data segment reassembled from continued PDUs, at most 64 KiB (§6.1 requires at least
 *   8192 bytes, and 64 KB when long authentication items are negotiated).
 * @module
 */

import { ErrorCode, InvalidArgumentError, ProtocolError } from '../errors.js';
import { binaryByteLength, isReservedValue, preview } from './text-values.js';

/** One key=value pair. Lists of pairs keep the order they had on the wire. */
export type TextPair = readonly [key: string, value: string];

/** Longest key name, in bytes (RFC 7143 §6.1: a standard-label "must not exceed 63 characters"). */
export const TEXT_KEY_MAX_BYTES = 63;
/** Longest simple-value, in bytes, unless a key says otherwise (RFC 7143 §6.1). */
export const TEXT_VALUE_MAX_BYTES = 255;
/** Longest decoded CHAP_C / CHAP_R binary value (RFC 7143 §12.1.3). */
export const CHAP_BINARY_MAX_BYTES = 1024;
/** Default bound of a reassembled logical text data segment: 64 KiB. */
export const TEXT_REASSEMBLY_MAX_BYTES = 65536;
/**
 * Keys that may appear more than once in one segment by default: a SendTargets response lists one
 * TargetName per target, each followed by its TargetAddress entries (RFC 7143 §6.3, Appendix C).
 * A login, where each key is declared once, can pass `repeatableKeys: []` for the strict check.
 */
export const DEFAULT_REPEATABLE_KEYS: readonly string[] = ['TargetName', 'TargetAddress'];

/** Limits shared by {@link encodeText} and {@link decodeText}. */
export interface TextOptions {
  /** Longest simple-value in bytes for keys without their own limit (default {@link TEXT_VALUE_MAX_BYTES}). */
  readonly maxValueBytes?: number;
  /** Accept any key more than once (default false). */
  readonly allowDuplicates?: boolean;
  /** Keys that may repeat even when `allowDuplicates` is false (default {@link DEFAULT_REPEATABLE_KEYS}). */
  readonly repeatableKeys?: Iterable<string>;
}

/** What {@link decodeTextLenient} found: every pair it could read, and every rule the data broke. */
export interface LenientTextResult {
  readonly pairs: TextPair[];
  readonly violations: ProtocolError[];
}

/** Options of a {@link TextReassembler}. */
export interface TextReassemblerOptions extends TextOptions {
  /** Bound on the reassembled segment in bytes (default {@link TEXT_REASSEMBLY_MAX_BYTES}). */
  readonly maxBytes?: number;
}

// RFC 7143 §6.1 standard-label; public extension keys are "X#" and an IANA-registered string (X#NodeArchitecture,
// RFC 4850, now RFC 7143 §13).
// RFC 7144 §2.1 named its key iSCSIProtocolLevel, against the capital-letter rule: it is the one exception.
const KEY_RE = /^(?:[A-Z][A-Za-z0-9.+@_-]*|X#[A-Za-z0-9.+@_-]+|iSCSIProtocolLevel)$/;
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Decoded-length limits of keys that carry large-binary-values (RFC 7143 §12.1).
const LARGE_BINARY_LIMITS: ReadonlyMap<string, number> = new Map([
  ['CHAP_C', CHAP_BINARY_MAX_BYTES],
  ['CHAP_R', CHAP_BINARY_MAX_BYTES],
  ['SRP_s', Number.POSITIVE_INFINITY],
  ['SRP_A', Number.POSITIVE_INFINITY],
  ['SRP_B', Number.POSITIVE_INFINITY],
  ['SRP_M', Number.POSITIVE_INFINITY],
  ['SRP_HM', Number.POSITIVE_INFINITY],
  ['KRB_AP_REQ', Number.POSITIVE_INFINITY],
  ['KRB_AP_REP', Number.POSITIVE_INFINITY],
]);
// Challenges, responses, proofs and tickets: never printed (CHAP_N, CHAP_A, CHAP_I are fine to show).
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'CHAP_C',
  'CHAP_R',
  'SRP_A',
  'SRP_B',
  'SRP_M',
  'SRP_HM',
  'KRB_AP_REQ',
  'KRB_AP_REP',
]);
// Stateless when used without { stream: true }; ignoreBOM keeps a leading U+FEFF in the value.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Loose = new TextDecoder('utf-8', { ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Whether `key` is a valid key name: a standard-label or `X#…` public extension key, at most 63 bytes. */
export function isValidKeyName(key: string): boolean {
  return key.length <= TEXT_KEY_MAX_BYTES && KEY_RE.test(key);
}

/** Whether values of `key` are authentication secrets that logs and error messages must never show. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key);
}

/**
 * Returns `pair` unchanged, or with its value replaced by `<redacted N bytes>` when the key is a secret
 * ({@link isSecretKey}). The reserved answers (NotUnderstood, Irrelevant, Reject) stay visible.
 */
export function redactTextPair(pair: TextPair): TextPair {
  const [key, value] = pair;
  if (!isSecretKey(key) || isReservedValue(value)) return pair;
  return [key, `<redacted ${utf8Length(value)} bytes>`];
}

/**
 * Encodes pairs as `key=value\0…` (RFC 7143 §6.1), in order. Throws {@link ProtocolError}: TextSyntax for a
 * bad key name, a NUL or unpaired surrogate in a value; TextLimit for a key over 63 bytes or a value over its
 * limit; TextDuplicate for a repeated key.
 */
export function encodeText(pairs: readonly TextPair[], options: TextOptions = {}): Uint8Array {
  const limits = resolve(options);
  const parts: string[] = [];
  for (const [key, value] of pairs) {
    const problem =
      keyProblem(key, key.length, undefined) ??
      (value.includes('\0') ? syntax(`value of ${preview(key)} contains NUL`, undefined) : undefined) ??
      (LONE_SURROGATE_RE.test(value)
        ? syntax(`value of ${preview(key)} is not valid Unicode`, undefined)
        : undefined) ??
      valueProblem(key, value, utf8Length(value), limits.maxValueBytes, undefined) ??
      duplicateProblem(key, limits, undefined);
    if (problem) throw problem;
    parts.push(key, '=', value, '\0');
  }
  return utf8Encoder.encode(parts.join(''));
}

/**
 * Decodes one logical text data segment (the data of a Login or Text PDU, or the reassembly of continued
 * ones). Every pair must hold an `=` and end with a NUL, including the last one (RFC 7143 §6.1); an empty
 * segment holds no pairs. Throws {@link ProtocolError} (TextSyntax, TextLimit or TextDuplicate) at the first
 * problem; the offset in the error is that of the pair. Values are never copied into messages.
 */
export function decodeText(data: Uint8Array, options: TextOptions = {}): TextPair[] {
  return scan(data, options, (error) => {
    throw error;
  });
}

/**
 * Like {@link decodeText}, but never throws: it collects each broken rule as a {@link ProtocolError} and keeps
 * going. Pairs with a bad key, a long value or a duplicate key are kept; an unterminated last pair is kept;
 * a piece without `=` and an empty pair (an extra NUL) are skipped; invalid UTF-8 is replaced with U+FFFD.
 * Meant for conformance checks and trace decoding, where seeing every problem matters.
 */
export function decodeTextLenient(data: Uint8Array, options: TextOptions = {}): LenientTextResult {
  const violations: ProtocolError[] = [];
  const pairs = scan(data, options, (error) => {
    violations.push(error);
  });
  return { pairs, violations };
}

/**
 * Splits an encoded text segment into pieces of at most `maxSegment` bytes (the peer's
 * MaxRecvDataSegmentLength), for a series of PDUs where all but the last carry C=1 (RFC 7143 §6.1).
 * Splits may fall inside a pair. The pieces are views of `data`. An empty segment gives one empty piece.
 */
export function splitText(data: Uint8Array, maxSegment: number): Uint8Array[] {
  if (!Number.isSafeInteger(maxSegment) || maxSegment < 1) {
    throw new InvalidArgumentError(`maxSegment must be a positive integer, got ${maxSegment}`);
  }
  if (data.length === 0) return [data];
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < data.length; offset += maxSegment) {
    pieces.push(data.subarray(offset, Math.min(offset + maxSegment, data.length)));
  }
  return pieces;
}

/**
 * Reassembles a logical text data segment from the data of continued Login or Text PDUs (RFC 7143 §6.1:
 * PDUs with C=1 followed by one with C=0 form one segment, and a pair may straddle PDUs). The bound is checked
 * before any byte is copied; after a completed segment or an error the reassembler is empty again.
 */
export class TextReassembler {
  readonly #maxBytes: number;
  readonly #options: TextOptions;
  #chunks: Uint8Array[] = [];
  #length = 0;

  constructor(options: TextReassemblerOptions = {}) {
    const maxBytes = options.maxBytes ?? TEXT_REASSEMBLY_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new InvalidArgumentError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
    }
    this.#maxBytes = maxBytes;
    this.#options = options;
  }

  /** Bytes held from PDUs with C=1 and not yet completed. */
  get pendingBytes(): number {
    return this.#length;
  }

  /**
   * Adds the data segment of one PDU; `continued` is its C bit. Returns `undefined` while C=1, and the pairs
   * of the whole segment when C=0. Throws TextOverflow past the bound, or what {@link decodeText} throws.
   */
  push(data: Uint8Array, continued: boolean): TextPair[] | undefined {
    const segment = this.pushBytes(data, continued);
    return segment === undefined ? undefined : decodeText(segment, this.#options);
  }

  /**
   * Like {@link TextReassembler.push} but returns the reassembled bytes instead of decoding them (for
   * {@link decodeTextLenient}). When the segment came in one PDU the result is `data` itself; otherwise it is
   * a new buffer owned by the caller.
   */
  pushBytes(data: Uint8Array, continued: boolean): Uint8Array | undefined {
    const total = this.#length + data.length;
    if (total > this.#maxBytes) {
      this.reset();
      throw new ProtocolError(
        ErrorCode.TextOverflow,
        `continued text data of ${total} bytes exceeds the ${this.#maxBytes}-byte bound`,
        { got: total, limit: this.#maxBytes },
      );
    }
    if (!continued && this.#chunks.length === 0) return data;
    // Copy: the caller's buffer (a framer view) may be reused once this call returns.
    if (data.length > 0) this.#chunks.push(data.slice());
    this.#length = total;
    if (continued) return undefined;
    const segment = new Uint8Array(total);
    let offset = 0;
    for (const chunk of this.#chunks) {
      segment.set(chunk, offset);
      offset += chunk.length;
    }
    this.reset();
    return segment;
  }

  /** Drops any partial segment (e.g. when the connection or the negotiation is abandoned). */
  reset(): void {
    this.#chunks = [];
    this.#length = 0;
  }
}

interface Limits {
  readonly maxValueBytes: number;
  readonly allowDuplicates: boolean;
  readonly repeatable: ReadonlySet<string>;
  readonly seen: Set<string>;
}

function resolve(options: TextOptions): Limits {
  return {
    maxValueBytes: options.maxValueBytes ?? TEXT_VALUE_MAX_BYTES,
    allowDuplicates: options.allowDuplicates ?? false,
    repeatable: new Set(options.repeatableKeys ?? DEFAULT_REPEATABLE_KEYS),
    seen: new Set(),
  };
}

function scan(data: Uint8Array, options: TextOptions, report: (error: ProtocolError) => void): TextPair[] {
  const limits = resolve(options);
  const pairs: TextPair[] = [];
  let pos = 0;
  while (pos < data.length) {
    let end = data.indexOf(0, pos);
    if (end < 0) {
      // RFC 7143 §6.1: every pair, "including the last or only pair", is followed by one NUL.
      report(syntax('the last key=value pair is not terminated by NUL', pos));
      end = data.length;
    }
    if (end === pos) {
      report(syntax('empty key=value pair (an extra NUL)', pos));
      pos = end + 1;
      continue;
    }
    // Look for "=" only inside this pair, so a segment of many "="-less pairs stays linear.
    let eq = pos;
    while (eq < end && data[eq] !== 0x3d) eq++;
    if (eq === end) {
      report(syntax(`key=value pair of ${end - pos} bytes has no "="`, pos));
      pos = end + 1;
      continue;
    }
    const key = utf8Loose.decode(data.subarray(pos, eq));
    const problem = keyProblem(key, eq - pos, pos);
    if (problem) report(problem);
    const valueBytes = data.subarray(eq + 1, end);
    let value: string;
    try {
      value = utf8Strict.decode(valueBytes);
    } catch {
      report(syntax(`value of ${preview(key)} is not valid UTF-8`, pos));
      value = utf8Loose.decode(valueBytes);
    }
    const tooLong = valueProblem(key, value, valueBytes.length, limits.maxValueBytes, pos);
    if (tooLong) report(tooLong);
    const duplicate = duplicateProblem(key, limits, pos);
    if (duplicate) report(duplicate);
    pairs.push([key, value]);
    pos = end + 1;
  }
  return pairs;
}

function keyProblem(key: string, byteLength: number, offset: number | undefined): ProtocolError | undefined {
  if (byteLength > TEXT_KEY_MAX_BYTES) {
    return new ProtocolError(ErrorCode.TextLimit, `key ${preview(key)} is ${byteLength} bytes, over 63`, {
      offset,
      got: byteLength,
      limit: TEXT_KEY_MAX_BYTES,
    });
  }
  if (!KEY_RE.test(key)) {
    return syntax(`key ${preview(key)} is not a key name (a capital letter, then letters, digits or .-+@_)`, offset);
  }
  return undefined;
}

// RFC 7143 §6.1: the limit is per simple-value "not including the delimiter (comma or zero byte)", and on the
// value itself, "not its encoded representation" — so binary constants count their decoded length.
function valueProblem(
  key: string,
  value: string,
  byteLength: number,
  maxValueBytes: number,
  offset: number | undefined,
): ProtocolError | undefined {
  const binaryLimit = LARGE_BINARY_LIMITS.get(key) ?? maxValueBytes;
  // Fast path: no element, decoded or not, can be longer than the whole value.
  if (byteLength <= Math.min(maxValueBytes, binaryLimit)) return undefined;
  for (const element of value.split(',')) {
    const decoded = binaryByteLength(element);
    const length = decoded ?? utf8Length(element);
    const limit = decoded === undefined ? maxValueBytes : binaryLimit;
    if (length > limit) {
      return new ProtocolError(
        ErrorCode.TextLimit,
        `value of ${preview(key)} has a ${length}-byte ${decoded === undefined ? 'value' : 'binary value'}, over ${limit}`,
        { offset, got: length, limit },
      );
    }
  }
  return undefined;
}

function duplicateProblem(key: string, limits: Limits, offset: number | undefined): ProtocolError | undefined {
  if (limits.seen.has(key) && !limits.allowDuplicates && !limits.repeatable.has(key)) {
    // RFC 7143 §6.3: a key declared or negotiated twice, where not explicitly allowed, MUST be detected.
    return new ProtocolError(ErrorCode.TextDuplicate, `key ${preview(key)} appears more than once`, { offset });
  }
  limits.seen.add(key);
  return undefined;
}

function syntax(message: string, offset: number | undefined): ProtocolError {
  return new ProtocolError(ErrorCode.TextSyntax, message, { offset });
}

function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c < 0x800 ? 1 : c >= 0xd800 && c <= 0xdbff ? 0 : 2;
  }
  return n;
}
