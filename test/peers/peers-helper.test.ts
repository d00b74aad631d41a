/**
 * Tests of the peer-test plumbing itself (test/helpers/peers.ts, tshark.ts): the run/skip/fail decision for
 * missing tools, end to end through vitest, bounded child processes, port probing, and the tshark problem
 * classifier on synthetic PDUs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPeers, describePeers, findTool, freePort, portFree, processIs, run } from '../helpers/peers.js';
import { iscsiProblems, pdusToPcap, tsharkFields } from '../helpers/tshark.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const helpersUrl = new URL('../helpers/peers.ts', import.meta.url).pathname;

describe('findTool', () => {
  it('finds a program in PATH and returns an absolute path', () => {
    const sh = findTool('sh');
    expect(sh).toMatch(/^\/.*\/sh$/);
  });

  it('returns undefined for a missing program, an empty name or a path', () => {
    expect(findTool('no-such-tool-xyz')).toBeUndefined();
    expect(findTool('')).toBeUndefined();
    expect(findTool('/bin/sh')).toBeUndefined();
  });

  it('searches a given PATH, skips non-executable files, and falls back to /usr/sbin and /sbin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-findtool-'));
    try {
      writeFileSync(join(dir, 'fake-peer'), '#!/bin/sh\n');
      expect(findTool('fake-peer', dir)).toBeUndefined(); // not executable yet
      chmodSync(join(dir, 'fake-peer'), 0o755);
      expect(findTool('fake-peer', `/nonexistent:${dir}`)).toBe(join(dir, 'fake-peer'));
      expect(findTool('fake-peer', '/nonexistent')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // sbin fallback: a program that only lives in /usr/sbin or /sbin is found with an empty PATH.
    const sbinOnly = ['/usr/sbin', '/sbin']
      .flatMap((d) => (existsSync(d) ? readdirSync(d).map((name) => ({ d, name })) : []))
      .find(({ name }) => !existsSync(join('/usr/bin', name)) && !existsSync(join('/bin', name)));
    if (sbinOnly !== undefined) expect(findTool(sbinOnly.name, '')).toMatch(/^\/(usr\/)?sbin\//);
  });
});

describe('checkPeers decision', () => {
  const none = (): undefined => undefined;
  const all = (name: string): string => `/usr/bin/${name}`;

  it('runs when every tool is found (and root is there when needed)', () => {
    const c = checkPeers(['tgtd', 'tshark'], { root: true }, { find: all, required: true, isRoot: true });
    expect(c).toEqual({
      action: 'run',
      missing: [],
      paths: { tgtd: '/usr/bin/tgtd', tshark: '/usr/bin/tshark' },
      reason: '',
    });
  });

  it('fails with the package hint when a tool is missing and peers are required', () => {
    const c = checkPeers(['tgtd'], {}, { find: none, required: true });
    expect(c.action).toBe('fail');
    expect(c.missing).toEqual(['tgtd']);
    expect(c.reason).toBe("tgtd not found: install the 'tgt' package (ISCSI_TS_REQUIRE_PEERS=1)");
  });

  it('skips with a reason when a tool is missing and peers are optional', () => {
    const c = checkPeers(
      ['tgtd', 'iscsi-inq', 'no-such-tool-xyz'],
      {},
      { find: findToolOnly('tgtd'), required: false },
    );
    expect(c.action).toBe('skip');
    expect(c.missing).toEqual(['iscsi-inq', 'no-such-tool-xyz']);
    expect(c.reason).toContain("iscsi-inq not found: install the 'libiscsi-bin' package");
    expect(c.reason).toContain('no-such-tool-xyz not found: install it');
    expect(c.reason).toContain('set ISCSI_TS_REQUIRE_PEERS=1');
  });

  it('treats a missing root like a missing tool, and ignores root when not needed', () => {
    expect(checkPeers(['tgtd'], { root: true }, { find: all, required: true, isRoot: false }).action).toBe('fail');
    expect(checkPeers(['tgtd'], { root: true }, { find: all, required: false, isRoot: false }).action).toBe('skip');
    expect(checkPeers(['tgtd'], {}, { find: all, required: true, isRoot: false }).action).toBe('run');
  });

  it('uses the real PATH and ISCSI_TS_REQUIRE_PEERS by default', () => {
    const c = checkPeers(['no-such-tool-xyz']);
    expect(c.action).toBe(process.env.ISCSI_TS_REQUIRE_PEERS === '1' ? 'fail' : 'skip');
  });
});

/** findTool stand-in that knows only `names`. */
function findToolOnly(...names: string[]): (name: string) => string | undefined {
  return (name) => (names.includes(name) ? `/usr/bin/${name}` : undefined);
}

describe('describePeers through vitest', () => {
  // A throw-away suite run by a child vitest: the decision must show up as a failing or a skipped test.
  const runFixture = async (required: boolean) => {
    mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
    const dir = mkdtempSync(join(repoRoot, '.tmp', 'peers-fixture-'));
    try {
      writeFileSync(join(dir, 'vitest.config.mjs'), "export default { test: { include: ['*.test.ts'] } };\n");
      writeFileSync(
        join(dir, 'missing.test.ts'),
        [
          "import { expect, it } from 'vitest';",
          `import { describePeers } from ${JSON.stringify(helpersUrl)};`,
          "describePeers(['no-such-tool-xyz'], 'needs a missing tool', () => {",
          "  it('body', () => expect(1).toBe(1));",
          '});',
          '',
        ].join('\n'),
      );
      const env = { ...process.env, ISCSI_TS_REQUIRE_PEERS: required ? '1' : '0', NO_COLOR: '1', FORCE_COLOR: '0' };
      const vitest = join(repoRoot, 'node_modules', '.bin', 'vitest');
      const args = ['run', '--root', dir, '--config', 'vitest.config.mjs', '--reporter=verbose'];
      return await run(vitest, args, { timeoutMs: 30_000, env, cwd: repoRoot });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it('fails the suite with the reason when peers are required', async () => {
    const r = await runFixture(true);
    const out = r.stdout + r.stderr;
    expect(r.code).toBe(1);
    expect(out).toContain('no-such-tool-xyz not found: install it (ISCSI_TS_REQUIRE_PEERS=1)');
    expect(out).toMatch(/Tests\s+1 failed/);
  });

  it('skips the suite and says why when peers are optional', async () => {
    const r = await runFixture(false);
    const out = r.stdout + r.stderr;
    expect(r.code).toBe(0);
    expect(out).toContain('needs a missing tool: no-such-tool-xyz not found');
    expect(out).toMatch(/Tests\s+1 skipped/);
  });
});

describe('run', () => {
  it('collects stdout, stderr and the exit code without a shell', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ code: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false });
    const literal = await run('echo', ['$HOME', '*']);
    expect(literal.stdout).toBe('$HOME *\n');
  });

  it('kills a process that outlives its timeout', async () => {
    const t0 = Date.now();
    const r = await run('sleep', ['30'], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGTERM');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const t0 = Date.now();
    const r = await run('sh', ['-c', "trap '' TERM; sleep 30 & wait; sleep 30"], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(6000);
  });

  it('rejects when the program does not exist', async () => {
    await expect(run('no-such-tool-xyz', [])).rejects.toThrow(/ENOENT/);
  });
});

describe('ports and processes', () => {
  it('freePort returns a bindable port, and portFree sees it taken while bound', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
    const server = createServer();
    await new Promise<void>((ok) => server.listen(port, '127.0.0.1', ok));
    try {
      expect(await portFree('127.0.0.1', port)).toBe(false);
    } finally {
      await new Promise<void>((ok) => server.close(() => ok()));
    }
    expect(await portFree('127.0.0.1', port)).toBe(true);
  });

  it('processIs matches the comm of a live process only', async () => {
    const child = spawn('sleep', ['10'], { stdio: 'ignore' });
    const pid = child.pid ?? -1;
    const exited = new Promise((ok) => child.once('exit', ok));
    try {
      expect(processIs(pid, 'sleep')).toBe(true);
      expect(processIs(pid, 'tgtd')).toBe(false);
    } finally {
      child.kill('SIGKILL');
    }
    await exited;
    expect(processIs(pid, 'sleep')).toBe(false);
    expect(processIs(2 ** 22 + 1, 'sleep')).toBe(false); // above Linux's pid_max limit
  });
});

/** 48-byte BHS with opcode byte, flags and DataSegmentLength. */
function bhs(opcode: number, flags: number, dataLength: number): Uint8Array {
  const b = new Uint8Array(48);
  b[0] = opcode;
  b[1] = flags;
  b[5] = (dataLength >> 16) & 0xff;
  b[6] = (dataLength >> 8) & 0xff;
  b[7] = dataLength & 0xff;
  return b;
}

describePeers(['tshark', 'text2pcap'], 'tshark oracle helpers on synthetic PDUs', () => {
  it('pdusToPcap + tsharkFields read back a Text Request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-pdu-'));
    try {
      const data = new TextEncoder().encode('SendTargets=All\0');
      const pdu = bhs(0x44, 0x80, data.length); // immediate Text Request, F=1
      pdu.set([0, 0, 0, 1], 16); // ITT 1
      pdu.set([0xff, 0xff, 0xff, 0xff], 20); // TTT reserved value
      const pcap = await pdusToPcap(Uint8Array.from([...pdu, ...data]), { port: 3260, dir });
      const rows = await tsharkFields(pcap, {
        port: 3260,
        fields: ['iscsi.opcode', 'iscsi.I', 'iscsi.initiatortasktag', 'iscsi.keyvalue'],
      });
      expect(rows).toEqual([['0x04', '1', '0x00000001', 'SendTargets=All']]);
      expect(await iscsiProblems(pcap, { port: 3260 })).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('iscsiProblems reports an iSCSI-layer malformed PDU', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-pdu-'));
    try {
      // SCSI Command whose TotalAHSLength is 2 words but whose AHS claims 256 bytes: the dissector throws.
      const pdu = bhs(0x01, 0x81, 0);
      pdu[4] = 2;
      pdu[15] = 1; // LUN 1
      const ahs = [0x01, 0x00, 0x01, 0x00, 0, 0, 0, 0];
      const pcap = await pdusToPcap(Uint8Array.from([...pdu, ...ahs]), { port: 3260, dir });
      const problems = await iscsiProblems(pcap, { port: 3260 });
      expect(problems).toHaveLength(1);
      expect(problems[0]?.frame).toBe(1);
      expect(problems[0]?.malformedLayers).toEqual(['iSCSI']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
