/**
 * The shape of a row of the key table in `keys.ts` (RFC 7143 §13 terms: use, scope, senders, result function).
 * @module
 */

/** When a key may be used (RFC 7143 §13 preamble); `SEC` is the security stage only (AuthMethod, §12). */
export type KeyUse = 'LO' | 'IO' | 'FFPO' | 'ALL' | 'SEC';

/** Whether a key applies to the whole session or to one connection. */
export type KeyScope = 'SW' | 'CO';

/** Which side may send a key. */
export type KeySenders = 'initiator' | 'target' | 'both';

/** How the outcome of a key is computed; `reject` marks the obsolete marker keys, always answered Reject. */
export type ResultFunction = 'list' | 'and' | 'or' | 'min' | 'max' | 'declarative' | 'reject';

/**
 * Who acts on a key: the {@link Negotiator}, the login machine (identity and security keys) or the discovery
 * code (SendTargets). The negotiator checks the stage and sender of the others and then leaves them alone.
 */
export type KeyHandler = 'negotiator' | 'login' | 'discovery';

/** Fields of LocalOffer and NegotiatedParameters set by list keys. */
export type ListField = 'headerDigest' | 'dataDigest' | 'taskReporting';
/** Fields of LocalOffer and NegotiatedParameters set by Boolean keys. */
export type BooleanField = 'initialR2T' | 'immediateData' | 'dataPDUInOrder' | 'dataSequenceInOrder';
/** Fields of LocalOffer and NegotiatedParameters set by numerical keys. */
export type NumberField =
  | 'maxConnections'
  | 'maxBurstLength'
  | 'firstBurstLength'
  | 'defaultTime2Wait'
  | 'defaultTime2Retain'
  | 'maxOutstandingR2T'
  | 'errorRecoveryLevel'
  | 'iscsiProtocolLevel';

/** What every key declares. */
export interface KeyBase {
  /** The key name, as on the wire. */
  readonly name: string;
  /** The RFC section that defines it, e.g. `'13.13'` (RFC 7143 unless it names another RFC). */
  readonly section: string;
  /** When it may be used. */
  readonly use: KeyUse;
  /** Session-wide or connection-only. */
  readonly scope: KeyScope;
  /** Who may send it. */
  readonly senders: KeySenders;
  /**
   * Who may send it in the Full Feature Phase although its use is IO: the target, for TargetName in a
   * SendTargets response (§13.4: "IO by initiator, FFPO by target").
   */
  readonly fullFeatureSenders?: KeySenders;
  /** May also appear in the security stage (§13 "Any-Stage"). */
  readonly anyStage: boolean;
  /** "Irrelevant when: SessionType=Discovery". */
  readonly irrelevantInDiscovery: boolean;
  /** Who acts on it. */
  readonly handler: KeyHandler;
}

/** A key whose value is a list-of-values, negotiated by picking the first offered value the responder supports. */
export interface ListKeyDefinition extends KeyBase {
  readonly type: 'list';
  readonly result: 'list';
  /** The values this implementation knows; other values in an offer are ignored (§6.2.1). */
  readonly values: readonly string[];
  /** The default, if the RFC gives one. */
  readonly default: string | undefined;
  /** The parameter it sets, for keys the negotiator handles. */
  readonly field?: ListField;
  /** Not in RFC 3720: offered only when set explicitly, and a NotUnderstood answer leaves the default. */
  readonly optional?: boolean;
}

/** A boolean-value key negotiated with AND or OR (§6.2.2). */
export interface BooleanKeyDefinition extends KeyBase {
  readonly type: 'boolean';
  readonly result: 'and' | 'or';
  readonly default: boolean;
  readonly field: BooleanField;
}

/** A numerical-value key: negotiated with Minimum or Maximum, or declared. */
export interface NumberKeyDefinition extends KeyBase {
  readonly type: 'number';
  readonly result: 'min' | 'max' | 'declarative';
  /** Smallest valid value. */
  readonly min: number;
  /** Largest valid value. */
  readonly max: number;
  /** The default, if the RFC gives one. */
  readonly default: number | undefined;
  /** The parameter it sets, for negotiated keys. */
  readonly field?: NumberField;
  /** Not in RFC 3720: offered only when set explicitly, and a NotUnderstood answer leaves the default. */
  readonly optional?: boolean;
}

/** A declarative key with a text value (names, aliases, addresses, SessionType, SendTargets). */
export interface TextKeyDefinition extends KeyBase {
  readonly type: 'text';
  readonly result: 'declarative';
  /** The only values allowed, when the value is an enumeration (SessionType). */
  readonly values?: readonly string[];
}

/** A key RFC 7143 §13.25 obsoletes: still recognised, always answered Reject. */
export interface ObsoleteKeyDefinition extends KeyBase {
  readonly type: 'obsolete';
  readonly result: 'reject';
}

/** One row of the key table. */
export type KeyDefinition =
  | ListKeyDefinition
  | BooleanKeyDefinition
  | NumberKeyDefinition
  | TextKeyDefinition
  | ObsoleteKeyDefinition;
