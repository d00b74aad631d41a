import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KernelError } from '../../src/kernel/errors.js';
import {
  decodeKernelMessage,
  decodeRequest,
  encodeKernelMessage,
  encodeRequest,
  type IscsiRequest,
  type KernelEvent,
  type KernelMessageSpec,
  type ReplyResult,
  requestFields,
  splitNetlinkDatagram,
} from '../../src/kernel/netlink-codec.js';
import { KeventType, UeventType } from '../../src/kernel/uevent-types.js';

const u32 = fc.nat({ max: 0xffffffff });
const u16 = fc.nat({ max: 0xffff });
const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const text = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => !s.includes('\0'));

const request: fc.Arbitrary<IscsiRequest> = u64.chain((transportHandle) =>
  fc.oneof(
    fc.record({
      type: fc.constant(UeventType.CreateSession),
      transportHandle: fc.constant(transportHandle),
      initialCmdSn: u32,
      cmdsMax: u16,
      queueDepth: u16,
    }),
    fc.record({
      type: fc.constant(UeventType.CreateBoundSession),
      transportHandle: fc.constant(transportHandle),
      epHandle: u64,
      initialCmdSn: u32,
      cmdsMax: u16,
      queueDepth: u16,
    }),
    fc.record({
      type: fc.constantFrom(UeventType.DestroySession, UeventType.UnbindSession, UeventType.DestroySessionAsync),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
    }),
    fc.record({
      type: fc.constantFrom(UeventType.CreateConn, UeventType.DestroyConn, UeventType.StartConn, UeventType.GetStats),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
      cid: u32,
    }),
    fc.record({
      type: fc.constant(UeventType.BindConn),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
      cid: u32,
      transportEph: u64,
      isLeading: fc.boolean(),
    }),
    fc.record({
      type: fc.constant(UeventType.SetParam),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
      cid: u32,
      param: fc.nat({ max: 71 }),
      value: text,
    }),
    fc.record({
      type: fc.constant(UeventType.StopConn),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
      cid: u32,
      connHandle: u64,
      flag: fc.constantFrom(1, 2, 3),
    }),
    fc.record({
      type: fc.constant(UeventType.SendPdu),
      transportHandle: fc.constant(transportHandle),
      sid: u32,
      cid: u32,
      header: fc.constantFrom(48, 52, 64).chain((n) => bytes(n, n)),
      data: bytes(0, 600),
    }),
    fc.record({
      type: fc.constant(UeventType.SetHostParam),
      transportHandle: fc.constant(transportHandle),
      hostNo: u32,
      param: fc.nat({ max: 5 }),
      value: text,
    }),
    fc.record({
      type: fc.constant(UeventType.TransportEpConnect),
      transportHandle: fc.constant(transportHandle),
      nonBlocking: fc.boolean(),
      address: bytes(2, 28),
    }),
    fc.record({
      type: fc.constant(UeventType.TransportEpConnectThroughHost),
      transportHandle: fc.constant(transportHandle),
      hostNo: u32,
      nonBlocking: fc.boolean(),
      address: bytes(2, 28),
    }),
    fc.record({
      type: fc.constant(UeventType.TransportEpPoll),
      transportHandle: fc.constant(transportHandle),
      epHandle: u64,
      timeoutMs: u32,
    }),
    fc.record({
      type: fc.constant(UeventType.TransportEpDisconnect),
      transportHandle: fc.constant(transportHandle),
      epHandle: u64,
    }),
  ),
) as fc.Arbitrary<IscsiRequest>;

const result: fc.Arbitrary<ReplyResult> = fc.oneof(
  fc.record({ kind: fc.constant('retcode' as const), retcode: fc.integer({ min: -0x80000000, max: 0x7fffffff }) }),
);

function resultFor(type: number): fc.Arbitrary<ReplyResult> {
  if (type === UeventType.CreateSession || type === UeventType.CreateBoundSession) {
    return fc.record({ kind: fc.constant('session' as const), sid: u32, hostNo: u32 });
  }
  if (type === UeventType.CreateConn) return fc.record({ kind: fc.constant('conn' as const), sid: u32, cid: u32 });
  if (type === UeventType.TransportEpConnect || type === UeventType.TransportEpConnectThroughHost) {
    return fc.record({ kind: fc.constant('endpoint' as const), epHandle: u64 });
  }
  return result;
}

function dslHeader(dataLength: number): fc.Arbitrary<Uint8Array> {
  return bytes(48, 48).map((h) => {
    const out = new Uint8Array(h);
    out[5] = (dataLength >> 16) & 0xff;
    out[6] = (dataLength >> 8) & 0xff;
    out[7] = dataLength & 0xff;
    return out;
  });
}

const event: fc.Arbitrary<KernelEvent> = fc.oneof(
  bytes(0, 300).chain((data) =>
    fc.record({
      type: fc.constant(KeventType.RecvPdu),
      sid: u32,
      cid: u32,
      recvHandle: u64,
      header: dslHeader(data.length),
      data: fc.constant(data),
    }),
  ),
  fc.record({ type: fc.constant(KeventType.ConnError), sid: u32, cid: u32, error: u32 }),
  fc.record({ type: fc.constant(KeventType.ConnLoginState), sid: u32, cid: u32, state: u32 }),
  fc.record({
    type: fc.constantFrom(KeventType.CreateSession, KeventType.DestroySession, KeventType.UnbindSession),
    sid: u32,
    hostNo: u32,
  }),
  fc.record({ type: fc.constantFrom(KeventType.PathReq, KeventType.IfDown), hostNo: u32, data: bytes(0, 64) }),
  fc.record({ type: fc.constant(KeventType.HostEvent), hostNo: u32, code: u32, data: bytes(0, 64) }),
  fc.record({ type: fc.constant(KeventType.PingComp), hostNo: u32, status: u32, pid: u32, data: bytes(0, 64) }),
) as fc.Arbitrary<KernelEvent>;

const spec: fc.Arbitrary<KernelMessageSpec> = fc.oneof(
  request.chain((r) =>
    resultFor(r.type).map((res) => ({ kind: 'reply' as const, request: requestFields(r), result: res })),
  ),
  request.chain((r) =>
    fc.integer({ min: 1, max: 4095 }).map((errno) => ({ kind: 'error' as const, request: requestFields(r), errno })),
  ),
  fc.record({ kind: fc.constant('event' as const), transportHandle: u64, event }),
);

function onlyKernelErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KernelError);
  }
}

describe('NETLINK_ISCSI codec properties', () => {
  it('every request round-trips, with nlmsg_len = 72 + trailing and nlmsg_type = ev.type', () => {
    fc.assert(
      fc.property(request, u32, (req, pid) => {
        const msg = encodeRequest(req, { pid });
        expect(msg.readUInt32LE(0)).toBe(msg.length);
        expect(msg.readUInt16LE(4)).toBe(req.type);
        expect(msg.readUInt32LE(16)).toBe(req.type);
        const back = decodeRequest(msg);
        expect(back.header.pid).toBe(pid);
        expect(back.request).toEqual(req);
        // A reply echoes the fixed fields; re-encoding it gives the same 72 bytes as the request's head.
        const reply = encodeKernelMessage({
          kind: 'reply',
          request: requestFields(req),
          result: { kind: 'retcode', retcode: 0 },
        });
        expect(reply.subarray(16, 56)).toEqual(msg.subarray(16, 56));
      }),
      { numRuns: 400 },
    );
  });

  it('every kernel message (reply, IF_ERROR, event) round-trips', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const msg = encodeKernelMessage(s);
        const back = decodeKernelMessage(msg);
        expect(back.header.length).toBe(msg.length);
        if (s.kind === 'reply') expect(back).toMatchObject({ kind: 'reply', request: s.request, result: s.result });
        else if (s.kind === 'error') expect(back).toMatchObject({ kind: 'error', request: s.request, errno: s.errno });
        else if (s.kind === 'event')
          expect(back).toMatchObject({ kind: 'event', transportHandle: s.transportHandle, event: s.event });
        expect(encodeKernelMessage(s)).toEqual(msg);
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary bytes never throw anything but KernelError', () => {
    fc.assert(
      fc.property(bytes(0, 200), (b) => {
        onlyKernelErrors(() => decodeKernelMessage(b));
        onlyKernelErrors(() => decodeRequest(b));
        onlyKernelErrors(() => splitNetlinkDatagram(b));
      }),
      { numRuns: 1000 },
    );
  });

  it('valid messages with a byte changed, a length rewritten or cut short still give only KernelError', () => {
    const mutated = fc
      .tuple(
        fc.oneof(
          request.map((r) => encodeRequest(r)),
          spec.map((s) => encodeKernelMessage(s)),
        ),
        fc.nat(),
        fc.nat({ max: 255 }),
        fc.nat(),
      )
      .map(([msg, at, value, cut]) => {
        const copy = Buffer.from(msg);
        copy[at % copy.length] = value;
        if (cut % 3 === 0) copy.writeUInt32LE(cut % (copy.length + 8), 0);
        return cut % 5 === 0 ? copy.subarray(0, cut % copy.length) : copy;
      });
    fc.assert(
      fc.property(mutated, (b) => {
        onlyKernelErrors(() => decodeKernelMessage(b));
        onlyKernelErrors(() => decodeRequest(b));
        onlyKernelErrors(() => splitNetlinkDatagram(b).map((m) => decodeKernelMessage(m)));
      }),
      { numRuns: 1000 },
    );
  });
});
