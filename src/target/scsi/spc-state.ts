/**
 * What SPC command handlers need of their logical unit beyond {@link LuContext}: unit attentions, reservations,
 * mode pages, the command table and the LUN inventory. {@link LogicalUnit} carries it under a symbol, so the
 * shared `LuContext` interface stays as it is.
 * @module
 */

import { SenseKey } from '../../scsi/names.js';
import type { ModeState } from './mode-pages.js';
import type { PersistentReservations } from './persistent-reservations.js';
import type { Spc2Reservation } from './reservations.js';
import { Asc, checkCondition } from './result.js';
import type { CommandEntry, LuContext, ScsiRequest, ScsiResult } from './types.js';
import type { UnitAttentions } from './unit-attention.js';

/** The key under which a logical unit exposes its {@link SpcState}. */
export const SPC_STATE: unique symbol = Symbol('iscsi-ts.spc-state');

/** Per-LU state shared by the SPC handlers. */
export interface SpcState {
  readonly unitAttentions: UnitAttentions;
  readonly spc2: Spc2Reservation;
  readonly persistent: PersistentReservations;
  readonly modes: ModeState;
  /** Nexus keys that sent PREVENT ALLOW MEDIUM REMOVAL with PREVENT=1 (kept for reporting only). */
  readonly preventing: Set<string>;
  /** The LU's command table (REPORT SUPPORTED OPERATION CODES). */
  commands(): readonly CommandEntry[];
  /** LUNs of the target, ascending (REPORT LUNS). */
  luns(): readonly number[];
  /** Establishes MODE PARAMETERS CHANGED and the like for every other nexus. */
  notifyOthers(asc: number, exceptKey: string): void;
}

/** A {@link LuContext} that carries {@link SpcState}. */
export interface SpcHost extends LuContext {
  readonly [SPC_STATE]: SpcState;
}

/** The SPC state of `lu`, when it has one. */
export function spcState(lu: LuContext): SpcState | undefined {
  return (lu as Partial<SpcHost>)[SPC_STATE];
}

/** HARDWARE ERROR / INTERNAL TARGET FAILURE. */
export function internalTargetFailure(): ScsiResult {
  return checkCondition(SenseKey.HardwareError, Asc.InternalTargetFailure);
}

/** Wraps a handler that needs {@link SpcState}; a context without it gets INTERNAL TARGET FAILURE. */
export function withSpcState(
  fn: (state: SpcState, lu: LuContext, cdb: Uint8Array, request: ScsiRequest) => ScsiResult,
): (lu: LuContext, request: ScsiRequest) => ScsiResult {
  return (lu, request) => {
    const state = spcState(lu);
    return state ? fn(state, lu, request.cdb, request) : internalTargetFailure();
  };
}
