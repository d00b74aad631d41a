/**
 * A sparse in-memory block store: fixed-size chunks allocated on first write, so an unwritten or discarded range
 * costs nothing and reads as zeros. It is thin provisioned (discard frees chunks), which makes it the backend for
 * tests, demos and scratch LUNs.
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';
import { type BlockBackend, checkBackendRange } from './types.js';

/**
 * Default chunk size: 1 MiB. Reads inside one chunk are views (no copy), so the chunk is as large as common
 * transfers; the price is that the first write to a chunk allocates all of it.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Capacity in bytes; a non-negative safe integer (the device server makes it a whole number of blocks). */
  readonly size: number;
  /** Refuse writes and discards; default false. */
  readonly readOnly?: boolean;
  /** Allocation unit in bytes, a power of two; default 64 KiB. */
  readonly chunkSize?: number;
}

/**
 * A {@link BlockBackend} held in memory. Chunks are allocated on the first write of non-zero data and never hold
 * more than `size` bytes in total (the last chunk is cut to the capacity). Writing zeros to an unallocated chunk
 * leaves it unallocated, so zero-filling writes (mkfs, WRITE SAME of zeros) stay sparse; a discarded range reads
 * as zeros, which is what LBPRZ=1 promises.
 */
export class MemoryBackend implements BlockBackend {
  readonly size: number;
  readonly readOnly: boolean;
  readonly thin = true;
  /** Allocation unit in bytes. */
  readonly chunkSize: number;
  readonly #chunks = new Map<number, Uint8Array>();
  /** Read-only zeros for reads of unallocated chunks (never handed out for writing). */
  #zeros: Uint8Array | undefined;
  #closed = false;

  constructor(options: MemoryBackendOptions) {
    const { size } = options;
    if (!Number.isSafeInteger(size) || size < 0) throw new InvalidArgumentError(`size ${size} is not a byte count`);
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 2 ** 30 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw new InvalidArgumentError(`chunkSize ${chunkSize} is not a power of two up to 2**30`);
    }
    this.size = size;
    this.readOnly = options.readOnly ?? false;
    this.chunkSize = chunkSize;
  }

  /** Bytes currently allocated (at most `size`). */
  get allocatedBytes(): number {
    let n = 0;
    for (const c of this.#chunks.values()) n += c.length;
    return n;
  }

  /**
   * A range inside one chunk comes back as a view of the stored bytes (or of a shared zero chunk), without a
   * copy; a range across chunks is copied into a new buffer. See {@link BlockBackend.read} on views.
   */
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#check(offset, length, 'read');
    const index = Math.floor(offset / this.chunkSize);
    const start = offset - index * this.chunkSize;
    if (start + length <= this.chunkSize) {
      const chunk = this.#chunks.get(index);
      if (chunk) return chunk.subarray(start, start + length);
      this.#zeros ??= new Uint8Array(this.chunkSize);
      return this.#zeros.subarray(0, length);
    }
    const out = new Uint8Array(length);
    this.#forEachChunk(offset, length, (index, start, end, at) => {
      const chunk = this.#chunks.get(index);
      if (chunk) out.set(chunk.subarray(start, end), at);
    });
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check(offset, data.length, 'write');
    this.#writable('write');
    this.#forEachChunk(offset, data.length, (index, start, end, at) => {
      const piece = data.subarray(at, at + end - start);
      let chunk = this.#chunks.get(index);
      if (!chunk) {
        if (isZero(piece)) return; // an unallocated chunk already reads as these zeros
        chunk = new Uint8Array(this.#chunkLength(index));
        this.#chunks.set(index, chunk);
      }
      chunk.set(piece, start);
    });
  }

  async flush(): Promise<void> {
    this.#open('flush');
  }

  async discard(offset: number, length: number): Promise<void> {
    this.#check(offset, length, 'discard');
    this.#writable('discard');
    this.#forEachChunk(offset, length, (index, start, end) => {
      const chunk = this.#chunks.get(index);
      if (!chunk) return;
      if (start === 0 && end === chunk.length) {
        this.#chunks.delete(index);
        return;
      }
      chunk.fill(0, start, end);
      if (isZero(chunk)) this.#chunks.delete(index);
    });
  }

  mapped(offset: number, length: number): boolean {
    this.#check(offset, length, 'mapped');
    if (length === 0 || this.#chunks.size === 0) return false;
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + length - 1) / this.chunkSize);
    // Walk whichever is shorter: the chunk indices of the range, or the allocated chunks.
    if (last - first + 1 <= this.#chunks.size) {
      for (let i = first; i <= last; i++) if (this.#chunks.has(i)) return true;
      return false;
    }
    for (const i of this.#chunks.keys()) if (i >= first && i <= last) return true;
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#chunks.clear();
  }

  // Length of chunk `index`: the last one stops at the capacity, so the store never exceeds `size` bytes.
  #chunkLength(index: number): number {
    return Math.min(this.chunkSize, this.size - index * this.chunkSize);
  }

  // Calls fn(chunkIndex, startInChunk, endInChunk, offsetInRange) for each chunk the range touches.
  #forEachChunk(offset: number, length: number, fn: (index: number, start: number, end: number, at: number) => void) {
    let at = 0;
    while (at < length) {
      const pos = offset + at;
      const index = Math.floor(pos / this.chunkSize);
      const start = pos - index * this.chunkSize;
      const end = Math.min(this.chunkSize, start + (length - at));
      fn(index, start, end, at);
      at += end - start;
    }
  }

  #check(offset: number, length: number, op: string): void {
    this.#open(op);
    checkBackendRange(this.size, offset, length, op);
  }

  #writable(op: string): void {
    if (this.readOnly) throw new InvalidArgumentError(`${op} on a read-only memory backend`);
  }

  #open(op: string): void {
    if (this.#closed) throw new InvalidArgumentError(`${op} on a closed memory backend`);
  }
}

/** True when every byte of `b` is zero (word-wise where the alignment allows). */
function isZero(b: Uint8Array): boolean {
  let i = 0;
  const n = b.length;
  if (b.byteOffset % 4 === 0 && n >= 16) {
    const words = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    for (const w of words) if (w !== 0) return false;
    i = words.length << 2;
  }
  for (; i < n; i++) if (b[i] !== 0) return false;
  return true;
}
