/**
 * REQUEST SENSE (SPC-4 §6.39): asks for the sense data of the last command, in fixed or descriptor format.
 * With autosense (every iSCSI target) this is rarely needed; it reports pending deferred errors and progress.
 * @module
 */
import type { ScsiCommand } from '../command.js';
import { checkUint, ScsiOpcode } from '../command.js';

/** Options of {@link buildRequestSenseCdb}. */
export interface RequestSenseOptions {
  /** DESC: ask for descriptor-format sense data (0x72) instead of fixed (0x70). Default false. */
  readonly descriptorFormat?: boolean;
  /** ALLOCATION LENGTH, 0..255; default 252, the largest sense data SPC-4 defines. */
  readonly allocationLength?: number;
}

/** A decoded REQUEST SENSE CDB. */
export interface RequestSenseCdb {
  readonly kind: 'request-sense';
  readonly descriptorFormat: boolean;
  readonly allocationLength: number;
  readonly control: number;
}

/** Builds REQUEST SENSE. */
export function buildRequestSenseCdb(options: RequestSenseOptions = {}): ScsiCommand {
  const allocationLength = checkUint('allocationLength', options.allocationLength ?? 252, 0xff);
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.RequestSense;
  cdb[1] = options.descriptorFormat ? 0x01 : 0;
  cdb[4] = allocationLength;
  return { cdb, direction: allocationLength ? 'read' : 'none', transferLength: allocationLength };
}

/** Decodes a REQUEST SENSE CDB. */
export function decodeRequestSenseCdb(cdb: Uint8Array): RequestSenseCdb {
  return {
    kind: 'request-sense',
    descriptorFormat: (cdb[1]! & 0x01) !== 0,
    allocationLength: cdb[4]!,
    control: cdb[5]!,
  };
}
