/**
 * Our iBFT writer against a real Linux kernel: a table written by `writeIbft` is injected into a QEMU guest with
 * `-acpitable`, the guest loads `iscsi_ibft`, and our CLI (from this checkout's dist/) reads it back from both
 * the raw ACPI table and the kernel's `/sys/firmware/ibft` tree. Also checks the kernel's own attribute text
 * (its quirks: uncompressed IPv6, `%x` LUN bytes, `rev-chap-name-secret`, IPv6 "subnet mask") and open-iscsi's
 * `iscsiadm -m fw` view of the same table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { ibftToJson, parseIbft } from '../../src/ibft/index.js';
import { IbftChapType, type IbftJson, IbftOrigin, type IbftTableSpec } from '../../src/ibft/model.js';
import { writeIbft } from '../../src/ibft/write-acpi.js';
import { describeRun, describeVm, markers, prepareVm, runInVm, type VmRunResult } from '../helpers/vm.js';

const enc = new TextEncoder();
/** Hard limit for one VM run: ~15 s on an idle 2-core host under TCG, several times that on a busy one. */
const VM_TIMEOUT_MS = 150_000;

/** Two NICs (IPv4 boot NIC with VLAN, IPv6 second NIC) and two targets (IPv4 mutual CHAP, IPv6 no CHAP on LUN 1). */
const MODEL: IbftTableSpec = {
  signature: 'iBFT',
  oemId: 'ISCSTS',
  oemTableId: 'VMTEST',
  // Bit 0 is not exposed in sysfs: the sysfs source must report 0 while the raw table keeps it.
  controlFlags: 1,
  initiator: {
    valid: true,
    bootSelected: true,
    reservedFlags: 0,
    name: 'iqn.2026-11.test:vm-initiator',
    isnsServer: '10.0.2.3',
    slpServer: 'fd00:10::3',
  },
  nics: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      global: true,
      reservedFlags: 0,
      ip: '10.0.2.15',
      prefixLength: 24,
      origin: IbftOrigin.Manual,
      gateway: '10.0.2.2',
      primaryDns: '10.0.2.3',
      secondaryDns: '10.0.2.4',
      vlan: 100,
      mac: '52:54:00:12:34:56',
      pciBdf: 0x0018, // 00:03.0: the first NIC added on the QEMU command line
      hostname: 'vmhost',
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      global: true,
      reservedFlags: 0,
      ip: 'fd00:10::5',
      prefixLength: 64,
      origin: IbftOrigin.Manual,
      gateway: 'fd00:10::1',
      primaryDns: 'fd00:10::2',
      vlan: 0,
      mac: '52:54:00:12:34:57',
      pciBdf: 0x0020, // 00:04.0
    },
  ],
  targets: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: '10.0.2.2',
      port: 3260,
      lun: 0n,
      chapType: IbftChapType.Mutual,
      nicIndex: 0,
      name: 'iqn.2026-11.test:vm-disk4',
      chapName: 'inituser',
      chapSecret: enc.encode('initsecret1234'),
      reverseChapName: 'tgtuser',
      reverseChapSecret: enc.encode('tgtsecret5678'),
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: 'fd00:10::10',
      port: 3261,
      lun: 0x0001_0000_0000_0000n,
      chapType: IbftChapType.None,
      nicIndex: 1,
      name: 'iqn.2026-11.test:vm-disk6',
    },
  ],
};

/**
 * A second table for the origins the first lacks: NIC 0 configured by DHCP (origin 3, the lease's address, DHCP
 * server recorded, as iPXE writes it), NIC 1 IPv4 static on a VLAN; one-way CHAP on the DHCP NIC's target, a
 * no-auth target with LUN 5 on a non-default port on the static NIC.
 */
const DHCP_MODEL: IbftTableSpec = {
  signature: 'iBFT',
  oemId: 'ISCSTS',
  oemTableId: 'VMDHCP',
  controlFlags: 0,
  initiator: {
    valid: true,
    bootSelected: true,
    reservedFlags: 0,
    name: 'iqn.2026-11.test:vm-dhcp-initiator',
  },
  nics: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      global: true,
      reservedFlags: 0,
      ip: '10.0.2.15',
      prefixLength: 24,
      origin: IbftOrigin.Dhcp,
      gateway: '10.0.2.2',
      primaryDns: '10.0.2.3',
      dhcpServer: '10.0.2.2',
      vlan: 0,
      mac: '52:54:00:12:34:60',
      pciBdf: 0x0018,
      hostname: 'dhcp-client',
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      global: true,
      reservedFlags: 0,
      ip: '192.168.7.20',
      prefixLength: 25,
      origin: IbftOrigin.Manual,
      gateway: '192.168.7.1',
      primaryDns: '192.168.7.2',
      secondaryDns: '192.168.7.3',
      vlan: 7,
      mac: '52:54:00:12:34:61',
      pciBdf: 0x0020,
    },
  ],
  targets: [
    {
      index: 0,
      valid: true,
      bootSelected: true,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: '10.0.2.2',
      port: 3260,
      lun: 0n,
      chapType: IbftChapType.OneWay,
      nicIndex: 0,
      name: 'iqn.2026-11.test:vm-dhcp-disk',
      chapName: 'dhcpuser',
      chapSecret: enc.encode('dhcpsecret1234'),
    },
    {
      index: 1,
      valid: true,
      bootSelected: false,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: '192.168.7.10',
      port: 3270,
      lun: 0x0005_0000_0000_0000n,
      chapType: IbftChapType.None,
      nicIndex: 1,
      name: 'iqn.2026-11.test:vm-static-disk',
    },
  ],
};

/** Guest script: load the driver, save the raw table and the sysfs text, run our CLI and iscsiadm -m fw. */
const GUEST = `
set -u
S=$ISCSI_VM_SCRATCH
mark() { echo "MARK $*"; echo "uptime $(cut -d" " -f1 /proc/uptime) $*"; }
modprobe iscsi_ibft && mark modprobe
modprobe e1000 || true
[ -d /sys/firmware/ibft/initiator ] && mark sysfs-tree
cp /sys/firmware/acpi/tables/iBFT "$S/acpi-table.bin" && mark acpi-copy
grep -r '' /sys/firmware/ibft >"$S/sysfs.txt"
for d in /sys/firmware/ibft/ethernet*; do
  [ -L "$d/device" ] && echo "$(basename "$d") $(basename "$(readlink "$d/device")")" >>"$S/devices.txt"
done
node "$ISCSI_TS_CHECKOUT/dist/cli/main.js" ibft --source sysfs --json --show-secrets >"$S/sysfs.json" && mark cli-sysfs
node "$ISCSI_TS_CHECKOUT/dist/cli/main.js" ibft --source acpi --json --show-secrets >"$S/acpi.json" && mark cli-acpi
node "$ISCSI_TS_CHECKOUT/dist/cli/main.js" boot-args --firmware --ibft-file /sys/firmware/acpi/tables/iBFT >"$S/boot-args.txt" && mark cli-boot-args
iscsiadm -m fw >"$S/iscsiadm-fw.txt" 2>&1 && mark iscsiadm-fw
dmesg >"$S/dmesg.txt"
mark done
`;

/** `grep -r '' /sys/firmware/ibft` output as attribute path (relative to the tree) → text. */
function sysfsAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon).replace('/sys/firmware/ibft/', ''), line.slice(colon + 1));
  }
  return out;
}

/** Checks a JSON table printed by our CLI against `model` field by field (LUNs as hex, secrets as text). */
function expectModel(json: IbftJson, model: IbftTableSpec = MODEL): void {
  const dec = new TextDecoder();
  expect(json.signature).toBe(model.signature);
  expect(json.oemId).toBe(model.oemId);
  expect(json.oemTableId).toBe(model.oemTableId);
  expect(json.initiator).toMatchObject({ ...model.initiator });
  expect(json.nics).toHaveLength(model.nics.length);
  model.nics.forEach((nic, i) => {
    expect(json.nics[i], `nics[${i}]`).toMatchObject({ ...nic });
  });
  expect(json.targets).toHaveLength(model.targets.length);
  model.targets.forEach((t, i) => {
    const { lun, chapSecret, reverseChapSecret, ...rest } = t;
    expect(json.targets[i], `targets[${i}]`).toMatchObject({
      ...rest,
      lun: lun.toString(16).padStart(16, '0'),
      ...(chapSecret ? { chapSecret: dec.decode(chapSecret) } : {}),
      ...(reverseChapSecret ? { reverseChapSecret: dec.decode(reverseChapSecret) } : {}),
    });
    // JSON drops absent fields: a secret not in the model must not appear.
    if (!chapSecret) expect(json.targets[i]?.chapSecret).toBeUndefined();
    if (!reverseChapSecret) expect(json.targets[i]?.reverseChapSecret).toBeUndefined();
  });
}

/**
 * Boots the VM with `table` injected and runs {@link GUEST}. NICs sit at the table's PCI addresses (00:03.0,
 * 00:04.0) so the kernel makes the `device` links; no option ROM (iPXE would only slow the firmware down).
 */
async function bootWithTable(model: IbftTableSpec, table: Uint8Array): Promise<VmRunResult> {
  const setup = await prepareVm();
  // QEMU reads the table at start-up, so it lives in a host directory of its own.
  const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-ibft-'));
  try {
    const tablePath = join(dir, 'ibft.bin');
    writeFileSync(tablePath, table);
    const nic = (i: number) => [
      '-netdev',
      `user,id=n${i},restrict=on`,
      '-device',
      `e1000,netdev=n${i},mac=${model.nics[i]!.mac},romfile=`,
    ];
    return await runInVm(
      {
        command: GUEST,
        stageCheckout: true,
        extraQemuArgs: ['-acpitable', `file=${tablePath}`, ...model.nics.flatMap((_n, i) => nic(i))],
        timeoutMs: VM_TIMEOUT_MS,
      },
      setup,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The markers the guest prints, one per step that passed. */
const GUEST_STEPS = [
  'modprobe',
  'sysfs-tree',
  'acpi-copy',
  'cli-sysfs',
  'cli-acpi',
  'cli-boot-args',
  'iscsiadm-fw',
  'done',
];

/** Boots the guest with `table` before the block's tests; its run and scratch files, set in beforeAll. */
function useBoot(model: IbftTableSpec, table: Uint8Array): { run: VmRunResult; files: Record<string, Buffer> } {
  const boot = {} as { run: VmRunResult; files: Record<string, Buffer> };
  beforeAll(async () => {
    boot.run = await bootWithTable(model, table);
    boot.files = boot.run.scratchFiles;
  }, 900_000);
  return boot;
}

describeVm('iBFT in a real Linux kernel (QEMU)', () => {
  const table = writeIbft(MODEL);
  const boot = useBoot(MODEL, table);
  const text = (name: string): string => boot.files[name]?.toString('utf8') ?? '';

  it('boots, loads iscsi_ibft and runs every step', () => {
    expect(boot.run.rc, describeRun(boot.run)).toBe(0);
    expect(markers(boot.run.output), describeRun(boot.run)).toEqual(GUEST_STEPS);
    expect(text('dmesg.txt')).toContain('iBFT detected');
  });

  it('exposes the table byte for byte in /sys/firmware/acpi/tables/iBFT', () => {
    expect(boot.files['acpi-table.bin']).toBeDefined();
    expect(Buffer.compare(boot.files['acpi-table.bin']!, Buffer.from(table))).toBe(0);
  });

  it('reads the raw ACPI table back as the model (ibft --source acpi)', () => {
    const json = JSON.parse(text('acpi.json')) as IbftJson;
    expectModel(json);
    expect(json.controlFlags).toBe(MODEL.controlFlags);
    // Derived fields, as the parser computes them.
    expect(json.nics[0]).toMatchObject({ subnetMask: '255.255.255.0', dhcp: false, pciAddress: '0000:00:03.0' });
    expect(json.nics[1]).toMatchObject({ dhcp: false, pciAddress: '0000:00:04.0' });
    expect(json.nics[1]?.subnetMask).toBeUndefined();
    expect(json.targets.map((t) => t.lunNumber)).toEqual([0, 1]);
    expect(json).toEqual(ibftToJson(parseIbft(table), { showSecrets: true }));
  });

  it("reads the kernel's /sys/firmware/ibft back as the model (ibft --source sysfs)", () => {
    const json = JSON.parse(text('sysfs.json')) as IbftJson;
    expectModel(json);
    // The control flags are not exported by the kernel; everything else matches the raw table.
    expect(json.controlFlags).toBe(0);
    const acpi = JSON.parse(text('acpi.json')) as IbftJson;
    expect(json).toEqual({ ...acpi, controlFlags: 0 });
  });

  it("shows the kernel's attribute formats the sysfs reader normalises", () => {
    const attrs = sysfsAttributes(text('sysfs.txt'));
    expect(Object.fromEntries(attrs)).toMatchObject({
      'initiator/flags': '3',
      'initiator/slp-server': 'fd00:0010:0000:0000:0000:0000:0000:0003',
      'ethernet0/flags': '7',
      'ethernet0/vlan': '100',
      'ethernet0/subnet-mask': '255.255.255.0',
      'ethernet1/flags': '5',
      'ethernet1/ip-addr': 'fd00:0010:0000:0000:0000:0000:0000:0005',
      // Derived from the prefix even for IPv6: meaningless, ignored by our reader.
      'ethernet1/subnet-mask': '255.255.255.255',
      'target0/flags': '3',
      'target0/lun': '00000000',
      'target0/rev-chap-name-secret': 'tgtsecret5678',
      'target1/flags': '1',
      'target1/ip-addr': 'fd00:0010:0000:0000:0000:0000:0000:0010',
      // Each SAM LUN byte printed with %x, unpadded: LUN 1 (00 01 00 ...) reads 01000000.
      'target1/lun': '01000000',
      'acpi_header/oem_table_id': 'VMTEST',
    });
    for (const absent of ['ethernet1/secondary-dns', 'ethernet1/hostname', 'ethernet0/dhcp', 'target1/chap-name']) {
      expect(attrs.has(absent), absent).toBe(false);
    }
    expect(text('devices.txt').trim().split('\n')).toEqual(['ethernet0 0000:00:03.0', 'ethernet1 0000:00:04.0']);
  });

  it('derives rd.iscsi.firmware=1 from the firmware table (boot-args --firmware)', () => {
    const args = text('boot-args.txt').split('\n')[0]?.split(' ') ?? [];
    expect(args).toContain('rd.iscsi.firmware=1');
    expect(args).toContain('rd.iscsi.initiator=iqn.2026-11.test:vm-initiator');
    // Secrets only with --show-secrets.
    expect(text('boot-args.txt')).not.toContain('initsecret1234');
  });

  it("agrees with open-iscsi's reading of the same table (iscsiadm -m fw)", () => {
    const fw = text('iscsiadm-fw.txt');
    const records = fw.split('# BEGIN RECORD').slice(1);
    expect(records, fw).toHaveLength(2);
    expect(records[0]).toContain('node.name = iqn.2026-11.test:vm-disk4');
    expect(records[0]).toContain('iface.net_ifacename = eth0');
    expect(records[0]).toContain('iface.vlan_id = 100');
    expect(records[0]).toContain('node.session.auth.username_in = tgtuser');
    expect(records[0]).toContain('node.session.auth.password_in = tgtsecret5678');
    expect(records[1]).toContain('node.name = iqn.2026-11.test:vm-disk6');
    expect(records[1]).toContain('node.conn[0].address = fd00:0010:0000:0000:0000:0000:0000:0010');
    expect(records[1]).toContain('node.conn[0].port = 3261');
    expect(records[1]).toContain('node.boot_lun = 01000000');
  });
}, ['iscsiadm']);

describeVm('iBFT in a real Linux kernel (QEMU): DHCP and static IPv4 NICs', () => {
  const table = writeIbft(DHCP_MODEL);
  const boot = useBoot(DHCP_MODEL, table);
  const text = (name: string): string => boot.files[name]?.toString('utf8') ?? '';

  it('boots, loads iscsi_ibft and runs every step', () => {
    expect(boot.run.rc, describeRun(boot.run)).toBe(0);
    expect(markers(boot.run.output), describeRun(boot.run)).toEqual(GUEST_STEPS);
    expect(Buffer.compare(boot.files['acpi-table.bin']!, Buffer.from(table))).toBe(0);
  });

  it('reads both sources back as the model, the DHCP NIC as dhcp', () => {
    const acpi = JSON.parse(text('acpi.json')) as IbftJson;
    const sysfs = JSON.parse(text('sysfs.json')) as IbftJson;
    expectModel(acpi, DHCP_MODEL);
    expectModel(sysfs, DHCP_MODEL);
    expect(acpi).toEqual(ibftToJson(parseIbft(table), { showSecrets: true }));
    expect(sysfs).toEqual(acpi);
    for (const json of [acpi, sysfs]) {
      expect(json.nics[0]).toMatchObject({
        origin: 3,
        dhcp: true,
        dhcpServer: '10.0.2.2',
        subnetMask: '255.255.255.0',
      });
      expect(json.nics[1]).toMatchObject({ origin: 1, dhcp: false, subnetMask: '255.255.255.128', vlan: 7 });
      expect(json.targets.map((t) => t.lunNumber)).toEqual([0, 5]);
    }
  });

  it("shows the kernel's attribute formats for DHCP origin, DHCP server, VLAN and one-way CHAP", () => {
    const attrs = sysfsAttributes(text('sysfs.txt'));
    expect(Object.fromEntries(attrs)).toMatchObject({
      'ethernet0/origin': '3',
      'ethernet0/dhcp': '10.0.2.2',
      'ethernet0/ip-addr': '10.0.2.15',
      'ethernet0/subnet-mask': '255.255.255.0',
      'ethernet0/hostname': 'dhcp-client',
      'ethernet1/origin': '1',
      'ethernet1/vlan': '7',
      'ethernet1/subnet-mask': '255.255.255.128',
      'ethernet1/secondary-dns': '192.168.7.3',
      'target0/chap-type': '1',
      'target0/chap-name': 'dhcpuser',
      'target1/port': '3270',
      'target1/lun': '05000000',
    });
    // The kernel hides zero fields: no DHCP server on the static NIC, no reverse CHAP on the one-way target.
    for (const absent of ['ethernet1/dhcp', 'ethernet1/hostname', 'target0/rev-chap-name', 'target1/chap-name']) {
      expect(attrs.has(absent), absent).toBe(false);
    }
    expect(text('devices.txt').trim().split('\n')).toEqual(['ethernet0 0000:00:03.0', 'ethernet1 0000:00:04.0']);
  });

  it("agrees with open-iscsi's reading (iscsiadm -m fw): DHCP and STATIC boot protocols", () => {
    const records = text('iscsiadm-fw.txt').split('# BEGIN RECORD').slice(1);
    expect(records, text('iscsiadm-fw.txt')).toHaveLength(2);
    expect(records[0]).toContain('iface.bootproto = DHCP');
    expect(records[0]).toContain('node.name = iqn.2026-11.test:vm-dhcp-disk');
    expect(records[0]).toContain('node.session.auth.username = dhcpuser');
    expect(records[0]).not.toContain('username_in');
    expect(records[1]).toContain('iface.bootproto = STATIC');
    expect(records[1]).toContain('iface.ipaddress = 192.168.7.20');
    expect(records[1]).toContain('iface.vlan_id = 7');
    expect(records[1]).toContain('node.conn[0].port = 3270');
    expect(records[1]).toContain('node.boot_lun = 05000000');
  });
}, ['iscsiadm']);
