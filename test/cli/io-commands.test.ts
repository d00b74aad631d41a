/**
 * `iscsi-ts ls`, `inq`, `readcap`, `cat` and `dd` against a private tgtd (two targets, one with CHAP): outputs
 * compared with libiscsi's iscsi-readcapacity16 and iscsi-inq, data compared by sha256 with the backing files.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BinaryIo, runCat, runDd, runInq, runLs, runReadcap } from '../../src/cli/io-commands.js';
import { describePeers, run } from '../helpers/peers.js';
import { startTgtd, type Tgtd } from '../helpers/tgtd.js';

const MiB = 1024 * 1024;
const PLAIN = 'iqn.2024-01.test.iscsi-ts:io.plain';
const CHAPPED = 'iqn.2024-01.test.iscsi-ts:io.chap';
const CHAP = { user: 'iouser', secret: 'iosecret-4c1d8e' } as const;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface TestIo extends BinaryIo {
  lines: string[];
  errors: string[];
  data(): Buffer;
}

function testIo(progress = false): TestIo {
  const lines: string[] = [];
  const errors: string[] = [];
  const chunks: Buffer[] = [];
  return {
    lines,
    errors,
    env: {},
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    stdout: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
    ...(progress ? { progress: (t: string) => errors.push(t) } : {}),
    data: () => Buffer.concat(chunks),
  };
}

describePeers(['tgtd', 'tgtadm', 'iscsi-readcapacity16', 'iscsi-inq'], 'iscsi-ts ls / inq / readcap / cat / dd', () => {
  let tgtd: Tgtd;
  let dir: string;
  let backing: string;
  let url: string;
  const seed = randomBytes(2 * MiB);

  beforeAll(async () => {
    tgtd = await startTgtd({
      targets: [
        { iqn: PLAIN, luns: [{ sizeBytes: 2 * MiB }, { sizeBytes: 4 * MiB }] },
        { iqn: CHAPPED, luns: [{ sizeBytes: MiB }], chap: CHAP },
      ],
    });
    dir = mkdtempSync(join(tmpdir(), 'iscsi-ts-io-cli-'));
    backing = join(tgtd.dir, 't1-lun1.img');
    const fd = openSync(backing, 'r+');
    try {
      writeSync(fd, seed, 0, seed.length, 0);
    } finally {
      closeSync(fd);
    }
    url = tgtd.url(0, 1);
  }, 20_000);

  afterAll(async () => {
    await tgtd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('readcap prints the size iscsi-readcapacity16 prints', async () => {
    const theirs = await run('iscsi-readcapacity16', [url], { timeoutMs: 10_000 });
    const total = /Total size:\s*(\d+)/.exec(theirs.stdout)?.[1];
    expect(total).toBe(String(2 * MiB));
    const io = testIo();
    expect(await runReadcap(url, {}, io)).toBe(0);
    expect(io.lines).toContain(`Total size: ${total}`);
    expect(io.lines).toContain('Block size: 512');
    const json = testIo();
    expect(await runReadcap(tgtd.url(0, 2), { json: true }, json)).toBe(0);
    const cap = JSON.parse(json.lines.join('\n')) as { bytes: number; blockLength: number; blocks: number };
    expect(cap).toMatchObject({ bytes: 4 * MiB, blockLength: 512, blocks: (4 * MiB) / 512 });
  });

  it('inq prints the vendor and product iscsi-inq prints, and VPD pages', async () => {
    const theirs = await run('iscsi-inq', [url], { timeoutMs: 10_000 });
    const vendor = /^Vendor:(.*)$/m.exec(theirs.stdout)?.[1]?.trim();
    const product = /^Product:(.*)$/m.exec(theirs.stdout)?.[1]?.trim();
    expect(vendor).toBeTruthy();
    const io = testIo();
    expect(await runInq(url, {}, io)).toBe(0);
    expect(io.lines).toContain(`vendor: ${vendor}`);
    expect(io.lines).toContain(`product: ${product}`);
    const json = testIo();
    expect(await runInq(url, { json: true }, json)).toBe(0);
    expect(JSON.parse(json.lines.join('\n'))).toMatchObject({ vendor, product, peripheralDeviceType: 0 });
    const vpd = testIo();
    expect(await runInq(url, { page: 0, json: true }, vpd)).toBe(0);
    const pages = JSON.parse(vpd.lines.join('\n')) as { pages?: number[] };
    expect(JSON.stringify(pages)).toMatch(/128/); // 0x80, unit serial number, is among the supported pages
  });

  it('ls lists every target with its LUNs, types, sizes and vendor/product; a CHAP target shows its error', async () => {
    const io = testIo();
    // tgtd's discovery session takes no CHAP, so the CHAP-protected target is refused: exit code 4 (auth).
    const code = await runLs(`127.0.0.1:${tgtd.port}`, { json: true }, io);
    expect(code).toBe(4);
    const list = JSON.parse(io.lines.join('\n')) as {
      target: string;
      error?: string;
      luns: { lun: number; typeName?: string; size?: number; vendor?: string; product?: string }[];
    }[];
    const plain = list.find((t) => t.target === PLAIN);
    const chapped = list.find((t) => t.target === CHAPPED);
    expect(plain?.luns.map((l) => [l.lun, l.size])).toEqual([
      [0, undefined], // tgtd's controller LUN: no capacity
      [1, 2 * MiB],
      [2, 4 * MiB],
    ]);
    expect(plain?.luns[1]).toMatchObject({ vendor: 'IET', product: 'VIRTUAL-DISK' });
    expect(chapped?.error).toMatch(/authentication failed/);
    const text = testIo();
    expect(await runLs(`127.0.0.1:${tgtd.port}`, {}, text)).toBe(4);
    expect(text.lines.some((l) => l.startsWith(`Target:${PLAIN} Portal:127.0.0.1:${tgtd.port}`))).toBe(true);
    expect(text.lines.some((l) => /^Lun:2\s+Type:.*\(Size:4M 4194304 bytes\).*Vendor:IET/.test(l))).toBe(true);
  });

  it('readcap and cat log in with CHAP from the environment', async () => {
    const env = { ISCSI_TS_CHAP_USER: CHAP.user, ISCSI_TS_CHAP_SECRET: CHAP.secret };
    const chapUrl = tgtd.url(1, 1, { chap: null });
    const io = { ...testIo(), env };
    expect(await runReadcap(chapUrl, {}, io)).toBe(0);
    expect(io.lines).toContain(`Total size: ${MiB}`);
    const cat = { ...testIo(), env };
    expect(await runCat(chapUrl, {}, cat)).toBe(0);
    expect(cat.data().length).toBe(MiB);
    expect(io.errors.concat(cat.errors).join('\n')).not.toContain(CHAP.secret);
  });

  it('cat writes the whole LUN to stdout', async () => {
    const io = testIo();
    expect(await runCat(url, {}, io)).toBe(0);
    expect(io.data().length).toBe(2 * MiB);
    expect(sha(io.data())).toBe(sha(seed));
  });

  it('dd copies a file to a LUN and the LUN back to a file, with --bs and --count', async () => {
    const input = join(dir, 'in.bin');
    const data = randomBytes(3 * MiB + 4096);
    writeFileSync(input, data);
    const lun2 = tgtd.url(0, 2);
    const io = testIo(true);
    expect(await runDd({ if: input, of: lun2, bs: 64 * 1024 }, io)).toBe(0);
    expect(io.errors.at(-1)).toMatch(new RegExp(`^${data.length} bytes copied`));
    const lun2File = readFileSync(join(tgtd.dir, 't1-lun2.img')).subarray(0, data.length);
    expect(sha(lun2File)).toBe(sha(data));
    const output = join(dir, 'out.bin');
    expect(await runDd({ if: lun2, of: output, bs: 4096, count: 100 }, testIo())).toBe(0);
    expect(sha(readFileSync(output))).toBe(sha(data.subarray(0, 4096 * 100)));
    // LUN to LUN, whole source.
    expect(await runDd({ if: url, of: lun2 }, testIo())).toBe(0);
    expect(sha(readFileSync(join(tgtd.dir, 't1-lun2.img')).subarray(0, 2 * MiB))).toBe(sha(seed));
  });

  it('dd refuses a copy that does not fit or is not block-aligned, and a missing file', async () => {
    const big = join(dir, 'big.bin');
    writeFileSync(big, Buffer.alloc(3 * MiB));
    const io = testIo();
    expect(await runDd({ if: big, of: url }, io)).toBe(1);
    expect(io.errors.join('\n')).toMatch(/do not fit/);
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, Buffer.alloc(1000));
    const io2 = testIo();
    const before = sha(readFileSync(backing));
    expect(await runDd({ if: odd, of: url }, io2)).toBe(1);
    expect(io2.errors.join('\n')).toMatch(/block boundary/);
    expect(sha(readFileSync(backing))).toBe(before); // refused before anything was written
    const io3 = testIo();
    expect(await runDd({ if: join(dir, 'nope.bin'), of: url }, io3)).toBe(1);
    expect(io3.errors.join('\n')).toMatch(/ENOENT/);
  });

  it('a wrong URL gives a clear error and a non-zero exit code', async () => {
    const io = testIo();
    expect(await runReadcap(`iscsi://127.0.0.1:${tgtd.port}/iqn.2024-01.test.iscsi-ts:nosuch/1`, {}, io)).toBe(5);
    expect(io.errors.join('\n')).toMatch(/ERR_ISCSI_LOGIN/);
  });
});
