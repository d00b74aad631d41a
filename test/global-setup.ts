import { execFileSync } from 'node:child_process';
import { reapOrphanTgtds } from './helpers/tgtd.js';

/**
 * Builds dist/ once, so the tests that run the `iscsi-ts` binary exercise the current sources. At the end, kills
 * any tgtd a dead test worker left behind (and says so: a leak is a test defect to fix).
 */
export default function setup(): () => void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  return () => {
    const reaped = reapOrphanTgtds();
    if (reaped > 0) console.warn(`[iscsi-ts] killed ${reaped} tgtd process(es) left behind by a test worker`);
  };
}
