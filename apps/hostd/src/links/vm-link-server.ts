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
}

interface VmEndpoint {
  readonly vmId: number;
  readonly socketPath: string;
  readonly server: net.Server;
  link: ControlConnection | undefined;
  /** The process at the other end of the current link (SO_PEERCRED), when known. */
  pid: number | undefined;
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

  private constructor(handlers: VmLinkHandlers) {
    this.#handlers = handlers;
  }

  /** Listens on one socket per VM; rejects when any socket cannot be bound. */
  static async listen(
    runDir: string,
    vms: readonly { readonly id: number; readonly name: string }[],
    handlers: VmLinkHandlers,
  ): Promise<VmLinkServer> {
    const s = new VmLinkServer(handlers);
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
    const ep: VmEndpoint = { vmId, socketPath, server, link: undefined, pid: undefined };
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new HostdError('ERR_STARTUP', `cannot listen on ${socketPath}: ${e.message}`)),
      );
      server.listen(socketPath, () => resolve());
    });
    // The run dir is 0700 already; the socket itself is for hostd and that VM's connector only.
    chmodSync(socketPath, 0o600);
    this.#endpoints.set(vmId, ep);
  }

  #onSocket(ep: VmEndpoint, socket: net.Socket): void {
    if (ep.link !== undefined && !ep.link.closed) {
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
    const link = new ControlConnection(socket, {
      onMessage: (m) => {
        if (ep.link !== link) return;
        if (m.kind === 'hello') {
          if (greeted) {
            this.#handlers.onDisconnect(
              ep.vmId,
              new HostdError('ERR_LINK', 'a new hello on the link: the VM started over'),
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
        if (ep.link !== link) return;
        ep.link = undefined;
        this.#handlers.onDisconnect(ep.vmId, e);
      },
    });
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
