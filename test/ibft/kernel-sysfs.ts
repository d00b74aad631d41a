/**
 * Writes the `/sys/firmware/ibft` tree Linux's iscsi_ibft would show for a table written from `model`, following
 * the attribute table of the reference sheet (§2): which files exist when, and their exact formats.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addressToBytes } from '../../src/ibft/address.js';
import type { IbftTable } from '../../src/ibft/model.js';

/** `%pI4` for IPv4-mapped, else `%pI6` (eight 4-digit groups); undefined (null) addresses print as all zeros. */
function ipText(address: string | undefined): string {
  const b = address === undefined ? new Uint8Array(16) : addressToBytes(address)!;
  if (b.subarray(0, 12).every((x, i) => x === (i >= 10 ? 0xff : 0))) return [...b.subarray(12)].join('.');
  return Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16).padStart(4, '0')).join(
    ':',
  );
}

function maskText(prefix: number): string {
  const mask = prefix >= 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0;
  return [24, 16, 8, 0].map((s) => (mask >>> s) & 0xff).join('.');
}

export function writeKernelTree(root: string, model: IbftTable, withDeviceLinks: boolean): void {
  const files = (dir: string, attrs: Record<string, string | Uint8Array | undefined>) => {
    mkdirSync(join(root, dir), { recursive: true });
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined) continue;
      const bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
      writeFileSync(join(root, dir, name), name === 'subnet-mask' ? bytes : Buffer.concat([bytes, Buffer.from('\n')]));
    }
  };
  const ip = (a: string | undefined) => (a === undefined ? undefined : ipText(a));
  const flags = (bits: boolean[], reserved: number) => String(bits.reduce((a, b, i) => a | (b ? 1 << i : 0), reserved));

  files('acpi_header', { signature: model.signature, oem_id: model.oemId, oem_table_id: model.oemTableId });
  const init = model.initiator;
  if (init !== undefined) {
    files('initiator', {
      index: '0',
      flags: flags([init.valid, init.bootSelected], init.reservedFlags),
      'isns-server': ip(init.isnsServer),
      'slp-server': ip(init.slpServer),
      'pri-radius-server': ip(init.primaryRadiusServer),
      'sec-radius-server': ip(init.secondaryRadiusServer),
      'initiator-name': init.name,
    });
  }
  for (const n of model.nics) {
    const dir = `ethernet${n.index}`;
    files(dir, {
      index: String(n.index),
      flags: flags([n.valid, n.bootSelected, n.global], n.reservedFlags),
      origin: String(n.origin),
      vlan: String(n.vlan),
      'ip-addr': ip(n.ip),
      gateway: ip(n.gateway),
      'primary-dns': ip(n.primaryDns),
      'secondary-dns': ip(n.secondaryDns),
      dhcp: ip(n.dhcpServer),
      'prefix-len': n.prefixLength === 0 ? undefined : String(n.prefixLength),
      'subnet-mask': n.prefixLength === 0 ? undefined : maskText(n.prefixLength),
      mac: n.mac,
      hostname: n.hostname,
    });
    if (withDeviceLinks && n.pciAddress !== undefined) {
      symlinkSync(`../../../devices/pci0000:00/${n.pciAddress}`, join(root, dir, 'device'));
    }
  }
  for (const t of model.targets) {
    const lun = Array.from({ length: 8 }, (_, i) => ((t.lun >> BigInt(56 - 8 * i)) & 0xffn).toString(16)).join('');
    files(`target${t.index}`, {
      index: String(t.index),
      flags: flags([t.valid, t.bootSelected, t.radiusChap, t.radiusReverseChap], t.reservedFlags),
      port: String(t.port),
      'nic-assoc': String(t.nicIndex),
      'chap-type': String(t.chapType),
      'ip-addr': ipText(t.ip),
      lun,
      'target-name': t.name,
      'chap-name': t.chapName,
      'chap-secret': t.chapName === undefined ? undefined : (t.chapSecret ?? ''),
      'rev-chap-name': t.reverseChapName,
      'rev-chap-name-secret': t.reverseChapName === undefined ? undefined : (t.reverseChapSecret ?? ''),
    });
  }
}
