/**
 * Parser of the raw iBFT ACPI table (`/sys/firmware/acpi/tables/iBFT`, a memory scan, a file) into the typed
 * model. It checks everything Linux's iscsi_ibft checks and what it does not (string bounds, overlaps, duplicate
 * indices, structure ids in every slot), and fails with an {@link IbftError} naming the field and its offset.
 * Work and memory are bounded by the input size.
 * @module
 */
import { addressFromBytes } from './address.js';
import { IbftError } from './errors.js';
import {
  CONTROL,
  CONTROL_MIN_LENGTH,
  CONTROL_OFFSET,
  HEADER,
  INITIATOR,
  type Layout,
  NIC,
  STRUCT_HEADER,
  StructId,
  TARGET,
  TARGET_STRINGS,
} from './layout.js';
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

const SIGNATURES: readonly string[] = ['iBFT', 'IBFT', 'BIFT'] satisfies IbftSignature[];
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Region {
  readonly start: number;
  readonly end: number;
  readonly field: string;
}

/** State of one parse: the table bytes and the byte ranges claimed so far. */
class Reader {
  readonly regions: Region[] = [];

  constructor(
    readonly buf: Buffer,
    readonly length: number,
  ) {}

  claim(start: number, size: number, field: string): void {
    this.regions.push({ start, end: start + size, field });
  }

  /** A string or secret by (length, offset) pair at `refOffset`; undefined when its length is 0. */
  bytes(refOffset: number, len: number, off: number, field: string): Uint8Array | undefined {
    if (len === 0) return undefined;
    if (off + len > this.length) {
      throw new IbftError(`string 0x${off.toString(16)}+${len} runs past the table end`, field, refOffset);
    }
    this.claim(off, len, field);
    let end = off + len;
    // Some producers count the terminating NUL; Linux prints up to the first NUL anyway.
    while (end > off && this.buf[end - 1] === 0) end--;
    const bytes = Uint8Array.from(this.buf.subarray(off, end));
    if (bytes.includes(0)) throw new IbftError('string contains a NUL byte', field, refOffset);
    return bytes.length === 0 ? undefined : bytes;
  }

  text(refOffset: number, len: number, off: number, field: string): string | undefined {
    const bytes = this.bytes(refOffset, len, off, field);
    if (bytes === undefined) return undefined;
    try {
      return utf8.decode(bytes);
    } catch {
      throw new IbftError('string is not valid UTF-8', field, refOffset);
    }
  }

  /** Decodes a fixed structure at `offset`, checking its id and length first. */
  structure<T>(layout: Layout<T>, id: number, offset: number, name: string, slotField: string, slotOffset: number): T {
    if (offset + layout.span > this.length) {
      throw new IbftError(`structure at 0x${offset.toString(16)} runs past the table end`, slotField, slotOffset);
    }
    const header = STRUCT_HEADER.decode(this.buf, offset);
    if (header.id !== id) throw new IbftError(`structure id is ${header.id}, expected ${id}`, `${name}.id`, offset);
    if (header.length !== layout.span) {
      throw new IbftError(
        `structure length is ${header.length}, expected ${layout.span}`,
        `${name}.length`,
        offset + 2,
      );
    }
    this.claim(offset, layout.span, name);
    return layout.decode(this.buf, offset);
  }

  /** Fails when two claimed ranges (header, structures, strings) overlap. */
  checkOverlaps(): void {
    const sorted = [...this.regions].sort((a, b) => a.start - b.start || a.end - b.end);
    let prev: Region | undefined;
    for (const r of sorted) {
      if (prev !== undefined && r.start < prev.end) {
        throw new IbftError(`bytes 0x${r.start.toString(16)}.. overlap ${prev.field}`, r.field, r.start);
      }
      if (prev === undefined || r.end > prev.end) prev = r;
    }
  }
}

/**
 * Parses a raw iBFT. Trailing bytes after the header's length are ignored. Throws {@link IbftError} for a bad
 * signature, revision or checksum, a control structure Linux would reject, a structure of the wrong id or length
 * in a slot, strings or structures out of range or overlapping, strings with NUL bytes or invalid UTF-8, and
 * duplicate NIC or target indices.
 */
export function parseIbft(bytes: Uint8Array): IbftTable {
  if (bytes.length < HEADER.span) {
    throw new IbftError(`${bytes.length} bytes, shorter than the ${HEADER.span}-byte header`, 'header', 0);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const header = HEADER.decode(buf, 0);
  const signature = header.signature.toString('latin1');
  if (!SIGNATURES.includes(signature))
    throw new IbftError('signature is not iBFT, IBFT or BIFT', 'header.signature', 0);
  const length = header.length;
  if (length < CONTROL_OFFSET + CONTROL_MIN_LENGTH) {
    throw new IbftError(`length ${length} is too small for the header and control structure`, 'header.length', 4);
  }
  if (length > bytes.length) {
    throw new IbftError(`length ${length} but only ${bytes.length} bytes given (truncated)`, 'header.length', 4);
  }
  if (header.revision !== 1) throw new IbftError(`revision ${header.revision}, expected 1`, 'header.revision', 8);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += buf[i]!;
  if ((sum & 0xff) !== 0) {
    throw new IbftError(`byte sum is 0x${(sum & 0xff).toString(16)} mod 256, expected 0`, 'header.checksum', 9);
  }

  const r = new Reader(buf, length);
  r.claim(0, HEADER.span, 'header');
  const control = CONTROL.decode(buf, CONTROL_OFFSET);
  if (control.id !== StructId.Control) {
    throw new IbftError(`structure id is ${control.id}, expected 1`, 'control.id', CONTROL_OFFSET);
  }
  if (control.index !== 0) throw new IbftError(`index is ${control.index}, expected 0`, 'control.index', 52);
  if (control.length < CONTROL_MIN_LENGTH || CONTROL_OFFSET + control.length > length) {
    throw new IbftError(`length ${control.length} out of range`, 'control.length', 50);
  }
  r.claim(CONTROL_OFFSET, control.length, 'control');

  let initiator: IbftInitiator | undefined;
  if (control.initiatorOffset !== 0) {
    const off = control.initiatorOffset;
    const rec = r.structure(INITIATOR, StructId.Initiator, off, 'initiator', 'control.initiatorOffset', 56);
    initiator = {
      valid: (rec.flags & 1) !== 0,
      bootSelected: (rec.flags & 2) !== 0,
      reservedFlags: rec.flags & ~3,
      name: r.text(off + 70, rec.nameLength, rec.nameOffset, 'initiator.name'),
      isnsServer: addressFromBytes(rec.isnsServer),
      slpServer: addressFromBytes(rec.slpServer),
      primaryRadiusServer: addressFromBytes(rec.primaryRadiusServer),
      secondaryRadiusServer: addressFromBytes(rec.secondaryRadiusServer),
    };
  }

  // Current kernels read every u16 after the initiator offset as a structure offset: NIC0, target0, NIC1, …
  const nics: IbftNic[] = [];
  const targets: IbftTarget[] = [];
  const nicSlots: Slot[] = [];
  const targetSlots: Slot[] = [];
  const slots = Math.floor((control.length - 10) / 2);
  for (let k = 0; k < slots; k++) {
    const slotOffset = CONTROL_OFFSET + 10 + 2 * k;
    const off = buf.readUInt16LE(slotOffset);
    if (off === 0) continue;
    const n = k >> 1;
    if (k % 2 === 0) {
      const nic = parseNic(r, off, `nic${n}`, `control.nic${n}Offset`, slotOffset);
      nics.push(nic);
      nicSlots.push({ index: nic.index, field: `nic${n}.index`, offset: off + 4 });
    } else {
      const target = parseTarget(r, off, `target${n}`, `control.target${n}Offset`, slotOffset);
      targets.push(target);
      targetSlots.push({ index: target.index, field: `target${n}.index`, offset: off + 4 });
    }
  }
  r.checkOverlaps();
  checkUnique(nicSlots, 'NIC');
  checkUnique(targetSlots, 'target');

  return {
    signature: signature as IbftSignature,
    oemId: cString(header.oemId),
    oemTableId: cString(header.oemTableId),
    controlFlags: control.flags,
    initiator,
    nics,
    targets,
  };
}

function parseNic(r: Reader, off: number, name: string, slotField: string, slotOffset: number): IbftNic {
  const rec = r.structure(NIC, StructId.Nic, off, name, slotField, slotOffset);
  const ip = addressFromBytes(rec.ip);
  const dhcpServer = addressFromBytes(rec.dhcpServer);
  return {
    index: rec.index,
    valid: (rec.flags & 1) !== 0,
    bootSelected: (rec.flags & 2) !== 0,
    global: (rec.flags & 4) !== 0,
    reservedFlags: rec.flags & ~7,
    ip,
    prefixLength: rec.prefixLength,
    subnetMask: subnetMaskOf(ip, rec.prefixLength),
    origin: rec.origin,
    dhcp: isDhcpNic(rec.origin, dhcpServer),
    gateway: addressFromBytes(rec.gateway),
    primaryDns: addressFromBytes(rec.primaryDns),
    secondaryDns: addressFromBytes(rec.secondaryDns),
    dhcpServer,
    vlan: rec.vlan,
    mac: [...rec.mac].map((b) => b.toString(16).padStart(2, '0')).join(':'),
    pciBdf: rec.pciBdf,
    pciAddress: pciAddressOf(rec.pciBdf),
    hostname: r.text(off + 98, rec.hostnameLength, rec.hostnameOffset, `${name}.hostname`),
  };
}

function parseTarget(r: Reader, off: number, name: string, slotField: string, slotOffset: number): IbftTarget {
  const rec = r.structure(TARGET, StructId.Target, off, name, slotField, slotOffset);
  const lun = rec.lun.readBigUInt64BE(0);
  const [targetName, chapName, chapSecret, reverseChapName, reverseChapSecret] = TARGET_STRINGS.map((f, i) => {
    const len = rec[`${f}Length`];
    const strOff = rec[`${f}Offset`];
    return f.endsWith('Secret')
      ? r.bytes(off + 34 + 4 * i, len, strOff, `${name}.${f}`)
      : r.text(off + 34 + 4 * i, len, strOff, `${name}.${f}`);
  });
  return {
    index: rec.index,
    valid: (rec.flags & 1) !== 0,
    bootSelected: (rec.flags & 2) !== 0,
    radiusChap: (rec.flags & 4) !== 0,
    radiusReverseChap: (rec.flags & 8) !== 0,
    reservedFlags: rec.flags & ~15,
    ip: addressFromBytes(rec.ip),
    port: rec.port,
    lun,
    lunNumber: lunNumberOf(lun),
    chapType: rec.chapType,
    nicIndex: rec.nicIndex,
    name: targetName as string | undefined,
    chapName: chapName as string | undefined,
    chapSecret: chapSecret as Uint8Array | undefined,
    reverseChapName: reverseChapName as string | undefined,
    reverseChapSecret: reverseChapSecret as Uint8Array | undefined,
  };
}

interface Slot {
  readonly index: number;
  readonly field: string;
  readonly offset: number;
}

/** Linux names the sysfs directories by index; a duplicate makes it drop the whole tree. */
function checkUnique(slots: readonly Slot[], kind: string): void {
  const seen = new Set<number>();
  for (const slot of slots) {
    if (seen.has(slot.index)) throw new IbftError(`duplicate ${kind} index ${slot.index}`, slot.field, slot.offset);
    seen.add(slot.index);
  }
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('latin1', 0, nul < 0 ? b.length : nul);
}
