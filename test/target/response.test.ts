/**
 * buildResponse (RFC 7143 §11.4, §11.7): Data-In segmentation within MaxRecvDataSegmentLength, F at each
 * MaxBurstLength boundary, DataSN and offsets, status collapse only for good status without sense, residuals for
 * reads, writes and bidirectional commands, sense data in the SCSI Response.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataInPdu, Pdu, ScsiResponsePdu } from '../../src/pdu/types.js';
import { ScsiStatus } from '../../src/scsi/names.js';
import { buildResponse, type ResponseContext } from '../../src/target/response.js';

const SEQ = { statSN: 77, expCmdSN: 10, maxCmdSN: 41 };

function readCtx(readLength: number, extra: Partial<ResponseContext> = {}): ResponseContext {
  return {
    lun: 0n,
    initiatorTaskTag: 5,
    read: true,
    readLength,
    write: false,
    writeLength: 0,
    maxSegment: 1000,
    maxBurst: 4096,
    ...extra,
  };
}

function writeCtx(writeLength: number, extra: Partial<ResponseContext> = {}): ResponseContext {
  return { ...readCtx(0), read: false, write: true, writeLength, ...extra };
}

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
const dataIns = (pdus: Pdu[]) => pdus.filter((p): p is DataInPdu => p.kind === 'data-in');
const responseOf = (pdus: Pdu[]) => pdus.find((p): p is ScsiResponsePdu => p.kind === 'scsi-response');
const SENSE = Uint8Array.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]);

describe('buildResponse', () => {
  it('collapses GOOD status into the last Data-In, with StatSN only there', () => {
    const data = bytes(2500);
    const pdus = buildResponse(readCtx(2500), { status: ScsiStatus.Good, data }, SEQ);
    expect(pdus.map((p) => p.kind)).toEqual(['data-in', 'data-in', 'data-in']);
    const ins = dataIns(pdus);
    expect(ins.map((p) => p.data.length)).toEqual([1000, 1000, 500]);
    expect(ins.map((p) => p.statusPresent)).toEqual([false, false, true]);
    expect(ins.map((p) => p.final)).toEqual([false, false, true]);
    expect(ins[2]).toMatchObject({ status: 0, statSN: 77, residualCount: 0, residualOverflow: false });
    expect(ins.every((p) => p.expCmdSN === 10 && p.maxCmdSN === 41 && p.initiatorTaskTag === 5)).toBe(true);
    expect(ins.every((p) => p.targetTransferTag === 0xffffffff)).toBe(true);
    expect(Buffer.concat(ins.map((p) => p.data)).equals(data)).toBe(true);
  });

  it('sets F at each MaxBurstLength boundary', () => {
    const pdus = dataIns(buildResponse(readCtx(10_000, { maxBurst: 2500 }), { status: 0, data: bytes(10_000) }, SEQ));
    // Bursts of 2500 cut into 1000-byte PDUs: 1000, 1000, 500 (F) per burst.
    expect(pdus.map((p) => p.bufferOffset)).toEqual([
      0, 1000, 2000, 2500, 3500, 4500, 5000, 6000, 7000, 7500, 8500, 9500,
    ]);
    expect(pdus.filter((p) => p.final).map((p) => p.bufferOffset + p.data.length)).toEqual([2500, 5000, 7500, 10_000]);
    expect(pdus.map((p) => p.dataSN)).toEqual([...pdus.keys()]);
  });

  it('reports a read residual underflow and overflow', () => {
    const under = dataIns(buildResponse(readCtx(4000), { status: 0, data: bytes(1500) }, SEQ));
    expect(under.at(-1)).toMatchObject({ statusPresent: true, residualUnderflow: true, residualCount: 2500 });
    const over = buildResponse(readCtx(1000), { status: 0, data: bytes(1500) }, SEQ);
    const overIns = dataIns(over);
    expect(overIns.reduce((n, p) => n + p.data.length, 0)).toBe(1000);
    expect(overIns.at(-1)).toMatchObject({ statusPresent: true, residualOverflow: true, residualCount: 500 });
  });

  it('answers a read without data with a SCSI Response carrying the residual', () => {
    const pdus = buildResponse(readCtx(512), { status: 0 }, SEQ);
    expect(pdus).toHaveLength(1);
    expect(responseOf(pdus)).toMatchObject({
      status: 0,
      statSN: 77,
      residualUnderflow: true,
      residualCount: 512,
      expDataSN: 0,
      data: new Uint8Array(0),
    });
  });

  it('sends CHECK CONDITION in a SCSI Response with a 2-byte SenseLength, after any data', () => {
    const pdus = buildResponse(
      readCtx(3000),
      { status: ScsiStatus.CheckCondition, sense: SENSE, data: bytes(1200) },
      SEQ,
    );
    const ins = dataIns(pdus);
    expect(ins).toHaveLength(2);
    expect(ins.every((p) => !p.statusPresent && p.statSN === 0)).toBe(true);
    const rsp = responseOf(pdus)!;
    expect(pdus.at(-1)).toBe(rsp);
    expect(rsp).toMatchObject({ status: 2, statSN: 77, expDataSN: 2, residualUnderflow: true, residualCount: 1800 });
    expect(rsp.data.length).toBe(2 + SENSE.length);
    expect((rsp.data[0]! << 8) | rsp.data[1]!).toBe(SENSE.length);
    expect(rsp.data.subarray(2)).toEqual(SENSE);
  });

  it('does not collapse GOOD status when there is sense, nor exception statuses without sense', () => {
    const withSense = buildResponse(readCtx(100), { status: 0, sense: SENSE, data: bytes(100) }, SEQ);
    expect(dataIns(withSense).some((p) => p.statusPresent)).toBe(false);
    expect(responseOf(withSense)?.data.length).toBe(2 + SENSE.length);
    for (const status of [ScsiStatus.Busy, ScsiStatus.ReservationConflict, ScsiStatus.TaskSetFull]) {
      const pdus = buildResponse(readCtx(100), { status, data: bytes(100) }, SEQ);
      expect(dataIns(pdus).some((p) => p.statusPresent)).toBe(false);
      expect(responseOf(pdus)?.status).toBe(status);
    }
    const met = buildResponse(readCtx(100), { status: ScsiStatus.ConditionMet, data: bytes(100) }, SEQ);
    expect(met).toHaveLength(1);
    expect(dataIns(met)[0]).toMatchObject({ statusPresent: true, status: ScsiStatus.ConditionMet });
  });

  it('reports write residuals from dataOutLength against the EDTL', () => {
    const exact = responseOf(buildResponse(writeCtx(4096), { status: 0 }, SEQ))!;
    expect(exact).toMatchObject({ residualOverflow: false, residualUnderflow: false, residualCount: 0 });
    const over = responseOf(buildResponse(writeCtx(4096), { status: 0, dataOutLength: 8192 }, SEQ))!;
    expect(over).toMatchObject({ residualOverflow: true, residualUnderflow: false, residualCount: 4096 });
    const under = responseOf(buildResponse(writeCtx(4096), { status: 0, dataOutLength: 1024 }, SEQ))!;
    expect(under).toMatchObject({ residualOverflow: false, residualUnderflow: true, residualCount: 3072 });
    // A write never sends Data-In, even if the device server returned data.
    expect(buildResponse(writeCtx(512), { status: 0, data: bytes(64) }, SEQ)).toHaveLength(1);
  });

  it('reports bidirectional residuals: read in o/u, write in O/U, status never collapsed', () => {
    const ctx: ResponseContext = { ...readCtx(600), write: true, writeLength: 2048 };
    const pdus = buildResponse(ctx, { status: 0, data: bytes(400), dataOutLength: 4096 }, SEQ);
    expect(dataIns(pdus).some((p) => p.statusPresent)).toBe(false);
    expect(responseOf(pdus)).toMatchObject({
      bidiReadResidualUnderflow: true,
      bidiReadResidualOverflow: false,
      bidiReadResidualCount: 200,
      residualOverflow: true,
      residualCount: 2048,
      expDataSN: 1,
    });
    const over = responseOf(buildResponse(ctx, { status: 0, data: bytes(900) }, SEQ))!;
    expect(over).toMatchObject({ bidiReadResidualOverflow: true, bidiReadResidualCount: 300, residualCount: 0 });
  });

  it('segments any read within the limits (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 0, max: 20_000 }),
        fc.integer({ min: 512, max: 6000 }),
        fc.integer({ min: 512, max: 9000 }),
        fc.constantFrom(ScsiStatus.Good, ScsiStatus.CheckCondition, ScsiStatus.Busy),
        (dataLength, edtl, maxSegment, maxBurst, status) => {
          const data = bytes(dataLength);
          const sense = status === ScsiStatus.CheckCondition ? SENSE : undefined;
          const pdus = buildResponse(
            readCtx(edtl, { maxSegment, maxBurst }),
            { status, data, ...(sense ? { sense } : {}) },
            SEQ,
          );
          const ins = dataIns(pdus);
          const sent = Math.min(dataLength, edtl);
          let offset = 0;
          for (const [i, p] of ins.entries()) {
            expect(p.data.length).toBeGreaterThan(0);
            expect(p.data.length).toBeLessThanOrEqual(maxSegment);
            expect(p.dataSN).toBe(i);
            expect(p.bufferOffset).toBe(offset);
            offset += p.data.length;
            const atBurstEnd = offset % maxBurst === 0 || offset === sent;
            expect(p.final).toBe(atBurstEnd);
            // No burst crosses a MaxBurstLength boundary.
            expect(Math.floor(p.bufferOffset / maxBurst)).toBe(Math.floor((offset - 1) / maxBurst));
          }
          expect(offset).toBe(sent);
          expect(Buffer.concat(ins.map((p) => p.data)).equals(data.subarray(0, sent))).toBe(true);
          const collapsed = sent > 0 && status === ScsiStatus.Good;
          expect(ins.filter((p) => p.statusPresent)).toHaveLength(collapsed ? 1 : 0);
          const rsp = responseOf(pdus);
          expect(rsp === undefined).toBe(collapsed);
          const residualHolder = collapsed ? ins.at(-1)! : rsp!;
          expect(residualHolder.residualCount).toBe(Math.abs(dataLength - edtl));
          expect(residualHolder.residualOverflow).toBe(dataLength > edtl);
          expect(residualHolder.residualUnderflow).toBe(dataLength < edtl);
          if (rsp) {
            expect(rsp.expDataSN).toBe(ins.length);
            expect(rsp.data.length).toBe(sense ? sense.length + 2 : 0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
