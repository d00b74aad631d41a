/**
 * Framer throughput over Data-In streams delivered in 64 KiB chunks, as a socket would.
 * Reference in the same run: copying the same stream once (Buffer.concat), the floor for any receiver that
 * must reassemble PDUs spanning chunks.
 */
import { encodePduBytes } from '../../src/pdu/encode.js';
import { Framer } from '../../src/pdu/framer.js';
import type { DataInPdu } from '../../src/pdu/types.js';
import { type Measurement, measure, report } from '../harness.js';

const STREAM = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

function stream(segment: number, digests: boolean): Uint8Array[] {
  const count = Math.max(1, Math.floor(STREAM / segment));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const pdu: DataInPdu = {
      kind: 'data-in',
      final: i === count - 1,
      acknowledge: false,
      residualOverflow: false,
      residualUnderflow: false,
      statusPresent: false,
      status: 0,
      lun: 0n,
      initiatorTaskTag: 1,
      targetTransferTag: 0xffffffff,
      statSN: 0,
      expCmdSN: 1,
      maxCmdSN: 64,
      dataSN: i,
      bufferOffset: i * segment,
      residualCount: 0,
      ahs: [],
      data: new Uint8Array(segment).fill(i),
    };
    parts.push(encodePduBytes(pdu, { headerDigest: digests, dataDigest: digests }));
  }
  const all = Buffer.concat(parts);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < all.length; at += CHUNK) chunks.push(all.subarray(at, at + CHUNK));
  return chunks;
}

for (const segment of [8192, 262144]) {
  const rows: Measurement[] = [];
  for (const digests of [false, true]) {
    const chunks = stream(segment, digests);
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    const label = digests ? 'with header+data digests' : 'no digests';
    if (!digests)
      rows.push(measure('copy the stream once', () => Buffer.concat(chunks), { bytesPerOp: bytes, batch: 1 }));
    rows.push(
      measure(
        `framer ${label}`,
        () => {
          const framer = new Framer({ headerDigest: digests, dataDigest: digests, maxDataSegmentLength: segment });
          let n = 0;
          for (const c of chunks) {
            framer.push(c);
            while (framer.next()) n++;
          }
          return n;
        },
        { bytesPerOp: bytes, batch: 1 },
      ),
    );
  }
  report(
    `Framer throughput, ${segment / 1024} KiB Data-In PDUs (8 MiB streams in 64 KiB chunks)`,
    rows,
    'copy the stream once',
  );
}
