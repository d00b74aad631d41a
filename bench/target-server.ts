/**
 * The embedded target as a separate process for `npm run bench:target`, so that the measured target does not
 * share an event loop with the bench driver:
 *
 *   node build/bench/target-server.js <port> [sizeBytes] [iqn]
 *
 * Serves one memory LUN (LUN 0, default 1 GiB) on 127.0.0.1:<port> (0 picks a free port). The LUN is filled with
 * non-zero data before listening, so reads copy real bytes as they do from tgtd's page-cached file. Prints
 * `URL iscsi://…` once it listens; stops (graceful logout, 0.5 s) on SIGTERM, SIGINT or when stdin closes (the
 * driver died), and exits on its own after BENCH_TARGET_MAX_S seconds (default 600) in any case.
 * @module
 */
import { MemoryBackend } from '../src/target/backend/memory.js';
import { createTarget } from '../src/target/target.js';
import { GiB, patternChunk } from './block-peers.js';

const port = Number(process.argv[2] ?? '0');
const size = Number(process.argv[3] ?? GiB);
const iqn = process.argv[4] ?? 'iqn.2026-11.bench.iscsi-ts:disk';
const maxSeconds = Number(process.env.BENCH_TARGET_MAX_S ?? 600);

const backend = new MemoryBackend({ size });
const fill = patternChunk();
for (let off = 0; off < size; off += fill.length) {
  await backend.write(off, fill.subarray(0, Math.min(fill.length, size - off)));
}

const target = createTarget({
  portals: [{ host: '127.0.0.1', port }],
  targets: [{ name: iqn, luns: [{ storage: { type: 'backend', backend } }] }],
});
await target.start();

let stopping = false;
const stop = (why: string): void => {
  if (stopping) return;
  stopping = true;
  console.error(`target-server: stopping (${why})`);
  // Bounded: whatever happens to the graceful stop, the process ends within 3 s.
  setTimeout(() => process.exit(1), 3000).unref();
  target.stop({ graceMs: 500 }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
setTimeout(() => stop(`${maxSeconds} s limit`), maxSeconds * 1000).unref();

console.log(`URL ${target.url(iqn, 0)}`);
