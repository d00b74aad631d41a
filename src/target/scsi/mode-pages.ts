/**
 * The mode pages a disk LU keeps (SPC-4 §7.5, SBC-3 §6.4): Caching (0x08), Control (0x0A) and Informational
 * Exceptions Control (0x1C), with their default and changeable values, and the current values MODE SELECT edits.
 * Only WCE is changeable; nothing can be saved (PS=0).
 * @module
 */
import { invalidFieldInParameterList } from './result.js';
import type { ScsiResult } from './types.js';

/** Mode page codes kept here. */
export const ModePage = {
  Caching: 0x08,
  Control: 0x0a,
  InformationalExceptions: 0x1c,
  /** MODE SENSE: return all pages. */
  All: 0x3f,
} as const;

/** Page codes in the order MODE SENSE returns them (ascending, SPC-4 §7.5.1). */
export const MODE_PAGE_CODES: readonly number[] = [
  ModePage.Caching,
  ModePage.Control,
  ModePage.InformationalExceptions,
];

/** Page control (PC) of MODE SENSE: which values to return. */
export type PageControl = 'current' | 'changeable' | 'default';

// Each builder returns a fresh page (header included) so module constants are never shared or mutated.
function defaultPage(code: number): Uint8Array | undefined {
  switch (code) {
    case ModePage.Caching: {
      // SBC-3 §6.4.5: 0x12 bytes of parameters; WCE (byte 2 bit 2) on, RCD off.
      const p = new Uint8Array(20);
      p[0] = ModePage.Caching;
      p[1] = 0x12;
      p[2] = 0x04;
      return p;
    }
    case ModePage.Control: {
      // SPC-4 §7.5.8: GLTSD=1 (no log parameters saved), QUEUE ALGORITHM MODIFIER 1 (unrestricted reordering),
      // D_SENSE=0 (fixed-format sense), BUSY TIMEOUT PERIOD 0xffff (unlimited).
      const p = new Uint8Array(12);
      p[0] = ModePage.Control;
      p[1] = 0x0a;
      p[2] = 0x02;
      p[3] = 0x10;
      p[8] = 0xff;
      p[9] = 0xff;
      return p;
    }
    case ModePage.InformationalExceptions: {
      // SPC-4 §7.5.12: DEXCPT=1: informational exceptions are not reported (there is nothing to predict).
      const p = new Uint8Array(12);
      p[0] = ModePage.InformationalExceptions;
      p[1] = 0x0a;
      p[2] = 0x08;
      return p;
    }
    default:
      return undefined;
  }
}

function changeablePage(code: number): Uint8Array | undefined {
  const p = defaultPage(code);
  if (!p) return undefined;
  p.fill(0, 2);
  if (code === ModePage.Caching) p[2] = 0x04; // WCE
  return p;
}

/** Current mode page values of one logical unit. */
export class ModeState {
  readonly #current = new Map<number, Uint8Array>();

  constructor(options: { readonly writeCacheEnabled?: boolean } = {}) {
    this.resetToDefaults();
    if (options.writeCacheEnabled === false) this.#current.get(ModePage.Caching)![2]! &= ~0x04;
  }

  /** Back to default values (logical unit reset, SAM-5 §6.3.3: no saved values exist). */
  resetToDefaults(): void {
    for (const code of MODE_PAGE_CODES) this.#current.set(code, defaultPage(code)!);
  }

  /** Caching page WCE. */
  get writeCacheEnabled(): boolean {
    return (this.#current.get(ModePage.Caching)![2]! & 0x04) !== 0;
  }

  /** Caching page RCD (read cache disabled). */
  get readCacheDisabled(): boolean {
    return (this.#current.get(ModePage.Caching)![2]! & 0x01) !== 0;
  }

  /** Control page D_SENSE. */
  get descriptorSense(): boolean {
    return (this.#current.get(ModePage.Control)![2]! & 0x04) !== 0;
  }

  /** Whether `code` is a page kept here. */
  has(code: number): boolean {
    return this.#current.has(code);
  }

  /** A copy of page `code` (header included) for `pc`; undefined for pages not kept here. */
  page(code: number, pc: PageControl): Uint8Array | undefined {
    if (pc === 'default') return defaultPage(code);
    if (pc === 'changeable') return changeablePage(code);
    const p = this.#current.get(code);
    return p ? p.slice() : undefined;
  }

  /**
   * Checks pages from a MODE SELECT parameter list and, when all are acceptable, makes them current. `pages` are
   * complete pages (header included) with their offset in the parameter list for sense field pointers. Returns
   * an error result, or whether anything changed.
   */
  apply(pages: readonly { readonly data: Uint8Array; readonly offset: number }[]): ScsiResult | boolean {
    const updates: [number, Uint8Array][] = [];
    for (const { data, offset } of pages) {
      const code = data[0]! & 0x3f;
      const current = this.#current.get(code);
      const mask = changeablePage(code);
      if (!current || !mask) return invalidFieldInParameterList(offset, 5);
      if (data.length !== current.length) return invalidFieldInParameterList(offset + 1);
      // SPC-4 §7.5.4: bits not marked changeable must be sent as they are.
      for (let i = 2; i < data.length; i++) {
        const diff = (data[i]! ^ current[i]!) & ~mask[i]!;
        if (diff !== 0) return invalidFieldInParameterList(offset + i, 31 - Math.clz32(diff));
      }
      const next = current.slice();
      for (let i = 2; i < data.length; i++) next[i] = (current[i]! & ~mask[i]!) | (data[i]! & mask[i]!);
      updates.push([code, next]);
    }
    let changed = false;
    for (const [code, next] of updates) {
      const old = this.#current.get(code)!;
      if (!changed && old.some((b, i) => b !== next[i])) changed = true;
      this.#current.set(code, next);
    }
    return changed;
  }
}
