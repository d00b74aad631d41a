/** src/scsi stays transport-free (libiscsi's scsi-lowlevel split): no import reaches the PDU or session layers. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = new URL('../../src/scsi/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

it('src/scsi imports only itself, src/errors.ts and node built-ins', () => {
  const all = files(ROOT);
  expect(all.length).toBeGreaterThan(20);
  for (const file of all) {
    const specifiers = [...readFileSync(file, 'utf8').matchAll(/from '([^']+)'/gu)].map((m) => m[1]!);
    for (const s of specifiers) {
      expect(s, `${file} imports ${s}`).not.toMatch(/\/(pdu|session|chap|target|kernel|cli)\//u);
      expect(s.startsWith('.') || s.startsWith('node:'), `${file} imports ${s}`).toBe(true);
    }
  }
});
