/**
 * Logical block provisioning (SBC-4 §4.7): WRITE SAME(10)/(16) (§5.44, §5.46), UNMAP (§5.30) and GET LBA STATUS
 * (§5.8). A thin backend (LBPME=1, LBPRZ=1) deallocates; a fully provisioned one has no UNMAP at all.
 * @module
 */
import { ProtocolError } from '../../errors.js';
import { put32, put64, u16, u32, u64 } from '../../scsi/bytes.js';
import { parseUnmapParameterList } from '../../scsi/cdb/unmap.js';
import {
  aboveLimit,
  BlockOpcode,
  byteOffset,
  checkRange,
  checkWritable,
  FF4,
  FF8,
  isResult,
  mediumError,
  mediumLock,
  ServiceActionIn16,
  takeCdb,
  takeDataOut,
  usage,
  writeThrough,
} from './block-common.js';
import { Asc, good, illegalRequest, invalidFieldInCdb, invalidFieldInParameterList } from './result.js';
import type { CommandEntry, CommandHandler, LuContext } from './types.js';

/** Most bytes one backend write of a WRITE SAME carries (the block repeated). */
const WRITE_SAME_BATCH = 1 << 20;

function writeSameHandler(cdbLength: number): CommandHandler {
  return async (lu, request) => {
    const cdb = takeCdb(request, cdbLength);
    if (isResult(cdb)) return cdb;
    const long = cdbLength === 16;
    const b1 = cdb[1]!;
    const lba = long ? u64(cdb, 2) : BigInt(u32(cdb, 2));
    const blocks = long ? u32(cdb, 10) : u16(cdb, 7);
    const lengthField = long ? 10 : 7;
    if (b1 >> 5) return invalidFieldInCdb(1, 7); // WRPROTECT
    if (b1 & 0x10) return invalidFieldInCdb(1, 4); // ANCHOR: anchored blocks are not supported (ANC_SUP=0)
    const unmap = (b1 & 0x08) !== 0;
    const ndob = long && (b1 & 0x01) !== 0; // NDOB exists in WRITE SAME(16) only
    // The Block Limits page advertises WSNZ=1: a NUMBER OF LOGICAL BLOCKS of 0 ("to the end") is refused.
    if (blocks === 0 || aboveLimit(blocks, lu.limits.maxWriteSameBlocks)) return invalidFieldInCdb(lengthField);
    const refused = checkRange(lu, lba, blocks) ?? checkWritable(lu);
    if (refused) return refused;
    const bs = lu.blockSize;
    let block: Uint8Array;
    if (ndob) {
      block = new Uint8Array(bs); // SBC-4 §5.46: NDOB writes zeros
    } else {
      // No CDB field sizes the one-block Data-Out; the pointer names byte 1, where NDOB would have said "none".
      const data = takeDataOut(request, bs, 1);
      if (isResult(data)) return data;
      block = data;
    }
    const offset = byteOffset(lu, lba);
    const total = blocks * bs;
    const backend = lu.backend;
    try {
      await mediumLock(backend).run(false, async () => {
        // SBC-4 §4.7.3.4: deallocation is allowed when the blocks then read as the data written; with LBPRZ=1
        // that is an all-zero block. Otherwise, or on a fully provisioned LU, the block is written everywhere.
        if (unmap && backend.thin && isZeroBlock(block)) {
          await backend.discard(offset, total);
        } else {
          const batch = repeat(block, Math.min(blocks, Math.max(1, Math.floor(WRITE_SAME_BATCH / bs))));
          for (let at = 0; at < total; at += batch.length) {
            await backend.write(offset + at, batch.subarray(0, Math.min(batch.length, total - at)));
          }
        }
        if (writeThrough(lu, false)) await backend.flush();
      });
    } catch {
      return mediumError('write');
    }
    return good();
  };
}

function isZeroBlock(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

function repeat(block: Uint8Array, times: number): Uint8Array {
  const out = new Uint8Array(block.length * times);
  for (let i = 0; i < times; i++) out.set(block, i * block.length);
  return out;
}

const unmap: CommandHandler = async (lu, request) => {
  const cdb = takeCdb(request, 10);
  if (isResult(cdb)) return cdb;
  // SBC-4 §5.30: UNMAP is for LUs with LBPU=1. A fully provisioned LU does not implement it, so it answers as
  // for any command it lacks (SPC-4 §4.5.6 ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE).
  if (!lu.backend.thin) return illegalRequest(Asc.InvalidOpcode);
  if (cdb[1]! & 0x01) return invalidFieldInCdb(1, 0); // ANCHOR: not supported
  const refused = checkWritable(lu);
  if (refused) return refused;
  const listLength = u16(cdb, 7);
  if (listLength === 0) return good(); // SBC-4 §5.30.1: no parameter data, not an error
  // A list shorter than its 8-byte header (in the CDB, or in the Data-Out actually received) cannot be parsed.
  const list = request.dataOut.subarray(0, listLength);
  if (listLength < 8 || list.length < 8) return illegalRequest(Asc.ParameterListLengthError);
  let descriptors: ReturnType<typeof parseUnmapParameterList>;
  try {
    descriptors = parseUnmapParameterList(list);
  } catch (err) {
    // UNMAP DATA LENGTH running past the list, or a descriptor length that is not whole descriptors.
    return invalidFieldInParameterList(err instanceof ProtocolError ? (err.offset ?? 0) : 0);
  }
  if (descriptors.length > lu.limits.maxUnmapDescriptors) return invalidFieldInParameterList(2);
  // MAXIMUM UNMAP LBA COUNT bounds the total over all descriptors (SBC-4 §5.30.2).
  let total = 0;
  for (const [i, d] of descriptors.entries()) {
    total += d.blocks;
    if (total > lu.limits.maxUnmapBlocks) return invalidFieldInParameterList(8 + 16 * i + 8);
  }
  // Every descriptor is checked before any is acted on, so an out-of-range one leaves the medium untouched.
  for (const d of descriptors) {
    const range = checkRange(lu, d.lba, d.blocks);
    if (range) return range;
  }
  try {
    await mediumLock(lu.backend).run(false, async () => {
      for (const d of descriptors) {
        if (d.blocks > 0) await lu.backend.discard(byteOffset(lu, d.lba), d.blocks * lu.blockSize);
      }
    });
  } catch {
    return mediumError('write');
  }
  return good();
};

/** Blocks probed at a time by GET LBA STATUS: 64 KiB, the memory backend's default chunk. */
const PROBE_BYTES = 64 * 1024;
/** Most probes one GET LBA STATUS makes; the answer then ends early and the initiator asks again from there. */
const MAX_PROBES = 16384;
/** Most descriptors one answer holds, whatever the allocation length. */
const MAX_LBA_STATUS_DESCRIPTORS = 4096;

interface Extent {
  lba: number;
  blocks: number;
  deallocated: boolean;
}

// Coalesced runs of mapped / deallocated blocks from `start`, probing aligned steps of PROBE_BYTES.
function scanExtents(lu: LuContext, start: number, maxDescriptors: number): Extent[] {
  const end = Number(lu.blocks);
  const bs = lu.blockSize;
  if (!lu.backend.thin) return [{ lba: start, blocks: Math.min(end - start, 0xffffffff), deallocated: false }];
  const step = Math.max(1, Math.floor(PROBE_BYTES / bs));
  const out: Extent[] = [];
  let lba = start;
  for (let probes = 0; lba < end && probes < MAX_PROBES; probes++) {
    const next = Math.min(end, (Math.floor(lba / step) + 1) * step);
    const deallocated = !lu.backend.mapped(lba * bs, (next - lba) * bs);
    const last = out[out.length - 1];
    if (last && last.deallocated === deallocated && last.blocks + (next - lba) <= 0xffffffff) {
      last.blocks += next - lba;
    } else {
      if (out.length === maxDescriptors) break;
      out.push({ lba, blocks: next - lba, deallocated });
    }
    lba = next;
  }
  return out;
}

const getLbaStatus: CommandHandler = (lu, request) => {
  const cdb = takeCdb(request, 16);
  if (isResult(cdb)) return cdb;
  const lba = u64(cdb, 2);
  const allocationLength = u32(cdb, 10);
  // SBC-4 §5.8.1: a STARTING LOGICAL BLOCK ADDRESS beyond the last LBA is out of range.
  if (lba >= lu.blocks) return illegalRequest(Asc.LbaOutOfRange);
  if (allocationLength === 0) return good(new Uint8Array(0));
  // As many descriptors as the allocation length takes (at least one, so a short buffer still learns the length).
  const fit = Math.min(MAX_LBA_STATUS_DESCRIPTORS, Math.max(1, Math.floor((allocationLength - 8) / 16)));
  const extents = scanExtents(lu, Number(lba), fit);
  const data = new Uint8Array(8 + 16 * extents.length);
  put32(data, 0, data.length - 4); // PARAMETER DATA LENGTH: the bytes after itself
  for (const [i, e] of extents.entries()) {
    const o = 8 + 16 * i;
    put64(data, o, BigInt(e.lba));
    put32(data, o + 8, e.blocks);
    data[o + 12] = e.deallocated ? 1 : 0; // PROVISIONING STATUS: 0 mapped, 1 deallocated
  }
  return good(data.subarray(0, Math.min(data.length, allocationLength)));
};

/** WRITE SAME(10), WRITE SAME(16), UNMAP and GET LBA STATUS. */
export const PROVISIONING_COMMANDS: readonly CommandEntry[] = [
  {
    opcode: BlockOpcode.WriteSame10,
    name: 'WRITE SAME(10)',
    cdbLength: 10,
    usage: usage(BlockOpcode.WriteSame10, 0x08, ...FF4, 0x00, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: writeSameHandler(10),
  },
  {
    opcode: BlockOpcode.WriteSame16,
    name: 'WRITE SAME(16)',
    cdbLength: 16,
    usage: usage(BlockOpcode.WriteSame16, 0x09, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'write',
    handler: writeSameHandler(16),
  },
  {
    opcode: BlockOpcode.Unmap,
    name: 'UNMAP',
    cdbLength: 10,
    usage: usage(BlockOpcode.Unmap, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0x00),
    reservation: 'write',
    handler: unmap,
  },
  {
    opcode: BlockOpcode.ServiceActionIn16,
    serviceAction: ServiceActionIn16.GetLbaStatus,
    name: 'GET LBA STATUS',
    cdbLength: 16,
    usage: usage(BlockOpcode.ServiceActionIn16, 0x1f, ...FF8, ...FF4, 0x00, 0x00),
    reservation: 'read',
    handler: getLbaStatus,
  },
];
