/**
 * A fault-injection TCP proxy for tests: it listens on 127.0.0.1 (a free port), forwards every connection to one
 * target, and on command damages the stream in ways a real network or a crashing peer would: a reset of both sides
 * (RST), a stall of one or both directions (for a time or until released), the truncation of the next chunk, a
 * per-chunk delay (a slow link), and a close after an exact number of bytes.
 *
 * Faults come from method calls, which act on the connections open at that moment, or from a plan of
 * {@link FaultStep}s keyed by byte counts, which is deterministic whatever the chunking: bytes before the count are
 * forwarded, then the action happens, exactly there. "up" is initiator → target, "down" target → initiator.
 *
 * A side that closes or fails ends the connection; data still held by the proxy (stalled or delayed) is then
 * discarded, as a network that lost it would. Every timer is unref'd and cleared by {@link FaultProxy.close}.
 *
 * ```ts
 * const proxy = await startFaultProxy({ target: { host: '127.0.0.1', port: tgtd.port } });
 * const session = await openSession({ portal: proxy.portal, targetName });
 * proxy.resetAfter('up', 100_000); // RST both sides once 100 000 more bytes went to the target
 * ```
 * @module
 */
import { createServer, type Server, Socket } from 'node:net';

/** `up`: initiator → target; `down`: target → initiator. */
export type Direction = 'up' | 'down';
/** One direction, or both. */
export type Directions = Direction | 'both';

/** What happens when a {@link FaultStep} is reached. */
export type FaultAction =
  /** RST both sides (`socket.resetAndDestroy()`). */
  | { readonly kind: 'reset' }
  /** Close both sides gracefully (FIN after what was already forwarded). */
  | { readonly kind: 'drop' }
  /** Stop forwarding this direction, for `ms` or (without it) until {@link FaultProxy.release}. */
  | { readonly kind: 'stall'; readonly ms?: number }
  /** From here on, delay each chunk of this direction by `ms`. */
  | { readonly kind: 'delay'; readonly ms: number };

/** A fault at an exact byte count of one direction. */
export interface FaultStep {
  /** Connection index (0-based, in accept order); every connection when absent. */
  readonly connection?: number;
  readonly direction: Direction;
  /** Bytes of that direction (counted from the start of the connection) forwarded before the action. */
  readonly at: number;
  readonly action: FaultAction;
}

/** A fault that happened, for assertions. */
export interface FiredFault {
  readonly connection: number;
  readonly direction: Direction | 'both';
  /** Bytes of `direction` forwarded when it happened (for `both`: upstream bytes). */
  readonly at: number;
  readonly kind: FaultAction['kind'] | 'truncate' | 'refuse';
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where connections are forwarded. */
  readonly target: { readonly host: string; readonly port: number };
  /** Faults keyed by byte counts. */
  readonly plan?: readonly FaultStep[];
  /** Delay of every chunk, both directions, from the start (a slow link); default 0. */
  readonly delayMs?: number;
}

/** Above this many queued bytes the source is paused (backpressure while stalled or delayed). */
const HIGH_WATER = 1024 * 1024;

interface Queued {
  chunk: Buffer;
  readonly due: number;
}

interface Trigger {
  readonly at: number;
  readonly action: FaultAction;
}

/** One direction of a proxied connection. */
class Pipe {
  readonly queue: Queued[] = [];
  queuedBytes = 0;
  /** Bytes read from the source / written to the destination. */
  received = 0;
  forwarded = 0;
  delayMs: number;
  stalled = false;
  stallTimer: NodeJS.Timeout | undefined;
  dueTimer: NodeJS.Timeout | undefined;
  truncate: number | undefined;
  triggers: Trigger[] = [];
  srcEnded = false;
  dstEnded = false;
  waitingDrain = false;

  constructor(
    readonly direction: Direction,
    readonly src: Socket,
    readonly dst: Socket,
    delayMs: number,
  ) {
    this.delayMs = delayMs;
  }

  clearTimers(): void {
    clearTimeout(this.stallTimer);
    clearTimeout(this.dueTimer);
    this.stallTimer = undefined;
    this.dueTimer = undefined;
  }
}

/** A connection accepted by the proxy. */
export class ProxyConnection {
  readonly #pipes: Record<Direction, Pipe>;
  readonly #fired: (f: FiredFault) => void;
  #closed = false;
  readonly #done: Promise<void>;
  #resolveDone: () => void = () => {};

  /** @internal built by the proxy */
  constructor(
    readonly index: number,
    client: Socket,
    server: Socket,
    delayMs: Record<Direction, number>,
    triggers: Record<Direction, Trigger[]>,
    fired: (f: FiredFault) => void,
  ) {
    this.#fired = fired;
    this.#done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    this.#pipes = {
      up: new Pipe('up', client, server, delayMs.up),
      down: new Pipe('down', server, client, delayMs.down),
    };
    this.#pipes.up.triggers = [...triggers.up].sort((a, b) => a.at - b.at);
    this.#pipes.down.triggers = [...triggers.down].sort((a, b) => a.at - b.at);
    for (const pipe of Object.values(this.#pipes)) {
      pipe.src.on('data', (chunk: Buffer) => this.#onData(pipe, chunk));
      pipe.src.on('end', () => {
        pipe.srcEnded = true;
        this.#pump(pipe);
      });
    }
    for (const socket of [client, server]) {
      socket.on('error', () => this.#teardown(false));
      // One side fully closed (or failed): nothing more can reach it, and nothing more comes from it.
      socket.on('close', () => this.#teardown(false));
    }
    // A plan step at byte 0 fires before anything is forwarded.
    for (const pipe of Object.values(this.#pipes)) this.#pump(pipe);
  }

  /** Bytes forwarded so far in `direction`. */
  forwarded(direction: Direction): number {
    return this.#pipes[direction].forwarded;
  }

  /** Bytes read from the source of `direction` so far (forwarded or held). */
  received(direction: Direction): number {
    return this.#pipes[direction].received;
  }

  /** True once both sockets are gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the connection is closed. */
  whenClosed(): Promise<void> {
    return this.#done;
  }

  /** RST both sides now. */
  reset(): void {
    if (this.#closed) return;
    this.#fired({ connection: this.index, direction: 'both', at: this.forwarded('up'), kind: 'reset' });
    this.#teardown(true);
  }

  /** Stop forwarding `directions`, for `ms` or until {@link ProxyConnection.release}. */
  stall(directions: Directions, ms?: number): void {
    for (const pipe of this.#select(directions)) this.#stall(pipe, ms);
  }

  /** Resume forwarding `directions` (a no-op when not stalled). */
  release(directions: Directions = 'both'): void {
    for (const pipe of this.#select(directions)) this.#release(pipe);
  }

  /** Forward only the first `bytes` bytes of the next chunk of `direction`, then close both sides (FIN). */
  truncateNext(direction: Direction, bytes: number): void {
    checkCount(bytes, 'bytes');
    this.#pipes[direction].truncate = bytes;
  }

  /** Delay each chunk of `directions` by `ms` from now on (chunks already held keep their time). */
  setDelay(ms: number, directions: Directions = 'both'): void {
    checkCount(ms, 'ms');
    for (const pipe of this.#select(directions)) pipe.delayMs = ms;
  }

  /** Apply `action` once `bytes` more bytes of `direction` are forwarded. */
  after(direction: Direction, bytes: number, action: FaultAction): void {
    checkCount(bytes, 'bytes');
    const pipe = this.#pipes[direction];
    this.#addTrigger(pipe, { at: pipe.forwarded + bytes, action });
  }

  /** Apply `action` when `direction` reaches `at` bytes since the connection started (at once if already past). */
  at(direction: Direction, at: number, action: FaultAction): void {
    checkCount(at, 'at');
    this.#addTrigger(this.#pipes[direction], { at, action });
  }

  /** @internal the proxy closes every connection this way */
  destroy(): void {
    this.#teardown(false);
  }

  #addTrigger(pipe: Pipe, trigger: Trigger): void {
    pipe.triggers.push(trigger);
    pipe.triggers.sort((a, b) => a.at - b.at);
    this.#pump(pipe);
  }

  #select(directions: Directions): Pipe[] {
    return directions === 'both' ? [this.#pipes.up, this.#pipes.down] : [this.#pipes[directions]];
  }

  #onData(pipe: Pipe, chunk: Buffer): void {
    if (this.#closed) return;
    pipe.received += chunk.length;
    pipe.queue.push({ chunk, due: pipe.delayMs > 0 ? Date.now() + pipe.delayMs : 0 });
    pipe.queuedBytes += chunk.length;
    if (pipe.queuedBytes > HIGH_WATER) pipe.src.pause();
    this.#pump(pipe);
  }

  #stall(pipe: Pipe, ms: number | undefined): void {
    if (this.#closed) return;
    this.#fired({ connection: this.index, direction: pipe.direction, at: pipe.forwarded, kind: 'stall' });
    pipe.stalled = true;
    clearTimeout(pipe.stallTimer);
    pipe.stallTimer = undefined;
    if (ms !== undefined) {
      pipe.stallTimer = setTimeout(() => this.#release(pipe), ms);
      pipe.stallTimer.unref();
    }
  }

  #release(pipe: Pipe): void {
    clearTimeout(pipe.stallTimer);
    pipe.stallTimer = undefined;
    if (!pipe.stalled) return;
    pipe.stalled = false;
    this.#pump(pipe);
  }

  /** Forwards what is due, firing triggers at their exact byte counts. */
  #pump(pipe: Pipe): void {
    while (!this.#closed) {
      const trigger = pipe.triggers[0];
      if (trigger !== undefined && trigger.at <= pipe.forwarded) {
        pipe.triggers.shift();
        this.#apply(pipe, trigger.action);
        continue;
      }
      if (pipe.stalled || pipe.waitingDrain) return;
      const head = pipe.queue[0];
      if (head === undefined) break;
      const wait = head.due - Date.now();
      if (wait > 0) {
        if (pipe.dueTimer === undefined) {
          pipe.dueTimer = setTimeout(() => {
            pipe.dueTimer = undefined;
            this.#pump(pipe);
          }, wait);
          pipe.dueTimer.unref();
        }
        return;
      }
      if (pipe.truncate !== undefined) {
        const keep = Math.min(pipe.truncate, head.chunk.length);
        pipe.truncate = undefined;
        this.#write(pipe, head.chunk.subarray(0, keep));
        this.#fired({ connection: this.index, direction: pipe.direction, at: pipe.forwarded, kind: 'truncate' });
        this.#close();
        return;
      }
      // Forward up to the next trigger's byte count, no further.
      const room = trigger === undefined ? head.chunk.length : Math.min(head.chunk.length, trigger.at - pipe.forwarded);
      const part = head.chunk.subarray(0, room);
      if (room === head.chunk.length) pipe.queue.shift();
      else head.chunk = head.chunk.subarray(room);
      pipe.queuedBytes -= room;
      this.#write(pipe, part);
    }
    if (this.#closed) return;
    if (pipe.queuedBytes <= HIGH_WATER && pipe.src.isPaused()) pipe.src.resume();
    if (pipe.srcEnded && pipe.queue.length === 0 && !pipe.dstEnded && !pipe.stalled) {
      pipe.dstEnded = true;
      pipe.dst.end();
    }
  }

  #write(pipe: Pipe, part: Buffer): void {
    if (part.length === 0) return;
    pipe.forwarded += part.length;
    if (!pipe.dst.write(part)) {
      pipe.waitingDrain = true;
      pipe.dst.once('drain', () => {
        pipe.waitingDrain = false;
        this.#pump(pipe);
      });
    }
  }

  #apply(pipe: Pipe, action: FaultAction): void {
    switch (action.kind) {
      case 'reset':
        this.#fired({ connection: this.index, direction: pipe.direction, at: pipe.forwarded, kind: 'reset' });
        this.#teardown(true);
        return;
      case 'drop':
        this.#fired({ connection: this.index, direction: pipe.direction, at: pipe.forwarded, kind: 'drop' });
        this.#close();
        return;
      case 'stall':
        this.#stall(pipe, action.ms);
        return;
      case 'delay':
        this.#fired({ connection: this.index, direction: pipe.direction, at: pipe.forwarded, kind: 'delay' });
        pipe.delayMs = action.ms;
        return;
    }
  }

  /** Graceful close of both sides: what was written is flushed, then FIN; held data is discarded. */
  #close(): void {
    if (this.#closed) return;
    this.#markClosed();
    for (const pipe of Object.values(this.#pipes)) pipe.dst.destroySoon();
  }

  #teardown(rst: boolean): void {
    if (this.#closed) return;
    this.#markClosed();
    for (const pipe of Object.values(this.#pipes)) {
      if (rst && !pipe.dst.destroyed) pipe.dst.resetAndDestroy();
      else pipe.dst.destroy();
    }
  }

  #markClosed(): void {
    this.#closed = true;
    for (const pipe of Object.values(this.#pipes)) {
      pipe.clearTimers();
      pipe.queue.length = 0;
      pipe.queuedBytes = 0;
      pipe.triggers = [];
    }
    this.#resolveDone();
  }
}

/** A running proxy; see the module documentation. */
export class FaultProxy {
  readonly host = '127.0.0.1';
  readonly #server: Server;
  readonly #options: FaultProxyOptions;
  readonly #connections: ProxyConnection[] = [];
  readonly #plan: FaultStep[];
  readonly #fired: FiredFault[] = [];
  readonly #waiters = new Set<() => void>();
  #delay: Record<Direction, number>;
  #refuse = false;
  #accepted = 0;
  #closing: Promise<void> | undefined;

  /** @internal use {@link startFaultProxy} */
  constructor(
    server: Server,
    readonly port: number,
    options: FaultProxyOptions,
  ) {
    this.#server = server;
    this.#options = options;
    this.#plan = [...(options.plan ?? [])];
    for (const step of this.#plan) checkCount(step.at, 'at');
    const delay = options.delayMs ?? 0;
    checkCount(delay, 'delayMs');
    this.#delay = { up: delay, down: delay };
    server.on('connection', (client) => this.#accept(client));
  }

  /** `127.0.0.1:<port>`, for login options. */
  get portal(): string {
    return `${this.host}:${this.port}`;
  }

  /** Connections accepted so far (refused ones included). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Every connection forwarded so far, in order (refused ones are not here). */
  get connections(): readonly ProxyConnection[] {
    return this.#connections;
  }

  /** Connections still open. */
  get open(): ProxyConnection[] {
    return this.#connections.filter((c) => !c.closed);
  }

  /** Faults that happened, in order. */
  get fired(): readonly FiredFault[] {
    return this.#fired;
  }

  /** Bytes forwarded in `direction`, over all connections. */
  forwarded(direction: Direction): number {
    return this.#connections.reduce((sum, c) => sum + c.forwarded(direction), 0);
  }

  /** RST both sides of every open connection. */
  reset(): void {
    for (const c of this.open) c.reset();
  }

  /** Stall `directions` of every open connection, for `ms` or until {@link FaultProxy.release}. */
  stall(directions: Directions = 'both', ms?: number): void {
    for (const c of this.open) c.stall(directions, ms);
  }

  /** Release stalls on every open connection. */
  release(directions: Directions = 'both'): void {
    for (const c of this.open) c.release(directions);
  }

  /** On every open connection: forward only `bytes` of the next chunk of `direction`, then close both sides. */
  truncateNext(direction: Direction, bytes: number): void {
    for (const c of this.open) c.truncateNext(direction, bytes);
  }

  /** A slow link: delay each chunk of `directions` by `ms`, on open connections and on later ones. */
  setDelay(ms: number, directions: Directions = 'both'): void {
    checkCount(ms, 'ms');
    for (const d of directions === 'both' ? (['up', 'down'] as const) : [directions]) this.#delay[d] = ms;
    for (const c of this.open) c.setDelay(ms, directions);
  }

  /** On every open connection: RST both sides once `bytes` more bytes of `direction` were forwarded. */
  resetAfter(direction: Direction, bytes: number): void {
    for (const c of this.open) c.after(direction, bytes, { kind: 'reset' });
  }

  /** On every open connection: close both sides (FIN) once `bytes` more bytes of `direction` were forwarded. */
  dropAfter(direction: Direction, bytes: number): void {
    for (const c of this.open) c.after(direction, bytes, { kind: 'drop' });
  }

  /** Add a plan step; it applies to connections accepted from now on (and to `step.connection` if still open). */
  addStep(step: FaultStep): void {
    checkCount(step.at, 'at');
    this.#plan.push(step);
    const c = this.#connections.find((x) => x.index === step.connection);
    if (c && !c.closed) c.at(step.direction, step.at, step.action);
  }

  /** While on, new connections are reset as soon as they are accepted (a target that refuses everyone). */
  refuse(on: boolean): void {
    this.#refuse = on;
  }

  /** Resolves when `count` connections were accepted (refused ones included); rejects after `timeoutMs`. */
  waitForConnections(count: number, timeoutMs: number): Promise<void> {
    return this.#waitFor(() => this.#accepted >= count, timeoutMs, `${count} connections`);
  }

  /** Resolves when a fault of `kind` happened (at least `count` of them); rejects after `timeoutMs`. */
  waitForFault(kind: FiredFault['kind'], timeoutMs: number, count = 1): Promise<void> {
    const seen = () => this.#fired.filter((f) => f.kind === kind).length >= count;
    return this.#waitFor(seen, timeoutMs, `${count} ${kind} fault(s)`);
  }

  /** Stops listening and destroys every connection; clears every timer. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      const closing = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#closing = closing;
      for (const c of this.#connections) c.destroy();
      this.#notify(); // waiters see #closing and give up
    }
    return this.#closing;
  }

  #waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    if (this.#closing) return Promise.reject(new Error(`fault proxy closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (done()) finish(undefined);
        else if (this.#closing) finish(new Error(`fault proxy closed while waiting for ${what}`));
      };
      const timer = setTimeout(
        () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
        timeoutMs,
      );
      timer.unref();
      const finish = (err: Error | undefined): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
    });
  }

  #notify(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  #accept(client: Socket): void {
    const index = this.#accepted++;
    if (this.#closing) {
      client.destroy();
      return;
    }
    if (this.#refuse) {
      client.on('error', () => {});
      client.resetAndDestroy();
      this.#fired.push({ connection: index, direction: 'both', at: 0, kind: 'refuse' });
      this.#notify();
      return;
    }
    const server = new Socket({ allowHalfOpen: true });
    const triggers: Record<Direction, Trigger[]> = { up: [], down: [] };
    for (const step of this.#plan) {
      if (step.connection === undefined || step.connection === index) {
        triggers[step.direction].push({ at: step.at, action: step.action });
      }
    }
    const connection = new ProxyConnection(index, client, server, { ...this.#delay }, triggers, (f) => {
      this.#fired.push(f);
      this.#notify();
    });
    this.#connections.push(connection);
    void connection.whenClosed().then(() => this.#notify());
    server.connect({ host: this.#options.target.host, port: this.#options.target.port });
    this.#notify();
  }
}

/** Starts a {@link FaultProxy} on 127.0.0.1 with a free port. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const server = createServer({ allowHalfOpen: true, noDelay: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error('fault proxy: no port');
  }
  return new FaultProxy(server, address.port, options);
}

function checkCount(n: number, name: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`fault proxy: ${name} ${n} must be a count >= 0`);
}
