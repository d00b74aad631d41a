/**
 * libiscsi 1.19's utilities against the embedded target: discovery with LUN listing, INQUIRY (standard data and
 * VPD pages), READ CAPACITY(16), a short iscsi-perf run, and CHAP — none, one-way and mutual, over 127.0.0.1 and
 * [::1]. libiscsi 1.19 offers only CHAP_A=5 (MD5), so the CHAP targets list MD5 among their algorithms.
 * Facts about the tools: ../shared/reference/peers-tgtd.md §3. `iscsi-inq -c` reads its page code with atoi, so
 * pages are passed in decimal (`-c 0x80` would ask for page 0).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChapAlgorithm } from '../../src/chap/algorithms.js';
import { Secret } from '../../src/chap/secret.js';
import type { TargetEvent } from '../../src/target/events.js';
import type { TargetAuth } from '../../src/target/login-types.js';
import { createTarget, type IscsiTarget, type ListeningPortal } from '../../src/target/target.js';
import { describePeers, type RunResult, run } from '../helpers/peers.js';

const TOOLS = ['iscsi-ls', 'iscsi-inq', 'iscsi-readcapacity16', 'iscsi-perf'] as const;
/** Every tool run is bounded; a healthy one finishes in well under a second (perf: its 2 s). */
const TOOL_TIMEOUT_MS = 15_000;
const LUN0_BYTES = 32 * 1024 * 1024;
const LUN1_BYTES = 16 * 1024 * 1024;
const LUN1_SERIAL = 'ITS-LIBISCSI-1';
/** Block Limits the target derives from its defaults: 8 MiB transfers, 256 KiB optimal, 512-byte blocks. */
const MAX_TRANSFER_BLOCKS = (8 * 1024 * 1024) / 512;
const OPTIMAL_TRANSFER_BLOCKS = (256 * 1024) / 512;

const INITIATOR = { user: 'libiscsi-user', secret: 'initiator-secret-16' };
const TARGET = { user: 'its-target', secret: 'target-secret-0017' };

type Mode = 'none' | 'chap' | 'mutual';
const MODES: readonly Mode[] = ['none', 'chap', 'mutual'];

function authFor(mode: Mode): TargetAuth | undefined {
  if (mode === 'none') return undefined;
  return {
    lookup: (user) => (user === INITIATOR.user ? Secret.from(INITIATOR.secret) : undefined),
    // libiscsi 1.19 sends CHAP_A=5 only; SHA-256 first so MD5 is chosen because it is the one offered.
    algorithms: [ChapAlgorithm.SHA256, ChapAlgorithm.MD5],
    ...(mode === 'mutual' ? { targetCredentials: { user: TARGET.user, secret: Secret.from(TARGET.secret) } } : {}),
  };
}

/** One embedded target server per mode: its `auth` covers discovery too, so `iscsi-ls -s` logs in everywhere. */
interface Served {
  readonly mode: Mode;
  readonly iqn: string;
  readonly target: IscsiTarget;
  readonly events: TargetEvent[];
}

const hostOf = (p: ListeningPortal): string => (p.host.includes(':') ? `[${p.host}]` : p.host);

/** libiscsi URL with the mode's credentials (`user%secret@`, `?target_user=…&target_password=…`). */
function url(
  s: Served,
  portal: ListeningPortal,
  lun: number | undefined,
  creds: { initiatorSecret?: string; targetSecret?: string } = {},
): string {
  const user =
    s.mode === 'none'
      ? ''
      : `${encodeURIComponent(INITIATOR.user)}%${encodeURIComponent(creds.initiatorSecret ?? INITIATOR.secret)}@`;
  const path = lun === undefined ? '' : `/${s.iqn}/${lun}`;
  const query =
    s.mode === 'mutual'
      ? `?target_user=${encodeURIComponent(TARGET.user)}&target_password=${encodeURIComponent(
          creds.targetSecret ?? TARGET.secret,
        )}`
      : '';
  return `iscsi://${user}${hostOf(portal)}:${portal.port}${path}${query}`;
}

const tool = (name: (typeof TOOLS)[number], args: readonly string[], timeoutMs = TOOL_TIMEOUT_MS) =>
  run(name, args, { timeoutMs });

function ok(r: RunResult): string {
  expect(r.timedOut, r.stderr).toBe(false);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** `Key:value` lines of iscsi-inq / iscsi-readcapacity16 output. */
function fields(stdout: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !map.has(line.slice(0, i).trim())) map.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return map;
}

/** The last `iops average N` of iscsi-perf's `\r`-separated progress output. */
function lastAverageIops(stdout: string): number | undefined {
  const matches = [...stdout.replace(/\r/gu, '\n').matchAll(/iops average (\d+)/gu)];
  const last = matches.at(-1);
  return last ? Number(last[1]) : undefined;
}

describePeers(TOOLS, 'libiscsi utilities against the embedded target', () => {
  const served = new Map<Mode, Served>();

  beforeAll(async () => {
    for (const mode of MODES) {
      const iqn = `iqn.2026-01.test.iscsi-ts:libiscsi-${mode}`;
      const auth = authFor(mode);
      const target = createTarget({
        portals: ['127.0.0.1:0', '[::1]:0'],
        ...(auth ? { auth } : {}),
        targets: [
          {
            name: iqn,
            luns: [
              { storage: { type: 'memory', size: LUN0_BYTES } },
              { storage: { type: 'memory', size: LUN1_BYTES }, serial: LUN1_SERIAL },
            ],
          },
        ],
      });
      const events: TargetEvent[] = [];
      target.on('event', (e) => events.push(e));
      await target.start();
      served.set(mode, { mode, iqn, target, events });
    }
  });

  afterAll(async () => {
    await Promise.all([...served.values()].map((s) => s.target.stop({ graceMs: 200 })));
  });

  for (const mode of MODES) {
    for (const family of ['127.0.0.1', '::1'] as const) {
      describe(`${mode === 'none' ? 'no auth' : mode === 'chap' ? 'one-way CHAP' : 'mutual CHAP'} over ${family}`, () => {
        const ctx = (): { s: Served; portal: ListeningPortal } => {
          const s = served.get(mode)!;
          const portal = s.target.portals.find((p) => p.host === family)!;
          return { s, portal };
        };

        it('iscsi-ls -s lists the target on this portal with both LUNs and their sizes', async () => {
          const { s, portal } = ctx();
          const out = ok(await tool('iscsi-ls', ['-s', url(s, portal, undefined)]));
          // SendTargets answers with every portal of the target (both families), and iscsi-ls lists the LUNs
          // through each address.
          for (const p of s.target.portals) expect(out).toContain(`Target:${s.iqn} Portal:${hostOf(p)}:${p.port},1`);
          // iscsi-ls prints (last LBA × block length) >> 20, one block short of the capacity: 31M for 32 MiB.
          const mib = (bytes: number) => Math.floor((bytes - 512) / (1024 * 1024));
          const lun0 = out.match(new RegExp(`^Lun:0\\s+Type:DIRECT_ACCESS \\(Size:${mib(LUN0_BYTES)}M\\)$`, 'gmu'));
          const lun1 = out.match(new RegExp(`^Lun:1\\s+Type:DIRECT_ACCESS \\(Size:${mib(LUN1_BYTES)}M\\)$`, 'gmu'));
          expect(lun0).toHaveLength(s.target.portals.length);
          expect(lun1).toHaveLength(s.target.portals.length);
        });

        it('iscsi-inq: standard INQUIRY data', async () => {
          const { s, portal } = ctx();
          const f = fields(ok(await tool('iscsi-inq', [url(s, portal, 0)])));
          expect(f.get('Peripheral Qualifier')).toBe('CONNECTED');
          expect(f.get('Peripheral Device Type')).toBe('DIRECT_ACCESS');
          expect(f.get('Removable')).toBe('0');
          expect(f.get('HiSup')).toBe('1');
          expect(f.get('ReponseDataFormat')).toBe('2');
          expect(f.get('CmdQue')).toBe('1');
          expect(f.get('TPGS')).toBe('0');
          expect(f.get('Vendor')).toBe('ISCSI-TS');
          expect(f.get('Product')).toBe('VIRTUAL-DISK');
          expect(f.get('Revision')).toBe('0001');
          const out = ok(await tool('iscsi-inq', [url(s, portal, 1)]));
          for (const d of ['0960 iSCSI', '0460 SPC-4', '04c0 SBC-3']) expect(out).toContain(`Version Descriptor:${d}`);
        });

        it('iscsi-inq -e 1: supported pages, unit serial number, device identification', async () => {
          const { s, portal } = ctx();
          const pages = ok(await tool('iscsi-inq', ['-e', '1', '-c', '0', url(s, portal, 0)]));
          expect([...pages.matchAll(/^Page:0x([0-9a-f]{2})/gmu)].map((m) => m[1])).toEqual([
            '00',
            '80',
            '83',
            'b0',
            'b1',
            'b2',
          ]);
          const serial1 = ok(await tool('iscsi-inq', ['-e', '1', '-c', String(0x80), url(s, portal, 1)]));
          expect(serial1.trim()).toBe(`Unit Serial Number:[${LUN1_SERIAL}]`);
          // The default serial: 16 hex digits, stable for a target name and LUN.
          const derived = createHash('sha256').update(`${s.iqn}\u00000`).digest().subarray(0, 8).toString('hex');
          const serial0 = ok(await tool('iscsi-inq', ['-e', '1', '-c', String(0x80), url(s, portal, 0)]));
          expect(serial0.trim()).toBe(`Unit Serial Number:[${derived}]`);

          const id = ok(await tool('iscsi-inq', ['-e', '1', '-c', String(0x83), url(s, portal, 0)]));
          const designators = id
            .split(/^DEVICE DESIGNATOR #\d+$/mu)
            .slice(1)
            .map(fields);
          expect(designators).toHaveLength(4);
          const byType = (type: string, association: string) =>
            designators.filter((d) => d.get('Designator Type') === type && d.get('Association') === association);
          const naa = byType('(3) NAA', '(0) LOGICAL_UNIT');
          expect(naa).toHaveLength(1);
          expect(naa[0]!.get('Code Set')).toBe('(1) BINARY');
          const device = byType('(8) SCSI_NAME_STRING', '(2) TARGET_DEVICE');
          expect(device.map((d) => d.get('Designator'))).toEqual([`[${s.iqn}]`]);
          const port = byType('(8) SCSI_NAME_STRING', '(1) TARGET_PORT');
          expect(port.map((d) => d.get('Designator'))).toEqual([`[${s.iqn},t,0x0001]`]);
          expect(byType('(4) RELATIVE_TARGET_PORT', '(1) TARGET_PORT')).toHaveLength(1);
          for (const d of [...device, ...port]) {
            expect(d.get('Device Protocol Identifier')).toBe('(5) ISCSI');
            expect(d.get('PIV')).toBe('1');
            expect(d.get('Code Set')).toBe('(3) UTF8');
          }
        });

        it('iscsi-inq -e 1: Block Limits and Logical Block Provisioning', async () => {
          const { s, portal } = ctx();
          const limits = fields(ok(await tool('iscsi-inq', ['-e', '1', '-c', String(0xb0), url(s, portal, 0)])));
          expect(limits.get('wsnz')).toBe('1');
          expect(limits.get('maximum transfer length')).toBe(String(MAX_TRANSFER_BLOCKS));
          expect(limits.get('optimal transfer length')).toBe(String(OPTIMAL_TRANSFER_BLOCKS));
          expect(limits.get('optimal transfer length granularity')).toBe('1');
          expect(limits.get('maximum write same length')).toBe(String(MAX_TRANSFER_BLOCKS));
          expect(limits.get('maximum compare and write length')).toBe('64');
          // A memory LUN is thin: UNMAP limits are set.
          expect(limits.get('maximum unmap lba count')).toBe(String(0x100000));
          expect(limits.get('maximum unmap block descriptor count')).toBe('256');
          expect(limits.get('ugavalid')).toBe('1');
          const lbp = fields(ok(await tool('iscsi-inq', ['-e', '1', '-c', String(0xb2), url(s, portal, 0)])));
          for (const bit of ['lbpu', 'lbpws', 'lbpws10', 'lbprz']) expect(lbp.get(bit), bit).toBe('1');
          expect(lbp.get('provisioning type')).toBe('2');
        });

        it('iscsi-readcapacity16 reports the LUN sizes', async () => {
          const { s, portal } = ctx();
          for (const [lun, bytes] of [
            [0, LUN0_BYTES],
            [1, LUN1_BYTES],
          ] as const) {
            const f = fields(ok(await tool('iscsi-readcapacity16', [url(s, portal, lun)])));
            expect(f.get('Total size')).toBe(String(bytes));
            expect(f.get('LOGICAL BLOCK LENGTH IN BYTES')).toBe('512');
            expect(f.get('RETURNED LOGICAL BLOCK ADDRESS')).toBe(String(bytes / 512 - 1));
            expect(f.get('LBPME')).toMatch(/^1 LBPRZ:1$/u);
          }
        });

        it('iscsi-perf -t 2 reads at a positive rate', async () => {
          const { s, portal } = ctx();
          const out = ok(await tool('iscsi-perf', ['-t', '2', '-m', '16', '-b', '8', '-r', url(s, portal, 1)]));
          expect(lastAverageIops(out)).toBeGreaterThan(0);
          expect(out).toContain('finished');
        });

        if (mode !== 'none') {
          it('refuses a wrong initiator secret and a missing CHAP with Authentication failure', async () => {
            const { s, portal } = ctx();
            const wrong = await tool('iscsi-readcapacity16', [
              url(s, portal, 0, { initiatorSecret: 'wrong-secret-0000' }),
            ]);
            expect(wrong.timedOut).toBe(false);
            expect(wrong.code).not.toBe(0);
            expect(wrong.stderr).toContain('Authentication failure(513)');
            const bare = `iscsi://${hostOf(portal)}:${portal.port}/${s.iqn}/0`;
            const none = await tool('iscsi-readcapacity16', [bare]);
            expect(none.code).not.toBe(0);
            expect(none.stderr).toContain('Authentication failure(513)');
          });

          it('records the CHAP login (MD5, mutual only when asked)', () => {
            const { s } = ctx();
            const logins = s.events.filter(
              (e): e is Extract<TargetEvent, { event: 'login' }> => e.event === 'login' && e.sessionType === 'Normal',
            );
            expect(logins.length).toBeGreaterThan(0);
            for (const l of logins) {
              expect(l.chapAlgorithm).toBe(ChapAlgorithm.MD5);
              // iscsi-ls (1.19) passes only the initiator's credentials to the sessions that list LUNs, so those
              // logins are one-way even on the mutual target: mutual CHAP is the initiator's choice.
              const askedMutual = mode === 'mutual' && !l.initiator.endsWith(':iscsi-ls');
              expect(l.mutual, l.initiator).toBe(askedMutual);
            }
            if (mode === 'mutual') expect(logins.some((l) => l.mutual)).toBe(true);
          });
        }

        if (mode === 'mutual') {
          it('libiscsi refuses a target that answers with the wrong secret', async () => {
            const { s, portal } = ctx();
            const r = await tool('iscsi-readcapacity16', [url(s, portal, 0, { targetSecret: 'not-the-target-00' })]);
            expect(r.timedOut).toBe(false);
            expect(r.code).not.toBe(0);
            expect(r.stderr).toContain('Invalid CHAP_R response from the target');
          });
        }
      });
    }
  }
});
