import { expect } from 'chai';
import fc from 'fast-check';
import { decodeSdMessage, encodeSdMessage } from '../src/wire/sd-message.js';
import type { SdMessage } from '../src/wire/sd-message.js';
import { isServiceEntry } from '../src/wire/entry.js';
import { endpointOption } from '../src/wire/endpoint-option.js';
import { sdMessage } from './support/arbitraries.js';
import { SdHarness } from './support/sd-harness.js';
import { fixtureBytes } from './support/fixtures.js';
import { fieldValues, tsharkMissing } from '@sivshm/testing';
import { tsharkDecode } from './support/tshark.js';

const hex4 = (v: number): string => `0x${v.toString(16).padStart(4, '0')}`;

/** What tshark must show for `m`, field by field, in the dissector's own notation. */
function expectDissected(layers: Record<string, unknown>, m: SdMessage): void {
  const someip = layers['someip'];
  const sd = layers['someipsd'];
  expect(fieldValues(someip, 'someip.messageid')).to.deep.equal(['0xffff8100']);
  expect(fieldValues(someip, 'someip.sessionid')).to.deep.equal([hex4(m.sessionId)]);
  expect(fieldValues(sd, 'someipsd.flags.reboot')).to.deep.equal([m.flags.reboot ? '1' : '0']);
  expect(fieldValues(sd, 'someipsd.flags.unicast')).to.deep.equal(['1']);
  expect(fieldValues(sd, 'someipsd.entry.serviceid')).to.deep.equal(
    m.entries.map((e) => hex4(e.serviceId)),
  );
  expect(fieldValues(sd, 'someipsd.entry.instanceid')).to.deep.equal(
    m.entries.map((e) => hex4(e.instanceId)),
  );
  expect(fieldValues(sd, 'someipsd.entry.majorver')).to.deep.equal(
    m.entries.map((e) => String(e.majorVersion)),
  );
  expect(fieldValues(sd, 'someipsd.entry.ttl')).to.deep.equal(m.entries.map((e) => String(e.ttl)));
  expect(fieldValues(sd, 'someipsd.entry.minorver')).to.deep.equal(
    m.entries.filter(isServiceEntry).map((e) => String(e.minorVersion)),
  );
  expect(fieldValues(sd, 'someipsd.entry.eventgroupid')).to.deep.equal(
    m.entries.flatMap((e) => (isServiceEntry(e) ? [] : [hex4(e.eventgroupId)])),
  );
  expect(fieldValues(sd, 'someipsd.option.type')).to.deep.equal(
    m.options.map((o) =>
      String(
        {
          configuration: 1,
          loadBalancing: 2,
          ipv4Endpoint: 4,
          ipv6Endpoint: 6,
          ipv4Multicast: 0x14,
          ipv6Multicast: 0x16,
          ipv4SdEndpoint: 0x24,
          ipv6SdEndpoint: 0x26,
          unknown: o.type === 'unknown' ? o.optionType : 0,
        }[o.type],
      ),
    ),
  );
  expect(fieldValues(sd, 'someipsd.option.port')).to.deep.equal(
    m.options.flatMap((o) => ('port' in o ? [String(o.port)] : [])),
  );
  expect(fieldValues(sd, 'someipsd.option.ipv4address')).to.deep.equal(
    m.options.flatMap((o) => ('address' in o && o.type.startsWith('ipv4') ? [o.address] : [])),
  );
  expect(fieldValues(sd, 'someipsd.option.ipv6address')).to.deep.equal(
    m.options.flatMap((o) => ('address' in o && o.type.startsWith('ipv6') ? [o.address] : [])),
  );
}

describe('SD encoder output under tshark (Wireshark SOME/IP-SD dissector)', function () {
  this.timeout(120_000);

  before(function () {
    const missing = tsharkMissing();
    if (missing !== undefined) {
      console.log(`      pending: ${missing}`);
      this.skip();
    }
  });

  describe('encodeSdMessage', () => {
    it('should produce golden packets that tshark decodes with zero expert items and the same fields', () => {
      const names = [
        'vsomeip-offer',
        'vsomeip-find',
        'stop-offer',
        'subscribe',
        'subscribe-ack-multicast',
        'subscribe-nack',
        'offer-ipv6-config-lb-sd-endpoint',
        'stop-subscribe-pair',
      ];
      const msgs = names.map((n) => decodeSdMessage(fixtureBytes(n)));
      const result = tsharkDecode(
        msgs.map((m) => ({ payload: encodeSdMessage(m), src: '10.0.0.1', dst: '10.0.0.2' })),
      );
      expect(result.expert).to.equal('');
      expect(result.packets).to.have.length(msgs.length);
      result.packets.forEach((p, i) => expectDissected(p, msgs[i] as SdMessage));
      const cfg = fieldValues(result.packets[6], 'someipsd.option.config_string');
      expect(cfg.join('|')).to.match(/abc=x/);
    });

    it('should produce 300 random valid messages that tshark decodes with zero expert items and the same fields', () => {
      const msgs = fc.sample(sdMessage, { numRuns: 300, seed: 4242 });
      const result = tsharkDecode(
        msgs.map((m, i) => ({
          payload: encodeSdMessage(m),
          src: '10.0.0.1',
          dst: i % 2 === 0 ? '224.244.224.245' : '10.0.0.2',
        })),
      );
      expect(result.expert).to.equal('');
      expect(result.packets).to.have.length(msgs.length);
      result.packets.forEach((p, i) => expectDissected(p, msgs[i] as SdMessage));
    });
  });

  describe('SdAgent traffic', () => {
    it('should be tshark-clean for a whole offer / find / subscribe / ack / nack / stop exchange', async () => {
      const h = new SdHarness();
      const a = h.agent('10.0.0.1', {
        policy: { mayConsume: (_peer, _s, _i, eventgroupId) => eventgroupId !== 2 },
      });
      const b = h.agent('10.0.0.2');
      const find = b.find({ serviceId: 0x1234 }).subscribe();
      await h.clock.advance(100);
      void a.offer({
        serviceId: 0x1234,
        instanceId: 1,
        majorVersion: 1,
        minorVersion: 0,
        endpoints: [
          endpointOption('10.0.0.1', 'udp', 30501),
          endpointOption('10.0.0.1', 'tcp', 30501),
        ],
        eventgroups: [1, 2],
      });
      await h.clock.advance(200);
      const endpoints = [endpointOption('10.0.0.2', 'udp', 40000)];
      const s1 = b
        .subscribe({
          serviceId: 0x1234,
          instanceId: 1,
          majorVersion: 1,
          eventgroupId: 1,
          endpoints,
        })
        .subscribe();
      const s2 = b
        .subscribe({
          serviceId: 0x1234,
          instanceId: 1,
          majorVersion: 1,
          eventgroupId: 2,
          endpoints,
        })
        .subscribe();
      await h.clock.advance(2500);
      s1.unsubscribe();
      s2.unsubscribe();
      find.unsubscribe();
      await h.stopAll();
      const wire = h.wire();
      const types = new Set(wire.flatMap((w) => w.msg.entries.map((e) => e.type)));
      expect([...types].sort()).to.deep.equal(
        [
          'find',
          'offer',
          'stopOffer',
          'stopSubscribe',
          'subscribe',
          'subscribeAck',
          'subscribeNack',
        ].sort(),
      );
      const result = tsharkDecode(
        wire.map((w) => ({
          payload: w.bytes,
          src: w.from,
          dst: w.to === 'multicast' ? '224.244.224.245' : w.to,
        })),
      );
      expect(result.expert).to.equal('');
      result.packets.forEach((p, i) => expectDissected(p, wire[i]?.msg as SdMessage));
    });
    it('should be tshark-clean for batched messages: 64 Offers, 64 Finds, 64 Subscribes and 64 Acks, each in one message', async () => {
      const h = new SdHarness();
      const a = h.agent('10.0.0.1');
      const b = h.agent('10.0.0.2');
      const instances = Array.from({ length: 64 }, (_, i) => i + 1);
      const subs = instances.map((instanceId) =>
        b
          .subscribe({
            serviceId: 0x1234,
            instanceId,
            majorVersion: 1,
            eventgroupId: 1,
            endpoints: [endpointOption('10.0.0.2', 'udp', 40000)],
          })
          .subscribe(),
      );
      // The 64 subscriptions share one Find of 0x1234 (one search per service); 64 searches of
      // other services fill the Find message.
      const finds = instances.map((i) => b.find({ serviceId: 0x3000 + i }).subscribe());
      await h.clock.advance(60); // the Finds go out before anything is offered
      for (const instanceId of instances)
        a.register({
          serviceId: 0x1234,
          instanceId,
          majorVersion: 1,
          minorVersion: 0,
          endpoints: [endpointOption('10.0.0.1', 'udp', 30501)],
          eventgroups: [1],
        });
      await h.clock.advance(1500);
      for (const s of [...subs, ...finds]) s.unsubscribe();
      await h.stopAll();
      const wire = h.wire();
      const most = (type: string): number =>
        Math.max(...wire.map((w) => w.msg.entries.filter((e) => e.type === type).length));
      for (const type of ['offer', 'subscribe', 'subscribeAck', 'stopOffer'])
        expect(most(type), type).to.equal(64);
      expect(most('find'), 'find').to.equal(65);
      const result = tsharkDecode(
        wire.map((w) => ({
          payload: w.bytes,
          src: w.from,
          dst: w.to === 'multicast' ? '224.244.224.245' : w.to,
        })),
      );
      expect(result.expert).to.equal('');
      expect(result.packets).to.have.length(wire.length);
      result.packets.forEach((p, i) => expectDissected(p, wire[i]?.msg as SdMessage));
    });
  });

  describe('decodeSdMessage', () => {
    it('should reject what tshark calls malformed (truncated) as well', () => {
      const b = fixtureBytes('vsomeip-offer').subarray(0, 52);
      const result = tsharkDecode([{ payload: b, src: '10.0.0.1', dst: '10.0.0.2' }]);
      expect(result.expert).to.match(/Truncated|truncated/);
      expect(() => decodeSdMessage(b)).to.throw(/SD byte/);
    });
  });
});
