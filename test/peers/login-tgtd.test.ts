/**
 * The initiator control path against a real target: a private tgtd on 127.0.0.1 and [::1] with a no-auth, a
 * one-way CHAP, a mutual CHAP and a digest-requiring target; discovery, logins, failures, redirects.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import { AuthError, LoginError } from '../../src/errors.js';
import { type DiscoverOptions, discover as discoverRaw } from '../../src/session/discovery.js';
import type { Logger } from '../../src/session/events.js';
import { type LoginOptions, login as loginRaw, logout } from '../../src/session/initiator.js';
import { describePeers } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const IQN = {
  noauth: 'iqn.2024-01.test.iscsi-ts:login.noauth',
  chap: 'iqn.2024-01.test.iscsi-ts:login.chap',
  mutual: 'iqn.2024-01.test.iscsi-ts:login.mutual',
  digest: 'iqn.2024-01.test.iscsi-ts:login.digest',
  moved: 'iqn.2024-01.test.iscsi-ts:login.moved',
} as const;
// Throw-away credentials (a capture's CHAP_C/CHAP_R pair allows offline guessing).
const CHAP = { user: 'logintestuser', secret: 'logintestsecret1' } as const;
const MUTUAL = { user: 'mutualtestuser', secret: 'mutualtestsecr1' } as const;
const TARGET = { user: 'mutualtarget', secret: 'mutualtargetsec2' } as const;
const creds = (c: { user: string; secret: string }) => ({ user: c.user, secret: Secret.from(c.secret) });

// Everything the library logs, traces or throws in this suite, grepped for the secrets at the end.
const produced: string[] = [];
const traces: Uint8Array[] = [];
const collect = (level: string) => (obj: object, msg?: string) =>
  produced.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
const logger: Logger = {
  debug: collect('debug'),
  info: collect('info'),
  warn: collect('warn'),
  error: collect('error'),
};
const observed = async <T>(run: () => Promise<T>): Promise<T> => {
  try {
    return await run();
  } catch (err) {
    produced.push(String(err), JSON.stringify(err), (err as Error).stack ?? '');
    throw err;
  }
};
const login = (o: LoginOptions) =>
  observed(() => loginRaw({ ...o, logger, trace: (c) => traces.push(Uint8Array.from(c)) }));
const discover = (o: DiscoverOptions) =>
  observed(() => discoverRaw({ ...o, logger, trace: (c) => traces.push(Uint8Array.from(c)) }));

describePeers(['tgtd', 'tgtadm'], 'login and discovery against tgtd', () => {
  let tgtd: Tgtd | undefined;
  let moved: Tgtd | undefined;

  beforeAll(async () => {
    moved = await startTgtd({ portal: 'both', targets: [{ iqn: IQN.moved, luns: [{ sizeBytes: MiB }] }] });
    tgtd = await startTgtd({
      portal: 'both',
      targets: [
        { iqn: IQN.noauth, luns: [{ sizeBytes: MiB }] },
        { iqn: IQN.chap, luns: [{ sizeBytes: MiB }], chap: CHAP },
        { iqn: IQN.mutual, luns: [{ sizeBytes: MiB }], chap: MUTUAL, mutual: TARGET },
        { iqn: IQN.digest, luns: [{ sizeBytes: MiB }], params: { HeaderDigest: 'CRC32C', DataDigest: 'CRC32C' } },
        {
          iqn: IQN.moved,
          luns: [{ sizeBytes: MiB }],
          params: { RedirectAddress: '127.0.0.1', RedirectPort: String(moved.port), RedirectReason: 'Temporary' },
        },
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await tgtd?.stop();
    await moved?.stop();
  });

  for (const host of ['127.0.0.1', '::1'] as const) {
    it(`discovers every target over ${host}, with portals of that family`, async () => {
      const portal = host.includes(':') ? `[${host}]:${tgtd!.port}` : `${host}:${tgtd!.port}`;
      const targets = await discover({ portal });
      expect(targets.map((t) => t.name).sort()).toEqual(Object.values(IQN).sort());
      for (const t of targets) {
        expect(t.portals.length).toBeGreaterThan(0);
        for (const p of t.portals) expect(p).toMatchObject({ address: host, port: tgtd!.port, tpgt: 1 });
      }
    });

    it(`logs in without authentication over ${host} and logs out`, async () => {
      const session = await login({
        portal: host.includes(':') ? `[${host}]:${tgtd!.port}` : `${host}:${tgtd!.port}`,
        targetName: IQN.noauth,
      });
      expect(session.tsih).not.toBe(0);
      expect(session.params.headerDigest).toBe('None');
      expect(session.params.maxXmitDataSegmentLength).toBe(8192); // tgtd declares none
      await logout(session);
    });
  }

  it('SendTargets=<name> lists only that target', async () => {
    const targets = await discover({ portal: `127.0.0.1:${tgtd!.port}`, sendTargets: IQN.chap });
    expect(targets.map((t) => t.name)).toEqual([IQN.chap]);
  });

  it('resolves host names: discovery through localhost', async () => {
    const targets = await discover({ portal: `localhost:${tgtd!.port}` });
    expect(targets.length).toBe(Object.keys(IQN).length);
  });

  it('logs in with one-way CHAP', async () => {
    const session = await login({
      portal: `127.0.0.1:${tgtd!.port}`,
      targetName: IQN.chap,
      chap: { credentials: creds(CHAP) },
    });
    expect(session.chapAlgorithm).toBeDefined();
    await logout(session);
  });

  it('logs in with mutual CHAP over IPv6', async () => {
    const session = await login({
      portal: `[::1]:${tgtd!.port}`,
      targetName: IQN.mutual,
      chap: { credentials: creds(MUTUAL), targetCredentials: creds(TARGET) },
    });
    await logout(session);
  });

  it('a wrong secret is an authentication failure (status 0x0201)', async () => {
    const err = await login({
      portal: `127.0.0.1:${tgtd!.port}`,
      targetName: IQN.chap,
      chap: { credentials: { user: CHAP.user, secret: Secret.from('not-the-secret-1') } },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect(err).toMatchObject({ status: 0x0201 });
    expect((err as Error).message).toMatch(/authentication failed/);
  });

  it('a wrong target secret in mutual CHAP is an error naming the target side', async () => {
    const err = await login({
      portal: `127.0.0.1:${tgtd!.port}`,
      targetName: IQN.mutual,
      chap: {
        credentials: creds(MUTUAL),
        targetCredentials: { user: TARGET.user, secret: Secret.from('wrong-target-secret') },
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect(err).toMatchObject({ side: 'target' });
  });

  it('negotiates CRC32C digests when the target requires them, and the session works with them', async () => {
    const session = await login({
      portal: `127.0.0.1:${tgtd!.port}`,
      targetName: IQN.digest,
      offer: { headerDigest: ['None', 'CRC32C'], dataDigest: ['None', 'CRC32C'] },
    });
    expect(session.params.headerDigest).toBe('CRC32C');
    expect(session.params.dataDigest).toBe('CRC32C');
    await logout(session); // Logout Request and Response both carry digests now
  });

  it('follows a redirect to the TargetAddress given, and says where it ended up', async () => {
    // tgtd does not redirect an initiator whose own address is the redirect address: bind to 127.0.0.2.
    const session = await login({
      portal: `127.0.0.1:${tgtd!.port}`,
      targetName: IQN.moved,
      localAddress: '127.0.0.2',
    });
    expect(session.portal).toMatchObject({ host: '127.0.0.1', port: moved!.port });
    expect(session.redirectedFrom.map((p) => p.port)).toEqual([tgtd!.port]);
    await logout(session);
  });

  it('a target that does not exist is a not-found error (status 0x0203)', async () => {
    const err = await login({ portal: `127.0.0.1:${tgtd!.port}`, targetName: 'iqn.2024-01.test.iscsi-ts:nope' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LoginError);
    expect(err).toMatchObject({ status: 0x0203 });
  });
  it('never logs, traces or throws a secret (run last)', () => {
    expect(produced.length).toBeGreaterThan(20);
    expect(produced.some((l) => l.includes('CHAP_R=<redacted'))).toBe(true);
    const traced = Buffer.concat(traces).toString('latin1');
    expect(traced).toContain('CHAP_N='); // the traces hold the CHAP exchange…
    for (const secret of [CHAP.secret, MUTUAL.secret, TARGET.secret, 'not-the-secret-1', 'wrong-target-secret']) {
      for (const line of produced) expect(line).not.toContain(secret);
      expect(traced).not.toContain(secret); // …but never a secret
    }
  });
});
