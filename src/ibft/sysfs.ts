/**
 * Reader of the `/sys/firmware/ibft` tree that Linux's iscsi_ibft + iscsi_boot_sysfs modules expose (and of the
 * same attributes under `/sys/firmware/iscsi_boot<host>` for offload HBAs, which have no `acpi_header`), into
 * the model {@link parseIbft} produces.
 *
 * Kernel formats and quirks handled: decimal numbers with `\n`; IPv4-mapped addresses as `a.b.c.d`, other
 * addresses as uncompressed IPv6 (`fd00:0010:0000:…`, normalised here); null addresses omitted except the
 * target's `ip-addr`, which is always there (`0.0.0.0` / all zeros → absent); `subnet-mask` without a newline
 * (derived from `prefix-len`, which is preferred); `hostname` present with an empty line when only its offset is
 * set; `rev-chap-name-secret` for the reverse CHAP secret; the PCI address only through the `device` symlink;
 * the LUN as eight unpadded `%x` bytes (see {@link parseSysfsLun}).
 *
 * What sysfs cannot express, so it differs from the raw table: `controlFlags` (always 0 here), `pciBdf` when the
 * kernel found no PCI device at that address (undefined), a CHAP secret without a CHAP name (dropped by the
 * kernel), LUNs with bytes ≥ 0x10 outside the usual single-level encodings (ambiguous), and slot order (entries
 * come in index order). Reading needs CAP_SYS_ADMIN even though the files are mode 0444.
 * @module
 */
import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseAddress } from './address.js';
import { IbftError } from './errors.js';
import {
  type IbftInitiator,
  type IbftNic,
  type IbftSignature,
  type IbftTable,
  type IbftTarget,
  isDhcpNic,
  lunNumberOf,
  pciAddressOf,
  subnetMaskOf,
} from './model.js';

/** sysfs attributes are at most one page. */
const MAX_ATTRIBUTE = 4096;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const PCI_RE = /^0000:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** One directory of the tree (`initiator`, `ethernet0`, …). */
class AttrDir {
  constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  /** The attribute's bytes without the kernel's one trailing newline, or undefined when the file is absent. */
  raw(attr: string): Uint8Array | undefined {
    const field = `${this.name}/${attr}`;
    let fd: number;
    try {
      fd = openSync(join(this.root, this.name, attr), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      throw ioError(err, 'cannot open', field);
    }
    try {
      const buf = Buffer.alloc(MAX_ATTRIBUTE + 1);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, null);
        if (n === 0) break;
        got += n;
      }
      if (got > MAX_ATTRIBUTE) throw new IbftError(`longer than ${MAX_ATTRIBUTE} bytes`, field);
      const end = got > 0 && buf[got - 1] === 0x0a ? got - 1 : got;
      return new Uint8Array(buf.subarray(0, end));
    } catch (err) {
      throw err instanceof IbftError ? err : ioError(err, 'cannot read', field);
    } finally {
      closeSync(fd);
    }
  }

  text(attr: string): string | undefined {
    const bytes = this.raw(attr);
    if (bytes === undefined) return undefined;
    try {
      return utf8.decode(bytes);
    } catch {
      throw new IbftError('not valid UTF-8', `${this.name}/${attr}`);
    }
  }

  /** A string attribute where an empty value means absent (names, hostname). */
  optional(attr: string): string | undefined {
    const text = this.text(attr);
    return text === '' ? undefined : text;
  }

  secret(attr: string): Uint8Array | undefined {
    const bytes = this.raw(attr);
    return bytes === undefined || bytes.length === 0 ? undefined : bytes;
  }

  num(attr: string, max: number, fallback: number): number {
    const text = this.text(attr);
    if (text === undefined) return fallback;
    const value = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN;
    if (!(value <= max)) throw new IbftError(`not a decimal number 0..${max}`, `${this.name}/${attr}`);
    return value;
  }

  ip(attr: string): string | undefined {
    const text = this.text(attr);
    if (text === undefined) return undefined;
    const address = normaliseAddress(text);
    if (address === false) throw new IbftError('not an IPv4 or IPv6 address', `${this.name}/${attr}`);
    return address;
  }

  /** The PCI BDF from the `device` symlink (`…/0000:00:03.0`), undefined without one. */
  pciBdf(): number | undefined {
    let target: string;
    try {
      target = readlinkSync(join(this.root, this.name, 'device'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL') return undefined;
      throw ioError(err, 'cannot read link', `${this.name}/device`);
    }
    const m = PCI_RE.exec(target.slice(target.lastIndexOf('/') + 1));
    if (m === null) throw new IbftError('link does not end in a domain-0 PCI address', `${this.name}/device`);
    return (Number.parseInt(m[1]!, 16) << 8) | (Number.parseInt(m[2]!, 16) << 3) | Number(m[3]);
  }
}

function ioError(err: unknown, what: string, field: string): IbftError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const hint = code === 'EACCES' || code === 'EPERM' ? ' (the iBFT attributes need CAP_SYS_ADMIN)' : '';
  return new IbftError(`${what}: ${code}${hint}`, field, undefined, { cause: err });
}

/**
 * The SAM LUN from sysfs `lun` text: Linux prints each of the 8 bytes with `%x`, unpadded (LUN 1 → `01000000`),
 * which is ambiguous once a byte is ≥ 0x10. Two-digit bytes never start with `0`; among the readings left, the one
 * with two-digit bytes leftmost wins, which maximises trailing zero bytes and so picks the single-level reading
 * (`01f000000` → LUN 31, `412c000000` → flat LUN 300). Use the raw table for exact multi-level LUNs.
 */
export function parseSysfsLun(text: string, field = 'lun'): bigint {
  if (!/^[0-9a-f]{8,16}$/.test(text)) throw new IbftError('not 8 bytes of unpadded lower-case hex', field);
  const bytes: number[] = [];
  const walk = (pos: number): boolean => {
    const left = 8 - bytes.length;
    const chars = text.length - pos;
    if (left === 0) return chars === 0;
    if (chars < left || chars > 2 * left) return false;
    for (const width of [2, 1]) {
      if (width === 2 && (chars < 2 || text[pos] === '0')) continue;
      bytes.push(Number.parseInt(text.slice(pos, pos + width), 16));
      if (walk(pos + width)) return true;
      bytes.pop();
    }
    return false;
  };
  if (!walk(0)) throw new IbftError('no reading as 8 unpadded hex bytes', field);
  return bytes.reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

/**
 * Reads the kernel's iBFT tree into the model, or returns undefined when `root` does not exist (no iBFT, or the
 * iscsi_ibft module is not loaded). Throws {@link IbftError} naming `<dir>/<attribute>` for unreadable or
 * malformed attributes and for duplicate indices.
 */
export function readIbftSysfs(root = '/sys/firmware/ibft'): IbftTable | undefined {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(err, 'cannot list', root);
  }
  const numbered = (prefix: string) =>
    entries
      .map((e) => new RegExp(`^${prefix}(\\d{1,3})$`).exec(e))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ dir: new AttrDir(root, m[0]), slot: Number(m[1]) }))
      .sort((a, b) => a.slot - b.slot);

  const nics = numbered('ethernet').map(({ dir, slot }) => readNic(dir, slot));
  const targets = numbered('target').map(({ dir, slot }) => readTarget(dir, slot));
  checkUnique(nics, 'ethernet');
  checkUnique(targets, 'target');
  const header = entries.includes('acpi_header') ? new AttrDir(root, 'acpi_header') : undefined;
  const signature = header?.text('signature');
  if (signature !== undefined && !['iBFT', 'IBFT', 'BIFT'].includes(signature)) {
    throw new IbftError('not iBFT, IBFT or BIFT', 'acpi_header/signature');
  }
  return {
    signature: signature as IbftSignature | undefined,
    oemId: header?.text('oem_id') ?? '',
    oemTableId: header?.text('oem_table_id') ?? '',
    controlFlags: 0,
    initiator: entries.includes('initiator') ? readInitiator(new AttrDir(root, 'initiator')) : undefined,
    nics,
    targets,
  };
}

function readInitiator(d: AttrDir): IbftInitiator {
  const flags = d.num('flags', 0xff, 0);
  return {
    valid: (flags & 1) !== 0,
    bootSelected: (flags & 2) !== 0,
    reservedFlags: flags & ~3,
    name: d.optional('initiator-name'),
    isnsServer: d.ip('isns-server'),
    slpServer: d.ip('slp-server'),
    primaryRadiusServer: d.ip('pri-radius-server'),
    secondaryRadiusServer: d.ip('sec-radius-server'),
  };
}

function readNic(d: AttrDir, slot: number): IbftNic {
  const flags = d.num('flags', 0xff, 0);
  const ip = d.ip('ip-addr');
  const prefixLength = d.raw('prefix-len') === undefined ? prefixOfMask(d) : d.num('prefix-len', 0xff, 0);
  const origin = d.num('origin', 0xff, 0);
  const dhcpServer = d.ip('dhcp');
  const mac = (d.text('mac') ?? '00:00:00:00:00:00').toLowerCase();
  if (!MAC_RE.test(mac)) throw new IbftError('not a MAC address aa:bb:cc:dd:ee:ff', `${d.name}/mac`);
  const pciBdf = d.pciBdf();
  return {
    index: d.num('index', 0xff, slot),
    valid: (flags & 1) !== 0,
    bootSelected: (flags & 2) !== 0,
    global: (flags & 4) !== 0,
    reservedFlags: flags & ~7,
    ip,
    prefixLength,
    subnetMask: subnetMaskOf(ip, prefixLength),
    origin,
    dhcp: isDhcpNic(origin, dhcpServer),
    gateway: d.ip('gateway'),
    primaryDns: d.ip('primary-dns'),
    secondaryDns: d.ip('secondary-dns'),
    dhcpServer,
    vlan: d.num('vlan', 0xffff, 0),
    mac,
    pciBdf,
    pciAddress: pciAddressOf(pciBdf),
    hostname: d.optional('hostname'),
  };
}

/** Offload HBA trees may give only `subnet-mask`: its prefix when it is a contiguous IPv4 mask, else 0. */
function prefixOfMask(d: AttrDir): number {
  const mask = d.text('subnet-mask');
  if (mask === undefined) return 0;
  const parts = mask.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new IbftError('not a dotted-quad mask', `${d.name}/subnet-mask`);
  }
  const bits = parts.reduce((acc, p) => acc * 256 + p, 0);
  const prefix = 32 - Math.log2(0x1_0000_0000 - bits);
  if (!Number.isInteger(prefix)) throw new IbftError('not a contiguous mask', `${d.name}/subnet-mask`);
  return prefix;
}

function readTarget(d: AttrDir, slot: number): IbftTarget {
  const flags = d.num('flags', 0xff, 0);
  const lunText = d.text('lun');
  const lun = lunText === undefined ? 0n : parseSysfsLun(lunText, `${d.name}/lun`);
  return {
    index: d.num('index', 0xff, slot),
    valid: (flags & 1) !== 0,
    bootSelected: (flags & 2) !== 0,
    radiusChap: (flags & 4) !== 0,
    radiusReverseChap: (flags & 8) !== 0,
    reservedFlags: flags & ~15,
    ip: d.ip('ip-addr'),
    // open-iscsi's default when an (offload) tree has no port.
    port: d.num('port', 0xffff, 3260),
    lun,
    lunNumber: lunNumberOf(lun),
    chapType: d.num('chap-type', 0xff, 0),
    nicIndex: d.num('nic-assoc', 0xff, 0),
    name: d.optional('target-name'),
    chapName: d.optional('chap-name'),
    chapSecret: d.secret('chap-secret'),
    reverseChapName: d.optional('rev-chap-name'),
    reverseChapSecret: d.secret('rev-chap-name-secret'),
  };
}

function checkUnique(items: readonly { readonly index: number }[], kind: string): void {
  const seen = new Set<number>();
  for (const item of items) {
    if (seen.has(item.index)) throw new IbftError(`duplicate index ${item.index}`, `${kind}${item.index}/index`);
    seen.add(item.index);
  }
}
