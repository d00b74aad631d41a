/**
 * fast-check arbitraries for every PDU kind, covering each field's full range. The fuzzer draws its random PDUs
 * from them and the property tests use the same ones (test/helpers/arbitraries.ts re-exports this module).
 * @module
 */
import fc from 'fast-check';
import type { Ahs } from '../pdu/ahs.js';
import type { Pdu, PduKind } from '../pdu/types.js';

/** Any 32-bit unsigned value. */
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Any 16-bit unsigned value. */
export const u16 = fc.integer({ min: 0, max: 0xffff });
/** Any byte value. */
export const u8 = fc.integer({ min: 0, max: 0xff });
/** Any 64-bit unsigned value (LUN fields). */
export const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const isid = fc.integer({ min: 0, max: 0xffffffffffff });
const stage = fc.constantFrom(0, 1, 3);

/** A data segment of at most `max` bytes. */
export const data = (max = 600): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });

/** One AHS: an extended CDB, a bidirectional read length, or a raw one of a vendor-specific type. */
export const ahs: fc.Arbitrary<Ahs> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 44 }).map((cdb): Ahs => ({ type: 'extended-cdb', cdb })),
  u32.map((n): Ahs => ({ type: 'bidi-read-length', expectedReadDataLength: n })),
  fc
    .record({ ahsType: fc.integer({ min: 60, max: 63 }), specific: fc.uint8Array({ maxLength: 40 }) })
    .map((r): Ahs => ({ type: 'raw', ...r })),
);

const common = { ahs: fc.array(ahs, { maxLength: 3 }), data: data(), initiatorTaskTag: u32 };
const seq = { statSN: u32, expCmdSN: u32, maxCmdSN: u32 };
const none = { ahs: fc.array(ahs, { maxLength: 2 }), data: fc.constant(new Uint8Array(0)), initiatorTaskTag: u32 };

/** One arbitrary per kind; PDUs that must have an empty data segment get one. */
export const pduArbitraries: { [K in PduKind]: fc.Arbitrary<Extract<Pdu, { kind: K }>> } = {
  'nop-out': fc.record({
    kind: fc.constant('nop-out'),
    immediate: fc.boolean(),
    lun: u64,
    targetTransferTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    ...common,
  }),
  'scsi-command': fc
    .record({
      kind: fc.constant('scsi-command'),
      immediate: fc.boolean(),
      final: fc.boolean(),
      read: fc.boolean(),
      write: fc.boolean(),
      attributes: fc.integer({ min: 0, max: 7 }),
      lun: u64,
      expectedDataTransferLength: u32,
      cmdSN: u32,
      expStatSN: u32,
      cdb: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      ...common,
    })
    .map((p) => (p.write ? p : { ...p, final: true, data: new Uint8Array(0) })),
  'task-management-request': fc.record({
    kind: fc.constant('task-management-request'),
    immediate: fc.boolean(),
    function: fc.integer({ min: 0, max: 127 }),
    lun: u64,
    referencedTaskTag: u32,
    cmdSN: u32,
    expStatSN: u32,
    refCmdSN: u32,
    expDataSN: u32,
    ...none,
  }),
  'login-request': fc
    .record({
      kind: fc.constant('login-request'),
      transit: fc.boolean(),
      continue: fc.boolean(),
      currentStage: stage,
      nextStage: stage,
      versionMax: u8,
      versionMin: u8,
      isid,
      tsih: u16,
      cid: u16,
      cmdSN: u32,
      expStatSN: u32,
      ...common,
    })
    .map((p) => ({ ...p, continue: p.continue && !p.transit })),
  'text-request': fc
    .record({
      kind: fc.constant('text-request'),
      immediate: fc.boolean(),
      final: fc.boolean(),
      continue: fc.boolean(),
      lun: u64,
      targetTransferTag: u32,
      cmdSN: u32,
      expStatSN: u32,
      ...common,
    })
    .map((p) => ({ ...p, continue: p.continue && !p.final })),
  'data-out': fc.record({
    kind: fc.constant('data-out'),
    final: fc.boolean(),
    lun: u64,
    targetTransferTag: u32,
    expStatSN: u32,
    dataSN: u32,
    bufferOffset: u32,
    ...common,
  }),
  'logout-request': fc.record({
    kind: fc.constant('logout-request'),
    immediate: fc.boolean(),
    reasonCode: fc.integer({ min: 0, max: 127 }),
    cid: u16,
    cmdSN: u32,
    expStatSN: u32,
    ...none,
  }),
  snack: fc.record({
    kind: fc.constant('snack'),
    type: fc.integer({ min: 0, max: 15 }),
    lun: u64,
    targetTransferTag: u32,
    expStatSN: u32,
    begRun: u32,
    runLength: u32,
    ...none,
  }),
  'nop-in': fc.record({ kind: fc.constant('nop-in'), lun: u64, targetTransferTag: u32, ...seq, ...common }),
  'scsi-response': fc
    .record({
      kind: fc.constant('scsi-response'),
      bidiReadResidualOverflow: fc.boolean(),
      bidiReadResidualUnderflow: fc.boolean(),
      residualOverflow: fc.boolean(),
      residualUnderflow: fc.boolean(),
      response: u8,
      status: u8,
      snackTag: u32,
      expDataSN: u32,
      bidiReadResidualCount: u32,
      residualCount: u32,
      ...seq,
      ...common,
    })
    .map((p) => ({
      ...p,
      bidiReadResidualUnderflow: p.bidiReadResidualUnderflow && !p.bidiReadResidualOverflow,
      residualUnderflow: p.residualUnderflow && !p.residualOverflow,
    })),
  'task-management-response': fc.record({
    kind: fc.constant('task-management-response'),
    response: u8,
    ...seq,
    ...none,
  }),
  'login-response': fc
    .record({
      kind: fc.constant('login-response'),
      transit: fc.boolean(),
      continue: fc.boolean(),
      currentStage: stage,
      nextStage: stage,
      versionMax: u8,
      versionActive: u8,
      isid,
      tsih: u16,
      statusClass: u8,
      statusDetail: u8,
      ...seq,
      ...common,
    })
    .map((p) => ({ ...p, continue: p.continue && !p.transit })),
  'text-response': fc
    .record({
      kind: fc.constant('text-response'),
      final: fc.boolean(),
      continue: fc.boolean(),
      lun: u64,
      targetTransferTag: u32,
      ...seq,
      ...common,
    })
    .map((p) => ({ ...p, continue: p.continue && !p.final })),
  'data-in': fc
    .record({
      kind: fc.constant('data-in'),
      final: fc.boolean(),
      acknowledge: fc.boolean(),
      residualOverflow: fc.boolean(),
      residualUnderflow: fc.boolean(),
      statusPresent: fc.boolean(),
      status: u8,
      lun: u64,
      targetTransferTag: u32,
      dataSN: u32,
      bufferOffset: u32,
      residualCount: u32,
      ...seq,
      ...common,
    })
    .map((p) => {
      const statusPresent = p.statusPresent && p.final;
      return {
        ...p,
        statusPresent,
        status: statusPresent ? p.status : 0,
        residualOverflow: statusPresent && p.residualOverflow,
        residualUnderflow: statusPresent && p.residualUnderflow && !p.residualOverflow,
      };
    }),
  'logout-response': fc.record({
    kind: fc.constant('logout-response'),
    response: u8,
    time2Wait: u16,
    time2Retain: u16,
    ...seq,
    ...none,
  }),
  r2t: fc.record({
    kind: fc.constant('r2t'),
    lun: u64,
    targetTransferTag: u32,
    r2tSN: u32,
    bufferOffset: u32,
    desiredDataTransferLength: u32,
    ...seq,
    ...none,
  }),
  'async-message': fc.record({
    kind: fc.constant('async-message'),
    lun: u64,
    asyncEvent: u8,
    asyncVCode: u8,
    parameter1: u16,
    parameter2: u16,
    parameter3: u16,
    ...seq,
    ...common,
    initiatorTaskTag: fc.constant(0xffffffff),
  }),
  reject: fc.record({
    kind: fc.constant('reject'),
    reason: u8,
    dataSN: u32,
    ...seq,
    ...common,
    initiatorTaskTag: fc.constant(0xffffffff),
  }),
};

/** Any valid PDU. */
export const anyPdu: fc.Arbitrary<Pdu> = fc.oneof(...(Object.values(pduArbitraries) as fc.Arbitrary<Pdu>[]));

/** The kinds an initiator sends. */
export const INITIATOR_KINDS = [
  'nop-out',
  'scsi-command',
  'task-management-request',
  'login-request',
  'text-request',
  'data-out',
  'logout-request',
  'snack',
] as const satisfies readonly PduKind[];

/** Any valid PDU an initiator may send. */
export const anyInitiatorPdu: fc.Arbitrary<Pdu> = fc.oneof(
  ...INITIATOR_KINDS.map((k) => pduArbitraries[k] as fc.Arbitrary<Pdu>),
);
