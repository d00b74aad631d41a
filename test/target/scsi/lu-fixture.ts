/**
 * A tiny LuContext for calling block command handlers directly: a MemoryBackend (or any backend), small limits,
 * a request builder and sense decoding for assertions.
 */

import { put16, put32, put64 } from '../../../src/scsi/bytes.js';
import { parseSense, type SenseData } from '../../../src/scsi/sense.js';
import { MemoryBackend } from '../../../src/target/backend/memory.js';
import type { BlockBackend } from '../../../src/target/backend/types.js';
import { BLOCK_COMMANDS } from '../../../src/target/scsi/block-commands.js';
import type { CommandEntry, LuContext, LuLimits, ScsiRequest, ScsiResult } from '../../../src/target/scsi/types.js';

export const DEFAULT_LIMITS: LuLimits = {
  maxTransferBlocks: 512,
  optimalTransferBlocks: 8,
  maxUnmapBlocks: 1024,
  maxUnmapDescriptors: 4,
  maxWriteSameBlocks: 4096,
  maxCompareAndWriteBlocks: 4,
};

export interface LuOptions {
  readonly blocks?: number;
  readonly blockSize?: number;
  readonly readOnly?: boolean;
  readonly writeCacheEnabled?: boolean;
  readonly limits?: Partial<LuLimits>;
  /** Use this backend instead of a fresh MemoryBackend (its size sets the block count). */
  readonly backend?: BlockBackend;
  readonly chunkSize?: number;
}

/** A logical unit context over a memory backend of `blocks` × `blockSize` bytes (default 1024 × 512). */
export function makeLu(options: LuOptions = {}): LuContext {
  const blockSize = options.blockSize ?? 512;
  const backend =
    options.backend ??
    new MemoryBackend({ size: (options.blocks ?? 1024) * blockSize, chunkSize: options.chunkSize ?? 4096 });
  return {
    lun: 0,
    backend,
    blockSize,
    blocks: BigInt(Math.floor(backend.size / blockSize)),
    identity: {
      vendor: 'ISCSI-TS',
      product: 'TEST',
      revision: '0001',
      serial: 'S1',
      naa: 0x6001405000000001n,
      targetName: 'iqn.2024-01.test:lu',
    },
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    readOnly: options.readOnly ?? false,
    writeCacheEnabled: options.writeCacheEnabled ?? true,
  };
}

/** The table entry for `opcode` (and service action). */
export function entry(opcode: number, serviceAction?: number): CommandEntry {
  const found = BLOCK_COMMANDS.find((e) => e.opcode === opcode && e.serviceAction === serviceAction);
  if (!found) throw new Error(`no entry for 0x${opcode.toString(16)}/${serviceAction}`);
  return found;
}

/** A CDB padded to 16 bytes, as a SCSI Command PDU carries it. */
export function pad16(cdb: Uint8Array | number[]): Uint8Array {
  const out = new Uint8Array(Math.max(16, cdb.length));
  out.set(cdb);
  return out;
}

/** Runs the handler for `cdb` (dispatching on byte 0 and, for 0x9e, the service action). */
export async function run(
  lu: LuContext,
  cdb: Uint8Array | number[],
  dataOut: Uint8Array = new Uint8Array(0),
): Promise<ScsiResult> {
  const bytes = Uint8Array.from(cdb);
  const e = entry(bytes[0]!, bytes[0] === 0x9e ? bytes[1]! & 0x1f : undefined);
  const request: ScsiRequest = {
    lun: 0,
    cdb: pad16(bytes),
    nexus: { initiatorPort: 'iqn.x,i,0x000000000001', initiatorName: 'iqn.x', isid: 1, relativeTargetPort: 1 },
    dataInLength: 0xffffffff,
    dataOut,
    attribute: 'simple',
  };
  return e.handler(lu, request);
}

/** The decoded sense of a CHECK CONDITION (throws when there is none). */
export function sense(result: ScsiResult): SenseData {
  if (result.status !== 0x02 || !result.sense) throw new Error(`status 0x${result.status.toString(16)}, no sense`);
  return parseSense(result.sense);
}

/** `[senseKey, asc << 8 | ascq]` of a CHECK CONDITION, for compact assertions. */
export function senseCode(result: ScsiResult): [number, number] {
  const s = sense(result);
  return [s.senseKey, (s.asc << 8) | s.ascq];
}

/** Deterministic bytes (i * 7 + seed) for payloads. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** A 10-byte CDB: opcode, byte 1, a 32-bit LBA and a 16-bit length in their usual places. */
export function cdb10(opcode: number, b1: number, lba: number, blocks: number): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = opcode;
  cdb[1] = b1;
  put32(cdb, 2, lba);
  put16(cdb, 7, blocks);
  return cdb;
}

/** A 12-byte CDB: a 32-bit LBA and a 32-bit length. */
export function cdb12(opcode: number, b1: number, lba: number, blocks: number): Uint8Array {
  const cdb = new Uint8Array(12);
  cdb[0] = opcode;
  cdb[1] = b1;
  put32(cdb, 2, lba);
  put32(cdb, 6, blocks);
  return cdb;
}

/** A 16-byte CDB: a 64-bit LBA and a 32-bit length. */
export function cdb16(opcode: number, b1: number, lba: bigint, blocks: number): Uint8Array {
  const cdb = new Uint8Array(16);
  cdb[0] = opcode;
  cdb[1] = b1;
  put64(cdb, 2, lba);
  put32(cdb, 10, blocks);
  return cdb;
}
