/**
 * Login latency on loopback against a private tgtd: no authentication, one-way CHAP-MD5 and mutual CHAP-MD5
 * (tgtd 1.0.85 offers nothing stronger that interoperates: see docs/interop.md); mutual CHAP SHA-256 against
 * the project's embedded target (createTarget) on the same machine. Each figure is a full
 * connect + login + logout, median and p99 over many runs. References measured in the same run: a bare TCP
 * connect/close to the same portal (the floor), and libiscsi's `iscsi-ls` doing a discovery login and logout
 * (its process start included, so it is an upper bound for libiscsi).
 */
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Secret } from '../../src/chap/secret.js';
import { login, logout } from '../../src/session/initiator.js';
import { createTarget } from '../../src/target/target.js';
import { findTool } from '../../test/helpers/peers.js';
import { startTgtd } from '../../test/helpers/tgtd.js';

const RUNS = Number(process.env.BENCH_LOGINS ?? 300);
const BUDGET_MS = Number(process.env.BENCH_TIME_MS ?? 1000) * 5;
const USER = { user: 'benchuser', secret: 'benchsecret-0123' };
const TARGET = { user: 'benchtarget', secret: 'benchtarget-4567' };

async function sample(name: string, once: () => Promise<unknown>): Promise<void> {
  const times: number[] = [];
  const end = performance.now() + BUDGET_MS;
  for (let i = 0; i < RUNS && performance.now() < end; i++) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  console.log(
    `${name.padEnd(52)} median ${q(0.5).toFixed(3)} ms  p99 ${q(0.99).toFixed(3)} ms  (${times.length} runs)`,
  );
}

if (!findTool('tgtd')) {
  console.log('\n## Login latency: skipped (tgtd not installed; the tgt package provides it)');
} else {
  const iqn = 'iqn.2024-01.bench.iscsi-ts:login';
  const tgtd = await startTgtd({
    targets: [
      { iqn: `${iqn}.none`, luns: [{ sizeBytes: 1 << 20 }] },
      { iqn: `${iqn}.chap`, luns: [{ sizeBytes: 1 << 20 }], chap: USER },
      { iqn: `${iqn}.mutual`, luns: [{ sizeBytes: 1 << 20 }], chap: USER, mutual: TARGET },
    ],
  });
  const portal = `127.0.0.1:${tgtd.port}`;
  const credentials = { user: USER.user, secret: Secret.from(USER.secret) };
  const targetCredentials = { user: TARGET.user, secret: Secret.from(TARGET.secret) };
  try {
    console.log(`\n## Login latency on loopback (tgtd, connect + login + logout)`);
    await sample(
      'reference: TCP connect + close',
      () =>
        new Promise<void>((resolve, reject) => {
          const s = connect(tgtd.port, '127.0.0.1', () => {
            s.destroy();
            resolve();
          });
          s.on('error', reject);
        }),
    );
    await sample('iscsi-ts, no authentication', async () => logout(await login({ portal, targetName: `${iqn}.none` })));
    await sample('iscsi-ts, one-way CHAP MD5', async () =>
      logout(await login({ portal, targetName: `${iqn}.chap`, chap: { credentials, algorithms: [5] } })),
    );
    await sample('iscsi-ts, mutual CHAP MD5', async () =>
      logout(
        await login({ portal, targetName: `${iqn}.mutual`, chap: { credentials, targetCredentials, algorithms: [5] } }),
      ),
    );
    const embedded = createTarget({
      portals: ['127.0.0.1:0'],
      targets: [
        {
          name: `${iqn}.mutual`,
          luns: [],
          auth: { lookup: (u) => (u === USER.user ? credentials.secret : undefined), targetCredentials },
        },
      ],
    });
    await embedded.start();
    try {
      await sample('iscsi-ts → iscsi-ts target login, mutual CHAP SHA-256', async () =>
        logout(
          await login({
            portal: `127.0.0.1:${embedded.portals[0]!.port}`,
            targetName: `${iqn}.mutual`,
            chap: { credentials, targetCredentials, algorithms: [7] },
          }),
        ),
      );
    } finally {
      await embedded.stop();
    }
    const ls = findTool('iscsi-ls');
    if (ls) {
      await sample('reference: libiscsi iscsi-ls (process start included)', async () => {
        spawnSync(ls, [`iscsi://${portal}`], { timeout: 10_000 });
      });
    }
  } finally {
    await tgtd.stop();
  }
}
