/**
 * Checks the local values given to a {@link Negotiator} against the ranges of the key table, so that nothing we
 * offer or answer can break RFC 7143 §13.
 * @module
 */

import { InvalidArgumentError } from '../errors.js';
import { preview } from '../pdu/text-values.js';
import { KEYS, keyDefinition } from './keys.js';
import { isNegotiable } from './negotiate-values.js';
import { type LocalOffer, MAX_SEGMENT_KEY_VALUE } from './params.js';

const DIGESTS: readonly string[] = ['CRC32C', 'None'];
const TASK_REPORTING: readonly string[] = ['RFC3720', 'ResponseFence', 'FastAbort'];
const BOOLEANS = ['initialR2T', 'immediateData', 'dataPDUInOrder', 'dataSequenceInOrder'] as const;

/**
 * Returns a frozen copy of `local` after checking it: digest and TaskReporting lists non-empty, known and without
 * repeats (TaskReporting including RFC3720, §13.23), every number an integer within its key's range,
 * MaxRecvDataSegmentLength within 512..2^24-1, and FirstBurstLength not above MaxBurstLength (§13.14).
 * @throws InvalidArgumentError naming the first bad field.
 */
export function validateLocalOffer(local: LocalOffer): LocalOffer {
  const headerDigest = list('headerDigest', local.headerDigest, DIGESTS);
  const dataDigest = list('dataDigest', local.dataDigest, DIGESTS);
  const taskReporting = list('taskReporting', local.taskReporting, TASK_REPORTING);
  if (!taskReporting.includes('RFC3720')) {
    throw new InvalidArgumentError('local.taskReporting must include RFC3720 (RFC 7143 §13.23)');
  }
  for (const key of KEYS) {
    if (key.type === 'number' && key.field !== undefined) integer(key.field, local[key.field], key.min, key.max);
  }
  integer('maxRecvDataSegmentLength', local.maxRecvDataSegmentLength, 512, MAX_SEGMENT_KEY_VALUE);
  for (const field of BOOLEANS) {
    if (typeof local[field] !== 'boolean') throw new InvalidArgumentError(`local.${field} must be a boolean`);
  }
  if (local.firstBurstLength > local.maxBurstLength) {
    throw new InvalidArgumentError(
      `local.firstBurstLength ${local.firstBurstLength} exceeds maxBurstLength ${local.maxBurstLength} (RFC 7143 §13.14)`,
    );
  }
  return Object.freeze({ ...local, headerDigest, dataDigest, taskReporting }) as LocalOffer;
}

/**
 * Checks the `offerKeys` option: each must be a key the negotiator offers (a negotiated key or
 * MaxRecvDataSegmentLength). Returns them as a set.
 * @throws InvalidArgumentError naming the first other key.
 */
export function validateOfferKeys(names: readonly string[]): ReadonlySet<string> {
  for (const name of names) {
    const key = keyDefinition(name);
    if (key?.handler !== 'negotiator' || !(isNegotiable(key) || name === 'MaxRecvDataSegmentLength')) {
      throw new InvalidArgumentError(`offerKeys: ${preview(name)} is not a key the negotiator offers`);
    }
  }
  return new Set(names);
}

function list(field: string, values: unknown, known: readonly string[]): readonly string[] {
  if (!Array.isArray(values) || values.length === 0) {
    throw new InvalidArgumentError(`local.${field} must be a non-empty list`);
  }
  for (const [i, value] of values.entries()) {
    if (typeof value !== 'string' || !known.includes(value) || values.indexOf(value) !== i) {
      throw new InvalidArgumentError(`local.${field} must hold distinct values of ${known.join(', ')}`);
    }
  }
  return Object.freeze([...(values as string[])]);
}

function integer(field: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`local.${field} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
}
