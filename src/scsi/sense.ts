/**
 * Sense data (SPC-4 §4.5): fixed format (response codes 0x70 current / 0x71 deferred) and descriptor format
 * (0x72 / 0x73), and the SenseLength-prefixed form an iSCSI SCSI Response carries (RFC 7143 §11.4.7.2).
 * Sense cut short by an allocation length is normal: absent fields read as 0 and `truncated` is set.
 * @module
 */
import { nameTable, need, scsiDataError, u16, u32, u64 } from './bytes.js';
import { SenseKey } from './names.js';

/** The sense-key specific field (SPC-4 §4.5.2.4), decoded by sense key when SKSV is set. */
export type SenseKeySpecific =
  | {
      /** ILLEGAL REQUEST: which byte (and bit) of the CDB or parameter list is at fault. */
      readonly kind: 'field-pointer';
      /** C/D: true when the field is in the CDB, false when in the parameter data. */
      readonly inCdb: boolean;
      /** Bit within the byte, when BPV is set. */
      readonly bitPointer: number | undefined;
      readonly fieldPointer: number;
    }
  | {
      /** RECOVERED ERROR, MEDIUM ERROR, HARDWARE ERROR: retries the device made. */
      readonly kind: 'actual-retry-count';
      readonly count: number;
    }
  | {
      /** NO SENSE or NOT READY: progress of a long operation, `progress / 65536` done. */
      readonly kind: 'progress';
      readonly progress: number;
    }
  | {
      /** COPY ABORTED: position of the failing segment descriptor. */
      readonly kind: 'segment-pointer';
      /** SD: true when the pointer is into a segment descriptor, false when into the parameter list. */
      readonly segmentDescriptor: boolean;
      readonly bitPointer: number | undefined;
      readonly fieldPointer: number;
    }
  | {
      /** UNIT ATTENTION: the unit attention condition queue overflowed. */
      readonly kind: 'unit-attention-queue';
      readonly overflow: boolean;
    }
  | {
      /** Any other sense key: the three bytes as received (SKSV bit cleared). */
      readonly kind: 'raw';
      readonly value: number;
    };

/** One sense data descriptor (SPC-4 §4.5.2). */
export type SenseDescriptor =
  | { readonly kind: 'information'; readonly type: 0x00; readonly valid: boolean; readonly information: bigint }
  | { readonly kind: 'command-specific'; readonly type: 0x01; readonly information: bigint }
  | {
      readonly kind: 'sense-key-specific';
      readonly type: 0x02;
      readonly senseKeySpecific: SenseKeySpecific | undefined;
    }
  | { readonly kind: 'field-replaceable-unit'; readonly type: 0x03; readonly code: number }
  | {
      readonly kind: 'stream-commands';
      readonly type: 0x04;
      readonly filemark: boolean;
      readonly eom: boolean;
      readonly ili: boolean;
    }
  | { readonly kind: 'block-commands'; readonly type: 0x05; readonly ili: boolean }
  | {
      /** A descriptor type not decoded here; `data` is what follows its 2-byte header. */
      readonly kind: 'other';
      readonly type: number;
      readonly data: Uint8Array;
    };

/** Decoded sense data. */
export interface SenseData {
  readonly format: 'fixed' | 'descriptor';
  /** RESPONSE CODE: 0x70, 0x71, 0x72 or 0x73. */
  readonly responseCode: number;
  /** True for current errors (0x70, 0x72), false for deferred errors (0x71, 0x73). */
  readonly current: boolean;
  readonly senseKey: number;
  /** ADDITIONAL SENSE CODE. */
  readonly asc: number;
  /** ADDITIONAL SENSE CODE QUALIFIER. */
  readonly ascq: number;
  /** INFORMATION (fixed: only when VALID is set; descriptor: from an information descriptor). */
  readonly information: bigint | undefined;
  /** COMMAND-SPECIFIC INFORMATION (fixed: when non-zero; descriptor: from its descriptor). */
  readonly commandSpecificInformation: bigint | undefined;
  readonly senseKeySpecific: SenseKeySpecific | undefined;
  /** FIELD REPLACEABLE UNIT CODE, when non-zero. */
  readonly fieldReplaceableUnitCode: number | undefined;
  readonly filemark: boolean;
  readonly eom: boolean;
  /** ILI: incorrect length indicator. */
  readonly ili: boolean;
  /** SDAT_OVFL: the device had more sense data than fitted. */
  readonly senseDataOverflow: boolean;
  /** Descriptor format: every descriptor in order; fixed format: empty. */
  readonly descriptors: readonly SenseDescriptor[];
  /** True when the data ends before its ADDITIONAL SENSE LENGTH says. */
  readonly truncated: boolean;
}

/** Decodes the 3-byte sense-key specific field at `o`; undefined when SKSV is clear. */
export function decodeSenseKeySpecific(senseKey: number, b: Uint8Array, o: number): SenseKeySpecific | undefined {
  const b0 = b[o]!;
  if ((b0 & 0x80) === 0) return undefined;
  const value = u16(b, o + 1);
  switch (senseKey) {
    case SenseKey.IllegalRequest:
      return { kind: 'field-pointer', inCdb: (b0 & 0x40) !== 0, bitPointer: bpv(b0), fieldPointer: value };
    case SenseKey.RecoveredError:
    case SenseKey.MediumError:
    case SenseKey.HardwareError:
      return { kind: 'actual-retry-count', count: value };
    case SenseKey.NoSense:
    case SenseKey.NotReady:
      return { kind: 'progress', progress: value };
    case SenseKey.CopyAborted:
      return {
        kind: 'segment-pointer',
        segmentDescriptor: (b0 & 0x20) !== 0,
        bitPointer: bpv(b0),
        fieldPointer: value,
      };
    case SenseKey.UnitAttention:
      return { kind: 'unit-attention-queue', overflow: (b0 & 0x01) !== 0 };
    default:
      return { kind: 'raw', value: ((b0 & 0x7f) << 16) | value };
  }
}

function bpv(b0: number): number | undefined {
  return b0 & 0x08 ? b0 & 0x07 : undefined;
}

/**
 * Parses sense data. Needs the 8-byte header of either format; an unknown response code (0x7f vendor
 * specific included) or a descriptor running past ADDITIONAL SENSE LENGTH is a ProtocolError
 * (`ERR_ISCSI_SCSI_DATA`).
 */
export function parseSense(data: Uint8Array): SenseData {
  need(data, 8, 'sense data');
  const responseCode = data[0]! & 0x7f;
  if (responseCode === 0x70 || responseCode === 0x71) return parseFixed(data, responseCode);
  if (responseCode === 0x72 || responseCode === 0x73) return parseDescriptorFormat(data, responseCode);
  throw scsiDataError(`sense RESPONSE CODE 0x${responseCode.toString(16)} is not 0x70-0x73`, {
    offset: 0,
    got: responseCode,
  });
}

function parseFixed(data: Uint8Array, responseCode: number): SenseData {
  const declared = 8 + data[7]!;
  const end = Math.min(declared, data.length);
  // Bytes past the ADDITIONAL SENSE LENGTH are not sense data (SPC-4 §4.5.3): read them as zero.
  const at = (i: number): number => (i < end ? data[i]! : 0);
  const b2 = data[2]!;
  const senseKey = b2 & 0x0f;
  const csi = end >= 12 ? u32(data, 8) : 0;
  const fru = at(14);
  return {
    format: 'fixed',
    responseCode,
    current: responseCode === 0x70,
    senseKey,
    asc: at(12),
    ascq: at(13),
    information: data[0]! & 0x80 ? BigInt(u32(data, 3)) : undefined,
    commandSpecificInformation: csi ? BigInt(csi) : undefined,
    senseKeySpecific: end >= 18 ? decodeSenseKeySpecific(senseKey, data, 15) : undefined,
    fieldReplaceableUnitCode: fru || undefined,
    filemark: (b2 & 0x80) !== 0,
    eom: (b2 & 0x40) !== 0,
    ili: (b2 & 0x20) !== 0,
    senseDataOverflow: (b2 & 0x10) !== 0,
    descriptors: [],
    truncated: data.length < declared,
  };
}

function parseDescriptorFormat(data: Uint8Array, responseCode: number): SenseData {
  const declared = 8 + data[7]!;
  const end = Math.min(declared, data.length);
  const senseKey = data[1]! & 0x0f;
  const descriptors: SenseDescriptor[] = [];
  let truncated = data.length < declared;
  for (let o = 8; o < end; ) {
    if (o + 2 > declared) throw descriptorError(o, 2, declared);
    if (o + 2 > end) break; // header cut by the allocation length
    const length = 2 + data[o + 1]!;
    if (o + length > declared) throw descriptorError(o, length, declared);
    if (o + length > end) {
      truncated = true;
      break;
    }
    descriptors.push(parseDescriptor(senseKey, data.subarray(o, o + length), o));
    o += length;
  }
  let information: bigint | undefined;
  let commandSpecificInformation: bigint | undefined;
  let senseKeySpecific: SenseKeySpecific | undefined;
  let fieldReplaceableUnitCode: number | undefined;
  let filemark = false;
  let eom = false;
  let ili = false;
  for (const d of descriptors) {
    if (d.kind === 'information' && d.valid) information ??= d.information;
    else if (d.kind === 'command-specific') commandSpecificInformation ??= d.information;
    else if (d.kind === 'sense-key-specific') senseKeySpecific ??= d.senseKeySpecific;
    else if (d.kind === 'field-replaceable-unit' && d.code) fieldReplaceableUnitCode ??= d.code;
    else if (d.kind === 'stream-commands') {
      filemark ||= d.filemark;
      eom ||= d.eom;
      ili ||= d.ili;
    } else if (d.kind === 'block-commands') ili ||= d.ili;
  }
  return {
    format: 'descriptor',
    responseCode,
    current: responseCode === 0x72,
    senseKey,
    asc: data[2]!,
    ascq: data[3]!,
    information,
    commandSpecificInformation,
    senseKeySpecific,
    fieldReplaceableUnitCode,
    filemark,
    eom,
    ili,
    senseDataOverflow: (data[4]! & 0x80) !== 0,
    descriptors,
    truncated,
  };
}

function descriptorError(offset: number, length: number, declared: number) {
  return scsiDataError('sense data descriptor runs past ADDITIONAL SENSE LENGTH', {
    offset,
    got: offset + length,
    limit: declared,
  });
}

/** Minimum ADDITIONAL LENGTH of the descriptor types decoded here (SPC-4 §4.5.2.2-§4.5.2.6, SBC-3 §4.18.2). */
const MIN_LENGTH: Readonly<Record<number, number>> = nameTable([
  [0x00, 0x0a],
  [0x01, 0x0a],
  [0x02, 0x06],
  [0x03, 0x02],
  [0x04, 0x02],
  [0x05, 0x02],
]);

function parseDescriptor(senseKey: number, d: Uint8Array, offset: number): SenseDescriptor {
  const type = d[0]!;
  const min = MIN_LENGTH[type];
  if (min !== undefined && d[1]! < min) {
    throw scsiDataError(`sense descriptor type 0x${type.toString(16)} is too short`, {
      offset: offset + 1,
      got: d[1]!,
      limit: min,
    });
  }
  switch (type) {
    case 0x00:
      return { kind: 'information', type, valid: (d[2]! & 0x80) !== 0, information: u64(d, 4) };
    case 0x01:
      return { kind: 'command-specific', type, information: u64(d, 4) };
    case 0x02:
      return { kind: 'sense-key-specific', type, senseKeySpecific: decodeSenseKeySpecific(senseKey, d, 4) };
    case 0x03:
      return { kind: 'field-replaceable-unit', type, code: d[3]! };
    case 0x04:
      return {
        kind: 'stream-commands',
        type,
        filemark: (d[3]! & 0x80) !== 0,
        eom: (d[3]! & 0x40) !== 0,
        ili: (d[3]! & 0x20) !== 0,
      };
    case 0x05:
      return { kind: 'block-commands', type, ili: (d[3]! & 0x20) !== 0 };
    default:
      return { kind: 'other', type, data: d.subarray(2) };
  }
}

/**
 * The sense bytes inside a SCSI Response data segment: RFC 7143 §11.4.7.2 puts a 2-byte SenseLength before
 * them. Undefined for an empty segment or SenseLength 0; a SenseLength past the segment is an error.
 */
export function senseFromSegment(segment: Uint8Array): Uint8Array | undefined {
  if (segment.length === 0) return undefined;
  need(segment, 2, 'SCSI Response data segment');
  const length = u16(segment, 0);
  if (length === 0) return undefined;
  if (2 + length > segment.length) {
    throw scsiDataError('SenseLength runs past the SCSI Response data segment', {
      offset: 0,
      got: length,
      limit: segment.length - 2,
    });
  }
  return segment.subarray(2, 2 + length);
}
