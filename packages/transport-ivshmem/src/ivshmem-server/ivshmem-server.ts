import { TransportError } from '../errors/transport-error.js';
import { eventfdCreate } from '../native/eventfd.js';
import { closeFd, dupFd } from '../native/fd.js';
import { createRegionFile, fileSize, memfdCreate } from '../native/map-file.js';
import { unixPeerCredentials } from '../native/unix-socket.js';
import { UnixListener } from '../native/unix-listener.js';
import type { UnixStream, UnixStreamOptions } from '../native/unix-stream.js';
import {
  IVSHMEM_MAX_PEER_ID,
  IVSHMEM_MAX_VECTORS,
  IVSHMEM_PROTOCOL_VERSION,
  IVSHMEM_SHM_MESSAGE,
  encodeIvshmemMessage,
} from './ivshmem-protocol.js';

/** Where the server's shared memory comes from. */
export type IvshmemShmSource =
  /** An fd the caller owns; the server keeps its own duplicate. */
  | { readonly fd: number }
  /** A file (created 0600 and grown to `size` if needed), e.g. under /dev/shm. */
  | { readonly path: string; readonly size: number }
  /** An anonymous memfd of `size` bytes. */
  | { readonly memfdSize: number };

/** Options of {@link IvshmemServer.listen}. */
export interface IvshmemServerOptions {
  /** Unix socket path QEMU (`-chardev socket,path=…`) or an `IvshmemClient` connects to. */
  readonly socketPath: string;
  /** The shared memory handed to every client (spec step 3). */
  readonly shm: IvshmemShmSource;
  /** Interrupt vectors per peer, 1..64; every client must be configured the same. Default 1. */
  readonly vectors?: number;
  /** Most peers connected at once, 1..65536; further connections are closed. Default 65536. */
  readonly maxPeers?: number;
  /**
   * Most peers one process (SO_PEERCRED pid) holds at once; its further connections are closed
   * before anything is sent. Default: no limit beyond `maxPeers`.
   */
  readonly maxPeersPerProcess?: number;
  /**
   * Something failed while serving a connection or accepting one (EMFILE when out of fds…):
   * that connection is closed, the server goes on.
   */
  readonly onError?: (error: Error) => void;
  /** A peer joined (its fds were handed out). */
  readonly onPeerJoined?: (id: number, pid: number) => void;
  /** A peer that joined left or was dropped; `error` says why when it misbehaved. */
  readonly onPeerLeft?: (id: number, error: TransportError | undefined) => void;
}

interface Peer {
  readonly id: number;
  stream: UnixStream;
  /** One eventfd per vector: writing one interrupts this peer on that vector. */
  readonly eventfds: number[];
  announced: boolean;
  /** The connecting process (SO_PEERCRED), 0 when unknown. */
  pid: number;
}

/**
 * The server side of QEMU's ivshmem-doorbell protocol: hands every client the shared-memory fd,
 * its own id and one eventfd per vector for itself and for every other peer, and tells the
 * others when a peer joins or leaves.
 *
 * Use it in hostd (Debian ships no ivshmem-server) so QEMU guests with `ivshmem-doorbell` and
 * emulated-mode VMs (`IvshmemClient`) get doorbells. Listen before QEMU starts. Ids are handed
 * out round-robin from 0: a departed peer's id comes back only after every other free id was
 * used, so a late doorbell for it is unlikely to reach a newcomer.
 *
 * @example
 * ```ts
 * const server = IvshmemServer.listen({
 *   socketPath: '/run/sivshm/ivshmem.sock',
 *   shm: { path: '/dev/shm/sivshm-region', size: 4 << 20 },
 *   vectors: 2,
 * });
 * // … qemu -device ivshmem-doorbell,vectors=2,chardev=ivs -chardev socket,path=…,id=ivs
 * server.close();
 * ```
 */
export class IvshmemServer {
  readonly socketPath: string;
  readonly vectors: number;
  readonly #maxPeers: number;
  readonly #options: IvshmemServerOptions;
  readonly #peers = new Map<number, Peer>();
  readonly #maxPendingBytes: number;
  #shmFd: number;
  #listener: UnixListener | undefined;
  #nextId = 0;

  private constructor(options: IvshmemServerOptions, shmFd: number, vectors: number) {
    this.socketPath = options.socketPath;
    this.vectors = vectors;
    this.#maxPeers = options.maxPeers ?? IVSHMEM_MAX_PEER_ID + 1;
    this.#options = options;
    // One join's messages (version, id, shm, the others' and its own eventfds), 8 bytes each,
    // twice over for the joins and leaves that follow; never more than the stream's default.
    this.#maxPendingBytes = Math.min(
      64 * 1024,
      Math.max(1024, 8 * (4 + 2 * vectors * (this.#maxPeers + 1))),
    );
    this.#shmFd = shmFd;
  }

  /** Opens the shared memory and starts listening at `options.socketPath`. */
  static listen(options: IvshmemServerOptions): IvshmemServer {
    if (typeof options?.socketPath !== 'string' || options.socketPath.length === 0) {
      throw new TransportError('ERR_BAD_ARGUMENT', 'socketPath must be a non-empty string');
    }
    const vectors = options.vectors ?? 1;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > IVSHMEM_MAX_VECTORS) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `vectors must be an integer in 1..${IVSHMEM_MAX_VECTORS}, got ${vectors}`,
      );
    }
    const maxPeers = options.maxPeers ?? IVSHMEM_MAX_PEER_ID + 1;
    if (!Number.isInteger(maxPeers) || maxPeers < 1 || maxPeers > IVSHMEM_MAX_PEER_ID + 1) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `maxPeers must be an integer in 1..${IVSHMEM_MAX_PEER_ID + 1}, got ${maxPeers}`,
      );
    }
    const shmFd = openShm(options.shm);
    const server = new IvshmemServer(options, shmFd, vectors);
    try {
      server.#listener = UnixListener.listen(options.socketPath, {
        onConnection: (accept) => server.#onConnection(accept),
        onAcceptError: (e) => options.onError?.(e),
      });
    } catch (e) {
      closeFd(shmFd);
      throw e;
    }
    return server;
  }

  /** Ids of the connected peers, ascending. */
  peerIds(): number[] {
    return [...this.#peers.keys()].sort((a, b) => a - b);
  }

  /** True until {@link close}. */
  get listening(): boolean {
    return this.#listener !== undefined;
  }

  /**
   * Stops listening, disconnects every client and closes every fd the server holds (the
   * shared memory's, each peer's eventfds). Clients see end of stream, not leave messages:
   * per the spec they may keep using the fds they have. Idempotent.
   */
  close(): void {
    if (this.#listener === undefined) return;
    this.#listener.close();
    this.#listener = undefined;
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    for (const p of peers) {
      p.stream.close();
      for (const fd of p.eventfds) closeFd(fd);
    }
    closeFd(this.#shmFd);
    this.#shmFd = -1;
  }

  #allocateId(): number | undefined {
    if (this.#peers.size >= this.#maxPeers) return undefined;
    for (let i = 0; i <= IVSHMEM_MAX_PEER_ID; i++) {
      const id = (this.#nextId + i) & IVSHMEM_MAX_PEER_ID;
      if (!this.#peers.has(id)) {
        this.#nextId = (id + 1) & IVSHMEM_MAX_PEER_ID;
        return id;
      }
    }
    return undefined;
  }

  #onConnection(accept: (options?: UnixStreamOptions) => UnixStream): void {
    const id = this.#allocateId();
    // Not accepting closes the connection: the client sees end of stream before any id.
    if (id === undefined) return;
    try {
      this.#serve(id, accept);
    } catch (e) {
      // Out of fds (dup or eventfd: EMFILE) or a peer gone mid-handshake: this connection is
      // dropped and the server stays up for the others.
      const peer = this.#peers.get(id);
      if (peer !== undefined) {
        if (!peer.stream.closed) peer.stream.close();
        this.#removePeer(peer, undefined);
      }
      this.#options.onError?.(e as Error);
    }
  }

  #serve(id: number, accept: (options?: UnixStreamOptions) => UnixStream): void {
    const eventfds: number[] = [];
    try {
      for (let v = 0; v < this.vectors; v++) eventfds.push(eventfdCreate({ nonblock: true }));
    } catch (e) {
      // Out of fds: this connection is closed unserved; the server goes on.
      for (const fd of eventfds) closeFd(fd);
      this.#options.onError?.(e as Error);
      return;
    }
    const peer: Peer = {
      id,
      eventfds,
      stream: undefined as unknown as UnixStream,
      announced: false,
      pid: 0,
    };
    peer.stream = accept({
      // What waits unsent for a peer that does not read holds a duplicate of each fd in it:
      // bounded to the messages of one full join (ids, shm, every peer's eventfds).
      maxPendingBytes: this.#maxPendingBytes,
      // Clients have nothing to say in this protocol; discard what they send (bounded per turn).
      onReadable: (s) => {
        for (let i = 0; i < 16 && !s.closed; i++) {
          const m = s.recv(4096, 16);
          if (m === undefined || m === null) return;
          for (const fd of m.fds) closeFd(fd);
        }
      },
      onClose: (error) => this.#removePeer(peer, error),
    });
    let pid = 0;
    try {
      pid = unixPeerCredentials(peer.stream.fd).pid;
    } catch {
      // The client is already gone; the sends below notice and drop it.
    }
    const perProcess = this.#options.maxPeersPerProcess;
    if (perProcess !== undefined && pid !== 0) {
      let held = 0;
      for (const p of this.#peers.values()) if (p.pid === pid) held++;
      if (held >= perProcess) {
        for (const fd of eventfds) closeFd(fd);
        peer.stream.close();
        this.#options.onError?.(
          new TransportError(
            'ERR_PROTOCOL',
            `process ${pid} already holds ${held} ivshmem peers (at most ${perProcess}); connection closed`,
          ),
        );
        return;
      }
    }
    peer.pid = pid;
    this.#peers.set(id, peer);

    // Spec steps 1-5, in order, one message (and at most one fd) per sendmsg.
    const others = [...this.#peers.values()].filter((p) => p !== peer);
    if (!sendTo(peer, IVSHMEM_PROTOCOL_VERSION)) return;
    if (!sendTo(peer, id)) return;
    if (!sendTo(peer, IVSHMEM_SHM_MESSAGE, this.#shmFd)) return;
    for (const other of others) {
      for (const fd of other.eventfds) if (!sendTo(peer, other.id, fd)) return;
    }
    for (const fd of eventfds) if (!sendTo(peer, id, fd)) return;

    // Step 6 for everyone else: the newcomer's id with one eventfd per vector.
    peer.announced = true;
    for (const other of others) {
      for (const fd of eventfds) if (!sendTo(other, id, fd)) break;
    }
    this.#options.onPeerJoined?.(id, pid);
  }

  #removePeer(peer: Peer, error: TransportError | undefined): void {
    if (this.#peers.get(peer.id) !== peer) return;
    this.#peers.delete(peer.id);
    for (const fd of peer.eventfds) closeFd(fd);
    // A client lost during its own handshake was never announced: nobody to tell.
    if (!peer.announced) return;
    // Step 6, disconnection: the id without an fd.
    for (const other of [...this.#peers.values()]) sendTo(other, peer.id);
    this.#options.onPeerLeft?.(peer.id, error);
  }
}

/** Sends one message; false when the peer's stream is (or just got) closed. */
function sendTo(peer: Peer, value: number, fd?: number): boolean {
  if (peer.stream.closed) return false;
  peer.stream.send(encodeIvshmemMessage(value), fd === undefined ? [] : [fd]);
  return !peer.stream.closed;
}

/** QEMU sizes BAR2 from the shm fd and asserts that it is a power of two. */
function checkShmSize(size: number, what: string): void {
  // Math.log2 rather than bit tricks: sizes above 2^31 do not fit the 32-bit operators.
  if (!Number.isSafeInteger(size) || size < 4096 || !Number.isInteger(Math.log2(size))) {
    throw new TransportError(
      'ERR_BAD_ARGUMENT',
      `${what} must be a power of two of at least 4096 bytes (QEMU maps it as BAR2), got ${size}`,
    );
  }
}

function openShm(shm: IvshmemShmSource): number {
  const shape = 'shm must be { fd } | { path, size } | { memfdSize }';
  if (typeof shm !== 'object' || shm === null) {
    throw new TransportError('ERR_BAD_ARGUMENT', shape);
  }
  if ('fd' in shm) {
    const fd = dupFd(shm.fd);
    try {
      checkShmSize(fileSize(fd), `the size of shm fd ${shm.fd}`);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return fd;
  }
  if ('path' in shm) {
    checkShmSize(shm.size, 'shm.size');
    const fd = createRegionFile(shm.path, shm.size);
    try {
      // An existing file is never shrunk, so it may be larger than asked for.
      checkShmSize(fileSize(fd), `the size of ${shm.path}`);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return fd;
  }
  if ('memfdSize' in shm) {
    checkShmSize(shm.memfdSize, 'shm.memfdSize');
    return memfdCreate('sivshm-ivshmem', shm.memfdSize);
  }
  throw new TransportError('ERR_BAD_ARGUMENT', shape);
}
