/**
 * Replies awaited by ITT for exchanges other than SCSI commands (Logout now; Task Management, NOP-Out pings and
 * Text later): each settles once, with the target's PDU, an error, or a timeout.
 * @module
 */
import { type IscsiError, TimeoutError } from '../errors.js';
import type { Pdu } from '../pdu/types.js';

/** One awaited reply; see the module documentation. */
export class PendingReply<T extends Pdu> {
  readonly promise: Promise<T>;
  #settle!: (r: T | IscsiError) => void;

  /**
   * @param what - the awaited PDU, for the timeout message
   * @param timeoutMs - 0 for none
   * @param onSettled - called once when the reply settles (to unregister it)
   */
  constructor(what: string, timeoutMs: number, onSettled: () => void) {
    this.promise = new Promise<T>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => this.settle(new TimeoutError(`no ${what} within ${timeoutMs} ms`)), timeoutMs)
          : undefined;
      let done = false;
      this.#settle = (r) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        onSettled();
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
    });
  }

  /** Settles with the reply or an error; later calls are ignored. */
  settle(r: T | IscsiError): void {
    this.#settle(r);
  }
}
