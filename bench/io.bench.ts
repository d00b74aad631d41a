/**
 * Block I/O throughput on loopback against a private tgtd with a 1 GiB file-backed LUN (written once and read
 * once so the page cache is warm): `iscsi-ts perf` (in process, {@link measurePerf}) against libiscsi's
 * `iscsi-perf` with the same parameters, on the same LUN in the same run, for 4 KiB sequential reads QD1, 4 KiB
 * random reads QD32 and 256 KiB sequential reads QD8. iscsi-perf only reads, so writes (4 KiB QD32 and 256 KiB
 * QD8) are compared with `qemu-img bench -w` (QEMU's libiscsi driver) when qemu-img is installed.
 * Each row runs ~5 s per tool (BENCH_TIME_MS scales it: 5 × BENCH_TIME_MS, whole seconds for iscsi-perf).
 */
import { join } from 'node:path';
import { measurePerf } from '../src/cli/perf.js';
import { login } from '../src/session/initiator.js';
import { Session } from '../src/session/session.js';
import { findTool } from '../test/helpers/peers.js';
import { startTgtd } from '../test/helpers/tgtd.js';
import { benchSeconds, GiB, runIscsiPerf, runQemuWrite, warmFile } from './block-peers.js';

const SECONDS = benchSeconds();

interface Row {
  readonly name: string;
  readonly blocks: number;
  readonly qd: number;
  readonly random: boolean;
}

function line(name: string, ours: number, theirs: number | undefined, bytes: number, ref: string): void {
  const fmt = (iops: number) =>
    `${Math.round(iops).toString().padStart(7)} IOPS ${((iops * bytes) / 1e6).toFixed(0).padStart(5)} MB/s`;
  const ratio = theirs ? `${(ours / theirs).toFixed(2)}x` : 'n/a';
  console.log(
    `${name.padEnd(30)} iscsi-ts ${fmt(ours)}   ${ref} ${theirs ? fmt(theirs) : 'failed'.padStart(24)}   ${ratio}`,
  );
}

const iscsiPerf = findTool('iscsi-perf');
if (!findTool('tgtd') || !iscsiPerf) {
  console.log('\n## Block I/O: skipped (needs tgtd from tgt and iscsi-perf from libiscsi-bin)');
} else {
  const iqn = 'iqn.2024-01.bench.iscsi-ts:io';
  const tgtd = await startTgtd({ targets: [{ iqn, luns: [{ sizeBytes: GiB }] }] });
  try {
    const url = tgtd.url(0, 1);
    const warmS = warmFile(join(tgtd.dir, 't1-lun1.img'));
    console.log(
      `\n## Block I/O on loopback (tgtd, 1 GiB LUN, page cache warm in ${warmS.toFixed(1)} s; ${SECONDS} s per run)`,
    );
    console.log('MB/s = 10^6 bytes/s for both columns (iscsi-perf prints MiB/s; recomputed here from its IOPS)');
    const reads: Row[] = [
      { name: '4 KiB seq read QD1', blocks: 8, qd: 1, random: false },
      { name: '4 KiB random read QD32', blocks: 8, qd: 32, random: true },
      { name: '256 KiB seq read QD8', blocks: 512, qd: 8, random: false },
    ];
    const ours = async (row: Row, write: boolean): Promise<number> => {
      const session = new Session(await login({ portal: `127.0.0.1:${tgtd.port}`, targetName: iqn }), {
        queueDepth: row.qd,
      });
      try {
        // Warm-up (JIT, buffers), as bench/harness.ts does; iscsi-perf is native code and needs none.
        await measurePerf(session, 1, {
          queueDepth: row.qd,
          blocksPerRequest: row.blocks,
          seconds: 0.5,
          random: row.random,
          write,
        });
        const r = await measurePerf(session, 1, {
          queueDepth: row.qd,
          blocksPerRequest: row.blocks,
          seconds: SECONDS,
          random: row.random,
          write,
        });
        return r.iops;
      } finally {
        await session.logout().catch(() => session.close());
      }
    };
    for (const row of reads) {
      const r = await runIscsiPerf(iscsiPerf, url, { ...row, seconds: SECONDS });
      const theirs = r.iops;
      if (theirs === undefined) console.log(r.error);
      line(row.name, await ours(row, false), theirs, row.blocks * 512, 'iscsi-perf');
    }
    const qemuImg = findTool('qemu-img');
    const writes: Row[] = [
      { name: '4 KiB seq write QD32', blocks: 8, qd: 32, random: false },
      { name: '256 KiB seq write QD8', blocks: 512, qd: 8, random: false },
    ];
    if (!qemuImg) {
      console.log('writes (4 KiB QD32, 256 KiB QD8 vs qemu-img bench -w): skipped: qemu-img not installed');
    } else {
      for (const row of writes) {
        const bytes = row.blocks * 512;
        // qemu-img bench walks the LUN sequentially: keep count × size within it, and time it ourselves.
        const count = Math.min(Math.floor(GiB / bytes), row.blocks === 8 ? 200_000 : 4000);
        const theirs = (await runQemuWrite(qemuImg, url, { count, qd: row.qd, bytes })).iops;
        line(row.name, await ours(row, true), theirs, bytes, 'qemu-img  ');
      }
    }
  } finally {
    await tgtd.stop();
  }
}
