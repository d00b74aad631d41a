/**
 * Building device-server answers: GOOD with data, and CHECK CONDITION with fixed-format sense (SPC-4 §4.5.3) for
 * the additional sense codes a disk reports. Handlers answer with these and never throw for bad input.
 * @module
 */
import { ScsiStatus, SenseKey } from '../../scsi/names.js';
import type { SenseKeySpecific } from '../../scsi/sense.js';
import { encodeSense } from '../../scsi/sense-encode.js';
import type { ScsiResult } from './types.js';

/** ASC/ASCQ pairs used by the device server (SPC-4 Annex D), as `asc << 8 | ascq`. */
export const Asc = {
  NoAdditionalSense: 0x0000,
  LogicalUnitNotReadyInitializingRequired: 0x0402,
  ParameterListLengthError: 0x1a00,
  MiscompareDuringVerify: 0x1d00,
  InvalidFieldInInformationUnit: 0x0e03,
  InvalidOpcode: 0x2000,
  LbaOutOfRange: 0x2100,
  InvalidFieldInCdb: 0x2400,
  LogicalUnitNotSupported: 0x2500,
  InvalidFieldInParameterList: 0x2600,
  InvalidReleaseOfPersistentReservation: 0x2604,
  WriteProtected: 0x2700,
  PowerOnResetOrBusDeviceReset: 0x2900,
  PowerOnOccurred: 0x2901,
  BusResetOccurred: 0x2902,
  BusDeviceResetFunctionOccurred: 0x2903,
  ItNexusLoss: 0x2907,
  ParametersChanged: 0x2a00,
  ModeParametersChanged: 0x2a01,
  ReservationsPreempted: 0x2a03,
  ReservationsReleased: 0x2a04,
  RegistrationsPreempted: 0x2a05,
  CapacityDataHasChanged: 0x2a09,
  CommandsClearedByAnotherInitiator: 0x2f00,
  SavingParametersNotSupported: 0x3900,
  ReportedLunsDataHasChanged: 0x3f0e,
  InternalTargetFailure: 0x4400,
  ProtocolServiceCrcError: 0x4705,
  InsufficientRegistrationResources: 0x5504,
} as const;

const EMPTY = new Uint8Array(0);

/** GOOD, with optional Data-In. */
export function good(data?: Uint8Array): ScsiResult {
  return data === undefined ? { status: ScsiStatus.Good } : { status: ScsiStatus.Good, data };
}

/** Optional parts of a CHECK CONDITION's sense data. */
export interface SenseExtras {
  /** The INFORMATION field (e.g. the first bad LBA, or the miscompare offset), with VALID set. */
  readonly information?: bigint;
  readonly senseKeySpecific?: SenseKeySpecific;
}

/** CHECK CONDITION with fixed-format sense for `senseKey` and `asc` (`asc << 8 | ascq`, see {@link Asc}). */
export function checkCondition(senseKey: number, asc: number, extras: SenseExtras = {}): ScsiResult {
  const sense = encodeSense({
    senseKey,
    asc: asc >>> 8,
    ascq: asc & 0xff,
    ...(extras.information !== undefined ? { information: extras.information } : {}),
    ...(extras.senseKeySpecific ? { senseKeySpecific: extras.senseKeySpecific } : {}),
  });
  return { status: ScsiStatus.CheckCondition, sense };
}

/** ILLEGAL REQUEST / INVALID FIELD IN CDB, pointing at byte `field` (and `bit`, when one bit is at fault). */
export function invalidFieldInCdb(field: number, bit?: number): ScsiResult {
  return checkCondition(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb, {
    senseKeySpecific: {
      kind: 'field-pointer',
      inCdb: true,
      fieldPointer: field,
      bitPointer: bit,
    },
  });
}

/** ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST, pointing at byte `field` of the parameter data. */
export function invalidFieldInParameterList(field: number, bit?: number): ScsiResult {
  return checkCondition(SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList, {
    senseKeySpecific: {
      kind: 'field-pointer',
      inCdb: false,
      fieldPointer: field,
      bitPointer: bit,
    },
  });
}

/** ILLEGAL REQUEST with `asc` and no pointer (INVALID OPCODE, LBA OUT OF RANGE, PARAMETER LIST LENGTH ERROR...). */
export function illegalRequest(asc: number): ScsiResult {
  return checkCondition(SenseKey.IllegalRequest, asc);
}

/** RESERVATION CONFLICT (no sense data, SPC-4 §5.9). */
export function reservationConflict(): ScsiResult {
  return { status: ScsiStatus.ReservationConflict, sense: EMPTY };
}
