import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { openLun } from '../../src/block/device.js';
import { discover } from '../../src/session/discovery.js';
import { createTarget, type IscsiTarget } from '../../src/target/target.js';

const IQN = 'iqn.2026-11.test.iscsi-ts:disk';
let target: IscsiTarget | undefined;

afterEach(async () => {
  await target?.stop({ graceMs: 200 });
  target = undefined;
});

async function start(config: Partial<Parameters<typeof createTarget>[0]> = {}): Promise<IscsiTarget> {
  target = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: IQN, luns: [{ storage: { type: 'memory', size: 16 * 1024 * 1024 } }] }],
    ...config,
  });
  await target.start();
  return target;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('embedded target with the iscsi-ts initiator', () => {
  it('reads back what was written, across bursts and unaligned to them', async () => {
    const t = await start();
    const dev = await openLun(t.url(IQN, 0));
    try {
      expect(dev.size).toBe(16 * 1024 * 1024);
      expect(dev.blockSize).toBe(512);
      for (const size of [512, 4096, 65536 + 512, 1024 * 1024 + 3 * 512, 3 * 1024 * 1024]) {
        const data = randomBytes(size);
        const offset = 512 * 7;
        await dev.write(offset, data);
        expect(sha(await dev.read(offset, size))).toBe(sha(data));
      }
    } finally {
      await dev.close();
    }
  });

  it('answers SendTargets with every portal', async () => {
    const t = await start({ portals: ['127.0.0.1:0', '[::1]:0'] });
    const found = await discover({ portal: { host: '127.0.0.1', port: t.portals[0]!.port, family: 4 } });
    expect(found.map((f) => f.name)).toEqual([IQN]);
    expect(found[0]!.portals.map((a) => a.port).sort()).toEqual(t.portals.map((p) => p.port).sort());
  });
});
