// Fuzzed network input against the import path: whatever bytes a network provider sends, the
// filter and the caller never throw, only a notification of a subscribed event goes on towards
// the VMs, and only through the runtime's publishBytes check, which passes exactly the payloads
// that decode as the event's protobuf type; only an answer to a request in flight settles a call.
import { expect } from 'chai';
import fc from 'fast-check';
import { loadConfig, type ServiceConfig } from '@sivshm/core';
import { RuntimeError, encodedPayloadCheck } from '@sivshm/runtime';
import { examplePath } from '@sivshm/testing';
import { encodeSomeIp, splitSomeIpDatagram } from '../someip/someip-message.js';
import { InboundFilter } from './inbound-filter.js';
import { NetworkCaller } from './network-caller.js';

describe('the import path under fuzzed network input', () => {
  let config: ServiceConfig;
  before(async () => {
    config = await loadConfig(examplePath('services.yaml'));
  });

  const header = fc.record({
    serviceId: fc.oneof(fc.constant(0x1234), fc.integer({ min: 0, max: 0xffff })),
    methodId: fc.oneof(fc.constantFrom(1, 0x8001), fc.integer({ min: 0, max: 0xffff })),
    clientId: fc.oneof(fc.constantFrom(0, 2), fc.integer({ min: 0, max: 0xffff })),
    sessionId: fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: 0, max: 0xffff })),
    interfaceVersion: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
    messageType: fc.constantFrom(0x00, 0x01, 0x02, 0x40, 0x80, 0x81, 0xff),
    returnCode: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
    payload: fc.uint8Array({ maxLength: 40 }),
  });
  // Notifications of the subscribed event with a fuzzed payload: some decode, some do not.
  const event = fc.uint8Array({ maxLength: 24 }).map((payload) => ({
    serviceId: 0x1234,
    methodId: 0x8001,
    clientId: 0,
    sessionId: 1,
    interfaceVersion: 1,
    messageType: 0x02,
    returnCode: 0,
    payload,
  }));
  const datagram = fc.oneof(
    fc
      .array(fc.oneof(header, event), { minLength: 1, maxLength: 3 })
      .map((ms) => Buffer.concat(ms.map(encodeSomeIp))),
    fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
  );

  it('should never throw, pass on only events of the subscribed eventgroup that decode, and settle only calls in flight', async () => {
    const service = config.services.find((s) => s.name === 'VehicleSpeed')!;
    const imp = { service: service.name, instance: 1, udpPort: 30701, eventgroups: [1] };
    const speedType = config.protoRoot.lookupType('sivshm.demo.VehicleSpeed');
    const publishCheck = encodedPayloadCheck(speedType, 'event speed');
    /** What publishBytes' check says of `payload`: the error code, or 'passes'. */
    const verdict = (payload: Uint8Array): string => {
      try {
        publishCheck(payload);
        return 'passes';
      } catch (e) {
        return RuntimeError.is(e) ? e.code : String(e);
      }
    };
    let eventsSeen = 0;
    let eventsRefused = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(datagram, { maxLength: 8 }), async (datagrams) => {
        const filter = new InboundFilter(service, imp);
        const caller = new NetworkCaller(2, 60_000);
        const sent: Uint8Array[] = [];
        const waiting = [1, 2].map(() =>
          caller
            .call(
              { serviceId: 0x1234, methodId: 1, interfaceVersion: 1, payload: new Uint8Array(0) },
              (b) => sent.push(b),
            )
            .then(
              (m) => ({ settled: m }),
              () => ({ settled: undefined }),
            ),
        );
        let answers = 0;
        for (const d of datagrams) {
          const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
          for (const m of splitSomeIpDatagram(bytes, 64 * 1024).messages) {
            const r = filter.classify(m);
            if (r.kind === 'event') {
              eventsSeen++;
              expect(m).to.include({ serviceId: 0x1234, methodId: 0x8001, interfaceVersion: 1 });
              expect(m).to.include({ protocolVersion: 1, messageType: 0x02, clientId: 0 });
              expect(r.payload).to.equal(m.payload);
              let decodes = true;
              try {
                speedType.decode(m.payload);
              } catch {
                decodes = false;
              }
              expect(verdict(r.payload)).to.equal(decodes ? 'passes' : 'ERR_BAD_PAYLOAD');
              if (!decodes) eventsRefused++;
            }
            if (r.kind === 'answer' && caller.answer(r.message)) {
              answers++;
              expect(m).to.include({ clientId: 2, methodId: 1, serviceId: 0x1234 });
              expect([0x80, 0x81]).to.include(m.messageType);
            }
          }
        }
        caller.failAll('done');
        const results = await Promise.all(waiting);
        expect(results.filter((x) => x.settled !== undefined)).to.have.length(answers);
        expect(sent).to.have.length(2);
      }),
      { numRuns: 400 },
    );
    expect(eventsSeen, 'some generated events were valid').to.be.greaterThan(eventsRefused);
    expect(eventsRefused, 'some generated events did not decode').to.be.greaterThan(0);
  });
});
