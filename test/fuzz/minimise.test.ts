import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/fuzz/fuzzer.js';
import { ddmin, minimiseStep } from '../../src/fuzz/minimise.js';
import { iterationSeed, Rng } from '../../src/fuzz/rng.js';

describe('ddmin', () => {
  it('finds the two items that matter among many', async () => {
    const items = Array.from({ length: 40 }, (_, i) => i);
    const budget = { checks: 500 };
    const out = await ddmin(items, async (s) => s.includes(7) && s.includes(31), budget);
    expect(out).toEqual([7, 31]);
    expect(budget.checks).toBeGreaterThan(0);
  });

  it('returns the empty sequence when nothing is needed', async () => {
    expect(await ddmin([1, 2, 3], async () => true, { checks: 10 })).toEqual([]);
  });

  it('keeps to its budget and returns a subset that still triggers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 40 }),
        async (items, checks) => {
          const needed = items.filter((x) => x % 3 === 0);
          const test = async (s: readonly number[]): Promise<boolean> => needed.every((n) => s.includes(n));
          let calls = 0;
          const out = await ddmin(
            items,
            async (s) => {
              calls++;
              return test(s);
            },
            { checks },
          );
          expect(calls).toBeLessThanOrEqual(checks);
          expect(await test(out)).toBe(true);
          expect(out.every((x) => items.includes(x))).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('minimiseStep', () => {
  it('keeps only the changed bytes that trigger', async () => {
    const base = new Uint8Array(48);
    const bytes = Uint8Array.from(base);
    bytes[4] = 7;
    bytes[20] = 0xff;
    bytes[30] = 1;
    const out = await minimiseStep({ bytes, base, note: 'm' }, async (b) => b[4] === 7, { checks: 50 });
    expect([...out.bytes.keys()].filter((i) => out.bytes[i] !== 0)).toEqual([4]);
    expect(out.note).toContain('bytes 4');
  });

  it('cuts the tail of a step longer than its valid encoding', async () => {
    const bytes = new Uint8Array(400).fill(1);
    const out = await minimiseStep({ bytes, note: 'm' }, async (b) => b.length >= 60, { checks: 40 });
    expect(out.bytes.length).toBeGreaterThanOrEqual(60);
    expect(out.bytes.length).toBeLessThan(120);
  });
});

describe('seeds and hosts', () => {
  it('is deterministic per seed', () => {
    const a = new Rng(iterationSeed(1, 5));
    const b = new Rng(iterationSeed(1, 5));
    expect(Array.from({ length: 5 }, () => a.u32())).toEqual(Array.from({ length: 5 }, () => b.u32()));
    expect(iterationSeed(1, 5)).not.toBe(iterationSeed(1, 6));
  });

  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.1', '::', '0.0.0.0', 'example.com', '128.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
  });
});
