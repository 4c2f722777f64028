import net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ControlConnection,
  createCsr,
  type AttachMessage,
  type Certificate,
  type ControlMessage,
  type CryptoBackend,
  type Rights,
} from '@sivshm/core';
import { RuntimeError } from '../errors/runtime-error.js';
import { CharDeviceStream } from './char-device-stream.js';
import { isCharDevice } from './control-port.js';

/** How long hostd may take to answer hello with attach, and a CSR with a certificate. */
const ANSWER_TIMEOUT_MS = 5000;
/** A VM's previous link may still be closing at hostd: retry a busy refusal this often. */
const BUSY_RETRIES = 5;
const BUSY_RETRY_MS = 100;
/**
 * qemu mode: what hostd sent to the VM's port while no app had it open (frames of a previous
 * app) is delivered to the next opener; it is dropped until the port was quiet this long.
 */
const PORT_STALE_QUIET_MS = 150;

/** Receives a link's messages after enrolment. */
export interface VmLinkListener {
  message(m: ControlMessage): void;
  /** The link ended (hostd went, or `close()`). */
  closed(): void;
}

/**
 * A VM's control link to hostd (docs/architecture.md §5): connects the VM's socket, says hello,
 * waits for `attach`, enrols with a CSR bound to the attach nonce, then hands every further
 * message to its listener and sends for the runtime. Heartbeats are answered here.
 */
export class VmLink {
  readonly #connection: ControlConnection;
  /** Messages that arrived before `listen()` (hostd may send SD right after the certificate). */
  #early: ControlMessage[] | undefined = [];
  #listener: VmLinkListener | undefined;
  readonly #errors: string[] = [];
  #attach: AttachMessage | undefined;
  #waiter: ((m: ControlMessage | undefined) => void) | undefined;
  #closed = false;
  /** The socket closed (as opposed to `#closed`: no more sending). */
  #ended = false;
  readonly #gone: Promise<void>;
  #markGone!: () => void;
  #heartbeat: NodeJS.Timeout | undefined;
  #sequence = 0n;

  private constructor(socket: Duplex) {
    this.#gone = new Promise<void>((r) => (this.#markGone = r));
    this.#connection = new ControlConnection(socket, {
      onMessage: (m) => this.#onMessage(m),
      onInvalid: (e) => this.#errors.push(e.message),
      onClose: () => {
        this.#closed = true;
        clearInterval(this.#heartbeat);
        this.#waiter?.(undefined);
        this.#ended = true;
        this.#markGone();
        this.#listener?.closed();
      },
    });
  }

  /**
   * Connects to `socketPath` and resolves with the link once hostd sent `attach`. hostd takes
   * one link per VM: a refusal as busy is retried for a short while, since this VM's previous
   * link may still be closing at hostd. In qemu mode `socketPath` is the VM's virtio-serial port
   * (a character device, e.g. `/dev/vport1p1`): the same frames run over it.
   */
  static async connect(socketPath: string): Promise<VmLink> {
    for (let attempt = 1; ; attempt++) {
      const r = await VmLink.#connectOnce(socketPath);
      if ('link' in r) return r.link;
      if (attempt >= BUSY_RETRIES) throw r.busy;
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
    }
  }

  static async #connectOnce(
    socketPath: string,
  ): Promise<{ readonly link: VmLink } | { readonly busy: RuntimeError }> {
    if (isCharDevice(socketPath)) {
      // A port has no connection to refuse as busy: the guest kernel lets one process open it.
      const port = await CharDeviceStream.open(socketPath, { discardStaleMs: PORT_STALE_QUIET_MS });
      return VmLink.#greet(new VmLink(port), socketPath);
    }
    const socket = net.connect(socketPath);
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    } catch (e) {
      socket.destroy();
      throw new RuntimeError(
        'ERR_CONNECT',
        `cannot connect to hostd at ${socketPath} (${(e as Error).message}); is hostd running with this --run-dir, and is the VM name right?`,
        { cause: e },
      );
    }
    return VmLink.#greet(new VmLink(socket), socketPath);
  }

  /** Says hello on a fresh link and waits for `attach`. */
  static async #greet(
    link: VmLink,
    socketPath: string,
  ): Promise<{ readonly link: VmLink } | { readonly busy: RuntimeError }> {
    link.send({ kind: 'hello', version: 1, software: '@sivshm/runtime' });
    const first = await link.#next('attach');
    if (first?.kind !== 'attach') {
      await link.close();
      const e = new RuntimeError(
        'ERR_CONNECT',
        `hostd at ${socketPath} did not attach this VM: ${link.#why(first)}`,
      );
      if (first?.kind === 'error' && first.code === 'ERR_BUSY') {
        return {
          busy: new RuntimeError(
            'ERR_CONNECT',
            `${e.message} (another process holds this VM's link: one Node per VM at a time)`,
          ),
        };
      }
      throw e;
    }
    link.#attach = first;
    return { link };
  }

  /** What hostd said about this VM and the region. */
  get attach(): AttachMessage {
    return this.#attach!;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Enrols `secretKey` with `rights`; resolves with the certificate hostd's CA issued. */
  async enrol(
    crypto: CryptoBackend,
    secretKey: Uint8Array,
    rights: Rights,
    subject: string,
  ): Promise<Certificate> {
    this.send({
      kind: 'csr',
      csr: createCsr(crypto, secretKey, { subject, nonce: this.attach.enrolmentNonce, rights }),
    });
    const m = await this.#next('certificate');
    if (m?.kind !== 'certificate') {
      throw new RuntimeError('ERR_ENROL', `hostd refused the enrolment: ${this.#why(m)}`);
    }
    return m.certificate;
  }

  /** Sends a heartbeat every `ms` (what hostd's --vm-timeout expects). */
  startHeartbeats(ms: number): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      this.send({ kind: 'heartbeat', sequence: ++this.#sequence, timeMs: BigInt(Date.now()) });
    }, ms);
    this.#heartbeat.unref();
  }

  /** Sends one message; false when the link is gone. */
  send(m: ControlMessage): boolean {
    if (this.#closed) return false;
    return this.#connection.send(m);
  }

  /**
   * Ends the link after what was sent is flushed; resolves once the socket closed (hostd has
   * seen the end, so the VM may connect again), at most ~1 s later (the connection then
   * destroys a socket hostd does not close).
   */
  close(): Promise<void> {
    clearInterval(this.#heartbeat);
    if (!this.#closed) {
      this.#closed = true;
      this.#connection.close();
    }
    return this.#gone;
  }

  #why(m: ControlMessage | undefined): string {
    if (m?.kind === 'error') return `${m.code}: ${m.message}`;
    if (m === undefined)
      return `the link closed${this.#errors.length > 0 ? ` (${this.#errors.join('; ')})` : ''}`;
    return `unexpected ${m.kind}`;
  }

  #next(what: string): Promise<ControlMessage | undefined> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve(undefined);
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve({
          kind: 'error',
          code: 'ERR_TIMEOUT',
          message: `no ${what} within ${ANSWER_TIMEOUT_MS} ms`,
        });
      }, ANSWER_TIMEOUT_MS);
      this.#waiter = (m) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(m);
      };
    });
  }

  #onMessage(m: ControlMessage): void {
    if (m.kind === 'heartbeat') return;
    const w = this.#waiter;
    if (
      w !== undefined &&
      (m.kind === 'attach' || m.kind === 'certificate' || m.kind === 'error')
    ) {
      w(m);
      return;
    }
    if (this.#listener !== undefined) this.#listener.message(m);
    else this.#early?.push(m);
  }

  /**
   * Hands every message after enrolment to `listener`, starting with those that arrived before
   * this call; `closed()` once the link ends. One listener per link.
   */
  listen(listener: VmLinkListener): void {
    if (this.#listener !== undefined) throw new Error('VmLink.listen: already listening');
    this.#listener = listener;
    for (const m of this.#early?.splice(0) ?? []) listener.message(m);
    this.#early = undefined;
    if (this.#ended) listener.closed();
  }
}
