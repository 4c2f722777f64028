import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
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
        expect(All.toObject(owned as unknown as protobuf.Message, { longs: String })).to.deep.equal(
          All.toObject(decodeCopy(All, view) as unknown as protobuf.Message, { longs: String }),
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
});
