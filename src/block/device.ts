/**
 * A LUN as a block device: {@link openLun} logs in, starts a {@link Session}, reads the capacity (and the transfer
 * limit of the Block Limits VPD page), and returns a {@link BlockDevice} with byte-addressed `read`/`write` (split
 * into commands of at most `maxTransferBytes`, issued concurrently up to the queue depth), `flush`, `unmap`, Node
 * streams and `close`.
 *
 * ```ts
 * const dev = await openLun('iscsi://127.0.0.1/iqn.2024-01.org.example:disk/1');
 * const first = await dev.read(0, dev.blockSize);
 * await dev.close();
 * ```
 *
 * Every range is checked before anything is sent: offsets and lengths are safe integers, multiples of the block
 * size, and inside the device. Offsets and `size` are numbers, so devices up to 2**53 bytes (8 PiB) are supported.
 * @module
 */
import type { Readable, Writable } from 'node:stream';
import { ErrorCode, InvalidArgumentError, IscsiError } from '../errors.js';
import { buildInquiryCdb } from '../scsi/cdb/inquiry.js';
import { buildRead16Cdb, buildWrite16Cdb } from '../scsi/cdb/read-write.js';
import { buildSynchronizeCache16Cdb } from '../scsi/cdb/synchronize-cache.js';
import { buildUnmapCdb, type UnmapRange } from '../scsi/cdb/unmap.js';
import { ScsiError } from '../scsi/errors.js';
import { parseVpdPage, type VpdPageData } from '../scsi/parse/vpd.js';
import { VpdPage } from '../scsi/parse/vpd-header.js';
import type { Portal } from '../session/address.js';
import type { Logger } from '../session/events.js';
import { type LoginOptions, login } from '../session/initiator.js';
import type { LoginChap } from '../session/login.js';
import { Session } from '../session/session.js';
import { parseIscsiUrl } from '../session/url.js';
import { DEFAULT_UNIT_ATTENTION_RETRIES, readCapacity, runScsi } from './command.js';
import { blockReadStream, blockWriteStream, type ReadStreamOptions, type WriteStreamOptions } from './streams.js';

/** Where a LUN is, when not given as an iscsi:// URL. */
export interface LunLocation {
  readonly portal: string | Portal;
  readonly targetName: string;
  readonly lun: number;
  readonly chap?: LoginChap;
}

/** Options of {@link openLun}. */
export interface OpenLunOptions {
  readonly logger?: Logger;
  /** Commands in flight at most, for the session and for each read, write or stream (default 32). */
  readonly queueDepth?: number;
  /** Aborts the login and every command of the device. */
  readonly signal?: AbortSignal;
  /** Login options (initiator name, offer, timeouts, trace, CHAP…); portal, target and LUN come from the URL. */
  readonly loginOptions?: Partial<Omit<LoginOptions, 'portal' | 'targetName' | 'sessionType'>>;
  /** Per-command timeout in ms (default 30 000; 0 = none). */
  readonly commandTimeoutMs?: number;
  /**
   * Largest transfer of one READ(16)/WRITE(16), rounded down to the block size (default and cap 1 MiB, lowered to
   * the device's MAXIMUM TRANSFER LENGTH from VPD page 0xB0 when it sets one). A command may be larger than
   * MaxBurstLength (the session runs several bursts), so this only bounds the memory one command pins and keeps
   * several commands in flight for one large request.
   */
  readonly maxTransferBytes?: number;
  /** Times the first command is retried after UNIT ATTENTION (default 5). */
  readonly unitAttentionRetries?: number;
}

/** A LUN opened by {@link openLun}. */
export interface BlockDevice {
  /** Capacity in bytes. */
  readonly size: number;
  /** Logical block length in bytes. */
  readonly blockSize: number;
  /** Number of logical blocks. */
  readonly blocks: number;
  /** Largest bytes per READ/WRITE command (a multiple of `blockSize`). */
  readonly maxTransferBytes: number;
  readonly queueDepth: number;
  /** The session underneath (for its parameters and counters). */
  readonly session: Session;
  /** The LUN number. */
  readonly lun: number;
  /**
   * Reads `length` bytes at `offset` (both multiples of `blockSize`, inside the device).
   * @throws {InvalidArgumentError} before sending anything for a misaligned or out-of-range request;
   * {@link ScsiError} for a failing SCSI status.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Writes `data` at `offset`; resolves when the target acknowledged every command. Same checks as `read`. */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** SYNCHRONIZE CACHE(16) of the whole LU. */
  flush(): Promise<void>;
  /** UNMAP (SBC-3 §5.28) of the range; the target may refuse it (ScsiError, ILLEGAL REQUEST) if not thin-provisioned. */
  unmap(offset: number, length: number): Promise<void>;
  /** Reads `[start, end]` (`end` inclusive, like `fs.createReadStream`), at most `queueDepth` chunks ahead. */
  createReadStream(options?: ReadStreamOptions): Readable;
  /** Writes from `start`; `finish` fires only once every byte is acknowledged by the target. */
  createWriteStream(options?: WriteStreamOptions): Writable;
  /** Logs out (or closes the connection if logout fails). Idempotent. */
  close(): Promise<void>;
}

/** Largest transfer per command, and the default. */
export const MAX_TRANSFER_BYTES = 1024 * 1024;
const DEFAULT_QUEUE_DEPTH = 32;
/** Blocks per UNMAP block descriptor: its NUMBER OF LOGICAL BLOCKS field has 32 bits (SBC-3 §5.28.2). */
const UNMAP_BLOCKS_PER_DESCRIPTOR = 0xffffffff;

/**
 * Opens a LUN: logs in, starts a session, and reads the capacity with READ CAPACITY(16), retrying a UNIT
 * ATTENTION (sense key 6) up to `unitAttentionRetries` times. The session is closed again if anything fails.
 * @throws {InvalidArgumentError} for a URL without target or LUN, or a URL user without a secret.
 */
export async function openLun(where: string | LunLocation, options: OpenLunOptions = {}): Promise<BlockDevice> {
  const location = typeof where === 'string' ? locationFromUrl(where) : where;
  const queueDepth = options.queueDepth ?? DEFAULT_QUEUE_DEPTH;
  if (!Number.isInteger(queueDepth) || queueDepth < 1) {
    throw new InvalidArgumentError(`queue depth ${queueDepth} out of range`);
  }
  const lun = location.lun;
  if (!Number.isInteger(lun) || lun < 0) throw new InvalidArgumentError(`LUN ${lun} out of range`);
  const chap = location.chap ?? options.loginOptions?.chap;
  const loggedIn = await login({
    ...options.loginOptions,
    portal: location.portal,
    targetName: location.targetName,
    sessionType: 'Normal',
    ...(chap ? { chap } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const session = new Session(loggedIn, {
    queueDepth,
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
  });
  try {
    const capacity = await readCapacity(
      session,
      lun,
      options.unitAttentionRetries ?? DEFAULT_UNIT_ATTENTION_RETRIES,
      options.signal ? { signal: options.signal } : {},
    );
    if (capacity.bytes > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new IscsiError(ErrorCode.InvalidArgument, `LUN of ${capacity.bytes} bytes is beyond 2**53 bytes`);
    }
    const blockSize = capacity.blockLength;
    if (blockSize < 1) throw new IscsiError(ErrorCode.ScsiData, 'READ CAPACITY(16) gave a block length of 0');
    const deviceLimit = await maximumTransferBytes(session, lun, blockSize, options.signal);
    const wanted = Math.min(options.maxTransferBytes ?? MAX_TRANSFER_BYTES, MAX_TRANSFER_BYTES, deviceLimit);
    const maxTransferBytes = Math.max(blockSize, wanted - (wanted % blockSize));
    return new Device(session, lun, Number(capacity.blocks), blockSize, maxTransferBytes, queueDepth, options.signal);
  } catch (err) {
    session.close();
    throw err;
  }
}

/**
 * The device's MAXIMUM TRANSFER LENGTH in bytes from the Block Limits VPD page (SBC-3 §6.5.3), or Infinity when it
 * sets none or has no such page (then nothing but our own cap applies; the page is optional).
 */
async function maximumTransferBytes(
  session: Session,
  lun: number,
  blockSize: number,
  signal: AbortSignal | undefined,
): Promise<number> {
  let page: VpdPageData;
  try {
    const cdb = buildInquiryCdb({ evpd: true, pageCode: VpdPage.BlockLimits, allocationLength: 255 });
    page = parseVpdPage(await runScsi(session, lun, cdb, { allowShortRead: true, ...(signal ? { signal } : {}) }));
  } catch (err) {
    if (err instanceof ScsiError || (err instanceof IscsiError && err.code === ErrorCode.ScsiData)) {
      return Number.POSITIVE_INFINITY;
    }
    throw err;
  }
  const blocks = page.kind === 'block-limits' ? page.maximumTransferLength : undefined;
  return blocks ? blocks * blockSize : Number.POSITIVE_INFINITY;
}

/** The location named by an iscsi:// URL, which must name a target and a LUN. */
function locationFromUrl(url: string): LunLocation {
  const u = parseIscsiUrl(url);
  if (u.targetName === undefined || u.lun === undefined) {
    throw new InvalidArgumentError('the iscsi:// URL must name a target and a LUN: iscsi://host[:port]/<iqn>/<lun>');
  }
  let chap: LoginChap | undefined;
  if (u.credentials) {
    if (!u.credentials.secret) throw new InvalidArgumentError('the URL names a CHAP user but no secret');
    const target = u.targetCredentials;
    if (target && !target.secret) throw new InvalidArgumentError('the URL names a target CHAP user but no secret');
    chap = {
      credentials: { user: u.credentials.user, secret: u.credentials.secret },
      ...(target?.secret ? { targetCredentials: { user: target.user, secret: target.secret } } : {}),
    };
  }
  return { portal: u.portal, targetName: u.targetName, lun: u.lun, ...(chap ? { chap } : {}) };
}

class Device implements BlockDevice {
  readonly size: number;
  #closed: Promise<void> | undefined;

  constructor(
    readonly session: Session,
    readonly lun: number,
    readonly blocks: number,
    readonly blockSize: number,
    readonly maxTransferBytes: number,
    readonly queueDepth: number,
    readonly signal: AbortSignal | undefined,
  ) {
    this.size = blocks * blockSize;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.#check(offset, length);
    const out = new Uint8Array(length);
    await this.#split(offset, length, (lba, blocks, at) => {
      const bytes = blocks * this.blockSize;
      return runScsi(this.session, this.lun, buildRead16Cdb({ lba, blocks, blockSize: this.blockSize }), {
        into: out.subarray(at, at + bytes),
        ...this.#signal(),
      });
    });
    return out;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (!(data instanceof Uint8Array)) throw new InvalidArgumentError('write data must be a Uint8Array');
    this.#check(offset, data.length);
    await this.#split(offset, data.length, (lba, blocks, at) => {
      const bytes = blocks * this.blockSize;
      return runScsi(this.session, this.lun, buildWrite16Cdb({ lba, blocks, blockSize: this.blockSize }), {
        write: data.subarray(at, at + bytes),
        ...this.#signal(),
      });
    });
  }

  async flush(): Promise<void> {
    // LBA 0 and 0 blocks: the whole medium (SBC-3 §5.24).
    await runScsi(this.session, this.lun, buildSynchronizeCache16Cdb(), this.#signal());
  }

  async unmap(offset: number, length: number): Promise<void> {
    this.#check(offset, length);
    if (length === 0) return;
    const ranges: UnmapRange[] = [];
    let lba = offset / this.blockSize;
    let left = length / this.blockSize;
    while (left > 0) {
      const blocks = Math.min(left, UNMAP_BLOCKS_PER_DESCRIPTOR);
      ranges.push({ lba, blocks });
      lba += blocks;
      left -= blocks;
    }
    await runScsi(this.session, this.lun, buildUnmapCdb({ ranges }), this.#signal());
  }

  createReadStream(options: ReadStreamOptions = {}): Readable {
    return blockReadStream(this, options);
  }

  createWriteStream(options: WriteStreamOptions = {}): Writable {
    return blockWriteStream(this, options);
  }

  close(): Promise<void> {
    this.#closed ??= this.session.logout().catch(() => this.session.close());
    return this.#closed;
  }

  #signal(): { signal?: AbortSignal } {
    return this.signal ? { signal: this.signal } : {};
  }

  /** Throws InvalidArgumentError unless `[offset, offset + length)` is block-aligned and inside the device. */
  #check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidArgumentError(`offset ${offset} is invalid`);
    if (!Number.isSafeInteger(length) || length < 0) throw new InvalidArgumentError(`length ${length} is invalid`);
    if (offset % this.blockSize !== 0 || length % this.blockSize !== 0) {
      throw new InvalidArgumentError(
        `offset ${offset} and length ${length} must be multiples of the block size ${this.blockSize}`,
      );
    }
    if (offset + length > this.size) {
      throw new InvalidArgumentError(`range ${offset}+${length} is beyond the end of the device (${this.size} bytes)`);
    }
  }

  /**
   * Runs `command` for each piece of at most `maxTransferBytes`, at most `queueDepth` at a time. After the first
   * failure no new piece starts; the pieces in flight are waited for, then the first error is thrown.
   */
  async #split(
    offset: number,
    length: number,
    command: (lba: number, blocks: number, at: number) => Promise<unknown>,
  ): Promise<void> {
    if (length === 0) return;
    const pieces = Math.ceil(length / this.maxTransferBytes);
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (next < pieces && !failure) {
        const at = next++ * this.maxTransferBytes;
        const bytes = Math.min(this.maxTransferBytes, length - at);
        try {
          await command((offset + at) / this.blockSize, bytes / this.blockSize, at);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(pieces, this.queueDepth) }, worker));
    if (failure) throw failure.error;
  }
}
