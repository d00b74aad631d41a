/**
 * How decoders hand over rule violations: strict decoding throws the first, lenient decoding collects them all.
 * @module
 */
import type { IscsiError } from '../errors.js';

/** Receives one violation; a strict reporter throws it. */
export type Report = (violation: IscsiError) => void;

/** A reporter that throws. */
export const throwViolation: Report = (violation) => {
  throw violation;
};
