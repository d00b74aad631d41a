/**
 * Taking a logged-in TCP connection away from Node so the kernel's iscsi_tcp can own the byte stream.
 *
 * The fd: Node has no public accessor, so it is read from `socket._handle.fd` (libuv's `uv_fileno`, exposed by the
 * TCPWrap handle; undocumented but stable since Node 0.x). It must be a real TCP socket: the kernel's BIND_CONN looks
 * the number up in the sending process's fd table (`sockfd_lookup`) and newer kernels refuse other socket types.
 *
 * Stopping Node: `_handle.readStop()` stops libuv from reading the fd at once (`socket.pause()` alone does not for a
 * socket in flowing mode: libuv keeps reading until the stream buffer fills, and every byte it pulls out of the
 * kernel's socket buffer is lost to iscsi_tcp). The data listeners go too.
 *
 * Lifetime (decided): the Node socket stays open, unread, until BIND_CONN has succeeded; then it is destroyed, which
 * only `close()`s our fd (libuv does no `shutdown()`). The kernel took its own reference to the socket's file at
 * bind, so the connection lives on: observed in the VM ("close-fd-after-bind" in kernel-handoff-proven.md, and in the
 * test of this module). Duplicating the fd instead would leave an fd (or the Node handle) to manage for the whole
 * session for nothing; destroying the socket before BIND_CONN would close the connection.
 * @module
 */
import type { Socket } from 'node:net';
import { KernelError } from './errors.js';

/** What Node keeps in `socket._handle` (TCPWrap). */
interface TcpHandle {
  readonly fd?: number;
  reading?: boolean;
  readStop?(): number;
}

/** The fd of a connected Node TCP socket (`socket._handle.fd`). Throws {@link KernelError} (`handoff`) otherwise. */
export function tcpSocketFd(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: TcpHandle | null })._handle;
  if (handle === undefined || handle === null || socket.destroyed) {
    throw new KernelError('handoff', 'the TCP socket is closed: nothing to hand to the kernel');
  }
  if (handle.constructor.name !== 'TCP') {
    throw new KernelError(
      'handoff',
      `the connection is not a TCP socket (${handle.constructor.name}): iscsi_tcp needs one`,
    );
  }
  const fd = handle.fd;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new KernelError('handoff', 'the TCP socket has no file descriptor');
  }
  return fd;
}

/**
 * Stops Node from reading `socket` and returns its fd. Throws {@link KernelError} (`handoff`) when bytes past the
 * login were already read into Node (`socket.readableLength` > 0): the kernel would never see them.
 */
export function stopReading(socket: Socket): number {
  const fd = tcpSocketFd(socket);
  const handle = (socket as unknown as { _handle: TcpHandle })._handle;
  if (handle.reading !== false && typeof handle.readStop === 'function') {
    handle.readStop();
    handle.reading = false;
  }
  socket.pause();
  socket.removeAllListeners('data');
  socket.removeAllListeners('readable');
  if (socket.readableLength > 0) {
    throw new KernelError(
      'handoff',
      `${socket.readableLength} bytes after the final Login Response were already read: the kernel cannot take over this connection`,
    );
  }
  return fd;
}
