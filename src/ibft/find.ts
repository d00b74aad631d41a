/**
 * Finding the raw iBFT: the ACPI table file Linux exposes (`/sys/firmware/acpi/tables/iBFT` or `IBFT`), or a
 * scan of a physical memory image the way Linux's iscsi_ibft_find does on legacy BIOS machines. These return the
 * table bytes; {@link parseIbft} checks them (the memory scan, like Linux's, does not verify the checksum).
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { IbftError } from './errors.js';

/** First physical address of the legacy BIOS scan. */
export const IBFT_SCAN_START = 0x80000;
/** End (exclusive) of the legacy BIOS scan: 1 MiB. */
export const IBFT_SCAN_END = 0x100000;
/** The VGA memory hole the scan skips, [start, end). */
export const VGA_HOLE = [0xa0000, 0xc0000] as const;

/** Largest ACPI table file read; iBFT offsets are 16-bit, so real tables are far smaller. */
const MAX_ACPI_TABLE = 1 << 20;
// Linux tries the ACPI-reserved spelling first, then the usual one, then Broadcom's.
const ACPI_NAMES = ['IBFT', 'iBFT', 'BIFT'] as const;
const MEMORY_SIGNATURES = ['iBFT', 'BIFT'] as const;

/**
 * The raw table from the ACPI tables directory (files `IBFT`, `iBFT`, `BIFT`, tried in Linux's order), or
 * undefined when there is none. The files are mode 0400: reading needs root, else an {@link IbftError}.
 */
export function readIbftFromSysfsAcpi(root = '/sys/firmware/acpi/tables'): Uint8Array | undefined {
  for (const name of ACPI_NAMES) {
    const bytes = readBounded(join(root, name), 0, MAX_ACPI_TABLE, `acpi/${name}`);
    if (bytes !== undefined) return bytes;
  }
  return undefined;
}

/**
 * Scans a physical memory image for the table as Linux does on BIOS machines: addresses 0x80000 up to 1 MiB on
 * 16-byte boundaries, skipping the VGA hole 0xA0000-0xBFFFF, signature `iBFT` or `BIFT`, and a length that
 * keeps the table below 0xFFFFF. `image[0]` is physical address `base`. Returns a copy of the first match's
 * `length` bytes, or undefined.
 */
export function findIbftInMemory(image: Uint8Array, base = 0): Uint8Array | undefined {
  if (!Number.isSafeInteger(base) || base < 0)
    throw new IbftError('base address must be a non-negative integer', 'base');
  for (let addr = IBFT_SCAN_START; addr < IBFT_SCAN_END; addr += 16) {
    if (addr >= VGA_HOLE[0] && addr < VGA_HOLE[1]) continue;
    const off = addr - base;
    if (off < 0 || off + 8 > image.length) continue;
    if (!MEMORY_SIGNATURES.some((sig) => matches(image, off, sig))) continue;
    const length = (image[off + 4]! | (image[off + 5]! << 8) | (image[off + 6]! << 16) | (image[off + 7]! << 24)) >>> 0;
    // Linux: a table extending past 1 MiB cannot be valid; keep scanning. Shorter than a header cannot either.
    if (length < 48 || addr + length > IBFT_SCAN_END - 1 || off + length > image.length) continue;
    return image.slice(off, off + length);
  }
  return undefined;
}

/**
 * {@link findIbftInMemory} over a file holding a physical memory image whose first byte is at `base` (a dump,
 * or `/dev/mem` as root); only the scanned window is read.
 */
export function readIbftFromMemoryFile(path: string, base = 0): Uint8Array | undefined {
  if (!Number.isSafeInteger(base) || base < 0)
    throw new IbftError('base address must be a non-negative integer', 'base');
  const start = Math.max(IBFT_SCAN_START, base);
  if (start >= IBFT_SCAN_END) return undefined;
  const window = readBounded(path, start - base, IBFT_SCAN_END - start, 'memory image');
  if (window === undefined) throw new IbftError('file not found', 'memory image');
  return findIbftInMemory(window, start);
}

function matches(image: Uint8Array, off: number, sig: string): boolean {
  for (let i = 0; i < 4; i++) if (image[off + i] !== sig.charCodeAt(i)) return false;
  return true;
}

/**
 * Up to `max` bytes of a file from `position`, or undefined when it does not exist; more than `max` bytes
 * available is an error only for whole-file reads (position 0 of an ACPI table).
 */
function readBounded(path: string, position: number, max: number, field: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    const hint = code === 'EACCES' || code === 'EPERM' ? ' (reading firmware tables needs root)' : '';
    throw new IbftError(`cannot open: ${code ?? 'error'}${hint}`, field, undefined, { cause: err });
  }
  try {
    const buf = Buffer.alloc(max);
    let got = 0;
    while (got < max) {
      const n = readSync(fd, buf, got, max - got, position + got);
      if (n === 0) break;
      got += n;
    }
    if (got === max && field.startsWith('acpi/')) {
      const extra = readSync(fd, Buffer.alloc(1), 0, 1, position + got);
      if (extra > 0) throw new IbftError(`file larger than ${max} bytes`, field);
    }
    return new Uint8Array(buf.subarray(0, got));
  } catch (err) {
    if (err instanceof IbftError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new IbftError(`cannot read: ${code ?? 'error'}`, field, undefined, { cause: err });
  } finally {
    closeSync(fd);
  }
}
