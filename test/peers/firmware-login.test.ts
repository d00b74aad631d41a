/**
 * Firmware login: a table written by iscsi-ts (writeIbft) describes a no-auth target and a mutual-CHAP target on
 * a private tgtd; loginFromFirmware logs in to both, boot-selected first, bound to the NIC's address.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IbftChapType, type IbftTableSpec, parseIbft, writeIbft } from '../../src/ibft/index.js';
import { loginFromFirmware } from '../../src/session/firmware-login.js';
import { logout } from '../../src/session/initiator.js';
import { describePeers } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const enc = new TextEncoder();
const CHAP = { user: 'fwuser', secret: 'fw-secret-123456' };
const REVERSE = { user: 'fwtarget', secret: 'fw-target-654321' };
const IQN = { plain: 'iqn.2024-01.test.iscsi-ts:fw.plain', mutual: 'iqn.2024-01.test.iscsi-ts:fw.mutual' };

describePeers(['tgtd', 'tgtadm'], 'login from an iBFT table', () => {
  let tgtd: Tgtd | undefined;

  beforeAll(async () => {
    tgtd = await startTgtd({
      portal: 'both',
      targets: [
        { iqn: IQN.plain, luns: [{ sizeBytes: 1 << 20 }] },
        { iqn: IQN.mutual, luns: [{ sizeBytes: 1 << 20 }], chap: CHAP, mutual: REVERSE },
      ],
    });
  }, 60_000);
  afterAll(async () => {
    await tgtd?.stop();
  });

  it('logs in to every valid target, boot-selected first, with CHAP and reverse CHAP, from the NIC address', async () => {
    const target = (index: number, name: string, bootSelected: boolean) => ({
      index,
      valid: true,
      bootSelected,
      radiusChap: false,
      radiusReverseChap: false,
      reservedFlags: 0,
      ip: '127.0.0.1',
      port: tgtd!.port,
      lun: 1n << 48n,
      chapType: IbftChapType.None,
      nicIndex: 0,
      name,
    });
    const spec: IbftTableSpec = {
      signature: 'iBFT',
      oemId: 'TEST',
      oemTableId: 'FWLOGIN',
      controlFlags: 0,
      initiator: { valid: true, bootSelected: true, reservedFlags: 0, name: 'iqn.2024-01.test.iscsi-ts:fw-initiator' },
      nics: [
        {
          index: 0,
          valid: true,
          bootSelected: true,
          global: true,
          reservedFlags: 0,
          ip: '127.0.0.2',
          prefixLength: 8,
          origin: 1,
          vlan: 0,
          mac: '02:00:00:00:00:09',
          pciBdf: 0x18,
        },
      ],
      targets: [
        target(0, IQN.plain, false),
        {
          ...target(1, IQN.mutual, true),
          chapType: IbftChapType.Mutual,
          chapName: CHAP.user,
          chapSecret: enc.encode(CHAP.secret),
          reverseChapName: REVERSE.user,
          reverseChapSecret: enc.encode(REVERSE.secret),
        },
      ],
    };
    const table = parseIbft(writeIbft(spec));
    const outcomes = await loginFromFirmware(table);
    expect(outcomes.map((o) => [o.target.name, o.ok])).toEqual([
      [IQN.mutual, true],
      [IQN.plain, true],
    ]);
    // tgtd sees the table's initiator name, connecting from the NIC's address.
    const show = await tgtd!.tgtadm(['--mode', 'target', '--op', 'show']);
    expect(show.stdout).toContain('Initiator: iqn.2024-01.test.iscsi-ts:fw-initiator');
    expect(show.stdout).toContain('IP Address: 127.0.0.2');
    for (const o of outcomes) {
      if (!o.ok) continue;
      expect(o.lun).toBe(1);
      await logout(o.session);
    }
  });

  it('iscsi-ts login --firmware --ibft-file does the same from the command line', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { runFirmwareLogin } = await import('../../src/cli/session-commands.js');
    const dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-fw-'));
    try {
      const file = join(dir, 'ibft.bin');
      writeFileSync(
        file,
        writeIbft({
          signature: 'iBFT',
          oemId: 'TEST',
          oemTableId: 'FWCLI',
          controlFlags: 0,
          nics: [],
          targets: [
            {
              index: 0,
              valid: true,
              bootSelected: true,
              radiusChap: false,
              radiusReverseChap: false,
              reservedFlags: 0,
              ip: '::1',
              port: tgtd!.port,
              lun: 1n << 48n,
              chapType: 0,
              nicIndex: 0,
              name: IQN.plain,
            },
          ],
        }),
      );
      const out: string[] = [];
      const code = await runFirmwareLogin(
        { ibftFile: file, json: true },
        { out: (l) => out.push(l), err: () => {}, env: {} },
      );
      expect(code).toBe(0);
      expect(JSON.parse(out.join('\n'))).toEqual([
        {
          target: IQN.plain,
          ok: true,
          portal: { host: '::1', port: tgtd!.port, family: 6 },
          lun: 1,
          tsih: expect.any(Number),
        },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a failing target without stopping the others', async () => {
    const base = parseIbft(
      writeIbft({
        signature: 'iBFT',
        oemId: 'TEST',
        oemTableId: 'FWFAIL',
        controlFlags: 0,
        nics: [],
        targets: [
          {
            index: 0,
            valid: true,
            bootSelected: true,
            radiusChap: false,
            radiusReverseChap: false,
            reservedFlags: 0,
            ip: '127.0.0.1',
            port: tgtd!.port,
            lun: 0n,
            chapType: 0,
            nicIndex: 0,
            name: 'iqn.2024-01.test.iscsi-ts:absent',
          },
          {
            index: 1,
            valid: true,
            bootSelected: false,
            radiusChap: false,
            radiusReverseChap: false,
            reservedFlags: 0,
            ip: '127.0.0.1',
            port: tgtd!.port,
            lun: 0n,
            chapType: 0,
            nicIndex: 0,
            name: IQN.plain,
          },
          {
            index: 2,
            valid: false,
            bootSelected: false,
            radiusChap: false,
            radiusReverseChap: false,
            reservedFlags: 0,
            ip: '127.0.0.1',
            port: tgtd!.port,
            lun: 0n,
            chapType: 0,
            nicIndex: 0,
            name: IQN.plain,
          },
        ],
      }),
    );
    const outcomes = await loginFromFirmware(base);
    expect(outcomes).toHaveLength(2);
    expect(outcomes[0]).toMatchObject({ ok: false, error: { code: 'ERR_ISCSI_LOGIN', status: 0x0203 } });
    expect(outcomes[1]!.ok).toBe(true);
    if (outcomes[1]!.ok) await logout(outcomes[1]!.session);
  });
});
