/**
 * REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35), MAINTENANCE IN service action 0x0C, built from a logical unit's
 * command table.
 * @module
 */
import { put16, put32, u16 } from '../../scsi/bytes.js';
import { good, invalidFieldInCdb } from './result.js';
import type { CommandEntry, ScsiResult } from './types.js';

/** MAINTENANCE IN operation code and the RSOC service action. */
export const MAINTENANCE_IN = 0xa3;
export const REPORT_SUPPORTED_OPCODES_SA = 0x0c;

/** Nominal and recommended command timeouts reported with RCTD=1, in seconds (0: not specified). */
const NOMINAL_TIMEOUT = 0;
const RECOMMENDED_TIMEOUT = 30;

/** Command timeouts descriptor (SPC-4 §6.35.4). */
function timeoutsDescriptor(): Uint8Array {
  const d = new Uint8Array(12);
  put16(d, 0, 0x0a);
  put32(d, 4, NOMINAL_TIMEOUT);
  put32(d, 8, RECOMMENDED_TIMEOUT);
  return d;
}

/** Whether `opcode` selects its command by service action in `commands`. */
function hasServiceActions(commands: readonly CommandEntry[], opcode: number): boolean {
  return commands.some((c) => c.opcode === opcode && c.serviceAction !== undefined);
}

function allCommands(commands: readonly CommandEntry[], rctd: boolean): Uint8Array {
  const size = rctd ? 20 : 8;
  const sorted = [...commands].sort((a, b) => a.opcode - b.opcode || (a.serviceAction ?? 0) - (b.serviceAction ?? 0));
  const out = new Uint8Array(4 + size * sorted.length);
  put32(out, 0, size * sorted.length);
  sorted.forEach((c, i) => {
    const o = 4 + size * i;
    out[o] = c.opcode;
    put16(out, o + 2, c.serviceAction ?? 0);
    out[o + 5] = (rctd ? 0x02 : 0) | (c.serviceAction !== undefined ? 0x01 : 0); // CTDP, SERVACTV
    put16(out, o + 6, c.cdbLength);
    if (rctd) out.set(timeoutsDescriptor(), o + 8);
  });
  return out;
}

function oneCommand(entry: CommandEntry | undefined, rctd: boolean): Uint8Array {
  if (!entry) {
    // SUPPORT 001b: not supported; CDB SIZE 0 and no usage data.
    const out = new Uint8Array(4);
    out[1] = 0x01;
    return out;
  }
  const out = new Uint8Array(4 + entry.cdbLength + (rctd ? 12 : 0));
  out[1] = (rctd ? 0x80 : 0) | 0x03; // CTDP; SUPPORT 011b: supported as the standard says
  put16(out, 2, entry.cdbLength);
  out.set(entry.usage.subarray(0, entry.cdbLength), 4);
  if (rctd) out.set(timeoutsDescriptor(), 4 + entry.cdbLength);
  return out;
}

/** REPORT SUPPORTED OPERATION CODES for `commands`; REPORTING OPTIONS 0-3. */
export function reportSupportedOpcodes(cdb: Uint8Array, commands: readonly CommandEntry[]): ScsiResult {
  const rctd = (cdb[2]! & 0x80) !== 0;
  const options = cdb[2]! & 0x07;
  const opcode = cdb[3]!;
  const sa = u16(cdb, 4);
  switch (options) {
    case 0:
      return good(allCommands(commands, rctd));
    case 1:
      // The opcode alone: it must not be one that needs a service action.
      if (hasServiceActions(commands, opcode)) return invalidFieldInCdb(3);
      return good(
        oneCommand(
          commands.find((c) => c.opcode === opcode),
          rctd,
        ),
      );
    case 2:
      if (!hasServiceActions(commands, opcode)) return invalidFieldInCdb(3);
      return good(
        oneCommand(
          commands.find((c) => c.opcode === opcode && c.serviceAction === sa),
          rctd,
        ),
      );
    case 3:
      // SPC-4 r36+: opcode, with the service action when the opcode has service actions.
      return good(
        oneCommand(
          commands.find(
            (c) => c.opcode === opcode && (hasServiceActions(commands, opcode) ? c.serviceAction === sa : true),
          ),
          rctd,
        ),
      );
    default:
      return invalidFieldInCdb(2, 2);
  }
}
