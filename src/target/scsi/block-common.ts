/**
 * Pieces shared by the SBC command handlers: CDB length and control byte checks, the LBA range check, write
 * protection, Data-Out length, turning a failed backend call into MEDIUM ERROR, and the medium lock that makes
 * COMPARE AND WRITE atomic.
 * @module
 */
import { u16, u32, u64 } from '../../scsi/bytes.js';
import { SenseKey } from '../../scsi/names.js';
import type { BlockBackend } from '../backend/types.js';
import { Asc, checkCondition, good, illegalRequest, invalidFieldInCdb } from './result.js';
import type { LuContext, ScsiRequest, ScsiResult } from './types.js';

/** Additional sense codes for backend failures (SPC-4 Annex D), not in the shared table. */
export const MediumAsc = {
  /** WRITE ERROR: a write, discard or flush failed. */
  WriteError: 0x0c00,
  /** UNRECOVERED READ ERROR: a read failed. */
  UnrecoveredReadError: 0x1100,
} as const;

/** Operation codes of the block commands (SBC-4 table 27). */
export const BlockOpcode = {
  Read6: 0x08,
  Write6: 0x0a,
  ReadCapacity10: 0x25,
  Read10: 0x28,
  Write10: 0x2a,
  WriteAndVerify10: 0x2e,
  Verify10: 0x2f,
  PreFetch10: 0x34,
  SynchronizeCache10: 0x35,
  ReadDefectData10: 0x37,
  WriteSame10: 0x41,
  Unmap: 0x42,
  Read16: 0x88,
  CompareAndWrite: 0x89,
  Write16: 0x8a,
  OrWrite16: 0x8b,
  WriteAndVerify16: 0x8e,
  Verify16: 0x8f,
  PreFetch16: 0x90,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  ServiceActionIn16: 0x9e,
  Read12: 0xa8,
  Write12: 0xaa,
  WriteAndVerify12: 0xae,
  Verify12: 0xaf,
  ReadDefectData12: 0xb7,
} as const;

/** SERVICE ACTION IN(16) service actions (SBC-4 §5.16, §5.8). */
export const ServiceActionIn16 = {
  ReadCapacity16: 0x10,
  GetLbaStatus: 0x12,
} as const;

/** CDB USAGE DATA (SPC-4 §6.35.3) from its bytes; byte 0 is the opcode. */
export function usage(...bytes: number[]): Uint8Array {
  return Uint8Array.from(bytes);
}

/**
 * The CDB cut to its command's length, or the answer when it is unusable: shorter than `length`, or NACA set in
 * the CONTROL byte (SAM-5 §5.10: a device server without ACA support rejects NACA=1 with INVALID FIELD IN CDB).
 */
export function takeCdb(request: ScsiRequest, length: number): Uint8Array | ScsiResult {
  if (request.cdb.length < length) return invalidFieldInCdb(0);
  const cdb = request.cdb.subarray(0, length);
  if (cdb[length - 1]! & 0x04) return invalidFieldInCdb(length - 1, 2);
  return cdb;
}

/** True for an answer rather than a CDB (the result of {@link takeCdb}). */
export function isResult(x: Uint8Array | ScsiResult): x is ScsiResult {
  return !(x instanceof Uint8Array);
}

/**
 * LBA OUT OF RANGE unless `lba .. lba+blocks` lies within the medium (SBC-4 §4.5). Bigint arithmetic: a 16-byte
 * CDB's LBA plus its length may exceed 2**64. A zero-length range may start at the capacity, as in scsi_debug.
 */
export function checkRange(lu: LuContext, lba: bigint, blocks: number | bigint): ScsiResult | undefined {
  return lba + BigInt(blocks) > lu.blocks ? illegalRequest(Asc.LbaOutOfRange) : undefined;
}

/**
 * The addressing fields shared by READ, WRITE, VERIFY, WRITE AND VERIFY, PRE-FETCH and ORWRITE: the 10-byte forms
 * keep a 32-bit LBA in bytes 2-5 and a 16-bit length in bytes 7-8, the 12-byte forms a 32-bit length in bytes 6-9,
 * the 16-byte forms a 64-bit LBA in bytes 2-9 and a 32-bit length in bytes 10-13 (SBC-4 §4.2.2).
 */
export interface Transfer {
  readonly lba: bigint;
  /** TRANSFER LENGTH (or VERIFICATION / PREFETCH LENGTH) in blocks. */
  readonly blocks: number;
  /** Byte of the CDB holding the length (for the sense field pointer). */
  readonly lengthField: number;
  /** Byte 1 (RDPROTECT/WRPROTECT/VRPROTECT, DPO, FUA, BYTCHK, IMMED); 0 for the 6-byte forms, which have none. */
  readonly flags: number;
}

/** The {@link Transfer} fields of a CDB already cut to its length (6, 10, 12 or 16 bytes). */
export function decodeTransfer(cdb: Uint8Array): Transfer {
  switch (cdb.length) {
    case 6:
      // SBC-4 §5.18, §5.42: a TRANSFER LENGTH of 0 in the 6-byte forms means 256 blocks.
      return { lba: BigInt(((cdb[1]! & 0x1f) << 16) | u16(cdb, 2)), blocks: cdb[4]! || 256, lengthField: 4, flags: 0 };
    case 10:
      return { lba: BigInt(u32(cdb, 2)), blocks: u16(cdb, 7), lengthField: 7, flags: cdb[1]! };
    case 12:
      return { lba: BigInt(u32(cdb, 2)), blocks: u32(cdb, 6), lengthField: 6, flags: cdb[1]! };
    default:
      return { lba: u64(cdb, 2), blocks: u32(cdb, 10), lengthField: 10, flags: cdb[1]! };
  }
}

/** Whether `blocks` is above a Block Limits maximum, where 0 means "no limit reported" (SBC-4 §6.6.4). */
export function aboveLimit(blocks: number, limit: number): boolean {
  return limit > 0 && blocks > limit;
}

/** DATA PROTECT / WRITE PROTECTED when the LU or its backend refuses writes (SBC-4 §4.11). */
export function checkWritable(lu: LuContext): ScsiResult | undefined {
  return lu.readOnly || lu.backend.readOnly ? checkCondition(SenseKey.DataProtect, Asc.WriteProtected) : undefined;
}

/**
 * The first `bytes` of the Data-Out, or INVALID FIELD IN CDB pointing at the CDB's length field when fewer came.
 * The session layer hands over exactly the Expected Data Transfer Length; when that is less than the CDB asks
 * for, the command cannot be carried out as asked and nothing is written (as Linux LIO rejects an overflowing
 * WRITE). More Data-Out than needed is fine: the extra is ignored and the session reports the residual.
 */
export function takeDataOut(request: ScsiRequest, bytes: number, lengthField: number): Uint8Array | ScsiResult {
  if (request.dataOut.length < bytes) return invalidFieldInCdb(lengthField);
  return request.dataOut.subarray(0, bytes);
}

/**
 * The checks every write-type command makes before touching its Data-Out, in this order: WRPROTECT (or ORPROTECT)
 * must be 0 as there is no protection information, the length within MAXIMUM TRANSFER LENGTH, the range within
 * the medium, and the LU writable.
 */
export function checkWrite(lu: LuContext, t: Transfer): ScsiResult | undefined {
  if (t.flags >> 5) return invalidFieldInCdb(1, 7);
  if (aboveLimit(t.blocks, lu.limits.maxTransferBlocks)) return invalidFieldInCdb(t.lengthField);
  return checkRange(lu, t.lba, t.blocks) ?? checkWritable(lu);
}

/**
 * The Data-Out of a write of `blocks` blocks, cut to the whole blocks that came (at most `blocks`), or the answer
 * when it ends inside a block. The session reports EDTL versus the CDB's length as a residual (RFC 7143
 * §11.4.5.1): with less Data-Out than the CDB asks for, the whole blocks that came are written (as libiscsi's
 * residual tests expect); a partial block cannot be, which is INVALID FIELD IN INFORMATION UNIT. Either way the
 * answer carries `dataOutLength`, so add it to GOOD with {@link writeDone}.
 */
export function takeWholeBlocks(lu: LuContext, request: ScsiRequest, blocks: number): Uint8Array | ScsiResult {
  const wanted = blocks * lu.blockSize;
  const got = request.dataOut.length;
  if (got < wanted && got % lu.blockSize !== 0) {
    return { ...illegalRequest(Asc.InvalidFieldInInformationUnit), dataOutLength: wanted };
  }
  return request.dataOut.subarray(0, Math.min(wanted, got));
}

/** GOOD for a write of `blocks` blocks, with the Data-Out length the CDB asked for (see {@link takeWholeBlocks}). */
export function writeDone(lu: LuContext, blocks: number): ScsiResult {
  return { ...good(), dataOutLength: blocks * lu.blockSize };
}

/** Byte offset of logical block `lba` (checked in range first, so it is below 2**53). */
export function byteOffset(lu: LuContext, lba: bigint): number {
  return Number(lba) * lu.blockSize;
}

/** MEDIUM ERROR / UNRECOVERED READ ERROR (reads) or WRITE ERROR (writes, discards, flushes). */
export function mediumError(kind: 'read' | 'write'): ScsiResult {
  return checkCondition(SenseKey.MediumError, kind === 'read' ? MediumAsc.UnrecoveredReadError : MediumAsc.WriteError);
}

/**
 * Whether a write must reach stable storage before GOOD: FUA asks for it (SBC-4 §5.40), and with the caching
 * mode page's WCE bit clear every write is write-through (SBC-4 §6.5.5).
 */
export function writeThrough(lu: LuContext, fua: boolean): boolean {
  return fua || !lu.writeCacheEnabled;
}

/** Index of the first byte where `a` and `b` differ within their common length, or -1. */
export function firstMismatch(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  if (Buffer.from(a.buffer, a.byteOffset, n).equals(Buffer.from(b.buffer, b.byteOffset, n))) return -1;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with INFORMATION set to the byte offset of the first difference
 * (SBC-4 §5.3, §5.31). Fixed-format sense holds 32 bits of INFORMATION; a larger offset is left out (VALID=0).
 */
export function miscompare(offset: number): ScsiResult {
  return checkCondition(
    SenseKey.Miscompare,
    Asc.MiscompareDuringVerify,
    offset <= 0xffffffff ? { information: BigInt(offset) } : {},
  );
}

/**
 * A shared/exclusive lock over one backend's medium. Every command that reads or changes the medium holds it
 * shared, so they still run concurrently; COMPARE AND WRITE holds it exclusive, which makes its read, compare and
 * write one uninterrupted operation as SBC-4 §5.3 requires. Waiters are served in arrival order, so a queued
 * COMPARE AND WRITE is not starved by a stream of reads.
 */
export class MediumLock {
  #shared = 0;
  #exclusive = false;
  readonly #queue: { exclusive: boolean; wake: () => void }[] = [];

  /** Runs `fn` holding the lock (shared unless `exclusive`), releasing it however `fn` ends. */
  async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    if (this.#queue.length === 0 && !this.#exclusive && (!exclusive || this.#shared === 0)) {
      this.#take(exclusive);
    } else {
      await new Promise<void>((wake) => this.#queue.push({ exclusive, wake }));
    }
    try {
      return await fn();
    } finally {
      if (exclusive) this.#exclusive = false;
      else this.#shared--;
      this.#drain();
    }
  }

  #take(exclusive: boolean): void {
    if (exclusive) this.#exclusive = true;
    else this.#shared++;
  }

  // Wakes the waiters at the head of the queue that can now hold the lock (they were counted in by #take).
  #drain(): void {
    for (;;) {
      const next = this.#queue[0];
      if (!next || this.#exclusive || (next.exclusive && this.#shared > 0)) return;
      this.#queue.shift();
      this.#take(next.exclusive);
      next.wake();
    }
  }
}

/**
 * One lock per backend, created on first use. LuContext is an interface the LogicalUnit may rebuild per command,
 * so the lock hangs off the backend object, which lives as long as the LU; the WeakMap lets it go with it.
 */
const locks = new WeakMap<BlockBackend, MediumLock>();

/** The medium lock of `backend`. */
export function mediumLock(backend: BlockBackend): MediumLock {
  let lock = locks.get(backend);
  if (!lock) {
    lock = new MediumLock();
    locks.set(backend, lock);
  }
  return lock;
}

/** Four usage bytes with every bit marked (a 32-bit LBA or length field in CDB USAGE DATA). */
export const FF4: readonly number[] = [0xff, 0xff, 0xff, 0xff];
/** Eight marked usage bytes (a 64-bit LBA). */
export const FF8: readonly number[] = [...FF4, ...FF4];
