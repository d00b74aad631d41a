/**
 * `iscsi-ts ibft`: the iSCSI Boot Firmware Table, from ACPI, from /sys/firmware/ibft, from a memory image or from
 * a table file. CHAP secrets are redacted unless `--show-secrets`.
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  type IbftTable,
  InvalidArgumentError,
  ibftToJson,
  parseIbft,
  readIbftFromMemoryFile,
  readIbftFromSysfsAcpi,
  readIbftSysfs,
} from '../index.js';

/** Options of the ibft command. */
export interface IbftCliOptions {
  readonly source?: string;
  readonly json?: boolean;
  readonly showSecrets?: boolean;
}

/** Reads the table from the chosen source. */
export function loadIbft(file: string | undefined, o: IbftCliOptions): IbftTable | undefined {
  const source = o.source ?? (file ? 'file' : 'auto');
  switch (source) {
    case 'file': {
      if (!file) throw new InvalidArgumentError('--source file needs a FILE');
      return parseIbft(readFileSync(file));
    }
    case 'memory': {
      if (!file) throw new InvalidArgumentError('--source memory needs a FILE (a physical memory image from 0)');
      const bytes = readIbftFromMemoryFile(file);
      return bytes && parseIbft(bytes);
    }
    case 'acpi': {
      const bytes = readIbftFromSysfsAcpi();
      return bytes && parseIbft(bytes);
    }
    case 'sysfs':
      return readIbftSysfs();
    case 'auto': {
      const bytes = readIbftFromSysfsAcpi();
      return bytes ? parseIbft(bytes) : readIbftSysfs();
    }
    default:
      throw new InvalidArgumentError(`unknown --source ${source} (acpi, sysfs, memory, file)`);
  }
}

/** Runs the command; returns the exit code. */
export function runIbft(file: string | undefined, o: IbftCliOptions, out: (line: string) => void): number {
  const table = loadIbft(file, o);
  if (!table) {
    out(o.json ? 'null' : 'no iBFT found');
    return 2;
  }
  const json = ibftToJson(table, { showSecrets: o.showSecrets === true });
  if (o.json) {
    out(JSON.stringify(json, null, 2));
    return 0;
  }
  if (json.initiator) out(`initiator ${json.initiator.name ?? '(no name)'}`);
  for (const nic of json.nics) {
    const addr = nic.dhcp ? `dhcp${nic.ip ? ` (${nic.ip})` : ''}` : `${nic.ip ?? '-'}/${nic.prefixLength}`;
    out(
      `nic ${nic.index} ${nic.mac} ${addr}${nic.gateway ? ` gw ${nic.gateway}` : ''}${nic.vlan ? ` vlan ${nic.vlan}` : ''}`,
    );
  }
  for (const t of json.targets) {
    const flags = [t.valid ? 'valid' : 'invalid', ...(t.bootSelected ? ['boot-selected'] : [])].join(',');
    const chap = t.chapName ? ` chap ${t.chapName}${t.reverseChapName ? ` reverse ${t.reverseChapName}` : ''}` : '';
    out(
      `target ${t.index} ${t.name ?? '-'} ${t.ip?.includes(':') ? `[${t.ip}]` : (t.ip ?? '-')}:${t.port} lun ${t.lun} nic ${t.nicIndex} ${flags}${chap}`,
    );
  }
  return 0;
}
