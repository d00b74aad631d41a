import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runIbft } from '../../src/cli/ibft.js';

const SAMPLE = new URL('../fixtures/ibft/sample-c.bin', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-ibft-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(file: string | undefined, o: Parameters<typeof runIbft>[1]) {
  const lines: string[] = [];
  const code = runIbft(file, o, (l) => lines.push(l));
  return { code, text: lines.join('\n') };
}

describe('iscsi-ts ibft', () => {
  it('prints the initiator, NICs and targets of a table file, secrets redacted', () => {
    const { code, text } = run(SAMPLE, {});
    expect(code).toBe(0);
    expect(text).toMatch(/^initiator iqn\./m);
    expect(text).toMatch(/target 0 .*\[fd00:10::10\]:3260 .*boot-selected chap user6/);
    const json = JSON.parse(run(SAMPLE, { json: true }).text) as { targets: { chapSecret?: string }[] };
    expect(json.targets[0]!.chapSecret).toBe('[redacted]');
    const shown = JSON.parse(run(SAMPLE, { json: true, showSecrets: true }).text) as {
      targets: { chapSecret?: string }[];
    };
    expect(shown.targets[0]!.chapSecret).not.toBe('[redacted]');
    expect(run(SAMPLE, { json: true }).text).not.toContain(shown.targets[0]!.chapSecret!);
  });

  it('finds the table in a physical memory image (--source memory)', () => {
    const image = new Uint8Array(0x100000);
    image.set(readFileSync(SAMPLE), 0x9a000);
    const path = join(dir, 'mem.img');
    writeFileSync(path, image);
    expect(run(path, { source: 'memory' }).text).toContain('iqn.2003-01.org.example:v4disk');
    writeFileSync(path, new Uint8Array(0x100000));
    expect(run(path, { source: 'memory' })).toEqual({ code: 2, text: 'no iBFT found' });
  });

  it('a damaged table is a typed error naming the field', () => {
    const bad = Uint8Array.from(readFileSync(SAMPLE));
    bad[9]! ^= 0xff; // checksum byte
    const path = join(dir, 'bad.bin');
    writeFileSync(path, bad);
    expect(() => run(path, {})).toThrowError(expect.objectContaining({ code: 'ERR_ISCSI_IBFT' }));
  });
});
