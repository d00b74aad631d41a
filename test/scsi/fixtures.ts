/** Loads the tgtd captures in test/fixtures/scsi: `#` lines are comments, the rest is hex. */
import { readFileSync } from 'node:fs';

const DIR = new URL('../fixtures/scsi/', import.meta.url);

function fromHex(text: string): Uint8Array {
  const clean = text.replace(/\s+/gu, '');
  if (!/^(?:[0-9a-f]{2})*$/iu.test(clean)) throw new Error('fixture is not hex');
  return Uint8Array.from(clean.match(/../gu) ?? [], (h) => Number.parseInt(h, 16));
}

/** The bytes of `test/fixtures/scsi/<name>.hex`. */
export function fixture(name: string): Uint8Array {
  const text = readFileSync(new URL(`${name}.hex`, DIR), 'utf8');
  return fromHex(
    text
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join(''),
  );
}

/** The CDBs libiscsi sent, by label (test/fixtures/scsi/libiscsi-cdbs.txt). */
export function libiscsiCdb(label: string): Uint8Array {
  const text = readFileSync(new URL('libiscsi-cdbs.txt', DIR), 'utf8');
  for (const line of text.split('\n')) {
    const [name, hex] = line.split(' ');
    if (name === label && hex) return fromHex(hex);
  }
  throw new Error(`no CDB ${label}`);
}

/** `bytes` as lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** `cdb` padded with zeros to the 16 bytes of a SCSI Command BHS CDB field. */
export function padCdb(cdb: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(cdb);
  return out;
}
