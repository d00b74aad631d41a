/**
 * MODE SENSE(6) and (10) parameter data (SPC-4 §7.5): mode parameter header, block descriptors (read as SBC
 * direct-access descriptors, SBC-3 §6.4.2) and mode pages kept raw with their page and subpage codes. Decoders
 * for the two pages an initiator cares about (Caching, Control) are included.
 * @module
 */
import { need, scsiDataError, u16, u24, u32, u64 } from '../bytes.js';

/** One block descriptor. */
export interface ModeBlockDescriptor {
  /** NUMBER OF LOGICAL BLOCKS (0: all remaining blocks, or not reported). */
  readonly blocks: bigint;
  /** LOGICAL BLOCK LENGTH in bytes. */
  readonly blockLength: number;
}

/** One mode page, undecoded. */
export interface ModePage {
  /** PAGE CODE (0x00-0x3e). */
  readonly pageCode: number;
  /** SUBPAGE CODE; 0 for page_0 format pages. */
  readonly subpageCode: number;
  /** SPF: sub_page format (4-byte page header). */
  readonly spf: boolean;
  /** PS: the page can be saved. */
  readonly ps: boolean;
  /** The mode parameters after the page header (a view into the data). */
  readonly data: Uint8Array;
}

/** Parsed MODE SENSE data. */
export interface ModeParameters {
  /** Which header format: MODE SENSE(6) (4 bytes) or (10) (8 bytes). */
  readonly format: 'mode-sense-6' | 'mode-sense-10';
  /** MEDIUM TYPE. */
  readonly mediumType: number;
  /** DEVICE-SPECIFIC PARAMETER byte. */
  readonly deviceSpecificParameter: number;
  /** WP (direct-access devices): the medium is write-protected. */
  readonly writeProtect: boolean;
  /** DPOFUA (direct-access devices): DPO and FUA bits are supported. */
  readonly dpofua: boolean;
  /** LONGLBA (MODE SENSE(10) only): the block descriptors are 16 bytes long. */
  readonly longLba: boolean;
  readonly blockDescriptors: readonly ModeBlockDescriptor[];
  /** Complete pages in order. */
  readonly pages: readonly ModePage[];
  /** Bytes the device has (MODE DATA LENGTH plus its own field). */
  readonly availableLength: number;
  /** True when the data was cut by the allocation length (pages missing or incomplete). */
  readonly truncated: boolean;
}

/** Parses MODE SENSE(6) data. */
export function parseModeSense6(data: Uint8Array): ModeParameters {
  need(data, 4, 'MODE SENSE(6) data');
  return parse(data, 'mode-sense-6', data[0]! + 1, 4, data[3]!, false);
}

/** Parses MODE SENSE(10) data. */
export function parseModeSense10(data: Uint8Array): ModeParameters {
  need(data, 8, 'MODE SENSE(10) data');
  return parse(data, 'mode-sense-10', u16(data, 0) + 2, 8, u16(data, 6), (data[4]! & 0x01) !== 0);
}

function parse(
  data: Uint8Array,
  format: ModeParameters['format'],
  availableLength: number,
  headerLength: number,
  descriptorLength: number,
  longLba: boolean,
): ModeParameters {
  const mediumTypeAt = format === 'mode-sense-6' ? 1 : 2;
  const dsp = data[mediumTypeAt + 1]!;
  if (headerLength > availableLength) {
    throw scsiDataError('MODE DATA LENGTH is shorter than the mode parameter header', {
      offset: 0,
      got: availableLength,
      limit: headerLength,
    });
  }
  const size = longLba ? 16 : 8;
  const pagesAt = headerLength + descriptorLength;
  if (descriptorLength % size !== 0 || pagesAt > availableLength) {
    throw scsiDataError('BLOCK DESCRIPTOR LENGTH is not whole descriptors inside the mode data', {
      offset: headerLength - (format === 'mode-sense-6' ? 1 : 2),
      got: descriptorLength,
      limit: availableLength - headerLength,
    });
  }
  const end = Math.min(data.length, availableLength);
  const blockDescriptors: ModeBlockDescriptor[] = [];
  for (let o = headerLength; o + size <= Math.min(end, pagesAt); o += size) {
    blockDescriptors.push(
      longLba
        ? { blocks: u64(data, o), blockLength: u32(data, o + 12) }
        : { blocks: BigInt(u32(data, o)), blockLength: u24(data, o + 5) },
    );
  }
  const pages: ModePage[] = [];
  for (let o = pagesAt; o < end; ) {
    const spf = (data[o]! & 0x40) !== 0;
    const headerSize = spf ? 4 : 2;
    const length = o + headerSize <= end ? headerSize + (spf ? u16(data, o + 2) : data[o + 1]!) : headerSize;
    if (o + length > availableLength) {
      throw scsiDataError('mode page runs past MODE DATA LENGTH', {
        offset: o,
        got: o + length,
        limit: availableLength,
      });
    }
    if (o + length > end) break; // cut by the allocation length
    pages.push({
      pageCode: data[o]! & 0x3f,
      subpageCode: spf ? data[o + 1]! : 0,
      spf,
      ps: (data[o]! & 0x80) !== 0,
      data: data.subarray(o + headerSize, o + length),
    });
    o += length;
  }
  return {
    format,
    mediumType: data[mediumTypeAt]!,
    deviceSpecificParameter: dsp,
    writeProtect: (dsp & 0x80) !== 0,
    dpofua: (dsp & 0x10) !== 0,
    longLba,
    blockDescriptors,
    pages,
    availableLength,
    truncated: data.length < availableLength,
  };
}

/** Mode page codes decoded here. */
export const ModePageCode = { Caching: 0x08, Control: 0x0a } as const;

/** Caching mode page (0x08, SBC-3 §6.4.5): the bits that decide whether writes need SYNCHRONIZE CACHE. */
export interface CachingPage {
  /** WCE: write cache enabled (writes complete before they are durable). */
  readonly writeCacheEnabled: boolean;
  /** RCD: read cache disabled. */
  readonly readCacheDisabled: boolean;
}

/** Control mode page (0x0a, SPC-4 §7.5.8) fields an initiator acts on. */
export interface ControlPage {
  /** D_SENSE: the device returns descriptor-format sense data. */
  readonly descriptorSense: boolean;
  /** QUEUE ALGORITHM MODIFIER: 0 restricted reordering, 1 unrestricted. */
  readonly queueAlgorithmModifier: number;
  /** SWP: software write protect. */
  readonly softwareWriteProtect: boolean;
}

/** The Caching page of `params`, when present. */
export function findCachingPage(params: ModeParameters): CachingPage | undefined {
  const page = params.pages.find((p) => p.pageCode === ModePageCode.Caching && p.subpageCode === 0);
  if (!page || page.data.length < 1) return undefined;
  return { writeCacheEnabled: (page.data[0]! & 0x04) !== 0, readCacheDisabled: (page.data[0]! & 0x01) !== 0 };
}

/** The Control page of `params`, when present. */
export function findControlPage(params: ModeParameters): ControlPage | undefined {
  const page = params.pages.find((p) => p.pageCode === ModePageCode.Control && p.subpageCode === 0);
  if (!page || page.data.length < 3) return undefined;
  return {
    descriptorSense: (page.data[0]! & 0x04) !== 0,
    queueAlgorithmModifier: page.data[1]! >> 4,
    softwareWriteProtect: (page.data[2]! & 0x08) !== 0,
  };
}
