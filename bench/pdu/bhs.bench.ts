/**
 * BHS decode and encode rates. References in the same run: a generic struct decoder (the buffer-layout package)
 * reading the same Data-In BHS, and the floor of touching a BHS at all (its twelve words through a DataView).
 */
import { createRequire } from 'node:module';
import { decodeParts } from '../../src/pdu/decode.js';
import { encodePdu } from '../../src/pdu/encode.js';
import { throwViolation } from '../../src/pdu/report.js';
import type { DataInPdu, ScsiCommandPdu } from '../../src/pdu/types.js';
import { measure, report } from '../harness.js';

const dataIn: DataInPdu = {
  kind: 'data-in',
  final: true,
  acknowledge: false,
  residualOverflow: false,
  residualUnderflow: false,
  statusPresent: true,
  status: 0,
  lun: 1n << 48n,
  initiatorTaskTag: 0x1234,
  targetTransferTag: 0xffffffff,
  statSN: 10,
  expCmdSN: 11,
  maxCmdSN: 42,
  dataSN: 3,
  bufferOffset: 24576,
  residualCount: 0,
  ahs: [],
  data: new Uint8Array(8192),
};
const command: ScsiCommandPdu = {
  kind: 'scsi-command',
  immediate: false,
  final: true,
  read: true,
  write: false,
  attributes: 1,
  lun: 1n << 48n,
  initiatorTaskTag: 0x1234,
  expectedDataTransferLength: 4096,
  cmdSN: 77,
  expStatSN: 12,
  cdb: Uint8Array.from([0x28, 0, 0, 0, 0x10, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0]),
  ahs: [],
  data: new Uint8Array(0),
};

const header = encodePdu(dataIn)[0]!;
const data = dataIn.data;
const view = new DataView(header.buffer, header.byteOffset, 48);

// buffer-layout ships no types: the few constructors used here, typed by hand.
interface Layout {
  decode(b: Buffer, offset?: number): Record<string, number>;
}
const bl = createRequire(import.meta.url)('buffer-layout') as {
  struct(fields: Layout[]): Layout;
  u8(p: string): Layout;
  u16be(p: string): Layout;
  u24be(p: string): Layout;
  u32be(p: string): Layout;
  nu64be(p: string): Layout;
};
const dataInLayout = bl.struct([
  bl.u8('opcode'),
  bl.u8('flags'),
  bl.u8('reserved'),
  bl.u8('status'),
  bl.u8('totalAhsLength'),
  bl.u24be('dataSegmentLength'),
  bl.nu64be('lun'),
  ...['itt', 'ttt', 'statSN', 'expCmdSN', 'maxCmdSN', 'dataSN', 'bufferOffset', 'residualCount'].map((f) =>
    bl.u32be(f),
  ),
]);

const headerBuffer = Buffer.from(header.buffer, header.byteOffset, 48);

const rows = [
  measure('buffer-layout struct decode (reference)', () => dataInLayout.decode(headerBuffer)),
  measure('floor: read 12 BHS words (DataView)', () => {
    let x = 0;
    for (let i = 0; i < 48; i += 4) x ^= view.getUint32(i);
    return x;
  }),
  measure('decode Data-In BHS', () => decodeParts(header, data, throwViolation)),
  measure('encode SCSI Command (READ 10)', () => encodePdu(command)),
  measure('encode Data-In + 8 KiB data (no copy)', () => encodePdu(dataIn)),
];
report('BHS decode/encode, PDUs per second on one core', rows, 'buffer-layout struct decode (reference)');
