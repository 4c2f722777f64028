import { expect } from 'chai';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { allMessage, innerMessage } from './fixtures/arbitraries.js';
import { schemas } from './fixtures/test-schemas.js';
import { thrown } from './fixtures/thrown-message.js';
import { sizerOf } from './generated-sizer.js';

const { All, Inner, P2 } = schemas;

describe('sizerOf', () => {
  it('should size random messages of every field kind exactly like encode().finish() (property)', function () {
    this.timeout(60_000);
    const size = sizerOf(All);
    fc.assert(
      fc.property(allMessage, (m) => size(m, 0) === All.encode(m).finish().length),
      { numRuns: 500 },
    );
  });

  it('should size a self-recursive type and message instances as well as plain objects', () => {
    const size = sizerOf(Inner);
    fc.assert(
      fc.property(innerMessage, (m) => {
        const expected = Inner.encode(m).finish().length;
        return size(m, 0) === expected && size(Inner.fromObject(m), 0) === expected;
      }),
      { numRuns: 200 },
    );
  });

  it('should size proto2 required fields, groups and defaults like the stock encoder', () => {
    const size = sizerOf(P2);
    for (const m of [
      {},
      { id: 0 },
      { id: -1, name: 'x', g: {}, packedI: [], plainI: [1] },
      { id: 1, g: { gv: 300 }, packedI: [-1, 2], blob: new Uint8Array(3) },
    ]) {
      expect(size(m, 0), JSON.stringify(m)).to.equal(P2.encode(m).finish().length);
    }
  });

  it('should throw where the stock encoder throws', () => {
    const root = protobuf.parse(
      'syntax = "proto2"; message Leaf { optional int32 v = 1; } message R { required Leaf leaf = 1; }',
    ).root;
    const R = root.lookupType('R');
    expect(thrown(() => sizerOf(R)({}, 0))).to.equal(thrown(() => R.encode({}).finish()));
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 120; i++) {
      const child: Record<string, unknown> = {};
      at['children'] = [child];
      at = child;
    }
    expect(thrown(() => sizerOf(Inner)(deep, 0))).to.equal('max depth exceeded');
    expect(thrown(() => Inner.encode(deep).finish())).to.equal('max depth exceeded');
  });

  it('should return the same function for a type every time', () => {
    expect(sizerOf(All)).to.equal(sizerOf(All));
  });

  it('should generate again after the type gained a field through reflection', () => {
    const T = protobuf
      .parse('syntax = "proto3"; message Grow { int32 a = 1; }')
      .root.lookupType('Grow');
    expect(sizerOf(T)({ a: 1, b: 'xy' }, 0)).to.equal(2);
    T.add(new protobuf.Field('b', 2, 'string'));
    expect(sizerOf(T)({ a: 1, b: 'xy' }, 0)).to.equal(T.encode({ a: 1, b: 'xy' }).finish().length);
  });
});
