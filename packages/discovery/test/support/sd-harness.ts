// A segment of SD agents on a virtual clock: real SdAgents, real codec, an in-process network
// that keeps every message, and a raw peer for crafted (also malformed) messages.
import { merge, Subject } from 'rxjs';
import { SdAgent } from '../../src/sd/sd-agent.js';
import type { SdAgentOptions } from '../../src/sd/sd-agent-options.js';
import { VirtualClock } from '../../src/sd/virtual-clock.js';
import { MemorySdNetwork } from '../../src/transport/memory-network.js';
import type { SdAddress, SdDatagram, SdTransport } from '../../src/transport/sd-transport.js';
import { decodeSdMessage, type SdMessage } from '../../src/wire/sd-message.js';

/** One captured message, decoded. */
export interface WireMessage {
  readonly time: number;
  readonly from: string;
  /** Destination address, or 'multicast'. */
  readonly to: string;
  readonly msg: SdMessage;
  readonly bytes: Uint8Array;
}

/** Test timing: small, distinct numbers so that phases are easy to read. */
export const TEST_TIMING = {
  initialDelayMin: 10,
  initialDelayMax: 100,
  repetitionsBaseDelay: 20,
  repetitionsMax: 3,
  cyclicOfferDelay: 1000,
  offerTtl: 3,
  subscribeTtl: 3,
};

export class SdHarness {
  readonly clock = new VirtualClock();
  readonly net = new MemorySdNetwork(this.clock);
  private readonly agents: SdAgent[] = [];
  private readonly links = new Map<
    SdAgent,
    { readonly transport: SdTransport; readonly inbox: Subject<SdDatagram> }
  >();

  agent(address: string, options: Partial<SdAgentOptions> = {}): SdAgent {
    const transport = this.net.attach(address);
    const inbox = new Subject<SdDatagram>();
    const n = new SdAgent({
      transport: { ...transport, messages$: merge(transport.messages$, inbox) },
      clock: this.clock,
      random: () => 0.5,
      timing: TEST_TIMING,
      allowLoopbackEndpoints: false,
      ...options,
    });
    this.agents.push(n);
    this.links.set(n, { transport, inbox });
    return n;
  }

  /** Closes the network side of `agent`'s transport: the agent goes silent without a goodbye. */
  async silence(agent: SdAgent): Promise<void> {
    await this.linkOf(agent).transport.close();
  }

  /** Hands `agent` a datagram as if its transport had received it (any source address). */
  deliver(agent: SdAgent, datagram: SdDatagram): void {
    this.linkOf(agent).inbox.next(datagram);
  }

  private linkOf(agent: SdAgent): { transport: SdTransport; inbox: Subject<SdDatagram> } {
    const link = this.links.get(agent);
    if (link === undefined) throw new Error('this agent was not made by the harness');
    return link;
  }

  /** A raw peer: sends given bytes, records decoded messages it receives. */
  raw(address: string): {
    transport: SdTransport;
    received: SdMessage[];
    send(b: Uint8Array, to?: SdAddress): Promise<void>;
  } {
    const transport = this.net.attach(address);
    const received: SdMessage[] = [];
    transport.messages$.subscribe((d) => received.push(decodeSdMessage(d.bytes)));
    return { transport, received, send: (b, to) => transport.send(b, to) };
  }

  /** Every message so far, decoded. */
  wire(): WireMessage[] {
    return this.net.captured.map((c) => ({
      time: c.time ?? NaN,
      from: c.from.address,
      to: c.to?.address ?? 'multicast',
      msg: decodeSdMessage(c.bytes),
      bytes: c.bytes,
    }));
  }

  /** Messages whose entries include one of `type` (optionally from `from`). */
  withEntry(type: string, from?: string): WireMessage[] {
    return this.wire().filter(
      (w) => (from === undefined || w.from === from) && w.msg.entries.some((e) => e.type === type),
    );
  }

  async stopAll(): Promise<void> {
    for (const n of this.agents) await n.stop().catch(() => undefined);
  }
}
