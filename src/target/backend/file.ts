/**
 * A block store in a regular file or block device, through positional reads and writes on one file handle.
 * Fully provisioned: discard is a no-op and every range reports mapped. Writes land in the OS page cache;
 * {@link FileBackend.flush} (SYNCHRONIZE CACHE, FUA, WCE=0) makes them durable with fdatasync.
 * @module
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../../errors.js';
import { type BlockBackend, checkBackendRange } from './types.js';

/** Capacities are whole 512-byte sectors (the smallest logical block a LUN may have). */
const SECTOR = 512;

/** Options of {@link FileBackend.open}. */
export interface FileBackendOptions {
  /** Open read-only (the LUN is then write protected); default false. */
  readonly readOnly?: boolean;
  /**
   * Capacity in bytes, a positive multiple of 512. Default: the file's size rounded down to a multiple of 512.
   * A file shorter than this is an error unless `create` is set, which extends it (sparse where the file system
   * allows). A longer file exposes only its first `size` bytes.
   */
  readonly size?: number;
  /** Create the file when it does not exist, and extend it to `size`; needs `size` and not `readOnly`. */
  readonly create?: boolean;
}

/**
 * A failed operation on a backing file: opening, sizing, reading, writing or syncing it. `operation` names the
 * step and `errno` the system error code (ENOENT, EIO, ...); the message names the path and step, never data.
 * Its code is `ERR_ISCSI_STORAGE`; the device server turns a failure during I/O into MEDIUM ERROR sense, so callers
 * of the API mostly meet it from `open`.
 */
export class FileBackendError extends IscsiError {
  override name = 'FileBackendError';

  constructor(
    message: string,
    /** The step that failed: `open`, `stat`, `truncate`, `read`, `write`, `flush`, `close`. */
    readonly operation: string,
    /** The Node.js system error code, when the OS reported one. */
    readonly errno: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.Storage, message, options);
  }
}

function wrap(operation: string, path: string, err: unknown): FileBackendError {
  const errno =
    typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : undefined;
  return new FileBackendError(`${operation} of ${path} failed${errno ? ` (${errno})` : ''}`, operation, errno, {
    cause: err,
  });
}

/** A {@link BlockBackend} on a file (or block device) opened with {@link FileBackend.open}. */
export class FileBackend implements BlockBackend {
  readonly thin = false;
  readonly #handle: FileHandle;
  readonly #path: string;

  private constructor(
    handle: FileHandle,
    path: string,
    readonly size: number,
    readonly readOnly: boolean,
  ) {
    this.#handle = handle;
    this.#path = path;
  }

  /** Opens (or with `create`, creates) `path` as a LUN's storage. */
  static async open(path: string, options: FileBackendOptions = {}): Promise<FileBackend> {
    const readOnly = options.readOnly ?? false;
    const { size, create } = options;
    if (size !== undefined && (!Number.isSafeInteger(size) || size <= 0 || size % SECTOR !== 0)) {
      throw new InvalidArgumentError(`size ${size} is not a positive multiple of ${SECTOR}`);
    }
    if (create && (readOnly || size === undefined)) {
      throw new InvalidArgumentError('create needs a size and a writable backend');
    }
    const flags = readOnly ? constants.O_RDONLY : constants.O_RDWR | (create ? constants.O_CREAT : 0);
    let handle: FileHandle;
    try {
      handle = await open(path, flags, 0o600);
    } catch (err) {
      throw wrap('open', path, err);
    }
    try {
      const current = await fileSize(handle, path);
      let capacity: number;
      if (size === undefined) {
        capacity = current - (current % SECTOR);
        if (capacity === 0) throw new FileBackendError(`${path} is smaller than ${SECTOR} bytes`, 'stat', undefined);
      } else {
        if (current < size) {
          if (!create) {
            throw new FileBackendError(`${path} holds ${current} bytes, ${size} requested`, 'stat', undefined);
          }
          try {
            await handle.truncate(size);
          } catch (err) {
            throw wrap('truncate', path, err);
          }
        }
        capacity = size;
      }
      return new FileBackend(handle, path, capacity, readOnly);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#check(offset, length, 'read');
    const out = new Uint8Array(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.#handle.read(out, done, length - done, offset + done);
        // A file shorter than the capacity (truncated behind our back) reads as zeros past its end.
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw wrap('read', this.#path, err);
    }
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check(offset, data.length, 'write');
    if (this.readOnly) throw new InvalidArgumentError(`write to read-only ${this.#path}`);
    let done = 0;
    try {
      while (done < data.length) {
        const { bytesWritten } = await this.#handle.write(data, done, data.length - done, offset + done);
        if (bytesWritten === 0)
          throw new FileBackendError(`write to ${this.#path} made no progress`, 'write', undefined);
        done += bytesWritten;
      }
    } catch (err) {
      if (err instanceof FileBackendError) throw err;
      throw wrap('write', this.#path, err);
    }
  }

  async flush(): Promise<void> {
    if (this.readOnly) return; // nothing of ours to make durable
    try {
      await this.#handle.datasync();
    } catch (err) {
      throw wrap('flush', this.#path, err);
    }
  }

  /** A no-op: the file stays fully allocated (the LUN reports LBPME=0). */
  async discard(offset: number, length: number): Promise<void> {
    this.#check(offset, length, 'discard');
  }

  mapped(offset: number, length: number): boolean {
    this.#check(offset, length, 'mapped');
    return true;
  }

  async close(): Promise<void> {
    try {
      await this.#handle.close();
    } catch (err) {
      throw wrap('close', this.#path, err);
    }
  }

  #check(offset: number, length: number, op: string): void {
    checkBackendRange(this.size, offset, length, op);
  }
}

// The size of a regular file, or of a block device (whose stat size is 0: seek to its end instead).
async function fileSize(handle: FileHandle, path: string): Promise<number> {
  let stat: Awaited<ReturnType<FileHandle['stat']>>;
  try {
    stat = await handle.stat();
  } catch (err) {
    throw wrap('stat', path, err);
  }
  if (stat.isFile()) return stat.size;
  if (stat.isBlockDevice()) return blockDeviceSize(handle, path);
  throw new FileBackendError(`${path} is not a regular file or block device`, 'stat', undefined);
}

// Node has no lseek; binary-search the last readable byte (bounded: at most 64 probes of 1 byte each).
async function blockDeviceSize(handle: FileHandle, path: string): Promise<number> {
  const probe = new Uint8Array(1);
  let lo = 0; // known readable length
  let hi = 2 ** 53; // known unreadable length
  for (let i = 0; i < 64 && hi - lo > 1; i++) {
    const mid = Math.floor((lo + hi) / 2);
    // Some devices answer a read past their end with EINVAL rather than 0 bytes: both mean "beyond the end".
    const bytesRead = await handle.read(probe, 0, 1, mid - 1).then(
      (r) => r.bytesRead,
      () => 0,
    );
    if (bytesRead === 1) lo = mid;
    else hi = mid;
  }
  if (lo === 0) throw new FileBackendError(`${path} cannot be read`, 'stat', undefined);
  return lo;
}
