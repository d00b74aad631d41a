/**
 * The command window of a session (RFC 7143 §3.2.2.1, §4.2.2.1): the next CmdSN to assign, and the ExpCmdSN and
 * MaxCmdSN last announced by the target. All comparisons use RFC 1982 serial arithmetic, so the numbers may wrap
 * around 2**32 at any point.
 * @module
 */
import { serialAdd, serialGt, serialLt, serialLte } from '../pdu/serial.js';

/** The three sequence numbers a window starts from (the last Login Response and the login's CmdSN). */
export interface CmdWindowState {
  /** The CmdSN the next non-immediate command carries. */
  readonly cmdSN: number;
  readonly expCmdSN: number;
  readonly maxCmdSN: number;
}

/** The CmdSN window; see the module documentation. */
export class CmdWindow {
  #cmdSN: number;
  #expCmdSN: number;
  #maxCmdSN: number;

  constructor(state: CmdWindowState) {
    this.#cmdSN = state.cmdSN >>> 0;
    this.#expCmdSN = state.expCmdSN >>> 0;
    this.#maxCmdSN = state.maxCmdSN >>> 0;
  }

  /** The CmdSN the next non-immediate command will carry; immediate PDUs carry it without advancing it (§3.2.2.1). */
  get cmdSN(): number {
    return this.#cmdSN;
  }

  /** The oldest CmdSN the target has not received yet. */
  get expCmdSN(): number {
    return this.#expCmdSN;
  }

  /** The highest CmdSN the target accepts. */
  get maxCmdSN(): number {
    return this.#maxCmdSN;
  }

  /**
   * True when a non-immediate command may be sent now: its CmdSN is at most MaxCmdSN (§4.2.2.1). MaxCmdSN =
   * ExpCmdSN - 1 is how a target closes the window; the same test covers it, since the next CmdSN is then above.
   */
  get open(): boolean {
    return serialLte(this.#cmdSN, this.#maxCmdSN);
  }

  /** Commands that can still be sent before the window closes (0 when closed). */
  get room(): number {
    return this.open ? ((this.#maxCmdSN - this.#cmdSN) >>> 0) + 1 : 0;
  }

  /** Assigns the CmdSN of a non-immediate command and advances. Call only when {@link CmdWindow.open}. */
  take(): number {
    const sn = this.#cmdSN;
    this.#cmdSN = serialAdd(sn, 1);
    return sn;
  }

  /**
   * Gives back the CmdSN just taken, for a command that could not be sent after all: a CmdSN the target never
   * receives would stall every later command (the target executes in CmdSN order, §3.2.2.1).
   */
  untake(): void {
    this.#cmdSN = serialAdd(this.#cmdSN, -1);
  }

  /**
   * Applies the ExpCmdSN and MaxCmdSN of a target PDU (§4.2.2.1): both are ignored when MaxCmdSN < ExpCmdSN - 1
   * (serial), and each one only moves forward, since PDUs can carry older values than one already seen (e.g. on
   * another connection, or a response built before a later one). Returns true when the window got more room.
   */
  update(expCmdSN: number, maxCmdSN: number): boolean {
    if (serialLt(maxCmdSN, serialAdd(expCmdSN, -1))) return false;
    const before = this.room;
    if (serialGt(expCmdSN, this.#expCmdSN)) this.#expCmdSN = expCmdSN >>> 0;
    if (serialGt(maxCmdSN, this.#maxCmdSN)) this.#maxCmdSN = maxCmdSN >>> 0;
    return this.room > before;
  }

  /** True when the target has received the command numbered `cmdSN` (it is below ExpCmdSN). */
  acknowledged(cmdSN: number): boolean {
    return serialLt(cmdSN, this.#expCmdSN);
  }
}
