/**
 * The fuzzer against a real target: tgtd. From seed 1 it finds inputs that crash tgtd (glibc aborts it on a corrupt
 * heap: "double free or corruption", "munmap_chunk(): invalid pointer"; or it segfaults), restarts tgtd after each
 * crash, minimises each
 * finding to one or two PDUs and confirms it once more. The minimised findings are kept in docs/fuzz-tgtd/ (JSON
 * for `iscsi-ts fuzz --replay`, and a pcap) with docs/fuzz-tgtd.md; every saved one must crash a fresh tgtd again.
 * Regenerate with `ISCSI_TS_WRITE_FUZZ=1 npx vitest run test/fuzz/tgtd.test.ts`, then review. If a tgt release
 * fixes these bugs the replay test fails: update the results, never the oracle.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { type FuzzFinding, findingFromJson, findingToJson } from '../../src/fuzz/finding.js';
import { fuzz, replayCase } from '../../src/fuzz/fuzzer.js';
import type { FuzzCase } from '../../src/fuzz/types.js';
import type { Portal } from '../../src/session/address.js';
import { describePeers, freePort } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const IQN = 'iqn.2024-01.test.iscsi-ts:fuzz';
const DIR = join(import.meta.dirname, '../../docs/fuzz-tgtd');
const REPORT = join(import.meta.dirname, '../../docs/fuzz-tgtd.md');
/** What glibc prints when it aborts a process whose heap is corrupt. */
const HEAP_ABORT = /double free or corruption|free\(\): invalid|munmap_chunk\(\): invalid pointer|corrupted size/;

const BIN = join(import.meta.dirname, '../../dist/cli/main.js');

/**
 * What a user of `iscsi-ts fuzz --restart` writes: a script that (re)starts tgtd on a fixed portal with its target.
 * Arguments: port, control number, work directory.
 */
const RESTART_SCRIPT = `#!/bin/sh
set -e
port=$1 control=$2 dir=$3
[ -f "$dir/pid" ] && kill -9 "$(cat "$dir/pid")" 2>/dev/null || true
truncate -s 1M "$dir/lun.img"
tgtd -f -C "$control" --iscsi "portal=127.0.0.1:$port" >>"$dir/tgtd.log" 2>&1 &
echo $! >"$dir/pid"
i=0
until tgtadm -C "$control" --op show --mode sys >/dev/null 2>&1; do
  i=$((i + 1)); [ "$i" -lt 100 ] || exit 1; sleep 0.1
done
tgtadm -C "$control" --lld iscsi --op new --mode target --tid 1 -T ${IQN}
tgtadm -C "$control" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$dir/lun.img"
tgtadm -C "$control" --lld iscsi --op bind --mode target --tid 1 -I ALL
`;

const start = (): Promise<Tgtd> => startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: 1 << 20 }] }] });
const portalOf = (t: Tgtd): Portal => ({ host: '127.0.0.1', port: t.port, family: 4 });
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Replays a case against a fresh tgtd; whether tgtd survived and its log. */
async function replayOnFreshTgtd(
  c: FuzzCase,
): Promise<{ kind?: string; survived: boolean; signal?: string; log: string }> {
  const tgtd = await start();
  try {
    const { observation } = await replayCase({ portal: portalOf(tgtd), targetName: IQN, lun: 1 }, c);
    // glibc writes its message just before abort(): give the dying process a moment to finish.
    for (let i = 0; i < 20 && alive(tgtd.pid); i++) await new Promise((r) => setTimeout(r, 50));
    const signal = tgtd.exitSignal();
    return {
      ...(observation ? { kind: observation.kind } : {}),
      ...(signal ? { signal } : {}),
      survived: alive(tgtd.pid),
      log: tgtd.log(),
    };
  } finally {
    await tgtd.stop();
  }
}

/** docs/fuzz-tgtd.md for a run: the command, the figures, and each minimised finding with its PDUs. */
function reportMarkdown(
  findings: readonly FuzzFinding[],
  files: readonly string[],
  logs: readonly string[],
  unconfirmed: number,
): string {
  const lines = [
    '# Fuzzing tgtd (iscsi-ts fuzz)',
    '',
    'Produced by `ISCSI_TS_WRITE_FUZZ=1 npx vitest run test/fuzz/tgtd.test.ts`: `fuzz()` from seed 1 against tgt',
    '1.0.85 (Debian) on loopback, one target with a 1 MiB LUN, no authentication. tgtd is restarted after each',
    'crash. A crash is confirmed when its case kills a freshly started tgtd again (one of three tries); it is then',
    'minimised (ddmin over the PDUs, then over the bytes of each PDU) and run once more on a fresh tgtd.',
    `This run also had ${unconfirmed} unconfirmed finding${unconfirmed === 1 ? '' : 's'}: tgtd failed, but the case blamed did not`,
    'make a fresh tgtd fail again (such crashes depend on what its heap went through before). Those are not saved.',
    "The test replays every saved finding against a fresh tgtd and checks that it dies: SIGABRT from glibc's heap",
    'checks (with its message in the log) or SIGSEGV.',
    '',
    'Replay one by hand against a tgtd of your own (it will crash it):',
    '',
    '```sh',
    'iscsi-ts fuzz iscsi://127.0.0.1:3260/<target-iqn>/1 --replay docs/fuzz-tgtd/<finding>.json',
    '```',
    '',
    '## Findings',
    '',
  ];
  findings.forEach((f, i) => {
    lines.push(
      `### ${i + 1}. \`${files[i]}\`: ${f.kind} (${f.case.phase}${f.case.digests ? ', digests' : ''})`,
      '',
      `Found at iteration ${f.iteration} of seed ${f.seed}; ${f.originalSteps} PDUs minimised to ${f.case.steps.length} ` +
        `in ${f.minimiseChecks} sessions; reproduced after minimising: ${f.reproduced ? 'yes' : 'no'}.`,
      '',
      'PDUs sent after the phase was reached:',
      '',
      ...f.case.steps.map((s) => `- ${s.note} (${s.bytes.length} bytes)`),
      '',
      "tgtd's last log lines when the minimised case is replayed against a fresh tgtd:",
      '',
      '```',
      ...(logs[i] ?? '').split('\n').slice(-4),
      '```',
      '',
    );
  });
  return `${lines.join('\n')}\n`;
}

describePeers(['tgtd', 'tgtadm'], 'fuzzing tgtd', () => {
  it('finds crashes of tgtd from seed 1, restarts it, and minimises them to one or two PDUs', async () => {
    let tgtd = await start();
    const crashLogs: string[] = [];
    try {
      const report = await fuzz({
        target: { portal: portalOf(tgtd), targetName: IQN, lun: 1 },
        seed: 1,
        iterations: 1000,
        timeMs: 120_000,
        maxFindings: 3,
        // Generous for a loaded CI machine; tgtd answers within milliseconds when it is not broken.
        timeouts: { connectMs: 5000, replyMs: 5000, hangMs: 5000 },
        restart: async () => {
          crashLogs.push(tgtd.log());
          await tgtd.stop();
          tgtd = await start();
          return portalOf(tgtd);
        },
      });
      const summary = report.list
        .map(
          (f) =>
            `${f.kind} it${f.iteration} confirmed=${f.confirmed} reproduced=${f.reproduced}: ` +
            f.case.steps.map((s) => s.note).join(' | '),
        )
        .join('\n');
      expect(report.stoppedBy, summary).toBe('findings');
      // Some of tgtd's failures depend on what it went through before (its heap; sometimes an endless loop in
      // conn_close that stops it answering): the case that met them does not repeat them on a fresh tgtd. Those are
      // listed unconfirmed. The confirmed ones repeat once minimised, and at least two are crashes of 1-2 PDUs.
      const confirmed = report.list.filter((f) => f.confirmed);
      expect(confirmed, summary).toHaveLength(3);
      for (const f of confirmed) expect(f.reproduced, summary).toBe(true);
      const minimised = confirmed.filter((f) => f.kind === 'refused' && f.case.steps.length <= 2);
      expect(minimised.length, summary).toBeGreaterThanOrEqual(2);
      // tgtd was restarted after each crash (and before confirming one), and its own log shows why it died.
      expect(crashLogs.length).toBeGreaterThanOrEqual(3);
      expect(crashLogs.some((log) => HEAP_ABORT.test(log))).toBe(true);

      if (process.env.ISCSI_TS_WRITE_FUZZ === '1') {
        rmSync(DIR, { recursive: true, force: true });
        mkdirSync(DIR, { recursive: true });
        const files = minimised.map((f, i) => `crash-${i + 1}-${f.case.phase}-it${f.iteration}`);
        minimised.forEach((f, i) => {
          const base = join(DIR, files[i]!);
          const replay = `iscsi-ts fuzz iscsi://127.0.0.1:3260/${IQN}/1 --replay docs/fuzz-tgtd/${files[i]}.json`;
          writeFileSync(`${base}.json`, findingToJson(f, replay, `iscsi://127.0.0.1:3260/${IQN}/1`));
          if (f.pcap) writeFileSync(`${base}.pcap`, f.pcap);
        });
        const logs: string[] = [];
        for (const f of minimised) {
          const r = await replayOnFreshTgtd(f.case);
          logs.push(`${r.log.trim()}\n(tgtd ended by ${r.signal ?? 'no signal'})`);
        }
        writeFileSync(REPORT, reportMarkdown(minimised, files, logs, report.list.length - confirmed.length));
      }
    } finally {
      await tgtd.stop();
    }
  }, 240_000);

  it('every saved finding in docs/fuzz-tgtd/ kills a fresh tgtd (SIGABRT or SIGSEGV) when replayed', async () => {
    const saved = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(saved.length).toBeGreaterThanOrEqual(3);
    for (const name of saved) {
      const replayed = await replayOnFreshTgtd(findingFromJson(readFileSync(join(DIR, name), 'utf8')).case);
      expect(replayed.kind, name).toBe('refused');
      expect(replayed.survived, name).toBe(false);
      // A corrupt heap makes glibc abort with a message; a wild write is a segmentation fault.
      expect(['SIGABRT', 'SIGSEGV'], name).toContain(replayed.signal);
      if (replayed.signal === 'SIGABRT') expect(replayed.log, name).toMatch(HEAP_ABORT);
    }
  }, 120_000);

  it('the CLI runs a --restart command after each crash and goes on fuzzing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-fuzz-restart-'));
    const port = await freePort();
    const control = port > 32767 ? port - 32768 : port;
    const script = join(dir, 'restart.sh');
    writeFileSync(script, RESTART_SCRIPT);
    const restart = `sh ${script} ${port} ${control} ${dir}`;
    const pids: string[] = [];
    try {
      await promisify(execFile)('/bin/sh', ['-c', restart], { timeout: 30_000 });
      pids.push(readFileSync(join(dir, 'pid'), 'utf8').trim());
      const out = join(dir, 'findings');
      const args = ['fuzz', `iscsi://127.0.0.1:${port}/${IQN}/1`, '--seed', '1', '--iterations', '400'];
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, ...args, '--max-findings', '2', '--hang-timeout', '5000', '--restart', restart, '--out', out],
          { timeout: 150_000 },
          (error, stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stdout, stderr }),
        );
      });
      pids.push(readFileSync(join(dir, 'pid'), 'utf8').trim());
      const said = `${run.stdout}\n${run.stderr}`;
      expect(run.code, said).toBe(2);
      expect(run.stderr, said).toContain(`restarting the target: ${restart}`);
      expect(run.stdout, said).toMatch(/stopped by findings/);
      // Two confirmed crashes end the run (--max-findings 2); an unconfirmed one would be saved beside them.
      const saved = readdirSync(out).filter((f) => f.endsWith('.json'));
      const confirmed = saved.filter((f) => JSON.parse(readFileSync(join(out, f), 'utf8')).confirmed === true);
      expect(
        saved.every((f) => f.startsWith('refused-')),
        said,
      ).toBe(true);
      expect(confirmed, said).toHaveLength(2);
      // A new tgtd is running on the same portal after the last restart.
      expect(pids[1]).not.toBe(pids[0]);
      expect(alive(Number(pids[1]))).toBe(true);
    } finally {
      const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      rmSync(`/var/run/tgtd/socket.${control}`, { force: true });
      rmSync(`/var/run/tgtd/socket.${control}.lock`, { force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
