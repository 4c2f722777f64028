import { Subject, type Observable } from 'rxjs';
import { DiscoveryError } from '../errors/discovery-error.js';
import type { SdClock } from '../sd/clock.js';
import type { SdAddress, SdDatagram, SdTransport } from './sd-transport.js';

/** One message that crossed a `MemorySdNetwork`, as a capture would show it. */
export interface CapturedSdMessage {
  readonly bytes: Uint8Array;
  readonly from: SdAddress;
  /** Destination; undefined for the multicast group. */
  readonly to: SdAddress | undefined;
  /** `clock.now()` when sent, if the network was given a clock. */
  readonly time: number | undefined;
}

/**
 * An in-process network segment with multicast: every attached transport receives what
 * others send to the group, and what is sent to its own address. Delivery is asynchronous
 * (a microtask), like a socket. Every message is kept in `captured` so tests can check the
 * bytes on the wire. Use it to run several SD nodes in one process.
 */
export class MemorySdNetwork {
  private readonly members = new Map<string, Subject<SdDatagram>>();
  /** Every message sent, in order. */
  readonly captured: CapturedSdMessage[] = [];

  /** `clock` (optional) timestamps the captured messages. */
  constructor(private readonly clock?: SdClock) {}

  /** A transport at `address` (port 30490) on this segment. */
  attach(address: string): SdTransport {
    if (this.members.has(address))
      throw new DiscoveryError(
        'ERR_SD_INPUT',
        `address ${address} is already attached to this network`,
      );
    const inbox = new Subject<SdDatagram>();
    this.members.set(address, inbox);
    const localAddress: SdAddress = { address, port: 30490 };
    const send = async (bytes: Uint8Array, to?: SdAddress): Promise<void> => {
      if (!this.members.has(address))
        throw new DiscoveryError('ERR_SD_TRANSPORT', `transport ${address} is closed`);
      const copy = bytes.slice();
      this.captured.push({ bytes: copy, from: localAddress, to, time: this.clock?.now() });
      queueMicrotask(() => {
        if (to === undefined) {
          for (const [a, s] of this.members)
            if (a !== address) s.next({ bytes: copy.slice(), from: localAddress, multicast: true });
        } else {
          this.members
            .get(to.address)
            ?.next({ bytes: copy.slice(), from: localAddress, multicast: false });
        }
      });
    };
    return {
      send,
      messages$: inbox.asObservable() as Observable<SdDatagram>,
      localAddress,
      close: async () => {
        if (this.members.get(address) === inbox) this.members.delete(address);
        inbox.complete();
      },
    };
  }
}
