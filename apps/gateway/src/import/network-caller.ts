import { GatewayError } from '../errors/gateway-error.js';
import { MessageType, encodeSomeIp, type SomeIpMessage } from '../someip/someip-message.js';

/** A request the gateway sends to a network provider. */
export interface NetworkRequest {
  readonly serviceId: number;
  readonly methodId: number;
  readonly interfaceVersion: number;
  readonly payload: Uint8Array;
}

interface Pending {
  readonly methodId: number;
  readonly resolve: (m: SomeIpMessage) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The gateway as a SOME/IP client of one network provider: each request gets the gateway's
 * client id and the next free session id (PRS_SOMEIP_00533: 1..0xFFFF, wrapping, never 0), and
 * its answer is matched by that request id and method. A request unanswered within the bound
 * fails with `ERR_TIMEOUT`; `failAll` ends every waiting call when the provider goes away.
 */
export class NetworkCaller {
  private readonly pending = new Map<number, Pending>();
  private session = 0;

  constructor(
    private readonly clientId: number,
    private readonly timeoutMs: number,
  ) {}

  /** Requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends `r` through `send` and resolves with its response or error message. */
  call(r: NetworkRequest, send: (bytes: Uint8Array) => void): Promise<SomeIpMessage> {
    if (this.pending.size >= 0xffff)
      return Promise.reject(new GatewayError('ERR_BUSY', 'every session id is in flight'));
    const sessionId = this.nextSession();
    const bytes = encodeSomeIp({
      ...r,
      clientId: this.clientId,
      sessionId,
      messageType: MessageType.request,
      returnCode: 0,
    });
    return new Promise<SomeIpMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sessionId);
        reject(
          new GatewayError(
            'ERR_TIMEOUT',
            `no answer from the network provider within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(sessionId, { methodId: r.methodId, resolve, reject, timer });
      try {
        send(bytes);
      } catch (e) {
        this.settle(sessionId)?.reject(
          new GatewayError('ERR_NETWORK', `request not sent: ${(e as Error).message}`, {
            cause: e,
          }),
        );
      }
    });
  }

  /** Hands an answer to the call waiting for it; false when none waits (late or foreign). */
  answer(m: SomeIpMessage): boolean {
    const p = this.pending.get(m.sessionId);
    if (p === undefined || m.clientId !== this.clientId || p.methodId !== m.methodId) return false;
    this.settle(m.sessionId)?.resolve(m);
    return true;
  }

  /** Every waiting call fails with `why` (the provider went away). */
  failAll(why: string): void {
    for (const id of [...this.pending.keys()])
      this.settle(id)?.reject(new GatewayError('ERR_NETWORK', why));
  }

  private settle(sessionId: number): Pending | undefined {
    const p = this.pending.get(sessionId);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.pending.delete(sessionId);
    return p;
  }

  private nextSession(): number {
    do this.session = (this.session % 0xffff) + 1;
    while (this.pending.has(this.session));
    return this.session;
  }
}
