/**
 * The conformance probe: one raw TCP connection to the portal that can send any PDU, well-formed or not, and
 * reads the target's PDUs one at a time with a timeout. Received PDUs are framed by the codec's {@link Framer}
 * and checked strictly: a PDU our strict decoder refuses comes out as an `invalid` event, itself evidence.
 * Every PDU both ways is recorded in the case's pcap trace and in {@link Probe.log}.
 *
 * It is a thin wrapper rather than a {@link Connection} because conformance cases need what an initiator must
 * never do: hand-made bytes, reserved bits, wrong digests, and seeing a close as an event rather than an error.
 * @module
 */
import { connect, type Socket } from 'node:net';
import { ConnectionError, type IscsiError, TimeoutError } from '../errors.js';
import { crc32c, writeDigest } from '../pdu/crc32c.js';
import { type EncodeOptions, encodePdu } from '../pdu/encode.js';
import { Framer } from '../pdu/framer.js';
import type { PcapTrace, PcapWriter } from '../pdu/pcap-write.js';
import type { Pdu } from '../pdu/types.js';
import { connectOptions, formatPortal, type Portal } from '../session/address.js';
import type { NegotiatedParameters } from '../session/params.js';
import { describePdu, hex48 } from './describe.js';
import type { Evidence } from './types.js';

/** One event read from the target. */
export type Received =
  | { readonly kind: 'pdu'; readonly pdu: Pdu; readonly wire: Uint8Array }
  /** Bytes our strict decoder refused; the stream may be unusable afterwards. */
  | { readonly kind: 'invalid'; readonly error: IscsiError; readonly wire?: Uint8Array }
  /** The target closed (or reset) the connection. */
  | { readonly kind: 'closed' }
  /** Nothing within the time asked. */
  | { readonly kind: 'timeout' };

/** Options of {@link Probe.open}. */
export interface ProbeOptions {
  readonly portal: Portal;
  readonly connectTimeoutMs: number;
  readonly trace?: PcapTrace;
}

/** A raw connection to a target. See the module documentation. */
export class Probe {
  /** Every PDU sent and received, in order, as evidence lines. */
  readonly log: Evidence[] = [];
  /** Digests applied to what {@link Probe.send} encodes. */
  encodeOptions: EncodeOptions = {};
  readonly #socket: Socket;
  readonly #trace: PcapWriter | undefined;
  readonly #framer = new Framer({ sender: 'target' });
  readonly #events: Received[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #framingFailed = false;

  private constructor(socket: Socket, trace: PcapTrace | undefined, portal: Portal) {
    this.#socket = socket;
    this.#trace = trace?.connection(
      { address: socket.localAddress ?? '127.0.0.1', port: socket.localPort ?? 1 },
      { address: socket.remoteAddress ?? portal.host, port: socket.remotePort ?? portal.port },
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.#onClose());
    socket.on('close', () => this.#onClose());
  }

  /** Connects to the portal. */
  static open(options: ProbeOptions): Promise<Probe> {
    return new Promise((resolve, reject) => {
      const socket = connect(connectOptions(options.portal));
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new TimeoutError(`connecting to ${formatPortal(options.portal)} took over ${options.connectTimeoutMs} ms`),
        );
      }, options.connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Probe(socket, options.trace, options.portal));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new ConnectionError(`cannot connect to ${formatPortal(options.portal)}: ${err.message}`, { cause: err }),
        );
      });
    });
  }

  /** True once the target closed the connection (or we did). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Encodes and sends one PDU (reserved bits through its `deviations`). Returns the bytes sent. */
  send(pdu: Pdu, options: EncodeOptions = this.encodeOptions): Uint8Array[] {
    const parts = encodePdu(pdu, options);
    this.#write(parts, describePdu(pdu));
    return parts;
  }

  /**
   * Sends a PDU whose header digest (`corrupt: 'header'`) or data digest (`'data'`) is wrong: the digest is
   * computed and then flipped, so only that field is bad.
   */
  sendCorrupt(pdu: Pdu, corrupt: 'header' | 'data'): void {
    const parts = encodePdu(pdu, {
      headerDigest: true,
      dataDigest: corrupt === 'data' || this.encodeOptions.dataDigest,
    });
    const header = Uint8Array.from(parts[0]!);
    if (corrupt === 'header') writeDigest(header, header.length - 4, crc32c(header.subarray(0, header.length - 4)) ^ 1);
    const rest = parts.slice(1).map((p) => Uint8Array.from(p));
    const tail = rest.at(-1);
    if (corrupt === 'data' && tail && tail.length >= 4) tail[tail.length - 1]! ^= 0xff;
    this.#write([header, ...rest], `${describePdu(pdu)} [bad ${corrupt} digest]`);
  }

  /** Sends bytes as they are (unknown opcodes, lengths that disagree). */
  sendRaw(bytes: Uint8Array, note: string): void {
    this.#write([bytes], note);
  }

  /** After a login: framing and encoding follow the negotiated digests and our declared segment limit. */
  enterFullFeature(params: NegotiatedParameters): void {
    const headerDigest = params.headerDigest === 'CRC32C';
    const dataDigest = params.dataDigest === 'CRC32C';
    this.#framer.configure({ headerDigest, dataDigest, maxDataSegmentLength: params.maxRecvDataSegmentLength });
    this.encodeOptions = { headerDigest, dataDigest };
  }

  /** Sets the largest data segment accepted from the target (our declared MaxRecvDataSegmentLength). */
  limitReceive(maxDataSegmentLength: number): void {
    this.#framer.configure({ maxDataSegmentLength });
  }

  /** The next event from the target, waiting at most `timeoutMs`. */
  async next(timeoutMs: number): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const event = this.#events.shift();
      if (event) return event;
      if (this.#closed) return { kind: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#wake = done;
      });
      this.#wake = undefined;
    }
  }

  /** Waits until the target closes the connection; false if it is still open after `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const e = await this.next(left);
      if (e.kind === 'timeout') return false;
    }
    return true;
  }

  /** Closes the connection and the trace. */
  close(): void {
    this.#socket.destroy();
    this.#onClose();
  }

  #write(parts: readonly Uint8Array[], summary: string): void {
    const first = parts[0];
    this.log.push({ direction: 'initiator', summary, ...(first ? { bhs: hex48(first) } : {}) });
    if (this.#closed) return;
    this.#trace?.record('initiator', parts);
    this.#socket.cork();
    for (const p of parts) this.#socket.write(p);
    this.#socket.uncork();
  }

  #push(event: Received): void {
    this.#events.push(event);
    this.#wake?.();
  }

  #onData(chunk: Buffer): void {
    if (this.#framingFailed) return;
    this.#framer.push(chunk);
    try {
      for (let f = this.#framer.nextLenient(); f; f = this.#framer.nextLenient()) {
        this.#trace?.record('target', [f.wire]);
        const bhs = hex48(f.wire);
        const violation = f.violations[0];
        if (violation || !f.pdu) {
          const error = violation!;
          this.log.push({ direction: 'target', summary: `refused by the strict decoder: ${error.message}`, bhs });
          this.#push({ kind: 'invalid', error, wire: f.wire });
        } else {
          this.log.push({ direction: 'target', summary: describePdu(f.pdu), bhs });
          this.#push({ kind: 'pdu', pdu: f.pdu, wire: f.wire });
        }
      }
    } catch (err) {
      // A framing error (length over our limit, bad header digest): the stream cannot be followed any more.
      this.#framingFailed = true;
      const error = err as IscsiError;
      this.log.push({ direction: 'target', summary: `refused by the strict decoder: ${error.message}` });
      this.#push({ kind: 'invalid', error });
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.log.push({ direction: 'target', summary: 'connection closed' });
    try {
      this.#trace?.close();
    } catch {
      // already closed
    }
    this.#wake?.();
  }
}
