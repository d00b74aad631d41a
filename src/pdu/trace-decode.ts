/**
 * Decodes the iSCSI PDUs of a capture: reads pcap/pcapng, reassembles each TCP conversation on the target port,
 * frames both directions in capture order, and follows the digests the login in the capture negotiated
 * (HeaderDigest/DataDigest take effect after the final Login Response, RFC 7143 §13.1), which tshark does not.
 * @module
 */
import type { IscsiError } from '../errors.js';
import type { TcpEndpoint } from './capture-types.js';
import { Framer } from './framer.js';
import { readCapture } from './pcap-read.js';
import { reassemble, type StreamItem } from './tcp-reassembly.js';
import { decodeTextLenient, redactTextPair, type TextPair, TextReassembler } from './text.js';
import type { Pdu } from './types.js';

/** Options of {@link decodeCapture}. */
export interface DecodeCaptureOptions {
  /** The target's TCP port (default 3260). */
  readonly port?: number;
}

/** One PDU found in a capture. */
export interface TracedPdu {
  /** Frame (1-based, as tshark numbers them) of the segment that completed the PDU. */
  readonly frame: number;
  /** Who sent it. */
  readonly from: 'initiator' | 'target';
  readonly src: TcpEndpoint;
  readonly dst: TcpEndpoint;
  /** The decoded PDU; undefined when it could not be decoded (see `violations`). */
  readonly pdu: Pdu | undefined;
  /** Opcode from the wire (also set when `pdu` is undefined). */
  readonly opcode: number;
  /** Wire length, digests and padding included. */
  readonly length: number;
  /** Login/Text keys of a completed text segment, with CHAP challenges and responses redacted. */
  readonly text?: readonly TextPair[];
  /** Rules the PDU broke. */
  readonly violations: readonly IscsiError[];
}

/** A direction that could not be followed any further, and why. */
export interface TraceProblem {
  readonly frame: number;
  readonly from: 'initiator' | 'target';
  readonly message: string;
}

/** Everything found in a capture. */
export interface DecodedCapture {
  readonly pdus: TracedPdu[];
  readonly problems: TraceProblem[];
}

interface Side {
  readonly from: 'initiator' | 'target';
  readonly src: TcpEndpoint;
  readonly dst: TcpEndpoint;
  readonly framer: Framer;
  readonly text: TextReassembler;
  stopped: boolean;
}

/** Decodes every iSCSI PDU in a pcap or pcapng capture. Throws only for an unreadable capture file. */
export function decodeCapture(capture: Uint8Array, options: DecodeCaptureOptions = {}): DecodedCapture {
  const port = options.port ?? 3260;
  const pdus: TracedPdu[] = [];
  const problems: TraceProblem[] = [];
  for (const conv of reassemble(readCapture(capture), { port })) {
    const make = (from: Side['from'], dir: typeof conv.toTarget): Side => ({
      from,
      src: dir.src,
      dst: dir.dst,
      framer: new Framer({ maxDataSegmentLength: 0xffffff, sender: from }),
      text: new TextReassembler({ allowDuplicates: true }),
      stopped: false,
    });
    const sides = [make('initiator', conv.toTarget), make('target', conv.toInitiator)] as const;
    const digests = new DigestTracker();
    // Both directions in capture order, so digests switch on where the login ended.
    const items: [Side, StreamItem][] = [
      ...conv.toTarget.items.map((i): [Side, StreamItem] => [sides[0], i]),
      ...conv.toInitiator.items.map((i): [Side, StreamItem] => [sides[1], i]),
    ].sort((a, b) => a[1].frame - b[1].frame);
    for (const [side, item] of items) {
      if (side.stopped) continue;
      if (item.kind === 'gap') {
        side.stopped = true;
        problems.push({ frame: item.frame, from: side.from, message: `${item.length} bytes missing from the capture` });
        continue;
      }
      side.framer.push(item.bytes);
      try {
        for (let f = side.framer.nextLenient(); f; f = side.framer.nextLenient()) {
          const traced = trace(side, item.frame, f.pdu, f.wire, f.violations);
          pdus.push(traced);
          if (f.pdu) digests.see(f.pdu, traced.text, sides);
        }
      } catch (err) {
        side.stopped = true;
        problems.push({ frame: item.frame, from: side.from, message: (err as Error).message });
      }
    }
  }
  pdus.sort((a, b) => a.frame - b.frame);
  return { pdus, problems };
}

function trace(
  side: Side,
  frame: number,
  pdu: Pdu | undefined,
  wire: Uint8Array,
  violations: readonly IscsiError[],
): TracedPdu {
  const base = {
    frame,
    from: side.from,
    src: side.src,
    dst: side.dst,
    pdu,
    opcode: wire[0]! & 0x3f,
    length: wire.length,
  };
  if (!pdu || !isText(pdu)) return { ...base, violations };
  const all = [...violations];
  let text: TextPair[] | undefined;
  try {
    const segment = side.text.pushBytes(pdu.data, pdu.continue);
    if (segment) {
      const result = decodeTextLenient(segment, { allowDuplicates: true });
      all.push(...result.violations);
      text = result.pairs.map(redactTextPair);
    }
  } catch (err) {
    all.push(err as IscsiError);
  }
  return text ? { ...base, text, violations: all } : { ...base, violations: all };
}

function isText(pdu: Pdu): pdu is Extract<Pdu, { continue: boolean }> {
  return (
    pdu.kind === 'login-request' ||
    pdu.kind === 'login-response' ||
    pdu.kind === 'text-request' ||
    pdu.kind === 'text-response'
  );
}

/** Follows HeaderDigest/DataDigest through a login and switches both framers on when it completes. */
class DigestTracker {
  #header = false;
  #data = false;

  see(pdu: Pdu, text: readonly TextPair[] | undefined, sides: readonly Side[]): void {
    if (pdu.kind !== 'login-request' && pdu.kind !== 'login-response') return;
    // An answer is a single value; an offer is a list (RFC 7143 §6.2.1): the last single value wins.
    for (const [key, value] of text ?? []) {
      if (value.includes(',')) continue;
      if (key === 'HeaderDigest') this.#header = value === 'CRC32C';
      if (key === 'DataDigest') this.#data = value === 'CRC32C';
    }
    if (pdu.kind === 'login-response' && pdu.transit && pdu.nextStage === 3 && pdu.statusClass === 0) {
      for (const side of sides) side.framer.configure({ headerDigest: this.#header, dataDigest: this.#data });
    }
  }
}
