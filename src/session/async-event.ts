/**
 * Asynchronous Messages (RFC 7143 §11.9): what an event asks of the initiator, and its structured log event. The
 * session carries out the action.
 * @module
 */
import { formatLun, lunToNumber } from '../pdu/lun.js';
import type { AsyncMessagePdu } from '../pdu/types.js';
import { parseSense, senseFromSegment } from '../scsi/sense.js';
import type { SessionEvent } from './events.js';

/** AsyncEvent codes (§11.9.1). */
export const AsyncEvent = {
  ScsiEvent: 0,
  LogoutRequest: 1,
  DropConnection: 2,
  DropAllConnections: 3,
  RenegotiationRequest: 4,
  VendorSpecific: 255,
} as const;

/** What the session must do about an Asynchronous Message. */
export type AsyncAction =
  /** Only log it (SCSI event, renegotiation request, vendor specific, reserved codes). */
  | { readonly kind: 'log' }
  /** Log out once the outstanding commands are done, within `withinSeconds` (Parameter3). */
  | { readonly kind: 'logout'; readonly withinSeconds: number }
  /** The target drops the connection (or all of them): close and fail what is outstanding. */
  | { readonly kind: 'drop'; readonly reason: string };

const NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'scsi-event',
  1: 'logout-request',
  2: 'drop-connection',
  3: 'drop-all-connections',
  4: 'renegotiation-request',
  255: 'vendor-specific',
});

/** The decoded message: its log event and the action it asks for. */
export interface AsyncMessage {
  readonly event: Extract<SessionEvent, { event: 'async-message' }>;
  readonly action: AsyncAction;
}

/** Reads an Asynchronous Message; never throws (malformed sense data is reported in the event, not raised). */
export function readAsyncMessage(pdu: AsyncMessagePdu): AsyncMessage {
  const { asyncEvent, asyncVCode, parameter1, parameter2, parameter3 } = pdu;
  const base = {
    event: 'async-message',
    asyncEvent,
    asyncVCode,
    name: NAMES[asyncEvent] ?? 'reserved',
    lun: String(lunToNumber(pdu.lun) ?? formatLun(pdu.lun)),
  } as const;
  switch (asyncEvent) {
    case AsyncEvent.ScsiEvent:
      // §11.9.4: the data segment holds SenseLength, then the sense data of the SCSI event (e.g. a UNIT ATTENTION).
      return { event: { ...base, ...senseOf(pdu.data) }, action: { kind: 'log' } };
    case AsyncEvent.LogoutRequest:
      // §11.9.1: Parameter3 is the time (seconds) the initiator has to log out.
      return { event: { ...base, parameter3 }, action: { kind: 'logout', withinSeconds: parameter3 } };
    case AsyncEvent.DropConnection:
    case AsyncEvent.DropAllConnections: {
      // Parameter1 is the CID (event 2); Parameter2 Time2Wait, Parameter3 Time2Retain, in seconds.
      const what = asyncEvent === AsyncEvent.DropConnection ? 'the connection' : 'all connections';
      const reason = `the target drops ${what} (Time2Wait ${parameter2} s, Time2Retain ${parameter3} s)`;
      return {
        event: { ...base, parameter1, parameter2, parameter3 },
        action: { kind: 'drop', reason },
      };
    }
    case AsyncEvent.RenegotiationRequest:
      // Parameter3: seconds within which the initiator should start a Text negotiation (not done yet).
      return { event: { ...base, parameter3 }, action: { kind: 'log' } };
    default:
      return { event: { ...base, parameter1, parameter2, parameter3 }, action: { kind: 'log' } };
  }
}

function senseOf(segment: Uint8Array): { senseKey?: number; asc?: number; ascq?: number; senseError?: string } {
  try {
    const bytes = senseFromSegment(segment);
    if (!bytes) return {};
    const s = parseSense(bytes);
    return { senseKey: s.senseKey, asc: s.asc, ascq: s.ascq };
  } catch (err) {
    return { senseError: err instanceof Error ? err.message : 'malformed sense data' };
  }
}
