/**
 * The I/O commands: `iscsi-ts ls`, `inq`, `readcap`, `cat` and `dd`. Credentials, logging, traces and exit codes
 * work as for `discover` and `login` (session-commands.ts).
 * @module
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type BlockDevice,
  buildInquiryCdb,
  buildReportLunsCdb,
  DEFAULT_UNIT_ATTENTION_RETRIES,
  discover,
  InvalidArgumentError,
  IscsiError,
  type LoginOptions,
  login,
  lunToNumber,
  openLun,
  parseIscsiUrl,
  parseReportLuns,
  parseStandardInquiry,
  parseVpdPage,
  readCapacity,
  runScsiRetryingUnitAttention,
  Session,
} from '../index.js';
import { common, ExitCode, exitCodeFor, type Io, report, type SessionCliOptions } from './session-commands.js';

/** Output channels of the I/O commands: the line channels plus binary stdout and a terminal progress line. */
export interface BinaryIo extends Io {
  /** Where `cat` writes the LUN's bytes. */
  readonly stdout: Writable;
  /** Writes raw text to stderr, given only when stderr is a terminal (for the `dd` progress line). */
  readonly progress?: (text: string) => void;
}

/** Options of `iscsi-ts inq`. */
export interface InqCliOptions extends SessionCliOptions {
  /** VPD page code (EVPD 1); standard INQUIRY data when absent. */
  readonly page?: number;
}

/** Options of `iscsi-ts dd`. */
export interface DdCliOptions extends SessionCliOptions {
  /** Input: an iscsi:// URL or a file. */
  readonly if: string;
  /** Output: an iscsi:// URL or a file. */
  readonly of: string;
  /** Bytes per block (default 1 MiB); with iSCSI on either side, a multiple of its block size. */
  readonly bs?: number;
  /** Blocks of `bs` to copy (default: all of the input). */
  readonly count?: number;
}

/** UNIT ATTENTION retries of the first command of each session (power on / reset after login). */
const REPORT_LUNS_ALLOCATION = 16 * 1024;
const DEFAULT_BS = 1024 * 1024;
const PROGRESS_MS = 250;

/** Logs in to the target of a URL, starts a session, runs `fn`, logs out. */
async function withSession<T>(
  url: string,
  o: SessionCliOptions,
  io: Io,
  fn: (session: Session, lun: number) => Promise<T>,
): Promise<T> {
  const u = parseIscsiUrl(url);
  if (u.targetName === undefined)
    throw new InvalidArgumentError('the URL must name a target: iscsi://host/<iqn>/<lun>');
  const { options, close } = await common(url, o, io);
  try {
    const session = new Session(await login(options));
    try {
      return await fn(session, u.lun ?? 0);
    } finally {
      await session.logout().catch(() => session.close());
    }
  } finally {
    close();
  }
}

/** Opens the LUN of an iscsi:// URL as a block device, with the CLI's credentials, logging and trace. */
async function openFromCli(url: string, o: SessionCliOptions, io: Io): Promise<{ dev: BlockDevice; close(): void }> {
  const u = parseIscsiUrl(url);
  if (u.targetName === undefined || u.lun === undefined) {
    throw new InvalidArgumentError('the URL must name a target and a LUN: iscsi://host/<iqn>/<lun>');
  }
  const { options, close } = await common(url, o, io);
  try {
    const dev = await openLun(
      { portal: u.portal, targetName: u.targetName, lun: u.lun },
      { loginOptions: options, ...(options.logger ? { logger: options.logger } : {}) },
    );
    return { dev, close };
  } catch (err) {
    close();
    throw err;
  }
}

/** JSON with bigints as numbers when safe, else strings, and byte arrays as hex. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
      return v;
    },
    2,
  );
}

/** `key: value` lines of a parsed structure (nested objects and arrays as JSON). */
function printFields(obj: object, io: Io): void {
  for (const [k, v] of Object.entries(obj)) {
    io.out(`${k}: ${typeof v === 'object' && v !== null ? toJson(v).replace(/\s+/g, ' ') : String(v)}`);
  }
}

/** A byte count the way `iscsi-ls -s` shows it (binary units). */
function human(bytes: number): string {
  const units = ['', 'k', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[i]}`;
}

/** One LUN as `ls` reports it. */
interface LunInfo {
  lun: number | string;
  type?: number;
  typeName?: string;
  vendor?: string;
  product?: string;
  revision?: string;
  size?: number;
  blockSize?: number;
  error?: string;
}

async function describeLun(session: Session, lun: bigint): Promise<LunInfo> {
  const info: LunInfo = { lun: lunToNumber(lun) ?? `0x${lun.toString(16).padStart(16, '0')}` };
  try {
    const inq = parseStandardInquiry(
      await runScsiRetryingUnitAttention(
        session,
        lun,
        buildInquiryCdb({ allocationLength: 96 }),
        DEFAULT_UNIT_ATTENTION_RETRIES,
        {
          allowShortRead: true,
        },
      ),
    );
    Object.assign(info, {
      type: inq.peripheralDeviceType,
      typeName: inq.deviceTypeName,
      vendor: inq.vendor,
      product: inq.product,
      revision: inq.revision,
    });
    // Only block devices (SBC: disk, optical memory, RBC…) answer READ CAPACITY; others would fail it.
    if ([0x00, 0x05, 0x07, 0x0e].includes(inq.peripheralDeviceType)) {
      const cap = await readCapacity(session, lun);
      info.size = Number(cap.bytes);
      info.blockSize = cap.blockLength;
    }
  } catch (err) {
    info.error = err instanceof Error ? err.message : String(err);
  }
  return info;
}

/** Logs in to one target and describes every LUN of its REPORT LUNS answer. */
async function listLuns(options: LoginOptions): Promise<LunInfo[]> {
  // The portal asked, not the advertised one: a target may advertise addresses unreachable from here.
  const session = new Session(await login(options));
  try {
    const report = parseReportLuns(
      await runScsiRetryingUnitAttention(
        session,
        0,
        buildReportLunsCdb({ allocationLength: REPORT_LUNS_ALLOCATION }),
        DEFAULT_UNIT_ATTENTION_RETRIES,
        { allowShortRead: true },
      ),
    );
    const luns: LunInfo[] = [];
    for (const lun of report.luns) luns.push(await describeLun(session, lun));
    return luns;
  } finally {
    await session.logout().catch(() => session.close());
  }
}

/** `iscsi-ts ls <portal>`: every target behind the portal, its LUNs with type, size, vendor and product. */
export async function runLs(where: string, o: SessionCliOptions, io: Io): Promise<number> {
  try {
    const { options, close } = await common(where, o, io);
    try {
      const targets = await discover(options);
      const result: { target: string; portals: string[]; luns: LunInfo[]; error?: string }[] = [];
      let code: number = ExitCode.Ok;
      for (const t of targets) {
        const portals = t.portals.map(
          (p) =>
            `${p.address.includes(':') ? `[${p.address}]` : p.address}:${p.port}${p.tpgt !== undefined ? `,${p.tpgt}` : ''}`,
        );
        try {
          result.push({ target: t.name, portals, luns: await listLuns({ ...options, targetName: t.name }) });
        } catch (err) {
          // One target refusing us (CHAP, ACL) does not hide the others; the exit code still tells.
          if (!(err instanceof IscsiError)) throw err;
          code = exitCodeFor(err);
          result.push({ target: t.name, portals, luns: [], error: `${err.message} (${err.code})` });
        }
      }
      if (o.json) io.out(toJson(result));
      else {
        for (const t of result) {
          io.out(`Target:${t.target} Portal:${t.portals.join(' ')}${t.error ? ` Error:${t.error}` : ''}`);
          for (const l of t.luns) {
            const size = l.size !== undefined ? ` (Size:${human(l.size)} ${l.size} bytes)` : '';
            const id = l.vendor !== undefined ? ` Vendor:${l.vendor} Product:${l.product}` : '';
            io.out(
              `Lun:${String(l.lun).padEnd(4)} Type:${l.typeName ?? '?'}${size}${id}${l.error ? ` Error:${l.error}` : ''}`,
            );
          }
        }
      }
      return code;
    } finally {
      close();
    }
  } catch (err) {
    return report(err, io);
  }
}

/** `iscsi-ts inq <url> [--page N]`: standard INQUIRY data, or one VPD page. */
export async function runInq(url: string, o: InqCliOptions, io: Io): Promise<number> {
  try {
    const parsed = await withSession(url, o, io, async (session, lun) => {
      const evpd = o.page !== undefined;
      const cdb = buildInquiryCdb({ evpd, pageCode: o.page ?? 0, allocationLength: evpd ? 0xffff : 255 });
      const data = await runScsiRetryingUnitAttention(session, lun, cdb, DEFAULT_UNIT_ATTENTION_RETRIES, {
        allowShortRead: true,
      });
      return evpd ? parseVpdPage(data) : parseStandardInquiry(data);
    });
    if (o.json) io.out(toJson(parsed));
    else printFields(parsed, io);
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  }
}

/** `iscsi-ts readcap <url>`: READ CAPACITY(16), with the total size in bytes. */
export async function runReadcap(url: string, o: SessionCliOptions, io: Io): Promise<number> {
  try {
    const cap = await withSession(url, o, io, (session, lun) => readCapacity(session, lun));
    if (o.json) io.out(toJson(cap));
    else {
      io.out(`Total size: ${cap.bytes}`);
      io.out(`Block size: ${cap.blockLength}`);
      io.out(`Blocks: ${cap.blocks}`);
      io.out(`Last LBA: ${cap.lastLba}`);
      io.out(`Physical block size: ${cap.physicalBlockLength}`);
      io.out(`Thin provisioning (LBPME): ${cap.lbpme ? 1 : 0}, unmapped reads zero (LBPRZ): ${cap.lbprz ? 1 : 0}`);
      io.out(`Protection: ${cap.protectionEnabled ? `type ${cap.protectionType}` : 'none'}`);
    }
    return ExitCode.Ok;
  } catch (err) {
    return report(err, io);
  }
}

/** `iscsi-ts cat <url>`: the whole LUN to stdout. */
export async function runCat(url: string, o: SessionCliOptions, io: BinaryIo): Promise<number> {
  try {
    const { dev, close } = await openFromCli(url, o, io);
    try {
      await pipeline(dev.createReadStream(), io.stdout, { end: false });
    } finally {
      await dev.close();
      close();
    }
    return ExitCode.Ok;
  } catch (err) {
    // The reader went away (`iscsi-ts cat … | head`): like cat, stop quietly.
    if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') return ExitCode.Ok;
    return report(err, io);
  }
}

/** One side of a copy: an opened LUN or a file. */
interface End {
  readonly size: number;
  readonly dev?: BlockDevice;
  close(): Promise<void>;
}

async function openEnd(where: string, o: SessionCliOptions, io: Io, input: boolean): Promise<End> {
  if (where.startsWith('iscsi://')) {
    const { dev, close } = await openFromCli(where, o, io);
    return {
      size: dev.size,
      dev,
      close: async () => {
        await dev.close();
        close();
      },
    };
  }
  return { size: input ? statSync(where).size : Number.POSITIVE_INFINITY, close: async () => undefined };
}

/** `iscsi-ts dd --if X --of Y [--bs N] [--count N]`: copies between iSCSI LUNs and files. */
export async function runDd(o: DdCliOptions, io: BinaryIo): Promise<number> {
  const ends: End[] = [];
  try {
    const bs = o.bs ?? DEFAULT_BS;
    if (!Number.isSafeInteger(bs) || bs < 1) throw new InvalidArgumentError(`--bs ${bs} must be a positive integer`);
    if (o.count !== undefined && (!Number.isSafeInteger(o.count) || o.count < 0)) {
      throw new InvalidArgumentError(`--count ${o.count} must be a non-negative integer`);
    }
    const src = await openEnd(o.if, o, io, true);
    ends.push(src);
    const dst = await openEnd(o.of, o, io, false);
    ends.push(dst);
    const total = o.count !== undefined ? Math.min(o.count * bs, src.size) : src.size;
    if (total > dst.size) {
      throw new InvalidArgumentError(`${total} bytes do not fit the output (${dst.size} bytes)`);
    }
    // Checked before anything is sent, so a refused copy leaves the LUN untouched.
    if (dst.dev && total % dst.dev.blockSize !== 0) {
      throw new InvalidArgumentError(
        `${total} bytes do not end on a block boundary of the output (block size ${dst.dev.blockSize})`,
      );
    }
    const chunkFor = (dev: BlockDevice) => (bs % dev.blockSize === 0 ? bs : undefined);
    let source: Readable;
    if (total === 0) source = Readable.from([]);
    else if (src.dev) {
      const chunkSize = chunkFor(src.dev);
      source = src.dev.createReadStream({ end: total - 1, ...(chunkSize ? { chunkSize } : {}) });
    } else source = createReadStream(o.if, { start: 0, end: total - 1, highWaterMark: bs });
    let sink: Writable;
    if (dst.dev) {
      const chunkSize = chunkFor(dst.dev);
      sink = dst.dev.createWriteStream(chunkSize ? { chunkSize } : {});
    } else sink = createWriteStream(o.of);
    const started = performance.now();
    let copied = 0;
    let shown = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        copied += chunk.length;
        const now = performance.now();
        if (io.progress && now - shown >= PROGRESS_MS) {
          shown = now;
          io.progress(`\r${copied} / ${total} bytes (${total ? Math.floor((copied * 100) / total) : 100}%)`);
        }
        cb(null, chunk);
      },
    });
    await pipeline(source, counter, sink);
    if (dst.dev) await dst.dev.flush();
    if (io.progress) io.progress('\n');
    const seconds = (performance.now() - started) / 1000;
    io.err(
      `${copied} bytes copied, ${seconds.toFixed(3)} s, ${(copied / 1e6 / Math.max(seconds, 1e-6)).toFixed(1)} MB/s`,
    );
    return ExitCode.Ok;
  } catch (err) {
    // A file that cannot be opened, read or written (ENOENT, EACCES, ENOSPC…): a system error, not an iSCSI one.
    if (!(err instanceof IscsiError) && err instanceof Error && (err as NodeJS.ErrnoException).syscall) {
      io.err(`iscsi-ts: ${err.message}`);
      return ExitCode.Other;
    }
    return report(err, io);
  } finally {
    for (const end of ends) await end.close();
  }
}
