/**
 * `iscsi-ts fuzz <url|portal>`: the stateful target fuzzer. Prints its seed, shows progress (PDUs/s, sessions/s)
 * on stderr, saves each minimised finding as JSON plus pcap with the command line that replays it, and replays a
 * saved finding with `--replay file.json`. Loopback targets only unless `--allow-remote`; `--embedded` fuzzes an
 * embedded target started in this process.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectionError,
  createTarget,
  type FuzzProgress,
  type FuzzTarget,
  findingFromJson,
  findingToJson,
  fuzz,
  InvalidArgumentError,
  type IscsiTarget,
  type Portal,
  parsePortal,
  replayCase,
} from '../index.js';
import type { Io } from './session-commands.js';
import { resolveTargetArg } from './target-arg.js';

/** Options of `iscsi-ts fuzz`. */
export interface FuzzCliOptions {
  readonly seed?: number;
  readonly iterations?: number;
  /** Seconds. */
  readonly time?: number;
  /** Directory for findings (default `fuzz-findings`). */
  readonly out?: string;
  /** A saved finding to run again instead of fuzzing. */
  readonly replay?: string;
  readonly target?: string;
  readonly initiatorName?: string;
  readonly chapFile?: string;
  /** Fuzz a target that is not on a loopback address. */
  readonly allowRemote?: boolean;
  /** Fuzz an embedded target started for the run (memory LUN). */
  readonly embedded?: boolean;
  /** Ping timeout in ms before a hang is reported. */
  readonly hangTimeout?: number;
  readonly maxFindings?: number;
  /**
   * A shell command that (re)starts the target on the same portal (e.g. `systemctl restart tgt`): after a crash, and
   * before each session that confirms one, when the target may still be running.
   */
  readonly restart?: string;
}

/** Exit codes: 0 no finding (or a replay that did not trigger), 1 an error, 2 findings (or a replay that did). */
export const FuzzExit = { Ok: 0, Error: 1, Findings: 2 } as const;

const EMBEDDED_NAME = 'iqn.2026-11.io.github.iscsi-ts:fuzz';

async function startEmbedded(port = 0): Promise<IscsiTarget> {
  const t = createTarget({
    portals: [`127.0.0.1:${port}`],
    targets: [{ name: EMBEDDED_NAME, luns: [{ storage: { type: 'memory', size: 16 * 1024 * 1024 } }] }],
    maxSessions: 4096,
    maxConnections: 4096,
  });
  await t.start();
  return t;
}

async function resolveTarget(where: string, o: FuzzCliOptions, io: Io): Promise<{ target: FuzzTarget; url: string }> {
  const { portal, targetName, lun, chap } = await resolveTargetArg(where, o, io);
  const target: FuzzTarget = {
    portal,
    targetName,
    ...(lun !== undefined ? { lun } : {}),
    ...(o.initiatorName ? { initiatorName: o.initiatorName } : {}),
    ...(chap ? { chap } : {}),
  };
  // The replay command line names the target without secrets (CHAP comes from --chap-file or the environment).
  const host = portal.host.includes(':') ? `[${portal.host}]` : portal.host;
  return { target, url: `iscsi://${host}:${portal.port}/${targetName}/${lun ?? 0}` };
}

/** How long the `--restart` command may run, and how long the portal then has to accept connections. */
const RESTART_COMMAND_MS = 60_000;
const RESTART_LISTEN_MS = 30_000;

/**
 * Runs the `--restart` command (through the shell: it is the user's own command line) and waits until the portal
 * accepts TCP connections again. Only the command's exit is awaited, not its output pipes: a command that starts a
 * daemon in the background returns at once.
 */
async function restartTarget(command: string, portal: Portal, io: Io): Promise<void> {
  io.err(`restarting the target: ${command}`);
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), RESTART_COMMAND_MS);
    child.once('error', reject);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new ConnectionError(`the --restart command failed (exit ${code ?? 'killed'})`);
  const deadline = Date.now() + RESTART_LISTEN_MS;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: portal.host, port: portal.port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) {
      throw new ConnectionError(`the target did not listen on ${portal.host}:${portal.port} after --restart`);
    }
    await sleep(100);
  }
}

function progressLine(p: FuzzProgress): string {
  return (
    `${p.iterations} iterations, ${p.pdus} PDUs (${p.pdusPerSecond.toFixed(0)} PDUs/s), ` +
    `${p.sessions} sessions (${p.sessionsPerSecond.toFixed(0)}/s), ${p.findings} findings, ` +
    `${(p.elapsedMs / 1000).toFixed(0)} s`
  );
}

/** Runs `iscsi-ts fuzz`; returns the exit code. */
export async function runFuzz(where: string | undefined, o: FuzzCliOptions, io: Io): Promise<number> {
  let embedded: IscsiTarget | undefined;
  if (o.embedded) embedded = await startEmbedded();
  else if (!where) throw new InvalidArgumentError('give a target URL or portal, or --embedded');
  try {
    const { target, url } = embedded
      ? await resolveTarget(embedded.url(EMBEDDED_NAME, 0), o, io)
      : await resolveTarget(where!, o, io);
    const timeouts = o.hangTimeout ? { hangMs: o.hangTimeout } : {};
    if (o.replay) {
      const saved = findingFromJson(readFileSync(o.replay, 'utf8'));
      io.out(`replaying ${o.replay}: ${saved.kind} (${saved.case.phase}, ${saved.case.steps.length} PDUs)`);
      const r = await replayCase(target, saved.case, { timeouts, ...(o.allowRemote ? { allowRemote: true } : {}) });
      const pcap = `${o.replay.replace(/\.json$/, '')}.replay.pcap`;
      writeFileSync(pcap, r.pcap);
      if (!r.observation) {
        io.out(`not reproduced (trace in ${pcap})`);
        return FuzzExit.Ok;
      }
      io.out(`reproduced: ${r.observation.kind}: ${r.observation.message} (trace in ${pcap})`);
      return FuzzExit.Findings;
    }
    const seed = (o.seed ?? Math.floor(Math.random() * 0x100000000)) >>> 0;
    io.err(`iscsi-ts fuzz: seed ${seed} against ${url} (run it again with --seed ${seed})`);
    const tty = process.stderr.isTTY === true;
    const report = await fuzz({
      target,
      seed,
      iterations: o.iterations ?? 10_000,
      ...(o.time ? { timeMs: o.time * 1000 } : {}),
      ...(o.maxFindings ? { maxFindings: o.maxFindings } : {}),
      timeouts,
      ...(o.allowRemote ? { allowRemote: true } : {}),
      progressMs: tty ? 500 : 10_000,
      onProgress: (p) => {
        if (tty) process.stderr.write(`\r${progressLine(p)}\u001b[K`);
        else io.err(progressLine(p));
      },
      onFinding: (kind, message, iteration) => {
        if (tty) process.stderr.write('\n');
        io.err(`finding at iteration ${iteration}: ${kind}: ${message}; minimising…`);
      },
      ...(embedded
        ? {
            restart: async () => {
              await embedded?.stop({ graceMs: 0 });
              embedded = await startEmbedded();
              return parsePortal(`127.0.0.1:${embedded.portals[0]!.port}`);
            },
          }
        : o.restart
          ? {
              restart: async () => {
                await restartTarget(o.restart!, target.portal, io);
                return undefined;
              },
            }
          : {}),
    });
    if (tty) process.stderr.write('\n');
    io.out(`${progressLine(report)}; stopped by ${report.stoppedBy}; seed ${report.seed}`);
    if (report.list.length === 0) return FuzzExit.Ok;
    const dir = o.out ?? 'fuzz-findings';
    mkdirSync(dir, { recursive: true });
    for (const f of report.list) {
      const base = join(dir, `${f.kind}-seed${f.seed}-it${f.iteration}`);
      const replay = `iscsi-ts fuzz ${embedded ? '--embedded' : url} --replay ${base}.json`;
      writeFileSync(`${base}.json`, findingToJson(f, replay, url));
      if (f.pcap) writeFileSync(`${base}.pcap`, f.pcap);
      const doubt = !f.confirmed
        ? ', not confirmed: its case alone did not trigger it again'
        : f.reproduced
          ? ''
          : ', did not reproduce after minimising';
      io.out(
        `${f.kind}: ${f.message} (iteration ${f.iteration}, ${f.case.phase}, ` +
          `${f.originalSteps} → ${f.case.steps.length} PDUs in ${f.minimiseChecks} checks${doubt})`,
      );
      for (const s of f.case.steps) io.out(`  ${s.note}`);
      io.out(`  saved ${base}.json${f.pcap ? ` and ${base}.pcap` : ''}`);
      io.out(`  replay: ${replay}`);
    }
    return FuzzExit.Findings;
  } finally {
    await embedded?.stop({ graceMs: 0 });
  }
}
