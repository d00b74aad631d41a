/**
 * A private tgtd (the Linux SCSI target framework's iSCSI target) on loopback for tests: free port, own control
 * socket number, sparse file LUNs in a temp dir, optional CHAP accounts and target parameters. Facts relied on
 * (tgt 1.0.85): `-C N` selects /var/run/tgtd/socket.N and must be 0..32767; tgtd ignores SIGTERM and exits on
 * `tgtadm --op delete --mode system`; a portal that fails to bind is only logged, so the portal list is checked;
 * LUN 0 is tgtd's own controller, so disks start at LUN 1.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunResult } from './peers.js';
import { findTool, freePort, portFree, processIs, run, sleep, tail, waitExit } from './peers.js';

/** CHAP credentials as tgtd stores them (an account). */
export interface ChapAccount {
  user: string;
  secret: string;
}

/** One target of a {@link startTgtd} instance; its tid is its index + 1. */
export interface TargetSpec {
  /** Target name (iqn.…). */
  iqn: string;
  /** Disk LUNs, numbered from 1 (LUN 0 is tgtd's controller); each a sparse file of `sizeBytes`. */
  luns: { sizeBytes: number }[];
  /** Incoming account: the initiator must authenticate with CHAP using these credentials. */
  chap?: ChapAccount;
  /** Outgoing account: the target's own credentials for mutual CHAP (the initiator's choice to ask). */
  mutual?: ChapAccount;
  /** `tgtadm --op update` parameters, e.g. `{ HeaderDigest: 'CRC32C,None', nop_interval: '1' }`. */
  params?: Record<string, string>;
}

/** Options of {@link startTgtd}. */
export interface TgtdOptions {
  /** Portal address family: IPv4 loopback (default), IPv6 loopback, or both on the same port. */
  portal?: '127.0.0.1' | '::1' | 'both';
  targets: TargetSpec[];
}

/** Options of {@link Tgtd.url}. */
export interface TgtdUrlOptions {
  /** Portal host for the URL; defaults to {@link Tgtd.host}. */
  host?: '127.0.0.1' | '::1';
  /** Initiator credentials; defaults to the target's `chap`; `null` leaves them out. */
  chap?: ChapAccount | null;
  /** Target credentials (mutual CHAP, `target_user`/`target_password`); defaults to none. */
  mutual?: ChapAccount | null;
}

/** A running tgtd started by {@link startTgtd}. */
export interface Tgtd {
  /** iSCSI TCP port (same on both portals). */
  port: number;
  /** PID of tgtd itself. */
  pid: number;
  /** Default portal host: `127.0.0.1`, or `::1` for an IPv6-only instance. */
  host: string;
  /** Control number N (`tgtadm -C N`, socket /var/run/tgtd/socket.N). */
  control: number;
  /** Temp dir holding the backing files and tgtd.log (removed by `stop`). */
  dir: string;
  /** libiscsi URL `iscsi://[user%secret@]host:port/<iqn>/<lun>[?target_user=…&target_password=…]`. */
  url(targetIndex?: number, lun?: number, options?: TgtdUrlOptions): string;
  /** Run `tgtadm -C N --lld iscsi <args>` (bounded). */
  tgtadm(args: readonly string[]): Promise<RunResult>;
  /** tgtd's log so far (its last MiB: a tgtd stuck in a loop can log gigabytes). */
  log(): string;
  /** The signal that ended tgtd (`SIGSEGV`, `SIGABRT`), or undefined while it runs or after a normal exit. */
  exitSignal(): NodeJS.Signals | undefined;
  /** Delete targets, ask tgtd to exit, wait (SIGKILL as last resort), remove its socket and the temp dir. */
  stop(): Promise<void>;
}

const SOCKET_DIR = '/var/run/tgtd';
/** Startup attempts with a fresh port (another process may grab the port between probe and bind). */
const START_ATTEMPTS = 3;
const READY_TIMEOUT_MS = 10_000;
const EXIT_TIMEOUT_MS = 5000;
const LOG_TAIL_BYTES = 1024 * 1024;
/** How long a tgtadm call may take while stopping: a live tgtd answers in milliseconds. */
const STOP_TGTADM_MS = 3000;
/** CHAP user names and secrets go into URLs and tgtadm arguments verbatim; keep them to a safe alphabet. */
const SAFE_CREDENTIAL = /^[A-Za-z0-9._-]{1,255}$/;

/** `[::1]` for IPv6 literals, the address itself otherwise. */
function bracket(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Control number for an iSCSI port: tgtd accepts 0..32767, and the ephemeral range starts at 32768. */
function controlFor(port: number): number {
  return port > 32767 ? port - 32768 : port;
}

/** Whether a live tgtd process (other than a zombie) was started with `-C <control>`. */
function tgtdUsingControl(control: number): boolean {
  return tgtdProcesses().some(({ pid }) => {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const i = args.findIndex((a) => a === '-C' || a === '--control-port');
      return i >= 0 && args[i + 1] === String(control);
    } catch {
      return false; // exited meanwhile
    }
  });
}

/** The last `max` bytes of a file, as text. */
function readTail(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, max));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The tgtd processes on this machine, with their parent's PID. */
function tgtdProcesses(): { pid: number; ppid: number }[] {
  const found: { pid: number; ppid: number }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || !processIs(Number(entry), 'tgtd')) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      found.push({ pid: Number(entry), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/**
 * Kills the tgtd processes a test run left behind and removes their directories: a daemon started by
 * {@link startTgtd} whose test worker died without stopping it (its log is in an `iscsi-ts-tgtd-` directory, and its
 * parent is no longer a node process). A daemon that fuzzing sent into a loop can fill the disk with its log.
 * Returns how many were killed.
 */
export function reapOrphanTgtds(): number {
  const prefix = join(tmpdir(), 'iscsi-ts-tgtd-');
  let killed = 0;
  for (const { pid, ppid } of tgtdProcesses()) {
    try {
      const log = readlinkSync(`/proc/${pid}/fd/1`);
      if (!log.startsWith(prefix) || readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() === 'node') continue;
      process.kill(pid, 'SIGKILL');
      rmSync(dirname(log), { recursive: true, force: true });
      killed++;
    } catch {
      // exited meanwhile, or not ours to look at
    }
  }
  return killed;
}

/** Remove a control socket and its lock file. */
function removeSocket(socketPath: string): void {
  rmSync(socketPath, { force: true });
  rmSync(`${socketPath}.lock`, { force: true });
}

/** Validate the parts of a spec that end up in command lines and URLs. */
function validate(targets: readonly TargetSpec[]): void {
  if (targets.length === 0) throw new Error('startTgtd: at least one target is needed');
  const accounts = new Map<string, string>();
  for (const t of targets) {
    if (!/^(iqn|eui|naa)\.[A-Za-z0-9.:-]+$/.test(t.iqn)) throw new Error(`startTgtd: unusable target name ${t.iqn}`);
    for (const lun of t.luns) {
      if (!Number.isSafeInteger(lun.sizeBytes) || lun.sizeBytes < 512 || lun.sizeBytes % 512 !== 0) {
        throw new Error(`startTgtd: LUN size must be a positive multiple of 512 (got ${lun.sizeBytes})`);
      }
    }
    for (const account of [t.chap, t.mutual]) {
      if (account === undefined) continue;
      if (!SAFE_CREDENTIAL.test(account.user) || !SAFE_CREDENTIAL.test(account.secret)) {
        throw new Error(`startTgtd: CHAP user/secret for ${t.iqn} must match ${SAFE_CREDENTIAL}`);
      }
      // tgtd accounts are global to the daemon: the same user name cannot carry two secrets.
      const known = accounts.get(account.user);
      if (known !== undefined && known !== account.secret) {
        throw new Error(`startTgtd: account ${account.user} is used with two different secrets`);
      }
      accounts.set(account.user, account.secret);
    }
  }
}

/**
 * Start a private tgtd on loopback and configure `options.targets`. Rejects (after cleaning up) with tgtd's log
 * tail when the daemon does not come up or a configuration step fails. Needs root (/var/run/tgtd).
 * @param options - portal family and targets
 */
export async function startTgtd(options: TgtdOptions): Promise<Tgtd> {
  validate(options.targets);
  const tgtdPath = findTool('tgtd');
  const tgtadmPath = findTool('tgtadm');
  if (tgtdPath === undefined || tgtadmPath === undefined) throw new Error("tgtd/tgtadm not found: install 'tgt'");
  mkdirSync(SOCKET_DIR, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-tgtd-'));
  try {
    const lunPaths = options.targets.map((t, ti) =>
      t.luns.map((lun, li) => {
        const path = join(dir, `t${ti + 1}-lun${li + 1}.img`);
        const fd = openSync(path, 'w');
        try {
          ftruncateSync(fd, lun.sizeBytes); // sparse: no blocks are written
        } finally {
          closeSync(fd);
        }
        return path;
      }),
    );
    const failures: string[] = [];
    for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
      const tgtd = await launch(options, dir, tgtdPath, tgtadmPath, attempt);
      if (typeof tgtd === 'string') {
        failures.push(tgtd);
        // Visible in CI logs: a retry that then succeeds is still worth knowing about.
        if (attempt < START_ATTEMPTS) console.warn(`[iscsi-ts] tgtd attempt ${attempt} failed, retrying: ${tgtd}`);
        continue;
      }
      try {
        await configure(tgtd, options.targets, lunPaths);
      } catch (e) {
        await tgtd.stop();
        throw e;
      }
      return tgtd;
    }
    throw new Error(`tgtd did not start after ${START_ATTEMPTS} attempts:\n${failures.join('\n---\n')}`);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Start one tgtd process and wait until it answers with the expected portals; a string explains a failure. */
async function launch(
  options: TgtdOptions,
  dir: string,
  tgtdPath: string,
  tgtadmPath: string,
  attempt: number,
): Promise<Tgtd | string> {
  const family = options.portal ?? '127.0.0.1';
  const first = family === '::1' ? '::1' : '127.0.0.1';
  const hosts = family === 'both' ? ['127.0.0.1', '::1'] : [first];
  const port = await freePort(first);
  if (family === 'both' && !(await portFree('::1', port))) return `port ${port} busy on ::1`;
  const control = controlFor(port);
  const socketPath = join(SOCKET_DIR, `socket.${control}`);
  // Never share a control number: a second tgtd on it would fail, and tgtadm would reach the other daemon.
  if (tgtdUsingControl(control)) return `control number ${control} is in use by another tgtd`;
  removeSocket(socketPath); // stale (its daemon is gone); tgtd would replace it anyway
  const logPath = join(dir, `tgtd-${attempt}.log`);
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(tgtdPath, ['-f', '-C', String(control), '--iscsi', `portal=${bracket(first)}:${port}`], {
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) return `tgtd could not be spawned (${tgtdPath})`;
  // Safety net for a test runner that exits without running afterAll: never leave a daemon behind.
  const onProcessExit = (): void => {
    if (processIs(pid, 'tgtd')) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', onProcessExit);
  const log = (): string => (existsSync(logPath) ? readTail(logPath, LOG_TAIL_BYTES) : '');
  const tgtadm = (args: readonly string[]): Promise<RunResult> =>
    run(tgtadmPath, ['-C', String(control), '--lld', 'iscsi', ...args], { timeoutMs: 10_000 });

  // Set once the portal listing proves the control socket is this daemon's; before that only our own child is
  // signalled, so a colliding instance is never told to exit.
  let owned = false;
  let stopping: Promise<void> | undefined;
  const tids = options.targets.map((_, i) => i + 1);
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // A tgtd that fuzzing sent into a loop answers nothing (and may flood its log): the first tgtadm that times out
      // goes straight to SIGKILL.
      const ask = (args: readonly string[]): Promise<RunResult> =>
        run(tgtadmPath, ['-C', String(control), ...args], { timeoutMs: STOP_TGTADM_MS });
      if (owned && child.exitCode === null && child.signalCode === null) {
        let answering = true;
        for (const tid of tids) {
          if (!answering) break;
          const r = await ask([
            '--lld',
            'iscsi',
            '--mode',
            'target',
            '--op',
            'delete',
            '--force',
            '--tid',
            String(tid),
          ]);
          answering = !r.timedOut;
        }
        const bye = answering ? await ask(['--op', 'delete', '--mode', 'system']) : undefined;
        // tgtd refuses "delete system" while a target remains; then only SIGKILL is left.
        if (bye?.code === 0) await waitExit(child, EXIT_TIMEOUT_MS);
      }
      if (child.exitCode === null && child.signalCode === null && processIs(pid, 'tgtd')) {
        child.kill('SIGKILL'); // last resort: tgtd ignores SIGTERM
        await waitExit(child, 2000);
      }
      process.off('exit', onProcessExit);
      // Our daemon is gone; the files stay only if another live tgtd uses this control number.
      if (!tgtdUsingControl(control)) removeSocket(socketPath);
    })();
    return stopping;
  };

  // Poll the control socket until tgtd answers (it unlinks a stale socket file itself).
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let ready = false;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const show = await tgtadm(['--mode', 'target', '--op', 'show']);
    if (show.code === 0) {
      ready = true;
      break;
    }
    await sleep(100);
  }
  if (!ready) {
    const exited = child.exitCode !== null || child.signalCode !== null;
    await stop();
    return `tgtd (port ${port}, -C ${control}) ${exited ? 'exited' : 'did not answer in time'}; log:\n${tail(log())}`;
  }
  // A portal that cannot bind is only logged by tgtd; the listing shows which ones are live. Seeing our own port
  // there also proves that the control socket belongs to this tgtd and not to another instance.
  const listPortals = async (): Promise<string> => (await tgtadm(['--mode', 'portal', '--op', 'show'])).stdout;
  const live = (listing: string, host: string): boolean => listing.includes(`Portal: ${bracket(host)}:${port},`);
  let portals = await listPortals();
  owned = live(portals, first) && child.exitCode === null;
  if (owned) {
    for (const host of hosts.slice(1)) {
      await tgtadm(['--mode', 'portal', '--op', 'new', '--param', `portal=${bracket(host)}:${port}`]);
    }
    portals = await listPortals();
  }
  const missing = hosts.filter((h) => !live(portals, h));
  if (missing.length > 0) {
    await stop();
    return `tgtd portal(s) ${missing.join(', ')} port ${port} not live; portals:\n${portals}log:\n${tail(log())}`;
  }
  const tgtd: Tgtd = {
    port,
    pid,
    host: first,
    control,
    dir,
    log,
    exitSignal: () => child.signalCode ?? undefined,
    tgtadm,
    url(targetIndex = 0, lun = 1, urlOptions: TgtdUrlOptions = {}) {
      const target = options.targets[targetIndex];
      if (target === undefined) throw new Error(`no target #${targetIndex}`);
      const chap = urlOptions.chap === undefined ? target.chap : urlOptions.chap;
      const auth = chap ? `${chap.user}%${chap.secret}@` : '';
      const mutual = urlOptions.mutual;
      const query = mutual ? `?target_user=${mutual.user}&target_password=${mutual.secret}` : '';
      return `iscsi://${auth}${bracket(urlOptions.host ?? first)}:${port}/${target.iqn}/${lun}${query}`;
    },
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return tgtd;
}

/** Create targets, LUNs, ACLs, accounts and parameters; throws with tgtadm's message and tgtd's log tail. */
async function configure(tgtd: Tgtd, targets: readonly TargetSpec[], lunPaths: string[][]): Promise<void> {
  const step = async (args: string[]): Promise<void> => {
    const r = await tgtd.tgtadm(args);
    if (r.code !== 0) {
      const shown = args.map((a, i) => (args[i - 1] === '--password' ? '***' : a)).join(' ');
      throw new Error(`tgtadm ${shown} failed (${r.code}): ${r.stderr.trim()}\ntgtd log:\n${tail(tgtd.log())}`);
    }
  };
  const accounts = new Set<string>();
  const account = async (a: ChapAccount): Promise<void> => {
    if (accounts.has(a.user)) return;
    accounts.add(a.user);
    await step(['--mode', 'account', '--op', 'new', '--user', a.user, '--password', a.secret]);
  };
  for (const [i, t] of targets.entries()) {
    const tid = String(i + 1);
    await step(['--mode', 'target', '--op', 'new', '--tid', tid, '--targetname', t.iqn]);
    for (const [j, path] of (lunPaths[i] ?? []).entries()) {
      await step([
        '--mode',
        'logicalunit',
        '--op',
        'new',
        '--tid',
        tid,
        '--lun',
        String(j + 1),
        '--backing-store',
        path,
      ]);
    }
    await step(['--mode', 'target', '--op', 'bind', '--tid', tid, '--initiator-address', 'ALL']);
    if (t.chap) {
      await account(t.chap);
      await step(['--mode', 'account', '--op', 'bind', '--tid', tid, '--user', t.chap.user]);
    }
    if (t.mutual) {
      await account(t.mutual);
      await step(['--mode', 'account', '--op', 'bind', '--tid', tid, '--user', t.mutual.user, '--outgoing']);
    }
    for (const [name, value] of Object.entries(t.params ?? {})) {
      await step(['--mode', 'target', '--op', 'update', '--tid', tid, '--name', name, '--value', value]);
    }
  }
}
