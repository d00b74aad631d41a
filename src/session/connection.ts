/**
 * One TCP connection to a target: socket ↔ framer ↔ encoder. It is the only writer to the socket (cork/uncork per
 * PDU), hands received PDUs to one reader at a time, records every PDU in an optional pcap trace, and turns socket
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
  #failure: IscsiError | undefined;

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
    const factory = options.connect ?? ((o) => netConnect(o));
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
        } else resolve(new Connection(socket, portal, options.trace));
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

  /** Sends one PDU (the only path to the socket). */
  send(pdu: Pdu): void {
    if (this.#failure) throw this.#failure;
    const parts = encodePdu(pdu, this.encodeOptions);
    this.#trace?.record('initiator', parts);
    this.#socket.cork();
    for (const p of parts) this.#socket.write(p);
    this.#socket.uncork();
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

  /** Closes the connection and the trace. */
  close(): void {
    this.#fail(new ConnectionError(`connection to ${formatPortal(this.portal)} closed by us`));
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    try {
      this.framer.push(chunk);
      for (let f = this.framer.next(); f; f = this.framer.next()) {
        this.#trace?.record('target', [f.wire]);
        if (this.#waiter) this.#waiter.resolve(f.pdu);
        else this.#queue.push(f.pdu);
      }
    } catch (err) {
      this.#fail(err as IscsiError);
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
  }
}
