/**
 * Builds sense data in either format (SPC-4 §4.5.2, §4.5.3): what a target returns with CHECK CONDITION, and
 * what tests feed to {@link parseSense}. Also wraps it in the SenseLength prefix of a SCSI Response segment.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { put16, put32, put64 } from './bytes.js';
import { checkUint } from './command.js';
import type { SenseKeySpecific } from './sense.js';

/** Fields of {@link encodeSense}. */
export interface SenseInput {
  /** Default `fixed`. */
  readonly format?: 'fixed' | 'descriptor';
  /** Current (default) or deferred error. */
  readonly current?: boolean;
  readonly senseKey: number;
  readonly asc: number;
  readonly ascq: number;
  /** INFORMATION; fixed format holds 32 bits, descriptor format 64. */
  readonly information?: bigint;
  /** COMMAND-SPECIFIC INFORMATION; same widths as `information`. */
  readonly commandSpecificInformation?: bigint;
  readonly senseKeySpecific?: SenseKeySpecific;
  readonly fieldReplaceableUnitCode?: number;
  /** ILI (descriptor format: in a block commands descriptor). */
  readonly ili?: boolean;
}

/** Encodes the 3 bytes of a sense-key specific field (with SKSV set). */
export function encodeSenseKeySpecific(s: SenseKeySpecific): Uint8Array {
  const out = new Uint8Array(3);
  let b0 = 0x80;
  let value = 0;
  switch (s.kind) {
    case 'field-pointer':
      b0 |= (s.inCdb ? 0x40 : 0) | bitPointer(s.bitPointer);
      value = checkUint('fieldPointer', s.fieldPointer, 0xffff);
      break;
    case 'segment-pointer':
      b0 |= (s.segmentDescriptor ? 0x20 : 0) | bitPointer(s.bitPointer);
      value = checkUint('fieldPointer', s.fieldPointer, 0xffff);
      break;
    case 'actual-retry-count':
      value = checkUint('count', s.count, 0xffff);
      break;
    case 'progress':
      value = checkUint('progress', s.progress, 0xffff);
      break;
    case 'unit-attention-queue':
      b0 |= s.overflow ? 0x01 : 0;
      break;
    case 'raw':
      checkUint('value', s.value, 0x7fffff);
      b0 |= s.value >>> 16;
      value = s.value & 0xffff;
      break;
  }
  out[0] = b0;
  put16(out, 1, value);
  return out;
}

// BPV set plus the bit number, or nothing when no bit is pointed at.
function bitPointer(bit: number | undefined): number {
  return bit === undefined ? 0 : 0x08 | checkUint('bitPointer', bit, 7);
}

function check64(name: string, v: bigint, max: bigint): bigint {
  if (v < 0n || v > max) throw new InvalidArgumentError(`${name} ${v} out of range 0..${max}`);
  return v;
}

/** Encodes sense data: 18 bytes in fixed format, 8 plus descriptors in descriptor format. */
export function encodeSense(input: SenseInput): Uint8Array {
  const senseKey = checkUint('senseKey', input.senseKey, 0xf);
  const asc = checkUint('asc', input.asc, 0xff);
  const ascq = checkUint('ascq', input.ascq, 0xff);
  const current = input.current ?? true;
  if ((input.format ?? 'fixed') === 'fixed') {
    const out = new Uint8Array(18);
    out[0] = (current ? 0x70 : 0x71) | (input.information === undefined ? 0 : 0x80);
    out[2] = senseKey | (input.ili ? 0x20 : 0);
    if (input.information !== undefined) put32(out, 3, Number(check64('information', input.information, 0xffffffffn)));
    out[7] = 10;
    if (input.commandSpecificInformation !== undefined) {
      put32(out, 8, Number(check64('commandSpecificInformation', input.commandSpecificInformation, 0xffffffffn)));
    }
    out[12] = asc;
    out[13] = ascq;
    out[14] = checkUint('fieldReplaceableUnitCode', input.fieldReplaceableUnitCode ?? 0, 0xff);
    if (input.senseKeySpecific) out.set(encodeSenseKeySpecific(input.senseKeySpecific), 15);
    return out;
  }
  const parts: Uint8Array[] = [];
  const max = 0xffffffffffffffffn;
  if (input.information !== undefined) {
    const d = new Uint8Array(12);
    d.set([0x00, 0x0a, 0x80]);
    put64(d, 4, check64('information', input.information, max));
    parts.push(d);
  }
  if (input.commandSpecificInformation !== undefined) {
    const d = new Uint8Array(12);
    d.set([0x01, 0x0a]);
    put64(d, 4, check64('commandSpecificInformation', input.commandSpecificInformation, max));
    parts.push(d);
  }
  if (input.senseKeySpecific) {
    const d = new Uint8Array(8);
    d.set([0x02, 0x06]);
    d.set(encodeSenseKeySpecific(input.senseKeySpecific), 4);
    parts.push(d);
  }
  if (input.fieldReplaceableUnitCode) {
    parts.push(
      Uint8Array.of(0x03, 0x02, 0, checkUint('fieldReplaceableUnitCode', input.fieldReplaceableUnitCode, 0xff)),
    );
  }
  if (input.ili) parts.push(Uint8Array.of(0x05, 0x02, 0, 0x20));
  const length = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(8 + length);
  out[0] = current ? 0x72 : 0x73;
  out[1] = senseKey;
  out[2] = asc;
  out[3] = ascq;
  out[7] = length;
  let o = 8;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Prefixes sense bytes with the 2-byte SenseLength of a SCSI Response data segment (RFC 7143 §11.4.7.2). */
export function senseSegment(sense: Uint8Array): Uint8Array {
  if (sense.length > 0xffff) throw new InvalidArgumentError('sense data longer than 65535 bytes');
  const out = new Uint8Array(2 + sense.length);
  put16(out, 0, sense.length);
  out.set(sense, 2);
  return out;
}
