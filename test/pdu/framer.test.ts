import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestError, ErrorCode, IscsiError, ProtocolError } from '../../src/errors.js';
import { encodePduBytes } from '../../src/pdu/encode.js';
import { Framer, framePdus } from '../../src/pdu/framer.js';
import type { Pdu } from '../../src/pdu/types.js';
import { anyPdu } from '../helpers/arbitraries.js';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function drain(framer: Framer): Pdu[] {
  const out: Pdu[] = [];
  for (let f = framer.next(); f; f = framer.next()) out.push(f.pdu);
  return out;
}

const big = { maxDataSegmentLength: 0xffffff };

const nop = (itt: number, data = new Uint8Array(0)): Pdu => ({
  kind: 'nop-in',
  lun: 0n,
  initiatorTaskTag: itt,
  targetTransferTag: 0xffffffff,
  statSN: 1,
  expCmdSN: 2,
  maxCmdSN: 3,
  ahs: [],
  data,
});

describe('Framer', () => {
  it('frames any split of a stream of PDUs, with and without digests', () => {
    fc.assert(
      fc.property(
        fc.array(anyPdu, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        fc.boolean(),
        (pdus, cuts, headerDigest, dataDigest) => {
          const stream = concat(pdus.map((p) => encodePduBytes(p, { headerDigest, dataDigest })));
          const points = [...new Set(cuts.map((c) => c % stream.length))].sort((a, b) => a - b);
          const framer = new Framer({ ...big, headerDigest, dataDigest });
          const got: Pdu[] = [];
          let last = 0;
          for (const p of [...points, stream.length]) {
            framer.push(stream.subarray(last, p));
            last = p;
            got.push(...drain(framer));
          }
          expect(got).toEqual(pdus);
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('frames a stream fed one byte at a time, at every split offset', () => {
    const pdus = [nop(1, new Uint8Array([1, 2, 3, 4, 5])), nop(2), nop(3, new Uint8Array(9).fill(7))];
    const stream = concat(pdus.map((p) => encodePduBytes(p, { headerDigest: true, dataDigest: true })));
    const framer = new Framer({ headerDigest: true, dataDigest: true });
    const got: Pdu[] = [];
    for (let i = 0; i < stream.length; i++) {
      framer.push(stream.subarray(i, i + 1));
      got.push(...drain(framer));
    }
    expect(got).toEqual(pdus);
    for (let split = 0; split <= stream.length; split++) {
      const f = new Framer({ headerDigest: true, dataDigest: true });
      f.push(stream.subarray(0, split));
      const first = drain(f);
      f.push(stream.subarray(split));
      expect([...first, ...drain(f)]).toEqual(pdus);
    }
  });

  it('hands out views of the received chunk when a PDU arrives whole (no copy)', () => {
    const chunk = encodePduBytes(nop(9, new Uint8Array(100).fill(3)));
    const framer = new Framer();
    framer.push(chunk);
    const f = framer.next()!;
    expect(f.wire.buffer).toBe(chunk.buffer);
    expect(f.pdu.data.buffer).toBe(chunk.buffer);
  });

  it('refuses a DataSegmentLength above the limit before buffering it (RFC 7143 §13.12)', () => {
    const framer = new Framer({ maxDataSegmentLength: 8192 });
    const bhs = encodePduBytes(nop(1)).slice(0, 48);
    bhs[5] = 0xff;
    bhs[6] = 0xff;
    bhs[7] = 0xff;
    framer.push(bhs);
    expect(() => framer.next()).toThrowError(expect.objectContaining({ code: ErrorCode.PduTooLarge, limit: 8192 }));
    // and it stays failed
    expect(() => framer.next()).toThrowError(ProtocolError);
  });

  it('applies new digest settings from the next PDU on (digests start after login, §13.1)', () => {
    const first = encodePduBytes(nop(1));
    const second = encodePduBytes(nop(2, new Uint8Array([1, 2, 3])), { headerDigest: true, dataDigest: true });
    const framer = new Framer();
    framer.push(concat([first, second]));
    expect(framer.next()!.pdu.initiatorTaskTag).toBe(1);
    framer.configure({ headerDigest: true, dataDigest: true });
    expect(framer.next()!.pdu.initiatorTaskTag).toBe(2);
  });

  it('stays in step after a data digest error and fails after a header digest error (§7.8)', () => {
    const d = { headerDigest: true, dataDigest: true };
    const bad = encodePduBytes(nop(1, new Uint8Array([1, 2, 3, 4])), d);
    bad[52]! ^= 1; // first data byte
    const good = encodePduBytes(nop(2), d);
    const framer = new Framer(d);
    framer.push(concat([bad, good]));
    let err: unknown;
    try {
      framer.next();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DigestError);
    expect(err).toMatchObject({ which: 'data', itt: 1 });
    expect(framer.next()!.pdu.initiatorTaskTag).toBe(2);

    const badHeader = encodePduBytes(nop(3), d);
    badHeader[20]! ^= 0x80;
    const f2 = new Framer(d);
    f2.push(concat([badHeader, good]));
    expect(() => f2.next()).toThrowError(expect.objectContaining({ which: 'header', itt: undefined }));
    expect(() => f2.next()).toThrowError(DigestError);
  });

  it('lenient framing reports violations and keeps going', () => {
    const withReserved = encodePduBytes(nop(1));
    withReserved[40] = 0xaa; // reserved in NOP-In
    const unknown = encodePduBytes(nop(2));
    unknown[0] = 0x3e; // not an opcode
    const framer = new Framer();
    framer.push(concat([withReserved, unknown, encodePduBytes(nop(3))]));
    const a = framer.nextLenient()!;
    expect(a.pdu?.initiatorTaskTag).toBe(1);
    expect(a.violations.map((v) => v.code)).toEqual([ErrorCode.PduReserved]);
    const b = framer.nextLenient()!;
    expect(b.pdu).toBeUndefined();
    expect(b.violations.map((v) => v.code)).toEqual([ErrorCode.PduOpcode]);
    expect(framer.nextLenient()!.pdu?.initiatorTaskTag).toBe(3);
  });

  it('arbitrary byte streams give PDUs or typed errors, with bounded buffering', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (chunks) => {
        const framer = new Framer();
        try {
          for (const c of chunks) {
            framer.push(c);
            while (framer.next());
          }
        } catch (err) {
          expect(err).toBeInstanceOf(IscsiError);
        }
        expect(framer.bufferedBytes).toBeLessThanOrEqual(chunks.reduce((n, c) => n + c.length, 0));
      }),
      { numRuns: 1000 },
    );
  });

  it('checks the sender when told which side is talking', () => {
    const framer = new Framer({ sender: 'initiator' });
    framer.push(encodePduBytes(nop(1)));
    expect(() => framer.next()).toThrowError(expect.objectContaining({ code: ErrorCode.PduDirection }));
  });
});

describe('framePdus', () => {
  it('reads the source only as fast as PDUs are taken (backpressure)', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield encodePduBytes(nop(i, new Uint8Array(8192)));
      }
    }
    const taken: number[] = [];
    for await (const f of framePdus(source())) {
      taken.push(f.pdu.initiatorTaskTag);
      if (taken.length === 3) break;
    }
    expect(taken).toEqual([0, 1, 2]);
    expect(pulled).toBe(3);
  });

  it('lets the consumer turn digests on between two PDUs of one chunk', async () => {
    const chunk = concat([encodePduBytes(nop(1)), encodePduBytes(nop(2), { headerDigest: true })]);
    const framer = new Framer();
    const seen: number[] = [];
    for await (const f of framePdus([chunk], framer)) {
      seen.push(f.pdu.initiatorTaskTag);
      framer.configure({ headerDigest: true });
    }
    expect(seen).toEqual([1, 2]);
  });

  it('fails when the stream ends inside a PDU', async () => {
    const bytes = encodePduBytes(nop(1));
    const run = async () => {
      for await (const _ of framePdus([bytes.subarray(0, 30)]));
    };
    await expect(run()).rejects.toThrowError(expect.objectContaining({ code: ErrorCode.PduTruncated }));
  });
});
