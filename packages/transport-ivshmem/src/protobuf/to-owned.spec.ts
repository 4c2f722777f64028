import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { TransportError } from '../errors/transport-error.js';
import { decodeFrom } from './decode-from.js';
import { allMessage } from './fixtures/arbitraries.js';
import { schemas } from './fixtures/test-schemas.js';
import { toOwned } from './to-owned.js';

const { All } = schemas;

/** Every ArrayBufferView reachable from `value`, own non-enumerable properties included. */
function views(value: unknown, out: ArrayBufferView[] = []): ArrayBufferView[] {
  if (typeof value !== 'object' || value === null) return out;
  if (ArrayBuffer.isView(value)) {
    out.push(value);
    return out;
  }
  for (const key of Reflect.ownKeys(value))
    views((value as Record<string | symbol, unknown>)[key], out);
  return out;
}

function sharedCopy(bytes: Uint8Array): { sab: SharedArrayBuffer; view: Uint8Array } {
  const sab = new SharedArrayBuffer(bytes.length + 16);
  const view = new Uint8Array(sab, 8, bytes.length);
  view.set(bytes);
  return { sab, view };
}

describe('toOwned', () => {
  it('should copy every bytes view (nested, repeated, map, oneof) so none shares the source memory', () => {
    const encoded = All.encode({
      by: new Uint8Array([1, 2]),
      inner: { b: new Uint8Array([3]), children: [{ b: new Uint8Array([4]) }] },
      rb: [new Uint8Array([5])],
      mBb: { false: new Uint8Array([6]) },
      oB: new Uint8Array([7]),
    }).finish();
    const { sab, view } = sharedCopy(encoded);
    const inPlace = decodeFrom(All, view);
    const owned = toOwned(inPlace);
    const before = views(inPlace);
    const after = views(owned);
    expect(before.length).to.equal(6);
    expect(after.length).to.equal(before.length);
    expect(before.every((v) => v.buffer === sab)).to.equal(true);
    expect(
      after.every((v) => v.buffer !== sab && !(v.buffer instanceof SharedArrayBuffer)),
    ).to.equal(true);
    view.fill(0);
    expect(Buffer.compare(All.encode(owned).finish(), encoded)).to.equal(0);
  });

  it('should keep prototypes (message class, Long) and copy preserved unknown fields', () => {
    const encoded = new Uint8Array([
      ...All.encode({ i64: '-5', inner: { a: 1 } }).finish(),
      0xf8,
      0x06,
      0x01,
    ]);
    const { sab, view } = sharedCopy(encoded);
    protobuf.Reader.discardUnknown = false;
    let inPlace: { $unknowns: Uint8Array[]; i64: protobuf.Long; inner: object };
    try {
      // protobufjs's own in-place decode (Longs): toOwned also keeps messages of other decoders.
      inPlace = All.decode(view) as unknown as typeof inPlace;
    } finally {
      protobuf.Reader.discardUnknown = true;
    }
    const owned = toOwned(inPlace);
    expect(owned).to.be.instanceOf(All.ctor);
    expect(owned.inner).to.be.instanceOf(schemas.Inner.ctor);
    expect(Object.getPrototypeOf(owned.i64)).to.equal(
      (protobuf.util.Long as unknown as { prototype: object }).prototype,
    );
    expect(owned.i64.toString()).to.equal('-5');
    expect(owned.$unknowns[0]!.buffer).to.not.equal(sab);
    expect(Object.getOwnPropertyDescriptor(owned, '$unknowns')?.enumerable).to.equal(false);
    expect(Buffer.compare(All.encode(owned).finish(), encoded)).to.equal(0);
  });

  it('should return a Buffer for a Buffer and never alias it', () => {
    const src = { by: Buffer.from([1, 2, 3]) };
    const owned = toOwned(src);
    expect(Buffer.isBuffer(owned.by)).to.equal(true);
    src.by[0] = 9;
    expect(owned.by[0]).to.equal(1);
  });

  it('should re-encode to the same bytes for random messages (property)', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(allMessage, (message) => {
        const encoded = All.encode(message).finish();
        const { view } = sharedCopy(encoded);
        const decoded = decodeFrom(All, view);
        const owned = toOwned(decoded);
        const expected = All.encode(decoded).finish();
        view.fill(0x55);
        return Buffer.compare(All.encode(owned).finish(), expected) === 0;
      }),
      { numRuns: 200 },
    );
  });

  it('should reject primitives and cyclic objects with ERR_BAD_ARGUMENT', () => {
    expect(() => toOwned(5)).to.throw(TransportError, /got number/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => toOwned(cyclic)).to.throw(TransportError, /deeper than 1000 levels/);
  });
});
