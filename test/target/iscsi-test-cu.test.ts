/**
 * libiscsi's conformance suite (`iscsi-test-cu -d -t ALL`, 230 tests in libiscsi 1.19) against the embedded
 * target: a 64 MiB memory LUN reached through 127.0.0.1 and [::1] (the second URL enables the MultipathIO suite).
 * The run is compared with docs/target-iscsi-test-cu.md (expected failures) and with tgtd 1.0.85's result on the
 * same suite (162 passed, 59 skipped, 9 failed; ../shared/reference/peers-tgtd.md §4).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';
import { countOutcomes, parseCunitOutput, parseExpectedFailures } from '../helpers/cunit-results.js';
import { describePeers, type RunResult, run } from '../helpers/peers.js';

const IQN = 'iqn.2026-01.test.iscsi-ts:test-cu';
const LUN_BYTES = 64 * 1024 * 1024;
/** The whole suite takes about 30 s here; a hung test must not hang the run. */
const SUITE_TIMEOUT_MS = 300_000;
const RESULTS_FILE = new URL('../../docs/target-iscsi-test-cu.md', import.meta.url);

/** tgtd 1.0.85 on the same suite, one process (peers-tgtd.md §4): the bar this target must meet. */
const TGTD_BASELINE = { total: 230, passed: 162, skipped: 59, failed: 9 } as const;

describe('iscsi-test-cu output parser', () => {
  const sample = readFileSync(new URL('../fixtures/iscsi-test-cu-sample.txt', import.meta.url), 'utf8');

  it('splits a captured run into passed, skipped and failed tests', () => {
    const parsed = parseCunitOutput(sample);
    expect(countOutcomes(parsed)).toEqual({ total: 28, passed: 21, failed: 1, skipped: 6 });
    expect(parsed.tests.filter((t) => t.outcome === 'failed').map((t) => t.name)).toEqual([
      'iSCSIdatasn.iSCSIDataSnInvalid',
    ]);
    expect(parsed.tests.filter((t) => t.outcome === 'skipped').map((t) => t.name)).toEqual([
      'CompareAndWrite.InvalidDataOutSize',
      'ExtendedCopy.Simple',
      'ExtendedCopy.ParamHdr',
      'ExtendedCopy.DescrLimits',
      'Sanitize.BlockErase',
      'Sanitize.BlockEraseReserved',
    ]);
    expect(parsed.unfinished).toBeUndefined();
    // The sample is trimmed; the summary is the full run's.
    expect(parsed.summary).toEqual({ total: 230, ran: 230, passed: 229, failed: 1, inactive: 0 });
  });

  it('keeps libiscsi "[FAILED]" log lines of a passing test as messages, not as a failure', () => {
    const parsed = parseCunitOutput(sample);
    const warm = parsed.tests.find((t) => t.name === 'Reserve6.TargetWarmReset');
    expect(warm?.outcome).toBe('passed');
    expect(warm?.lines.some((l) => l.startsWith('[FAILED] RESERVE6'))).toBe(true);
    const lunReset = parsed.tests.find((t) => t.name === 'Reserve6.LUNReset');
    expect(lunReset?.outcome).toBe('passed');
    expect(lunReset?.lines.filter((l) => l.startsWith('[FAILED] PRIN'))).toHaveLength(2);
    const failed = parsed.tests.find((t) => t.name === 'iSCSIdatasn.iSCSIDataSnInvalid');
    expect(failed?.lines.at(-1)).toContain('CU_ASSERT_NOT_EQUAL(ret,0)');
  });

  it('reports a test block without a result as unfinished (the process died there)', () => {
    const cut = sample.slice(0, sample.indexOf('FAILED\n    1. test_iscsi_datasn'));
    const parsed = parseCunitOutput(cut);
    expect(parsed.unfinished).toBe('iSCSIdatasn.iSCSIDataSnInvalid');
    expect(parsed.summary).toBeUndefined();
    expect(parsed.tests.map((t) => t.name)).not.toContain('iSCSIdatasn.iSCSIDataSnInvalid');
  });

  it('treats \\r\\n line ends like \\n', () => {
    expect(countOutcomes(parseCunitOutput(sample.replace(/\n/gu, '\r\n')))).toEqual(
      countOutcomes(parseCunitOutput(sample)),
    );
  });

  it('reads the expected-failure table of the results file', () => {
    const md = [
      '# x',
      '## Expected failures',
      '',
      '| test | why |',
      '|---|---|',
      '| `A.B` | because |',
      '| `iSCSIdatasn.iSCSIDataSnInvalid` | x |',
      '## Other',
      '| `C.D` | no |',
    ].join('\n');
    expect(parseExpectedFailures(md)).toEqual(['A.B', 'iSCSIdatasn.iSCSIDataSnInvalid']);
    expect(parseExpectedFailures(readFileSync(RESULTS_FILE, 'utf8'))).toContain('iSCSIdatasn.iSCSIDataSnInvalid');
  });
});

describePeers(['iscsi-test-cu'], 'iscsi-test-cu -t ALL against the embedded target', () => {
  let target: IscsiTarget | undefined;
  let result: RunResult;

  beforeAll(async () => {
    target = createTarget({
      portals: ['127.0.0.1:0', '[::1]:0'],
      targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: LUN_BYTES } }] }],
    });
    await target.start();
    const urls = target.portals.map((p) => target!.url(IQN, 0, p));
    // -d: destructive tests allowed (a scratch LUN); never -S (SANITIZE).
    result = await run('iscsi-test-cu', ['-d', '-t', 'ALL', ...urls], {
      timeoutMs: SUITE_TIMEOUT_MS,
      maxOutputBytes: 32 * 1024 * 1024,
    });
  }, SUITE_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await target?.stop({ graceMs: 500 });
  });

  it('runs all 230 tests to the end without a crash', () => {
    expect(result.timedOut).toBe(false);
    expect(result.signal).toBeNull();
    // CUnit exits 0 when everything passed and 1 when a test failed; anything else is a crash.
    expect([0, 1]).toContain(result.code);
    expect(`${result.stdout}\n${result.stderr}`).not.toMatch(/\bAborted\b|Segmentation fault|core dumped/u);
    const parsed = parseCunitOutput(result.stdout);
    expect(parsed.unfinished).toBeUndefined();
    expect(parsed.summary?.ran).toBe(TGTD_BASELINE.total);
    expect(parsed.tests).toHaveLength(TGTD_BASELINE.total);
    expect(parsed.summary?.failed).toBe(countOutcomes(parsed).failed);
  });

  it('fails only tests the results file lists as expected failures', () => {
    const expected = new Set(parseExpectedFailures(readFileSync(RESULTS_FILE, 'utf8')));
    const failed = parseCunitOutput(result.stdout)
      .tests.filter((t) => t.outcome === 'failed')
      .map((t) => t.name);
    expect(failed.filter((name) => !expected.has(name))).toEqual([]);
  });

  it('does at least as well as tgtd 1.0.85 (162 passed, 9 failed)', () => {
    const counts = countOutcomes(parseCunitOutput(result.stdout));
    console.info(
      `[iscsi-ts] iscsi-test-cu: ${counts.total} tests, ${counts.passed} passed, ${counts.skipped} skipped, ` +
        `${counts.failed} failed (tgtd 1.0.85: ${TGTD_BASELINE.passed} / ${TGTD_BASELINE.skipped} / ${TGTD_BASELINE.failed})`,
    );
    expect(counts.failed).toBeLessThanOrEqual(TGTD_BASELINE.failed);
    expect(counts.passed).toBeGreaterThanOrEqual(TGTD_BASELINE.passed);
  });
});
