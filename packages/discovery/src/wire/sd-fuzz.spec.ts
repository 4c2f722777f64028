import { expect } from 'chai';
import fc from 'fast-check';
import { sdMessage } from '../../test/support/arbitraries.js';
import { fixtureBytes } from '../../test/support/fixtures.js';
import { DiscoveryError } from '../errors/discovery-error.js';
import { decodeSdMessage, encodeSdMessage } from './sd-message.js';

const GOLDEN = [
  'vsomeip-offer',
  'vsomeip-find',
  'subscribe',
  'subscribe-ack-multicast',
  'offer-ipv6-config-lb-sd-endpoint',
  'offer-unknown-option',
  'stop-subscribe-pair',
].map(fixtureBytes);

/** The outcome of decoding, as comparable data: the message or the error code and text. */
function outcome(bytes: Uint8Array): unknown {
  try {
    return { ok: decodeSdMessage(bytes) };
  } catch (e) {
    if (!DiscoveryError.is(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

/** Golden packets with random byte edits, cuts and extensions (length field kept in step). */
const mutated = fc
  .tuple(
    fc.integer({ min: 0, max: GOLDEN.length - 1 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.integer({ min: -12, max: 12 }),
    fc.boolean(),
  )
  .map(([g, edits, grow, fixLength]) => {
    const base = GOLDEN[g] ?? new Uint8Array();
    const b = new Uint8Array(Math.max(0, base.length + grow));
    b.set(base.subarray(0, b.length));
    for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
    if (fixLength && b.length >= 8) new DataView(b.buffer).setUint32(4, b.length - 8);
    return b;
  });

describe('SdMessage codec (property-based)', () => {
  describe('decodeSdMessage', () => {
    it('should throw nothing but DiscoveryError for arbitrary bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
          outcome(b);
        }),
        { numRuns: 2000 },
      );
    });

    it('should throw nothing but DiscoveryError for mutated golden packets', () => {
      fc.assert(
        fc.property(mutated, (b) => {
          outcome(b);
        }),
        { numRuns: 3000 },
      );
    });

    it('should never read past a length: the bytes after the message change nothing', () => {
      fc.assert(
        fc.property(mutated, fc.uint8Array({ minLength: 1, maxLength: 64 }), (b, junk) => {
          const backing = new Uint8Array(b.length + junk.length);
          backing.set(b);
          backing.set(junk, b.length);
          expect(outcome(backing.subarray(0, b.length))).to.deep.equal(outcome(b.slice()));
        }),
        { numRuns: 2000 },
      );
    });

    it('should never read past an option Length: what follows an option changes nothing in it', () => {
      const head = fixtureBytes('vsomeip-offer').subarray(0, 40);
      const optionType = fc.constantFrom(0x01, 0x02, 0x04, 0x06, 0x14, 0x16, 0x24, 0x26, 0x99);
      /** One option with a random body of the Length it declares. */
      const option = fc
        .tuple(optionType, fc.uint8Array({ minLength: 1, maxLength: 30 }))
        .map(([t, body]) => [body.length >> 8, body.length & 0xff, t, ...body]);
      /** A valid unknown option (type 0x77) with random content. */
      const filler = fc
        .uint8Array({ minLength: 1, maxLength: 30 })
        .map((body) => [0, body.length, 0x77, ...body]);
      const message = (opts: number[]): Uint8Array => {
        const b = new Uint8Array([...head, 0, 0, 0, 0, ...opts]);
        const v = new DataView(b.buffer);
        v.setUint32(40, opts.length);
        v.setUint32(4, b.length - 8);
        return b;
      };
      const first = (b: Uint8Array): unknown => {
        const r = outcome(b) as { ok?: { options: unknown[] }; code?: string };
        return r.ok === undefined ? r : r.ok.options[0];
      };
      fc.assert(
        fc.property(option, filler, filler, (o, f1, f2) => {
          expect(first(message([...o, ...f1]))).to.deep.equal(first(message([...o, ...f2])));
        }),
        { numRuns: 3000 },
      );
    });
  });

  describe('encodeSdMessage', () => {
    it('should round-trip every valid message: decode(encode(m)) equals m', () => {
      fc.assert(
        fc.property(sdMessage, (m) => {
          expect(decodeSdMessage(encodeSdMessage(m))).to.deep.equal(m);
        }),
        { numRuns: 1000 },
      );
    });
  });
});
