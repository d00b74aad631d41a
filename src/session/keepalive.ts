/**
 * The NOP-Out keepalive (RFC 7143 §11.18, §7.1.1): when nothing has come from the target for `idleMs`, a ping goes
 * out; if its NOP-In does not come back within `timeoutMs`, the connection is declared dead. Receiving only
 * records a timestamp (cheap on the hot path); the single timer checks it when it fires.
 * @module
 */
import { ConnectionError, type IscsiError } from '../errors.js';

/** What the keepalive drives. */
export interface KeepaliveHooks {
  /** Sends a ping that settles when its NOP-In arrives, or rejects after `timeoutMs`. */
  ping(timeoutMs: number): Promise<number>;
  /** The connection is dead: no answer to a ping in time (or the ping could not be sent). */
  dead(err: ConnectionError): void;
}

/** The idle timer; see the module documentation. */
export class Keepalive {
  readonly #idleMs: number;
  readonly #timeoutMs: number;
  readonly #hooks: KeepaliveHooks;
  #lastRx = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #pinging = false;
  #stopped = false;

  /**
   * @param idleMs - silence before a ping; 0 disables the keepalive
   * @param timeoutMs - how long the NOP-In may take
   */
  constructor(idleMs: number, timeoutMs: number, hooks: KeepaliveHooks) {
    this.#idleMs = idleMs;
    this.#timeoutMs = timeoutMs;
    this.#hooks = hooks;
    if (idleMs > 0) this.#arm(idleMs);
  }

  /** Something arrived from the target. */
  received(): void {
    this.#lastRx = performance.now();
  }

  /** Stops for good (the connection closed). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(ms)));
    this.#timer.unref(); // an idle session must not keep the process alive on its own
  }

  #fire(): void {
    this.#timer = undefined;
    if (this.#stopped || this.#pinging) return;
    const silent = performance.now() - this.#lastRx;
    if (silent < this.#idleMs) {
      this.#arm(this.#idleMs - silent);
      return;
    }
    this.#pinging = true;
    this.#hooks.ping(this.#timeoutMs).then(
      () => {
        this.#pinging = false;
        this.#arm(this.#idleMs);
      },
      (err: IscsiError) => {
        this.#pinging = false;
        if (this.#stopped) return;
        this.#hooks.dead(
          new ConnectionError(`no NOP-In answer to a keepalive ping within ${this.#timeoutMs} ms: connection dead`, {
            cause: err,
          }),
        );
      },
    );
  }
}
