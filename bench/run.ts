/** Runs every benchmark in sequence: `npm run bench` (BENCH_TIME_MS sets the time per figure). */
const suites = process.argv.slice(2);
const all = ['./crc32c.bench.js', './pdu/bhs.bench.js', './pdu/framer.bench.js', './session/login.bench.js'];
for (const path of suites.length > 0 ? suites.map((s) => `./${s}.bench.js`) : all) {
  await import(path);
}
