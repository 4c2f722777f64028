import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import { TransportError } from '../errors/transport-error.js';
import { eventfdRead, eventfdWrite } from '../native/eventfd.js';
import { closeFd } from '../native/fd.js';
import { FdWatcher } from '../native/fd-watcher.js';
import { UnixStream } from '../native/unix-stream.js';
import {
  IVSHMEM_MAX_PEER_ID,
  IVSHMEM_MAX_VECTORS,
  IVSHMEM_MESSAGE_SIZE,
  IVSHMEM_PROTOCOL_VERSION,
  IVSHMEM_SHM_MESSAGE,
  decodeIvshmemMessage,
} from './ivshmem-protocol.js';

/** Options of {@link IvshmemClient.connect}. */
export interface IvshmemClientOptions {
  /** Vectors this client uses, 1..64 (the server's count; extra fds are closed). Default 1. */
  readonly vectors?: number;
  /** Bound on connecting plus the server's initial messages; default 5000 ms. */
  readonly timeoutMs?: number;
  /**
   * Watch the own vectors' eventfds and report rings on `notifications$`; default true. Set
   * false to wait on `ownEventfds` yourself (e.g. with an `EventfdWaker`; one watcher per fd).
   */
  readonly watchVectors?: boolean;
}

/** One doorbell received: `count` rings on `vector` since the last one were coalesced. */
export interface IvshmemNotification {
  readonly vector: number;
  readonly count: bigint;
}

/** A peer joining or leaving, as the server announced it. */
export interface IvshmemPeerEvent {
  readonly type: 'joined' | 'left';
  readonly id: number;
}

type Phase = 'version' | 'id' | 'shm' | 'running';

/**
 * The client side of QEMU's ivshmem-doorbell protocol: what an ivshmem-doorbell device does
 * in QEMU, for processes.
 *
 * Use it in emulated-mode VMs to get the region fd and doorbells from hostd's
 * {@link IvshmemServer}: `ring(peer, vector)` interrupts a peer, `notifications$` reports
 * rings on this client's own vectors (read on the event loop via uv_poll, never blocking).
 * `close()` releases every fd it received; the region fd is closed too, so map it first.
 *
 * @example
 * ```ts
 * declare const size: number, peerId: number; // region size; the peer to ring
 * declare function onDoorbell(vector: number): void;
 * const c = await IvshmemClient.connect('/run/sivshm/ivshmem.sock', { vectors: 2 });
 * const region = mapFile(c.shmFd, 0, size, { writable: true });
 * c.notifications$.subscribe(({ vector }) => onDoorbell(vector));
 * c.ring(peerId, 1);
 * c.close();
 * ```
 */
export class IvshmemClient {
  readonly vectors: number;
  readonly #watchVectors: boolean;
  readonly #stream: UnixStream;
  readonly #notifications = new Subject<IvshmemNotification>();
  readonly #peerEvents = new Subject<IvshmemPeerEvent>();
  readonly #peers = new Map<number, number[]>();
  readonly #own: number[] = [];
  readonly #watchers: FdWatcher[] = [];
  #phase: Phase = 'version';
  #id = -1;
  #shmFd = -1;
  #partial = new Uint8Array(IVSHMEM_MESSAGE_SIZE);
  #partialLength = 0;
  #partialFds: number[] = [];
  #ready: { resolve: () => void; reject: (e: TransportError) => void } | undefined;
  #error: TransportError | undefined;
  #closed = false;

  /** Doorbells rung on this client's own vectors. Completes on close. */
  readonly notifications$: Observable<IvshmemNotification> = this.#notifications.asObservable();
  /** Peers joining and leaving after the handshake. Completes on close (errors if dropped). */
  readonly peerEvents$: Observable<IvshmemPeerEvent> = this.#peerEvents.asObservable();

  private constructor(stream: UnixStream, vectors: number, watchVectors: boolean) {
    this.vectors = vectors;
    this.#watchVectors = watchVectors;
    this.#stream = stream;
  }

  /**
   * Connects to an ivshmem server and resolves once this client has its id, the shared-memory
   * fd and all its own vectors. Rejects with ERR_PROTOCOL on a malformed server, ERR_TIMEOUT,
   * ERR_PEER_GONE if the server hangs up first, or ERR_SYSCALL.
   */
  static async connect(
    socketPath: string,
    options: IvshmemClientOptions = {},
  ): Promise<IvshmemClient> {
    const vectors = options.vectors ?? 1;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > IVSHMEM_MAX_VECTORS) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `vectors must be an integer in 1..${IVSHMEM_MAX_VECTORS}, got ${vectors}`,
      );
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    // The stream's callbacks run on later loop turns, after `holder.client` is set below.
    const holder: { client?: IvshmemClient } = {};
    const stream = await UnixStream.connect(socketPath, {
      timeoutMs,
      onReadable: () => {
        if (holder.client !== undefined) holder.client.#onReadable();
      },
      onClose: (error) => {
        if (holder.client !== undefined) holder.client.#onStreamClosed(error);
      },
    });
    const c = new IvshmemClient(stream, vectors, options.watchVectors ?? true);
    holder.client = c;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        c.#ready = { resolve, reject };
        timer = setTimeout(
          () =>
            reject(
              new TransportError(
                'ERR_TIMEOUT',
                `ivshmem server at ${socketPath} did not complete the handshake in ${timeoutMs} ms`,
              ),
            ),
          timeoutMs,
        );
      });
    } catch (e) {
      c.close();
      throw e;
    } finally {
      clearTimeout(timer);
      c.#ready = undefined;
    }
    return c;
  }

  /** This client's peer id (0..65535). */
  get id(): number {
    return this.#id;
  }

  /** The shared memory's fd (owned by the client; valid until close). */
  get shmFd(): number {
    return this.#shmFd;
  }

  /** This client's own eventfds, one per vector (peers write them to ring us). */
  get ownEventfds(): readonly number[] {
    return this.#own;
  }

  /** All own vectors arrived (the server's initial messages are through). */
  get #handshakeDone(): boolean {
    return this.#own.length === this.vectors;
  }

  /**
   * The eventfds that ring peer `peerId`, one per vector (owned by the client, closed when the
   * peer leaves or the client closes); empty for an unknown peer. Use them to hand a peer's
   * doorbell to something that writes it directly, such as an `EventfdWaker`.
   */
  peerEventfds(peerId: number): readonly number[] {
    return this.#peers.get(peerId) ?? [];
  }

  /** Ids of the other peers currently connected, ascending. */
  peerIds(): number[] {
    return [...this.#peers.keys()].sort((a, b) => a - b);
  }

  /** True after close, or once the server hung up or broke the protocol. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the client closed, if it did not close on request. */
  get error(): TransportError | undefined {
    return this.#error;
  }

  /**
   * Rings `vector` of peer `peerId` (an eventfd write; the server is not involved). Throws
   * ERR_PEER_GONE for an unknown peer or a vector that peer did not get.
   */
  ring(peerId: number, vector: number): void {
    if (this.#closed) throw new TransportError('ERR_CLOSED', 'ring on a closed IvshmemClient');
    const fds = this.#peers.get(peerId) ?? (peerId === this.#id ? this.#own : undefined);
    if (fds === undefined) {
      throw new TransportError('ERR_PEER_GONE', `ivshmem peer ${peerId} is not connected`);
    }
    const fd = fds[vector];
    if (!Number.isInteger(vector) || fd === undefined) {
      throw new TransportError(
        'ERR_BAD_ARGUMENT',
        `vector must be an integer in 0..${fds.length - 1} for peer ${peerId}, got ${vector}`,
      );
    }
    eventfdWrite(fd, 1);
  }

  /** Disconnects and closes every fd received (region, own and peers' eventfds). Idempotent. */
  close(): void {
    this.#shutdown(undefined);
  }

  #onReadable(): void {
    // Read at most up to the end of the current message, so fds that arrive belong to it
    // (the kernel attaches them to the first byte of the sender's sendmsg).
    for (let i = 0; i < 256 && !this.#closed; i++) {
      const m = this.#stream.recv(IVSHMEM_MESSAGE_SIZE - this.#partialLength, 4);
      if (m === undefined || m === null) return;
      this.#partial.set(m.data, this.#partialLength);
      this.#partialLength += m.data.length;
      this.#partialFds.push(...m.fds);
      if (m.truncated) {
        this.#protocolError('a message carried more fds than the protocol allows');
        return;
      }
      if (this.#partialLength === IVSHMEM_MESSAGE_SIZE) {
        const fds = this.#partialFds;
        this.#partialFds = [];
        this.#partialLength = 0;
        this.#onMessage(decodeIvshmemMessage(this.#partial), fds);
      }
    }
  }

  #onMessage(value: number | undefined, fds: number[]): void {
    if (fds.length > 1) {
      for (const fd of fds) closeFd(fd);
      this.#protocolError(`a message carried ${fds.length} fds; at most 1 is allowed`);
      return;
    }
    const fd = fds[0];
    const refuse = (why: string) => {
      if (fd !== undefined) closeFd(fd);
      this.#protocolError(why);
    };
    switch (this.#phase) {
      case 'version':
        if (value !== IVSHMEM_PROTOCOL_VERSION || fd !== undefined) {
          return refuse(`unsupported protocol version ${String(value)}`);
        }
        this.#phase = 'id';
        return;
      case 'id':
        if (value === undefined || value < 0 || value > IVSHMEM_MAX_PEER_ID || fd !== undefined) {
          return refuse(`invalid client id ${String(value)}`);
        }
        this.#id = value;
        this.#phase = 'shm';
        return;
      case 'shm':
        if (value !== IVSHMEM_SHM_MESSAGE || fd === undefined) {
          return refuse('expected the shared-memory fd (-1 with an fd)');
        }
        this.#shmFd = fd;
        this.#phase = 'running';
        return;
      case 'running':
        if (value === undefined || value < 0 || value > IVSHMEM_MAX_PEER_ID) {
          return refuse(`invalid peer id ${String(value)}`);
        }
        if (fd === undefined) return this.#peerLeft(value);
        if (value === this.#id) return this.#ownVector(fd);
        return this.#peerVector(value, fd);
    }
  }

  #ownVector(fd: number): void {
    if (this.#own.length >= this.vectors) {
      closeFd(fd); // the server has more vectors than we use (spec: close the extras)
      return;
    }
    const vector = this.#own.length;
    this.#own.push(fd);
    if (!this.#watchVectors) {
      this.#checkReady();
      return;
    }
    this.#watchers.push(
      new FdWatcher(fd, 1, (_events, error) => {
        if (error !== undefined) return this.#shutdown(error);
        const count = eventfdRead(fd);
        if (count > 0n) this.#notifications.next({ vector, count });
      }),
    );
    this.#checkReady();
  }

  #checkReady(): void {
    if (this.#own.length === this.vectors && this.#ready !== undefined) {
      const ready = this.#ready;
      this.#ready = undefined;
      ready.resolve();
    }
  }

  #peerVector(id: number, fd: number): void {
    let fds = this.#peers.get(id);
    const joined = fds === undefined;
    if (fds === undefined) {
      fds = [];
      this.#peers.set(id, fds);
    }
    if (fds.length >= this.vectors) {
      closeFd(fd);
      return;
    }
    fds.push(fd);
    // Announce once, when the first vector arrives: ring() works from then on for that vector.
    if (joined && this.#handshakeDone) this.#peerEvents.next({ type: 'joined', id });
  }

  #peerLeft(id: number): void {
    const fds = this.#peers.get(id);
    if (fds === undefined) return; // a leave for an id we never saw: nothing to release
    this.#peers.delete(id);
    for (const fd of fds) closeFd(fd);
    this.#peerEvents.next({ type: 'left', id });
  }

  #protocolError(why: string): void {
    this.#shutdown(new TransportError('ERR_PROTOCOL', `ivshmem server protocol error: ${why}`));
  }

  #onStreamClosed(error: TransportError | undefined): void {
    if (this.#closed) return;
    this.#shutdown(
      error ??
        new TransportError(
          'ERR_PEER_GONE',
          this.#handshakeDone
            ? 'the ivshmem server closed the connection'
            : 'the ivshmem server closed the connection before the handshake completed',
        ),
    );
  }

  #shutdown(error: TransportError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    for (const w of this.#watchers) w.stop();
    this.#watchers.length = 0;
    if (!this.#stream.closed) this.#stream.close();
    for (const fd of this.#partialFds) closeFd(fd);
    this.#partialFds = [];
    for (const fd of this.#own) closeFd(fd);
    this.#own.length = 0;
    for (const fds of this.#peers.values()) for (const fd of fds) closeFd(fd);
    this.#peers.clear();
    if (this.#shmFd >= 0) closeFd(this.#shmFd);
    this.#shmFd = -1;
    if (this.#ready !== undefined) {
      this.#ready.reject(
        error ?? new TransportError('ERR_CLOSED', 'IvshmemClient closed during the handshake'),
      );
    }
    this.#notifications.complete();
    if (error !== undefined && error.code !== 'ERR_PEER_GONE') this.#peerEvents.error(error);
    else this.#peerEvents.complete();
  }
}
