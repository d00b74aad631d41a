/**
 * Unit attention conditions (SAM-5 §5.14, SPC-4 §5.14): a queue per I_T nexus, reported one per command with
 * CHECK CONDITION / UNIT ATTENTION and cleared when reported (or by REQUEST SENSE).
 * @module
 */
import { Asc } from './result.js';

/** A unit attention taken off a nexus queue. */
export interface PendingUnitAttention {
  /** `asc << 8 | ascq`. */
  readonly asc: number;
  /** The queue overflowed since the last report (SPC-4 §4.5.2.4.5: the OVERFLOW bit). */
  readonly overflow: boolean;
}

interface Queue {
  codes: number[];
  overflow: boolean;
}

/** Options of {@link UnitAttentions}. */
export interface UnitAttentionOptions {
  /** Conditions kept per nexus before the oldest is dropped and OVERFLOW set (default 8). */
  readonly depth?: number;
  /** Nexuses remembered (default 4096); the longest-known one is forgotten first, so memory stays bounded. */
  readonly maxNexuses?: number;
}

/** True for the POWER ON, RESET, OR BUS DEVICE RESET OCCURRED family (ASC 0x29). */
function isReset(asc: number): boolean {
  return asc >>> 8 === 0x29;
}

/** Per-nexus unit attention queues of one logical unit. */
export class UnitAttentions {
  readonly #queues = new Map<string, Queue>();
  readonly #depth: number;
  readonly #maxNexuses: number;

  constructor(options: UnitAttentionOptions = {}) {
    this.#depth = Math.max(1, options.depth ?? 8);
    this.#maxNexuses = Math.max(1, options.maxNexuses ?? 4096);
  }

  /**
   * Notes a command from `key`. A nexus seen for the first time gets POWER ON, RESET, OR BUS DEVICE RESET
   * OCCURRED (SAM-5 §5.14: the LU has had no contact with it; tgtd and real disks do the same). Returns true
   * when the nexus was new.
   */
  see(key: string): boolean {
    if (this.#queues.has(key)) return false;
    if (this.#queues.size >= this.#maxNexuses) {
      const oldest = this.#queues.keys().next().value;
      if (oldest !== undefined) this.#queues.delete(oldest);
    }
    this.#queues.set(key, { codes: [Asc.PowerOnResetOrBusDeviceReset], overflow: false });
    return true;
  }

  /** Whether the nexus is known. */
  knows(key: string): boolean {
    return this.#queues.has(key);
  }

  /** Whether a condition is pending for `key`. */
  pending(key: string): boolean {
    return (this.#queues.get(key)?.codes.length ?? 0) > 0;
  }

  /** The oldest pending condition of `key`, removed from its queue; undefined when none. */
  take(key: string): PendingUnitAttention | undefined {
    const q = this.#queues.get(key);
    const asc = q?.codes.shift();
    if (q === undefined || asc === undefined) return undefined;
    const overflow = q.overflow;
    q.overflow = false;
    return { asc, overflow };
  }

  /** Removes `asc` from the queue of `key` (REPORT LUNS clears REPORTED LUNS DATA HAS CHANGED, SPC-4 §6.33). */
  remove(key: string, asc: number): void {
    const q = this.#queues.get(key);
    if (q) q.codes = q.codes.filter((c) => c !== asc);
  }

  /** Queues `asc` for one nexus (a known one, or one made known now). */
  addTo(key: string, asc: number): void {
    let q = this.#queues.get(key);
    if (q === undefined) {
      // A nexus never seen gets its power-on condition first; this one follows it.
      this.see(key);
      q = this.#queues.get(key)!;
    }
    if (isReset(asc)) {
      // A reset makes older conditions moot (the state they announced was reset with it).
      q.codes = [asc];
      return;
    }
    if (q.codes.includes(asc)) return;
    if (q.codes.length >= this.#depth) {
      q.codes.shift();
      q.overflow = true;
    }
    q.codes.push(asc);
  }

  /** Queues `asc` for every known nexus except `exceptKey`. */
  addAll(asc: number, exceptKey?: string): void {
    for (const key of this.#queues.keys()) if (key !== exceptKey) this.addTo(key, asc);
  }

  /** Replaces the queue of `key` with `asc` alone (I_T nexus loss). */
  replace(key: string, asc: number): void {
    this.#queues.delete(key);
    this.#queues.set(key, { codes: [asc], overflow: false });
  }

  /** Known nexus keys. */
  keys(): string[] {
    return [...this.#queues.keys()];
  }
}
