/**
 * Standard INQUIRY data (SPC-4 §6.6.2): device type, capabilities, T10 vendor, product and revision, version
 * descriptors. The first 36 bytes are required (SPC-4: an allocation length below 36 is not useful); data cut
 * by the allocation length before the version descriptors is fine and leaves them out.
 * @module
 */
import { ascii, need, u16 } from '../bytes.js';
import { peripheralDeviceTypeName } from '../names.js';

/** Parsed standard INQUIRY data. */
export interface StandardInquiry {
  /** PERIPHERAL QUALIFIER: 0 connected, 1 supported but not connected, 3 no logical unit. */
  readonly peripheralQualifier: number;
  /** PERIPHERAL DEVICE TYPE (0x00 disk, 0x05 CD/DVD, 0x0c controller, 0x1f none…). */
  readonly peripheralDeviceType: number;
  /** Name of the device type. */
  readonly deviceTypeName: string;
  /** RMB: removable medium. */
  readonly removable: boolean;
  /** VERSION: 0x03 SPC, 0x04 SPC-2, 0x05 SPC-3, 0x06 SPC-4, 0x07 SPC-5. */
  readonly version: number;
  readonly normaca: boolean;
  /** HISUP: hierarchical LUN addressing. */
  readonly hisup: boolean;
  /** RESPONSE DATA FORMAT, 2 for every current device. */
  readonly responseDataFormat: number;
  /** SCCS: embedded storage array controller. */
  readonly sccs: boolean;
  /** ACC: access controls coordinator. */
  readonly acc: boolean;
  /** TPGS: asymmetric logical unit access support (0 none, 1 implicit, 2 explicit, 3 both). */
  readonly tpgs: number;
  /** 3PC: third-party copy (EXTENDED COPY). */
  readonly thirdPartyCopy: boolean;
  /** PROTECT: protection information supported. */
  readonly protect: boolean;
  /** ENCSERV: embedded enclosure services. */
  readonly encserv: boolean;
  /** MULTIP: multiple SCSI ports. */
  readonly multip: boolean;
  /** CMDQUE: command queuing (tagged commands). */
  readonly cmdque: boolean;
  /** T10 VENDOR IDENTIFICATION, trimmed. */
  readonly vendor: string;
  /** PRODUCT IDENTIFICATION, trimmed. */
  readonly product: string;
  /** PRODUCT REVISION LEVEL, trimmed. */
  readonly revision: string;
  /** Non-zero VERSION DESCRIPTORs (bytes 58-73) present in the data. */
  readonly versionDescriptors: readonly number[];
  /** Bytes the device has (ADDITIONAL LENGTH + 5); more than the data length when cut by the allocation length. */
  readonly availableLength: number;
}

/** Parses standard INQUIRY data; fewer than 36 bytes is a ProtocolError (`ERR_ISCSI_SCSI_DATA`). */
export function parseStandardInquiry(data: Uint8Array): StandardInquiry {
  need(data, 36, 'standard INQUIRY data');
  const availableLength = data[4]! + 5;
  const end = Math.min(data.length, availableLength);
  const versionDescriptors: number[] = [];
  for (let o = 58; o + 2 <= Math.min(end, 74); o += 2) {
    const v = u16(data, o);
    if (v !== 0) versionDescriptors.push(v);
  }
  const b5 = data[5]!;
  const b6 = data[6]!;
  return {
    peripheralQualifier: data[0]! >> 5,
    peripheralDeviceType: data[0]! & 0x1f,
    deviceTypeName: peripheralDeviceTypeName(data[0]! & 0x1f),
    removable: (data[1]! & 0x80) !== 0,
    version: data[2]!,
    normaca: (data[3]! & 0x20) !== 0,
    hisup: (data[3]! & 0x10) !== 0,
    responseDataFormat: data[3]! & 0x0f,
    sccs: (b5 & 0x80) !== 0,
    acc: (b5 & 0x40) !== 0,
    tpgs: (b5 >> 4) & 0x03,
    thirdPartyCopy: (b5 & 0x08) !== 0,
    protect: (b5 & 0x01) !== 0,
    encserv: (b6 & 0x40) !== 0,
    multip: (b6 & 0x10) !== 0,
    cmdque: (data[7]! & 0x02) !== 0,
    vendor: ascii(data.subarray(8, 16)),
    product: ascii(data.subarray(16, 32)),
    revision: ascii(data.subarray(32, 36)),
    versionDescriptors,
    availableLength,
  };
}
