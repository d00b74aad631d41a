#!/usr/bin/env node
/**
 * The `iscsi-ts` command line. It only calls the public API (src/index.ts).
 * @module
 */
import { Command, InvalidArgumentError } from 'commander';
import { IscsiError } from '../index.js';
import { type AttachCliOptions, runAttach } from './attach.js';
import { runBootArgs, runDisks } from './boot.js';
import { type ConformCliOptions, runConform } from './conform.js';
import { runDecode } from './decode.js';
import { type DemoOptions, runDemo } from './demo.js';
import { type FuzzCliOptions, runFuzz } from './fuzz.js';
import { runIbft } from './ibft.js';
import { type BinaryIo, runCat, runDd, runInq, runLs, runReadcap } from './io-commands.js';
import {
  type KernelLogoutCliOptions,
  runKernelFirmwareLogin,
  runKernelLogin,
  runKernelLogout,
  runSessions,
  type SessionsCliOptions,
} from './kernel-commands.js';
import { type PerfCliOptions, runPerf } from './perf.js';
import { type ServeCliOptions, startServe } from './serve.js';
import { runDiscover, runFirmwareLogin, runLogin, type SessionCliOptions } from './session-commands.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a TCP port (1-65535)');
  return n;
}

const program = new Command('iscsi-ts').description('A pure-TypeScript iSCSI stack: tools').showHelpAfterError();

program
  .command('decode')
  .description('print the iSCSI PDUs of a pcap or pcapng capture, one per line (CHAP challenges/responses redacted)')
  .argument('<capture>', 'a .pcap or .pcapng file (from iscsi-ts, tshark, tcpdump or Wireshark)')
  .option('-p, --port <port>', 'TCP port of the target', port, 3260)
  .option('--json', 'one JSON object per PDU, in a JSON array', false)
  .action((file: string, opts: { port: number; json: boolean }) => {
    process.exitCode = runDecode(file, opts, (line) => process.stdout.write(`${line}\n`));
  });

function milliseconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive number of milliseconds');
  return n;
}

/** Options shared by the commands that open a session. */
function sessionOptions(command: Command): Command {
  return command
    .option('--json', 'print the result as JSON', false)
    .option('-v, --verbose', 'log each step (connect, login stages with their keys, CHAP algorithm, redirects)', false)
    .option('--log-json', 'log each step as a JSON line on stderr', false)
    .option('--trace <file.pcap>', 'record every PDU of the session in a pcap file')
    .option('--chap-file <file>', 'CHAP credentials: user=, secret=, target_user=, target_secret= lines (mode 600)')
    .option('--chap-prompt', 'ask for missing CHAP secrets on the terminal', false)
    .option('--initiator-name <iqn>', 'our iSCSI name')
    .option('--local-address <ip>', 'bind the connection to this local address')
    .option('--timeout <ms>', 'connect and login step timeout', milliseconds);
}

const io = {
  out: (l: string) => process.stdout.write(`${l}\n`),
  err: (l: string) => process.stderr.write(`${l}\n`),
  env: process.env,
};

sessionOptions(
  program
    .command('discover')
    .description(
      'list the targets behind a portal (SendTargets=All); CHAP from --chap-file, ISCSI_TS_CHAP_* or the URL',
    )
    .argument('<portal>', 'host[:port], [v6]:port, or an iscsi:// URL'),
).action(async (where: string, opts: SessionCliOptions) => {
  process.exitCode = await runDiscover(where, opts, io);
});

/** `iscsi-ts login` options. */
type LoginCliOptions = SessionCliOptions & {
  firmware: boolean;
  ibftFile?: string;
  kernel: boolean;
  bindFirst: boolean;
};

sessionOptions(
  program
    .command('login')
    .description('log in to a target, print the negotiated parameters, log out')
    .argument('[target]', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>, or a portal with --target')
    .option('-t, --target <iqn>', 'target name when a portal is given')
    .option(
      '--firmware',
      'log in to every target of the iSCSI Boot Firmware Table instead (with --kernel: bring them up as disks)',
      false,
    )
    .option('--ibft-file <file>', 'with --firmware: read the table from this file instead of the firmware')
    .option('--kernel', "hand the session to the kernel's iscsi_tcp and print its block devices (root, koffi)", false)
    .option(
      '--bind-first',
      'with --kernel: give the socket to the kernel first and log in through it (as iscsid)',
      false,
    ),
).action(async (where: string | undefined, opts: LoginCliOptions) => {
  if (opts.kernel && opts.firmware) {
    process.exitCode = await runKernelFirmwareLogin(opts, io);
    return;
  }
  if (opts.kernel && where) {
    process.exitCode = await runKernelLogin(where, opts, io);
    return;
  }
  if (opts.firmware) {
    process.exitCode = await runFirmwareLogin(opts, io);
    return;
  }
  if (!where) {
    io.err('iscsi-ts: login needs a target URL, a portal with --target, or --firmware');
    process.exitCode = 1;
    return;
  }
  process.exitCode = await runLogin(where, opts, io);
});

program
  .command('sessions')
  .description('the kernel iSCSI sessions from sysfs: target, portal, state, transport, host, disks')
  .option('--json', 'as JSON', false)
  .option('--ifaces', 'also the iSCSI hosts and interfaces (netdev, hwaddress, ipaddress)', false)
  .option('--sys-root <dir>', 'a sysfs tree to read instead of /sys')
  .action(async (opts: SessionsCliOptions) => {
    process.exitCode = await runSessions(opts, io);
  });

program
  .command('logout')
  .description('log out of kernel iSCSI sessions (by session number or target name) and remove them')
  .argument('<sid|target>', 'a session number (see iscsi-ts sessions) or a target name')
  .option('--no-logout', 'stop and destroy the session without a Logout Request')
  .option('--json', 'as JSON', false)
  .action(async (which: string, opts: KernelLogoutCliOptions & { logout: boolean }) => {
    process.exitCode = await runKernelLogout(which, { ...opts, noLogout: !opts.logout }, io);
  });

sessionOptions(
  program
    .command('attach')
    .description(
      "log in, hand the session to the kernel's iscsi_tcp, print its disks, and supervise it until SIGINT/SIGTERM " +
        '(reconnects after a connection failure, the same /dev/sdX carries on)',
    )
    .argument('<target>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>, or a portal with --target')
    .option('-t, --target <iqn>', 'target name when a portal is given')
    .option('--recovery-timeout <s>', 'seconds the kernel holds I/O after a failure while reconnecting (120)', positive)
    .option('--logout-on-exit', 'log the session out when ending (default: leave it in the kernel)', false),
).action(async (where: string, opts: AttachCliOptions) => {
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.exitCode = await runAttach(where, opts, io, stop.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
});

/** A byte count with an optional binary suffix (k, M, G), as dd takes it. */
function byteCount(value: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? '').toLowerCase()];
  const n = m && unit ? Number(m[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a positive byte count (suffix k, M or G)');
  return n;
}

function count(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('a non-negative integer');
  return n;
}

function pageCode(value: string): number {
  const n = Number(value);
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(value) || n > 0xff) throw new InvalidArgumentError('a VPD page code, 0-255');
  return n;
}

const binaryIo: BinaryIo = {
  ...io,
  stdout: process.stdout,
  ...(process.stderr.isTTY ? { progress: (text: string) => process.stderr.write(text) } : {}),
};

sessionOptions(
  program
    .command('ls')
    .description('list the targets behind a portal and their LUNs: type, size, vendor, product (like iscsi-ls -s)')
    .argument('<portal>', 'host[:port], [v6]:port, or an iscsi:// URL'),
).action(async (where: string, opts: SessionCliOptions) => {
  process.exitCode = await runLs(where, opts, io);
});

sessionOptions(
  program
    .command('inq')
    .description('print the standard INQUIRY data of a LUN, or a VPD page')
    .argument('<url>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>')
    .option('--page <n>', 'VPD page code (e.g. 0, 0x80, 0x83, 0xb0)', pageCode),
).action(async (url: string, opts: SessionCliOptions & { page?: number }) => {
  process.exitCode = await runInq(url, opts, io);
});

sessionOptions(
  program
    .command('readcap')
    .description('print the capacity of a LUN (READ CAPACITY(16))')
    .argument('<url>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>'),
).action(async (url: string, opts: SessionCliOptions) => {
  process.exitCode = await runReadcap(url, opts, io);
});

sessionOptions(
  program
    .command('cat')
    .description('write the whole LUN to stdout')
    .argument('<url>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>'),
).action(async (url: string, opts: SessionCliOptions) => {
  process.exitCode = await runCat(url, opts, binaryIo);
});

sessionOptions(
  program
    .command('dd')
    .description('copy between iSCSI LUNs and files; progress on stderr when it is a terminal')
    .requiredOption('--if <input>', 'an iscsi:// URL or a file')
    .requiredOption('--of <output>', 'an iscsi:// URL or a file')
    .option('--bs <bytes>', 'block size in bytes, suffix k, M or G (default 1M)', byteCount)
    .option('--count <n>', 'copy only this many blocks of --bs', count),
).action(async (opts: SessionCliOptions & { if: string; of: string; bs?: number; count?: number }) => {
  process.exitCode = await runDd(opts, binaryIo);
});

function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new InvalidArgumentError('a number of seconds');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('an integer 0..4294967295');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

sessionOptions(
  program
    .command('perf')
    .description('measure IOPS, MB/s (10^6 bytes) and latency with READ(16), like libiscsi iscsi-perf')
    .argument('<url>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>')
    .option('-m, --max <n>', 'requests in flight (default 32)', positive)
    .option('-b, --blocks <n>', 'blocks per request (default 8)', positive)
    .option('-t, --time <seconds>', 'run time; 0 or absent: until Ctrl-C', seconds)
    .option('-r, --random', 'random offsets (default sequential)', false)
    .option('--write', 'WRITE(16) instead of READ(16): DESTRUCTIVE, overwrites the LUN with random data', false),
).action(async (url: string, opts: PerfCliOptions) => {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  try {
    process.exitCode = await runPerf(url, opts, io, stop.signal);
  } finally {
    process.off('SIGINT', onSigint);
  }
});

program
  .command('ibft')
  .description('print the iSCSI Boot Firmware Table (CHAP secrets redacted)')
  .argument('[file]', 'a raw table file, or the memory image for --source memory')
  .option('--source <source>', 'acpi (/sys/firmware/acpi/tables), sysfs (/sys/firmware/ibft), memory, file')
  .option('--json', 'the table as JSON', false)
  .option('--show-secrets', 'print CHAP secrets', false)
  .action((file: string | undefined, opts: { source?: string; json: boolean; showSecrets: boolean }) => {
    process.exitCode = runIbft(file, opts, (line) => process.stdout.write(`${line}\n`));
  });

program
  .command('boot-args')
  .description('dracut arguments (netroot=, rd.iscsi.*) for a target or the firmware targets; secrets redacted')
  .argument('[url]', 'iscsi://[user%secret@]host[:port]/<iqn>/<lun>')
  .option('--firmware', 'for the targets of the iSCSI Boot Firmware Table', false)
  .option('--ibft-file <file>', 'with --firmware: a raw table file instead of the firmware')
  .option('--initiator-name <iqn>', 'initiator name for rd.iscsi.initiator=')
  .option('--show-secrets', 'write CHAP secrets (needed for the arguments to boot)', false)
  .option('--json', 'arguments, dracut modules and packages as JSON', false)
  .action(
    (
      url: string | undefined,
      opts: { firmware: boolean; ibftFile?: string; initiatorName?: string; showSecrets: boolean; json: boolean },
    ) => {
      process.exitCode = runBootArgs(url, opts, (line) => process.stdout.write(`${line}\n`));
    },
  );

program
  .command('disks')
  .description('the iSCSI disks of this system (kind, portal, target, LUN, session, by-path), from sysfs and udev')
  .option('--udev-db <file>', 'the text of `udevadm info --export-db` instead of the live system')
  .option('--sys-root <dir>', 'a sysfs tree to read instead of /sys')
  .option('--json', 'as JSON', false)
  .action(async (opts: { udevDb?: string; sysRoot?: string; json: boolean }) => {
    process.exitCode = await runDisks(opts, (line) => process.stdout.write(`${line}\n`));
  });

program
  .command('conform')
  .description('check a target against RFC 7143 rules (login, negotiation, CHAP, text, sequence, data, digests, ...)')
  .argument('<target>', 'iscsi://[user[%secret]@]host[:port]/<iqn>/<lun>, or a portal host[:port]')
  .option('--suite <areas>', 'only these areas, comma-separated (e.g. login,negotiation)')
  .option('--junit <file>', 'write JUnit XML')
  .option('--json <file>', 'write the verdicts as JSON')
  .option('--out <dir>', 'write a pcap of each failing case here')
  .option('--chap-file <file>', 'CHAP credentials: user=, secret=, target_user=, target_secret= lines (mode 600)')
  .option('-t, --target <iqn>', 'target name when a portal is given (default: the first one discovered)')
  .option('--initiator-name <iqn>', 'our iSCSI name')
  .option('--case-timeout <ms>', 'time limit of each case (default 5000)', milliseconds)
  .action(async (where: string, opts: ConformCliOptions) => {
    process.exitCode = await runConform(where, opts, io);
  });

program
  .command('fuzz')
  .description('fuzz a target with mutated PDUs in login, full feature and mid-transfer; minimised findings saved')
  .argument('[target]', 'iscsi://host[:port]/<iqn>/<lun>, or a portal host[:port] (loopback only by default)')
  .option('--seed <n>', 'seed of the run (default random; printed)', (v: string) => nonNegative(v))
  .option('--iterations <n>', 'cases at most (default 10000)', positive)
  .option('--time <s>', 'stop after this many seconds', positive)
  .option('--out <dir>', 'where findings (JSON + pcap) go (default fuzz-findings)')
  .option('--replay <file.json>', 'run a saved finding again instead of fuzzing')
  .option('-t, --target <iqn>', 'target name when a portal is given (default: the first one discovered)')
  .option('--initiator-name <iqn>', 'our iSCSI name')
  .option('--chap-file <file>', 'CHAP credentials: user=, secret= lines (mode 600)')
  .option('--hang-timeout <ms>', 'ping timeout before a hang is reported (default 2000)', milliseconds)
  .option('--max-findings <n>', 'stop after this many confirmed findings (default 1)', positive)
  .option('--embedded', 'fuzz an embedded target started in this process (memory LUN)', false)
  .option(
    '--restart <command>',
    'shell command that (re)starts the target on its portal, after a crash and before confirming one',
  )
  .option('--allow-remote', 'fuzz a target that is not on a loopback address (a test network you own)', false)
  .action(async (where: string | undefined, opts: FuzzCliOptions) => {
    process.exitCode = await runFuzz(where, opts, io);
  });

const collect = (value: string, previous: string[]): string[] => [...previous, value];

program
  .command('demo')
  .description('the whole stack on loopback: embedded target, discovery, CHAP login, I/O, boot arguments, pcap trace')
  .option('--trace <file.pcap>', 'where to write the trace (default: a file in the temporary directory)')
  .action(async (opts: DemoOptions) => {
    process.exitCode = await runDemo(opts, io);
  });

program
  .command('serve')
  .description('run the embedded iSCSI target until SIGINT/SIGTERM (prints the iscsi:// URL of each LUN)')
  .option(
    '-p, --portal <host[:port]>',
    'listen here (repeatable; port 0 picks one; default 127.0.0.1:3260)',
    collect,
    [],
  )
  .option('-t, --target <iqn>', 'target name', 'iqn.2026-11.io.github.iscsi-ts:target')
  .option('-l, --lun <spec>', 'mem:SIZE or file:PATH[,ro][,size=SIZE] (repeatable; default mem:64M)', collect, [])
  .option('--block-size <bytes>', 'logical block length', positive, 512)
  .option('--chap-file <file>', 'require CHAP: user=, secret= (and target_user=, target_secret= for mutual); mode 600')
  .option('--config <target.json>', 'portals, targets, LUNs and CHAP files from a JSON file instead of flags')
  .option('--nop-interval <ms>', 'ping idle initiators with NOP-In', milliseconds)
  .option('--trace <file.pcap>', 'record every PDU in a pcap file')
  .option('-v, --verbose', 'log every command too', false)
  .option('--log-json', 'log JSON lines instead of readable ones', false)
  .action(async (opts: ServeCliOptions) => {
    const served = await startServe(opts, io);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await served.stop();
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof IscsiError) {
    console.error(`iscsi-ts: ${err.message} (${err.code})`);
    process.exitCode = 1;
  } else if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error(`iscsi-ts: ${(err as Error).message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
