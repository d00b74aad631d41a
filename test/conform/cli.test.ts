/**
 * `iscsi-ts conform` against the embedded target: summary on stdout, JUnit and JSON files, exit codes, unknown
 * suites refused, and a portal-only argument resolved through SendTargets.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConformExit, runConform } from '../../src/cli/conform.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:conform-cli';
let target: IscsiTarget;
let dir: string;

beforeAll(async () => {
  target = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
  });
  await target.start();
  dir = mkdtempSync(join(tmpdir(), 'conform-cli-'));
});

afterAll(async () => {
  await target.stop({ graceMs: 100 });
  rmSync(dir, { recursive: true, force: true });
});

const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} } };
};

it('runs the chosen suites from a URL and writes JUnit and JSON', async () => {
  const { out, io } = capture();
  const url = `iscsi://127.0.0.1:${target.portals[0]!.port}/${IQN}/0`;
  const junit = join(dir, 'r.xml');
  const json = join(dir, 'r.json');
  const code = await runConform(url, { suite: 'nop,logout', junit, json, out: join(dir, 'pcap') }, io);
  expect(code).toBe(ConformExit.Ok);
  expect(out[0]).toContain(IQN);
  expect(out.some((l) => /^nop\s+2\s+0\s+0\s+0$/.test(l))).toBe(true);
  expect(readFileSync(junit, 'utf8')).toContain('<testsuite name="logout" tests="9" failures="0"');
  const parsed = JSON.parse(readFileSync(json, 'utf8')) as { totals: Record<string, number> };
  expect(parsed.totals).toEqual({ pass: 11, fail: 0, 'not-applicable': 0, skipped: 0 });
  expect(existsSync(join(dir, 'pcap'))).toBe(true);
});

it('finds the target of a bare portal and reports failures with exit code 2 and a pcap each', async () => {
  // A target whose ACL admits nobody: discovery works, every Normal login is refused, so login.basic fails.
  const closed = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, allow: [], luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
  });
  await closed.start();
  try {
    const { out, io } = capture();
    const outDir = join(dir, 'fails');
    const code = await runConform(`127.0.0.1:${closed.portals[0]!.port}`, { suite: 'login', out: outDir }, io);
    expect(code).toBe(ConformExit.Failures);
    expect(out.join('\n')).toContain('login.basic [RFC 7143 §11.13 MUST]');
    expect(readFileSync(join(outDir, 'login.basic.pcap')).readUInt32LE(0)).toBe(0xa1b2c3d4);
  } finally {
    await closed.stop({ graceMs: 100 });
  }
});

it('refuses an unknown suite', async () => {
  const { io } = capture();
  await expect(runConform(`127.0.0.1:${target.portals[0]!.port}`, { suite: 'nope', target: IQN }, io)).rejects.toThrow(
    /unknown suite nope/,
  );
});
