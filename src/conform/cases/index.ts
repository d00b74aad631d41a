/**
 * Every built-in conformance case, in run order.
 * @module
 */
import type { ConformCase } from '../types.js';
import { chapCases } from './chap.js';
import { dataCases } from './data.js';
import { digestCases, logoutCases, nopCases, tmfCases } from './ffp.js';
import { loginCases } from './login.js';
import { negotiationCases } from './negotiation.js';
import { reservedCases } from './reserved.js';
import { sequenceCases } from './sequence.js';
import { textCases } from './text.js';

/** The built-in cases. */
export const builtinCases: readonly ConformCase[] = [
  ...loginCases,
  ...negotiationCases,
  ...chapCases,
  ...textCases,
  ...sequenceCases,
  ...dataCases,
  ...digestCases,
  ...nopCases,
  ...tmfCases,
  ...logoutCases,
  ...reservedCases,
];

export {
  chapCases,
  dataCases,
  digestCases,
  loginCases,
  logoutCases,
  negotiationCases,
  nopCases,
  reservedCases,
  sequenceCases,
  textCases,
  tmfCases,
};
