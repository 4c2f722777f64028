import { expect } from 'chai';
import fc from 'fast-check';
import type { CoreError } from '../errors/core-error.js';
import { decodeProto, encodeProto, protoRoot, type ProtoObject } from './proto-codec.js';

describe('proto-codec', () => {
  describe('encodeProto', () => {
    it('should keep a string field that holds "0" and drop a 64-bit field that is "0"', () => {
      const bytes = encodeProto('AbortBody', {
        channelId: '0',
        reqSeq: '7',
        reason: 3,
        detail: '0',
      });
      const back = decodeProto('AbortBody', bytes);
      expect(back['detail']).to.equal('0');
      expect(String(back['reqSeq'])).to.equal('7');
      // channel_id 0 is the default: absent on the wire, so one value has one encoding.
      expect(bytes).to.deep.equal(
        encodeProto('AbortBody', { reqSeq: '7', reason: 3, detail: '0' }),
      );
    });

    it('should give back every string detail it was given', () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (detail) => {
          const back = decodeProto('AbortBody', encodeProto('AbortBody', { reason: 1, detail }));
          expect(back['detail'] ?? '').to.equal(detail);
        }),
        { numRuns: 500, seed: 2026 },
      );
    });
  });
});

/** The canonical check as it was: re-encode the plain object with its defaults dropped. */
function referenceVerdict(name: string, bytes: Uint8Array): string {
  const t = protoRoot().lookupType(`sivshm.v1.${name}`);
  let obj: ProtoObject;
  try {
    obj = t.toObject(t.decode(bytes), {
      longs: String,
      bytes: Uint8Array as unknown as typeof String,
      defaults: true,
      arrays: true,
    }) as ProtoObject;
  } catch {
    return 'ERR_DECODE';
  }
  const again = encodeProto(name, obj);
  const same = again.length === bytes.length && again.every((x, i) => x === bytes[i]);
  return same
    ? `ok ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v))}`
    : 'ERR_NON_CANONICAL';
}

function verdict(name: string, bytes: Uint8Array): string {
  try {
    const obj = decodeProto(name, bytes);
    return `ok ${JSON.stringify(obj, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v))}`;
  } catch (e) {
    return (e as CoreError).code;
  }
}

describe('decodeProto canonical check', () => {
  const names = ['OfferBody', 'RequestBody', 'AcceptBody', 'GrantConsumerBody', 'HandshakeMessage'];
  const valid = fc.constantFrom(...names).chain((name) =>
    fc.record({
      name: fc.constant(name),
      bytes: fc.uint8Array({ minLength: 0, maxLength: 200 }),
      edits: fc.array(
        fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.nat(3) }),
        { maxLength: 4 },
      ),
    }),
  );

  it('should give the verdicts and values the object re-encoding gave, on valid, mutated and random bytes (2 000 runs)', () => {
    const seeds: Record<string, Uint8Array> = {
      OfferBody: encodeProto('OfferBody', {
        channelId: '77',
        epoch: '3',
        cVm: 2,
        pVm: 1,
        windowOffset: '4096',
        windowLength: '24576',
        mode: 1,
        nonceH: new Uint8Array(32).fill(5),
        certC: { tbs: new Uint8Array(40).fill(6), sig: new Uint8Array(64).fill(7) },
        m1: { type: 1, body: new Uint8Array(20).fill(8), sig: new Uint8Array(64).fill(9) },
      }),
      RequestBody: encodeProto('RequestBody', {
        version: 1,
        service: 0x1234,
        instance: 1,
        major: 1,
        reqSeq: '9',
        nonceC: new Uint8Array(32).fill(1),
      }),
      AcceptBody: encodeProto('AcceptBody', { channelId: '5', knP: new Uint8Array(16).fill(2) }),
      GrantConsumerBody: encodeProto('GrantConsumerBody', {
        m2Body: new Uint8Array(10).fill(3),
        grantToken: new Uint8Array(8).fill(4),
      }),
      HandshakeMessage: encodeProto('HandshakeMessage', {
        type: 2,
        body: new Uint8Array(12).fill(1),
        sig: new Uint8Array(64).fill(2),
      }),
    };
    fc.assert(
      fc.property(valid, fc.boolean(), ({ name, bytes, edits }, fromSeed) => {
        const b = fromSeed ? [...seeds[name]!] : [...bytes];
        for (const e of edits) {
          const at = b.length === 0 ? 0 : e.at % (b.length + 1);
          if (e.op === 0)
            b.splice(at, 0, e.byte); // insert
          else if (e.op === 1)
            b.splice(at, 1); // delete
          else if (e.op === 2 && at < b.length)
            b[at] = e.byte; // change
          else b.push(...b.slice(0, Math.min(b.length, 3))); // a field again (duplicate)
        }
        const input = new Uint8Array(b);
        expect(verdict(name, input)).to.equal(referenceVerdict(name, input));
      }),
      { numRuns: 2000, seed: 1208 },
    );
  });

  it('should refuse a field written with its default value, at the top and inside a message', () => {
    const plain = encodeProto('AcceptBody', { channelId: '5', knP: new Uint8Array(16).fill(2) });
    // channel_id (field 1, varint) = 0 written explicitly before the rest
    expect(verdict('AcceptBody', new Uint8Array([0x08, 0x00, ...plain.subarray(2)]))).to.equal(
      'ERR_NON_CANONICAL',
    );
    const inner = encodeProto('HandshakeMessage', { type: 1, body: new Uint8Array([1]) });
    const withZero = new Uint8Array([...inner, 0x1a, 0x00]); // sig = empty bytes, explicitly
    expect(verdict('HandshakeMessage', withZero)).to.equal('ERR_NON_CANONICAL');
    expect(verdict('HandshakeMessage', inner).startsWith('ok')).to.equal(true);
  });
});
