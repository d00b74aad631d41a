/**
 * Writer of raw iBFT tables from the typed model, for test fixtures, QEMU's `-acpitable file=…` and people
 * preparing boot setups. The output always satisfies {@link parseIbft}: `parseIbft(writeIbft(m))` equals `m` for
 * every model in normal form (as the parser and the sysfs reader produce it).
 *
 * Layout: header, control structure at 48, then the structures, each at the next multiple of `align`, then the
 * string heap (each string followed by one NUL) starting aligned; the table ends after the last NUL.
 * With the defaults (16-byte alignment, initiator, NICs, targets) this is iPXE's order; `order: 'interleaved'`
 * gives EDK2's NIC0, target0, NIC1, … and `align: 8` the spacing of EDK2 and dracut's test generator.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { addressToBytes } from './address.js';
import {
  CHECKSUM_OFFSET,
  CONTROL,
  CONTROL_OFFSET,
  HEADER,
  INITIATOR,
  type InitiatorRecord,
  type Layout,
  NIC,
  type NicRecord,
  StructId,
  TARGET,
  TARGET_STRINGS,
  type TargetRecord,
} from './layout.js';
import type { IbftInitiator, IbftNicSpec, IbftTableSpec, IbftTargetSpec } from './model.js';

/** Options of {@link writeIbft}. */
export interface IbftWriteOptions {
  /** Alignment of every structure and of the string heap: a power of two 1..4096; default 16 (as iPXE). */
  readonly align?: number;
  /** `grouped` (default): initiator, all NICs, all targets; `interleaved`: NIC0, target0, NIC1, target1, … */
  readonly order?: 'grouped' | 'interleaved';
}

const encoder = new TextEncoder();
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

type Placed =
  | { readonly kind: 'nic'; readonly slot: number; readonly nic: IbftNicSpec; offset: number }
  | { readonly kind: 'target'; readonly slot: number; readonly target: IbftTargetSpec; offset: number };

/**
 * Builds a table from a model. Derived fields (`subnetMask`, `dhcp`, `pciAddress`, `lunNumber`) are ignored;
 * empty strings and secrets are written as absent (length 0), `0.0.0.0` and `::` as the null address.
 * Throws {@link InvalidArgumentError} naming the field for values out of range, invalid addresses or MACs,
 * strings with NUL bytes, duplicate NIC or target indices, and tables too large for 16-bit offsets.
 */
export function writeIbft(model: IbftTableSpec, options: IbftWriteOptions = {}): Uint8Array {
  const align = options.align ?? 16;
  if (!Number.isInteger(align) || align < 1 || align > 4096 || (align & (align - 1)) !== 0) {
    throw new InvalidArgumentError('iBFT align must be a power of two 1..4096');
  }
  const up = (n: number) => Math.ceil(n / align) * align;
  checkUnique(model.nics, 'nics');
  checkUnique(model.targets, 'targets');
  const signature = model.signature ?? 'iBFT';
  if (!['iBFT', 'IBFT', 'BIFT'].includes(signature))
    throw new InvalidArgumentError('iBFT signature must be iBFT, IBFT or BIFT');
  const oemId = ascii(model.oemId, 6, 'oemId');
  const oemTableId = ascii(model.oemTableId, 8, 'oemTableId');
  int(model.controlFlags, 0xff, 'controlFlags');

  // Slots after the initiator offset: NIC i at 2i, target i at 2i + 1; at least two pairs (length 18).
  const slotCount = Math.max(4, 2 * model.nics.length - 1, 2 * model.targets.length);
  const controlLength = 10 + 2 * slotCount;
  let pos = up(CONTROL_OFFSET + controlLength);
  let end = CONTROL_OFFSET + controlLength;
  const place = (size: number): number => {
    const at = pos;
    end = at + size;
    pos = up(end);
    return at;
  };
  const initiatorOffset = model.initiator === undefined ? 0 : place(INITIATOR.span);
  const placed: Placed[] = [];
  const nicEntry = (i: number): Placed => ({ kind: 'nic', slot: 2 * i, nic: model.nics[i]!, offset: 0 });
  const targetEntry = (i: number): Placed => ({
    kind: 'target',
    slot: 2 * i + 1,
    target: model.targets[i]!,
    offset: 0,
  });
  if (options.order === 'interleaved') {
    for (let i = 0; i < Math.max(model.nics.length, model.targets.length); i++) {
      if (i < model.nics.length) placed.push(nicEntry(i));
      if (i < model.targets.length) placed.push(targetEntry(i));
    }
  } else {
    placed.push(...model.nics.map((_, i) => nicEntry(i)), ...model.targets.map((_, i) => targetEntry(i)));
  }
  for (const p of placed) p.offset = place(p.kind === 'nic' ? NIC.span : TARGET.span);

  // String heap, in structure order.
  const strings: { bytes: Uint8Array; offset: number }[] = [];
  let heap = up(end);
  const str = (value: string | Uint8Array | undefined, field: string): Ref => {
    const bytes = typeof value === 'string' ? encoder.encode(value) : (value ?? new Uint8Array(0));
    if (bytes.length === 0) return [0, 0];
    if (bytes.includes(0)) throw new InvalidArgumentError(`iBFT ${field} contains a NUL byte`);
    const at = heap;
    strings.push({ bytes, offset: at });
    heap += bytes.length + 1;
    end = heap;
    return [bytes.length, at];
  };
  const initiatorName: Ref = model.initiator === undefined ? [0, 0] : str(model.initiator.name, 'initiator.name');
  const placedStrings = placed.map((p) => {
    if (p.kind === 'nic') return [str(p.nic.hostname, `nics[${p.slot >> 1}].hostname`)];
    return TARGET_STRINGS.map((f) => str(p.target[f], `targets[${p.slot >> 1}].${f}`));
  });
  if (end > 0xffff) throw new InvalidArgumentError(`iBFT of ${end} bytes is too large for 16-bit offsets`);

  const buf = Buffer.alloc(end);
  HEADER.encode(
    {
      signature: Buffer.from(signature, 'latin1'),
      length: end,
      revision: 1,
      checksum: 0,
      oemId: padded(oemId, 6),
      oemTableId: padded(oemTableId, 8),
      reserved: Buffer.alloc(24),
    },
    buf,
  );
  CONTROL.encode(
    {
      id: StructId.Control,
      version: 1,
      length: controlLength,
      index: 0,
      flags: model.controlFlags,
      extensionsOffset: 0,
      initiatorOffset,
    },
    buf,
    CONTROL_OFFSET,
  );
  for (const p of placed) buf.writeUInt16LE(p.offset, CONTROL_OFFSET + 10 + 2 * p.slot);
  if (model.initiator !== undefined) {
    encode(INITIATOR, initiatorRecord(model.initiator, initiatorName), buf, initiatorOffset);
  }
  placed.forEach((p, i) => {
    const refs = placedStrings[i]!;
    if (p.kind === 'nic') encode(NIC, nicRecord(p.nic, refs[0]!, p.slot >> 1), buf, p.offset);
    else encode(TARGET, targetRecord(p.target, refs, p.slot >> 1), buf, p.offset);
  });
  for (const s of strings) buf.set(s.bytes, s.offset);
  let sum = 0;
  for (const b of buf) sum += b;
  buf[CHECKSUM_OFFSET] = (0x100 - (sum & 0xff)) & 0xff;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

function encode<T>(layout: Layout<T>, rec: T, buf: Buffer, offset: number): void {
  layout.encode(rec, buf, offset);
}

function initiatorRecord(init: IbftInitiator, name: Ref): InitiatorRecord {
  const flags = flagsOf([init.valid, init.bootSelected], init.reservedFlags, 'initiator.reservedFlags');
  return {
    id: StructId.Initiator,
    version: 1,
    length: INITIATOR.span,
    index: 0,
    flags,
    isnsServer: ip(init.isnsServer, 'initiator.isnsServer'),
    slpServer: ip(init.slpServer, 'initiator.slpServer'),
    primaryRadiusServer: ip(init.primaryRadiusServer, 'initiator.primaryRadiusServer'),
    secondaryRadiusServer: ip(init.secondaryRadiusServer, 'initiator.secondaryRadiusServer'),
    nameLength: name[0],
    nameOffset: name[1],
  };
}

function nicRecord(nic: IbftNicSpec, hostname: Ref, i: number): NicRecord {
  const f = `nics[${i}]`;
  if (!MAC_RE.test(nic.mac)) throw new InvalidArgumentError(`iBFT ${f}.mac is not aa:bb:cc:dd:ee:ff`);
  return {
    id: StructId.Nic,
    version: 1,
    length: NIC.span,
    index: int(nic.index, 0xff, `${f}.index`),
    flags: flagsOf([nic.valid, nic.bootSelected, nic.global], nic.reservedFlags, `${f}.reservedFlags`),
    ip: ip(nic.ip, `${f}.ip`),
    prefixLength: int(nic.prefixLength, 0xff, `${f}.prefixLength`),
    origin: int(nic.origin, 0xff, `${f}.origin`),
    gateway: ip(nic.gateway, `${f}.gateway`),
    primaryDns: ip(nic.primaryDns, `${f}.primaryDns`),
    secondaryDns: ip(nic.secondaryDns, `${f}.secondaryDns`),
    dhcpServer: ip(nic.dhcpServer, `${f}.dhcpServer`),
    vlan: int(nic.vlan, 0xffff, `${f}.vlan`),
    mac: Buffer.from(nic.mac.replaceAll(':', ''), 'hex'),
    pciBdf: int(nic.pciBdf ?? 0, 0xffff, `${f}.pciBdf`),
    hostnameLength: hostname[0],
    hostnameOffset: hostname[1],
  };
}

function targetRecord(t: IbftTargetSpec, refs: readonly Ref[], i: number): TargetRecord {
  const f = `targets[${i}]`;
  if (typeof t.lun !== 'bigint' || t.lun < 0n || t.lun > 0xffff_ffff_ffff_ffffn) {
    throw new InvalidArgumentError(`iBFT ${f}.lun must be a 64-bit unsigned bigint`);
  }
  const lun = Buffer.alloc(8);
  lun.writeBigUInt64BE(t.lun);
  const [name, chapName, chapSecret, reverseChapName, reverseChapSecret] = refs.map((r) => r) as Refs5;
  const flags = [t.valid, t.bootSelected, t.radiusChap, t.radiusReverseChap];
  return {
    id: StructId.Target,
    version: 1,
    length: TARGET.span,
    index: int(t.index, 0xff, `${f}.index`),
    flags: flagsOf(flags, t.reservedFlags, `${f}.reservedFlags`),
    ip: ip(t.ip, `${f}.ip`),
    port: int(t.port, 0xffff, `${f}.port`),
    lun,
    chapType: int(t.chapType, 0xff, `${f}.chapType`),
    nicIndex: int(t.nicIndex, 0xff, `${f}.nicIndex`),
    nameLength: name[0],
    nameOffset: name[1],
    chapNameLength: chapName[0],
    chapNameOffset: chapName[1],
    chapSecretLength: chapSecret[0],
    chapSecretOffset: chapSecret[1],
    reverseChapNameLength: reverseChapName[0],
    reverseChapNameOffset: reverseChapName[1],
    reverseChapSecretLength: reverseChapSecret[0],
    reverseChapSecretOffset: reverseChapSecret[1],
  };
}

type Ref = [number, number];
type Refs5 = [Ref, Ref, Ref, Ref, Ref];

/** Flag byte from the defined bits (bit 0 first) and the reserved bits, which must not overlap them. */
function flagsOf(bits: readonly boolean[], reserved: number, field: string): number {
  const known = (1 << bits.length) - 1;
  if (!Number.isInteger(reserved) || reserved < 0 || reserved > 0xff || (reserved & known) !== 0) {
    throw new InvalidArgumentError(`iBFT ${field} must only use bits ${bits.length}-7`);
  }
  return bits.reduce((acc, bit, i) => acc | (bit ? 1 << i : 0), reserved);
}

function int(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`iBFT ${field} must be an integer 0..${max}`);
  }
  return value;
}

function ip(value: string | undefined, field: string): Buffer {
  if (value === undefined) return Buffer.alloc(16);
  const bytes = addressToBytes(value);
  if (bytes === undefined) throw new InvalidArgumentError(`iBFT ${field} is not an IPv4 or IPv6 address`);
  return Buffer.from(bytes);
}

function ascii(value: string, max: number, field: string): string {
  if (value.length > max || !/^[\x20-\x7e]*$/.test(value)) {
    throw new InvalidArgumentError(`iBFT ${field} must be at most ${max} printable ASCII characters`);
  }
  return value;
}

function padded(value: string, size: number): Buffer {
  const b = Buffer.alloc(size);
  b.write(value, 'latin1');
  return b;
}

function checkUnique(items: readonly { readonly index: number }[], field: string): void {
  const seen = new Set<number>();
  items.forEach((item, i) => {
    if (seen.has(item.index)) throw new InvalidArgumentError(`iBFT ${field}[${i}].index ${item.index} is a duplicate`);
    seen.add(item.index);
  });
}
