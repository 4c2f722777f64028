// Fuzzed network input against the method path: whatever bytes arrive, the bridge never throws,
// and the only requests handed to the VM side are well-formed requests of an exported method
// whose payload decoded as that method's protobuf request type.
import { expect } from 'chai';
import fc from 'fast-check';
import { loadConfig, type ServiceConfig } from '@sivshm/core';
import type { ConsumedService } from '@sivshm/runtime';
import { examplePath } from '@sivshm/testing';
import { newCounters } from '../edge/gateway-counters.js';
import { PeerBudgets } from '../edge/peer-budget.js';
import { encodeSomeIp, splitSomeIpDatagram } from '../someip/someip-message.js';
import { MethodBridge } from './method-bridge.js';

interface Call {
  readonly method: string;
  readonly request: object;
}

/** The VM side as the bridge sees it: records each call and answers it at once. */
function recordingService(calls: Call[]): ConsumedService {
  return {
    call: (method: string, request: object) => {
      calls.push({ method, request });
      return Promise.resolve({ previous_odometer_m: 1 });
    },
  } as unknown as ConsumedService;
}

describe('MethodBridge under fuzzed network input', () => {
  let config: ServiceConfig;
  before(async () => {
    config = await loadConfig(examplePath('services.yaml'));
  });

  const header = fc.record({
    serviceId: fc.oneof(fc.constant(0x1234), fc.integer({ min: 0, max: 0xffff })),
    methodId: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 0xffff })),
    clientId: fc.integer({ min: 0, max: 0xffff }),
    sessionId: fc.integer({ min: 0, max: 0xffff }),
    interfaceVersion: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 255 })),
    messageType: fc.constantFrom(0x00, 0x01, 0x02, 0x40, 0x80, 0x81, 0xff),
    returnCode: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })),
    payload: fc.uint8Array({ maxLength: 40 }),
  });
  // Requests of the exported method with a payload that decodes (odometer_m below 128), so
  // that every run has well-formed ones: fuzzed headers alone are valid too rarely to count on.
  const valid = fc.record({
    serviceId: fc.constant(0x1234),
    methodId: fc.constant(1),
    clientId: fc.integer({ min: 0, max: 0xffff }),
    sessionId: fc.integer({ min: 0, max: 0xffff }),
    interfaceVersion: fc.constant(1),
    messageType: fc.constantFrom(0x00, 0x01),
    returnCode: fc.constant(0),
    payload: fc.integer({ min: 0, max: 127 }).map((n) => Uint8Array.of(0x08, n)),
  });
  // Whole messages (some valid) and raw junk, several to a datagram.
  const datagram = fc.oneof(
    fc
      .array(fc.oneof(header, valid), { minLength: 1, maxLength: 3 })
      .map((ms) => Buffer.concat(ms.map(encodeSomeIp))),
    fc.uint8Array({ maxLength: 120 }).map((b) => Buffer.from(b)),
  );

  it('should never throw and hand the VM only decoded requests of the exported methods', async () => {
    const service = config.services.find((s) => s.name === 'VehicleSpeed')!;
    const requestType = config.protoRoot.lookupType('sivshm.demo.ResetRequest');
    let callsSeen = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(datagram, { maxLength: 8 }), async (datagrams) => {
        const calls: Call[] = [];
        const sent: Uint8Array[] = [];
        const counters = newCounters();
        const bridge = new MethodBridge(
          config,
          service,
          () => recordingService(calls),
          counters,
          new PeerBudgets(),
          100,
        );
        const expected: object[] = [];
        for (const d of datagrams) {
          const split = splitSomeIpDatagram(d, 1024);
          for (const m of split.messages) {
            const wellFormed =
              m.serviceId === 0x1234 &&
              m.methodId === 1 &&
              m.protocolVersion === 1 &&
              m.interfaceVersion === 1 &&
              m.returnCode === 0 &&
              (m.messageType === 0 || m.messageType === 1);
            let decoded: object | undefined;
            try {
              decoded = requestType.toObject(requestType.decode(m.payload));
            } catch {
              decoded = undefined;
            }
            if (wellFormed && decoded !== undefined) expected.push(decoded);
            bridge.handle(m, { address: '10.0.0.9', send: (b) => void sent.push(b) });
          }
        }
        await new Promise((r) => setImmediate(r));
        callsSeen += calls.length;
        expect(calls.map((c) => c.method)).to.deep.equal(expected.map(() => 'reset'));
        expect(calls.map((c) => requestType.toObject(c.request as never))).to.deep.equal(expected);
        for (const b of sent) expect(b[14] === 0x80 || b[14] === 0x81).to.equal(true);
      }),
      { numRuns: 300 },
    );
    expect(
      callsSeen,
      'some fuzzed requests were well-formed and reached the VM side',
    ).to.be.greaterThan(0);
  });

  it('should skip Magic Cookies without an answer, a call or a count (PRS_SOMEIP_00159ff)', () => {
    const service = config.services.find((s) => s.name === 'VehicleSpeed')!;
    const calls: Call[] = [];
    const sent: Uint8Array[] = [];
    const counters = newCounters();
    const bridge = new MethodBridge(
      config,
      service,
      () => recordingService(calls),
      counters,
      new PeerBudgets(),
      100,
    );
    // The client's cookie (0xFFFF0000, type 0x01) and the server's (0xFFFF8000, type 0x02).
    const cookies = Buffer.from(
      'ffff000000000008deadbeef01010100' + 'ffff800000000008deadbeef01010200',
      'hex',
    );
    for (const m of splitSomeIpDatagram(cookies, 1024).messages)
      bridge.handle(m, { address: '10.0.0.9', send: (b) => void sent.push(b) });
    expect(calls).to.deep.equal([]);
    expect(sent).to.deep.equal([]);
    expect(counters).to.deep.equal(newCounters());
  });
});
