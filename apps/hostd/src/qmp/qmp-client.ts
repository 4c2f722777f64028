import net from 'node:net';
import { HostdError } from '../errors/hostd-error.js';

/** An asynchronous event QEMU sent (`{"event": …, "data": …, "timestamp": …}`). */
export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface QmpClientOptions {
  /** Longest wait for the greeting and for each command's answer, ms (default 5000). */
  readonly timeoutMs?: number;
  /** Names the QEMU in every error, e.g. `vm 2 (cluster)`; default: the socket path. */
  readonly label?: string;
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (e: HostdError) => void;
  readonly timer: NodeJS.Timeout;
}

interface EventWaiter {
  readonly match: (e: QmpEvent) => boolean;
  /** undefined: the wait timed out or the socket closed. */
  readonly resolve: (e: QmpEvent | undefined) => void;
}

/**
 * QEMU sends one JSON object per line. A line longer than this is not QMP: the connection is
 * dropped instead of buffering whatever the other end sends.
 */
const MAX_LINE_BYTES = 1 << 20;
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * A client of one QEMU's QMP socket (the QEMU Machine Protocol: a greeting, then
 * `qmp_capabilities`, then commands answered in order with `return` or `error`, and events at
 * any time). Every wait is bounded: a QEMU that does not answer fails the command with
 * `ERR_QMP` naming the command, the QEMU and the time waited; a refusal carries QEMU's own
 * error class and text. Commands are correlated by their `id`, so an answer can never be taken
 * for another command's.
 */
export class QmpClient {
  readonly #socket: net.Socket;
  readonly #label: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<EventWaiter>();
  readonly #listeners = new Set<(e: QmpEvent) => void>();
  #nextId = 1;
  #buffer = '';
  #closedError: HostdError | undefined;
  #onGreeting: ((e?: HostdError) => void) | undefined;

  private constructor(socket: net.Socket, label: string, timeoutMs: number) {
    this.#socket = socket;
    this.#label = label;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', (e) => this.#fail(`its QMP socket failed: ${e.message}`));
    socket.on('close', () => this.#fail('it closed its QMP socket'));
  }

  /**
   * Connects to `socketPath`, reads QEMU's greeting and leaves capabilities negotiation mode.
   * Throws `ERR_QMP` when the socket is missing or refuses (naming the `-qmp` option QEMU needs),
   * or when QEMU does not greet or negotiate in time.
   */
  static async connect(socketPath: string, o: QmpClientOptions = {}): Promise<QmpClient> {
    const label = o.label ?? `QEMU at ${socketPath}`;
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const socket = await connectSocket(socketPath, label, timeoutMs);
    const client = new QmpClient(socket, label, timeoutMs);
    try {
      await client.#greeting();
      await client.execute('qmp_capabilities');
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** Who this client talks to, as errors name it. */
  get label(): string {
    return this.#label;
  }

  /** True once the socket closed or failed; every later command fails at once. */
  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /**
   * Runs `command` with `args` and resolves with QEMU's `return` value. Rejects with `ERR_QMP`
   * when QEMU answers with an error, does not answer within `timeoutMs`, or the socket closes.
   */
  execute(
    command: string,
    args?: Record<string, unknown>,
    timeoutMs = this.#timeoutMs,
  ): Promise<unknown> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new HostdError(
            'ERR_QMP',
            `${this.#label} did not answer ${command} within ${timeoutMs} ms (is it stopped or hung?)`,
          ),
        );
      }, timeoutMs);
      this.#pending.set(id, { command, resolve, reject, timer });
      const msg = { execute: command, ...(args === undefined ? {} : { arguments: args }), id };
      this.#socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /**
   * Resolves with the first event from now on that `match` accepts, or with undefined after
   * `timeoutMs` (or when the socket closes). Register it before the command that causes the
   * event, so an event that comes at once is not missed.
   */
  nextEvent(match: (e: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent | undefined> {
    if (this.#closedError) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: EventWaiter = {
        match,
        resolve: (e) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(e);
        },
      };
      const timer = setTimeout(() => waiter.resolve(undefined), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Calls `listener` with every event; returns a function that stops it. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Closes the socket; pending commands fail with `ERR_QMP`. */
  close(): void {
    this.#fail('the client closed the connection');
    this.#socket.destroy();
  }

  #greeting(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#onGreeting = undefined;
        reject(
          new HostdError(
            'ERR_QMP',
            `${this.#label} sent no QMP greeting within ${this.#timeoutMs} ms (is that socket QEMU's -qmp?)`,
          ),
        );
      }, this.#timeoutMs);
      this.#onGreeting = (e) => {
        clearTimeout(timer);
        this.#onGreeting = undefined;
        if (e) reject(e);
        else resolve();
      };
    });
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const nl = this.#buffer.indexOf('\n');
      if (nl < 0) break;
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line !== '') this.#line(line);
    }
    if (this.#buffer.length > MAX_LINE_BYTES) {
      this.#fail(`it sent a line of more than ${MAX_LINE_BYTES} bytes, which is not QMP`);
      this.#socket.destroy();
    }
  }

  #line(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#fail(`it sent a line that is not JSON: ${line.slice(0, 80)}`);
      this.#socket.destroy();
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    if ('QMP' in msg) return this.#onGreeting?.();
    if (typeof msg['event'] === 'string') return this.#event(msg);
    const id = msg['id'];
    const p = typeof id === 'number' ? this.#pending.get(id) : undefined;
    if (p === undefined) return; // an answer to a command that timed out already
    this.#pending.delete(id as number);
    clearTimeout(p.timer);
    if ('return' in msg) return p.resolve(msg['return']);
    const err = (msg['error'] ?? {}) as { class?: unknown; desc?: unknown };
    p.reject(
      new HostdError(
        'ERR_QMP',
        `${this.#label} refused ${p.command}: ${String(err.class ?? 'Error')}: ${String(err.desc ?? 'no description')}`,
      ),
    );
  }

  #event(msg: Record<string, unknown>): void {
    const data = msg['data'];
    const e: QmpEvent = {
      event: msg['event'] as string,
      data: data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : {},
    };
    for (const w of [...this.#waiters]) if (w.match(e)) w.resolve(e);
    for (const l of this.#listeners) l(e);
  }

  #fail(why: string): void {
    if (this.#closedError) return;
    this.#closedError = new HostdError('ERR_QMP', `${this.#label}: ${why}`);
    this.#onGreeting?.(this.#closedError);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new HostdError('ERR_QMP', `${this.#label} did not answer ${p.command}: ${why}`));
    }
    this.#pending.clear();
    for (const w of [...this.#waiters]) w.resolve(undefined);
  }
}

/** Opens the unix socket, bounded by `timeoutMs`, with an error that says what to check. */
function connectSocket(path: string, label: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HostdError('ERR_QMP', `${label}: connecting took more than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new HostdError(
          'ERR_QMP',
          `cannot reach ${label} (${e.code ?? e.message}): start that VM's QEMU with -qmp unix:${path},server=on,wait=off or fix vms[].qmp in services.yaml`,
        ),
      );
    });
  });
}
