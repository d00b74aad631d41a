/**
 * UNMAP (SBC-3 §5.28) and its parameter list: deallocates block ranges on a thin-provisioned LU (VPD 0xB2 LBPU).
 * The limits to honour (MAXIMUM UNMAP LBA COUNT / BLOCK DESCRIPTOR COUNT) are in VPD page 0xB0.
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { need, put16, put32, put64, scsiDataError, u16, u32, u64 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkLba, checkUint, ScsiOpcode } from '../command.js';

const HEADER = 8;
const DESCRIPTOR = 16;
/** Most block descriptors one parameter list can hold (its length is a 16-bit field). */
export const MAX_UNMAP_DESCRIPTORS = Math.floor((0xffff - HEADER) / DESCRIPTOR);

/** One range to deallocate. */
export interface UnmapRange {
  /** First logical block. */
  readonly lba: number | bigint;
  /** NUMBER OF LOGICAL BLOCKS, 0..2**32-1 (0 is allowed and does nothing). */
  readonly blocks: number;
}

/** Options of {@link buildUnmapCdb}. */
export interface UnmapOptions {
  /** The ranges, at most {@link MAX_UNMAP_DESCRIPTORS} (and the device's own limit). */
  readonly ranges: readonly UnmapRange[];
  /** ANCHOR: anchor the blocks instead of deallocating them. */
  readonly anchor?: boolean;
  /** GROUP NUMBER, 0..31. */
  readonly groupNumber?: number;
}

/** A decoded UNMAP CDB. */
export interface UnmapCdb {
  readonly kind: 'unmap';
  readonly anchor: boolean;
  readonly groupNumber: number;
  readonly parameterListLength: number;
  readonly control: number;
}

/** One block descriptor of a parsed UNMAP parameter list. */
export interface UnmapDescriptor {
  readonly lba: bigint;
  readonly blocks: number;
}

/** Encodes the UNMAP parameter list (SBC-3 §5.28.2): an 8-byte header, then 16 bytes per range. */
export function buildUnmapParameterList(ranges: readonly UnmapRange[]): Uint8Array {
  if (ranges.length > MAX_UNMAP_DESCRIPTORS) {
    throw new InvalidArgumentError(`${ranges.length} UNMAP ranges, at most ${MAX_UNMAP_DESCRIPTORS} fit`);
  }
  const out = new Uint8Array(HEADER + DESCRIPTOR * ranges.length);
  put16(out, 0, out.length - 2); // UNMAP DATA LENGTH counts the bytes after itself
  put16(out, 2, out.length - HEADER); // UNMAP BLOCK DESCRIPTOR DATA LENGTH
  ranges.forEach((r, i) => {
    const o = HEADER + DESCRIPTOR * i;
    put64(out, o, checkLba(r.lba, 0xffffffffffffffffn));
    put32(out, o + 8, checkUint('blocks', r.blocks, 0xffffffff));
  });
  return out;
}

/** Builds UNMAP with its parameter list as `data`. */
export function buildUnmapCdb(options: UnmapOptions): ScsiCommand {
  const data = buildUnmapParameterList(options.ranges);
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.Unmap;
  cdb[1] = options.anchor ? 0x01 : 0;
  cdb[6] = checkUint('groupNumber', options.groupNumber ?? 0, 0x1f);
  put16(cdb, 7, data.length);
  return { cdb, direction: 'write', transferLength: data.length, data };
}

/** Decodes an UNMAP CDB. */
export function decodeUnmapCdb(cdb: Uint8Array): UnmapCdb {
  return {
    kind: 'unmap',
    anchor: (cdb[1]! & 0x01) !== 0,
    groupNumber: cdb[6]! & 0x1f,
    parameterListLength: u16(cdb, 7),
    control: cdb[9]!,
  };
}

/**
 * Parses an UNMAP parameter list (what a target receives). An empty list (length 0) is valid and means nothing
 * to do (SBC-3 §5.28.1); a descriptor data length that is not a multiple of 16 or runs past the data is not.
 */
export function parseUnmapParameterList(data: Uint8Array): UnmapDescriptor[] {
  if (data.length === 0) return [];
  need(data, HEADER, 'UNMAP parameter list');
  const dataLength = u16(data, 0);
  const descriptorLength = u16(data, 2);
  if (dataLength + 2 > data.length) {
    throw scsiDataError('UNMAP DATA LENGTH runs past the parameter list', {
      offset: 0,
      got: dataLength,
      limit: data.length - 2,
    });
  }
  if (descriptorLength % DESCRIPTOR !== 0 || HEADER + descriptorLength > dataLength + 2) {
    throw scsiDataError('UNMAP BLOCK DESCRIPTOR DATA LENGTH is not a whole number of descriptors inside the list', {
      offset: 2,
      got: descriptorLength,
      limit: dataLength - 6,
    });
  }
  const out: UnmapDescriptor[] = [];
  for (let o = HEADER; o < HEADER + descriptorLength; o += DESCRIPTOR) {
    out.push({ lba: u64(data, o), blocks: u32(data, o + 8) });
  }
  return out;
}
