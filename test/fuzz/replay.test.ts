import { describe, expect, it } from 'vitest';
import { findingFromJson, findingToJson } from '../../src/fuzz/finding.js';
import { fuzz, replayCase } from '../../src/fuzz/fuzzer.js';
import { NAME, serve } from './helpers.js';

describe('replaying a saved finding', () => {
  it('reproduces it from the JSON alone, and not on a target without the bug', async () => {
    const faulty = await serve({ hangOnOpcode: 0x10 });
    let json: string;
    try {
      const report = await fuzz({
        target: { portal: faulty.portal, targetName: NAME },
        seed: 7,
        iterations: 400,
        timeouts: { hangMs: 300 },
      });
      expect(report.list).toHaveLength(1);
      json = findingToJson(report.list[0]!, 'iscsi-ts fuzz iscsi://127.0.0.1/x --replay f.json', 'test');
    } finally {
      await faulty.stop();
    }
    const saved = findingFromJson(json);
    expect(saved.kind).toBe('hang');
    expect(saved.seed).toBe(7);
    expect(JSON.parse(json).replay).toContain('--replay');

    // A new target (new port, new StatSN): the replay still triggers it.
    const again = await serve({ hangOnOpcode: 0x10 });
    try {
      const r = await replayCase({ portal: again.portal, targetName: NAME }, saved.case, { timeouts: { hangMs: 300 } });
      expect(r.observation?.kind).toBe('hang');
      expect(r.pcap.length).toBeGreaterThan(24);
    } finally {
      await again.stop();
    }
    const fixed = await serve();
    try {
      const r = await replayCase({ portal: fixed.portal, targetName: NAME }, saved.case, { timeouts: { hangMs: 300 } });
      expect(r.observation).toBeUndefined();
    } finally {
      await fixed.stop();
    }
  }, 60_000);

  it('refuses malformed finding files', () => {
    expect(() => findingFromJson('{')).toThrow(/not a fuzz finding/);
    expect(() => findingFromJson(JSON.stringify({ format: 'x' }))).toThrow(/format/);
    const ok = { format: 'iscsi-ts-fuzz-finding/1', kind: 'hang', phase: 'full-feature', steps: [{ hex: 'zz' }] };
    expect(() => findingFromJson(JSON.stringify(ok))).toThrow(/hex/);
    const chunks = { ...ok, steps: [{ hex: '0102', chunks: [1, 5] }] };
    expect(() => findingFromJson(JSON.stringify(chunks))).toThrow(/chunks/);
  });

  it('refuses non-loopback targets unless allowed', async () => {
    const c = { phase: 'full-feature' as const, digests: false, seed: 0, steps: [] };
    const portal = { host: '192.0.2.1', port: 3260, family: 4 as const };
    await expect(replayCase({ portal, targetName: NAME }, c)).rejects.toThrow(/loopback/);
    await expect(fuzz({ target: { portal, targetName: NAME }, iterations: 1 })).rejects.toThrow(/loopback/);
  });
});
