/**
 * Structure-aware mutations of one PDU: field values at and beyond their edges, AHS and data segment abuse,
 * DataSegmentLength and TotalAHSLength that disagree with what follows, header and data digest errors, bit
 * flips in the BHS, truncation and trailing junk. Each gives the bytes to send and a note of what it did.
 * @module
 */
import fc from 'fast-check';
import { BHS_LENGTH } from '../pdu/bhs.js';
import { crc32c, writeDigest } from '../pdu/crc32c.js';
import { type EncodeOptions, encodePdu } from '../pdu/encode.js';
import type { Pdu } from '../pdu/types.js';
import { ahs as ahsArbitrary, anyInitiatorPdu } from './arbitraries.js';
import type { Rng } from './rng.js';
import type { FuzzStep } from './types.js';

/** 32-bit values at and around the edges. */
const EDGES32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1ff, 0x200, 0xffff, 0x10000, 0x7fffffff, 0x80000000];
const TOP32 = [0xfffffffe, 0xffffffff];
/** TotalAHSLength values (4-byte words). */
const AHS_WORDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 63, 64, 127, 128, 254, 255];
/** Data segment sizes around the usual limits. */
const DATA_SIZES = [0, 1, 2, 3, 4, 5, 47, 48, 49, 511, 512, 513, 4095, 4096, 8191, 8192, 8193, 65536];

/** Concatenates encoded parts. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encodes a PDU into one buffer, or undefined when a field does not fit its width. */
export function encodeOrUndefined(pdu: Pdu, enc: EncodeOptions): Uint8Array | undefined {
  try {
    return concat(encodePdu(pdu, enc));
  } catch {
    return undefined;
  }
}

/** Header length (BHS + AHS) of encoded bytes, from TotalAHSLength. */
export function headerLength(bytes: Uint8Array): number {
  return BHS_LENGTH + (bytes[4] ?? 0) * 4;
}

/** Recomputes the header digest in place (when `enc.headerDigest` and the bytes are long enough). */
export function fixHeaderDigest(bytes: Uint8Array, headerDigest: boolean | undefined): void {
  if (!headerDigest) return;
  const at = headerLength(bytes);
  if (bytes.length >= at + 4) writeDigest(bytes, at, crc32c(bytes.subarray(0, at)));
}

function edge32(rng: Rng, current: number): number {
  const r = rng.int(4);
  if (r === 0) return rng.pick(EDGES32);
  if (r === 1) return rng.pick(TOP32);
  if (r === 2) return (current + rng.pick([-2, -1, 1, 2, 0x10000, 0x80000000])) >>> 0;
  return rng.u32();
}

function setU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Sets one numeric or boolean field of the PDU object to an edge value (re-encoded: lengths stay consistent). */
function mutateField(rng: Rng, pdu: Pdu): { pdu: Pdu; note: string } | undefined {
  const keys = Object.keys(pdu).filter((k) => {
    const v = (pdu as unknown as Record<string, unknown>)[k];
    return typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';
  });
  if (keys.length === 0) return undefined;
  const key = rng.pick(keys);
  const current = (pdu as unknown as Record<string, unknown>)[key];
  let value: unknown;
  if (typeof current === 'boolean') value = !current;
  else if (typeof current === 'bigint') value = rng.pick([0n, 1n, 0xffffffffffffffffn, BigInt(rng.u32()) << 32n]);
  else value = edge32(rng, current as number);
  return { pdu: { ...pdu, [key]: value } as Pdu, note: `${key}=${String(value)}` };
}

type ByteMutation = (rng: Rng, b: Uint8Array, enc: EncodeOptions) => { bytes: Uint8Array; note: string; desync?: true };

/** Byte-level mutations of an encoded PDU. */
const BYTE_MUTATIONS: readonly ByteMutation[] = [
  // A BHS word (CmdSN, ExpStatSN, EDTL, TTT, offsets, LUN halves…) at or beyond its edges.
  (rng, b, enc) => {
    const at = rng.pick([8, 12, 16, 20, 24, 28, 32, 36, 40, 44]);
    const v = edge32(rng, getU32(b, at));
    setU32(b, at, v);
    fixHeaderDigest(b, enc.headerDigest);
    return { bytes: b, note: `BHS[${at}..${at + 3}]=0x${v.toString(16)}` };
  },
  // Flags, opcode-specific and reserved bytes.
  (rng, b, enc) => {
    const at = rng.pick([0, 1, 2, 3, rng.int(BHS_LENGTH)]);
    const v = rng.chance(0.5) ? b[at]! ^ (1 << rng.int(8)) : rng.int(256);
    b[at] = v;
    fixHeaderDigest(b, enc.headerDigest);
    // Bytes 4..7 are TotalAHSLength and DataSegmentLength: the framing then disagrees with what follows.
    return {
      bytes: b,
      note: `BHS[${at}]=0x${v.toString(16)}`,
      ...(at >= 4 && at < 8 ? { desync: true as const } : {}),
    };
  },
  // DataSegmentLength that disagrees with the data that follows.
  (rng, b) => {
    const dsl = (b[5]! << 16) | (b[6]! << 8) | b[7]!;
    const v = rng.pick([0, 1, 3, dsl + 1, dsl + 4, Math.max(0, dsl - 1), 8192, 8193, 0xffffff, rng.int(0x1000000)]);
    b[5] = v >> 16;
    b[6] = v >> 8;
    b[7] = v;
    return { bytes: b, note: `DataSegmentLength=${v} (data ${dsl})`, desync: true };
  },
  // TotalAHSLength that disagrees with the AHS present.
  (rng, b) => {
    const v = rng.chance(0.8) ? rng.pick(AHS_WORDS) : rng.int(256);
    const was = b[4]!;
    b[4] = v;
    return { bytes: b, note: `TotalAHSLength=${v} (was ${was})`, desync: true };
  },
  // Truncation: the rest of the stream is read as this PDU's remainder.
  (rng, b) => {
    const n = rng.chance(0.5) ? rng.int(BHS_LENGTH) : rng.int(b.length);
    return { bytes: b.subarray(0, n), note: `truncated to ${n} of ${b.length} bytes`, desync: true };
  },
  // Junk after the PDU.
  (rng, b) => {
    const extra = new Uint8Array(rng.pick([1, 3, 4, 48, rng.int(200)]));
    for (let i = 0; i < extra.length; i++) extra[i] = rng.chance(0.5) ? 0 : rng.int(256);
    return { bytes: concat([b, extra]), note: `${extra.length} junk bytes appended`, desync: true };
  },
  // Digest errors: the header or data digest flipped (with digests), or a stray digest (without).
  (rng, b, enc) => {
    const hl = headerLength(b);
    if (enc.headerDigest && (rng.chance(0.5) || !enc.dataDigest || b.length <= hl + 4)) {
      b[hl + rng.int(4)]! ^= 1 << rng.int(8);
      return { bytes: b, note: 'bad header digest' };
    }
    if (enc.dataDigest && b.length > hl + (enc.headerDigest ? 4 : 0)) {
      b[b.length - 1 - rng.int(4)]! ^= 1 << rng.int(8);
      return { bytes: b, note: 'bad data digest' };
    }
    return { bytes: concat([b, Uint8Array.of(0xde, 0xad, 0xbe, 0xef)]), note: 'digest without digests', desync: true };
  },
];

/** The outcome of mutating one PDU. */
export interface Mutated {
  readonly bytes: Uint8Array;
  readonly note: string;
  readonly desync: boolean;
  /** The header digest is still valid over the header. */
  readonly headerDigestValid: boolean;
}

/** A random data segment of a size around the usual limits. */
function dataSegment(rng: Rng): Uint8Array {
  const size = rng.chance(0.7) ? rng.pick(DATA_SIZES) : rng.int(1024);
  const out = new Uint8Array(size);
  const fill = rng.int(3);
  for (let i = 0; i < size; i++) out[i] = fill === 0 ? 0 : fill === 1 ? 0x41 : rng.int(256);
  // Text-like segments too: `key=value` pairs, with or without the final NUL.
  if (size > 32 && rng.chance(0.3)) out.set(new TextEncoder().encode('SendTargets=All\0MaxBurstLength='), 0);
  return out;
}

/**
 * Mutates one valid PDU. `weightNone` is the chance it is sent as it is (valid PDUs move the state on).
 */
export function mutatePdu(rng: Rng, pdu: Pdu, enc: EncodeOptions, weightNone = 0.2): Mutated {
  const plain = encodeOrUndefined(pdu, enc);
  if (plain === undefined)
    return { bytes: new Uint8Array(0), note: 'unencodable', desync: false, headerDigestValid: false };
  if (rng.chance(weightNone)) return { bytes: plain, note: 'as is', desync: false, headerDigestValid: true };
  const choice = rng.int(10);
  if (choice <= 2) {
    // Field edges, the PDU re-encoded so its lengths agree.
    const m = mutateField(rng, pdu);
    const bytes = m && encodeOrUndefined(m.pdu, enc);
    if (m && bytes) return { bytes, note: m.note, desync: false, headerDigestValid: true };
  } else if (choice === 3) {
    // AHS abuse: several, raw types, on PDUs that never carry one.
    const list = fc.sample(fc.array(ahsArbitrary, { minLength: 1, maxLength: 4 }), { seed: rng.u32(), numRuns: 1 })[0]!;
    const bytes = encodeOrUndefined({ ...pdu, ahs: [...pdu.ahs, ...list] } as Pdu, enc);
    if (bytes) return { bytes, note: `${list.length} AHS added`, desync: false, headerDigestValid: true };
  } else if (choice === 4) {
    // Data segment abuse: on PDUs that must have none, sizes at the limits.
    const data = dataSegment(rng);
    const bytes = encodeOrUndefined({ ...pdu, data } as Pdu, enc);
    if (bytes) return { bytes, note: `data segment of ${data.length} bytes`, desync: false, headerDigestValid: true };
  }
  const m = rng.pick(BYTE_MUTATIONS)(rng, Uint8Array.from(plain), enc);
  const valid = !m.note.startsWith('bad header') && !m.note.startsWith('truncated') && !m.note.startsWith('Total');
  return { bytes: m.bytes, note: m.note, desync: m.desync === true, headerDigestValid: valid };
}

/** A PDU drawn from the property tests' arbitraries (any initiator kind, every field random). */
export function randomPdu(rng: Rng): Pdu {
  return fc.sample(anyInitiatorPdu, { seed: rng.u32(), numRuns: 1 })[0]!;
}

/** Sequence-level mutations: duplicate a step, swap two, split or slow a write. */
export function mutateSequence(rng: Rng, steps: FuzzStep[]): FuzzStep[] {
  const out = [...steps];
  if (out.length === 0) return out;
  const r = rng.int(8);
  const i = rng.int(out.length);
  const s = out[i]!;
  if (r === 0) out.splice(i, 0, { ...s, note: `${s.note} [duplicated]` });
  else if (r === 1 && out.length > 1) {
    const j = rng.int(out.length);
    out[i] = out[j]!;
    out[j] = s;
  } else if (r === 2 && s.bytes.length > 1) {
    // Split: a few pieces, back to back (each its own TCP segment).
    const cuts = new Set<number>();
    for (let k = rng.range(1, 4); k > 0; k--) cuts.add(1 + rng.int(s.bytes.length - 1));
    const sorted = [...cuts].sort((a, b) => a - b);
    const chunks = sorted.map((c, k) => c - (sorted[k - 1] ?? 0));
    chunks.push(s.bytes.length - sorted.at(-1)!);
    out[i] = { ...s, chunks, delayMs: 0, note: `${s.note} [split ${chunks.join('+')}]` };
  } else if (r === 3 && s.bytes.length > 1) {
    // Slow: the header a few bytes at a time, with pauses.
    const piece = rng.pick([1, 7, 16, 24]);
    const chunks: number[] = [];
    for (let at = 0; at < s.bytes.length && chunks.length < 8; at += piece) chunks.push(piece);
    const used = chunks.reduce((a, b) => a + b, 0);
    if (used < s.bytes.length) chunks.push(s.bytes.length - used);
    else chunks[chunks.length - 1]! -= used - s.bytes.length;
    out[i] = { ...s, chunks, delayMs: rng.range(1, 3), note: `${s.note} [slow ${chunks.length} writes]` };
  }
  return out;
}
