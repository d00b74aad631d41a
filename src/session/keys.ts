/**
 * The Login/Text keys of RFC 7143 §13 (plus AuthMethod, §12.1), declared once. Each entry says how the key is
 * negotiated (its result function), its default and range, who may send it, when (use and stage) and whether
 * it matters in a discovery session. {@link Negotiator} is driven entirely by this table.
 *
 * Terms from the §13 preamble: LO = leading connection only, IO = login only ("initialize only"), FFPO = Full
 * Feature Phase only, ALL = login and Full Feature Phase; Any-Stage keys may also appear in the security stage,
 * all other §13 keys are operational keys; SW = session-wide, CO = connection-only. Result functions: "Minimum"
 * means the selected value cannot exceed the offered one, "Maximum" that it cannot be lower, AND / OR that it
 * must be a possible result of that Boolean function with the offered value.
 * @module
 */

import type { KeyDefinition, ListKeyDefinition } from './key-types.js';
import { MAX_SEGMENT_KEY_VALUE } from './params.js';

export type * from './key-types.js';

const LEN = { min: 512, max: MAX_SEGMENT_KEY_VALUE } as const;
// Defaults shared by most rows; each row spreads one and overrides what differs.
const OPERATIONAL = {
  use: 'LO',
  scope: 'SW',
  senders: 'both',
  anyStage: false,
  irrelevantInDiscovery: true,
  handler: 'negotiator',
} as const;
const DECLARED = {
  scope: 'SW',
  anyStage: true,
  irrelevantInDiscovery: false,
  type: 'text',
  result: 'declarative',
} as const;
const OBSOLETE = {
  use: 'IO',
  scope: 'CO',
  senders: 'both',
  anyStage: false,
  irrelevantInDiscovery: false,
  handler: 'negotiator',
  type: 'obsolete',
  result: 'reject',
} as const;

/** Every key iscsi-ts knows, in the order offers are made. */
export const KEYS: readonly KeyDefinition[] = Object.freeze([
  // §12.1: the security stage's own key; the login machine negotiates it.
  {
    name: 'AuthMethod',
    section: '12.1',
    use: 'SEC',
    scope: 'CO',
    senders: 'both',
    anyStage: true,
    irrelevantInDiscovery: false,
    handler: 'login',
    type: 'list',
    result: 'list',
    values: ['KRB5', 'SRP', 'CHAP', 'None'],
    default: undefined,
  },
  ...(['HeaderDigest', 'DataDigest'] as const).map(
    (name): ListKeyDefinition => ({
      ...OPERATIONAL,
      name,
      section: '13.1',
      use: 'IO',
      scope: 'CO',
      irrelevantInDiscovery: false,
      type: 'list',
      result: 'list',
      values: ['CRC32C', 'None'],
      default: 'None',
      field: name === 'HeaderDigest' ? 'headerDigest' : 'dataDigest',
    }),
  ),
  {
    ...OPERATIONAL,
    name: 'MaxConnections',
    section: '13.2',
    type: 'number',
    result: 'min',
    min: 1,
    max: 65535,
    default: 1,
    field: 'maxConnections',
  },
  {
    name: 'SendTargets',
    section: '13.3',
    use: 'FFPO',
    scope: 'SW',
    senders: 'initiator',
    anyStage: false,
    irrelevantInDiscovery: false,
    handler: 'discovery',
    type: 'text',
    result: 'declarative',
  },
  // §13.4: IO when the initiator names the target at login, FFPO when the target lists itself in a SendTargets
  // response (which the discovery code reads, not the negotiator).
  {
    ...DECLARED,
    name: 'TargetName',
    section: '13.4',
    use: 'IO',
    senders: 'initiator',
    fullFeatureSenders: 'target',
    handler: 'login',
  },
  { ...DECLARED, name: 'InitiatorName', section: '13.5', use: 'IO', senders: 'initiator', handler: 'login' },
  { ...DECLARED, name: 'TargetAlias', section: '13.6', use: 'ALL', senders: 'target', handler: 'negotiator' },
  { ...DECLARED, name: 'InitiatorAlias', section: '13.7', use: 'ALL', senders: 'initiator', handler: 'negotiator' },
  { ...DECLARED, name: 'TargetAddress', section: '13.8', use: 'ALL', senders: 'target', handler: 'login' },
  // §13.9: a 16-bit binary-value, in the first Login Response of the leading connection.
  {
    ...DECLARED,
    name: 'TargetPortalGroupTag',
    section: '13.9',
    use: 'IO',
    senders: 'target',
    handler: 'negotiator',
    type: 'number',
    min: 0,
    max: 65535,
    default: undefined,
  },
  {
    ...OPERATIONAL,
    name: 'InitialR2T',
    section: '13.10',
    type: 'boolean',
    result: 'or',
    default: true,
    field: 'initialR2T',
  },
  {
    ...OPERATIONAL,
    name: 'ImmediateData',
    section: '13.11',
    type: 'boolean',
    result: 'and',
    default: true,
    field: 'immediateData',
  },
  // §13.12: each side declares what it can receive; there is no answer. Not Any-Stage.
  {
    ...OPERATIONAL,
    name: 'MaxRecvDataSegmentLength',
    section: '13.12',
    use: 'ALL',
    scope: 'CO',
    irrelevantInDiscovery: false,
    type: 'number',
    result: 'declarative',
    ...LEN,
    default: 8192,
  },
  {
    ...OPERATIONAL,
    name: 'MaxBurstLength',
    section: '13.13',
    type: 'number',
    result: 'min',
    ...LEN,
    default: 262144,
    field: 'maxBurstLength',
  },
  // §13.14: also irrelevant when InitialR2T=Yes and ImmediateData=No; must not exceed MaxBurstLength.
  {
    ...OPERATIONAL,
    name: 'FirstBurstLength',
    section: '13.14',
    type: 'number',
    result: 'min',
    ...LEN,
    default: 65536,
    field: 'firstBurstLength',
  },
  // §13.15: the one Maximum key.
  {
    ...OPERATIONAL,
    name: 'DefaultTime2Wait',
    section: '13.15',
    irrelevantInDiscovery: false,
    type: 'number',
    result: 'max',
    min: 0,
    max: 3600,
    default: 2,
    field: 'defaultTime2Wait',
  },
  {
    ...OPERATIONAL,
    name: 'DefaultTime2Retain',
    section: '13.16',
    irrelevantInDiscovery: false,
    type: 'number',
    result: 'min',
    min: 0,
    max: 3600,
    default: 20,
    field: 'defaultTime2Retain',
  },
  {
    ...OPERATIONAL,
    name: 'MaxOutstandingR2T',
    section: '13.17',
    type: 'number',
    result: 'min',
    min: 1,
    max: 65535,
    default: 1,
    field: 'maxOutstandingR2T',
  },
  {
    ...OPERATIONAL,
    name: 'DataPDUInOrder',
    section: '13.18',
    type: 'boolean',
    result: 'or',
    default: true,
    field: 'dataPDUInOrder',
  },
  {
    ...OPERATIONAL,
    name: 'DataSequenceInOrder',
    section: '13.19',
    type: 'boolean',
    result: 'or',
    default: true,
    field: 'dataSequenceInOrder',
  },
  {
    ...OPERATIONAL,
    name: 'ErrorRecoveryLevel',
    section: '13.20',
    irrelevantInDiscovery: false,
    type: 'number',
    result: 'min',
    min: 0,
    max: 2,
    default: 0,
    field: 'errorRecoveryLevel',
  },
  {
    ...DECLARED,
    name: 'SessionType',
    section: '13.21',
    use: 'LO',
    senders: 'initiator',
    handler: 'login',
    values: ['Discovery', 'Normal'],
  },
  // §13.23: "at least the RFC3720 value MUST be offered".
  {
    ...OPERATIONAL,
    name: 'TaskReporting',
    section: '13.23',
    type: 'list',
    result: 'list',
    values: ['RFC3720', 'ResponseFence', 'FastAbort'],
    default: 'RFC3720',
    field: 'taskReporting',
    optional: true,
  },
  // §13.24 names the level of RFC 7143 (1); the key itself is defined by RFC 7144.
  {
    ...OPERATIONAL,
    name: 'iSCSIProtocolLevel',
    section: '13.24 / RFC 7144',
    type: 'number',
    result: 'min',
    min: 0,
    max: 31,
    default: 1,
    field: 'iscsiProtocolLevel',
    optional: true,
  },
  // §13.25: obsolete RFC 3720 marker keys; a responder answers Reject (SHOULD for IFMarker/OFMarker, which MAY
  // also be answered No; MUST for the intervals).
  { ...OBSOLETE, name: 'IFMarker', section: '13.25' },
  { ...OBSOLETE, name: 'OFMarker', section: '13.25' },
  { ...OBSOLETE, name: 'IFMarkInt', section: '13.25' },
  { ...OBSOLETE, name: 'OFMarkInt', section: '13.25' },
] satisfies KeyDefinition[]);

const BY_NAME: ReadonlyMap<string, KeyDefinition> = new Map(KEYS.map((key) => [key.name, key]));
// RFC 7143 §12: the keys of the authentication methods (CHAP_A, SRP_U, KRB_AP_REQ, …) belong to the security
// stage and to the login machine.
const SECURITY_KEY_RE = /^(?:CHAP|SRP|KRB|SPKM)_/;

/** The table row of `name`, or `undefined` for a key iscsi-ts does not know (keys are case sensitive). */
export function keyDefinition(name: string): KeyDefinition | undefined {
  return BY_NAME.get(name);
}

/**
 * Whether `name` is a private (`X-`) or public (`X#`) extension key (RFC 7143 §13.22, §6.2). iscsi-ts
 * implements none, so it answers them NotUnderstood.
 */
export function isExtensionKey(name: string): boolean {
  return name.startsWith('X-') || name.startsWith('X#');
}

/** Whether `name` is an authentication key of RFC 7143 §12 (CHAP_*, SRP_*, KRB_*, SPKM_*): security stage only. */
export function isAuthenticationKey(name: string): boolean {
  return SECURITY_KEY_RE.test(name);
}
