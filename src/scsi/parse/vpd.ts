/**
 * VPD pages 0x00 (Supported VPD Pages), 0x80 (Unit Serial Number), 0xB0 (Block Limits) and 0xB2 (Logical Block
 * Provisioning), and {@link parseVpdPage} for any page (0x83 lives in vpd-device-id.ts).
 * @module
 */
import { ascii, need, u16, u32, u64 } from '../bytes.js';
import type { Designator, DeviceIdentificationPage } from './vpd-device-id.js';
import { parseDesignator, parseDeviceIdentification } from './vpd-device-id.js';
import type { VpdHeader } from './vpd-header.js';
import { headerFields, readVpdHeader, VpdPage } from './vpd-header.js';

/** Parsed VPD page 0x00. */
export interface SupportedVpdPages extends VpdHeader {
  readonly kind: 'supported-pages';
  /** Page codes, in the order listed. */
  readonly pages: readonly number[];
}

/** Parsed VPD page 0x80. */
export interface UnitSerialNumberPage extends VpdHeader {
  readonly kind: 'unit-serial-number';
  /** PRODUCT SERIAL NUMBER, space and NUL padding removed (tgtd right-aligns it in spaces). */
  readonly serialNumber: string;
}

/**
 * Parsed VPD page 0xB0 (SBC-3 §6.6.4, atomic fields from SBC-4). A field is undefined when the page ends before
 * it (SBC-2 era pages are 16 bytes long); 0 means "not reported" for every limit.
 */
export interface BlockLimitsPage extends VpdHeader {
  readonly kind: 'block-limits';
  /** WSNZ: WRITE SAME with 0 blocks (to the end of the medium) is rejected. */
  readonly writeSameNoZero: boolean | undefined;
  readonly maximumCompareAndWriteLength: number | undefined;
  readonly optimalTransferLengthGranularity: number | undefined;
  /** In logical blocks, per command. */
  readonly maximumTransferLength: number | undefined;
  readonly optimalTransferLength: number | undefined;
  readonly maximumPrefetchLength: number | undefined;
  readonly maximumUnmapLbaCount: number | undefined;
  readonly maximumUnmapBlockDescriptorCount: number | undefined;
  readonly optimalUnmapGranularity: number | undefined;
  /** UNMAP GRANULARITY ALIGNMENT, only when UGAVALID is set. */
  readonly unmapGranularityAlignment: number | undefined;
  readonly maximumWriteSameLength: bigint | undefined;
  readonly maximumAtomicTransferLength: number | undefined;
  readonly atomicAlignment: number | undefined;
  readonly atomicTransferLengthGranularity: number | undefined;
  readonly maximumAtomicTransferLengthWithAtomicBoundary: number | undefined;
  readonly maximumAtomicBoundarySize: number | undefined;
}

/** PROVISIONING TYPE values (SBC-4 table 222). */
export type ProvisioningType = 'full' | 'resource' | 'thin' | 'reserved';

/** Parsed VPD page 0xB2 (SBC-3 §6.6.5). */
export interface LogicalBlockProvisioningPage extends VpdHeader {
  readonly kind: 'logical-block-provisioning';
  readonly thresholdExponent: number;
  /** LBPU: UNMAP is supported. */
  readonly lbpu: boolean;
  /** LBPWS: WRITE SAME(16) with UNMAP is supported. */
  readonly lbpws: boolean;
  /** LBPWS10: WRITE SAME(10) with UNMAP is supported. */
  readonly lbpws10: boolean;
  /** LBPRZ (3 bits in SBC-4, 1 bit before): non-zero when unmapped blocks read back as zeros. */
  readonly lbprz: number;
  /** ANC_SUP: anchored LBAs are supported. */
  readonly ancSup: boolean;
  /** DP: a provisioning group descriptor follows. */
  readonly dp: boolean;
  readonly minimumPercentage: number;
  readonly provisioningType: ProvisioningType;
  readonly provisioningTypeCode: number;
  readonly thresholdPercentage: number;
  /** The provisioning group designator, when DP is set and it is present. */
  readonly provisioningGroup: Designator | undefined;
}

/** A page not decoded here: its bytes after the header. */
export interface OtherVpdPage extends VpdHeader {
  readonly kind: 'other';
  readonly data: Uint8Array;
}

/** Any parsed VPD page, discriminated by `kind`. */
export type VpdPageData =
  | SupportedVpdPages
  | UnitSerialNumberPage
  | DeviceIdentificationPage
  | BlockLimitsPage
  | LogicalBlockProvisioningPage
  | OtherVpdPage;

/** Parses VPD page 0x00. */
export function parseSupportedVpdPages(data: Uint8Array): SupportedVpdPages {
  const h = readVpdHeader(data, VpdPage.SupportedPages);
  return { kind: 'supported-pages', ...headerFields(h), pages: [...data.subarray(4, h.end)] };
}

/** Parses VPD page 0x80. */
export function parseUnitSerialNumber(data: Uint8Array): UnitSerialNumberPage {
  const h = readVpdHeader(data, VpdPage.UnitSerialNumber);
  return { kind: 'unit-serial-number', ...headerFields(h), serialNumber: ascii(data.subarray(4, h.end)) };
}

/** Parses VPD page 0xB0. */
export function parseBlockLimits(data: Uint8Array): BlockLimitsPage {
  const h = readVpdHeader(data, VpdPage.BlockLimits);
  const has = (o: number, n: number): boolean => o + n <= h.end;
  const at32 = (o: number): number | undefined => (has(o, 4) ? u32(data, o) : undefined);
  return {
    kind: 'block-limits',
    ...headerFields(h),
    writeSameNoZero: has(4, 1) ? (data[4]! & 0x01) !== 0 : undefined,
    maximumCompareAndWriteLength: has(5, 1) ? data[5]! : undefined,
    optimalTransferLengthGranularity: has(6, 2) ? u16(data, 6) : undefined,
    maximumTransferLength: at32(8),
    optimalTransferLength: at32(12),
    maximumPrefetchLength: at32(16),
    maximumUnmapLbaCount: at32(20),
    maximumUnmapBlockDescriptorCount: at32(24),
    optimalUnmapGranularity: at32(28),
    unmapGranularityAlignment: has(32, 4) && data[32]! & 0x80 ? u32(data, 32) & 0x7fffffff : undefined,
    maximumWriteSameLength: has(36, 8) ? u64(data, 36) : undefined,
    maximumAtomicTransferLength: at32(44),
    atomicAlignment: at32(48),
    atomicTransferLengthGranularity: at32(52),
    maximumAtomicTransferLengthWithAtomicBoundary: at32(56),
    maximumAtomicBoundarySize: at32(60),
  };
}

const PROVISIONING_TYPES: readonly ProvisioningType[] = ['full', 'resource', 'thin'];

/** Parses VPD page 0xB2; its 8-byte fixed part must be present. */
export function parseLogicalBlockProvisioning(data: Uint8Array): LogicalBlockProvisioningPage {
  const h = readVpdHeader(data, VpdPage.LogicalBlockProvisioning);
  need(data.subarray(0, h.end), 8, 'VPD page 0xB2');
  const b5 = data[5]!;
  const dp = (b5 & 0x01) !== 0;
  let provisioningGroup: Designator | undefined;
  // The descriptor is parsed only when complete; a short one is left out like any truncated tail.
  if (dp && h.end >= 12 && h.end >= 12 + data[11]!) {
    provisioningGroup = parseDesignator(data.subarray(8, 12 + data[11]!), 8);
  }
  const code = data[6]! & 0x07;
  return {
    kind: 'logical-block-provisioning',
    ...headerFields(h),
    thresholdExponent: data[4]!,
    lbpu: (b5 & 0x80) !== 0,
    lbpws: (b5 & 0x40) !== 0,
    lbpws10: (b5 & 0x20) !== 0,
    lbprz: (b5 >> 2) & 0x07,
    ancSup: (b5 & 0x02) !== 0,
    dp,
    minimumPercentage: data[6]! >> 3,
    provisioningType: PROVISIONING_TYPES[code] ?? 'reserved',
    provisioningTypeCode: code,
    thresholdPercentage: data[7]!,
    provisioningGroup,
  };
}

/** Parses any VPD page by its PAGE CODE; pages not decoded here come back as `kind: 'other'`. */
export function parseVpdPage(data: Uint8Array): VpdPageData {
  const h = readVpdHeader(data);
  switch (h.pageCode) {
    case VpdPage.SupportedPages:
      return parseSupportedVpdPages(data);
    case VpdPage.UnitSerialNumber:
      return parseUnitSerialNumber(data);
    case VpdPage.DeviceIdentification:
      return parseDeviceIdentification(data);
    case VpdPage.BlockLimits:
      return parseBlockLimits(data);
    case VpdPage.LogicalBlockProvisioning:
      return parseLogicalBlockProvisioning(data);
    default:
      return { kind: 'other', ...headerFields(h), data: data.subarray(4, h.end) };
  }
}
