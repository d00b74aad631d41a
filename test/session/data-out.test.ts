import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { R2tPdu } from '../../src/pdu/types.js';
import { checkR2t, dataOutSequence, planUnsolicited, RESERVED_TAG } from '../../src/session/data-out.js';

const params = (initialR2T: boolean, immediateData: boolean) => ({
  initialR2T,
  immediateData,
  firstBurstLength: 65536,
  maxBurstLength: 262144,
  maxXmitDataSegmentLength: 8192,
});

describe('planUnsolicited (RFC 7143 §13.10, §13.11, §13.14)', () => {
  it.each([
    // [InitialR2T, ImmediateData, length, immediate, unsolicitedEnd]
    [true, true, 100_000, 8192, 8192],
    [true, true, 4096, 4096, 4096],
    [false, true, 100_000, 8192, 65536],
    [false, true, 30_000, 8192, 30_000],
    [true, false, 100_000, 0, 0],
    [false, false, 100_000, 0, 65536],
    [false, false, 512, 0, 512],
  ])('InitialR2T=%s ImmediateData=%s, %i bytes: %i immediate, unsolicited up to %i', (r2t, imm, len, i, end) => {
    expect(planUnsolicited(params(r2t, imm), len)).toEqual({ immediate: i, unsolicitedEnd: end });
  });

  it('FirstBurstLength below MaxRecvDataSegmentLength bounds immediate data too', () => {
    const p = { ...params(true, true), firstBurstLength: 4096, maxXmitDataSegmentLength: 65536 };
    expect(planUnsolicited(p, 100_000)).toEqual({ immediate: 4096, unsolicitedEnd: 4096 });
  });
});

describe('dataOutSequence (§11.7)', () => {
  it('segments by MaxRecvDataSegmentLength with DataSN from 0, contiguous offsets, F on the last only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 50_000 }),
        fc.integer({ min: 128, max: 9000 }),
        (offset, length, maxSegment) => {
          const data = new Uint8Array(offset + length);
          const pdus = dataOutSequence({
            initiatorTaskTag: 7,
            lun: 1n << 48n,
            targetTransferTag: 0x1234,
            expStatSN: 9,
            data,
            offset,
            length,
            maxSegment,
          });
          expect(pdus.length).toBe(Math.ceil(length / maxSegment));
          let at = offset;
          const wrong = pdus.filter((p, i) => {
            const ok =
              p.dataSN === i &&
              p.bufferOffset === at &&
              p.final === (i === pdus.length - 1) &&
              p.data.length > 0 &&
              p.data.length <= maxSegment &&
              p.data.buffer === data.buffer && // a view, not a copy
              p.initiatorTaskTag === 7 &&
              p.targetTransferTag === 0x1234 &&
              p.expStatSN === 9 &&
              p.lun === 1n << 48n;
            at += p.data.length;
            return !ok;
          });
          expect(wrong).toEqual([]);
          expect(at).toBe(offset + length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('checkR2t (§11.8)', () => {
  const r2t = (over: Partial<R2tPdu>): R2tPdu => ({
    kind: 'r2t',
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: 5,
    statSN: 0,
    expCmdSN: 0,
    maxCmdSN: 0,
    r2tSN: 0,
    bufferOffset: 0,
    desiredDataTransferLength: 4096,
    ahs: [],
    data: new Uint8Array(0),
    ...over,
  });
  it('accepts a range inside the write and within MaxBurstLength', () => {
    expect(checkR2t(r2t({ bufferOffset: 4096 }), 8192, 4096)).toBeUndefined();
  });
  it.each([
    ['the reserved TTT', { targetTransferTag: RESERVED_TAG }],
    ['zero length', { desiredDataTransferLength: 0 }],
    ['over MaxBurstLength', { desiredDataTransferLength: 8192 }],
    ['beyond the write data', { bufferOffset: 6000 }],
  ])('refuses %s', (_, over) => {
    expect(checkR2t(r2t(over), 8192, 4096)).toMatchObject({ code: 'ERR_ISCSI_PDU_FIELD', opcode: 0x31 });
  });
});
