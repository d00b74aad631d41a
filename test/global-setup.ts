import { execFileSync } from 'node:child_process';

/** Builds dist/ once, so the tests that run the `iscsi-ts` binary exercise the current sources. */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
