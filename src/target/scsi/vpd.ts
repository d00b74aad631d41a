/**
 * Vital product data pages of a disk LU (SPC-4 §7.8, SBC-3 §6.6): Supported VPD Pages, Unit Serial Number,
 * Device Identification, Block Limits, Block Device Characteristics and Logical Block Provisioning.
 * @module
 */
import { put16, put32, put64 } from '../../scsi/bytes.js';
import type { LuContext, Nexus } from './types.js';

/** VPD pages served, ascending (SPC-4 §7.8.15: the Supported VPD Pages list is in ascending order). */
export const SUPPORTED_VPD_PAGES: readonly number[] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/** PROTOCOL IDENTIFIER of iSCSI (SPC-4 table 362). */
export const ISCSI_PROTOCOL_ID = 0x5;

function page(code: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[1] = code;
  put16(out, 2, body.length);
  out.set(body, 4);
  return out;
}

function designator(b0: number, b1: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + value.length);
  out[0] = b0;
  out[1] = b1;
  out[3] = value.length;
  out.set(value, 4);
  return out;
}

/** UTF-8 text with a NUL terminator, padded with NULs to a multiple of 4 (SPC-4 §7.8.6.11). */
export function nulPadded(text: string, minLength = 0): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const length = Math.max(minLength, (bytes.length + 1 + 3) & ~3);
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Device Identification (SPC-4 §7.8.6): the LU's NAA designator, the target device's and target port's SCSI name
 * strings (iSCSI, PIV=1), and the relative target port of the nexus.
 */
export function deviceIdentification(lu: LuContext, nexus: Nexus): Uint8Array {
  const naa = new Uint8Array(8);
  put64(naa, 0, BigInt.asUintN(64, lu.identity.naa));
  const rtp = new Uint8Array(4);
  put16(rtp, 2, nexus.relativeTargetPort & 0xffff);
  // SCSI name string of a target port: "<target name>,t,0x<TPGT>" (RFC 7143 §4.4.2 / SPC-4 §7.8.6.11).
  const portName = `${lu.identity.targetName},t,0x${(nexus.relativeTargetPort & 0xffff).toString(16).padStart(4, '0')}`;
  const iscsi = ISCSI_PROTOCOL_ID << 4;
  return page(
    0x83,
    concat([
      designator(0x01, 0x03, naa), // binary, LU association, NAA
      designator(iscsi | 0x01, 0x94, rtp), // binary, PIV, target port, relative target port
      designator(iscsi | 0x03, 0x98, nulPadded(portName)), // UTF-8, PIV, target port, SCSI name string
      designator(iscsi | 0x03, 0xa8, nulPadded(lu.identity.targetName)), // UTF-8, PIV, target device, name
    ]),
  );
}

/** Block Limits (SBC-3 §6.6.4); unmap limits only when the backend is thin. */
export function blockLimits(lu: LuContext): Uint8Array {
  const b = new Uint8Array(0x3c);
  const l = lu.limits;
  b[0] = 0x01; // WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is refused
  b[1] = Math.min(255, Math.max(0, l.maxCompareAndWriteBlocks));
  put16(b, 2, 1); // OPTIMAL TRANSFER LENGTH GRANULARITY
  put32(b, 4, l.maxTransferBlocks >>> 0);
  put32(b, 8, l.optimalTransferBlocks >>> 0);
  if (lu.backend.thin) {
    put32(b, 16, l.maxUnmapBlocks >>> 0);
    put32(b, 20, l.maxUnmapDescriptors >>> 0);
    put32(b, 24, 1); // OPTIMAL UNMAP GRANULARITY
    put32(b, 28, 0x80000000); // UGAVALID=1, UNMAP GRANULARITY ALIGNMENT 0
  }
  put64(b, 32, BigInt(Math.max(0, Math.floor(l.maxWriteSameBlocks))));
  return page(0xb0, b);
}

/** Block Device Characteristics (SBC-3 §6.6.2): non-rotating medium, form factor not reported. */
export function blockDeviceCharacteristics(): Uint8Array {
  const b = new Uint8Array(0x3c);
  put16(b, 0, 1); // MEDIUM ROTATION RATE 1: non-rotating (solid state)
  return page(0xb1, b);
}

/** Logical Block Provisioning (SBC-3 §6.6.5): thin LUs support UNMAP and WRITE SAME with UNMAP, reading zeros. */
export function logicalBlockProvisioning(lu: LuContext): Uint8Array {
  const b = new Uint8Array(4);
  if (lu.backend.thin) {
    b[1] = 0x80 | 0x40 | 0x20 | 0x04; // LBPU, LBPWS, LBPWS10, LBPRZ
    b[2] = 0x02; // PROVISIONING TYPE: thin
  }
  return page(0xb2, b);
}

/** VPD page `code` for `lu` as seen through `nexus`, or undefined when not supported. */
export function vpdPage(lu: LuContext, nexus: Nexus, code: number): Uint8Array | undefined {
  switch (code) {
    case 0x00:
      return page(0x00, Uint8Array.from(SUPPORTED_VPD_PAGES));
    case 0x80:
      return page(0x80, new TextEncoder().encode(lu.identity.serial.replace(/[^\x20-\x7e]/gu, '?')));
    case 0x83:
      return deviceIdentification(lu, nexus);
    case 0xb0:
      return blockLimits(lu);
    case 0xb1:
      return blockDeviceCharacteristics();
    case 0xb2:
      return logicalBlockProvisioning(lu);
    default:
      return undefined;
  }
}
