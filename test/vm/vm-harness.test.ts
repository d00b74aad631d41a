/** Host-only checks of the VM harness's pure parts (no QEMU needed). */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isStaticElf, markers, shellQuote, useKvm } from '../helpers/vm.js';

describe('VM harness helpers', () => {
  it('tells static from dynamic ELF executables', () => {
    // node is always dynamically linked (libc, libstdc++).
    expect(isStaticElf(process.execPath)).toBe(false);
    expect(isStaticElf('/nonexistent/file')).toBeUndefined();
    expect(isStaticElf('/etc/hostname')).toBeUndefined();
    if (existsSync('/bin/busybox')) {
      const ldd = (() => {
        try {
          return execFileSync('ldd', ['/bin/busybox'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch {
          return 'not a dynamic executable';
        }
      })();
      expect(isStaticElf('/bin/busybox')).toBe(/not a dynamic executable|statically linked/.test(ldd));
    }
  });

  it('quotes any string for bash', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')),
        (s) => {
          const echoed = execFileSync('bash', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' });
          expect(echoed).toBe(s);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('collects the MARK lines of a guest output', () => {
    expect(markers('MARK a\nnoise MARK b\nMARK  c d \nuptime 1\n')).toEqual(['a', 'c d']);
  });

  it('never picks KVM under the kvm_pvm nested hypervisor', () => {
    if (existsSync('/sys/module/kvm_pvm') && process.env.ISCSI_TS_VM_ACCEL === undefined) expect(useKvm()).toBe(false);
    else expect(typeof useKvm()).toBe('boolean');
  });
});
