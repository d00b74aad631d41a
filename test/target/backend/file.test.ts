import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../../../src/errors.js';
import { FileBackend, FileBackendError } from '../../../src/target/backend/file.js';

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

describe('FileBackend', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iscsi-ts-file-backend-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a file of the given size, writes and reads back, and persists across reopen', async () => {
    const path = join(dir, 'lun.img');
    const b = await FileBackend.open(path, { size: 1 << 20, create: true });
    expect(b).toMatchObject({ size: 1 << 20, readOnly: false, thin: false });
    expect((await stat(path)).size).toBe(1 << 20);
    expect(await b.read(4096, 512)).toEqual(new Uint8Array(512));
    await b.write(1000, bytes(5000));
    await b.flush();
    expect(await b.read(1000, 5000)).toEqual(bytes(5000));
    expect(b.mapped(0, 1)).toBe(true);
    await b.discard(0, 4096); // a no-op on a fully provisioned file
    expect(await b.read(1000, 10)).toEqual(bytes(5000).subarray(0, 10));
    await b.close();

    const again = await FileBackend.open(path);
    expect(again.size).toBe(1 << 20);
    expect(await again.read(1000, 5000)).toEqual(bytes(5000));
    await again.close();
    expect((await readFile(path)).subarray(1000, 6000)).toEqual(Buffer.from(bytes(5000)));
  });

  it('defaults the size to the file size rounded down to 512 bytes', async () => {
    const path = join(dir, 'odd.img');
    await writeFile(path, bytes(1300));
    const b = await FileBackend.open(path, { readOnly: true });
    expect(b.size).toBe(1024);
    expect(b.readOnly).toBe(true);
    expect(await b.read(0, 1024)).toEqual(bytes(1300).subarray(0, 1024));
    await b.flush(); // nothing to sync, and no error
    await expect(b.write(0, bytes(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    await b.close();
  });

  it('exposes only the first size bytes of a longer file, and extends a shorter one with create', async () => {
    const path = join(dir, 'lun.img');
    await writeFile(path, bytes(4096));
    const b = await FileBackend.open(path, { size: 2048 });
    expect(b.size).toBe(2048);
    await expect(b.read(2048, 1)).rejects.toBeInstanceOf(InvalidArgumentError);
    await b.close();
    const grown = await FileBackend.open(path, { size: 8192, create: true });
    expect(await grown.read(0, 4096)).toEqual(bytes(4096));
    expect(await grown.read(4096, 4096)).toEqual(new Uint8Array(4096));
    await grown.close();
  });

  it('reads zeros past the end of a file truncated behind its back', async () => {
    const path = join(dir, 'lun.img');
    const b = await FileBackend.open(path, { size: 4096, create: true });
    await b.write(0, bytes(4096));
    await truncate(path, 1000);
    const got = await b.read(512, 1024);
    expect(got.subarray(0, 488)).toEqual(bytes(4096).subarray(512, 1000));
    expect(got.subarray(488)).toEqual(new Uint8Array(536));
    await b.close();
  });

  it('reports open failures as typed errors without data', async () => {
    const missing = join(dir, 'missing.img');
    const err = await FileBackend.open(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileBackendError);
    expect(err).toBeInstanceOf(IscsiError);
    expect(err).toMatchObject({ operation: 'open', errno: 'ENOENT', code: ErrorCode.Storage });
    expect((err as Error).message).toContain('ENOENT');

    const empty = join(dir, 'empty.img');
    await writeFile(empty, bytes(100));
    await expect(FileBackend.open(empty)).rejects.toMatchObject({ name: 'FileBackendError', operation: 'stat' });
    await expect(FileBackend.open(empty, { size: 4096 })).rejects.toBeInstanceOf(FileBackendError);
    await expect(FileBackend.open(dir)).rejects.toBeInstanceOf(FileBackendError); // a directory
  });

  it('rejects bad options before touching the file system', async () => {
    const path = join(dir, 'x.img');
    await expect(FileBackend.open(path, { size: 1000, create: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(FileBackend.open(path, { size: 0, create: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(FileBackend.open(path, { create: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(FileBackend.open(path, { size: 4096, create: true, readOnly: true })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checks ranges and reports I/O after close as a FileBackendError', async () => {
    const b = await FileBackend.open(join(dir, 'lun.img'), { size: 4096, create: true });
    await expect(b.write(4000, bytes(200))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => b.mapped(0, 5000)).toThrow(InvalidArgumentError);
    await b.close();
    await expect(b.read(0, 512)).rejects.toMatchObject({ name: 'FileBackendError', operation: 'read' });
  });
});
