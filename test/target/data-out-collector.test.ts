/**
 * DataOutCollector (RFC 7143 §11.7, §11.8, §13.10-§13.17): immediate data, unsolicited Data-Out up to
 * FirstBurstLength, R2T bursts within MaxBurstLength and MaxOutstandingR2T, the errors it rejects, and a property:
 * any valid initiator behaviour fills the buffer with exactly what was sent, complete only at the end.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DataOutPdu } from '../../src/pdu/types.js';
import {
  type CollectorLimits,
  DataOutCollector,
  DataOutError,
  type R2tRequest,
  RESERVED_TAG,
} from '../../src/target/data-out-collector.js';

const LIMITS: CollectorLimits = {
  immediateData: true,
  initialR2T: false,
  firstBurstLength: 1024,
  maxBurstLength: 2048,
  maxOutstandingR2T: 1,
};

function tags(): () => number {
  let next = 100;
  return () => next++;
}

function bytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

function dataOut(fields: Partial<DataOutPdu> & { data: Uint8Array; bufferOffset: number }): DataOutPdu {
  return {
    kind: 'data-out',
    final: false,
    lun: 0n,
    initiatorTaskTag: 1,
    targetTransferTag: RESERVED_TAG,
    expStatSN: 0,
    dataSN: 0,
    ahs: [],
    ...fields,
  };
}

function expectReject(fn: () => unknown, reason: number): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(DataOutError);
  expect((error as DataOutError).reason).toBe(reason);
}

describe('DataOutCollector', () => {
  it('completes with immediate data only', () => {
    const data = bytes(700);
    const c = new DataOutCollector(700, data, true, LIMITS, tags());
    expect(c.complete).toBe(true);
    expect(c.solicit()).toEqual([]);
    expect(c.buffer).toEqual(data);
  });

  it('completes at once for EDTL 0', () => {
    const c = new DataOutCollector(0, new Uint8Array(0), true, LIMITS, tags());
    expect(c.complete).toBe(true);
    expect(c.solicit()).toEqual([]);
  });

  it('takes unsolicited Data-Out up to FirstBurstLength, then solicits the rest', () => {
    const all = bytes(4000);
    const c = new DataOutCollector(4000, all.subarray(0, 100), false, LIMITS, tags());
    expect(c.solicit()).toEqual([]); // the unsolicited sequence is still open
    expect(c.receive(dataOut({ bufferOffset: 100, dataSN: 0, data: all.subarray(100, 600) }))).toBe(false);
    expect(c.receive(dataOut({ bufferOffset: 600, dataSN: 1, final: true, data: all.subarray(600, 1024) }))).toBe(true);
    const r2ts = c.solicit();
    expect(r2ts).toEqual([{ targetTransferTag: 100, r2tSN: 0, bufferOffset: 1024, desiredDataTransferLength: 2048 }]);
    expect(
      c.receive(dataOut({ targetTransferTag: 100, bufferOffset: 1024, final: true, data: all.subarray(1024, 3072) })),
    ).toBe(true);
    expect(c.complete).toBe(false);
    expect(c.solicit()).toEqual([
      { targetTransferTag: 101, r2tSN: 1, bufferOffset: 3072, desiredDataTransferLength: 928 },
    ]);
    c.receive(dataOut({ targetTransferTag: 101, bufferOffset: 3072, final: true, data: all.subarray(3072) }));
    expect(c.complete).toBe(true);
    expect(c.buffer).toEqual(all);
  });

  it('lets F=1 end the unsolicited sequence early; the rest is solicited from there', () => {
    const all = bytes(3000);
    const c = new DataOutCollector(3000, new Uint8Array(0), false, LIMITS, tags());
    expect(c.receive(dataOut({ bufferOffset: 0, final: true, data: all.subarray(0, 300) }))).toBe(true);
    const [r2t] = c.solicit();
    expect(r2t).toMatchObject({ bufferOffset: 300, desiredDataTransferLength: 2048, r2tSN: 0 });
  });

  it('keeps at most MaxOutstandingR2T open, with increasing R2TSN and unique TTTs', () => {
    const c = new DataOutCollector(10_000, new Uint8Array(0), true, { ...LIMITS, maxOutstandingR2T: 3 }, tags());
    const first = c.solicit();
    expect(first.map((r) => r.r2tSN)).toEqual([0, 1, 2]);
    expect(first.map((r) => r.bufferOffset)).toEqual([0, 2048, 4096]);
    expect(new Set(first.map((r) => r.targetTransferTag)).size).toBe(3);
    expect(c.solicit()).toEqual([]); // all three are outstanding
    expect([...c.tags()].sort()).toEqual(first.map((r) => r.targetTransferTag).sort());
    // Answer the second burst first (DataSequenceInOrder is about offsets within a burst here).
    const second = first[1]!;
    expect(
      c.receive(
        dataOut({ targetTransferTag: second.targetTransferTag, bufferOffset: 2048, final: true, data: bytes(2048) }),
      ),
    ).toBe(true);
    const more = c.solicit();
    expect(more).toEqual([{ targetTransferTag: 103, r2tSN: 3, bufferOffset: 6144, desiredDataTransferLength: 2048 }]);
    expect(c.solicit()).toEqual([]);
  });

  it('refuses immediate data with ImmediateData=No (protocol error 0x04)', () => {
    expectReject(() => new DataOutCollector(100, bytes(10), true, { ...LIMITS, immediateData: false }, tags()), 0x04);
  });

  it('refuses immediate data beyond FirstBurstLength or the EDTL (0x09)', () => {
    expectReject(() => new DataOutCollector(4000, bytes(1025), true, LIMITS, tags()), 0x09);
    expectReject(() => new DataOutCollector(10, bytes(11), true, LIMITS, tags()), 0x09);
  });

  it('refuses F=0 on the command when InitialR2T=Yes (0x04)', () => {
    expectReject(
      () => new DataOutCollector(4000, new Uint8Array(0), false, { ...LIMITS, initialR2T: true }, tags()),
      4,
    );
  });

  it('refuses unsolicited Data-Out when none may follow (0x09)', () => {
    const c = new DataOutCollector(4000, new Uint8Array(0), true, LIMITS, tags());
    expectReject(() => c.receive(dataOut({ bufferOffset: 0, data: bytes(10) })), 0x09);
  });

  it('refuses a wrong DataSN, a wrong offset, data beyond the burst, and a misplaced F bit (0x09)', () => {
    const fresh = () => {
      const c = new DataOutCollector(4000, new Uint8Array(0), true, LIMITS, tags());
      const [r2t] = c.solicit();
      return { c, ttt: r2t!.targetTransferTag };
    };
    let { c, ttt } = fresh();
    expectReject(() => c.receive(dataOut({ targetTransferTag: ttt, dataSN: 1, bufferOffset: 0, data: bytes(8) })), 9);
    ({ c, ttt } = fresh());
    expectReject(() => c.receive(dataOut({ targetTransferTag: ttt, bufferOffset: 8, data: bytes(8) })), 9);
    ({ c, ttt } = fresh());
    expectReject(
      () => c.receive(dataOut({ targetTransferTag: ttt, bufferOffset: 0, final: true, data: bytes(2049) })),
      9,
    );
    ({ c, ttt } = fresh());
    // F=1 before the end of the burst.
    expectReject(() => c.receive(dataOut({ targetTransferTag: ttt, bufferOffset: 0, final: true, data: bytes(8) })), 9);
    ({ c, ttt } = fresh());
    // The last PDU of the burst without F.
    expectReject(() => c.receive(dataOut({ targetTransferTag: ttt, bufferOffset: 0, data: bytes(2048) })), 9);
    ({ c } = fresh());
    expectReject(() => c.receive(dataOut({ targetTransferTag: 0x5555, bufferOffset: 0, data: bytes(8) })), 9);
  });

  it('refuses the second PDU of a burst that repeats DataSN 0', () => {
    const c = new DataOutCollector(4000, new Uint8Array(0), true, LIMITS, tags());
    const [r2t] = c.solicit();
    const ttt = r2t!.targetTransferTag;
    c.receive(dataOut({ targetTransferTag: ttt, bufferOffset: 0, data: bytes(100) }));
    expectReject(() => c.receive(dataOut({ targetTransferTag: ttt, dataSN: 0, bufferOffset: 100, data: bytes(8) })), 9);
  });

  it('collects exactly what a valid initiator sends, complete only at the end (property)', () => {
    const scenario = fc
      .record({
        edtl: fc.integer({ min: 0, max: 30_000 }),
        maxBurst: fc.integer({ min: 512, max: 9000 }),
        firstBurstRaw: fc.integer({ min: 512, max: 9000 }),
        maxOutstandingR2T: fc.integer({ min: 1, max: 4 }),
        initialR2T: fc.boolean(),
        immediateData: fc.boolean(),
        mrdsl: fc.integer({ min: 512, max: 5000 }),
        seed: fc.integer({ min: 0, max: 255 }),
        /** Fractions deciding how much immediate/unsolicited data the initiator actually sends. */
        immediatePart: fc.double({ min: 0, max: 1, noNaN: true }),
        unsolicitedPart: fc.double({ min: 0, max: 1, noNaN: true }),
        /** Sizes of successive PDUs (each clipped to MaxRecvDataSegmentLength and what is left). */
        splits: fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 8 }),
        /** Which outstanding R2T the initiator serves next. */
        picks: fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
      })
      .map((s) => ({ ...s, firstBurst: Math.min(s.firstBurstRaw, s.maxBurst) }));
    fc.assert(
      fc.property(scenario, (s) => {
        const limits: CollectorLimits = {
          immediateData: s.immediateData,
          initialR2T: s.initialR2T,
          firstBurstLength: s.firstBurst,
          maxBurstLength: s.maxBurst,
          maxOutstandingR2T: s.maxOutstandingR2T,
        };
        const all = bytes(s.edtl, s.seed);
        let split = 0;
        const nextSize = (left: number) => Math.min(left, s.mrdsl, s.splits[split++ % s.splits.length]!);
        // Plain checks in the loops: expect() per PDU would dominate the run time.
        const check = (ok: boolean, what: string) => {
          if (!ok) throw new Error(what);
        };
        const unsolicitedLimit = Math.min(s.edtl, s.firstBurst);
        const immediate = s.immediateData ? Math.min(Math.floor(unsolicitedLimit * s.immediatePart), s.mrdsl) : 0;
        // Unsolicited Data-Out beyond the immediate data, F=1 possibly early (the rest is then solicited).
        const unsolicitedEnd = s.initialR2T
          ? immediate
          : immediate + Math.floor((unsolicitedLimit - immediate) * s.unsolicitedPart);
        const commandFinal = unsolicitedEnd === immediate;
        const c = new DataOutCollector(s.edtl, all.subarray(0, immediate), commandFinal, limits, tags());
        const seenTags = new Set<number>();
        let expectedR2tSN = 0;
        const outstanding: R2tRequest[] = [];
        const take = (r2ts: R2tRequest[]) => {
          for (const r of r2ts) {
            expect(r.r2tSN).toBe(expectedR2tSN++);
            expect(seenTags.has(r.targetTransferTag)).toBe(false);
            expect(r.targetTransferTag).not.toBe(RESERVED_TAG);
            expect(r.desiredDataTransferLength).toBeGreaterThan(0);
            expect(r.desiredDataTransferLength).toBeLessThanOrEqual(s.maxBurst);
            seenTags.add(r.targetTransferTag);
            outstanding.push(r);
          }
          expect(outstanding.length).toBeLessThanOrEqual(s.maxOutstandingR2T);
        };
        let received = immediate;
        expect(c.complete).toBe(received === s.edtl);
        if (!commandFinal) {
          let offset = immediate;
          let dataSN = 0;
          while (offset < unsolicitedEnd) {
            const size = nextSize(unsolicitedEnd - offset);
            const final = offset + size === unsolicitedEnd;
            check(c.solicit().length === 0, 'no R2T during the unsolicited sequence');
            const done = c.receive(
              dataOut({ bufferOffset: offset, dataSN: dataSN++, final, data: all.subarray(offset, offset + size) }),
            );
            check(done === final, 'burst end');
            offset += size;
            received += size;
            check(c.complete === (received === s.edtl), 'complete exactly at the end');
          }
        }
        take(c.solicit());
        let pick = 0;
        let guard = 0;
        while (outstanding.length > 0) {
          check(guard++ < 10_000, 'bounded');
          const index = s.picks[pick++ % s.picks.length]! % outstanding.length;
          const r2t = outstanding.splice(index, 1)[0]!;
          const end = r2t.bufferOffset + r2t.desiredDataTransferLength;
          let offset = r2t.bufferOffset;
          let dataSN = 0;
          while (offset < end) {
            const size = nextSize(end - offset);
            const final = offset + size === end;
            const done = c.receive(
              dataOut({
                targetTransferTag: r2t.targetTransferTag,
                bufferOffset: offset,
                dataSN: dataSN++,
                final,
                data: all.subarray(offset, offset + size),
              }),
            );
            check(done === final, 'burst end');
            offset += size;
            received += size;
            check(c.complete === (received === s.edtl), 'complete exactly at the end');
          }
          take(c.solicit());
        }
        expect(received).toBe(s.edtl);
        expect(c.complete).toBe(true);
        expect(Buffer.from(c.buffer).equals(all)).toBe(true);
        expect([...c.tags()]).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
