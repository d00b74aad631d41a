/**
 * One TCP connection accepted by the embedded target: socket ↔ framer ↔ encoder, the login through a
 * {@link TargetLoginMachine}, then the Full Feature Phase in a {@link TargetSession}. Everything a hostile client
 * can do ends here: a malformed PDU gets a Reject or drops this connection with a log event, never the process.
 * @module
 */
import type { Socket } from 'node:net';
import { DigestError, ErrorCode, type IscsiError, ProtocolError } from '../errors.js';
import { BHS_LENGTH } from '../pdu/bhs.js';
import { type EncodeOptions, encodePdu } from '../pdu/encode.js';
import { Framer } from '../pdu/framer.js';
import type { PcapTrace, PcapWriter } from '../pdu/pcap-write.js';
import type { Pdu } from '../pdu/types.js';
import type { Logger } from '../session/events.js';
import type { TargetFaults } from './config.js';
import { emitTarget } from './events.js';
import { TargetLoginMachine, type TargetLoginOptions, type TargetLoginResult } from './login.js';
import type { TargetSession } from './session.js';

/** What a connection needs from its target. */
export interface ConnectionHost {
  readonly loginOptions: TargetLoginOptions;
  /** Milliseconds a login may take before the connection is dropped. */
  readonly loginTimeoutMs: number;
  readonly logger: Logger;
  readonly trace: PcapTrace | undefined;
  /** Creates the session of a successful login; `undefined` refuses it (the connection is closed). */
  openSession(result: TargetLoginResult, connection: TargetConnection): TargetSession | undefined;
  /** TEST ONLY: planted bugs (see {@link TargetFaults}); absent normally. */
  readonly faults?: TargetFaults;
  /** TEST ONLY: what a planted crash does (stop listening, drop every connection). */
  readonly crash?: () => void;
  /** TEST ONLY: a planted wedge ({@link TargetFaults.wedgeOnOpcode}): sets it, and whether it is set. */
  readonly wedge?: (set: boolean) => boolean;
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:127.0.0.1`). */
export function plainAddress(address: string | undefined): string {
  if (!address) return '0.0.0.0';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** An accepted connection; see the module documentation. */
export class TargetConnection {
  readonly remote: string;
  /** The local address the initiator reached (for SendTargets on wildcard portals). */
  readonly localAddress: string;
  readonly localPort: number;
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #framer = new Framer({ sender: 'initiator' });
  readonly #login: TargetLoginMachine;
  readonly #trace: PcapWriter | undefined;
  #encode: EncodeOptions = {};
  #session: TargetSession | undefined;
  #loginTimer: NodeJS.Timeout | undefined;
  #corked = false;
  #closed = false;
  /** TEST ONLY: a planted hang stopped this connection (see {@link TargetFaults.hangOnOpcode}). */
  #hung = false;

  constructor(socket: Socket, host: ConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    this.localAddress = plainAddress(socket.localAddress);
    this.localPort = socket.localPort ?? 0;
    const remoteAddress = plainAddress(socket.remoteAddress);
    this.remote = `${remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress}:${socket.remotePort ?? 0}`;
    this.#login = new TargetLoginMachine(host.loginOptions);
    this.#trace = host.trace?.connection(
      { address: remoteAddress, port: socket.remotePort ?? 0 },
      { address: this.localAddress, port: this.localPort },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#closeNow(`socket error: ${err.message}`));
    socket.on('close', () => this.#closeNow('closed by the initiator'));
    this.#loginTimer = setTimeout(
      () => this.close(`login not finished within ${host.loginTimeoutMs} ms`),
      host.loginTimeoutMs,
    );
    this.#loginTimer.unref();
    emitTarget(
      host.logger,
      'info',
      { event: 'connection', remote: this.remote, portal: `${this.localAddress}:${this.localPort}` },
      'connection',
    );
  }

  /** The session once logged in. */
  get session(): TargetSession | undefined {
    return this.#session;
  }

  /**
   * Sends PDUs in order, and records them in the trace. The socket stays corked until the end of this event-loop
   * turn, so every response finished in one turn leaves in one `writev` (one system call per turn rather than
   * per command: most of the target's time at small block sizes).
   */
  send(pdus: readonly Pdu[]): void {
    if (this.#closed || this.#socket.destroyed) return;
    const faulty = this.#host.faults?.wrongDataSN
      ? pdus.map((p) => (p.kind === 'data-in' ? { ...p, dataSN: (p.dataSN + 1) >>> 0 } : p))
      : pdus;
    const encoded = faulty.map((p) => encodePdu(p, this.#encode));
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      setImmediate(this.#flush);
    }
    for (const parts of encoded) {
      this.#trace?.record('target', parts);
      for (const part of parts) this.#socket.write(part);
    }
  }

  readonly #flush = (): void => {
    if (!this.#corked) return;
    this.#corked = false;
    this.#socket.uncork();
  };

  /** Closes the connection after what was sent is flushed. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#flush();
    this.#socket.end();
    // A peer that never reads must not keep the socket: destroy it shortly after.
    setTimeout(() => this.#socket.destroy(), 2000).unref();
    this.#closeNow(reason);
  }

  /** Drops the connection at once. */
  destroy(reason: string): void {
    this.#socket.destroy();
    this.#closeNow(reason);
  }

  #closeNow(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#loginTimer);
    this.#session?.close();
    emitTarget(
      this.#host.logger,
      'info',
      { event: 'connection-closed', remote: this.remote, tsih: this.#session?.tsih, reason },
      'connection closed',
    );
  }

  #onData(chunk: Buffer): void {
    if (this.#closed || this.#hung) return;
    this.#trace?.record('initiator', [chunk]);
    try {
      this.#framer.push(chunk);
      for (let f = this.#framer.nextLenient(); f; f = this.#closed ? undefined : this.#framer.nextLenient()) {
        if (this.#host.faults && this.#plantedFault(f.wire)) return;
        this.#handle(f.pdu, f.wire, f.violations);
      }
    } catch (err) {
      // Framing errors (oversized or malformed lengths): the stream cannot be trusted any more (§7.8 / §6.6).
      this.#protocolDrop(err as IscsiError);
    }
  }

  /** TEST ONLY: applies a planted crash, hang or wedge ({@link TargetFaults}); true when the PDU is not handled. */
  #plantedFault(wire: Uint8Array): boolean {
    const faults = this.#host.faults!;
    const opcode = wire[0]! & 0x3f;
    if (faults.crashOnAhsLength !== undefined && wire[4] === faults.crashOnAhsLength) {
      this.#host.crash?.();
      return true;
    }
    const wedged = this.#host.wedge?.(opcode === faults.wedgeOnOpcode) ?? false;
    if ((faults.hangOnOpcode !== undefined && opcode === faults.hangOnOpcode) || (wedged && opcode === 0x03)) {
      this.#hung = true;
      this.#socket.pause();
      return true;
    }
    return false;
  }

  #handle(pdu: Pdu | undefined, wire: Uint8Array, violations: readonly IscsiError[]): void {
    const header = wire.subarray(0, BHS_LENGTH);
    const digest = violations.find((v): v is DigestError => v instanceof DigestError);
    if (digest?.which === 'header') {
      this.#protocolDrop(digest);
      return;
    }
    const session = this.#session;
    if (digest && session) {
      // §7.8: a data digest error discards the PDU and is answered with Reject reason 0x02.
      session.dataDigestError(pdu, header);
      return;
    }
    // Reserved bits that are set are ignored (robustness, as most targets do); anything else is refused.
    const violation = violations.find((v) => v.code !== ErrorCode.PduReserved);
    // A Login Request with bad flags (T and C both set, a reserved stage) still goes to the login machine, which
    // answers it with status 0x020b before closing (§11.12.2, §11.13.5) rather than dropping the connection.
    if (!session && pdu?.kind === 'login-request' && violation?.code === ErrorCode.PduField) {
      this.#loginStep(pdu);
      return;
    }
    if (pdu === undefined || violation !== undefined) {
      const error = violation ?? new ProtocolError(ErrorCode.PduField, 'undecodable PDU');
      // During login any violation ends the login; afterwards the PDU is rejected and the session goes on.
      if (!session) {
        this.#protocolDrop(error);
        return;
      }
      session.rejectInvalid(header, error, pdu);
      return;
    }
    if (session) {
      session.receive(pdu, header);
      return;
    }
    this.#loginStep(pdu);
  }

  #loginStep(pdu: Pdu): void {
    const step = this.#login.receive(pdu);
    if (step.kind === 'send') {
      this.send([step.pdu]);
      return;
    }
    this.send([step.response]);
    if (step.kind === 'reject') {
      const status = (step.response.statusClass << 8) | step.response.statusDetail;
      emitTarget(
        this.#host.logger,
        'warn',
        { event: 'login-failed', remote: this.remote, status, reason: step.reason },
        'login refused',
      );
      this.close(step.reason);
      return;
    }
    clearTimeout(this.#loginTimer);
    const { params } = step.result;
    // §13.1: digests start with the first PDU after the final Login Response; §13.12: our declared receive limit.
    this.#encode = { headerDigest: params.headerDigest === 'CRC32C', dataDigest: params.dataDigest === 'CRC32C' };
    this.#framer.configure({ ...this.#encode, maxDataSegmentLength: params.maxRecvDataSegmentLength });
    this.#session = this.#host.openSession(step.result, this);
    if (!this.#session) this.close('session refused');
  }

  #protocolDrop(err: IscsiError): void {
    emitTarget(
      this.#host.logger,
      'warn',
      { event: 'protocol-error', remote: this.remote, action: 'drop', code: err.code, message: err.message },
      'connection dropped',
    );
    this.destroy(err.message);
  }
}
