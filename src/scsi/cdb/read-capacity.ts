/**
 * READ CAPACITY(10) (SBC-3 §5.15) and READ CAPACITY(16) (SBC-3 §5.16, SERVICE ACTION IN(16) action 0x10).
 * Use the 16-byte form when the 10-byte one returns 0xffffffff, and for provisioning and protection fields.
 * @module
 */
import { put32, u32 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkUint, READ_CAPACITY_16_SERVICE_ACTION, ScsiOpcode } from '../command.js';

/** Length of READ CAPACITY(10) parameter data. */
export const READ_CAPACITY_10_DATA_LENGTH = 8;
/** Length of READ CAPACITY(16) parameter data in SBC-3 and SBC-4. */
export const READ_CAPACITY_16_DATA_LENGTH = 32;

/** Options of {@link buildReadCapacity16Cdb}. */
export interface ReadCapacity16Options {
  /** ALLOCATION LENGTH; default 32, the whole parameter data. */
  readonly allocationLength?: number;
}

/** A decoded READ CAPACITY(10) CDB. */
export interface ReadCapacity10Cdb {
  readonly kind: 'read-capacity-10';
  readonly control: number;
}

/** A decoded READ CAPACITY(16) CDB. */
export interface ReadCapacity16Cdb {
  readonly kind: 'read-capacity-16';
  readonly allocationLength: number;
  readonly control: number;
}

/** Builds READ CAPACITY(10): 8 bytes of Data-In. */
export function buildReadCapacity10Cdb(): ScsiCommand {
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.ReadCapacity10;
  return { cdb, direction: 'read', transferLength: READ_CAPACITY_10_DATA_LENGTH };
}

/** Builds READ CAPACITY(16). */
export function buildReadCapacity16Cdb(options: ReadCapacity16Options = {}): ScsiCommand {
  const allocationLength = checkUint(
    'allocationLength',
    options.allocationLength ?? READ_CAPACITY_16_DATA_LENGTH,
    0xffffffff,
  );
  const cdb = new Uint8Array(16);
  cdb[0] = ScsiOpcode.ServiceActionIn16;
  cdb[1] = READ_CAPACITY_16_SERVICE_ACTION;
  put32(cdb, 10, allocationLength);
  return { cdb, direction: allocationLength ? 'read' : 'none', transferLength: allocationLength };
}

/** Decodes a READ CAPACITY(10) CDB. */
export function decodeReadCapacity10Cdb(cdb: Uint8Array): ReadCapacity10Cdb {
  return { kind: 'read-capacity-10', control: cdb[9]! };
}

/** Decodes a READ CAPACITY(16) CDB (SERVICE ACTION IN(16) with service action 0x10). */
export function decodeReadCapacity16Cdb(cdb: Uint8Array): ReadCapacity16Cdb {
  return { kind: 'read-capacity-16', allocationLength: u32(cdb, 10), control: cdb[15]! };
}
