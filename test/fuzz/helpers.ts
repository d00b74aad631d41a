/** An embedded target for the fuzzer tests, restartable on the same port after a planted crash. */

import { type Portal, parsePortal } from '../../src/session/address.js';
import type { TargetFaults } from '../../src/target/config.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

export const NAME = 'iqn.2026-11.io.github.iscsi-ts:fuzz';

export interface Served {
  portal: Portal;
  target: IscsiTarget;
  restart(): Promise<Portal>;
  stop(): Promise<void>;
}

export async function serve(faults?: TargetFaults): Promise<Served> {
  const make = async (port: number): Promise<IscsiTarget> => {
    const t = createTarget({
      portals: [`127.0.0.1:${port}`],
      targets: [{ name: NAME, luns: [{ storage: { type: 'memory', size: 1 << 20 } }] }],
      // Hung connections keep their sessions: room for every check of a minimisation.
      maxSessions: 4096,
      maxConnections: 4096,
      ...(faults ? { faults } : {}),
    });
    await t.start();
    return t;
  };
  const served: Served = {
    target: await make(0),
    portal: parsePortal('127.0.0.1:1'),
    async restart() {
      await served.target.stop({ graceMs: 0 });
      served.target = await make(0);
      served.portal = parsePortal(`127.0.0.1:${served.target.portals[0]!.port}`);
      return served.portal;
    },
    stop: () => served.target.stop({ graceMs: 0 }),
  };
  served.portal = parsePortal(`127.0.0.1:${served.target.portals[0]!.port}`);
  return served;
}
