/**
 * A throw-away QEMU guest running Debian's stock kernel, for tests that need a real Linux kernel: the kernel
 * initiator (iscsi_tcp + NETLINK_ISCSI, which the development host lacks), `/sys/firmware/ibft` from an injected
 * iBFT, udev data. The guest sees the host's root file system read-only over 9p with a RAM overlay, so every host
 * binary (node, iscsid, iscsiadm) and this checkout work in it unchanged; it runs one bash command and powers off.
 *
 * Recipe (see the project's reference sheet on booting a real kernel): the kernel package is fetched with
 * `apt-get download` (no root), unpacked with `dpkg -x` into a cache keyed on its version, `busybox depmod` makes
 * `modules.dep`; the initramfs holds static busybox, `test/helpers/vm-init.sh` as `/init` and the modules needed
 * to reach the host root. QEMU runs under TCG unless KVM is usable (not under the `kvm_pvm` nested hypervisor).
 *
 * Environment knobs (tests only): `ISCSI_TS_VM_CACHE` (cache directory, default `<repo>/.cache/vm`),
 * `ISCSI_TS_VM_ACCEL` (`tcg` or `kvm` to force the accelerator).
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { it } from 'vitest';
import { checkPeers, describePeers, findTool, peersRequired, run, sleep, tail } from './peers.js';

/** Root of this checkout. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The guest's PID 1 script. */
const INIT_SCRIPT = join(REPO_ROOT, 'test', 'helpers', 'vm-init.sh');
/** Host tools the VM needs at run time (the first three are what the VM test suites list for describePeers). */
export const VM_TOOLS = ['qemu-system-x86_64', 'busybox', 'cpio'] as const;
/** Modules packed into the initramfs to reach the host root (their dependencies are added from modules.dep). */
const INITRAMFS_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay', 'virtio-rng'] as const;
/** Standard Debian PATH for the guest command; the host PATH may hold slow shims (pyenv) and is not inherited. */
const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Keep at most this much of QEMU's console output (the tail). */
const MAX_CONSOLE_BYTES = 1024 * 1024;

/** Result of {@link vmAvailable}. */
export type VmAvailability = { ok: true } | { ok: false; reason: string };

/** What {@link prepareVm} produced: everything a boot needs. */
export interface VmSetup {
  /** The kernel package, e.g. `linux-image-6.1.0-56-amd64`, and its version. */
  readonly packageName: string;
  readonly packageVersion: string;
  /** `uname -r` of the guest kernel. */
  readonly kernelRelease: string;
  /** The image given to `-kernel`: the decompressed PVH ELF when that worked, else the bzImage. */
  readonly kernel: string;
  /** Whether {@link kernel} is the decompressed ELF (direct PVH boot, ~3 s faster under TCG). */
  readonly pvh: boolean;
  /** The gzip'd initramfs. */
  readonly initrd: string;
  /** Host directory holding `<release>/modules.dep` etc., bind-mounted on the guest's /lib/modules. */
  readonly moduleDir: string;
  /** How long {@link prepareVm} took (ms); small when everything was cached. */
  readonly setupMs: number;
}

/** Options of {@link runInVm}. */
export interface RunInVmOptions {
  /** bash source run in the guest (as root, in a chroot of the overlay root). */
  command: string;
  /** Extra QEMU arguments, placed before the VM's own devices (so added PCI NICs get slots 00:03.0, 00:04.0, …). */
  extraQemuArgs?: readonly string[];
  /** Kill QEMU (SIGKILL by PID) after this long; the result then has rc 124. */
  timeoutMs: number;
  /** Working directory of the command in the guest (a host path; falls back to `/`). No whitespace. */
  cwd?: string;
  /** Extra environment variables for the command. */
  env?: Readonly<Record<string, string>>;
  /** Files to put in the scratch share before the boot (relative names); the guest sees them at the same path. */
  files?: Readonly<Record<string, string | Uint8Array>>;
  /** Guest memory in MiB (default 1024). */
  memoryMiB?: number;
  /** Keep the scratch directory (default: removed). */
  keepScratch?: boolean;
  /**
   * Copy this checkout's runtime files (package.json, the .js files of dist/, the production node_modules) into guest RAM
   * before the command and export their directory as `ISCSI_TS_CHECKOUT`. Node loading ~200 modules straight
   * from the 9p share takes 10-20 s under TCG; from tmpfs about a second. Needs dist/ built.
   */
  stageCheckout?: boolean;
}

/** Result of {@link runInVm}. */
export interface VmRunResult {
  /** The command's exit status; 124 timeout, 125 VM failure (no status written), 126 guest set-up failure. */
  rc: number;
  /** The command's stdout and stderr, interleaved. */
  output: string;
  /** QEMU's serial console (kernel log at loglevel 4, /init messages), at most its last MiB. */
  console: string;
  /** Whether QEMU was killed because of `timeoutMs`. */
  timedOut: boolean;
  /** Wall-clock time from QEMU start to its exit (ms). */
  wallMs: number;
  /** Guest uptime (s) when the command started and when it ended, when recorded. */
  startUptime?: number;
  endUptime?: number;
  /** The scratch directory (same path in the guest; `ISCSI_VM_SCRATCH` there); gone unless `keepScratch`. */
  scratch: string;
  /** Files the command left in the scratch share's top level, read before the directory was removed. */
  scratchFiles: Record<string, Buffer>;
}

/** The cache directory for kernels and initramfs images. */
export function vmCacheDir(): string {
  return process.env.ISCSI_TS_VM_CACHE ?? join(REPO_ROOT, '.cache', 'vm');
}

/** Whether an ELF file is statically linked: no PT_INTERP program header. Undefined when it is not ELF64. */
export function isStaticElf(path: string): boolean | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(64);
    if (readSync(fd, head, 0, 64, 0) < 64) return undefined;
    if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return undefined;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    if (phentsize < 4 || phnum > 256) return undefined;
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) if (table.readUInt32LE(i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } finally {
    closeSync(fd);
  }
}

/** The static busybox to pack, or a reason why there is none. */
function findStaticBusybox(): { path: string } | { reason: string } {
  const candidates = ['/bin/busybox', '/usr/bin/busybox', findTool('busybox')].filter((p) => p !== undefined);
  for (const path of candidates) if (existsSync(path) && isStaticElf(path) === true) return { path };
  return candidates.length === 0
    ? { reason: "busybox not found: install the 'busybox-static' package" }
    : { reason: `busybox at ${candidates[0]} is not statically linked: install the 'busybox-static' package` };
}

/** A prepared cache entry (kernel unpacked), when one exists; the newest by modification time. */
function cachedEntry(): string | undefined {
  const dir = vmCacheDir();
  if (!existsSync(dir)) return undefined;
  const entries = readdirSync(dir)
    .map((name) => join(dir, name))
    .filter((p) => existsSync(join(p, 'unpacked.stamp')));
  entries.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return entries[0];
}

/**
 * Whether VM tests can run here (synchronous, no downloads): QEMU, a static busybox and cpio present, and either a
 * prepared kernel in the cache or apt-get/apt-cache/dpkg to fetch one.
 */
export function vmAvailable(): VmAvailability {
  const missing = VM_TOOLS.filter((t) => findTool(t) === undefined);
  if (missing.length > 0) {
    return { ok: false, reason: `missing ${missing.join(', ')}: install qemu-system-x86 busybox-static cpio` };
  }
  const busybox = findStaticBusybox();
  if ('reason' in busybox) return { ok: false, reason: busybox.reason };
  if (cachedEntry() === undefined) {
    const fetchers = ['apt-get', 'apt-cache', 'dpkg'].filter((t) => findTool(t) === undefined);
    if (fetchers.length > 0)
      return { ok: false, reason: `no cached kernel and no ${fetchers.join(', ')} to fetch one` };
  }
  return { ok: true };
}

/**
 * A suite that boots the VM: {@link describePeers} over {@link VM_TOOLS} plus `extraTools` (skipped, or failing
 * under `ISCSI_TS_REQUIRE_PEERS=1`, when a tool is missing), and the same policy when {@link vmAvailable} says no
 * (a dynamic busybox, no kernel source).
 * @param name - suite name
 * @param fn - suite body; it typically calls {@link prepareVm} and {@link runInVm} in `beforeAll`
 * @param extraTools - host programs the guest command uses (they come from the host root)
 */
export function describeVm(name: string, fn: () => void, extraTools: readonly string[] = []): void {
  const tools = [...VM_TOOLS, ...extraTools];
  describePeers(tools, name, () => {
    // Missing tools: describePeers already reported it and skips this body.
    const available: VmAvailability = checkPeers(tools).action === 'run' ? vmAvailable() : { ok: true };
    if (available.ok) {
      fn();
      return;
    }
    if (!peersRequired()) console.warn(`[iscsi-ts] ${name}: ${available.reason}; skipping`);
    it.skipIf(!peersRequired())(`has a usable VM set-up (${available.reason})`, () => {
      throw new Error(`${available.reason} (ISCSI_TS_REQUIRE_PEERS=1)`);
    });
  });
}

/** Throws with the tail of a failed step's output. */
async function must(cmd: string, args: readonly string[], what: string, timeoutMs: number, cwd?: string) {
  const r = await run(cmd, args, { timeoutMs, ...(cwd ? { cwd } : {}) });
  if (r.code !== 0 || r.timedOut) {
    const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.code ?? r.signal}`;
    throw new Error(`${what}: ${cmd} ${args.join(' ')} ${why}\n${tail(r.stderr || r.stdout)}`);
  }
  return r;
}

/** The kernel package apt would pick (the dependency of the `linux-image-amd64` metapackage) and its version. */
async function kernelPackage(): Promise<{ name: string; version: string } | undefined> {
  if (findTool('apt-cache') === undefined) return undefined;
  const deps = await run('apt-cache', ['depends', 'linux-image-amd64'], { timeoutMs: 30_000 });
  const name = /Depends:\s+(linux-image-\d\S*)/.exec(deps.stdout)?.[1];
  if (deps.code !== 0 || name === undefined) return undefined;
  const policy = await run('apt-cache', ['policy', name], { timeoutMs: 30_000 });
  const version = /Candidate:\s+(\S+)/.exec(policy.stdout)?.[1];
  if (policy.code !== 0 || version === undefined || version === '(none)') return undefined;
  return { name, version };
}

/** Holds a directory lock (atomic mkdir) while `fn` runs; a lock whose owner process is gone is broken. */
async function withLock<T>(dir: string, fn: () => Promise<T>, waitMs = 900_000): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // being created or removed right now
      }
      // Owner gone, or a lock that never got its pid file (its creator died between mkdir and write).
      const ownerless = Number.isNaN(owner) && Date.now() - mtimeOr(lock, Date.now()) > 60_000;
      if ((Number.isInteger(owner) && owner > 0 && !processAlive(owner)) || ownerless) {
        rmSync(lock, { recursive: true, force: true });
      }
      if (Date.now() > deadline) throw new Error(`VM cache lock ${lock} held for more than ${waitMs} ms`);
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function mtimeOr(path: string, fallback: number): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return fallback;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Fetches and unpacks the kernel package into `entry/root` unless already done. */
async function unpackKernel(entry: string, pkg: { name: string; version: string }): Promise<void> {
  if (existsSync(join(entry, 'unpacked.stamp'))) return;
  rmSync(entry, { recursive: true, force: true });
  const dl = join(entry, 'download');
  mkdirSync(dl, { recursive: true });
  await must('apt-get', ['download', `${pkg.name}=${pkg.version}`], 'kernel download', 600_000, dl);
  const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
  if (deb === undefined) throw new Error(`apt-get download left no .deb in ${dl}`);
  await must('dpkg', ['-x', join(dl, deb), join(entry, 'root')], 'kernel unpack', 300_000);
  rmSync(dl, { recursive: true, force: true });
  const release = kernelReleaseIn(entry);
  const busybox = findStaticBusybox();
  if ('reason' in busybox) throw new Error(busybox.reason);
  // The .deb ships no modules.dep (its postinst makes it).
  await must(busybox.path, ['depmod', '-b', join(entry, 'root'), release], 'depmod', 120_000);
  writeFileSync(join(entry, 'unpacked.stamp'), `${pkg.name} ${pkg.version}\n`);
}

function kernelReleaseIn(entry: string): string {
  const releases = readdirSync(join(entry, 'root', 'lib', 'modules'));
  if (releases.length !== 1) throw new Error(`expected one kernel in ${entry}, found ${releases.join(', ')}`);
  return releases[0]!;
}

/**
 * The vmlinux ELF inside a bzImage whose payload is xz (Debian's): found by the xz magic, decompressed with
 * `xz --single-stream` (trailing data ignored). Undefined when any step fails; the bzImage then boots instead.
 */
async function decompressPvh(bzImage: string, out: string): Promise<boolean> {
  if (existsSync(out)) return true;
  if (findTool('xz') === undefined) return false;
  const image = readFileSync(bzImage);
  const at = image.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
  if (at < 0) return false;
  const elf = await new Promise<Buffer | undefined>((done) => {
    const child = spawn('xz', ['-dc', '--single-stream'], { stdio: ['pipe', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', () => done(undefined));
    child.once('close', (code) => {
      clearTimeout(timer);
      done(code === 0 ? Buffer.concat(chunks) : undefined);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(image.subarray(at));
  });
  if (elf === undefined || elf.length < 4 || elf.readUInt32BE(0) !== 0x7f454c46) return false;
  writeFileSync(`${out}.tmp`, elf);
  renameSync(`${out}.tmp`, out);
  return true;
}

/** Module paths (relative to the release dir) for `wanted`, dependencies first, from modules.dep. */
function moduleOrder(releaseDir: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of readFileSync(join(releaseDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(
      path,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
    byName.set(moduleName(path), path);
  }
  const builtin = new Set(
    existsSync(join(releaseDir, 'modules.builtin'))
      ? readFileSync(join(releaseDir, 'modules.builtin'), 'utf8').split('\n').filter(Boolean).map(moduleName)
      : [],
  );
  const order: string[] = [];
  const visit = (path: string): void => {
    if (order.includes(path)) return;
    for (const dep of deps.get(path) ?? []) visit(dep);
    order.push(path);
  };
  for (const name of wanted) {
    const key = name.replaceAll('-', '_');
    const path = byName.get(key);
    if (path !== undefined) visit(path);
    else if (!builtin.has(key)) throw new Error(`module ${name} is neither in modules.dep nor built in`);
  }
  return order;
}

function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.[a-z]+)?$/, '').replaceAll('-', '_');
}

/** One newc cpio entry (for the device node cpio cannot archive without root). */
function newcEntry(name: string, mode: number, rdevMajor = 0, rdevMinor = 0): Buffer {
  const fields = [0, mode, 0, 0, 1, 0, 0, 0, 0, rdevMajor, rdevMinor, name.length + 1, 0];
  const header = `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`;
  const raw = Buffer.concat([Buffer.from(header, 'latin1'), Buffer.from(`${name}\0`, 'latin1')]);
  return Buffer.concat([raw, Buffer.alloc((4 - (raw.length % 4)) % 4)]);
}

/** A tiny archive with `/dev/console`, prepended to the cpio output (the kernel unpacks concatenated archives). */
function consoleArchive(): Buffer {
  return Buffer.concat([
    newcEntry('dev', 0o40755),
    newcEntry('dev/console', 0o20600, 5, 1),
    newcEntry('TRAILER!!!', 0),
  ]);
}

/** Builds the initramfs (keyed on its inputs) unless it exists; returns its path. */
async function buildInitramfs(entry: string, release: string, busybox: string): Promise<string> {
  const releaseDir = join(entry, 'root', 'lib', 'modules', release);
  const modules = moduleOrder(releaseDir, INITRAMFS_MODULES);
  const initText = readFileSync(INIT_SCRIPT);
  const key = createHash('sha256')
    .update(release)
    .update(readFileSync(busybox))
    .update(initText)
    .update(modules.join('\n'))
    .digest('hex')
    .slice(0, 16);
  const out = join(entry, `initramfs-${key}.gz`);
  if (existsSync(out)) return out;

  const tree = mkdtempSync(join(entry, 'initramfs.d-'));
  try {
    for (const d of ['bin', 'sbin', 'dev', 'proc', 'sys', 'modules', 'etc', 'tmp']) mkdirSync(join(tree, d));
    writeFileSync(join(tree, 'bin', 'busybox'), readFileSync(busybox), { mode: 0o755 });
    const list = await must(busybox, ['--list'], 'busybox --list', 10_000);
    for (const applet of list.stdout.split('\n').filter((a) => a.length > 0 && a !== 'busybox')) {
      symlinkSync('busybox', join(tree, 'bin', applet));
    }
    symlinkSync('../bin/busybox', join(tree, 'sbin', 'modprobe'));
    writeFileSync(join(tree, 'init'), initText, { mode: 0o755 });
    const order: string[] = [];
    for (const rel of modules) {
      const base = rel.slice(rel.lastIndexOf('/') + 1);
      writeFileSync(join(tree, 'modules', base), readFileSync(join(releaseDir, rel)));
      order.push(base);
    }
    writeFileSync(join(tree, 'modules', 'order'), `${order.join('\n')}\n`);
    const files = await must('find', ['.'], 'list initramfs', 30_000, tree);
    const cpio = await new Promise<Buffer>((done, fail) => {
      const child = spawn('cpio', ['-o', '-H', 'newc', '--quiet', '-R', '0:0'], {
        cwd: tree,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const chunks: Buffer[] = [];
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      child.once('error', fail);
      child.once('close', (code) => {
        clearTimeout(timer);
        if (code === 0) done(Buffer.concat(chunks));
        else fail(new Error(`cpio exit ${code}: ${tail(err)}`));
      });
      child.stdin.end(files.stdout);
    });
    const gz = gzipSync(Buffer.concat([consoleArchive(), cpio]), { level: 1 });
    writeFileSync(`${out}.tmp`, gz);
    renameSync(`${out}.tmp`, out);
    // Images for older inputs (another /init, busybox) are dead weight now.
    for (const old of readdirSync(entry)) {
      if (/^initramfs-[0-9a-f]+\.gz$/.test(old) && join(entry, old) !== out) rmSync(join(entry, old), { force: true });
    }
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  return out;
}

/**
 * Makes sure a kernel and an initramfs are ready (download, unpack, depmod, PVH extraction, initramfs), reusing
 * the cache. Safe to call from several test files at once (a lock directory serialises the work). First run
 * needs apt sources with `linux-image-amd64` and ~70 MB of download; later runs take well under a second.
 */
export async function prepareVm(): Promise<VmSetup> {
  const started = Date.now();
  const available = vmAvailable();
  if (!available.ok) throw new Error(available.reason);
  const busybox = findStaticBusybox();
  if ('reason' in busybox) throw new Error(busybox.reason);
  const cacheDir = vmCacheDir();
  mkdirSync(cacheDir, { recursive: true });
  return withLock(cacheDir, async () => {
    const pkg = await kernelPackage();
    let entry: string;
    let version: string;
    let name: string;
    if (pkg !== undefined) {
      entry = join(cacheDir, `${pkg.name}_${pkg.version}`.replace(/[^A-Za-z0-9._+-]/g, '_'));
      await unpackKernel(entry, pkg);
      ({ name, version } = pkg);
    } else {
      const cached = cachedEntry();
      if (cached === undefined) throw new Error('apt-cache knows no linux-image-amd64 and nothing is cached');
      entry = cached;
      [name = '', version = ''] = readFileSync(join(cached, 'unpacked.stamp'), 'utf8').trim().split(' ');
    }
    const release = kernelReleaseIn(entry);
    const bzImage = join(entry, 'root', 'boot', `vmlinuz-${release}`);
    const vmlinux = join(entry, `vmlinux-${release}`);
    const pvh = await decompressPvh(bzImage, vmlinux);
    const initrd = await buildInitramfs(entry, release, busybox.path);
    return {
      packageName: name,
      packageVersion: version,
      kernelRelease: release,
      kernel: pvh ? vmlinux : bzImage,
      pvh,
      initrd,
      moduleDir: join(entry, 'root', 'lib', 'modules'),
      setupMs: Date.now() - started,
    };
  });
}

/** Whether QEMU should use KVM: /dev/kvm usable and not the kvm_pvm nested hypervisor (which cannot boot it). */
export function useKvm(): boolean {
  const forced = process.env.ISCSI_TS_VM_ACCEL;
  if (forced === 'kvm') return true;
  if (forced === 'tcg') return false;
  if (existsSync('/sys/module/kvm_pvm')) return false;
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return true;
  } catch {
    return false;
  }
}

/** A bash single-quoted word. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

const NO_SPACE = /^\S+$/;

/**
 * Boots the VM, runs `command` in it and returns its status and output. Never rejects because of the guest; the
 * rc says what happened (124 timeout, 125 VM failure, 126 set-up failure in the guest).
 * @param options - the command, extra QEMU arguments, timeout
 * @param setup - from {@link prepareVm} (prepared here when absent)
 */
export async function runInVm(options: RunInVmOptions, setup?: VmSetup): Promise<VmRunResult> {
  const vm = setup ?? (await prepareVm());
  for (const p of [tmpdir(), vm.moduleDir, options.cwd ?? '/']) {
    // They travel on the kernel command line or through the generated script unquoted by the guest's /init.
    if (!NO_SPACE.test(p)) throw new Error(`VM paths must not contain whitespace: ${p}`);
  }
  for (const name of Object.keys(options.env ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not an environment variable name: ${name}`);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'iscsi-ts-vm-'));
  try {
    return await bootAndRun(options, vm, scratch);
  } finally {
    if (options.keepScratch !== true) rmSync(scratch, { recursive: true, force: true });
  }
}

async function bootAndRun(options: RunInVmOptions, vm: VmSetup, scratch: string): Promise<VmRunResult> {
  const state = join(scratch, '.vm');
  mkdirSync(state);
  for (const [name, data] of Object.entries(options.files ?? {})) {
    mkdirSync(dirname(join(scratch, name)), { recursive: true });
    writeFileSync(join(scratch, name), data);
  }
  const env: Record<string, string> = {
    PATH: `${GUEST_PATH}:${dirname(process.execPath)}`,
    HOME: '/root',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
    ISCSI_VM: '1',
    ISCSI_VM_SCRATCH: scratch,
    ...options.env,
  };
  if (options.stageCheckout === true) env.ISCSI_TS_CHECKOUT = GUEST_CHECKOUT;
  const script = [
    '# generated by test/helpers/vm.ts',
    ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    ...(options.stageCheckout === true
      ? [
          `mkdir -p ${GUEST_CHECKOUT} && tar -xf ${shellQuote(join(state, 'checkout.tar'))} -C ${GUEST_CHECKOUT} ||`,
          "  { echo 'vm: cannot unpack the checkout'; exit 126; }",
        ]
      : []),
    `cd ${shellQuote(options.cwd ?? '/')} 2>/dev/null || cd /`,
    options.command,
    '',
  ].join('\n');
  writeFileSync(join(state, 'cmd.sh'), script);
  if (options.stageCheckout === true) await packCheckout(join(state, 'checkout.tar'));

  const kvm = useKvm();
  const smp = Math.max(1, Math.min(4, cpus().length));
  const args = [
    ...(kvm ? ['-enable-kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    ...['-smp', String(smp), '-m', `${options.memoryMiB ?? 1024}M`, '-nographic', '-no-reboot'],
    ...['-kernel', vm.kernel, '-initrd', vm.initrd, '-nic', 'none'],
    ...(options.extraQemuArgs ?? []),
    ...['-device', 'virtio-rng-pci'],
    '-append',
    `console=ttyS0 panic=-1 loglevel=4 vm.moddir=${vm.moduleDir} vm.scratch=${scratch}`,
    ...['-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap'],
    ...['-virtfs', `local,path=${scratch},mount_tag=scratch,security_model=none,multidevs=remap`],
  ];
  const started = Date.now();
  const { console: consoleText, timedOut } = await runQemu(args, options.timeoutMs);
  const wallMs = Date.now() - started;

  const read = (name: string): string | undefined => {
    try {
      return readFileSync(join(state, name), 'utf8');
    } catch {
      return undefined;
    }
  };
  const rcText = read('rc');
  const rc = timedOut ? 124 : rcText === undefined ? 125 : Number(rcText.trim());
  const uptime = (name: string): number | undefined => {
    const v = Number.parseFloat(read(name)?.split(' ')[0] ?? '');
    return Number.isFinite(v) ? v : undefined;
  };
  const scratchFiles: Record<string, Buffer> = {};
  for (const name of readdirSync(scratch)) {
    const p = join(scratch, name);
    if (name !== '.vm' && statSync(p).isFile()) scratchFiles[name] = readFileSync(p);
  }
  const result: VmRunResult = {
    rc: Number.isInteger(rc) ? rc : 125,
    output: read('output') ?? '',
    console: consoleText,
    timedOut,
    wallMs,
    scratch,
    scratchFiles,
  };
  const startUptime = uptime('start-uptime');
  const endUptime = uptime('end-uptime');
  if (startUptime !== undefined) result.startUptime = startUptime;
  if (endUptime !== undefined) result.endUptime = endUptime;
  return result;
}

/** Where {@link RunInVmOptions.stageCheckout} unpacks the checkout in the guest (tmpfs). */
export const GUEST_CHECKOUT = '/run/iscsi-ts-checkout';

/** Files of `dir` (relative to `base`), recursively, that `keep` accepts. */
function listFiles(base: string, dir: string, keep: (name: string) => boolean, out: string[]): void {
  for (const entry of readdirSync(join(base, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) listFiles(base, rel, keep, out);
    else if ((entry.isFile() || entry.isSymbolicLink()) && keep(entry.name)) out.push(rel);
  }
}

/** Package directories (relative to the repo) of the production dependencies, recursively; absent optional ones skipped. */
function productionPackages(): string[] {
  const seen = new Set<string>();
  const visit = (fromDir: string, name: string): void => {
    // Node's resolution: the nearest node_modules upwards from the dependent package.
    for (let dir = fromDir; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(REPO_ROOT, candidate, 'package.json'))) {
        if (seen.has(candidate)) return;
        seen.add(candidate);
        const pkg = JSON.parse(readFileSync(join(REPO_ROOT, candidate, 'package.json'), 'utf8')) as PackageJson;
        for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]) {
          visit(candidate, dep);
        }
        return;
      }
      if (dir === '.' || dir === '/' || dir === '') return;
    }
  };
  const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;
  for (const dep of [...Object.keys(root.dependencies ?? {}), ...Object.keys(root.optionalDependencies ?? {})]) {
    visit('.', dep);
  }
  return [...seen];
}

interface PackageJson {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** A tar of the checkout's runtime files at `out` (see {@link RunInVmOptions.stageCheckout}). */
async function packCheckout(out: string): Promise<void> {
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built (npm run build)');
  const files = ['package.json'];
  listFiles(REPO_ROOT, 'dist', (n) => n.endsWith('.js') || n.endsWith('.json'), files);
  for (const pkg of productionPackages()) listFiles(REPO_ROOT, pkg, () => true, files);
  const list = `${out}.list`;
  writeFileSync(list, `${files.join('\n')}\n`);
  await must('tar', ['-cf', out, '-C', REPO_ROOT, '-T', list], 'pack the checkout', 60_000);
  rmSync(list);
}

/** Runs QEMU, collecting the console tail; SIGKILL by PID at the deadline (and if the test process exits). */
function runQemu(args: readonly string[], timeoutMs: number): Promise<{ console: string; timedOut: boolean }> {
  return new Promise((done, fail) => {
    let child: ChildProcess;
    try {
      child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      fail(err);
      return;
    }
    const pid = child.pid;
    let chunks: Buffer[] = [];
    let size = 0;
    const collect = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size > 2 * MAX_CONSOLE_BYTES) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - MAX_CONSOLE_BYTES)];
        size = MAX_CONSOLE_BYTES;
      }
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let timedOut = false;
    const kill = (): void => {
      if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    process.once('exit', kill);
    child.once('error', (err) => {
      clearTimeout(timer);
      process.off('exit', kill);
      fail(err);
    });
    child.once('close', () => {
      clearTimeout(timer);
      process.off('exit', kill);
      const all = Buffer.concat(chunks);
      done({ console: all.subarray(Math.max(0, all.length - MAX_CONSOLE_BYTES)).toString('utf8'), timedOut });
    });
  });
}

/** Lines of `output` that start with `marker` (the guest scripts print `MARK <name> …` lines). */
export function markers(output: string, marker = 'MARK '): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith(marker))
    .map((l) => l.slice(marker.length).trim());
}

/** A readable summary of a failed VM run for assertion messages: status, output tail and console tail. */
export function describeRun(r: VmRunResult, lines = 40): string {
  return `rc ${r.rc}${r.timedOut ? ' (timed out)' : ''} after ${r.wallMs} ms\n--- output ---\n${tail(r.output, lines)}\n--- console ---\n${tail(r.console, lines)}`;
}
