/**
 * VPD page 0x83, Device Identification (SPC-4 §7.8.6): designation descriptors naming the logical unit, the
 * target port and the target device (NAA, EUI-64, T10 vendor ID, SCSI name string, port and group numbers).
 * @module
 */
import { hex, nameTable, scsiDataError, u16 } from '../bytes.js';
import type { VpdHeader } from './vpd-header.js';
import { headerFields, readVpdHeader, VpdPage } from './vpd-header.js';

/** What a designator names (ASSOCIATION). */
export type DesignatorAssociation = 'logical-unit' | 'target-port' | 'target-device' | 'reserved';

const ASSOCIATIONS: readonly DesignatorAssociation[] = ['logical-unit', 'target-port', 'target-device', 'reserved'];

/** Fields every designator has. */
export interface DesignatorBase {
  /** PROTOCOL IDENTIFIER, when PIV is set and the association is a port or the target device. */
  readonly protocolIdentifier: number | undefined;
  /** CODE SET: 1 binary, 2 ASCII, 3 UTF-8. */
  readonly codeSet: number;
  /** PIV: the protocol identifier field is valid. */
  readonly piv: boolean;
  readonly association: DesignatorAssociation;
  /** DESIGNATOR TYPE (0x0-0xf). */
  readonly designatorType: number;
  /** The designator bytes (a view into the page). */
  readonly designator: Uint8Array;
  /** Printable form: lower-case hex for binary designators, the text for ASCII / UTF-8 ones. */
  readonly value: string;
}

/** One designation descriptor, discriminated by `type`. */
export type Designator = DesignatorBase &
  (
    | { readonly type: 'vendor-specific' }
    | { readonly type: 't10-vendor-id'; readonly vendorId: string; readonly vendorSpecific: string }
    | { readonly type: 'eui-64' }
    | {
        readonly type: 'naa';
        /** NAA field: 2 (IEEE extended), 3 (locally assigned), 5 (IEEE registered), 6 (registered extended). */
        readonly naa: number;
      }
    | { readonly type: 'relative-target-port'; readonly relativeTargetPort: number }
    | { readonly type: 'target-port-group'; readonly targetPortGroup: number }
    | { readonly type: 'logical-unit-group'; readonly logicalUnitGroup: number }
    | { readonly type: 'md5' }
    | { readonly type: 'scsi-name-string'; readonly name: string }
    | { readonly type: 'protocol-specific-port' }
    | { readonly type: 'uuid'; readonly uuid: string }
    | { readonly type: 'reserved' }
  );

/** Parsed VPD page 0x83. */
export interface DeviceIdentificationPage extends VpdHeader {
  readonly kind: 'device-identification';
  /** Complete descriptors in page order (a truncated page leaves its incomplete tail out). */
  readonly designators: readonly Designator[];
}

const PROTOCOL_NAMES: Readonly<Record<number, string>> = nameTable([
  [0x0, 'Fibre Channel'],
  [0x1, 'parallel SCSI'],
  [0x2, 'SSA'],
  [0x3, 'IEEE 1394'],
  [0x4, 'SCSI RDMA'],
  [0x5, 'iSCSI'],
  [0x6, 'SAS'],
  [0x7, 'ADT'],
  [0x8, 'ATA/ATAPI'],
  [0x9, 'USB Attached SCSI'],
  [0xa, 'SCSI over PCI Express'],
  [0xf, 'no specific protocol'],
]);

/** Name of a PROTOCOL IDENTIFIER (SPC-4 table 362). */
export function protocolIdentifierName(id: number): string {
  return PROTOCOL_NAMES[id] ?? `protocol 0x${id.toString(16)}`;
}

// Text of an ASCII / UTF-8 designator: up to the first NUL (SCSI name strings are NUL-terminated and padded),
// trailing spaces removed, inner spaces kept (a T10 vendor ID pads the vendor to 8 bytes).
function text(b: Uint8Array, utf8: boolean): string {
  const nul = b.indexOf(0);
  const body = nul < 0 ? b : b.subarray(0, nul);
  const s = utf8
    ? new TextDecoder().decode(body)
    : String.fromCharCode(...body.map((x) => (x >= 0x20 && x < 0x7f ? x : 0x3f)));
  return s.replace(/ +$/u, '');
}

function tooShort(type: string, got: number, min: number, offset: number): Error {
  return scsiDataError(`${type} designator is ${got} bytes, at least ${min} needed`, { offset, got, limit: min });
}

/** Parses one designation descriptor `d` (header included) found at `offset` of the page. */
export function parseDesignator(d: Uint8Array, offset = 0): Designator {
  const codeSet = d[0]! & 0x0f;
  const piv = (d[1]! & 0x80) !== 0;
  const assoc = (d[1]! >> 4) & 0x03;
  const designatorType = d[1]! & 0x0f;
  const designator = d.subarray(4, 4 + d[3]!);
  const textual = codeSet === 2 || codeSet === 3;
  const base: DesignatorBase = {
    // SPC-4 §7.8.6.1: PROTOCOL IDENTIFIER is meaningful only with PIV for a port or target device.
    protocolIdentifier: piv && (assoc === 1 || assoc === 2) ? d[0]! >> 4 : undefined,
    codeSet,
    piv,
    association: ASSOCIATIONS[assoc]!,
    designatorType,
    designator,
    value: textual ? text(designator, codeSet === 3) : hex(designator),
  };
  const n = designator.length;
  const need = (type: string, min: number): void => {
    if (n < min) throw tooShort(type, n, min, offset + 3);
  };
  switch (designatorType) {
    case 0x0:
      return { ...base, type: 'vendor-specific' };
    case 0x1:
      need('T10 vendor ID', 8);
      return {
        ...base,
        type: 't10-vendor-id',
        vendorId: text(designator.subarray(0, 8), false).trim(),
        vendorSpecific: text(designator.subarray(8), codeSet === 3).trim(),
      };
    case 0x2:
      need('EUI-64', 8);
      return { ...base, type: 'eui-64' };
    case 0x3:
      need('NAA', 8);
      return { ...base, type: 'naa', naa: designator[0]! >> 4 };
    case 0x4:
      need('relative target port', 4);
      return { ...base, type: 'relative-target-port', relativeTargetPort: u16(designator, 2) };
    case 0x5:
      need('target port group', 4);
      return { ...base, type: 'target-port-group', targetPortGroup: u16(designator, 2) };
    case 0x6:
      need('logical unit group', 4);
      return { ...base, type: 'logical-unit-group', logicalUnitGroup: u16(designator, 2) };
    case 0x7:
      need('MD5 logical unit', 16);
      return { ...base, type: 'md5' };
    case 0x8:
      return { ...base, type: 'scsi-name-string', name: text(designator, true) };
    case 0x9:
      return { ...base, type: 'protocol-specific-port' };
    case 0xa: {
      need('UUID', 18);
      const h = hex(designator.subarray(2, 18));
      const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
      return { ...base, type: 'uuid', uuid };
    }
    default:
      return { ...base, type: 'reserved' };
  }
}

/**
 * Parses VPD page 0x83. A descriptor that runs past PAGE LENGTH is a ProtocolError; one cut by the allocation
 * length ends the list (`truncated` is set).
 */
export function parseDeviceIdentification(data: Uint8Array): DeviceIdentificationPage {
  const h = readVpdHeader(data, VpdPage.DeviceIdentification);
  const designators: Designator[] = [];
  for (let o = 4; o < h.end; ) {
    const length = o + 4 <= h.end ? 4 + data[o + 3]! : 4;
    if (o + length > h.availableLength) {
      throw scsiDataError('designation descriptor runs past PAGE LENGTH', {
        offset: o,
        got: o + length,
        limit: h.availableLength,
      });
    }
    if (o + length > h.end) break; // cut by the allocation length; truncated is already set
    designators.push(parseDesignator(data.subarray(o, o + length), o));
    o += length;
  }
  return { kind: 'device-identification', ...headerFields(h), designators };
}

// Rank of a logical-unit designator, lower is better; NAA by kind: IEEE registered extended (6), registered (5),
// extended (2), then locally assigned (3).
function rank(d: Designator): number {
  switch (d.type) {
    case 'naa': {
      const i = [6, 5, 2, 3].indexOf(d.naa);
      return i < 0 ? 9 : i;
    }
    case 'eui-64':
      return 10;
    case 'uuid':
      return 11;
    case 'scsi-name-string':
      return 12;
    case 't10-vendor-id':
      return 13;
    default:
      return Number.POSITIVE_INFINITY;
  }
}

/**
 * The designator that best identifies the logical unit across paths and sessions, among logical-unit
 * designators: NAA (IEEE registered extended, registered, extended, locally assigned), EUI-64, UUID, SCSI name
 * string, T10 vendor ID. Undefined when there is none of those.
 */
export function preferredLogicalUnitDesignator(designators: readonly Designator[]): Designator | undefined {
  let best: Designator | undefined;
  for (const d of designators) {
    if (d.association === 'logical-unit' && rank(d) < (best ? rank(best) : Number.POSITIVE_INFINITY)) best = d;
  }
  return best;
}
