import { expect } from 'chai';
import fc from 'fast-check';
import { tpSegments as specSegments } from '../../test/support/tp-segments.js';
import { newCounters } from '../edge/gateway-counters.js';
import { LargeMessagePolicy, sendSomeIp } from './large-message.js';
import { encodeSomeIp, splitSomeIpDatagram, type SomeIpMessage } from './someip-message.js';
import { TpReassembler, type TpOutcome } from './tp-reassembler.js';
import { tpSegments } from './tp-segmenter.js';

type Unsent = Omit<SomeIpMessage, 'protocolVersion'>;

/** A notification of `size` payload bytes in a recognisable pattern. */
const notification = (size: number): Unsent => ({
  serviceId: 0x1234,
  methodId: 0x8001,
  clientId: 0x0007,
  sessionId: 0x0042,
  interfaceVersion: 3,
  messageType: 0x02,
  returnCode: 0,
  payload: Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff),
});

/** Each segment as a receiver frames it: one message per datagram, nothing malformed. */
function framed(segments: readonly Uint8Array[]): SomeIpMessage[] {
  return segments.map((d) => {
    const split = splitSomeIpDatagram(d, 1 << 20);
    expect(split.malformed).to.equal(undefined);
    expect(split.messages).to.have.length(1);
    return split.messages[0]!;
  });
}

/** The TP header of a framed segment: byte offset and More Segments. */
const tpHeader = (m: SomeIpMessage) => {
  const word = new DataView(m.payload.buffer, m.payload.byteOffset, 4).getUint32(0);
  return { offset: (word >>> 4) * 16, more: (word & 1) === 1, reserved: (word >>> 1) & 7 };
};

describe('SOME/IP-TP segmentation', () => {
  it('should make exactly one segment, More Segments clear, of a payload of one segment size', () => {
    const [only, ...rest] = framed(tpSegments(encodeSomeIp(notification(1392)), 1392));
    expect(rest).to.have.length(0);
    expect(only!.messageType).to.equal(0x22);
    expect(only!.payload.byteLength).to.equal(4 + 1392);
    expect(tpHeader(only!)).to.deep.equal({ offset: 0, more: false, reserved: 0 });
  });

  it('should cut every segment but the last at the 16-byte multiple, the last shorter', () => {
    const segments = framed(tpSegments(encodeSomeIp(notification(3000)), 1392));
    expect(segments.map((s) => s.payload.byteLength - 4)).to.deep.equal([1392, 1392, 216]);
    expect(segments.map(tpHeader)).to.deep.equal([
      { offset: 0, more: true, reserved: 0 },
      { offset: 1392, more: true, reserved: 0 },
      { offset: 2784, more: false, reserved: 0 },
    ]);
    // One byte past a segment: a second segment of one byte.
    const over = framed(tpSegments(encodeSomeIp(notification(1393)), 1392));
    expect(over.map((s) => s.payload.byteLength - 4)).to.deep.equal([1392, 1]);
  });

  it('should keep Message ID, Request ID, versions and Return Code in every segment, with the TP flag set', () => {
    const m = { ...notification(5000), messageType: 0x80, returnCode: 0 };
    for (const s of framed(tpSegments(encodeSomeIp(m), 1024))) {
      expect(s).to.include({
        serviceId: 0x1234,
        methodId: 0x8001,
        clientId: 0x0007,
        sessionId: 0x0042,
        protocolVersion: 1,
        interfaceVersion: 3,
        messageType: 0xa0,
        returnCode: 0,
      });
    }
  });

  it('should segment the largest payload the gateway takes (64 KiB) at the smallest and the default segment size', () => {
    for (const size of [16, 1392]) {
      const segments = framed(tpSegments(encodeSomeIp(notification(64 * 1024)), size));
      expect(segments).to.have.length(Math.ceil((64 * 1024) / size));
      const last = tpHeader(segments.at(-1)!);
      expect(last.more).to.equal(false);
      expect(last.offset).to.equal(Math.floor((64 * 1024 - 1) / size) * size);
    }
  });

  it('should refuse a segment size that is not a positive multiple of 16', () => {
    for (const bad of [0, 8, 1000, 1392.5])
      expect(() => tpSegments(encodeSomeIp(notification(100)), bad)).to.throw(RangeError, /16/);
  });

  it('should round-trip any message through the reassembler, byte-identical to a specification-written segmenter', () => {
    fc.assert(
      fc.property(
        fc.record({
          serviceId: fc.integer({ min: 0, max: 0xfffe }),
          methodId: fc.integer({ min: 0, max: 0xffff }),
          clientId: fc.integer({ min: 0, max: 0xffff }),
          sessionId: fc.integer({ min: 1, max: 0xffff }),
          interfaceVersion: fc.integer({ min: 0, max: 0xff }),
          messageType: fc.constantFrom(0x00, 0x01, 0x02, 0x80, 0x81),
          returnCode: fc.integer({ min: 0, max: 0x5e }),
          payload: fc.uint8Array({ minLength: 0, maxLength: 9000 }),
        }),
        fc.integer({ min: 1, max: 87 }).map((units) => units * 16),
        (m: Unsent, segment) => {
          const segments = tpSegments(encodeSomeIp(m), segment);
          // The specification-written segmenter of the tests' peers makes the same bytes.
          const expected = specSegments(m, segment).map((s) => encodeSomeIp(s));
          expect(segments.map((s) => Buffer.from(s).toString('hex'))).to.deep.equal(
            expected.map((s) => Buffer.from(s).toString('hex')),
          );
          const r = new TpReassembler({ maxPayload: 64 * 1024 }, newCounters());
          const outcomes = framed(segments).map((s) => r.add('10.0.0.9:30501', s));
          const last = outcomes.at(-1) as Extract<TpOutcome, { kind: 'complete' }>;
          expect(outcomes.slice(0, -1).every((o) => o.kind === 'partial')).to.equal(true);
          expect(last.kind).to.equal('complete');
          expect(Buffer.from(last.message.payload).equals(Buffer.from(m.payload))).to.equal(true);
          expect({ ...last.message, payload: undefined }).to.deep.equal({
            ...m,
            protocolVersion: 1,
            payload: undefined,
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('LargeMessagePolicy', () => {
  const entry = { section: 'export', service: 'VehicleSpeed', instance: 1 } as const;
  it('should give the segments and count them when the service has tp', () => {
    const counters = newCounters();
    const lines: string[] = [];
    const p = new LargeMessagePolicy(1392, entry, counters, (l) => lines.push(l));
    expect(p.datagrams(encodeSomeIp(notification(3000)))).to.have.length(3);
    expect(counters).to.include({ tpSegmented: 1, oversized: 0 });
    expect(lines).to.deep.equal([]);
  });

  it('should send the message whole without tp, counted every time and logged once with the fix', () => {
    const counters = newCounters();
    const lines: string[] = [];
    const p = new LargeMessagePolicy(undefined, entry, counters, (l) => lines.push(l));
    const m = encodeSomeIp(notification(3000));
    expect(p.datagrams(m)).to.deep.equal([m]);
    expect(p.datagrams(m)).to.deep.equal([m]);
    expect(counters).to.include({ tpSegmented: 0, oversized: 2 });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.contain('VehicleSpeed/1: a 3016-byte SOME/IP message');
    expect(lines[0]).to.contain(
      "enable tp for service VehicleSpeed: add 'tp: true' to its gateway.export entry",
    );
  });

  it('should send a message that fits alone and one past the budget as its segments, in order (import requests, export responses)', () => {
    const sent: Array<{ bytes: Uint8Array; port: number; address: string }> = [];
    const sink = {
      send: (bytes: Uint8Array, port: number, address: string) =>
        void sent.push({ bytes, port, address }),
    };
    const entry2 = { section: 'import', service: 'VehicleSpeed', instance: 2 } as const;
    const p = new LargeMessagePolicy(1392, entry2, newCounters(), () => undefined);
    const small = encodeSomeIp(notification(1384)); // 1 400 bytes: exactly the budget
    sendSomeIp(sink, p, 1400, small, 30501, '10.0.0.9');
    expect(sent.map((d) => d.bytes)).to.deep.equal([small]);
    sent.length = 0;
    // Past the budget but within one segment: whole (a lone segment would add nothing).
    const within = encodeSomeIp(notification(1392));
    sendSomeIp(sink, p, 1400, within, 30501, '10.0.0.9');
    expect(sent.map((d) => d.bytes)).to.deep.equal([within]);
    sent.length = 0;
    const request = encodeSomeIp({ ...notification(1393), messageType: 0x00 });
    sendSomeIp(sink, p, 1400, request, 30501, '10.0.0.9');
    expect(sent.map((d) => [d.address, d.port, d.bytes.byteLength])).to.deep.equal([
      ['10.0.0.9', 30501, 16 + 4 + 1392],
      ['10.0.0.9', 30501, 16 + 4 + 1],
    ]);
    expect(framed(sent.map((d) => d.bytes)).map((m) => m.messageType)).to.deep.equal([0x20, 0x20]);
  });
});
