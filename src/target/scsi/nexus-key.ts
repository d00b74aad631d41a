/**
 * The key the device server files per-nexus state under (unit attentions, RESERVE(6), registrations).
 * @module
 */
import type { Nexus } from './types.js';

/**
 * The I_T nexus identity: initiator port plus relative target port. SAM-5 §4.7 keeps unit attentions and
 * reservations per I_T nexus, so one initiator port reaching the LU through two portal groups is two nexuses.
 */
export function nexusKey(nexus: Nexus): string {
  return `${nexus.initiatorPort}|${nexus.relativeTargetPort}`;
}
