/**
 * `iscsi-ts demo` (the README's `npm run demo`) and `iscsi-ts serve`: the demo's steps all pass and it says so; the
 * served target works for our own initiator with CHAP from a file; SIGTERM stops the process cleanly; no secret
 * appears in anything printed or traced.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLun } from '../../src/block/device.js';
import { Secret } from '../../src/chap/secret.js';
import { runDemo } from '../../src/cli/demo.js';
import { parseLunSpec, parseSize, serveConfig, startServe } from '../../src/cli/serve.js';
import type { Io } from '../../src/cli/session-commands.js';
import { decodeCapture } from '../../src/pdu/trace-decode.js';
import { waitExit } from '../helpers/peers.js';

const BIN = join(import.meta.dirname, '../../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function io(env: NodeJS.ProcessEnv = {}): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, env, out: (l) => lines.push(l), err: (l) => errors.push(l) };
}

describe('iscsi-ts demo', () => {
  it('runs every step and exits 0, with a trace that decodes', async () => {
    const trace = join(dir, 'demo.pcap');
    const out = io();
    const code = await runDemo({ trace }, out);
    expect(out.lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(code).toBe(0);
    expect(out.lines.at(-1)).toMatch(/^demo finished: every step worked/);
    expect(out.lines.join('\n')).toMatch(/netroot=iscsi:demo-initiator:<redacted>:demo-target:<redacted>@127\.0\.0\.1/);
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(out.lines.join('\n'))?.[1]);
    const decoded = decodeCapture(readFileSync(trace), { port });
    const kinds = new Set(decoded.pdus.map((p) => p.pdu?.kind));
    for (const k of [
      'login-request',
      'login-response',
      'text-request',
      'text-response',
      'scsi-command',
      'data-in',
      'scsi-response',
      'logout-response',
    ]) {
      expect(kinds).toContain(k);
    }
  });
});

describe('iscsi-ts serve', () => {
  it('parses LUN specs and sizes', () => {
    expect(parseSize('64M')).toBe(64 * 1024 * 1024);
    expect(parseSize('4096')).toBe(4096);
    expect(() => parseSize('12Q')).toThrow(/not a size/);
    expect(parseLunSpec('mem:1G')).toEqual({ type: 'memory', size: 1024 ** 3 });
    expect(parseLunSpec('file:/x/y.img,ro,size=8M')).toEqual({
      type: 'file',
      path: '/x/y.img',
      readOnly: true,
      size: 8 * 1024 * 1024,
    });
    expect(() => parseLunSpec('disk:/x')).toThrow(/mem:SIZE or file:PATH/);
    expect(() => parseLunSpec('file:/x,rw')).toThrow(/unknown option rw/);
  });

  it('builds the config from flags, a JSON file, or defaults', () => {
    const flags = serveConfig({ portal: [], target: 'iqn.2026-11.t:a', lun: [], blockSize: 4096 }, {});
    expect(flags.portals).toEqual(['127.0.0.1:3260']);
    expect(flags.targets[0]!.luns).toEqual([{ storage: { type: 'memory', size: 64 * 1024 * 1024 }, blockSize: 4096 }]);
    expect(flags.auth).toBeUndefined();
    const json = join(dir, 'target.json');
    writeFileSync(
      json,
      JSON.stringify({
        portals: ['[::1]:0'],
        targets: [{ name: 'iqn.2026-11.t:b', luns: ['mem:1M', { spec: 'mem:2M', lun: 5 }] }],
      }),
    );
    const fromJson = serveConfig({ portal: [], target: 'x', lun: [], blockSize: 512, config: json }, {});
    expect(fromJson.portals).toEqual(['[::1]:0']);
    expect(fromJson.targets[0]!.luns.map((l) => l.lun)).toEqual([undefined, 5]);
  });

  it('serves our initiator with CHAP from a file, and never prints the secret', async () => {
    const chapFile = join(dir, 'chap');
    writeFileSync(
      chapFile,
      'user=serveuser\nsecret=serve-secret-8d1e4\ntarget_user=servetarget\ntarget_secret=serve-target-5c2a9\n',
    );
    chmodSync(chapFile, 0o600);
    const out = io();
    const served = await startServe(
      {
        portal: ['127.0.0.1:0'],
        target: 'iqn.2026-11.t:serve',
        lun: ['mem:4M'],
        blockSize: 512,
        chapFile,
        trace: join(dir, 'serve.pcap'),
      },
      out,
    );
    try {
      expect(out.lines).toEqual([served.target.url('iqn.2026-11.t:serve', 0)]);
      const chap = {
        credentials: { user: 'serveuser', secret: Secret.from('serve-secret-8d1e4') },
        targetCredentials: { user: 'servetarget', secret: Secret.from('serve-target-5c2a9') },
      };
      const dev = await openLun(out.lines[0]!, { loginOptions: { chap } });
      await dev.write(0, new Uint8Array(4096).fill(7));
      expect((await dev.read(0, 4096)).every((b) => b === 7)).toBe(true);
      await dev.close();
      // Without CHAP the login is refused.
      await expect(openLun(out.lines[0]!)).rejects.toThrow(/authentication/i);
    } finally {
      await served.stop();
    }
    const everything =
      [...out.lines, ...out.errors].join('\n') + readFileSync(join(dir, 'serve.pcap')).toString('latin1');
    expect(out.errors.some((l) => l.includes('login'))).toBe(true);
    for (const secret of ['serve-secret-8d1e4', 'serve-target-5c2a9']) expect(everything).not.toContain(secret);
  });

  it('stops cleanly on SIGTERM when run as a process', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '-p', '127.0.0.1:0', '-l', 'mem:1M', '--log-json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const deadline = Date.now() + 10_000;
    while (!stdout.includes('iscsi://') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(stdout).toMatch(/^iscsi:\/\/127\.0\.0\.1:\d+\/iqn\./);
    child.kill('SIGTERM');
    expect(await waitExit(child, 5000)).toBe(true);
    expect(child.exitCode).toBe(0);
    const events = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(['listen', 'stop']);
  });
});
