/**
 * The whole conformance suite against the embedded target: one without authentication (every area but CHAP) and
 * one requiring mutual-capable CHAP (the CHAP area). Every MUST case passes.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import { builtinCases } from '../../src/conform/cases/index.js';
import { formatSummary } from '../../src/conform/report.js';
import { type ConformReport, runConformance } from '../../src/conform/runner.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform';
const USER = { user: 'conformuser', secret: Secret.from('conform-secret-1') };
const TARGET_USER = { user: 'conformtarget', secret: Secret.from('conform-secret-2') };
let plain: IscsiTarget;
let chap: IscsiTarget;

beforeAll(async () => {
  // Extra targets make the SendTargets answer longer than 512 bytes, so the continuation case has work to do.
  const others = Array.from({ length: 12 }, (_, i) => ({
    name: `${IQN}.padding-target-with-a-long-name-${i}`,
    luns: [{ storage: { type: 'memory' as const, size: 1024 * 1024 } }],
  }));
  plain = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 4 * 1024 * 1024 } }] }, ...others],
    loginTimeoutMs: 3000,
  });
  chap = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
    auth: {
      lookup: (u) => (u === USER.user ? USER.secret : undefined),
      targetCredentials: TARGET_USER,
      onWarning: () => {},
    },
    loginTimeoutMs: 3000,
  });
  await plain.start();
  await chap.start();
});

afterAll(async () => {
  await plain?.stop({ graceMs: 100 });
  await chap?.stop({ graceMs: 100 });
});

function mustFailures(report: ConformReport): string[] {
  return report.results
    .filter((r) => r.strength === 'MUST' && r.verdict.status !== 'pass' && r.verdict.status !== 'not-applicable')
    .map((r) => r.id);
}

it('passes every MUST case without authentication, within 30 s', async () => {
  const port = plain.portals[0]!.port;
  const report = await runConformance(
    { portal: { host: '127.0.0.1', port, family: 4 }, targetName: IQN },
    builtinCases.filter((c) => c.area !== 'chap'),
  );
  const summary = formatSummary(report).join('\n');
  expect(mustFailures(report), summary).toEqual([]);
  expect(
    report.results.filter((r) => r.verdict.status === 'skipped').map((r) => r.id),
    summary,
  ).toEqual([]);
  expect(report.durationMs).toBeLessThan(30_000);
}, 40_000);

it('passes every MUST CHAP case with CHAP required', async () => {
  const port = chap.portals[0]!.port;
  const report = await runConformance(
    {
      portal: { host: '127.0.0.1', port, family: 4 },
      targetName: IQN,
      chap: { credentials: USER, targetCredentials: TARGET_USER },
    },
    builtinCases.filter((c) => c.area === 'chap' || c.area === 'login'),
  );
  expect(mustFailures(report), formatSummary(report).join('\n')).toEqual([]);
  const chapResults = report.results.filter((r) => r.area === 'chap');
  expect(chapResults.every((r) => r.verdict.status === 'pass')).toBe(true);
}, 40_000);
