/**
 * The whole conformance suite against the embedded target: one without authentication (every area but CHAP) and
 * one requiring mutual-capable CHAP (the CHAP area). Every MUST case passes.
 */
import { expect, it } from 'vitest';
import { builtinCases } from '../../src/conform/cases/index.js';
import { formatSummary } from '../../src/conform/report.js';
import { type ConformReport, runConformance } from '../../src/conform/runner.js';
import { TARGET_USER, USER, useConformTargets } from './targets.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform';
const targets = useConformTargets(IQN);

function mustFailures(report: ConformReport): string[] {
  return report.results
    .filter((r) => r.strength === 'MUST' && r.verdict.status !== 'pass' && r.verdict.status !== 'not-applicable')
    .map((r) => r.id);
}

it('passes every MUST case without authentication, within 30 s', async () => {
  const port = targets.plain.portals[0]!.port;
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
  const port = targets.chap.portals[0]!.port;
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
