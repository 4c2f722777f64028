import { expect } from 'chai';
import fc from 'fast-check';
import { MessageType, ReturnCode, encodeSomeIp } from './someip-message.js';
import { SomeIpStreamReader } from './someip-stream.js';

const message = (sessionId: number, payload: number[]) =>
  encodeSomeIp({
    serviceId: 0x1234,
    methodId: 1,
    clientId: 0x42,
    sessionId,
    interfaceVersion: 1,
    messageType: MessageType.request,
    returnCode: ReturnCode.ok,
    payload: Uint8Array.from(payload),
  });

describe('SomeIpStreamReader (SOME/IP over TCP)', () => {
  it('should return the same messages however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 30 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const stream = Buffer.concat(payloads.map((p, i) => message(i + 1, [...p])));
          const reader = new SomeIpStreamReader(64);
          const sessions: number[] = [];
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = cuts[i % cuts.length]!;
            const split = reader.push(stream.subarray(at, at + n));
            expect(split.malformed).to.equal(undefined);
            sessions.push(...split.messages.map((m) => m.sessionId));
            at += n;
          }
          expect(sessions).to.deep.equal(payloads.map((_, i) => i + 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should report a Length below 8 or above the payload bound, which it cannot resynchronise from', () => {
    const low = Buffer.from(message(1, []));
    low.writeUInt32BE(7, 4);
    expect(new SomeIpStreamReader(64).push(low).malformed).to.equal('length');
    expect(new SomeIpStreamReader(4).push(message(1, [1, 2, 3, 4, 5])).malformed).to.equal(
      'tooLarge',
    );
  });

  it('should never throw and never hold more than one message on arbitrary bytes (fuzz)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 10 }), (chunks) => {
        const reader = new SomeIpStreamReader(64);
        for (const c of chunks) {
          const split = reader.push(c);
          if (split.malformed !== undefined) break;
          for (const m of split.messages) expect(m.payload.byteLength).to.be.at.most(64);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
