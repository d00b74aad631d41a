/**
 * INQUIRY (SPC-4 §6.6): standard data (EVPD 0) or one Vital Product Data page (EVPD 1).
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { u16 } from '../bytes.js';
import type { ScsiCommand } from '../command.js';
import { checkUint, ScsiOpcode } from '../command.js';

/** Options of {@link buildInquiryCdb}. */
export interface InquiryOptions {
  /** EVPD: return the VPD page `pageCode` instead of the standard data. Default false. */
  readonly evpd?: boolean;
  /** PAGE CODE; must be 0 unless `evpd` (SPC-4 §6.6.1: otherwise ILLEGAL REQUEST). */
  readonly pageCode?: number;
  /**
   * ALLOCATION LENGTH, 0..65535; default 255. SPC-2 devices read only the low byte (byte 3 was reserved),
   * so values up to 255 are the portable choice.
   */
  readonly allocationLength?: number;
}

/** A decoded INQUIRY CDB. */
export interface InquiryCdb {
  readonly kind: 'inquiry';
  readonly evpd: boolean;
  readonly pageCode: number;
  readonly allocationLength: number;
  readonly control: number;
}

/** Builds INQUIRY. */
export function buildInquiryCdb(options: InquiryOptions = {}): ScsiCommand {
  const evpd = options.evpd ?? false;
  const pageCode = checkUint('pageCode', options.pageCode ?? 0, 0xff);
  if (!evpd && pageCode !== 0) throw new InvalidArgumentError('pageCode needs evpd (standard INQUIRY has no pages)');
  const allocationLength = checkUint('allocationLength', options.allocationLength ?? 255, 0xffff);
  const cdb = new Uint8Array(6);
  cdb[0] = ScsiOpcode.Inquiry;
  cdb[1] = evpd ? 0x01 : 0;
  cdb[2] = pageCode;
  cdb[3] = allocationLength >>> 8;
  cdb[4] = allocationLength & 0xff;
  return { cdb, direction: allocationLength ? 'read' : 'none', transferLength: allocationLength };
}

/** Decodes an INQUIRY CDB. */
export function decodeInquiryCdb(cdb: Uint8Array): InquiryCdb {
  return {
    kind: 'inquiry',
    evpd: (cdb[1]! & 0x01) !== 0,
    pageCode: cdb[2]!,
    allocationLength: u16(cdb, 3),
    control: cdb[5]!,
  };
}
