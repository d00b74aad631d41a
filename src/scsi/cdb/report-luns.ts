/**
 * REPORT LUNS (SPC-4 §6.33): the logical units of the target, 8 bytes each after an 8-byte header.
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { put32, u32 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkUint, ScsiOpcode } from '../command.js';

/** SELECT REPORT values (SPC-4 table 284). */
export const ReportLunsSelect = {
  /** Logical units with LUN addressing, not well-known ones. */
  Standard: 0x00,
  /** Well-known logical units only. */
  WellKnown: 0x01,
  /** All logical units. */
  All: 0x02,
} as const;

/** Options of {@link buildReportLunsCdb}. */
export interface ReportLunsOptions {
  /** SELECT REPORT, 0..255; default 0 ({@link ReportLunsSelect}). */
  readonly selectReport?: number;
  /** ALLOCATION LENGTH, at least 16 (SPC-4 §6.33: smaller is ILLEGAL REQUEST); default 2056 (256 LUNs). */
  readonly allocationLength?: number;
}

/** A decoded REPORT LUNS CDB. */
export interface ReportLunsCdb {
  readonly kind: 'report-luns';
  readonly selectReport: number;
  readonly allocationLength: number;
  readonly control: number;
}

/** Builds REPORT LUNS. */
export function buildReportLunsCdb(options: ReportLunsOptions = {}): ScsiCommand {
  const allocationLength = checkUint('allocationLength', options.allocationLength ?? 8 + 8 * 256, 0xffffffff);
  if (allocationLength < 16) throw new InvalidArgumentError(`allocationLength ${allocationLength} is below 16`);
  const cdb = new Uint8Array(12);
  cdb[0] = ScsiOpcode.ReportLuns;
  cdb[2] = checkUint('selectReport', options.selectReport ?? 0, 0xff);
  put32(cdb, 6, allocationLength);
  return { cdb, direction: 'read', transferLength: allocationLength };
}

/** Decodes a REPORT LUNS CDB. */
export function decodeReportLunsCdb(cdb: Uint8Array): ReportLunsCdb {
  return { kind: 'report-luns', selectReport: cdb[2]!, allocationLength: u32(cdb, 6), control: cdb[11]! };
}
