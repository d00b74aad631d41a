/**
 * Block I/O throughput on loopback against a private tgtd with a 1 GiB file-backed LUN (written once and read
 * once so the page cache is warm): `iscsi-ts perf` (in process, {@link measurePerf}) against libiscsi's
 * `iscsi-perf` with the same parameters, on the same LUN in the same run, for 4 KiB sequential reads QD1, 4 KiB
 * random reads QD32 and 256 KiB sequential reads QD8. iscsi-perf only reads, so writes (4 KiB QD32 and 256 KiB
 * QD8) are compared with `qemu-img bench -w` (QEMU's libiscsi driver) when qemu-img is installed.
 * Each row runs ~5 s per tool (BENCH_TIME_MS scales it: 5 × BENCH_TIME_MS, whole seconds for iscsi-perf).
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { measurePerf } from '../src/cli/perf.js';
import { login } from '../src/session/initiator.js';
import { Session } from '../src/session/session.js';
import { findTool, run } from '../test/helpers/peers.js';
import { startTgtd } from '../test/helpers/tgtd.js';

const GiB = 1024 ** 3;
const CHUNK = 8 * 1024 * 1024;
const SECONDS = Math.max(1, Math.round((5 * Number(process.env.BENCH_TIME_MS ?? 1000)) / 1000));

interface Row {
  readonly name: string;
  readonly blocks: number;
  readonly qd: number;
  readonly random: boolean;
}

/** iscsi-perf's last `iops average N` (it redraws one line with `\r`). */
function parseIscsiPerf(stdout: string): number | undefined {
  const matches = [...stdout.replace(/\r/g, '\n').matchAll(/iops average (\d+)/g)];
  const last = matches.at(-1)?.[1];
  return last === undefined ? undefined : Number(last);
}

/** Fills the backing file with non-zero data and reads it back once: tgtd then serves from the page cache. */
function warm(path: string): number {
  const t = performance.now();
  const buf = Buffer.alloc(CHUNK);
  for (let i = 0; i < CHUNK; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  const fd = openSync(path, 'r+');
  try {
    for (let off = 0; off < GiB; off += CHUNK) writeSync(fd, buf, 0, CHUNK, off);
    for (let off = 0; off < GiB; off += CHUNK) readSync(fd, buf, 0, CHUNK, off);
  } finally {
    closeSync(fd);
  }
  return (performance.now() - t) / 1000;
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
    const warmS = warm(join(tgtd.dir, 't1-lun1.img'));
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
      const args = ['-t', String(SECONDS), '-m', String(row.qd), '-b', String(row.blocks)];
      const r = await run(iscsiPerf, [...args, ...(row.random ? ['-r'] : []), url], {
        timeoutMs: SECONDS * 1000 + 15_000,
      });
      const theirs = parseIscsiPerf(r.stdout);
      if (theirs === undefined) console.log(`iscsi-perf failed (${r.code}): ${r.stderr.trim().slice(0, 200)}`);
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
        const qemuArgs = ['bench', '-w', '-f', 'raw', '-c', String(count), '-d', String(row.qd), '-s', String(bytes)];
        const r = await run(qemuImg, [...qemuArgs, url], { timeoutMs: 120_000 });
        const s = Number(/Run completed in ([\d.]+) seconds/.exec(r.stdout)?.[1]);
        const theirs = Number.isFinite(s) && s > 0 ? count / s : undefined;
        line(row.name, await ours(row, true), theirs, bytes, 'qemu-img  ');
      }
    }
  } finally {
    await tgtd.stop();
  }
}
