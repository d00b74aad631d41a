/**
 * One TCP connection to a target: socket ↔ framer ↔ encoder. It is the only writer to the socket: what is sent in
 * one turn of the event loop leaves in one write (small parts copied together), hands received PDUs to one reader at a time, records every PDU in an optional pcap trace, and turns socket
 * failures, timeouts and aborts into typed errors. The socket factory is injectable (tests, proxies).
 * @module
 */
import { connect as netConnect, type Socket } from 'node:net';
import { ConnectionError, ErrorCode, IscsiError, TimeoutError } from '../errors.js';
import { type EncodeOptions, encodePdu } from '../pdu/encode.js';
import { Framer } from '../pdu/framer.js';
import type { PcapTrace, PcapWriter } from '../pdu/pcap-write.js';
import type { Pdu } from '../pdu/types.js';
import { connectOptions, formatPortal, type Portal } from './address.js';

/** Creates the socket; defaults to `net.connect`. */
export type SocketFactory = (options: {
  host: string;
  port: number;
  family: 4 | 6 | 0;
  localAddress?: string;
}) => Socket;

/** Options of {@link Connection.open}. */
export interface ConnectionOptions {
  readonly portal: Portal;
  /** Local address to bind (interface binding). */
  readonly localAddress?: string;
  /** Milliseconds to wait for the TCP connection (default 10 000). */
  readonly connectTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Socket factory (default `net.connect`). */
  readonly connect?: SocketFactory;
  /** When given, every PDU is recorded in this pcap trace. */
  readonly trace?: PcapTrace;
}

/**
 * Receives every PDU once the session is in the Full Feature Phase (see {@link Connection.setHandler}).
 * `pdu.data` (and any other byte field) may be a view of the connection's reusable read buffer, overwritten by
 * the next read: copy what must outlive the call.
 */
export interface PduHandler {
  /** One PDU from the target, in arrival order. A throw fails the connection with that error. */
  onPdu(pdu: Pdu): void;
  /** The connection failed or was closed; called once, and no PDU follows. */
  onClose(err: IscsiError): void;
}

/** Bytes per socket read (Node's own default). */
const READ_BUFFER_BYTES = 65536;
/**
 * Parts of the outgoing queue shorter than this (headers, digests, data segments up to 4 KiB) are copied together
 * into one buffer; longer ones are written by reference. One `write` per part is what costs at small block sizes,
 * while copying 8 KiB Data-Out segments made 256 KiB writes slower (measured against tgtd).
 */
const COPY_BELOW_BYTES = 4097;
/** Most bytes copied into one buffer (a run of small parts longer than this starts another one). */
const MERGE_MAX_BYTES = 65536;

/** An abort error with its code. */
export function abortError(signal: AbortSignal): IscsiError {
  return new IscsiError(ErrorCode.Aborted, 'aborted', { cause: signal.reason });
}

/** A connected iSCSI transport. */
export class Connection {
  /** The framer; the session configures digests and limits on it after login. */
  readonly framer = new Framer({ sender: 'target' });
  /** Digests applied to PDUs we send. */
  encodeOptions: EncodeOptions = {};
  readonly portal: Portal;
  readonly #socket: Socket;
  readonly #trace: PcapWriter | undefined;
  #queue: Pdu[] = [];
  #waiter: { resolve: (p: Pdu) => void; reject: (e: unknown) => void } | undefined;
  #handler: PduHandler | undefined;
  #failure: IscsiError | undefined;
  /** Encoded parts waiting for {@link Connection.#flush}, in order. */
  #out: Uint8Array[] = [];
  #flushScheduled = false;

  private constructor(socket: Socket, portal: Portal, trace: PcapTrace | undefined) {
    this.#socket = socket;
    this.portal = portal;
    this.#trace = trace?.connection(
      { address: socket.localAddress ?? '127.0.0.1', port: socket.localPort ?? 0 },
      { address: socket.remoteAddress ?? portal.host, port: socket.remotePort ?? portal.port },
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) =>
      this.#fail(new ConnectionError(`connection to ${formatPortal(portal)} failed: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => this.#fail(new ConnectionError(`connection to ${formatPortal(portal)} closed`)));
  }

  /** Connects to `portal`. */
  static open(options: ConnectionOptions): Promise<Connection> {
    const { portal, signal } = options;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    // With the default factory the socket reads through `onread`: in the Full Feature Phase, where PDUs are
    // dispatched synchronously, into one reusable buffer, which saves an allocation (and its GC) per read; before
    // that, PDUs may be queued, so every read gets a buffer of its own.
    let connection: Connection | undefined;
    const shared = Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const early: Uint8Array[] = [];
    const onread = {
      buffer: () =>
        connection !== undefined && connection.#handler !== undefined ? shared : Buffer.allocUnsafe(READ_BUFFER_BYTES),
      callback: (n: number, buf: Uint8Array): boolean => {
        if (connection) connection.#onData(buf.subarray(0, n), buf === shared);
        else early.push(buf.subarray(0, n)); // before 'connect' was handled: never the shared buffer
        return true; // keep reading (false would pause the socket)
      },
    };
    const factory = options.connect ?? ((o) => netConnect({ ...o, onread }));
    return new Promise((resolve, reject) => {
      const socket = factory(connectOptions(portal, options.localAddress));
      socket.setNoDelay(true);
      const done = (err?: IscsiError) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          connection = new Connection(socket, portal, options.trace);
          for (const chunk of early.splice(0)) connection.#onData(chunk, false);
          resolve(connection);
        }
      };
      const onConnect = () => done();
      const onError = (err: Error) =>
        done(new ConnectionError(`cannot connect to ${formatPortal(portal)}: ${err.message}`, { cause: err }));
      const onAbort = () => done(abortError(signal!));
      const ms = options.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(
        () => done(new TimeoutError(`connecting to ${formatPortal(portal)} took over ${ms} ms`)),
        ms,
      );
      socket.once('connect', onConnect);
      socket.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Sends one PDU (the only path to the socket, with {@link Connection.sendAll}); see there about when. */
  send(pdu: Pdu): void {
    this.sendAll([pdu]);
  }

  /**
   * Sends PDUs in order (a command and its unsolicited Data-Out, or one R2T's sequence). They are encoded at once
   * (so a malformed PDU throws here and nothing of the sequence is sent) and queued; the queue goes to the socket
   * once the current event-loop turn's callbacks and promise reactions have run, so every command issued in
   * response to one batch of completions leaves in one system call rather than one per command.
   */
  sendAll(pdus: readonly Pdu[]): void {
    if (this.#failure) throw this.#failure;
    // Encode everything first: a PDU that does not encode must not leave half a sequence on the wire.
    if (pdus.length === 1) {
      this.#enqueue(encodePdu(pdus[0]!, this.encodeOptions));
    } else {
      const encoded = pdus.map((pdu) => encodePdu(pdu, this.encodeOptions));
      for (const parts of encoded) this.#enqueue(parts);
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // A tick scheduled from a promise reaction runs once the microtask queue is empty, i.e. after every other
      // reaction to the same completions had its chance to send.
      process.nextTick(this.#flush);
    }
  }

  #enqueue(parts: Uint8Array[]): void {
    this.#trace?.record('initiator', parts);
    for (const p of parts) this.#out.push(p);
  }

  /** Writes the queue: runs of small parts as one copied buffer, large parts by reference, all in one writev. */
  readonly #flush = (): void => {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out.length === 0) return;
    this.#out = [];
    if (this.#failure) return; // the socket is gone; what was queued is lost with it
    const units: Uint8Array[] = [];
    for (let i = 0; i < out.length; ) {
      if (out[i]!.length >= COPY_BELOW_BYTES) {
        units.push(out[i++]!);
        continue;
      }
      let end = i;
      let bytes = 0;
      while (end < out.length && out[end]!.length < COPY_BELOW_BYTES && bytes + out[end]!.length <= MERGE_MAX_BYTES) {
        bytes += out[end++]!.length;
      }
      if (end - i === 1) {
        units.push(out[i]!);
      } else {
        const merged = Buffer.allocUnsafe(bytes);
        let at = 0;
        for (; i < end; i++) {
          merged.set(out[i]!, at);
          at += out[i]!.length;
        }
        units.push(merged);
      }
      i = end;
    }
    if (units.length === 1) {
      this.#socket.write(units[0]!);
      return;
    }
    this.#socket.cork();
    for (const u of units) this.#socket.write(u);
    this.#socket.uncork();
  };

  /** The error the connection failed with, once it has failed or been closed. */
  get failure(): IscsiError | undefined {
    return this.#failure;
  }

  /**
   * Switches to dispatch mode for the Full Feature Phase: every PDU goes to `handler` instead of the
   * {@link Connection.receive} queue. PDUs already queued are handed over first, in order; if the connection has
   * already failed, `handler.onClose` is called at once. `undefined` goes back to the queue.
   */
  setHandler(handler: PduHandler | undefined): void {
    this.#handler = handler;
    if (!handler) return;
    const failedBefore = this.#failure;
    const queued = this.#queue;
    this.#queue = [];
    try {
      for (const pdu of queued) {
        if (this.#failure !== failedBefore) break; // the handler closed the connection
        handler.onPdu(pdu);
      }
    } catch (err) {
      this.#fail(asIscsiError(err)); // calls handler.onClose unless the connection had failed before
      this.#socket.destroy();
    }
    if (failedBefore) handler.onClose(failedBefore);
  }

  /** The next PDU from the target, or a typed error after `timeoutMs`, on abort, or when the connection fails. */
  receive(timeoutMs: number, signal?: AbortSignal): Promise<Pdu> {
    const next = this.#queue.shift();
    if (next) return Promise.resolve(next);
    if (this.#failure) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiter = undefined;
      };
      const onAbort = () => {
        finish();
        reject(abortError(signal!));
      };
      const timer = setTimeout(() => {
        finish();
        reject(new TimeoutError(`no answer from ${formatPortal(this.portal)} within ${timeoutMs} ms`));
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiter = {
        resolve: (p) => {
          finish();
          resolve(p);
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
    });
  }

  /**
   * Closes the connection and the trace. `reason` is the error the handler's `onClose` (and every later send) gets;
   * by default a ConnectionError saying we closed it.
   */
  close(reason?: IscsiError): void {
    if (!this.#failure) this.#flush(); // what was sent before closing still goes out
    this.#fail(reason ?? new ConnectionError(`connection to ${formatPortal(this.portal)} closed by us`));
    this.#socket.destroy();
  }

  /** `reused`: the chunk is the shared read buffer, so what the framer keeps queued must be copied out. */
  #onData(chunk: Uint8Array, reused = false): void {
    try {
      this.framer.push(chunk);
      for (let f = this.framer.next(); f; f = this.framer.next()) {
        this.#trace?.record('target', [f.wire]);
        if (this.#handler) this.#handler.onPdu(f.pdu);
        else if (this.#waiter) this.#waiter.resolve(f.pdu);
        else this.#queue.push(f.pdu);
        // The handler may have closed the connection: nothing more is delivered then.
        if (this.#failure) return;
      }
      if (reused) this.framer.detach();
    } catch (err) {
      this.#fail(asIscsiError(err));
      this.#socket.destroy();
    }
  }

  #fail(err: IscsiError): void {
    if (this.#failure) return;
    this.#failure = err;
    if (this.#trace) {
      try {
        this.#trace.close();
      } catch {
        // already closed
      }
    }
    this.#waiter?.reject(err);
    this.#handler?.onClose(err);
  }
}

/** Errors from the framer are typed already; anything else (a bug in a handler) is wrapped with its cause. */
function asIscsiError(err: unknown): IscsiError {
  return err instanceof IscsiError ? err : new ConnectionError('PDU handler failed', { cause: err });
}
