import { describe, expect, it } from 'vitest';
import { fuzz } from '../../src/fuzz/fuzzer.js';
import { NAME, serve } from './helpers.js';

describe('the embedded target under fuzz (no planted faults)', () => {
  it('survives 100 000 fuzz PDUs in every phase with 0 findings', async () => {
    const s = await serve();
    try {
      const report = await fuzz({
        target: { portal: s.portal, targetName: NAME },
        seed: 20261126,
        iterations: 1_000_000,
        maxPdus: 100_000,
        // ~1 min alone on a 2-core machine; several times that while the rest of the suite runs beside it.
        timeMs: 420_000,
        maxFindings: 5,
      });
      const found = report.list.map((f) => `${f.kind}: ${f.message} [${f.case.steps.map((x) => x.note).join('; ')}]`);
      expect(found).toEqual([]);
      expect(report.stoppedBy).toBe('pdus');
      expect(report.pdus).toBeGreaterThanOrEqual(100_000);
      // The target is still fine: no session leaked past the run.
      await new Promise((r) => setTimeout(r, 50));
      expect(s.target.sessionCount).toBe(0);
    } finally {
      await s.stop();
    }
  }, 480_000);
});
