/**
 * READ CAPACITY(10) and (16) parameter data (SBC-3 §5.15.2, §5.16.2). The RETURNED LOGICAL BLOCK ADDRESS is
 * the last block, so the capacity is (lba + 1) blocks.
 * @module
 */
import { need, u16, u32, u64 } from '../bytes.js';

/** Parsed READ CAPACITY(10) data. */
export interface ReadCapacity10 {
  /** RETURNED LOGICAL BLOCK ADDRESS; 0xffffffff means "too large, use READ CAPACITY(16)". */
  readonly lastLba: number;
  /** LOGICAL BLOCK LENGTH IN BYTES. */
  readonly blockLength: number;
  /** Number of logical blocks (lastLba + 1). */
  readonly blocks: number;
  /** True when lastLba is 0xffffffff and READ CAPACITY(16) must be used (SBC-3 §5.15.2). */
  readonly needsReadCapacity16: boolean;
}

/** Parsed READ CAPACITY(16) data. */
export interface ReadCapacity16 {
  readonly lastLba: bigint;
  readonly blockLength: number;
  /** Number of logical blocks (lastLba + 1). */
  readonly blocks: bigint;
  /** Capacity in bytes (blocks × blockLength). */
  readonly bytes: bigint;
  /** PROT_EN: protection information is enabled. */
  readonly protectionEnabled: boolean;
  /** P_TYPE field (0..7); the protection type is P_TYPE + 1 when enabled. */
  readonly pType: number;
  /** Protection type 1..3 when PROT_EN is set, else 0. */
  readonly protectionType: number;
  /** P_I_EXPONENT: 2**exponent protection information intervals per logical block. */
  readonly protectionIntervalExponent: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: 2**exponent logical blocks per physical block. */
  readonly logicalBlocksPerPhysicalBlockExponent: number;
  /** Physical block length in bytes (blockLength << exponent). */
  readonly physicalBlockLength: number;
  /** LBPME: logical block provisioning management (thin provisioning) is enabled. */
  readonly lbpme: boolean;
  /** LBPRZ: unmapped blocks read back as zeros. */
  readonly lbprz: boolean;
  /** LOWEST ALIGNED LOGICAL BLOCK ADDRESS. */
  readonly lowestAlignedLba: number;
  /** RC BASIS (SBC-4): 0 when the capacity may be the LU's, 1 when it is the current capacity. */
  readonly rcBasis: number;
}

/** Parses the 8 bytes of READ CAPACITY(10) data. */
export function parseReadCapacity10(data: Uint8Array): ReadCapacity10 {
  need(data, 8, 'READ CAPACITY(10) data');
  const lastLba = u32(data, 0);
  return {
    lastLba,
    blockLength: u32(data, 4),
    blocks: lastLba + 1,
    needsReadCapacity16: lastLba === 0xffffffff,
  };
}

/**
 * Parses READ CAPACITY(16) data. The first 16 bytes are required (SBC-2 devices returned only 12; their
 * remaining fields are absent, so 16 is the least a parser can rely on and what every current device sends).
 */
export function parseReadCapacity16(data: Uint8Array): ReadCapacity16 {
  need(data, 16, 'READ CAPACITY(16) data');
  const lastLba = u64(data, 0);
  const blockLength = u32(data, 8);
  const b12 = data[12]!;
  const exponent = data[13]! & 0x0f;
  const protectionEnabled = (b12 & 0x01) !== 0;
  const pType = (b12 >> 1) & 0x07;
  // The maximum LBA is 2**64-1, so blocks can be 2**64: bigint arithmetic keeps it exact.
  const blocks = lastLba + 1n;
  return {
    lastLba,
    blockLength,
    blocks,
    bytes: blocks * BigInt(blockLength),
    protectionEnabled,
    pType,
    protectionType: protectionEnabled ? pType + 1 : 0,
    protectionIntervalExponent: data[13]! >> 4,
    logicalBlocksPerPhysicalBlockExponent: exponent,
    physicalBlockLength: blockLength * 2 ** exponent,
    lbpme: (data[14]! & 0x80) !== 0,
    lbprz: (data[14]! & 0x40) !== 0,
    lowestAlignedLba: u16(data, 14) & 0x3fff,
    rcBasis: (b12 >> 4) & 0x03,
  };
}
