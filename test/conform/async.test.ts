/**
 * The Asynchronous Message cases: the well-formedness rules on hand-made PDUs, and both cases against an embedded
 * target that is stopped while the case watches (it then asks for a logout with AsyncEvent 1, §11.9.1), which is
 * the one way to make a target send an Asynchronous Message from outside. Without one they are not applicable.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { asyncMessageProblem } from '../../src/conform/cases/async.js';
import { asyncCases } from '../../src/conform/cases/index.js';
import { runConformance } from '../../src/conform/runner.js';
import type { Verdict } from '../../src/conform/types.js';
import type { AsyncMessagePdu } from '../../src/pdu/types.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform-async';

function message(fields: Partial<AsyncMessagePdu> = {}): AsyncMessagePdu {
  return {
    kind: 'async-message',
    lun: 0n,
    asyncEvent: 1,
    asyncVCode: 0,
    parameter1: 0,
    parameter2: 0,
    parameter3: 2,
    initiatorTaskTag: 0xffffffff,
    statSN: 1,
    expCmdSN: 1,
    maxCmdSN: 8,
    ahs: [],
    data: new Uint8Array(0),
    ...fields,
  };
}

describe('asyncMessageProblem', () => {
  it('accepts a logout request and a vendor event', () => {
    expect(asyncMessageProblem(message())).toBeUndefined();
    expect(asyncMessageProblem(message({ asyncEvent: 255, parameter1: 7 }))).toBeUndefined();
    expect(asyncMessageProblem(message({ asyncEvent: 0, data: Uint8Array.of(0, 18, 0x70) }))).toBeUndefined();
  });

  it('names each broken rule', () => {
    expect(asyncMessageProblem(message({ initiatorTaskTag: 5 }))).toMatch(/ITT 0x5/);
    expect(asyncMessageProblem(message({ asyncEvent: 6 }))).toMatch(/AsyncEvent 6 is reserved/);
    expect(asyncMessageProblem(message({ asyncEvent: 254 }))).toMatch(/reserved/);
    expect(asyncMessageProblem(message({ asyncEvent: 0 }))).toMatch(/without sense data/);
    expect(asyncMessageProblem(message({ parameter2: 3 }))).toMatch(/Parameter2 3/);
  });
});

let target: IscsiTarget | undefined;

afterEach(async () => {
  await target?.stop({ graceMs: 100 });
  target = undefined;
});

async function startTarget(): Promise<IscsiTarget> {
  const t = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
    loginTimeoutMs: 3000,
  });
  await t.start();
  return t;
}

/** Runs one async case; with `stopAfterLogin`, stops the target once the case's session is up. */
async function runCase(id: string, stopAfterLogin: boolean): Promise<Verdict> {
  const t = await startTarget();
  target = t;
  const c = asyncCases.filter((x) => x.id === id);
  expect(c).toHaveLength(1);
  const stopping = (async () => {
    if (!stopAfterLogin) return;
    for (let i = 0; i < 250 && t.sessionCount === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await t.stop({ graceMs: 1000 });
  })();
  const report = await runConformance(
    { portal: { host: '127.0.0.1', port: t.portals[0]!.port, family: 4 }, targetName: IQN },
    c,
    { timeouts: { silenceMs: stopAfterLogin ? 1500 : 100 }, caseTimeoutMs: 8000 },
  );
  await stopping;
  return report.results[0]!.verdict;
}

it('async.logout-request: logs out when the stopping target asks, and the target answers', async () => {
  const verdict = await runCase('async.logout-request', true);
  expect(verdict).toEqual({ status: 'pass', note: 'Parameter3 1 s' });
  expect(target!.sessionCount).toBe(0);
}, 15_000);

it('async.message-format: judges the logout request of a stopping target', async () => {
  expect(await runCase('async.message-format', true)).toEqual({ status: 'pass', note: 'AsyncEvent 1' });
}, 15_000);

it('both are not applicable when the target sends nothing, and say why', async () => {
  for (const id of ['async.message-format', 'async.logout-request']) {
    const verdict = await runCase(id, false);
    expect(verdict.status).toBe('not-applicable');
    expect(verdict.status === 'not-applicable' && verdict.reason).toMatch(/cannot be caused from outside/);
    await target?.stop({ graceMs: 100 });
  }
}, 15_000);
