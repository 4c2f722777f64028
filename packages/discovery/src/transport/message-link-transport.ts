import { Subject, type Observable, type Subscription } from 'rxjs';
import type { SdAddress, SdDatagram, SdTransport } from './sd-transport.js';

/**
 * A framed, private, bidirectional link: what the control link between a VM and hostd
 * carries (SD frames among others). `from` names the sender as the link's owner knows it.
 */
export interface MessageLink {
  send(bytes: Uint8Array): Promise<void> | void;
  readonly messages$: Observable<{ readonly bytes: Uint8Array; readonly from: string }>;
}

/**
 * Runs SD over a `MessageLink`: every message goes to the link's peer (hostd relays and
 * answers), and everything received counts as unicast from the named sender. Use it in VMs
 * whose only SD path is the control link.
 */
export class MessageLinkSdTransport implements SdTransport {
  private readonly inbox = new Subject<SdDatagram>();
  private readonly sub: Subscription;
  readonly messages$: Observable<SdDatagram> = this.inbox.asObservable();
  readonly localAddress: SdAddress;
  readonly singleRelation = true;

  constructor(
    private readonly link: MessageLink,
    localName = 'self',
  ) {
    this.localAddress = { address: localName, port: 0 };
    this.sub = link.messages$.subscribe({
      next: (m) =>
        this.inbox.next({ bytes: m.bytes, from: { address: m.from, port: 0 }, multicast: false }),
      complete: () => this.inbox.complete(),
      error: (e: unknown) => this.inbox.error(e),
    });
  }

  async send(bytes: Uint8Array): Promise<void> {
    await this.link.send(bytes);
  }

  async close(): Promise<void> {
    this.sub.unsubscribe();
    this.inbox.complete();
  }
}
