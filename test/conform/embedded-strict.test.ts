/**
 * The chap, data, text, logout, sequence and async areas against the embedded target, SHOULD cases included:
 * every case passes except the async ones, which are not applicable (the target sends Asynchronous Messages only
 * when it stops; `async.test.ts` covers that). embedded.test.ts only requires the MUST cases.
 */
import { expect, it } from 'vitest';
import { builtinCases } from '../../src/conform/cases/index.js';
import { formatSummary } from '../../src/conform/report.js';
import { runConformance } from '../../src/conform/runner.js';
import { portalOf, TARGET_USER, USER, useConformTargets } from './targets.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform-strict';
const AREAS = ['text', 'sequence', 'data', 'logout', 'async'];
const targets = useConformTargets(IQN);

it('passes every text, sequence, data and logout case; the async cases are not applicable', async () => {
  const report = await runConformance(
    { portal: portalOf(targets.plain), targetName: IQN },
    builtinCases.filter((c) => AREAS.includes(c.area)),
  );
  const summary = formatSummary(report).join('\n');
  const notPassed = report.results.filter((r) => r.verdict.status !== 'pass');
  expect(
    notPassed.map((r) => `${r.id} ${r.verdict.status}`),
    summary,
  ).toEqual(['async.message-format not-applicable', 'async.logout-request not-applicable']);
  expect(report.results.filter((r) => r.area === 'data').length).toBeGreaterThanOrEqual(12);
  expect(report.results.filter((r) => r.area === 'logout').length).toBeGreaterThanOrEqual(9);
}, 60_000);

it('passes every CHAP case, the mutual ones included', async () => {
  const report = await runConformance(
    { portal: portalOf(targets.chap), targetName: IQN, chap: { credentials: USER, targetCredentials: TARGET_USER } },
    builtinCases.filter((c) => c.area === 'chap'),
  );
  const summary = formatSummary(report).join('\n');
  expect(
    report.results.filter((r) => r.verdict.status !== 'pass').map((r) => r.id),
    summary,
  ).toEqual([]);
  expect(report.results.length).toBeGreaterThanOrEqual(25);
}, 60_000);
