/**
 * MODE SENSE(6) and MODE SENSE(10) (SPC-4 §6.11, §6.12): mode parameter header, block descriptors and pages.
 * Page code 0x3f with subpage 0x00 returns every page, 0x3f/0xff every page and subpage.
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { put16, u16 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkUint, ScsiOpcode } from '../command.js';

/** PC field: which values of the pages to return. */
export type ModePageControl = 'current' | 'changeable' | 'default' | 'saved';

const PAGE_CONTROLS: readonly ModePageControl[] = ['current', 'changeable', 'default', 'saved'];

/** Page code that selects all pages. */
export const ALL_MODE_PAGES = 0x3f;

/** Options of the MODE SENSE builders. */
export interface ModeSenseOptions {
  /** PAGE CODE, 0..63; default 0x3f (all pages). */
  readonly pageCode?: number;
  /** SUBPAGE CODE, 0..255; default 0. */
  readonly subpageCode?: number;
  /** PC; default `current`. */
  readonly pageControl?: ModePageControl;
  /** DBD: leave out block descriptors. */
  readonly disableBlockDescriptors?: boolean;
  /** ALLOCATION LENGTH; up to 255 for MODE SENSE(6), 65535 for (10); default the maximum. */
  readonly allocationLength?: number;
  /** LLBAA (MODE SENSE(10) only): allow 16-byte long LBA block descriptors. */
  readonly longLba?: boolean;
}

/** A decoded MODE SENSE(6) or (10) CDB. */
export interface ModeSenseCdb {
  readonly kind: 'mode-sense-6' | 'mode-sense-10';
  readonly pageCode: number;
  readonly subpageCode: number;
  readonly pageControl: ModePageControl;
  readonly disableBlockDescriptors: boolean;
  readonly longLba: boolean;
  readonly allocationLength: number;
  readonly control: number;
}

function pageByte(options: ModeSenseOptions): number {
  const pc = PAGE_CONTROLS.indexOf(options.pageControl ?? 'current');
  if (pc < 0) throw new InvalidArgumentError(`pageControl must be one of ${PAGE_CONTROLS.join(', ')}`);
  return (pc << 6) | checkUint('pageCode', options.pageCode ?? ALL_MODE_PAGES, 0x3f);
}

/** Builds MODE SENSE(6). `longLba` is ignored: the 6-byte form has no LLBAA bit. */
export function buildModeSense6Cdb(options: ModeSenseOptions = {}): ScsiCommand {
  const allocationLength = checkUint('allocationLength', options.allocationLength ?? 0xff, 0xff);
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.ModeSense6;
  cdb[1] = options.disableBlockDescriptors ? 0x08 : 0;
  cdb[2] = pageByte(options);
  cdb[3] = checkUint('subpageCode', options.subpageCode ?? 0, 0xff);
  cdb[4] = allocationLength;
  return { cdb, direction: allocationLength ? 'read' : 'none', transferLength: allocationLength };
}

/** Builds MODE SENSE(10). */
export function buildModeSense10Cdb(options: ModeSenseOptions = {}): ScsiCommand {
  const allocationLength = checkUint('allocationLength', options.allocationLength ?? 0xffff, 0xffff);
  const cdb = new Uint8Array(10);
  cdb[0] = ScsiOpcode.ModeSense10;
  cdb[1] = (options.longLba ? 0x10 : 0) | (options.disableBlockDescriptors ? 0x08 : 0);
  cdb[2] = pageByte(options);
  cdb[3] = checkUint('subpageCode', options.subpageCode ?? 0, 0xff);
  put16(cdb, 7, allocationLength);
  return { cdb, direction: allocationLength ? 'read' : 'none', transferLength: allocationLength };
}

/** Decodes a MODE SENSE(6) or (10) CDB. */
export function decodeModeSenseCdb(cdb: Uint8Array): ModeSenseCdb {
  const long = cdb[0] === ScsiOpcode.ModeSense10;
  return {
    kind: long ? 'mode-sense-10' : 'mode-sense-6',
    pageCode: cdb[2]! & 0x3f,
    subpageCode: cdb[3]!,
    pageControl: PAGE_CONTROLS[cdb[2]! >> 6]!,
    disableBlockDescriptors: (cdb[1]! & 0x08) !== 0,
    longLba: long && (cdb[1]! & 0x10) !== 0,
    allocationLength: long ? u16(cdb, 7) : cdb[4]!,
    control: long ? cdb[9]! : cdb[5]!,
  };
}
