import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../src/chap/secret.js';
import {
  type BootTarget,
  bootArgs,
  type NetworkConfig,
  parseBootArgs,
  requiredDracutModules,
  requiredKernelModules,
  requiredPackages,
  splitKernelCmdline,
} from '../../src/ibft/dracut.js';
import { bootErrorOf, onlyBootErrors, plain } from './boot-helpers.js';

const host1 = 'iqn.2024-01.org.example:host1';
const disk1: BootTarget = {
  portal: { host: '10.0.0.10', port: 3260, family: 4 },
  targetName: 'iqn.2003-01.org.example:disk1',
  lun: 0,
  initiatorName: host1,
};
const mutual: BootTarget = {
  ...disk1,
  chap: { user: 'inituser', secret: Secret.from('initsecret1234') },
  reverseChap: { user: 'tgtuser', secret: Secret.from('tgtsecret5678') },
};

describe('bootArgs', () => {
  it('writes what blivet writes for a manual login (sample B)', () => {
    expect(bootArgs([mutual], { style: 'anaconda', includeSecrets: true })).toEqual([
      'netroot=iscsi:inituser:initsecret1234:tgtuser:tgtsecret5678@10.0.0.10::3260::iqn.2003-01.org.example:disk1',
      'rd.iscsi.initiator=iqn.2024-01.org.example:host1',
    ]);
  });

  it('redacts secrets by default', () => {
    const args = bootArgs([mutual]).join(' ');
    expect(args).toContain('inituser:<redacted>:tgtuser:<redacted>@');
    expect(args).not.toMatch(/initsecret|tgtsecret/);
  });

  it('writes rd.iscsi.firmware=1 for a firmware-booted disk, with rd.iscsi.ibft=1 when asked', () => {
    expect(bootArgs([{ ...disk1, firmware: true }], { ibft: true })).toEqual([
      'rd.iscsi.firmware=1',
      'rd.iscsi.ibft=1',
    ]);
    expect(bootArgs([], { firmware: true })).toEqual(['rd.iscsi.firmware=1']);
  });

  it('writes every argument in a fixed order and drops duplicate netroots', () => {
    const network: NetworkConfig[] = [
      { method: 'auto', mode: 'dhcp', netdev: 'ens3' },
      { method: 'static', address: '10.0.1.5', prefixLength: 24, netdev: 'ens4.100', autoconf: 'none' },
    ];
    const args = bootArgs(
      [disk1, disk1, { ...disk1, lun: 1, firmware: true }, { ...disk1, targetName: 'iqn.2003-01.org.example:disk2' }],
      {
        network,
        interfaces: [{ name: 'ens3', mac: '52:54:00:AB:CD:EF' }],
        vlans: [{ name: 'ens4.100', parent: 'ens4' }],
        neednet: true,
      },
    );
    expect(args).toEqual([
      'netroot=iscsi:@10.0.0.10::3260:0:iqn.2003-01.org.example:disk1',
      'netroot=iscsi:@10.0.0.10::3260:0:iqn.2003-01.org.example:disk2',
      'rd.iscsi.firmware=1',
      'rd.iscsi.initiator=iqn.2024-01.org.example:host1',
      'ifname=ens3:52:54:00:ab:cd:ef',
      'vlan=ens4.100:ens4',
      'ip=ens3:dhcp',
      'ip=10.0.1.5:::255.255.255.0::ens4.100:none',
      'rd.neednet=1',
    ]);
  });

  it.each<[string, () => unknown, string]>([
    [
      'targets with two initiator names',
      () => bootArgs([disk1, { ...disk1, initiatorName: 'iqn.2024-01.org.example:other' }]),
      'rd.iscsi.initiator',
    ],
    [
      'an option that disagrees with a target',
      () => bootArgs([disk1], { initiatorName: 'iqn.2024-01.org.example:x' }),
      'rd.iscsi.initiator',
    ],
    [
      'a netroot target without an initiator name',
      () => bootArgs([{ ...disk1, initiatorName: undefined }]),
      'rd.iscsi.initiator',
    ],
    [
      'an initiator name with a space',
      () => bootArgs([{ ...disk1, initiatorName: 'iqn.2024-01.org.example:a b' }]),
      'rd.iscsi.initiator',
    ],
    ['a bad ifname MAC', () => bootArgs([], { interfaces: [{ name: 'ens3', mac: 'xx' }] }), 'ifname'],
    ['a bad vlan parent', () => bootArgs([], { vlans: [{ name: 'v', parent: 'a b' }] }), 'vlan'],
    ['a bad target', () => bootArgs([{ ...disk1, lun: -1 }]), 'netroot.lun'],
  ])('rejects %s', (_, f, field) => {
    bootErrorOf(f, field);
  });
});

describe('parseBootArgs', () => {
  it('reads an installed system command line and keeps the rest verbatim', () => {
    const parsed = parseBootArgs(
      'BOOT_IMAGE=(hd0,gpt2)/vmlinuz root=/dev/mapper/rhel-root ro netroot=iscsi:@10.0.0.10::3260::iqn.2003-01.org.example:disk1 ' +
        'rd.iscsi.initiator=iqn.2024-01.org.example:host1 ip=ens3:dhcp ifname=ens3:52:54:00:12:34:56 rd.lvm.lv=rhel/root quiet',
    );
    expect(parsed.targets.map(plain)).toEqual([plain({ ...disk1, initiatorName: undefined })]);
    expect(parsed).toMatchObject({
      initiatorName: host1,
      firmware: false,
      ibft: false,
      neednet: false,
      network: [{ method: 'auto', mode: 'dhcp', netdev: 'ens3' }],
      interfaces: [{ name: 'ens3', mac: '52:54:00:12:34:56' }],
      vlans: [],
      other: ['BOOT_IMAGE=(hd0,gpt2)/vmlinuz', 'root=/dev/mapper/rhel-root', 'ro', 'rd.lvm.lv=rhel/root', 'quiet'],
    });
    expect(parsed.root).toBeUndefined();
  });

  it("reads dracut's iBFT arguments (sample A) and the legacy names", () => {
    expect(parseBootArgs('rd.iscsi.ibft=1 rd.iscsi.firmware=1')).toMatchObject({ ibft: true, firmware: true });
    expect(parseBootArgs('iscsi_firmware iscsi_initiator=iqn.1994-05.com.redhat:633114aacf2 ip=ibft')).toMatchObject({
      firmware: true,
      ibft: true,
      initiatorName: 'iqn.1994-05.com.redhat:633114aacf2',
      network: [{ method: 'ibft' }],
    });
    expect(parseBootArgs('rd.iscsi.firmware rd.iscsi.firmware=0 rd.neednet=yes').firmware).toBe(false);
    expect(parseBootArgs('rd.neednet=1').neednet).toBe(true);
  });

  it('reads root=iscsi:, vlan=, quoted values and argument arrays', () => {
    const parsed = parseBootArgs(
      'root="iscsi:192.168.50.1::::iqn.2009-06.dracut:target0" vlan=ibft0.100:ibft0 netroot=nfs:x:/y a="b c"',
    );
    expect(plain(parsed.root!)).toEqual(
      plain({
        portal: { host: '192.168.50.1', port: 3260, family: 4 },
        targetName: 'iqn.2009-06.dracut:target0',
        lun: 0,
      }),
    );
    expect(parsed.vlans).toEqual([{ name: 'ibft0.100', parent: 'ibft0' }]);
    expect(parsed.other).toEqual(['netroot=nfs:x:/y', 'a=b c']);
    expect(parseBootArgs(['rd.neednet', 'x y']).other).toEqual(['x y']);
  });

  it.each<[string, string, string]>([
    ['two initiator names', 'rd.iscsi.initiator=iqn.2024-01.a:x iscsi_initiator=iqn.2024-01.a:y', 'rd.iscsi.initiator'],
    ['a bad initiator name', 'rd.iscsi.initiator=host1', 'rd.iscsi.initiator'],
    ['a malformed netroot', 'netroot=iscsi:10.0.0.1::http::iqn.2003-01.org.example:disk1', 'netroot.port'],
    ['a malformed ip=', 'ip=ens3:dhcp:x', 'ip.mtu'],
    ['a bad ifname', 'ifname=ens3', 'ifname'],
    ['an unbalanced quote', 'a="b', 'cmdline'],
  ])('rejects %s', (_, cmdline, field) => {
    bootErrorOf(() => parseBootArgs(cmdline), field);
  });

  it('splits like the kernel: white space, double quotes', () => {
    expect(splitKernelCmdline('  a  b="c d"\t"e f"\n')).toEqual(['a', 'b=c d', 'e f']);
    expect(splitKernelCmdline('x=""')).toEqual(['x=']);
    bootErrorOf(() => splitKernelCmdline('a'.repeat(70000)), 'cmdline');
  });

  it('throws only BootConfigError for arbitrary command lines', () => {
    const arg = fc.oneof(
      fc.string(),
      fc
        .constantFrom(
          'netroot=iscsi:',
          'root=iscsi:',
          'ip=',
          'ifname=',
          'vlan=',
          'rd.iscsi.initiator=',
          'rd.iscsi.firmware=',
        )
        .chain((k) => fc.string().map((v) => `${k}${v}`)),
    );
    fc.assert(
      fc.property(fc.array(arg, { maxLength: 6 }), (args) => {
        onlyBootErrors(() => parseBootArgs(args.join(' ')));
        onlyBootErrors(() => parseBootArgs(args));
      }),
      { numRuns: 400 },
    );
  });
});

describe('bootArgs / parseBootArgs round trip', () => {
  it('reads back the targets, initiator name and network', () => {
    const target = fc.record({
      host: fc.ipV4(),
      port: fc.integer({ min: 1, max: 65535 }),
      disk: fc.stringMatching(/^[a-z0-9][a-z0-9.:-]{0,20}$/),
      lun: fc.integer({ min: 0, max: 65535 }),
      secret: fc.option(fc.stringMatching(/^[A-Za-z0-9]{12,16}$/), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(target, { maxLength: 4, selector: (t) => `${t.host}/${t.port}/${t.disk}/${t.lun}` }),
        fc.boolean(),
        (ts, dhcp) => {
          const targets: BootTarget[] = ts.map((t) => ({
            portal: { host: t.host, port: t.port, family: 4 },
            targetName: `iqn.2003-01.org.example:${t.disk}`,
            lun: t.lun,
            ...(t.secret === undefined ? {} : { chap: { user: 'u', secret: Secret.from(t.secret) } }),
          }));
          const network: NetworkConfig[] = dhcp ? [{ method: 'auto', mode: 'dhcp', netdev: 'ens3' }] : [];
          const args = bootArgs(targets, { initiatorName: host1, network, includeSecrets: true });
          const parsed = parseBootArgs(args.join(' '));
          expect(parsed.targets.map(plain)).toEqual(targets.map(plain));
          expect(parsed.initiatorName).toBe(host1);
          expect(parsed.network).toEqual(network);
          expect(parsed.other).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('initramfs requirements', () => {
  it('lists the dracut modules, packages and kernel modules', () => {
    expect(requiredDracutModules()).toEqual(['network', 'iscsi']);
    expect(requiredPackages()).toEqual(['iscsi-initiator-utils', 'dracut-network']);
    expect(requiredPackages('debian')).toEqual(['open-iscsi', 'dracut-network']);
    expect(requiredKernelModules()).toEqual(['iscsi_tcp', 'iscsi_ibft', 'crc32c', 'iscsi_boot_sysfs', '8021q']);
    expect(requiredKernelModules(['tcp', 'bnx2i', 'qla4xxx'])).toEqual([
      'iscsi_tcp',
      'iscsi_ibft',
      'crc32c',
      'iscsi_boot_sysfs',
      '8021q',
      'bnx2i',
      'qla4xxx',
    ]);
    bootErrorOf(() => requiredKernelModules(['constructor']), 'transport');
  });
});
