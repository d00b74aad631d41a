/**
 * WRITE SAME(16) (SBC-3 §5.42, NDOB from SBC-4): writes one block of data to a range of blocks, or with UNMAP
 * set deallocates them where the device allows (VPD 0xB2 LBPWS). NUMBER OF LOGICAL BLOCKS 0 means "to the end of
 * the medium" only when the Block Limits page says so (WSNZ 0); most devices reject it.
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { put32, put64, u32, u64 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkLba, checkUint, ScsiOpcode } from '../command.js';

/** Options of {@link buildWriteSame16Cdb}. */
export interface WriteSame16Options {
  /** First logical block. */
  readonly lba: number | bigint;
  /** NUMBER OF LOGICAL BLOCKS, 0..2**32-1. */
  readonly blocks: number;
  /** Logical block length in bytes: the Data-Out is exactly one block. */
  readonly blockSize: number;
  /** The block to write; default all zeros. Must be `blockSize` bytes. Not allowed with `ndob`. */
  readonly data?: Uint8Array;
  /** UNMAP: deallocate the blocks where possible (they then read back as the block written). */
  readonly unmap?: boolean;
  /** ANCHOR: anchor instead of deallocate (with `unmap`). */
  readonly anchor?: boolean;
  /** NDOB (SBC-4): no Data-Out buffer; the device writes zeros. */
  readonly ndob?: boolean;
  /** WRPROTECT, 0..7. */
  readonly protect?: number;
  /** GROUP NUMBER, 0..31. */
  readonly groupNumber?: number;
}

/** A decoded WRITE SAME(16) CDB. */
export interface WriteSame16Cdb {
  readonly kind: 'write-same-16';
  readonly lba: bigint;
  readonly blocks: number;
  readonly unmap: boolean;
  readonly anchor: boolean;
  readonly ndob: boolean;
  readonly protect: number;
  readonly groupNumber: number;
  readonly control: number;
}

/** Builds WRITE SAME(16); `data` of the result is the one block to send (absent with `ndob`). */
export function buildWriteSame16Cdb(options: WriteSame16Options): ScsiCommand {
  const lba = checkLba(options.lba, 0xffffffffffffffffn);
  const blocks = checkUint('blocks', options.blocks, 0xffffffff);
  const protect = checkUint('protect', options.protect ?? 0, 7);
  const blockSize = checkUint('blockSize', options.blockSize, 0xffffffff);
  if (blockSize === 0) throw new InvalidArgumentError('blockSize must be positive');
  if (options.ndob && options.data) throw new InvalidArgumentError('ndob sends no data; drop data');
  if (options.data && options.data.length !== blockSize) {
    throw new InvalidArgumentError(`data is ${options.data.length} bytes, one block is ${blockSize}`);
  }
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.WriteSame16;
  cdb[1] = (protect << 5) | (options.anchor ? 0x10 : 0) | (options.unmap ? 0x08 : 0) | (options.ndob ? 0x01 : 0);
  put64(cdb, 2, lba);
  put32(cdb, 10, blocks);
  cdb[14] = checkUint('groupNumber', options.groupNumber ?? 0, 0x1f);
  if (options.ndob) return { cdb, direction: 'none', transferLength: 0 };
  return { cdb, direction: 'write', transferLength: blockSize, data: options.data ?? new Uint8Array(blockSize) };
}

/** Decodes a WRITE SAME(16) CDB. */
export function decodeWriteSame16Cdb(cdb: Uint8Array): WriteSame16Cdb {
  const b1 = cdb[1]!;
  return {
    kind: 'write-same-16',
    lba: u64(cdb, 2),
    blocks: u32(cdb, 10),
    unmap: (b1 & 0x08) !== 0,
    anchor: (b1 & 0x10) !== 0,
    ndob: (b1 & 0x01) !== 0,
    protect: b1 >> 5,
    groupNumber: cdb[14]! & 0x1f,
    control: cdb[15]!,
  };
}
