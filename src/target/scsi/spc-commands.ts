/**
 * The SPC-4 primary commands of a disk LU, as a command table: INQUIRY, MODE SENSE/SELECT, REQUEST SENSE,
 * TEST UNIT READY, START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, RESERVE/RELEASE (6 and 10), PERSISTENT RESERVE
 * IN/OUT, REPORT LUNS and REPORT SUPPORTED OPERATION CODES. The block commands (SBC) come from another table;
 * {@link LogicalUnit} takes both.
 * @module
 */
import { SenseKey } from '../../scsi/names.js';
import { encodeSense } from '../../scsi/sense-encode.js';
import { inquiry } from './inquiry.js';
import { modeSelect, modeSense } from './mode-commands.js';
import { nexusKey } from './nexus-key.js';
import { isAllRegistrants, isRegistrantsOnly } from './persistent-reservations.js';
import { PrInAction, readFullStatus, readKeys, readReservation, reportCapabilities } from './pr-in.js';
import { PrOutAction, persistentReserveOut } from './pr-out.js';
import { reportLuns } from './report-luns.js';
import { MAINTENANCE_IN, REPORT_SUPPORTED_OPCODES_SA, reportSupportedOpcodes } from './report-opcodes.js';
import { PERSISTENT_RESERVE_IN, PERSISTENT_RESERVE_OUT } from './reservations.js';
import { Asc, good, invalidFieldInCdb, reservationConflict } from './result.js';
import { type SpcState, withSpcState } from './spc-state.js';
import type { CommandEntry, ScsiRequest, ScsiResult } from './types.js';

/** Operation codes of the SPC commands in {@link SPC_COMMANDS}. */
export const SpcOpcode = {
  TestUnitReady: 0x00,
  RequestSense: 0x03,
  Inquiry: 0x12,
  ModeSelect6: 0x15,
  Reserve6: 0x16,
  Release6: 0x17,
  ModeSense6: 0x1a,
  StartStopUnit: 0x1b,
  PreventAllowMediumRemoval: 0x1e,
  ModeSelect10: 0x55,
  Reserve10: 0x56,
  Release10: 0x57,
  ModeSense10: 0x5a,
  PersistentReserveIn: PERSISTENT_RESERVE_IN,
  PersistentReserveOut: PERSISTENT_RESERVE_OUT,
  ReportLuns: 0xa0,
  MaintenanceIn: MAINTENANCE_IN,
} as const;

/** REQUEST SENSE: the pending unit attention (then cleared), otherwise NO SENSE (SPC-4 §6.39). */
function requestSense(state: SpcState, cdb: Uint8Array, request: ScsiRequest): ScsiResult {
  const ua = state.unitAttentions.take(nexusKey(request.nexus));
  const sense = encodeSense({
    format: (cdb[1]! & 0x01) !== 0 ? 'descriptor' : 'fixed',
    senseKey: ua ? SenseKey.UnitAttention : SenseKey.NoSense,
    asc: ua ? ua.asc >>> 8 : 0,
    ascq: ua ? ua.asc & 0xff : 0,
    ...(ua?.overflow ? { senseKeySpecific: { kind: 'unit-attention-queue' as const, overflow: true } } : {}),
  });
  return good(sense);
}

/**
 * Whether RESERVE/RELEASE from `key` is a GOOD no-op while persistent reservations are in use (SPC-4 §5.9.3, CRH=1):
 * from the holder, or from a registrant under a registrants-only or all-registrants reservation. Every other
 * RESERVE/RELEASE then conflicts.
 */
function compatibleWithPr(state: SpcState, key: string): boolean {
  const pr = state.persistent;
  const r = pr.reservation;
  if (pr.isHolder(key)) return true;
  return r !== undefined && (isRegistrantsOnly(r.type) || isAllRegistrants(r.type)) && pr.isRegistered(key);
}

/** RESERVE(6)/(10): SPC-2 logical-unit reservation; third-party, long-ID and extent reservations are refused. */
function reserve(state: SpcState, cdb: Uint8Array, request: ScsiRequest, mask: number): ScsiResult {
  if ((cdb[1]! & mask) !== 0) return invalidFieldInCdb(1);
  const key = nexusKey(request.nexus);
  if (state.persistent.inUse) return compatibleWithPr(state, key) ? good() : reservationConflict();
  return state.spc2.reserve(key) ? good() : reservationConflict();
}

/** RELEASE(6)/(10): releases the holder's reservation; anyone else's RELEASE is GOOD and does nothing (SPC-2). */
function release(state: SpcState, cdb: Uint8Array, request: ScsiRequest, mask: number): ScsiResult {
  if ((cdb[1]! & mask) !== 0) return invalidFieldInCdb(1);
  const key = nexusKey(request.nexus);
  if (state.persistent.inUse) return compatibleWithPr(state, key) ? good() : reservationConflict();
  state.spc2.release(key);
  return good();
}

/** POWER CONDITION values SBC-3 §5.25 defines (0 START_VALID, 1-3, 7 LU_CONTROL, 0xA, 0xB FORCE_*). */
const POWER_CONDITIONS = new Set([0x0, 0x1, 0x2, 0x3, 0x7, 0xa, 0xb]);

/**
 * START STOP UNIT: accepted and without effect; the medium is always ready and not removable, so LOEJ does
 * nothing. Reserved POWER CONDITION values are INVALID FIELD IN CDB.
 */
function startStopUnit(_lu: unknown, request: ScsiRequest): ScsiResult {
  const pc = request.cdb[4]! >> 4;
  return POWER_CONDITIONS.has(pc) ? good() : invalidFieldInCdb(4, 7);
}

/** PREVENT ALLOW MEDIUM REMOVAL: PREVENT 0 or 1 (remembered per nexus), 2 and 3 are obsolete (SPC-4 §6.15). */
function preventAllow(state: SpcState, cdb: Uint8Array, request: ScsiRequest): ScsiResult {
  const prevent = cdb[4]! & 0x03;
  if (prevent > 1) return invalidFieldInCdb(4, 1);
  const key = nexusKey(request.nexus);
  if (prevent) state.preventing.add(key);
  else state.preventing.delete(key);
  return good();
}

// CDB USAGE DATA: the bits each handler looks at; the CONTROL byte's NACA bit (0x04) is checked for all.
const u = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);

function prIn(action: number, name: string, fn: (state: SpcState) => ScsiResult): CommandEntry {
  return {
    opcode: PERSISTENT_RESERVE_IN,
    serviceAction: action,
    name: `PERSISTENT RESERVE IN ${name}`,
    cdbLength: 10,
    usage: u(PERSISTENT_RESERVE_IN, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state) => fn(state)),
  };
}

function prOut(action: number, name: string): CommandEntry {
  return {
    opcode: PERSISTENT_RESERVE_OUT,
    serviceAction: action,
    name: `PERSISTENT RESERVE OUT ${name}`,
    cdbLength: 10,
    usage: u(PERSISTENT_RESERVE_OUT, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, _cdb, request) => persistentReserveOut(state.persistent, request, action)),
  };
}

/** The SPC command table (SPC-4 §5.9.1 table 47 gives the reservation classes). */
export const SPC_COMMANDS: readonly CommandEntry[] = Object.freeze([
  {
    opcode: SpcOpcode.TestUnitReady,
    name: 'TEST UNIT READY',
    cdbLength: 6,
    usage: u(0x00, 0, 0, 0, 0, 0x04),
    reservation: 'allowed',
    handler: () => good(),
  },
  {
    opcode: SpcOpcode.RequestSense,
    name: 'REQUEST SENSE',
    cdbLength: 6,
    usage: u(0x03, 0x01, 0, 0, 0xff, 0x04),
    reservation: 'allowed',
    ignoresUnitAttention: true,
    handler: withSpcState((state, _lu, cdb, request) => requestSense(state, cdb, request)),
  },
  {
    opcode: SpcOpcode.Inquiry,
    name: 'INQUIRY',
    cdbLength: 6,
    usage: u(0x12, 0x03, 0xff, 0xff, 0xff, 0x04),
    reservation: 'allowed',
    ignoresUnitAttention: true,
    handler: inquiry,
  },
  {
    opcode: SpcOpcode.ModeSelect6,
    name: 'MODE SELECT(6)',
    cdbLength: 6,
    usage: u(0x15, 0x11, 0, 0, 0xff, 0x04),
    reservation: 'write',
    handler: withSpcState((state, lu, _cdb, request) => modeSelect(state, lu, request, false)),
  },
  {
    opcode: SpcOpcode.Reserve6,
    name: 'RESERVE(6)',
    cdbLength: 6,
    usage: u(0x16, 0x11, 0, 0, 0, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb, request) => reserve(state, cdb, request, 0x11)),
  },
  {
    opcode: SpcOpcode.Release6,
    name: 'RELEASE(6)',
    cdbLength: 6,
    usage: u(0x17, 0x11, 0, 0, 0, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb, request) => release(state, cdb, request, 0x11)),
  },
  {
    opcode: SpcOpcode.ModeSense6,
    name: 'MODE SENSE(6)',
    cdbLength: 6,
    usage: u(0x1a, 0x08, 0xff, 0xff, 0xff, 0x04),
    reservation: 'read',
    handler: withSpcState((state, lu, cdb) => modeSense(state, lu, cdb, false)),
  },
  {
    opcode: SpcOpcode.StartStopUnit,
    name: 'START STOP UNIT',
    cdbLength: 6,
    usage: u(0x1b, 0x01, 0, 0x0f, 0xf7, 0x04),
    reservation: 'write',
    handler: startStopUnit,
  },
  {
    opcode: SpcOpcode.PreventAllowMediumRemoval,
    name: 'PREVENT ALLOW MEDIUM REMOVAL',
    cdbLength: 6,
    usage: u(0x1e, 0, 0, 0, 0x03, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb, request) => preventAllow(state, cdb, request)),
  },
  {
    opcode: SpcOpcode.ModeSelect10,
    name: 'MODE SELECT(10)',
    cdbLength: 10,
    usage: u(0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0x04),
    reservation: 'write',
    handler: withSpcState((state, lu, _cdb, request) => modeSelect(state, lu, request, true)),
  },
  {
    opcode: SpcOpcode.Reserve10,
    name: 'RESERVE(10)',
    cdbLength: 10,
    usage: u(0x56, 0x13, 0, 0, 0, 0, 0, 0, 0, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb, request) => reserve(state, cdb, request, 0x13)),
  },
  {
    opcode: SpcOpcode.Release10,
    name: 'RELEASE(10)',
    cdbLength: 10,
    usage: u(0x57, 0x13, 0, 0, 0, 0, 0, 0, 0, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb, request) => release(state, cdb, request, 0x13)),
  },
  {
    opcode: SpcOpcode.ModeSense10,
    name: 'MODE SENSE(10)',
    cdbLength: 10,
    usage: u(0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0x04),
    reservation: 'read',
    handler: withSpcState((state, lu, cdb) => modeSense(state, lu, cdb, true)),
  },
  prIn(PrInAction.ReadKeys, 'READ KEYS', (s) => readKeys(s.persistent)),
  prIn(PrInAction.ReadReservation, 'READ RESERVATION', (s) => readReservation(s.persistent)),
  prIn(PrInAction.ReportCapabilities, 'REPORT CAPABILITIES', () => reportCapabilities()),
  prIn(PrInAction.ReadFullStatus, 'READ FULL STATUS', (s) => readFullStatus(s.persistent)),
  prOut(PrOutAction.Register, 'REGISTER'),
  prOut(PrOutAction.Reserve, 'RESERVE'),
  prOut(PrOutAction.Release, 'RELEASE'),
  prOut(PrOutAction.Clear, 'CLEAR'),
  prOut(PrOutAction.Preempt, 'PREEMPT'),
  prOut(PrOutAction.PreemptAndAbort, 'PREEMPT AND ABORT'),
  prOut(PrOutAction.RegisterAndIgnoreExistingKey, 'REGISTER AND IGNORE EXISTING KEY'),
  {
    opcode: SpcOpcode.ReportLuns,
    name: 'REPORT LUNS',
    cdbLength: 12,
    usage: u(0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0x04),
    reservation: 'allowed',
    ignoresUnitAttention: true,
    handler: withSpcState((state, _lu, cdb, request) => {
      // SPC-4 §6.33: REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED for the nexus.
      state.unitAttentions.remove(nexusKey(request.nexus), Asc.ReportedLunsDataHasChanged);
      return reportLuns(cdb, state.luns());
    }),
  },
  {
    opcode: SpcOpcode.MaintenanceIn,
    serviceAction: REPORT_SUPPORTED_OPCODES_SA,
    name: 'REPORT SUPPORTED OPERATION CODES',
    cdbLength: 12,
    usage: u(0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x04),
    reservation: 'allowed',
    handler: withSpcState((state, _lu, cdb) => reportSupportedOpcodes(cdb, state.commands())),
  },
]);
