/**
 * koffi is an optional dependency: without it the kernel bridge must say what is missing, and everything else must
 * still load and work. A Node resolve hook makes `koffi` unresolvable in a child process running the built library,
 * which is what an install without the optional package looks like to the code.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DIST = join(import.meta.dirname, '../../dist');

/** Registers a resolve hook that fails for `koffi` the way a missing package does (ERR_MODULE_NOT_FOUND). */
const HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(\`
export async function resolve(specifier, context, next) {
  if (specifier === 'koffi') {
    const error = new Error("Cannot find package 'koffi'");
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}\`));
`)}`;

async function node(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', HOOK, ...args], { timeout: 30_000 });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const e = error as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

describe('without the optional dependency koffi', () => {
  it('opening the kernel bridge is a KernelError that says to install koffi', async () => {
    const script = `
      import { IscsiNetlink } from ${JSON.stringify(join(DIST, 'index.js'))};
      try {
        await IscsiNetlink.open();
        console.log('opened');
      } catch (error) {
        console.log(JSON.stringify({ name: error.constructor.name, code: error.code, message: error.message }));
      }`;
    const { stdout, code } = await node('--input-type=module', '-e', script);
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim()) as { name: string; code: string; message: string };
    expect(result.name).toBe('KernelError');
    expect(result.code).toBe('ERR_ISCSI_KERNEL');
    expect(result.message).toContain("optional dependency 'koffi' (npm install koffi)");
  });

  it('the rest of the library works: the demo (embedded target, login, I/O, trace) runs through', async () => {
    const cli = join(DIST, 'cli', 'main.js');
    const demo = await run(process.execPath, ['--import', HOOK, cli, 'demo'], { timeout: 60_000 });
    expect(demo.stdout).toContain('demo finished: every step worked');
  }, 90_000);
});
