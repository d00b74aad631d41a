/**
 * The fixed iBFT structures (header, structure header, control, initiator, NIC, target) as `buffer-layout`
 * structs, with a minimal typed wrapper (the package ships no types). All integers little-endian; every offset
 * in the table counts from the table's first byte. Sizes from the iBFT 1.03 layout as Linux, iPXE and EDK2 use it.
 * @module
 */
import { createRequire } from 'node:module';

/** A fixed-size record layout. */
export interface Layout<T> {
  /** Size in bytes. */
  readonly span: number;
  decode(b: Buffer, offset?: number): T;
  encode(src: T, b: Buffer, offset?: number): number;
}

// buffer-layout is CommonJS without type declarations: the few constructors used here, typed by hand.
interface FieldLayout {
  readonly span: number;
}
const bl = createRequire(import.meta.url)('buffer-layout') as {
  struct(fields: FieldLayout[]): Layout<Record<string, unknown>>;
  u8(property: string): FieldLayout;
  u16(property: string): FieldLayout;
  u32(property: string): FieldLayout;
  blob(length: number, property: string): FieldLayout;
};

function struct<T>(fields: FieldLayout[]): Layout<T> {
  return bl.struct(fields) as unknown as Layout<T>;
}

const ip = (p: string) => bl.blob(16, p);
const strRef = (p: string) => [bl.u16(`${p}Length`), bl.u16(`${p}Offset`)];

/** Table header (48 bytes). */
export interface HeaderRecord {
  signature: Buffer;
  length: number;
  revision: number;
  checksum: number;
  oemId: Buffer;
  oemTableId: Buffer;
  reserved: Buffer;
}
export const HEADER = struct<HeaderRecord>([
  bl.blob(4, 'signature'),
  bl.u32('length'),
  bl.u8('revision'),
  bl.u8('checksum'),
  bl.blob(6, 'oemId'),
  bl.blob(8, 'oemTableId'),
  bl.blob(24, 'reserved'),
]);

/** Common structure header (6 bytes). */
export interface StructHeaderRecord {
  id: number;
  version: number;
  length: number;
  index: number;
  flags: number;
}
const structHeader = [bl.u8('id'), bl.u8('version'), bl.u16('length'), bl.u8('index'), bl.u8('flags')];
export const STRUCT_HEADER = struct<StructHeaderRecord>(structHeader);

/** Fixed part of the control structure (10 bytes); the structure offsets follow as u16s. */
export interface ControlRecord extends StructHeaderRecord {
  extensionsOffset: number;
  initiatorOffset: number;
}
export const CONTROL = struct<ControlRecord>([...structHeader, bl.u16('extensionsOffset'), bl.u16('initiatorOffset')]);

/** Initiator structure (74 bytes). */
export interface InitiatorRecord extends StructHeaderRecord {
  isnsServer: Buffer;
  slpServer: Buffer;
  primaryRadiusServer: Buffer;
  secondaryRadiusServer: Buffer;
  nameLength: number;
  nameOffset: number;
}
export const INITIATOR = struct<InitiatorRecord>([
  ...structHeader,
  ip('isnsServer'),
  ip('slpServer'),
  ip('primaryRadiusServer'),
  ip('secondaryRadiusServer'),
  ...strRef('name'),
]);

/** NIC structure (102 bytes). */
export interface NicRecord extends StructHeaderRecord {
  ip: Buffer;
  prefixLength: number;
  origin: number;
  gateway: Buffer;
  primaryDns: Buffer;
  secondaryDns: Buffer;
  dhcpServer: Buffer;
  vlan: number;
  mac: Buffer;
  pciBdf: number;
  hostnameLength: number;
  hostnameOffset: number;
}
export const NIC = struct<NicRecord>([
  ...structHeader,
  ip('ip'),
  bl.u8('prefixLength'),
  bl.u8('origin'),
  ip('gateway'),
  ip('primaryDns'),
  ip('secondaryDns'),
  ip('dhcpServer'),
  bl.u16('vlan'),
  bl.blob(6, 'mac'),
  bl.u16('pciBdf'),
  ...strRef('hostname'),
]);

/** Target structure (54 bytes). */
export interface TargetRecord extends StructHeaderRecord {
  ip: Buffer;
  port: number;
  lun: Buffer;
  chapType: number;
  nicIndex: number;
  nameLength: number;
  nameOffset: number;
  chapNameLength: number;
  chapNameOffset: number;
  chapSecretLength: number;
  chapSecretOffset: number;
  reverseChapNameLength: number;
  reverseChapNameOffset: number;
  reverseChapSecretLength: number;
  reverseChapSecretOffset: number;
}
export const TARGET = struct<TargetRecord>([
  ...structHeader,
  ip('ip'),
  bl.u16('port'),
  bl.blob(8, 'lun'),
  bl.u8('chapType'),
  bl.u8('nicIndex'),
  ...strRef('name'),
  ...strRef('chapName'),
  ...strRef('chapSecret'),
  ...strRef('reverseChapName'),
  ...strRef('reverseChapSecret'),
]);

/** Structure ids (common header byte 0). */
export const StructId = { Control: 1, Initiator: 2, Nic: 3, Target: 4, Extensions: 5 } as const;

/** Byte offset of the control structure: right after the 48-byte header. */
export const CONTROL_OFFSET = 48;
/** Minimum control structure length: header, extensions, initiator and two NIC/target pairs. */
export const CONTROL_MIN_LENGTH = 18;
/** Offset of the header checksum byte. */
export const CHECKSUM_OFFSET = 9;

/** The string fields of a structure, as (record field prefix, model field name). */
export const TARGET_STRINGS = ['name', 'chapName', 'chapSecret', 'reverseChapName', 'reverseChapSecret'] as const;
