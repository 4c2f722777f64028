import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ControlConnection, type ControlMessage } from '@sivshm/core';
import { unixPeerCredentials } from '@sivshm/transport-ivshmem';
import { HostdError } from '../errors/hostd-error.js';

/** What hostd does with the links; the VM id always comes from the socket, never the bytes. */
export interface VmLinkHandlers {
  readonly onConnect: (vmId: number) => void;
  readonly onMessage: (vmId: number, message: ControlMessage) => void;
  readonly onInvalid: (vmId: number, error: Error) => void;
  readonly onDisconnect: (vmId: number, error: Error | undefined) => void;
  /** A second connection for a VM that already has one was refused. */
  readonly onRefused: (vmId: number) => void;
  /** A VM's listening socket failed after it was bound (EMFILE on accept, …); it goes on. */
  readonly onServerError?: (vmId: number, error: Error) => void;
}

/** Options of {@link VmLinkServer.listen}. */
export interface VmLinkOptions {
  /**
   * A connection that has not said `hello` this long after connecting is dropped, so a
   * squatter cannot hold a VM's only link; 0 = never (qemu mode, where QEMU's chardev connects
   * when the guest boots and the app speaks much later).
   */
  readonly helloTimeoutMs: number;
}

/**
 * Bytes hostd buffers for a VM that does not read its link before dropping it. hostd's
 * answers are small (attach, grants, SD relays of at most 64 KiB): a VM that reads at all
 * keeps far less than this waiting, one that stops reading is cut off before it costs hostd
 * more than this much memory per VM.
 */
export const MAX_UNSENT_BYTES_PER_VM = 1024 * 1024;
/**
 * Refused extra connections (for a VM that has its link) kept open at once while their
 * ERR_BUSY answer drains; beyond that they are closed without an answer. A legitimate VM
 * retries one connection at a time; the bound keeps a loop of connects from holding fds.
 */
export const MAX_REFUSED_IN_FLIGHT_PER_VM = 4;

interface VmEndpoint {
  readonly vmId: number;
  readonly socketPath: string;
  readonly server: net.Server;
  link: ControlConnection | undefined;
  /** The process at the other end of the current link (SO_PEERCRED), when known. */
  pid: number | undefined;
  /** Refused extra connections still open (their ERR_BUSY draining). */
  refusedOpen: number;
}

/**
 * The control-link sockets of hostd: one listening Unix socket per VM at
 * `<runDir>/<vm-name>.sock` (mode 0600), at most one connection per VM at a time. Whatever
 * arrives on a VM's socket is that VM's. In emulated mode the VM's process connects; in qemu
 * mode QEMU does (`-chardev socket,path=<runDir>/<vm>.sock` in client mode behind a
 * `virtserialport`) when the guest starts, and the frames of the app inside come through.
 *
 * Why a second `hello` on a link starts the VM over: a virtio-serial port has no connection of
 * its own — when the app in a running guest restarts, the chardev socket stays connected and
 * the new app's first frame is a `hello`. hostd must then drop what the previous app held (its
 * channels, offers, certificate), exactly as if the link had closed and reconnected.
 */
export class VmLinkServer {
  readonly #endpoints = new Map<number, VmEndpoint>();
  readonly #handlers: VmLinkHandlers;
  readonly #options: VmLinkOptions;

  private constructor(handlers: VmLinkHandlers, options: VmLinkOptions) {
    this.#handlers = handlers;
    this.#options = options;
  }

  /** Listens on one socket per VM; rejects when any socket cannot be bound. */
  static async listen(
    runDir: string,
    vms: readonly { readonly id: number; readonly name: string }[],
    handlers: VmLinkHandlers,
    options: VmLinkOptions = { helloTimeoutMs: 0 },
  ): Promise<VmLinkServer> {
    const s = new VmLinkServer(handlers, options);
    try {
      for (const vm of vms) await s.#listenOne(runDir, vm.id, vm.name);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** Socket path of a VM's control link. */
  socketPath(vmId: number): string | undefined {
    return this.#endpoints.get(vmId)?.socketPath;
  }

  /**
   * The pid of the process holding VM `vmId`'s link (the VM process in emulated mode, QEMU in
   * qemu mode), or undefined when not connected or not known.
   */
  peerPid(vmId: number): number | undefined {
    const ep = this.#endpoints.get(vmId);
    return ep?.link === undefined || ep.link.closed ? undefined : ep.pid;
  }

  /** True while `vmId` has a live link. */
  connected(vmId: number): boolean {
    const l = this.#endpoints.get(vmId)?.link;
    return l !== undefined && !l.closed;
  }

  /** Sends to a VM; false when it has no live link (the message is dropped). */
  send(vmId: number, message: ControlMessage): boolean {
    return this.#endpoints.get(vmId)?.link?.send(message) ?? false;
  }

  /** Ends a VM's link (after flushing what was sent). */
  disconnect(vmId: number): void {
    this.#endpoints.get(vmId)?.link?.close();
  }

  /** Closes a VM's link at once, discarding what is unsent (a VM judged dead). */
  drop(vmId: number): void {
    this.#endpoints.get(vmId)?.link?.destroy();
  }

  /** Stops listening, ends every link and removes the socket files. */
  async close(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const ep of this.#endpoints.values()) {
      ep.link?.close();
      waits.push(new Promise<void>((r) => ep.server.close(() => r())));
      try {
        unlinkSync(ep.socketPath);
      } catch {
        // Already gone: nothing of ours left there.
      }
    }
    this.#endpoints.clear();
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 1500).unref())]);
  }

  async #listenOne(runDir: string, vmId: number, name: string): Promise<void> {
    const socketPath = path.join(runDir, `${name}.sock`);
    try {
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const server = net.createServer((socket) => this.#onSocket(ep, socket));
    const ep: VmEndpoint = {
      vmId,
      socketPath,
      server,
      link: undefined,
      pid: undefined,
      refusedOpen: 0,
    };
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new HostdError('ERR_STARTUP', `cannot listen on ${socketPath}: ${e.message}`)),
      );
      server.listen(socketPath, () => resolve());
    });
    // After listening, an error (EMFILE on accept when the process is out of fds) is reported
    // and survived: an 'error' event without a listener would end hostd.
    server.on('error', (e) => this.#handlers.onServerError?.(vmId, e));
    // The run dir is 0700 already; the socket itself is for hostd and that VM's connector only.
    chmodSync(socketPath, 0o600);
    this.#endpoints.set(vmId, ep);
  }

  #onSocket(ep: VmEndpoint, socket: net.Socket): void {
    if (ep.link !== undefined && !ep.link.closed) {
      socket.on('error', () => undefined);
      if (ep.refusedOpen >= MAX_REFUSED_IN_FLIGHT_PER_VM) {
        socket.destroy();
        this.#handlers.onRefused(ep.vmId);
        return;
      }
      ep.refusedOpen++;
      socket.once('close', () => ep.refusedOpen--);
      const extra = new ControlConnection(socket, { onMessage: () => undefined });
      extra.send({
        kind: 'error',
        code: 'ERR_BUSY',
        message: `VM ${ep.vmId} already has a control link; one connection per VM at a time`,
      });
      extra.close();
      this.#handlers.onRefused(ep.vmId);
      return;
    }
    ep.pid = socketPeerPid(socket);
    let greeted = false;
    const helloMs = this.#options.helloTimeoutMs;
    const helloTimer =
      helloMs > 0
        ? setTimeout(() => {
            if (!greeted && ep.link === link)
              link.destroy(new HostdError('ERR_LINK', `no hello within ${helloMs} ms`));
          }, helloMs).unref()
        : undefined;
    const link = new ControlConnection(
      socket,
      {
        onMessage: (m) => {
          if (ep.link !== link) return;
          if (m.kind === 'hello') {
            clearTimeout(helloTimer);
            if (greeted) {
              this.#handlers.onDisconnect(
                ep.vmId,
                new HostdError('ERR_LINK_RESTART', 'a new hello on the link: the VM started over'),
              );
              this.#handlers.onConnect(ep.vmId);
            }
            greeted = true;
          }
          this.#handlers.onMessage(ep.vmId, m);
        },
        onInvalid: (e) => {
          if (ep.link === link) this.#handlers.onInvalid(ep.vmId, e);
        },
        onClose: (e) => {
          clearTimeout(helloTimer);
          if (ep.link !== link) return;
          ep.link = undefined;
          this.#handlers.onDisconnect(ep.vmId, e);
        },
      },
      { maxUnsentBytes: MAX_UNSENT_BYTES_PER_VM },
    );
    ep.link = link;
    this.#handlers.onConnect(ep.vmId);
  }
}

/** SO_PEERCRED of an accepted Unix socket (Node keeps the fd on the socket's handle). */
function socketPeerPid(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  try {
    return unixPeerCredentials(fd).pid;
  } catch {
    return undefined; // the peer is already gone; the link notices on its own
  }
}
