/**
 * PERSISTENT RESERVE IN (SPC-4 §6.13): READ KEYS, READ RESERVATION, REPORT CAPABILITIES and READ FULL STATUS,
 * with iSCSI TransportIDs (SPC-4 §7.6.4.6).
 * @module
 */
import { put16, put32, put64 } from '../../scsi/bytes.js';
import type { PersistentReservations } from './persistent-reservations.js';
import { good } from './result.js';
import type { ScsiResult } from './types.js';
import { ISCSI_PROTOCOL_ID, nulPadded } from './vpd.js';

/** PERSISTENT RESERVE IN service actions. */
export const PrInAction = { ReadKeys: 0x00, ReadReservation: 0x01, ReportCapabilities: 0x02, ReadFullStatus: 0x03 };

function withHeader(generation: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + body.length);
  put32(out, 0, generation);
  put32(out, 4, body.length);
  out.set(body, 8);
  return out;
}

/** READ KEYS: PRgeneration and every registered key (one per registered I_T nexus). */
export function readKeys(pr: PersistentReservations): ScsiResult {
  const regs = [...pr.registrations().values()];
  const body = new Uint8Array(8 * regs.length);
  regs.forEach((r, i) => {
    put64(body, 8 * i, r.key);
  });
  return good(withHeader(pr.generation, body));
}

/** The reservation key reported for the reservation: the holder's, or 0 for all-registrants types. */
function reservationKey(pr: PersistentReservations): bigint {
  const r = pr.reservation;
  if (!r) return 0n;
  if (r.type === 0x7 || r.type === 0x8) return 0n; // SPC-4 §6.13.3.3
  return pr.registrations().get(r.holder)?.key ?? 0n;
}

/** READ RESERVATION. */
export function readReservation(pr: PersistentReservations): ScsiResult {
  const r = pr.reservation;
  if (!r) return good(withHeader(pr.generation, new Uint8Array(0)));
  const body = new Uint8Array(16);
  put64(body, 0, reservationKey(pr));
  body[13] = r.type; // SCOPE 0 (LU_SCOPE) in the high nibble
  return good(withHeader(pr.generation, body));
}

/**
 * REPORT CAPABILITIES: CRH=1 (RESERVE/RELEASE follow SPC-4 §5.9.3), no SPEC_I_PT, ALL_TG_PT or APTPL; TMV=1 with
 * all six types.
 */
export function reportCapabilities(): ScsiResult {
  const out = new Uint8Array(8);
  put16(out, 0, 8);
  out[2] = 0x10; // CRH
  out[3] = 0x80; // TMV; ALLOW COMMANDS 0; PTPL_A 0
  out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; // WR_EX_AR, EX_AC_RO, WR_EX_RO, EX_AC, WR_EX
  out[5] = 0x01; // EX_AC_AR
  return good(out);
}

/** iSCSI TransportID, format 00b (SPC-4 §7.6.4.6): the iSCSI name, NUL terminated, padded to 4, at least 20 bytes. */
export function iscsiTransportId(initiatorName: string): Uint8Array {
  const name = nulPadded(initiatorName, 16);
  const out = new Uint8Array(4 + name.length);
  out[0] = ISCSI_PROTOCOL_ID;
  put16(out, 2, name.length);
  out.set(name, 4);
  return out;
}

/** READ FULL STATUS: one descriptor per registered I_T nexus (SPC-4 §6.13.5). */
export function readFullStatus(pr: PersistentReservations): ScsiResult {
  const parts: Uint8Array[] = [];
  for (const [key, reg] of pr.registrations()) {
    const tid = iscsiTransportId(reg.nexus.initiatorName);
    const d = new Uint8Array(24 + tid.length);
    put64(d, 0, reg.key);
    const holder = pr.isHolder(key);
    d[12] = holder ? 0x01 : 0x00; // R_HOLDER; ALL_TG_PT 0
    d[13] = holder ? pr.reservation!.type : 0;
    put16(d, 18, reg.nexus.relativeTargetPort & 0xffff);
    put32(d, 20, tid.length);
    d.set(tid, 24);
    parts.push(d);
  }
  const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    body.set(p, o);
    o += p.length;
  }
  return good(withHeader(pr.generation, body));
}
