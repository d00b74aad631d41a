import { describe, expect, it } from 'vitest';
import type { FuzzFinding } from '../../src/fuzz/finding.js';
import { fuzz } from '../../src/fuzz/fuzzer.js';
import type { TargetFaults } from '../../src/target/config.js';
import { NAME, serve } from './helpers.js';

/** Runs the fuzzer from seed 1 against a target with one planted fault; returns its single finding. */
async function findPlanted(
  faults: TargetFaults,
  iterations: number,
  replyMs = 2000,
): Promise<{ f: FuzzFinding; at: number }> {
  const s = await serve(faults);
  try {
    const report = await fuzz({
      target: { portal: s.portal, targetName: NAME },
      seed: 1,
      iterations,
      timeMs: 30_000,
      timeouts: { hangMs: 300, replyMs },
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
    expect(f.confirmed).toBe(true);
    expect(f.reproduced).toBe(true);
    // Minimised to the one PDU with TotalAHSLength 7.
    expect(f.case.steps).toHaveLength(1);
    expect(f.case.steps[0]!.bytes[4]).toBe(7);
    expect(f.pcap!.length).toBeGreaterThan(24);
  }, 60_000);

  it('a hang on SNACK (opcode 0x10): no NOP-In to the ping', async () => {
    const { f } = await findPlanted({ hangOnOpcode: 0x10 }, 400);
    expect(f.kind).toBe('hang');
    expect(f.confirmed).toBe(true);
    expect(f.reproduced).toBe(true);
    expect(f.case.steps).toHaveLength(1);
    expect(f.case.steps[0]!.bytes[0]! & 0x3f).toBe(0x10);
  }, 60_000);

  it('a wedge on SNACK (later logins unanswered): restarted for each check, minimised to the SNACK', async () => {
    const { f } = await findPlanted({ wedgeOnOpcode: 0x10 }, 400, 300);
    expect(f.kind).toBe('login-broken');
    expect(f.confirmed).toBe(true);
    expect(f.reproduced).toBe(true);
    // Without a restart after each check that wedged it, every later check would fail to log in and the case
    // would shrink to nothing.
    expect(f.case.steps).toHaveLength(1);
    expect(f.case.steps[0]!.bytes[0]! & 0x3f).toBe(0x10);
  }, 60_000);

  it('a wrong DataSN in Data-In', async () => {
    const { f } = await findPlanted({ wrongDataSN: true }, 400);
    expect(f.kind).toBe('bad-datasn');
    expect(f.confirmed).toBe(true);
    expect(f.reproduced).toBe(true);
    expect(f.case.steps).toHaveLength(1);
    // The step left is a SCSI Command (a read).
    expect(f.case.steps[0]!.bytes[0]! & 0x3f).toBe(0x01);
  }, 60_000);

  it('a crash its case did not cause (the target dies between cases) is listed unconfirmed and not counted', async () => {
    const s = await serve({ crashOnAhsLength: 7 });
    let crashed = false;
    try {
      const report = await fuzz({
        target: { portal: s.portal, targetName: NAME },
        seed: 1,
        iterations: 400,
        timeMs: 30_000,
        timeouts: { hangMs: 300 },
        restart: () => s.restart(),
        progressMs: 0,
        // After 20 cases the target "crashes" on its own: the next login is refused, which is blamed on case 19.
        onProgress: (p) => {
          if (p.iterations === 20 && !crashed) {
            crashed = true;
            void s.target.stop({ graceMs: 0 });
          }
        },
      });
      expect(crashed).toBe(true);
      // The planted crash is still found and ends the run (maxFindings 1 counts confirmed findings only).
      expect(report.stoppedBy).toBe('findings');
      expect(report.list).toHaveLength(2);
      const [blamed, planted] = report.list;
      expect(blamed).toMatchObject({ kind: 'refused', iteration: 19, confirmed: false, reproduced: false });
      expect(blamed!.case.steps).toHaveLength(blamed!.originalSteps);
      expect(blamed!.minimiseChecks).toBe(0);
      expect(blamed!.pcap).toBeUndefined();
      expect(planted).toMatchObject({ kind: 'refused', confirmed: true, reproduced: true });
      expect(planted!.case.steps[0]!.bytes[4]).toBe(7);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it('a target that is down after a finding, with no case to blame, is restarted once and fuzzing goes on', async () => {
    const s = await serve({ hangOnOpcode: 0x10 });
    let killed = false;
    let restarts = 0;
    try {
      const report = await fuzz({
        target: { portal: s.portal, targetName: NAME },
        seed: 1,
        iterations: 60,
        timeMs: 30_000,
        maxFindings: 10,
        timeouts: { hangMs: 300 },
        restart: () => {
          restarts++;
          return s.restart();
        },
        progressMs: 0,
        // Right after the first finding the target goes away: the next case's login is refused.
        onProgress: (p) => {
          if (p.findings === 1 && !killed) {
            killed = true;
            void s.target.stop({ graceMs: 0 });
          }
        },
      });
      expect(killed).toBe(true);
      expect(restarts).toBe(1);
      expect(report.stoppedBy).toBe('iterations');
      expect(report.iterations).toBe(60);
      // Nothing was blamed for it (no `refused` finding): every finding is the planted hang.
      expect(report.list.map((f) => f.kind)).toEqual(report.list.map(() => 'hang'));
      expect(report.list.filter((f) => f.confirmed).length).toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop();
    }
  }, 60_000);
});
