/**
 * The two embedded targets the conformance tests run against: one without authentication (with padding targets
 * so a SendTargets answer needs more than 512 bytes) and one requiring CHAP, with a target account for mutual CHAP.
 */
import { afterAll, beforeAll } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import type { Portal } from '../../src/session/address.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

/** The initiator account of the CHAP target, and the target's own account for mutual CHAP. */
export const USER = { user: 'conformuser', secret: Secret.from('conform-secret-1') };
export const TARGET_USER = { user: 'conformtarget', secret: Secret.from('conform-secret-2') };

/** The portal of a started target. */
export const portalOf = (t: IscsiTarget): Portal => ({ host: '127.0.0.1', port: t.portals[0]!.port, family: 4 });

/** Live targets of a test file; set in beforeAll. */
export interface ConformTargets {
  plain: IscsiTarget;
  chap: IscsiTarget;
}

/**
 * Starts both targets named `iqn` before the file's tests and stops them after. `padding` extra targets with long
 * names go on the plain one (0 for none).
 */
export function useConformTargets(iqn: string, padding = 12): ConformTargets {
  const targets = {} as ConformTargets;
  beforeAll(async () => {
    const others = Array.from({ length: padding }, (_, i) => ({
      name: `${iqn}.padding-target-with-a-long-name-${i}`,
      luns: [{ storage: { type: 'memory' as const, size: 64 * 1024 } }],
    }));
    targets.plain = createTarget({
      portals: ['127.0.0.1:0'],
      targets: [{ name: iqn, luns: [{ storage: { type: 'memory', size: 4 * 1024 * 1024 } }] }, ...others],
      loginTimeoutMs: 3000,
    });
    targets.chap = createTarget({
      portals: ['127.0.0.1:0'],
      targets: [{ name: iqn, luns: [{ storage: { type: 'memory', size: 1024 * 1024 } }] }],
      auth: {
        lookup: (u) => (u === USER.user ? USER.secret : undefined),
        targetCredentials: TARGET_USER,
        onWarning: () => {},
      },
      loginTimeoutMs: 3000,
    });
    await targets.plain.start();
    await targets.chap.start();
  });
  afterAll(async () => {
    await targets.plain?.stop({ graceMs: 100 });
    await targets.chap?.stop({ graceMs: 100 });
  });
  return targets;
}
