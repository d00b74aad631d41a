/**
 * Loading the kernel modules of the software initiator the way installers do: `iscsi_tcp` (which pulls
 * scsi_transport_iscsi, libiscsi and libiscsi_tcp) and `sd_mod` for the disks. Opening a NETLINK_ISCSI socket can
 * autoload scsi_transport_iscsi, but nothing autoloads iscsi_tcp (kernel-netlink.md §1, §11).
 * @module
 */
import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelError } from './errors.js';

/** Runs `modprobe <name>`; rejects on failure. Injectable for tests. */
export type Modprobe = (module: string) => Promise<void>;

/** Options of {@link ensureKernelModules}. */
export interface KernelModulesOptions {
  readonly sysRoot?: string;
  /** The transport (default `tcp`, module `iscsi_tcp`). */
  readonly transport?: string;
  /** How to load a module (default: spawn `modprobe`, 10 s limit). */
  readonly modprobe?: Modprobe;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Spawns `modprobe <module>` with a 10 s limit. */
export const spawnModprobe: Modprobe = (module) =>
  new Promise((resolve, reject) => {
    const child = spawn('modprobe', [module], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      if (stderr.length < 2000) stderr += s;
    });
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        new KernelError(
          'unavailable',
          error.code === 'ENOENT'
            ? `modprobe is not installed: load ${module} another way`
            : `modprobe ${module}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new KernelError(
            'unavailable',
            `modprobe ${module} failed (${signal ?? `exit ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''}`,
          ),
        );
    });
  });

/**
 * Makes sure the transport is registered (`/sys/class/iscsi_transport/<name>`), loading `iscsi_<name>` when it is
 * not, and tries `sd_mod` (failure there is not fatal: it may be built in). Throws {@link KernelError}
 * (`unavailable`) when the transport module cannot be loaded, with modprobe's reason (not root, module missing).
 * Returns the modules it loaded.
 */
export async function ensureKernelModules(options: KernelModulesOptions = {}): Promise<string[]> {
  const root = options.sysRoot ?? '/sys';
  const transport = options.transport ?? 'tcp';
  const modprobe = options.modprobe ?? spawnModprobe;
  const loaded: string[] = [];
  if (!(await exists(join(root, 'class', 'iscsi_transport', transport)))) {
    const module = `iscsi_${transport}`;
    try {
      await modprobe(module);
    } catch (error) {
      if (error instanceof KernelError) throw error;
      throw new KernelError('unavailable', `cannot load ${module}`, { cause: error });
    }
    loaded.push(module);
    if (!(await exists(join(root, 'class', 'iscsi_transport', transport)))) {
      throw new KernelError('unavailable', `${module} loaded but the '${transport}' iSCSI transport is not registered`);
    }
  }
  if (!(await exists(join(root, 'module', 'sd_mod')))) {
    try {
      await modprobe('sd_mod');
      loaded.push('sd_mod');
    } catch {
      // Built in, or the disks are not wanted as sdX: the session works without it.
    }
  }
  return loaded;
}
