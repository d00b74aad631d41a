/**
 * SendTargets discovery (RFC 7143 §13.3, Appendix C): a Discovery session, `SendTargets=All` (or a name), the
 * answer parsed into targets and their portals, and a clean logout.
 * @module
 */
import type { TextPair } from '../pdu/text.js';
import { type Portal, parseTargetAddress } from './address.js';
import { type LoginOptions, login, logout, textExchange } from './initiator.js';

/** One portal of a discovered target. */
export interface DiscoveredPortal {
  readonly address: string;
  readonly port: number;
  /** Target Portal Group Tag, when the target gave one. */
  readonly tpgt?: number;
  readonly portal: Portal;
}

/** One target from a SendTargets answer. */
export interface DiscoveredTarget {
  readonly name: string;
  readonly portals: readonly DiscoveredPortal[];
}

/** Options of {@link discover}. */
export interface DiscoverOptions extends Omit<LoginOptions, 'sessionType' | 'targetName'> {
  /** `All` (default) or one target name. */
  readonly sendTargets?: string;
}

/** Discovers the targets behind a portal. */
export async function discover(options: DiscoverOptions): Promise<DiscoveredTarget[]> {
  const session = await login({ ...options, sessionType: 'Discovery' });
  let pairs: TextPair[];
  try {
    pairs = await textExchange(session, [['SendTargets', options.sendTargets ?? 'All']], options);
  } catch (err) {
    session.connection.close();
    throw err;
  }
  await logout(session, options);
  return parseSendTargets(pairs);
}

/**
 * Parses a SendTargets answer: each TargetName is followed by its TargetAddress keys (Appendix C). A target
 * without an address is reachable on the portal that was asked.
 */
export function parseSendTargets(pairs: readonly TextPair[]): DiscoveredTarget[] {
  const targets: { name: string; portals: DiscoveredPortal[] }[] = [];
  for (const [key, value] of pairs) {
    if (key === 'TargetName') targets.push({ name: value, portals: [] });
    else if (key === 'TargetAddress' && targets.length > 0) {
      const { portal, tpgt } = parseTargetAddress(value);
      targets
        .at(-1)!
        .portals.push({ address: portal.host, port: portal.port, ...(tpgt !== undefined ? { tpgt } : {}), portal });
    }
  }
  return targets;
}
