/**
 * Shared pieces of the CHAP tests: credentials, a deterministic random source, and {@link SecrecyWatch}, which
 * records every error a test file provokes and every challenge/response it sees, and checks at the end that no
 * error text shows a secret, a challenge or a response.
 */
import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { expect } from 'vitest';
import type { ChapCredentials } from '../../src/chap/secret.js';
import { Secret } from '../../src/chap/secret.js';
import type { TextPair } from '../../src/pdu/text.js';

/** Secret texts used by the CHAP tests; none may appear in any error message. */
export const SECRET_TEXTS = {
  initiator: 'initiator-secret-0123',
  target: 'target-secret-456789',
  other: 'someone-elses-secret-xyz',
  short: 'tiny-secret',
} as const;

/** Credentials built from {@link SECRET_TEXTS}. */
export const INITIATOR: ChapCredentials = {
  user: 'iqn.2024-01.test:init',
  secret: Secret.from(SECRET_TEXTS.initiator),
};
export const TARGET: ChapCredentials = { user: 'iqn.2024-01.test:tgt', secret: Secret.from(SECRET_TEXTS.target) };

/**
 * A deterministic random source for reproducible tests: SHA-256 of a label and a counter, so every call returns
 * fresh, distinct bytes.
 */
export function seededRandom(label = 'chap-tests'): (n: number) => Uint8Array {
  let counter = 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const block = createHash('sha256').update(`${label}:${counter++}`).digest();
      const take = Math.min(block.length, n - filled);
      out.set(block.subarray(0, take), filled);
      filled += take;
    }
    return out;
  };
}

/** A random source that returns `bytes` (cycled) forever: a broken RNG. */
export function stuckRandom(byte = 0x42): (n: number) => Uint8Array {
  return (n: number) => new Uint8Array(n).fill(byte);
}

/** The value of `key` in `pairs` (throws when missing, so tests fail loudly). */
export function value(pairs: readonly TextPair[], key: string): string {
  const found = pairs.find(([k]) => k === key);
  if (found === undefined) throw new Error(`test: ${key} missing`);
  return found[1];
}

/** `pairs` with `key` replaced by `v` (or removed when `v` is undefined). */
export function replace(pairs: readonly TextPair[], key: string, v: string | undefined): TextPair[] {
  const out = pairs.filter(([k]) => k !== key);
  return v === undefined ? out : [...out, [key, v]];
}

/**
 * Collects errors and binary values of one test file. `catch` runs a function that must throw and returns
 * the error; `see` records CHAP_C/CHAP_R values; `check` asserts that no recorded error shows a secret, a
 * challenge or a response in its message, `String()`, JSON or `util.inspect` form.
 */
export class SecrecyWatch {
  readonly errors: unknown[] = [];
  readonly #forbidden = new Set<string>(Object.values(SECRET_TEXTS));

  /** Runs `fn`, expects it to throw, records and returns the error. */
  catch(fn: () => unknown): unknown {
    let thrown: unknown;
    let threw = false;
    try {
      fn();
    } catch (e) {
      thrown = e;
      threw = true;
    }
    expect(threw, 'expected the call to throw').toBe(true);
    this.errors.push(thrown);
    return thrown;
  }

  /** Records the CHAP_C and CHAP_R values of `pairs` (hex digits without prefix, and base64). */
  see(pairs: readonly TextPair[]): readonly TextPair[] {
    for (const [k, v] of pairs) {
      if (k !== 'CHAP_C' && k !== 'CHAP_R') continue;
      if (/^0[xX]/.test(v)) {
        const digits = v.slice(2).toLowerCase();
        this.#forbidden.add(digits);
        this.#forbidden.add(Buffer.from(digits.length % 2 ? `0${digits}` : digits, 'hex').toString('base64'));
      } else if (/^0[bB]/.test(v)) {
        this.#forbidden.add(v.slice(2));
        this.#forbidden.add(Buffer.from(v.slice(2), 'base64').toString('hex'));
      }
    }
    return pairs;
  }

  /** Adds another string that must not appear. */
  forbid(text: string): void {
    this.#forbidden.add(text);
  }

  /** Asserts the secrecy property over everything recorded. */
  check(): void {
    expect(this.errors.length).toBeGreaterThan(0);
    // Short fragments (e.g. a 1-byte challenge) would match by chance; everything recorded here is ≥ 8 chars.
    const forbidden = [...this.#forbidden].filter((f) => f.length >= 8).map((f) => f.toLowerCase());
    const leaks: string[] = [];
    for (const error of this.errors) {
      const forms = [
        error instanceof Error ? error.message : '',
        String(error),
        JSON.stringify(error) ?? '',
        inspect(error, { depth: 5 }),
      ]
        .join('\n')
        .toLowerCase();
      for (const f of forbidden)
        if (forms.includes(f)) leaks.push(`${f.length} chars in ${String(error).slice(0, 60)}`);
    }
    expect(leaks, 'errors that show a secret, challenge or response').toEqual([]);
  }
}
