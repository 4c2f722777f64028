import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { decodeCopy, decodeFrom } from './decode-from.js';
import { allMessage } from './fixtures/arbitraries.js';
import { schemas, smallVehicleSignal } from './fixtures/test-schemas.js';

const { All, P2, VehicleSignal } = schemas;

interface Signal {
  id: Uint8Array;
  payload: Uint8Array;
  rpm: number;
  speedKph: number;
}

function decodeError(fn: () => unknown): TransportError {
  try {
    fn();
  } catch (e) {
    if (TransportError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a TransportError');
}

/** The encoding of `message` placed at `offset` of a fresh SharedArrayBuffer. */
function inShared(bytes: Uint8Array, offset = 40): { sab: SharedArrayBuffer; view: Uint8Array } {
  const sab = new SharedArrayBuffer(offset + bytes.length + 40);
  const view = new Uint8Array(sab, offset, bytes.length);
  view.set(bytes);
  return { sab, view };
}

describe('decodeFrom', () => {
  describe('.decodeFrom', () => {
    it('should decode in place: bytes fields are subarrays of the view, and see later writes', () => {
      const encoded = VehicleSignal.encode({
        ...smallVehicleSignal(),
        payload: new Uint8Array(256).fill(0x5a),
      }).finish();
      const { sab, view } = inShared(encoded);
      const m = decodeFrom<Signal>(VehicleSignal, view);
      expect(m.rpm).to.equal(2450);
      expect(m.id.buffer).to.equal(sab);
      expect(m.payload.buffer).to.equal(sab);
      expect(m.id.byteOffset).to.be.within(view.byteOffset, view.byteOffset + view.length - 16);
      expect(m.payload.length).to.equal(256);
      view[view.length - 1] = 0x11; // last payload byte, written after decoding
      expect(m.payload[255]).to.equal(0x11);
    });

    it('should alias nested, repeated, map, oneof bytes and preserved unknown fields too', () => {
      const encoded = All.encode({
        inner: { b: new Uint8Array([1]) },
        rb: [new Uint8Array([2])],
        mBb: { true: new Uint8Array([3]) },
        oB: new Uint8Array([4]),
      }).finish();
      const withUnknown = new Uint8Array([...encoded, 0xf8, 0x06, 0x01]); // field 111, varint 1
      const { sab, view } = inShared(withUnknown);
      // protobufjs discards unknown fields unless told otherwise (a process-wide switch).
      protobuf.Reader.discardUnknown = false;
      let m: {
        inner: { b: Uint8Array };
        rb: Uint8Array[];
        mBb: Record<string, Uint8Array>;
        oB: Uint8Array;
        $unknowns: Uint8Array[];
      };
      try {
        m = decodeFrom<typeof m>(All, view);
      } finally {
        protobuf.Reader.discardUnknown = true;
      }
      for (const b of [m.inner.b, m.rb[0]!, m.mBb['true']!, m.oB, m.$unknowns[0]!]) {
        expect(b.buffer).to.equal(sab);
      }
    });

    it('should throw ERR_DECODE with the cause for truncated, overlong and invalid input', () => {
      const cases: [string, number[], RegExp][] = [
        ['varint cut short', [0x20, 0x92], /index out of range/],
        ['length beyond the end', [0x12, 0x05, 0x01], /index out of range/],
        ['wire type 7', [0x0f, 0x00], /invalid wire type 7/],
        ['wire type 6', [0x0e], /invalid wire type 6/],
        ['end-group without a start', [0x0c], /invalid|unexpected|group/i],
        [
          'varint longer than 10 bytes',
          [0x20, ...new Array<number>(11).fill(0xff), 0x01],
          /invalid varint|out of range/,
        ],
        ['float cut short', [0x1d, 0x00, 0x00], /index out of range/],
      ];
      for (const [name, bytes, why] of cases) {
        const err = decodeError(() => decodeFrom(VehicleSignal, new Uint8Array(bytes)));
        expect(err.code, name).to.equal('ERR_DECODE');
        expect(err.message, name).to.match(/^\d+ bytes are not a valid auto\.VehicleSignal: /);
        expect(err.message, name).to.match(why);
        expect(err.cause, name).to.be.instanceOf(Error);
      }
    });

    it('should throw ERR_DECODE for a proto2 message missing a required field', () => {
      const err = decodeError(() => decodeFrom(P2, new Uint8Array([0x12, 0x01, 0x61])));
      expect(err.code).to.equal('ERR_DECODE');
      expect(err.message).to.match(/missing required 'id'/);
    });

    it('should either decode or throw ERR_DECODE for every truncation of a valid message', () => {
      const encoded = All.encode({
        s: 'truncate me',
        inner: { a: 1, b: new Uint8Array(30) },
        pI32: [1, 2, 300],
        mSi: { k: 5 },
        fx64: '1',
      }).finish();
      let failures = 0;
      for (let n = 0; n < encoded.length; n++) {
        try {
          decodeFrom(All, encoded.subarray(0, n));
        } catch (e) {
          expect(TransportError.is(e) && e.code, `prefix ${n}`).to.equal('ERR_DECODE');
          failures++;
        }
      }
      expect(failures).to.be.greaterThan(encoded.length / 2);
    });

    it('should either decode or throw ERR_DECODE for random garbage (property)', function () {
      this.timeout(30_000);
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
          try {
            decodeFrom(All, bytes);
            return true;
          } catch (e) {
            return TransportError.is(e) && e.code === 'ERR_DECODE';
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('should round-trip random messages of every field kind from a shared view (property)', function () {
      this.timeout(60_000);
      fc.assert(
        fc.property(allMessage, (message) => {
          const encoded = All.encode(message).finish();
          const { view } = inShared(encoded, 8);
          // Compare with protobufjs decoding a private heap copy (re-encoding is not an
          // identity in protobufjs: a 64-bit "0" string is written, a decoded Long 0 is not).
          const opts = { longs: String, bytes: String, defaults: true, arrays: true };
          const inPlace = All.toObject(All.decode(view), opts);
          const fromCopy = All.toObject(All.decode(Buffer.from(encoded)), opts);
          // decodeFrom gives 64-bit values as decimal strings: back to Longs for toObject.
          const decoded = All.toObject(decodeFrom(All, view) as protobuf.Message);
          const viaDecodeFrom = All.toObject(All.fromObject(decoded), opts);
          return (
            JSON.stringify(viaDecodeFrom) === JSON.stringify(fromCopy) &&
            JSON.stringify(inPlace) === JSON.stringify(fromCopy)
          );
        }),
        { numRuns: 200 },
      );
    });

    it('should reject a view that is not a Uint8Array', () => {
      const err = decodeError(() => decodeFrom(VehicleSignal, 'AQID' as unknown as Uint8Array));
      expect(err.code).to.equal('ERR_BAD_ARGUMENT');
      expect(err.message).to.match(/view must be a Uint8Array/);
    });
  });

  describe('.decodeCopy', () => {
    it('should decode a private copy: bytes fields do not alias the view', () => {
      const { sab, view } = inShared(VehicleSignal.encode(smallVehicleSignal()).finish());
      const m = decodeCopy<Signal>(VehicleSignal, view);
      expect(m.id.buffer).to.not.equal(sab);
      view.fill(0);
      expect([...m.id]).to.deep.equal(Array.from({ length: 16 }, (_, i) => i + 1));
    });

    it('should throw ERR_DECODE for malformed bytes', () => {
      expect(
        decodeError(() => decodeCopy(VehicleSignal, new Uint8Array([0x12, 0x09]))).code,
      ).to.equal('ERR_DECODE');
    });
  });
});
