/**
 * PERSISTENT RESERVE OUT (SPC-4 §6.14): CDB and parameter list checks, then the service action on the LU's
 * {@link PersistentReservations}.
 * @module
 */
import { u32, u64 } from '../../scsi/bytes.js';
import { nexusKey } from './nexus-key.js';
import { isPrType, type PersistentReservations } from './persistent-reservations.js';
import { Asc, illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './result.js';
import type { ScsiRequest, ScsiResult } from './types.js';

/** PERSISTENT RESERVE OUT service actions handled here (REGISTER AND MOVE, 0x07, is not supported). */
export const PrOutAction = {
  Register: 0x00,
  Reserve: 0x01,
  Release: 0x02,
  Clear: 0x03,
  Preempt: 0x04,
  PreemptAndAbort: 0x05,
  RegisterAndIgnoreExistingKey: 0x06,
} as const;

/** The basic PERSISTENT RESERVE OUT parameter list is 24 bytes (SPC-4 §6.14.3). */
const PARAMETER_LIST_LENGTH = 24;

/** Runs PR OUT service action `action` (from CDB byte 1) against `pr`. */
export function persistentReserveOut(pr: PersistentReservations, request: ScsiRequest, action: number): ScsiResult {
  const cdb = request.cdb;
  const scope = cdb[2]! >> 4;
  const type = cdb[2]! & 0x0f;
  const isRegister = action === PrOutAction.Register || action === PrOutAction.RegisterAndIgnoreExistingKey;
  const needsType =
    action === PrOutAction.Reserve ||
    action === PrOutAction.Release ||
    action === PrOutAction.Preempt ||
    action === PrOutAction.PreemptAndAbort;
  if (needsType) {
    // SPC-4 §6.14.2: only LU_SCOPE exists in SPC-4; TYPE must be one of the six.
    if (scope !== 0) return invalidFieldInCdb(2, 7);
    if (!isPrType(type)) return invalidFieldInCdb(2, 3);
  }
  const length = u32(cdb, 5);
  if (length !== PARAMETER_LIST_LENGTH || request.dataOut.length < PARAMETER_LIST_LENGTH) {
    return illegalRequest(Asc.ParameterListLengthError);
  }
  const p = request.dataOut;
  const reservationKey = u64(p, 0);
  const serviceActionKey = u64(p, 8);
  const flags = p[20]!;
  // SPEC_I_PT and ALL_TG_PT are not supported (REPORT CAPABILITIES: SIP_C=0, ATP_C=0).
  if ((flags & 0x08) !== 0) return invalidFieldInParameterList(20, 3);
  if ((flags & 0x04) !== 0) return invalidFieldInParameterList(20, 2);
  // APTPL=1 asks for registrations to survive power loss; they are kept in memory only (PTPL_C=0).
  if (isRegister && (flags & 0x01) !== 0) return invalidFieldInParameterList(20, 0);
  const key = nexusKey(request.nexus);
  switch (action) {
    case PrOutAction.Register:
      return pr.register(key, request.nexus, reservationKey, serviceActionKey, false);
    case PrOutAction.RegisterAndIgnoreExistingKey:
      return pr.register(key, request.nexus, reservationKey, serviceActionKey, true);
    case PrOutAction.Reserve:
      return pr.reserve(key, reservationKey, type);
    case PrOutAction.Release:
      return pr.release(key, reservationKey, type);
    case PrOutAction.Clear:
      return pr.clear(key, reservationKey);
    case PrOutAction.Preempt:
    case PrOutAction.PreemptAndAbort:
      return pr.preempt(key, reservationKey, serviceActionKey, type);
    default:
      return invalidFieldInCdb(1, 4);
  }
}
