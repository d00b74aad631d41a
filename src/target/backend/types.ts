import { InvalidArgumentError } from '../../errors.js';

/**
 * The storage behind a logical unit: a byte-addressed store the SCSI device server reads and writes in whole
 * blocks. Backends know nothing of SCSI; the device server checks ranges before calling them.
 * @module
 */

/** A LUN's storage: memory (`memory.ts`) or a file (`file.ts`). */
export interface BlockBackend {
  /** Capacity in bytes (a multiple of the LUN's block size). */
  readonly size: number;
  /** Writes are refused with DATA PROTECT / WRITE PROTECTED. */
  readonly readOnly: boolean;
  /** Whether {@link BlockBackend.discard} frees storage (the LUN is then thin provisioned: LBPME=1). */
  readonly thin: boolean;
  /**
   * Reads `length` bytes at `offset`; unwritten or discarded ranges read as zeros. The result may be a view of
   * the backend's own storage (no copy): callers must not modify it, and a later write may change it. A read's
   * Data-In is sent before its status, so an initiator can only see such a change through a write it issued
   * while the read was in flight, which SCSI leaves unordered anyway.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at `offset`. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Makes earlier writes durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>;
  /** Frees a range so it reads as zeros (UNMAP, WRITE SAME with UNMAP); a no-op when not `thin`. */
  discard(offset: number, length: number): Promise<void>;
  /** Whether any byte of the range holds stored data (GET LBA STATUS); always true when not `thin`. */
  mapped(offset: number, length: number): boolean;
  /** Releases the storage (closes a file). */
  close(): Promise<void>;
}

/**
 * Throws InvalidArgumentError unless `[offset, offset + length)` lies within `size` bytes: a guard against
 * programming errors, since the device server checks LBA ranges before calling a backend.
 */
export function checkBackendRange(size: number, offset: number, length: number, op: string): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new InvalidArgumentError(`${op} of ${length} bytes at ${offset} is outside the ${size}-byte backend`);
  }
}
