/**
 * Node streams over a {@link BlockDevice}: a Readable that keeps at most `queueDepth` chunk reads in flight, and a
 * Writable that stages data into block-aligned chunks and keeps at most `queueDepth` chunk writes in flight.
 * @module
 */
import { Readable, Writable } from 'node:stream';
import { InvalidArgumentError } from '../errors.js';
import type { BlockDevice } from './device.js';

/** Options of `BlockDevice.createReadStream`. */
export interface ReadStreamOptions {
  /** First byte (default 0); a multiple of the block size. */
  readonly start?: number;
  /** Last byte, inclusive like `fs.createReadStream` (default the device's last byte); `end + 1` block-aligned. */
  readonly end?: number;
  /** Bytes per read command and per chunk pushed (default the device's `maxTransferBytes`); block-aligned. */
  readonly chunkSize?: number;
}

/** Options of `BlockDevice.createWriteStream`. */
export interface WriteStreamOptions {
  /** First byte (default 0); a multiple of the block size. */
  readonly start?: number;
  /** Bytes per write command (default the device's `maxTransferBytes`); block-aligned. */
  readonly chunkSize?: number;
}

function chunkSizeOf(device: BlockDevice, chunkSize: number | undefined): number {
  const size = chunkSize ?? device.maxTransferBytes;
  if (!Number.isSafeInteger(size) || size < device.blockSize || size % device.blockSize !== 0) {
    throw new InvalidArgumentError(`chunk size ${size} must be a positive multiple of the block size`);
  }
  return size;
}

function checkStart(device: BlockDevice, start: number): number {
  if (!Number.isSafeInteger(start) || start < 0 || start % device.blockSize !== 0 || start > device.size) {
    throw new InvalidArgumentError(`start ${start} must be a block-aligned offset inside the device`);
  }
  return start;
}

/**
 * A Readable of `[start, end]`. Reads are issued ahead of the consumer, at most `queueDepth` at a time, and chunks
 * are pushed in order; a chunk is asked for only when the stream's buffer wants more (backpressure).
 * @throws {InvalidArgumentError} for a misaligned or out-of-range start, end or chunk size.
 */
export function blockReadStream(device: BlockDevice, options: ReadStreamOptions = {}): Readable {
  const chunk = chunkSizeOf(device, options.chunkSize);
  const start = checkStart(device, options.start ?? 0);
  const stop = options.end === undefined ? device.size : options.end + 1;
  if (!Number.isSafeInteger(stop) || stop < start || stop > device.size || stop % device.blockSize !== 0) {
    throw new InvalidArgumentError(`end ${options.end} must be the last byte of a block inside the device`);
  }
  let next = start;
  const pending: Promise<Uint8Array>[] = [];
  const fill = (): void => {
    while (pending.length < device.queueDepth && next < stop) {
      const length = Math.min(chunk, stop - next);
      const p = device.read(next, length);
      p.catch(() => undefined); // observed when it reaches the head; a destroyed stream never looks at it
      pending.push(p);
      next += length;
    }
  };
  return new Readable({
    // One chunk buffered beyond those in flight: the read-ahead is bounded by the queue depth, not by the buffer.
    highWaterMark: 1,
    read() {
      fill();
      const head = pending.shift();
      if (!head) {
        this.push(null);
        return;
      }
      head.then(
        (data) => {
          if (!this.destroyed) this.push(data);
        },
        (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
      );
    },
    destroy(err, callback) {
      next = stop; // start nothing new; commands in flight finish on their own
      pending.length = 0;
      callback(err);
    },
  });
}

/**
 * A Writable from `start`. Incoming data is copied into chunks of `chunkSize`; each full chunk becomes one write,
 * at most `queueDepth` in flight: a write callback waits while the window is full, and `final` (so `finish` and
 * `end()`'s callback) waits until every write is acknowledged by the target. The first failure destroys the stream
 * with that error. The total written must end on a block boundary and stay inside the device.
 * @throws {InvalidArgumentError} for a misaligned or out-of-range start or chunk size.
 */
export function blockWriteStream(device: BlockDevice, options: WriteStreamOptions = {}): Writable {
  const chunk = chunkSizeOf(device, options.chunkSize);
  let offset = checkStart(device, options.start ?? 0);
  let staging = new Uint8Array(chunk);
  let filled = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;

  /** Sends the staged bytes; resolves once fewer than queueDepth writes are in flight. */
  const send = async (): Promise<void> => {
    const data = staging.subarray(0, filled);
    const at = offset;
    offset += filled;
    staging = new Uint8Array(chunk);
    filled = 0;
    const p: Promise<void> = device.write(at, data).then(
      () => {
        inFlight.delete(p);
      },
      (err: unknown) => {
        inFlight.delete(p);
        failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    inFlight.add(p);
    while (inFlight.size >= device.queueDepth) await Promise.race(inFlight);
  };

  const checkFailure = (): void => {
    if (failure) throw failure;
  };

  return new Writable({
    highWaterMark: chunk,
    write(data: Uint8Array, _encoding, callback) {
      (async () => {
        checkFailure();
        if (offset + filled + data.length > device.size) {
          throw new InvalidArgumentError(`write beyond the end of the device (${device.size} bytes)`);
        }
        let used = 0;
        while (used < data.length) {
          const n = Math.min(chunk - filled, data.length - used);
          staging.set(data.subarray(used, used + n), filled);
          filled += n;
          used += n;
          if (filled === chunk) await send();
          checkFailure();
        }
      })().then(() => callback(), callback);
    },
    final(callback) {
      (async () => {
        checkFailure();
        if (filled % device.blockSize !== 0) {
          throw new InvalidArgumentError(`the data written does not end on a block boundary (${device.blockSize})`);
        }
        if (filled > 0) await send();
        while (inFlight.size > 0) await Promise.race(inFlight);
        checkFailure();
      })().then(() => callback(), callback);
    },
  });
}
