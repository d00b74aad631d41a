/**
 * SYNCHRONIZE CACHE(10) and (16) (SBC-3 §5.22, §5.23): makes cached writes durable. LBA 0 with 0 blocks (the
 * default) flushes the whole logical unit. IMMED asks for status before the flush completes.
 * @module
 */
import { put16, put32, put64, u16, u32, u64 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkLba, checkUint, ScsiOpcode } from '../command.js';

/** Options of the SYNCHRONIZE CACHE builders. */
export interface SynchronizeCacheOptions {
  /** First logical block; default 0. */
  readonly lba?: number | bigint;
  /** NUMBER OF LOGICAL BLOCKS; 0 (default) means from `lba` to the end of the medium. */
  readonly blocks?: number;
  /** IMMED: return status once the command is validated, not when the flush is done. */
  readonly immed?: boolean;
  /** GROUP NUMBER, 0..31. */
  readonly groupNumber?: number;
}

/** A decoded SYNCHRONIZE CACHE CDB. */
export interface SynchronizeCacheCdb {
  readonly kind: 'synchronize-cache-10' | 'synchronize-cache-16';
  readonly lba: bigint;
  readonly blocks: number;
  readonly immed: boolean;
  readonly groupNumber: number;
  readonly control: number;
}

/** Builds SYNCHRONIZE CACHE(10). */
export function buildSynchronizeCache10Cdb(options: SynchronizeCacheOptions = {}): ScsiCommand {
  const lba = checkLba(options.lba ?? 0, 0xffffffffn);
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.SynchronizeCache10;
  cdb[1] = options.immed ? 0x02 : 0;
  put32(cdb, 2, Number(lba));
  cdb[6] = checkUint('groupNumber', options.groupNumber ?? 0, 0x1f);
  put16(cdb, 7, checkUint('blocks', options.blocks ?? 0, 0xffff));
  return { cdb, direction: 'none', transferLength: 0 };
}

/** Builds SYNCHRONIZE CACHE(16). */
export function buildSynchronizeCache16Cdb(options: SynchronizeCacheOptions = {}): ScsiCommand {
  const lba = checkLba(options.lba ?? 0, 0xffffffffffffffffn);
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.SynchronizeCache16;
  cdb[1] = options.immed ? 0x02 : 0;
  put64(cdb, 2, lba);
  put32(cdb, 10, checkUint('blocks', options.blocks ?? 0, 0xffffffff));
  cdb[14] = checkUint('groupNumber', options.groupNumber ?? 0, 0x1f);
  return { cdb, direction: 'none', transferLength: 0 };
}

/** Decodes a SYNCHRONIZE CACHE(10) or (16) CDB. */
export function decodeSynchronizeCacheCdb(cdb: Uint8Array): SynchronizeCacheCdb {
  const long = cdb[0] === ScsiOpcode.SynchronizeCache16;
  return {
    kind: long ? 'synchronize-cache-16' : 'synchronize-cache-10',
    lba: long ? u64(cdb, 2) : BigInt(u32(cdb, 2)),
    blocks: long ? u32(cdb, 10) : u16(cdb, 7),
    immed: (cdb[1]! & 0x02) !== 0,
    groupNumber: (long ? cdb[14]! : cdb[6]!) & 0x1f,
    control: long ? cdb[15]! : cdb[9]!,
  };
}
