/**
 * `iscsi-ts demo` (what `npm run demo` runs): the whole stack end to end on loopback, in a few seconds, without
 * root. An embedded target with a memory LUN and mutual CHAP (SHA-256, fresh random secrets) is started;
 * SendTargets discovers it; the initiator logs in, prints INQUIRY, the capacity and the negotiated parameters,
 * writes data and reads it back, prints the dracut arguments that would boot from the disk; every PDU goes to a
 * pcap trace, which is decoded again as a check. The exit code is 0 only when every step worked.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bootArgs,
  buildInquiryCdb,
  ChapAlgorithm,
  createTarget,
  decodeCapture,
  discover,
  type IscsiTarget,
  openLun,
  PcapTrace,
  parseStandardInquiry,
  runScsi,
  Secret,
} from '../index.js';
import type { Io } from './session-commands.js';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the pcap trace goes (default: a file in the temporary directory). */
  readonly trace?: string;
}

const TARGET = 'iqn.2026-11.io.github.iscsi-ts:demo';
const INITIATOR = 'iqn.2026-11.io.github.iscsi-ts:demo-initiator';
const LUN_SIZE = 64 * 1024 * 1024;

/** Runs the demo; returns the exit code. */
export async function runDemo(o: DemoOptions, io: Io): Promise<number> {
  const tracePath = o.trace ?? join(tmpdir(), `iscsi-ts-demo-${process.pid}.pcap`);
  const fd = openSync(tracePath, 'w', 0o600);
  // Fresh secrets each run: nothing to leak, and they never appear in the output or the trace.
  const initiator = { user: 'demo-initiator', secret: Secret.from(randomBytes(16).toString('hex')) };
  const targetId = { user: 'demo-target', secret: Secret.from(randomBytes(16).toString('hex')) };
  const auth = {
    lookup: (user: string) => (user === initiator.user ? initiator.secret : undefined),
    targetCredentials: targetId,
    algorithms: [ChapAlgorithm.SHA256],
  };
  const chap = { credentials: initiator, targetCredentials: targetId };
  const target: IscsiTarget = createTarget({
    portals: ['127.0.0.1:0'],
    targets: [{ name: TARGET, alias: 'iscsi-ts demo', luns: [{ storage: { type: 'memory', size: LUN_SIZE } }] }],
    auth,
    trace: new PcapTrace((chunk) => writeSync(fd, chunk)),
  });
  let failed = false;
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    const started = performance.now();
    try {
      const value = await fn();
      io.out(`ok    ${name} (${(performance.now() - started).toFixed(1)} ms)`);
      return value;
    } catch (err) {
      failed = true;
      io.out(`FAIL  ${name}: ${(err as Error).message}`);
      return undefined;
    }
  };

  try {
    await step('start the embedded target (memory LUN, mutual CHAP with SHA-256)', () => target.start());
    const portal = target.portals[0];
    if (!portal) return 1;
    io.out(`      listening on 127.0.0.1:${portal.port}, target ${TARGET}`);
    const found = await step('discover it with SendTargets (mutual CHAP)', () =>
      discover({ portal: { host: '127.0.0.1', port: portal.port, family: 4 }, initiatorName: INITIATOR, chap }),
    );
    for (const t of found ?? []) {
      io.out(`      ${t.name} at ${t.portals.map((p) => `${p.address}:${p.port},${p.tpgt ?? '?'}`).join(' ')}`);
    }
    const device = await step('log in with the iscsi-ts initiator and open LUN 0', () =>
      openLun(target.url(TARGET, 0), { loginOptions: { initiatorName: INITIATOR, chap } }),
    );
    if (!device) return 1;
    try {
      const p = device.session.params;
      io.out(
        `      negotiated: HeaderDigest=${p.headerDigest} DataDigest=${p.dataDigest} ` +
          `MaxRecvDataSegmentLength=${p.maxRecvDataSegmentLength}/${p.maxXmitDataSegmentLength} ` +
          `MaxBurstLength=${p.maxBurstLength} FirstBurstLength=${p.firstBurstLength} ` +
          `InitialR2T=${p.initialR2T ? 'Yes' : 'No'} ImmediateData=${p.immediateData ? 'Yes' : 'No'} ` +
          `ErrorRecoveryLevel=${p.errorRecoveryLevel}`,
      );
      const inquiry = await step('INQUIRY', async () =>
        parseStandardInquiry(
          await runScsi(device.session, 0, buildInquiryCdb({ allocationLength: 96 }), { allowShortRead: true }),
        ),
      );
      if (inquiry) io.out(`      ${inquiry.vendor.trim()} ${inquiry.product.trim()} ${inquiry.revision.trim()}`);
      io.out(`      capacity ${device.size} bytes = ${device.blocks} blocks of ${device.blockSize}`);
      const data = randomBytes(4 * 1024 * 1024 + 3 * 512);
      const offset = 1024 * 1024 + 512;
      await step(`write ${data.length} bytes at ${offset} and read them back`, async () => {
        await device.write(offset, data);
        const back = await device.read(offset, data.length);
        const a = createHash('sha256').update(data).digest('hex');
        const b = createHash('sha256').update(back).digest('hex');
        if (a !== b) throw new Error(`read back ${b.slice(0, 16)}…, wrote ${a.slice(0, 16)}…`);
        io.out(`      sha256 ${a.slice(0, 16)}… matches`);
      });
      const args = await step('dracut arguments to boot from this LUN (secrets redacted)', async () =>
        bootArgs(
          [
            {
              portal: { host: '127.0.0.1', port: portal.port, family: 4 },
              targetName: TARGET,
              lun: 0,
              chap: initiator,
              reverseChap: targetId,
              initiatorName: INITIATOR,
            },
          ],
          { network: { method: 'auto', mode: 'dhcp' } },
        ),
      );
      if (args) io.out(`      ${args.join(' ')}`);
    } finally {
      await step('log out', () => device.close());
    }
  } finally {
    await step('stop the target', () => target.stop({ graceMs: 500 }));
    closeSync(fd);
  }
  await step('decode the pcap trace again', async () => {
    const decoded = decodeCapture(readFileSync(tracePath), { port: target.portals[0]?.port ?? 3260 });
    if (decoded.pdus.length === 0) throw new Error('no PDU in the trace');
    if (decoded.problems.length > 0) throw new Error(`${decoded.problems.length} problem(s) decoding the trace`);
    io.out(`      ${decoded.pdus.length} PDUs, all decoded; open it with: wireshark ${tracePath}`);
  });
  io.out(failed ? 'demo FAILED' : `demo finished: every step worked (trace: ${tracePath})`);
  return failed ? 1 : 0;
}
