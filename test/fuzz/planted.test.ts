import { describe, expect, it } from 'vitest';
import type { FuzzFinding } from '../../src/fuzz/finding.js';
import { fuzz } from '../../src/fuzz/fuzzer.js';
import type { TargetFaults } from '../../src/target/config.js';
import { NAME, serve } from './helpers.js';

/** Runs the fuzzer from seed 1 against a target with one planted fault; returns its single finding. */
async function findPlanted(faults: TargetFaults, iterations: number): Promise<{ f: FuzzFinding; at: number }> {
  const s = await serve(faults);
  try {
    const report = await fuzz({
      target: { portal: s.portal, targetName: NAME },
      seed: 1,
      iterations,
      timeMs: 30_000,
      timeouts: { hangMs: 300 },
      restart: () => s.restart(),
    });
    expect(report.stoppedBy).toBe('findings');
    expect(report.list).toHaveLength(1);
    const f = report.list[0]!;
    return { f, at: f.iteration };
  } finally {
    await s.stop();
  }
}

describe('the fuzzer finds and minimises planted target bugs (seed 1)', () => {
  it('a crash on TotalAHSLength 7: the target stops accepting connections', async () => {
    const { f, at } = await findPlanted({ crashOnAhsLength: 7 }, 400);
    expect(f.kind).toBe('refused');
    expect(at).toBeLessThan(400);
    expect(f.reproduced).toBe(true);
    // Minimised to the one PDU with TotalAHSLength 7.
    expect(f.case.steps).toHaveLength(1);
    expect(f.case.steps[0]!.bytes[4]).toBe(7);
    expect(f.pcap!.length).toBeGreaterThan(24);
  }, 60_000);

  it('a hang on SNACK (opcode 0x10): no NOP-In to the ping', async () => {
    const { f } = await findPlanted({ hangOnOpcode: 0x10 }, 400);
    expect(f.kind).toBe('hang');
    expect(f.reproduced).toBe(true);
    expect(f.case.steps).toHaveLength(1);
    expect(f.case.steps[0]!.bytes[0]! & 0x3f).toBe(0x10);
  }, 60_000);

  it('a wrong DataSN in Data-In', async () => {
    const { f } = await findPlanted({ wrongDataSN: true }, 400);
    expect(f.kind).toBe('bad-datasn');
    expect(f.reproduced).toBe(true);
    expect(f.case.steps).toHaveLength(1);
    // The step left is a SCSI Command (a read).
    expect(f.case.steps[0]!.bytes[0]! & 0x3f).toBe(0x01);
  }, 60_000);
});
