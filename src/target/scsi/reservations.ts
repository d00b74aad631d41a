/**
 * RESERVE(6)/RELEASE(6) reservations (SPC-2 §5.5, obsolete in SPC-4 but still used by some clusters) and the
 * decision whether a command meets a reservation conflict, combining them with persistent reservations.
 * @module
 */
import type { PersistentReservations } from './persistent-reservations.js';
import type { CommandEntry } from './types.js';

/** PERSISTENT RESERVE IN / OUT operation codes. */
export const PERSISTENT_RESERVE_IN = 0x5e;
export const PERSISTENT_RESERVE_OUT = 0x5f;

/** The one SPC-2 logical unit reservation (extents and third-party reservations are not supported). */
export class Spc2Reservation {
  #holder: string | undefined;

  /** Nexus key of the holder, or undefined. */
  get holder(): string | undefined {
    return this.#holder;
  }

  /** Whether another nexus than `key` holds it. */
  heldByOther(key: string): boolean {
    return this.#holder !== undefined && this.#holder !== key;
  }

  /** Reserves for `key`; false when another nexus holds it (SPC-2 §7.21: RESERVATION CONFLICT). */
  reserve(key: string): boolean {
    if (this.heldByOther(key)) return false;
    this.#holder = key;
    return true;
  }

  /** Releases when `key` holds it; a non-holder's RELEASE does nothing (SPC-2 §7.17: still GOOD). */
  release(key: string): void {
    if (this.#holder === key) this.#holder = undefined;
  }

  /** Drops the reservation whoever holds it (logical unit reset, SAM-5 §6.3.3). */
  clear(): void {
    this.#holder = undefined;
  }
}

/**
 * Whether `entry` from nexus `key` must end in RESERVATION CONFLICT before it runs.
 * - An SPC-2 reservation held by another nexus blocks every command except those classed `allowed`, and blocks
 *   PERSISTENT RESERVE IN/OUT too (SPC-4 §5.9.3 / §6.13: PR commands conflict with a RESERVE(6) reservation).
 * - RESERVE/RELEASE and PR IN/OUT check persistent reservations themselves (their handlers know the rules).
 * - Otherwise the persistent reservation decides by the entry's class (SPC-4 §5.9.1 table 47).
 */
export function reservationConflicts(
  entry: CommandEntry,
  key: string,
  spc2: Spc2Reservation,
  pr: PersistentReservations,
): boolean {
  const isPr = entry.opcode === PERSISTENT_RESERVE_IN || entry.opcode === PERSISTENT_RESERVE_OUT;
  if (spc2.heldByOther(key) && (entry.reservation !== 'allowed' || isPr)) return true;
  if (isPr) return false;
  return pr.conflicts(key, entry.reservation);
}
