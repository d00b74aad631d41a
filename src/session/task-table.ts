/**
 * The commands of a session by state: waiting (in order, immediate ones apart), in flight by ITT, and the ITTs of
 * commands given up locally that the target may still answer. Also allocates ITTs. No I/O: the session decides.
 * @module
 */
import { RESERVED_TAG } from './data-out.js';
import type { Task } from './task.js';

/** See the module documentation. */
export class TaskTable {
  readonly #active = new Map<number, Task>();
  /** ITTs of commands given up locally: never reused while the target may use them, and their PDUs dropped. */
  readonly #stale = new Set<number>();
  #waiting: Task[] = [];
  #waitingImmediate: Task[] = [];
  #nextItt: number;

  /** @param firstItt - where ITT allocation starts (random, so a new session does not reuse an old one's tags) */
  constructor(firstItt: number) {
    this.#nextItt = firstItt >>> 0;
  }

  /** Commands in flight. */
  get inFlight(): number {
    return this.#active.size;
  }

  /** Commands waiting to be sent. */
  get waiting(): number {
    return this.#waiting.length + this.#waitingImmediate.length;
  }

  /** A fresh ITT: never 0xffffffff (§11.2.1.8), never one in flight or stale, nor a key of `others`. */
  allocateItt(others?: ReadonlyMap<number, unknown>): number {
    for (;;) {
      const itt = this.#nextItt;
      this.#nextItt = (itt + 1) >>> 0;
      if (itt === RESERVED_TAG || this.#active.has(itt) || this.#stale.has(itt) || others?.has(itt)) continue;
      return itt;
    }
  }

  /** Queues a command to send. */
  enqueue(task: Task): void {
    (task.immediate ? this.#waitingImmediate : this.#waiting).push(task);
  }

  /**
   * The next command to send, removed from the queue: an immediate one first (they do not need the CmdSN window),
   * else the oldest one when `windowOpen`; undefined when `queueDepth` commands are in flight.
   */
  next(windowOpen: boolean, queueDepth: number): Task | undefined {
    if (this.#active.size >= queueDepth) return undefined;
    return this.#waitingImmediate.shift() ?? (windowOpen ? this.#waiting.shift() : undefined);
  }

  /** The first command, in flight or waiting, that `match` accepts. */
  find(match: (task: Task) => boolean): Task | undefined {
    for (const t of this.#active.values()) if (match(t)) return t;
    return this.#waitingImmediate.find(match) ?? this.#waiting.find(match);
  }

  /** Every command, waiting or in flight (a copy). */
  allTasks(): Task[] {
    return [...this.#waitingImmediate, ...this.#waiting, ...this.#active.values()];
  }

  /** The commands in flight (a copy). */
  activeTasks(): Task[] {
    return [...this.#active.values()];
  }

  /** Records a command as in flight under its ITT. */
  activate(task: Task): void {
    this.#active.set(task.itt, task);
  }

  /** The command in flight with this ITT. */
  get(itt: number): Task | undefined {
    return this.#active.get(itt);
  }

  /**
   * True for the ITT of a command given up locally; `final` (the target's last PDU for it) releases the ITT.
   */
  dropStale(itt: number, final: boolean): boolean {
    if (!this.#stale.has(itt)) return false;
    if (final) this.#stale.delete(itt);
    return true;
  }

  /** Removes a command, queued or in flight; `targetMayAnswer` keeps the ITT of one in flight reserved. */
  remove(task: Task, targetMayAnswer: boolean): void {
    if (task.state === 'active') {
      if (this.#active.get(task.itt) === task) this.#active.delete(task.itt);
      if (targetMayAnswer) this.#stale.add(task.itt);
      return;
    }
    const list = task.immediate ? this.#waitingImmediate : this.#waiting;
    const i = list.indexOf(task);
    if (i >= 0) list.splice(i, 1);
  }

  /** Empties the table (the connection is gone) and returns every command that was in it, waiting ones first. */
  clear(): Task[] {
    const all = this.allTasks();
    this.#waitingImmediate = [];
    this.#waiting = [];
    this.#active.clear();
    this.#stale.clear();
    return all;
  }
}
