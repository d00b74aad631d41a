/**
 * Where a key may appear, for {@link Negotiator}: which side may send it, in which login stage or in the Full
 * Feature Phase, and whether on a non-leading connection (RFC 7143 §13 preamble, §6.3, §6.5).
 * @module
 */

import type { NegotiationError } from '../errors.js';
import type { KeyDefinition, NumberKeyDefinition } from './key-types.js';
import { KEYS } from './keys.js';
import { negotiationError } from './negotiate-values.js';
import type { NegotiatedParameters } from './params.js';

/** Which end of the connection a {@link Negotiator} speaks for. */
export type NegotiationRole = 'initiator' | 'target';

/** Where in the connection the pairs are exchanged: login stages (§6.3) or the Full Feature Phase (§6.5). */
export type NegotiationStage = 'security' | 'operational' | 'full-feature';

/**
 * Why `sender` may not send `key` in `stage`, or `undefined` when it may. The rules: the key's senders (§13.x);
 * LO keys only on the leading connection; in the security stage only Any-Stage keys and AuthMethod (§13
 * preamble: all other keys are operational keys); no security-stage or FFPO key in the operational stage; only
 * ALL and FFPO keys in the Full Feature Phase, where the target may also send TargetName (§13.4).
 */
export function placementError(
  key: KeyDefinition,
  sender: NegotiationRole,
  stage: NegotiationStage,
  leading: boolean,
): NegotiationError | undefined {
  const senders = (stage === 'full-feature' && key.fullFeatureSenders) || key.senders;
  if (senders !== 'both' && senders !== sender) {
    return negotiationError(key.name, `may not be sent by the ${sender} (RFC 7143 §${key.section})`);
  }
  if (key.use === 'LO' && !leading) {
    return negotiationError(key.name, 'is leading-only and this is not the leading connection (RFC 7143 §13)');
  }
  const allowed =
    stage === 'security'
      ? key.anyStage || key.use === 'SEC'
      : stage === 'operational'
        ? key.use !== 'SEC' && key.use !== 'FFPO'
        : key.use === 'ALL' || key.use === 'FFPO' || key.fullFeatureSenders !== undefined;
  if (!allowed)
    return negotiationError(key.name, `(use ${key.use}) may not appear in the ${stage} stage (RFC 7143 §13)`);
  return undefined;
}

/**
 * The checks on a finished set of parameters: every numerical key within its range (§13.x; both segment lengths
 * within 512..2^24-1, §13.12) and FirstBurstLength not above MaxBurstLength (§13.14: "FirstBurstLength MUST NOT
 * exceed MaxBurstLength"), which is moot in a discovery session and when no unsolicited data can be sent
 * (InitialR2T=Yes and ImmediateData=No).
 * @throws NegotiationError naming the key.
 */
export function checkParameters(params: NegotiatedParameters): void {
  for (const key of KEYS) {
    if (key.type !== 'number') continue;
    if (key.field !== undefined) checkRange(key, params[key.field]);
    else if (key.name === 'MaxRecvDataSegmentLength') {
      checkRange(key, params.maxRecvDataSegmentLength);
      checkRange(key, params.maxXmitDataSegmentLength);
    }
  }
  const unsolicited = !(params.initialR2T && !params.immediateData);
  if (params.sessionType === 'Normal' && unsolicited && params.firstBurstLength > params.maxBurstLength) {
    throw negotiationError(
      'FirstBurstLength',
      `${params.firstBurstLength} exceeds MaxBurstLength ${params.maxBurstLength} (RFC 7143 §13.14)`,
    );
  }
}

function checkRange(key: NumberKeyDefinition, n: unknown): void {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < key.min || n > key.max) {
    throw negotiationError(key.name, `${String(n)} is outside ${key.min}..${key.max}`);
  }
}
