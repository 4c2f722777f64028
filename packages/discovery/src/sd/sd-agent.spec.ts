import { expect } from 'chai';
import { Subject } from 'rxjs';
import { SdHarness } from '../../test/support/sd-harness.js';
import { DiscoveryError } from '../errors/discovery-error.js';
import { MessageLinkSdTransport, type MessageLink } from '../transport/message-link-transport.js';
import { endpointOption } from '../wire/endpoint-option.js';
import { multicastOption } from '../wire/multicast-option.js';
import { encodeSdMessage } from '../wire/sd-message.js';
import { packSdMessage, type PackEntry } from '../wire/sd-packer.js';
import { SdAgent } from './sd-agent.js';
import type { SubscriptionEvent } from './sd-consumer.js';
import type { SubscribeRequest } from './sd-policy.js';
import type { SubscriberEvent } from './sd-provider.js';
import type { ServiceAvailability } from './service-types.js';
import { VirtualClock } from './virtual-clock.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const SERVICE = { serviceId: 0x1234, instanceId: 1, majorVersion: 1, minorVersion: 0 };
const EP_A = endpointOption(A, 'udp', 30501);
const EP_B = endpointOption(B, 'udp', 40000);
const flags = { reboot: true, unicast: true, explicitInitialDataControl: false };

function subscribeEntry(eventgroupId = 1, counter = 0): PackEntry {
  return {
    entry: {
      type: 'subscribe',
      ...SERVICE,
      ttl: 3,
      counter,
      eventgroupId,
      initialDataRequested: false,
    },
    options: [EP_B],
  };
}

async function rejected(p: Promise<unknown>): Promise<DiscoveryError> {
  try {
    await p;
  } catch (e) {
    if (DiscoveryError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('SdAgent', () => {
  let h: SdHarness;
  beforeEach(() => {
    h = new SdHarness();
  });
  afterEach(async () => {
    await h.stopAll();
  });

  async function offerA(options: Parameters<SdHarness['agent']>[1] = {}): Promise<SdAgent> {
    const a = h.agent(A, options);
    await Promise.all([
      a.offer({ ...SERVICE, endpoints: [EP_A], eventgroups: [1, 2] }),
      h.clock.advance(200),
    ]);
    return a;
  }

  describe('.offer', () => {
    it('should resolve only once the first Offer is out', async () => {
      const a = h.agent(A);
      let resolved = false;
      void a.offer({ ...SERVICE, endpoints: [EP_A] }).then(() => (resolved = true));
      await h.clock.advance(54);
      expect(resolved).to.equal(false);
      await h.clock.advance(1);
      expect(resolved).to.equal(true);
      expect(h.withEntry('offer')).to.have.length(1);
    });

    it('should reject a spec that breaks an SD rule, saying which', async () => {
      const a = h.agent(A);
      const e1 = await rejected(a.offer({ ...SERVICE, endpoints: [] }));
      expect(e1.code).to.equal('ERR_SD_INPUT');
      expect(e1.message).to.match(/at least one endpoint/);
      const e2 = await rejected(a.offer({ ...SERVICE, instanceId: 0xffff, endpoints: [EP_A] }));
      expect(e2.message).to.match(/instance 0xFFFF/);
      const e3 = await rejected(a.offer({ ...SERVICE, serviceId: 0x10000, endpoints: [EP_A] }));
      expect(e3.message).to.match(/serviceId 65536 is outside/);
      const e4 = await rejected(
        a.offer({ ...SERVICE, endpoints: [EP_A, endpointOption(A, 'udp', 2)] }),
      );
      expect(e4.message).to.match(/at most one of each/);
    });

    it('should reject and forget the offer when the first Offer cannot be sent', async () => {
      const clock = new VirtualClock();
      let fail = true;
      const node = new SdAgent({
        clock,
        transport: {
          localAddress: { address: A, port: 30490 },
          messages$: new Subject(),
          send: async () => {
            if (fail) throw new DiscoveryError('ERR_SD_TRANSPORT', 'network down');
          },
          close: async () => undefined,
        },
      });
      const first = rejected(node.offer({ ...SERVICE, endpoints: [EP_A] }));
      await clock.advance(200);
      expect((await first).message).to.match(/network down/);
      fail = false;
      await Promise.all([node.offer({ ...SERVICE, endpoints: [EP_A] }), clock.advance(200)]);
      await node.stop();
    });

    it('should refuse offering the same instance twice', async () => {
      const a = await offerA();
      const e = await rejected(a.offer({ ...SERVICE, endpoints: [EP_A] }));
      expect(e.code).to.equal('ERR_SD_STATE');
    });

    it('should refuse loopback endpoints unless allowLoopbackEndpoints (SD-1233, switchable)', async () => {
      const strict = h.agent(A);
      const e = await rejected(
        strict.offer({ ...SERVICE, endpoints: [endpointOption('127.0.0.1', 'udp', 1)] }),
      );
      expect(e.message).to.match(/loopback/);
      const lax = h.agent('10.0.0.9', { allowLoopbackEndpoints: true });
      await Promise.all([
        lax.offer({ ...SERVICE, endpoints: [endpointOption('127.0.0.1', 'udp', 1)] }),
        h.clock.advance(100),
      ]);
    });
  });

  describe('.withdraw', () => {
    it('should send StopOffer with the Offer’s options and drop the instance’s subscribers', async () => {
      const a = await offerA();
      const subscribers: SubscriberEvent[] = [];
      a.subscribers$.subscribe((e) => subscribers.push(e));
      h.agent(B)
        .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
        .subscribe();
      await h.clock.advance(100);
      await a.withdraw(SERVICE.serviceId, SERVICE.instanceId);
      const last = h.wire().at(-1);
      expect(last?.msg.entries.map((e) => e.type)).to.deep.equal(['stopOffer']);
      expect(last?.msg.options).to.deep.equal([EP_A]);
      expect(subscribers.map((s) => `${s.type}:${s.reason ?? ''}`)).to.deep.equal([
        'subscribed:',
        'unsubscribed:withdrawn',
      ]);
      expect(a.offered()).to.deep.equal([]);
      expect(a.subscriptions()).to.deep.equal([]);
    });

    it('should reject the pending offer() when withdrawn before the first Offer, sending nothing', async () => {
      const a = h.agent(A);
      const p = rejected(a.offer({ ...SERVICE, endpoints: [EP_A] }));
      await a.withdraw(SERVICE.serviceId, SERVICE.instanceId);
      expect((await p).code).to.equal('ERR_SD_STATE');
      await h.clock.advance(5000);
      expect(h.wire()).to.deep.equal([]);
    });
  });

  describe('.subscribe (provider side and policy hooks)', () => {
    it('should hold the Ack until onSubscribe resolves, then Ack', async () => {
      let release!: () => void;
      const requests: SubscribeRequest[] = [];
      await offerA({
        policy: {
          onSubscribe: (r) => {
            requests.push(r);
            return new Promise((res) => (release = () => res({ accept: true })));
          },
        },
      });
      const events: SubscriptionEvent[] = [];
      h.agent(B)
        .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
        .subscribe((e) => events.push(e));
      await h.clock.advance(500);
      expect(h.withEntry('subscribeAck')).to.have.length(0);
      expect(requests).to.have.length(1);
      expect(requests[0]).to.deep.include({ peer: B, eventgroupId: 1, counter: 0, ttl: 3 });
      expect(requests[0]?.endpoints).to.deep.equal([EP_B]);
      release();
      await h.clock.advance(1);
      expect(h.withEntry('subscribeAck')).to.have.length(1);
      expect(events.map((e) => e.state)).to.deep.equal(['subscribed']);
    });

    it('should call onSubscribe once for a StopSubscribe+Subscribe pair while it is pending', async () => {
      let calls = 0;
      await offerA({
        policy: {
          onSubscribe: () => {
            calls++;
            return new Promise(() => undefined);
          },
        },
      });
      h.agent(B)
        .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
        .subscribe();
      await h.clock.advance(3000);
      expect(h.withEntry('stopSubscribe', B).length).to.be.greaterThan(0);
      expect(calls).to.equal(1);
    });

    it('should Ack with the multicast group the policy chose', async () => {
      const group = multicastOption('239.1.1.1', 30600);
      await offerA({ policy: { onSubscribe: async () => ({ accept: true, multicast: group }) } });
      const events: SubscriptionEvent[] = [];
      h.agent(B)
        .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
        .subscribe((e) => events.push(e));
      await h.clock.advance(100);
      expect(events[0]).to.deep.include({ state: 'subscribed', multicast: group });
    });

    it('should Nack when onSubscribe refuses or throws, and tell onUnsubscribe of a StopSubscribe', async () => {
      const ended: string[] = [];
      let mode: 'refuse' | 'throw' | 'accept' = 'refuse';
      await offerA({
        policy: {
          onSubscribe: async () => {
            if (mode === 'throw') throw new Error('handshake failed');
            return mode === 'accept' ? { accept: true } : { accept: false, reason: 'no channel' };
          },
          onUnsubscribe: (r, reason) => ended.push(`${r.eventgroupId}:${reason}`),
        },
      });
      const raw = h.raw(B);
      const to = { address: A, port: 30490 };
      const send = (entries: PackEntry[], sessionId: number) =>
        raw.send(encodeSdMessage(packSdMessage({ sessionId, flags, entries })), to);
      await send([subscribeEntry()], 1);
      await h.clock.advance(1);
      mode = 'throw';
      await send([subscribeEntry(2)], 2);
      await h.clock.advance(1);
      mode = 'accept';
      await send([subscribeEntry()], 3);
      await h.clock.advance(1);
      await send(
        [
          {
            ...subscribeEntry(),
            entry: {
              ...subscribeEntry().entry,
              type: 'stopSubscribe',
              ttl: 0,
            } as PackEntry['entry'],
          },
        ],
        4,
      );
      await h.clock.advance(1);
      expect(raw.received.flatMap((m) => m.entries.map((e) => e.type))).to.deep.equal([
        'subscribeNack',
        'subscribeNack',
        'subscribeAck',
      ]);
      expect(ended).to.deep.equal(['1:stopSubscribe']);
    });

    it('should Nack a Subscribe that arrives by multicast, names an unknown eventgroup, service or version', async () => {
      await offerA({ policy: { mayConsume: (_p, _s, _i, g) => g !== 2 } });
      const raw = h.raw(B);
      const to = { address: A, port: 30490 };
      let session = 1;
      const send = async (e: PackEntry, multicast = false) => {
        await raw.send(
          encodeSdMessage(packSdMessage({ sessionId: session++, flags, entries: [e] })),
          multicast ? undefined : to,
        );
        await h.clock.advance(1);
      };
      await send(subscribeEntry(), true);
      await send(subscribeEntry(7));
      await send({
        ...subscribeEntry(),
        entry: { ...subscribeEntry().entry, serviceId: 0x9999 } as PackEntry['entry'],
      });
      await send({
        ...subscribeEntry(),
        entry: { ...subscribeEntry().entry, majorVersion: 2 } as PackEntry['entry'],
      });
      await send(subscribeEntry(2));
      await send(subscribeEntry(1));
      expect(raw.received.flatMap((m) => m.entries.map((e) => e.type))).to.deep.equal([
        'subscribeNack',
        'subscribeNack',
        'subscribeNack',
        'subscribeNack',
        'subscribeNack',
        'subscribeAck',
      ]);
    });

    it('should Nack a Subscribe whose endpoint is loopback unless loopback is allowed', async () => {
      await offerA();
      const raw = h.raw(B);
      const e = { ...subscribeEntry(), options: [endpointOption('127.0.0.5', 'udp', 4000)] };
      await raw.send(encodeSdMessage(packSdMessage({ sessionId: 1, flags, entries: [e] })), {
        address: A,
        port: 30490,
      });
      await h.clock.advance(1);
      expect(raw.received.flatMap((m) => m.entries.map((x) => x.type))).to.deep.equal([
        'subscribeNack',
      ]);
    });

    it('should refuse a second subscription with the same eventgroup and counter', () => {
      const b = h.agent(B);
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] }).subscribe();
      let error: unknown;
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] }).subscribe({
        error: (e: unknown) => (error = e),
      });
      expect(DiscoveryError.is(error) && error.code).to.equal('ERR_SD_STATE');
      expect(String(error)).to.match(/another counter/);
      error = undefined;
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B], counter: 1 }).subscribe({
        error: (e: unknown) => (error = e),
      });
      expect(error, 'another counter is another subscription').to.equal(undefined);
    });

    it('should send StopSubscribe when the Observable is unsubscribed', async () => {
      await offerA();
      const sub = h
        .agent(B)
        .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
        .subscribe();
      await h.clock.advance(100);
      sub.unsubscribe();
      await h.clock.advance(1);
      expect(
        h
          .wire()
          .at(-1)
          ?.msg.entries.map((e) => e.type),
      ).to.deep.equal(['stopSubscribe']);
    });
  });

  describe('policy', () => {
    it('should ignore Offers the policy refuses (mayOffer) and hide offers from Finds (maySee)', async () => {
      await offerA({ policy: { maySee: (peer) => peer !== B } });
      const b = h.agent(B, { policy: { mayOffer: () => false } });
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      await h.clock.advance(3000);
      expect(seen).to.deep.equal([]);
      expect(h.wire().filter((w) => w.from === A && w.to === B)).to.deep.equal([]);
    });
  });

  describe('.errors$', () => {
    it('should report a malformed message with the byte and drop it', async () => {
      const a = await offerA();
      const errors: DiscoveryError[] = [];
      a.errors$.subscribe((e) => errors.push(e));
      const raw = h.raw(B);
      await raw.send(new Uint8Array([0xff, 0xff, 0x81, 0x00, 0, 0, 0, 20]), {
        address: A,
        port: 30490,
      });
      await h.clock.advance(1);
      expect(errors).to.have.length(1);
      expect(errors[0]?.code).to.equal('ERR_SD_TRUNCATED');
      expect(errors[0]?.message).to.match(/from 10\.0\.0\.2 dropped: SD byte 0/);
    });
  });

  describe('SD endpoint option', () => {
    it('should take the peer identity and reply address from an SD endpoint option (SD-1090)', async () => {
      await offerA();
      const raw = h.raw(B);
      const relayTarget = h.raw('10.0.0.7');
      const find = packSdMessage({
        sessionId: 1,
        flags,
        sdEndpoint: { type: 'ipv4SdEndpoint', address: '10.0.0.7', protocol: 'udp', port: 30490 },
        entries: [
          {
            entry: {
              type: 'find',
              serviceId: SERVICE.serviceId,
              instanceId: 0xffff,
              majorVersion: 0xff,
              ttl: 3,
              minorVersion: 0xffffffff,
            },
          },
        ],
      });
      await raw.send(encodeSdMessage(find), { address: A, port: 30490 });
      await h.clock.advance(1);
      expect(raw.received).to.deep.equal([]);
      expect(relayTarget.received.flatMap((m) => m.entries.map((e) => e.type))).to.deep.equal([
        'offer',
      ]);
    });
  });

  describe('.stop', () => {
    it('should complete finds, send StopSubscribe and StopOffer, and refuse later calls', async () => {
      const a = await offerA();
      const b = h.agent(B);
      let completed = false;
      b.find({ serviceId: SERVICE.serviceId }).subscribe({ complete: () => (completed = true) });
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] }).subscribe();
      await h.clock.advance(100);
      await b.stop();
      await b.stop();
      expect(completed).to.equal(true);
      expect(
        h
          .wire()
          .at(-1)
          ?.msg.entries.map((e) => e.type),
      ).to.deep.equal(['stopSubscribe']);
      expect(() => b.find({ serviceId: 1 })).to.throw(DiscoveryError, /stopped/);
      expect((await rejected(b.offer({ ...SERVICE, endpoints: [EP_B] }))).code).to.equal(
        'ERR_SD_STATE',
      );
      await a.stop();
      expect(
        h
          .wire()
          .at(-1)
          ?.msg.entries.map((e) => e.type),
      ).to.deep.equal(['stopOffer']);
      expect(h.clock.pendingTimers).to.equal(0);
    });
  });

  describe('over a MessageLink (the control link to hostd)', () => {
    it('should offer, find and subscribe through a pair of linked message links', async () => {
      const clock = new VirtualClock();
      const toA = new Subject<{ bytes: Uint8Array; from: string }>();
      const toB = new Subject<{ bytes: Uint8Array; from: string }>();
      const linkA: MessageLink = {
        send: (bytes) => queueMicrotask(() => toB.next({ bytes, from: 'vm-a' })),
        messages$: toA,
      };
      const linkB: MessageLink = {
        send: (bytes) => queueMicrotask(() => toA.next({ bytes, from: 'vm-b' })),
        messages$: toB,
      };
      const options = {
        clock,
        random: () => 0,
        timing: { initialDelayMin: 0, initialDelayMax: 0 },
      };
      const a = new SdAgent({ ...options, transport: new MessageLinkSdTransport(linkA, 'vm-a') });
      const b = new SdAgent({ ...options, transport: new MessageLinkSdTransport(linkB, 'vm-b') });
      const events: SubscriptionEvent[] = [];
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] }).subscribe((e) =>
        events.push(e),
      );
      await Promise.all([
        a.offer({ ...SERVICE, endpoints: [EP_A], eventgroups: [1] }),
        clock.advance(50),
      ]);
      await clock.advance(50);
      expect(events.map((e) => e.state)).to.deep.equal(['subscribed']);
      expect(events[0]?.provider.peer).to.equal('vm-a');
      await b.stop();
      await a.stop();
    });
  });
});
