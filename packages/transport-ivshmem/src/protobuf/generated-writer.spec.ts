import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { allMessage, innerMessage } from './fixtures/arbitraries.js';
import { schemas } from './fixtures/test-schemas.js';
import { thrown } from './fixtures/thrown-message.js';
import { sizerOf } from './generated-sizer.js';
import { writerOf } from './generated-writer.js';

const { All, Inner, P2 } = schemas;

/** The generated writer's bytes for `m`, into a target of the exact size. */
function written(type: protobuf.Type, m: object): Uint8Array {
  const target = new Uint8Array(sizerOf(type)(m, 0));
  const end = writerOf(type)(m, target, 0, 0);
  expect(end, 'bytes written').to.equal(target.length);
  return target;
}

describe('writerOf', () => {
  it('should write random messages of every field kind exactly like encode().finish() (property)', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(allMessage, (m) =>
        Buffer.from(written(All, m)).equals(Buffer.from(All.encode(m).finish())),
      ),
      { numRuns: 500 },
    );
  });

  it('should write a self-recursive type, message instances and plain objects alike', () => {
    fc.assert(
      fc.property(innerMessage, (m) => {
        const expected = Buffer.from(Inner.encode(m).finish());
        return (
          Buffer.from(written(Inner, m)).equals(expected) &&
          Buffer.from(written(Inner, Inner.fromObject(m))).equals(expected)
        );
      }),
      { numRuns: 200 },
    );
  });

  it('should widen a nested length prefix where the stock writer does (127/128, 16383/16384 bytes)', () => {
    for (const n of [0, 125, 126, 127, 128, 16381, 16382, 16383, 16384]) {
      const m = { inner: { b: new Uint8Array(n).fill(3) }, ri: [{ s: 'é'.repeat(n >> 1) }] };
      expect(written(All, m), `${n}`).to.deep.equal(new Uint8Array(All.encode(m).finish()));
    }
  });

  it('should write proto2 required fields, groups and defaults like the stock encoder', () => {
    for (const m of [
      { id: 0 },
      { id: -1, name: 'x', g: {}, packedI: [], plainI: [1] },
      { id: 1, g: { gv: 300 }, packedI: [-1, 2], blob: new Uint8Array(3) },
    ]) {
      expect(written(P2, m), JSON.stringify(m)).to.deep.equal(
        new Uint8Array(P2.encode(m).finish()),
      );
    }
  });

  it('should throw where the stock encoder throws', () => {
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 120; i++) {
      const child: Record<string, unknown> = {};
      at['children'] = [child];
      at = child;
    }
    expect(thrown(() => writerOf(Inner)(deep, new Uint8Array(1024), 0, 0))).to.equal(
      'max depth exceeded',
    );
  });

  it('should encode no inherited value, even one planted on Object.prototype (pollution)', () => {
    const VehicleSignal = schemas.VehicleSignal;
    const polluted = Object.prototype as unknown as Record<string, unknown>;
    try {
      polluted['rpm'] = 7;
      polluted['payload'] = new Uint8Array([1, 2, 3]);
      for (const m of [{ gear: 2 }, { gear: 2, rpm: 9 }, Object.create({ rpm: 5 }) as object]) {
        const stock = new Uint8Array(VehicleSignal.encode(m).finish());
        expect(sizerOf(VehicleSignal)(m, 0), JSON.stringify(m)).to.equal(stock.length);
        expect(written(VehicleSignal, m), JSON.stringify(m)).to.deep.equal(stock);
      }
    } finally {
      delete polluted['rpm'];
      delete polluted['payload'];
    }
  });

  it('should write message instances with defaults on their prototype like plain objects', () => {
    const m = All.create({ i32: 5, s: 'x', inner: { a: 1 } });
    expect(written(All, m)).to.deep.equal(new Uint8Array(All.encode(m).finish()));
  });

  it('should generate again after the type gained a field through reflection', () => {
    const T = protobuf
      .parse('syntax = "proto3"; message GrowW { int32 a = 1; }')
      .root.lookupType('GrowW');
    expect(written(T, { a: 1, b: 'xy' })).to.deep.equal(new Uint8Array([8, 1]));
    T.add(new protobuf.Field('b', 2, 'string'));
    expect(written(T, { a: 1, b: 'xy' })).to.deep.equal(
      new Uint8Array(T.encode({ a: 1, b: 'xy' }).finish()),
    );
  });
});
