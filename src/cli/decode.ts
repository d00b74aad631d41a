/**
 * `iscsi-ts decode`: one line (or one JSON object) per iSCSI PDU of a capture.
 * @module
 */
import { readFileSync } from 'node:fs';
import { type Ahs, decodeCapture, opcodeNames, scsiCommandName, scsiStatusName, type TracedPdu } from '../index.js';

/** Options of the decode command. */
export interface DecodeCommandOptions {
  readonly port: number;
  readonly json: boolean;
}

const SEQUENCE_FIELDS = ['cmdSN', 'expStatSN', 'statSN', 'expCmdSN', 'maxCmdSN', 'dataSN', 'r2tSN'] as const;
// Data segments shown in JSON: small control payloads, never Login/Text data (CHAP) or SCSI data.
const DATA_SHOWN = new Set(['reject', 'nop-out', 'nop-in', 'scsi-response', 'async-message']);
const DATA_SHOWN_MAX = 1024;

/** Runs the command; returns the process exit code. */
export function runDecode(file: string, options: DecodeCommandOptions, out: (line: string) => void): number {
  const { pdus, problems } = decodeCapture(readFileSync(file), { port: options.port });
  if (options.json) {
    out('[');
    for (const [i, p] of pdus.entries()) out(JSON.stringify(toJson(p)) + (i < pdus.length - 1 ? ',' : ''));
    out(']');
  } else {
    for (const p of pdus) out(toLine(p));
    out(`${pdus.length} PDUs`);
  }
  for (const p of problems)
    console.error(`frame ${p.frame} (${p.from}): stopped following this direction: ${p.message}`);
  return 0;
}

function name(opcode: number): string {
  return opcodeNames[opcode as keyof typeof opcodeNames] ?? `opcode 0x${opcode.toString(16)}`;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function toLine(t: TracedPdu): string {
  const parts = [String(t.frame).padStart(6), t.from === 'initiator' ? 'I->T' : 'T->I', name(t.opcode).padEnd(24)];
  const p = t.pdu;
  if (p) {
    parts.push(`ITT ${hex32(p.initiatorTaskTag)}`);
    const fields = p as unknown as Record<string, unknown>;
    for (const f of SEQUENCE_FIELDS) if (typeof fields[f] === 'number') parts.push(`${f}=${fields[f]}`);
    if ('bufferOffset' in p) parts.push(`offset=${p.bufferOffset}`);
    if (p.kind === 'login-request' || p.kind === 'login-response') {
      parts.push(`${p.transit ? 'T ' : ''}${p.continue ? 'C ' : ''}CSG=${p.currentStage} NSG=${p.nextStage}`);
      if (p.kind === 'login-response')
        parts.push(`status=0x${((p.statusClass << 8) | p.statusDetail).toString(16).padStart(4, '0')}`);
    }
    if (p.kind === 'scsi-command') parts.push(`${scsiCommandName(p.cdb)} CDB ${Buffer.from(p.cdb).toString('hex')}`);
    if (p.kind === 'scsi-response') parts.push(`status=0x${p.status.toString(16)} ${scsiStatusName(p.status)}`);
    parts.push(`DSL=${p.data.length}`);
  }
  parts.push(`len=${t.length}`);
  if (t.text) parts.push(t.text.map(([k, v]) => `${k}=${v}`).join(' '));
  if (t.violations.length > 0) parts.push(`!! ${t.violations.map((v) => v.message).join('; ')}`);
  return parts.join('  ');
}

function bytesHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function ahsJson(a: Ahs): Record<string, unknown> {
  switch (a.type) {
    case 'extended-cdb':
      return { type: a.type, cdb: bytesHex(a.cdb) };
    case 'bidi-read-length':
      return { type: a.type, expectedReadDataLength: a.expectedReadDataLength };
    case 'raw':
      return { type: a.type, ahsType: a.ahsType, specific: bytesHex(a.specific) };
  }
}

function toJson(t: TracedPdu): Record<string, unknown> {
  const o: Record<string, unknown> = {
    frame: t.frame,
    from: t.from,
    src: `${t.src.address}:${t.src.port}`,
    dst: `${t.dst.address}:${t.dst.port}`,
    opcode: t.opcode,
    opcodeName: name(t.opcode),
    length: t.length,
  };
  const p = t.pdu;
  if (p) {
    o.itt = p.initiatorTaskTag;
    for (const [k, v] of Object.entries(p)) {
      if (k === 'ahs' || k === 'data' || k === 'initiatorTaskTag') continue;
      if (typeof v === 'bigint') o[k] = `0x${v.toString(16).padStart(16, '0')}`;
      else if (v instanceof Uint8Array) o[k] = bytesHex(v);
      else o[k] = v;
    }
    if (p.kind === 'login-request' || p.kind === 'login-response') o.isid = p.isid.toString(16).padStart(12, '0');
    o.dataSegmentLength = p.data.length;
    if (p.ahs.length > 0) o.ahs = p.ahs.map(ahsJson);
    if (DATA_SHOWN.has(p.kind) && p.data.length > 0) o.data = bytesHex(p.data.subarray(0, DATA_SHOWN_MAX));
  }
  if (t.text) o.text = t.text;
  if (t.violations.length > 0) o.violations = t.violations.map((v) => ({ code: v.code, message: v.message }));
  return o;
}
