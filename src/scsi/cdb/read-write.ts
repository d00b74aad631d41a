/**
 * READ(10)/(16) and WRITE(10)/(16) (SBC-3 §5.11, §5.13, §5.32, §5.34). The 10-byte forms address 2**32 blocks and
 * move up to 65535 blocks; the 16-byte forms 2**64 blocks and 2**32-1 blocks. A transfer length of 0 moves no
 * data (SBC-3: unlike READ(6), 0 does not mean 256).
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { put16, put32, put64, u16, u32, u64 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkLba, checkUint, ScsiOpcode, transferBytes } from '../command.js';

const MAX_LBA_10 = 0xffffffffn;
const MAX_LBA_16 = 0xffffffffffffffffn;

/** Options of the READ and WRITE builders. */
export interface ReadWriteOptions {
  /** First logical block. A bigint beyond 2**53. */
  readonly lba: number | bigint;
  /** TRANSFER LENGTH in logical blocks. */
  readonly blocks: number;
  /** Logical block length in bytes (from READ CAPACITY), to compute the Expected Data Transfer Length. */
  readonly blockSize: number;
  /** FUA: force unit access (read from / write through to the medium). */
  readonly fua?: boolean;
  /** DPO: disable page out (do not keep the data in cache). */
  readonly dpo?: boolean;
  /** RDPROTECT / WRPROTECT, 0..7 (protection information checking); default 0. */
  readonly protect?: number;
  /** GROUP NUMBER, 0..31; default 0. */
  readonly groupNumber?: number;
}

/** A decoded READ or WRITE CDB. */
export interface ReadWriteCdb {
  readonly kind: 'read-10' | 'read-16' | 'write-10' | 'write-16';
  readonly lba: bigint;
  readonly blocks: number;
  readonly fua: boolean;
  readonly dpo: boolean;
  readonly protect: number;
  readonly groupNumber: number;
  readonly control: number;
}

function flags(o: ReadWriteOptions): number {
  const protect = checkUint('protect', o.protect ?? 0, 7);
  return (protect << 5) | (o.dpo ? 0x10 : 0) | (o.fua ? 0x08 : 0);
}

function build10(opcode: number, o: ReadWriteOptions, direction: 'read' | 'write'): ScsiCommand {
  const lba = checkLba(o.lba, MAX_LBA_10);
  const blocks = checkUint('blocks', o.blocks, 0xffff);
  const transferLength = transferBytes(blocks, o.blockSize);
  const cdb = new Uint8Array(10);
  cdb[0] = opcode;
  cdb[1] = flags(o);
  put32(cdb, 2, Number(lba));
  cdb[6] = checkUint('groupNumber', o.groupNumber ?? 0, 0x1f);
  put16(cdb, 7, blocks);
  return { cdb, direction: transferLength ? direction : 'none', transferLength };
}

function build16(opcode: number, o: ReadWriteOptions, direction: 'read' | 'write'): ScsiCommand {
  const lba = checkLba(o.lba, MAX_LBA_16);
  const blocks = checkUint('blocks', o.blocks, 0xffffffff);
  const transferLength = transferBytes(blocks, o.blockSize);
  const cdb = new Uint8Array(16);
  cdb[0] = opcode;
  cdb[1] = flags(o);
  put64(cdb, 2, lba);
  put32(cdb, 10, blocks);
  cdb[14] = checkUint('groupNumber', o.groupNumber ?? 0, 0x1f);
  return { cdb, direction: transferLength ? direction : 'none', transferLength };
}

/** Builds READ(10). */
export function buildRead10Cdb(options: ReadWriteOptions): ScsiCommand {
  return build10(ScsiOpcode.Read10, options, 'read');
}

/** Builds READ(16). */
export function buildRead16Cdb(options: ReadWriteOptions): ScsiCommand {
  return build16(ScsiOpcode.Read16, options, 'read');
}

/** Builds WRITE(10); the caller supplies `transferLength` bytes of Data-Out. */
export function buildWrite10Cdb(options: ReadWriteOptions): ScsiCommand {
  return build10(ScsiOpcode.Write10, options, 'write');
}

/** Builds WRITE(16); the caller supplies `transferLength` bytes of Data-Out. */
export function buildWrite16Cdb(options: ReadWriteOptions): ScsiCommand {
  return build16(ScsiOpcode.Write16, options, 'write');
}

/** True when the 10-byte form can express this request (as Linux sd and libiscsi choose). */
export function fitsCdb10(options: Pick<ReadWriteOptions, 'lba' | 'blocks'>): boolean {
  const lbaFits = typeof options.lba === 'bigint' ? options.lba <= MAX_LBA_10 : options.lba <= 0xffffffff;
  return lbaFits && options.blocks <= 0xffff;
}

/** Builds READ(10) when it fits, READ(16) otherwise. */
export function buildReadCdb(options: ReadWriteOptions): ScsiCommand {
  return fitsCdb10(options) ? buildRead10Cdb(options) : buildRead16Cdb(options);
}

/** Builds WRITE(10) when it fits, WRITE(16) otherwise. */
export function buildWriteCdb(options: ReadWriteOptions): ScsiCommand {
  return fitsCdb10(options) ? buildWrite10Cdb(options) : buildWrite16Cdb(options);
}

/** Decodes a READ(10), READ(16), WRITE(10) or WRITE(16) CDB (length already checked by the caller). */
export function decodeReadWriteCdb(cdb: Uint8Array): ReadWriteCdb {
  const op = cdb[0]!;
  const long = op === ScsiOpcode.Read16 || op === ScsiOpcode.Write16;
  const read = op === ScsiOpcode.Read10 || op === ScsiOpcode.Read16;
  if (!long && !read && op !== ScsiOpcode.Write10) {
    throw new InvalidArgumentError(`opcode 0x${op.toString(16)} is not READ or WRITE (10/16)`);
  }
  const b1 = cdb[1]!;
  return {
    kind: read ? (long ? 'read-16' : 'read-10') : long ? 'write-16' : 'write-10',
    lba: long ? u64(cdb, 2) : BigInt(u32(cdb, 2)),
    blocks: long ? u32(cdb, 10) : u16(cdb, 7),
    fua: (b1 & 0x08) !== 0,
    dpo: (b1 & 0x10) !== 0,
    protect: b1 >> 5,
    groupNumber: (long ? cdb[14]! : cdb[6]!) & 0x1f,
    control: long ? cdb[15]! : cdb[9]!,
  };
}
