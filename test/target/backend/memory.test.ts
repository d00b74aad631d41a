import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { DEFAULT_CHUNK_SIZE, MemoryBackend } from '../../../src/target/backend/memory.js';

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff || 1);

describe('MemoryBackend', () => {
  it('starts empty, thin, and reads zeros', async () => {
    const m = new MemoryBackend({ size: 1 << 20 });
    expect(m).toMatchObject({ size: 1 << 20, readOnly: false, thin: true, chunkSize: DEFAULT_CHUNK_SIZE });
    expect(await m.read(1000, 3000)).toEqual(new Uint8Array(3000));
    expect(m.mapped(0, 1 << 20)).toBe(false);
    expect(m.allocatedBytes).toBe(0);
  });

  it('allocates the chunks a write touches and reads the data back across chunk boundaries', async () => {
    const m = new MemoryBackend({ size: 8192, chunkSize: 1024 });
    const data = bytes(1500);
    await m.write(900, data);
    expect(m.allocatedBytes).toBe(3072); // bytes 900..2399: chunks 0, 1 and 2
    expect(await m.read(900, 1500)).toEqual(data);
    expect(m.mapped(0, 1)).toBe(true);
    expect(m.mapped(3072, 1024)).toBe(false);
    expect(m.mapped(3071, 2)).toBe(true);
  });

  it('reads inside one chunk as a view of the stored bytes, across chunks as a copy', async () => {
    const m = new MemoryBackend({ size: 4096, chunkSize: 512 });
    await m.write(0, bytes(1024));
    const inside = await m.read(0, 512);
    const across = await m.read(256, 512);
    await m.write(0, new Uint8Array(1024).fill(0xee));
    // The view follows later writes (callers must not keep it past the command); the copy does not.
    expect(inside.every((b) => b === 0xee)).toBe(true);
    expect(across).toEqual(bytes(1024).subarray(256, 768));
    // An unallocated chunk reads as shared zeros.
    expect(await m.read(2048, 512)).toEqual(new Uint8Array(512));
  });

  it('leaves chunks unallocated when zeros are written to them', async () => {
    const m = new MemoryBackend({ size: 4096, chunkSize: 1024 });
    await m.write(0, new Uint8Array(4096));
    expect(m.allocatedBytes).toBe(0);
    await m.write(1024, Uint8Array.of(5));
    await m.write(1024, new Uint8Array(1024)); // an allocated chunk is overwritten, not dropped
    expect(await m.read(1024, 1024)).toEqual(new Uint8Array(1024));
  });

  it('discard frees whole chunks and zero-fills partial ones', async () => {
    const m = new MemoryBackend({ size: 4096, chunkSize: 1024 });
    await m.write(0, bytes(4096));
    await m.discard(512, 2048); // half of chunk 0, chunk 1, half of chunk 2
    expect(m.allocatedBytes).toBe(3072);
    expect(m.mapped(1024, 1024)).toBe(false);
    const after = await m.read(0, 4096);
    const want = bytes(4096);
    want.fill(0, 512, 2560);
    expect(after).toEqual(want);
    await m.discard(0, 512); // the rest of chunk 0 is now zero: the chunk goes too
    expect(m.mapped(0, 1024)).toBe(false);
  });

  it('never holds more than its size, even when the size is not a whole number of chunks', async () => {
    const m = new MemoryBackend({ size: 1000, chunkSize: 512 });
    await m.write(0, bytes(1000));
    expect(m.allocatedBytes).toBe(1000);
    expect(await m.read(990, 10)).toEqual(bytes(1000).subarray(990));
  });

  it('rejects ranges outside the store and bad options', async () => {
    const m = new MemoryBackend({ size: 4096 });
    await expect(m.read(4000, 100)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(m.write(-1, bytes(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(m.discard(0.5, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => m.mapped(0, 4097)).toThrow(InvalidArgumentError);
    expect(() => new MemoryBackend({ size: -1 })).toThrow(InvalidArgumentError);
    expect(() => new MemoryBackend({ size: 4096, chunkSize: 3000 })).toThrow(InvalidArgumentError);
    expect(await m.read(4096, 0)).toEqual(new Uint8Array(0));
  });

  it('refuses writes and discards when read-only, and everything once closed', async () => {
    const ro = new MemoryBackend({ size: 4096, readOnly: true });
    await expect(ro.write(0, bytes(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(ro.discard(0, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await ro.read(0, 4)).toEqual(new Uint8Array(4));
    await ro.close();
    await expect(ro.read(0, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('holds a 2 TiB capacity sparsely', async () => {
    const m = new MemoryBackend({ size: 2 ** 41 });
    await m.write(2 ** 41 - 512, bytes(512));
    expect(await m.read(2 ** 41 - 512, 512)).toEqual(bytes(512));
    expect(m.allocatedBytes).toBe(DEFAULT_CHUNK_SIZE);
    expect(m.mapped(0, 2 ** 41 - DEFAULT_CHUNK_SIZE)).toBe(false);
    expect(m.mapped(0, 2 ** 41)).toBe(true);
  });

  it('matches a flat Uint8Array model under random writes, discards and reads', async () => {
    const size = 4096;
    const range = fc
      .tuple(fc.nat({ max: size }), fc.nat({ max: size }))
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b) - Math.min(a, b)] as const);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('write' as const), range, fill: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('discard' as const), range }),
      fc.record({ kind: fc.constant('read' as const), range }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(1, 16, 256, 1024), fc.array(op, { maxLength: 40 }), async (chunkSize, ops) => {
        const m = new MemoryBackend({ size, chunkSize });
        const model = new Uint8Array(size);
        for (const o of ops) {
          const [offset, length] = o.range;
          if (o.kind === 'write') {
            const data = bytes(length, o.fill);
            await m.write(offset, data);
            model.set(data, offset);
          } else if (o.kind === 'discard') {
            await m.discard(offset, length);
            model.fill(0, offset, offset + length);
          } else {
            expect(await m.read(offset, length)).toEqual(model.subarray(offset, offset + length));
            // mapped() never claims a range holding data is unmapped.
            if (model.subarray(offset, offset + length).some((x) => x !== 0))
              expect(m.mapped(offset, length)).toBe(true);
          }
          expect(m.allocatedBytes).toBeLessThanOrEqual(size);
        }
        expect(await m.read(0, size)).toEqual(model);
      }),
      { numRuns: 100 },
    );
  });
});
