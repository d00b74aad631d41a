/**
 * The 4-byte header every VPD page starts with (SPC-4 §7.8.1) and the fields each parsed page repeats.
 * @module
 */
import { need, scsiDataError, u16 } from '../bytes.js';

/** VPD page codes parsed here (SPC-4 §7.8, SBC-3 §6.6). */
export const VpdPage = {
  SupportedPages: 0x00,
  UnitSerialNumber: 0x80,
  DeviceIdentification: 0x83,
  BlockLimits: 0xb0,
  BlockDeviceCharacteristics: 0xb1,
  LogicalBlockProvisioning: 0xb2,
} as const;

/** Fields of the header, repeated in every parsed page. */
export interface VpdHeader {
  readonly peripheralQualifier: number;
  readonly peripheralDeviceType: number;
  readonly pageCode: number;
  /** Bytes the device has for this page (PAGE LENGTH + 4). */
  readonly availableLength: number;
  /** True when the data is shorter than that (cut by the allocation length): re-issue with a larger one. */
  readonly truncated: boolean;
}

/**
 * Reads the header; `end` is where the page's own bytes stop in `data`. Throws when the data is shorter than
 * 4 bytes or, with `expected`, when the PAGE CODE is another page.
 */
export function readVpdHeader(data: Uint8Array, expected?: number): VpdHeader & { readonly end: number } {
  need(data, 4, 'VPD page');
  const pageCode = data[1]!;
  if (expected !== undefined && pageCode !== expected) {
    throw scsiDataError(`VPD page code 0x${hex2(pageCode)} where 0x${hex2(expected)} was asked for`, {
      offset: 1,
      got: pageCode,
      limit: expected,
    });
  }
  const availableLength = 4 + u16(data, 2);
  return {
    peripheralQualifier: data[0]! >> 5,
    peripheralDeviceType: data[0]! & 0x1f,
    pageCode,
    availableLength,
    truncated: data.length < availableLength,
    end: Math.min(data.length, availableLength),
  };
}

/** The header fields without `end`, for spreading into a result. */
export function headerFields(h: VpdHeader): VpdHeader {
  return {
    peripheralQualifier: h.peripheralQualifier,
    peripheralDeviceType: h.peripheralDeviceType,
    pageCode: h.pageCode,
    availableLength: h.availableLength,
    truncated: h.truncated,
  };
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
