/**
 * The few libc calls the kernel bridge needs (socket, bind, getsockname, setsockopt, sendto, recv, poll, close),
 * bound through koffi, an FFI with prebuilt binaries. koffi is an optional dependency: it is imported lazily, only
 * when a kernel feature is used, so the rest of the library installs and runs without it. No C code is compiled.
 * @module
 */
import { constants } from 'node:os';
import { KernelError } from './errors.js';

/** A koffi function: called synchronously, or on a worker thread through `.async(…args, callback)`. */
interface KoffiFunction {
  (...args: unknown[]): number;
  async(...args: unknown[]): void;
}

/** The part of koffi's API used here. */
interface KoffiModule {
  load(path: string): { func(declaration: string): KoffiFunction };
  /** errno of the last call on this thread; inside an `.async` callback, the errno of that call. */
  errno(): number;
}

/** Result of a libc call: the return value and, when it failed (-1), errno. */
export interface SyscallResult {
  readonly value: number;
  /** Positive errno when `value` is -1, else 0. */
  readonly errno: number;
}

/** The libc functions of the bridge. Buffers are passed by reference (koffi `void *`). */
export interface Libc {
  socket(domain: number, type: number, protocol: number): SyscallResult;
  bind(fd: number, address: Buffer): SyscallResult;
  getsockname(fd: number, address: Buffer): SyscallResult;
  setsockopt(fd: number, level: number, name: number, value: Buffer): SyscallResult;
  /** `sendto` on a koffi worker thread: the kernel handles a NETLINK_ISCSI request inside the call (CREATE_CONN took
   * ~0.18 s under QEMU TCG), which must not stall the event loop. */
  sendto(fd: number, data: Buffer, flags: number, address: Buffer): Promise<SyscallResult>;
  /** Non-blocking when `flags` has MSG_DONTWAIT. */
  recv(fd: number, into: Buffer, flags: number): SyscallResult;
  /** `poll` for POLLIN on one fd, on a koffi worker thread; resolves with the ready count (0 on timeout). */
  pollIn(fd: number, timeoutMs: number): Promise<SyscallResult>;
  close(fd: number): SyscallResult;
}

/** `MSG_DONTWAIT`. */
export const MSG_DONTWAIT = 0x40;
/** `SOL_SOCKET` and `SO_RCVBUF`. */
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
/** `POLLIN`. */
const POLLIN = 1;

/** The errno name for a number (`EPERM`), from Node's table, or `errno N`. */
export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

/**
 * Loads koffi and binds libc. Throws {@link KernelError} (`unavailable`) when koffi is not installed (it is an
 * optional dependency) or libc cannot be loaded (not Linux/glibc).
 */
export async function loadLibc(): Promise<Libc> {
  let koffi: KoffiModule;
  try {
    // A variable specifier keeps bundlers and tsc from requiring the optional package at build time.
    const name = 'koffi';
    const mod = (await import(name)) as { default?: KoffiModule } & KoffiModule;
    koffi = mod.default ?? mod;
  } catch (error) {
    throw new KernelError(
      'unavailable',
      "kernel iSCSI needs the optional dependency 'koffi' (npm install koffi); it is not installed",
      { cause: error },
    );
  }
  let lib: { func(declaration: string): KoffiFunction };
  try {
    lib = koffi.load(process.platform === 'linux' ? 'libc.so.6' : 'libc.so');
  } catch (error) {
    throw new KernelError('unavailable', 'kernel iSCSI needs Linux with glibc (libc.so.6 did not load)', {
      cause: error,
    });
  }
  const f = {
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    getsockname: lib.func('int getsockname(int, void *, void *)'),
    setsockopt: lib.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    sendto: lib.func('long sendto(int, const void *, size_t, int, const void *, uint32_t)'),
    recv: lib.func('long recv(int, void *, size_t, int)'),
    poll: lib.func('int poll(void *, unsigned long, int)'),
    close: lib.func('int close(int)'),
  };
  // errno is read right after the call on the same thread (koffi restores a worker call's errno in its callback).
  const sync = (value: number): SyscallResult => ({ value, errno: value < 0 ? koffi.errno() : 0 });
  const async = (fn: KoffiFunction, args: unknown[]): Promise<SyscallResult> =>
    new Promise((resolve, reject) => {
      fn.async(...args, (error: unknown, value: number) => {
        if (error) reject(new KernelError('syscall', 'a koffi worker call failed', { cause: error }));
        else resolve({ value, errno: value < 0 ? koffi.errno() : 0 });
      });
    });
  return {
    socket: (domain, type, protocol) => sync(f.socket(domain, type, protocol)),
    bind: (fd, address) => sync(f.bind(fd, address, address.length)),
    getsockname: (fd, address) => {
      const len = Buffer.alloc(4);
      len.writeUInt32LE(address.length);
      return sync(f.getsockname(fd, address, len));
    },
    setsockopt: (fd, level, name, value) => sync(f.setsockopt(fd, level, name, value, value.length)),
    sendto: (fd, data, flags, address) => async(f.sendto, [fd, data, data.length, flags, address, address.length]),
    recv: (fd, into, flags) => sync(f.recv(fd, into, into.length, flags)),
    pollIn: (fd, timeoutMs) => {
      // struct pollfd { int fd; short events; short revents; }: read only through the return value.
      const pfd = Buffer.alloc(8);
      pfd.writeInt32LE(fd, 0);
      pfd.writeInt16LE(POLLIN, 4);
      return async(f.poll, [pfd, 1, timeoutMs]);
    },
    close: (fd) => sync(f.close(fd)),
  };
}
