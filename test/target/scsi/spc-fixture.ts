/**
 * Helpers for the SPC device-server tests: nexuses, logical units over small backends, and a `run` that sends a
 * CDB and returns the result with its sense parsed.
 */
import { expect } from 'vitest';
import { put16, put32, put64 } from '../../../src/scsi/bytes.js';
import { ScsiStatus } from '../../../src/scsi/names.js';
import { parseSense, type SenseData } from '../../../src/scsi/sense.js';
import { MemoryBackend } from '../../../src/target/backend/memory.js';
import type { BlockBackend } from '../../../src/target/backend/types.js';
import { LogicalUnit, type LogicalUnitOptions } from '../../../src/target/scsi/logical-unit.js';
import type { CommandEntry, Nexus, ScsiRequest, ScsiResult } from '../../../src/target/scsi/types.js';

export const TARGET = 'iqn.2024-01.org.example:disk';

/** An I_T nexus of initiator `name` (ISID `isid`) through target port `port`. */
export function nexus(name: string, isid = 0x400001370000, port = 1): Nexus {
  return {
    initiatorPort: `${name},i,0x${isid.toString(16).padStart(12, '0')}`,
    initiatorName: name,
    isid,
    relativeTargetPort: port,
  };
}

export const A = nexus('iqn.2024-01.org.example:a');
export const B = nexus('iqn.2024-01.org.example:b');
export const C = nexus('iqn.2024-01.org.example:c');

/** A fully provisioned backend that holds nothing (the SPC commands never touch data). */
export function thickBackend(size = 1 << 20, readOnly = false): BlockBackend {
  return {
    size,
    readOnly,
    thin: false,
    read: async (_o, n) => new Uint8Array(n),
    write: async () => {},
    flush: async () => {},
    discard: async () => {},
    mapped: () => true,
    close: async () => {},
  };
}

/** A logical unit with sensible defaults (thin 1 MiB memory backend, no block commands). */
export function makeLu(options: Partial<LogicalUnitOptions> = {}): LogicalUnit {
  return new LogicalUnit({
    lun: 0,
    backend: new MemoryBackend({ size: 1 << 20 }),
    identity: {
      vendor: 'ISCSI-TS',
      product: 'VIRTUAL-DISK',
      revision: '0001',
      serial: 'SN0001',
      naa: 0x3123456789abcdefn,
      targetName: TARGET,
    },
    commands: [] as CommandEntry[],
    ...options,
  });
}

/** Something that executes commands (a LogicalUnit or a DeviceServer). */
export interface Executor {
  execute(request: ScsiRequest): Promise<ScsiResult>;
}

/** A result with its sense parsed (when there is any). */
export interface Outcome extends ScsiResult {
  readonly parsed: SenseData | undefined;
}

/** Sends `cdb` (padded to 16 bytes) from `from`, with optional Data-Out. */
export async function run(
  target: Executor,
  cdb: ArrayLike<number>,
  from: Nexus = A,
  dataOut: Uint8Array = new Uint8Array(0),
  lun = 0,
): Promise<Outcome> {
  const bytes = new Uint8Array(Math.max(16, cdb.length));
  bytes.set(Array.from(cdb));
  const result = await target.execute({
    lun,
    cdb: bytes,
    nexus: from,
    dataInLength: 65536,
    dataOut,
    attribute: 'simple',
  });
  const parsed = result.sense && result.sense.length > 0 ? parseSense(result.sense) : undefined;
  return { ...result, parsed };
}

/** Asserts GOOD and returns the data. */
export function expectGood(r: Outcome): Uint8Array {
  expect({ status: r.status, sense: r.parsed && [r.parsed.senseKey, r.parsed.asc, r.parsed.ascq] }).toEqual({
    status: ScsiStatus.Good,
    sense: undefined,
  });
  return r.data ?? new Uint8Array(0);
}

/** Asserts CHECK CONDITION with sense key and `asc << 8 | ascq`. */
export function expectCheck(r: Outcome, senseKey: number, asc: number): SenseData {
  expect(r.status).toBe(ScsiStatus.CheckCondition);
  expect(r.parsed).toBeDefined();
  expect([r.parsed!.senseKey, (r.parsed!.asc << 8) | r.parsed!.ascq]).toEqual([senseKey, asc]);
  return r.parsed!;
}

/** Sends TEST UNIT READY until it is GOOD (clears pending unit attentions; at most 10 tries). */
export async function clearUa(target: Executor, from: Nexus, lun = 0): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await run(target, [0x00], from, undefined, lun);
    if (r.status === ScsiStatus.Good) return seen;
    seen.push((r.parsed!.asc << 8) | r.parsed!.ascq);
  }
  throw new Error('unit attentions never cleared');
}

/** PERSISTENT RESERVE OUT CDB. */
export function proutCdb(action: number, type = 0, length = 24): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = 0x5f;
  cdb[1] = action;
  cdb[2] = type;
  put32(cdb, 5, length);
  return cdb;
}

/** PERSISTENT RESERVE OUT parameter list. */
export function proutParams(key: bigint, saKey = 0n, flags = 0): Uint8Array {
  const p = new Uint8Array(24);
  put64(p, 0, key);
  put64(p, 8, saKey);
  p[20] = flags;
  return p;
}

/** PERSISTENT RESERVE IN CDB. */
export function prinCdb(action: number, allocation = 8192): Uint8Array {
  const cdb = new Uint8Array(10);
  cdb[0] = 0x5e;
  cdb[1] = action;
  put16(cdb, 7, allocation);
  return cdb;
}

/** A 10-byte READ(10)-like CDB whose entry is a stub 'read' or 'write' command (for reservation tests). */
export const STUB_READ = 0xc8;
export const STUB_WRITE = 0xc9;

/** Vendor-specific stub commands classed `read` and `write` that answer GOOD. */
export const STUB_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: STUB_READ,
    name: 'STUB READ',
    cdbLength: 10,
    usage: Uint8Array.of(STUB_READ, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    reservation: 'read',
    handler: () => ({ status: ScsiStatus.Good }),
  },
  {
    opcode: STUB_WRITE,
    name: 'STUB WRITE',
    cdbLength: 10,
    usage: Uint8Array.of(STUB_WRITE, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    reservation: 'write',
    handler: () => ({ status: ScsiStatus.Good }),
  },
];
