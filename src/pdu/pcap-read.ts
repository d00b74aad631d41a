/**
 * Capture file reader: classic pcap (either byte order, micro- or nanosecond timestamps) and pcapng (sections in
 * either byte order, Interface Description, Enhanced / Simple / obsolete Packet Blocks), down to TCP segments.
 * Every length read from the file is checked against the input before use; packet payloads are views.
 * @module
 */
import { ErrorCode, ProtocolError } from '../errors.js';
import type { CapturePacket, CaptureWarning } from './capture-types.js';
import { FrameDecoder, type FrameLocation } from './frame-decode.js';

/** Options of {@link readCapture} and {@link iterateCapture}. */
export interface ReadCaptureOptions {
  /** Called for frames that were skipped or only partly captured (IP fragments, snaplen cuts, unknown link types). */
  readonly onWarning?: (warning: CaptureWarning) => void;
}

const PCAP_MICRO = 0xa1b2c3d4;
const PCAP_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PACKET_OBSOLETE = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
/**
 * Blocks that carry no packet but that tshark 4.0 still shows as frames (systemd journal export, Sysdig events,
 * custom blocks): they are counted so that frame numbers stay equal to tshark's.
 */
const NON_PACKET_FRAMES: readonly number[] = [0x00000009, 0x00000204, 0x00000216, 0x00000221, 0x00000bad, 0x40000bad];
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

interface Interface {
  readonly linkType: number;
  readonly snaplen: number;
  /** Timestamp units per second (10^6 unless if_tsresol says otherwise). */
  readonly unitsPerSecond: bigint;
  readonly offsetSeconds: bigint;
}

/**
 * Reads every TCP segment of a pcap or pcapng capture.
 * @throws ProtocolError (ErrorCode.Capture) when the file is not a capture or is truncated or malformed.
 */
export function readCapture(bytes: Uint8Array, options: ReadCaptureOptions = {}): CapturePacket[] {
  return Array.from(iterateCapture(bytes, options));
}

/**
 * Lazily yields the TCP segments of a pcap or pcapng capture, in file order.
 * Frames that are not TCP over IPv4/IPv6 are skipped but still counted in frame numbers.
 * @throws ProtocolError (ErrorCode.Capture) when the file is not a capture or is truncated or malformed.
 */
export function* iterateCapture(bytes: Uint8Array, options: ReadCaptureOptions = {}): Generator<CapturePacket> {
  if (bytes.length < 4) throw captureError('input too short for a capture file header', 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic === PCAPNG_SHB) {
    yield* pcapng(bytes, view, options);
    return;
  }
  for (const littleEndian of [true, false]) {
    const m = view.getUint32(0, littleEndian);
    if (m === PCAP_MICRO || m === PCAP_NANO) {
      yield* pcap(bytes, view, littleEndian, m === PCAP_NANO, options);
      return;
    }
  }
  throw captureError(`unknown capture format (magic 0x${magic.toString(16).padStart(8, '0')})`, 0);
}

function* pcap(
  bytes: Uint8Array,
  view: DataView,
  le: boolean,
  nano: boolean,
  options: ReadCaptureOptions,
): Generator<CapturePacket> {
  if (bytes.length < 24) throw captureError('pcap global header truncated', 0);
  // The upper bits of the link type field may carry FCS information; the link type is the low 16 bits.
  const linkType = view.getUint32(20, le) & 0xffff;
  const fractionToNs = nano ? 1n : 1000n;
  const decoder = new FrameDecoder(bytes);
  let frame = 0;
  let at = 24;
  while (at < bytes.length) {
    if (at + 16 > bytes.length) throw captureError(`pcap record header truncated (frame ${frame + 1})`, at);
    const captured = view.getUint32(at + 8, le);
    const original = view.getUint32(at + 12, le);
    if (captured > bytes.length - at - 16) {
      throw captureError(`pcap record of ${captured} bytes runs past the end of the input (frame ${frame + 1})`, at);
    }
    frame++;
    const timestampNs =
      BigInt(view.getUint32(at, le)) * 1_000_000_000n + BigInt(view.getUint32(at + 4, le)) * fractionToNs;
    const start = at + 16;
    const loc = {
      frame,
      timestampNs,
      start,
      capturedEnd: start + captured,
      originalEnd: start + Math.max(original, captured),
    };
    const packet = decode(decoder, linkType, loc, options);
    if (packet !== undefined) yield packet;
    at = start + captured;
  }
}

function* pcapng(bytes: Uint8Array, view: DataView, options: ReadCaptureOptions): Generator<CapturePacket> {
  let le = true;
  let interfaces: Interface[] = [];
  const decoder = new FrameDecoder(bytes);
  let frame = 0;
  let at = 0;
  while (at < bytes.length) {
    if (at + 12 > bytes.length) throw captureError('pcapng block header truncated', at);
    const type = view.getUint32(at, le);
    if (type === PCAPNG_SHB) {
      // A new section may switch byte order; its byte-order magic decides (pcapng §4.1).
      if (view.getUint32(at + 8, true) === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (view.getUint32(at + 8, false) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else throw captureError('pcapng Section Header Block has no valid byte-order magic', at);
      if (at + 16 > bytes.length) throw captureError('pcapng Section Header Block truncated', at);
      const major = view.getUint16(at + 12, le);
      if (major !== 1) throw captureError(`unsupported pcapng major version ${major}`, at);
      interfaces = [];
    }
    const length = view.getUint32(at + 4, le);
    if (length < 12 || length % 4 !== 0 || length > bytes.length - at) {
      throw captureError(`pcapng block length ${length} is invalid or runs past the end of the input`, at);
    }
    if (type === PCAPNG_SHB && length < 28) throw captureError('pcapng Section Header Block too short', at);
    if (view.getUint32(at + length - 4, le) !== length) {
      throw captureError('pcapng block trailing length does not match its leading length', at);
    }
    const body = at + 8;
    const bodyEnd = at + length - 4;
    switch (type) {
      case BLOCK_IDB:
        interfaces.push(describeInterface(view, body, bodyEnd, le, at));
        break;
      case BLOCK_EPB:
      case BLOCK_PACKET_OBSOLETE: {
        if (bodyEnd - body < 20) throw captureError('pcapng packet block too short', at);
        const obsolete = type === BLOCK_PACKET_OBSOLETE;
        const id = obsolete ? view.getUint16(body, le) : view.getUint32(body, le);
        const captured = view.getUint32(body + 12, le);
        const original = view.getUint32(body + 16, le);
        if (captured > bodyEnd - body - 20) throw captureError('pcapng packet data runs past its block', at);
        const iface = interfaces[id];
        if (iface === undefined) throw captureError(`pcapng packet refers to undeclared interface ${id}`, at);
        frame++;
        const units = (BigInt(view.getUint32(body + 4, le)) << 32n) | BigInt(view.getUint32(body + 8, le));
        const start = body + 20;
        const timestampNs = timestamp(units, iface);
        const loc = {
          frame,
          timestampNs,
          start,
          capturedEnd: start + captured,
          originalEnd: start + Math.max(original, captured),
        };
        const packet = decode(decoder, iface.linkType, loc, options);
        if (packet !== undefined) yield packet;
        break;
      }
      case BLOCK_SPB: {
        if (bodyEnd - body < 4) throw captureError('pcapng Simple Packet Block too short', at);
        const iface = interfaces[0];
        if (iface === undefined) throw captureError('pcapng Simple Packet Block without an interface', at);
        frame++;
        const original = view.getUint32(body, le);
        // pcapng §4.4: the captured length is the smaller of the original length and the snaplen.
        let captured = Math.min(original, bodyEnd - body - 4);
        if (iface.snaplen > 0) captured = Math.min(captured, iface.snaplen);
        const start = body + 4;
        const loc = {
          frame,
          timestampNs: 0n,
          start,
          capturedEnd: start + captured,
          originalEnd: start + Math.max(original, captured),
        };
        const packet = decode(decoder, iface.linkType, loc, options);
        if (packet !== undefined) yield packet;
        break;
      }
      default:
        // Section header handled above; name resolution, statistics, secrets and custom blocks are not needed.
        if (NON_PACKET_FRAMES.includes(type)) frame++;
        break;
    }
    at += length;
  }
}

function describeInterface(view: DataView, body: number, end: number, le: boolean, block: number): Interface {
  if (end - body < 8) throw captureError('pcapng Interface Description Block too short', block);
  let unitsPerSecond = 1_000_000n;
  let offsetSeconds = 0n;
  // Options: 2-byte code, 2-byte length, value padded to 4 bytes; opt_endofopt (0) ends the list.
  for (let p = body + 8; p + 4 <= end; ) {
    const code = view.getUint16(p, le);
    const length = view.getUint16(p + 2, le);
    if (code === 0) break;
    if (p + 4 + length > end) throw captureError('pcapng interface option runs past its block', p);
    if (code === OPT_IF_TSRESOL && length >= 1) {
      const r = view.getUint8(p + 4);
      const exponent = BigInt(r & 0x7f);
      // Bit 7 set: the unit is 2^-exponent seconds, else 10^-exponent seconds.
      unitsPerSecond = r & 0x80 ? 1n << exponent : 10n ** exponent;
    } else if (code === OPT_IF_TSOFFSET && length >= 8) {
      const hi = BigInt(view.getInt32(p + 4 + (le ? 4 : 0), le));
      const lo = BigInt(view.getUint32(p + 4 + (le ? 0 : 4), le));
      offsetSeconds = (hi << 32n) | lo;
    }
    p += 4 + length + ((4 - (length % 4)) % 4);
  }
  return {
    linkType: view.getUint16(body, le),
    snaplen: view.getUint32(body + 4, le),
    unitsPerSecond,
    offsetSeconds,
  };
}

function timestamp(units: bigint, iface: Interface): bigint {
  const perSecond = iface.unitsPerSecond;
  const seconds = units / perSecond + iface.offsetSeconds;
  return seconds * 1_000_000_000n + ((units % perSecond) * 1_000_000_000n) / perSecond;
}

/** Decodes one frame, reporting skips and snaplen cuts through `onWarning`. */
function decode(
  decoder: FrameDecoder,
  linkType: number,
  loc: FrameLocation,
  options: ReadCaptureOptions,
): CapturePacket | undefined {
  const result = decoder.decode(linkType, loc);
  if (result === null) return undefined;
  if ('skip' in result) {
    options.onWarning?.({ frame: loc.frame, offset: loc.start, message: result.skip });
    return undefined;
  }
  if (result.payload.length < result.wireLength) {
    const missing = result.wireLength - result.payload.length;
    options.onWarning?.({
      frame: loc.frame,
      offset: loc.start,
      message: `frame ${loc.frame}: ${missing} payload bytes not captured (snaplen)`,
    });
  }
  return result;
}

function captureError(message: string, offset: number): ProtocolError {
  return new ProtocolError(ErrorCode.Capture, `${message} (offset ${offset})`, { offset });
}
