/**
 * The operational parameters of a session and connection after login negotiation (RFC 7143 §13), their RFC
 * defaults, and the local values a {@link Negotiator} starts from.
 * @module
 */

/** A digest that HeaderDigest and DataDigest can select (RFC 7143 §13.1). */
export type DigestName = 'CRC32C' | 'None';

/** A value of TaskReporting (RFC 7143 §13.23). */
export type TaskReportingValue = 'RFC3720' | 'ResponseFence' | 'FastAbort';

/** The kind of session, from the SessionType key (RFC 7143 §13.21). */
export type SessionType = 'Normal' | 'Discovery';

/**
 * The outcome of a negotiation: every operational value in force for the session and connection. Keys that were
 * never negotiated hold their RFC 7143 §13 default. The object is frozen.
 */
export interface NegotiatedParameters {
  /** SessionType (§13.21). */
  readonly sessionType: SessionType;
  /** HeaderDigest (§13.1), used on every PDU of the Full Feature Phase. */
  readonly headerDigest: DigestName;
  /** DataDigest (§13.1). */
  readonly dataDigest: DigestName;
  /** MaxConnections (§13.2). */
  readonly maxConnections: number;
  /** InitialR2T (§13.10): true means unsolicited Data-Out PDUs are not allowed. */
  readonly initialR2T: boolean;
  /** ImmediateData (§13.11). */
  readonly immediateData: boolean;
  /**
   * The MaxRecvDataSegmentLength this side declared (§13.12): the largest data segment the peer may send to us.
   * 8192 when we declared none.
   */
  readonly maxRecvDataSegmentLength: number;
  /**
   * The MaxRecvDataSegmentLength the peer declared: the largest data segment we may send. 8192 when the peer
   * declared none (tgtd never does).
   */
  readonly maxXmitDataSegmentLength: number;
  /** MaxBurstLength (§13.13). */
  readonly maxBurstLength: number;
  /** FirstBurstLength (§13.14); never above {@link NegotiatedParameters.maxBurstLength} when it matters. */
  readonly firstBurstLength: number;
  /** DefaultTime2Wait in seconds (§13.15). */
  readonly defaultTime2Wait: number;
  /** DefaultTime2Retain in seconds (§13.16). */
  readonly defaultTime2Retain: number;
  /** MaxOutstandingR2T (§13.17). */
  readonly maxOutstandingR2T: number;
  /** DataPDUInOrder (§13.18). */
  readonly dataPDUInOrder: boolean;
  /** DataSequenceInOrder (§13.19). */
  readonly dataSequenceInOrder: boolean;
  /** ErrorRecoveryLevel (§13.20). */
  readonly errorRecoveryLevel: number;
  /** TaskReporting (§13.23). */
  readonly taskReporting: TaskReportingValue;
  /** iSCSIProtocolLevel (§13.24, RFC 7144). */
  readonly iscsiProtocolLevel: number;
  /** TargetAlias declared by the target (§13.6), if any. */
  readonly targetAlias?: string;
  /** TargetPortalGroupTag declared by the target (§13.9), if any. */
  readonly targetPortalGroupTag?: number;
  /** InitiatorAlias declared by the initiator (§13.7), if any (seen by a target). */
  readonly initiatorAlias?: string;
}

/**
 * This side's values. For an originator they are the offers (a digest list in order of preference); for a
 * responder they are its limits and what it supports (a digest list is then the supported set). Booleans read
 * as "what this side wants": `initialR2T: true` insists on R2T, `immediateData: false` refuses immediate data.
 */
export interface LocalOffer {
  /** HeaderDigest values, in order of preference (originator) or supported (responder). */
  readonly headerDigest: readonly DigestName[];
  /** DataDigest values, as {@link LocalOffer.headerDigest}. */
  readonly dataDigest: readonly DigestName[];
  /** MaxConnections, 1..65535. */
  readonly maxConnections: number;
  /** InitialR2T. */
  readonly initialR2T: boolean;
  /** ImmediateData. */
  readonly immediateData: boolean;
  /** The largest data segment WE can receive, 512..2^24-1; declared to the peer (§13.12). */
  readonly maxRecvDataSegmentLength: number;
  /** MaxBurstLength, 512..2^24-1. */
  readonly maxBurstLength: number;
  /** FirstBurstLength, 512..2^24-1 and at most {@link LocalOffer.maxBurstLength}. */
  readonly firstBurstLength: number;
  /** DefaultTime2Wait, 0..3600 s. */
  readonly defaultTime2Wait: number;
  /** DefaultTime2Retain, 0..3600 s. */
  readonly defaultTime2Retain: number;
  /** MaxOutstandingR2T, 1..65535. */
  readonly maxOutstandingR2T: number;
  /** DataPDUInOrder. */
  readonly dataPDUInOrder: boolean;
  /** DataSequenceInOrder. */
  readonly dataSequenceInOrder: boolean;
  /** ErrorRecoveryLevel, 0..2. */
  readonly errorRecoveryLevel: number;
  /**
   * TaskReporting values; must include RFC3720 (§13.23). Offered only when set explicitly, since peers that
   * only know RFC 3720 would answer NotUnderstood.
   */
  readonly taskReporting: readonly TaskReportingValue[];
  /** iSCSIProtocolLevel, 0..31; offered only when set explicitly (RFC 7144). */
  readonly iscsiProtocolLevel: number;
}

/** Largest value of the 24-bit length keys (MaxRecvDataSegmentLength, MaxBurstLength, FirstBurstLength). */
export const MAX_SEGMENT_KEY_VALUE = 2 ** 24 - 1;

/** The RFC 7143 §13 defaults: what holds for every key that is never negotiated. */
export const DEFAULT_PARAMETERS: NegotiatedParameters = Object.freeze({
  sessionType: 'Normal',
  headerDigest: 'None',
  dataDigest: 'None',
  maxConnections: 1,
  initialR2T: true,
  immediateData: true,
  maxRecvDataSegmentLength: 8192,
  maxXmitDataSegmentLength: 8192,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 20,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
  taskReporting: 'RFC3720',
  iscsiProtocolLevel: 1,
});

/**
 * The values a {@link Negotiator} uses for anything its `local` option leaves out. They differ from the RFC
 * defaults where common initiators (libiscsi, open-iscsi) differ: InitialR2T=No and 256 KiB receive segments,
 * so writes can carry unsolicited data; DefaultTime2Retain=0, since at ErrorRecoveryLevel 0 there is no task
 * reassignment for the target to keep state for. Both digests are listed, None first.
 */
export const DEFAULT_LOCAL_OFFER: LocalOffer = Object.freeze({
  headerDigest: Object.freeze(['None', 'CRC32C'] as const),
  dataDigest: Object.freeze(['None', 'CRC32C'] as const),
  maxConnections: 1,
  initialR2T: false,
  immediateData: true,
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 262144,
  firstBurstLength: 65536,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
  maxOutstandingR2T: 1,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  errorRecoveryLevel: 0,
  taskReporting: Object.freeze(['RFC3720'] as const),
  iscsiProtocolLevel: 1,
});
