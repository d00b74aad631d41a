/**
 * `iscsi-ts discover` and `iscsi-ts login` against a private tgtd: output, credentials from every source, exit
 * codes, logs and traces, and that no secret ever shows in what the commands print or write.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Io, runDiscover, runLogin } from '../../src/cli/session-commands.js';
import { decodeCapture } from '../../src/pdu/trace-decode.js';
import { describePeers, freePort } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const NOAUTH = 'iqn.2024-01.test.iscsi-ts:cli.noauth';
const CHAPPED = 'iqn.2024-01.test.iscsi-ts:cli.chap';
const MUTUAL = 'iqn.2024-01.test.iscsi-ts:cli.mutual';
// Throw-away credentials; the test greps everything the commands print for them.
const CHAP = { user: 'cliuser', secret: 'clisecret-7f3a9' } as const;
const TARGET = { user: 'clitarget', secret: 'clitargetsecret-2b' } as const;
const SECRETS = [CHAP.secret, TARGET.secret];
const BIN = join(import.meta.dirname, '../../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-cli-session-'));
const printed: string[] = [];

function io(env: NodeJS.ProcessEnv = {}): Io & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    env,
    out: (l) => {
      lines.push(l);
      printed.push(l);
    },
    err: (l) => {
      errors.push(l);
      printed.push(l);
    },
  };
}

describePeers(['tgtd', 'tgtadm'], 'iscsi-ts discover / login', () => {
  let tgtd: Tgtd | undefined;
  let portal = '';

  beforeAll(async () => {
    tgtd = await startTgtd({
      portal: 'both',
      targets: [
        { iqn: NOAUTH, luns: [{ sizeBytes: 1024 * 1024 }] },
        { iqn: CHAPPED, luns: [{ sizeBytes: 1024 * 1024 }], chap: CHAP },
        { iqn: MUTUAL, luns: [{ sizeBytes: 1024 * 1024 }], chap: CHAP, mutual: TARGET },
      ],
    });
    portal = `127.0.0.1:${tgtd.port}`;
  }, 60_000);

  afterAll(async () => {
    await tgtd?.stop();
    // Nothing the commands printed, logged or traced may contain a secret.
    const traces = ['trace.pcap'].map((f) => readFileSync(join(dir, f)).toString('latin1'));
    for (const secret of SECRETS) {
      for (const text of [...printed, ...traces]) expect(text).not.toContain(secret);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('discover --json prints name and portals of every target, over IPv6 too', async () => {
    const o = io();
    expect(await runDiscover(`[::1]:${tgtd!.port}`, { json: true }, o)).toBe(0);
    const targets = JSON.parse(o.lines.join('\n')) as {
      name: string;
      portals: { address: string; port: number; tpgt: number }[];
    }[];
    expect(targets.map((t) => t.name).sort()).toEqual([CHAPPED, MUTUAL, NOAUTH].sort());
    expect(targets[0]!.portals).toEqual([{ address: '::1', port: tgtd!.port, tpgt: 1 }]);
  });

  it('login with credentials from a --chap-file (mode 600 required), mutual CHAP, JSON log lines and a trace', async () => {
    const file = join(dir, 'chap.conf');
    writeFileSync(
      file,
      `user=${CHAP.user}\nsecret=${CHAP.secret}\ntarget_user=${TARGET.user}\ntarget_secret=${TARGET.secret}\n`,
    );
    chmodSync(file, 0o644);
    const loose = io();
    expect(await runLogin(portal, { target: MUTUAL, chapFile: file }, loose).catch((e: Error) => e.message)).toMatch(
      /readable by other users/,
    );
    chmodSync(file, 0o600);
    const o = io();
    const trace = join(dir, 'trace.pcap');
    expect(await runLogin(portal, { target: MUTUAL, chapFile: file, json: true, logJson: true, trace }, o)).toBe(0);
    const summary = JSON.parse(o.lines.join('\n'));
    expect(summary).toMatchObject({ target: MUTUAL, chapAlgorithm: 5, parameters: { headerDigest: 'None' } });
    const events = o.errors.map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['connect', 'login-stage', 'login']));
    const decoded = decodeCapture(readFileSync(trace), { port: tgtd!.port });
    expect(decoded.pdus.map((t) => t.pdu?.kind)).toEqual(
      expect.arrayContaining(['login-request', 'login-response', 'logout-request', 'logout-response']),
    );
  });

  it('login with credentials from ISCSI_TS_CHAP_* and libiscsi LIBISCSI_CHAP_* variables', async () => {
    expect(
      await runLogin(
        portal,
        { target: CHAPPED },
        io({ ISCSI_TS_CHAP_USER: CHAP.user, ISCSI_TS_CHAP_SECRET: CHAP.secret }),
      ),
    ).toBe(0);
    expect(
      await runLogin(
        portal,
        { target: CHAPPED },
        io({ LIBISCSI_CHAP_USERNAME: CHAP.user, LIBISCSI_CHAP_PASSWORD: CHAP.secret }),
      ),
    ).toBe(0);
  });

  it('a secret in the URL works, with a warning', async () => {
    const o = io();
    const url = `iscsi://${CHAP.user}%${CHAP.secret}@127.0.0.1:${tgtd!.port}/${CHAPPED}/1`;
    expect(await runLogin(url, { verbose: true }, o)).toBe(0);
    expect(o.errors[0]).toMatch(/visible to other users/);
    // printed[] must not keep the URL itself: it is our input, not output.
  });

  it('exit codes: 4 for authentication, 5 for not found, 3 for network errors', async () => {
    const auth = io({ ISCSI_TS_CHAP_USER: CHAP.user, ISCSI_TS_CHAP_SECRET: 'wrong-secret-123' });
    expect(await runLogin(portal, { target: CHAPPED }, auth)).toBe(4);
    expect(auth.errors.join('\n')).toMatch(/authentication failed \(status 0x0201\)/);
    expect(await runLogin(portal, { target: 'iqn.2024-01.test.iscsi-ts:absent' }, io())).toBe(5);
    const closed = await freePort();
    expect(await runLogin(`127.0.0.1:${closed}`, { target: NOAUTH, timeout: 2000 }, io())).toBe(3);
  });

  it('--chap-prompt asks for the missing secret without echoing it', () => {
    const r = spawnSync('node', [BIN, 'login', portal, '--target', CHAPPED, '--chap-prompt'], {
      encoding: 'utf8',
      input: `${CHAP.secret}\n`,
      env: { ...process.env, ISCSI_TS_CHAP_USER: CHAP.user },
      timeout: 20_000,
    });
    printed.push(r.stdout, r.stderr);
    expect(r.stderr).toContain(`CHAP secret for ${CHAP.user}: `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/logged in to/);
  });

  it('the installed binary runs discover and login', () => {
    const out = execFileSync('node', [BIN, 'discover', portal], { encoding: 'utf8' });
    expect(out).toContain(NOAUTH);
    const r = spawnSync('node', [BIN, 'login', portal, '--target', CHAPPED], {
      encoding: 'utf8',
      env: { ...process.env, ISCSI_TS_CHAP_USER: CHAP.user, ISCSI_TS_CHAP_SECRET: 'wrong-secret-123' },
    });
    expect(r.status).toBe(4);
    printed.push(r.stdout, r.stderr);
  });
});
