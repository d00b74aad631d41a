/**
 * TCP stream reassembly for captures: groups segments into conversations and delivers each direction's bytes in
 * sequence order, dropping retransmitted and overlapping bytes, buffering out-of-order segments, and reporting
 * holes the capture never filled as gaps so a PDU framer can resynchronize after them.
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { type CapturePacket, type TcpEndpoint, TcpFlag } from './capture-types.js';

/** Options of {@link reassemble}. */
export interface ReassembleOptions {
  /** The target's TCP port (default 3260, the iSCSI port): conversations without it are ignored. */
  readonly port?: number;
}

/** In-order bytes of one direction, with the frame at which they became available in order. */
export interface StreamData {
  readonly kind: 'data';
  /**
   * Frame of the segment that carried these bytes or, when they had arrived out of order, of the later segment
   * that filled the hole before them. A PDU ending in this chunk is "in" this frame, as tshark shows it.
   */
  readonly frame: number;
  /** Offset of the first byte in the direction's stream (0 = first byte after the SYN), counting gaps. */
  readonly offset: number;
  /** A view into the capture bytes. */
  readonly bytes: Uint8Array;
}

/** Bytes of the stream the capture does not contain (lost by the capture, or never captured). */
export interface StreamGap {
  readonly kind: 'gap';
  /** Frame of the first segment seen after the hole (or of the FIN when the hole ends the stream). */
  readonly frame: number;
  readonly offset: number;
  /** Number of missing bytes. */
  readonly length: number;
}

/** One item of a direction's stream. */
export type StreamItem = StreamData | StreamGap;

/** One direction of a conversation. */
export interface TcpDirection {
  readonly src: TcpEndpoint;
  readonly dst: TcpEndpoint;
  /** Data and gaps in stream order; consecutive data items are contiguous. */
  readonly items: readonly StreamItem[];
  /** Whether a FIN was seen in this direction. */
  readonly finished: boolean;
}

/** One TCP connection between an initiator and a target. */
export interface TcpConversation {
  readonly initiator: TcpEndpoint;
  readonly target: TcpEndpoint;
  /** Frame of the conversation's first segment. */
  readonly firstFrame: number;
  /** Initiator → target bytes. */
  readonly toTarget: TcpDirection;
  /** Target → initiator bytes. */
  readonly toInitiator: TcpDirection;
}

interface Segment {
  readonly start: number;
  readonly bytes: Uint8Array;
  readonly frame: number;
  /** Arrival order, to prefer the first copy of overlapping bytes. */
  readonly order: number;
}

/** Reassembly state of one direction. */
class DirectionState {
  readonly items: StreamItem[] = [];
  started = false;
  /** Initial sequence number from the SYN, when one was seen. */
  isn: number | undefined;
  /** Sequence number (mod 2^32) of stream offset `next`. */
  nextSeq = 0;
  /** Stream offset of the next byte to deliver. */
  next = 0;
  finAt: number | undefined;
  finFrame = 0;
  readonly #pending = new SegmentHeap();
  #order = 0;

  constructor(
    readonly src: TcpEndpoint,
    readonly dst: TcpEndpoint,
  ) {}

  add(p: CapturePacket): void {
    const syn = (p.flags & TcpFlag.SYN) !== 0;
    if (!this.started) {
      this.started = true;
      // RFC 9293 §3.4: the SYN occupies sequence number ISN, data starts at ISN + 1.
      this.nextSeq = syn ? (p.seq + 1) >>> 0 : p.seq;
      if (syn) this.isn = p.seq;
    }
    const dataSeq = syn ? (p.seq + 1) >>> 0 : p.seq;
    // Signed 32-bit distance from the next expected byte: unwraps sequence numbers on streams beyond 4 GiB.
    const start = this.next + ((dataSeq - this.nextSeq) | 0);
    if ((p.flags & TcpFlag.FIN) !== 0 && this.finAt === undefined) {
      this.finAt = start + p.wireLength;
      this.finFrame = p.frame;
    }
    if (p.payload.length === 0) return;
    if (start <= this.next && this.#pending.size === 0) {
      this.#deliver(start, p.payload, p.frame); // the common, in-order case
      return;
    }
    this.#pending.push({ start, bytes: p.payload, frame: p.frame, order: this.#order++ });
    this.#drain(p.frame);
  }

  /** Declares the holes nothing filled as gaps and delivers what was waiting behind them. */
  finish(): void {
    for (let s = this.#pending.peek(); s !== undefined; s = this.#pending.peek()) {
      if (s.start > this.next) this.#gap(s.start - this.next, s.frame);
      this.#drain(undefined);
    }
    if (this.finAt !== undefined && this.finAt > this.next) this.#gap(this.finAt - this.next, this.finFrame);
  }

  /** Delivers pending segments that now start at or before `next`, attributed to `frame` (or their own). */
  #drain(frame: number | undefined): void {
    for (let s = this.#pending.peek(); s !== undefined && s.start <= this.next; s = this.#pending.peek()) {
      this.#pending.pop();
      this.#deliver(s.start, s.bytes, frame ?? s.frame);
    }
  }

  #deliver(start: number, bytes: Uint8Array, frame: number): void {
    const skip = this.next - start; // bytes already delivered (retransmission or overlap)
    if (skip >= bytes.length) return;
    const fresh = skip > 0 ? bytes.subarray(skip) : bytes;
    this.items.push({ kind: 'data', frame, offset: this.next, bytes: fresh });
    this.#advance(fresh.length);
  }

  #gap(length: number, frame: number): void {
    this.items.push({ kind: 'gap', frame, offset: this.next, length });
    this.#advance(length);
  }

  #advance(n: number): void {
    this.next += n;
    this.nextSeq = (this.nextSeq + n) >>> 0;
  }
}

/** Binary min-heap of segments ordered by stream offset, then arrival. */
class SegmentHeap {
  readonly #a: Segment[] = [];

  get size(): number {
    return this.#a.length;
  }

  peek(): Segment | undefined {
    return this.#a[0];
  }

  push(s: Segment): void {
    const a = this.#a;
    a.push(s);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): void {
    const a = this.#a;
    const last = a.pop()!;
    if (a.length === 0) return;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l]!, a[m]!)) m = l;
      if (r < a.length && before(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

function before(x: Segment, y: Segment): boolean {
  return x.start < y.start || (x.start === y.start && x.order < y.order);
}

/** State of one conversation while packets are being added. */
interface ConversationState {
  readonly firstFrame: number;
  readonly a: DirectionState;
  readonly b: DirectionState;
  readonly firstDst: TcpEndpoint;
  /** The endpoint that accepted the connection (receiver of a SYN without ACK), when seen. */
  server: TcpEndpoint | undefined;
}

/**
 * Groups TCP segments into conversations (by 4-tuple; a new SYN on a used 4-tuple starts a new one) and reassembles
 * both directions. The target is the endpoint on `options.port`; when both are, the one that accepted the
 * connection (or, without a handshake in the capture, the destination of the first segment).
 * Conversations are returned in order of their first frame.
 * @throws InvalidArgumentError when `options.port` is not an integer in 1..65535.
 */
export function reassemble(packets: Iterable<CapturePacket>, options: ReassembleOptions = {}): TcpConversation[] {
  const port = options.port ?? 3260;
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw new InvalidArgumentError(`port must be an integer in 1..65535, got ${String(port)}`);
  }
  const all: ConversationState[] = [];
  const open = new Map<string, ConversationState>();
  for (const p of packets) {
    if (p.src.port !== port && p.dst.port !== port) continue;
    const src = endpointKey(p.src);
    const dst = endpointKey(p.dst);
    const key = src < dst ? `${src}/${dst}` : `${dst}/${src}`;
    let c = open.get(key);
    const synOnly = (p.flags & (TcpFlag.SYN | TcpFlag.ACK)) === TcpFlag.SYN;
    if (c !== undefined && synOnly) {
      const d = directionOf(c, p.src);
      if (d.started && d.isn !== p.seq) c = undefined; // port reuse: a fresh connection on the same 4-tuple
    }
    if (c === undefined) {
      c = {
        firstFrame: p.frame,
        a: new DirectionState(p.src, p.dst),
        b: new DirectionState(p.dst, p.src),
        firstDst: p.dst,
        server: undefined,
      };
      open.set(key, c);
      all.push(c);
    }
    if (synOnly) c.server = p.dst;
    directionOf(c, p.src).add(p);
  }
  return all.map((c) => {
    c.a.finish();
    c.b.finish();
    const aIsTarget = c.a.src.port === port && (c.b.src.port !== port || same(c.a.src, c.server ?? c.firstDst));
    const [toInitiator, toTarget] = aIsTarget ? [c.a, c.b] : [c.b, c.a];
    return {
      initiator: toTarget.src,
      target: toTarget.dst,
      firstFrame: c.firstFrame,
      toTarget: direction(toTarget),
      toInitiator: direction(toInitiator),
    };
  });
}

function directionOf(c: ConversationState, src: TcpEndpoint): DirectionState {
  return same(c.a.src, src) ? c.a : c.b;
}

function direction(d: DirectionState): TcpDirection {
  return { src: d.src, dst: d.dst, items: d.items, finished: d.finAt !== undefined };
}

function same(x: TcpEndpoint, y: TcpEndpoint): boolean {
  return x.port === y.port && x.address === y.address;
}

function endpointKey(e: TcpEndpoint): string {
  return `${e.address}|${e.port}`;
}
