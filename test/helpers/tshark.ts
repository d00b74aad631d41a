/**
 * tshark (Wireshark 4.0) as an independent judge of iSCSI traffic: a bounded live capture on loopback and
 * readers that dissect a pcap with the iSCSI dissector pinned to the test's port. Facts relied on: tshark prints
 * "Capturing on" when dumpcap is ready; `iscsi.target_ports` decides which side is the target; PDUs with a data
 * segment above `iscsi.bogus_pdu_max_data_len` (default 262144) are silently ignored, so the limit is raised.
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool, processIs, run, sleep, tail, waitExit } from './peers.js';

/** Options of {@link startCapture}. */
export interface CaptureOptions {
  /** TCP port to capture (capture filter `tcp port N`). */
  port: number;
  /** Interface; loopback only. */
  iface?: 'lo';
}

/** A running capture started by {@link startCapture}. */
export interface Capture {
  /** Where the capture is written (pcapng). */
  pcap: string;
  /** PID of tshark (leader of its own process group, which also holds dumpcap). */
  pid: number;
  /**
   * Wait `graceMs` (default 500) for the last packets, SIGINT tshark, wait for it (bounded) and return the pcap
   * path. Idempotent.
   */
  stop(graceMs?: number): Promise<string>;
  /** Stop if needed and remove the temp dir with the pcap. */
  remove(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5000;
/** After "Capturing on", the filter is live; a short pause covers dumpcap's own start-up. */
const START_GRACE_MS = 300;
/** Bound for one tshark read of a pcap. */
const READ_TIMEOUT_MS = 30_000;

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Kill tshark's process group (tshark and its dumpcap); ignores a group that is already gone. */
function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Start `tshark -i lo -f 'tcp port N' -w <tmp>/run.pcap -q` and resolve once it is capturing. Needs root or
 * CAP_NET_RAW. Rejects with tshark's stderr when it exits or is not ready within 10 s.
 * @param options - port and interface
 */
export async function startCapture(options: CaptureOptions): Promise<Capture> {
  const tshark = findTool('tshark');
  if (tshark === undefined) throw new Error("tshark not found: install the 'tshark' package");
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) {
    throw new Error(`startCapture: bad port ${options.port}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-cap-'));
  const pcap = join(dir, 'run.pcap');
  const child = spawn(tshark, ['-i', options.iface ?? 'lo', '-f', `tcp port ${options.port}`, '-w', pcap, '-q'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true, // own process group, so a last-resort kill also reaches dumpcap
  });
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`tshark could not be spawned (${tshark})`);
  }
  const onProcessExit = (): void => {
    if (processIs(pid, 'tshark')) killGroup(pid);
  };
  process.once('exit', onProcessExit);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    if (stderr.length < 65536) stderr += chunk;
  });

  let stopping: Promise<string> | undefined;
  const stop = (graceMs = 500): Promise<string> => {
    stopping ??= (async () => {
      if (!exited(child)) {
        await sleep(graceMs);
        if (processIs(pid, 'tshark')) child.kill('SIGINT');
        if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
          killGroup(pid);
          await waitExit(child, 2000);
        }
      }
      process.off('exit', onProcessExit);
      return pcap;
    })();
    return stopping;
  };
  const remove = async (): Promise<void> => {
    await stop(0);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!stderr.includes('Capturing on') && !exited(child) && Date.now() < deadline) await sleep(50);
  if (!stderr.includes('Capturing on')) {
    const why = exited(child) ? `exited (${child.exitCode ?? child.signalCode})` : 'not ready after 10 s';
    await remove();
    throw new Error(`tshark capture on port ${options.port} ${why}:\n${tail(stderr)}`);
  }
  await sleep(START_GRACE_MS);
  return { pcap, pid, stop, remove };
}

/** Options shared by the pcap readers. */
export interface ReadOptions {
  /** The target's TCP port: decoded as iSCSI and treated as the target side. */
  port: number;
  /** Display filter; defaults to `iscsi`. */
  filter?: string;
  /** Further tshark options, e.g. `['-o', 'tcp.desegment_tcp_streams:TRUE']`. */
  extraOptions?: string[];
}

/** Options of {@link tsharkFields}. */
export interface FieldsOptions extends ReadOptions {
  /** Field names for `-e`, e.g. `iscsi.opcode`. */
  fields: string[];
}

/** The dissector settings every reader uses for `port`. */
function iscsiOptions(port: number): string[] {
  return [
    '-d',
    `tcp.port==${port},iscsi`,
    '-o',
    `iscsi.target_ports:${port}`,
    '-o',
    'iscsi.bogus_pdu_max_data_len:16777216',
  ];
}

/** Run tshark on a pcap; throws with stderr on a non-zero exit or a timeout. */
async function readPcap(pcap: string, options: ReadOptions, output: string[]): Promise<string> {
  const tshark = findTool('tshark');
  if (tshark === undefined) throw new Error("tshark not found: install the 'tshark' package");
  const args = [
    '-r',
    pcap,
    ...iscsiOptions(options.port),
    ...(options.extraOptions ?? []),
    '-Y',
    options.filter ?? 'iscsi',
    ...output,
  ];
  const r = await run(tshark, args, { timeoutMs: READ_TIMEOUT_MS, maxOutputBytes: 256 * 1024 * 1024 });
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`tshark ${args.join(' ')} failed (${r.timedOut ? 'timeout' : r.code}):\n${tail(r.stderr)}`);
  }
  return r.stdout;
}

/**
 * One row per displayed frame, one column per field, all occurrences of a field joined with `|` (a frame with
 * several PDUs gives e.g. `0x25|0x21`; split on `|` to count PDUs).
 * @param pcap - capture file
 * @param options - port, fields, filter
 */
export async function tsharkFields(pcap: string, options: FieldsOptions): Promise<string[][]> {
  if (options.fields.length === 0) throw new Error('tsharkFields: no fields');
  const fieldArgs = options.fields.flatMap((f) => ['-e', f]);
  const out = await readPcap(pcap, options, ['-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', ...fieldArgs]);
  return out
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t'));
}

/**
 * The JSON dissection (`-T json -j "iscsi scsi"`) of the displayed frames.
 * @param pcap - capture file
 * @param options - port, filter
 */
export async function tsharkJson(pcap: string, options: ReadOptions): Promise<unknown[]> {
  const out = await readPcap(pcap, options, ['-T', 'json', '-j', 'iscsi scsi']);
  const parsed: unknown = JSON.parse(out.trim() === '' ? '[]' : out);
  if (!Array.isArray(parsed)) throw new Error('tshark -T json did not print an array');
  return parsed;
}

/**
 * The verbose text dissection (`-V -O iscsi,scsi`) of the displayed frames.
 * @param pcap - capture file
 * @param options - port, filter
 */
export function tsharkVerbose(pcap: string, options: ReadOptions): Promise<string> {
  return readPcap(pcap, options, ['-V', '-O', 'iscsi,scsi']);
}

/** A frame the iSCSI dissector could not read cleanly (see {@link iscsiProblems}). */
export interface FrameProblem {
  frame: number;
  /** Layers named by `[Malformed Packet: <layer>]`, e.g. `iSCSI`. */
  malformedLayers: string[];
  /** Expert messages of the frame (all severities that the filter matched). */
  expert: string[];
}

/**
 * Frames with an iSCSI-layer problem: malformed at a layer other than SCSI, an invalid opcode or key=value, or an
 * error-level expert item without a malformed layer. Frames malformed only at the SCSI layer are left out: tshark
 * 4.0 flags some valid tgtd INQUIRY VPD / MODE SENSE payloads that way.
 * @param pcap - capture file
 * @param options - the target port (filter and extra options are ignored)
 */
export async function iscsiProblems(pcap: string, options: ReadOptions): Promise<FrameProblem[]> {
  const rows = await tsharkFields(pcap, {
    port: options.port,
    // 8388608 = PI_ERROR, the expert severity of "Malformed Packet (Exception occurred)".
    filter: '_ws.malformed || _ws.expert.severity >= 8388608 || iscsi.opcode.invalid || iscsi.keyvalue.invalid',
    fields: ['frame.number', '_ws.malformed', '_ws.expert.message', 'iscsi.opcode.invalid', 'iscsi.keyvalue.invalid'],
  });
  const problems: FrameProblem[] = [];
  for (const [frame = '', malformed = '', expert = '', badOpcode = '', badKey = ''] of rows) {
    const malformedLayers = [...malformed.matchAll(/Malformed Packet: ([^\]]+)\]/g)].map((m) => m[1] ?? '');
    const onlyScsi = malformedLayers.length > 0 && malformedLayers.every((layer) => layer === 'SCSI');
    if (onlyScsi && badOpcode === '' && badKey === '') continue;
    problems.push({ frame: Number(frame), malformedLayers, expert: expert === '' ? [] : expert.split('|') });
  }
  return problems;
}

/** Options of {@link pdusToPcap}. */
export interface PduPcapOptions {
  /** Direction of the bytes: initiator → target (default) or target → initiator. */
  from?: 'initiator' | 'target';
  /** Target TCP port (default 3260); the initiator side uses 40000. */
  port?: number;
  /** Directory for the pcap; a new temp dir when omitted (the caller removes it). */
  dir?: string;
}

/**
 * Wrap whole PDUs (one direction) into a single synthetic TCP segment with text2pcap, for dissecting codec output
 * without a socket. Returns the pcap path. At most 65 000 bytes (one IPv4 segment).
 * @param bytes - one or more complete PDUs, padding and digests included
 * @param options - direction, port, directory
 */
export async function pdusToPcap(bytes: Uint8Array, options: PduPcapOptions = {}): Promise<string> {
  const text2pcap = findTool('text2pcap');
  if (text2pcap === undefined) throw new Error("text2pcap not found: install the 'wireshark-common' package");
  if (bytes.length === 0 || bytes.length > 65_000) throw new Error(`pdusToPcap: ${bytes.length} bytes (1..65000)`);
  const port = options.port ?? 3260;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'iscsi-ts-pdu-'));
  // text2pcap reads "offset  hex hex …" lines, as printed by od -Ax -tx1.
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const hex = Array.from(bytes.subarray(off, off + 16), (b) => b.toString(16).padStart(2, '0')).join(' ');
    lines.push(`${off.toString(16).padStart(6, '0')} ${hex}`);
  }
  const dump = join(dir, 'pdus.txt');
  const pcap = join(dir, 'pdus.pcap');
  writeFileSync(dump, `${lines.join('\n')}\n`);
  const toTarget = (options.from ?? 'initiator') === 'initiator';
  const ports = toTarget ? `40000,${port}` : `${port},40000`;
  const addrs = toTarget ? '127.0.0.1,127.0.0.2' : '127.0.0.2,127.0.0.1';
  const r = await run(text2pcap, ['-q', '-T', ports, '-4', addrs, dump, pcap], { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`text2pcap failed (${r.code}):\n${tail(r.stderr)}`);
  return pcap;
}
