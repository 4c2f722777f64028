import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { decodeCopy } from './decode-from.js';
import { decodeOwned } from './decode-owned.js';
import { allMessage } from './fixtures/arbitraries.js';
import { schemas, smallVehicleSignal } from './fixtures/test-schemas.js';

const { All, VehicleSignal } = schemas;

function inShared(bytes: Uint8Array): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(bytes.length + 80), 40, bytes.length);
  view.set(bytes);
  return view;
}

/** Every Uint8Array reachable from `value` (fields, arrays, map values, nested messages). */
function byteViews(value: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (value instanceof Uint8Array) out.push(value);
  else if (typeof value === 'object' && value !== null)
    for (const v of Object.values(value)) byteViews(v, out);
  return out;
}

/**
 * Runs `fn` while recording the buffer protobufjs reads each `bytes` field from (a prototype
 * method: `Reader.create` replaces itself on first use, so a spy on it can miss calls).
 */
function readersDuring(fn: () => void): Uint8Array[] {
  const seen: Uint8Array[] = [];
  const original = protobuf.Reader.prototype.bytes;
  protobuf.Reader.prototype.bytes = function spyBytes(this: protobuf.Reader) {
    seen.push(this.buf);
    return original.call(this);
  };
  try {
    fn();
  } finally {
    protobuf.Reader.prototype.bytes = original;
  }
  return seen;
}

describe('decodeOwned', () => {
  it('should decode from the view itself, with no copy of the payload first', () => {
    const view = inShared(VehicleSignal.encode(smallVehicleSignal()).finish());
    const seen = readersDuring(() => decodeOwned(VehicleSignal, view));
    expect(seen).to.have.length(1); // id (the small signal's payload is empty)
    for (const buf of seen) expect(buf).to.equal(view); // the very view: the record's memory
  });

  it('should copy the bytes fields: they outlive the record when its memory is reused', () => {
    const message: Record<string, unknown> = {
      ...smallVehicleSignal(),
      payload: new Uint8Array(64).fill(0x5a),
    };
    const view = inShared(VehicleSignal.encode(message).finish());
    const owned = decodeOwned<{ id: Uint8Array; payload: Uint8Array }>(VehicleSignal, view);
    view.fill(0xee); // the slot is reused by the next record
    expect(owned.id).to.deep.equal(message['id']);
    expect(owned.payload).to.deep.equal(message['payload']);
    expect(owned.payload.buffer).to.not.equal(view.buffer);
  });

  it('should equal decodeCopy for any message of every field kind, and alias none of the view', () => {
    fc.assert(
      fc.property(allMessage, (m) => {
        const view = inShared(All.encode(All.fromObject(m)).finish());
        const owned = decodeOwned(All, view);
        // Both give 64-bit values as decimal strings (toObject without `longs` keeps them).
        expect(All.toObject(owned as unknown as protobuf.Message)).to.deep.equal(
          All.toObject(decodeCopy(All, view) as unknown as protobuf.Message),
        );
        for (const bytes of byteViews(owned)) expect(bytes.buffer).to.not.equal(view.buffer);
      }),
      { numRuns: 200 },
    );
  });

  it('should decode a codec that is not a reflection Type from a copy', () => {
    const codec = {
      encode: VehicleSignal.encode.bind(VehicleSignal),
      decode: VehicleSignal.decode.bind(VehicleSignal),
    };
    const view = inShared(VehicleSignal.encode(smallVehicleSignal()).finish());
    const seen = readersDuring(() => decodeOwned(codec, view));
    expect(seen).to.have.length(1);
    for (const buf of seen) expect(buf.buffer).to.not.be.instanceOf(SharedArrayBuffer);
  });

  it('should reject malformed bytes with ERR_DECODE and a view that is not a Uint8Array with ERR_BAD_ARGUMENT', () => {
    const codeOf = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (e) {
        return TransportError.is(e) ? e.code : e;
      }
      return 'no error';
    };
    expect(codeOf(() => decodeOwned(VehicleSignal, new Uint8Array([0x12, 0x09])))).to.equal(
      'ERR_DECODE',
    );
    expect(codeOf(() => decodeOwned(All, inShared(new Uint8Array([0x08]))))).to.equal('ERR_DECODE');
    expect(codeOf(() => decodeOwned(VehicleSignal, 'AQID' as unknown as Uint8Array))).to.equal(
      'ERR_BAD_ARGUMENT',
    );
  });

  describe('64-bit integers and proto3 defaults', () => {
    const root = protobuf.parse(`syntax = "proto3";
      message Wide { int64 i = 1; uint64 u = 2; sint64 s = 3; fixed64 f = 4; sfixed64 sf = 5;
        repeated int64 ri = 6; map<string, uint64> mu = 7; Wide inner = 8; uint32 small = 9;
        string text = 10; bool flag = 11; optional int64 maybe = 12; }`).root;
    const Wide = root.lookupType('Wide');
    const extremes = {
      i: '-9223372036854775808',
      u: '18446744073709551615',
      s: '-9007199254740993', // 2^53 + 1, negative: beyond a double
      f: '9007199254740993',
      sf: '9223372036854775807',
      ri: ['1', '-2', '9007199254740993'],
      mu: { a: '18446744073709551615' },
      inner: { u: '42' },
    };

    it('should give every 64-bit kind as its exact decimal string, never a Long', () => {
      const view = inShared(Wide.encode(Wide.fromObject(extremes)).finish());
      const m = decodeOwned<Record<string, unknown>>(Wide, view);
      for (const k of ['i', 'u', 's', 'f', 'sf'] as const) expect(m[k]).to.equal(extremes[k]);
      expect(m['ri']).to.deep.equal(extremes.ri);
      expect(m['mu']).to.deep.equal(extremes.mu);
      expect((m['inner'] as Record<string, unknown>)['u']).to.equal('42');
      expect(JSON.parse(JSON.stringify(m))).to.deep.equal(extremes); // JSON-safe as it is
    });

    it('should give the exact decimal for any int64 and uint64 (property)', () => {
      fc.assert(
        fc.property(
          fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          (i, u) => {
            const sent = { i: String(i), u: String(u), sf: String(i), f: String(u), s: String(i) };
            const m = decodeOwned(Wide, inShared(Wide.encode(Wide.fromObject(sent)).finish()));
            expect(m).to.deep.include(sent);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('should read absent fields as their proto3 defaults, not as own keys', () => {
      const m = decodeOwned<Record<string, unknown>>(Wide, inShared(new Uint8Array(0)));
      expect(Object.keys(m)).to.deep.equal(['ri', 'mu']); // repeated and map: own, empty
      expect(m['ri']).to.deep.equal([]);
      expect(m['mu']).to.deep.equal({});
      for (const k of ['i', 'u', 's', 'f', 'sf', 'maybe']) expect(m[k], k).to.equal('0');
      expect([m['small'], m['text'], m['flag'], m['inner']]).to.deep.equal([0, '', false, null]);
    });

    it('should send back what it received: decoded strings encode to the same bytes', () => {
      const bytes = Wide.encode(Wide.fromObject(extremes)).finish();
      const m = decodeOwned(Wide, inShared(bytes));
      expect(Wide.encode(m).finish()).to.deep.equal(bytes);
    });
  });
});
