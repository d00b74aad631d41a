/**
 * Readers for udev database text as people attach it to bug reports: `udevadm info --export-db` (and
 * `udevadm info --name=…`), one block per device, blank lines between, each line `<letter>: <value>`; and
 * `udevadm info --query=property` / `--export` (`KEY=value` / `KEY='value'` lines).
 * @module
 */
import { BootConfigError } from './boot-error.js';

/** One device record of `udevadm info` output. */
export interface UdevRecord {
  /** `P:` devpath under /sys (`/devices/platform/host0/session1/…/block/sda`). */
  readonly devPath: string;
  /** `M:` sysname. */
  readonly sysName?: string;
  /** `U:` subsystem. */
  readonly subsystem?: string;
  /** `T:` devtype. */
  readonly devType?: string;
  /** `D:` `b|c major:minor`. */
  readonly devNum?: string;
  /** `N:` node under /dev. */
  readonly devNode?: string;
  /** `L:` link priority. */
  readonly linkPriority?: number;
  /** `S:` symlinks under /dev, one per line (`disk/by-path/ip-…`). */
  readonly symlinks: readonly string[];
  /** `Q:` diskseq. */
  readonly diskSeq?: string;
  /** `V:` driver. */
  readonly driver?: string;
  /** `E:` properties (`ID_BUS`, `ID_PATH`, `DEVPATH`, …). */
  readonly properties: Readonly<Record<string, string>>;
}

const SINGLE: Readonly<Record<string, keyof UdevRecord>> = {
  P: 'devPath',
  M: 'sysName',
  U: 'subsystem',
  T: 'devType',
  D: 'devNum',
  N: 'devNode',
  L: 'linkPriority',
  Q: 'diskSeq',
  V: 'driver',
};
const LINE_RE = /^([A-Z]):(?: (.*))?$/s;

interface Draft {
  fields: Map<string, string>;
  symlinks: string[];
  properties: [string, string][];
  firstLine: number;
}

function finish(draft: Draft): UdevRecord {
  const devPath = draft.fields.get('P');
  if (devPath === undefined)
    throw new BootConfigError(`the record at line ${draft.firstLine} has no P: line`, 'udev-db');
  const record: Record<string, unknown> = {
    devPath,
    symlinks: draft.symlinks,
    properties: Object.fromEntries(draft.properties),
  };
  for (const [letter, value] of draft.fields) {
    const key = SINGLE[letter]!;
    if (key === 'linkPriority') {
      if (!/^-?\d{1,6}$/.test(value))
        throw new BootConfigError(`bad link priority at line ${draft.firstLine}`, 'udev-db');
      record[key] = Number(value);
    } else if (key !== 'devPath') record[key] = value;
  }
  return record as unknown as UdevRecord;
}

/**
 * Reads `udevadm info --export-db` text into one record per device. Keys on the letter; unknown letters (newer
 * systemd adds some, e.g. `R:`, `J:`, `B:`, `I:`) are ignored; `E:` splits at the first `=`. Throws
 * {@link BootConfigError} naming the line for a line that is not `<letter>: <value>`, an `E:` line without `=`,
 * a repeated single-valued letter or a record without `P:`.
 */
export function parseUdevDb(text: string): UdevRecord[] {
  if (typeof text !== 'string') throw new BootConfigError('the udev database text must be a string', 'udev-db');
  const records: UdevRecord[] = [];
  let draft: Draft | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const where = `udev-db line ${i + 1}`;
    if (line.trim() === '') {
      if (draft !== undefined) records.push(finish(draft));
      draft = undefined;
      continue;
    }
    const m = LINE_RE.exec(line);
    if (m === null) throw new BootConfigError(`line ${i + 1} is not '<letter>: <value>'`, where);
    const [, letter, value = ''] = m as unknown as [string, string, string | undefined];
    draft ??= { fields: new Map(), symlinks: [], properties: [], firstLine: i + 1 };
    if (letter === 'S') draft.symlinks.push(value);
    else if (letter === 'E') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new BootConfigError(`the E: line ${i + 1} is not KEY=value`, where);
      draft.properties.push([value.slice(0, eq), value.slice(eq + 1)]);
    } else if (Object.hasOwn(SINGLE, letter)) {
      if (draft.fields.has(letter)) {
        throw new BootConfigError(`a second ${letter}: line at ${i + 1} (missing blank line between records?)`, where);
      }
      draft.fields.set(letter, value);
    }
  }
  if (draft !== undefined) records.push(finish(draft));
  return records;
}

/**
 * Reads the properties of one device from `udevadm info --query=property` (`KEY=value`), `--export`
 * (`KEY='value'`) or `udevadm info` output (`E: KEY=value`; other `<letter>:` lines are skipped).
 * Throws {@link BootConfigError} for a line that is none of these.
 */
export function parseUdevProperties(text: string): Record<string, string> {
  if (typeof text !== 'string') throw new BootConfigError('the udev property text must be a string', 'udev-properties');
  const entries: [string, string][] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.replace(/\r$/, '');
    if (line.trim() === '') continue;
    if (line.startsWith('E: ')) line = line.slice(3);
    else if (/^[A-Z]:(?: |$)/.test(line)) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new BootConfigError(`line ${i + 1} is not KEY=value`, `udev-properties line ${i + 1}`);
    let value = line.slice(eq + 1);
    if (value.length >= 2 && value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    entries.push([line.slice(0, eq), value]);
  }
  return Object.fromEntries(entries);
}
