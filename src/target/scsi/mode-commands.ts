/**
 * MODE SENSE(6)/(10) and MODE SELECT(6)/(10) (SPC-4 §6.9-§6.12) over the pages of `mode-pages.ts`, with the SBC
 * block descriptor (SBC-3 §6.4.2) and device-specific parameter (WP, DPOFUA; SBC-3 §6.4.1).
 * @module
 */
import { put16, put32, put64, u16, u24, u32 } from '../../scsi/bytes.js';
import { MODE_PAGE_CODES, ModePage, type PageControl } from './mode-pages.js';
import { nexusKey } from './nexus-key.js';
import { Asc, good, illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './result.js';
import type { SpcState } from './spc-state.js';
import type { LuContext, ScsiRequest, ScsiResult } from './types.js';

const PAGE_CONTROLS: readonly (PageControl | 'saved')[] = ['current', 'changeable', 'default', 'saved'];

/** DEVICE-SPECIFIC PARAMETER of a direct-access device: WP when read-only, DPOFUA always (SBC-3 §6.4.1). */
function deviceSpecificParameter(lu: LuContext): number {
  return (lu.readOnly ? 0x80 : 0) | 0x10;
}

function blockDescriptor(lu: LuContext, long: boolean): Uint8Array {
  if (long) {
    const d = new Uint8Array(16);
    put64(d, 0, lu.blocks);
    put32(d, 12, lu.blockSize);
    return d;
  }
  const d = new Uint8Array(8);
  // SBC-3 §6.4.2.2: more blocks than fit in 32 bits is reported as 0xFFFFFFFF.
  put32(d, 0, lu.blocks > 0xffffffffn ? 0xffffffff : Number(lu.blocks));
  d[5] = (lu.blockSize >>> 16) & 0xff;
  d[6] = (lu.blockSize >>> 8) & 0xff;
  d[7] = lu.blockSize & 0xff;
  return d;
}

/** Shared MODE SENSE logic; `ten` selects the 10-byte CDB and header. */
export function modeSense(state: SpcState, lu: LuContext, cdb: Uint8Array, ten: boolean): ScsiResult {
  const dbd = (cdb[1]! & 0x08) !== 0;
  const llbaa = ten && (cdb[1]! & 0x10) !== 0;
  const pc = PAGE_CONTROLS[cdb[2]! >> 6]!;
  const code = cdb[2]! & 0x3f;
  const subpage = cdb[3]!;
  if (pc === 'saved') return illegalRequest(Asc.SavingParametersNotSupported);
  // Only page_0 pages exist: subpage 0, or 0xFF ("all subpages"), which for these pages is the page itself.
  if (subpage !== 0 && subpage !== 0xff) return invalidFieldInCdb(3);
  let codes: readonly number[];
  if (code === ModePage.All) codes = MODE_PAGE_CODES;
  else if (state.modes.has(code)) codes = [code];
  else return invalidFieldInCdb(2, 5);
  const pages = codes.map((c) => state.modes.page(c, pc)!);
  const descriptor = dbd ? new Uint8Array(0) : blockDescriptor(lu, llbaa);
  const headerLength = ten ? 8 : 4;
  const total = headerLength + descriptor.length + pages.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  if (ten) {
    put16(out, 0, total - 2);
    out[3] = deviceSpecificParameter(lu);
    out[4] = llbaa && !dbd ? 0x01 : 0; // LONGLBA
    put16(out, 6, descriptor.length);
  } else {
    out[0] = total - 1;
    out[2] = deviceSpecificParameter(lu);
    out[3] = descriptor.length;
  }
  out.set(descriptor, headerLength);
  let o = headerLength + descriptor.length;
  for (const p of pages) {
    out.set(p, o);
    o += p.length;
  }
  return good(out);
}

/** Shared MODE SELECT logic (SPC-4 §6.9, §6.10). */
export function modeSelect(state: SpcState, lu: LuContext, request: ScsiRequest, ten: boolean): ScsiResult {
  const cdb = request.cdb;
  // SPC-4 §6.9: PF=0 (vendor-specific page format) is not supported; SP=1 asks to save, which we cannot.
  if ((cdb[1]! & 0x10) === 0) return invalidFieldInCdb(1, 4);
  if ((cdb[1]! & 0x01) !== 0) return invalidFieldInCdb(1, 0);
  const length = ten ? u16(cdb, 7) : cdb[4]!;
  if (length === 0) return good();
  if (request.dataOut.length < length) return illegalRequest(Asc.ParameterListLengthError);
  const data = request.dataOut.subarray(0, length);
  const headerLength = ten ? 8 : 4;
  if (data.length < headerLength) return illegalRequest(Asc.ParameterListLengthError);
  const longLba = ten && (data[4]! & 0x01) !== 0;
  const descriptorLength = ten ? u16(data, 6) : data[3]!;
  const size = longLba ? 16 : 8;
  if (descriptorLength % size !== 0) return invalidFieldInParameterList(ten ? 6 : 3);
  const pagesAt = headerLength + descriptorLength;
  if (pagesAt > data.length) return illegalRequest(Asc.ParameterListLengthError);
  for (let o = headerLength; o < pagesAt; o += size) {
    // SBC-3 §6.4.2: the block length cannot change (no FORMAT UNIT); NUMBER OF LOGICAL BLOCKS is ignored.
    const blockLength = longLba ? u32(data, o + 12) : u24(data, o + 5);
    if (blockLength !== lu.blockSize) return invalidFieldInParameterList(longLba ? o + 12 : o + 5);
  }
  const pages: { data: Uint8Array; offset: number }[] = [];
  for (let o = pagesAt; o < data.length; ) {
    if (o + 2 > data.length) return illegalRequest(Asc.ParameterListLengthError);
    // SPF=1 (sub_page format) pages do not exist here.
    if ((data[o]! & 0x40) !== 0) return invalidFieldInParameterList(o, 6);
    const end = o + 2 + data[o + 1]!;
    if (end > data.length) return illegalRequest(Asc.ParameterListLengthError);
    pages.push({ data: data.subarray(o, end), offset: o });
    o = end;
  }
  const outcome = state.modes.apply(pages);
  if (typeof outcome !== 'boolean') return outcome;
  // SPC-4 §7.5.1: other I_T nexuses learn of the change through MODE PARAMETERS CHANGED.
  if (outcome) state.notifyOthers(Asc.ModeParametersChanged, nexusKey(request.nexus));
  return good();
}
