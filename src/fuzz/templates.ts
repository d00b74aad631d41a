/**
 * Valid PDUs for the state a case reached: the starting points the mutations work on. They follow the session's
 * sequence numbers (CmdSN, ExpStatSN) and tags (the outstanding R2T's TTT) so that an unmutated one is accepted,
 * and a mutated one tests exactly what was changed.
 * @module
 */
import type { LoginRequestPdu, Pdu } from '../pdu/types.js';
import type { Rng } from './rng.js';
import type { FuzzPhase } from './types.js';

const NO_TAG = 0xffffffff;

/** The outstanding R2T of a mid-transfer case. */
export interface OpenTransfer {
  readonly itt: number;
  readonly ttt: number;
  readonly bufferOffset: number;
  readonly length: number;
}

/** Session state the templates follow; `cmdSN` and `itt` advance as templates are drawn. */
export interface TemplateState {
  readonly phase: FuzzPhase;
  /** The LUN field (SAM flat addressing). */
  readonly lun: bigint;
  cmdSN: number;
  readonly expStatSN: number;
  itt: number;
  /** Tags of the commands drawn so far (for TMF ABORT TASK). */
  readonly sentItts: number[];
  readonly transfer?: OpenTransfer;
  /** Mid-login: the valid next Login Request. */
  readonly nextLogin?: LoginRequestPdu;
}

function scsi(
  s: TemplateState,
  cdb: number[],
  o: { read?: boolean; write?: boolean; edtl: number; data?: Uint8Array },
): Pdu {
  const full = new Uint8Array(16);
  full.set(cdb);
  const itt = s.itt++;
  s.sentItts.push(itt);
  const pdu: Pdu = {
    kind: 'scsi-command',
    immediate: false,
    final: true,
    read: o.read ?? false,
    write: o.write ?? false,
    attributes: 1,
    lun: s.lun,
    expectedDataTransferLength: o.edtl,
    cmdSN: s.cmdSN,
    expStatSN: s.expStatSN,
    initiatorTaskTag: itt,
    cdb: full,
    ahs: [],
    data: o.data ?? new Uint8Array(0),
  };
  s.cmdSN = (s.cmdSN + 1) >>> 0;
  return pdu;
}

function rw10(op: number, lba: number, blocks: number): number[] {
  return [op, 0, lba >>> 24, (lba >>> 16) & 0xff, (lba >>> 8) & 0xff, lba & 0xff, 0, blocks >> 8, blocks & 0xff, 0];
}

/** Draws one valid PDU for the state. */
export function template(rng: Rng, s: TemplateState): Pdu {
  const empty = new Uint8Array(0);
  if (s.phase === 'mid-login' && s.nextLogin && rng.chance(0.6)) return s.nextLogin;
  if (s.transfer && rng.chance(0.5)) {
    const t = s.transfer;
    return {
      kind: 'data-out',
      final: true,
      lun: s.lun,
      targetTransferTag: t.ttt,
      expStatSN: s.expStatSN,
      dataSN: 0,
      bufferOffset: t.bufferOffset,
      initiatorTaskTag: t.itt,
      ahs: [],
      data: new Uint8Array(t.length).fill(0x5a),
    };
  }
  switch (rng.int(12)) {
    case 0:
    case 1: {
      const itt = s.itt++;
      const immediate = rng.chance(0.7);
      const pdu: Pdu = {
        kind: 'nop-out',
        immediate,
        lun: 0n,
        targetTransferTag: NO_TAG,
        cmdSN: s.cmdSN,
        expStatSN: s.expStatSN,
        initiatorTaskTag: itt,
        ahs: [],
        data: rng.chance(0.3) ? new Uint8Array(rng.int(64)).fill(0x61) : empty,
      };
      if (!immediate) s.cmdSN = (s.cmdSN + 1) >>> 0;
      return pdu;
    }
    case 2:
      return scsi(s, [0], { edtl: 0 });
    case 3:
    case 4: {
      const blocks = rng.range(1, 8);
      return scsi(s, rw10(0x28, rng.int(16), blocks), { read: true, edtl: blocks * 512 });
    }
    case 5: {
      const blocks = rng.range(1, 4);
      const edtl = blocks * 512;
      const immediate = rng.chance(0.5) ? new Uint8Array(edtl).fill(0xa5) : empty;
      return scsi(s, rw10(0x2a, rng.int(16), blocks), { write: true, edtl, data: immediate });
    }
    case 6:
      return scsi(s, [0x12, 0, 0, 0, 96, 0], { read: true, edtl: 96 });
    case 7: {
      const itt = s.itt++;
      const pdu: Pdu = {
        kind: 'task-management-request',
        immediate: true,
        function: rng.pick([1, 1, 2, 3, 4, 5, 6, 8]),
        lun: s.lun,
        referencedTaskTag: s.sentItts.length > 0 ? rng.pick(s.sentItts) : NO_TAG,
        cmdSN: s.cmdSN,
        expStatSN: s.expStatSN,
        refCmdSN: s.cmdSN,
        expDataSN: 0,
        initiatorTaskTag: itt,
        ahs: [],
        data: empty,
      };
      return pdu;
    }
    case 8: {
      const itt = s.itt++;
      const pdu: Pdu = {
        kind: 'text-request',
        immediate: true,
        final: true,
        continue: false,
        lun: 0n,
        targetTransferTag: NO_TAG,
        cmdSN: s.cmdSN,
        expStatSN: s.expStatSN,
        initiatorTaskTag: itt,
        ahs: [],
        data: new TextEncoder().encode('SendTargets=All\0'),
      };
      return pdu;
    }
    case 9:
      return {
        kind: 'snack',
        type: rng.int(4),
        lun: s.lun,
        targetTransferTag: NO_TAG,
        expStatSN: s.expStatSN,
        begRun: 0,
        runLength: rng.int(3),
        initiatorTaskTag: s.sentItts.length > 0 ? rng.pick(s.sentItts) : NO_TAG,
        ahs: [],
        data: empty,
      };
    case 10:
      if (rng.chance(0.2)) {
        const itt = s.itt++;
        return {
          kind: 'logout-request',
          immediate: true,
          reasonCode: rng.int(3),
          cid: 0,
          cmdSN: s.cmdSN,
          expStatSN: s.expStatSN,
          initiatorTaskTag: itt,
          ahs: [],
          data: empty,
        };
      }
      return scsi(s, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { read: true, edtl: 256 });
    default:
      // Report LUNs or READ CAPACITY(10).
      return rng.chance(0.5)
        ? scsi(s, [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], { read: true, edtl: 256 })
        : scsi(s, [0x25], { read: true, edtl: 8 });
  }
}
