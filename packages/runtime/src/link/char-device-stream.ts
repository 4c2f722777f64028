import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { FdEvents, watchFd, type FdWatcher } from '@sivshm/transport-ivshmem';
import { RuntimeError } from '../errors/runtime-error.js';

/** Bytes read per `read()`: larger than any control frame a VM normally receives. */
const READ_CHUNK = 64 * 1024;

const isAgain = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
};

/** Options of {@link CharDeviceStream.open}. */
export interface CharDeviceStreamOptions {
  /**
   * Before the stream is handed out, discard what arrives until the device was quiet this long
   * (ms); default 0 (nothing discarded). A virtio-serial port keeps what the host sent while no
   * process had it open — frames meant for a previous app — and delivers it to the next opener.
   */
  readonly discardStaleMs?: number;
  /** Upper bound of the discard phase, ms; default 2000. */
  readonly discardMaxMs?: number;
}

/**
 * A Node `Duplex` over a character device (a virtio-serial port such as `/dev/vport1p1`),
 * driven by `uv_poll` on a non-blocking fd: the JS thread never blocks and no threadpool thread
 * sits in a blocking `read()` (what `fs` streams would do, and a blocked read cannot be
 * cancelled when the link closes). `net.Socket` does not take a char-device fd, hence this.
 *
 * Use it for the control link in qemu mode; `ControlConnection` frames over it like over a
 * Unix socket. End of stream: `read()` returning 0 (virtio-serial: the host side of the port is
 * not connected, e.g. hostd went away) or a hang-up from poll.
 *
 * @example
 * ```ts
 * const port = await CharDeviceStream.open('/dev/vport1p1', { discardStaleMs: 100 });
 * const link = new ControlConnection(port, { onMessage: (m) => console.log(m.kind) });
 * ```
 */
export class CharDeviceStream extends Duplex {
  readonly path: string;
  #fd: number | undefined;
  #watcher: FdWatcher | undefined;
  #wantRead = false;
  #pendingWrite: { data: Buffer; callback: (e?: Error | null) => void } | undefined;
  /** Bytes discarded while opening (stale frames of an earlier opener). */
  discarded = 0;

  private constructor(path: string, fd: number) {
    super({ allowHalfOpen: false });
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Opens `path` read-write, non-blocking, and (with `discardStaleMs`) drops what is pending.
   * Rejects with `ERR_CONNECT` when the device cannot be opened (EBUSY: another process has
   * the port open — virtio-serial ports take one opener).
   */
  static async open(
    path: string,
    options: CharDeviceStreamOptions = {},
  ): Promise<CharDeviceStream> {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (e) {
      const busy = (e as NodeJS.ErrnoException).code === 'EBUSY';
      throw new RuntimeError(
        'ERR_CONNECT',
        `cannot open the control port ${path} (${(e as Error).message})${busy ? ': another process holds this VM’s port (one Node per VM at a time)' : ''}`,
        { cause: e },
      );
    }
    const s = new CharDeviceStream(path, fd);
    const quiet = options.discardStaleMs ?? 0;
    if (quiet > 0) await s.#discard(quiet, options.discardMaxMs ?? 2000);
    return s;
  }

  /** Reads and drops bytes until none came for `quietMs` (bounded by `maxMs`). */
  async #discard(quietMs: number, maxMs: number): Promise<void> {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    const end = Date.now() + maxMs;
    let lastData = Date.now();
    while (Date.now() < end && Date.now() - lastData < quietMs) {
      let n = 0;
      try {
        n = readSync(this.#fd!, buf, 0, buf.length, null);
      } catch (e) {
        if (!isAgain(e)) throw e;
      }
      if (n > 0) {
        this.discarded += n;
        lastData = Date.now();
      } else {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  override _read(): void {
    this.#wantRead = true;
    this.#arm();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (e?: Error | null) => void): void {
    this.#pendingWrite = { data: chunk, callback };
    this.#flush();
  }

  override _final(callback: (e?: Error | null) => void): void {
    // A char device has no half-close: ending the writable side ends the stream.
    callback();
    this.destroy();
  }

  override _destroy(error: Error | null, callback: (e?: Error | null) => void): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
    const fd = this.#fd;
    this.#fd = undefined;
    const w = this.#pendingWrite;
    this.#pendingWrite = undefined;
    w?.callback(new RuntimeError('ERR_CLOSED', `the control port ${this.path} closed`));
    try {
      if (fd !== undefined) closeSync(fd);
    } catch {
      // Closing is best effort: the fd is ours and gone either way.
    }
    callback(error);
  }

  /** Watches for what is wanted now: readable while Node wants data, writable while a write waits. */
  #arm(): void {
    if (this.#fd === undefined) return;
    const events =
      (this.#wantRead ? FdEvents.readable : 0) |
      (this.#pendingWrite !== undefined ? FdEvents.writable : 0);
    if (events === 0) {
      // Level-triggered: an idle watcher on a readable fd would fire every loop turn.
      this.#watcher?.stop();
      this.#watcher = undefined;
      return;
    }
    if (this.#watcher === undefined) {
      this.#watcher = watchFd(this.#fd, events, (ready, error) => this.#onReady(ready, error));
    } else {
      this.#watcher.setEvents(events);
    }
  }

  #onReady(ready: number, error: Error | undefined): void {
    if (error !== undefined) {
      this.destroy(error);
      return;
    }
    if ((ready & FdEvents.writable) !== 0) this.#flush();
    if ((ready & (FdEvents.readable | FdEvents.disconnect)) !== 0 && this.#wantRead) this.#pull();
  }

  #pull(): void {
    while (this.#wantRead && this.#fd !== undefined) {
      const buf = Buffer.allocUnsafe(READ_CHUNK);
      let n: number;
      try {
        n = readSync(this.#fd, buf, 0, buf.length, null);
      } catch (e) {
        if (isAgain(e)) break;
        this.destroy(e as Error);
        return;
      }
      if (n === 0) {
        // virtio-serial: the host side is not connected (hostd or QEMU's chardev went away).
        this.push(null);
        this.destroy();
        return;
      }
      this.#wantRead = this.push(buf.subarray(0, n));
    }
    this.#arm();
  }

  #flush(): void {
    const w = this.#pendingWrite;
    if (w === undefined || this.#fd === undefined) return;
    while (w.data.length > 0) {
      let n: number;
      try {
        n = writeSync(this.#fd, w.data);
      } catch (e) {
        if (isAgain(e)) break;
        this.#pendingWrite = undefined;
        w.callback(e as Error);
        return;
      }
      w.data = w.data.subarray(n);
    }
    if (w.data.length === 0) {
      this.#pendingWrite = undefined;
      w.callback();
    }
    this.#arm();
  }
}
