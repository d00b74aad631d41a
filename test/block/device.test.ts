/**
 * The block-device API against a private tgtd (one 16 MiB file LUN): round trips at several sizes and offsets,
 * bytes compared with the backing file (sha256), data put in the file before login read back, range checks that
 * send nothing, streams, flush and unmap.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BlockDevice, openLun } from '../../src/block/device.js';
import { InvalidArgumentError, IscsiError } from '../../src/errors.js';
import { ScsiError } from '../../src/scsi/errors.js';
import { SenseKey } from '../../src/scsi/names.js';
import { describePeers } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const LUN_BYTES = 16 * MiB;
const IQN = 'iqn.2024-01.test.iscsi-ts:block';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function fileRange(path: string, offset: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return out.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

describePeers(['tgtd', 'tgtadm'], 'block device against tgtd', () => {
  let tgtd: Tgtd;
  let dev: BlockDevice;
  let backing: string;
  const seeded = randomBytes(8192);
  const SEED_AT = 12 * MiB;

  beforeAll(async () => {
    tgtd = await startTgtd({ targets: [{ iqn: IQN, luns: [{ sizeBytes: LUN_BYTES }] }] });
    backing = join(tgtd.dir, 't1-lun1.img');
    const fd = openSync(backing, 'r+');
    try {
      writeSync(fd, seeded, 0, seeded.length, SEED_AT); // before login: must be read back as is
    } finally {
      closeSync(fd);
    }
    dev = await openLun(tgtd.url(0, 1), { queueDepth: 8 });
  }, 20_000);

  afterAll(async () => {
    await dev?.close();
    await tgtd?.stop();
  });

  it('reports the capacity', () => {
    expect(dev.blockSize).toBe(512);
    expect(dev.size).toBe(LUN_BYTES);
    expect(dev.blocks).toBe(LUN_BYTES / 512);
    expect(dev.maxTransferBytes).toBe(MiB);
  });

  it('reads data put into the backing file before login', async () => {
    expect(sha(await dev.read(SEED_AT, seeded.length))).toBe(sha(seeded));
  });

  it('round-trips several sizes and offsets, and the backing file holds the same bytes', async () => {
    const cases: [number, number][] = [
      [0, 512],
      [4096, 4096],
      [512 * 3, 512 * 7],
      [MiB - 512, 65536 + 512],
      [2 * MiB + 1024, 3 * MiB + 512], // several commands, the last one partial
      [LUN_BYTES - 8192, 8192], // the very end
    ];
    for (const [offset, length] of cases) {
      const data = randomBytes(length);
      await dev.write(offset, data);
      const back = await dev.read(offset, length);
      expect(sha(back), `${offset}+${length}`).toBe(sha(data));
      expect(sha(fileRange(backing, offset, length)), `file ${offset}+${length}`).toBe(sha(data));
    }
  });

  it('concurrent reads and writes of separate regions do not mix', async () => {
    const regions = Array.from({ length: 12 }, (_, i) => ({ offset: 5 * MiB + i * 65536, data: randomBytes(65536) }));
    await Promise.all(regions.map((r) => dev.write(r.offset, r.data)));
    const back = await Promise.all(regions.map((r) => dev.read(r.offset, r.data.length)));
    expect(back.map(sha)).toEqual(regions.map((r) => sha(r.data)));
  });

  it('refuses misaligned and out-of-range requests before sending anything', async () => {
    const before = dev.session.window.cmdSN;
    await expect(dev.read(1, 512)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.read(0, 100)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.read(LUN_BYTES, 512)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.read(LUN_BYTES - 512, 1024)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.read(-512, 512)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.write(0, new Uint8Array(513))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.write(LUN_BYTES, new Uint8Array(512))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(dev.unmap(7, 512)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => dev.createReadStream({ start: 3 })).toThrow(InvalidArgumentError);
    expect(() => dev.createWriteStream({ chunkSize: 1000 })).toThrow(InvalidArgumentError);
    expect(dev.session.window.cmdSN).toBe(before);
    expect((await dev.read(0, 0)).length).toBe(0);
  });

  it('streams 4 MiB in through createWriteStream and back out through createReadStream', async () => {
    const data = randomBytes(4 * MiB);
    const start = 8 * MiB;
    // Odd-sized pieces so the stream has to re-chunk them.
    const pieces: Buffer[] = [];
    for (let o = 0; o < data.length; o += 100_000) pieces.push(data.subarray(o, o + 100_000));
    await pipeline(Readable.from(pieces), dev.createWriteStream({ start, chunkSize: 256 * 1024 }));
    expect(sha(fileRange(backing, start, data.length))).toBe(sha(data));
    const got: Buffer[] = [];
    await pipeline(
      dev.createReadStream({ start, end: start + data.length - 1, chunkSize: 192 * 1024 }),
      new PassThrough(),
      async (source: AsyncIterable<Buffer>) => {
        for await (const c of source) got.push(c);
      },
    );
    expect(sha(Buffer.concat(got))).toBe(sha(data));
  });

  it('a read stream keeps at most queueDepth reads ahead of a stalled consumer', async () => {
    const stream = dev.createReadStream({ chunkSize: 512 });
    stream.pause();
    stream.read(0); // start reading without consuming
    await new Promise((r) => setTimeout(r, 200));
    expect(dev.session.inFlight + dev.session.queued).toBeLessThanOrEqual(dev.queueDepth);
    expect(stream.readableLength).toBeLessThanOrEqual(512 * 2);
    stream.destroy();
  });

  it('a write stream rejects data that does not end on a block boundary', async () => {
    const ws = dev.createWriteStream({ start: 0 });
    await expect(pipeline(Readable.from([Buffer.alloc(700)]), ws)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('flushes, and unmaps or refuses with a typed ScsiError', async () => {
    await dev.flush();
    try {
      await dev.unmap(0, 65536);
    } catch (err) {
      expect(err).toBeInstanceOf(ScsiError);
      expect((err as ScsiError).senseKey).toBe(SenseKey.IllegalRequest);
    }
    // Either way the session still works.
    expect((await dev.read(0, 512)).length).toBe(512);
  });

  it('splits large requests into commands of maxTransferBytes, up to queueDepth at a time', async () => {
    const small = await openLun(tgtd.url(0, 1), { queueDepth: 4, maxTransferBytes: 65536 + 100 });
    try {
      expect(small.maxTransferBytes).toBe(65536); // rounded down to the block size
      const data = randomBytes(MiB);
      await small.write(3 * MiB, data);
      const before = small.session.window.cmdSN;
      const reading = small.read(3 * MiB, MiB);
      expect(small.session.inFlight + small.session.queued).toBe(4); // the queue depth, not all 16 pieces
      expect(sha(await reading)).toBe(sha(data));
      expect((small.session.window.cmdSN - before) >>> 0).toBe(16);
    } finally {
      await small.close();
    }
  });

  it('opens by location object, and refuses I/O once closed', async () => {
    const other = await openLun({ portal: `127.0.0.1:${tgtd.port}`, targetName: IQN, lun: 1 }, { queueDepth: 2 });
    expect(other.size).toBe(LUN_BYTES);
    expect(sha(await other.read(SEED_AT, seeded.length))).toBe(sha(seeded));
    await other.close();
    await other.close(); // idempotent
    expect(other.session.closed).toBe(true);
    await expect(other.read(0, 512)).rejects.toBeInstanceOf(IscsiError);
  });

  it('refuses a URL without a LUN and a missing LUN with typed errors, leaving nothing open', async () => {
    await expect(openLun(`iscsi://127.0.0.1:${tgtd.port}/${IQN}`)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(openLun(tgtd.url(0, 7))).rejects.toBeInstanceOf(ScsiError);
  });
});
