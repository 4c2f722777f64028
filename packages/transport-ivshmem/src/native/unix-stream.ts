import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { checkFd, closeFd, dupFd } from './fd.js';
import { FdEvents, FdWatcher } from './fd-watcher.js';
import { callNative } from './native-call.js';
import { recvWithFds, sendFds } from './unix-socket.js';
import type { ReceivedMessage } from './unix-socket.js';

/** Options of a {@link UnixStream}. */
export interface UnixStreamOptions {
  /**
   * Called on the event loop while bytes (or end of stream) are waiting; read them with
   * {@link UnixStream.recv}. Level-triggered: it repeats until the data is read.
   */
  readonly onReadable?: (stream: UnixStream) => void;
  /** Called once when the stream closes: `error` is unset for `close()` or a clean hang-up. */
  readonly onClose?: (error: TransportError | undefined, stream: UnixStream) => void;
  /**
   * Bytes allowed to wait for a slow reader before the stream is closed with ERR_PEER_GONE;
   * default 64 KiB. Keeps a peer that stops reading from growing our memory.
   */
  readonly maxPendingBytes?: number;
}

/** Options of {@link UnixStream.connect}. */
export interface UnixConnectOptions extends UnixStreamOptions {
  /** How long to retry while the listener's backlog is full; default 2000 ms. */
  readonly timeoutMs?: number;
}

interface Pending {
  data: Uint8Array;
  /** Our own duplicates, closed once sent (the caller may close its fds right after send). */
  fds: number[];
}

/**
 * A connected, non-blocking AF_UNIX stream socket driven by the event loop, carrying bytes
 * and fds (SCM_RIGHTS) both ways.
 *
 * Use it where Node's `net.Socket` cannot go: passing fds (eventfds, the region's fd). Messages
 * keep their order; `send` never blocks (what the kernel does not take yet is queued, with
 * duplicated fds). One `close()` stops the watcher and closes the socket and any queued fds.
 *
 * @example
 * ```ts
 * declare const eventfd: number;
 * declare function handle(m: ReceivedMessage): void;
 * const s = await UnixStream.connect('/run/sivshm/ivshmem.sock', {
 *   onReadable: (st) => {
 *     const m = st.recv(8, 1);
 *     if (m) handle(m);
 *   },
 * });
 * s.send(new Uint8Array(8), [eventfd]);
 * s.close();
 * ```
 */
export class UnixStream {
  #fd: number;
  #watcher: FdWatcher | undefined;
  #queue: Pending[] = [];
  #queuedBytes = 0;
  #closed = false;
  readonly #options: UnixStreamOptions;
  readonly #maxPending: number;

  private constructor(fd: number, options: UnixStreamOptions) {
    this.#fd = fd;
    this.#options = options;
    this.#maxPending = options.maxPendingBytes ?? 64 * 1024;
    this.#watcher = new FdWatcher(fd, FdEvents.readable, (events, error) =>
      this.#onReady(events, error),
    );
  }

  /**
   * Takes ownership of a connected non-blocking AF_UNIX stream fd (from `accept` or
   * `unixSocketPair`); `close()` closes it.
   */
  static fromFd(fd: number, options: UnixStreamOptions = {}): UnixStream {
    checkFd(fd);
    return new UnixStream(fd, options);
  }

  /** Connects to a listening socket at `path`. Rejects with ERR_SYSCALL (ENOENT, ECONNREFUSED…). */
  static async connect(path: string, options: UnixConnectOptions = {}): Promise<UnixStream> {
    const addon = loadAddon();
    const fd = callNative(() => addon.unixSocket('stream'));
    const deadline = Date.now() + (options.timeoutMs ?? 2000);
    try {
      for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
        if (callNative(() => addon.unixConnect(fd, path))) break;
        if (Date.now() >= deadline) {
          throw new TransportError('ERR_TIMEOUT', `connect to ${path}: backlog stayed full`);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    } catch (e) {
      addon.close(fd);
      throw e;
    }
    return new UnixStream(fd, options);
  }

  /** The socket's fd while open; -1 after close. */
  get fd(): number {
    return this.#closed ? -1 : this.#fd;
  }

  /** True after `close()` or once the peer hung up or an error closed the stream. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads up to `maxData` bytes and `maxFds` fds. Returns `undefined` when nothing is waiting
   * and `null` at end of stream (the stream is then closed and `onClose` runs).
   */
  recv(maxData: number, maxFds: number): ReceivedMessage | undefined | null {
    if (this.#closed) throw new TransportError('ERR_CLOSED', 'recv on a closed UnixStream');
    let m: ReceivedMessage | undefined;
    try {
      m = recvWithFds(this.#fd, maxData, maxFds);
    } catch (e) {
      this.#fail(e as TransportError);
      return null;
    }
    if (m !== undefined && m.data.length === 0) {
      for (const fd of m.fds) closeFd(fd);
      this.#finish(undefined);
      return null;
    }
    return m;
  }

  /**
   * Queues `data` with `fds` for sending, in order; sends at once when the socket has room.
   * The caller keeps ownership of its fds and may close them immediately afterwards.
   */
  send(data: Uint8Array, fds: readonly number[] = []): void {
    if (this.#closed) throw new TransportError('ERR_CLOSED', 'send on a closed UnixStream');
    if (this.#queue.length === 0) {
      let sent: number;
      try {
        sent = sendFds(this.#fd, data, fds);
      } catch (e) {
        this.#fail(e as TransportError);
        return;
      }
      if (sent === data.length) return;
      if (sent > 0) {
        this.#enqueue(data.subarray(sent), []);
      } else {
        this.#enqueue(data, fds.map(dupFd));
      }
    } else {
      this.#enqueue(data, fds.map(dupFd));
    }
  }

  /** Closes the socket and queued fds; idempotent. `onClose` runs with no error. */
  close(): void {
    this.#finish(undefined);
  }

  #enqueue(data: Uint8Array, fds: number[]): void {
    this.#queue.push({ data: data.slice(), fds });
    this.#queuedBytes += data.length;
    if (this.#queuedBytes > this.#maxPending) {
      this.#fail(
        new TransportError(
          'ERR_PEER_GONE',
          `the peer stopped reading: ${this.#queuedBytes} bytes pending exceed ${this.#maxPending}`,
        ),
      );
      return;
    }
    this.#watcher?.setEvents(FdEvents.readable | FdEvents.writable);
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const head = this.#queue[0] as Pending;
      let sent: number;
      try {
        sent = sendFds(this.#fd, head.data, head.fds);
      } catch (e) {
        this.#fail(e as TransportError);
        return;
      }
      if (sent < 0) return;
      for (const fd of head.fds) closeFd(fd);
      head.fds = [];
      this.#queuedBytes -= sent;
      if (sent < head.data.length) {
        head.data = head.data.subarray(sent);
        return;
      }
      this.#queue.shift();
    }
    if (!this.#closed) this.#watcher?.setEvents(FdEvents.readable);
  }

  #onReady(events: number, error: TransportError | undefined): void {
    if (error !== undefined) {
      this.#fail(error);
      return;
    }
    if ((events & FdEvents.writable) !== 0) this.#flush();
    if (this.#closed) return;
    if ((events & (FdEvents.readable | FdEvents.disconnect)) !== 0) {
      if (this.#options.onReadable !== undefined) {
        this.#options.onReadable(this);
      } else {
        // Nobody reads: drain so the level-triggered watcher does not spin, and notice EOF.
        while (!this.#closed) {
          const m = this.recv(4096, 16);
          if (m === undefined || m === null) break;
          for (const fd of m.fds) closeFd(fd);
        }
      }
    }
  }

  #fail(error: TransportError): void {
    this.#finish(error);
  }

  #finish(error: TransportError | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher?.stop();
    this.#watcher = undefined;
    for (const p of this.#queue) for (const fd of p.fds) closeFd(fd);
    this.#queue = [];
    this.#queuedBytes = 0;
    closeFd(this.#fd);
    this.#options.onClose?.(error, this);
  }
}
