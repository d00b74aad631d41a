/**
 * Every built-in conformance case, in run order.
 * @module
 */
import type { ConformCase } from '../types.js';
import { asyncCases } from './async.js';
import { chapCases } from './chap.js';
import { dataCases } from './data.js';
import { digestCases, nopCases, tmfCases } from './ffp.js';
import { loginCases } from './login.js';
import { logoutCases } from './logout.js';
import { negotiationCases } from './negotiation.js';
import { negotiationKeyCases } from './negotiation-keys.js';
import { reservedCases } from './reserved.js';
import { sequenceCases } from './sequence.js';
import { textCases } from './text.js';

/** The built-in cases. */
export const builtinCases: readonly ConformCase[] = [
  ...loginCases,
  ...negotiationCases,
  ...negotiationKeyCases,
  ...chapCases,
  ...textCases,
  ...sequenceCases,
  ...dataCases,
  ...digestCases,
  ...nopCases,
  ...tmfCases,
  ...logoutCases,
  ...asyncCases,
  ...reservedCases,
];

export {
  asyncCases,
  chapCases,
  dataCases,
  digestCases,
  loginCases,
  logoutCases,
  negotiationCases,
  negotiationKeyCases,
  nopCases,
  reservedCases,
  sequenceCases,
  textCases,
  tmfCases,
};
