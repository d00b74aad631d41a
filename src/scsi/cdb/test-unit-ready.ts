/**
 * TEST UNIT READY (SPC-4 §6.47): six bytes, no data. The usual first command of a session, and the one that
 * collects the UNIT ATTENTION a target reports after a reset or login.
 * @module
 */
import type { ScsiCommand } from '../command.js';
import { ScsiOpcode } from '../command.js';

/** A decoded TEST UNIT READY CDB. */
export interface TestUnitReadyCdb {
  readonly kind: 'test-unit-ready';
  /** CONTROL byte. */
  readonly control: number;
}

/** Builds TEST UNIT READY. */
export function buildTestUnitReadyCdb(): ScsiCommand {
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.TestUnitReady;
  return { cdb, direction: 'none', transferLength: 0 };
}

/** Decodes a TEST UNIT READY CDB (length already checked by the caller). */
export function decodeTestUnitReadyCdb(cdb: Uint8Array): TestUnitReadyCdb {
  return { kind: 'test-unit-ready', control: cdb[5]! };
}
