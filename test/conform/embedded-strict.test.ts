/**
 * The chap, data, text, logout, sequence and async areas against the embedded target, SHOULD cases included:
 * every case passes except the async ones, which are not applicable (the target sends Asynchronous Messages only
 * when it stops; `async.test.ts` covers that). embedded.test.ts only requires the MUST cases.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import { builtinCases } from '../../src/conform/cases/index.js';
import { formatSummary } from '../../src/conform/report.js';
import { runConformance } from '../../src/conform/runner.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform-strict';
const USER = { user: 'conformuser', secret: Secret.from('conform-secret-1') };
const TARGET_USER = { user: 'conformtarget', secret: Secret.from('conform-secret-2') };
const AREAS = ['text', 'sequence', 'data', 'logout', 'async'];
let plain: IscsiTarget;
let chap: IscsiTarget;

beforeAll(async () => {
  // Padding targets make the SendTargets answer longer than 512 bytes (continuation and TTT reset cases).
  const others = Array.from({ length: 12 }, (_, i) => ({
    name: `${IQN}.padding-target-with-a-long-name-${i}`,
    luns: [{ storage: { type: 'memory' as const, size: 64 * 1024 } }],
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

const portalOf = (t: IscsiTarget) => ({ host: '127.0.0.1', port: t.portals[0]!.port, family: 4 as const });

it('passes every text, sequence, data and logout case; the async cases are not applicable', async () => {
  const report = await runConformance(
    { portal: portalOf(plain), targetName: IQN },
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
    { portal: portalOf(chap), targetName: IQN, chap: { credentials: USER, targetCredentials: TARGET_USER } },
    builtinCases.filter((c) => c.area === 'chap'),
  );
  const summary = formatSummary(report).join('\n');
  expect(
    report.results.filter((r) => r.verdict.status !== 'pass').map((r) => r.id),
    summary,
  ).toEqual([]);
  expect(report.results.length).toBeGreaterThanOrEqual(25);
}, 60_000);
