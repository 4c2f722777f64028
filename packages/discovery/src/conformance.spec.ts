// The SOME/IP-SD conformance checklist (docs/protocol.md §8, rules from the AUTOSAR PRS), one named test per item. Wire items check the
// bytes the SD runtime actually sends (captured on an in-process segment); decoder items feed
// crafted bytes; behaviour items run real SdAgents on a virtual clock.
import { expect } from 'chai';
import { firstValueFrom, take, toArray } from 'rxjs';
import { SdHarness, TEST_TIMING, type WireMessage } from '../test/support/sd-harness.js';
import { fixtureBytes } from '../test/support/fixtures.js';
import { RebootDetector } from './sd/reboot-detector.js';
import type { ServiceAvailability } from './sd/service-types.js';
import type { SubscriptionEvent } from './sd/sd-consumer.js';
import type { SubscriberEvent } from './sd/sd-provider.js';
import { SessionCounters } from './sd/session-counter.js';
import { endpointOption } from './wire/endpoint-option.js';
import type { EventgroupEntry } from './wire/eventgroup-entry.js';
import type { ServiceEntry } from './wire/service-entry.js';
import { checkEntry, checkSdMessage, entryOptions } from './wire/sd-checks.js';
import { decodeSdMessage, encodeSdMessage, encodeSdMessageUnchecked } from './wire/sd-message.js';
import { packSdMessage, type PackEntry } from './wire/sd-packer.js';

const A = '10.0.0.1';
const B = '10.0.0.2';
const SERVICE = { serviceId: 0x1234, instanceId: 0x0001, majorVersion: 1, minorVersion: 7 };
const EP_A = endpointOption(A, 'udp', 30501);
const EP_B = endpointOption(B, 'udp', 40000);
const flags = { reboot: true, unicast: true, explicitInitialDataControl: false };

/** Server A offering SERVICE with eventgroup 1, client B; returns the harness. */
function pair(): SdHarness {
  return new SdHarness();
}

async function offerOnA(h: SdHarness, options: Parameters<SdHarness['agent']>[1] = {}) {
  const a = h.agent(A, options);
  const offered = a.offer({ ...SERVICE, endpoints: [EP_A], eventgroups: [1] });
  await h.clock.advance(200);
  await offered;
  return a;
}

function subscribeB(h: SdHarness, events: SubscriptionEvent[]) {
  const b = h.agent(B);
  const sub = b
    .subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] })
    .subscribe((e) => events.push(e));
  return { b, sub };
}

function entriesOf(ws: WireMessage[], type: string) {
  return ws.flatMap((w) => w.msg.entries.filter((e) => e.type === type));
}

describe('SOME/IP-SD conformance checklist (docs/protocol.md §8)', () => {
  let h: SdHarness;
  beforeEach(() => {
    h = pair();
  });
  afterEach(async () => {
    await h.stopAll();
  });

  /** A busy scenario: offer, find, subscribe, ack, unsubscribe, withdraw. */
  async function scenario(): Promise<WireMessage[]> {
    const a = await offerOnA(h);
    const events: SubscriptionEvent[] = [];
    const { b, sub } = subscribeB(h, events);
    const found = b.find({ serviceId: 0x9999 }).subscribe();
    await h.clock.advance(3500);
    sub.unsubscribe();
    found.unsubscribe();
    await h.clock.advance(10);
    await a.withdraw(SERVICE.serviceId, SERVICE.instanceId);
    await h.clock.advance(10);
    return h.wire();
  }

  describe('Wire (every SD message we emit)', () => {
    it('§8 wire: Message ID 0xFFFF8100', async () => {
      for (const w of await scenario())
        expect(w.bytes.subarray(0, 4)).to.deep.equal(new Uint8Array([0xff, 0xff, 0x81, 0x00]));
    });

    it('§8 wire: Length = 8 + payload', async () => {
      for (const w of await scenario())
        expect(new DataView(w.bytes.buffer).getUint32(4)).to.equal(w.bytes.length - 8);
    });

    it('§8 wire: client 0', async () => {
      for (const w of await scenario()) expect([w.bytes[8], w.bytes[9]]).to.deep.equal([0, 0]);
    });

    it('§8 wire: session ≠ 0, +1 per message per relation', async () => {
      const ws = await scenario();
      const byRelation = new Map<string, number[]>();
      for (const w of ws) {
        const k = `${w.from}->${w.to}`;
        byRelation.set(k, [...(byRelation.get(k) ?? []), w.msg.sessionId]);
      }
      expect(byRelation.size).to.be.greaterThan(2);
      for (const [, sessions] of byRelation)
        expect(sessions).to.deep.equal(sessions.map((_, i) => i + 1));
    });

    it('§8 wire: session wraps to 1 and clears the reboot flag for that relation only', () => {
      const c = new SessionCounters();
      let last = { sessionId: 0, reboot: true };
      for (let i = 0; i < 0xffff; i++) last = c.next('multicast');
      expect(last).to.deep.equal({ sessionId: 0xffff, reboot: true });
      expect(c.next('multicast')).to.deep.equal({ sessionId: 1, reboot: false });
      expect(c.next('multicast')).to.deep.equal({ sessionId: 2, reboot: false });
      expect(c.next('unicast|10.0.0.2:30490')).to.deep.equal({ sessionId: 1, reboot: true });
    });

    it('§8 wire: proto 1, iface 1, type 0x02, rc 0', async () => {
      for (const w of await scenario())
        expect([...w.bytes.subarray(12, 16)]).to.deep.equal([1, 1, 2, 0]);
    });

    it('§8 wire: flags = 0xC0 after boot (0x40 after wrap), undefined bits 0', async () => {
      for (const w of await scenario()) expect(w.bytes[16]).to.equal(0xc0);
      const wrapped = packSdMessage({
        sessionId: 1,
        flags: { ...flags, reboot: false },
        entries: [
          {
            entry: {
              type: 'find',
              serviceId: 1,
              instanceId: 0xffff,
              majorVersion: 0xff,
              ttl: 3,
              minorVersion: 0xffffffff,
            },
          },
        ],
      });
      expect(encodeSdMessage(wrapped)[16]).to.equal(0x40);
    });

    it('§8 wire: reserved 0', async () => {
      for (const w of await scenario()) {
        expect([...w.bytes.subarray(17, 20)]).to.deep.equal([0, 0, 0]);
        const entries = new DataView(w.bytes.buffer).getUint32(20);
        for (let at = 24; at < 24 + entries; at += 16)
          if ((w.bytes[at] ?? 0) >= 6) expect(w.bytes[at + 12]).to.equal(0);
      }
    });

    it('§8 wire: entries length multiple of 16', async () => {
      for (const w of await scenario()) {
        const n = new DataView(w.bytes.buffer).getUint32(20);
        expect(n % 16).to.equal(0);
        expect(n / 16).to.equal(w.msg.entries.length);
      }
    });

    it('§8 wire: options length = Σ(Length+3)', async () => {
      for (const w of await scenario()) {
        const v = new DataView(w.bytes.buffer);
        const at = 24 + v.getUint32(20);
        const total = v.getUint32(at);
        let sum = 0;
        for (let p = at + 4; p < at + 4 + total; p += 3 + v.getUint16(p)) sum += 3 + v.getUint16(p);
        expect(sum).to.equal(total);
        expect(at + 4 + total).to.equal(w.bytes.length);
      }
    });

    it('§8 wire: IPv4 options Length 9 / IPv6 21', () => {
      const v4 = decodeSdMessage(fixtureBytes('vsomeip-offer'));
      const v6 = packSdMessage({
        sessionId: 1,
        flags,
        entries: [
          {
            entry: { type: 'offer', ...SERVICE, ttl: 3 },
            options: [endpointOption('fd00::1', 'tcp', 1)],
          },
        ],
      });
      const b4 = encodeSdMessage(v4);
      const b6 = encodeSdMessage(v6);
      expect(new DataView(b4.buffer).getUint16(44)).to.equal(9);
      expect(new DataView(b6.buffer).getUint16(44)).to.equal(21);
    });

    it('§8 wire: no options on Find', async () => {
      const ws = await scenario();
      const finds = ws.filter((w) => w.msg.entries.some((e) => e.type === 'find'));
      expect(finds.length).to.be.greaterThan(0);
      for (const w of finds)
        for (const e of w.msg.entries)
          if (e.type === 'find') expect(e.run1.count + e.run2.count).to.equal(0);
      const bad = packSdMessage({
        sessionId: 1,
        flags,
        entries: [{ entry: { type: 'find', ...SERVICE, ttl: 3 }, options: [EP_A] }],
      });
      expect(checkSdMessage(bad).map((p) => p.rule)).to.include('no-endpoint-on-find');
    });

    it('§8 wire: ≥1 endpoint option on Offer/StopOffer (same as the Offer)', async () => {
      const ws = await scenario();
      const offers = ws.filter((w) =>
        w.msg.entries.some((e) => e.type === 'offer' || e.type === 'stopOffer'),
      );
      const seen = new Set<string>();
      for (const w of offers)
        for (const e of w.msg.entries) {
          if (e.type !== 'offer' && e.type !== 'stopOffer') continue;
          seen.add(e.type);
          expect(entryOptions(w.msg, e).options).to.deep.equal([EP_A]);
        }
      expect([...seen].sort()).to.deep.equal(['offer', 'stopOffer']);
      const bad = packSdMessage({
        sessionId: 1,
        flags,
        entries: [{ entry: { type: 'offer', ...SERVICE, ttl: 3 } }],
      });
      expect(checkSdMessage(bad).map((p) => p.rule)).to.include('offer-has-endpoint');
    });

    it('§8 wire: StopSubscribe references the same options as its Subscribe', async () => {
      const ws = await scenario();
      const subs = ws.flatMap((w) =>
        w.msg.entries
          .filter((e) => e.type === 'subscribe')
          .map((e) => entryOptions(w.msg, e).options),
      );
      const stops = ws.flatMap((w) =>
        w.msg.entries
          .filter((e) => e.type === 'stopSubscribe')
          .map((e) => entryOptions(w.msg, e).options),
      );
      expect(stops).to.have.length.greaterThan(0);
      for (const s of stops) expect(s).to.deep.equal(subs[0]);
    });

    it('§8 wire: Ack copies ids/TTL/counter', async () => {
      await offerOnA(h);
      const b = h.agent(B);
      const events: SubscriptionEvent[] = [];
      b.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B], counter: 5 }).subscribe((e) =>
        events.push(e),
      );
      await h.clock.advance(100);
      const sub = entriesOf(h.wire(), 'subscribe')[0] as EventgroupEntry;
      const ack = entriesOf(h.wire(), 'subscribeAck')[0] as EventgroupEntry;
      for (const f of [
        'serviceId',
        'instanceId',
        'majorVersion',
        'ttl',
        'counter',
        'eventgroupId',
        'initialDataRequested',
      ] as const)
        expect(ack[f], f).to.equal(sub[f]);
      expect(ack.counter).to.equal(5);
      expect(events.map((e) => e.state)).to.deep.equal(['subscribed']);
    });

    it('§8 wire: Nack TTL 0', async () => {
      await offerOnA(h, { policy: { mayConsume: () => false } });
      const events: SubscriptionEvent[] = [];
      subscribeB(h, events);
      await h.clock.advance(100);
      const nacks = entriesOf(h.wire(), 'subscribeNack');
      expect(nacks).to.have.length(1);
      expect(nacks[0]?.ttl).to.equal(0);
      expect(nacks[0]?.run1.count).to.equal(0);
      expect(events.map((e) => e.state)).to.deep.equal(['nacked']);
    });

    it('§8 wire: Subscribe/Ack/Nack only unicast', async () => {
      const ws = await scenario();
      for (const w of ws)
        if (
          w.msg.entries.some((e) =>
            ['subscribe', 'stopSubscribe', 'subscribeAck', 'subscribeNack'].includes(e.type),
          )
        )
          expect(w.to).to.not.equal('multicast');
      expect(ws.some((w) => w.msg.entries.some((e) => e.type === 'subscribeAck'))).to.equal(true);
    });

    it('§8 wire: empty runs have index 0', async () => {
      for (const w of await scenario()) {
        const v = w.bytes;
        for (let at = 24; at < 24 + w.msg.entries.length * 16; at += 16) {
          const counts = v[at + 3] ?? 0;
          if (counts >> 4 === 0) expect(v[at + 1]).to.equal(0);
          if ((counts & 15) === 0) expect(v[at + 2]).to.equal(0);
        }
      }
    });
  });

  describe('Decoders', () => {
    it('§8 decoders: accept num = 0 with index ≠ 0', () => {
      const b = fixtureBytes('vsomeip-find');
      b[25] = 7;
      b[26] = 9;
      const m = decodeSdMessage(b);
      expect(m.entries[0]?.run1).to.deep.equal({ index: 0, count: 0 });
      expect(checkEntry(m, 0)).to.deep.equal([]);
    });

    it('§8 decoders: ignore unknown/redundant options', async () => {
      // Offer referencing an unknown option 0x20 and the same endpoint twice: processed.
      await h.clock.advance(0);
      const b = h.agent(B);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      const raw = h.raw(A);
      const msg = packSdMessage({
        sessionId: 1,
        flags,
        entries: [
          {
            entry: { type: 'offer', ...SERVICE, ttl: 3 },
            options: [{ type: 'unknown', optionType: 0x20, data: new Uint8Array([0, 1, 2]) }, EP_A],
          },
        ],
      });
      const dup = {
        ...msg,
        options: [...msg.options, EP_A],
        entries: [{ ...msg.entries[0]!, run1: { index: 0, count: 3 } }],
      };
      await raw.send(encodeSdMessageUnchecked(dup));
      await h.clock.advance(1);
      expect(seen.map((s) => s.available)).to.deep.equal([true]);
      expect(seen[0]?.service.endpoints).to.deep.equal([EP_A]);
    });

    it('§8 decoders: Nack conflicting ones', async () => {
      await offerOnA(h);
      const raw = h.raw(B);
      const sub: PackEntry = {
        entry: {
          type: 'subscribe',
          ...SERVICE,
          ttl: 3,
          counter: 0,
          eventgroupId: 1,
          initialDataRequested: false,
        },
        options: [EP_B, endpointOption(B, 'udp', 40001)],
      };
      await raw.send(
        encodeSdMessageUnchecked(packSdMessage({ sessionId: 1, flags, entries: [sub] })),
        { address: A, port: 30490 },
      );
      await h.clock.advance(1);
      const nacks = raw.received.flatMap((m) =>
        m.entries.filter((e) => e.type === 'subscribeNack'),
      );
      expect(nacks).to.have.length(1);
    });

    it('§8 decoders: skip unknown options by Length+3', () => {
      const m = decodeSdMessage(fixtureBytes('offer-unknown-option'));
      expect(m.options.map((o) => o.type)).to.deep.equal(['unknown', 'ipv4Endpoint']);
      expect(entryOptions(m, m.entries[0]!).options[1]).to.deep.equal(
        endpointOption('192.168.0.1', 'udp', 30501),
      );
    });

    it('§8 decoders: reject entries arrays that overrun the message', () => {
      const b = fixtureBytes('vsomeip-offer');
      b[23] = 0x20;
      expect(() => decodeSdMessage(b)).to.throw(/SD byte 20: Length of Entries Array 32 overruns/);
    });

    it('§8 decoders: never read past an option’s own Length (#1042/#178/#247)', () => {
      // A configuration option whose string claims 9 bytes but whose Length leaves 2: rejected,
      // and the following endpoint option is not consumed as configuration text.
      const cfg = [0x00, 0x04, 0x01, 0x00, 0x09, 0x61, 0x00];
      const ep = [0x00, 0x09, 0x04, 0x00, 10, 0, 0, 1, 0x00, 0x11, 0x77, 0x25];
      const head = fixtureBytes('vsomeip-offer').subarray(0, 40);
      const b = new Uint8Array([...head, 0, 0, 0, cfg.length + ep.length, ...cfg, ...ep]);
      new DataView(b.buffer).setUint32(4, b.length - 8);
      expect(() => decodeSdMessage(b)).to.throw(
        /SD byte 48: configuration string length 9 runs past the option's own Length/,
      );
    });

    it('§8 decoders: ignore EIDC/I-flag unless implemented', async () => {
      await offerOnA(h);
      const raw = h.raw(B);
      const sub: PackEntry = {
        entry: {
          type: 'subscribe',
          ...SERVICE,
          ttl: 3,
          counter: 0,
          eventgroupId: 1,
          initialDataRequested: true,
        },
        options: [EP_B],
      };
      await raw.send(
        encodeSdMessage(
          packSdMessage({
            sessionId: 1,
            flags: { ...flags, explicitInitialDataControl: true },
            entries: [sub],
          }),
        ),
        { address: A, port: 30490 },
      );
      await h.clock.advance(1);
      const acks = raw.received.flatMap((m) => m.entries.filter((e) => e.type === 'subscribeAck'));
      expect(acks).to.have.length(1);
    });

    it('§8 decoders: tolerate legacy entry types', async () => {
      const a = await offerOnA(h);
      const raw = h.raw(B);
      // A legacy FindEventgroup (0x04) before a Find: the Find is still answered.
      const find = packSdMessage({
        sessionId: 1,
        flags,
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
      const bytes = encodeSdMessage(find);
      const legacy = new Uint8Array([0x04, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 0, 0, 3, 0, 0, 0, 1]);
      const b = new Uint8Array([
        ...bytes.subarray(0, 20),
        0,
        0,
        0,
        32,
        ...legacy,
        ...bytes.subarray(24),
      ]);
      new DataView(b.buffer).setUint32(4, b.length - 8);
      expect(decodeSdMessage(b).entries.map((e) => e.type)).to.deep.equal([
        'findEventgroup',
        'find',
      ]);
      await raw.send(b, { address: A, port: 30490 });
      await h.clock.advance(1);
      expect(raw.received.flatMap((m) => m.entries.map((e) => e.type))).to.include('offer');
      void a;
    });

    it('§8 decoders: detect reboot with both rules of §2.6 per peer and per multicast/unicast', () => {
      const d = new RebootDetector();
      expect(d.observe('p', 'multicast', 5, false)).to.equal(false);
      expect(d.observe('p', 'multicast', 6, true), 'rule 1: old.reboot 0, new 1').to.equal(true);
      expect(d.observe('p', 'multicast', 7, true)).to.equal(false);
      expect(d.observe('p', 'multicast', 3, true), 'rule 2: both 1, old.session ≥ new').to.equal(
        true,
      );
      expect(d.observe('p', 'unicast', 1, true), 'unicast kept apart').to.equal(false);
      expect(d.observe('p', 'unicast', 2, true)).to.equal(false);
      expect(d.observe('q', 'multicast', 1, true), 'per peer').to.equal(false);
      expect(d.observe('p', 'multicast', 4, false), 'new.reboot 0 never a reboot').to.equal(false);
      expect(
        d.observe('p', 'multicast', 1, false),
        'session going back without the flag is not rule 2',
      ).to.equal(false);
    });
  });

  describe('Behaviour', () => {
    it('§8 behaviour: random initial delay within [min,max]', async () => {
      for (const [r, want] of [
        [0, 10],
        [0.999999, 100],
        [0.5, 55],
      ] as const) {
        const hh = new SdHarness();
        const a = hh.agent(A, { random: () => r });
        void a.offer({ ...SERVICE, endpoints: [EP_A] });
        await hh.clock.advance(150);
        expect(hh.wire()[0]?.time).to.equal(want);
        await hh.stopAll();
      }
    });

    it('§8 behaviour: repetitions at base·2^k, REPETITIONS_MAX of them', async () => {
      const a = h.agent(A);
      await Promise.all([a.offer({ ...SERVICE, endpoints: [EP_A] }), h.clock.advance(1000)]);
      const times = h.withEntry('offer').map((w) => w.time);
      const b = TEST_TIMING.repetitionsBaseDelay;
      expect(times).to.deep.equal([55, 55 + b, 55 + 3 * b, 55 + 7 * b]);
    });

    it('§8 behaviour: no cyclic Finds', async () => {
      const b = h.agent(B);
      b.find({ serviceId: 0x4444 }).subscribe();
      await h.clock.advance(60_000);
      const base = TEST_TIMING.repetitionsBaseDelay;
      expect(h.withEntry('find').map((w) => w.time)).to.deep.equal([
        55,
        55 + base,
        55 + 3 * base,
        55 + 7 * base,
      ]);
    });

    it('§8 behaviour: cyclic Offers with CYCLIC_OFFER_DELAY', async () => {
      const a = h.agent(A);
      void a.offer({ ...SERVICE, endpoints: [EP_A] });
      await h.clock.advance(5000);
      const times = h.withEntry('offer').map((w) => w.time);
      const lastRepetition = 55 + 7 * TEST_TIMING.repetitionsBaseDelay;
      expect(times.slice(4)).to.deep.equal(
        [1, 2, 3, 4].map((k) => lastRepetition + k * TEST_TIMING.cyclicOfferDelay),
      );
      expect(times.every((t, i) => h.withEntry('offer')[i]?.to === 'multicast' && t >= 0)).to.equal(
        true,
      );
    });

    it('§8 behaviour: Finds stop when the Offer arrives', async () => {
      const b = h.agent(B);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      await h.clock.advance(60); // first Find out at 55
      const a = h.agent(A);
      void a.offer({ ...SERVICE, endpoints: [EP_A] });
      await h.clock.advance(120); // A's first Offer at 60 + 55
      await h.clock.advance(10_000);
      const finds = h.withEntry('find').map((w) => w.time);
      expect(finds.every((t) => t < 115)).to.equal(true);
      expect(finds).to.deep.equal([55, 75]);
      expect(seen.map((s) => s.available)).to.deep.equal([true]);
    });

    it('§8 behaviour: Find answered by unicast Offer', async () => {
      await offerOnA(h);
      const b = h.agent(B);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId, majorVersion: 1 }).subscribe((x) => seen.push(x));
      await h.clock.advance(60);
      const find = h.withEntry('find', B)[0];
      const answer = h
        .wire()
        .find((w) => w.from === A && w.to === B && w.msg.entries.some((e) => e.type === 'offer'));
      expect(find?.time).to.equal(200 + 55);
      expect(answer?.time).to.equal(find?.time);
      expect(seen.map((s) => s.available)).to.deep.equal([true]);
    });

    it('§8 behaviour: StopOffer on shutdown', async () => {
      const a = await offerOnA(h);
      const b = h.agent(B);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      await h.clock.advance(100);
      await a.stop();
      await h.clock.advance(1);
      const last = h
        .wire()
        .filter((w) => w.from === A)
        .at(-1);
      expect(last?.to).to.equal('multicast');
      expect(last?.msg.entries.map((e) => e.type)).to.deep.equal(['stopOffer']);
      expect(seen.map((s) => (s.available ? 'up' : s.reason))).to.deep.equal(['up', 'stopOffer']);
    });

    it('§8 behaviour: TTL expiry removes services and subscriptions', async () => {
      const a = h.agent(A);
      const subscribers: SubscriberEvent[] = [];
      a.subscribers$.subscribe((e) => subscribers.push(e));
      void a.offer({ ...SERVICE, endpoints: [EP_A], eventgroups: [1] });
      await h.clock.advance(200);
      const events: SubscriptionEvent[] = [];
      const { b } = subscribeB(h, events);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      await h.clock.advance(100);
      expect(events.map((e) => e.state)).to.deep.equal(['subscribed']);
      // A goes silent (its link dies without StopOffer): B's view of A expires after TTL 3 s.
      await h.silence(a);
      await h.clock.advance(3000);
      expect(seen.map((s) => (s.available ? 'up' : s.reason))).to.deep.equal(['up', 'ttlExpired']);
      expect(events.map((e) => (e.state === 'lost' ? `lost:${e.reason}` : e.state))).to.deep.equal([
        'subscribed',
        'lost:ttlExpired',
      ]);
      // And A's subscriber B, no longer renewed, expires on A's side.
      expect(
        subscribers.map((s) => s.type + (s.reason === undefined ? '' : `:${s.reason}`)),
      ).to.deep.equal(['subscribed', 'unsubscribed:ttlExpired']);
    });

    it('§8 behaviour: reboot of the peer expires its state', async () => {
      const a1 = await offerOnA(h);
      const events: SubscriptionEvent[] = [];
      const { b } = subscribeB(h, events);
      const seen: ServiceAvailability[] = [];
      b.find({ serviceId: SERVICE.serviceId }).subscribe((x) => seen.push(x));
      await h.clock.advance(2000);
      // A reboots: its transport dies silently, a fresh agent comes up on the same address.
      await h.silence(a1);
      const a2 = h.agent(A);
      void a2.offer({ ...SERVICE, endpoints: [EP_A], eventgroups: [1] });
      await h.clock.advance(200);
      expect(seen.map((s) => (s.available ? 'up' : s.reason))).to.deep.equal([
        'up',
        'peerRebooted',
        'up',
      ]);
      expect(events.map((e) => (e.state === 'lost' ? `lost:${e.reason}` : e.state))).to.deep.equal([
        'subscribed',
        'lost:peerRebooted',
        'subscribed',
      ]);
    });

    it('§8 behaviour: Subscribe re-sent on each Offer', async () => {
      await offerOnA(h);
      const events: SubscriptionEvent[] = [];
      subscribeB(h, events);
      await h.clock.advance(4000);
      const offersToB = h
        .wire()
        .filter(
          (w) => w.from === A && w.msg.entries.some((e) => e.type === 'offer') && w.time >= 200,
        );
      const subscribes = h.withEntry('subscribe', B);
      // B learns of A only from the answer to its Find, then from each cyclic Offer: each
      // one triggers one Subscribe at the same instant, unicast to A.
      expect(offersToB.length).to.be.greaterThan(3);
      expect(subscribes.map((w) => w.time)).to.deep.equal(offersToB.map((w) => w.time));
      expect(subscribes.every((w) => w.to === A)).to.equal(true);
      expect(events.map((e) => e.state)).to.deep.equal(['subscribed']);
    });

    it('§8 behaviour: StopSubscribe+Subscribe pair when no Ack arrived', async () => {
      // The broker holds the Ack (channel never becomes active).
      await offerOnA(h, { policy: { onSubscribe: () => new Promise(() => undefined) } });
      const events: SubscriptionEvent[] = [];
      subscribeB(h, events);
      await h.clock.advance(1100);
      const pairs = h
        .withEntry('subscribe', B)
        .filter((w) => w.msg.entries.map((e) => e.type).join() === 'stopSubscribe,subscribe');
      expect(pairs.length).to.be.greaterThan(0);
      expect(pairs[0]?.to).to.equal(A);
      expect(events).to.deep.equal([]);
    });
  });

  describe('Against vsomeip specifically', () => {
    it('§8 vsomeip: drop SD from our own address; send from an address ≠ the peer’s', async () => {
      const a = await offerOnA(h);
      const errors: string[] = [];
      a.errors$.subscribe((e) => errors.push(e.message));
      const seen: ServiceAvailability[] = [];
      a.find({ serviceId: 0x7777 }).subscribe((x) => seen.push(x));
      // A message claiming A's own address is ignored entirely.
      h.deliver(a, {
        bytes: encodeSdMessage(
          packSdMessage({
            sessionId: 1,
            flags,
            entries: [
              { entry: { type: 'offer', ...SERVICE, serviceId: 0x7777, ttl: 3 }, options: [EP_B] },
            ],
          }),
        ),
        from: { address: A, port: 30490 },
        multicast: true,
      });
      await h.clock.advance(1);
      expect(seen).to.deep.equal([]);
      expect(h.wire().every((w) => w.from === A)).to.equal(true);
    });

    it('§8 vsomeip: listen for unicast SD on 30490 (replies go to <peer>:30490)', async () => {
      await offerOnA(h);
      const b = h.agent(B);
      b.find({ serviceId: SERVICE.serviceId }).subscribe();
      await h.clock.advance(100);
      const unicast = h.net.captured.filter((c) => c.to !== undefined);
      expect(unicast.length).to.be.greaterThan(0);
      for (const c of unicast) expect(c.to?.port).to.equal(30490);
    });

    it('§8 vsomeip: never reference SD-endpoint/load-balancing options from a Subscribe', async () => {
      const n = h.agent(B, {
        sdEndpoint: { type: 'ipv4SdEndpoint', address: B, protocol: 'udp', port: 30490 },
      });
      await offerOnA(h);
      n.subscribe({ ...SERVICE, eventgroupId: 1, endpoints: [EP_B] }).subscribe();
      await h.clock.advance(100);
      const subs = h.withEntry('subscribe', B);
      expect(subs.length).to.be.greaterThan(0);
      for (const w of subs)
        for (const e of w.msg.entries)
          for (const o of entryOptions(w.msg, e).options) expect(o.type).to.equal('ipv4Endpoint');
      expect(() =>
        n
          .subscribe({
            ...SERVICE,
            eventgroupId: 1,
            endpoints: [{ type: 'ipv4SdEndpoint', address: B, protocol: 'udp', port: 1 } as never],
          })
          .subscribe(),
      ).to.throw(/SD endpoint/);
    });

    it('§8 vsomeip: never put an unknown entry type in a message', async () => {
      for (const w of await scenario())
        for (const e of w.msg.entries)
          expect([
            'find',
            'offer',
            'stopOffer',
            'subscribe',
            'stopSubscribe',
            'subscribeAck',
            'subscribeNack',
          ]).to.include(e.type);
      const legacy = decodeSdMessage(fixtureBytes('vsomeip-find'));
      expect(() =>
        encodeSdMessage({
          ...legacy,
          entries: [{ ...(legacy.entries[0] as ServiceEntry), type: 'requestService' }],
        }),
      ).to.throw(/legacy entry types/);
    });
  });

  it('should expose every availability change as an Observable sequence', async () => {
    await offerOnA(h);
    const b = h.agent(B);
    const first = firstValueFrom(b.find({ serviceId: SERVICE.serviceId }).pipe(take(1), toArray()));
    await h.clock.advance(100);
    expect((await first).map((x) => x.available)).to.deep.equal([true]);
  });
});
