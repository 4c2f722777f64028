import { lstatSync, unlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { TransportError } from '../errors/transport-error.js';
import { loadAddon } from './addon.js';
import { FdWatcher } from './fd-watcher.js';
import { callNative, syscallError } from './native-call.js';
import { UnixStream } from './unix-stream.js';
import type { UnixStreamOptions } from './unix-stream.js';

function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Options of {@link UnixListener.listen}. */
export interface UnixListenOptions {
  /** Called with the options for each accepted connection's {@link UnixStream}. */
  readonly onConnection: (accept: (options?: UnixStreamOptions) => UnixStream) => void;
  /** listen() backlog; default 64. */
  readonly backlog?: number;
  /**
   * Remove a stale socket file left at `path` by a dead process (one that refuses
   * connections); default true. A path where a server still listens fails with EADDRINUSE.
   */
  readonly replaceStale?: boolean;
  /**
   * accept() failed with something other than "nothing pending" (EMFILE, ENFILE, ENOMEM):
   * accepting pauses briefly and resumes. Without it the error is not reported.
   */
  readonly onAcceptError?: (error: Error) => void;
}

/**
 * How long accepting pauses after accept() failed (EMFILE…): long enough not to spin on a
 * socket that stays readable, short enough that a freed fd is used soon.
 */
const ACCEPT_RETRY_MS = 100;

/**
 * A listening AF_UNIX stream socket whose connections become {@link UnixStream}s.
 *
 * Use it for servers that pass fds, such as the ivshmem server. `close()` stops accepting,
 * closes the socket and removes the socket file; accepted streams stay open.
 */
export class UnixListener {
  #fd: number;
  #watcher: FdWatcher | undefined;
  #retry: NodeJS.Timeout | undefined;
  #unref = false;
  readonly #options: UnixListenOptions;
  readonly path: string;

  private constructor(fd: number, path: string, options: UnixListenOptions) {
    this.#fd = fd;
    this.path = path;
    this.#options = options;
    this.#watch();
  }

  #watch(): void {
    const addon = loadAddon();
    const fd = this.#fd;
    this.#watcher = new FdWatcher(fd, 1, () => {
      // Accept everything pending; each accepted fd is handed over before the next accept.
      for (let i = 0; i < 64 && this.#watcher !== undefined; i++) {
        let c: number;
        try {
          c = callNative(() => addon.unixAccept(fd));
        } catch (e) {
          this.#acceptFailed(e as Error);
          return;
        }
        if (c < 0) return;
        let taken = false;
        try {
          this.#options.onConnection((o) => {
            if (taken) throw new TransportError('ERR_BAD_ARGUMENT', 'connection already accepted');
            taken = true;
            return UnixStream.fromFd(c, o);
          });
        } finally {
          if (!taken) addon.close(c);
        }
      }
    });
    if (this.#unref) this.#watcher.unref();
  }

  /**
   * accept failed (EMFILE/ENFILE when the process or system is out of fds, ENOMEM…): the
   * connection stays in the backlog and the socket stays readable, so watching on would spin.
   * Accepting pauses for {@link ACCEPT_RETRY_MS} and resumes; the listener is never lost.
   */
  #acceptFailed(error: Error): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
    this.#options.onAcceptError?.(error);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#fd >= 0) this.#watch();
    }, ACCEPT_RETRY_MS);
    this.#retry.unref();
  }

  /** Binds and listens at `path`. */
  static listen(path: string, options: UnixListenOptions): UnixListener {
    if (typeof options?.onConnection !== 'function') {
      throw new TransportError('ERR_BAD_ARGUMENT', 'options.onConnection must be a function');
    }
    const addon = loadAddon();
    if ((options.replaceStale ?? true) && isSocketFile(path)) {
      // Only a socket nobody listens on is stale; never take over a live server's path.
      const probe = callNative(() => addon.unixSocket('stream'));
      let live: boolean;
      try {
        // Connected, or the backlog is full (false): either way someone is listening.
        callNative(() => addon.unixConnect(probe, path));
        live = true;
      } catch (e) {
        if (!TransportError.is(e) || e.errnoName !== 'ECONNREFUSED') throw e;
        live = false;
      } finally {
        addon.close(probe);
      }
      if (live) {
        throw syscallError('bind', constants.errno.EADDRINUSE, `a server is listening at ${path}`);
      }
      unlinkSync(path);
    }
    const fd = callNative(() => addon.unixSocket('stream'));
    try {
      callNative(() => addon.unixBind(fd, path));
      callNative(() => addon.unixListen(fd, options.backlog ?? 64));
    } catch (e) {
      addon.close(fd);
      throw e;
    }
    return new UnixListener(fd, path, options);
  }

  /** Lets the process exit while listening. */
  unref(): this {
    this.#unref = true;
    this.#watcher?.unref();
    return this;
  }

  /** Stops accepting, closes the socket, removes the socket file; idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    clearTimeout(this.#retry);
    this.#watcher?.stop();
    this.#watcher = undefined;
    loadAddon().close(this.#fd);
    this.#fd = -1;
    try {
      unlinkSync(this.path);
    } catch {
      // Already removed (or replaced by another listener); nothing of ours is left there.
    }
  }
}
