/**
 * Minimising a finding: delta debugging (Zeller's ddmin) over the PDU sequence, then over the bytes of each PDU
 * left (only the bytes the mutation changed are candidates; the rest go back to the valid encoding), both bounded
 * by a number of checks since each check is a whole session against the target.
 * @module
 */
import type { FuzzStep } from './types.js';

/** A budget of checks shared by the minimisation passes. */
export interface Budget {
  checks: number;
}

/**
 * The smallest subsequence of `items` found for which `test` is still true (1-minimal when the budget allows).
 * `test(items)` is assumed true.
 */
export async function ddmin<T>(
  items: readonly T[],
  test: (subset: readonly T[]) => Promise<boolean>,
  budget: Budget,
): Promise<T[]> {
  let current = [...items];
  const attempt = async (subset: readonly T[]): Promise<boolean> => {
    if (budget.checks <= 0) return false;
    budget.checks--;
    return test(subset);
  };
  if (current.length > 0 && (await attempt([]))) return [];
  let n = 2;
  while (current.length >= 2 && budget.checks > 0) {
    const size = Math.ceil(current.length / n);
    const chunks: T[][] = [];
    for (let i = 0; i < current.length; i += size) chunks.push(current.slice(i, i + size));
    let reduced = false;
    for (const chunk of chunks) {
      if (await attempt(chunk)) {
        current = chunk;
        n = 2;
        reduced = true;
        break;
      }
    }
    if (!reduced && chunks.length > 2) {
      for (let i = 0; i < chunks.length; i++) {
        const complement = chunks.filter((_, j) => j !== i).flat();
        if (await attempt(complement)) {
          current = complement;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return current;
}

/**
 * Minimises the bytes of one step: when it has a valid encoding of the same length, the fewest changed bytes
 * that still trigger; otherwise the shortest tail cut (halving what is removed). `test` gets candidate bytes.
 */
export async function minimiseStep(
  step: FuzzStep,
  test: (bytes: Uint8Array) => Promise<boolean>,
  budget: Budget,
): Promise<FuzzStep> {
  const { bytes, base } = step;
  if (base && base.length === bytes.length) {
    const diffs: number[] = [];
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== base[i]) diffs.push(i);
    const build = (keep: readonly number[]): Uint8Array => {
      const out = Uint8Array.from(base);
      for (const i of keep) out[i] = bytes[i]!;
      return out;
    };
    const kept = await ddmin(diffs, (keep) => test(build(keep)), budget);
    if (kept.length === diffs.length) return step;
    const note = kept.length === 0 ? 'valid PDU' : `bytes ${kept.join(',')} of the valid PDU changed`;
    return { ...step, bytes: build(kept), note: `${step.note} → ${note}` };
  }
  // Different lengths: cut the tail while it still triggers.
  let best = bytes;
  let cut = Math.floor((best.length - Math.min(48, best.length)) / 2);
  const floor = Math.min(48, bytes.length);
  while (cut > 0 && budget.checks > 0) {
    if (best.length - cut < floor) {
      cut = Math.floor(cut / 2);
      continue;
    }
    budget.checks--;
    const candidate = best.subarray(0, best.length - cut);
    if (await test(candidate)) best = candidate;
    else cut = Math.floor(cut / 2);
  }
  return best === bytes
    ? step
    : { ...step, bytes: Uint8Array.from(best), note: `${step.note} → first ${best.length} bytes` };
}
