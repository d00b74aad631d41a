/**
 * Shared plumbing for tests that talk to real, independently written iSCSI peers (tgtd, libiscsi's
 * utilities, open-iscsi, tshark): finding the tools, deciding whether a suite runs, is skipped or
 * fails when a tool is missing, picking free loopback ports and running bounded child processes.
 *
 * Policy (see {@link checkPeers}): with `ISCSI_TS_REQUIRE_PEERS=1` (what `.ci/run` sets) a missing
 * tool is a test failure; without it the peer suites are reported as skipped, with the reason
 * printed once per suite, so a developer without the packages still gets a green unit-test run.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** Directories searched after `PATH`: daemons and admin tools live in sbin, which a non-root PATH may lack. */
const EXTRA_TOOL_DIRS = ['/usr/sbin', '/sbin'] as const;

/** Debian package that provides each peer tool, for the "install …" hint. */
const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  tgtd: 'tgt',
  tgtadm: 'tgt',
  'iscsi-inq': 'libiscsi-bin',
  'iscsi-ls': 'libiscsi-bin',
  'iscsi-readcapacity16': 'libiscsi-bin',
  'iscsi-perf': 'libiscsi-bin',
  'iscsi-test-cu': 'libiscsi-bin',
  iscsiadm: 'open-iscsi',
  iscsid: 'open-iscsi',
  tshark: 'tshark',
  text2pcap: 'wireshark-common',
  'qemu-img': 'qemu-utils',
  'qemu-io': 'qemu-utils',
  timeout: 'coreutils',
};

/**
 * Absolute path of an executable named `name`, searched in `PATH` and then in /usr/sbin and /sbin.
 * @param name - bare program name (no slash)
 * @param pathEnv - search path to use instead of `process.env.PATH` (for tests of this helper)
 * @returns the first executable match, or `undefined` when there is none
 */
export function findTool(name: string, pathEnv: string | undefined = process.env.PATH): string | undefined {
  if (name.length === 0 || name.includes('/')) return undefined;
  const dirs = [...(pathEnv ?? '').split(delimiter).filter((d) => d.length > 0), ...EXTRA_TOOL_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here (or not executable): keep looking
    }
  }
  return undefined;
}

/** True when `ISCSI_TS_REQUIRE_PEERS=1`: missing peer tools must fail the run instead of skipping tests. */
export function peersRequired(): boolean {
  return process.env.ISCSI_TS_REQUIRE_PEERS === '1';
}

/** What a peer suite needs besides tools. */
export interface PeerNeeds {
  /** The suite needs uid 0 (tgtd's control socket in /var/run/tgtd, packet capture on `lo`). */
  root?: boolean;
}

/** Inputs of {@link checkPeers} that tests of this module replace. */
export interface PeerCheckEnv {
  /** Tool lookup; defaults to {@link findTool}. */
  find?: (name: string) => string | undefined;
  /** Whether missing tools are an error; defaults to {@link peersRequired}. */
  required?: boolean;
  /** Whether the process runs as root; defaults to `process.getuid() === 0`. */
  isRoot?: boolean;
}

/** Decision of {@link checkPeers}. */
export interface PeerCheck {
  /** `run`: everything is there; `skip`: something is missing and peers are optional; `fail`: missing and required. */
  action: 'run' | 'skip' | 'fail';
  /** Tools that were not found (empty when only root is missing). */
  missing: string[];
  /** Absolute paths of the tools that were found. */
  paths: Record<string, string>;
  /** Human-readable explanation; empty for `run`. */
  reason: string;
}

/** "install the 'tgt' package" style hint for one tool. */
function installHint(tool: string): string {
  const pkg = TOOL_PACKAGES[tool];
  return pkg === undefined ? 'install it' : `install the '${pkg}' package`;
}

/**
 * Decide whether a peer suite can run. Pure apart from the defaults in `env`, so the decision is unit-tested.
 * @param tools - program names the suite starts
 * @param needs - further needs (root)
 * @param env - overrides for the lookup, the policy and the uid check
 */
export function checkPeers(tools: readonly string[], needs: PeerNeeds = {}, env: PeerCheckEnv = {}): PeerCheck {
  const find = env.find ?? findTool;
  const required = env.required ?? peersRequired();
  const isRoot = env.isRoot ?? process.getuid?.() === 0;
  const paths: Record<string, string> = {};
  const missing: string[] = [];
  const problems: string[] = [];
  for (const tool of tools) {
    const path = find(tool);
    if (path === undefined) {
      missing.push(tool);
      problems.push(`${tool} not found: ${installHint(tool)}`);
    } else {
      paths[tool] = path;
    }
  }
  if (needs.root === true && !isRoot) problems.push('these peer tests must run as root (tgtd control socket, capture)');
  if (problems.length === 0) return { action: 'run', missing, paths, reason: '' };
  const reason = required
    ? `${problems.join('; ')} (ISCSI_TS_REQUIRE_PEERS=1)`
    : `${problems.join('; ')}; skipping (set ISCSI_TS_REQUIRE_PEERS=1 to make this an error)`;
  return { action: required ? 'fail' : 'skip', missing, paths, reason };
}

/**
 * A `describe` block for tests that need real peer tools.
 *
 * - all tools present: `fn` runs as a normal suite;
 * - missing and {@link peersRequired}: the suite contains one failing test whose message names the missing
 *   tools and packages, and `fn` is not collected (its hooks would only fail later with less clear errors);
 * - missing and optional: the reason is printed once with `console.warn` and the suite is reported as skipped.
 * @param tools - program names the suite starts
 * @param name - suite name
 * @param fn - suite body, as for `describe`
 * @param needs - further needs (root)
 */
export function describePeers(tools: readonly string[], name: string, fn: () => void, needs: PeerNeeds = {}): void {
  const check = checkPeers(tools, needs);
  if (check.action === 'fail') {
    describe(name, () => {
      it('has the required peer tools', () => {
        throw new Error(check.reason);
      });
    });
    return;
  }
  if (check.action === 'skip') console.warn(`[iscsi-ts] ${name}: ${check.reason}`);
  describe.skipIf(check.action === 'skip')(name, fn);
}

/**
 * A TCP port that was free on `host` a moment ago (bind port 0, read it, close). Another process may take it
 * before the caller binds it, so callers that start daemons retry on a bind failure.
 * @param host - loopback address to probe
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) => (err ? reject(err) : port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Whether `port` can be bound on `host` right now. */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Kill the process (SIGTERM, then SIGKILL 2 s later) after this many milliseconds. Default 20 000. */
  timeoutMs?: number;
  /** Environment (defaults to the parent's). */
  env?: NodeJS.ProcessEnv;
  /** Working directory. */
  cwd?: string;
  /** Cap on collected stdout and stderr, each (bytes). Default 8 MiB; the excess is dropped. */
  maxOutputBytes?: number;
}

/** Result of {@link run}. */
export interface RunResult {
  /** Exit code, or `null` when the process died from a signal. */
  code: number | null;
  /** Terminating signal, if any. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed because of `timeoutMs`. */
  timedOut: boolean;
}

/** Grace between SIGTERM and SIGKILL for a timed-out child. */
const KILL_GRACE_MS = 2000;
/** After the child exits, how long its output pipes may stay open (held by a stray grandchild) before we resolve. */
const CLOSE_GRACE_MS = 1000;

/** Signal the process group led by `pid`; ignores a group that is already gone. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Run a program without a shell, collect its output and bound its run time. The program leads its own process
 * group, so a timeout (SIGTERM, then SIGKILL after 2 s) also ends helpers it started. Never rejects because of the
 * exit status (callers assert on `code`); rejects only when the program cannot be started.
 * @param cmd - program (name searched in PATH, or a path)
 * @param args - arguments, passed verbatim
 * @param options - timeout, environment, working directory
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const maxBytes = options.maxOutputBytes ?? 8 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env,
      cwd: options.cwd,
      detached: true,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const pid = child.pid;
    // The group does not get the terminal's SIGINT; end it if the test process exits first.
    const onProcessExit = (): void => {
      if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    };
    process.once('exit', onProcessExit);
    const finish = (): void => {
      for (const t of timers) clearTimeout(t);
      process.off('exit', onProcessExit);
    };
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < maxBytes) out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < maxBytes) err.push(chunk);
      errBytes += chunk.length;
    });
    timers.push(
      setTimeout(() => {
        timedOut = true;
        if (pid === undefined) return;
        signalGroup(pid, 'SIGTERM');
        timers.push(setTimeout(() => signalGroup(pid, 'SIGKILL'), KILL_GRACE_MS));
      }, timeoutMs),
    );
    child.once('error', (e) => {
      if (settled) return;
      settled = true;
      finish();
      reject(e);
    });
    const done = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      finish();
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    };
    child.once('close', done);
    child.once('exit', (code, signal) => {
      timers.push(setTimeout(() => done(code, signal), CLOSE_GRACE_MS));
    });
  });
}

/** Last `lines` lines of `text`, for error messages that quote a daemon's log. */
export function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Whether a live process with this PID exists and its `/proc/<pid>/comm` is `comm`. Checked before every
 * signal so that a reused PID is never hit; a zombie (state Z) counts as gone.
 */
export function processIs(pid: number, comm: string): boolean {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return false;
    // /proc/<pid>/stat: "pid (comm) S ..." — the state letter follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Resolves when `child` has exited, or after `ms`; tells whether it exited. */
export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}
