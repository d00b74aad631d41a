/**
 * Persistent reservation state of a logical unit (SPC-4 §5.9): registrations per I_T nexus, the reservation and
 * its holder, the PRgeneration counter, and the rules of each PERSISTENT RESERVE OUT service action with the unit
 * attentions they establish. Wire formats are in `pr-in.ts` and `pr-out.ts`.
 * @module
 */
import { SenseKey } from '../../scsi/names.js';
import { Asc, checkCondition, good, invalidFieldInParameterList, reservationConflict } from './result.js';
import type { Nexus, ReservationClass, ScsiResult } from './types.js';

/** Persistent reservation TYPE codes (SPC-4 table 170). */
export const PrType = {
  WriteExclusive: 0x1,
  ExclusiveAccess: 0x3,
  WriteExclusiveRegistrantsOnly: 0x5,
  ExclusiveAccessRegistrantsOnly: 0x6,
  WriteExclusiveAllRegistrants: 0x7,
  ExclusiveAccessAllRegistrants: 0x8,
} as const;

/** Whether `type` is one of the six persistent reservation types. */
export function isPrType(type: number): boolean {
  return type === 1 || type === 3 || (type >= 5 && type <= 8);
}

/** All-registrants types: every registered I_T nexus is a holder (SPC-4 §5.9.10). */
export function isAllRegistrants(type: number): boolean {
  return type === PrType.WriteExclusiveAllRegistrants || type === PrType.ExclusiveAccessAllRegistrants;
}

/** Registrants-only types: registered I_T nexuses may access the medium, one of them holds the reservation. */
export function isRegistrantsOnly(type: number): boolean {
  return type === PrType.WriteExclusiveRegistrantsOnly || type === PrType.ExclusiveAccessRegistrantsOnly;
}

/** Exclusive Access types: reads conflict too. */
function isExclusiveAccess(type: number): boolean {
  return (
    type === PrType.ExclusiveAccess ||
    type === PrType.ExclusiveAccessRegistrantsOnly ||
    type === PrType.ExclusiveAccessAllRegistrants
  );
}

/** One registration. */
export interface Registration {
  readonly key: bigint;
  /** The registered I_T nexus (its initiator name and target port feed READ FULL STATUS). */
  readonly nexus: Nexus;
}

/** The persistent reservation, when one exists. */
export interface PersistentReservation {
  /** Nexus key of the holder (for all-registrants types: the nexus that made it; every registrant holds it). */
  readonly holder: string;
  readonly type: number;
}

/** Establishes a unit attention for one nexus (by nexus key). */
export type NotifyNexus = (nexusKey: string, asc: number) => void;

/**
 * Registrations and reservation of one logical unit. Methods take the nexus key of the command's I_T nexus and
 * return the command's answer; they never throw for bad input. Registrations are not persisted across power loss
 * (APTPL is not supported: REPORT CAPABILITIES says PTPL_C=0).
 */
export class PersistentReservations {
  readonly #registrations = new Map<string, Registration>();
  #reservation: PersistentReservation | undefined;
  #generation = 0;
  readonly #notify: NotifyNexus;

  constructor(notify: NotifyNexus) {
    this.#notify = notify;
  }

  /** PRgeneration (SPC-4 §6.13.2): bumped by every successful REGISTER, CLEAR, PREEMPT. */
  get generation(): number {
    return this.#generation;
  }

  /** The reservation, if any. */
  get reservation(): PersistentReservation | undefined {
    return this.#reservation;
  }

  /** Registrations in the order they were made, keyed by nexus key. */
  registrations(): ReadonlyMap<string, Registration> {
    return this.#registrations;
  }

  /** Whether any registration exists (then RESERVE(6)/RELEASE(6) follow SPC-4 §5.9.3). */
  get inUse(): boolean {
    return this.#registrations.size > 0 || this.#reservation !== undefined;
  }

  isRegistered(key: string): boolean {
    return this.#registrations.has(key);
  }

  /** Whether `key` holds the reservation (SPC-4 §5.9.10: every registrant does for all-registrants types). */
  isHolder(key: string): boolean {
    const r = this.#reservation;
    if (!r) return false;
    return isAllRegistrants(r.type) ? this.#registrations.has(key) : r.holder === key;
  }

  /**
   * Whether a command of class `cls` from `key` conflicts with the reservation (SPC-4 §5.9.1 table 47, reduced to
   * medium reads and writes): holders never conflict; registrants do not under registrants-only and
   * all-registrants types; others conflict on writes always and on reads under Exclusive Access types.
   */
  conflicts(key: string, cls: ReservationClass): boolean {
    const r = this.#reservation;
    if (!r || cls === 'allowed' || this.isHolder(key)) return false;
    if ((isRegistrantsOnly(r.type) || isAllRegistrants(r.type)) && this.#registrations.has(key)) return false;
    return cls === 'write' || isExclusiveAccess(r.type);
  }

  /** REGISTER (`ignoreExisting` false) and REGISTER AND IGNORE EXISTING KEY (SPC-4 §5.9.7). */
  register(
    key: string,
    nexus: Nexus,
    reservationKey: bigint,
    serviceActionKey: bigint,
    ignoreExisting: boolean,
  ): ScsiResult {
    const reg = this.#registrations.get(key);
    if (reg === undefined) {
      // SPC-4 §5.9.7.2: an unregistered nexus must send RESERVATION KEY 0 (unless ignoring it).
      if (!ignoreExisting && reservationKey !== 0n) return reservationConflict();
      // Registering key 0 while unregistered does nothing and leaves PRgeneration alone.
      if (serviceActionKey === 0n) return good();
      this.#registrations.set(key, { key: serviceActionKey, nexus });
      this.#bump();
      return good();
    }
    if (!ignoreExisting && reservationKey !== reg.key) return reservationConflict();
    if (serviceActionKey === 0n) this.#unregister(key);
    else this.#registrations.set(key, { key: serviceActionKey, nexus: reg.nexus });
    this.#bump();
    return good();
  }

  /** RESERVE (SPC-4 §5.9.9); `type` is already checked to be valid. */
  reserve(key: string, reservationKey: bigint, type: number): ScsiResult {
    if (!this.#keyMatches(key, reservationKey)) return reservationConflict();
    const r = this.#reservation;
    if (r) return this.isHolder(key) && r.type === type ? good() : reservationConflict();
    this.#reservation = { holder: key, type };
    return good();
  }

  /** RELEASE (SPC-4 §5.9.11.2). */
  release(key: string, reservationKey: bigint, type: number): ScsiResult {
    if (!this.#keyMatches(key, reservationKey)) return reservationConflict();
    const r = this.#reservation;
    // A registered non-holder's RELEASE, or one with no reservation, is GOOD and does nothing.
    if (!r || !this.isHolder(key)) return good();
    if (r.type !== type) {
      return checkCondition(SenseKey.IllegalRequest, Asc.InvalidReleaseOfPersistentReservation);
    }
    this.#reservation = undefined;
    // Registrants of registrants-only / all-registrants types lose access rights: tell them.
    if (r.type !== PrType.WriteExclusive && r.type !== PrType.ExclusiveAccess) {
      this.#notifyRegistrants(Asc.ReservationsReleased, key);
    }
    return good();
  }

  /** CLEAR (SPC-4 §5.9.11.3): every registration and the reservation go; others get RESERVATIONS PREEMPTED. */
  clear(key: string, reservationKey: bigint): ScsiResult {
    if (!this.#keyMatches(key, reservationKey)) return reservationConflict();
    this.#notifyRegistrants(Asc.ReservationsPreempted, key);
    this.#registrations.clear();
    this.#reservation = undefined;
    this.#bump();
    return good();
  }

  /**
   * PREEMPT and PREEMPT AND ABORT (SPC-4 §5.9.11.4). The abort part (aborting the preempted nexuses' tasks) is the
   * task manager's, not done here: both service actions change reservation state the same way.
   */
  preempt(key: string, reservationKey: bigint, serviceActionKey: bigint, type: number): ScsiResult {
    if (!this.#keyMatches(key, reservationKey)) return reservationConflict();
    const r = this.#reservation;
    if (r && isAllRegistrants(r.type) && serviceActionKey === 0n) {
      // §5.9.11.4.4: SA key 0 preempts an all-registrants reservation: everyone else is unregistered.
      for (const k of [...this.#registrations.keys()]) {
        if (k === key) continue;
        this.#registrations.delete(k);
        this.#notify(k, Asc.RegistrationsPreempted);
      }
      this.#reservation = { holder: key, type };
      this.#bump();
      return good();
    }
    const holderKey = r && !isAllRegistrants(r.type) ? this.#registrations.get(r.holder)?.key : undefined;
    if (r === undefined || holderKey !== serviceActionKey) {
      // §5.9.11.4.2/.3: only registrations go. Key 0 names nobody here.
      if (serviceActionKey === 0n) return invalidFieldInParameterList(8);
      const removed = this.#removeKey(serviceActionKey, key);
      if (removed.length === 0) return reservationConflict();
      this.#bump();
      return good();
    }
    // §5.9.11.4.3: preempting the holder: its key's registrations go, the reservation moves to the preemptor.
    const removed = this.#removeKey(serviceActionKey, key);
    this.#reservation = { holder: key, type };
    if (r.type !== type) {
      for (const k of this.#registrations.keys()) {
        if (k !== key && !removed.includes(k)) this.#notify(k, Asc.ReservationsReleased);
      }
    }
    this.#bump();
    return good();
  }

  /** Drops every registration and the reservation (not used by resets: SAM-5 §6.3.3 keeps them). */
  reset(): void {
    this.#registrations.clear();
    this.#reservation = undefined;
  }

  #keyMatches(key: string, reservationKey: bigint): boolean {
    return this.#registrations.get(key)?.key === reservationKey;
  }

  // Removes registrations holding `k` except the preempting nexus's own; each loser gets REGISTRATIONS PREEMPTED.
  #removeKey(k: bigint, preemptor: string): string[] {
    const removed: string[] = [];
    for (const [nk, reg] of [...this.#registrations]) {
      if (nk === preemptor || reg.key !== k) continue;
      this.#unregister(nk, false);
      this.#notify(nk, Asc.RegistrationsPreempted);
      removed.push(nk);
    }
    return removed;
  }

  // SPC-4 §5.9.8: a holder's unregistration releases a non-all-registrants reservation; registrants-only types
  // tell the remaining registrants (RESERVATIONS RELEASED). An all-registrants one ends with its last registrant.
  #unregister(key: string, announce = true): void {
    this.#registrations.delete(key);
    const r = this.#reservation;
    if (!r) return;
    if (isAllRegistrants(r.type)) {
      if (this.#registrations.size === 0) this.#reservation = undefined;
    } else if (r.holder === key) {
      this.#reservation = undefined;
      if (announce && isRegistrantsOnly(r.type)) this.#notifyRegistrants(Asc.ReservationsReleased, key);
    }
  }

  #notifyRegistrants(asc: number, except: string): void {
    for (const k of this.#registrations.keys()) if (k !== except) this.#notify(k, asc);
  }

  #bump(): void {
    this.#generation = (this.#generation + 1) >>> 0;
  }
}
